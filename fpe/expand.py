"""Fixed Parameter Expansion, the transform itself (the paper, as we read it, section 2; the paper's section on FPE).

``expand(model, alpha, split)`` takes a trained ``nn.Sequential`` of ``Linear`` layers with elementwise
activations between them and returns a new one in which every hidden layer is ``alpha`` times wider:

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

Any elementwise activation (ReLU, GELU, SiLU, Tanh, ...) and ``Dropout`` between the ``Linear``
layers, and a leading ``Flatten``, are kept as copies; the split never looks at them
(:func:`fpe.mlp.check_sequential`). Other architectures, which the paper leaves to future work:
:func:`fpe.expand_layers` (:mod:`fpe.layers`) runs the same steps (:func:`split_pairs`,
:func:`global_magnitude_masks`, :func:`attach_mask`) on named producer/consumer ``Linear`` pairs of
any ``nn.Module``.

Deeper nets **[house]**: layers are expanded in order; a layer whose inputs come from an expanded
layer first copies its incoming columns to the new children, then splits. For ``split="clause"``
the groups of such a layer are the sibling sets (children of one previous parent stay together).

Devices: split draws are made on the CPU (from ``generator``) and moved to the weights' device, so a
model on a GPU gets the same masks as the same model on the CPU.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .mlp import check_sequential
from .splits import SPLITS, SplitRule, check_assignment, check_groups, clause_assignment, random_assignment

__all__ = ["expand", "split_copy", "count_nonzero", "check_split_args", "effective_weights", "split_pairs",
           "global_magnitude_masks", "attach_mask", "copy_module"]

Pair = tuple[tuple[str, ...], tuple[str, ...]]  # (producer names, consumer names)


def count_nonzero(model: nn.Module, *, include_bias: bool = False) -> int:
    """Number of non-zero weights of every ``Linear`` and ``Conv2d`` in ``model`` (biases only if
    asked; norm parameters never): the budget FPE keeps fixed (the paper, as we read it, section 2).

    With pruning masks attached, the effective (masked) weight is counted.
    """
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            total += int(torch.count_nonzero(m.weight.detach()))
            if include_bias and m.bias is not None:
                total += int(torch.count_nonzero(m.bias.detach()))
    return total


def expand(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
           groups: Sequence[Sequence[int]] | None = None, generator: torch.Generator | None = None) -> nn.Sequential:
    """Fixed Parameter Expansion of a trained MLP (the paper, as we read it, section 2).

    Args:
        model: ``nn.Sequential`` of ``Linear`` layers (one or more hidden layers) with any elementwise
            activations and ``Dropout`` between them and an optional leading ``Flatten``
            (:func:`fpe.mlp.check_sequential`). It is not modified. Existing pruning masks are
            honoured (the effective weights are used). Any device.
        alpha: integer expansion factor, ``2 <= alpha <= fan_in`` of every hidden layer.
        split: ``"random"``, ``"clause"`` (needs ``groups``), ``"gram"`` (:mod:`fpe.gram`) or a callable
            ``rule(weight (h, fan_in), alpha, generator) -> assignment (h, fan_in) or (fan_in,)``.
        groups: for ``split="clause"``, a partition of the input indices (e.g. :func:`fpe.tasks.clause_groups`).
        generator: CPU torch generator for the random parts (split draws).

    Returns:
        A new ``nn.Sequential`` of the same form (its other modules copied), hidden layers ``alpha``
        times wider, with a ``weight_mask`` on every ``Linear`` and ``count_nonzero(new) == count_nonzero(model)``.
    """
    new_w, new_b = split_copy(model, alpha, split, groups=groups, generator=generator)
    masks = global_magnitude_masks(new_w, n_keep=count_nonzero(model))
    new = iter(zip(new_w, new_b, masks))
    layers: list[nn.Module] = []
    for m in model:
        if isinstance(m, nn.Linear):
            w, b, mask = next(new)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
            layers.append(attach_mask(lin, w, b, mask))
        else:
            layers.append(copy.deepcopy(m))
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
    layers = check_sequential(model)
    groups = check_split_args(alpha, split, groups, generator, fan_in=layers[0][1].in_features)
    names = [str(i) for i, _ in layers]
    weights, biases = effective_weights({n: lin for n, (_, lin) in zip(names, layers)})
    pairs = [((a,), (b,)) for a, b in zip(names, names[1:])]
    split_pairs(weights, biases, pairs, alpha, split, groups=groups, generator=generator)
    return [weights[n] for n in names], [biases[n] for n in names]


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
