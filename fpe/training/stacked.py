"""The reference trainer: many small MLPs of one shape as one batched tensor program (an
``instances`` dimension), trained with Adam and fixed masks (the paper, as we read it, section 3).

:class:`StackedMLP` holds ``I`` MLPs of identical shape, in the style of Anthropic's *Toy Models of
Superposition* notebook. Shapes: weights ``(instances, out, in)``, biases ``(instances, out)``,
inputs ``(instances, batch, d_in)``. A weight may carry a fixed 0/1 mask of the same shape (FPE's
sparsity pattern, section 2 step 5).

:class:`Trainer` trains a stack on ``S`` datasets (instance ``i`` reads dataset ``data_index[i]``, so
every variant of one seed sees the same data in the same minibatch order). The loss is the sum over
instances of each instance's mean loss, so the gradient of instance ``i`` is exactly its own; Adam
is elementwise, so one ``torch.optim.Adam`` over the stacked tensors is ``I`` independent Adam runs
(``tests/test_train.py`` checks this against a plain ``nn.Module`` + ``torch.optim.Adam`` loop).
After every step the masks are re-applied, so pruned weights stay exactly zero.

Loss: binary cross-entropy on a sigmoid output when the model has one output (the Boolean task),
cross-entropy otherwise. The fast trainer of the Boolean chapters is :mod:`fpe.training.concat`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..metrics import accuracy
from ..method.mlp import check_mlp, init_mlp, linear_layers

__all__ = ["StackedMLP", "Trainer", "batch_order", "loss_per_instance"]


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

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, data_index: torch.Tensor | None = None, *,
                 chunk: int = 8192) -> torch.Tensor:
        """Accuracy (%) ``(I,)`` of each instance on its dataset: ``x (S, N, d)``, ``y (S, N)``
        (:func:`fpe.metrics.accuracy`)."""
        di = (torch.arange(self.instances) if data_index is None else data_index).to(x.device)
        n = x.shape[1]
        return accuracy(((self(x[:, a:a + chunk][di]), y[:, a:a + chunk][di]) for a in range(0, n, chunk)), n)

    def nonzeros(self) -> torch.Tensor:
        """Non-zero weights per instance (biases not counted), ``(I,)`` long."""
        return sum(torch.count_nonzero(w.detach(), dim=(1, 2)) for w in self.weights)

    def state(self, sel: torch.Tensor | slice = slice(None)) -> dict:
        """The selected instances' ``weights``, ``biases`` and ``masks`` (one entry per layer, leading
        instance axis; ``None`` for an unmasked layer), detached copies on the CPU: the form in which a
        run keeps trained models (``StackedMLP(**state)`` rebuilds them)."""
        return {"weights": [w.detach()[sel].cpu().clone() for w in self.weights],
                "biases": [b.detach()[sel].cpu().clone() for b in self.biases],
                "masks": [None if self.mask(i) is None else self.mask(i)[sel].cpu().clone() for i in range(len(self.weights))]}

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
            seq = init_mlp(self.sizes).to(self.weights[0].device)
            for i, lin in enumerate(linear_layers(seq)):
                with torch.no_grad():
                    lin.weight.copy_(self.weights[i][k])
                    lin.bias.copy_(self.biases[i][k])
                if self.masked[i]:
                    prune.custom_from_mask(lin, "weight", self.mask(i)[k].clone())
            out.append(seq)
        return out


def batch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """The order in which one epoch visits ``n`` samples (a fresh permutation per epoch)."""
    return torch.randperm(n, generator=generator)


def loss_per_instance(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each instance: ``logits (I, B, C)``, ``y (I, B)`` -> ``(I,)``."""
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.to(logits.dtype), reduction="none").mean(1)
    i, b, c = logits.shape
    return F.cross_entropy(logits.reshape(i * b, c), y.reshape(-1).long(), reduction="none").view(i, b).mean(1)


class Trainer:
    """Adam on a stack of models; call :meth:`fit` repeatedly to continue with the same optimiser state.

    Args:
        model: the stacked models (masks, if any, are kept fixed).
        x: training inputs ``(S, N, d)``; y: targets ``(S, N)``.
        data_index: ``(I,)`` dataset of each instance (default: instance ``i`` reads dataset ``i``).
        lr: Adam learning rate; batch_size: minibatch size (the last batch of an epoch may be smaller).
    """

    def __init__(self, model: StackedMLP, x: torch.Tensor, y: torch.Tensor, data_index: torch.Tensor | None = None, *, lr: float, batch_size: int):
        if x.ndim != 3 or y.shape != x.shape[:2]:
            raise ValueError(f"x must be (S, N, d) and y (S, N); got x {tuple(x.shape)}, y {tuple(y.shape)}")
        if data_index is None:
            data_index = torch.arange(model.instances)
        data_index = torch.as_tensor(data_index, dtype=torch.long)
        if data_index.shape != (model.instances,) or data_index.min() < 0 or data_index.max() >= x.shape[0]:
            raise ValueError(f"data_index must hold one dataset index in 0..{x.shape[0] - 1} per instance ({model.instances})")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.model, self.x, self.y, self.data_index = model, x, y, data_index.to(x.device)
        self.batch_size = batch_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.epochs_done = 0

    def fit(self, epochs: int, order_generators: Sequence[torch.Generator], *, progress: bool = False, desc: str = "train",
            on_epoch: Callable[[int], None] | None = None) -> None:
        """Train ``epochs`` epochs; ``order_generators[s]`` draws dataset ``s``'s minibatch order.
        ``on_epoch(epochs_done)``, when given, is called after every epoch (e.g. to record a learning
        curve; it must draw no random numbers and leave the model alone)."""
        s, n, _ = self.x.shape
        if len(order_generators) != s:
            raise ValueError(f"order_generators needs one generator per dataset ({s}), got {len(order_generators)}")
        rows = torch.arange(s, device=self.x.device).unsqueeze(1)
        model, opt, di = self.model, self.optimizer, self.data_index
        for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
            perm = torch.stack([batch_order(n, g) for g in order_generators]).to(self.x.device)  # (S, N), drawn on the CPU
            for start in range(0, n, self.batch_size):
                idx = perm[:, start : start + self.batch_size]
                xb = self.x[rows, idx][di]  # (I, B, d)
                yb = self.y[rows, idx][di]  # (I, B)
                loss = loss_per_instance(model(xb), yb).sum()
                opt.zero_grad(set_to_none=False)
                loss.backward()
                model.mask_grads()
                opt.step()
                model.apply_masks()
            self.epochs_done += 1
            if on_epoch is not None:
                on_epoch(self.epochs_done)
