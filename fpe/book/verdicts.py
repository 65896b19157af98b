"""The book's verdict rule, third edition: one rule for every recomputed number that has a paper value.

Each paper value carries its own uncertainty (:func:`paper_uncertainty`, a half-width stored with it):

- printed values (text, tables, printed R^2, the theory's formulas): half a unit of the last printed
  digit, read off the printed string (:func:`printed_half_unit`: "1.0" and "9.0" are +/-0.05, "0.70" is
  +/-0.005, "100" is +/-0.5); a value passed as a float is read as Python prints it (``repr``), so a
  chapter passes the paper's string where a trailing zero matters;
- values read by eye off a linear axis: 2.5 points for Figures 4a/4b (relative improvement, %),
  5 points for the colour scale of Figure 4c, 0.1 for the fold-change axis of Figure 3 (a range
  read there, such as the cosine fold changes, is compared at its middle with half the range plus 0.1);
- values read off a log axis (Figure 5): a single read value carries 15 % of itself; a read range
  ``lo``-``hi`` (the gap between the Gram and random series, or the width of a band) is compared at
  its middle with half the range plus 15 % of the middle (:func:`read_range`); dense accuracies
  inferred from the log-axis accuracy-per-parameter curves: 4 points.

Our interval is the mean +/- the Student t quantile (two-sided 95 %, ``n - 1`` degrees of freedom)
times the standard error. A single value (``n = 1``, e.g. the R^2 of one fit) has no interval of its
own: it is judged only with an interval the chapter supplies (a seed bootstrap, stored as
``interval``); without one a comparison or a null gets ``no interval`` and no verdict. A **check**
of a deterministic invariant or formula may be a single exact value.

Verdicts of a **comparison** (the paper's own setting) with a baseline (0 for a relative
improvement, 1 for a fold change, our dense accuracy for an accuracy): the paper's effect is
``paper - paper_baseline``, ours ``mean - baseline``, their ratio ``ours/paper``; the paper's value
*meets* our interval when, widened by its uncertainty, it overlaps it; our interval is *narrow
enough* when its half-width is at most half the paper's effect; the **ratio band** is 0.5-2x.

- ``reproduced``: the paper's value meets our interval, ours is narrow enough, and the ratio lies in
  the band (the band is waived where the paper's effect is within its own uncertainty of zero);
- ``partly reproduced``: our interval excludes zero effect on the paper's side, the ratio lies in the
  band, but the values do not agree as ``reproduced`` requires;
- ``same direction, smaller`` / ``same direction, larger``: our interval excludes zero effect on the
  paper's side, but the ratio lies below 0.5 / above 2 (the direction is reproduced, the size is not);
- ``not reproduced``: our interval excludes zero effect on the other side of the paper's, or it
  excludes the paper's value while covering zero effect (no effect where the paper has one);
- ``inconclusive``: our interval covers both the paper's value and zero effect (too wide to tell).

Without a baseline (or with a zero paper effect) "narrow enough" is a stated ``resolution``:
``reproduced`` when the values meet and our interval is narrow enough, ``not reproduced`` when
our interval excludes the paper's value (or, at a zero paper effect, excludes zero), else
``inconclusive``.

Numbers on **substitute** data or subsets get the same computation with " on a substitute" appended
and are tallied apart. A **check** (an invariant, or a formula against its own Monte Carlo) is
``check passed``/``check failed``, never a reproduction. A **calibration** target is labelled
``circular (calibration target)`` and left out of the tally. A **null** (the paper reports no
difference) is tested for equivalence within a stated ``margin``: ``equivalent`` (our interval inside
+/- margin), ``not equivalent`` (our interval excludes 0), else ``inconclusive``. Numbers without a
paper value get ``no paper value``.
"""
from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from scipy import stats

__all__ = ["RULE", "KINDS", "VERDICTS", "BAND", "printed_half_unit", "read_range", "paper_uncertainty", "half_width", "seeds_for_gap", "significance_word",
           "interval", "verdict", "effect_ratio", "tally_class", "base_verdict", "seeds_to_decide"]

RULE = "v3"  # the edition of this rule; stored with every number it judged
KINDS = ("comparison", "check", "calibration", "null")
BAND = (0.5, 2.0)  # the ratio band of "reproduced" and "partly reproduced"
_BASE = ("reproduced", "partly reproduced", "same direction, smaller", "same direction, larger", "not reproduced",
         "inconclusive", "no interval")
