"""Metrics of the paper (PAPER.md section 4).

- accuracy (%);
- relative improvement ``(acc_FPE - acc_dense) / acc_dense * 100`` per configuration;
- accuracy per non-zero parameter: test accuracy (%) divided by the non-zero weight count;
- significance against dense (ours; the paper reports none): a two-sided paired t-test over seeds.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["accuracy", "relative_improvement", "accuracy_per_nonzero", "mean_std", "standard_error", "paired_pvalue"]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy (%) of logits ``(N,)``/``(N, 1)`` (sigmoid output, threshold 0) or ``(N, C)`` (argmax)."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        pred = (logits.reshape(-1) > 0).to(y.dtype)
    else:
        pred = logits.argmax(-1).to(y.dtype)
    return 100.0 * (pred == y.reshape(-1)).double().mean().item()


def relative_improvement(acc_fpe, acc_dense):
    """``(acc_fpe - acc_dense) / acc_dense * 100`` (%); works on floats and tensors elementwise."""
    return (acc_fpe - acc_dense) / acc_dense * 100.0


def accuracy_per_nonzero(acc, nonzeros):
    """Test accuracy (%) per non-zero weight (biases not counted)."""
    return acc / nonzeros


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    t = torch.as_tensor(list(values), dtype=torch.float64)
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
