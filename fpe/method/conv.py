"""Fixed Parameter Expansion for convolutional networks: filters split like neurons (the paper, as we read it, section 2).

The paper's CNN form of FPE: "the split acts on output channels: every child filter retains a
disjoint share of its parent's (input channel x kernel position) weights, and the following layer
copies the parent's weights once per child". :func:`expand_cnn` applies it to an ``nn.Sequential``
CNN, the steps of :func:`fpe.expand` with a channel in the place of a neuron:

1. every output channel (filter) of a hidden ``Conv2d`` becomes ``alpha`` children, stored
   contiguously (children of parent ``p`` are channels ``p*alpha .. p*alpha + alpha - 1``);
2. the children partition the parent's ``in_channels * kh * kw`` incoming weights disjointly by a
   split rule (:data:`CONV_SPLITS` or a callable);
3. each child copies the parent's bias, its ``BatchNorm2d`` entries (``weight``, ``bias``,
   ``running_mean``, ``running_var``; ``num_batches_tracked`` is kept) and its outgoing weights: a
   following ``Conv2d`` copies its input-channel slice, a ``Linear`` after ``Flatten`` the block of
   ``H*W`` features the channel feeds (channel-major flatten, ``H*W = in_features / channels``);
4. the hidden ``Linear`` layers of the head get the neuron FPE of :func:`fpe.expand` (a pure MLP
   comes out bit for bit as from :func:`fpe.expand`); every layer first copies its inputs for the
   previous layer's children, then splits **[house]**;
5. one global magnitude prune over all expanded ``Conv2d`` and ``Linear`` weights restores exactly
   their original non-zero count (:func:`fpe.method.expand.count_nonzero`, which counts ``Conv2d`` and ``Linear`` weights; biases and norm parameters are not
   counted), with the masks fixed by ``torch.nn.utils.prune.custom_from_mask`` as in :func:`fpe.expand`.

Every ``Conv2d`` and ``Linear`` but the last is hidden (expanded). Between them: the elementwise
modules of :data:`fpe.method.mlp.ELEMENTWISE`, ``Dropout2d``, ``MaxPool2d``, ``AvgPool2d``,
``AdaptiveAvgPool2d``, ``AdaptiveMaxPool2d`` (all act on each channel on its own),
``BatchNorm2d`` after a ``Conv2d``, ``BatchNorm1d`` after a ``Linear`` and ``Flatten(1, -1)``.
Anything else (a grouped or depthwise convolution, a residual model, a reshape) raises a
``ValueError`` naming the module. Split draws are made on the CPU from ``generator`` and moved to
the weights' device, so every device gets the same masks.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from .pruning import (attach_mask, check_alpha, check_layers, check_materialised, check_split_args, copy_module, effective_weights,
                      global_magnitude_masks, split_pairs)
from .mlp import ELEMENTWISE, check_class, check_finite
from .splits import SplitRule

__all__ = ["CONV_SPLITS", "expand_cnn", "split_copy_cnn"]

#: Split rules of :func:`expand_cnn`: ``"random"`` (a balanced random partition of each parent's
#: incoming positions), ``"channel"`` (whole input channels dealt to the children, balanced by
#: channel count, in a random order per parent) and ``"gram"`` (:mod:`fpe.method.gram` on the flattened filters).
CONV_SPLITS = ("random", "channel", "gram")
_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_FIX = ("FPE on a CNN needs an nn.Sequential of Conv2d and Linear layers with only per-channel modules "
        "(activations, Dropout, pooling, BatchNorm) and one Flatten between them")


def _plan(model) -> tuple[list[tuple[int, nn.Module, int]], list[tuple[int, int]]]:
    """Check ``model``; returns its ``(index, layer, input units)`` weight layers and its
    ``(index, weight layers before it)`` norms. A layer's input units are the channels or features of
    the previous weight layer (its fan-in is ``units * block``: ``kh*kw``, ``H*W`` or 1 each)."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential CNN; got {type(model).__name__} (a residual or other "
                         f"non-Sequential model cannot be tracked; {_FIX}, or name Linear pairs with fpe.expand_layers)")
    layers, norms = [], []
    form, units = "input", None  # form: "image" (N, C, H, W), "flattened" (an image, flattened), "flat" (features)
    for i, m in enumerate(model):
        def bad(why: str) -> ValueError:
            return ValueError(f"model module {i} ({type(m).__name__}) cannot be expanded: {why}; {_FIX}")

        if isinstance(m, nn.Conv2d):
            if m.groups != 1:
                raise bad(f"groups={m.groups}: in a grouped or depthwise convolution a filter reads only some input "
                          "channels, so the children of a channel cannot be copied into every filter")
            if form not in ("input", "image"):
                raise bad("a Conv2d after a Flatten or a Linear reads features whose channels cannot be tracked")
            _check_width(bad, m.in_channels, units)
            layers.append((i, m, m.in_channels))
            form, units = "image", m.out_channels
        elif isinstance(m, nn.Linear):
            if form == "image":
                raise bad("a Linear on an (N, C, H, W) tensor acts on its last dimension; put a Flatten before it")
            _check_width(bad, m.in_features, units if form == "flat" else None)
            n = m.in_features if units is None or form == "flat" else units
            if m.in_features % n:
                raise bad(f"in_features={m.in_features} is not a multiple of the {n} channels before the Flatten, "
                          "so the features per channel (H*W) cannot be inferred")
            layers.append((i, m, n))
            form, units = "flat", m.out_features
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise bad(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) is a reshape it cannot track; "
                          "only Flatten(1, -1) (channel-major features) is accepted")
            form = "flattened" if form == "image" else "flat"
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            want = "image" if isinstance(m, nn.BatchNorm2d) else "flat"
            if form not in ("input", want):
                raise bad(f"a {type(m).__name__} is accepted only after a {'Conv2d' if want == 'image' else 'Linear'}")
            _check_width(bad, m.num_features, units)
            norms.append((i, len(layers)))
        elif isinstance(m, _POOLS):
            if form not in ("input", "image"):
                raise bad("a pooling after a Flatten or a Linear mixes features; it cannot be tracked")
        elif isinstance(m, nn.PReLU) and m.num_parameters != 1:
            raise bad("it has one slope per channel, a per-channel parameter that FPE would have to copy")
        elif not isinstance(m, (*ELEMENTWISE, nn.Dropout2d)):
            raise bad("it is not a module FPE can track through a CNN (Conv2d, Linear, Flatten, BatchNorm1d/2d, "
                      f"{', '.join(k.__name__ for k in _POOLS)}, Dropout2d, the elementwise modules of fpe.method.mlp.ELEMENTWISE)")
    if len(layers) < 2:
        raise ValueError(f"model must have at least two Conv2d or Linear layers (one hidden layer); got "
                         f"{', '.join(type(m).__name__ for m in model) or '(empty)'}")
    check_finite([(i, m) for i, m, _ in layers])
    return layers, norms


