"""The verdict rule, result files and reference checks."""
import json

import pytest
import torch

from pathlib import Path

from fpe.book.results import Results, judged, recompute_verdict, write_references
from fpe.book.verdicts import BAND, RULE, VERDICTS, base_verdict, half_width, interval, paper_uncertainty, printed_half_unit, read_range, verdict
from fpe.metrics import benjamini_hochberg
from fpe.book.results import ReferenceMismatch, check
from fpe.repro import SEED_BASES, derive_seed, generator, seeds

ROOT = Path(__file__).resolve().parents[1]


# one case per branch of the rule (fpe.book.verdicts); t(0.975, 9) = 2.262, so with std 1 and 10 seeds
# our interval is mean +/- 0.715
@pytest.mark.parametrize("mean, std, n, paper, kw, expected", [
    (80.0, 1.0, 10, 80.5, dict(resolution=5.0), "reproduced"),                     # intervals meet, narrow
    (80.0, 1.0, 10, 81.0, dict(resolution=5.0, paper_uncertainty=0.3), "reproduced"),  # met only through the paper's own ±
    (80.0, 1.0, 10, 81.0, dict(resolution=5.0), "not reproduced"),                  # no baseline, no overlap, narrow
    (80.0, 20.0, 4, 88.0, dict(resolution=5.0), "inconclusive"),                    # overlap, but far too wide to tell
    (20.0, 1.0, 10, 40.0, dict(baseline=0.0), "partly reproduced"),                 # same sign, significant, half the size (in the band)
    (12.0, 1.0, 10, 40.0, dict(baseline=0.0), "same direction, smaller"),           # same sign, significant, 0.3x: below the band
    (90.0, 1.0, 10, 40.0, dict(baseline=0.0), "same direction, larger"),            # 2.25x: above the band
    (10.0, 1.0, 10, 8.0, dict(baseline=0.0, paper_uncertainty=2.5), "reproduced"),  # 1.25x, intervals meet
    (-5.0, 1.0, 10, 40.0, dict(baseline=0.0), "not reproduced"),                    # opposite sign, significant
    (0.2, 1.0, 10, 40.0, dict(baseline=0.0), "not reproduced"),                     # no effect where the paper has one
    (2.0, 30.0, 10, 40.0, dict(baseline=0.0), "not reproduced"),                    # covers zero, excludes the paper's value
    (2.0, 30.0, 10, 20.0, dict(baseline=0.0), "inconclusive"),                      # covers zero and the paper's value
    (-4.1, 14.0, 10, 19.0, dict(baseline=0.0, paper_uncertainty=2.5), "not reproduced"),  # the headline random split
    (30.0, 30.0, 10, 40.0, dict(baseline=0.0), "partly reproduced"),                # meets but wide; excludes zero, in the band
    (39.0, 1.0, 10, 40.0, dict(baseline=0.0, paper_uncertainty=2.5), "reproduced"),
    (1.5, 0.05, 10, 1.6, dict(baseline=1.0, paper_uncertainty=0.1), "reproduced"),  # a fold change: baseline 1
    (1.2, 0.05, 10, 2.0, dict(baseline=1.0, paper_uncertainty=0.1), "same direction, smaller"),  # 0.2x
    (1.6, 0.05, 10, 2.0, dict(baseline=1.0, paper_uncertainty=0.1), "partly reproduced"),        # 0.6x
    (20.0, 1.0, 10, 40.0, dict(baseline=0.0, substitute=True), "partly reproduced on a substitute"),
    (0.36, 0.1, 5, 1.0, dict(baseline=0.0, paper_uncertainty=0.05, substitute=True), "same direction, smaller on a substitute"),
    (0.5, 0.0, 1, 0.58, dict(resolution=0.1), "no interval"),                       # one fit, no interval: no verdict
    (0.5, 0.0, 1, 0.58, dict(resolution=0.1, given_interval=(0.03, 0.86)), "inconclusive"),  # its bootstrap: too wide
    (0.035, 0.0, 1, 0.02, dict(resolution=0.1, paper_uncertainty=0.005, given_interval=(0.0, 0.4)), "inconclusive"),
    (0.57, 0.0, 1, 0.58, dict(resolution=0.1, given_interval=(0.5, 0.65)), "reproduced"),
    (0.1, 0.0, 1, 0.0, dict(kind="null", margin=1.0), "no interval"),
    (68.0, 0.0, 1, 68.0, dict(kind="check"), "check passed"),
    (67.0, 0.0, 1, 68.0, dict(kind="check"), "check failed"),
    (71.0, 3.0, 5, 56.0, dict(kind="calibration"), "circular (calibration target)"),
    (0.1, 0.5, 10, 0.0, dict(kind="null", margin=1.0), "equivalent"),
    (3.0, 0.5, 10, 0.0, dict(kind="null", margin=1.0), "not equivalent"),
    (0.5, 3.0, 10, 0.0, dict(kind="null", margin=1.0), "inconclusive"),
    (5.0, 1.0, 10, None, {}, "no paper value"),
])
def test_verdict_rule_branch_by_branch(mean, std, n, paper, kw, expected):
    assert verdict(mean, std, n, paper, **kw) == expected


