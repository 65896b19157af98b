"""The results page, provenance page and README table are generated from the committed results,
and are up to date (they change only when results change)."""
import json
import shutil
from pathlib import Path

from fpe.book import report

ROOT = Path(__file__).resolve().parents[1]


def test_committed_pages_are_exactly_what_the_results_generate():
    assert (ROOT / "book" / "results.md").read_text() == report.results_page("paper", ROOT), "run `python -m fpe.book.report`"
    assert (ROOT / "book" / "provenance.md").read_text() == report.provenance_page("paper", ROOT)
    assert (ROOT / "book" / "verdicts.md").read_text() == report.verdicts_page()
    assert (ROOT / "book" / "findings.md").read_text() == report.findings_page("paper", ROOT)
    assert (ROOT / "book" / "coverage.md").read_text() == report.coverage_page("paper", ROOT)
    intro = (ROOT / "book" / "intro.md").read_text()
    assert report.FOUND_START + "\n" + report.found_block("paper", ROOT) + "\n" + report.FOUND_END in intro
    readme = (ROOT / "README.md").read_text()
    assert report.START + "\n" + report.readme_table("paper", ROOT) + "\n" + report.END in readme
    assert report.LAYOUT_START + "\n" + report.layout_table(ROOT) + "\n" + report.LAYOUT_END in readme


def test_the_layout_table_names_every_module_of_the_package():
    table = report.layout_table(ROOT)
    modules = [p for p in (ROOT / "fpe").rglob("*.py") if p != ROOT / "fpe" / "__init__.py"]
    assert len(table.splitlines()) == 2 + len(modules)
    names = {".".join(("fpe", *p.relative_to(ROOT / "fpe").with_suffix("").parts)).removesuffix(".__init__") for p in modules}
    assert all(f"| `{n}` |" in table for n in names)
    assert table.splitlines()[2].startswith("| `fpe.method` |") and table.splitlines()[3].startswith("| `fpe.method.expand` |")  # the method first
    assert all(layer in report.LAYERS for layer in {p.relative_to(ROOT / "fpe").parts[0] for p in modules if p.parent != ROOT / "fpe"})


def test_pages_change_only_when_results_change(tmp_path):
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "fpe", tmp_path / "fpe")
    shutil.copytree(ROOT / "results", tmp_path / "results")
    shutil.copytree(ROOT / "book", tmp_path / "book")
    report.write_all("paper", tmp_path)
    assert report.write_all("paper", tmp_path) == []  # deterministic: a second run changes nothing
    path = tmp_path / "results" / "paper" / "02_headline.json"
    data = json.loads(path.read_text())
    number = next(n for n in data["numbers"] if n["id"] == "acc_dense")  # not a deciding number of a claim
    number["value"] += 1.0
    path.write_text(json.dumps(data))
    assert {p.name for p in report.write_all("paper", tmp_path)} == {"results.md"}
    assert f"{number['value']:.1f}" in (tmp_path / "book" / "results.md").read_text()
    deciding = next(n for n in data["numbers"] if n["id"] == "acc_clause_a2")  # decides the first claim
    deciding["verdict"] = "a stored verdict is not what the pages show"  # they re-judge every number from its inputs
    path.write_text(json.dumps(data))
    assert report.write_all("paper", tmp_path) == []
    deciding["value"] = deciding["paper"]
    path.write_text(json.dumps(data))
    changed = {p.name for p in report.write_all("paper", tmp_path)}  # the intro changes only if the claim verdict does
    assert {"results.md", "findings.md", "README.md"} <= changed <= {"results.md", "findings.md", "intro.md", "README.md"}


def test_every_number_with_a_paper_value_is_on_the_results_page():
    page = report.results_page("paper", ROOT)
    for data in report.load_results("paper", ROOT).values():
        for n in data["numbers"]:
            assert n["label"] in page
    assert "paper values compared in their primary place" in page and "Numbers with a paper value" in page


def _n(verdict, kind="comparison", substitute=False):
    return {"verdict": verdict, "kind": kind, "substitute": substitute, "paper": 1.0}


def test_claim_verdicts_combine_their_deciding_numbers_and_their_figures():
    cv = report.claim_verdict
    assert cv([_n("reproduced"), _n("reproduced")]) == "reproduced"
    assert cv([_n("reproduced"), _n("partly reproduced")]) == "partly reproduced"
    assert cv([_n("not reproduced"), _n("inconclusive")]) == "not reproduced"
    assert cv([_n("reproduced"), _n("not reproduced")]) == "mixed"
    assert cv([_n("inconclusive"), _n("no interval")]) == "inconclusive"
    assert cv([_n("partly reproduced on a substitute", substitute=True)]) == "partly reproduced (on substitutes)"
    assert cv([_n("same direction, smaller"), _n("partly reproduced")]) == "direction only"
    assert cv([_n("check passed", kind="check")]) == "checks passed (no reproduction)"
    assert cv([_n("check passed", kind="check"), _n("check failed", kind="check")]) == "checks failed"
    assert cv([]) == "not compared (no paper number)"
    # the figures' comparisons count: reproduced deciding numbers do not make a claim whose figures disagree
    deciding = [_n("reproduced"), _n("reproduced")]
    assert cv(deciding, ["reproduced"] * 2 + ["not reproduced"] * 5) == "mixed"
    assert cv(deciding, ["reproduced"] * 2 + ["same direction, smaller"] * 3) == "direction only"
    assert cv(deciding, ["reproduced"] * 4 + ["not reproduced"] * 2 + ["inconclusive"] * 9) == "reproduced"
    assert cv([_n("not reproduced")], ["not reproduced"] * 3 + ["reproduced"]) == "not reproduced"


