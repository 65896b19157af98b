"""Recorded numbers, their verdicts, and the ``results/<profile>/<notebook>.json`` files.

Every notebook records the numbers it recomputes with :class:`Results`: for each number an id, the
mean over seeds, its spread (sample standard deviation), seed count and per-seed values, the paper's
value (if any) with its own uncertainty and source, what kind of comparison it is, and a verdict by
the one rule of :mod:`fpe.book.verdicts`. Everything the verdict depends on is stored with the number,
so a test recomputes every recorded verdict (:func:`recompute_verdict`).

The same files feed the book's tables and are compared against the stored references in
``references/<profile>/<notebook>.json`` (:meth:`Results.check_references`).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from ..runtime import cache
from ..runtime.deps import code_hash, file_hashes
from ..metrics import mean_std
from ..runtime.paths import atomic_write_text, project_root
from ..runtime.provenance import environment
from ..training import native
from .verdicts import RULE, effect_ratio, printed_half_unit, verdict
from .verdicts import paper_uncertainty as paper_uncertainty_of

__all__ = ["ReferenceMismatch", "check", "convergence_sentence", "Number", "Results", "recompute_verdict", "judged", "measure_gaps", "write_gaps", "reference_tolerance", "write_references", "write_cpu_gaps", "measured_gaps"]

PROFILES = ("quick", "paper")


class ReferenceMismatch(AssertionError):
    """A recomputed number fell outside the tolerance of its stored reference."""


def check(name: str, value: float, reference: float, tolerance: float) -> float:
    """Raise :class:`ReferenceMismatch` unless ``|value - reference| <= tolerance``; return the gap.

    Args:
        name: what is compared (appears in the error).
        value: the recomputed number.
        reference: the stored reference.
        tolerance: the allowed absolute difference (>= 0), stated explicitly by the caller.
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    gap = abs(float(value) - float(reference))
    if not gap <= tolerance:  # also catches NaN
        raise ReferenceMismatch(
            f"{name}: recomputed {value:.6g} differs from the stored reference {reference:.6g} by "
            f"{gap:.3g} > tolerance {tolerance:.3g}. If the change is intended, regenerate the "
            f"references with `make references` and commit them."
        )
    return gap


@dataclass
class Number:
    """One recomputed number (mean over seeds) next to the paper's, with everything its verdict uses."""

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
    paper_uncertainty: float | None = None  # half-width of the paper value (fpe.book.verdicts.paper_uncertainty)
    baseline: float | None = None  # our baseline (e.g. 0 for a relative improvement, 1 for a fold change)
    paper_baseline: float | None = None  # the paper's baseline, where it differs from ours
    resolution: float | None = None  # for quantities without a baseline: the half-width that can tell
    kind: str = "comparison"  # comparison, check, calibration or null (fpe.book.verdicts.KINDS)
    substitute: bool = False  # computed on substitute data or a subset
    margin: float | None = None  # equivalence margin of a null
    primary: str | None = None  # "notebook/id" of the primary comparison of this paper value, if this is not it
    ratio: float | None = None  # our effect over the paper's
    interval: list[float] | None = None  # our interval where the chapter supplies one (a seed bootstrap of a single value)
    paper_printed: str | None = None  # the paper's value as printed (its digits set its uncertainty)
    rule: str = RULE  # the edition of the verdict rule that judged it (fpe.book.verdicts.RULE)


_PRINTED_SOURCES = ("text", "table", "real-data table", "paper, theory")


def _legacy_half_unit(value: float) -> float:
    """The second edition's printed precision (with its whole-number bug), to recognise an uncertainty it set."""
    from decimal import Decimal

    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** min(int(exponent), 0) if value != int(value) else 0.5


def _paper_uncertainty(number: dict) -> float:
    """The stored uncertainty of the paper value; for a number judged by an earlier edition of the rule
    (no ``rule`` stored), an uncertainty that edition derived from the printed digits is derived again
    by :func:`fpe.book.verdicts.printed_half_unit` (the whole-number fix), so stored results are re-judged
    from their stored inputs until their chapter runs again."""
    u = number.get("paper_uncertainty") or 0.0
    if number.get("rule") is None and number.get("paper") is not None:
        s = (number.get("source") or "").lower()
        printed = s.startswith(_PRINTED_SOURCES) or number.get("unit") == "R²"
        if printed and not (number.get("unit") == "count" and "text" in s) and u == _legacy_half_unit(number["paper"]):
            return printed_half_unit(number.get("paper_printed") or number["paper"])
    return u