def test_verdict_rule_refuses_what_it_cannot_judge():
    with pytest.raises(ValueError, match="resolution"):
        verdict(80.0, 1.0, 10, 81.0)  # no baseline and no resolution: "narrow enough" is undefined
    with pytest.raises(ValueError, match="margin"):
        verdict(0.0, 1.0, 10, 0.0, kind="null")
    with pytest.raises(ValueError, match="kind must be one of"):
        verdict(0.0, 1.0, 10, 0.0, kind="reproduction")


def test_student_t_interval_and_paper_uncertainties():
    from scipy import stats

    assert half_width(2.0, 5) == pytest.approx(stats.t.ppf(0.975, 4) * 2.0 / 5 ** 0.5)
    assert half_width(2.0, 1) == 0.0
    assert paper_uncertainty(78.7, "text", "%") == pytest.approx(0.05)
    assert paper_uncertainty(0.58, "Figure 3", "R²") == pytest.approx(0.005)
    assert paper_uncertainty(100.2, "real-data table (width not stated)", "%") == pytest.approx(0.05)
    assert paper_uncertainty(34.0, "Figure 4a", "%") == 2.5
    assert paper_uncertainty(10.0, "Figure 5, CIFAR-100 (CLIP), α=4", "%") == pytest.approx(1.5)
    # the printed digits, string-based: a whole number printed with a decimal keeps it
    assert paper_uncertainty(1.0, "real-data table (width not stated)", "%") == pytest.approx(0.05)
    assert paper_uncertainty("9.0", "real-data table (width not stated)", "%") == pytest.approx(0.05)
    assert paper_uncertainty("0.70", "Figure 3", "R²") == pytest.approx(0.005)
    assert printed_half_unit("100") == 0.5 and printed_half_unit("1.0") == pytest.approx(0.05)
    assert printed_half_unit(9.0) == pytest.approx(0.05) and printed_half_unit("99.4 %") == pytest.approx(0.05)
    mid, u = read_range(14.0, 17.0)  # a Figure 5 range: its middle, half the range plus 15 % of the middle
    assert mid == 15.5 and u == pytest.approx(1.5 + 0.15 * 15.5)
    assert interval(1.0, 0.0, 1) is None and interval(1.0, 0.0, 1, (0.5, 2.0)) == (0.5, 2.0)
    with pytest.raises(ValueError, match="no reading uncertainty"):
        paper_uncertainty(1.0, "a blog post", "%")


