"""The verdict rule, result files and reference checks."""
import json

import pytest
import torch

from fpe.repro import ReferenceMismatch, check, derive_seed, generator
from fpe.book.results import Results, verdict, write_references


@pytest.mark.parametrize("mean, std, n, paper, kw, expected", [
    (80.0, 2.0, 10, 78.7, {}, "reproduced"),            # within 3 points
    (70.0, 20.0, 4, 88.0, {}, "reproduced"),            # within 2 SE (SE = 10)
    (90.0, 1.0, 10, 99.4, dict(baseline=80.0, paper_baseline=78.7), "same direction"),
    (80.5, 5.0, 10, 99.4, dict(baseline=80.0, paper_baseline=78.7), "not reproduced"),  # effect within noise
    (70.0, 1.0, 10, 99.4, dict(baseline=80.0, paper_baseline=78.7), "not reproduced"),  # wrong sign
    (5.0, 1.0, 10, 40.0, dict(baseline=0.0), "same direction"),
    (5.0, 1.0, 10, None, {}, "no paper value"),
])
def test_verdict_rule(mean, std, n, paper, kw, expected):
    assert verdict(mean, std, n, paper, **kw) == expected


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
    res.add("acc", [70.0, 72.0, 74.0], label="accuracy", paper=78.7, baseline=None)
    res.add("count", 264, label="non-zeros", unit="count")
    path = res.save()
    data = json.loads(path.read_text())
    assert path == tmp_path / "results" / "quick" / "nb.json"
    assert data["numbers"][0]["value"] == pytest.approx(72.0) and data["numbers"][0]["spread"] == pytest.approx(2.0)
    assert data["numbers"][0]["verdict"] == "not reproduced" and data["numbers"][0]["n_seeds"] == 3
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
