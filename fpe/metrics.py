"""Metrics of the paper (the paper, as we read it, section 4).

- accuracy (%);
- relative improvement ``(acc_FPE - acc_dense) / acc_dense * 100`` per configuration;
- accuracy per non-zero parameter: test accuracy (%) divided by the non-zero weight count;
- significance against dense (ours; the paper reports none): a two-sided paired t-test over seeds.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

__all__ = ["accuracy", "relative_improvement", "accuracy_per_nonzero", "mean_std", "standard_error", "paired_pvalue", "benjamini_hochberg"]


@torch.no_grad()
def accuracy(chunks: Iterable[tuple[torch.Tensor, torch.Tensor]], n: int) -> torch.Tensor:
    """Accuracy (%) over ``n`` samples seen in ``chunks`` of ``(logits, y)``: the one accuracy of the book.

    ``y (..., B)``; ``logits (..., B)`` or ``(..., B, 1)`` for a sigmoid output (threshold 0), or
    ``(..., B, C)`` with ``C > 1`` (argmax). Correct predictions are counted per leading index in
    float64 over all chunks (exact integers), then divided once: ``100 * correct / n``.
    """
    correct = None
    for logits, y in chunks:
        if logits.ndim == y.ndim + 1 and logits.shape[-1] == 1:
            logits = logits.squeeze(-1)
        pred = (logits > 0) if logits.ndim == y.ndim else logits.argmax(-1)
        c = (pred.to(y.dtype) == y).sum(-1).to(torch.float64)
        correct = c if correct is None else correct + c
    if correct is None:
        raise ValueError("chunks must hold at least one (logits, y) pair")
    return 100.0 * correct / n


def relative_improvement(acc_fpe, acc_dense):
    """``(acc_fpe - acc_dense) / acc_dense * 100`` (%); works on floats and tensors elementwise."""
    return (acc_fpe - acc_dense) / acc_dense * 100.0


def accuracy_per_nonzero(acc, nonzeros):
    """Test accuracy (%) per non-zero weight (biases not counted)."""
    return acc / nonzeros


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    t = torch.as_tensor(np.asarray(values, dtype=np.float64))
    std = t.std(unbiased=True).item() if t.numel() > 1 else 0.0
    return t.mean().item(), std


def standard_error(std: float, n: int) -> float:
    """Standard error of a mean of ``n`` values with sample std ``std``."""
    return std / math.sqrt(n) if n > 0 else float("nan")


def paired_pvalue(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test of ``a`` against ``b`` over seeds (``scipy.stats.ttest_rel``): the
    significance mark of every FPE-against-dense comparison in the book. ``nan`` for fewer than two
    pairs; 1.0 when the pairs agree to float tolerance (no difference to test)."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-d and paired (same length), got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        return float("nan")
    if np.allclose(a, b):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of one family of tests (one figure's marks):
    a mark ``q < 0.05`` controls the false discovery rate of the family at 5 %. ``nan`` stays ``nan``
    and is not counted as a test."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-d, got shape {p.shape}")
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        ranked = p[order] * ok.size / np.arange(1, ok.size + 1)
        q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q