@pytest.mark.parametrize("path", sorted(ROOT.glob("results/paper/*.json")), ids=lambda p: p.stem)
def test_every_recorded_verdict_follows_the_rule_from_its_stored_inputs(path):
    """Every number is re-judged from its stored inputs under the current rule (the pages show these);
    a number its chapter recorded under the current edition must carry exactly that verdict (numbers
    recorded under an earlier edition carry no ``rule`` and are re-judged until their chapter runs again)."""
    for n in json.loads(path.read_text())["numbers"]:
        j = judged(n)
        assert j["verdict"] in VERDICTS and j["verdict"] == recompute_verdict(n), n["id"]
        if n.get("rule") is not None:
            assert n.get("rule") == RULE, (n["id"], n.get("rule"))
            assert n["verdict"] == j["verdict"], n["id"]
            assert n["paper_uncertainty"] == j["paper_uncertainty"], n["id"]


def _judged_numbers():
    for path in sorted(ROOT.glob("results/paper/*.json")):
        for n in json.loads(path.read_text())["numbers"]:
            yield path.stem, judged(n)


def test_no_agreement_label_lies_outside_its_ratio_band():
    """A "partly reproduced" has ours/paper within the band; a "reproduced" too, unless the paper's own
    effect is within its uncertainty of zero; the direction labels lie outside the band on their side."""
    for nb, n in _judged_numbers():
        v, r = base_verdict(n["verdict"]), n.get("ratio")
        if n.get("kind", "comparison") != "comparison" or n["paper"] is None or n.get("baseline") is None or r is None:
            continue
        pb = n["baseline"] if n.get("paper_baseline") is None else n["paper_baseline"]
        clear = abs(n["paper"] - pb) > (n["paper_uncertainty"] or 0.0)
        if v == "partly reproduced" or (v == "reproduced" and clear):
            assert BAND[0] <= r <= BAND[1], (nb, n["id"], v, r)
        if v == "same direction, smaller":
            assert 0 < r < BAND[0], (nb, n["id"], r)
        if v == "same direction, larger":
            assert r > BAND[1], (nb, n["id"], r)


def test_no_number_without_an_interval_has_a_verdict():
    """A comparison or a null needs our interval (two seeds or more, or one the chapter supplied)."""
    for nb, n in _judged_numbers():
        if n["paper"] is None or n.get("kind", "comparison") not in ("comparison", "null"):
            continue
        has_interval = n["n_seeds"] >= 2 or n.get("interval") is not None
        assert has_interval or base_verdict(n["verdict"]) == "no interval", (nb, n["id"], n["verdict"])


def test_results_add_takes_a_printed_paper_value_and_an_interval(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    res = Results("nb", "quick", root=tmp_path)
    n = res.add("r2", 0.6, label="R²", unit="R²", paper="0.70", source="Figure 3", resolution=0.1, interval=(0.4, 0.8))
    assert n.paper == 0.7 and n.paper_printed == "0.70" and n.paper_uncertainty == pytest.approx(0.005)
    assert n.interval == [0.4, 0.8] and n.verdict == "inconclusive" and n.rule == RULE
    assert res.add("r2b", 0.6, label="R²", unit="R²", paper="0.70", source="Figure 3", resolution=0.1).verdict == "no interval"


def test_no_paper_value_is_reproduced_by_a_tolerance_wider_than_its_own_uncertainty():
    for path in ROOT.glob("results/paper/*.json"):
        for n in json.loads(path.read_text())["numbers"]:
            n = judged(n)
            if n["verdict"].startswith("reproduced"):
                lo, hi = interval(n["value"], n["spread"], n["n_seeds"], n.get("interval"))
                assert lo - n["paper_uncertainty"] - 1e-12 <= n["paper"] <= hi + n["paper_uncertainty"] + 1e-12, (path.stem, n["id"])


def test_reported_seeds_are_disjoint_from_the_calibration_seeds():
    assert not set(seeds(1000, "calibration")) & set(seeds(1000))
    with pytest.raises(ValueError, match="purpose"):
        seeds(3, "tuning")
    from fpe.runtime.deps import closure

    boolean = ROOT / "fpe" / "experiments" / "boolean.py"  # the runs whose house defaults the calibration chose
    for path in ROOT.glob("results/paper/*.json"):
        data = json.loads(path.read_text())
        used = data["meta"].get("seeds")
        if used and path.stem != "03_calibration" and boolean in closure(ROOT / "notebooks" / f"{path.stem}.py"):
            assert min(used) >= SEED_BASES["reported"], path.stem


def test_benjamini_hochberg_matches_scipy():
    import numpy as np
    from scipy import stats

    p = [0.01, 0.04, 0.03, 0.2, 0.5, 0.001]
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p), rtol=1e-12)
    q = benjamini_hochberg([0.01, float("nan"), 0.02])
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.02)


