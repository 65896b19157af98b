"""The grid runner reproduces the single-configuration schedule, and the interference metrics are right."""
import math

import torch

from fpe.experiment import DENSE, BooleanSetup, Variant, run_boolean
from fpe.interference import feature_capacity, fit_r2, mean_abs_cosine
from fpe.experiments.boolean import buckets, cell_key, run_sweep


def test_sweep_cells_match_run_boolean_with_padding_and_mixed_widths():
    setup = BooleanSetup(n_train=256, n_test=256, batch_size=64, warmup_epochs=3, post_epochs=3, lr=1e-2)
    variants = [DENSE, Variant("random", 2), Variant("clause", 2)]
    # m=3 and m=4 share a bucket (d 12 and 16): m=3 is zero-padded to d=16
    sweep = run_sweep(setup, {3: [3, 5], 4: [3, 5]}, [0, 1], variants, use_cache=False)
    for m in (3, 4):
        for h in (3, 5):
            ref = run_boolean(BooleanSetup(**{**setup.__dict__, "m": m, "h": h}), [0, 1], variants, use_cache=False, fast=False)
            for v in variants:
                got = sweep[cell_key(m, h, v.key)]
                want = ref.variants[v.key]
                assert torch.allclose(got["w1"], want["weights"][0], atol=1e-4, rtol=1e-3), (m, h, v.key)
                assert torch.equal(got["nonzeros"], want["nonzeros"])
                assert (got["test_acc"] - want["test_acc"]).abs().max() <= 100.0 / 256 + 1e-9


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


def test_run_boolean_fast_path_keeps_the_schedule_result_contract():
    setup = BooleanSetup(m=4, h=3, n_train=128, n_test=128, batch_size=64, warmup_epochs=2, post_epochs=2)
    variants = [DENSE, Variant("random", 2)]
    fast = run_boolean(setup, [0, 1], variants, use_cache=False)
    slow = run_boolean(setup, [0, 1], variants, use_cache=False, fast=False)
    assert set(fast.variants) == set(slow.variants)
    for key in slow.variants:
        for name in ("weights", "biases", "masks"):
            for a, b in zip(fast.variants[key][name], slow.variants[key][name]):
                assert (a is None and b is None) or torch.allclose(a, b, atol=1e-5, rtol=1e-4), (key, name)
    assert torch.equal(fast.variants["random_a2"]["nonzeros"], slow.variants["random_a2"]["nonzeros"])
