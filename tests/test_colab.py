"""Every chapter opens with the Colab set-up cell, which acts only inside Colab (simulated here)."""
import subprocess
import sys
import types
from pathlib import Path

import jupytext
import pytest
import yaml

from fpe.book import colab

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.py"))


CELL = colab.cell("colab")  # the fullest form; the tests below run it


def first_code_cell(path):
    return next(c for c in jupytext.read(path).cells if c.cell_type == "code")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_chapter_starts_with_its_colab_cell_hidden_in_the_book(source):
    first = first_code_cell(source)
    assert first.source.strip() == colab.cell(colab.extras_for(source)).strip()
    assert colab.TAG in first.metadata.get("tags", [])  # removed from the rendered page, shown in Colab
    executed = ROOT / "book" / f"{source.stem}.ipynb"
    first_executed = first_code_cell(executed)
    assert first_executed.source.strip() == first.source.strip() and colab.TAG in first_executed.metadata.get("tags", [])


# what each extra installs, as import names (pyproject.toml; the base install brings the core ones)
CORE = {"torch", "numpy", "scipy", "matplotlib", "tqdm", "fpe"}
PRESENT = {"IPython", "google"} | set(sys.stdlib_module_names)  # Jupyter's and Colab's own, and the standard library


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_a_chapter_imports_only_what_its_set_up_installs(source):
    import ast

    tree = ast.parse("\n".join(c.source for c in jupytext.read(source).cells if c.cell_type == "code" and not c.source.startswith("%")))
    top = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    top |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    assert top - PRESENT <= CORE, f"{source.name} imports {sorted(top - PRESENT - CORE)} beyond the core install"
    uses_datasets = any(p.relative_to(ROOT / "fpe").parts[0] == "datasets" for p in
                        __import__("fpe.runtime.deps", fromlist=["closure"]).closure(source) if p.is_relative_to(ROOT / "fpe"))
    assert ("[colab]" in colab.cell(colab.extras_for(source))) == uses_datasets


def test_the_cell_points_at_the_books_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == colab.REPOSITORY
    assert config["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")


def run_cell(monkeypatch, in_colab):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setenv("FPE_ROOT", "")  # recorded, so the cell's FPE_ROOT is undone after the test
    if in_colab:
        google = types.ModuleType("google")
        google.colab = types.ModuleType("google.colab")
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    else:
        monkeypatch.setitem(sys.modules, "google.colab", None)  # import fails as outside Colab
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(CELL, "colab-cell", "exec"), {"__name__": "__main__"})
    return calls


def test_the_simulation_leaves_no_trace(monkeypatch):
    import os

    run_cell(monkeypatch, in_colab=True)
    monkeypatch.undo()
    assert not os.environ.get("FPE_ROOT")


def test_outside_colab_the_cell_does_nothing(monkeypatch):
    assert run_cell(monkeypatch, in_colab=False) == []


def test_inside_colab_it_clones_and_installs_without_touching_torch(monkeypatch):
    import os
    import torch

    monkeypatch.setattr(os.path, "isdir", lambda p: False)
    calls = run_cell(monkeypatch, in_colab=True)
    assert calls[0] == ["git", "clone", "--depth", "1", colab.REPOSITORY, "/content/fpe-companion"]
    pip = calls[1]
    assert pip[:4] == [sys.executable, "-m", "pip", "install"]
    assert "-c" in pip and "-e" in pip and not any(a.startswith("torch") for a in pip)
    assert "-U" not in pip and "--upgrade" not in pip
    assert Path(pip[pip.index("-c") + 1]).read_text().strip() == f"torch=={torch.__version__}"
    assert os.environ["FPE_ROOT"] == "/content/fpe-companion"
    assert "/content/fpe-companion" in sys.path


def test_insert_is_idempotent(tmp_path):
    src = tmp_path / "nb.py"
    src.write_text("# %% [markdown]\n# # Title\n\n# %% tags=[\"parameters\"]\nprofile = \"paper\"\n")
    assert colab.insert(src)
    assert not colab.insert(src)
    first = first_code_cell(src)
    assert first.source.strip() == colab.cell("").strip() and first.metadata.get("tags") == [colab.TAG]
