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
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .mlp import check_class, check_sequential
from .pruning import (attach_mask, check_alpha, check_layers, check_materialised, check_split_args, copy_module, effective_weights,
                      copies_masks, global_magnitude_masks, split_pairs, warn_dead)
from .splits import SplitRule

__all__ = ["expand", "split_copy", "count_nonzero"]


def count_nonzero(model: nn.Module, *, include_bias: bool = False) -> int:
    """Number of non-zero weights of every ``Linear`` and ``Conv2d`` in ``model`` and of the input
    projections of every ``nn.MultiheadAttention`` (``in_proj_weight`` or ``q/k/v_proj_weight``; its
    ``out_proj`` is a ``Linear``), biases only if asked, norm parameters never: the budget FPE keeps
    fixed (the paper, as we read it, section 2).

    With pruning masks attached, the effective (masked) weight is counted; a sparse weight
    (:func:`fpe.export` with ``sparse=True``) by its stored non-zero values. Each parameter is counted
    once: layers that share (tie) one weight count it once.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(include_bias, bool):
        raise TypeError(f"include_bias must be True or False, got {include_bias!r}")
    seen: set = set()
    total = 0

    def add(key, t: torch.Tensor | None) -> None:
        nonlocal total
        if t is None or key in seen:
            return
        seen.add(key)
        if t.device.type == "meta":
            raise ValueError("count_nonzero: the model has weights on the meta device (no values to count); "
                             "materialise it first (model.to_empty(device='cpu') and load_state_dict)")
        t = t.detach()
        if t.layout == torch.sparse_coo:
            t = t.coalesce().values()
        elif t.layout != torch.strided:  # sparse CSR/CSC/BSR (fpe.export(..., sparse=True)): its stored values
            t = t.values()
        total += int(torch.count_nonzero(t))

    def key(m: nn.Module, name: str):  # a masked tensor is its (original, mask) pair; a plain one itself
        orig, mask = m._parameters.get(name + "_orig"), m._buffers.get(name + "_mask")
        return (id(orig), id(mask)) if orig is not None and mask is not None else id(getattr(m, name))

    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            add(key(m, "weight"), m.weight)
            if include_bias and m.bias is not None:
                add(key(m, "bias"), m.bias)
        elif isinstance(m, nn.MultiheadAttention):
            for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
                if getattr(m, name, None) is not None:
                    add(key(m, name), getattr(m, name))
            if include_bias:
                for name in ("in_proj_bias", "bias_k", "bias_v"):
                    if getattr(m, name, None) is not None:
                        add(key(m, name), getattr(m, name))
    return total


def expand(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
           groups: Sequence[Sequence[int]] | None = None, generator: torch.Generator | None = None,
           inplace: bool = False, prune: str = "global") -> nn.Sequential:
    """Fixed Parameter Expansion of a trained MLP (the paper, as we read it, section 2).

    Args:
        model: ``nn.Sequential`` of ``Linear`` layers (one or more hidden layers) with any elementwise
            activations and ``Dropout`` between them and an optional leading ``Flatten``
            (:func:`fpe.method.mlp.check_sequential`). It is not modified (unless ``inplace``). Existing
            pruning masks are honoured (the effective weights are used). Any real device (not
            ``meta``). Refused with a ``ValueError`` naming the layer: tied weights (two layers sharing
            a ``Parameter``), ``weight_norm``/``spectral_norm``/``parametrize``, non-finite weights.
        alpha: integer expansion factor, ``2 <= alpha <= fan_in`` of every hidden layer (a Python or
            NumPy integer or a 0-d integer tensor).
        split: ``"random"``, ``"clause"`` (needs ``groups``), ``"gram"`` (:mod:`fpe.method.gram`) or a callable
            ``rule(weight (h, fan_in), alpha, generator) -> assignment (h, fan_in) or (fan_in,)``.
        groups: for ``split="clause"``, a partition of the input indices (e.g. :func:`fpe.tasks.clause_groups`).
        generator: CPU torch generator for the random parts (split draws).
        prune: ``"global"`` (the default, step 4: one magnitude prune over all layers, keeping the total
            count; it may remove incoming weights of children too) or ``"copies"`` (remove only the surplus
            copies of step 3, :func:`fpe.method.pruning.copies_masks`: every layer keeps its own count,
            with a ``RuntimeWarning`` if a child keeps no incoming weight). MLPs only.
        inplace: expand ``model`` itself: its ``Linear`` modules (the same objects, their hooks kept) get
            the wider weights and masks; other modules are left as they are. Otherwise a new model.

    Returns:
        A new model of the same form (its other modules copied), hidden layers ``alpha`` times wider,
        with a ``weight_mask`` on every ``Linear`` and ``count_nonzero(new) == count_nonzero(model)``.
        A plain ``nn.Sequential`` comes back as an ``nn.Sequential`` with the same module names; a
        ``Sequential`` subclass (that does not override ``forward``) as a deep copy of the same class;
        one that overrides ``forward`` is refused (its forward might not apply the modules in order).
        Frozen parameters (``requires_grad=False``) stay frozen. The model deep-copies
        (``copy.deepcopy``, ``AveragedModel``), pickles and runs under ``torch.compile``; for
        ``torch.jit.script`` (which cannot compile the pruning hook) script :func:`fpe.export`'s copy.

    FPE changes the network's function: the expanded model computes something else than the trained
    one, on purpose. A child sees only its share of the parent's inputs, so it computes
    ``act(w_k . x_k + b)`` and the next layer sums ``act(w_1 . x_1 + b) + ... + act(w_alpha . x_alpha + b)``
    where the parent gave ``act(w . x + b)`` with ``w . x = sum_k w_k . x_k``: an activation of a sum
    is not the sum of the activations (for ReLU, ``relu(a + b) != relu(a) + relu(b)`` when the signs
    differ; the bias is copied to every child, too), and the global prune then removes the smallest
    weights. The paper (section 2) expands and then keeps training at the same non-zero count; the
    parent's function is the starting point, not an invariant. :func:`fpe.export` makes the masks permanent.

    Expanding an expanded model (or one pruned otherwise) uses its effective (masked) weights: the
    children of the first expansion are split again, the masks are replaced and the non-zero count is
    kept; a child that the first prune left without incoming weights stays without them. A callable
    ``split`` that raises propagates its own exception unchanged.

    A ``Sequential`` with ``Conv2d`` layers is a CNN: it goes to :func:`fpe.method.conv.expand_cnn` (channel
    FPE; ``split`` one of its rules, no ``groups``).
    """
    alpha = check_alpha(alpha)
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be True or False, got {inplace!r}")
    if prune not in ("global", "copies"):
        raise ValueError(f"prune must be one of ('global', 'copies'), got {prune!r}")
    check_materialised(model)
    if isinstance(model, nn.Sequential) and any(isinstance(m, nn.Conv2d) for m in model):
        if prune != "global":
            raise ValueError("prune='copies' is for MLPs; expand_cnn prunes globally")
        if groups is not None:
            raise ValueError("groups (split='clause') is for MLPs; a CNN takes split='random', 'channel', 'gram' or a callable")
        from .conv import expand_cnn

        return expand_cnn(model, alpha, split, generator=generator, inplace=inplace)
    new_w, new_b = split_copy(model, alpha, split, groups=groups, generator=generator)
    if prune == "copies":
        names = [n for n, m in model.named_children() if isinstance(m, nn.Linear)]  # the modules' own names
        pairs = [((a,), (b,)) for a, b in zip(names, names[1:])]
        by_name = dict(zip(names, new_w))
        found = copies_masks(by_name, pairs, alpha)
        warn_dead(by_name, found, pairs)
        masks = [found[n] for n in names]
    else:
        masks = global_magnitude_masks(new_w, n_keep=count_nonzero(model))
    new = list(zip(new_w, new_b, masks))
    del new_w, new_b, masks  # each layer's tensors are let go once attached (peak memory)
    if inplace:
        for m in model:
            if isinstance(m, nn.Linear):
                attach_mask(m, *new.pop(0))
        return model
    layers: dict[str, nn.Module] = {}
    for name, m in model.named_children():
        if isinstance(m, nn.Linear):
            w, b, mask = new.pop(0)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype, device=w.device)
            layers[name] = attach_mask(lin, w, b, mask, like=m)
            del w, b, mask
        elif type(model) is nn.Sequential:
            layers[name] = copy.deepcopy(m)
    if type(model) is nn.Sequential:
        out = nn.Sequential(OrderedDict(layers))
    else:  # a subclass: a copy of it (its own attributes kept), with the new layers
        out = copy_module(model)
        for name, lin in layers.items():
            out._modules[name] = lin
    out.train(model.training)
    return out


def split_copy(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
               groups: Sequence[Sequence[int]] | None = None, generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Steps 1-3 of FPE without the prune: the expanded weights and biases of every ``Linear``.

    Same arguments and checks as :func:`expand`. The first ``Linear`` keeps the non-zero count of
    the parent; later ones hold ``alpha`` copies of each outgoing weight (the surplus that the
    global prune of :func:`expand` removes).
    """
    alpha = check_alpha(alpha)
    check_materialised(model)
    layers = check_sequential(model)
    check_class(model)
    check_layers(model, [(str(i), lin) for i, lin in layers], "model layer")
    groups = check_split_args(alpha, split, groups, generator, fan_in=layers[0][1].in_features)
    names = [str(i) for i, _ in layers]
    weights, biases = effective_weights({n: lin for n, (_, lin) in zip(names, layers)})
    pairs = [((a,), (b,)) for a, b in zip(names, names[1:])]
    split_pairs(weights, biases, pairs, alpha, split, groups=groups, generator=generator)
    return [weights[n] for n in names], [biases[n] for n in names]
