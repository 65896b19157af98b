"""Training with masks that change: DropConnect and prune-and-regrow, on the reference trainer (the
paper, as we read it, section 7, items 4 and 6).

:class:`DynamicTrainer` is :class:`fpe.training.stacked.Trainer` (a stack of models, one Adam, the
same data, minibatch order and loss) with two per-instance options:

- ``keep`` ``(I,)``: DropConnect keep rate (1 = none). Every step draws a fresh 0/1 mask per weight
  (:func:`fpe.method.sparsity.dropconnect_masks`) and the forward pass uses ``w * mask / keep`` (inverted
  DropConnect: the rescaling happens at training time, so the test-time net uses the full weights
  unchanged). Gradients reach only the kept weights of the step.
- ``regrow`` (one of ``None``, ``"set"``, ``"rigl"`` per instance): every ``every`` steps, up to
  step ``stop``, each masked layer of the instance drops and regrows a ``fraction`` of its active
  weights (:func:`fpe.method.sparsity.regrow`; RigL scores the dense gradient of that step's minibatch);
  grown weights start at zero with their Adam moments reset. The masks stay exact in count.

The fused native trainer (:mod:`fpe.training.concat`) has fixed masks only, so the chapters run
these controls on this reference trainer.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..method.sparsity import REGROW, dropconnect_masks, regrow
from .stacked import StackedMLP, Trainer, batch_order, loss_per_instance

__all__ = ["DynamicTrainer", "forward_weights"]


def forward_weights(model: StackedMLP, x: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The stack's forward pass (:meth:`StackedMLP.forward`) with other weights: ``x (I, B, d)``."""
    h = x
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, model.biases)):
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < last:
            h = torch.relu(h)
    return h


