"""Batched training with Adam and fixed masks (the paper's training procedure, PAPER.md section 3).

:class:`Trainer` trains a :class:`~fpe.batched.StackedMLP` of ``I`` instances on ``S`` datasets
(instance ``i`` reads dataset ``data_index[i]``, so every variant of one seed sees the same data in
the same minibatch order). The loss is the sum over instances of each instance's mean loss, so the
gradient of instance ``i`` is exactly its own; Adam is elementwise, so one ``torch.optim.Adam`` over
the stacked tensors is ``I`` independent Adam runs (``tests/test_train.py`` checks this against a
plain ``nn.Module`` + ``torch.optim.Adam`` loop). After every step the masks are re-applied, so
pruned weights stay exactly zero.

Loss: binary cross-entropy on a sigmoid output when the model has one output (the Boolean task),
cross-entropy otherwise.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .batched import StackedMLP

__all__ = ["Trainer", "batch_order", "evaluate", "loss_per_instance"]


def batch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """The order in which one epoch visits ``n`` samples (a fresh permutation per epoch)."""
    return torch.randperm(n, generator=generator)


def loss_per_instance(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each instance: ``logits (I, B, C)``, ``y (I, B)`` -> ``(I,)``."""
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.to(logits.dtype), reduction="none").mean(1)
    i, b, c = logits.shape
    return F.cross_entropy(logits.reshape(i * b, c), y.reshape(-1).long(), reduction="none").view(i, b).mean(1)


@torch.no_grad()
def evaluate(model: StackedMLP, x: torch.Tensor, y: torch.Tensor, data_index: torch.Tensor, *, chunk: int = 8192) -> torch.Tensor:
    """Accuracy (%) of each instance on its dataset: ``x (S, N, d)``, ``y (S, N)`` -> ``(I,)``."""
    correct = torch.zeros(model.instances, dtype=torch.float64)
    n = x.shape[1]
    for start in range(0, n, chunk):
        xb = x[:, start : start + chunk][data_index]
        yb = y[:, start : start + chunk][data_index]
        logits = model(xb)
        if logits.shape[-1] == 1:
            pred = (logits.squeeze(-1) > 0).to(yb.dtype)
        else:
            pred = logits.argmax(-1).to(yb.dtype)
        correct += (pred == yb).sum(1).to(torch.float64)
    return 100.0 * correct / n


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
        self.model, self.x, self.y, self.data_index = model, x, y, data_index
        self.batch_size = batch_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.epochs_done = 0

    def fit(self, epochs: int, order_generators: Sequence[torch.Generator], *, progress: bool = False, desc: str = "train") -> None:
        """Train ``epochs`` epochs; ``order_generators[s]`` draws dataset ``s``'s minibatch order."""
        s, n, _ = self.x.shape
        if len(order_generators) != s:
            raise ValueError(f"order_generators needs one generator per dataset ({s}), got {len(order_generators)}")
        rows = torch.arange(s).unsqueeze(1)
        model, opt, di = self.model, self.optimizer, self.data_index
        for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
            perm = torch.stack([batch_order(n, g) for g in order_generators])  # (S, N)
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
