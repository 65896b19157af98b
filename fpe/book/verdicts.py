"""The book's verdict rule, second edition: one rule for every recomputed number that has a paper value.

Each paper value carries its own uncertainty (:func:`paper_uncertainty`, a half-width stored with it):

- printed values (text, tables, printed R^2, the theory's formulas): half a unit of the last printed digit;
- values read by eye off a linear axis: 2.5 points for Figures 4a/4b (relative improvement, %),
  5 points for the colour scale of Figure 4c, 0.1 for the fold-change axis of Figure 3;
- values read off a log axis (Figure 5): 15 % of the value; dense accuracies inferred from the
  log-axis accuracy-per-parameter curves: 4 points.

Our interval is the mean +/- the Student t quantile (two-sided 95 %, ``n - 1`` degrees of freedom)
times the standard error; a single value (``n = 1``) has no spread and is taken as exact.
Verdicts of a **comparison** (the paper's own setting):

- ``reproduced``: the paper's value, widened by its uncertainty, meets our interval, and our
  interval is narrow enough to tell: its half-width is at most half the paper's effect
  ``|paper - paper_baseline|`` (or, for a quantity without a baseline, at most its stated ``resolution``);
- ``partly reproduced``: no overlap, but our effect has the paper's sign and our interval excludes
  the baseline (the ratio ours/paper of the effects is recorded);
- ``not reproduced``: our effect is significant with the opposite sign, or not significant where
  the paper reports one (and our interval is narrow enough to say so), or, without a baseline, the
  intervals do not meet;
- ``inconclusive``: our interval is too wide to tell.

Fold changes use 1 as their baseline. Numbers on **substitute** data or subsets get the same
computation with " on a substitute" appended and are tallied apart. A **check** (an invariant, or a
formula against its own Monte Carlo) is ``check passed``/``check failed``, never a reproduction. A
**calibration** target is labelled ``circular (calibration target)`` and left out of the tally. A
**null** (the paper reports no difference) is tested for equivalence within a stated ``margin``:
``equivalent`` (our interval inside +/- margin), ``not equivalent`` (our interval excludes 0), else
``inconclusive``. Numbers without a paper value get ``no paper value``.
"""
from __future__ import annotations

import math
from decimal import Decimal

from scipy import stats

__all__ = ["KINDS", "VERDICTS", "paper_uncertainty", "half_width", "verdict", "effect_ratio", "tally_class"]

KINDS = ("comparison", "check", "calibration", "null")
_BASE = ("reproduced", "partly reproduced", "not reproduced", "inconclusive")
SUBSTITUTE = " on a substitute"
VERDICTS = (*_BASE, *(v + SUBSTITUTE for v in _BASE), "check passed", "check failed", "circular (calibration target)",
            "equivalent", "not equivalent", *(v + SUBSTITUTE for v in ("equivalent", "not equivalent")), "no paper value")
CONFIDENCE = 0.95


def _printed_half_unit(value: float) -> float:
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** min(int(exponent), 0) if value != int(value) else 0.5


def paper_uncertainty(paper: float, source: str | None, unit: str) -> float:
    """The half-width of a paper value from where it was read (module docstring)."""
    s = (source or "").lower()
    if unit == "count" and "text" in s:
        return 0.0  # an exact invariant (FPE keeps the count)
    if s.startswith(("text", "table", "real-data table", "paper, theory")) or unit == "R²":
        return _printed_half_unit(paper)
    if "figure 5" in s:
        return 0.15 * abs(paper)
    if "accuracy per parameter" in s:
        return 4.0
    if "figure 4c" in s:
        return 5.0
    if "figure 3" in s:
        return 0.1
    if "figure 4" in s:
        return 2.5
    raise ValueError(f"no reading uncertainty is known for source {source!r}; pass paper_uncertainty= explicitly")


def half_width(spread: float, n: int) -> float:
    """Half-width of our two-sided 95 % Student t interval of a mean of ``n`` values (0 for one value)."""
    if n < 2:
        return 0.0
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * spread / math.sqrt(n)


def effect_ratio(mean: float, paper: float, baseline: float | None, paper_baseline: float | None) -> float | None:
    """Our effect over the paper's, ``(mean - baseline) / (paper - paper_baseline)``."""
    if baseline is None:
        return None
    pb = baseline if paper_baseline is None else paper_baseline
    return (mean - baseline) / (paper - pb) if paper != pb else None


def verdict(mean: float, spread: float, n: int, paper: float | None, *, paper_uncertainty: float = 0.0,
            baseline: float | None = None, paper_baseline: float | None = None, resolution: float | None = None,
            kind: str = "comparison", substitute: bool = False, margin: float | None = None) -> str:
    """The verdict of one number (module docstring); every argument is stored with the number."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if paper is None:
        return "no paper value"
    if kind == "calibration":
        return "circular (calibration target)"
    half = half_width(spread, n)
    lo, hi = mean - half, mean + half
    if kind == "check":
        return "check passed" if lo - paper_uncertainty <= paper <= hi + paper_uncertainty else "check failed"
    suffix = SUBSTITUTE if substitute else ""
    if kind == "null":
        if margin is None or not margin > 0:
            raise ValueError(f"a null needs margin > 0, got {margin!r}")
        if -margin <= lo and hi <= margin:
            return "equivalent" + suffix
        return ("not equivalent" + suffix) if (lo > 0 or hi < 0) else ("inconclusive" + suffix)
    if baseline is not None:
        pb = baseline if paper_baseline is None else paper_baseline
        effect = paper - pb
        bound = abs(effect) / 2 if effect != 0 else resolution
    else:
        bound = resolution
    if bound is None:
        raise ValueError("a comparison without a baseline (or with a zero paper effect) needs resolution=, the "
                         "largest half-width of our interval that can tell")
    narrow = half <= bound
    if lo - paper_uncertainty <= paper <= hi + paper_uncertainty:
        return ("reproduced" if narrow else "inconclusive") + suffix
    if baseline is not None:
        significant = n >= 2 and (lo > baseline or hi < baseline)  # one value: no test
        same_sign = effect != 0 and math.copysign(1.0, mean - baseline) == math.copysign(1.0, effect)
        if significant:
            return ("partly reproduced" if same_sign else "not reproduced") + suffix
    return ("not reproduced" if narrow else "inconclusive") + suffix


def tally_class(number: dict) -> str:
    """Where a number is counted on the results page: ``"paper"`` (primary comparisons on the paper's own
    setting), ``"substitute"``, ``"check"``, ``"null"``, ``"calibration"``, ``"secondary"`` or ``"none"``."""
    if number.get("paper") is None:
        return "none"
    if number.get("primary") is not None:
        return "secondary"
    kind = number.get("kind", "comparison")
    if kind in ("check", "calibration", "null"):
        return kind
    return "substitute" if number.get("substitute") else "paper"
