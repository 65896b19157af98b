"""Inference forms of an FPE layer, and what each stores and moves (the paper, as we read it, section 1, claim 5;
section 2).

The paper's closing argument (claim 5) is that the right cost model for FPE is the number of
non-zero weights moved from memory, not FLOPs: an FPE layer has ``alpha`` times more neurons but
the same non-zeros as the narrow dense layer, so on memory-bound hardware it should cost about the
same. Whether it does depends on how the sparse layer is stored and evaluated. This module gives
the evaluation forms of an expanded layer (the first ``Linear`` of :func:`fpe.expand`'s output:
``alpha * h`` children, children of parent ``p`` are rows ``p*alpha .. p*alpha + alpha - 1``, each
keeping a disjoint part of the parent's ``d`` inputs), all computing ``y = x @ (W * mask).T + b``:

- :class:`DenseLinear`: the narrow dense layer ``nn.Linear(d, h)`` with the same non-zeros (the
  baseline of every ratio);
- :class:`MaskedDense`: the naive form, a dense ``(alpha*h, d)`` matrix with zeros in it
  (``alpha`` times the FLOPs and bytes of the narrow layer);
- :class:`CSRLinear`: PyTorch's ``torch.sparse_csr`` format (values, int32 column indices, row
  pointers), evaluated by ``torch.sparse.mm`` (a sparse matrix-vector product at batch 1);
- :class:`BSRLinear`: PyTorch's block format ``torch.sparse_bsr``; it stores whole blocks, so it
  only saves memory when the non-zeros form blocks (not for FPE's random split: a square block of
  ``b >= alpha`` rows holds whole sibling groups, which hold one non-zero per column, so BSR stores
  about ``alpha`` times the non-zeros, see :func:`bsr_fill`);
- :class:`CompactLinear`: the balanced-split form: every child stores exactly
  ``k = ceil(d / alpha)`` weights and the indices of their inputs in the narrowest integer type
  that fits ``d`` (uint8, int16 or int32), evaluated by a gather of ``x`` and a batched dot
  product, chunked over children so the gathered block stays in cache;
- :class:`SplitSumLinear`: the split-sum form, parent-major: each parent's ``d`` weights in one dense
  row (each input's weight is that of the one child keeping it) and every weight's child label in
  ``ceil(log2 alpha)`` bit planes (a quarter byte per weight at ``alpha`` = 4: 1.06x the narrow
  layer's bytes, no indices), evaluated by a fused C kernel (``fpe/cost/_splitsum.c``) that streams
  the row once and sums the products per child by masked subset sums.

All forms apply to any masked ``Linear`` except :class:`CompactLinear`, which needs a balanced
split (every child at most ``k`` non-zeros, siblings disjoint), and :class:`SplitSumLinear`, which
needs disjoint siblings; FPE's output layer (children's
copied outgoing weights after the global prune) is an unstructured sparse matrix, so it can use
the dense, CSR and BSR forms, and the benchmarks of this companion measure the expanded hidden
layer, which holds the ``h * d`` non-zeros that dominate the model.

:func:`storage_bytes` reports the bytes of weights, indices and bias each form stores;
:func:`moved_bytes` adds the input and output activations of one call: the minimum traffic of a
call, the numerator of the roofline's bandwidth limit (:mod:`fpe.cost.bench`).
"""
from __future__ import annotations

import ctypes
import math
import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..training import native

__all__ = ["splitsum_available", "FORMS", "DenseLinear", "MaskedDense", "CSRLinear", "BSRLinear", "CompactLinear", "SplitSumLinear", "make_form",
           "masked_weight", "narrowest_index_dtype", "check_balanced_split", "storage_bytes", "moved_bytes",
           "flops", "bsr_fill", "default_blocksize"]

FORMS = ("masked_dense", "csr", "bsr", "compact", "splitsum")
SPLITSUM_SOURCE = Path(__file__).with_name("_splitsum.c")
COMPACT_CHUNK_ELEMENTS = 1 << 20  # indices per chunk: widened copy and gathered block stay in L3, few kernel launches [house]


