"""Mask mechanics of the later version's controls (fpe.method.sparsity), the dynamic trainer and the runner."""
import math

import pytest
import torch

import fpe
from fpe.experiments.boolean import BooleanSetup
from fpe.experiments.controls import boolean_control_keys, boolean_controls, class_subset
from fpe.datasets.features import Features
from fpe.method.mlp import init_mlp
from fpe.method.sparsity import (dropconnect_keep, dropconnect_masks, overlap_assignment, overlap_expand, overlap_fraction,
                          regrow)
from fpe.method.splits import random_assignment
from fpe.tasks import make_dnf
from fpe.training.dynamic import DynamicTrainer
from fpe.training.stacked import StackedMLP, Trainer


def _data(n_sets=2, m=4, n=200):
    g = torch.Generator().manual_seed(0)
    data = [make_dnf(m, n, generator=g) for _ in range(n_sets)]
    return torch.stack([d.x for d in data]), torch.stack([d.y for d in data])


def test_dropconnect_expected_nonzeros_equal_the_dense_count():
    d, h, alpha, draws = 32, 8, 2, 400
    n_dense, n_wide = d * h + h, d * alpha * h + alpha * h
    keep = dropconnect_keep(n_dense, n_wide)
    assert keep == pytest.approx(1 / alpha)
    w1, w2 = torch.randn(draws, alpha * h, d), torch.randn(draws, 1, alpha * h)
    g = torch.Generator().manual_seed(1)
    counts = (dropconnect_masks(w1, keep, generator=g).sum((1, 2)) + dropconnect_masks(w2, keep, generator=g).sum((1, 2))).double()
    se = math.sqrt(n_wide * keep * (1 - keep) / draws)  # standard error of the mean count
    assert abs(counts.mean().item() - n_dense) < 4 * se  # about 0.5 weights: a keep rate off by 1 % fails
    assert counts.std().item() == pytest.approx(math.sqrt(n_wide * keep * (1 - keep)), rel=0.15)
    # per-instance rates
    per = dropconnect_masks(torch.zeros(2, 100, 100), torch.tensor([1.0, 0.25]), generator=g)
    assert per[0].sum() == 10000 and abs(per[1].mean().item() - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 10000)


def test_trainer_without_dropconnect_or_regrowth_is_the_reference_trainer():
    x, y = _data()
    models = [fpe.expand(init_mlp([16, 4, 1], torch.Generator().manual_seed(s)), 2, "random",
                         generator=torch.Generator().manual_seed(9 + s)) for s in range(2)]
    a, b = StackedMLP.from_sequentials(models), StackedMLP.from_sequentials(models)
    Trainer(a, x, y, lr=1e-2, batch_size=64).fit(3, [torch.Generator().manual_seed(100 + s) for s in range(2)])
    DynamicTrainer(b, x, y, lr=1e-2, batch_size=64).fit(3, [torch.Generator().manual_seed(100 + s) for s in range(2)])
    for wa, wb in zip(a.weights, b.weights):
        assert torch.equal(wa, wb)


def test_pruned_weights_stay_zero_through_steps_with_fixed_masks_and_dropconnect():
    x, y = _data()
    models = [fpe.expand(init_mlp([16, 4, 1], torch.Generator().manual_seed(s)), 2, "clause",
                         groups=[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]],
                         generator=torch.Generator().manual_seed(s)) for s in range(2)]
    stack = StackedMLP.from_sequentials(models)
    before = [w.detach().clone() for w in stack.weights]
    t = DynamicTrainer(stack, x, y, lr=1e-2, batch_size=64, keep=[1.0, 0.5])
    t.fit(4, [torch.Generator().manual_seed(s) for s in range(2)])
    for i, w in enumerate(stack.weights):
        mask = stack.mask(i)
        assert (w.detach()[mask == 0] == 0).all()
        assert not torch.equal(w.detach()[mask != 0], before[i][mask != 0])  # it did train
    assert (stack.nonzeros() == torch.tensor([fpe.count_nonzero(m) for m in models])).all()


