"""Width sweeps of deeper MLPs over fixed features (the paper, as we read it, section 7, item 2: the
ImageNet-1k classifier is a 5-layer MLP, widths 6 to 16, Figure 5d).

:func:`deep_sweep` is :func:`fpe.experiments.realdata.sweep` with ``layers`` hidden layers of one
width ``h`` (``hidden = [h] * layers``, so ``layers + 1`` linear layers): FPE expands every hidden
layer and prunes once, globally over all layers (:func:`fpe.expand`), under the same schedule
(:func:`~fpe.experiments.schedule.run_schedule`). Cells are indexed by the width ``h`` (not by the
tuple of widths), so :meth:`Run.relative` ``(h, key)`` works as for one hidden layer. With
``layers=1`` it is exactly the one-hidden-layer sweep (the same generators, the same numbers).
Each finished width is cached on disk (:func:`fpe.cache.cached`).
"""
from __future__ import annotations

from typing import Sequence

from ..cache import cached
from ..datasets.features import Features
from .schedule import Run, Schedule, Variant, run_schedule, stacked_data

__all__ = ["deep_sweep"]


def deep_sweep(features: Features, widths: Sequence[int], seeds: Sequence[int], variants: Sequence[Variant], *,
               schedule: Schedule, layers: int = 4, progress: bool = False, config: dict | None = None) -> Run:
    """Run the schedule for MLPs with ``layers`` hidden layers of width ``h``, for every ``h`` in
    ``widths``; returns a :class:`~fpe.experiments.schedule.Run` with a cell per ``(h, variant key)``
    (numbers only: test and train accuracy, non-zero weights per seed).

    Each width is cached under ``config`` (which must identify the features) plus the run settings.
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be an integer >= 1, got {layers!r}")
    seeds = list(seeds)
    data = stacked_data(features.x_train, features.y_train, features.x_test, features.y_test, seeds)
    run = Run(seeds)
    for h in widths:
        tag = f"{features.name}-h{h}" if layers == 1 else f"{features.name}-L{layers}-h{h}"

        def compute(h=h, tag=tag):
            r = run_schedule(*data, seeds=seeds, hidden=[h] * layers, variants=list(variants), schedule=schedule,
                             progress=progress, tag=tag, keep_models=False)
            return Run(r.seeds, {(m, h, key): cell for (m, _, key), cell in r.cells.items()}).to_state()

        key = dict(config or {}, features=features.name, width=h, layers=layers, seeds=seeds,
                   variants=[v.key for v in variants], lr=schedule.lr, batch_size=schedule.batch_size,
                   warmup=schedule.warmup_epochs, post=schedule.post_epochs)
        run = run.merged(Run.from_state(cached("deep", key, compute, module=__name__)))
    return run
