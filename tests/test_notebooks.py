"""The committed executed notebooks (book/) match their jupytext sources (notebooks/) and the
committed paper-profile results they report."""
import json
from pathlib import Path

import jupytext

from fpe.book.verdicts import VERDICTS
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))


def code_cells(nb):
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert len(SOURCES) >= 2


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_has_a_parameters_cell(source):
    nb = jupytext.read(source)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "profile" in params[0].source and "progress" in params[0].source
    assert '# @param ["quick", "paper"]' in params[0].source and '# @param {type:"boolean"}' in params[0].source


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_executed_notebook_matches_its_source(source):
    executed = ROOT / "book" / f"{source.stem}.ipynb"
    assert executed.is_file(), f"{executed} is missing: run `make book` and commit it"
    nb = nbformat.read(executed, as_version=4)
    assert code_cells(nb) == code_cells(jupytext.read(source)), (
        f"{executed.name} was executed from an older {source.name}: run `make book` and commit")
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])], (
        "the committed notebook keeps papermill's injected cell, which would override a reader's parameters")
    assert nb.metadata["papermill"]["parameters"]["profile"] == "paper", "commit paper-profile notebooks only"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "# @param" in params[0].source, "the parameters cell is the one place to set them (Colab form fields)"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_paper_results_are_committed_with_verdicts(source):
    path = ROOT / "results" / "paper" / f"{source.stem}.json"
    assert path.is_file(), f"{path} is missing: run `make book` and commit results/paper"
    data = json.loads(path.read_text())
    assert data["profile"] == "paper" and data["numbers"]
    for n in data["numbers"]:
        assert n["verdict"] in VERDICTS
        assert n["n_seeds"] == len(n["values"]) >= 1
        # the executed notebook printed the same numbers it saved
    executed = (ROOT / "book" / f"{source.stem}.ipynb").read_text()
    for n in data["numbers"][:3]:
        assert n["label"] in executed
