"""The one on-disk cache of finished computations, so an interrupted run loses nothing already computed.

Entries live in :func:`fpe.runtime.paths.cache_dir` (``FPE_CACHE=0`` disables the cache) and are keyed
by the computation's name, its full configuration and the science hash
(:func:`fpe.runtime.deps.code_hash`) of the module that computes it: the code, without docstrings, of
every science file that module imports, transitively (found by walking the import statements, never
listed by hand). Editing the code of a module the computation uses invalidates it (no stale pages);
editing a docstring, the infrastructure (:mod:`fpe.runtime`), the book tooling (:mod:`fpe.book`) or an
unrelated module does not throw away an hour of finished training. Embeddings of the real-data
chapter are cached here too. Files are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import torch

from .deps import code_hash
from .paths import cache_dir
from .slots import slot

__all__ = ["cache_path", "cached", "load_entry", "store_entry", "COUNTS"]

# hits and misses of this process, so a chapter can say whether its run was cold or read its cache
COUNTS = {"hits": 0, "misses": 0}


def cache_path(name: str, config: dict, module: str) -> Path:
    """Where ``(name, config)`` computed by ``module`` is stored (``name`` may hold ``/`` subfolders)."""
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", name) or ".." in name:
        raise ValueError(f"name must be letters, digits and - _ . / (no ..), got {name!r}")
    key = hashlib.sha256(json.dumps({"config": config, "src": code_hash(module)}, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return cache_dir() / f"{name}-{key}.pt"


def cached(name: str, config: dict, compute: Callable[[], Any], *, module: str) -> Any:
    """Return ``compute()``, reading it from / writing it to the cache under ``(name, config)``.

    ``module`` is the name of the module whose code computes the value (pass ``__name__``): the key
    holds the hash of everything it imports. The value must be saveable by ``torch.save`` with plain
    containers and tensors. A corrupt entry is recomputed, never trusted.
    """
    if os.environ.get("FPE_CACHE", "1") == "0":
        COUNTS["misses"] += 1
        return compute()
    path = cache_path(name, config, module)
    value = load_entry(path)
    if value is not None:
        COUNTS["hits"] += 1
        return value
    COUNTS["misses"] += 1
    with slot():  # a book-wide slot while computing (fpe.runtime.slots; nothing outside `make execute`)
        value = compute()
    store_entry(path, value)
    return value


def load_entry(path: Path) -> Any:
    """The value stored at ``path``, or ``None`` when there is none (a corrupt entry is removed)."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:
        path.unlink(missing_ok=True)
        return None


def store_entry(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(value, tmp)
    os.replace(tmp, path)
