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
# `make execute` starts the longest chapters first, so that their jobs are queued first (measured
# paper-profile times are on the provenance page); chapters not listed start last.
LONGEST_FIRST := 09_cnn 03_load_sweeps 05_real_data 07_deep_mlp 08_controls 08_more_controls 10_transformer 03_heat_maps 03_calibration 01_fpe_step_by_step 06_cost 04_theory 02_headline
ORDERED := $(filter $(NAMES),$(LONGEST_FIRST)) $(filter-out $(LONGEST_FIRST),$(NAMES))
EXECUTED := $(ORDERED:%=book/%.ipynb)
QUICK := $(NAMES:%=_build/quick/%.ipynb)
# Each executed notebook depends on its source and on the science hash of the fpe files it really
# imports, transitively (fpe/runtime/deps.py walks the import statements; no hand-kept list): one stamp
# per chapter, _build/hash/NAME, rewritten only when that hash changes (a docstring or an edit under
# fpe/runtime/ or fpe/book/ leaves it alone); _build/deps.mk holds the rules.
FPE_FILES := $(shell find fpe -name '*.py' -o -name '*.c')
JB_FLAGS := -W --keep-going --all

export PYTHONHASHSEED := 0
export FPE_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: help setup book html execute test unit browser bench notebooks-quick references reference-gaps clean FORCE

help:
	@echo "make book        recompute every notebook (PROFILE=$(PROFILE)) and build the HTML book"
	@echo "make test        unit tests + quick notebooks under nbval with numeric checks + book build + browser check"
	@echo "make html        build the HTML book from the committed executed notebooks only"
	@echo "make bench       run the speed benchmarks in benchmarks/ (prints ratios)"
	@echo "make references  store results/PROFILE/*.json as the reference numbers (commit them)"
	@echo "make setup       create $(VENV) with the pinned dependencies (idempotent)"

setup: $(STAMP)

# --- set-up: system packages ----------------------------------------------------------------
# apt-packages.txt lists the Debian packages in use and the need each serves (native: a C compiler
# for the fused kernel; realdata: the data of the chapters that use fpe.datasets; browser: the check
# of the built book). `make system-check` runs before the Python set-up of every target: it looks
# only at the needs of the targets being built (SETUP_GOALS, by default the command line's goals;
# `make html` needs none), installs what is missing with apt-get where there is one (as root, else
# with sudo), and elsewhere (macOS, Fedora, no sudo, offline) prints what to provide by hand and goes
# on: the targets that really need a missing piece fail, or fall back, with their own message.
# A package counts as present when dpkg says so, or when what it provides is found (a compiler that
# builds a C file, `chromium`/`chromedriver` on PATH, the data files where fpe.datasets looks), so
# nothing needs root when nothing is missing. It runs once per `make` command (not in sub-makes).
.PHONY: system-check lint-workflows
SETUP_GOALS ?= $(MAKECMDGOALS)
REALDATA_CHAPTERS := $(basename $(notdir $(shell grep -l -E 'fpe[.]datasets|fpe[.]experiments[.]realdata' $(SOURCES) /dev/null)))
NEEDS_native := setup system-check book execute test unit notebooks-quick bench book/%.ipynb _build/quick/%.ipynb
NEEDS_realdata := setup system-check book execute test unit notebooks-quick $(REALDATA_CHAPTERS:%=book/%.ipynb) \
  $(REALDATA_CHAPTERS:%=_build/quick/%.ipynb)
NEEDS_browser := setup system-check test browser
SYSTEM_NEEDS ?= $(foreach n,native realdata browser,$(if $(filter $(NEEDS_$(n)),$(SETUP_GOALS)),$(n)))
# where Debian's data packages put their files (fpe.datasets.loaders.SYSTEM_DIRS; tests override it)
SYSTEM_SHARE ?= /usr/share
# which distribution this is (ID, ID_LIKE): picks Debian's or Ubuntu's package names (tests override it)
OS_RELEASE ?= /etc/os-release
SYSTEM_CHECKED := $(FPE_SYSTEM_CHECKED)
export FPE_SYSTEM_CHECKED := 1

