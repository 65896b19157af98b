"""Exact coverage and collision probabilities of FPE's split rules (the paper, as we read it, section 6).

The paper argues that a random disjoint split cuts the chance that two clauses still share a
neuron by about ``alpha**-(2k-1)`` (``k`` literals per clause) while each clause stays covered by
some child with high probability. Its proof is not public; this module gives the exact numbers.

Setting: a layer of ``h`` parent neurons over ``d`` inputs (``d = k*m`` by default: ``m`` disjoint
clauses of ``k`` inputs each). Every parent is split into ``alpha`` children, independently of the
other parents. A clause is **whole** in a child when all its ``k`` inputs go to that child (the
child can still represent it; otherwise the clause is **cut** in that parent). Two clauses
**collide** in a child when both are whole in it (they still share a neuron).

Partition models (the ``model`` argument):

``"independent"`` **[house derivation of the paper, as we read it, section 6]**
    every input goes to one of the ``alpha`` children independently and uniformly. Then a clause is
    whole in some child with probability ``alpha**(1-k)``, two given clauses collide with
    probability ``alpha**-(2k-1)`` exactly (the paper's factor), and different clauses of one parent
    are independent.
``"balanced"``
    a uniformly random partition of the ``d`` inputs into children of fixed sizes ``n_0..n_{alpha-1}``
    (sampling without replacement). This is what :func:`fpe.method.splits.random_assignment` draws for
    ``fpe.expand(split="random")``: child ``c`` gets ``n_c = ceil((d - c) / alpha)`` inputs
    (:func:`group_sizes`; sizes differ by at most one when ``alpha`` does not divide ``d``).
    Probabilities are hypergeometric: a given set of ``j`` inputs lies inside child ``c`` with
    probability ``n_c^(j) / d^(j)`` (falling factorials).
``"clause"``
    the clause split of :func:`fpe.method.splits.clause_assignment`: whole clauses are dealt to children,
    child ``c`` getting ``g_c = ceil((m - c) / alpha)`` clauses, in a uniformly random order per
    parent. No clause is ever cut; the collisions are fixed numbers (``sum_c C(g_c, 2)`` pairs per
    parent).

``alpha = 1`` is accepted and means the unsplit (dense) parent: every clause is whole and every pair
collides. ``fpe.expand`` itself needs ``alpha >= 2``.

Every function returns a ``float`` or, with ``exact=True``, a :class:`fractions.Fraction`.
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch

__all__ = [
    "MODELS",
    "PER",
    "group_sizes",
    "clause_counts",
    "paper_collision_approximation",
    "clause_whole_probability",
    "clause_cut_probability",
    "clause_covered_probability",
    "pair_collision_probability",
    "expected_collisions",
    "support_statistics",
    "large_weight_support",
]

MODELS = ("independent", "balanced", "clause")
PER = ("child", "parent", "layer")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check(k, m, alpha, model, d) -> int:
    """Validate the common arguments; return ``d`` (default ``k*m``)."""
    _check_int("k", k, 1)
    _check_int("m", m, 1)
    _check_int("alpha", alpha, 1)
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if d is None:
        d = k * m
    _check_int("d", d, 1)
    if d < k * m:
        raise ValueError(f"d must be >= k*m = {k * m} (m disjoint clauses of k inputs), got {d}")
    if model == "balanced" and alpha > d:
        raise ValueError(f"alpha must be in 1..d = 1..{d} for model='balanced' (as in fpe.expand), got {alpha}")
    if model == "clause":
        if alpha > m:
            raise ValueError(f"alpha must be in 1..m = 1..{m} for model='clause' (at least alpha clauses), got {alpha}")
        if d != k * m:
            raise ValueError(f"d must equal k*m = {k * m} for model='clause' (the clauses partition the inputs), got {d}")
    return d


def _out(x: Fraction, exact: bool):
    return x if exact else float(x)


def group_sizes(d: int, alpha: int) -> list[int]:
    """Child sizes of a balanced partition of ``d`` inputs, as :func:`fpe.method.splits.random_assignment`
    makes them: child ``c`` gets the positions ``p < d`` with ``p % alpha == c``."""
    _check_int("d", d, 1)
    _check_int("alpha", alpha, 1)
    if alpha > d:
        raise ValueError(f"alpha must be in 1..d = 1..{d}, got {alpha}")
    return [len(range(c, d, alpha)) for c in range(alpha)]


def clause_counts(m: int, alpha: int) -> list[int]:
    """Clauses per child under the clause split (:func:`fpe.method.splits.clause_assignment`)."""
    _check_int("m", m, 1)
    _check_int("alpha", alpha, 1)
    if alpha > m:
        raise ValueError(f"alpha must be in 1..m = 1..{m} for the clause split, got {alpha}")
    return [len(range(c, m, alpha)) for c in range(alpha)]


def paper_collision_approximation(k: int, alpha: int) -> float:
    """The paper's factor ``alpha**-(2k-1)`` (the paper, as we read it, section 6). Exact for ``model="independent"``."""
    _check_int("k", k, 1)
    _check_int("alpha", alpha, 1)
    return float(Fraction(1, alpha ** (2 * k - 1)))


