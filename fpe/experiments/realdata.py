"""The real-data experiments (the paper, as we read it, section 5: Figure 5 and the real-data table).

One-hidden-layer classifiers on fixed input features (:mod:`fpe.datasets.features`), trained with the
paper's real-data schedule (25 epochs dense, FPE, 25 more; dense baseline 50) by
:func:`~fpe.experiments.schedule.run_schedule`, one call per hidden width, each width one
cached job (:func:`fpe.runtime.jobs.run_jobs`: on every core or a cluster, keyed by the code this module imports).
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch

from ..runtime.jobs import Job, run_jobs
from ..datasets.features import Features
from .schedule import Run, Schedule, Variant, run_schedule, stacked_data

__all__ = ["sweep"]


def sweep(features: Features, widths: Sequence[int], seeds: Sequence[int], variants: Sequence[Variant], *,
          schedule: Schedule, layers: int = 1, progress: bool = False, config: dict | None = None,
          device: str | torch.device = "cpu") -> Run:
    """Run the schedule at every width; returns a :class:`~fpe.experiments.schedule.Run` with a cell
    per ``(h, variant key)`` (numbers only: test and train accuracy, non-zero weights per seed).

    ``layers`` hidden layers of width ``h`` each (``hidden = [h] * layers``; the paper's ImageNet-1k
    classifier is a 5-layer MLP, ``layers=4``, section 7): FPE expands every hidden layer and prunes
    once, globally over all layers (:func:`fpe.expand`). Cells are indexed by ``h`` whatever the depth.
    Each width is cached under ``config`` plus the features' stable key and data hash and the run
    settings; the seed streams are tagged by :attr:`~fpe.datasets.features.Features.stream_tag` (the
    stable key), so two copies of the same data give the same numbers.
    Training runs on ``device`` (the records come back to the CPU; another device computes the same
    models up to float summation order).
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be an integer >= 1, got {layers!r}")
    seeds, variants = list(seeds), list(variants)
    jobs = []
    for h in widths:
        key = dict(config or {}, features=features.data_key, data=features.data_hash, width=h, layers=layers, seeds=seeds,
                   variants=[v.key for v in variants],
                   lr=schedule.lr, batch_size=schedule.batch_size, warmup=schedule.warmup_epochs, post=schedule.post_epochs,
                   device=torch.device(device).type)
        cost = h * layers * sum(v.alpha for v in variants) * len(seeds) * (schedule.warmup_epochs + schedule.post_epochs)
        jobs.append(Job("realdata", key, partial(_width, features, h, seeds, variants, schedule, layers, progress, str(device)),
                        module=__name__, cost=cost))
    run = Run(seeds)
    for state in run_jobs(jobs, progress=progress, desc=f"{features.name} widths"):
        run = run.merged(Run.from_state(state))
    return run


def _width(features: Features, h: int, seeds: list[int], variants: list[Variant], schedule: Schedule, layers: int,
           progress: bool, device: str) -> dict:
    """One width of :func:`sweep` (one job)."""
    data = stacked_data(*(t.to(device) for t in (features.x_train, features.y_train, features.x_test, features.y_test)), seeds)
    # the streams are tagged by the data set's stable key, never by its display name (which says which copy
    # was read: "CIFAR-10" or "CIFAR-10 (JPEG copy)"), so the same data gives the same numbers from any copy
    name = features.stream_tag
    tag = f"{name}-h{h}" if layers == 1 else f"{name}-L{layers}-h{h}"
    r = run_schedule(*data, seeds=seeds, hidden=[h] * layers, variants=variants, schedule=schedule,
                     progress=progress, tag=tag, keep_models=False)
    return Run(r.seeds, {(m, h, key): cell for (m, _, key), cell in r.cells.items()}).to_state()
