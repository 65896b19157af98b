"""Reproducibility: seeds and CPU determinism (the paper, as we read it, section 4: paired seeds).

Every random draw in ``fpe`` comes from a ``torch.Generator`` derived from an integer seed and a
purpose tag (:func:`generator`), so a model's data, init, split and minibatch order depend only on
its own seed, never on which other models it is batched with. On the CPU with a fixed thread count
the runs are bitwise reproducible on one machine; across CPUs, float summation order may differ,
which is why stored references are compared with a tolerance (:func:`check`).
"""
from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

__all__ = ["PURPOSES", "stream", "SEED_BASES", "seeds", "derive_seed", "generator", "seed_everything", "set_determinism"]


# Reported runs use seeds the calibration never saw (the calibration chapter uses the "calibration" block).
SEED_BASES = {"calibration": 0, "reported": 1000}


def seeds(n: int, purpose: str = "reported") -> list[int]:
    """``n`` seeds of a block that no other purpose uses: ``"calibration"`` (0, 1, ...) for choosing the
    house defaults, ``"reported"`` (1000, 1001, ...) for every number the book reports."""
    if purpose not in SEED_BASES:
        raise ValueError(f"purpose must be one of {sorted(SEED_BASES)}, got {purpose!r}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
        raise ValueError(f"n must be an integer in 1..1000, got {n!r}")
    return list(range(SEED_BASES[purpose], SEED_BASES[purpose] + n))


def derive_seed(seed: int, *tags) -> int:
    """A 63-bit seed from ``seed`` and purpose tags (stable across platforms and Python runs)."""
    text = repr((int(seed),) + tuple(str(t) for t in tags)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def generator(seed: int, *tags) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed` ``(seed, *tags)``."""
    return torch.Generator().manual_seed(derive_seed(seed, *tags))


PURPOSES = ("init", "order", "split")


def stream(seed: int, tag: str, purpose: str, *detail) -> torch.Generator:
    """The generator of one purpose of one run (the paired design rests on this one spelling).

    ``purpose`` is ``"init"`` (the dense model's initial weights), ``"order"`` (minibatch order; detail:
    the phase ``"warmup"``/``"post"``) or ``"split"`` (FPE's split draws; detail: split rule, alpha);
    ``tag`` names the task (e.g. ``"dnf-m8"``), so a model's draws depend only on its own seed and task.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    return generator(seed, purpose, tag, *detail)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global generators (for code that does not take a generator)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_determinism(threads: int | None = None) -> int:
    """Deterministic CPU kernels and a fixed intra-op thread count; returns the count.

    ``threads=None`` reads ``FPE_THREADS`` and otherwise uses 1: the Boolean models are tiny, a
    second thread buys almost nothing (measured: 3.8 s vs 4.1 s for a 5-seed run) and makes runs
    crawl when another process holds a core, so the Makefile instead runs notebooks side by side.
    Real-data chapters pass a larger count for their embedding and training work.
    """
    if threads is None:
        threads = int(os.environ.get("FPE_THREADS", "1"))
    if isinstance(threads, bool) or int(threads) < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new tensor with NaN to expose reads of uninitialised
    # memory; fpe never reads it, and the extra writes cost time in every training step.
    torch.utils.deterministic.fill_uninitialized_memory = False
    return int(threads)
