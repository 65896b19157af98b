"""Load sweeps of the Boolean task (PAPER.md sections 3-5; the paper's Figures 2-4).

:func:`run_sweep` runs the paper's schedule (dense warm-up, FPE, more training; the dense baseline
trains for the same total, :mod:`fpe.experiment`) for a whole grid of clause counts ``m`` and
hidden widths ``h`` at once, on the fast concatenated trainer (:mod:`fpe.concat`):

- every (clause count, seed) pair is one *dataset*; all widths and variants of it are instances
  sharing one wide first layer (no padding between widths);
- clause counts with similar input sizes ``d = k*m`` are trained together, their inputs zero-padded
  to the largest ``d`` of the bucket (padded inputs are zero and their weights are masked to zero,
  so the models are unchanged; ``max_pad`` bounds the wasted first-layer work);
- the generators are those of :func:`fpe.experiment.run_schedule` (data, init, split and minibatch
  order depend only on the seed, ``m`` and the variant), so a grid cell matches a single run.

Each cell records per seed: test and train accuracy, non-zero weights, feature capacity and mean
|cosine| of ``W1`` (:mod:`fpe.interference`), and the final first-layer weights.
"""
from __future__ import annotations

from dataclasses import asdict, replace
from typing import Sequence

import torch

from .batched import init_mlp
from .cache import cached
from .concat import ConcatMLP, ConcatTrainer
from .expand import expand
from .experiment import BooleanSetup, Variant, boolean_data
from .interference import feature_capacity, mean_abs_cosine
from .repro import generator
from .tasks import clause_groups

__all__ = ["run_sweep", "cell_key", "buckets"]


# The modules a sweep's numbers depend on. The cache key hashes these only (fpe.cache.cached with
# depends=...), so that editing an unrelated module (a real-data loader, a theory page) does
# not throw away an hour of finished training.
_DEPENDS = ("sweeps.py", "concat.py", "native.py", "_native.c", "expand.py", "splits.py", "tasks.py", "experiment.py", "batched.py",
            "repro.py", "interference.py", "train.py", "cache.py")


def cell_key(m: int, h: int, variant: str) -> str:
    """Key of one grid cell and variant, e.g. ``"m8_h8_clause_a4"``."""
    return f"m{m}_h{h}_{variant}"


def buckets(ms: Sequence[int], k: int, max_pad: float) -> list[list[int]]:
    """Group clause counts so that within a group the largest ``d`` is at most ``max_pad`` x the smallest."""
    out: list[list[int]] = []
    for m in sorted(ms):
        if out and k * m <= max_pad * k * out[-1][0]:
            out[-1].append(m)
        else:
            out.append([m])
    return out


def _pad(w: torch.Tensor, d: int) -> torch.Tensor:
    return torch.nn.functional.pad(w, (0, d - w.shape[-1]))


def _stack(rows: list[list[dict]], keys: list[str]) -> ConcatMLP:
    """ConcatMLP from per-dataset lists of instance dicts (w1, b1, w2, b2, mask1, mask2)."""
    cat = lambda name: torch.stack([torch.cat([inst[name] for inst in row]) for row in rows]).contiguous()  # noqa: E731
    return ConcatMLP(cat("w1"), cat("b1"), cat("w2"), cat("b2"), cat("mask1"), cat("mask2"),
                     widths=[inst["w1"].shape[0] for inst in rows[0]], keys=keys)


def _instance(seq, d_max: int, d: int) -> dict:
    l1, l2 = seq[0], seq[2]
    m1 = getattr(l1, "weight_mask", torch.ones_like(l1.weight))
    m2 = getattr(l2, "weight_mask", torch.ones_like(l2.weight))
    return {"w1": _pad(l1.weight.detach(), d_max), "b1": l1.bias.detach(), "w2": l2.weight.detach()[0],
            "b2": l2.bias.detach(), "mask1": _pad(m1.detach(), d_max), "mask2": m2.detach()[0]}