def _inside(n: int, j: int, d: int) -> Fraction:
    """Probability that ``j`` given inputs all lie in a child of size ``n`` (balanced partition of ``d``)."""
    return Fraction(math.perm(n, j), math.perm(d, j)) if j <= d else Fraction(0)


def _whole_per_child(k, m, alpha, model, d) -> list[Fraction]:
    """Probability that one given clause is whole in child ``c``, for each ``c``."""
    if model == "independent":
        return [Fraction(1, alpha**k)] * alpha
    if model == "balanced":
        return [_inside(n, k, d) for n in group_sizes(d, alpha)]
    return [Fraction(g, m) for g in clause_counts(m, alpha)]


def clause_whole_probability(k: int, m: int, alpha: int, *, model: str = "independent", d: int | None = None,
                             exact: bool = False):
    """Probability that a given clause is whole in some child of one parent (the paper, as we read it, section 6).

    ``alpha**(1-k)`` for ``"independent"``, ``sum_c n_c^(k) / d^(k)`` for ``"balanced"``, 1 for ``"clause"``.

    Args:
        k: literals (inputs) per clause, >= 1.
        m: clauses, >= 1 (the clauses are disjoint; only ``d`` matters for this number).
        alpha: children per parent, >= 1 (1 = no split).
        model: ``"independent"``, ``"balanced"`` or ``"clause"`` (module docstring).
        d: inputs per parent, >= ``k*m`` (default ``k*m``).
        exact: return a :class:`~fractions.Fraction`.
    """
    d = _check(k, m, alpha, model, d)
    return _out(sum(_whole_per_child(k, m, alpha, model, d), Fraction(0)), exact)


def clause_cut_probability(k: int, m: int, alpha: int, *, model: str = "independent", d: int | None = None,
                           exact: bool = False):
    """Probability that a given clause is cut (whole in no child) in one parent: 1 - :func:`clause_whole_probability`."""
    return _out(1 - clause_whole_probability(k, m, alpha, model=model, d=d, exact=True), exact)


def clause_covered_probability(k: int, m: int, alpha: int, h: int, *, model: str = "independent",
                               d: int | None = None, exact: bool = False):
    """Probability that a given clause is whole in some child of some parent among ``h``.

    Parents are split independently, so this is ``1 - (1 - p)**h`` with ``p`` from
    :func:`clause_whole_probability` (the paper, as we read it, section 6's ``1 - (1 - alpha**(1-k))**h`` for the
    independent model).
    """
    _check_int("h", h, 1)
    p = clause_whole_probability(k, m, alpha, model=model, d=d, exact=True)
    return _out(1 - (1 - p) ** h, exact)


def _pair_per_child(k, m, alpha, model, d) -> list[Fraction]:
    """Probability that two given clauses are both whole in child ``c``, for each ``c``."""
    if m < 2:
        raise ValueError(f"m must be an integer >= 2 for pairs of clauses, got {m!r}")
    if model == "independent":
        return [Fraction(1, alpha ** (2 * k))] * alpha
    if model == "balanced":
        return [_inside(n, 2 * k, d) for n in group_sizes(d, alpha)]
    return [Fraction(g * (g - 1), m * (m - 1)) for g in clause_counts(m, alpha)]


