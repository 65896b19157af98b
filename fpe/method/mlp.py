"""The models FPE is applied to: ``nn.Sequential`` MLPs of ``Linear`` layers with elementwise
activations between them (the paper, as we read it, section 2), their layers, masks and PyTorch's
default initialisation drawn from a generator.

Two checkers: :func:`check_mlp`, the strict ``Linear, ReLU, ..., Linear`` form that the trainers of
:mod:`fpe.training` pack, and :func:`check_sequential`, the looser form that :func:`fpe.expand`
accepts: any elementwise activations and ``Dropout`` between ``Linear`` layers (:data:`ELEMENTWISE`),
and an optional leading ``Flatten``. FPE splits a hidden unit's incoming weights and copies its
outgoing ones; a module applied to each hidden unit on its own is unaffected by that, a module
that mixes the hidden units (a norm, a softmax over features) is not.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

__all__ = ["ELEMENTWISE", "init_mlp", "check_mlp", "check_sequential", "check_class", "check_finite", "linear_layers", "weight_masks"]

#: Modules that act on every unit on its own, with no per-unit parameters (accepted between ``Linear``
#: layers by :func:`check_sequential`); ``PReLU`` only with one shared slope.
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
               nn.Tanhshrink, nn.Hardshrink, nn.Softshrink, nn.LogSigmoid, nn.Threshold, nn.Identity,
               nn.Dropout, nn.AlphaDropout)
_MIXING = (nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.GLU)
_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.batchnorm._NormBase, nn.RMSNorm)


def init_mlp(sizes: Sequence[int], generator: torch.Generator | None = None) -> nn.Sequential:
    """A fresh ``Sequential(Linear, ReLU, ..., Linear)`` with PyTorch's default ``Linear`` init.

    PyTorch's default is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases; drawing it from
    ``generator`` makes every model's init depend only on its own seed.
    """
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        lin = nn.Linear(fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=generator)
            lin.bias.uniform_(-bound, bound, generator=generator)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def linear_layers(model: nn.Sequential) -> list[nn.Linear]:
    """The ``Linear`` layers of an MLP, in order."""
    return [m for m in model if isinstance(m, nn.Linear)]


def weight_masks(model: nn.Sequential) -> list[torch.Tensor | None]:
    """The ``weight_mask`` buffer of each ``Linear`` (``None`` where the layer is not masked)."""
    return [getattr(lin, "weight_mask", None) for lin in linear_layers(model)]


def check_finite(layers: Iterable[tuple[object, nn.Linear]]) -> None:
    """Raise ``ValueError`` naming the layer if a weight or bias of ``(label, Linear)`` is not finite."""
    for label, lin in layers:
        for name, t in (("weight", lin.weight), ("bias", lin.bias)):
            if t is not None and not torch.isfinite(t.detach()).all():
                raise ValueError(f"model has non-finite values in the {name} of layer {label}; FPE needs finite weights")


def _check_chain(layers: list[tuple[int, nn.Linear]]) -> list[nn.Linear]:
    for (i, a), (j, b) in zip(layers, layers[1:]):
        if a.out_features != b.in_features:
            raise ValueError(f"model layer {i} has {a.out_features} outputs but layer {j} takes {b.in_features}")
    check_finite(layers)
    return [lin for _, lin in layers]


def check_mlp(model) -> list[nn.Linear]:
    """Raise ``ValueError`` unless ``model`` is ``Sequential(Linear, ReLU, Linear[, ReLU, Linear ...])``.

    Also rejects non-finite weights or biases and mismatched layer sizes. This is the strict form
    the trainers of :mod:`fpe.training` pack; :func:`check_sequential` is what :func:`fpe.expand` accepts.
    """
    allowed = "an nn.Sequential alternating Linear and ReLU: Linear, ReLU, Linear[, ReLU, Linear, ...]"
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be {allowed}; got {type(model).__name__}")
    layers = list(model)
    kinds = [type(m) for m in layers]
    ok = len(layers) >= 3 and len(layers) % 2 == 1
    ok = ok and all(k is (nn.Linear if i % 2 == 0 else nn.ReLU) for i, k in enumerate(kinds))
    if not ok:
        names = ", ".join(k.__name__ for k in kinds) or "(empty)"
        raise ValueError(f"model must be {allowed} with at least one hidden layer; got {names}")
    return _check_chain(list(enumerate(layers))[0::2])


def _why_not_elementwise(m: nn.Module) -> str | None:
    """``None`` if ``m`` acts on every hidden unit on its own, else the reason it does not."""
    if isinstance(m, nn.PReLU) and m.num_parameters != 1:
        return "it has one slope per unit, a per-unit parameter that FPE would have to copy to the children"
    if isinstance(m, ELEMENTWISE):
        return None
    if isinstance(m, _NORMS):
        return "it normalises over the units with per-unit statistics or parameters, so it is not elementwise"
    if isinstance(m, _MIXING):
        return "it mixes the units (an operation over the feature dimension), so it is not elementwise"
    accepted = ", ".join(k.__name__ for k in ELEMENTWISE)
    return f"it is not a known elementwise module (accepted between Linear layers: {accepted})"


def check_sequential(model) -> list[tuple[int, nn.Linear]]:
    """The ``(index, Linear)`` layers of an ``nn.Sequential`` that :func:`fpe.expand` accepts.

    Accepted: ``[Flatten,] Linear, *elementwise, Linear[, *elementwise, Linear ...][, *elementwise]``
    with at least two ``Linear`` layers, any number of :data:`ELEMENTWISE` modules (activations,
    ``Dropout``) anywhere, and ``Flatten`` only before the first ``Linear``. Raises ``ValueError``
    naming the module index, its type and why it is not accepted; also for mismatched sizes and
    non-finite weights. Architectures of other shapes: :func:`fpe.expand_layers`; CNNs: :func:`fpe.expand_cnn`.
    """
    fix = "FPE on an nn.Sequential needs Linear layers with only elementwise modules between them; " \
          "for a Sequential CNN (Conv2d layers) use fpe.expand_cnn; for other architectures name the layers with fpe.expand_layers"
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential of Linear layers and elementwise modules; "
                         f"got {type(model).__name__} ({fix})")
    layers: list[tuple[int, nn.Linear]] = []
    for i, m in enumerate(model):
        if isinstance(m, nn.Linear):
            layers.append((i, m))
            continue
        why = _why_not_elementwise(m)
        if isinstance(m, nn.Flatten):
            why = None if not layers else "a Flatten is accepted only before the first Linear"
        if why is not None:
            raise ValueError(f"model module {i} ({type(m).__name__}) cannot be expanded: {why}; {fix}")
    if len(layers) < 2:
        names = ", ".join(type(m).__name__ for m in model) or "(empty)"
        raise ValueError(f"model must have at least two Linear layers (one hidden layer); got {names}")
    _check_chain(layers)
    return layers


def check_class(model) -> None:
    """Refuse an ``nn.Sequential`` subclass with its own ``forward``: the chain cannot be checked."""
    if isinstance(model, nn.Sequential) and type(model).forward is not nn.Sequential.forward:
        raise ValueError(f"model is a {type(model).__name__}, an nn.Sequential subclass with its own forward: FPE "
                         "cannot know that it applies its modules in order; expand a plain nn.Sequential of the same "
                         "modules, or name the Linear pairs with fpe.expand_layers")
