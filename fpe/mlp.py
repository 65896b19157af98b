"""The models FPE is applied to: ``nn.Sequential`` MLPs of ``Linear`` and ``ReLU`` (the paper, as we
read it, section 2), their layers, masks and PyTorch's default initialisation drawn from a generator.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["init_mlp", "check_mlp", "linear_layers", "weight_masks"]


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


def check_mlp(model) -> list[nn.Linear]:
    """Raise ``ValueError`` unless ``model`` is ``Sequential(Linear, ReLU, Linear[, ReLU, Linear ...])``.

    Also rejects non-finite weights or biases and mismatched layer sizes.
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
    linears = layers[0::2]
    for i, (a, b) in enumerate(zip(linears, linears[1:])):
        if a.out_features != b.in_features:
            raise ValueError(f"model layer {2 * i} has {a.out_features} outputs but layer {2 * i + 2} takes {b.in_features}")
    for i, lin in enumerate(linears):
        for name, t in (("weight", lin.weight), ("bias", lin.bias)):
            if t is not None and not torch.isfinite(t.detach()).all():
                raise ValueError(f"model has non-finite values in the {name} of layer {2 * i}; FPE needs finite weights")
    return linears
