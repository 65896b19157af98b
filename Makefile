# The companion's dependency graph: py:percent sources -> executed notebooks -> Jupyter Book.
# `make book` and `make test` each do their own set-up. Failures are never hidden behind a pipe.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SECONDARY:
.ONESHELL:
MAKEFLAGS += --no-builtin-rules

PROFILE ?= paper
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
TIMEOUT ?= 3600

SOURCES := $(sort $(wildcard notebooks/*.py))
NAMES := $(notdir $(basename $(SOURCES)))
# `make execute` starts the longest chapters first, so that JOBS cores finish together
# (measured paper-profile times are on the provenance page); chapters not listed run last.
LONGEST_FIRST := 03_load_sweeps 05_real_data 03_heat_maps 03_calibration 01_fpe_step_by_step 06_cost 04_theory 02_headline
ORDERED := $(filter $(NAMES),$(LONGEST_FIRST)) $(filter-out $(LONGEST_FIRST),$(NAMES))
EXECUTED := $(ORDERED:%=book/%.ipynb)
QUICK := $(NAMES:%=_build/quick/%.ipynb)
# Each executed notebook depends on its source and on the fpe files it really imports, transitively
# (fpe/deps.py walks the import statements; no hand-kept list): _build/deps.mk holds those rules.
FPE_FILES := $(shell find fpe -name '*.py' -o -name '*.c')
JB_FLAGS := -W --keep-going --all

export PYTHONHASHSEED := 0
export FPE_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: help setup book html execute test unit browser bench notebooks-quick references clean FORCE

help:
	@echo "make book        recompute every notebook (PROFILE=$(PROFILE)) and build the HTML book"
	@echo "make test        unit tests + quick notebooks under nbval with numeric checks + book build + browser check"
	@echo "make html        build the HTML book from the committed executed notebooks only"
	@echo "make bench       run the speed benchmarks in benchmarks/ (prints ratios)"
	@echo "make references  store results/PROFILE/*.json as the reference numbers (commit them)"
	@echo "make setup       create $(VENV) with the pinned dependencies (idempotent)"

setup: $(STAMP)

APT_PACKAGES := $(shell sed -e 's/\#.*//' apt-packages.txt)

$(STAMP): requirements.txt pyproject.toml apt-packages.txt
	missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done)
	if [ -n "$$missing" ]; then
	  echo "installing Debian packages: $$missing"
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing
	fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned in the same command as everything that depends on it (see requirements.txt)
	$(PY) -m pip install --quiet -r requirements.txt
	# open_clip (the optional CLIP encoder of chapter 05) declares torchvision, which has no CPU
	# build here and would break torch: install it alone, its other needs are in requirements.txt
	$(PY) -m pip install --quiet --no-deps open_clip_torch==3.3.0
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# --- notebooks ------------------------------------------------------------------------------
# `make book` always recomputes (FORCE); `make book/NAME.ipynb` rebuilds one notebook only when
# its source or the fpe package changed. Finished experiments are cached in .cache/, so a re-run after an
# interruption does not repeat them.
FORCE_EXEC ?=
JOBS ?= 2

_build/src/%.ipynb: notebooks/%.py | $(STAMP)
	mkdir -p $(@D)
	$(BIN)/jupytext --quiet --to ipynb --output $@ $<

# Executed notebooks of the chosen profile; the book renders these (commit them for PROFILE=paper).
book/%.ipynb: _build/src/%.ipynb $(FORCE_EXEC) | $(STAMP)
	$(BIN)/papermill --kernel python3 --cwd notebooks --execution-timeout $(TIMEOUT) --log-level WARNING \
	  -p profile $(PROFILE) -p progress False $< $@
	$(PY) -m fpe.book.nbclean $@

_build/deps.mk: $(FPE_FILES) $(SOURCES)
	mkdir -p $(@D)
	$(PYTHON) fpe/deps.py makefile $(SOURCES) > $@

ifeq ($(filter help setup clean,$(MAKECMDGOALS)),)
-include _build/deps.mk
endif

# Recompute every notebook, JOBS at a time (each notebook uses FPE_THREADS=1 thread by default).
execute: | $(STAMP)
	$(MAKE) --no-print-directory -j$(JOBS) FORCE_EXEC=FORCE $(EXECUTED)

book: execute
	$(MAKE) --no-print-directory html

FORCE:

html: | $(STAMP)
	$(PY) -m fpe.book.report
	rm -rf _build/html _build/jb/_build/html
	$(BIN)/jupyter-book build . --path-output _build/jb $(JB_FLAGS)
	rm -rf _build/html && cp -r _build/jb/_build/html _build/html
	test -s _build/html/index.html
	@echo "book: $(abspath _build/html/index.html)"

# --- tests ----------------------------------------------------------------------------------
# Quick-profile notebooks with the parameters injected; nbval executes them and fails on any
# error, including a recomputed number outside its stored reference tolerance.
_build/quick/%.ipynb: _build/src/%.ipynb | $(STAMP)
	mkdir -p $(@D)
	$(BIN)/papermill --prepare-only --kernel python3 -p profile quick -p progress False $< $@ --log-level WARNING

unit: | $(STAMP)
	$(PY) -m pytest tests --ignore=tests/browser

# The built book in headless Chromium: console errors, broken links/anchors, missing figures;
# screenshots go to _build/screenshots/.
browser: | $(STAMP)
	$(PY) -m pytest tests/browser

notebooks-quick: $(QUICK) | $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=$(TIMEOUT) -p no:cacheprovider $(QUICK)

test: | $(STAMP)
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory notebooks-quick
	$(MAKE) --no-print-directory html
	$(MAKE) --no-print-directory browser

# Speed benchmarks (ratios printed side by side; never part of the tests).
BENCHES := $(wildcard benchmarks/*.py)
bench: | $(STAMP)
	for b in $(BENCHES); do echo "== $$b"; $(PY) $$b; done

# make references PROFILE=quick [NOTEBOOKS="02_headline ..."]: store results as the new references.
references: | $(STAMP)
	$(PY) -c "from fpe.book.results import write_references; print(*write_references('$(PROFILE)', notebooks='$(NOTEBOOKS)'.split() or None), sep='\n')"

clean:
	rm -rf _build .cache results/quick
