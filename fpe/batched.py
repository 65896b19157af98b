"""Many small MLPs as one batched tensor program (an ``instances`` dimension).

Used by the trainer (:mod:`fpe.train`) for every experiment of the paper: seeds x variants x widths
of the same shape are stacked, in the style of Anthropic's *Toy Models of Superposition* notebook.
Shapes: weights ``(instances, out, in)``, biases ``(instances, out)``, inputs
``(instances, batch, d_in)``. A weight may carry a fixed 0/1 mask of the same shape (FPE's sparsity
pattern, PAPER.md section 2 step 5).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .expand import check_mlp, linear_layers

__all__ = ["StackedMLP", "init_mlp"]


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


class StackedMLP(nn.Module):
    """``I`` MLPs of identical shape trained as one: ``forward(x (I, B, d)) -> logits (I, B, C)``."""

    def __init__(self, weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], masks: Sequence[torch.Tensor | None] | None = None):
        super().__init__()
        if masks is None:
            masks = [None] * len(weights)
        self.weights = nn.ParameterList([nn.Parameter(w.detach().clone().contiguous()) for w in weights])
        self.biases = nn.ParameterList([nn.Parameter(b.detach().clone().contiguous()) for b in biases])
        self.masked = [m is not None for m in masks]
        for i, m in enumerate(masks):
            if m is not None:
                self.register_buffer(f"mask{i}", m.detach().clone().to(weights[i].dtype).contiguous())
        self.apply_masks()

    @property
    def instances(self) -> int:
        return self.weights[0].shape[0]

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[2]] + [w.shape[1] for w in self.weights]

    def mask(self, i: int) -> torch.Tensor | None:
        return getattr(self, f"mask{i}") if self.masked[i] else None

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the pruned weights (called after every optimiser step)."""
        for i, w in enumerate(self.weights):
            if self.masked[i]:
                w.mul_(self.mask(i))

    def mask_grads(self) -> None:
        """Zero the gradients of pruned weights (so Adam's moments stay zero there)."""
        for i, w in enumerate(self.weights):
            if self.masked[i] and w.grad is not None:
                w.grad.mul_(self.mask(i))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (I, B, d)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # (I, B, out)
            if i < last:
                h = torch.relu(h)
        return h

    def nonzeros(self) -> torch.Tensor:
        """Non-zero weights per instance (biases not counted), ``(I,)`` long."""
        return sum(torch.count_nonzero(w.detach(), dim=(1, 2)) for w in self.weights)

    @classmethod
    def from_sequentials(cls, models: Sequence[nn.Sequential]) -> "StackedMLP":
        """Stack MLPs of one shape; ``weight_mask`` buffers (from :func:`fpe.expand`) become masks."""
        if not models:
            raise ValueError("models must be a non-empty list of nn.Sequential MLPs")
        per_model = [check_mlp(m) for m in models]
        shapes = {tuple(tuple(l.weight.shape) for l in lins) for lins in per_model}
        if len(shapes) != 1:
            raise ValueError(f"models must all have the same layer shapes to be stacked, got {sorted(shapes)}")
        n_layers = len(per_model[0])
        weights = [torch.stack([lins[i].weight.detach() for lins in per_model]) for i in range(n_layers)]
        biases = [torch.stack([lins[i].bias.detach() for lins in per_model]) for i in range(n_layers)]
        masks = []
        for i in range(n_layers):
            ms = [getattr(lins[i], "weight_mask", None) for lins in per_model]
            if all(m is None for m in ms):
                masks.append(None)
            else:
                masks.append(torch.stack([torch.ones_like(lins[i].weight) if m is None else m for m, lins in zip(ms, per_model)]))
        return cls(weights, biases, masks)

    def to_sequentials(self) -> list[nn.Sequential]:
        """One ``nn.Sequential`` per instance, with ``weight_mask`` attached where masked."""
        from torch.nn.utils import prune

        out = []
        for k in range(self.instances):
            seq = init_mlp(self.sizes)
            for i, lin in enumerate(linear_layers(seq)):
                with torch.no_grad():
                    lin.weight.copy_(self.weights[i][k])
                    lin.bias.copy_(self.biases[i][k])
                if self.masked[i]:
                    prune.custom_from_mask(lin, "weight", self.mask(i)[k].clone())
            out.append(seq)
        return out
