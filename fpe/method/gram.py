"""Gram split of FPE for real data (the paper, as we read it, section 2, "Gram split"; the algorithm is **[house]**).

The paper names the rule but not its algorithm. Ours: with the layer's incoming weights ``W``
``(h, d)``, form ``G = W^T W`` ``(d, d)``; row ``i`` of ``G`` says how input feature ``i`` overlaps with
every other feature through the hidden layer. Normalise the rows to unit length, cluster them into
``alpha`` groups with scikit-learn's k-means (``n_init`` restarts, seeded from the FPE generator), then
rebalance to equal sizes (sizes differ by at most one): features are placed in order of how strongly
they prefer their best cluster over their second best, each into its nearest cluster that still has
room. The partition is shared by all parents of the layer (one ``(d,)`` assignment), so features
that interfere through ``W`` end up in the same child. It needs scikit-learn (a clear
``ModuleNotFoundError`` says so when it is missing); weights on any device are clustered on the CPU.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["gram_assignment", "balanced_groups"]


def balanced_groups(distances: np.ndarray, alpha: int) -> np.ndarray:
    """Assign ``n`` points to ``alpha`` clusters of sizes differing by at most one.

    ``distances (n, alpha)``: each point goes, in order of decreasing preference margin (second
    smallest minus smallest distance), to its nearest cluster with remaining capacity.
    """
    n = distances.shape[0]
    capacity = np.full(alpha, n // alpha)
    capacity[: n % alpha] += 1
    srt = np.sort(distances, axis=1)
    margin = srt[:, 1] - srt[:, 0] if alpha > 1 else np.zeros(n)
    out = np.full(n, -1, dtype=np.int64)
    for i in np.lexsort((np.arange(n), -margin)):  # stable: ties by index
        for c in np.argsort(distances[i], kind="stable"):
            if capacity[c] > 0:
                out[i] = c
                capacity[c] -= 1
                break
    return out


def gram_assignment(weight: torch.Tensor, alpha: int, generator: torch.Generator | None = None, *,
                    n_init: int = 4) -> torch.Tensor:
    """The Gram split rule: ``weight (h, d)`` -> a shared assignment ``(d,)`` in ``0..alpha-1``.

    Usable as ``fpe.expand(model, alpha, split="gram")`` or as a callable split.
    """
    try:
        from sklearn.cluster import KMeans
    except ImportError as exc:
        raise ModuleNotFoundError("split='gram' clusters with k-means from scikit-learn, which is not installed: "
                                  "pip install scikit-learn (or use split='random')", name="sklearn") from exc

    w = weight.detach().to("cpu", torch.float64)
    d = w.shape[1]
    if not 2 <= alpha <= d:
        raise ValueError(f"alpha must be in 2..{d} for a Gram split of {d} inputs, got {alpha}")
    g = (w.T @ w).numpy()
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    rows = g / np.maximum(norms, 1e-12)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator)) if generator is not None else 0
    km = KMeans(n_clusters=alpha, n_init=n_init, random_state=seed).fit(rows)
    dist = ((rows[:, None, :] - km.cluster_centers_[None, :, :]) ** 2).sum(-1)
    return torch.from_numpy(balanced_groups(dist, alpha))