def _run_bucket(setup: BooleanSetup, ms: list[int], hs: list[int], seeds: list[int], variants: list[Variant],
                progress: bool) -> dict:
    k = setup.k
    d_max = k * max(ms)
    pairs = [(m, s) for m in ms for s in seeds]
    xs, ys, xts, yts = [], [], [], []
    for m in ms:
        x, y, xt, yt = boolean_data(replace(setup, m=m), seeds)
        xs.append(_pad(x, d_max)); ys.append(y); xts.append(_pad(xt, d_max)); yts.append(yt)
    x, y, xt, yt = torch.cat(xs), torch.cat(ys), torch.cat(xts), torch.cat(yts)
    tag = lambda m: f"dnf-m{m}"  # noqa: E731  (the tag of fpe.experiment.run_boolean)
    orders = lambda phase: [generator(s, "order", tag(m), phase) for m, s in pairs]  # noqa: E731

    dense_seqs = {(m, s, h): init_mlp([k * m, h, 1], generator(s, "init", tag(m))) for m, s in pairs for h in hs}
    dense = _stack([[_instance(dense_seqs[m, s, h], d_max, k * m) for h in hs] for m, s in pairs], [f"dense_h{h}" for h in hs])
    for i, (m, s) in enumerate(pairs):
        dense.mask1[i, :, k * m:] = 0
    ConcatTrainer(dense, x, y, lr=setup.lr, batch_size=setup.batch_size).fit(
        setup.warmup_epochs, orders("warmup"), progress=progress, desc=f"dense warm-up m={ms}")
    warm_state = {n: getattr(dense, n).clone() for n in ("w1", "b1", "w2", "b2")}

    fpe_variants = [v for v in variants if v.split != "dense"]
    stacks = [dense]
    if fpe_variants:
        rows, keys = [], [f"{v.key}_h{h}" for v in fpe_variants for h in hs]
        off = dense.offsets
        for i, (m, s) in enumerate(pairs):
            row = []
            for v in fpe_variants:
                for j, h in enumerate(hs):
                    d = k * m
                    warm = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, 1))
                    with torch.no_grad():
                        warm[0].weight.copy_(dense.w1[i, off[j]:off[j + 1], :d]); warm[0].bias.copy_(dense.b1[i, off[j]:off[j + 1]])
                        warm[2].weight.copy_(dense.w2[i, off[j]:off[j + 1]].unsqueeze(0)); warm[2].bias.copy_(dense.b2[i, j:j + 1])
                    g = generator(s, "split", tag(m), v.split, v.alpha)
                    row.append(_instance(expand(warm, v.alpha, v.split, groups=clause_groups(m, k) if v.split == "clause" else None,
                                                generator=g), d_max, d))
            rows.append(row)
        stacks.append(_stack(rows, keys))
    post = ConcatMLP.cat(stacks)
    ConcatTrainer(post, x, y, lr=setup.lr, batch_size=setup.batch_size).fit(
        setup.post_epochs, orders("post"), progress=progress, desc=f"post m={ms}")

    test_acc, train_acc, nnz = post.accuracy(xt, yt), post.accuracy(x, y), post.nonzeros()
    off = post.offsets
    out = {}
    names = [("dense", 1)] + [(v.key, v.alpha) for v in fpe_variants]
    for vi, (vkey, _) in enumerate(names):
        for hi, h in enumerate(hs):
            j = vi * len(hs) + hi
            for mi, m in enumerate(ms):
                rows_ = slice(mi * len(seeds), (mi + 1) * len(seeds))
                w1 = post.w1[rows_, off[j]:off[j + 1], :k * m].clone()
                out[cell_key(m, h, vkey)] = {
                    "test_acc": test_acc[rows_, j].clone(), "train_acc": train_acc[rows_, j].clone(),
                    "nonzeros": nnz[rows_, j].clone(), "capacity": feature_capacity(w1), "cosine": mean_abs_cosine(w1),
                    "w1": w1, "b1": post.b1[rows_, off[j]:off[j + 1]].clone(),
                    "w2": post.w2[rows_, off[j]:off[j + 1]].clone(), "b2": post.b2[rows_, j].clone(),
                    "mask1": post.mask1[rows_, off[j]:off[j + 1], :k * m].clone(), "mask2": post.mask2[rows_, off[j]:off[j + 1]].clone(),
                }
                if vkey == "dense":
                    out[cell_key(m, h, vkey)]["warm"] = {
                        "w1": warm_state["w1"][rows_, off[j]:off[j + 1], :k * m].clone(), "b1": warm_state["b1"][rows_, off[j]:off[j + 1]].clone(),
                        "w2": warm_state["w2"][rows_, off[j]:off[j + 1]].clone(), "b2": warm_state["b2"][rows_, j].clone()}
    return out


def run_sweep(setup: BooleanSetup, grid: dict[int, Sequence[int]], seeds: Sequence[int], variants: Sequence[Variant], *,
              max_pad: float = 1.5, progress: bool = False, use_cache: bool = True) -> dict[str, dict]:
    """The FPE schedule of ``setup`` (its ``m`` and ``h`` are ignored) on every cell of ``grid``
    (clause count -> hidden widths) for every seed and variant; returns ``{cell_key(m, h, v.key): record}``
    where each record holds per-seed tensors (module docstring). Cached per bucket of clause counts."""
    seeds, variants = list(seeds), list(variants)
    if not any(v.split == "dense" for v in variants):
        variants = [Variant("dense")] + variants
    variants = [Variant("dense")] + [v for v in variants if v.split != "dense"]
    by_hs: dict[tuple, list[int]] = {}
    for m, hs in grid.items():
        by_hs.setdefault(tuple(hs), []).append(m)
    out: dict[str, dict] = {}
    for hs, ms in by_hs.items():
        for group in buckets(ms, setup.k, max_pad):
            config = {"setup": {**asdict(setup), "m": None, "h": None}, "ms": group, "hs": list(hs), "seeds": seeds,
                      "variants": [asdict(v) for v in variants]}
            compute = lambda: _run_bucket(setup, group, list(hs), seeds, variants, progress)  # noqa: E731
            out.update(cached("sweep", config, compute, depends=_DEPENDS) if use_cache else compute())
    return out
