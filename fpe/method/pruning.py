"""The machinery FPE's transforms share (the paper, as we read it, section 2): argument checks, the
split-and-copy of producer/consumer pairs, the one global magnitude prune, and masks attached with
PyTorch's own pruning (``torch.nn.utils.prune``).

:func:`fpe.expand` (MLPs and, through :mod:`fpe.method.conv`, CNNs), :func:`fpe.expand_cnn` and
:func:`fpe.expand_layers` (named pairs of any module) are built from these steps:
:func:`check_split_args`, :func:`effective_weights`, :func:`split_pairs` (children partition each
parent's inputs by the split rule and copy its outgoing weights and bias),
:func:`global_magnitude_masks` (keep exactly the original non-zero count, globally) and
:func:`attach_mask`; :func:`copy_module` copies a model that may carry pruning hooks.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .splits import SPLITS, SplitRule, check_assignment, check_groups, clause_assignment, random_assignment

__all__ = ["Pair", "check_split_args", "effective_weights", "split_pairs", "global_magnitude_masks", "attach_mask",
           "copy_module"]

Pair = tuple[tuple[str, ...], tuple[str, ...]]  # (producer names, consumer names)


def check_split_args(alpha, split, groups, generator, *, fan_in: int | None = None):
    """Validate ``alpha``, ``split``, ``groups`` and ``generator``; returns the checked ``groups``.

    Without ``fan_in`` the clause groups are checked later, against each layer they are used on.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int) or alpha < 2:
        raise ValueError(f"alpha must be an integer >= 2, got {alpha!r}")
    if not (callable(split) or split in SPLITS):
        raise ValueError(f"split must be one of {SPLITS} or a callable, got {split!r}")
    if split == "clause":
        if groups is None or fan_in is not None:
            groups = check_groups(groups, fan_in, alpha)
    elif groups is not None:
        raise ValueError("groups is only used with split='clause'")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return groups


def effective_weights(linears: dict[str, nn.Linear]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
    """Copies of the effective (masked) weights and the biases of named ``Linear`` layers."""
    weights = {n: lin.weight.detach().clone() for n, lin in linears.items()}
    biases = {n: None if lin.bias is None else lin.bias.detach().clone() for n, lin in linears.items()}
    return weights, biases


def split_pairs(weights: dict[str, torch.Tensor], biases: dict[str, torch.Tensor | None], pairs: Sequence[Pair],
                alpha: int, split: str | SplitRule, *, groups=None, generator: torch.Generator | None = None) -> None:
    """Steps 1-3 of FPE, in place on ``weights`` ``(out, in)`` and ``biases`` (dicts by layer name).

    ``pairs``: ``(producers, consumers)`` name tuples in dependency order (a pair whose producers read
    the consumers' input of an earlier pair comes after it). The producers' output units are split
    into ``alpha`` children each, with one assignment shared by all producers of a pair (gated
    blocks); the consumers' input columns are copied to the children. With several producers a
    ``"gram"`` or callable rule sees their weights stacked along the rows.
    """
    copies: dict[str, torch.Tensor] = {}  # consumer -> the previous-layer parent of each of its new inputs
    for producers, consumers in pairs:
        parent_of = copies.get(producers[0])
        for p in producers:
            copies.pop(p, None)
        ws = [weights[p] if parent_of is None else weights[p][:, parent_of.to(weights[p].device)] for p in producers]
        h, fan_in = ws[0].shape
        if alpha > fan_in:
            raise ValueError(f"alpha={alpha} is larger than the fan-in {fan_in} of hidden layer {producers[0]}; allowed: 2..{fan_in}")
        layer_groups = None
        if split == "clause":  # deeper layers: the sibling sets of the previous split
            layer_groups = check_groups(groups if parent_of is None else _sibling_groups(parent_of), fan_in, alpha)
        assign = _assignment(ws, alpha, split, layer_groups, generator).to(ws[0].device)
        keep = assign.unsqueeze(1) == torch.arange(alpha, device=assign.device).view(1, alpha, 1)  # (h, alpha, fan_in)
        for p, w in zip(producers, ws):
            weights[p] = (w.unsqueeze(1) * keep).reshape(h * alpha, fan_in)
            biases[p] = None if biases[p] is None else biases[p].repeat_interleave(alpha)
        for c in consumers:
            copies[c] = torch.arange(h).repeat_interleave(alpha)
    for c, parent_of in copies.items():  # children copy the parent's outgoing weights
        weights[c] = weights[c][:, parent_of.to(weights[c].device)]


def _assignment(ws: list[torch.Tensor], alpha: int, split, groups, generator) -> torch.Tensor:
    h, fan_in = ws[0].shape
    if split == "random":
        return random_assignment(h, fan_in, alpha, generator)
    if split == "clause":
        return clause_assignment(h, groups, alpha, generator)
    rule = split
    if split == "gram":
        from .gram import gram_assignment as rule
    w = ws[0].clone() if len(ws) == 1 else torch.cat(ws)
    return check_assignment(rule(w, alpha, generator), h, fan_in, alpha)


def _sibling_groups(parent_of: torch.Tensor) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(parent_of.tolist()):
        groups.setdefault(p, []).append(i)
    return list(groups.values())


def global_magnitude_masks(weights: list[torch.Tensor], n_keep: int) -> list[torch.Tensor]:
    """Masks keeping the ``n_keep`` largest-``|w|`` non-zeros over all ``weights`` together.

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


def attach_mask(lin: nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor) -> nn.Linear:
    """Give ``lin`` (in place) the weight ``weight * mask`` and ``bias``, with their sizes, and fix
    ``mask`` with ``torch.nn.utils.prune.custom_from_mask`` (``weight_orig``, ``weight_mask``)."""
    for name in ("weight", "bias"):
        if hasattr(lin, name + "_orig"):  # an earlier prune: its mask has the old shape
            prune.remove(lin, name)
    lin.weight = nn.Parameter(weight * mask, requires_grad=lin.weight.requires_grad)
    lin.bias = None if bias is None else nn.Parameter(bias, requires_grad=lin.bias is None or lin.bias.requires_grad)
    lin.out_features, lin.in_features = weight.shape
    prune.custom_from_mask(lin, "weight", mask)
    return lin


def copy_module(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, also after a forward pass of a pruned model (whose masked weights are
    then non-leaf tensors that cannot be deep-copied): they are first recomputed without autograd, as
    the pruning forward pre-hook would (the next forward recomputes them again)."""
    with torch.no_grad():
        for m in model.modules():
            for hook in list(m._forward_pre_hooks.values()):
                if isinstance(hook, prune.BasePruningMethod):
                    hook(m, ())
    return copy.deepcopy(model)
