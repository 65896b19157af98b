"""FPE on any ``nn.Module`` by layer name: producer/consumer pairs of ``Linear`` layers (the paper, as we read it, section 2).

The paper expands the hidden layers of MLPs. Applying FPE to arbitrary modules and to pretrained
transformers is the paper's stated future work ("automated methods for FPE implementation in
existing models", "FPE as a refinement step on pretrained large models"); :func:`expand_layers` is
this companion's tool for it **[house]**, in the style of ``torch.nn.utils.prune``: you name the
layers, it reparametrises them with fixed masks (``weight_orig``, ``weight_mask``).

A *pair* is ``(producer, consumer)``: the producer ``Linear``'s output units are the hidden neurons
(parents), the consumer ``Linear`` reads them (after any elementwise activation). The steps are those
of :func:`fpe.expand` (:mod:`fpe.method.expand`): every parent becomes ``alpha`` children that partition its
incoming weights disjointly by the split rule and copy its bias and its consumer column; then one
magnitude prune over the expanded layers restores exactly their original non-zero count. Gated
blocks (SwiGLU: ``down(silu(gate(x)) * up(x))``) name several producers that share one split,
``(("gate_proj", "up_proj"), "down_proj")``: child ``k`` of parent ``p`` keeps the same inputs in
every producer, so the gate and the value of a child still match.

Channel FPE by name **[house]**: a pair of ``Conv2d`` layers (``groups=1``), e.g. the two convolutions of
a ResNet basic block ``conv1 -> bn1 -> relu -> conv2`` with its skip connection, is expanded as
:func:`fpe.expand_cnn` expands a ``Sequential`` CNN: every filter of the producer becomes ``alpha``
children that partition its ``in_channels*kh*kw`` weights, the ``BatchNorm2d`` layers on the way (found
on the traced graph) copy their per-channel entries to the children, the consumer copies the parent's
input-channel slice; the skip path and the consumer's output width are untouched.

Which modules read a layer's output cannot be known from the module tree. :func:`expand_layers` traces
the model with ``torch.fx`` (:mod:`fpe.method.verify`) and refuses a pair whose hidden units are read
by anything besides elementwise operations and the named consumers (a residual, a norm, attention) or
whose consumer does not read them (a reversed pair); where the model cannot be traced it warns
(``verify=False`` silences it). ``check_inputs=example`` also runs both models on an example input and
raises if a named layer does not run or the expanded model fails (a necessary check, not a proof).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn

from .pruning import (Pair, attach_mask, copies_masks, warn_dead, check_alpha, check_layers, check_materialised, check_split_args, copy_module,
                      effective_weights, global_magnitude_masks, split_pairs)
from .mlp import check_finite
from .splits import SplitRule
from .verify import UnverifiedPairsWarning, verify_by_running, verify_pairs

__all__ = ["expand_layers", "resolve_pairs", "PRUNES"]

PRUNES = ("global", "per_pair", "copies")


def expand_layers(model: nn.Module, alpha: int, split: str | SplitRule = "random", *,
                  pairs: Sequence[tuple[str | Sequence[str], str | Sequence[str]]], groups: Sequence[Sequence[int]] | None = None,
                  generator: torch.Generator | None = None, prune: str = "global", inplace: bool = False,
                  check_inputs=None, verify: bool | None = None) -> nn.Module:
    """Fixed Parameter Expansion of named producer/consumer ``Linear`` (or ``Conv2d``) pairs of any module
    (the paper, as we read it, section 2).

    Args:
        model: any ``nn.Module``, on any device. Existing pruning masks of the named layers are
            honoured (the effective weights are used) and replaced.
        alpha, split, groups, generator: as in :func:`fpe.expand`; ``groups`` (clause split) must
            partition the inputs of every producer that does not read an expanded layer.
        pairs: ``[(producer, consumer), ...]`` module names (``model.named_modules()``), e.g.
            ``[("mlp.fc1", "mlp.fc2")]``; a producer may be a tuple of names sharing one split (gated
            blocks), a consumer too (several layers reading the hidden units). Pairs may chain
            (``fc1 -> fc2``, ``fc2 -> fc3``), as the hidden layers of :func:`fpe.expand` do. A pair of
            ``Conv2d`` layers is channel FPE (module docstring); the ``BatchNorm2d`` layers between them are
            widened too (they must be called only on the producer's output), which needs the traced graph.
        prune: ``"global"`` (one magnitude prune over all expanded layers together), ``"per_pair"``
            (one per pair, for pairs that share no layer); either keeps the total non-zero count and may
            remove incoming weights anywhere (the smallest ones). ``"copies"``: remove only the surplus
            copies of the consumers' weights (:func:`fpe.method.pruning.copies_masks`), so every layer
            keeps its own count and the split incoming weights all stay; warns
            (``RuntimeWarning``) if a child is left with no incoming weight.
        inplace: modify ``model`` itself instead of a deep copy.
        check_inputs: optional example input (a tensor, a tuple of positional arguments or a dict of
            keyword arguments): every named layer must run on it, and the expanded model must run on it
            (with ``inplace``, a failed check leaves ``model`` expanded).
        verify: check the pairs on the model's graph (:func:`fpe.method.verify.verify_pairs`, ``torch.fx``):
            every producer's output must reach its consumers through elementwise operations only, and
            nothing else may read it; a reversed pair (``("fc2", "fc1")``), a residual or a norm reading
            the hidden units is a ``ValueError`` naming the layer and the operation. Where ``torch.fx``
            cannot trace the model and ``check_inputs`` is given, the producers' outputs are followed
            through a real forward pass on it instead (:func:`fpe.method.verify.verify_by_running`).
            ``None`` (default): where neither is possible, warn (:class:`fpe.method.verify.UnverifiedPairsWarning`,
            naming what was not checked) and go on; ``True``: raise instead; ``False``: no check, no warning
            (you vouch for the pairs).

    Returns:
        The expanded model (``model`` itself if ``inplace``): the named layers are wider, carry a
        ``weight_mask``, and their non-zero count is the original one.

    Raises:
        ValueError: naming the layer, for an unknown name, a module that is not ``nn.Linear``, shapes
        that are not a producer/consumer pair, ``alpha`` above a producer's fan-in, a layer in two
        pairs of one role, non-finite weights, or a failed ``check_inputs``.
    """
    alpha = check_alpha(alpha)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be True or False, got {inplace!r}")
    if verify not in (None, True, False):
        raise TypeError(f"verify must be None, True or False, got {verify!r}")
    check_materialised(model)
    groups = check_split_args(alpha, split, groups, generator)
    if prune not in PRUNES:
        raise ValueError(f"prune must be one of {PRUNES}, got {prune!r}")
    linears, pairs = resolve_pairs(model, pairs)
    blocks = [list(linears)] if prune in ("global", "copies") else [[n for n in linears if n in {*p, *c}] for p, c in pairs]
    shared = {n for n in linears if sum(n in b for b in blocks) > 1}
    if shared:
        raise ValueError(f"prune='per_pair' needs pairs that share no layer; {sorted(shared)[0]!r} is in two pairs "
                         "(use prune='global')")
    convs = [p for p, _ in pairs if isinstance(linears[p[0]], nn.Conv2d)]
    if convs and prune == "copies":
        raise ValueError("prune='copies' is for Linear pairs; Conv2d pairs (channel FPE) take prune='global' or 'per_pair'")
    norms: dict[str, list[str]] = {}
    if convs and verify is False:
        raise ValueError(f"Conv2d pairs (channel FPE, producer {convs[0][0]!r}) need the traced graph to find the BatchNorm2d "
                         "layers between producer and consumer; leave verify at None or True")
    if verify is not False:
        reason = verify_pairs(model, pairs, norms)
        if reason and check_inputs is not None and not convs:  # follow the real data flow instead
            verify_by_running(model, check_inputs, pairs)
            reason = None
        if reason and convs:
            raise ValueError(f"Conv2d pairs (channel FPE) need the traced graph to find the BatchNorm2d layers between "
                             f"producer and consumer, but {reason}")
        if reason and verify:
            raise ValueError(f"verify=True, but the pairs could not be checked on the model's graph: {reason}")
        if reason:
            warnings.warn(f"fpe.expand_layers could not verify that each producer's output reaches only its named consumers "
                          f"through elementwise operations ({reason}). Make sure nothing else (a residual, a norm, "
                          "attention) reads the hidden units: check_inputs only runs the model; pass verify=False to "
                          "vouch for the pairs and silence this warning", UnverifiedPairsWarning, stacklevel=2)
    if check_inputs is not None:
        _run(model, check_inputs, linears, "the model")
    weights, biases = effective_weights(linears)
    n_keep = [sum(int(torch.count_nonzero(weights[n])) for n in block) for block in blocks]
    split_pairs(weights, biases, pairs, alpha, split, groups=groups, generator=generator)
    out = model if inplace else copy_module(model)
    modules = dict(out.named_modules())
    if prune == "copies":
        masks = copies_masks(weights, pairs, alpha)
        warn_dead(weights, masks, pairs)
        for name in linears:
            attach_mask(modules[name], weights[name], biases[name], masks[name])
        blocks = []
    for block, n in zip(blocks, n_keep):
        for name, mask in zip(block, global_magnitude_masks([weights[m] for m in block], n)):
            attach_mask(modules[name], weights[name], biases[name], mask)
    if any(norms.values()):
        from .conv import _widen_norm

        for name in {n for found in norms.values() for n in found}:
            _widen_norm(modules[name], modules[name], alpha)
    if check_inputs is not None:
        _run(out, check_inputs, linears, "the expanded model")
    return out


def _names(x, role: str) -> tuple[str, ...]:
    names = (x,) if isinstance(x, str) else tuple(x) if isinstance(x, (tuple, list)) else ()
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"a pair's {role} must be a layer name or a tuple of names, got {x!r}")
    return names


def resolve_pairs(model: nn.Module, pairs) -> tuple[dict[str, nn.Linear], list[Pair]]:
    """Validate ``pairs`` on ``model``: the named ``Linear`` layers (in module order) and the pairs as
    ``(producers, consumers)`` name tuples in dependency order. Raises ``ValueError`` naming the layer."""
    if isinstance(pairs, str) or not isinstance(pairs, (list, tuple)) or not pairs:
        raise ValueError(f"pairs must be a non-empty list of (producer, consumer) layer names, got {pairs!r}")
    modules = dict(model.named_modules())
    out: list[Pair] = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"each pair must be (producer, consumer), got {pair!r}")
        prod, cons = _names(pair[0], "producer"), _names(pair[1], "consumer")
        for n in (*prod, *cons):
            if n not in modules:
                known = [k for k, m in modules.items() if isinstance(m, (nn.Linear, nn.Conv2d))]
                more = " ..." if len(known) > 8 else ""
                raise ValueError(f"no module named {n!r} in the model; its Linear and Conv2d layers are {known[:8]}{more}")
            if not isinstance(modules[n], (nn.Linear, nn.Conv2d)):
                raise ValueError(f"layer {n!r} is a {type(modules[n]).__name__}, not an nn.Linear or nn.Conv2d: "
                                 "producers and consumers must be Linear layers (or Conv2d layers, channel FPE)")
            if isinstance(modules[n], nn.Conv2d) and modules[n].groups != 1:
                raise ValueError(f"layer {n!r} is a grouped or depthwise Conv2d (groups={modules[n].groups}): a filter reads "
                                 "only some input channels, so the children of a channel cannot be copied into every filter")
        first = modules[prod[0]]
        for n in (*prod[1:], *cons):
            if type(modules[n]) is not type(first) and not (isinstance(modules[n], nn.Linear) and isinstance(first, nn.Linear)):
                raise ValueError(f"layer {n!r} is a {type(modules[n]).__name__} but producer {prod[0]!r} is a "
                                 f"{type(first).__name__}: a pair is Linear -> Linear or Conv2d -> Conv2d")
        for n in prod[1:]:
            if modules[n].weight.shape != first.weight.shape:
                raise ValueError(f"producers {prod[0]!r} and {n!r} share one split, so they need the same shape; "
                                 f"got {tuple(first.weight.shape)} and {tuple(modules[n].weight.shape)}")
        for n in cons:
            n_in, n_out = modules[n].weight.shape[1], first.weight.shape[0]
            if n_in != n_out or n in prod:
                raise ValueError(f"producer {prod[0]!r} has {n_out} outputs but consumer {n!r} takes "
                                 f"{n_in} inputs{' and is a producer of the same pair' if n in prod else ''}: "
                                 "not a producer/consumer pair")
        out.append((prod, cons))
    for role, k in (("producer", 0), ("consumer", 1)):
        seen = [n for pair in out for n in pair[k]]
        twice = sorted({n for n in seen if seen.count(n) > 1})
        if twice:
            raise ValueError(f"layer {twice[0]!r} is a {role} in more than one pair")
    linears = {n: m for n, m in modules.items() if any(n in p or n in c for p, c in out)}
    check_layers(model, linears.items())
    check_finite(linears.items())
    return linears, _dependency_order(out)


def _dependency_order(pairs: list[Pair]) -> list[Pair]:
    """Pairs whose producers read an earlier pair's consumer input come after it (stable otherwise)."""
    source = {n: k for k, (_, cons) in enumerate(pairs) for n in cons}  # layer -> pair whose children it reads
    for prod, _ in pairs:
        if len({source.get(n) for n in prod}) > 1:
            raise ValueError(f"producers {list(prod)} of one pair must all read the same input, expanded by the same pair or by none")
    order, remaining = [], list(range(len(pairs)))
    while remaining:
        ready = [k for k in remaining if source.get(pairs[k][0][0]) not in remaining]
        if not ready:
            raise ValueError(f"pairs {[pairs[k] for k in remaining]} form a cycle")
        order.append(ready[0])
        remaining.remove(ready[0])
    return [pairs[k] for k in order]


def _run(model: nn.Module, example, names, what: str) -> None:
    """Run ``model`` on ``example`` in eval mode without gradients (modes restored); every module
    in ``names`` must run."""
    modules = dict(model.named_modules())
    ran: set[str] = set()
    hooks = [modules[n].register_forward_pre_hook(lambda mod, args, n=n: ran.add(n)) for n in names]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            model(*example) if isinstance(example, tuple) else model(**example) if isinstance(example, dict) else model(example)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"check_inputs: {what} fails on the example input ({exc}); if the expanded model fails, something "
                         "besides the named consumers reads the producers' outputs (a residual, a norm, attention?)") from exc
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    missing = [n for n in names if n not in ran]
    if missing:
        raise ValueError(f"check_inputs: layer {missing[0]!r} does not run when {what} is called on the example input")