def recompute_verdict(number: dict) -> str:
    """The verdict of a stored number, from its stored inputs (the check that every recorded verdict follows the rule)."""
    iv = number.get("interval")
    return verdict(number["value"], number["spread"], number["n_seeds"], number["paper"],
                   paper_uncertainty=_paper_uncertainty(number), baseline=number.get("baseline"),
                   paper_baseline=number.get("paper_baseline"), resolution=number.get("resolution"),
                   kind=number.get("kind", "comparison"), substitute=number.get("substitute", False),
                   margin=number.get("margin"), given_interval=tuple(iv) if iv is not None else None)


def judged(number: dict) -> dict:
    """A stored number judged by this edition of the rule: a copy with the verdict, the paper's
    uncertainty and the ratio recomputed from its stored inputs (what the generated pages show; equal to
    the stored ones for a number its chapter recorded under this edition)."""
    out = dict(number)
    out["paper_uncertainty"] = _paper_uncertainty(number) if number.get("paper") is not None else number.get("paper_uncertainty")
    out["verdict"] = recompute_verdict(number)
    if number.get("paper") is not None:
        out["ratio"] = effect_ratio(number["value"], number["paper"], number.get("baseline"), number.get("paper_baseline"))
    out["rule"] = RULE
    return out


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "–"
    if unit == "%":
        return f"{x:.1f}"
    if unit == "count":
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _fmt_u(u: float) -> str:
    """An uncertainty as stored (0.05 stays 0.05; 2.5 stays 2.5)."""
    return f"{u:.3g}"


def paper_cell(n: dict) -> str:
    """The paper's value with its own uncertainty, as the tables show it (the uncertainty as stored)."""
    if n["paper"] is None:
        return "–"
    u = n.get("paper_uncertainty")
    return (n.get("paper_printed") or _fmt(n["paper"], n["unit"])) + (f" ± {_fmt_u(u)}" if u else "")


def ours_cell(n: dict) -> str:
    """Ours: mean ± std over seeds, or a single value with the interval the chapter supplied."""
    iv = n.get("interval")
    if n["n_seeds"] < 2:
        return _fmt(n["value"], n["unit"]) + (f" [{_fmt(iv[0], n['unit'])}, {_fmt(iv[1], n['unit'])}]" if iv else "")
    return _fmt(n["value"], n["unit"]) + f" ± {_fmt(n['spread'], n['unit'])}"


def verdict_cell(n: dict) -> str:
    r = n.get("ratio")
    v = n["verdict"]
    extra = f" (ours/paper {r:.2f})" if r is not None and (v.startswith(("partly", "same direction")) or
                                                           (v.startswith("not reproduced") and r > 0)) else ""
    return v + extra + (f"; primary: {n['primary']}" if n.get("primary") else "")