def test_check_raises_outside_tolerance_and_names_the_number():
    assert check("x", 1.0, 1.05, 0.1) == pytest.approx(0.05)
    with pytest.raises(ReferenceMismatch, match="acc_dense"):
        check("acc_dense", 1.0, 2.0, 0.5)
    with pytest.raises(ReferenceMismatch):
        check("nan", float("nan"), 1.0, 10.0)
    with pytest.raises(ValueError, match="tolerance"):
        check("x", 1.0, 1.0, -1)


def test_results_round_trip_and_reference_check(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "fpe").mkdir()
    res = Results("nb", "quick", root=tmp_path)
    res.add("acc", [70.0, 72.0, 74.0], label="accuracy", paper=78.7, source="text", resolution=5.0)
    res.add("count", 264, label="non-zeros", unit="count")
    path = res.save()
    data = json.loads(path.read_text())
    assert path == tmp_path / "results" / "quick" / "nb.json"
    assert data["numbers"][0]["value"] == pytest.approx(72.0) and data["numbers"][0]["spread"] == pytest.approx(2.0)
    assert data["numbers"][0]["verdict"] == "not reproduced" and data["numbers"][0]["n_seeds"] == 3
    assert data["numbers"][0]["paper_uncertainty"] == pytest.approx(0.05) and data["code_hash"] is None
    with pytest.raises(FileNotFoundError, match="make references"):
        res.check_references()
    write_references("quick", root=tmp_path)
    assert res.check_references()["acc"] == 0
    res.add("acc", [80.0, 82.0, 84.0], label="accuracy")
    with pytest.raises(ReferenceMismatch, match="nb/acc"):
        res.check_references()
    res.add("new", 1.0, label="new")
    with pytest.raises(KeyError, match="new"):
        Results.check_references(res)


def test_bad_profile_is_rejected():
    with pytest.raises(ValueError, match="profile"):
        Results("nb", "fast")


def test_generators_depend_only_on_seed_and_tags():
    assert derive_seed(1, "a") == derive_seed(1, "a") != derive_seed(1, "b")
    assert torch.equal(torch.rand(3, generator=generator(5, "x")), torch.rand(3, generator=generator(5, "x")))


