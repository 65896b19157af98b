"""Recorded numbers, the verdict rule, and the ``results/<profile>/<notebook>.json`` files.

Every notebook records the numbers it recomputes with :class:`Results`: for each number an id, the
mean over seeds, its spread (sample standard deviation) and seed count, the paper's value (if any)
and a verdict by :func:`verdict`, the one rule used everywhere in the book:

- ``reproduced``: the paper's value lies within our mean +/- 2 standard errors, or within the
  figure-reading tolerance (default +/- 3 points) of our mean;
- ``same direction``: not reproduced, but the effect has the paper's sign relative to a baseline
  (e.g. FPE above dense) and our effect is more than 2 standard errors away from the baseline;
- ``not reproduced``: neither;
- ``no paper value``: the paper gives no number to compare with.

The same files feed the book's tables and are compared against the stored references in
``references/<profile>/<notebook>.json`` (:meth:`Results.check_references`).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from ..deps import code_hash
from ..metrics import mean_std, standard_error
from ..paths import atomic_write_text, project_root
from ..repro import check, environment

__all__ = ["VERDICTS", "FIGURE_TOLERANCE", "verdict", "Number", "Results", "write_references"]

VERDICTS = ("reproduced", "same direction", "not reproduced", "no paper value")
FIGURE_TOLERANCE = 3.0  # points: how precisely a value can be read off the paper's figures
PROFILES = ("quick", "paper")


def verdict(mean: float, spread: float, n: int, paper: float | None, *, baseline: float | None = None,
            paper_baseline: float | None = None, tolerance: float = FIGURE_TOLERANCE) -> str:
    """The book's verdict rule (module docstring). ``baseline``/``paper_baseline`` enable 'same direction'."""
    if paper is None:
        return "no paper value"
    se = standard_error(spread, n)
    if abs(mean - paper) <= max(2.0 * se, tolerance):
        return "reproduced"
    if baseline is not None:
        pb = baseline if paper_baseline is None else paper_baseline
        paper_sign = math.copysign(1.0, paper - pb) if paper != pb else 0.0
        ours = mean - baseline
        if paper_sign != 0.0 and math.copysign(1.0, ours) == paper_sign and abs(ours) > 2.0 * se:
            return "same direction"
    return "not reproduced"


@dataclass
class Number:
    """One recomputed number (mean over seeds) next to the paper's."""

    id: str
    label: str
    value: float
    spread: float
    n_seeds: int
    paper: float | None
    verdict: str
    unit: str = "%"
    source: str | None = None  # where the paper's value comes from ("text", "Figure 4a", ...)
    note: str | None = None
    checked: bool = True  # compared with the stored reference (False for machine-dependent timings)
    values: list[float] = field(default_factory=list)  # per seed


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "–"
    if unit == "%":
        return f"{x:.1f}"
    if unit == "count":
        return f"{x:,.0f}"
    return f"{x:.4g}"


