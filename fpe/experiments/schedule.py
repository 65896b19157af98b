"""The paper's training schedule, for any data (the paper, as we read it, sections 3 and 5, "Schedule").

1. Train the dense models (one per seed) for ``warmup_epochs``.
2. Apply :func:`fpe.expand` to each with every requested variant (split rule x alpha).
3. Train the expanded models for ``post_epochs`` with a fresh Adam and fixed masks; the dense
   models keep training for the same ``post_epochs`` with their own optimiser state, so the dense
   baseline trains for the same total.

All models of one shape are trained as one batch (:class:`~fpe.training.stacked.Trainer`): the dense
stack, then one stack per alpha holding every split rule and seed. Every variant of a seed sees the
same data and the same minibatch order in each phase (a paired design): every generator of a run
comes from :func:`fpe.repro.stream` ``(seed, tag, purpose, ...)``, the one place purpose tags are spelled.

A run's numbers and trained models are one :class:`Run` record, indexed by ``(m, h, variant)``
(``m`` is the task: the clause count of a Boolean run, ``None`` for fixed data), with
:meth:`Run.relative`, :meth:`Run.pvalue` and :meth:`Run.fold` for the comparisons the chapters make.
Every cell also holds its learning curve (test accuracy every :func:`curve_stride` epochs; evaluating
draws no random numbers and changes no weight, so recording it changes no number), and
:meth:`Run.convergence` labels it with :class:`~fpe.training.convergence.PlateauRule`
(:func:`convergence_summary` states a sweep's cells together).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..method.expand import expand
from ..interference import fold_change
from ..metrics import paired_pvalue, relative_improvement
from ..method.mlp import init_mlp
from ..repro import stream
from ..training.convergence import PlateauRule
from ..training.stacked import StackedMLP, Trainer

__all__ = ["Variant", "DENSE", "Schedule", "Cell", "Run", "CurveRecorder", "curve_stride", "curve_check", "convergence_summary",
           "run_schedule"]

@dataclass(frozen=True)
class Variant:
    """A model variant: ``split`` is ``"dense"`` or a split rule of :func:`fpe.expand`."""

    split: str
    alpha: int = 1

    @property
    def key(self) -> str:
        return "dense" if self.split == "dense" else f"{self.split}_a{self.alpha}"

    @property
    def label(self) -> str:
        return "dense" if self.split == "dense" else f"{self.split} split, α={self.alpha}"


DENSE = Variant("dense")


@dataclass(frozen=True)
class Schedule:
    """Optimiser and phase lengths of the schedule (Adam, no weight decay: **[house]**)."""

    lr: float
    batch_size: int
    warmup_epochs: int
    post_epochs: int

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for name in ("batch_size", "warmup_epochs", "post_epochs"):
            value = getattr(self, name)
            low = 1 if name == "batch_size" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass
class Cell:
    """One ``(m, h, variant)`` cell of a run: per-seed tensors ``(S,)`` of test and train accuracy (%),
    non-zero weights, and (Boolean runs) feature capacity and mean ``|cosine|`` of ``W1``; the trained
    stack as :class:`~fpe.training.stacked.StackedMLP` state (``weights``, ``biases``, ``masks``, one
    entry per layer with a leading seed axis; ``None`` where not kept) and, for dense cells, the
    state after warm-up (``warm``). ``curve`` ``(S, P)`` is the test accuracy (%) every ``curve_every``
    epochs from epoch 0: from initialisation for a dense cell (warm-up and post phase), from the
    expansion for an FPE cell."""

    test_acc: torch.Tensor
    train_acc: torch.Tensor
    nonzeros: torch.Tensor
    capacity: torch.Tensor | None = None
    cosine: torch.Tensor | None = None
    weights: list | None = None
    biases: list | None = None
    masks: list | None = None
    warm: dict | None = None
    curve: torch.Tensor | None = None
    curve_every: int | None = None

    def model(self) -> StackedMLP:
        """The trained models of every seed as one stack."""
        if self.weights is None:
            raise ValueError("this cell kept no weights (keep_models=False)")
        return StackedMLP(weights=self.weights, biases=self.biases, masks=self.masks)

    def without_models(self) -> "Cell":
        return Cell(self.test_acc, self.train_acc, self.nonzeros, self.capacity, self.cosine,
                    curve=self.curve, curve_every=self.curve_every)

    def to_state(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass
class Run:
    """All cells of a run, indexed by ``(m, h, variant key)``; ``run[h, key]`` works when the run has
    one task ``m``. ``seeds`` are the seeds of every cell, in order."""

    seeds: list[int]
    cells: dict[tuple, Cell] = field(default_factory=dict)

    def _key(self, index) -> tuple:
        if len(index) == 2:
            tasks = {m for m, _, _ in self.cells}
            if len(tasks) != 1:
                raise KeyError(f"this run holds tasks {sorted(tasks, key=str)}; index it by (m, h, variant)")
            index = (next(iter(tasks)), *index)
        return tuple(index)

    def __getitem__(self, index) -> Cell:
        return self.cells[self._key(index)]

    def __contains__(self, index) -> bool:
        return self._key(index) in self.cells

    @property
    def widths(self) -> list:
        """The hidden widths ``h`` of the run's cells, sorted."""
        return sorted({h for _, h, _ in self.cells})

    def relative(self, *index, metric: str = "test_acc") -> np.ndarray:
        """Relative improvement (%) of a cell over the dense cell of the same ``(m, h)``, per seed."""
        m, h, key = self._key(index)
        return relative_improvement(getattr(self[m, h, key], metric).numpy(), getattr(self[m, h, "dense"], metric).numpy())

    def pvalue(self, *index, metric: str = "test_acc") -> float:
        """Two-sided paired t-test of a cell against the dense cell of the same ``(m, h)`` over seeds."""
        m, h, key = self._key(index)
        return paired_pvalue(getattr(self[m, h, key], metric).numpy(), getattr(self[m, h, "dense"], metric).numpy())

    def fold(self, *index, metric: str) -> np.ndarray:
        """Fold change FPE / dense of an interference metric (``"capacity"``, ``"cosine"``), per seed."""
        m, h, key = self._key(index)
        return fold_change(getattr(self[m, h, key], metric), getattr(self[m, h, "dense"], metric)).numpy()

    def convergence(self, key: str, rule: PlateauRule = PlateauRule()) -> dict[str, dict]:
        """The plateau rule on the mean curve over seeds of every cell of variant ``key``:
        ``{cell label ("m=8, h=8", or "h=8" for fixed data): PlateauRule.check dict}`` (the dense
        cells over all their epochs, FPE cells over their post-expansion epochs)."""
        out = {}
        for (m, h, k), cell in sorted(self.cells.items(), key=lambda kv: str(kv[0])):
            if k != key:
                continue
            if cell.curve is None:
                raise ValueError(f"cell {(m, h, k)} recorded no learning curve")
            label = ", ".join(part for part in (f"m={m}" if m is not None else "", f"h={h}") if part)
            out[label] = curve_check(cell.curve, cell.curve_every, rule)
        if not out:
            raise KeyError(f"this run has no cell of variant {key!r}")
        return out

    def merged(self, other: "Run") -> "Run":
        """A run holding the cells of both (``other``'s where both have a cell); same seeds required."""
        if list(other.seeds) != list(self.seeds):
            raise ValueError(f"runs over different seeds cannot be merged: {self.seeds} vs {other.seeds}")
        return Run(list(self.seeds), {**self.cells, **other.cells})

    def without_models(self) -> "Run":
        return Run(list(self.seeds), {k: c.without_models() for k, c in self.cells.items()})

    def to_state(self) -> dict:
        """Plain containers and tensors (for :func:`fpe.runtime.cache.cached`)."""
        return {"seeds": list(self.seeds), "cells": [[list(k), c.to_state()] for k, c in self.cells.items()]}

    @classmethod
    def from_state(cls, state: dict) -> "Run":
        return cls(list(state["seeds"]), {tuple(k): Cell(**c) for k, c in state["cells"]})