def test_paired_pvalue_is_scipys_paired_test_with_the_degenerate_cases_named():
    import math

    import pytest
    from scipy import stats

    from fpe.metrics import paired_pvalue

    a, b = [80.0, 85.5, 90.0, 78.0], [75.0, 80.0, 88.0, 77.5]
    assert paired_pvalue(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert paired_pvalue(a, a) == 1.0  # no difference to test (scipy would give nan)
    assert math.isnan(paired_pvalue([80.0], [75.0]))  # one seed: no test
    with pytest.raises(ValueError, match="paired"):
        paired_pvalue([1.0, 2.0], [1.0, 2.0, 3.0])


def test_seeds_to_decide_is_the_first_seed_count_that_tells():
    """The power line of an inconclusive number: the first n whose t interval at the observed spread
    excludes zero effect (or the paper's value), and n - 1 does not; None where nothing is undecided."""
    from fpe.book.verdicts import half_width, seeds_to_decide

    n = {"verdict": "inconclusive", "value": 3.0, "spread": 10.0, "n_seeds": 5, "paper": 20.0, "baseline": 0.0,
         "paper_uncertainty": 2.5, "kind": "comparison"}
    need = seeds_to_decide(n)
    assert half_width(10.0, need["zero"]) < 3.0 <= half_width(10.0, need["zero"] - 1)
    assert half_width(10.0, need["paper"]) < 17.0 - 2.5 <= half_width(10.0, need["paper"] - 1)
    assert need["paper"] < need["zero"]
    assert seeds_to_decide({**n, "verdict": "not reproduced"}) is None
    assert seeds_to_decide({**n, "value": 0.0})["zero"] is None  # the mean sits on zero: no n tells
    assert "zero" not in seeds_to_decide({**n, "baseline": None})  # a level, not an effect: zero does not apply
    null = {**n, "kind": "null", "margin": 5.0, "value": 1.0, "verdict": "inconclusive"}
    assert half_width(10.0, seeds_to_decide(null)["equivalence"]) < 4.0


def test_direction_tests_without_an_effect_get_a_power_line():
    """The results page lists every direction test whose interval covers no effect, with the first seed
    count whose interval would exclude it, and leaves out tests that decided and q-values."""
    from fpe.book.report import power_section
    from fpe.book.verdicts import half_width

    def num(id, value, spread):
        return {"id": id, "label": id, "value": value, "spread": spread, "n_seeds": 10, "paper": None, "unit": "%",
                "verdict": "no paper value", "kind": "comparison"}

    data = {"09_cnn": {"numbers": [num("head_rel_a2_x_w4", 2.0, 5.5), num("head_rel_a2_x_w8", 5.0, 1.0),
                                   num("channel_rel_a2_x_w4", -1.0, 4.0), num("head_rel_a2_x_w4_q", 0.3, 0.0)]}}
    lines = "\n".join(power_section(data))
    assert "2 number(s)" in lines and "head_rel_a2_x_w8 " not in lines and "_q " not in lines
    row = next(line for line in lines.splitlines() if line.startswith("| head_rel_a2_x_w4 "))
    need = int(row.rsplit("|", 2)[1].replace(",", ""))
    assert half_width(5.5, need) < 2.0 <= half_width(5.5, need - 1) and "the stated side" in row
    assert "the other side" in next(line for line in lines.splitlines() if line.startswith("| channel_rel_a2_x_w4 "))


def test_tolerances_take_the_larger_of_the_float_order_and_the_cross_cpu_gap(tmp_path):
    """write_references widens a number's tolerance by its measured gap across CPU families as by its
    float-order gap (3x the larger), never below the unit's floor."""
    from fpe.book.results import GAPS_FILE, measured_gaps, write_cpu_gaps

    (tmp_path / "results" / "quick").mkdir(parents=True)
    (tmp_path / "references").mkdir()
    res = {"notebook": "nb", "numbers": [{"id": "a", "value": 50.0, "unit": "%"}, {"id": "b", "value": 10.0, "unit": "%"},
                                         {"id": "c", "value": 2.0, "unit": "x"}]}
    (tmp_path / "results" / "quick" / "nb.json").write_text(json.dumps(res))
    other = tmp_path / "other"
    other.mkdir()
    (other / "nb.json").write_text(json.dumps({"numbers": {"a": {"value": 46.0}, "b": {"value": 10.0}, "c": {"value": 2.0}}}))
    (tmp_path / "references" / GAPS_FILE).write_text(json.dumps({"gaps": {"nb": {"a": 1.0, "b": 0.3}}}))
    write_cpu_gaps(tmp_path / "results" / "quick", other, "test", root=tmp_path)
    assert measured_gaps(tmp_path) == {"nb": {"a": 4.0, "b": 0.3, "c": 0.0}}
    refs = json.loads(write_references("quick", root=tmp_path)[0].read_text())["numbers"]
    assert refs["a"]["tolerance"] == 12.0 and refs["b"]["tolerance"] == pytest.approx(0.9)
    assert refs["c"]["tolerance"] == pytest.approx(2e-5)  # the relative floor