class DynamicTrainer(Trainer):
    """:class:`~fpe.training.stacked.Trainer` with per-instance DropConnect and moving masks (module docstring).

    Args:
        model, x, y, data_index, lr, batch_size: as for the Trainer.
        keep: ``(I,)`` DropConnect keep rates in (0, 1] (default: all 1, no DropConnect); may be
            changed between :meth:`fit` calls (``self.keep``).
        regrow: per instance ``None``, ``"set"`` or ``"rigl"`` (default: all fixed); instances that
            move need masks on every layer.
        every: steps between mask updates.
        fraction: share of each layer's active weights moved per update.
        stop: no updates from this step on (counted over all fit calls; ``None``: never stop).
        generator: CPU generator of the DropConnect masks and the SET regrowth: one for the whole stack,
            or a sequence of one per instance, so that each instance's draws come from its own stream
            and its result does not depend on which other instances share the stack.
    """

    def __init__(self, model: StackedMLP, x: torch.Tensor, y: torch.Tensor, data_index: torch.Tensor | None = None, *,
                 lr: float, batch_size: int, keep=None, regrow: Sequence[str | None] | None = None, every: int = 100,
                 fraction: float = 0.2, stop: int | None = None, generator: torch.Generator | None = None):
        super().__init__(model, x, y, data_index, lr=lr, batch_size=batch_size)
        n = model.instances
        self.keep = torch.ones(n) if keep is None else torch.as_tensor(keep, dtype=torch.float32)
        if self.keep.shape != (n,) or not bool(((self.keep > 0) & (self.keep <= 1)).all()):
            raise ValueError(f"keep must hold one rate in (0, 1] per instance ({n}), got {keep!r}")
        self.regrow = [None] * n if regrow is None else list(regrow)
        if len(self.regrow) != n or any(r is not None and r not in REGROW for r in self.regrow):
            raise ValueError(f"regrow must hold one of None, {REGROW} per instance ({n}), got {regrow!r}")
        if any(r is not None for r in self.regrow) and not all(model.masked):
            raise ValueError("regrow needs a mask on every layer of the stack")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, int) or stop < 0):
            raise ValueError(f"stop must be an integer >= 0 or None, got {stop!r}")
        self.every, self.fraction, self.stop = every, float(fraction), stop
        if isinstance(generator, (list, tuple)):
            if len(generator) != n or not all(isinstance(g, torch.Generator) for g in generator):
                raise ValueError(f"generator must be one torch.Generator or a list of one per instance ({n}), got {len(generator)}")
            self.generator = list(generator)
        else:
            self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.steps_done = 0
        self.mask_updates = 0

    def _dropconnect(self, w: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """This step's DropConnect factors ``mask / keep`` for a stacked weight ``(I, out, in)``: drawn for
        the whole stack from one generator, or per instance (only where ``keep < 1``) from its own."""
        if not isinstance(self.generator, list):
            return dropconnect_masks(w, keep, generator=self.generator) * (1.0 / keep).view(-1, 1, 1)
        out = torch.ones_like(w)
        for i in self._dc_instances:
            out[i] = dropconnect_masks(w[i], keep[i], generator=self.generator[i]) * (1.0 / keep[i])
        return out

    def _move_masks(self) -> None:
        model, opt = self.model, self.optimizer
        for method in REGROW:
            sel = torch.tensor([r == method for r in self.regrow])
            if not bool(sel.any()):
                continue
            idx = torch.nonzero(sel).squeeze(1).to(model.weights[0].device)  # (instances that move by this method,)
            gens = [self.generator[j] for j in idx.tolist()] if isinstance(self.generator, list) else self.generator
            for i, w in enumerate(model.weights):
                mask = model.mask(i)
                grad = None if w.grad is None else w.grad[idx]
                new, grown = regrow(w.detach()[idx], mask[idx], fraction=self.fraction, method=method, grad=grad, generator=gens)
                with torch.no_grad():
                    mask[idx] = new
                    wi = w.data[idx]
                    wi[grown] = 0.0
                    w.data[idx] = wi
                state = opt.state.get(w, {})
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in state:
                        s = state[key][idx]
                        s[grown] = 0.0
                        state[key][idx] = s
        self.mask_updates += 1

    def fit(self, epochs: int, order_generators: Sequence[torch.Generator], *, progress: bool = False, desc: str = "train",
            on_epoch: Callable[[int], None] | None = None) -> None:
        """Train ``epochs`` epochs; ``order_generators[s]`` draws dataset ``s``'s minibatch order;
        ``on_epoch(epochs_done)`` as in :meth:`fpe.training.stacked.Trainer.fit`."""
        s, n, _ = self.x.shape
        if len(order_generators) != s:
            raise ValueError(f"order_generators needs one generator per dataset ({s}), got {len(order_generators)}")
        rows = torch.arange(s, device=self.x.device).unsqueeze(1)
        model, opt, di = self.model, self.optimizer, self.data_index
        dev = model.weights[0].device
        dc = bool((self.keep < 1).any())
        keep = self.keep.to(dev)
        self._dc_instances = torch.nonzero(self.keep < 1).squeeze(1).tolist()  # self.keep may change between fits
        moving = any(r is not None for r in self.regrow)
        for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
            perm = torch.stack([batch_order(n, g) for g in order_generators]).to(self.x.device)  # (S, N), drawn on the CPU
            for start in range(0, n, self.batch_size):
                idx = perm[:, start : start + self.batch_size]
                xb = self.x[rows, idx][di]  # (I, B, d)
                yb = self.y[rows, idx][di]  # (I, B)
                if dc:
                    ws = [w * self._dropconnect(w.detach(), keep) for w in model.weights]
                    logits = forward_weights(model, xb, ws)
                else:
                    logits = model(xb)
                loss = loss_per_instance(logits, yb).sum()
                opt.zero_grad(set_to_none=False)
                loss.backward()
                if moving and self.steps_done % self.every == 0 and self.steps_done > 0 and (self.stop is None or self.steps_done < self.stop):
                    self._move_masks()
                model.mask_grads()
                opt.step()
                model.apply_masks()
                self.steps_done += 1
            self.epochs_done += 1
            if on_epoch is not None:
                on_epoch(self.epochs_done)