def pair_collision_probability(k: int, m: int, alpha: int, *, model: str = "independent", d: int | None = None,
                               exact: bool = False):
    """Probability that two given clauses are both whole in the same child of one parent (the paper, as we read it, section 6).

    ``alpha**-(2k-1)`` exactly for ``"independent"``; ``sum_c n_c^(2k) / d^(2k)`` for ``"balanced"``
    (zero when every child has fewer than ``2k`` inputs); ``sum_c g_c (g_c - 1) / (m (m - 1))`` for
    ``"clause"``. Arguments as :func:`clause_whole_probability`; needs ``m >= 2``.
    """
    d = _check(k, m, alpha, model, d)
    return _out(sum(_pair_per_child(k, m, alpha, model, d), Fraction(0)), exact)


def expected_collisions(k: int, m: int, alpha: int, *, per: str = "parent", h: int = 1, model: str = "independent",
                        d: int | None = None, exact: bool = False):
    """Expected number of colliding clause pairs (pairs whole in the same child).

    Args:
        per: ``"child"`` (mean over the ``alpha`` children of a parent), ``"parent"`` (summed over its
            children: ``C(m, 2) * pair_collision_probability``) or ``"layer"`` (summed over ``h`` parents).
        h: parents in the layer (used by ``per="layer"``), >= 1.
        other arguments: as :func:`pair_collision_probability`.

    For ``alpha = 1`` this is ``C(m, 2)`` per parent: the dense neuron that holds every clause.
    For the clause split the count is not random: ``sum_c C(g_c, 2)`` per parent.
    """
    if per not in PER:
        raise ValueError(f"per must be one of {PER}, got {per!r}")
    _check_int("h", h, 1)
    pair = pair_collision_probability(k, m, alpha, model=model, d=d, exact=True)
    per_parent = math.comb(m, 2) * pair
    value = {"child": per_parent / alpha, "parent": per_parent, "layer": h * per_parent}[per]
    return _out(value, exact)


def support_statistics(support: torch.Tensor, k: int, m: int, alpha: int) -> dict[str, torch.Tensor]:
    """Measured counterparts of the formulas, from the supports of an expanded layer.

    Args:
        support: boolean ``(h*alpha, d)``: which inputs each child sees (e.g. ``weight_mask != 0`` of
            the first layer of ``fpe.expand``'s output, or :func:`large_weight_support`). Children of
            parent ``p`` are rows ``p*alpha .. p*alpha + alpha - 1`` (``fpe.expand``'s layout);
            ``alpha = 1`` for an unsplit (dense) layer.
        k, m: clause ``j`` is inputs ``k*j .. k*j + k - 1`` (:func:`fpe.tasks.clause_groups`).

    Returns:
        ``held`` ``(h*alpha, m)``: clause whole in that child; ``whole`` ``(h, m)``: clause whole in some
        child of that parent; ``pairs`` ``(h,)``: colliding clause pairs summed over the parent's
        children (pairs of clauses whole in one child).
    """
    _check_int("k", k, 1)
    _check_int("m", m, 1)
    _check_int("alpha", alpha, 1)
    if not isinstance(support, torch.Tensor) or support.dim() != 2:
        raise ValueError("support must be a 2-d tensor (children, inputs)")
    rows, d = support.shape
    if d < k * m:
        raise ValueError(f"support has {d} inputs, fewer than k*m = {k * m}")
    if rows % alpha:
        raise ValueError(f"support has {rows} rows, not a multiple of alpha = {alpha}")
    held = support[:, : k * m].bool().reshape(rows, m, k).all(-1)  # (children, m)
    per_child = held.sum(1)
    pairs = (per_child * (per_child - 1) // 2).reshape(rows // alpha, alpha).sum(1)
    whole = held.reshape(rows // alpha, alpha, m).any(1)
    return {"held": held, "whole": whole, "pairs": pairs}


def large_weight_support(weight: torch.Tensor, fraction: float) -> torch.Tensor:
    """Inputs a neuron uses strongly: ``|w| >= fraction * max |w|`` of its row, and ``w != 0``.

    ``weight`` is ``(..., neurons, inputs)``; ``fraction`` in ``(0, 1]``. Rows that are all zero
    (dead children) have an empty support.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    a = weight.detach().abs()
    return (a >= fraction * a.amax(-1, keepdim=True)) & (a > 0)
