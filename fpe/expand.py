"""Fixed Parameter Expansion, the transform itself (the paper, as we read it, section 2; the paper's section on FPE).

``expand(model, alpha, split)`` takes a trained ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers
and returns a new one in which every hidden layer is ``alpha`` times wider:

1. every hidden neuron (parent) becomes ``alpha`` children, stored contiguously
   (children of parent ``p`` are ``p*alpha .. p*alpha + alpha - 1``);
2. the children partition the parent's incoming connections disjointly (the ``split`` rule,
   :mod:`fpe.splits`), so the incoming non-zero count is unchanged;
3. each child copies the parent's bias **[house]** and outgoing weights;
4. one global magnitude prune over all expanded weight matrices together removes exactly the
   non-zeros that step 3 added, so :func:`count_nonzero` is unchanged (biases are not counted)
   **[house: global over all layers]**;
5. the resulting sparsity masks are attached with PyTorch's own pruning machinery
   (``torch.nn.utils.prune.custom_from_mask``: a ``weight_orig`` parameter and a ``weight_mask``
   buffer per ``Linear``), so they stay fixed while the model keeps training.

Deeper nets **[house]**: layers are expanded in order; a layer whose inputs come from an expanded
layer first copies its incoming columns to the new children, then splits. For ``split="clause"``
the groups of such a layer are the sibling sets (children of one previous parent stay together).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .mlp import check_mlp
from .splits import SPLITS, SplitRule, check_assignment, check_groups, clause_assignment, random_assignment

__all__ = ["expand", "split_copy", "count_nonzero"]


def count_nonzero(model: nn.Module, *, include_bias: bool = False) -> int:
    """Number of non-zero weights of every ``Linear`` in ``model`` (biases only if asked).

    With pruning masks attached, the effective (masked) weight is counted.
    """
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            total += int(torch.count_nonzero(m.weight.detach()))
            if include_bias and m.bias is not None:
                total += int(torch.count_nonzero(m.bias.detach()))
    return total


def expand(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
           groups: Sequence[Sequence[int]] | None = None, generator: torch.Generator | None = None) -> nn.Sequential:
    """Fixed Parameter Expansion of a trained MLP (the paper, as we read it, section 2).

    Args:
        model: ``nn.Sequential`` of ``Linear`` and ``ReLU`` (one or more hidden layers). It is not
            modified. Existing pruning masks are honoured (the effective weights are used).
        alpha: integer expansion factor, ``2 <= alpha <= fan_in`` of every hidden layer.
        split: ``"random"``, ``"clause"`` (needs ``groups``), ``"gram"`` (:mod:`fpe.gram`) or a callable
            ``rule(weight (h, fan_in), alpha, generator) -> assignment (h, fan_in) or (fan_in,)``.
        groups: for ``split="clause"``, a partition of the input indices (e.g. :func:`fpe.tasks.clause_groups`).
        generator: torch generator for the random parts (split draws).

    Returns:
        A new ``nn.Sequential`` of the same form, hidden layers ``alpha`` times wider, with a
        ``weight_mask`` on every ``Linear`` and ``count_nonzero(new) == count_nonzero(model)``.
    """
    new_w, new_b = split_copy(model, alpha, split, groups=groups, generator=generator)
    n_before = count_nonzero(model)
    masks = _global_magnitude_masks(new_w, n_keep=n_before)

    layers: list[nn.Module] = []
    for li, (w, b, mask) in enumerate(zip(new_w, new_b, masks)):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            lin.weight.copy_(w * mask)
            if b is not None:
                lin.bias.copy_(b)
        prune.custom_from_mask(lin, "weight", mask)
        layers.append(lin)
        if li < len(new_w) - 1:
            layers.append(nn.ReLU())
    out = nn.Sequential(*layers)
    out.train(model.training)
    return out


def split_copy(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
               groups: Sequence[Sequence[int]] | None = None, generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Steps 1-3 of FPE without the prune: the expanded weights and biases of every ``Linear``.

    Same arguments and checks as :func:`expand`. The first ``Linear`` keeps the non-zero count of
    the parent; later ones hold ``alpha`` copies of each outgoing weight (the surplus that the
    global prune of :func:`expand` removes).
    """
    linears = check_mlp(model)
    if isinstance(alpha, bool) or not isinstance(alpha, int) or alpha < 2:
        raise ValueError(f"alpha must be an integer >= 2, got {alpha!r}")
    if not (callable(split) or split in SPLITS):
        raise ValueError(f"split must be one of {SPLITS} or a callable, got {split!r}")
    if split == "clause":
        groups = check_groups(groups, linears[0].in_features, alpha)
    elif groups is not None:
        raise ValueError("groups is only used with split='clause'")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

    weights = [lin.weight.detach().clone() for lin in linears]  # effective (masked) weights
    biases = [None if lin.bias is None else lin.bias.detach().clone() for lin in linears]

    new_w: list[torch.Tensor] = []
    new_b: list[torch.Tensor | None] = []
    parent_of = None  # for the current layer's inputs: index of the previous-layer parent
    for li in range(len(weights) - 1):
        w = weights[li] if parent_of is None else weights[li][:, parent_of]  # copy outgoing columns
        h, fan_in = w.shape
        if alpha > fan_in:
            raise ValueError(f"alpha={alpha} is larger than the fan-in {fan_in} of hidden layer {2 * li}; allowed: 2..{fan_in}")
        if split == "random":
            assign = random_assignment(h, fan_in, alpha, generator)
        elif split == "gram":
            from .gram import gram_assignment

            assign = check_assignment(gram_assignment(w.clone(), alpha, generator), h, fan_in, alpha)
        elif split == "clause":
            layer_groups = groups if parent_of is None else _sibling_groups(parent_of)
            if li > 0:
                layer_groups = check_groups(layer_groups, fan_in, alpha)
            assign = clause_assignment(h, layer_groups, alpha, generator)
        else:
            assign = check_assignment(split(w.clone(), alpha, generator), h, fan_in, alpha)
        children = torch.arange(alpha).view(1, alpha, 1)
        keep = assign.unsqueeze(1) == children  # (h, alpha, fan_in)
        new_w.append((w.unsqueeze(1) * keep).reshape(h * alpha, fan_in))
        b = biases[li]
        new_b.append(None if b is None else b.repeat_interleave(alpha))
        parent_of = torch.arange(h).repeat_interleave(alpha)
    new_w.append(weights[-1][:, parent_of])  # children copy the parent's outgoing weights
    new_b.append(biases[-1])

    return new_w, new_b


def _sibling_groups(parent_of: torch.Tensor) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(parent_of.tolist()):
        groups.setdefault(p, []).append(i)
    return list(groups.values())


def _global_magnitude_masks(weights: list[torch.Tensor], n_keep: int) -> list[torch.Tensor]:
    """Masks keeping the ``n_keep`` largest-|w| non-zeros over all ``weights`` together.

    Ties are broken by position (stable sort), so exactly ``n_keep`` entries survive.
    """
    flat = torch.cat([w.reshape(-1) for w in weights])
    nonzero = flat != 0
    n_nonzero = int(nonzero.sum())
    n_drop = n_nonzero - n_keep
    keep = nonzero.clone()
    if n_drop > 0:
        mag = torch.where(nonzero, flat.abs(), torch.full_like(flat, float("inf")))
        drop = torch.argsort(mag, stable=True)[:n_drop]
        keep[drop] = False
    masks, start = [], 0
    for w in weights:
        masks.append(keep[start : start + w.numel()].view_as(w).to(w.dtype))
        start += w.numel()
    return masks