system-check:
	@$(if $(SYSTEM_CHECKED),exit 0)
	needs="$(strip $(SYSTEM_NEEDS))"
	[ -n "$$needs" ] || exit 0
	datadirs() {  # where fpe.datasets.loaders.search_dirs looks for data set $$1
	  [ -z "$${FPE_DATA_DIR:-}" ] || echo "$$FPE_DATA_DIR" "$$FPE_DATA_DIR/$$1"
	  case $$1 in fashion-mnist) echo $(SYSTEM_SHARE)/datasets/fashion-mnist;; wordnet) echo $(SYSTEM_SHARE)/wordnet;; esac
	  echo "$${FPE_USER_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/fpe-data}/$$1"
	}
	found() { local d f name=$$1; shift; for d in $$(datadirs $$name); do for f; do [ -f "$$d/$$f" ] && return 0; done; done; return 1; }
	# The package names of this distribution: apt-packages.txt's first column is Debian's, a column
	# `ubuntu:NAME` Ubuntu's (for Ubuntu and its derivatives, by ID/ID_LIKE of $(OS_RELEASE)). Where
	# apt-cache does not know that name but another of the line, that one is taken; a package none of
	# whose names apt-cache knows is not asked for (one unknown name aborts a whole apt-get install).
	# All are installed in one apt-get command; if that fails, one at a time, so that one package that
	# cannot be installed (a snap-only transitional package in a container, say) does not skip the others.
	os_ids="$$( if [ -r "$(OS_RELEASE)" ]; then . "$(OS_RELEASE)"; fi; echo "$${ID:-} $${ID_LIKE:-}")"
	distro=debian label=Debian
	case " $$os_ids " in *" ubuntu "*) distro=ubuntu label=Ubuntu;; esac
	candidates() {  # the names of Debian package $$1 to try here, this distribution's first
	  awk -v p="$$1" -v d="$$distro" '{ sub(/#.*/, "") } $$1 == p {
	    own = ""; other = ""
	    for (i = 3; i <= NF; i++) { n = split($$i, kv, ":"); if (n != 2) continue; if (kv[1] == d) own = kv[2]; else other = other " " kv[2] }
	    print own, (d == "debian" ? "" : p), (d == "debian" ? p : ""), other }' apt-packages.txt
	}
	present() {  # is Debian package $$1 (under any of its names), or what it provides, here?
	  local c
	  if command -v dpkg-query >/dev/null 2>&1; then
	    for c in $$(candidates "$$1"); do
	      dpkg-query -W -f='$${Status}' "$$c" 2>/dev/null | grep -q "install ok installed" && return 0
	    done
	  fi
	  case $$1 in
	    gcc|libc6-dev)  # the compiler fpe.training.native picks: $$CC, cc, gcc or clang
	      cc="$${CC:-$$(command -v cc || command -v gcc || command -v clang || true)}"
	      [ -n "$$cc" ] && printf '#include <math.h>\n#include <stdlib.h>\nint main(void) { return (int)sqrt(0.0); }\n' \
	        | $$cc -x c - -lm -o /dev/null >/dev/null 2>&1 ;;
	    dataset-fashion-mnist) found fashion-mnist train-images-idx3-ubyte.gz train-images-idx3-ubyte ;;
	    wordnet-base) found wordnet data.noun dict/data.noun ;;
	    chromium) command -v chromium >/dev/null 2>&1 ;;
	    chromium-driver) command -v chromedriver >/dev/null 2>&1 ;;
	    *) return 1 ;;
	  esac
	}
	missing= short=
	for need in $$needs; do
	  for p in $$(awk -v need="$$need" '{ sub(/#.*/, "") } $$2 == need { print $$1 }' apt-packages.txt); do
	    present "$$p" || { missing="$$missing $$p"; case " $$short " in *" $$need "*) ;; *) short="$$short $$need";; esac; }
	  done
	done
	[ -n "$$missing" ] || exit 0
	resolve() {  # the first candidate apt-cache knows (without apt-cache: the first candidate)
	  local c
	  for c in $$(candidates "$$1"); do
	    command -v apt-cache >/dev/null 2>&1 || { echo "$$c"; return 0; }
	    apt-cache show "$$c" >/dev/null 2>&1 && { echo "$$c"; return 0; }
	  done
	  return 1
	}
	if command -v apt-get >/dev/null 2>&1; then
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; else sudo=no; fi
	  if [ "$$sudo" != no ]; then
	    $$sudo apt-get update -qq || echo "system check: apt-get update failed (offline?); trying with the lists there are"
	  fi
	  names= unknown= left=
	  for p in $$missing; do
	    if n=$$(resolve "$$p"); then names="$$names $$n"; else unknown="$$unknown $$p"; left="$$left $$p"; fi
	  done
	  [ -z "$$unknown" ] || echo "system check: no package of this name known to apt here ($$label):$$unknown"
	  if [ "$$sudo" != no ] && [ -n "$$names" ]; then
	    echo "system check ($$needs): installing $$label packages:$$names"
	    apt_install() { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$$@"; }
	    if ! apt_install $$names; then
	      # one at a time, so that one package that cannot be installed does not skip the others
	      failed=
	      for n in $$names; do apt_install "$$n" || failed="$$failed $$n"; done
	      [ -z "$$failed" ] || echo "system check: apt-get could not install:$$failed (offline, or no permission)"
	      for p in $$missing; do
	        n=$$(resolve "$$p") || continue
	        case " $$failed " in *" $$n "*) left="$$left $$p";; esac
	      done
	    fi
	    missing=$$left
	    [ -n "$$missing" ] || exit 0
	  elif [ -n "$$names" ]; then
	    echo "system check ($$needs): missing $$label packages; as root: apt-get install$$names"
	  fi
	  echo "system check ($$needs): still missing (Debian package names, and what for):"
	else
	  echo "system check ($$needs): no apt-get here; provide these by hand (Debian package names, and what for):"
	fi
	for p in $$missing; do
	  echo "  - $$(awk -v p="$$p" '$$1 == p { sub(/^[^#]*#[ ]*/, ""); print p ": " $$0 }' apt-packages.txt)"
	done
	for need in $$short; do
	  case $$need in
	    native) echo "  without a C compiler fpe uses PyTorch ops instead (same numbers to float tolerance, about 5x slower)";;
	    realdata) echo "  without the data, fpe.datasets downloads it into ~/.cache/fpe-data (needs the internet), or set FPE_DATA_DIR";;
	    browser) echo "  without chromium and chromedriver, \`make browser\` (part of \`make test\`) fails";;
	  esac
	done
	echo "system check: going on without them"

