"""Split rules of FPE: which of a parent's incoming connections each child keeps (the paper, as we read it, section 2).

A split rule maps a layer's incoming weight matrix ``(h, fan_in)`` to an *assignment*: a long tensor
``(h, fan_in)`` whose entry ``[p, i]`` is the child (``0 .. alpha-1``) of parent ``p`` that keeps
incoming connection ``i``. An assignment is disjoint and covering by construction.

- ``"random"``: a balanced random partition (group sizes differ by at most one), drawn
  independently for every parent.
- ``"clause"``: whole groups (clauses) are dealt to children, balanced by group count, in an
  independent random order per parent **[house]**.
- ``"gram"``: inputs clustered by the rows of ``W^T W`` into ``alpha`` balanced groups, one partition
  shared by all parents (:mod:`fpe.method.gram`, **[house]** algorithm).
- a callable ``rule(weight, alpha, generator) -> assignment`` of shape ``(h, fan_in)`` or
  ``(fan_in,)`` (one partition shared by all parents).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

SPLITS = ("random", "clause", "gram")
SplitRule = Callable[[torch.Tensor, int, "torch.Generator | None"], torch.Tensor]

__all__ = ["SPLITS", "SplitRule", "random_assignment", "clause_assignment", "check_groups", "check_assignment"]


def random_assignment(h: int, fan_in: int, alpha: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Balanced random partition of ``fan_in`` inputs into ``alpha`` children, one per parent.

    Returns a long tensor ``(h, fan_in)``.
    """
    keys = torch.rand(h, fan_in, generator=generator)
    order = keys.argsort(dim=1)  # a uniform random permutation per parent
    child_of_position = torch.arange(fan_in) % alpha  # balanced
    assignment = torch.empty(h, fan_in, dtype=torch.long)
    assignment.scatter_(1, order, child_of_position.expand(h, fan_in).contiguous())
    return assignment


def clause_assignment(
    h: int, groups: Sequence[Sequence[int]], alpha: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Deal whole ``groups`` to ``alpha`` children, balanced by group count, per parent.

    Returns a long tensor ``(h, fan_in)``; every group lands whole in one child.
    """
    fan_in = sum(len(g) for g in groups)
    n_groups = len(groups)
    assignment = torch.empty(h, fan_in, dtype=torch.long)
    child_of_position = torch.arange(n_groups) % alpha
    for p in range(h):
        order = torch.randperm(n_groups, generator=generator)
        for position, g in enumerate(order.tolist()):
            assignment[p, list(groups[g])] = child_of_position[position]
    return assignment


def check_groups(groups, fan_in: int, alpha: int) -> list[list[int]]:
    """Validate that ``groups`` partition ``range(fan_in)`` into at least ``alpha`` non-empty groups."""
    if groups is None:
        raise ValueError("groups is required when split='clause': a list of lists of input indices")
    try:
        groups = [[int(i) for i in g] for g in groups]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"groups must be a list of lists of integer input indices, got {groups!r:.80}") from exc
    flat = [i for g in groups for i in g]
    if any(len(g) == 0 for g in groups):
        raise ValueError("groups must not contain an empty group")
    if sorted(flat) != list(range(fan_in)):
        raise ValueError(
            f"groups must partition the inputs 0..{fan_in - 1} (each index exactly once); "
            f"got {len(flat)} indices, {len(set(flat))} distinct, range "
            f"{min(flat) if flat else None}..{max(flat) if flat else None}"
        )
    if len(groups) < alpha:
        raise ValueError(f"alpha={alpha} needs at least alpha groups for split='clause', got {len(groups)} groups")
    return groups


def check_assignment(assignment, h: int, fan_in: int, alpha: int) -> torch.Tensor:
    """Validate the output of a callable split and broadcast a shared ``(fan_in,)`` partition."""
    if not isinstance(assignment, torch.Tensor):
        raise ValueError(f"a callable split must return a torch.Tensor, got {type(assignment).__name__}")
    if assignment.dtype.is_floating_point or assignment.dtype.is_complex:
        raise ValueError(f"a callable split must return an integer tensor of child indices, got dtype {assignment.dtype}")
    assignment = assignment.to(torch.long)
    if assignment.shape == (fan_in,):
        assignment = assignment.expand(h, fan_in)
    if assignment.shape != (h, fan_in):
        raise ValueError(
            f"a callable split must return shape ({h}, {fan_in}) or ({fan_in},), got {tuple(assignment.shape)}"
        )
    if assignment.numel() and (assignment.min() < 0 or assignment.max() >= alpha):
        raise ValueError(f"a callable split must return child indices in 0..{alpha - 1}")
    return assignment.contiguous()
