"""Figures of the companion (matplotlib only; one function per kind of figure)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch

__all__ = ["weight_image", "weights_before_after", "accuracy_by_variant"]


def weight_image(ax, w: torch.Tensor, title: str, *, vmax: float | None = None, groups: int | None = None):
    """Heat map of a weight matrix ``(out, in)`` (zeros white); optional clause boundaries every ``groups`` inputs."""
    w = w.detach().cpu().numpy()
    vmax = vmax or float(np.abs(w).max()) or 1.0
    shown = np.where(w == 0, np.nan, w)
    cmap = plt.get_cmap("RdBu_r").copy()
    cmap.set_bad("white")
    im = ax.imshow(shown, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
    if groups:
        for x in range(groups, w.shape[1], groups):
            ax.axvline(x - 0.5, color="0.5", lw=0.5)
    ax.set_title(title, fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("input")
    ax.set_ylabel("hidden neuron")
    return im


def weights_before_after(before: torch.Tensor, afters: dict[str, torch.Tensor], *, alpha: int, groups: int | None = None):
    """First-layer weights of a dense net and of its expansions side by side (one colour scale)."""
    vmax = float(before.abs().max())
    fig, axes = plt.subplots(1, 1 + len(afters), figsize=(3.2 * (1 + len(afters)), 3.4), constrained_layout=True)
    weight_image(axes[0], before, f"dense W1 ({before.shape[0]}×{before.shape[1]})", vmax=vmax, groups=groups)
    for ax, (name, w) in zip(axes[1:], afters.items()):
        im = weight_image(ax, w, f"{name} ({w.shape[0]}×{w.shape[1]})", vmax=vmax, groups=groups)
        for y in range(alpha, w.shape[0], alpha):
            ax.axhline(y - 0.5, color="0.3", lw=0.6)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    return fig


def accuracy_by_variant(labels: Sequence[str], values: Sequence[Sequence[float]], *, paper: Sequence[float | None] | None = None,
                        floor: float | None = None, floor_label: str = "count-of-ones floor", ylabel: str = "test accuracy (%)"):
    """Per-seed dots, mean ± std bars, the paper's values as black diamonds and an optional floor line."""
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2, 3.6), constrained_layout=True)
    rng = np.random.default_rng(0)
    for i, vals in enumerate(values):
        vals = np.asarray(vals, dtype=float)
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(vals)), vals, s=12, color=f"C{i}", alpha=0.6, zorder=2)
        ax.errorbar(i + 0.25, vals.mean(), yerr=vals.std(ddof=1) if len(vals) > 1 else 0, fmt="o", color=f"C{i}", capsize=4, zorder=3)
    if paper is not None:
        pts = [(i, p) for i, p in enumerate(paper) if p is not None]
        if pts:
            ax.scatter([i + 0.25 for i, _ in pts], [p for _, p in pts], marker="D", s=36, facecolor="none",
                       edgecolor="black", zorder=4, label="paper")
    if floor is not None:
        ax.axhline(floor, color="0.4", ls="--", lw=1, label=floor_label)
    ax.axhline(50, color="0.8", lw=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig
