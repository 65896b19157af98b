"""The plateau rule (fpe.training.convergence), its record in the results files, and that the chapters
with fixed budgets (09, 10) record it for every dense baseline (issue 28)."""
import json
from pathlib import Path

import pytest
import torch

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


@pytest.mark.parametrize("nb, names", [("09_cnn", lambda d: [f"dense_{k}_w{w}" for k in d["meta"]["data_keys"]
                                                                  for w in d["meta"]["widths"]]),
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


# --- learning curves of the MLP and Boolean schedules (fpe.experiments.schedule, .boolean, .controls) ---

def test_curve_stride_gives_whole_points_per_phase():
    from fpe.experiments.schedule import curve_stride

    assert curve_stride(1000, 1000) == 20 and curve_stride(25, 25) == 1 and curve_stride(250, 1750) == 10
    assert curve_stride(100, 100) == 2 and curve_stride(5, 0) == 1
    for phases in [(1000, 1000), (250, 250), (7, 3), (0, 40)]:
        k = curve_stride(*phases)
        assert all(p % k == 0 for p in phases)
    for bad in [(), (-1, 3), (2.5,), (True,)]:
        with pytest.raises(ValueError, match="phases"):
            curve_stride(*bad)


def test_sweep_curves_start_at_zero_end_at_the_result_and_match_the_generic_schedule():
    from fpe.experiments.boolean import BooleanSetup, boolean_data, run_sweep, task_tag
    from fpe.experiments.schedule import DENSE, Variant, curve_stride, run_schedule
    from fpe.tasks import clause_groups

    setup = BooleanSetup(n_train=256, n_test=256, batch_size=64, warmup_epochs=4, post_epochs=6, lr=1e-2)
    variants = [DENSE, Variant("random", 2)]
    sweep = run_sweep(setup, {3: [3, 5]}, [0, 1], variants, use_cache=False)
    every = curve_stride(4, 6)
    for h in (3, 5):
        dense, fpe_ = sweep[3, h, "dense"], sweep[3, h, "random_a2"]
        assert dense.curve.shape == (2, 10 // every + 1) and fpe_.curve.shape == (2, 6 // every + 1)
        assert dense.curve_every == fpe_.curve_every == every
        # the last point is the recorded result (FPE's first point is the net right after the split)
        assert torch.equal(dense.curve[:, -1], dense.test_acc) and torch.equal(fpe_.curve[:, -1], fpe_.test_acc)
        ref = run_schedule(*boolean_data(BooleanSetup(**{**setup.__dict__, "m": 3, "h": h}), [0, 1]), seeds=[0, 1], hidden=[h],
                           variants=variants, schedule=setup.schedule, groups=clause_groups(3, setup.k), tag=task_tag(3), task=3)
        for key in ("dense", "random_a2"):
            assert ref[3, h, key].curve.shape == sweep[3, h, key].curve.shape
            assert (ref[3, h, key].curve - sweep[3, h, key].curve).abs().max() <= 2 * 100.0 / 256 + 1e-9
    checks = sweep.convergence("dense")
    assert set(checks) == {"m=3, h=3", "m=3, h=5"}
    assert all(c["epochs"] == 10 and c["window_epochs"] % every == 0 for c in checks.values())
    assert set(sweep.convergence("random_a2")) == set(checks) and next(iter(sweep.convergence("random_a2").values()))["epochs"] == 6
    with pytest.raises(KeyError, match="no cell of variant"):
        sweep.convergence("gram_a2")


def test_recording_a_curve_changes_no_weight():
    from fpe.experiments.schedule import CurveRecorder
    from fpe.method.mlp import init_mlp
    from fpe.training.stacked import StackedMLP, Trainer

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 64, 5, generator=g), torch.randint(0, 3, (2, 64), generator=g)
    runs = []
    for record in (False, True):
        model = StackedMLP.from_sequentials([init_mlp([5, 4, 3], torch.Generator().manual_seed(s)) for s in (0, 1)])
        curve = CurveRecorder(lambda: model.accuracy(x, y), 1) if record else None
        Trainer(model, x, y, lr=1e-2, batch_size=16).fit(3, [torch.Generator().manual_seed(s) for s in (0, 1)], on_epoch=curve)
        runs.append((model, curve))
    (plain, _), (recorded, curve) = runs
    assert all(torch.equal(a, b) for a, b in zip(plain.weights, recorded.weights))
    assert curve.tensor().shape == (2, 4) and torch.equal(curve.tensor()[:, -1], plain.accuracy(x, y))


def test_convergence_summary_names_the_worst_cell():
    from fpe.experiments.schedule import convergence_summary

    rule = PlateauRule()
    checks = {"h=4": rule.check([10, 50, 50.1]), "h=8": rule.check([10, 40, 45])}
    s = convergence_summary(checks)
    assert s["met"] is False and s["worst"] == "h=8" and s["cells"] == 2 and s["cells_met"] == 1 and s["gain"] == 5
    assert convergence_summary({"h=4": checks["h=4"]}) == checks["h=4"]
    with pytest.raises(ValueError, match="at least one"):
        convergence_summary({})
    with pytest.raises(ValueError, match="one rule"):
        convergence_summary({**checks, "h=9": PlateauRule(tol=1.0).check([1, 2])})


def test_boolean_controls_record_curves_for_every_variant():
    from fpe.experiments.boolean import BooleanSetup
    from fpe.experiments.controls import boolean_controls

    setup = BooleanSetup(m=3, h=3, n_train=128, n_test=128, batch_size=64, warmup_epochs=2, post_epochs=3, lr=1e-2)
    (run, _), = boolean_controls([(setup, 3)], [0, 1], overlaps=(0.5,), every=2, use_cache=False)
    for (_, _, key), cell in run.cells.items():
        want = 6 if key in ("dense", "dense_dc") else 4
        assert cell.curve.shape == (2, want) and torch.equal(cell.curve[:, -1], cell.test_acc), key


def training_chapters() -> list[str]:
    """The chapters that train a model: those whose source imports a trainer or an experiment
    (``fpe.training``, ``fpe.experiments``); derived, so a new chapter is covered the day it is added."""
    import re

    return sorted(p.stem for p in (ROOT / "notebooks").glob("*.py")
                  if re.search(r"^from fpe\.(training|experiments)\b", p.read_text(), re.M))


def test_every_training_chapter_labels_its_dense_baselines():
    """Every chapter that trains a model (today all but 06_cost, which times trained ones) records the
    plateau rule for its dense baselines in its results (quick, and paper where current), labelled
    against its own gain."""
    from fpe.runtime.deps import code_hash

    TRAINING_CHAPTERS = training_chapters()
    assert "06_cost" not in TRAINING_CHAPTERS and "02_headline" in TRAINING_CHAPTERS and len(TRAINING_CHAPTERS) >= 12
    checked = 0
    for nb in TRAINING_CHAPTERS:
        for profile in ("quick", "paper"):
            p = ROOT / "results" / profile / f"{nb}.json"
            if not p.is_file():
                continue
            d = json.loads(p.read_text())
            if d.get("code_hash") != code_hash(ROOT / "notebooks" / f"{nb}.py"):
                continue  # stale: the staleness test names it
            dense = {n: e for n, e in d.get("convergence", {}).items() if "dense" in n}
            assert dense, f"{p} labels no dense baseline with the plateau rule: re-run the chapter"
            for n, e in dense.items():
                assert e["met"] == (e["gain"] < e["tol"]) and e["epochs"] >= e["window_epochs"] >= 1, (p, n)
                assert ("cells" in e) == ("cells_met" in e) == ("worst" in e), (p, n)
                if "cells" in e:
                    assert 0 <= e["cells_met"] <= e["cells"] and e["met"] == (e["cells_met"] == e["cells"]), (p, n)
            checked += 1
    if not checked:
        pytest.skip("no current results")


def test_a_sweep_summary_is_recorded_and_stated_with_its_cells():
    from fpe.experiments.schedule import convergence_summary

    r = Results("x_test", "quick")
    rule = PlateauRule()
    s = convergence_summary({"m=8, h=8": rule.check([10, 50, 50.1]), "m=16, h=8": rule.check([10, 40, 45])})
    e = r.add_convergence("dense", s, budget="2 + 2 epochs")
    assert e["cells"] == 2 and e["cells_met"] == 1 and e["worst"] == "m=16, h=8" and not e["met"]
    assert "1 of 2 cells met it, the largest gain at m=16, h=8" in r.convergence_text()
    assert "1 of 2 cells met" in "\n".join(convergence_section({"x_test": r.to_dict()}))


def test_the_sentence_states_each_rule_when_the_rules_differ():
    a = {**PlateauRule().check([0, 10, 10.1]), "budget": "2 epochs"}
    b = {**PlateauRule(window=0.5, tol=1.0).check([0, 10, 10.5]), "budget": "2 epochs"}
    one = convergence_sentence({"x": a})
    assert "less than 0.2 points of accuracy gained over the last 20 % of the epochs" in one and "its rule" not in one
    two = convergence_sentence({"x": a, "y": b})
    assert "each run's own" in two and "its rule: less than 1 points" in two and "its rule: less than 0.2 points" in two


def test_a_gain_equal_to_tol_is_no_plateau_after_float_rounding():
    """Accuracies on 1000 items averaged over 4 seeds: 60.225 - 60.025000000000006 is 0.19999999999999574 in floats;
    the recorded entry rounds the gain, so the run is budget-stopped."""
    curve = [0.0, 2401 * 0.025, 60.225]
    assert curve[-1] - curve[-2] < 0.2  # the float artifact
    e = Results("x_test", "quick").add_convergence("dense", PlateauRule().check(curve), budget="2 epochs")
    assert not e["met"] and e["gain"] == 0.2