def run_schedule(
    x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, *,
    seeds: Sequence[int], hidden: Sequence[int], variants: Sequence[Variant], schedule: Schedule, groups=None,
    split_rules: dict[str, Callable] | None = None, progress: bool = False, tag: str = "", task=None,
    keep_models: bool = True,
) -> Run:
    """Run the FPE schedule for every seed and variant (module docstring) on the reference trainer.

    Args:
        x_train, y_train, x_test, y_test: per-seed data ``(S, N, d)`` / ``(S, N)``, ``S = len(seeds)``,
            all on one device: training runs there (CUDA where the data is; initialisation, splits and
            minibatch orders are drawn on the CPU, so every device trains the same models).
        hidden: hidden widths of the dense model (e.g. ``[8]``); output width is 1 for binary targets.
        variants: ``DENSE`` and/or FPE variants.
        schedule: learning rate, batch size and the two phases' epochs.
        groups: input groups for ``split="clause"``.
        split_rules: extra named split callables (variant ``split`` -> callable).
        tag: the task's name in the generators' purpose tags (:func:`fpe.repro.stream`).
        task: the run's ``m`` index (``None`` for fixed data); cells are ``(task, h, variant key)``
            with ``h = hidden[0]`` (the tuple ``hidden`` for deeper nets).
        keep_models: keep every cell's trained weights (the real-data chapter keeps numbers only).
    """
    seeds = list(seeds)
    s = len(seeds)
    device = x_train.device  # models are drawn on the CPU (the same on every device), then moved there
    n_out = 1 if y_train.dtype.is_floating_point else int(y_train.max()) + 1
    sizes = [x_train.shape[2], *hidden, n_out]
    h_index = hidden[0] if len(hidden) == 1 else tuple(hidden)
    every = curve_stride(schedule.warmup_epochs, schedule.post_epochs)
    orders = lambda phase: [stream(sd, tag, "order", phase) for sd in seeds]  # noqa: E731
    dense = StackedMLP.from_sequentials([init_mlp(sizes, stream(sd, tag, "init")) for sd in seeds]).to(device)
    dense_trainer = Trainer(dense, x_train, y_train, lr=schedule.lr, batch_size=schedule.batch_size)
    dense_curve = CurveRecorder(lambda: dense.accuracy(x_test, y_test), every)
    dense_trainer.fit(schedule.warmup_epochs, orders("warmup"), progress=progress, desc="dense warm-up", on_epoch=dense_curve)
    warm = dense.to_sequentials()
    warm_state = dense.state()

    by_alpha: dict[int, list[Variant]] = {}
    for v in variants:
        if v.split != "dense":
            by_alpha.setdefault(v.alpha, []).append(v)
    stacks = []  # (variant keys per instance, StackedMLP, data index)
    for alpha, vs in sorted(by_alpha.items()):
        models, index, keys = [], [], []
        for v in vs:
            rule = (split_rules or {}).get(v.split, v.split)
            for i, sd in enumerate(seeds):
                g = stream(sd, tag, "split", v.split, alpha)
                models.append(expand(warm[i], alpha, rule, groups=groups if v.split == "clause" else None, generator=g))
                index.append(i)
                keys.append(v.key)
        stacks.append((keys, StackedMLP.from_sequentials(models).to(device), torch.tensor(index)))

    if any(v.split == "dense" for v in variants):
        dense_trainer.fit(schedule.post_epochs, orders("post"), progress=progress, desc="dense", on_epoch=dense_curve)
        stacks.insert(0, (["dense"] * s, dense, torch.arange(s)))
    run = Run(seeds)
    for keys, model, index in stacks:
        curve = dense_curve
        if keys[0] != "dense":
            curve = CurveRecorder(lambda: model.accuracy(x_test, y_test, index), every)
            Trainer(model, x_train, y_train, index, lr=schedule.lr, batch_size=schedule.batch_size).fit(
                schedule.post_epochs, orders("post"), progress=progress, desc=f"FPE α={model.sizes[1] // sizes[1]}", on_epoch=curve)
        test_acc = model.accuracy(x_test, y_test, index).cpu()  # records live on the CPU (cache files, any device)
        train_acc = model.accuracy(x_train, y_train, index).cpu()
        nnz = model.nonzeros().cpu()
        points = curve.tensor()
        for key in dict.fromkeys(keys):
            sel = torch.tensor([k == key for k in keys])
            cell = Cell(test_acc[sel], train_acc[sel], nnz[sel], curve=points[sel], curve_every=every)
            if keep_models:
                cell = Cell(cell.test_acc, cell.train_acc, cell.nonzeros, **model.state(sel),
                            warm=warm_state if key == "dense" else None, curve=cell.curve, curve_every=every)
            run.cells[task, h_index, key] = cell
    return run