SUBSTITUTE = " on a substitute"
VERDICTS = (*_BASE, *(v + SUBSTITUTE for v in _BASE), "check passed", "check failed", "circular (calibration target)",
            "equivalent", "not equivalent", *(v + SUBSTITUTE for v in ("equivalent", "not equivalent")), "no paper value")
CONFIDENCE = 0.95


def base_verdict(v: str) -> str:
    """A verdict without its " on a substitute" suffix."""
    return v[: -len(SUBSTITUTE)] if v.endswith(SUBSTITUTE) else v


def printed_half_unit(printed: str | float) -> float:
    """Half a unit of the last printed digit of a value as the paper prints it ("1.0" -> 0.05,
    "0.70" -> 0.005, "100" -> 0.5, "1.5e-3" -> 0.00005). A float is read as ``repr`` prints it, which
    keeps one decimal of a whole number (1.0 -> "1.0") but drops other trailing zeros (0.70 -> "0.7"):
    pass the paper's string where that matters."""
    text = printed.strip().rstrip("%").strip() if isinstance(printed, str) else repr(float(printed))
    try:
        exponent = Decimal(text).as_tuple().exponent  # not normalised: the printed digits count
    except InvalidOperation as e:
        raise ValueError(f"not a printed number: {printed!r}") from e
    return 0.5 * 10.0 ** int(exponent)


def read_range(lo: float, hi: float) -> tuple[float, float]:
    """A value read off a log axis as a range ``lo``-``hi``: its middle and its uncertainty, half the
    range plus 15 % of the middle (module docstring)."""
    mid = (lo + hi) / 2
    return mid, (hi - lo) / 2 + 0.15 * abs(mid)


def paper_uncertainty(paper: float | str, source: str | None, unit: str) -> float:
    """The half-width of a paper value from where it was read (module docstring); ``paper`` may be the
    printed string."""
    s = (source or "").lower()
    if unit == "count" and "text" in s:
        return 0.0  # an exact invariant (FPE keeps the count)
    if s.startswith(("text", "table", "real-data table", "paper, theory")) or unit == "R²":
        return printed_half_unit(paper)
    value = abs(float(paper))
    if "figure 5" in s:
        return 0.15 * value
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


