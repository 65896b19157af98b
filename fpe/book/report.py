"""Generated pages of the book: results, findings, coverage, verdict rule, provenance, and the README blocks.

Everything here is computed from ``results/<profile>/*.json`` (written by the notebooks) and from
the executed notebooks in ``book/``; nothing is typed by hand. The output is deterministic (no
timestamps), so the pages change only when results change.

``python -m fpe.book.report`` writes ``book/results.md``, ``book/provenance.md``, the block between
the ``<!-- results:start -->`` and ``<!-- results:end -->`` markers of ``README.md`` and the package
table between its ``<!-- layout:start -->`` and ``<!-- layout:end -->`` markers.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from ..runtime.paths import atomic_write_text, project_root
from . import verdicts
from .claims import CLAIMS, DIRECTIONS, PANELS, PAPER_VALUES, SECTION
from .results import judged, ours_cell, paper_cell, table_row, verdict_cell

__all__ = ["load_results", "section_anchors", "tally", "tally_text", "results_page", "provenance_page", "verdicts_page",
           "findings_page", "coverage_page", "readme_table", "claim_verdict", "write_all"]

START, END = "<!-- results:start -->", "<!-- results:end -->"
FOUND_START, FOUND_END = "<!-- found:start -->", "<!-- found:end -->"
LAYOUT_START, LAYOUT_END = "<!-- layout:start -->", "<!-- layout:end -->"
# the package's layers, in the order the README's table lists them: the method first, then the shared
# modules and the layers above it, the infrastructure and the book tooling last (the import order, lowest
# first, is runtime, the top level, method, training, datasets, experiments, cost, book: tests/test_cache.py)
LAYERS = ("method", "", "training", "datasets", "experiments", "cost", "runtime", "book")
METHOD = ("expand", "splits", "gram", "mlp", "pruning", "layers", "verify", "conv", "export")  # the method, in this order


def load_results(profile: str = "paper", root: Path | None = None) -> dict[str, dict]:
    """``{notebook: data}`` for every ``results/<profile>/*.json``, in notebook order, every number judged by
    the current edition of the rule from its stored inputs (:func:`fpe.book.results.judged`)."""
    root = project_root(root)
    out = {}
    for p in sorted((root / "results" / profile).glob("*.json")):
        data = json.loads(p.read_text())
        data["numbers"] = [judged(n) for n in data["numbers"]]
        out[p.stem] = data
    return out


def _make_id(text: str) -> str:
    """The heading anchor MyST creates (``myst_heading_anchors``), which links may target."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    return default_slugify(text)


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text()).get("cells", []) if notebook.is_file() else []


def _text_of_outputs(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]))
        for key in ("text/markdown", "text/plain", "text/html"):
            if key in out.get("data", {}):
                parts.append("".join(out["data"][key]))
    return "\n".join(parts)


def section_anchors(notebook: Path, labels: list[str]) -> dict[str, str]:
    """For each label, the anchor of the heading above the first cell whose output shows it."""
    heading = ""
    found: dict[str, str] = {}
    for cell in _cells(notebook):
        src = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            for line in src.splitlines():
                m = re.match(r"^#{1,6}\s+(.*)$", line)
                if m:
                    heading = m.group(1).strip()
        elif cell.get("cell_type") == "code":
            text = _text_of_outputs(cell)
            for label in labels:
                if label not in found and label in text and heading:
                    found[label] = _make_id(heading)
    return found


def _title(notebook: Path, fallback: str) -> str:
    for cell in _cells(notebook):
        if cell.get("cell_type") == "markdown":
            m = re.search(r"^#\s+(.*)$", "".join(cell.get("source", "")), re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _numbers(data: dict) -> list[tuple[str, dict]]:
    return [(nb, n) for nb, d in data.items() for n in d["numbers"]]


def tally(data: dict) -> dict[str, Counter]:
    """Verdict counts per class of :func:`fpe.book.verdicts.tally_class` (primary comparisons on the
    paper's own setting are ``"paper"``)."""
    out: dict[str, Counter] = {}
    for _, n in _numbers(data):
        out.setdefault(verdicts.tally_class(n), Counter())[n["verdict"]] += 1
    return out


def tally_text(data: dict) -> str:
    """The tally in words, as the results page, the findings page and the README show it."""
    t = tally(data)

    def part(cls: str, order) -> str:
        c = t.get(cls, Counter())
        return f"**{sum(c.values())}**: " + ", ".join(f"{c[v]} {v}" for v in order if c[v]) if c else "**0**"

    base = verdicts._BASE
    return "\n".join([
        f"- paper values compared in their primary place, on the paper's own setting {part('paper', base)};",
        f"- on substitute data or subsets (tallied apart) {part('substitute', [v + verdicts.SUBSTITUTE for v in base])};",
        f"- nulls tested for equivalence {part('null', [v for v in verdicts.VERDICTS if 'equivalent' in v or 'inconclusive' in v])};",
        f"- checks of our own invariants and derivations (not reproductions) {part('check', ['check passed', 'check failed'])};",
        f"- calibration targets (circular, excluded) **{sum(t.get('calibration', Counter()).values())}**; repeats of a "
        f"paper value compared elsewhere (secondary, excluded) **{sum(t.get('secondary', Counter()).values())}**; "
        f"recomputed numbers without a paper value **{sum(t.get('none', Counter()).values())}**.",
    ])


def results_page(profile: str = "paper", root: Path | None = None) -> str:
    """Markdown of the results page: the tally, then every number per chapter with a link."""
    root = project_root(root)
    data = load_results(profile, root)
    lines = [
        "# Results",
        "",
        "Every number below is read from `results/" + profile + "/*.json`, which the chapters write when "
        "they run; this page is generated by `python -m fpe.book.report` (never typed). Verdicts follow "
        "{doc}`the verdict rule <verdicts>`; the paper's values carry their own uncertainty (±).",
        "",
        tally_text(data),
        "",
    ]
    lines += power_section(data)
    lines += convergence_section(data)
    for nb, d in data.items():
        page = root / "book" / f"{nb}.ipynb"
        title = _title(page, nb)
        nums = d["numbers"]
        anchors = section_anchors(page, [n["label"] for n in nums])
        seeds = sorted({n["n_seeds"] for n in nums})
        lines += [f"## {title}", "",
                  f"Computed by {{doc}}`{nb}` (profile `{d['profile']}`; seeds per number: "
                  f"{', '.join(map(str, seeds))}).", ""]
        for heading, rows in (("Numbers with a paper value", [n for n in nums if n["paper"] is not None]),
                              ("Recomputed numbers without a paper value", [n for n in nums if n["paper"] is None])):
            if not rows:
                continue
            lines += [f"**{heading}**", "", "| quantity | ours (mean ± std) | seeds | paper (± its uncertainty) | paper's source | verdict |",
                      "|---|---|---|---|---|---|"]
            for n in rows:
                target = f"{nb}.ipynb" + (f"#{anchors[n['label']]}" if n["label"] in anchors else "")
                lines.append(table_row(n, f"[{n['label']}]({target})"))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def convergence_section(data: dict) -> list[str]:
    """The results page's convergence lines: for every chapter (every results file), its recorded
    convergence entries (:meth:`fpe.book.results.Results.add_convergence`: met the plateau rule or
    budget-stopped, the gain over the rule's window, the epochs), or "not recorded"."""
    lines = ["## Convergence of the baselines", "",
             "Every chapter trains for a fixed budget of epochs. Where a chapter records its learning curves, the "
             "plateau rule (`fpe.training.convergence.PlateauRule`) labels each run: *met* when its mean test accuracy "
             "gained less than `tol` points over the last `window` of its epochs, *budget-stopped* otherwise. The "
             "label changes no training choice. A sweep states its cells together: *met* only when every cell met "
             "the rule, with the gain of the cell that gained most.", "",
             "| chapter | run | outcome | gain over the window (points) | window / epochs | budget |", "|---|---|---|---|---|---|"]
    for nb, d in data.items():
        entries = d.get("convergence") or {}
        if not entries:
            lines.append(f"| {{doc}}`{nb}` | – | not recorded | – | – | – |")
        for name, e in entries.items():
            outcome = "met" if e["met"] else "budget-stopped"
            if "cells" in e:
                outcome += f" ({e['cells_met']} of {e['cells']} cells met; largest gain at {e['worst']})"
            lines.append(f"| {{doc}}`{nb}` | {name} | {outcome} | {e['gain']:+.2f} "
                         f"(tol {e['tol']:g}) | {e['window_epochs']} / {e['epochs']} | {e['budget']} |")
    return lines + [""]


def power_section(data: dict) -> list[str]:
    """The results page's power lines: for every inconclusive number that is counted (primary comparisons,
    on the paper's setting or a substitute, and nulls), the seeds that would decide it at the observed
    mean and spread (:func:`fpe.book.verdicts.seeds_to_decide`); then every direction test of
    :data:`fpe.book.claims.DIRECTIONS` that shows no effect, with the seeds that would exclude it
    (:func:`fpe.book.verdicts.seeds_for_gap`)."""
    rows = []
    for nb, n in _numbers(data):
        if verdicts.tally_class(n) not in ("paper", "substitute", "null"):
            continue
        need = verdicts.seeds_to_decide(n)
        if need is None:
            continue
        fmt = lambda k: "–" if k not in need else (f"{need[k]:,}" if need[k] is not None else f"> {verdicts.MAX_SEEDS:,}")  # noqa: E731
        rows.append(f"| {n['label']} ({{doc}}`{nb}`) | {ours_cell(n)} | {n['n_seeds']} | {paper_cell(n)} | "
                    f"{fmt('zero')} | {fmt('paper') if n.get('kind') != 'null' else fmt('equivalence')} |")
    drows = []
    for tests in DIRECTIONS.values():
        for nb, prefix, base, sign in tests:
            for n in _family(data, nb, prefix):
                if n["paper"] is not None or n["id"].endswith("_q") or n["n_seeds"] < 2 or not n["spread"] > 0 \
                        or direction_verdict(n, base, sign) != "no effect shown":
                    continue
                need = verdicts.seeds_for_gap(n["spread"], abs(n["value"] - base))
                side = "the stated side" if (n["value"] - base) * sign > 0 else "the other side"
                drows.append(f"| {n['label']} ({{doc}}`{nb}`) | {ours_cell(n)} | {n['n_seeds']} | "
                             f"{'above' if sign > 0 else 'below'} {base:g} | {side} | "
                             f"{f'{need:,}' if need is not None else f'> {verdicts.MAX_SEEDS:,}'} |")
    dtable = ["### Direction tests with no effect shown", "",
              "Every direction test (a number without a paper value where the paper states the sign of an effect) "
              "whose interval still covers no effect, with the seeds that would exclude it if the mean and the spread "
              f"stayed as observed. {len(drows)} number(s).", ""]
    if drows:
        dtable += ["| quantity | ours (mean ± std) | seeds | the paper's direction | our mean lies on | seeds to exclude no effect |",
                   "|---|---|---|---|---|---|", *drows, ""]
    head = ["## What more seeds would decide", "",
            "Every counted number that stays *inconclusive*, with the seeds its interval would need, if the mean and "
            "the spread stayed as observed, to exclude zero effect, and to exclude the paper's value (for a null: to "
            "fall inside its equivalence margin); \"–\" where zero effect does not apply (a level such as an accuracy, "
            "not an effect). A power line, not a promise: more seeds also move the mean. "
            f"{len(rows)} number(s).", ""]
    if rows:
        head += ["| quantity | ours (mean ± std) | seeds | paper (± its uncertainty) | seeds to exclude zero effect | "
                 "seeds to exclude the paper's value (null: to show equivalence) |", "|---|---|---|---|---|---|", *rows, ""]
    return head + dtable


def verdicts_page() -> str:
    """The one statement of the verdict rule, generated from :mod:`fpe.book.verdicts` itself."""
    doc = verdicts.__doc__.replace("``", "`")
    doc = re.sub(r":\w+:`~?([\w.]+)`", r"`\1`", doc)
    first, rest = doc.split("\n", 1)
    return ("# The verdict rule\n\n" + first.strip() + "\n" + rest + "\n"
            "This page is generated from the docstring of `fpe.book.verdicts`, the code that applies the rule "
            "(`python -m fpe.book.report`); a test recomputes every recorded verdict from its stored inputs.\n")


def _lookup(data: dict, ref: str) -> dict | None:
    nb, id = ref.split("/", 1)
    return next((n for n in data.get(nb, {}).get("numbers", []) if n["id"] == id), None)


AGREE = ("reproduced",)
SIZE = ("reproduced", "partly reproduced")
DIRECTION = ("same direction, smaller", "same direction, larger", "same direction")
AGAINST = ("not reproduced", "opposite direction")
UNKNOWN = ("inconclusive", "no interval", "no effect shown")


def direction_verdict(n: dict, baseline: float, sign: int) -> str:
    """A number without a paper value where the paper states a direction: ``same direction`` (our
    interval excludes ``baseline`` on the stated side), ``opposite direction`` (on the other side),
    ``no effect shown`` (it covers the baseline) or ``no interval``."""
    iv = verdicts.interval(n["value"], n["spread"], n["n_seeds"], tuple(n["interval"]) if n.get("interval") else None)
    if iv is None:
        return "no interval"
    lo, hi = iv
    if lo > baseline or hi < baseline:
        return "same direction" if (lo > baseline) == (sign > 0) else "opposite direction"
    return "no effect shown"


def claim_verdict(deciding: list[dict], family: list[str] | None = None) -> str:
    """A claim's verdict from its deciding numbers and every primary comparison of its figures (``family``:
    their verdicts, the deciding numbers' among them, with the claim's direction tests).

    Among the family's verdicts that tell (``inconclusive``, ``no interval`` and ``no effect shown`` left
    out): ``reproduced`` when every deciding number is reproduced and at least two thirds of the family
    are reproduced or partly reproduced; ``partly reproduced`` when every deciding number is at least
    partly reproduced and at least half of the family are; ``direction only`` when every deciding number
    has the paper's direction and at least half of the family have it; ``not reproduced`` when no
    deciding number has the paper's direction and at least half of the family are not reproduced;
    ``inconclusive`` when no deciding number tells; ``mixed`` otherwise. "(on substitutes)" is added when
    a deciding number was computed on a substitute. A claim decided by checks only is ``checks passed``
    or ``checks failed`` (no reproduction)."""
    family = [verdicts.base_verdict(v) for v in (family if family is not None else [n["verdict"] for n in deciding])]
    compared = [n for n in deciding if n.get("kind", "comparison") == "comparison" and n["paper"] is not None]
    if not compared:
        checks = [n["verdict"] for n in deciding if n.get("kind") == "check"]
        if not checks:
            return "not compared (no paper number)"
        return "checks passed (no reproduction)" if all(v == "check passed" for v in checks) else "checks failed"
    base = [verdicts.base_verdict(n["verdict"]) for n in compared]
    tells = [v for v in family if v not in UNKNOWN and v in (*SIZE, *DIRECTION, *AGAINST)]
    frac = (lambda labels: sum(v in labels for v in tells) / len(tells)) if tells else (lambda labels: 0.0)
    if all(v in UNKNOWN for v in base):
        v = "inconclusive"
    elif all(v in AGREE for v in base) and frac(SIZE) >= 2 / 3:
        v = "reproduced"
    elif all(v in SIZE for v in base) and frac(SIZE) >= 1 / 2:
        v = "partly reproduced"
    elif all(v in (*SIZE, *DIRECTION) for v in base) and frac((*SIZE, *DIRECTION)) >= 1 / 2:
        v = "direction only"
    elif not any(v in (*SIZE, *DIRECTION) for v in base) and frac(AGAINST) >= 1 / 2:
        v = "not reproduced"
    else:
        v = "mixed"
    return v + (" (on substitutes)" if any(n.get("substitute") for n in compared) else "")


def _family(data: dict, nb: str, prefix: str) -> list[dict]:
    return [n for n in data.get(nb, {}).get("numbers", []) if n["id"].startswith(prefix)]


def _finding_figure(root: Path, nb: str) -> str | None:
    """Write the image output of the chapter's cell tagged ``finding`` to ``book/_static/findings/`` and
    return its path relative to ``book/`` (None if the chapter has no such cell)."""
    import base64

    for cell in _cells(root / "book" / f"{nb}.ipynb"):
        if "finding" in cell.get("metadata", {}).get("tags", []):
            for out in cell.get("outputs", []):
                png = out.get("data", {}).get("image/png")
                if png:
                    path = root / "book" / "_static" / "findings" / f"{nb}.png"
                    data = base64.b64decode("".join(png) if isinstance(png, list) else png)
                    if not path.is_file() or path.read_bytes() != data:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(data)
                    return f"_static/findings/{nb}.png"
    return None


def _directions(data: dict, key: str) -> list[tuple[dict, str]]:
    """The claim's direction tests: each number without a paper value in :data:`fpe.book.claims.DIRECTIONS`
    with its :func:`direction_verdict`."""
    return [(n, direction_verdict(n, base, sign)) for nb, prefix, base, sign in DIRECTIONS.get(key, [])
            for n in _family(data, nb, prefix) if n["paper"] is None and not n["id"].endswith("_q")]


def findings(data: dict) -> list[dict]:
    """Each claim of :data:`fpe.book.claims.CLAIMS` with its verdict, deciding numbers, the verdicts of every
    primary comparison of its figures and its direction tests."""
    out = []
    for key, text, refs, families, figure in CLAIMS:
        deciding = [(ref, _lookup(data, ref)) for ref in refs]
        found = [n for _, n in deciding if n is not None]
        members = {(nb, n["id"]): n for nb, prefix in families for n in _family(data, nb, prefix)
                   if n["paper"] is not None and n.get("primary") is None and n.get("kind", "comparison") != "calibration"}
        for ref, n in deciding:
            if n is not None:
                members.setdefault(tuple(ref.split("/", 1)), n)
        directions = _directions(data, key)
        fam = Counter(n["verdict"] for n in members.values())
        comparisons = [n["verdict"] for n in members.values() if n.get("kind", "comparison") == "comparison"]
        verdict = claim_verdict(found, comparisons + [v for _, v in directions])
        out.append(dict(key=key, text=text, verdict=verdict, deciding=deciding, family=fam, figure=figure,
                        directions=directions, section=SECTION.get(key, "")))
    return out


def findings_page(profile: str = "paper", root: Path | None = None) -> str:
    root = project_root(root)
    data = load_results(profile, root)
    lines = ["# What we found", "",
             "The paper's claims, each with its verdict under {doc}`the verdict rule <verdicts>`, the numbers that "
             "decide it and one figure. Generated from `results/" + profile + "/*.json` by `python -m fpe.book.report`; "
             "a claim's verdict is computed from its deciding numbers and every primary comparison of its figures, "
             "with the direction tests it carries (`fpe.book.report.claim_verdict`; verdicts that do not tell, "
             "inconclusive, no interval and no effect shown, left out of the shares): reproduced when every deciding "
             "number is reproduced and at least two thirds of the family are reproduced or partly reproduced; partly "
             "reproduced when every deciding number is at least partly reproduced and at least half of the family are; "
             "direction only when every deciding number has the paper's direction and at least half of the family "
             "have it; not reproduced when no deciding number has the paper's direction and at least half of the "
             "family are not reproduced; inconclusive when no deciding number tells; mixed otherwise. A claim is "
             "reproduced only if its deciding numbers are. "
             "What the book does not cover is on the {doc}`coverage` page.", "",
             "**Tally of every number with a paper value:**", "", tally_text(data), ""]
    for f in findings(data):
        lines += [f"## {f['text']}", "", f"**Verdict: {f['verdict']}.** (The paper, {f['section']}.)", ""]
        if f["deciding"]:
            lines += ["| deciding number | ours (mean ± std) | seeds | paper (± its uncertainty) | verdict |", "|---|---|---|---|---|"]
            for ref, n in f["deciding"]:
                lines.append(f"| {ref} | missing | | | |" if n is None else
                             f"| {n['label']} ({{doc}}`{ref.split('/')[0]}`) | {ours_cell(n)} | {n['n_seeds']} | {paper_cell(n)} | "
                             f"{verdict_cell(n)} |")
            lines.append("")
        if f["family"]:
            lines += ["All primary comparisons of this claim's figures (its verdict is computed from these): " + ", ".join(
                f"{c} {v}" for v, c in sorted(f["family"].items(), key=lambda kv: (-kv[1], kv[0]))) + ".", ""]
        if f["directions"]:
            dc = Counter(v for _, v in f["directions"])
            lines += ["Direction tests this claim carries (numbers without a paper value where the paper states a "
                      "direction; counted with the comparisons): " + ", ".join(f"{c} {v}" for v, c in sorted(
                          dc.items(), key=lambda kv: (-kv[1], kv[0]))) + ".", "",
                      "| direction test | ours (mean ± std) | seeds | result |", "|---|---|---|---|"]
            nb_of = {id(n): nb for nb, d in data.items() for n in d["numbers"]}
            for n, v in f["directions"]:
                lines.append(f"| {n['label']} ({{doc}}`{nb_of.get(id(n), '')}`) | {ours_cell(n)} | {n['n_seeds']} | {v} |")
            lines.append("")
        fig = _finding_figure(root, f["figure"])
        if fig:
            lines += [f"```{{figure}} {fig}", f"From {{doc}}`{f['figure']}`.", "```", ""]
    beyond = [(panel, nb) for panel, nb, _, n_paper, _ in PANELS
              if nb and not n_paper and data.get(nb, {}).get("meta", {}).get("summary")]
    if beyond:
        lines += ["## Beyond the paper's figures", "",
                  "Claims of the paper's later version that come without public numbers, and experiments it proposes as "
                  "future work: each chapter tests the stated direction over held-out seeds, with no paper value to "
                  "compare with, so none of these counts in the tally above. Each summary is the chapter's own, "
                  "generated from its recorded numbers (its cost and not-covered paragraphs left out).", ""]
        for panel, nb in beyond:
            paragraphs = [p.strip() for p in data[nb]["meta"]["summary"].strip().split("\n\n")]
            lines += [f"### {panel}", "", f"From {{doc}}`{nb}`.", "",
                      *[q for p in paragraphs if p and not p.startswith(("**Cost.**", "**Not covered")) for q in (p, "")]]
    return "\n".join(lines).rstrip() + "\n"


def coverage_page(profile: str = "paper", root: Path | None = None) -> str:
    """Every figure panel, table and number family of the paper with its status here."""
    root = project_root(root)
    data = load_results(profile, root)
    rows = ["| panel, table or family | chapter | paper values | compared here | recomputed (all) | status |", "|---|---|---|---|---|---|"]
    tot = Counter()
    for panel, nb, prefixes, n_paper, note in PANELS:
        nums = [n for p in prefixes for n in _family(data, nb, p)] if nb else []
        compared = sum(1 for n in nums if n["paper"] is not None and n.get("primary") is None)
        seeds = sorted({n["n_seeds"] for n in nums})
        if nb is None:
            status = note
        else:
            subst = any(n.get("substitute") for n in nums)
            status = note or ("on a substitute or subset" if subst else "recomputed at the paper's scale")
            status += f" (seeds: {', '.join(map(str, seeds))})" if seeds else ""
        tot["paper"] += n_paper
        tot["compared"] += min(compared, n_paper) if n_paper else 0
        tot["missing"] += n_paper if nb is None else max(0, n_paper - compared)
        chapter = f"{{doc}}`{nb}`" if nb else "–"
        rows.append(f"| {panel} | {chapter} | {n_paper} | {compared} | {len(nums)} | {status} |")
    values = ["| block of {doc}`paper` | panel | the paper's values, as printed |", "|---|---|---|"]
    for block, panel, vals in PAPER_VALUES:
        values.append(f"| {block} | {panel} | {', '.join(vals)} |")
    return "\n".join(["# Coverage", "",
                      "What of the paper this book recomputes, and what it does not. Generated by `python -m fpe.book.report` "
                      "from the result files and the list of the paper's panels and values in `fpe.book.claims` (the values "
                      "come from {doc}`paper`, section 5, and its section 7; a test checks that every value listed there is on "
                      "this page).", "",
                      f"**{tot['paper']} paper values** in these panels: {tot['compared']} compared here "
                      f"(some on substitutes, see the status), {tot['missing']} not compared or without a counterpart.", "",
                      *rows, "",
                      "Not covered at all: the paper's own CLIP embeddings of CIFAR-100 and ImageNet (no weights or "
                      "data offline here; chapter 05's `setting = \"paper\"` computes them for a reader who has them, "
                      "and its numbers are not in this book); the later version's CNN on CIFAR-100 itself (chapter 09 "
                      "runs a small CNN on CIFAR-10, without FashionMNIST); and the authors' own code "
                      "(https://github.com/Shavit-Lab/Expand-Neurons), which was not compared.", "",
                      "## Every paper value", "",
                      "Each value the paper prints or that we read off its figures, as {doc}`paper` lists it, with the panel "
                      "above that covers it (a range is one entry here; where a range is compared at both ends it counts "
                      "twice above).", "", *values, ""])


def provenance_page(profile: str = "paper", root: Path | None = None) -> str:
    """Markdown of the provenance page: per chapter profile, run time, status and environment."""
    root = project_root(root)
    data = load_results(profile, root)
    lines = ["# Provenance", "",
             "How each chapter of this book was computed, read from the executed notebooks in `book/` "
             "(papermill's record) and the environment report each chapter saves with its results "
             "(`fpe.runtime.provenance.environment`). Generated by `python -m fpe.book.report`.", "",
             "| chapter | profile | committed run (s) | that run was | last cold run (s) | status | numbers | seeds | git commit |",
             "|---|---|---|---|---|---|---|---|---|"]
    envs = {}
    for page in sorted((root / "book").glob("*.ipynb")):
        nb = json.loads(page.read_text())
        pm = nb.get("metadata", {}).get("papermill", {})
        errors = any(o.get("output_type") == "error" for c in nb.get("cells", []) for o in c.get("outputs", []))
        d = data.get(page.stem, {})
        env = d.get("environment", {})
        envs[page.stem] = env
        seeds = sorted({n["n_seeds"] for n in d.get("numbers", [])})
        commit = (env.get("git_commit") or "–")[:10]
        run = d.get("run", {})
        hits, misses = run.get("cache_hits", 0), run.get("cache_misses", 0)
        kind = ("–" if not run else "no cached work" if not (hits or misses) else "cold" if not hits
                else "cached" if not misses else "partly cached")
        cold = run.get("cold_seconds")
        lines.append(f"| {{doc}}`{page.stem}` | {pm.get('parameters', {}).get('profile', '–')} | "
                     f"{pm.get('duration_seconds', '–')} | {kind} | {'–' if cold is None else round(cold)} | "
                     f"{'error' if errors else 'ok'} | {len(d.get('numbers', []))} | {', '.join(map(str, seeds)) or '–'} | `{commit}` |")
    lines += ["", "The committed run's time is papermill's record of the execution whose notebook is in the book; "
              "finished experiments are cached on disk, so a re-execution reads them back (\"cached\") instead of "
              "computing them (\"cold\": every cached computation was computed). The last cold run's time is the "
              "chapter's own measurement up to saving its results, from the latest run that computed all of its "
              "cached work (`fpe.book.results.Results`, with the cache's hit and miss counts). `make execute` runs "
              "every chapter at the same time, their jobs sharing the machine's cores (`fpe.runtime.jobs`), so these times "
              "overlap: they are each chapter's span in a whole-book run, not its cost alone; `make execute` prints "
              "the whole run's time and its critical path."]
    keys = ["python", "torch", "numpy", "fpe", "cpu", "cpu_count", "torch_threads", "deterministic", "device", "training_backend",
            "cuda", "platform"]
    lines += ["", "## Environment", "", "| chapter | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for stem, env in envs.items():
        lines.append(f"| {stem} | " + " | ".join(str(env.get(k, "–")) for k in keys) + " |")
    lines += ["", "## Reproducing exactly", "",
              "1. Check out the commit shown above (the commit the chapter ran from; its results were committed after it).",
              "2. `make book` recreates `.venv` with the pins of `requirements.txt`, re-executes every chapter with "
              "the `paper` profile and rebuilds this book; `make test` re-runs the `quick` profile under nbval.",
              "3. Runs are seeded and use deterministic CPU kernels with a fixed thread count: on one machine the "
              "numbers repeat bit for bit, whether the cached computations run in one process, in `joblib` worker "
              "processes or on a Dask cluster (`fpe.runtime.jobs`). On another CPU, float summation order can differ; each "
              "chapter checks its numbers against `references/<profile>/` with a stated tolerance: three times the "
              "gap measured between the fused native and the PyTorch training backends on the same seeds "
              "(`make reference-gaps`), at least 0.5 points for percentages.", ""]
    return "\n".join(lines)


def readme_table(profile: str = "paper", root: Path | None = None) -> str:
    """The README's results block: the claims with their verdicts and the tally (same source as the findings page)."""
    data = load_results(profile, root)
    rows = ["| the paper's claim | verdict here | decided by and carrying |", "|---|---|---|"]
    for f in findings(data):
        nbs = sorted({ref.split("/")[0] for ref, _ in f["deciding"]} | {f["figure"]} |
                     {nb for nb, *_ in DIRECTIONS.get(f["key"], [])})
        rows.append(f"| {f['text']} | {f['verdict']} | " + ", ".join(f"`notebooks/{nb}.py`" for nb in nbs) + " |")
    return "\n".join(rows) + "\n\n" + tally_text(data)


def found_block(profile: str = "paper", root: Path | None = None) -> str:
    """The intro's short "what we found", from the same source."""
    data = load_results(profile, root)
    items = [f"- {f['text']} **{f['verdict'].capitalize()}.**" for f in findings(data)]
    return "\n".join(items) + "\n\nDetails and the deciding numbers: {doc}`findings`; everything else: {doc}`results`."


def _first_sentence(path: Path) -> str:
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    text = " ".join(doc.split())
    end = text.find(". ")
    text = text if end < 0 else text[: end + 1]
    text = re.sub(r":\w+:`~?([\w.]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)  # Sphinx roles
    return text.replace("``", "`").replace("|", "\\|")


def layout_table(root: Path | None = None) -> str:
    """The README's table of the package: every module of ``fpe/`` with the first sentence of its
    docstring, layer by layer from the method up (generated, so it cannot drift from the code)."""
    pkg = project_root(root) / "fpe"
    rows = ["| module | what |", "|---|---|"]
    for layer in LAYERS:
        folder = pkg / layer if layer else pkg
        for path in sorted(folder.glob("*.py"), key=lambda p: (p.name != "__init__.py", p.stem not in METHOD,
                                                               METHOD.index(p.stem) if p.stem in METHOD else 0, p.name)):
            if layer == "" and path.name == "__init__.py":
                continue
            name = ".".join(("fpe", *path.relative_to(pkg).with_suffix("").parts)).removesuffix(".__init__")
            rows.append(f"| `{name}` | {_first_sentence(path)} |")
    return "\n".join(rows)


def _replace_block(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_all(profile: str = "paper", root: Path | None = None) -> list[Path]:
    """Write the results page, the provenance page and the README block; returns changed files."""
    root = project_root(root)
    changed = []
    for path, text in ((root / "book" / "results.md", results_page(profile, root)),
                       (root / "book" / "provenance.md", provenance_page(profile, root)),
                       (root / "book" / "verdicts.md", verdicts_page()),
                       (root / "book" / "findings.md", findings_page(profile, root)),
                       (root / "book" / "coverage.md", coverage_page(profile, root))):
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)
            changed.append(path)
    intro = root / "book" / "intro.md"
    if intro.is_file():
        old = intro.read_text()
        new = _replace_block(old, FOUND_START, FOUND_END, found_block(profile, root))
        if new != old:
            atomic_write_text(intro, new)
            changed.append(intro)
    readme = root / "README.md"
    if readme.is_file():
        old = readme.read_text()
        new = _replace_block(old, START, END, readme_table(profile, root))
        new = _replace_block(new, LAYOUT_START, LAYOUT_END, layout_table(root))
        if new != old:
            atomic_write_text(readme, new)
            changed.append(readme)
    return changed


if __name__ == "__main__":
    for p in write_all(sys.argv[1] if len(sys.argv) > 1 else "paper"):
        print(f"updated {p}")