def test_every_claim_verdict_is_recomputed_from_the_stored_inputs():
    """Each claim's verdict follows from every number of its figures, each re-judged from its stored inputs."""
    from fpe.book.results import judged

    data = report.load_results("paper", ROOT)
    raw = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "results" / "paper").glob("*.json"))}
    for nb, d in raw.items():
        assert [judged(n)["verdict"] for n in d["numbers"]] == [n["verdict"] for n in data[nb]["numbers"]]
    for f in report.findings(data):
        assert f["verdict"] == report.claim_verdict([n for _, n in f["deciding"] if n is not None],
                                                    [v for v, c in f["family"].items() for _ in range(c)
                                                     if not v.startswith(("check", "equivalent", "not equivalent"))]
                                                    + [v for _, v in f["directions"]]), f["key"]


def test_findings_and_coverage_name_every_claim_and_panel():
    from fpe.book.claims import CLAIMS, PANELS

    findings = report.findings_page("paper", ROOT)
    assert all(f"## {text}" in findings for _, text, *_ in CLAIMS)
    coverage = report.coverage_page("paper", ROOT)
    assert all(f"| {panel} |" in coverage for panel, *_ in PANELS)
    for _, _, refs, _, figure in CLAIMS:  # every deciding number exists in the committed results
        assert (ROOT / "notebooks" / f"{figure}.py").is_file()
        for ref in refs:
            assert report._lookup(report.load_results("paper", ROOT), ref) is not None, ref



def _section5_values() -> list[tuple[str, list[str]]]:
    """Every value of book/paper.md's section 5, block by block (a range such as 14-17 is one value; widths,
    clause counts and alpha labels are left out)."""
    import re

    text = (ROOT / "book" / "paper.md").read_text()
    sec = text.split("(paper-5)=")[1].split("(paper-6)=")[0]
    parts = re.split(r"\n\*\*([^*]+?)\s*\[(?:paper|figure)\]\*\*", sec)
    number = re.compile(r"-?\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?")
    label = re.compile(r"(?:[hmαd]\s*(?:=|≥|>)\s*|\(|above\s*)$")
    out = []
    for title, body in zip(parts[1::2], parts[2::2]):
        rows = [line for line in body.splitlines() if line.startswith("|")]
        vals = []
        if rows:
            header = [c.strip() for c in rows[0].strip("|").split("|")]
            skip = {i for i, c in enumerate(header) if c in ("α", "split", "sweep", "series", "model", "dataset", "h", "m", "fitted on", "panel")}
            skip.add(0)
            for row in rows[2:]:
                for i, cell in enumerate(c.strip() for c in row.strip("|").split("|")):
                    if i in skip:
                        continue
                    for m in number.finditer(cell):
                        if label.search(cell[: m.start()]) or cell[m.end():].lstrip().startswith((":", ")")):
                            continue
                        vals.append(m.group())
        else:
            vals = number.findall(body.strip().split("\n\n")[0])
        out.append((title.strip().rstrip("."), vals))
    return out


def test_every_paper_value_of_section_5_is_on_the_coverage_page():
    from collections import Counter

    from fpe.book.claims import PANELS, PAPER_VALUES

    blocks = _section5_values()
    assert len(blocks) >= 12 and sum(len(v) for _, v in blocks) >= 240
    listed = [v for _, _, vals in PAPER_VALUES for v in vals]
    missing = Counter(v for _, vals in blocks for v in vals) - Counter(listed)
    assert not missing, f"paper values of book/paper.md, section 5, not listed in fpe.book.claims.PAPER_VALUES: {missing}"
    coverage = report.coverage_page("paper", ROOT)
    panels = {p for p, *_ in PANELS}
    for block, panel, vals in PAPER_VALUES:
        assert panel in panels, panel
        assert f"| {block} | {panel} | {', '.join(vals)} |" in coverage
    for value in ("1.2", "no better"):  # section 7's values with a claim
        assert value in listed
    # the section 5 values the issue found on no page or counted 0
    for v in ("29", "49", "73", "78-79", "54", "67", "42", "64", "14", "39-40", "47-49", "0.37-0.57", "0.1-0.2", "0.25-0.4"):
        assert v in listed, v
