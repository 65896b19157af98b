"""An on-disk cache for finished computations, so an interrupted run loses nothing already computed.

Entries live in ``<project>/.cache/`` (``FPE_CACHE_DIR`` overrides; ``FPE_CACHE=0`` disables) and are
keyed by the computation's name, its full configuration and a hash of the ``fpe`` source code, so
a change of the package invalidates them (no stale pages). A computation may name the modules its
numbers depend on (``depends``): then only a change of those invalidates it, so that editing an
unrelated module does not throw away an hour of finished training. Files are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

__all__ = ["source_hash", "cache_path", "cached"]


def source_hash(depends: Sequence[str] | None = None) -> str:
    """sha256 over the ``fpe`` package's ``.py`` and ``.c`` files in every subfolder (relative paths
    and contents), or only ``depends``."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    files = sorted([*pkg.rglob("*.py"), *pkg.rglob("*.c")]) if depends is None else [pkg / name for name in depends]
    for p in files:
        h.update(p.relative_to(pkg).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cache_path(name: str, config: dict, depends: Sequence[str] | None = None) -> Path:
    from .results import project_root

    key = hashlib.sha256(json.dumps({"config": config, "src": source_hash(depends)}, sort_keys=True, default=str).encode()).hexdigest()[:20]
    base = Path(os.environ["FPE_CACHE_DIR"]) if os.environ.get("FPE_CACHE_DIR") else project_root() / ".cache"
    return base / f"{name}-{key}.pt"


def cached(name: str, config: dict, compute: Callable[[], Any], *, depends: Sequence[str] | None = None) -> Any:
    """Return ``compute()``, reading it from / writing it to the cache under ``(name, config)``.

    ``depends`` names the ``fpe`` modules (file names) the value depends on; default: all of them.
    The value must be saveable by ``torch.save`` with plain containers and tensors.
    """
    if os.environ.get("FPE_CACHE", "1") == "0":
        return compute()
    path = cache_path(name, config, depends)
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a corrupt entry is recomputed, never trusted
            path.unlink(missing_ok=True)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(value, tmp)
    os.replace(tmp, path)
    return value