class Results:
    """The numbers one notebook recomputes, for one profile.

    Args:
        notebook: the notebook's name (file stem), e.g. ``"02_headline"``.
        profile: ``"quick"`` or ``"paper"``.
        root: project folder (default :func:`project_root`).
    """

    def __init__(self, notebook: str, profile: str, *, root: str | os.PathLike | None = None):
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        self.notebook, self.profile = notebook, profile
        self.root = project_root(root)
        self.numbers: dict[str, Number] = {}
        self.meta: dict = {}

    @property
    def path(self) -> Path:
        return self.root / "results" / self.profile / f"{self.notebook}.json"

    @property
    def reference_path(self) -> Path:
        return self.root / "references" / self.profile / f"{self.notebook}.json"

    def add(self, id: str, values: Sequence[float] | float, *, label: str, paper: float | None = None,
            unit: str = "%", source: str | None = None, baseline: float | None = None,
            paper_baseline: float | None = None, tolerance: float = FIGURE_TOLERANCE, note: str | None = None,
            checked: bool = True) -> Number:
        """Record a number from its per-seed ``values`` (or one value) and judge it by :func:`verdict`.

        ``checked=False`` keeps a machine-dependent number (a timing) out of the reference check.
        """
        vals = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
        if not vals:
            raise ValueError(f"values for {id!r} must not be empty")
        mean, std = mean_std(vals)
        v = verdict(mean, std, len(vals), paper, baseline=baseline, paper_baseline=paper_baseline, tolerance=tolerance)
        num = Number(id=id, label=label, value=mean, spread=std, n_seeds=len(vals), paper=paper, verdict=v,
                     unit=unit, source=source, note=note, checked=checked, values=vals)
        self.numbers[id] = num
        return num

    def __getitem__(self, id: str) -> Number:
        return self.numbers[id]

    @property
    def source_path(self) -> Path:
        return self.root / "notebooks" / f"{self.notebook}.py"

    def code_hash(self) -> str | None:
        """:func:`fpe.deps.code_hash` of the chapter's source and every ``fpe`` file it imports (the
        hash the cache keys use); ``None`` when the source is not in this project."""
        return code_hash(self.source_path) if self.source_path.is_file() else None

    def to_dict(self) -> dict:
        return {"notebook": self.notebook, "profile": self.profile, "code_hash": self.code_hash(), "meta": self.meta,
                "environment": environment(), "numbers": [asdict(n) for n in self.numbers.values()]}

    def save(self) -> Path:
        """Write ``results/<profile>/<notebook>.json`` atomically; returns the path."""
        atomic_write_text(self.path, json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n")
        return self.path

    def table(self, ids: Sequence[str] | None = None) -> str:
        """A Markdown table: label, ours (mean +/- std, seeds), paper, verdict."""
        rows = ["| quantity | ours (mean ± std) | seeds | paper | paper's source | verdict |",
                "|---|---|---|---|---|---|"]
        for id in ids or list(self.numbers):
            n = self.numbers[id]
            ours = _fmt(n.value, n.unit) + ("" if n.n_seeds < 2 else f" ± {_fmt(n.spread, n.unit)}")
            rows.append(f"| {n.label} | {ours} | {n.n_seeds} | {_fmt(n.paper, n.unit)} | {n.source or '–'} | {n.verdict} |")
        return "\n".join(rows)

    def check_references(self) -> dict[str, float]:
        """Compare every recorded number with ``references/<profile>/<notebook>.json``.

        Raises :class:`~fpe.repro.ReferenceMismatch` on the first number outside its stored tolerance,
        and ``FileNotFoundError``/``KeyError`` when a reference is missing. Returns the gaps.
        """
        if not self.reference_path.is_file():
            raise FileNotFoundError(f"no stored references at {self.reference_path}; create them with `make references`")
        refs = json.loads(self.reference_path.read_text())["numbers"]
        checked = {id: n for id, n in self.numbers.items() if n.checked}
        missing = sorted(set(checked) - set(refs))
        if missing:
            raise KeyError(f"numbers without a stored reference in {self.reference_path}: {missing}; run `make references`")
        return {id: check(f"{self.notebook}/{id}", n.value, refs[id]["value"], refs[id]["tolerance"])
                for id, n in checked.items()}


def reference_tolerance(num: dict) -> float:
    """Tolerance stored with a reference: 3 standard errors over seeds, at least 0.5 points for
    percentages (a single seed's accuracy can move by that across CPUs), exact for counts."""
    se = standard_error(num["spread"], num["n_seeds"]) if num["n_seeds"] > 1 else 0.0
    floor = 0.5 if num["unit"] == "%" else 1e-9 * abs(num["value"])
    return max(3.0 * se, floor)


def write_references(profile: str, root: str | os.PathLike | None = None, notebooks: Sequence[str] | None = None) -> list[Path]:
    """Copy ``results/<profile>/*.json`` (or only ``notebooks``) to ``references/<profile>/`` as
    value + tolerance pairs (numbers recorded with ``checked=False`` are left out)."""
    root = project_root(root)
    written = []
    for path in sorted((root / "results" / profile).glob("*.json")):
        if notebooks and path.stem not in notebooks:
            continue
        data = json.loads(path.read_text())
        refs = {n["id"]: {"value": n["value"], "tolerance": reference_tolerance(n)}
                for n in data["numbers"] if n.get("checked", True)}
        out = root / "references" / profile / path.name
        atomic_write_text(out, json.dumps({"notebook": data["notebook"], "profile": profile, "numbers": refs}, indent=1) + "\n")
        written.append(out)
    return written