# --- set-up: Python -------------------------------------------------------------------------
# One pip command installs every pin (requirements.txt includes requirements/*.txt), so torch is
# pinned together with everything that depends on it. On a normal Linux machine `torch==2.13.0` from
# PyPI is the multi-GB CUDA build: `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu` adds
# PyTorch's CPU wheel index (--extra-index-url). Off by default: the configured pip index is used as
# it is, so an unreachable index never breaks the set-up.
TORCH_INDEX ?=

$(STAMP): requirements.txt $(wildcard requirements/*.txt) pyproject.toml | system-check
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned in the same command as everything that depends on it (see requirements/core.txt)
	$(PY) -m pip install --quiet -r requirements.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	# open_clip (the optional CLIP encoder of chapter 05) declares torchvision, which has no CPU
	# build here and would break torch: install it alone, its other needs are in requirements/realdata.txt
	$(PY) -m pip install --quiet --no-deps open_clip_torch==3.3.0
	# the distribution was called `fpe` before it was `fpe-companion`: drop an earlier set-up's install
	if $(PY) -m pip show --quiet fpe >/dev/null 2>&1; then $(PY) -m pip uninstall --quiet --yes fpe; fi
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# --- notebooks ------------------------------------------------------------------------------
# `make book` always recomputes (FORCE); `make book/NAME.ipynb` rebuilds one notebook only when
# its source or the fpe package changed. Finished experiments are cached in .cache/, so a re-run after an
# interruption does not repeat them.
FORCE_EXEC ?=

_build/src/%.ipynb: notebooks/%.py | $(STAMP)
	mkdir -p $(@D)
	$(BIN)/jupytext --quiet --to ipynb --output $@ $<

# Executed notebooks of the chosen profile; the book renders these (commit them for PROFILE=paper).
book/%.ipynb: _build/src/%.ipynb $(FORCE_EXEC) | $(STAMP)
	start=$$(date +%s.%N)
	for try in 1 2 3; do  # a kernel that died before its first cell (a port race of parallel starts) is started again
	  status=0
	  FPE_CHAPTER=$* $(BIN)/papermill --kernel python3 --cwd notebooks --execution-timeout $(TIMEOUT) --log-level WARNING \
	    -p profile $(PROFILE) -p progress False $< $@ || status=$$?
	  if [ $$status -eq 0 ] || $(PY) -m fpe.book.nbclean --started $@; then break; fi
	  echo "$*: the kernel stopped before the first cell ran (try $$try of 3)" >&2 && sleep $$try
	done
	if [ -n "$${FPE_JOB_LOG:-}" ]; then  # with the CPU seconds (user + system) of everything the chapter ran: bash's `times`
	  times > $@.times  # in this shell, not a pipe's subshell (whose children's times start at zero)
	  cpu=$$(tail -n 1 $@.times | awk '{gsub(",", "."); split($$1, u, "m"); split($$2, s, "m"); printf "%.1f", u[1] * 60 + u[2] + s[1] * 60 + s[2]}') && rm -f $@.times
	  echo "{\"chapter\": \"$*\", \"start\": $$start, \"end\": $$(date +%s.%N), \"status\": $$status, \"cpu_s\": $$cpu}" >> "$$FPE_JOB_LOG.chapters"
	fi
	if [ $$status -ne 0 ]; then exit $$status; fi
	$(PY) -m fpe.book.nbclean $@

_build/deps.mk: $(FPE_FILES) $(SOURCES)
	mkdir -p $(@D)
	$(PYTHON) fpe/runtime/deps.py makefile $(SOURCES) > $@

ifeq ($(filter help setup clean system-check lint-workflows,$(MAKECMDGOALS)),)
-include _build/deps.mk
endif

# Recompute every notebook. Whole-book scheduling: first the chapters that time the machine (those
# that hold fpe.runtime.slots.exclusive, found in the sources), one at a time and alone, so that no other
# chapter's kernel start, imports or analysis shares the cores while they time; then every other
# chapter at once (longest first), each submitting its cached computations as jobs (fpe.runtime.jobs, one
# thread each); they and every other cached computation of all chapters share JOBS book-wide slots
# (fpe.runtime.slots; default: the CPU cores), so every core stays busy until the last one ends.
# The jobs' times go to _build/jobs.jsonl; the summary and critical path are printed at the end, failed
# chapters included (marked).
# JOBS=1 runs one job at a time. On a Dask cluster: FPE_DASK_SCHEDULER=tcp://host:8786 make execute.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
JOB_LOG := _build/jobs.jsonl
TIMING_CHAPTERS := $(basename $(notdir $(shell grep -l -F 'with exclusive()' $(SOURCES) /dev/null)))
TIMED := $(filter $(TIMING_CHAPTERS:%=book/%.ipynb),$(EXECUTED))
UNTIMED := $(filter-out $(TIMED),$(EXECUTED))
execute: | $(STAMP)
	rm -rf _build/slots && mkdir -p _build/slots && : > $(JOB_LOG) && : > $(JOB_LOG).chapters
	start=$$(date +%s) && status=0
	export FPE_JOB_SLOTS=$(abspath _build/slots) FPE_JOB_SLOT_COUNT=$(JOBS) FPE_JOBS=$(JOBS) FPE_JOB_LOG=$(abspath $(JOB_LOG))
	for nb in $(TIMED); do $(MAKE) --no-print-directory FORCE_EXEC=FORCE $$nb || status=$$?; done
	$(if $(UNTIMED),$(MAKE) --no-print-directory -j$(words $(UNTIMED)) FORCE_EXEC=FORCE $(UNTIMED) || status=$$?)
	echo "make execute: $$(( $$(date +%s) - start )) s for $(words $(EXECUTED)) chapters with $(JOBS) job slots"
	$(PY) -m fpe.book.jobreport $(JOB_LOG)
	exit $$status

book: execute
	$(MAKE) --no-print-directory html

FORCE:

# `make html` renders the committed executed notebooks and needs only requirements/html.txt (core and
# book; none of the test or real-data packages): alone (book.yml) it sets up only those in $(VENV);
# where the full set-up is there (`make book`, `make test`) it uses that.
HTML_STAMP := $(VENV)/.installed-html
$(HTML_STAMP): requirements/html.txt requirements/core.txt requirements/book.txt pyproject.toml
	if [ -f $(STAMP) ]; then touch $@; exit 0; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/html.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

html: | $(HTML_STAMP)
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

# The GitHub workflows (.github/workflows/) under actionlint (pinned in requirements/test.txt); its
# shellcheck and pyflakes passes are off, so the verdict does not depend on what else is installed.
lint-workflows: | $(STAMP)
	$(BIN)/actionlint -shellcheck= -pyflakes= .github/workflows/*.yml

test: | $(STAMP)
	$(MAKE) --no-print-directory lint-workflows
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory notebooks-quick
	$(MAKE) --no-print-directory html
	$(MAKE) --no-print-directory browser

# Speed benchmarks (ratios printed side by side; never part of the tests).
BENCHES := $(wildcard benchmarks/*.py)
bench: | $(STAMP)
	for b in $(BENCHES); do echo "== $$b"; $(PY) $$b; done

# make reference-gaps: measure the float-order sensitivity of every quick-profile number (the same
# chapters, the same seeds, the native against the PyTorch training backend) into
# references/float_order_gaps.json, from which `make references` derives each stored tolerance.
GAP_DIR := _build/gaps
reference-gaps: | $(STAMP)
	rm -rf $(GAP_DIR) && mkdir -p $(GAP_DIR)
	for backend in native torch; do
	  for nb in $(NAMES); do
	    $(BIN)/jupytext --quiet --to ipynb --output $(GAP_DIR)/$$nb.src.ipynb notebooks/$$nb.py
	    FPE_NATIVE=$$( [ $$backend = torch ] && echo 0 || echo 1 ) FPE_CACHE_DIR=$(abspath $(GAP_DIR))/cache-$$backend \
	      $(BIN)/papermill --kernel python3 --cwd notebooks --log-level ERROR -p profile quick -p progress False \
	      $(GAP_DIR)/$$nb.src.ipynb $(GAP_DIR)/$$nb.$$backend.ipynb || true  # the reference check may fail; the results are saved before it
	  done
	  mkdir -p $(GAP_DIR)/$$backend && cp results/quick/*.json $(GAP_DIR)/$$backend/
	done
	$(PY) -c "from fpe.book.results import write_gaps; print(write_gaps('$(GAP_DIR)/native', '$(GAP_DIR)/torch'))"
	cp $(GAP_DIR)/native/*.json results/quick/  # leave the default (native) backend's quick results in place

# make references PROFILE=quick [NOTEBOOKS="02_headline ..."]: store results as the new references.
references: | $(STAMP)
	$(PY) -c "from fpe.book.results import write_references; print(*write_references('$(PROFILE)', notebooks='$(NOTEBOOKS)'.split() or None), sep='\n')"

clean:
	rm -rf _build .cache results/quick