def test_overlap_masks_have_the_fraction_and_the_dense_count():
    h, d, alpha = 8, 32, 2
    assert torch.equal(overlap_assignment(h, d, alpha, 0, torch.Generator().manual_seed(3)),
                       random_assignment(h, d, alpha, torch.Generator().manual_seed(3)).unsqueeze(1) == torch.arange(alpha).view(1, alpha, 1))
    own = random_assignment(h, d, alpha, torch.Generator().manual_seed(3)).unsqueeze(1) == torch.arange(alpha).view(1, alpha, 1)
    dense = init_mlp([d, h, 1], torch.Generator().manual_seed(0))
    w1, b1, w2 = dense[0].weight.detach(), dense[0].bias.detach(), dense[2].weight.detach()
    for r in (0, 0.25, 0.5, 1):
        seen = overlap_assignment(h, d, alpha, r, torch.Generator().manual_seed(3))
        assert (seen >= own).all()  # the own share is the random split's
        frac = overlap_fraction(seen, own)
        assert (frac - r).abs().max() <= 0.5 / (d - d // alpha) + 1e-12  # exact up to rounding
        ws, bs, masks = overlap_expand(w1, b1, w2, alpha, r, generator=torch.Generator().manual_seed(3))
        assert sum(int(torch.count_nonzero(w)) for w in ws) == d * h + h
        assert ws[0].shape == (alpha * h, d) and ws[1].shape == (1, alpha * h) and bs[0].shape == (alpha * h,)
    # r = 0 is FPE's random split
    e = fpe.expand(dense, alpha, "random", generator=torch.Generator().manual_seed(3))
    ws, _, _ = overlap_expand(w1, b1, w2, alpha, 0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(ws[0], e[0].weight.detach()) and torch.equal(ws[1], e[2].weight.detach())
    # r = 1: every child sees every input before the prune
    assert overlap_assignment(h, d, alpha, 1.0).all()


@pytest.mark.parametrize("method", ["set", "rigl"])
def test_regrowth_keeps_the_count_exact(method):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 6, 10, generator=g)
    mask = (torch.rand(3, 6, 10, generator=g) < torch.tensor([0.3, 0.5, 0.9]).view(3, 1, 1)).float()
    w = w * mask
    grad = torch.randn(3, 6, 10, generator=g)
    new, grown = regrow(w, mask, fraction=0.25, method=method, grad=grad, generator=g)
    assert torch.equal(new.sum((1, 2)), mask.sum((1, 2)))
    assert (mask[grown] == 0).all() and (new[grown] == 1).all()
    dropped = (mask == 1) & (new == 0)
    assert torch.equal(dropped.sum((1, 2)), grown.sum((1, 2)))
    for i in range(3):
        n = int(mask[i].sum())
        k = min(math.floor(0.25 * n + 0.5), 60 - n)
        assert int(grown[i].sum()) == k
        kept = (mask[i] == 1) & (new[i] == 1)
        if k:  # dropped the smallest magnitudes
            assert w[i][dropped[i]].abs().max() <= w[i][kept].abs().min()
        if method == "rigl" and k and ((mask[i] == 0) & ~grown[i]).any():  # grew the largest |grad| among the inactive
            inactive = mask[i] == 0
            assert grad[i][grown[i]].abs().min() >= grad[i][inactive & ~grown[i]].abs().max()


def test_moving_masks_in_training_keep_count_and_zeros():
    x, y = _data()
    models = [fpe.expand(init_mlp([16, 4, 1], torch.Generator().manual_seed(s)), 2, "random",
                         generator=torch.Generator().manual_seed(s)) for s in range(4)]
    stack = StackedMLP.from_sequentials(models)
    counts = [stack.mask(i).sum((1, 2)).clone() for i in range(2)]
    masks0 = [stack.mask(i).clone() for i in range(2)]
    t = DynamicTrainer(stack, x, y, torch.tensor([0, 1, 0, 1]), lr=1e-2, batch_size=50, regrow=[None, "set", "rigl", "rigl"],
                       every=3, fraction=0.3)
    t.fit(3, [torch.Generator().manual_seed(s) for s in range(2)])
    assert t.mask_updates == 3  # steps 3, 6, 9 of 12
    for i in range(2):
        assert torch.equal(stack.mask(i).sum((1, 2)), counts[i])
        assert (stack.weights[i].detach()[stack.mask(i) == 0] == 0).all()
        assert torch.equal(stack.mask(i)[0], masks0[i][0])  # the fixed instance did not move
    assert not torch.equal(stack.mask(0)[1], masks0[0][1]) and not torch.equal(stack.mask(0)[2], masks0[0][2])


def test_boolean_controls_runs_every_variant_at_the_budget():
    setup = BooleanSetup(n_train=256, n_test=256, warmup_epochs=2, post_epochs=2, batch_size=64)
    [(run, info)] = boolean_controls([(setup, 4)], [0, 1], every=2, use_cache=False)
    keys = boolean_control_keys(2, (0.25, 0.5, 1.0))
    n_dense = 16 * 8 + 8
    assert info["wide_keep"] == 0.5 and info["n_dense"] == n_dense and info["mask_updates"] > 0
    for key in keys:
        nnz = run[4, 8, key].nonzeros
        if key == "wide_dc":
            assert (nnz == info["n_wide"]).all()
        elif key.startswith(("set_", "rigl_")):
            assert (nnz <= n_dense).all()  # grown weights start at zero
        else:
            assert (nnz == n_dense).all(), key


def test_wide_copies_compute_the_warm_function_and_keep_the_budget():
    """Every DropConnect width h <= n <= alpha*h starts from the warm net's function, pads to alpha*h with
    masked-out units, and its keep rate h/n makes the expected count the dense count; a run with
    only_dropconnect trains the narrow pair and those widths alone."""
    from fpe.experiments.controls import _wide_copy

    g = torch.Generator().manual_seed(0)
    w1, b1, w2 = torch.randn(8, 16, generator=g), torch.randn(8, generator=g), torch.randn(1, 8, generator=g)
    x = torch.randn(32, 16, generator=g)
    want = torch.relu(x @ w1.T + b1) @ w2.T
    for n in (8, 9, 12, 15, 16):
        ws, bb, ms = _wide_copy(w1, b1, w2, 8, n, 2)
        assert ws[0].shape == (16, 16) and ws[1].shape == (1, 16) and bb.shape == (16,)
        assert int(ms[0].sum()) == 16 * n and int(ms[1].sum()) == n and not ws[0][n:].any() and not ws[1][:, n:].any()
        assert torch.allclose(torch.relu(x @ ws[0].T + bb) @ ws[1].T, want, atol=1e-5), n
    setup = BooleanSetup(n_train=256, n_test=256, warmup_epochs=2, post_epochs=2, batch_size=64)
    [(run, info)] = boolean_controls([(setup, 4)], [0, 1], dc_widths=[8, 12, 16], only_dropconnect=True, use_cache=False)
    assert sorted(k for (_, _, k) in run.cells) == sorted(["dense", "dense_dc", "wide_dc_w8", "wide_dc_w12", "wide_dc_w16"])
    assert info["dc_keeps"] == {"wide_dc_w8": 1.0, "wide_dc_w12": 8 / 12, "wide_dc_w16": 0.5}
    for n in (8, 12, 16):
        assert (run[4, 8, f"wide_dc_w{n}"].nonzeros == (16 + 1) * n).all()  # the test-time net: all its n units
        assert info["dc_keeps"][f"wide_dc_w{n}"] * (16 * n + n) == info["n_dense"]
    with pytest.raises(ValueError, match="dc_widths"):
        boolean_controls([(setup, 4)], [0], dc_widths=[17], use_cache=False)
    with pytest.raises(ValueError, match="only_dropconnect"):
        boolean_controls([(setup, 4)], [0], only_dropconnect=True, use_cache=False)


def test_per_instance_streams_make_an_instance_independent_of_its_stack():
    """With one generator per instance, an instance's DropConnect and SET draws are its own: adding other
    instances to the stack leaves its masks and (up to the float order of a batched matmul of another
    size) its weights as they were; with one generator for the stack, the same addition redraws them."""
    x, y = _data()

    def run(extra: int, shared: bool = False):
        nets = [fpe.expand(init_mlp([16, 6, 1], torch.Generator().manual_seed(s)), 2, "random",
                           generator=torch.Generator().manual_seed(9 + s)) for s in range(3 + extra)]
        stack = StackedMLP.from_sequentials(nets)
        keep = [0.5, 1.0, 1.0, 0.7, 0.5][:3 + extra]
        regrow_ = [None, "set", "rigl", "set", None][:3 + extra]
        gens = torch.Generator().manual_seed(100) if shared else [torch.Generator().manual_seed(100 + i) for i in range(3 + extra)]
        t = DynamicTrainer(stack, x, y, torch.tensor([0, 1, 0, 1, 0][:3 + extra]), lr=1e-2, batch_size=16, keep=keep,
                           regrow=regrow_, every=2, generator=gens)
        t.fit(2, [torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)])
        assert t.mask_updates > 0
        return stack

    a, b = run(0), run(2)
    for i in range(3):
        for j in range(len(a.weights)):
            assert torch.allclose(a.weights[j].detach()[i], b.weights[j].detach()[i], atol=1e-6), (i, j)
            assert torch.equal(a.mask(j)[i], b.mask(j)[i]), (i, j)
    a, b = run(0, shared=True), run(2, shared=True)
    assert (a.weights[0].detach()[0] - b.weights[0].detach()[0]).abs().max() > 1e-3  # DropConnect redrawn
    with pytest.raises(ValueError, match="generator"):
        DynamicTrainer(a, x, y, torch.tensor([0, 1, 0]), lr=1e-2, batch_size=8, generator=[torch.Generator()])


