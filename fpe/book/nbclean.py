"""Strip volatile metadata from an executed notebook so re-executions diff cleanly, and leave it
as a reader expects to open it.

``python -m fpe.book.nbclean NOTEBOOK.ipynb ...`` removes per-cell timestamps and durations that
papermill records and makes its input/output paths relative, keeping the notebook's total
execution time (seconds) for the provenance record. It also removes papermill's
``injected-parameters`` cell: the values it injected stay in the notebook's metadata
(``metadata.papermill.parameters``), and the ``parameters`` cell is again the only place a reader
(in Colab, say) sets the profile, so an edit there takes effect.

``python -m fpe.book.nbclean --started NOTEBOOK.ipynb`` only tells whether papermill's output ran
any code cell (exit status 0) or not (1: the kernel died before its first cell, as when Jupyter
kernels started at once race for a port, ``ZMQError: Address already in use``); ``make``'s
notebook rule starts such a chapter again.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..runtime.paths import atomic_write_text


def clean(path: str | os.PathLike) -> None:
    path = Path(path)
    nb = json.loads(path.read_text())
    pm = nb.get("metadata", {}).get("papermill", {})
    if pm:
        duration = pm.get("duration")
        for key in ("start_time", "end_time", "environment_variables", "duration"):
            pm.pop(key, None)
        if duration is not None:
            pm["duration_seconds"] = round(float(duration))
        for key in ("input_path", "output_path"):
            if pm.get(key):
                pm[key] = os.path.basename(pm[key])
    nb["cells"] = [c for c in nb.get("cells", []) if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.get("cells", []):
        cpm = cell.get("metadata", {}).get("papermill")
        if cpm is not None:
            for key in ("start_time", "end_time", "duration"):
                cpm.pop(key, None)
        cell.get("metadata", {}).pop("execution", None)
    atomic_write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def started(path: str | os.PathLike) -> bool:
    """Whether the executed notebook at ``path`` ran at least one code cell (False if it is missing
    or unreadable: nothing ran that could be kept)."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return any(c.get("cell_type") == "code" and c.get("execution_count") is not None for c in nb.get("cells", []))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--started"]:
        if len(sys.argv) != 3:
            sys.exit("usage: python -m fpe.book.nbclean --started NOTEBOOK.ipynb")
        sys.exit(0 if started(sys.argv[2]) else 1)
    for arg in sys.argv[1:]:
        clean(arg)