def _check_width(bad, n_in: int, units: int | None) -> None:
    if units is not None and n_in != units:
        raise bad(f"it takes {n_in} inputs but the layer before gives {units}")


def split_copy_cnn(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
                   generator: torch.Generator | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Steps 1-4 of :func:`expand_cnn` without the prune: the expanded weights (``Conv2d``:
    ``(out, in, kh, kw)``, ``Linear``: ``(out, in)``) and biases of every weight layer, in order.

    Same arguments and checks as :func:`expand_cnn`. The first layer keeps its non-zero count;
    later ones hold ``alpha`` copies of each outgoing weight (the surplus that the global prune removes).
    """
    alpha = check_alpha(alpha)
    check_materialised(model)
    layers, _ = _plan(model)
    check_class(model)
    check_layers(model, [(str(i), m) for i, m, _ in layers], "model module")
    check_split_args(alpha, "random", None, generator)  # alpha and generator; the split names are ours
    if not (callable(split) or split in CONV_SPLITS):
        raise ValueError(f"split must be one of {CONV_SPLITS} or a callable, got {split!r}")
    weights, biases = effective_weights({str(i): m for i, m, _ in layers})
    parent_of = None  # the previous layer's parent of each of its output units
    for k, (i, m, units) in enumerate(layers):
        name, shape = str(i), weights[str(i)].shape
        w = weights[name].flatten(1)
        block = w.shape[1] // units  # kh*kw, H*W or 1 inputs per unit of the previous layer
        if parent_of is not None:  # children copy the parent's outgoing weights
            w = w.unflatten(1, (units, block))[:, parent_of.to(w.device)].flatten(1)
        weights[name] = w
        if k < len(layers) - 1:
            _split(weights, biases, name, m, block, alpha, split, generator)
            parent_of = torch.arange(shape[0]).repeat_interleave(alpha)
        weights[name] = weights[name].unflatten(1, (-1, *shape[2:]))
    names = [str(i) for i, _, _ in layers]
    return [weights[n] for n in names], [biases[n] for n in names]


def _split(weights, biases, name: str, m: nn.Module, block: int, alpha: int, split, generator) -> None:
    """Steps 1-3 on one layer, in place: :func:`fpe.method.pruning.split_pairs` on its flattened weight."""
    fan_in = weights[name].shape[1]
    what = "in_channels*kh*kw" if isinstance(m, nn.Conv2d) else "in_features"
    if alpha > fan_in:
        raise ValueError(f"model module {name} ({type(m).__name__}) cannot be expanded: alpha={alpha} is larger than its "
                         f"fan-in {fan_in} ({what}); allowed: 2..{fan_in}")
    groups, rule = None, split
    if split == "channel":
        if fan_in // block < alpha:
            raise ValueError(f"model module {name} ({type(m).__name__}) cannot be expanded with split='channel': it reads "
                             f"{fan_in // block} input {'channels' if block > 1 or what != 'in_features' else 'features'}, fewer than alpha={alpha}")
        groups, rule = [list(range(c * block, (c + 1) * block)) for c in range(fan_in // block)], "clause"
    elif callable(split) and isinstance(m, nn.Conv2d):
        rule = _filter_rule(split, m.kernel_size)
    split_pairs(weights, biases, [((name,), ())], alpha, rule, groups=groups, generator=generator)


def _filter_rule(rule: SplitRule, kernel_size: tuple[int, int]) -> SplitRule:
    """A callable conv split seen by :func:`fpe.method.pruning.split_pairs`: it gets the filters ``(out, in, kh, kw)``
    and may return ``(out, in, kh, kw)`` or ``(in, kh, kw)``, flattened here to ``(out, fan_in)`` or ``(fan_in,)``."""
    def flat(w: torch.Tensor, alpha: int, generator) -> torch.Tensor:
        a = rule(w.view(w.shape[0], -1, *kernel_size), alpha, generator)
        return a.flatten(a.dim() - 3) if isinstance(a, torch.Tensor) and a.dim() in (3, 4) else a
    return flat


def expand_cnn(model: nn.Sequential, alpha: int, split: str | SplitRule = "random", *,
               generator: torch.Generator | None = None, inplace: bool = False) -> nn.Sequential:
    """Fixed Parameter Expansion of a trained ``nn.Sequential`` CNN (the paper, as we read it, section 2).

    Args:
        model: ``nn.Sequential`` of ``Conv2d`` (``groups=1``; any stride, padding, dilation) and
            ``Linear`` layers with per-channel modules between them and one ``Flatten``; see the module
            docstring. It is not modified. Existing pruning masks are honoured (the effective weights
            are used). Any device.
        alpha: integer expansion factor, ``2 <= alpha <= fan_in`` of the first hidden layer
            (``in_channels*kh*kw``; for ``split="channel"``, ``alpha <= in_channels``).
        split: one of :data:`CONV_SPLITS` or a callable ``rule(weight, alpha, generator) -> assignment``;
            for a ``Conv2d`` it gets ``weight (out, in, kh, kw)`` and returns ``(out, in, kh, kw)`` or
            ``(in, kh, kw)`` child indices, for a ``Linear`` as in :func:`fpe.expand`.
        generator: CPU torch generator for the split draws.
        inplace: expand ``model`` itself (its ``Conv2d``, ``Linear`` and hidden ``BatchNorm`` modules, the
            same objects, get the wider tensors); otherwise a new model.

    Returns:
        A new ``nn.Sequential`` of the same modules (names kept; a ``Sequential`` subclass comes back as a
        copy of its class, as in :func:`fpe.expand`), hidden layers ``alpha`` times wider, a ``weight_mask``
        on every ``Conv2d`` and ``Linear`` and ``fpe.count_nonzero(new) == fpe.count_nonzero(model)``.
        Frozen parameters stay frozen; the model deep-copies and pickles (see :func:`fpe.expand`).

    Raises:
        ValueError: naming the module index, its type and why, for a module it cannot track, a grouped
        convolution, a ``Linear`` whose ``in_features`` is not a multiple of the channels before the
        ``Flatten``, ``alpha`` above a fan-in, non-finite weights or a bad argument.
    """
    alpha = check_alpha(alpha)
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be True or False, got {inplace!r}")
    check_materialised(model)
    layers, norms = _plan(model)
    new_w, new_b = split_copy_cnn(model, alpha, split, generator=generator)
    masks = global_magnitude_masks(new_w, n_keep=sum(int(torch.count_nonzero(m.weight.detach())) for _, m, _ in layers))
    new = {i: (m, *t) for (i, m, _), t in zip(layers, zip(new_w, new_b, masks))}
    hidden_norms = {i for i, before in norms if 0 < before < len(layers)}
    if inplace:
        for i, m in enumerate(model):
            if i in new:
                attach_mask(m, *new[i][1:])
            elif i in hidden_norms:
                _widen_norm(m, m, alpha)
        return model
    built = [_masked(*new[i]) if i in new else _copied_norm(m, alpha) if i in hidden_norms
             else copy.deepcopy(m) if type(model) is nn.Sequential else None for i, m in enumerate(model)]
    if type(model) is nn.Sequential:
        out = nn.Sequential(OrderedDict(zip(model._modules, built)))
    else:  # a subclass: a copy of it (its own attributes kept), with the new layers
        out = copy_module(model)
        for name, m in zip(list(out._modules), built):
            if m is not None:
                out._modules[name] = m
    out.train(model.training)
    return out


def _masked(m: nn.Module, w: torch.Tensor, b: torch.Tensor | None, mask: torch.Tensor) -> nn.Module:
    """A new layer like ``m`` with the weight ``w * mask`` fixed by the pruning mask and the bias ``b``
    (frozen if ``m`` was)."""
    kw = dict(bias=b is not None, device=w.device, dtype=w.dtype)
    if isinstance(m, nn.Linear):
        return attach_mask(nn.Linear(w.shape[1], w.shape[0], **kw), w, b, mask, like=m)
    conv = nn.Conv2d(w.shape[1], w.shape[0], m.kernel_size, m.stride, m.padding, m.dilation, padding_mode=m.padding_mode, **kw)
    return attach_mask(conv, w, b, mask, like=m)


def _copied_norm(norm: nn.Module, alpha: int) -> nn.Module:
    """A copy of a ``BatchNorm`` whose per-channel parameters and statistics are repeated for the children."""
    return _widen_norm(copy.deepcopy(norm), norm, alpha)  # eps, momentum, num_batches_tracked


def _widen_norm(new: nn.Module, norm: nn.Module, alpha: int) -> nn.Module:
    """``new`` (``norm`` or its copy) with ``norm``'s per-channel entries repeated for the children, in place."""
    new.num_features = norm.num_features * alpha
    for name in ("weight", "bias", "running_mean", "running_var"):
        p = getattr(norm, name)
        if p is not None:
            t = p.detach().repeat_interleave(alpha)
            setattr(new, name, nn.Parameter(t, requires_grad=p.requires_grad) if isinstance(p, nn.Parameter) else t)
    return new