def curve_stride(*phases: int, points: int = 100) -> int:
    """Epochs between two points of a learning curve over training phases of ``phases`` epochs: about
    ``points`` points over the whole run and a whole number of points in every phase (1000 + 1000
    epochs: every 20; 25 + 25: every epoch)."""
    if not phases or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in phases):
        raise ValueError(f"phases must be one or more integers >= 0 (epochs), got {phases!r}")
    return math.gcd(*phases, max(1, sum(phases) // points))


def curve_check(curve: torch.Tensor, every: int, rule: PlateauRule = PlateauRule()) -> dict:
    """The plateau rule on the mean over seeds of a learning curve ``(S, P)`` recorded every ``every``
    epochs (:class:`CurveRecorder`): the window is taken in whole points, and ``epochs`` and
    ``window_epochs`` of the returned check count epochs."""
    check = rule.check(curve.double().reshape(-1, curve.shape[-1]).mean(0).tolist())
    return {**check, "epochs": check["epochs"] * every, "window_epochs": check["window_epochs"] * every}


def convergence_summary(checks: dict[str, dict]) -> dict:
    """The checks of several cells of one variant (:meth:`Run.convergence`, one rule) as one check:
    ``met`` only when every cell met the rule; ``gain``, ``epochs`` and ``window_epochs`` of the cell that
    gained most (named in ``worst``); ``cells`` and ``cells_met`` the counts. One cell is returned as it is."""
    if not checks:
        raise ValueError("checks must hold at least one cell's check")
    rules = {(c["tol"], c["window"]) for c in checks.values()}
    if len(rules) != 1:
        raise ValueError(f"checks must come from one rule (tol, window), got {sorted(rules)}")
    if len(checks) == 1:
        return dict(next(iter(checks.values())))
    worst = max(checks, key=lambda k: checks[k]["gain"])
    return {**checks[worst], "met": all(c["met"] for c in checks.values()), "worst": worst, "cells": len(checks),
            "cells_met": sum(bool(c["met"]) for c in checks.values())}


class CurveRecorder:
    """A learning curve: call it as a trainer's ``on_epoch`` (:meth:`fpe.training.stacked.Trainer.fit`);
    it evaluates ``accuracy()`` (a tensor of every instance's test accuracy, %) now, at epoch 0, and
    after every ``every``-th epoch, without gradients. :meth:`tensor` is ``(instances..., points)`` on the CPU."""

    def __init__(self, accuracy: Callable[[], torch.Tensor], every: int):
        self.accuracy, self.every, self.points = accuracy, every, []
        self._record()

    def _record(self) -> None:
        with torch.no_grad():
            self.points.append(self.accuracy().detach().cpu())

    def __call__(self, epochs_done: int) -> None:
        if epochs_done % self.every == 0:
            self._record()

    def tensor(self) -> torch.Tensor:
        return torch.stack(self.points, dim=-1)


def stacked_data(x_train, y_train, x_test, y_test, seeds: Iterable[int]):
    """The same fixed data for every seed, as the ``(S, N, ...)`` views :func:`run_schedule` takes."""
    s = len(list(seeds))
    return tuple(t.unsqueeze(0).expand(s, *t.shape) for t in (x_train, y_train, x_test, y_test))
