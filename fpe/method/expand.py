"""Fixed Parameter Expansion, the transform itself (the paper, as we read it, section 2; the paper's section on FPE).

``expand(model, alpha, split)`` takes a trained ``nn.Sequential`` of ``Linear`` layers with elementwise
activations between them and returns a new one in which every hidden layer is ``alpha`` times wider:

1. every hidden neuron (parent) becomes ``alpha`` children, stored contiguously
   (children of parent ``p`` are ``p*alpha .. p*alpha + alpha - 1``);
2. the children partition the parent's incoming connections disjointly (the ``split`` rule,
   :mod:`fpe.method.splits`), so the incoming non-zero count is unchanged;
3. each child copies the parent's bias **[house]** and outgoing weights;
4. one global magnitude prune over all expanded weight matrices together removes exactly the
   non-zeros that step 3 added, so :func:`count_nonzero` is unchanged (biases are not counted)
   **[house: global over all layers]**;
5. the resulting sparsity masks are attached with PyTorch's own pruning machinery
   (``torch.nn.utils.prune.custom_from_mask``: a ``weight_orig`` parameter and a ``weight_mask``
   buffer per ``Linear``), so they stay fixed while the model keeps training.

Any elementwise activation (ReLU, GELU, SiLU, Tanh, ...) and ``Dropout`` between the ``Linear``
layers, and a leading ``Flatten``, are kept as copies; the split never looks at them
(:func:`fpe.method.mlp.check_sequential`). A ``Sequential`` CNN goes to :func:`fpe.method.conv.expand_cnn`. Other
architectures, which the paper leaves to future work: :func:`fpe.expand_layers` (:mod:`fpe.method.layers`)
runs the same steps (:mod:`fpe.method.pruning`: split and copy, one global prune, masks) on named
producer/consumer ``Linear`` pairs of any ``nn.Module``.

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
from .pruning import attach_mask, check_split_args, effective_weights, global_magnitude_masks, split_pairs
from .splits import SplitRule

__all__ = ["expand", "split_copy", "count_nonzero"]


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
            (:func:`fpe.method.mlp.check_sequential`). It is not modified. Existing pruning masks are
            honoured (the effective weights are used). Any device.
        alpha: integer expansion factor, ``2 <= alpha <= fan_in`` of every hidden layer.
        split: ``"random"``, ``"clause"`` (needs ``groups``), ``"gram"`` (:mod:`fpe.method.gram`) or a callable
            ``rule(weight (h, fan_in), alpha, generator) -> assignment (h, fan_in) or (fan_in,)``.
        groups: for ``split="clause"``, a partition of the input indices (e.g. :func:`fpe.tasks.clause_groups`).
        generator: CPU torch generator for the random parts (split draws).

    Returns:
        A new ``nn.Sequential`` of the same form (its other modules copied), hidden layers ``alpha``
        times wider, with a ``weight_mask`` on every ``Linear`` and ``count_nonzero(new) == count_nonzero(model)``.

    A ``Sequential`` with ``Conv2d`` layers is a CNN: it goes to :func:`fpe.method.conv.expand_cnn` (channel
    FPE; ``split`` one of its rules, no ``groups``).
    """
    if isinstance(model, nn.Sequential) and any(isinstance(m, nn.Conv2d) for m in model):
        if groups is not None:
            raise ValueError("groups (split='clause') is for MLPs; a CNN takes split='random', 'channel', 'gram' or a callable")
        from .conv import expand_cnn

        return expand_cnn(model, alpha, split, generator=generator)
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