def interval(mean: float, spread: float, n: int, given: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """Our interval: the one the chapter supplies (``given``, e.g. a seed bootstrap), else the Student t
    interval of the mean of ``n >= 2`` values, else ``None`` (a single value has none)."""
    if given is not None:
        lo, hi = float(given[0]), float(given[1])
        if not lo <= hi:
            raise ValueError(f"an interval needs lo <= hi, got {given!r}")
        return lo, hi
    if n < 2:
        return None
    half = half_width(spread, n)
    return mean - half, mean + half


def effect_ratio(mean: float, paper: float, baseline: float | None, paper_baseline: float | None) -> float | None:
    """Our effect over the paper's, ``(mean - baseline) / (paper - pb)``."""
    if baseline is None:
        return None
    pb = baseline if paper_baseline is None else paper_baseline
    return (mean - baseline) / (paper - pb) if paper != pb else None


def verdict(mean: float, spread: float, n: int, paper: float | None, *, paper_uncertainty: float = 0.0,
            baseline: float | None = None, paper_baseline: float | None = None, resolution: float | None = None,
            kind: str = "comparison", substitute: bool = False, margin: float | None = None,
            given_interval: tuple[float, float] | None = None) -> str:
    """The verdict of one number (module docstring); every argument is stored with the number."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if paper is None:
        return "no paper value"
    if kind == "calibration":
        return "circular (calibration target)"
    u = paper_uncertainty or 0.0
    iv = interval(mean, spread, n, given_interval)
    if kind == "check":
        lo, hi = iv if iv is not None else (mean, mean)  # a deterministic value is exact
        return "check passed" if lo - u <= paper <= hi + u else "check failed"
    suffix = SUBSTITUTE if substitute else ""
    if kind == "null":
        if margin is None or not margin > 0:
            raise ValueError(f"a null needs margin > 0, got {margin!r}")
        if iv is None:
            return "no interval" + suffix
        lo, hi = iv
        if -margin <= lo and hi <= margin:
            return "equivalent" + suffix
        return ("not equivalent" + suffix) if (lo > 0 or hi < 0) else ("inconclusive" + suffix)
    effect = None
    if baseline is not None:
        pb = baseline if paper_baseline is None else paper_baseline
        effect = paper - pb
    bound = abs(effect) / 2 if effect else resolution
    if bound is None:
        raise ValueError("a comparison without a baseline (or with a zero paper effect) needs resolution=, the "
                         "largest half-width of our interval that can tell")
    if iv is None:
        return "no interval" + suffix
    lo, hi = iv
    meets = lo - u <= paper <= hi + u
    narrow = (hi - lo) / 2 <= bound
    if not effect:  # no baseline, or a zero paper effect: values only
        if meets and narrow:
            return "reproduced" + suffix
        if not meets or (effect == 0 and (lo > baseline or hi < baseline)):
            return "not reproduced" + suffix
        return "inconclusive" + suffix
    ratio = (mean - baseline) / effect
    in_band = BAND[0] <= ratio <= BAND[1]
    clear = abs(effect) > u  # the paper's effect is told apart from zero by its own uncertainty
    if meets and narrow and (in_band or not clear):
        return "reproduced" + suffix
    above, below = lo > baseline, hi < baseline
    if above or below:  # our interval excludes zero effect
        if above != (effect > 0):
            return "not reproduced" + suffix
        if in_band:
            return "partly reproduced" + suffix
        return ("same direction, smaller" if ratio < BAND[0] else "same direction, larger") + suffix
    if not meets:  # no effect where the paper has one
        return "not reproduced" + suffix
    return "inconclusive" + suffix


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


MAX_SEEDS = 100_000  # seeds_to_decide answers None beyond this


def significance_word(mean: float, q: float, sign: int = 1, level: float = 0.05) -> str:
    """A later-version direction test in one word, as the chapters state it: ``"holds"`` when the
    difference has the stated sign (``sign``: +1 positive, -1 negative) at ``q < level``, ``"reversed"``
    when it has the other sign at ``q < level``, else ``"not significant"``."""
    if q < level and mean * sign != 0:
        return "holds" if mean * sign > 0 else "reversed"
    return "not significant"


def seeds_for_gap(spread: float, gap: float) -> int | None:
    """The smallest seed count ``n`` whose interval half-width (:func:`half_width`) at ``spread`` is below
    ``gap``: the seeds an interval needs to exclude a value ``gap`` away from the mean, if the mean and
    spread stayed as observed; ``None`` if ``gap <= 0`` or more than :data:`MAX_SEEDS` would be needed."""
    if not gap > 0:
        return None
    lo, hi = 2, MAX_SEEDS
    if half_width(spread, hi) >= gap:
        return None
    while lo < hi:  # half_width falls with n: bisect for the first n with half_width < gap
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if half_width(spread, mid) >= gap else (lo, mid)
    return lo


def seeds_to_decide(number: dict) -> dict | None:
    """How many seeds would decide an ``inconclusive`` number if its mean and spread stayed as observed
    (a power line, not a promise): the smallest ``n`` whose Student t interval (:func:`half_width`)
    excludes zero effect (``"zero"``) and the smallest that excludes the paper's value widened by its
    uncertainty (``"paper"``); for a null, the smallest that puts the interval inside +/- its margin
    (``"equivalence"``) or excluding 0. A level (no ``baseline``: an accuracy, not an effect) has no
    ``"zero"``: zero is no effect only for an effect. ``None`` for a number that is not inconclusive or has no spread;
    a value is ``None`` where more than :data:`MAX_SEEDS` would be needed (the mean sits on the line)."""
    if base_verdict(number["verdict"]) != "inconclusive" or number["n_seeds"] < 2 or not number["spread"] > 0:
        return None
    mean, s = number["value"], number["spread"]
    needed = lambda gap: seeds_for_gap(s, gap)  # noqa: E731

    if number.get("kind") == "null":
        margin = number["margin"]
        return {"equivalence": needed(margin - abs(mean)), "zero": needed(abs(mean))}
    base = number.get("baseline")
    u = number.get("paper_uncertainty") or 0.0
    out = {"paper": needed(abs(mean - number["paper"]) - u)}
    if base is not None:
        out["zero"] = needed(abs(mean - base))
    return out
