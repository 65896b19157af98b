"""Figures of the companion, in one house style (matplotlib only; one function per kind of figure).

:func:`use_style` sets the style every chapter uses: readable font sizes, high-resolution output
(``retina`` PNGs inline, 200 dpi when saved) and light grids; :func:`color` gives each variant the
same colour in every figure of the book (dense black, clause splits green, random splits blue, Gram
splits orange, darker for the larger ``alpha``); :func:`annotate_cells` writes heat-map labels that
contrast with their cells; :func:`percent_symlog` gives a symmetric-log percentage axis plain ticks;
:func:`learning_curves` draws the learning curves a run recorded (the convergence rule of every chapter).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
import numpy as np
import torch

__all__ = ["STYLE", "VARIANT_COLORS", "use_style", "color", "annotate_cells", "percent_symlog", "weight_image",
           "weights_before_after", "accuracy_by_variant", "learning_curves"]

STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "legend.fontsize": 8.5, "figure.titlesize": 11, "figure.dpi": 100, "savefig.dpi": 200, "axes.grid": True,
         "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False}
VARIANT_COLORS = {"dense": "#000000", "clause_a2": "#5ab45a", "clause_a4": "#1b6e1b", "random_a2": "#6fa8dc",
                  "random_a4": "#1f4e99", "gram_a2": "#f4a259", "gram_a4": "#c0530b"}


def use_style() -> None:
    """The book's figure style (module docstring); inline figures render as high-resolution PNGs."""
    mpl.rcParams.update(STYLE)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # not in a notebook kernel
        pass


def color(key: str) -> str:
    """The colour of a variant key (``"dense"``, ``"clause_a2"``, ``"random_a4"``, ``"gram_a2"`` ...)."""
    if key not in VARIANT_COLORS:
        raise ValueError(f"key must be one of {sorted(VARIANT_COLORS)}, got {key!r}")
    return VARIANT_COLORS[key]


def annotate_cells(ax, labels, im, *, fontsize: float = 8) -> None:
    """Write ``labels[i][j]`` on each cell of the image ``im`` in black or white, whichever contrasts
    with the cell's colour (relative luminance of the colour map at the cell's value)."""
    data = np.asarray(im.get_array())
    ax.grid(False)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            r, g, b, _ = im.cmap(im.norm(data[i, j]))
            lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
            ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=fontsize, color="black" if lum > 0.5 else "white")


def percent_symlog(ax, *, linthresh: float = 1.0, axis: str = "y") -> None:
    """A symmetric-log percentage axis with plain decimal ticks (..., -10, -1, 0, 1, 10, 100, ...)."""
    getattr(ax, f"set_{axis}scale")("symlog", linthresh=linthresh)
    lo, hi = getattr(ax, f"get_{axis}lim")()
    top = int(np.ceil(np.log10(max(abs(lo), abs(hi), linthresh * 10))))
    ticks = [0.0] + [s * 10.0 ** e for e in range(int(np.floor(np.log10(linthresh))), top + 1) for s in (-1, 1)]
    ticks = sorted(t for t in ticks if lo <= t <= hi)
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(NullLocator())


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
    ax.set_title(title)
    ax.grid(False)
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
                        floor: float | None = None, floor_label: str = "count-of-ones floor", ylabel: str = "test accuracy (%)",
                        keys: Sequence[str] | None = None):
    """Per-seed dots, mean ± std bars (in each variant's colour when ``keys`` are given), the paper's
    values as black diamonds and an optional floor line."""
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2, 3.6), constrained_layout=True)
    rng = np.random.default_rng(0)
    for i, vals in enumerate(values):
        vals = np.asarray(vals, dtype=float)
        c = color(keys[i]) if keys is not None else f"C{i}"
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(vals)), vals, s=12, color=c, alpha=0.6, zorder=2)
        ax.errorbar(i + 0.25, vals.mean(), yerr=vals.std(ddof=1) if len(vals) > 1 else 0, fmt="o", color=c, capsize=4, zorder=3)
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
    ax.legend(loc="lower right")
    ax.grid(axis="x", visible=False)
    return fig


def learning_curves(run, cells: Sequence[tuple], keys: Sequence[str], *, labels: dict[str, str] | None = None,
                    converged: dict[str, bool] | None = None, colors: dict[str, str] | None = None,
                    ylabel: str = "test accuracy (%)"):
    """One panel per cell ``(m, h)`` of ``run`` (:class:`fpe.experiments.schedule.Run`): the mean test
    accuracy over seeds of every variant in ``keys`` against the epoch, the dense net from its
    initialisation and each FPE net from its expansion (a dotted line marks it); ``converged[key]``
    False adds "(budget-stopped)" to the legend (one, below the panels). Colours: ``colors[key]``, else
    :data:`VARIANT_COLORS`, else the next of matplotlib's cycle; the dense net is drawn on top."""
    fig, axes = plt.subplots(1, len(cells), figsize=(4.0 * len(cells) + 0.6, 3.6), constrained_layout=True, squeeze=False)
    cycle = iter(f"C{i}" for i in range(3, 10))
    col = {k: (colors or {}).get(k) or VARIANT_COLORS.get(k) or next(cycle) for k in keys}
    for ax, (m, h) in zip(axes[0], cells):
        total = max(run[m, h, k].curve_every * (run[m, h, k].curve.shape[1] - 1) for k in keys)
        for k in keys:
            cell = run[m, h, k]
            epochs = cell.curve_every * np.arange(cell.curve.shape[1])
            start = total - int(epochs[-1])
            label = (labels or {}).get(k, k) + ("" if (converged or {}).get(k, True) else " (budget-stopped)")
            ax.plot(start + epochs, cell.curve.double().mean(0).numpy(), lw=1.4, label=label, color=col[k],
                    zorder=3 if k == "dense" else 2)
            if start:
                ax.axvline(start, color="0.6", lw=0.8, ls=":")
        ax.set(title=", ".join(p for p in (f"m={m}" if m is not None else "", f"h={h}") if p), xlabel="epoch", ylabel=ylabel)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(keys), 3), fontsize=8, frameon=False)
    return fig
