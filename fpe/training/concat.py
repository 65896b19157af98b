"""Fast training of many one-hidden-layer, one-output nets at once (the Boolean experiments, the paper, as we read it, section 3).

The reference trainer (:mod:`fpe.training.stacked`) stacks models of *one shape* and runs autograd over
``bmm`` calls. Here every model (an *instance*) that reads the same dataset shares one wide first
layer instead:

- the first layers of all instances of a dataset are concatenated along the hidden axis
  (``W1 (S, H, d)`` with ``H = sum of the instances' widths``), so one GEMM per dataset computes
  every hidden unit of every instance, whatever its width (no padding);
- the second layer is block diagonal (each instance reads only its own hidden units), computed as
  a segment sum of ``relu(z) * w2`` over each instance's columns;
- the loss is binary cross-entropy on a sigmoid output, mean over the minibatch per instance and
  summed over instances, so every instance gets exactly its own gradient;
- forward and backward are written by hand (two GEMMs per step: ``x W1^T`` and ``dZ^T x``; no
  gradient is needed for the inputs) and Adam is applied elementwise with a per-instance step count,
  so dense models that continue training (with their own Adam state) and freshly expanded models
  (fresh Adam) train in one stack;
- fixed masks (FPE's sparsity pattern) zero the gradients; with zero moments Adam's update there is
  exactly zero, so pruned weights stay exactly zero.

This computes the same numbers as ``nn.Sequential`` + ``torch.optim.Adam`` per model, to float
tolerance (``tests/test_concat.py``). Tensors are processed in chunks of datasets that fit in
cache (large temporaries on CPU cost page faults and memory bandwidth, not FLOPs).

Two backends run the training epochs (``ConcatTrainer(backend=...)``): ``"torch"``, the PyTorch
ops of this module (readable; the reference), and ``"native"``, the same steps fused into one C
function per epoch (``fpe/training/_native.c``, built by :mod:`fpe.training.native`), which keeps each (instance,
64-sample) tile in cache from the forward GEMM to the gradient GEMM. The native one is about 5x
faster (``make bench``), is the default where a C compiler exists, and agrees with the torch one
to float tolerance (not bit for bit: sums are ordered differently).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from ..metrics import accuracy
from ..method.mlp import check_mlp
from .stacked import batch_order

__all__ = ["ConcatMLP", "ConcatTrainer", "step_flops"]

_CHUNK_ELEMS = int(__import__('os').environ.get('FPE_CHUNK', 1 << 17))  # target size of one (c, H, b) temporary: 512 kB of float32 (an L2 cache)


@dataclass
class ConcatMLP:
    """``S`` datasets x ``J`` instances (widths ``widths``) of ``d -> h_j -> 1`` MLPs.

    Attributes:
        w1: ``(S, H, d)``; b1: ``(S, H)``; w2: ``(S, H)`` (the output weight of each hidden unit);
        b2: ``(S, J)``; mask1 ``(S, H, d)`` and mask2 ``(S, H)`` (0/1 float, ones for dense models);
        widths: hidden width of each instance (instance ``j`` owns columns ``offsets[j]:offsets[j+1]``);
        keys: a label per instance (e.g. ``"dense_h8"``);
        steps: Adam steps done per instance ``(J,)``; m_*/v_*: Adam moments of each tensor.
    """

    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    mask1: torch.Tensor
    mask2: torch.Tensor
    widths: list[int]
    keys: list[str]
    steps: torch.Tensor = None
    moments: dict = field(default_factory=dict)

    def __post_init__(self):
        s, h, d = self.w1.shape
        if self.steps is None:
            self.steps = torch.zeros(len(self.widths), dtype=torch.long)
        if not self.moments:
            self.moments = {n: (torch.zeros_like(getattr(self, n)), torch.zeros_like(getattr(self, n))) for n in ("w1", "b1", "w2", "b2")}
        if sum(self.widths) != h or self.b2.shape != (s, len(self.widths)) or len(self.keys) != len(self.widths):
            raise ValueError("widths, keys and b2 must describe every instance; sum(widths) must equal W1's hidden axis")

    @property
    def datasets(self) -> int:
        return self.w1.shape[0]

    @property
    def instances(self) -> int:
        return len(self.widths)

    @property
    def offsets(self) -> list[int]:
        out = [0]
        for w in self.widths:
            out.append(out[-1] + w)
        return out

    @property
    def segment(self) -> torch.Tensor:
        """Instance of each hidden column, ``(H,)`` long."""
        return torch.repeat_interleave(torch.arange(self.instances), torch.tensor(self.widths))

    @classmethod
    def from_sequentials(cls, models: Sequence[Sequence[nn.Sequential]], keys: Sequence[str], *, d: int | None = None) -> "ConcatMLP":
        """``models[s][j]``: instance ``j`` of dataset ``s`` (one hidden layer, one output; widths
        must agree across datasets). ``weight_mask`` buffers (from :func:`fpe.expand`) become masks.
        ``d``: pad every first layer with zero inputs up to ``d`` (masked to zero, so the models are
        unchanged), for datasets of different input sizes in one stack."""
        per = [[check_mlp(m) for m in row] for row in models]
        widths = [lins[0].out_features for lins in per[0]]
        for row in per:
            if [lins[0].out_features for lins in row] != widths:
                raise ValueError("every dataset must hold instances of the same widths, in the same order")
            if any(len(lins) != 2 or lins[1].out_features != 1 for lins in row):
                raise ValueError("ConcatMLP holds one-hidden-layer nets with one output")

        d = max(l[0].in_features for row in per for l in row) if d is None else d
        if any(l[0].in_features > d for row in per for l in row):
            raise ValueError(f"d={d} is smaller than an instance's input size")

        def mask(lin):
            m = getattr(lin, "weight_mask", None)
            return torch.ones_like(lin.weight) if m is None else m

        pad = lambda w: torch.nn.functional.pad(w, (0, d - w.shape[-1]))  # noqa: E731
        w1 = torch.stack([torch.cat([pad(l[0].weight.detach()) for l in row]) for row in per])
        b1 = torch.stack([torch.cat([l[0].bias.detach() for l in row]) for row in per])
        w2 = torch.stack([torch.cat([l[1].weight.detach()[0] for l in row]) for row in per])
        b2 = torch.stack([torch.cat([l[1].bias.detach() for l in row]) for row in per])
        m1 = torch.stack([torch.cat([pad(mask(l[0]).detach()) for l in row]) for row in per])
        m2 = torch.stack([torch.cat([mask(l[1]).detach()[0] for l in row]) for row in per])
        return cls(w1.contiguous(), b1.contiguous(), w2.contiguous(), b2.contiguous(), m1.contiguous(), m2.contiguous(),
                   widths=widths, keys=list(keys))

    @classmethod
    def cat(cls, stacks: Sequence["ConcatMLP"]) -> "ConcatMLP":
        """One stack holding the instances of ``stacks`` in order, with their Adam states and step counts."""
        c0 = lambda n: torch.cat([getattr(s, n) for s in stacks], 1).contiguous()  # noqa: E731
        moments = {n: tuple(torch.cat([s.moments[n][i] for s in stacks], 1).contiguous() for i in range(2))
                   for n in ("w1", "b1", "w2", "b2")}
        return cls(c0("w1"), c0("b1"), c0("w2"), c0("b2"), c0("mask1"), c0("mask2"),
                   widths=[w for s in stacks for w in s.widths], keys=[k for s in stacks for k in s.keys],
                   steps=torch.cat([s.steps for s in stacks]), moments=moments)

    def select(self, key: str) -> dict:
        """Weights of the instances labelled ``key``: ``w1 (S, n, h, d)``, ``b1``, ``w2 (S, n, h)``, ``b2 (S, n)``."""
        js = [j for j, k in enumerate(self.keys) if k == key]
        if not js:
            raise KeyError(key)
        off = self.offsets
        take = lambda t: torch.stack([t[:, off[j]:off[j + 1]] for j in js], 1)  # noqa: E731
        return {"w1": take(self.w1), "b1": take(self.b1), "w2": take(self.w2), "b2": self.b2[:, js],
                "mask1": take(self.mask1), "mask2": take(self.mask2)}

    def to_sequentials(self, key: str, *, inputs: Sequence[int] | None = None) -> list[list[nn.Sequential]]:
        """``out[s][i]``: the ``i``-th instance labelled ``key`` of dataset ``s`` as ``nn.Sequential``
        (no masks attached; pruned weights are zero); ``inputs[s]`` trims dataset ``s``'s first layer
        to its real input size (undoing the padding of :meth:`from_sequentials`)."""
        sel = self.select(key)
        out = []
        for s in range(self.datasets):
            row = []
            for i in range(sel["w1"].shape[1]):
                h, d = sel["w1"].shape[2], sel["w1"].shape[3] if inputs is None else inputs[s]
                seq = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 1))
                with torch.no_grad():
                    seq[0].weight.copy_(sel["w1"][s, i, :, :d]); seq[0].bias.copy_(sel["b1"][s, i])
                    seq[2].weight.copy_(sel["w2"][s, i].unsqueeze(0)); seq[2].bias.copy_(sel["b2"][s, i:i + 1])
                row.append(seq)
            out.append(row)
        return out

    def nonzeros(self) -> torch.Tensor:
        """Non-zero weights per dataset and instance ``(S, J)`` (biases not counted)."""
        per_col = torch.count_nonzero(self.w1, dim=2) + (self.w2 != 0).long()  # (S, H)
        out = torch.zeros(self.datasets, self.instances, dtype=torch.long)
        return out.index_add_(1, self.segment, per_col)

    # --- computation -------------------------------------------------------------------------
    def _chunks(self, batch: int):
        """(dataset range, sample range) pieces whose ``(c, H, b)`` temporaries stay near cache size."""
        h = self.w1.shape[1]
        per_ds = max(1, _CHUNK_ELEMS // max(1, batch * h))
        if per_ds > 1 or batch * h <= _CHUNK_ELEMS:
            return [((a, min(a + per_ds, self.datasets)), (0, batch)) for a in range(0, self.datasets, per_ds)]
        b = max(32, _CHUNK_ELEMS // h // 32 * 32)  # a multiple of 32 samples: whole vector lanes along the batch axis
        return [((a, a + 1), (s, min(s + b, batch))) for a in range(self.datasets) for s in range(0, batch, b)]

    def logits(self, x: torch.Tensor, a: int = 0, b: int | None = None) -> torch.Tensor:
        """Logits ``(b - a, J, B)`` of datasets ``a:b`` on inputs ``x (b - a, B, d)``."""
        b = self.datasets if b is None else b
        z = torch.baddbmm(self.b1[a:b].unsqueeze(2), self.w1[a:b], x.transpose(1, 2))  # (c, H, B)
        z.clamp_(min=0).mul_(self.w2[a:b].unsqueeze(2))
        return _segment_sum(z, self.widths) + self.b2[a:b].unsqueeze(2)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
        """Accuracy (%) ``(S, J)`` of every instance on its dataset: ``x (S, N, d)``, ``y (S, N)``
        (:func:`fpe.metrics.accuracy`)."""
        n = x.shape[1]
        return accuracy(((self._all_logits(x[:, a:a + chunk]), y[:, a:a + chunk].unsqueeze(1)) for a in range(0, n, chunk)), n)

    def _all_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(S, J, B)`` of every dataset on ``x (S, B, d)``, computed in cache-sized pieces."""
        out = x.new_empty(self.datasets, self.instances, x.shape[1])
        for (a, b), (p, q) in self._chunks(x.shape[1]):
            out[a:b, :, p:q] = self.logits(x[a:b, p:q], a, b)
        return out

    @torch.no_grad()
    def accumulate_grads(self, xb: torch.Tensor, yb: torch.Tensor, a: int, b: int, seg: torch.Tensor, n_batch: int, grads: dict) -> None:
        """Add the gradients of the summed per-instance mean BCE (mean over ``n_batch`` samples) of
        the samples ``xb (c, b, d)``, ``yb (c, b)`` of datasets ``a:b`` to ``grads`` (hand-written backward)."""
        w1, w2 = self.w1[a:b], self.w2[a:b]
        xt = xb.transpose(1, 2)  # (c, d, b)
        act = torch.baddbmm(self.b1[a:b].unsqueeze(2), w1, xt).clamp_(min=0)  # (c, H, b)
        out = _segment_sum(act * w2.unsqueeze(2), self.widths, seg).add_(self.b2[a:b].unsqueeze(2))  # (c, J, b)
        g = torch.sigmoid(out).sub_(yb.unsqueeze(1)).div_(n_batch)  # d loss / d logit
        grads["b2"][a:b] += g.sum(2)
        gcol = g.index_select(1, seg)  # (c, H, b): rows copied whole
        grads["w2"][a:b] += (gcol * act).sum(2)
        gz = torch.ops.aten.threshold_backward(gcol.mul_(w2.unsqueeze(2)), act, 0)  # ReLU backward
        grads["b1"][a:b] += gz.sum(2)
        grads["w1"][a:b].baddbmm_(gz, xb)  # (c, H, b) @ (c, b, d)


