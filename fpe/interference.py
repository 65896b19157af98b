"""Interference metrics of the paper (the paper, as we read it, section 4; the paper's Figure 3).

- **Feature capacity** (Scherlis et al. 2022): for input feature ``i`` with column ``w_i`` of the
  first-layer weight ``W1 (h, d)``, ``C_i = (w_i . w_i)^2 / sum_j (w_i . w_j)^2`` in [0, 1], from the
  Gram matrix ``G = W1^T W1``. Aggregated as the mean over all ``d`` features **[house]**; a feature
  with an all-zero column has capacity 0 (the epsilon guard of the denominator).
- **Neuron cosine similarity**: the mean of ``|cos|`` over all distinct pairs of hidden neurons'
  incoming weight vectors (rows of ``W1``) **[house: absolute value, all distinct pairs]**;
  neurons whose incoming weights are all zero (possible after FPE's prune) have no direction and are
  left out **[house]**.
- Both are reported as fold changes FPE / dense of the same seed and width (:func:`fold_change`).

All functions take any leading batch dimensions: ``w1 (..., h, d)``.
"""
from __future__ import annotations

import torch

__all__ = ["feature_capacity", "mean_abs_cosine", "off_block_fraction", "fold_change", "fit_r2"]


def feature_capacity(w1: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Mean feature capacity over the ``d`` input features of ``w1 (..., h, d)`` -> ``(...)``."""
    w = w1.to(torch.float64)
    gram = w.transpose(-1, -2) @ w  # (..., d, d)
    diag = torch.diagonal(gram, dim1=-2, dim2=-1)
    cap = diag**2 / ((gram**2).sum(-1) + eps)
    return cap.mean(-1)


def mean_abs_cosine(w1: torch.Tensor) -> torch.Tensor:
    """Mean ``|cos|`` over distinct pairs of non-zero rows of ``w1 (..., h, d)`` -> ``(...)`` (NaN if < 2 rows)."""
    w = w1.to(torch.float64)
    norms = w.norm(dim=-1)  # (..., h)
    alive = norms > 0
    unit = w / norms.clamp_min(1e-300).unsqueeze(-1)
    cos = (unit @ unit.transpose(-1, -2)).abs()
    h = w.shape[-2]
    pair = alive.unsqueeze(-1) & alive.unsqueeze(-2) & ~torch.eye(h, dtype=torch.bool)
    count = pair.sum((-1, -2))
    return torch.where(count > 0, (cos * pair).sum((-1, -2)) / count.clamp_min(1), torch.full_like(norms[..., 0], float("nan")))


def off_block_fraction(w1: torch.Tensor, k: int = 4) -> torch.Tensor:
    """Fraction of the squared mass of ``G = W1^T W1`` outside the ``k x k`` diagonal blocks of
    ``w1 (..., h, d)`` -> ``(...)``: the cross-clause interference of a Boolean model whose clause
    ``j`` reads inputs ``k*j .. k*j + k - 1`` (0 when every neuron's inputs interact only within clauses)."""
    d = w1.shape[-1]
    if not isinstance(k, int) or k < 1 or d % k:
        raise ValueError(f"k must be a positive integer dividing the input size {d}, got {k!r}")
    g = w1.transpose(-1, -2) @ w1
    block = torch.block_diag(*[torch.ones(k, k)] * (d // k)).bool()
    return ((g**2) * ~block).sum((-2, -1)) / (g**2).sum((-2, -1))


def fold_change(fpe_value: torch.Tensor, dense_value: torch.Tensor) -> torch.Tensor:
    """FPE / dense, per seed."""
    return fpe_value / dense_value


def fit_r2(x, y) -> tuple[float, float, float]:
    """Least-squares line ``y = a + b x``; returns ``(a, b, R^2)`` (R^2 = 1 - SS_res / SS_tot)."""
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    ok = torch.isfinite(x) & torch.isfinite(y)
    x, y = x[ok], y[ok]
    if x.numel() < 3:
        return float("nan"), float("nan"), float("nan")
    a_mat = torch.stack([torch.ones_like(x), x], 1)
    coef = torch.linalg.lstsq(a_mat, y.unsqueeze(1)).solution.squeeze(1)
    res = y - a_mat @ coef
    ss_tot = ((y - y.mean()) ** 2).sum()
    r2 = 1 - (res**2).sum() / ss_tot if ss_tot > 0 else torch.tensor(float("nan"))
    return float(coef[0]), float(coef[1]), float(r2)
