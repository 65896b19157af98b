"""Executed-notebook hygiene (fpe.book.nbclean) and the notebook rule's restart of a chapter whose
kernel died before its first cell (the Jupyter port race of `make execute`'s parallel starts)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fpe.book.nbclean import clean, started

ROOT = Path(__file__).resolve().parents[1]


def _nb(counts, **papermill):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# t"}]
    cells += [{"cell_type": "code", "execution_count": c, "metadata": {"papermill": {"start_time": "x", "status": "s"}},
               "outputs": [], "source": "1"} for c in counts]
    return {"cells": cells, "metadata": {"papermill": papermill}, "nbformat": 4, "nbformat_minor": 5}


def test_started_tells_whether_any_code_cell_ran(tmp_path):
    p = tmp_path / "a.ipynb"
    assert not started(p)  # missing
    p.write_text("{not json")
    assert not started(p)
    p.write_text(json.dumps(_nb([None, None])))
    assert not started(p)
    p.write_text(json.dumps(_nb([1, None])))
    assert started(p)


def test_clean_drops_volatile_metadata_and_keeps_the_duration(tmp_path):
    p = tmp_path / "a.ipynb"
    p.write_text(json.dumps(_nb([1], duration=12.6, start_time="t", input_path="/x/in.ipynb")))
    clean(p)
    nb = json.loads(p.read_text())
    assert nb["metadata"]["papermill"] == {"duration_seconds": 13, "input_path": "in.ipynb"}
    assert nb["cells"][1]["metadata"]["papermill"] == {"status": "s"}


FAKE_PAPERMILL = """#!/usr/bin/env bash
# fake papermill: the last two arguments are input and output; behaviour from $FAKE_PM_PLAN, one
# word per call: "race" (output written, no cell ran, exit 1), "error" (a cell ran and failed), "ok"
out="${@: -1}"; n=$(( $(cat "$FAKE_PM_COUNT" 2>/dev/null || echo 0) + 1 )); echo $n > "$FAKE_PM_COUNT"
case $(echo $FAKE_PM_PLAN | cut -d' ' -f$n) in
  race) count=null rc=1; echo "zmq.error.ZMQError: Address already in use" >&2;;
  error) count=1 rc=1;;
  ok) count=1 rc=0; i=0; while (( i < 500000 )); do (( i++ )); done;;  # some CPU time (the chapter's, for the job log)
esac
echo '{"cells": [{"cell_type": "code", "execution_count": '$count', "metadata": {}, "outputs": [], "source": ""}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}' > "$out"
exit $rc
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
@pytest.mark.parametrize("plan, calls, ok", [("race ok", 2, True), ("race race race", 3, False),
                                             ("error ok", 1, False), ("ok", 1, True)])
def test_the_notebook_rule_restarts_a_kernel_that_died_before_its_first_cell(tmp_path, plan, calls, ok):
    """`make book/NAME.ipynb` (the Makefile's own rule, with a stand-in papermill) runs papermill
    again only when no cell ran, at most three times; a failure inside a cell is not repeated. With
    FPE_JOB_LOG set it logs the chapter once, with its status and CPU seconds."""
    for d in ("notebooks", "book", "fpe"):
        (tmp_path / d).mkdir()
    (tmp_path / "notebooks/x.py").write_text("# %%\n1\n")
    for f in ("requirements.txt", "pyproject.toml"):
        (tmp_path / f).write_text("")
    bin_ = tmp_path / "venv/bin"
    bin_.mkdir(parents=True)
    (bin_ / "papermill").write_text(FAKE_PAPERMILL)
    (bin_ / "papermill").chmod(0o755)
    (bin_ / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # this environment's Python
    (bin_ / "python").chmod(0o755)
    (tmp_path / "_build/src").mkdir(parents=True)
    (tmp_path / "_build/src/x.ipynb").write_text("{}")
    (tmp_path / "_build/deps.mk").write_text("")
    (tmp_path / "venv/.installed").write_text("")
    env = dict(os.environ, FAKE_PM_PLAN=plan, FAKE_PM_COUNT=str(tmp_path / "count"), FPE_SYSTEM_CHECKED="1",
               FPE_JOB_LOG=str(tmp_path / "jobs.jsonl"), PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "VENV=venv",
                           "book/x.ipynb"], env=env, capture_output=True, text=True, timeout=120)
    assert int((tmp_path / "count").read_text()) == calls, proc.stderr
    assert (proc.returncode == 0) == ok, proc.stderr
    assert (tmp_path / "book/x.ipynb").exists() == ok  # a failed chapter leaves no notebook (.DELETE_ON_ERROR)
    record, = [json.loads(line) for line in (tmp_path / "jobs.jsonl.chapters").read_text().splitlines()]
    assert record["chapter"] == "x" and (record["status"] == 0) == ok
    assert record["cpu_s"] >= (0.3 if "ok" in plan.split()[:calls] else 0)  # the stand-in's busy loop (its "ok" calls), measured from the rule's shell
    assert not list((tmp_path / "book").glob("*.times"))