def masked_weight(layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """The effective weight ``(out, in)`` of a ``Linear`` (``weight * weight_mask`` if masked) and its
    mask (all ones for an unmasked layer), both detached float tensors."""
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"layer must be an nn.Linear, got {type(layer).__name__}")
    w = layer.weight.detach()
    mask = getattr(layer, "weight_mask", None)
    if mask is None:
        mask = torch.ones_like(w)
    else:
        mask = mask.detach()
        if mask.shape != w.shape:
            raise ValueError(f"weight_mask has shape {tuple(mask.shape)} but the weight has {tuple(w.shape)}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("weight_mask must hold only 0 and 1")
    if not torch.isfinite(w).all():
        raise ValueError("the layer's weight has non-finite values")
    return (w * mask).contiguous(), mask


def _bias(layer: nn.Linear) -> torch.Tensor | None:
    return None if layer.bias is None else layer.bias.detach().clone()


def _check_input(x: torch.Tensor, in_features: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != in_features:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"input must be a tensor of shape (batch, {in_features}), got {shape}")
    return x


class _Form(nn.Module):
    """Common interface: ``forward(x (batch, in)) -> (batch, out)``, ``in_features``, ``out_features``."""

    name = "form"
    in_features: int
    out_features: int
    bias: torch.Tensor | None

    def nonzeros(self) -> int:
        raise NotImplementedError

    def tensors(self) -> dict[str, list[torch.Tensor]]:
        """The tensors the form reads at inference, grouped as weights / indices / bias."""
        raise NotImplementedError


class DenseLinear(_Form):
    """A plain dense layer ``y = x W^T + b`` (the narrow baseline ``nn.Linear(d, h)``)."""

    name = "dense"

    def __init__(self, layer: nn.Linear):
        super().__init__()
        w, _ = masked_weight(layer)
        self.weight, self.bias = w, _bias(layer)
        self.out_features, self.in_features = w.shape

    def forward(self, x):
        return F.linear(_check_input(x, self.in_features), self.weight, self.bias)

    def nonzeros(self):
        return int(torch.count_nonzero(self.weight))

    def tensors(self):
        return {"weights": [self.weight], "indices": [], "bias": [] if self.bias is None else [self.bias]}


class MaskedDense(DenseLinear):
    """The naive FPE form: the dense ``(alpha*h, d)`` matrix with its zeros (alpha times the FLOPs)."""

    name = "masked_dense"


class _CompressedRows(_Form):
    """What CSR and BSR share: a PyTorch compressed-row sparse ``weight`` and a dense ``bias``."""

    def nonzeros(self):
        return int(torch.count_nonzero(self.weight.values()))

    def tensors(self):
        return {"weights": [self.weight.values()], "indices": [self.weight.col_indices(), self.weight.crow_indices()],
                "bias": [] if self.bias is None else [self.bias]}


class CSRLinear(_CompressedRows):
    """Compressed sparse rows (``torch.sparse_csr``): values, column indices and row pointers in
    ``index_dtype`` (int32 by default, the narrowest PyTorch's CSR kernels accept)."""

    name = "csr"

    def __init__(self, layer: nn.Linear, *, index_dtype: torch.dtype = torch.int32):
        super().__init__()
        if index_dtype not in (torch.int32, torch.int64):
            raise ValueError(f"index_dtype must be torch.int32 or torch.int64 for CSR, got {index_dtype}")
        w, mask = masked_weight(layer)
        self.out_features, self.in_features = w.shape
        rows, cols = mask.nonzero(as_tuple=True)  # row-major order
        counts = torch.bincount(rows, minlength=self.out_features)
        crow = torch.zeros(self.out_features + 1, dtype=torch.int64)
        crow[1:] = counts.cumsum(0)
        with warnings.catch_warnings():  # "sparse CSR support is in beta state"
            warnings.simplefilter("ignore", UserWarning)
            self.weight = torch.sparse_csr_tensor(crow.to(index_dtype), cols.to(index_dtype), w[rows, cols].contiguous(),
                                                  size=w.shape, dtype=w.dtype)
        self.bias = _bias(layer)

    def forward(self, x):
        x = _check_input(x, self.in_features)
        if x.shape[0] == 1:  # sparse matrix-vector product: much faster than sparse.mm with one column
            y = (self.weight @ x[0]).unsqueeze(0)
        else:
            y = torch.sparse.mm(self.weight, x.t()).t()
        return y if self.bias is None else y + self.bias



def default_blocksize(out_features: int, in_features: int) -> tuple[int, int]:
    """Block shape for :class:`BSRLinear` **[house]**: square (PyTorch's CPU kernel, MKL, takes square
    blocks only), the largest of 16, 8, 4, 2, 1 that divides both dimensions."""
    b = next(b for b in (16, 8, 4, 2, 1) if out_features % b == 0 and in_features % b == 0)
    return b, b


class BSRLinear(_CompressedRows):
    """Block sparse rows (``torch.sparse_bsr``): only blocks that hold a non-zero are stored, but
    each stored block is stored whole (zeros inside it included)."""

    name = "bsr"

    def __init__(self, layer: nn.Linear, *, blocksize: tuple[int, int] | None = None,
                 index_dtype: torch.dtype = torch.int32):
        super().__init__()
        w, mask = masked_weight(layer)
        self.out_features, self.in_features = w.shape
        blocksize = tuple(blocksize) if blocksize is not None else default_blocksize(*w.shape)
        if len(blocksize) != 2 or any(int(b) < 1 for b in blocksize) or blocksize[0] != blocksize[1]:
            raise ValueError(f"blocksize must be two equal positive integers (square blocks), got {blocksize!r}")
        r, c = int(blocksize[0]), int(blocksize[1])
        if self.out_features % r or self.in_features % c:
            raise ValueError(f"blocksize {(r, c)} must divide the weight shape {tuple(w.shape)}")
        if index_dtype not in (torch.int32, torch.int64):
            raise ValueError(f"index_dtype must be torch.int32 or torch.int64 for BSR, got {index_dtype}")
        self.blocksize = (r, c)
        nb_r, nb_c = self.out_features // r, self.in_features // c
        block_has = mask.reshape(nb_r, r, nb_c, c).amax(dim=(1, 3)) > 0  # (nb_r, nb_c)
        brow, bcol = block_has.nonzero(as_tuple=True)
        values = w.reshape(nb_r, r, nb_c, c).permute(0, 2, 1, 3)[brow, bcol].contiguous()  # (nblocks, r, c)
        crow = torch.zeros(nb_r + 1, dtype=torch.int64)
        crow[1:] = torch.bincount(brow, minlength=nb_r).cumsum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.weight = torch.sparse_bsr_tensor(crow.to(index_dtype), bcol.to(index_dtype), values, size=w.shape, dtype=w.dtype)
        self.bias = _bias(layer)

    def forward(self, x):
        y = (self.weight @ _check_input(x, self.in_features).t()).t()
        return y if self.bias is None else y + self.bias



def bsr_fill(mask: torch.Tensor, blocksize: tuple[int, int]) -> float:
    """Stored entries of a BSR matrix divided by the mask's non-zeros (1 = no padding)."""
    r, c = blocksize
    o, i = mask.shape
    blocks = int((mask.reshape(o // r, r, i // c, c).amax(dim=(1, 3)) > 0).sum())
    nnz = int((mask != 0).sum())
    return blocks * r * c / max(nnz, 1)


def narrowest_index_dtype(n: int) -> torch.dtype:
    """The narrowest integer dtype holding indices ``0 .. n-1``: uint8, int16 or int32."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n <= 256:
        return torch.uint8
    if n <= 2**15:
        return torch.int16
    if n <= 2**31:
        return torch.int32
    raise ValueError(f"n={n} does not fit an int32 index")


def check_balanced_split(mask: torch.Tensor, alpha: int) -> int:
    """Check that ``mask (alpha*h, d)`` is a balanced FPE split; return ``k = ceil(d / alpha)``.

    Balanced means: the rows come in sibling groups of ``alpha`` (children of parent ``p`` are rows
    ``p*alpha .. p*alpha + alpha - 1``), siblings keep disjoint inputs, and no child keeps more than
    ``k`` inputs (the global prune of FPE may leave fewer; they are padded with zero weights).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int) or alpha < 1:
        raise ValueError(f"alpha must be a positive integer, got {alpha!r}")
    if mask.dim() != 2:
        raise ValueError(f"mask must be 2-D (out, in), got shape {tuple(mask.shape)}")
    out, d = mask.shape
    if out % alpha:
        raise ValueError(f"the layer has {out} outputs, not a multiple of alpha={alpha}: not an FPE layer "
                         "(children of parent p are rows p*alpha .. p*alpha+alpha-1)")
    k = math.ceil(d / alpha)
    keep = mask != 0
    per_input = keep.reshape(out // alpha, alpha, d).sum(1)  # (h, d): children of a parent using input i
    if bool((per_input > 1).any()):
        p, i = (per_input > 1).nonzero()[0].tolist()
        raise ValueError(f"not a balanced split: input {i} is kept by {int(per_input[p, i])} children of parent {p}; "
                         "siblings must keep disjoint inputs")
    per_row = keep.sum(1)
    if bool((per_row > k).any()):
        r = int((per_row > k).nonzero()[0])
        raise ValueError(f"not a balanced split: child {r} keeps {int(per_row[r])} inputs, more than "
                         f"ceil(d/alpha) = {k} (d={d}, alpha={alpha}); the compact form needs at most k per child")
    return k


class CompactLinear(_Form):
    """Balanced-split form: every child stores ``k = ceil(d/alpha)`` weights ``(out, k)`` and input
    indices ``(out, k)`` in the narrowest integer dtype for ``d`` (:func:`narrowest_index_dtype`).

    ``forward`` works on ``chunk`` indices (whole children) at a time, widening them to int32/int64
    one chunk at a time, in cache, since PyTorch's gathers take only those index types. At batch 1 it
    gathers ``x[idx]`` (``index_select``) and sums the products per child; at larger batches it calls
    ``F.embedding_bag`` on the rows of ``x^T`` with the weights as per-sample weights, a fused
    gather and weighted sum that never materialises the ``(batch, children, k)`` gathered block. Children with fewer than ``k`` non-zeros (left by
    FPE's prune) are padded with index 0 and weight 0.
    """

    name = "compact"

    def __init__(self, layer: nn.Linear, *, alpha: int, index_dtype: torch.dtype | None = None,
                 chunk: int = COMPACT_CHUNK_ELEMENTS):
        super().__init__()
        w, mask = masked_weight(layer)
        self.out_features, self.in_features = w.shape
        k = check_balanced_split(mask, alpha)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
        narrow = narrowest_index_dtype(self.in_features)
        index_dtype = narrow if index_dtype is None else index_dtype
        allowed = [t for t in (torch.uint8, torch.int16, torch.int32, torch.int64)
                   if torch.iinfo(t).max >= self.in_features - 1]
        if index_dtype not in allowed:
            raise ValueError(f"index_dtype {index_dtype} cannot hold indices up to {self.in_features - 1}; allowed: {allowed}")
        # per row: kept inputs first (in input order), then padding (index 0, weight 0)
        keep = mask != 0
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :k]  # (out, k)
        valid = keep.gather(1, order)
        idx = torch.where(valid, order, torch.zeros_like(order))
        self.alpha, self.k, self.chunk = alpha, k, chunk
        self.index = idx.to(index_dtype).contiguous()  # (out, k)
        self.weight = torch.where(valid, w.gather(1, order), torch.zeros((), dtype=w.dtype)).contiguous()  # (out, k)
        self.bias = _bias(layer)

    def forward(self, x):
        x = _check_input(x, self.in_features)
        batch = x.shape[0]
        out = torch.empty(batch, self.out_features, dtype=x.dtype)
        rows = max(1, min(self.out_features, self.chunk // self.k))  # children per chunk
        if batch == 1:  # gather x[idx] (rows, k), multiply by the weights in place, sum each row
            xv = x.reshape(-1)
            for s in range(0, self.out_features, rows):
                idx = self.index[s : s + rows].reshape(-1).long()
                g = torch.index_select(xv, 0, idx).view(-1, self.k)
                torch.sum(g.mul_(self.weight[s : s + rows]), dim=1, out=out[0, s : s + rows])
        else:  # fused gather + weighted sum: embedding_bag over the rows of x^T (d, batch)
            xt = x.t().contiguous()
            for s in range(0, self.out_features, rows):
                idx = self.index[s : s + rows].to(torch.int32)  # (rows, k): one bag per child
                y = F.embedding_bag(idx, xt, per_sample_weights=self.weight[s : s + rows], mode="sum")
                out[:, s : s + rows] = y.t()
        return out if self.bias is None else out.add_(self.bias)

    def nonzeros(self):
        return int(torch.count_nonzero(self.weight))

    def tensors(self):
        return {"weights": [self.weight], "indices": [self.index], "bias": [] if self.bias is None else [self.bias]}


@lru_cache(maxsize=None)
def _splitsum_library() -> ctypes.CDLL | None:
    """The split-sum kernel, or ``None`` where it cannot be built (no C compiler, ``FPE_NATIVE=0``, a
    missing source), which :func:`fpe.training.native.warn_fallback` says once."""
    try:
        lib = ctypes.CDLL(str(native.compiled(SPLITSUM_SOURCE, ("-fopenmp",))))
    except (native.NativeUnavailable, OSError) as exc:
        native.warn_fallback(SPLITSUM_SOURCE.name, exc)
        return None
    i, p = ctypes.c_int, ctypes.c_void_p
    lib.fpe_splitsum.argtypes, lib.fpe_splitsum.restype = [i, i, i, i, i, p, p, p, p, i], i
    return lib


def splitsum_available() -> bool:
    """Whether the split-sum kernel is built and loaded here (recorded with every result)."""
    return _splitsum_library() is not None


class SplitSumLinear(_Form):
    """Split-sum form of an FPE layer whose siblings keep disjoint inputs: the parent's row of weights
    ``(h, d8)`` (``d`` padded with zeros to a multiple of 8) and the child label of every weight in
    ``ceil(log2 alpha)`` bit planes ``(planes, h, d8 / 8)`` uint8; no indices.

    ``forward`` calls the C kernel of ``fpe/cost/_splitsum.c`` (``threads`` OpenMP threads of PyTorch's own pool, default
    ``torch.get_num_threads()``) for float32 CPU tensors; elsewhere (no compiler, ``FPE_NATIVE=0``,
    another device or dtype) it computes the same sums with PyTorch ops (``scatter_add`` per
    child), chunked over parents. Inputs a parent keeps in none of its children carry weight 0.
    """

    name = "splitsum"

    def __init__(self, layer: nn.Linear, *, alpha: int, threads: int | None = None):
        super().__init__()
        if isinstance(alpha, bool) or not isinstance(alpha, int) or not 2 <= alpha <= 8:
            raise ValueError(f"alpha must be an integer in 2..8 for the split-sum form, got {alpha!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        w, mask = masked_weight(layer)
        out, d = w.shape
        if out % alpha:
            raise ValueError(f"the layer has {out} outputs, not a multiple of alpha={alpha}: not an FPE layer "
                             "(children of parent p are rows p*alpha .. p*alpha+alpha-1)")
        h = out // alpha
        keep = (mask != 0).reshape(h, alpha, d)
        per_input = keep.sum(1)
        if bool((per_input > 1).any()):
            p, i = (per_input > 1).nonzero()[0].tolist()
            raise ValueError(f"siblings must keep disjoint inputs for the split-sum form: input {i} is kept by "
                             f"{int(per_input[p, i])} children of parent {p}")
        d8 = -(-d // 8) * 8
        label = keep.to(torch.int8).argmax(1)  # (h, d): the child keeping each input (0 where none does)
        row = (w.reshape(h, alpha, d) * keep).sum(1)  # (h, d): exact, at most one non-zero term per input
        self.out_features, self.in_features, self.alpha, self.threads = out, d, alpha, threads
        self.planes = max(1, math.ceil(math.log2(alpha)))
        self.weight = F.pad(row, (0, d8 - d)).contiguous()
        label = F.pad(label, (0, d8 - d))
        place = 2 ** torch.arange(8, dtype=torch.int32)
        self.bits = torch.stack([(((label >> b) & 1).to(torch.int32).view(h, d8 // 8, 8) * place).sum(-1).to(torch.uint8)
                                 for b in range(self.planes)]).contiguous()  # (planes, h, d8 / 8)
        self.bias = _bias(layer)

    def _labels(self) -> torch.Tensor:
        h, nb = self.bits.shape[1:]
        bit = ((self.bits.unsqueeze(-1).to(torch.int32) >> torch.arange(8, device=self.bits.device)) & 1).reshape(self.planes, h, nb * 8)
        return sum(bit[b] << b for b in range(self.planes)).long()  # (h, d8)

    def forward(self, x):
        x = _check_input(x, self.in_features)
        batch, d8 = x.shape[0], self.weight.shape[1]
        if d8 != self.in_features:
            x = F.pad(x, (0, d8 - self.in_features))
        lib = _splitsum_library() if x.device.type == "cpu" and x.dtype == self.weight.dtype == torch.float32 else None
        if lib is not None:
            x = x.contiguous()
            out = torch.empty(batch, self.out_features, dtype=x.dtype)
            threads = self.threads or torch.get_num_threads()
            rc = lib.fpe_splitsum(batch, self.out_features // self.alpha, d8, self.planes, self.alpha, self.weight.data_ptr(),
                                  self.bits.data_ptr(), x.data_ptr(), out.data_ptr(), threads)
            if rc:
                raise RuntimeError(f"fpe_splitsum rejected its arguments (d8={d8}, planes={self.planes}, alpha={self.alpha})")
        else:
            h = self.out_features // self.alpha
            labels, out = self._labels(), torch.zeros(batch, h, self.alpha, dtype=x.dtype, device=x.device)
            rows = max(1, (1 << 22) // max(1, batch * d8))
            for s in range(0, h, rows):
                z = x[:, None, :] * self.weight[s : s + rows].to(x.dtype)  # (batch, rows, d8)
                out[:, s : s + rows].scatter_add_(2, labels[s : s + rows].expand(batch, -1, -1), z)
            out = out.reshape(batch, self.out_features)
        return out if self.bias is None else out.add_(self.bias)

    def nonzeros(self):
        return int(torch.count_nonzero(self.weight))

    def tensors(self):
        return {"weights": [self.weight], "indices": [self.bits], "bias": [] if self.bias is None else [self.bias]}


def make_form(name: str, layer: nn.Linear, *, alpha: int = 1, **kwargs) -> _Form:
    """Build the inference form ``name`` (one of :data:`FORMS` or ``"dense"``) of ``layer``."""
    if name == "dense":
        return DenseLinear(layer, **kwargs)
    if name == "masked_dense":
        return MaskedDense(layer, **kwargs)
    if name == "csr":
        return CSRLinear(layer, **kwargs)
    if name == "bsr":
        return BSRLinear(layer, **kwargs)
    if name == "compact":
        return CompactLinear(layer, alpha=alpha, **kwargs)
    if name == "splitsum":
        return SplitSumLinear(layer, alpha=alpha, **kwargs)
    raise ValueError(f"form must be one of {('dense',) + FORMS}, got {name!r}")


def _nbytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts)


def storage_bytes(form: _Form) -> dict[str, int]:
    """Bytes of weights, indices and bias a form stores (and reads once per call): a dict with keys
    ``weights``, ``indices``, ``bias`` and ``total``."""
    if not isinstance(form, _Form):
        raise ValueError(f"form must be one of the forms of fpe.cost.inference, got {type(form).__name__}")
    parts = {k: _nbytes(v) for k, v in form.tensors().items()}
    parts["total"] = sum(parts.values())
    return parts


def moved_bytes(form: _Form, batch: int) -> int:
    """Minimum bytes one call moves from memory: what the form stores, plus the input ``(batch, in)``
    and output ``(batch, out)`` activations in float32 (the roofline's bandwidth numerator)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    return storage_bytes(form)["total"] + 4 * batch * (form.in_features + form.out_features)


def flops(form: _Form, batch: int) -> int:
    """Multiply-adds times two that the form's kernel performs for one call (zeros stored by the
    dense and block forms are multiplied too; the compact form's padding counts; the split-sum form's
    multiply-add per stored weight, its masked subset additions not counted)."""
    if isinstance(form, DenseLinear):
        n = form.weight.numel()
    elif isinstance(form, (CSRLinear, BSRLinear)):
        n = form.weight.values().numel()
    elif isinstance(form, (CompactLinear, SplitSumLinear)):
        n = form.weight.numel()
    else:
        raise ValueError(f"unknown form {type(form).__name__}")
    return 2 * n * batch
