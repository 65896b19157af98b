"""The FPE transform (the paper, as we read it, section 2): counts, supports, clause split, masks, bad input."""
import copy
import hashlib
import math
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fpe
from fpe.method.mlp import init_mlp
from fpe.method.mlp import check_mlp, linear_layers, weight_masks
from fpe.tasks import clause_groups


def mlp(sizes, seed=0, out_scale=1.0):
    model = init_mlp(sizes, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        linear_layers(model)[-1].weight.mul_(out_scale)
    return model


@settings(max_examples=40, deadline=None)
@given(d=st.integers(4, 24), hidden=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       c=st.integers(1, 5), alpha=st.integers(2, 4), seed=st.integers(0, 10_000),
       split=st.sampled_from(["random", "clause"]))
def test_nonzero_count_is_preserved(d, hidden, c, alpha, seed, split):
    if split == "clause":
        d = 4 * max(alpha, d // 4)
    if split == "clause" and any(h < alpha for h in hidden[:-1]):
        return  # deeper clause split deals sibling groups: it needs >= alpha previous parents
    model = mlp([d, *hidden, c], seed)
    groups = clause_groups(d // 4) if split == "clause" else None
    new = fpe.expand(model, alpha, split, groups=groups, generator=torch.Generator().manual_seed(seed))
    assert fpe.count_nonzero(new) == fpe.count_nonzero(model) == sum(a * b for a, b in zip([d, *hidden], [*hidden, c]))
    widths = [lin.out_features for lin in linear_layers(new)]
    assert widths == [h * alpha for h in hidden] + [c]
    assert all(m is not None for m in weight_masks(new))
    for lin in linear_layers(new):  # PyTorch's pruning conventions
        assert hasattr(lin, "weight_orig") and hasattr(lin, "weight_mask")
        assert torch.equal(lin.weight, lin.weight_orig * lin.weight_mask)


def test_children_partition_the_parent_and_copy_bias_and_outgoing_weights():
    # tiny outgoing weights: the global prune then removes only output-layer copies,
    # so the first layer shows the split itself.
    d, h, c, alpha = 12, 5, 3, 3
    model = mlp([d, h, c], out_scale=1e-6)
    new = fpe.expand(model, alpha, "random", generator=torch.Generator().manual_seed(1))
    w, w_new = model[0].weight.detach(), new[0].weight.detach()
    for p in range(h):
        kids = w_new[p * alpha:(p + 1) * alpha]
        support = kids != 0
        assert (support.sum(0) == 1).all(), "children must be disjoint and cover the parent"
        assert torch.equal(kids.sum(0), w[p])
        assert sorted(support.sum(1).tolist()) == [d // alpha] * alpha  # balanced
        assert torch.equal(new[0].bias[p * alpha:(p + 1) * alpha].detach(), model[0].bias[p].detach().expand(alpha))
    assert torch.equal(new[2].bias.detach(), model[2].bias.detach())
    # the outgoing copies that survive equal the parent's outgoing weight
    w2, w2_new = model[2].weight.detach(), new[2].weight.detach()
    parent = torch.arange(h).repeat_interleave(alpha)
    kept = w2_new != 0
    assert torch.equal(w2_new[kept], w2[:, parent][kept])
    assert kept.sum() == h * c


def test_random_split_differs_per_parent():
    model = mlp([32, 8, 1])
    new = fpe.expand(model, 2, "random", generator=torch.Generator().manual_seed(0))
    supports = {tuple((new[0].weight[2 * p] != 0).tolist()) for p in range(8)}
    assert len(supports) > 1


@pytest.mark.parametrize("alpha", [2, 4, 8])
def test_clause_split_keeps_every_group_whole(alpha):
    m, h = 8, 6
    model = mlp([4 * m, h, 1], out_scale=1e-6)
    groups = clause_groups(m)
    new = fpe.expand(model, alpha, "clause", groups=groups, generator=torch.Generator().manual_seed(2))
    support = new[0].weight.detach() != 0
    for child in range(h * alpha):
        for g in groups:
            inside = support[child, g]
            assert inside.all() or not inside.any()
        assert support[child].sum() == 4 * m // alpha  # balanced by clause count


def test_deep_net_clause_split_and_counts():
    model = mlp([16, 6, 5, 2], seed=3)
    new = fpe.expand(model, 2, "clause", groups=clause_groups(4), generator=torch.Generator().manual_seed(0))
    assert [l.out_features for l in linear_layers(new)] == [12, 10, 2]
    assert fpe.count_nonzero(new) == fpe.count_nonzero(model)


def test_callable_split_and_the_model_is_not_modified():
    model = mlp([8, 3, 1])
    before = [p.clone() for p in model.parameters()]
    halves = lambda w, alpha, g: (torch.arange(w.shape[1]) >= w.shape[1] // 2).long()  # noqa: E731
    new = fpe.expand(model, 2, halves)
    assert (new[0].weight[0::2, 4:] == 0).all() and (new[0].weight[1::2, :4] == 0).all()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_pruned_weights_stay_zero_under_plain_adam_training():
    model = mlp([16, 4, 1])
    new = fpe.expand(model, 4, "random", generator=torch.Generator().manual_seed(0))
    masks = [m.clone() for m in weight_masks(new)]
    opt = torch.optim.Adam(new.parameters(), lr=1e-2)
    x, y = torch.rand(64, 16), torch.randint(0, 2, (64,)).float()
    for _ in range(20):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(new(x).squeeze(-1), y).backward()
        opt.step()
    for lin, mask in zip(linear_layers(new), masks):
        assert (lin.weight.detach()[mask == 0] == 0).all()
    assert fpe.count_nonzero(new) <= fpe.count_nonzero(model)


def test_global_prune_removes_smallest_magnitudes():
    model = mlp([8, 2, 3], seed=5)
    new = fpe.expand(model, 2, "random", generator=torch.Generator().manual_seed(0))
    kept = torch.cat([l.weight.detach().reshape(-1) for l in linear_layers(new)])
    # candidates: every non-zero of the split layer and of the copied output layer
    w1 = model[0].weight.detach().abs().reshape(-1)
    w2 = model[2].weight.detach().abs().repeat(1, 2).reshape(-1)
    cand = torch.cat([w1, w2]).sort(descending=True).values
    n = fpe.count_nonzero(model)
    assert torch.equal(kept[kept != 0].abs().sort(descending=True).values, cand[:n])


BAD = [
    (dict(alpha=1), "alpha"), (dict(alpha=2.0), "alpha"), (dict(alpha=True), "alpha"), (dict(alpha=9), "alpha"),
    (dict(split="gramm"), "split"), (dict(split="clause"), "groups"),
    (dict(split="clause", groups=[[0, 1], [2, 3]]), "groups"),
    (dict(split="clause", groups=[[0, 1, 2, 3], [3, 4, 5, 6, 7]]), "groups"),
    (dict(split="clause", groups=[[0, 1, 2, 3, 4, 5, 6, 7]]), "groups"),
    (dict(split="random", groups=[[0]]), "groups"),
    (dict(generator=0), "generator"),
]


@pytest.mark.parametrize("kwargs, name", BAD)
def test_bad_arguments_raise_named_value_errors(kwargs, name):
    args = dict(alpha=2, split="random") | kwargs
    with pytest.raises(ValueError, match=name):
        fpe.expand(mlp([8, 4, 1]), args.pop("alpha"), args.pop("split"), **args)


@pytest.mark.parametrize("model", [
    nn.Linear(4, 2), nn.Sequential(nn.Linear(4, 2)), nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 1)),
    nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(2, 1)),
    nn.Sequential(nn.Conv1d(1, 1, 1), nn.ReLU(), nn.Linear(3, 1)),
])
def test_models_that_are_not_mlps_are_rejected(model):
    with pytest.raises(ValueError, match="model"):
        fpe.expand(model, 2, "random")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_weights_are_rejected(bad):
    model = mlp([8, 4, 1])
    with torch.no_grad():
        model[2].weight[0, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        fpe.expand(model, 2, "random")


def test_callable_split_output_is_validated():
    with pytest.raises(ValueError, match="child indices"):
        fpe.expand(mlp([8, 4, 1]), 2, lambda w, a, g: torch.full((8,), 5))
    with pytest.raises(ValueError, match="shape"):
        fpe.expand(mlp([8, 4, 1]), 2, lambda w, a, g: torch.zeros(3, dtype=torch.long))


# --- the Sequential shortcut is unchanged, bit for bit (the book's recorded numbers depend on it) ---

def _halves(w, alpha, g):
    return (torch.arange(w.shape[1]) * alpha // w.shape[1]).long()


def _drawn(w, alpha, g):  # a callable rule that draws from the generator
    return torch.randint(0, alpha, w.shape, generator=g)


BIT_CASES = [  # (sizes, alpha, split, float64, eval mode)
    ([12, 5, 3], 2, "random", False, False), ([12, 5, 3], 3, "clause", False, False),
    ([16, 6, 4, 2], 2, "random", False, False), ([16, 6, 4, 2], 4, "random", True, False),
    ([16, 6, 4, 2], 2, "clause", False, True), ([20, 7, 5, 2], 3, "clause", True, False),
    ([8, 3, 1], 2, _halves, False, False), ([20, 7, 5, 2], 3, _halves, False, False),
    ([12, 5, 3], 3, _drawn, False, False), ([16, 6, 4, 2], 2, _drawn, True, True),
    ([32, 8, 1], 4, "random", False, False), ([24, 9, 6, 3], 3, "random", False, False),
]
BIT_DIGESTS = {  # sha256 prefixes of the outputs of the code before issue 17 (commit dc88586), CPU
    0: "13a5408e9edd9b77", 1: "2bfa9850dfc52b30", 2: "9a7e2f03aaac6b13", 3: "f4167ab28b9646e5", 4: "0cc22a161c746949",
    5: "2261261f6b8d582b", 6: "d2ddb59f312a82b9", 7: "2f98fd211416449f", 8: "2055c46dbe80c836", 9: "942d623080873574",
    10: "333c9e6aacf8a457", 11: "2111eb83602b42de"}


def _bit_digest(i):
    sizes, alpha, split, f64, evaluate = BIT_CASES[i]
    model = init_mlp(sizes, torch.Generator().manual_seed(i))
    model = model.double() if f64 else model
    model = model.eval() if evaluate else model
    groups = clause_groups(sizes[0] // 4) if split == "clause" else None
    new = fpe.expand(model, alpha, split, groups=groups, generator=torch.Generator().manual_seed(100 + i))
    w, b = fpe.split_copy(model, alpha, split, groups=groups, generator=torch.Generator().manual_seed(100 + i))
    tensors = [*new.state_dict().items(), *enumerate(w), *enumerate(x for x in b if x is not None)]
    h = hashlib.sha256(repr([type(m).__name__ for m in new] + [new.training]).encode())
    for key, t in tensors:
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("i", range(len(BIT_CASES)))
def test_sequential_outputs_are_bit_identical_to_before(i):
    assert _bit_digest(i) == BIT_DIGESTS[i]


# --- any elementwise activation, Dropout and a leading Flatten (issue 17) ---

def assert_children_partition(old_w, new_w, alpha, *, exact=True):
    """Children ``p*alpha ..`` of parent ``p`` hold disjoint parts of its row (all of it if ``exact``)."""
    h, d = old_w.shape
    kids = new_w.detach().reshape(h, alpha, d)
    support = kids != 0
    assert (support.sum(1) <= 1).all(), "children must be disjoint"
    kept = support.any(1)
    assert torch.equal(kids.sum(1)[kept], old_w.detach()[kept]), "children must hold the parent's weights"
    if exact:
        assert torch.equal(kept, old_w.detach() != 0), "children must cover the parent"
    return support


def assert_outgoing_copies(old_w, new_w, alpha):
    """Every surviving weight of a consumer is its parent's outgoing weight."""
    parent = torch.arange(old_w.shape[1]).repeat_interleave(alpha)
    kept = new_w.detach() != 0
    assert torch.equal(new_w.detach()[kept], old_w.detach()[:, parent][kept])


def assert_masks_fixed_under_adam(model, loss, steps=4, params=None):
    """A few Adam steps change the weights but neither the masks nor the zeros they fix."""
    masked = [m for m in model.modules() if hasattr(m, "weight_mask")]
    assert masked, "no masked layer"
    masks = [m.weight_mask.clone() for m in masked]
    before = [m.weight_orig.detach().clone() for m in masked]
    opt = torch.optim.Adam(model.parameters() if params is None else params, lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss(model).backward()
        opt.step()
    with torch.no_grad():
        loss(model)  # the forward pre-hook recomputes weight = weight_orig * weight_mask
    for m, mask, b in zip(masked, masks, before):
        assert torch.equal(m.weight_mask, mask)
        assert (m.weight.detach()[mask == 0] == 0).all()
        assert not torch.equal(m.weight_orig.detach(), b), "the layer did not train"


def test_sequential_with_gelu_dropout_and_a_leading_flatten():
    d, h, c, alpha = 12, 5, 3, 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.GELU(), nn.Dropout(0.25), nn.Linear(h, c))
    with torch.no_grad():
        model[4].weight.mul_(1e-6)  # the prune then removes only outgoing copies: the split is seen whole
    new = fpe.expand(model, alpha, "random", generator=torch.Generator().manual_seed(0))
    assert [type(m) for m in new] == [type(m) for m in model] and new[3].p == 0.25 and new[3] is not model[3]
    assert fpe.count_nonzero(new) == fpe.count_nonzero(model)
    assert_children_partition(model[1].weight, new[1].weight, alpha)
    assert torch.equal(new[1].bias.detach(), model[1].bias.detach().repeat_interleave(alpha))
    assert_outgoing_copies(model[4].weight, new[4].weight, alpha)
    x, y = torch.rand(32, 3, 4), torch.rand(32, c)
    assert_masks_fixed_under_adam(new, lambda m: nn.functional.mse_loss(m(x), y))


def test_the_split_never_looks_at_the_activation():
    base = mlp([16, 6, 4, 2], seed=7)
    acts = [nn.ReLU(), nn.GELU(), nn.SiLU(), nn.Tanh(), nn.Sigmoid(), nn.LeakyReLU(0.1), nn.ELU(), nn.Identity(),
            nn.PReLU(), nn.Dropout(0.5)]
    ref = fpe.expand(base, 2, "random", generator=torch.Generator().manual_seed(3))
    for i, act in enumerate(acts):
        between = [act, nn.Dropout(0.1)] if i % 2 else [act]
        model = nn.Sequential(base[0], *between, base[2], copy.deepcopy(act), base[4], nn.Sigmoid())
        new = fpe.expand(model, 2, "random", generator=torch.Generator().manual_seed(3))
        assert [type(m) for m in new] == [type(m) for m in model]
        assert all(torch.equal(a.weight, b.weight) and torch.equal(a.weight_mask, b.weight_mask)
                   for a, b in zip(linear_layers(ref), linear_layers(new))), type(act).__name__


@pytest.mark.parametrize("module, index, why", [
    (nn.LayerNorm(3), 1, "LayerNorm.*normalises"), (nn.BatchNorm1d(3), 1, "BatchNorm1d.*normalises"),
    (nn.Softmax(dim=-1), 1, "Softmax.*mixes"), (nn.PReLU(3), 1, "PReLU.*one slope per unit"),
    (nn.Flatten(), 1, "Flatten.*only before the first Linear"), (nn.Bilinear(3, 3, 3), 1, "Bilinear.*not a known elementwise"),
])
def test_non_elementwise_modules_are_rejected_by_index_type_and_reason(module, index, why):
    with pytest.raises(ValueError, match=f"module {index} \\({why}"):
        fpe.expand(nn.Sequential(nn.Linear(4, 3), module, nn.Linear(3, 1)), 2, "random")


def test_the_trainers_strict_checker_is_unchanged():
    with pytest.raises(ValueError, match="alternating Linear and ReLU"):
        check_mlp(nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="alternating Linear and ReLU"):
        check_mlp(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)))
    assert len(check_mlp(mlp([4, 3, 1]))) == 2


def test_gram_split_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    with pytest.raises(ModuleNotFoundError, match="scikit-learn.*pip install scikit-learn"):
        fpe.expand(mlp([8, 4, 1]), 2, "gram", generator=torch.Generator().manual_seed(0))
