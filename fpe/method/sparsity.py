"""Mask mechanics of the later version's controls (the paper, as we read it, section 7, items 3, 4 and 6).

- :func:`dropconnect_keep` and :func:`dropconnect_masks`: DropConnect (Wan et al. 2013) whose keep rate
  makes the *expected* non-zero count of a wider dense net equal to a given count (item 4: "FPE is not
  just structured weight dropout").
- :func:`overlap_assignment` and :func:`overlap_expand`: FPE children whose input sets overlap by a
  fraction ``r`` (item 3), at the same child count, pruned (one global magnitude prune, as
  :func:`fpe.method.expand.expand`) to the parent's non-zero count. ``r = 0`` is the ordinary disjoint random
  split (the same draws as :func:`fpe.method.splits.random_assignment`), ``r = 1`` gives every child all the
  parent's inputs.
- :func:`regrow`: prune-and-regrow at a fixed non-zero count (item 6, "masks that move"): SET
  (Mocanu et al. 2018: drop the smallest magnitudes, regrow at random) and RigL (Evci et al. 2020:
  regrow where the dense gradient is largest). The count of every layer of every instance is kept
  exactly.

Everything works on the tensors' device; generators are CPU ``torch.Generator`` objects.
"""
from __future__ import annotations

import math

import torch

from .pruning import global_magnitude_masks
from .splits import random_assignment

__all__ = ["dropconnect_keep", "dropconnect_masks", "overlap_assignment", "overlap_fraction", "overlap_expand",
           "REGROW", "regrow"]

REGROW = ("set", "rigl")


