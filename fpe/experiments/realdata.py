"""The real-data experiments (the paper, as we read it, section 5: Figure 5 and the real-data table).

One-hidden-layer classifiers on fixed input features (:mod:`fpe.datasets.features`), trained with the
paper's real-data schedule (25 epochs dense, FPE, 25 more; dense baseline 50) by
:func:`~fpe.experiments.schedule.run_schedule`, one call per hidden width, each finished width cached on
disk (:func:`fpe.cache.cached`, keyed by the code this module imports).
"""
from __future__ import annotations

from typing import Sequence

from ..cache import cached
from ..datasets.features import Features
from .schedule import Run, Schedule, Variant, run_schedule, stacked_data

__all__ = ["sweep"]


def sweep(features: Features, widths: Sequence[int], seeds: Sequence[int], variants: Sequence[Variant], *,
          schedule: Schedule, progress: bool = False, config: dict | None = None) -> Run:
    """Run the schedule at every width; returns a :class:`~fpe.experiments.schedule.Run` with a cell
    per ``(h, variant key)`` (numbers only: test and train accuracy, non-zero weights per seed).

    Each width is cached under ``config`` (which must identify the features) plus the run settings.
    """
    seeds = list(seeds)
    data = stacked_data(features.x_train, features.y_train, features.x_test, features.y_test, seeds)
    run = Run(seeds)
    for h in widths:
        def compute(h=h):
            return run_schedule(*data, seeds=seeds, hidden=[h], variants=list(variants), schedule=schedule,
                                progress=progress, tag=f"{features.name}-h{h}", keep_models=False).to_state()

        key = dict(config or {}, features=features.name, width=h, seeds=seeds, variants=[v.key for v in variants],
                   lr=schedule.lr, batch_size=schedule.batch_size, warmup=schedule.warmup_epochs, post=schedule.post_epochs)
        run = run.merged(Run.from_state(cached("realdata", key, compute, module=__name__)))
    return run
