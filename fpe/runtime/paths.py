"""Where the companion keeps its files, and how they are written (never half-written).

:func:`project_root` finds the companion's top folder; :func:`cache_dir` is where finished
computations are cached (:mod:`fpe.runtime.cache`); :func:`atomic_write_text` writes a file through a
temporary file and ``os.replace``, so an interrupted run never leaves a truncated file behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["project_root", "cache_dir", "atomic_write_text"]


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The companion's top folder (holds ``pyproject.toml`` and ``fpe/``), else the working directory.

    ``FPE_ROOT`` overrides the search.
    """
    if os.environ.get("FPE_ROOT"):
        return Path(os.environ["FPE_ROOT"]).resolve()
    here = Path(start or os.getcwd()).resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").is_file() and (p / "fpe").is_dir():
            return p
    return here


def cache_dir() -> Path:
    """The on-disk cache of finished computations: ``FPE_CACHE_DIR``, else ``<project>/.cache``."""
    return Path(os.environ["FPE_CACHE_DIR"]) if os.environ.get("FPE_CACHE_DIR") else project_root() / ".cache"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; result files are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
