'''The Colab set-up cell that opens every chapter (a reader's notebook must run on its own there).

Inside Google Colab it clones the companion, installs it in editable mode with Colab's own torch
pinned by a constraints file (so pip never replaces it), and points ``FPE_ROOT`` at the clone so
results and references are found; everywhere else it does nothing. The text below is the
canonical cell: ``tests/test_colab.py`` checks that every notebook starts with it and runs it with
a simulated Colab marker. ``python -m fpe.book.colab`` inserts or refreshes it in every chapter source.
'''
from __future__ import annotations

import re
import sys
from pathlib import Path

REPOSITORY = "https://github.com/fpe-companion/fpe-companion"

CELL = f'''# Colab set-up: inside Google Colab, fetch this companion and install it beside Colab's own torch.
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
                    "-e", DEST + "[colab]"], check=True)
    sys.path.insert(0, DEST)
    os.environ["FPE_ROOT"] = DEST'''

MARKER = "# Colab set-up:"


def insert(source: Path) -> bool:
    """Insert (or refresh) the set-up cell as the first code cell of a py:percent ``source``."""
    text = source.read_text()
    block = "# %%\n" + CELL + "\n\n"
    if MARKER in text:
        new = re.sub(r"# %%\n" + re.escape(MARKER) + r".*?(?=\n# %%)", lambda m: block.rstrip("\n") + "\n", text, count=1, flags=re.S)
    else:
        i = text.index("\n# %%", text.index("# %% [markdown]"))  # after the title cell
        new = text[: i + 1] + block + text[i + 1:]
    if new != text:
        source.write_text(new)
        return True
    return False


def insert_executed(notebook: Path) -> bool:
    """Insert (or refresh) the cell, unexecuted, in an executed ``.ipynb`` (it is a no-op outside
    Colab, so the notebook's outputs stay valid without re-running it)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    codes = [c for c in nb.cells if c.cell_type == "code"]
    if codes and codes[0].source.startswith(MARKER):
        if codes[0].source == CELL:
            return False
        codes[0].source = CELL
    else:
        first = nb.cells.index(codes[0]) if codes else len(nb.cells)
        cell = nbformat.v4.new_code_cell(CELL)
        cell.pop("id", None) if "id" not in nb.cells[0] else None
        nb.cells.insert(first, cell)
    nbformat.write(nb, notebook)
    return True


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "notebooks").glob("*.py")) if len(sys.argv) < 2 else map(Path, sys.argv[1:]):
        executed = root / "book" / f"{path.stem}.ipynb"
        for changed, p in ((insert(path), path), (executed.is_file() and insert_executed(executed), executed)):
            if changed:
                print(f"updated {p}")