def test_class_subset_keeps_the_largest_classes():
    f = Features("x", torch.randn(30, 3), torch.arange(30) % 5, torch.randn(10, 3), torch.arange(10) % 5, list("abcde"))
    s = class_subset(f, 3)
    assert set(s.y_train.tolist()) == {0, 1, 2} and len(s.y_train) == 18 and s.classes == list("abc") and s.name != f.name
    assert class_subset(f, 5) is f


def test_bad_arguments_raise_value_errors():
    w = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="n_target"):
        dropconnect_keep(10, 5)
    with pytest.raises(ValueError, match="n_total"):
        dropconnect_keep(1, 0)
    with pytest.raises(ValueError, match="keep"):
        dropconnect_masks(w, 0.0)
    with pytest.raises(ValueError, match="keep"):
        dropconnect_masks(w, 1.5)
    with pytest.raises(ValueError, match="r must"):
        overlap_assignment(4, 8, 2, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        overlap_assignment(4, 8, 1, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        overlap_assignment(4, 3, 4, 0.5)
    with pytest.raises(ValueError, match="method"):
        regrow(w, w, fraction=0.1, method="random")
    with pytest.raises(ValueError, match="fraction"):
        regrow(w, w, fraction=2, method="set")
    with pytest.raises(ValueError, match="grad"):
        regrow(w, w, fraction=0.1, method="rigl")
    x, y = _data()
    stack = StackedMLP.from_sequentials([init_mlp([16, 4, 1]) for _ in range(2)])
    with pytest.raises(ValueError, match="keep"):
        DynamicTrainer(stack, x, y, lr=1e-2, batch_size=8, keep=[1.0])
    with pytest.raises(ValueError, match="regrow"):
        DynamicTrainer(stack, x, y, lr=1e-2, batch_size=8, regrow=["set", "bad"])
    with pytest.raises(ValueError, match="mask on every layer"):
        DynamicTrainer(stack, x, y, lr=1e-2, batch_size=8, regrow=["set", None])
    with pytest.raises(ValueError, match="every"):
        DynamicTrainer(stack, x, y, lr=1e-2, batch_size=8, every=0)
    setup = BooleanSetup(n_train=64, n_test=64, warmup_epochs=1, post_epochs=1)
    with pytest.raises(ValueError, match="narrow_keep"):
        boolean_controls([(setup, 4)], [0], narrow_keep=0, use_cache=False)
    with pytest.raises(ValueError, match="overlaps"):
        boolean_controls([(setup, 4)], [0], overlaps=(2.0,), use_cache=False)
    with pytest.raises(ValueError, match="alpha"):
        boolean_controls([(setup, 4)], [0], alpha=1, use_cache=False)
    with pytest.raises(ValueError, match="cells"):
        boolean_controls([4], [0], use_cache=False)
    f = Features("x", torch.randn(30, 3), torch.arange(30) % 5, torch.randn(10, 3), torch.arange(10) % 5, list("abcde"))
    with pytest.raises(ValueError, match="n_classes"):
        class_subset(f, 6)