def _resolve_backend(backend: str) -> str:
    if backend == "torch":
        return "torch"
    from . import native

    if backend == "native":
        native.load()  # raises NativeUnavailable with the reason
        return "native"
    return "native" if native.available() else "torch"


def _segment_sum(t: torch.Tensor, widths: Sequence[int], seg: torch.Tensor | None = None) -> torch.Tensor:
    """Sum axis 1 of ``t (c, H, ...)`` over consecutive segments of ``widths`` (``seg``: segment of each row)."""
    if seg is None:
        seg = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
    out = t.new_zeros((t.shape[0], len(widths), *t.shape[2:]))
    return out.index_add_(1, seg, t)


def step_flops(widths: Sequence[int], d: int, batch: int, datasets: int = 1) -> float:
    """Useful matmul FLOPs of one training step: forward ``x W1^T`` and gradient ``dZ^T x`` (2 x 2BHd);
    the second layer, biases and elementwise work are not counted."""
    return 4.0 * batch * sum(widths) * d * datasets


class ConcatTrainer:
    """Adam (``torch.optim.Adam`` semantics, no weight decay) on a :class:`ConcatMLP`.

    Args:
        model: the stack (its Adam moments and step counts are used and updated in place).
        x, y: training data ``(S, N, d)`` and ``(S, N)`` (dataset ``s`` trains every instance of row ``s``).
        lr, batch_size: Adam learning rate and minibatch size (the last batch of an epoch may be smaller).
        betas, eps: Adam's constants (PyTorch's defaults).
        backend: ``"native"`` (the fused C epoch of :mod:`fpe.training.native`, several times faster),
            ``"torch"`` (the PyTorch ops below: the readable reference) or ``"auto"`` (native when a
            C compiler is available, else torch). Both compute the same numbers to float tolerance
            (``tests/test_concat.py``), not bit for bit.
    """

    BACKENDS = ("auto", "native", "torch")

    def __init__(self, model: ConcatMLP, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int,
                 betas=(0.9, 0.999), eps: float = 1e-8, backend: str = "auto"):
        if backend not in self.BACKENDS:
            raise ValueError(f"backend must be one of {self.BACKENDS}, got {backend!r}")
        if x.ndim != 3 or y.shape != x.shape[:2] or x.shape[0] != model.datasets or x.shape[2] != model.w1.shape[2]:
            raise ValueError(f"x must be (S={model.datasets}, N, d={model.w1.shape[2]}) and y (S, N); got {tuple(x.shape)}, {tuple(y.shape)}")
        if not (isinstance(batch_size, int) and batch_size >= 1) or not lr > 0:
            raise ValueError("batch_size must be an integer >= 1 and lr > 0")
        self.model, self.x, self.y = model, x.contiguous(), y.contiguous()
        self.lr, self.batch_size, self.betas, self.eps = lr, batch_size, betas, eps
        self.backend = _resolve_backend(backend)
        self.epochs_done = 0

    def fit(self, epochs: int, order_generators: Sequence[torch.Generator], *, progress: bool = False, desc: str = "train",
            on_epoch: Callable[[int], None] | None = None) -> None:
        """Train ``epochs`` epochs; ``order_generators[s]`` draws dataset ``s``'s minibatch order
        (:func:`~fpe.training.stacked.batch_order`, so the order matches :class:`~fpe.training.stacked.Trainer`);
        ``on_epoch(epochs_done)`` as in :meth:`fpe.training.stacked.Trainer.fit`."""
        from tqdm.auto import tqdm

        m = self.model
        s, n, _ = self.x.shape
        if len(order_generators) != s:
            raise ValueError(f"order_generators needs one generator per dataset ({s}), got {len(order_generators)}")
        seg = m.segment
        rows = torch.arange(s).unsqueeze(1)
        native_epoch = self._native_epoch_fn() if self.backend == "native" else None
        for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
            perm = torch.stack([batch_order(n, g) for g in order_generators])
            if native_epoch is not None:
                native_epoch(perm)
            else:
                for start in range(0, n, self.batch_size):
                    idx = perm[:, start:start + self.batch_size]
                    xb, yb = self.x[rows, idx], self.y[rows, idx]
                    grads = {k: torch.zeros_like(getattr(m, k)) for k in ("w1", "b1", "w2", "b2")}
                    bsz = idx.shape[1]
                    for (a, b), (p, q) in m._chunks(bsz):
                        m.accumulate_grads(xb[a:b, p:q], yb[a:b, p:q], a, b, seg, bsz, grads)
                    self._adam(grads, seg)
            self.epochs_done += 1
            if on_epoch is not None:
                on_epoch(self.epochs_done)

    def _native_epoch_fn(self):
        """Checks and constant arguments of the fused C epoch (``fpe/training/_native.c``), prepared once per
        :meth:`fit`; returns ``epoch(perm)``, which runs one epoch in place (same steps, same Adam)."""
        from . import native

        m = self.model
        s, n, d = self.x.shape
        f32 = [m.w1, m.b1, m.w2, m.b2, m.mask1, m.mask2] + [t for name in ("w1", "b1", "w2", "b2") for t in m.moments[name]]
        native.check_cpu(*f32, m.steps, self.x, self.y)
        if any(t.dtype != torch.float32 or not t.is_contiguous() for t in f32 + [self.x, self.y]):
            raise ValueError("the native backend needs contiguous float32 weights, moments, masks and data")
        if m.steps.dtype != torch.int64 or not m.steps.is_contiguous():
            m.steps = m.steps.to(torch.int64).contiguous()
        widths = torch.tensor(m.widths, dtype=torch.int32)
        # inputs past the last column holding a weight or an unmasked entry are zero padding (fpe.experiments.boolean
        # buckets; masked weights stay zero): the kernel skips them, which changes no number
        used = ((m.mask1 != 0) | (m.w1 != 0)).any(1)  # (S, d)
        dvalid = torch.where(used.any(1), d - used.flip(1).int().argmax(1), 0).to(torch.int32).clamp_(min=1).contiguous()
        lib = native.load()
        ptr = lambda t: t.data_ptr()  # noqa: E731
        tail = (self.batch_size, *map(ptr, f32), ptr(m.steps), float(self.lr), float(self.betas[0]), float(self.betas[1]),
                float(self.eps))

        @torch.no_grad()
        def epoch(perm: torch.Tensor) -> None:
            perm = perm.to(torch.int64).contiguous()
            rc = lib.fpe_concat_epoch(s, n, d, m.w1.shape[1], m.instances, ptr(widths), ptr(dvalid), ptr(self.x), ptr(self.y),
                                      ptr(perm), *tail)
            if rc != 0:
                raise MemoryError("the native kernel could not allocate its scratch memory")

        return epoch

    @torch.no_grad()
    def _adam(self, grads: dict, seg: torch.Tensor) -> None:
        m = self.model
        b1, b2 = self.betas
        m.steps += 1
        t = m.steps.to(torch.float64)
        step_size = (self.lr / (1 - b1 ** t)).to(torch.float32)  # (J,)
        bc2_sqrt = torch.sqrt(1 - b2 ** t).to(torch.float32)
        col_step, col_bc2 = step_size[seg], bc2_sqrt[seg]  # (H,)
        shape = {"w1": (1, -1, 1), "b1": (1, -1), "w2": (1, -1), "b2": (1, -1)}
        grads["w1"].mul_(m.mask1)
        grads["w2"].mul_(m.mask2)
        for name, g in grads.items():
            p = getattr(m, name)
            ea, eas = m.moments[name]
            ea.lerp_(g, 1 - b1)
            eas.mul_(b2).addcmul_(g, g, value=1 - b2)
            st, bc = (step_size, bc2_sqrt) if name == "b2" else (col_step, col_bc2)
            denom = (eas.sqrt() / bc.view(shape[name])).add_(self.eps)
            p.sub_(ea / denom * st.view(shape[name]))