def table_row(n: dict, label: str | None = None) -> str:
    """One row: quantity, ours (mean ± std), seeds, paper (± uncertainty), source, verdict."""
    return (f"| {label or n['label']} | {ours_cell(n)} | {n['n_seeds']} | {paper_cell(n)} | {n.get('source') or '–'} | "
            f"{verdict_cell(n)} |")


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
        self.convergence: dict[str, dict] = {}
        self._t0 = time.perf_counter()
        self.device = "cpu"  # where the chapter trains (a chapter with a device parameter sets it)
        self._counts0 = dict(cache.COUNTS)

    @property
    def path(self) -> Path:
        return self.root / "results" / self.profile / f"{self.notebook}.json"

    @property
    def reference_path(self) -> Path:
        return self.root / "references" / self.profile / f"{self.notebook}.json"

    def add(self, id: str, values: Sequence[float] | float, *, label: str, paper: float | str | None = None,
            unit: str = "%", source: str | None = None, baseline: float | None = None,
            paper_baseline: float | None = None, paper_uncertainty: float | None = None, resolution: float | None = None,
            kind: str = "comparison", substitute: bool = False, margin: float | None = None, primary: str | None = None,
            note: str | None = None, checked: bool = True, interval: Sequence[float] | None = None) -> Number:
        """Record a number from its per-seed ``values`` (or one value) and judge it by
        :func:`fpe.book.verdicts.verdict` (whose arguments these are; ``paper_uncertainty`` defaults to
        the reading uncertainty of ``source``). ``primary`` names the primary comparison ("notebook/id")
        of the same paper value when this is a repeat. ``checked=False`` keeps a machine-dependent number
        (a timing) out of the reference check. ``paper`` may be the paper's printed string (``"0.70"``),
        whose digits set its uncertainty. ``interval=(lo, hi)`` supplies our interval (e.g. a seed
        bootstrap of a single derived value, such as the R² of one fit); without it a single value has
        no interval and gets no verdict.
        """
        vals = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
        if not vals:
            raise ValueError(f"values for {id!r} must not be empty")
        mean, std = mean_std(vals)
        printed = paper if isinstance(paper, str) else None
        if printed is not None:
            paper = float(printed.strip().rstrip("%"))
        if paper is not None and paper_uncertainty is None:
            paper_uncertainty = paper_uncertainty_of(printed or paper, source, unit)
        if interval is not None:
            interval = [float(interval[0]), float(interval[1])]
        num = Number(id=id, label=label, value=mean, spread=std, n_seeds=len(vals), paper=paper, verdict="",
                     unit=unit, source=source, note=note, checked=checked, values=vals,
                     paper_uncertainty=paper_uncertainty, baseline=baseline, paper_baseline=paper_baseline,
                     resolution=resolution, kind=kind, substitute=substitute, margin=margin, primary=primary,
                     ratio=None if paper is None else effect_ratio(mean, paper, baseline, paper_baseline),
                     interval=interval, paper_printed=printed)
        num.verdict = recompute_verdict(asdict(num))
        self.numbers[id] = num
        return num

    def __getitem__(self, id: str) -> Number:
        return self.numbers[id]

    @property
    def source_path(self) -> Path:
        return self.root / "notebooks" / f"{self.notebook}.py"

    def code_hash(self) -> str | None:
        """:func:`fpe.runtime.deps.code_hash` of the chapter's source: the science hash of it and every
        ``fpe`` science file it imports (the hash the cache keys use); ``None`` when the source is not
        in this project."""
        return code_hash(self.source_path) if self.source_path.is_file() else None

    def code_files(self) -> dict[str, str] | None:
        """:func:`fpe.runtime.deps.file_hashes` of the chapter's source: one hash per file, so that a
        stale result names the file that changed."""
        return file_hashes(self.source_path) if self.source_path.is_file() else None

    def run_record(self) -> dict:
        """This run: seconds since the chapter created its :class:`Results`, its cache hits and misses
        (:data:`fpe.runtime.cache.COUNTS`), and the seconds of the latest cold run (a run that read nothing from
        the cache; kept from the previous result file while runs read it)."""
        hits = cache.COUNTS["hits"] - self._counts0["hits"]
        misses = cache.COUNTS["misses"] - self._counts0["misses"]
        seconds = time.perf_counter() - self._t0
        cold = seconds if not hits else None
        if cold is None and self.path.is_file():
            cold = json.loads(self.path.read_text()).get("run", {}).get("cold_seconds")
        return {"seconds": seconds, "cache_hits": hits, "cache_misses": misses, "cold_seconds": cold}

    def add_timings(self, timings: dict[str, float]) -> float | None:
        """Record a chapter's wall times (``{part: seconds}``, never checked against references) and the
        latest run of this profile from an empty cache (``cold_run``, from :meth:`run_record`); returns
        that cold run's seconds, or ``None`` when none is recorded."""
        cold = self.run_record()["cold_seconds"]
        if cold is not None:
            timings["cold_run"] = cold
        for name, sec in timings.items():
            self.add(f"seconds_{name}", [sec], label=f"wall time (s): {name.replace('_', ' ')}" +
                     (" (the latest run from an empty cache)" if name == "cold_run" else " (cached parts cost nothing)"),
                     unit="s", checked=False)
        return cold

    def cold_text(self) -> str:
        """The Cost sentence's clause on the latest run of this profile from an empty cache."""
        cold = self.run_record()["cold_seconds"]
        return (f"the latest run of this profile from an empty cache took {cold:.0f} s ({cold / 60:.1f} min) of wall time"
                if cold is not None else "no run from an empty cache is recorded")

    def add_convergence(self, name: str, check: dict, *, budget: str) -> dict:
        """Record whether a run met the convergence rule within its budget: ``check`` is the dict of
        :meth:`fpe.training.convergence.PlateauRule.check` (``met``, ``gain``, ``epochs``, ``window_epochs``,
        ``tol``, ``window``), or of :func:`fpe.experiments.schedule.convergence_summary` for a sweep's cells
        (with ``cells``, ``cells_met`` and the ``worst`` cell); ``budget`` says in words what the fixed
        budget was (e.g. ``"6 + 6 epochs"``). Stored under the results file's top-level key
        ``"convergence"``; returns the entry."""
        need = {"met": bool, "gain": float, "epochs": int, "window_epochs": int, "tol": float, "window": float}
        optional = {"cells": int, "cells_met": int, "worst": str}
        missing = [k for k in need if k not in check]
        if missing:
            raise ValueError(f"check must be a PlateauRule.check dict; missing {missing}")
        if not isinstance(budget, str) or not budget:
            raise ValueError(f"budget must be a non-empty string, got {budget!r}")
        entry = {k: cast(check[k]) for k, cast in {**need, **optional}.items() if k in check}
        # accuracies are sums of a few items' shares: a gain of exactly tol can come out of the float
        # arithmetic as 0.19999999999999574; rounded, it is no plateau (met needs gain < tol)
        entry["gain"] = round(entry["gain"], 9)
        entry["met"] = entry["met"] and entry["gain"] < entry["tol"]
        self.convergence[name] = {**entry, "budget": budget}
        return self.convergence[name]

    def add_run_convergence(self, run, keys: Sequence[str], *, budget: str, prefix: str = "", rule=None) -> dict[str, dict]:
        """:meth:`add_convergence` for every variant ``key`` of a run (:class:`fpe.experiments.schedule.Run`),
        named ``prefix + key``: the plateau rule (default ``PlateauRule()``) on each cell's mean curve,
        the cells stated together (:func:`fpe.experiments.schedule.convergence_summary`). Returns ``{key: entry}``."""
        from ..experiments.schedule import convergence_summary
        from ..training.convergence import PlateauRule

        rule = PlateauRule() if rule is None else rule
        return {k: self.add_convergence(f"{prefix}{k}", convergence_summary(run.convergence(k, rule)), budget=budget) for k in keys}

    def convergence_text(self, names: Sequence[str] | None = None) -> str:
        """One sentence per outcome, generated from the recorded entries: which runs met the rule and
        which were stopped by the budget, with their gains over the rule's window."""
        return convergence_sentence({n: self.convergence[n] for n in (names or list(self.convergence))})

    def to_dict(self) -> dict:
        return {"notebook": self.notebook, "profile": self.profile, "code_hash": self.code_hash(), "code_files": self.code_files(), "run": self.run_record(),
                "meta": self.meta, "environment": self.environment(), "numbers": [asdict(n) for n in self.numbers.values()],
                "convergence": self.convergence}

    def environment(self) -> dict:
        """:func:`fpe.runtime.provenance.environment` plus where this chapter computed: ``device`` (set
        ``results.device`` in a chapter that trains elsewhere than the CPU) and the Boolean trainer's
        backend and the split-sum inference kernel's (the C kernel, or PyTorch ops where it is unavailable
        or ``FPE_NATIVE=0``; an unavailable kernel also warns once)."""
        from ..cost.inference import splitsum_available

        return {**environment(), "device": str(self.device), "training_backend": "native" if native.available() else "torch",
                "splitsum_kernel": "native" if splitsum_available() else "torch"}

    def save(self) -> Path:
        """Write ``results/<profile>/<notebook>.json`` atomically; returns the path."""
        atomic_write_text(self.path, json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n")
        return self.path

    def table(self, ids: Sequence[str] | None = None) -> str:
        """A Markdown table: label, ours (mean +/- std, seeds), paper, verdict."""
        rows = ["| quantity | ours (mean ± std) | seeds | paper (± its uncertainty) | paper's source | verdict |",
                "|---|---|---|---|---|---|"]
        for id in ids or list(self.numbers):
            rows.append(table_row(asdict(self.numbers[id])))
        return "\n".join(rows)

    def check_references(self) -> dict[str, float]:
        """Compare every recorded number with ``references/<profile>/<notebook>.json``.

        Raises :class:`ReferenceMismatch` on the first number outside its stored tolerance,
        and ``FileNotFoundError``/``KeyError`` when a reference is missing. Returns the gaps. On a
        device other than the CPU (``results.device``) it prints how many numbers lie outside the
        tolerances, which were measured on the CPU, and raises nothing.
        """
        if not self.reference_path.is_file():
            raise FileNotFoundError(f"no stored references at {self.reference_path}; create them with `make references`")
        refs = json.loads(self.reference_path.read_text())["numbers"]
        checked = {id: n for id, n in self.numbers.items() if n.checked}
        missing = sorted(set(checked) - set(refs))
        if missing:
            raise KeyError(f"numbers without a stored reference in {self.reference_path}: {missing}; run `make references`")
        if str(self.device) != "cpu":  # references and their tolerances are CPU numbers: report, do not enforce
            gaps = {id: abs(n.value - refs[id]["value"]) for id, n in checked.items()}
            outside = sorted(id for id, g in gaps.items() if not g <= refs[id]["tolerance"])
            print(f"computed on {self.device}: the stored references are CPU numbers, so they are compared but not "
                  f"enforced; {len(outside)} of {len(gaps)} numbers lie outside the CPU float-order tolerance"
                  + (f" ({', '.join(outside[:10])}{' ...' if len(outside) > 10 else ''})" if outside else ""))
            return gaps
        return {id: check(f"{self.notebook}/{id}", n.value, refs[id]["value"], refs[id]["tolerance"])
                for id, n in checked.items()}


def convergence_sentence(entries: dict[str, dict]) -> str:
    """Markdown sentences on recorded convergence entries (``{name: entry}`` of
    :meth:`Results.add_convergence`): which met the plateau rule and which were budget-stopped, with gains."""
    if not entries:
        return "No convergence is recorded."
    rules = sorted({(e["tol"], e["window"]) for e in entries.values()})
    rule_text = lambda tol, window: f"less than {tol:g} points of accuracy gained over the last {window * 100:g} % of the epochs"  # noqa: E731

    def fmt(n, e):
        where = f"; {e['cells_met']} of {e['cells']} cells met it, the largest gain at {e['worst']}" if "cells" in e else ""
        own = f"; its rule: {rule_text(e['tol'], e['window'])}" if len(rules) > 1 else ""
        return f"{n} ({e['gain']:+.2f} points over the last {e['window_epochs']} of {e['epochs']} epoch{'s' * (e['epochs'] != 1)}{where}{own})"

    met = [fmt(n, e) for n, e in entries.items() if e["met"]]
    stopped = [fmt(n, e) for n, e in entries.items() if not e["met"]]
    stated = rule_text(*rules[0]) if len(rules) == 1 else "each run's own, stated with it"
    out = [f"**Convergence** (the plateau rule: {stated}; the budget is fixed, the rule only labels the run):"]
    if met:
        out.append(f"met the rule within the budget: {'; '.join(met)}.")
    if stopped:
        out.append(f"budget-stopped (still gaining when the budget ended): {'; '.join(stopped)}.")
    return " ".join(out)


GAPS_FILE = "float_order_gaps.json"  # under references/: the measured float-order sensitivity of every number
CPU_GAPS_FILE = "cpu_gaps.json"  # under references/: the measured difference of every number between two CPU families
GAP_MARGIN = 3.0
UNIT_FLOOR = {"%": 0.5, "count": 0.0}  # points; see reference_tolerance
# Relative floor of the other units. Measured: the transformer chapter's quick numbers (MiniLM's cosine
# similarities and losses, the same code and seeds) differ by up to 3.2e-7 relative between an Intel Xeon
# and an AMD EPYC (the libraries pick other kernels); 1e-5 leaves a 30x margin.
RELATIVE_FLOOR = 1e-5


def measure_gaps(a: str | os.PathLike, b: str | os.PathLike) -> dict[str, dict[str, float]]:
    """``{notebook: {id: |value_a - value_b|}}`` between two folders of result files of one profile
    computed with the same seeds but a different float summation order (the Makefile's
    ``reference-gaps`` target: the native against the PyTorch training backend); either folder may hold
    reference files instead (:func:`write_cpu_gaps`)."""
    out = {}
    for pa in sorted(Path(a).glob("*.json")):
        pb = Path(b) / pa.name
        if pb.is_file():
            va, vb = _checked_values(pa), _checked_values(pb)
            out[pa.stem] = {i: abs(va[i] - vb[i]) for i in va if i in vb}
    return out


def _checked_values(path: Path) -> dict[str, float]:
    """``{id: value}`` of the checked numbers of a result file (a list of numbers) or a reference file
    (``{id: {"value", "tolerance", ...}}``, every one checked)."""
    numbers = json.loads(Path(path).read_text())["numbers"]
    if isinstance(numbers, dict):
        return {i: r["value"] for i, r in numbers.items()}
    return {n["id"]: n["value"] for n in numbers if n.get("checked", True)}


def write_gaps(a: str | os.PathLike, b: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Write :func:`measure_gaps` ``(a, b)`` to ``references/float_order_gaps.json``; returns the path."""
    path = project_root(root) / "references" / GAPS_FILE
    doc = {"what": "largest |difference| of every checked quick-profile number between two runs with the same seeds and a "
                   "different float summation order: the native training backend (fpe.training.native) against the PyTorch "
                   "one (FPE_NATIVE=0); written by `make reference-gaps`", "gaps": measure_gaps(a, b)}
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def write_cpu_gaps(ours: str | os.PathLike, other: str | os.PathLike, what: str, root: str | os.PathLike | None = None) -> Path:
    """Write ``references/cpu_gaps.json``: for every checked number, ``|value - reference|`` between the
    result files in ``ours`` (computed here) and the reference files in ``other`` (the same code and
    seeds on another CPU family; ``what`` says which). The embeddings and multi-layer training of some
    chapters take other float summation orders on other CPUs (other vector kernels), and a chaotic
    training run amplifies the last bit into points; these gaps widen those numbers' tolerances."""
    path = project_root(root) / "references" / CPU_GAPS_FILE
    atomic_write_text(path, json.dumps({"what": what, "gaps": measure_gaps(ours, other)}, indent=1, sort_keys=True) + "\n")
    return path


def measured_gaps(root: str | os.PathLike | None = None) -> dict[str, dict[str, float]]:
    """``{notebook: {id: gap}}``: the larger of each number's float-order gap (:data:`GAPS_FILE`) and its
    gap across CPU families (:data:`CPU_GAPS_FILE`), where measured."""
    out: dict[str, dict[str, float]] = {}
    for name in (GAPS_FILE, CPU_GAPS_FILE):
        path = project_root(root) / "references" / name
        for nb, gaps in (json.loads(path.read_text())["gaps"] if path.is_file() else {}).items():
            for i, g in gaps.items():
                out.setdefault(nb, {})[i] = max(g, out.get(nb, {}).get(i, 0.0))
    return out


def reference_tolerance(num: dict, gap: float | None = None) -> float:
    """Tolerance stored with a reference: 3 times the number's measured gap (:func:`measured_gaps`: the
    largest difference between the native and the PyTorch training backends on the quick profile, same
    seeds, or between two CPU families), at least a floor by unit: 0.5 points for percentages (an
    allowance for CPUs not measured), exact for counts, and :data:`RELATIVE_FLOOR` of the value otherwise."""
    floor = UNIT_FLOOR.get(num["unit"], RELATIVE_FLOOR * abs(num["value"]))
    return max(GAP_MARGIN * (gap or 0.0), floor)


def write_references(profile: str, root: str | os.PathLike | None = None, notebooks: Sequence[str] | None = None) -> list[Path]:
    """Copy ``results/<profile>/*.json`` (or only ``notebooks``) to ``references/<profile>/`` as
    value + tolerance pairs, each tolerance from :func:`reference_tolerance` and :func:`measured_gaps`
    (numbers recorded with ``checked=False`` are left out)."""
    root = project_root(root)
    gaps = measured_gaps(root)
    written = []
    for path in sorted((root / "results" / profile).glob("*.json")):
        if notebooks and path.stem not in notebooks:
            continue
        data = json.loads(path.read_text())
        g = gaps.get(path.stem, {})
        refs = {n["id"]: {"value": n["value"], "tolerance": reference_tolerance(n, g.get(n["id"])), "gap": g.get(n["id"])}
                for n in data["numbers"] if n.get("checked", True)}
        out = root / "references" / profile / path.name
        atomic_write_text(out, json.dumps({"notebook": data["notebook"], "profile": profile, "numbers": refs}, indent=1) + "\n")
        written.append(out)
    return written
