"""The Boolean runner (fpe.experiments.boolean) computes what the generic schedule computes, and the
run record and interference metrics are right."""
import math

import numpy as np
import pytest
import torch

from fpe.experiments.boolean import BooleanSetup, boolean_data, buckets, run_boolean, run_sweep, task_tag
from fpe.experiments.schedule import DENSE, Cell, Run, Variant, run_schedule
from fpe.repro import stream
from fpe.interference import feature_capacity, fit_r2, mean_abs_cosine, off_block_fraction
from fpe.metrics import paired_pvalue, relative_improvement
from fpe.tasks import clause_groups

SMALL = BooleanSetup(n_train=256, n_test=256, batch_size=64, warmup_epochs=3, post_epochs=3, lr=1e-2)


def test_sweep_cells_match_the_generic_schedule_with_padding_and_mixed_widths():
    variants = [DENSE, Variant("random", 2), Variant("clause", 2)]
    # m=3 and m=4 share a bucket (d 12 and 16): m=3 is zero-padded to d=16
    sweep = run_sweep(SMALL, {3: [3, 5], 4: [3, 5]}, [0, 1], variants, use_cache=False)
    for m in (3, 4):
        for h in (3, 5):
            setup = BooleanSetup(**{**SMALL.__dict__, "m": m, "h": h})
            ref = run_schedule(*boolean_data(setup, [0, 1]), seeds=[0, 1], hidden=[h], variants=variants,
                               schedule=setup.schedule, groups=clause_groups(m, setup.k), tag=task_tag(m), task=m)
            for v in variants:
                got, want = sweep[m, h, v.key], ref[m, h, v.key]
                for a, b in zip(got.weights, want.weights):
                    assert torch.allclose(a, b, atol=1e-4, rtol=1e-3), (m, h, v.key)
                assert torch.equal(got.nonzeros, want.nonzeros)
                assert (got.test_acc - want.test_acc).abs().max() <= 100.0 / 256 + 1e-9
                assert (got.masks[0] is None) == (want.masks[0] is None) == (v.split == "dense")


def test_run_boolean_is_one_cell_of_the_sweep_and_the_record_round_trips():
    setup = BooleanSetup(m=4, h=3, n_train=128, n_test=128, batch_size=64, warmup_epochs=2, post_epochs=2)
    run = run_boolean(setup, [0, 1, 2], [Variant("random", 2)], use_cache=False)
    assert set(run.cells) == {(4, 3, "dense"), (4, 3, "random_a2")}  # dense is always trained
    cell = run[3, "random_a2"]  # one task: (h, variant) suffices
    assert cell is run[4, 3, "random_a2"]
    assert torch.equal(cell.nonzeros, run[3, "dense"].nonzeros)  # FPE keeps the non-zero count
    stack = cell.model()
    assert stack.instances == 3 and stack.sizes == [16, 6, 1]
    assert run[3, "dense"].warm is not None and len(run[3, "dense"].warm["weights"]) == 2
    back = Run.from_state(run.to_state())
    assert back.seeds == run.seeds and set(back.cells) == set(run.cells)
    assert torch.equal(back[3, "random_a2"].weights[0], cell.weights[0])
    # relative() and pvalue() are the book's comparisons against dense of the same cell
    a, d = cell.test_acc.numpy(), run[3, "dense"].test_acc.numpy()
    np.testing.assert_array_equal(run.relative(4, 3, "random_a2"), relative_improvement(a, d))
    assert run.pvalue(3, "random_a2") == paired_pvalue(a, d) or math.isnan(paired_pvalue(a, d))


def test_run_record_indexing_merging_and_bad_input():
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    a = Run([0, 1], {(8, 4, "dense"): Cell(t(50, 60), t(0, 0), t(10, 10)), (8, 4, "x"): Cell(t(55, 66), t(0, 0), t(10, 10))})
    b = Run([0, 1], {(8, 4, "x"): Cell(t(60, 72), t(0, 0), t(10, 10)), (12, 4, "dense"): Cell(t(1, 1), t(0, 0), t(1, 1))})
    merged = a.merged(b)
    np.testing.assert_allclose(merged.relative(8, 4, "x"), [20.0, 20.0])  # b's cell wins
    assert merged.widths == [4]
    with pytest.raises(KeyError, match="index it by"):
        merged[4, "x"]  # two tasks: the 2-index form is ambiguous
    with pytest.raises(ValueError, match="different seeds"):
        a.merged(Run([0, 2]))
    with pytest.raises(ValueError, match="kept no weights"):
        a[4, "x"].model()
    with pytest.raises(ValueError, match="purpose must be one of"):
        stream(0, "dnf-m8", "init-typo")


def test_purpose_tags_are_spelled_once():
    # the paired design: the runner and the schedule draw from the same generator for a seed and task
    g1, g2 = stream(3, task_tag(8), "split", "clause", 2), stream(3, "dnf-m8", "split", "clause", 2)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def test_buckets_bound_the_padding():
    assert buckets([6, 8, 10, 12, 14, 16, 20, 24, 28, 32], 4, 1.5) == [[6, 8], [10, 12, 14], [16, 20, 24], [28, 32]]


def test_feature_capacity_and_cosine_on_known_matrices():
    eye = torch.eye(4)
    assert torch.allclose(feature_capacity(eye), torch.tensor(1.0, dtype=torch.float64))
    same = torch.ones(3, 4)  # every feature on the same direction: capacity 1/4 each
    assert torch.allclose(feature_capacity(same), torch.tensor(0.25, dtype=torch.float64))
    assert torch.allclose(mean_abs_cosine(eye), torch.tensor(0.0, dtype=torch.float64))
    assert torch.allclose(mean_abs_cosine(torch.tensor([[1.0, 0], [-1.0, 0], [0, 0]])), torch.tensor(1.0, dtype=torch.float64))
    batch = torch.stack([eye, torch.ones(4, 4)])
    assert feature_capacity(batch).shape == (2,)
    a, b, r2 = fit_r2([0, 1, 2, 3], [1, 3, 5, 7])
    assert math.isclose(a, 1) and math.isclose(b, 2) and math.isclose(r2, 1)


def test_off_block_fraction():
    # neurons that read one clause each (k = 2): all Gram mass in the diagonal blocks
    aligned = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, -1.0]])
    assert off_block_fraction(aligned, k=2).item() == 0.0
    # one neuron reading inputs of both clauses equally: half of its Gram mass is off the blocks
    mixed = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    assert math.isclose(off_block_fraction(mixed, k=2).item(), 0.5)
    assert off_block_fraction(torch.stack([aligned, aligned]), k=2).shape == (2,)
    with pytest.raises(ValueError, match="k must be a positive integer dividing"):
        off_block_fraction(aligned, k=3)