def dropconnect_keep(n_target: int, n_total: int) -> float:
    """The keep rate ``n_target / n_total`` at which DropConnect over ``n_total`` weights keeps
    ``n_target`` of them in expectation (section 7, item 4: the same non-zero budget).

    E.g. an ``alpha``-times wider dense net against the narrow dense count: ``1 / alpha`` exactly when
    every layer widens by ``alpha``.
    """
    for name, v in (("n_target", n_target), ("n_total", n_total)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if n_target > n_total:
        raise ValueError(f"n_target must be <= n_total ({n_total}), got {n_target}")
    return n_target / n_total


def _check_keep(keep) -> torch.Tensor:
    keep_t = torch.as_tensor(keep, dtype=torch.float64)
    if keep_t.numel() == 0 or not bool(((keep_t > 0) & (keep_t <= 1)).all()):
        raise ValueError(f"keep must be in (0, 1] (a float or one per instance), got {keep!r}")
    return keep_t


def dropconnect_masks(weight: torch.Tensor, keep, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh DropConnect mask for ``weight`` ``(I, out, in)`` (or ``(out, in)``): each entry kept
    independently with probability ``keep`` (a float, or ``(I,)`` one per instance), as 0/1 in the
    weight's dtype on its device. Resample it every step (section 7, item 4)."""
    keep_t = _check_keep(keep).to(weight.dtype)
    if keep_t.ndim > 0:
        if weight.ndim != 3 or keep_t.shape != (weight.shape[0],):
            raise ValueError(f"keep per instance needs weight (I, out, in) and keep (I,), got {tuple(weight.shape)}, {tuple(keep_t.shape)}")
        keep_t = keep_t.view(-1, 1, 1)
    u = torch.rand(weight.shape, generator=generator, dtype=weight.dtype).to(weight.device)
    return (u < keep_t.to(weight.device)).to(weight.dtype)


def overlap_assignment(h: int, fan_in: int, alpha: int, r: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Which parent inputs each child sees, ``(h, alpha, fan_in)`` bool (section 7, item 3).

    Child ``c`` of parent ``p`` first gets its own share of the balanced random partition
    (:func:`fpe.method.splits.random_assignment`, the same draws), then ``round(r * n_other)`` of the
    ``n_other`` inputs of its siblings' shares, uniformly at random. So ``r = 0`` is the disjoint
    random split, ``r = 1`` gives every child all inputs, and the fraction of the other shares that a
    child sees (:func:`overlap_fraction`) is ``r`` up to the rounding.
    """
    for name, v, low in (("h", h, 1), ("fan_in", fan_in, 1), ("alpha", alpha, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    if alpha > fan_in:
        raise ValueError(f"alpha={alpha} must be <= fan_in ({fan_in})")
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
        raise ValueError(f"r must be a number in [0, 1], got {r!r}")
    assign = random_assignment(h, fan_in, alpha, generator)  # (h, fan_in)
    own = assign.unsqueeze(1) == torch.arange(alpha).view(1, alpha, 1)  # (h, alpha, fan_in)
    if r == 0:
        return own
    keys = torch.rand(h, alpha, fan_in, generator=generator)
    keys = torch.where(own, torch.full_like(keys, 2.0), keys)  # own inputs sort last
    rank = keys.argsort(dim=2).argsort(dim=2)  # rank of each input among the child's candidates
    n_other = (~own).sum(dim=2, keepdim=True)  # (h, alpha, 1)
    n_extra = torch.round(r * n_other.double()).long()
    return own | (rank < n_extra)


def overlap_fraction(seen: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """Per parent and child, the fraction of its siblings' shares that it also sees: ``seen`` and
    ``own`` ``(h, alpha, fan_in)`` bool (the child's inputs, its own disjoint share) -> ``(h, alpha)``."""
    other = (~own).sum(dim=2).double()
    return (seen & ~own).sum(dim=2).double() / other


def overlap_expand(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, alpha: int, r: float, *,
                   generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """FPE of a one-hidden-layer MLP with overlapping children (section 7, item 3).

    ``w1 (h, d)``, ``b1 (h,)``, ``w2 (c, h)``: the trained parent. Child ``c`` of parent ``p`` (hidden
    unit ``p * alpha + c``, as :func:`fpe.method.expand.expand` orders them) keeps the parent's incoming
    weights on its inputs (:func:`overlap_assignment`) and the parent's bias; every child copies the
    parent's outgoing weights. One global magnitude prune over both layers
    (:func:`fpe.method.pruning.global_magnitude_masks`) keeps the parent's non-zero count. Returns
    ``([w1', w2'], [b1', None], [mask1, mask2])`` with the masks applied; the second layer's bias is
    the caller's (unchanged).
    """
    if w1.ndim != 2 or w2.ndim != 2 or w2.shape[1] != w1.shape[0] or b1.shape != (w1.shape[0],):
        raise ValueError(f"need w1 (h, d), b1 (h,), w2 (c, h); got {tuple(w1.shape)}, {tuple(b1.shape)}, {tuple(w2.shape)}")
    h, d = w1.shape
    seen = overlap_assignment(h, d, alpha, r, generator).to(w1.device)
    n_keep = int(torch.count_nonzero(w1)) + int(torch.count_nonzero(w2))
    new_w1 = (w1.unsqueeze(1) * seen).reshape(h * alpha, d)
    new_w2 = w2.repeat_interleave(alpha, dim=1)
    masks = global_magnitude_masks([new_w1, new_w2], n_keep=n_keep)
    return [new_w1 * masks[0], new_w2 * masks[1]], [b1.repeat_interleave(alpha), None], masks


def regrow(weight: torch.Tensor, mask: torch.Tensor, *, fraction: float, method: str,
           grad: torch.Tensor | None = None, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """One prune-and-regrow step at a fixed non-zero count (section 7, item 6), per instance.

    ``weight``, ``mask``: ``(I, out, in)`` (or ``(out, in)``), the mask 0/1. For every instance, of its
    ``n`` active weights the ``k = min(round(fraction * n), n_inactive)`` smallest ``|w|`` are
    dropped and ``k`` inactive positions (inactive before the drop, so a dropped weight is not
    regrown at once) are grown: ``method="set"`` uniformly at random, ``method="rigl"`` where
    ``|grad|`` (the dense gradient, ``grad`` required) is largest. So every instance keeps exactly its
    count. ``generator``: one ``torch.Generator`` for all instances, or a sequence of one per instance
    (each instance's SET draws then come from its own stream). Returns ``(new_mask, grown)`` (``grown``
    bool: the new positions, whose weights the caller sets to zero and whose optimiser state it resets).
    """
    if method not in REGROW:
        raise ValueError(f"method must be one of {REGROW}, got {method!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    if mask.shape != weight.shape:
        raise ValueError(f"mask must have the weight's shape {tuple(weight.shape)}, got {tuple(mask.shape)}")
    if method == "rigl" and (grad is None or grad.shape != weight.shape):
        raise ValueError("method='rigl' needs grad, the dense gradient of the weight's shape")
    squeeze = weight.ndim == 2
    w = weight.detach().reshape(-1 if not squeeze else 1, weight.shape[-2] * weight.shape[-1])
    per_instance = isinstance(generator, (list, tuple))
    if per_instance and len(generator) != w.shape[0]:
        raise ValueError(f"generator must be one torch.Generator or one per instance ({w.shape[0]}), got {len(generator)}")
    active = mask.reshape(w.shape) != 0
    g = None if grad is None else grad.detach().reshape(w.shape).abs()
    new_active = active.clone()
    grown = torch.zeros_like(active)
    for i in range(w.shape[0]):
        a = active[i]
        n, n_in = int(a.sum()), int((~a).sum())
        k = min(int(math.floor(fraction * n + 0.5)), n_in)
        if k == 0:
            continue
        mag = torch.where(a, w[i].abs(), torch.full_like(w[i], float("inf")))
        drop = torch.argsort(mag, stable=True)[:k]
        if method == "set":
            score = torch.rand(a.shape, generator=generator[i] if per_instance else generator, dtype=torch.float64).to(w.device)
        else:
            score = g[i].double()
        score = torch.where(a, torch.full_like(score, -float("inf")), score)
        grow = torch.argsort(score, descending=True, stable=True)[:k]
        new_active[i, drop] = False
        new_active[i, grow] = True
        grown[i, grow] = True
    shape = weight.shape
    return new_active.reshape(shape).to(mask.dtype), grown.reshape(shape)
