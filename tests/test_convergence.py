"""The plateau rule (fpe.training.convergence), its record in the results files, and that the chapters
with fixed budgets (09, 10) record it for every dense baseline (issue 28)."""
import json
from pathlib import Path

import pytest

from fpe.book.report import convergence_section
from fpe.book.results import Results, convergence_sentence
from fpe.training.convergence import PlateauRule

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("met", "gain", "epochs", "window_epochs", "tol", "window", "budget")


def test_plateau_rule_met_and_not_met():
    rule = PlateauRule()
    flat = rule.check([10.0, 50.0, 60.0, 61.0, 61.1, 61.15])  # 5 epochs: window 1 epoch, gain 0.05
    assert flat["met"] and flat["epochs"] == 5 and flat["window_epochs"] == 1
    assert flat["gain"] == pytest.approx(0.05) and flat["tol"] == 0.2 and flat["window"] == 0.2
    rising = rule.check([10.0, 50.0, 60.0, 61.0, 62.0, 63.0])
    assert not rising["met"] and rising["gain"] == pytest.approx(1.0)
    assert not rule.check([0.0, 0.2])["met"]  # a gain equal to tol is not a plateau
    assert rule.check([5.0, 1.0])["met"]  # a loss is no gain


def test_plateau_rule_window_rounding():
    rule = PlateauRule()
    assert rule.check(list(range(11)))["window_epochs"] == 2  # 20 % of 10 epochs, not 3 by float rounding
    assert rule.check(list(range(12)))["window_epochs"] == 3  # ceil(2.2)
    assert rule.check(list(range(16)))["window_epochs"] == 3  # 0.2 * 15 = 3.0000000000000004
    assert rule.check([1.0, 2.0])["window_epochs"] == 1  # at least one epoch
    assert PlateauRule(window=1.0).check([0.0, 5.0, 5.0])["gain"] == 5.0  # the whole run
    r = PlateauRule(window=0.5, tol=1.0).check([0.0, 1.0, 2.0, 2.5, 2.9])  # 4 epochs, window 2: 2.9 - 2.0
    assert r["window_epochs"] == 2 and r["gain"] == pytest.approx(0.9) and r["met"]


@pytest.mark.parametrize("kwargs, name", [(dict(window=0), "window"), (dict(window=1.5), "window"), (dict(window=-0.1), "window"),
                                          (dict(window="0.2"), "window"), (dict(tol=0), "tol"), (dict(tol=-1), "tol"),
                                          (dict(tol=True), "tol")])
def test_plateau_rule_bad_params_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PlateauRule(**kwargs)


def test_plateau_rule_short_curve():
    with pytest.raises(ValueError, match="curve"):
        PlateauRule().check([50.0])
    with pytest.raises(ValueError, match="curve"):
        PlateauRule().check([])
    with pytest.raises(ValueError, match="finite"):
        PlateauRule().check([1.0, float("nan")])


def test_add_convergence_round_trips(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    res = Results("nb", "quick", root=tmp_path)
    res.add("x", [1.0, 2.0], label="x")
    res.add_convergence("dense_w4", PlateauRule().check([10.0, 40.0, 41.0]), budget="1 + 1 epochs")
    res.add_convergence("fpe", PlateauRule().check([40.0, 40.1]), budget="1 epoch after the expansion")
    with pytest.raises(ValueError, match="missing"):
        res.add_convergence("bad", {"met": True}, budget="1 epoch")
    with pytest.raises(ValueError, match="budget"):
        res.add_convergence("bad", PlateauRule().check([1.0, 2.0]), budget="")
    saved = json.loads(res.save().read_text())["convergence"]
    assert saved == res.convergence
    assert saved["dense_w4"] == {"met": False, "gain": 1.0, "epochs": 2, "window_epochs": 1, "tol": 0.2, "window": 0.2,
                                 "budget": "1 + 1 epochs"}
    assert saved["fpe"]["met"] and saved["fpe"]["gain"] == pytest.approx(0.1)
    text = convergence_sentence(saved)
    assert "met the rule" in text and "budget-stopped" in text and "+1.00 points" in text
    data = {"nb": json.loads(res.path.read_text()), "other": {"numbers": []}}
    section = "\n".join(convergence_section(data))
    assert "| dense_w4 | budget-stopped | +1.00" in section and "| fpe | met |" in section
    assert "{doc}`other` | – | not recorded" in section


def _result_files():
    return sorted((ROOT / "results").glob("*/*.json"))


def test_recorded_convergence_follows_the_rule():
    files = [p for p in _result_files() if "convergence" in json.loads(p.read_text())]
    if not files:
        pytest.skip("no results file records convergence yet")
    for p in files:
        for name, e in json.loads(p.read_text())["convergence"].items():
            missing = [k for k in FIELDS if k not in e]
            assert not missing, f"{p}: {name} lacks {missing}"
            assert e["met"] == (e["gain"] < e["tol"]), f"{p}: {name} is labelled against its own gain"
            assert 1 <= e["window_epochs"] <= e["epochs"] and 0 < e["window"] <= 1 and e["tol"] > 0


@pytest.mark.parametrize("nb, names", [("09_cnn", lambda d: [f"dense_w{w}" for w in d["meta"]["widths"]]),
                                       ("10_transformer", lambda d: ["dense"])])
def test_budget_chapters_record_every_dense_baseline(nb, names):
    """Every quick result of 09/10 (and a paper result computed by the current code) labels each dense baseline."""
    from fpe.runtime.deps import code_hash

    checked = 0
    for profile in ("quick", "paper"):
        p = ROOT / "results" / profile / f"{nb}.json"
        if not p.is_file():
            continue
        d = json.loads(p.read_text())
        if profile == "paper" and d.get("code_hash") != code_hash(ROOT / "notebooks" / f"{nb}.py"):
            continue  # a stale paper result predates the rule; the staleness test names it
        missing = [n for n in names(d) if n not in d.get("convergence", {})]
        assert not missing, f"{p} records no convergence for {missing}: re-run the chapter"
        checked += 1
    if not checked:
        pytest.skip(f"no current results of {nb}")
