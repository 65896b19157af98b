'''The Colab set-up cell that opens every chapter (a reader's notebook must run on its own there).

Inside Google Colab it clones the companion, installs it in editable mode with Colab's own torch
pinned by a constraints file (so pip never replaces it) and only the extras the chapter needs
(:func:`extras_for`: the real-data packages only for chapters that import :mod:`fpe.datasets`), and
points ``FPE_ROOT`` at the clone so results and references are found; everywhere else it does
nothing. It is tagged ``remove-cell``: the rendered book does not show it, Colab does.
:func:`cell` is the canonical text: ``tests/test_colab.py`` checks that every notebook starts with
it and runs it with a simulated Colab marker. ``python -m fpe.book.colab`` inserts or refreshes it
in every chapter source.
'''
from __future__ import annotations

import re
import sys
from pathlib import Path

REPOSITORY = "https://github.com/fpe-companion/fpe-companion"

_TEMPLATE = f'''# Colab set-up: inside Google Colab, fetch this companion and install it beside Colab's own torch.
# Anywhere else this cell does nothing (use `make setup` or `pip install -e .` instead).
import os, subprocess, sys

def _in_colab():
    try:
        import google.colab  # noqa: F401
        return True
    except ImportError:
        return False

if _in_colab() and not os.environ.get("FPE_ROOT"):
    REPO, DEST = "{REPOSITORY}", "/content/fpe-companion"
    if not os.path.isdir(DEST):
        subprocess.run(["git", "clone", "--depth", "1", REPO, DEST], check=True)
    import torch  # Colab's build stays: the constraint below forbids pip to replace it
    with open("/tmp/fpe-constraints.txt", "w") as fh:
        fh.write(f"torch=={{torch.__version__}}\\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/fpe-constraints.txt",
                    "-e", DEST{{extras}}], check=True)
    sys.path.insert(0, DEST)
    os.environ["FPE_ROOT"] = DEST'''

MARKER = "# Colab set-up:"
TAG = "remove-cell"  # Jupyter Book drops the cell from the rendered page; Colab shows it
EXTRA_OF = {"datasets": "colab"}  # a chapter importing fpe.<subpackage> needs the extra (pyproject.toml)


def extras_for(source: Path) -> str:
    """The pip extras a chapter needs, from the fpe modules it really imports (:func:`fpe.runtime.deps.closure`)."""
    from ..runtime.deps import PACKAGE_DIR, closure

    parts = {p.relative_to(PACKAGE_DIR).parts[0] for p in closure(Path(source)) if p.is_relative_to(PACKAGE_DIR)}
    return ",".join(sorted({EXTRA_OF[p] for p in parts if p in EXTRA_OF}))


def cell(extras: str = "") -> str:
    """The set-up cell installing the companion with ``extras`` (comma-separated, may be empty)."""
    return _TEMPLATE.replace("{extras}", f' + "[{extras}]"' if extras else "")


def insert(source: Path) -> bool:
    """Insert (or refresh) the set-up cell as the first code cell of a py:percent ``source``."""
    text = source.read_text()
    block = f'# %% tags=["{TAG}"]\n' + cell(extras_for(source)) + "\n\n"
    if MARKER in text:
        new = re.sub(r"# %%[^\n]*\n" + re.escape(MARKER) + r".*?(?=\n# %%)", lambda m: block.rstrip("\n") + "\n", text, count=1, flags=re.S)
    else:
        i = text.index("\n# %%", text.index("# %% [markdown]"))  # after the title cell
        new = text[: i + 1] + block + text[i + 1:]
    if new != text:
        source.write_text(new)
        return True
    return False


def insert_executed(notebook: Path, source: Path) -> bool:
    """Insert (or refresh) the cell, unexecuted, in an executed ``.ipynb`` (it is a no-op outside
    Colab, so the notebook's outputs stay valid without re-running it)."""
    import nbformat

    text = cell(extras_for(source))
    nb = nbformat.read(notebook, as_version=4)
    codes = [c for c in nb.cells if c.cell_type == "code"]
    if codes and codes[0].source.startswith(MARKER):
        if codes[0].source == text and TAG in codes[0].metadata.get("tags", []):
            return False
        codes[0].source = text
        codes[0].metadata["tags"] = sorted(set(codes[0].metadata.get("tags", [])) | {TAG})
    else:
        first = nb.cells.index(codes[0]) if codes else len(nb.cells)
        new = nbformat.v4.new_code_cell(text, metadata={"tags": [TAG]})
        new.pop("id", None) if "id" not in nb.cells[0] else None
        nb.cells.insert(first, new)
    nbformat.write(nb, notebook)
    return True


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]  # the project (fpe/book/colab.py)
    for path in sorted((root / "notebooks").glob("*.py")) if len(sys.argv) < 2 else map(Path, sys.argv[1:]):
        executed = root / "book" / f"{path.stem}.ipynb"
        for changed, p in ((insert(path), path), (executed.is_file() and insert_executed(executed, path), executed)):
            if changed:
                print(f"updated {p}")
