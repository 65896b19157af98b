"""The later version's remaining controls (the paper, as we read it, section 7, items 3, 4, 6 and 8).

:func:`boolean_controls` runs, for one clause count ``m`` of the Boolean task and every seed, the
house schedule (dense warm-up, expansion, more training; :mod:`fpe.experiments.schedule`) with these
variants after the warm-up, all on the reference trainer with :class:`fpe.training.dynamic.DynamicTrainer`
(the fused native trainer has fixed masks only):

- ``dense``: the narrow net keeps training (its own Adam state), and ``dense_dc``: the same with
  DropConnect at keep rate ``narrow_keep``;
- ``wide_dc``: the ``alpha``-wide dense net (each parent copied ``alpha`` times with its incoming
  weights whole and its outgoing weights divided by ``alpha``, so it computes the warm net's function)
  trained with DropConnect at the keep rate that makes the expected non-zero count the dense count
  (:func:`fpe.method.sparsity.dropconnect_keep`); ``wide_dc_w{n}``, on request: the same at ``n``
  hidden units, ``h <= n <= alpha * h`` (parent ``j`` copied ``n // h`` times, once more for the first
  ``n % h`` parents; keep rate ``h / n``), the family a DropConnect rate is chosen from;
- ``clause_a{alpha}``, ``random_a{alpha}``: FPE with fixed masks (the house split streams);
- ``overlap_r{r}``: random FPE with children overlapping by ``r`` (:func:`fpe.method.sparsity.overlap_expand`,
  drawn from the random split's stream, so ``r = 0`` is ``random_a{alpha}`` itself);
- ``set_{split}_a{alpha}``, ``rigl_{split}_a{alpha}``: the FPE nets with masks that move
  (:func:`fpe.method.sparsity.regrow`).

Every variant of a seed sees the same data, initialisation and minibatch order (paired design), and
draws its DropConnect masks and SET regrowth from its own stream (seed, variant), so no variant's
result depends on which other variants train beside it.

:func:`class_subset` and :func:`classes_sweep` are the class-count x width sweep on WordNet-100
(item 8, on :func:`fpe.experiments.realdata.sweep`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from functools import partial
from typing import Sequence

import torch

from ..datasets.features import Features
from ..method.expand import expand
from ..runtime.jobs import Job, run_jobs
from ..method.mlp import init_mlp
from ..repro import generator, stream
from ..method.sparsity import dropconnect_keep, overlap_expand
from ..tasks import clause_groups
from ..training.dynamic import DynamicTrainer
from ..training.stacked import StackedMLP
from .boolean import BooleanSetup, boolean_data, task_tag
from .realdata import sweep
from .schedule import Cell, CurveRecorder, Run, Schedule, Variant, curve_stride

__all__ = ["boolean_controls", "boolean_control_keys", "choose_dc_width", "class_subset", "classes_sweep"]


def boolean_control_keys(alpha: int, overlaps: Sequence[float], dc_widths: Sequence[int] = ()) -> list[str]:
    """The variant keys of :func:`boolean_controls`, in order (``dc_widths``: the ``wide_dc_w{n}`` variants)."""
    keys = ["dense", "dense_dc", "wide_dc", f"clause_a{alpha}", f"random_a{alpha}"]
    keys += [f"overlap_r{r:g}" for r in overlaps if r != 0]
    keys += [f"{meth}_{s}_a{alpha}" for s in ("clause", "random") for meth in ("set", "rigl")]
    return keys + [f"wide_dc_w{n}" for n in dc_widths]


def _wide_copy(w1, b1, w2, h: int, n: int, alpha: int):
    """The warm net ``(w1, b1, w2)`` with ``h`` hidden units as an ``n``-unit net that computes the same
    function (parent ``j`` copied ``n // h`` times, once more for ``j < n % h``; incoming weights whole,
    outgoing weights divided by the copy count), padded with masked-out units to ``alpha * h`` so that
    every width shares one stack. Returns ``ws, b1, ms``."""
    counts = torch.full((h,), n // h, dtype=torch.long) + (torch.arange(h) < n % h)
    per_unit = counts.repeat_interleave(counts).to(w2.dtype)
    pad = alpha * h - n
    ws = [torch.cat([w1.repeat_interleave(counts, 0), w1.new_zeros(pad, w1.shape[1])]),
          torch.cat([w2.repeat_interleave(counts, 1) / per_unit, w2.new_zeros(w2.shape[0], pad)], 1)]
    ms = [torch.cat([torch.ones(n, w1.shape[1]), torch.zeros(pad, w1.shape[1])]).to(w1.dtype),
          torch.cat([torch.ones(w2.shape[0], n), torch.zeros(w2.shape[0], pad)], 1).to(w2.dtype)]
    return ws, torch.cat([b1.repeat_interleave(counts), b1.new_zeros(pad)]), ms


def _check(name, value, low, high=None, integer=False):
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if not ok or value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} {rng}, got {value!r}")


def _compute(setup: BooleanSetup, m: int, seeds: list[int], alpha: int, narrow_keep: float, overlaps: list[float],
             every: int, fraction: float, stop_fraction: float, progress: bool, keys: list[str]) -> dict:
    cpu0 = time.process_time()
    st = replace(setup, m=m)
    h, k, tag = setup.h, setup.k, task_tag(m)
    x, y, xt, yt = boolean_data(st, seeds)
    n_seeds = len(seeds)
    orders = lambda phase: [stream(sd, tag, "order", phase) for sd in seeds]  # noqa: E731
    sizes = [k * m, h, 1]

    # narrow: dense and dense + DropConnect share the warm-up (two copies of each seed's net)
    inits = [init_mlp(sizes, stream(sd, tag, "init")) for sd in seeds]
    narrow = StackedMLP.from_sequentials(inits + inits)
    di2 = torch.arange(n_seeds).repeat(2)
    nt = DynamicTrainer(narrow, x, y, di2, lr=st.lr, batch_size=st.batch_size,
                        generator=[generator(sd, tag, "masks", key) for key in ("dense", "dense_dc") for sd in seeds])
    curve_every = curve_stride(st.warmup_epochs, st.post_epochs)
    narrow_curve = CurveRecorder(lambda: narrow.accuracy(xt, yt, di2), curve_every)
    nt.fit(st.warmup_epochs, orders("warmup"), progress=progress, desc=f"warm-up m={m}", on_epoch=narrow_curve)
    warm = narrow.to_sequentials()[:n_seeds]

    # the wide stack: every post-split variant of every seed
    models_w, models_b, models_m, index, methods, keeps, inst_keys = [], [], [], [], [], [], []
    n_dense = sizes[0] * h + h
    n_wide = sizes[0] * alpha * h + alpha * h
    wide_keep = dropconnect_keep(n_dense, n_wide)
    dc_keeps = {}
    for key in keys:
        for i, sd in enumerate(seeds):
            lin1, lin2 = warm[i][0], warm[i][2]
            w1, b1, w2, b2 = (t.detach().clone() for t in (lin1.weight, lin1.bias, lin2.weight, lin2.bias))
            keep, method = 1.0, None
            if key.startswith("wide_dc"):  # wide_dc: all alpha * h units; wide_dc_w{n}: n of them
                n = alpha * h if key == "wide_dc" else int(key[len("wide_dc_w"):])
                ws, bs1, ms = _wide_copy(w1, b1, w2, h, n, alpha)
                bs = [bs1, b2]
                keep = dropconnect_keep(n_dense, sizes[0] * n + n)
                if key != "wide_dc":
                    dc_keeps[key] = keep
            elif key.startswith("overlap_r"):
                r = float(key[len("overlap_r"):])
                ws, bs1, ms = overlap_expand(w1, b1, w2, alpha, r, generator=stream(sd, tag, "split", "random", alpha))
                bs = [bs1[0], b2]
            else:
                parts = key.split("_")
                split = parts[-2]
                method = parts[0] if len(parts) == 3 else None
                e = expand(warm[i], alpha, split, groups=clause_groups(m, k) if split == "clause" else None,
                           generator=stream(sd, tag, "split", split, alpha))
                ws = [e[0].weight.detach().clone(), e[2].weight.detach().clone()]
                bs = [e[0].bias.detach().clone(), e[2].bias.detach().clone()]
                ms = [e[0].weight_mask.clone(), e[2].weight_mask.clone()]
            models_w.append(ws); models_b.append(bs); models_m.append(ms)
            index.append(i); methods.append(method); keeps.append(keep); inst_keys.append(key)
    stack = lambda parts, j: torch.stack([p[j] for p in parts])  # noqa: E731
    wide = StackedMLP([stack(models_w, 0), stack(models_w, 1)], [stack(models_b, 0), stack(models_b, 1)],
                      [stack(models_m, 0), stack(models_m, 1)])
    steps = st.post_epochs * -(-st.n_train // st.batch_size)
    wt = DynamicTrainer(wide, x, y, torch.tensor(index), lr=st.lr, batch_size=st.batch_size, keep=keeps, regrow=methods,
                        every=every, fraction=fraction, stop=int(stop_fraction * steps),
                        generator=[generator(seeds[i], tag, "masks", key) for i, key in zip(index, inst_keys)])
    wide_curve = CurveRecorder(lambda: wide.accuracy(xt, yt, torch.tensor(index)), curve_every)
    wt.fit(st.post_epochs, orders("post"), progress=progress, desc=f"post (wide) m={m}", on_epoch=wide_curve)
    nt.keep = torch.tensor([1.0] * n_seeds + [narrow_keep] * n_seeds)
    nt.fit(st.post_epochs, orders("post"), progress=progress, desc=f"post (narrow) m={m}", on_epoch=narrow_curve)

    run = Run(seeds)
    for model, ks, di, curve in ((narrow, ["dense"] * n_seeds + ["dense_dc"] * n_seeds, di2, narrow_curve),
                                 (wide, inst_keys, torch.tensor(index), wide_curve)):
        test_acc, train_acc, nnz, points = model.accuracy(xt, yt, di), model.accuracy(x, y, di), model.nonzeros(), curve.tensor()
        for key in dict.fromkeys(ks):
            sel = torch.tensor([kk == key for kk in ks])
            run.cells[m, h, key] = Cell(test_acc[sel].clone(), train_acc[sel].clone(), nnz[sel].clone(),
                                        curve=points[sel].clone(), curve_every=curve_every)
    state = run.to_state()
    state["info"] = {"wide_keep": wide_keep, "dc_keeps": dc_keeps, "n_dense": n_dense, "n_wide": n_wide, "mask_updates": wt.mask_updates,
                     "post_steps": steps, "cpu_seconds": time.process_time() - cpu0}
    return state


def boolean_controls(cells: Sequence[tuple[BooleanSetup, int]], seeds: Sequence[int], *, alpha: int = 2, narrow_keep: float = 0.8,
                     overlaps: Sequence[float] = (0.25, 0.5, 1.0), every: int = 100, fraction: float = 0.2,
                     stop_fraction: float = 0.75, dc_widths: Sequence[int] = (), only_dropconnect: bool = False,
                     progress: bool = False, use_cache: bool = True) -> list[tuple[Run, dict]]:
    """The Boolean controls (module docstring) for every ``(setup, m)`` of ``cells`` (``m`` clauses,
    ``setup.h`` neurons, ``setup``'s epochs), every seed.

    Args:
        alpha: expansion factor of every variant. narrow_keep: DropConnect keep rate of ``dense_dc``.
        overlaps: overlap fractions ``r`` of the ``overlap_r{r}`` variants (``r = 0`` is ``random_a{alpha}``).
        every, fraction, stop_fraction: moving masks update every ``every`` steps, moving ``fraction``
            of each layer's active weights, until ``stop_fraction`` of the post-split steps.
        dc_widths: widths ``n`` (``setup.h <= n <= alpha * setup.h``) of extra ``wide_dc_w{n}`` variants (after the others).
        only_dropconnect: train the narrow pair and the ``wide_dc_w{n}`` variants only (no FPE net: a
            DropConnect rate chosen on such a run sees dense-only evidence).

    Returns, per cell, the :class:`~fpe.experiments.schedule.Run` (cells ``(m, h, key)``, keys
    :func:`boolean_control_keys`; numbers only) and an info dict (the wide DropConnect keep rate, the
    keep rate of every ``wide_dc_w{n}`` (``dc_keeps``), the dense and wide weight counts, the number of mask updates, the CPU seconds of the job's process when it was
    computed). Each cell is one cached job
    (:func:`fpe.runtime.jobs.run_jobs`: on every core, or a cluster), keyed by the code this module imports.
    """
    seeds = list(seeds)
    _check("alpha", alpha, 2, integer=True)
    _check("narrow_keep", narrow_keep, 0.0, 1.0)
    if narrow_keep == 0:
        raise ValueError("narrow_keep must be in (0, 1], got 0")
    overlaps = [float(r) for r in overlaps]
    for r in overlaps:
        _check("overlaps", r, 0.0, 1.0)
    _check("every", every, 1, integer=True)
    _check("fraction", fraction, 0.0, 1.0)
    _check("stop_fraction", stop_fraction, 0.0, 1.0)
    if not seeds:
        raise ValueError("seeds must not be empty")
    dc_widths = list(dc_widths)
    if only_dropconnect and not dc_widths:
        raise ValueError("only_dropconnect needs dc_widths (the wide_dc_w{n} variants to train)")
    cells = list(cells)
    if not cells or not all(isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], BooleanSetup) for c in cells):
        raise ValueError("cells must be a non-empty list of (BooleanSetup, m) pairs")
    jobs = []
    for setup, m in cells:
        _check("m", m, 1, integer=True)
        for n in dc_widths:
            _check("dc_widths", n, setup.h, alpha * setup.h, integer=True)
        keys = boolean_control_keys(alpha, overlaps, dc_widths)[2:]
        if only_dropconnect:
            keys = [k for k in keys if k.startswith("wide_dc_w")]
        config = {"setup": {**asdict(setup), "m": m}, "seeds": seeds, "alpha": alpha, "narrow_keep": narrow_keep, "overlaps": overlaps,
                  "every": every, "fraction": fraction, "stop_fraction": stop_fraction, "keys": keys}
        cost = len(seeds) * setup.k * m * (setup.warmup_epochs + setup.post_epochs) * (len(keys) + 2)
        jobs.append(Job("controls-boolean", config, partial(_compute, setup, m, seeds, alpha, narrow_keep, overlaps, every, fraction,
                                                            stop_fraction, progress, keys), module=__name__, cost=cost))
    states = [job.compute() for job in jobs] if not use_cache else run_jobs(jobs, progress=progress, desc="Boolean controls")
    out = []
    for state in states:
        state = dict(state)
        info = state.pop("info")
        out.append((Run.from_state(state), info))
    return out


def choose_dc_width(run: Run, m: int, h: int, widths: Sequence[int]) -> int:
    """The dense-only rule that picks DropConnect's width ``n`` (and so its keep rate ``h / n``) from a
    calibration run of :func:`boolean_controls` with ``only_dropconnect``: the ``n > h`` (a keep rate
    below 1: ``n = h`` is the reference without DropConnect) whose ``wide_dc_w{n}`` net has the highest
    mean test accuracy over the calibration seeds; a tie goes to the narrower net (the milder rate)."""
    cands = [n for n in widths if n > h]
    if not cands:
        raise ValueError(f"widths must hold a width above h={h} (a keep rate below 1), got {list(widths)}")
    return max(cands, key=lambda n: (float(run[m, h, f"wide_dc_w{n}"].test_acc.mean()), -n))


def class_subset(features: Features, n_classes: int) -> Features:
    """The samples of the first ``n_classes`` classes (for WordNet-100: the largest ones), labels kept."""
    n_all = len(features.classes)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or not 2 <= n_classes <= n_all:
        raise ValueError(f"n_classes must be an integer in 2..{n_all}, got {n_classes!r}")
    if n_classes == n_all:
        return features
    tr, te = features.y_train < n_classes, features.y_test < n_classes
    return Features(f"{features.name}[:{n_classes}]", features.x_train[tr], features.y_train[tr], features.x_test[te],
                    features.y_test[te], features.classes[:n_classes],
                    note=f"{features.note}; the {n_classes} largest classes")


def classes_sweep(features: Features, class_counts: Sequence[int], widths: Sequence[int], seeds: Sequence[int],
                  variants: Sequence[Variant], *, schedule: Schedule, progress: bool = False, config: dict | None = None) -> dict[int, Run]:
    """:func:`fpe.experiments.realdata.sweep` on every class subset (:func:`class_subset`): one
    :class:`~fpe.experiments.schedule.Run` per class count (section 7, item 8)."""
    if not class_counts:
        raise ValueError("class_counts must not be empty")
    return {n: sweep(class_subset(features, n), widths, seeds, variants, schedule=schedule, progress=progress,
                     config=dict(config or {}, classes=n)) for n in class_counts}
