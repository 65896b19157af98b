"""FPE as a library (issue 27; the paper, as we read it, section 2): expanded models copy, pickle,
average, stack, compile and script (through fpe.export); tied weights, meta tensors, weight norms
refused by name; alpha as NumPy or tensor integers; frozen layers stay frozen; Sequential
subclasses and module names kept; inplace; the selection threshold of the global prune."""
import copy
import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

import fpe
from fpe.method.pruning import FixedMask, global_magnitude_masks


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def mlp(seed=0, sizes=(8, 6, 5, 2)):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.GELU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(20, 3))


def same_tensors(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def step(model, x, opt):
    opt.zero_grad()
    loss = model(x).square().mean()
    loss.backward()
    opt.step()
    return loss


# --- copies, pickles, averages, stacks, compiles, scripts ---

@pytest.mark.parametrize("trained", [False, True])
@pytest.mark.parametrize("build", ["mlp", "cnn", "layers"])
def test_expanded_models_deep_copy_before_and_after_a_forward(build, trained):
    x = torch.randn(4, 3, 6, 6) if build == "cnn" else torch.randn(4, 8)
    if build == "layers":
        wide = fpe.expand_layers(mlp(), 2, pairs=[("0", "2"), ("2", "4")], generator=gen())
    else:
        wide = fpe.expand(cnn() if build == "cnn" else mlp(), 2, generator=gen())
    if trained:
        opt = torch.optim.SGD(wide.parameters(), lr=0.1)
        step(wide, x, opt)
        out = wide(x).sum()  # a live graph through the masked weights
    twin = copy.deepcopy(wide)
    assert same_tensors(twin, wide)
    assert torch.equal(twin(x), wide(x))
    masked = [m for m in twin.modules() if hasattr(m, "weight_mask")]
    assert masked and all(isinstance(h, FixedMask) for m in masked for h in m._forward_pre_hooks.values())
    with torch.no_grad():  # the copy is independent of the original
        masked[0].weight_orig.add_(1.0)
    twin(x)
    assert not torch.equal(masked[0].weight, next(m for m in wide.modules() if hasattr(m, "weight_mask")).weight)
    if trained:
        out.backward()  # the original's graph survives the copy
        assert all(p.grad is not None for p in wide.parameters())


def test_copies_train_bit_for_bit_like_the_original():
    x = torch.randn(16, 8)
    wide = fpe.expand(mlp(), 3, generator=gen())
    step(wide, x, torch.optim.SGD(wide.parameters(), lr=0.1))
    a, b = copy.deepcopy(wide), pickle.loads(pickle.dumps(wide))
    for m in (wide, a, b):
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        for _ in range(3):
            step(m, x, opt)
    assert same_tensors(a, wide) and same_tensors(b, wide)
    for m in (a, b):
        for lin in (m[0], m[2], m[4]):
            assert (lin.weight.detach()[lin.weight_mask == 0] == 0).all()


def test_the_hook_computes_what_custom_from_mask_computes_bit_for_bit():
    """Same state-dict keys in the same order, and the same numbers under training."""
    x = torch.randn(16, 8)
    wide = fpe.expand(mlp(), 2, generator=gen())
    plain = copy.deepcopy(wide)
    for lin in (plain[0], plain[2], plain[4]):
        mask = lin.weight_mask.clone()
        prune.remove(lin, "weight")
        prune.custom_from_mask(lin, "weight", mask)
        assert type(next(iter(lin._forward_pre_hooks.values()))) is prune.CustomFromMask
    assert same_tensors(plain, wide)
    for m in (plain, wide):
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        for _ in range(4):
            step(m, x, opt)
    assert same_tensors(plain, wide)


def test_pickle_torch_save_and_unpickled_models_copy_again():
    x = torch.randn(3, 8)
    wide = fpe.expand(mlp(), 2, generator=gen())
    wide(x).sum().backward()
    buf = io.BytesIO()
    torch.save(wide, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    again = pickle.loads(pickle.dumps(wide))
    for m in (loaded, again):
        assert torch.equal(m(x), wide(x))
        m(x).sum().backward()  # a forward, then a copy: the hook knows its module again
        assert torch.equal(copy.deepcopy(m)(x), wide(x))


def test_averaged_model_and_stacked_module_state():
    from torch.func import functional_call, stack_module_state
    from torch.optim.swa_utils import AveragedModel

    x = torch.randn(5, 8)
    wide = fpe.expand(mlp(), 2, generator=gen())
    wide(x).sum().backward()
    avg = AveragedModel(wide)
    avg.update_parameters(wide)
    assert torch.equal(avg(x), wide(x))
    models = [fpe.expand(mlp(), 2, generator=gen(s)) for s in range(3)]
    params, buffers = stack_module_state(models)
    assert set(buffers) == {"0.weight_mask", "2.weight_mask", "4.weight_mask"}
    base = copy.deepcopy(models[0]).to("meta")
    out = torch.vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(params, buffers, x)
    for i, m in enumerate(models):
        assert torch.allclose(out[i], m(x), atol=1e-6, rtol=0)


def test_torch_compile_gives_the_same_outputs():
    x = torch.randn(5, 8)
    wide = fpe.expand(mlp(), 2, generator=gen())
    compiled = torch.compile(copy.deepcopy(wide), backend="eager")  # dynamo traces the pruning hook
    assert torch.equal(compiled(x), wide(x))


def test_torch_jit_script_goes_through_export():
    """TorchScript cannot compile the pruning hook (documented in fpe.expand); fpe.export's copy scripts."""
    x = torch.randn(5, 8)
    wide = fpe.expand(mlp(), 2, generator=gen())
    with pytest.raises(Exception):
        torch.jit.script(wide)
    scripted = torch.jit.script(fpe.export(wide))
    assert torch.equal(scripted(x), wide(x))
    cnn_wide = fpe.expand(cnn().eval(), 2, generator=gen())
    xi = torch.randn(2, 3, 6, 6)
    assert torch.allclose(torch.jit.script(fpe.export(cnn_wide))(xi), cnn_wide(xi), atol=1e-6, rtol=0)


# --- tied weights, count_nonzero ---

def tied_mlp():
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    model[2].weight = model[0].weight
    return model


def test_tied_weights_are_refused_by_every_entry_point():
    with pytest.raises(ValueError, match=r"tied weights: \['0.weight', '2.weight'\]"):
        fpe.expand(tied_mlp(), 2)
    with pytest.raises(ValueError, match="tied weights"):
        fpe.expand_layers(tied_mlp(), 2, pairs=[("0", "2")])
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    model.head = nn.Linear(6, 6)
    model.head.weight = model[0].weight  # a layer outside the pairs shares it
    with pytest.raises(ValueError, match="'0' shares its parameter 'weight'"):
        fpe.expand_layers(model, 2, pairs=[("0", "2")])
    c2 = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU(), nn.Conv2d(3, 3, 1), nn.ReLU(), nn.Conv2d(3, 2, 1))
    c2[2].weight = c2[0].weight
    with pytest.raises(ValueError, match="tied weights"):
        fpe.expand_cnn(c2, 2)


def test_count_nonzero_counts_each_parameter_once_and_attention_projections():
    model = tied_mlp()
    assert fpe.count_nonzero(model) == 36 + 12  # the shared 6x6 once
    assert fpe.count_nonzero(model, include_bias=True) == 36 + 12 + 6 + 6 + 2
    mha = nn.MultiheadAttention(8, 2)
    assert fpe.count_nonzero(mha) == 3 * 64 + 64
    assert fpe.count_nonzero(mha, include_bias=True) == 3 * 64 + 64 + int(torch.count_nonzero(mha.in_proj_bias)) + \
        int(torch.count_nonzero(mha.out_proj.bias))
    kv = nn.MultiheadAttention(8, 2, kdim=4, vdim=3)
    assert fpe.count_nonzero(kv) == 64 + 32 + 24 + 64
    wide = fpe.expand(mlp(), 2, generator=gen())
    assert fpe.count_nonzero(wide) == fpe.count_nonzero(mlp())
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        fpe.count_nonzero([nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="meta device"):
        fpe.count_nonzero(nn.Linear(2, 2, device="meta"))


# --- the selection threshold of the global prune: bitwise the stable sort ---

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), levels=st.integers(1, 5), n_layers=st.integers(1, 3),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]),
       frac=st.floats(0, 1.2))
def test_selection_masks_equal_the_stable_sort_masks_with_many_ties(seed, levels, n_layers, dtype, frac):
    g = gen(seed)
    ws = [torch.randint(-levels, levels + 1, (int(torch.randint(1, 40, (1,), generator=g)), 9), generator=g).to(dtype)
          for _ in range(n_layers)]
    n = sum(int(torch.count_nonzero(w)) for w in ws)
    k = int(frac * n)
    a = global_magnitude_masks(ws, k, method="sort")
    b = global_magnitude_masks(ws, k)
    assert all(torch.equal(x, y) and x.dtype == y.dtype for x, y in zip(a, b))
    assert sum(int(torch.count_nonzero(m)) for m in b) == min(k, n)


def test_ties_are_broken_by_position_first_dropped_first():
    ws = [torch.tensor([[1.0, -1.0, 2.0]]), torch.tensor([[1.0, 0.0, -1.0]])]
    masks = global_magnitude_masks(ws, 3)
    assert masks[0].tolist() == [[0.0, 0.0, 1.0]] and masks[1].tolist() == [[1.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="method must be 'select' or 'sort'"):
        global_magnitude_masks(ws, 3, method="argsort")
    with pytest.raises(ValueError, match="n_keep must be an integer >= 0"):
        global_magnitude_masks(ws, -1)


# --- small items ---

@pytest.mark.parametrize("alpha", [np.int64(2), np.int32(2), torch.tensor(2), torch.tensor(2, dtype=torch.int32), 2])
def test_alpha_as_numpy_or_tensor_integer_gives_the_same_model(alpha):
    ref = fpe.expand(mlp(), 2, generator=gen())
    assert same_tensors(fpe.expand(mlp(), alpha, generator=gen()), ref)
    ref_l = fpe.expand_layers(mlp(), 2, pairs=[("0", "2")], generator=gen())
    assert same_tensors(fpe.expand_layers(mlp(), alpha, pairs=[("0", "2")], generator=gen()), ref_l)
    assert same_tensors(fpe.expand(cnn(), alpha, generator=gen()), fpe.expand(cnn(), 2, generator=gen()))


def test_a_frozen_model_comes_back_frozen():
    for model, build in ((mlp(), fpe.expand), (cnn(), fpe.expand)):
        model.requires_grad_(False)
        wide = build(model, 2, generator=gen())
        assert not any(p.requires_grad for p in wide.parameters())
    model = mlp()
    model[0].weight.requires_grad_(False)  # partly frozen: per tensor
    wide = fpe.expand(model, 2, generator=gen())
    assert not wide[0].weight_orig.requires_grad and wide[0].bias.requires_grad and wide[2].weight_orig.requires_grad
    frozen = mlp().requires_grad_(False)
    assert not any(p.requires_grad for p in fpe.expand_layers(frozen, 2, pairs=[("0", "2")]).parameters())


class MySequential(nn.Sequential):
    tag = "mine"


class Reordered(nn.Sequential):
    def forward(self, x):
        return self[2](self[1](self[0](x)))


def test_a_sequential_subclass_comes_back_as_the_same_class_and_names_are_kept():
    ref = fpe.expand(mlp(), 2, generator=gen())
    torch.manual_seed(0)
    sub = MySequential(*mlp())
    sub.note = "kept"
    wide = fpe.expand(sub, 2, generator=gen())
    assert type(wide) is MySequential and wide.note == "kept" and wide is not sub
    assert [k for k in wide.state_dict()] == [k for k in ref.state_dict()]
    assert all(torch.equal(a, b) for a, b in zip(wide.state_dict().values(), ref.state_dict().values()))
    assert sub[0].weight.shape == (6, 8), "the model is not modified"
    named = nn.Sequential(OrderedDict(fc1=nn.Linear(8, 6), act=nn.GELU(), fc2=nn.Linear(6, 2)))
    wide = fpe.expand(named, 2, generator=gen())
    assert list(dict(wide.named_children())) == ["fc1", "act", "fc2"] and wide.fc1.weight_mask.shape == (12, 8)
    with pytest.raises(ValueError, match="Reordered, an nn.Sequential subclass with its own forward"):
        fpe.expand(Reordered(*mlp()), 2)
    csub = MySequential(*cnn())
    assert type(fpe.expand(csub, 2, generator=gen())) is MySequential


@pytest.mark.parametrize("build", ["mlp", "cnn"])
def test_inplace_expands_the_same_objects_with_the_same_tensors(build):
    make = cnn if build == "cnn" else mlp
    ref = fpe.expand(make(), 2, generator=gen())
    model = make()
    layers = list(model)
    out = fpe.expand(model, 2, generator=gen(), inplace=True)
    assert out is model and all(a is b for a, b in zip(layers, out))
    assert same_tensors(out, ref)
    with pytest.raises(TypeError, match="inplace must be True or False"):
        fpe.expand(make(), 2, inplace="yes")


def test_meta_and_weight_norm_models_are_refused_by_name():
    with pytest.raises(ValueError, match="meta device"):
        fpe.expand(mlp().to("meta"), 2)
    with pytest.raises(ValueError, match="meta device"):
        fpe.expand_layers(mlp().to("meta"), 2, pairs=[("0", "2")])
    with pytest.raises(ValueError, match="meta device"):
        fpe.expand(cnn().to("meta"), 2)
    from torch.nn.utils import parametrizations

    model = mlp()
    model[0] = parametrizations.weight_norm(model[0])
    with pytest.raises(ValueError, match="layer '0' has a torch.nn.utils.parametrize parametrisation"):
        fpe.expand(model, 2)
    model = mlp()
    with pytest.warns(FutureWarning):
        model[2] = nn.utils.weight_norm(model[2])
    with pytest.raises(ValueError, match="'2' has a WeightNorm hook"):
        fpe.expand_layers(model, 2, pairs=[("0", "2")])


# --- expand_layers verifies its pairs on the traced graph ---

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Untraceable(Block):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            x = -x
        return self.fc2(self.act(self.fc1(x)))


class Normed(Block):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        return self.fc2(self.norm(self.act(self.fc1(x))))


def test_reversed_pairs_are_refused_on_the_traced_graph():
    with pytest.raises(ValueError, match=r"consumer 'fc1' does not read the output of producer 'fc2'.*reversed"):
        fpe.expand_layers(Block(), 2, pairs=[("fc2", "fc1")])
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    with pytest.raises(ValueError, match="reversed"):
        fpe.expand_layers(model, 2, pairs=[("2", "0")])
    with pytest.raises(ValueError, match=r"'fc2' does not read the output of producer 'fc1' through elementwise operations only.*goes to %norm"):
        fpe.expand_layers(Normed(), 2, pairs=[("fc1", "fc2")])
    ok = fpe.expand_layers(Block(), 2, pairs=[("fc1", "fc2")], verify=True)
    assert ok.fc1.out_features == 12


def test_untraceable_models_warn_naming_what_was_not_checked():
    from fpe.method.verify import UnverifiedPairsWarning

    with pytest.warns(UnverifiedPairsWarning, match=r"pair \['fc1'\] -> \['fc2'\]: torch.fx cannot trace the model"):
        fpe.expand_layers(Untraceable(), 2, pairs=[("fc1", "fc2")])
    with pytest.raises(ValueError, match="verify=True, but the pairs could not be checked"):
        fpe.expand_layers(Untraceable(), 2, pairs=[("fc1", "fc2")], verify=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fpe.expand_layers(Untraceable(), 2, pairs=[("fc1", "fc2")], verify=False)


def test_verification_draws_nothing_from_the_global_generator():
    torch.manual_seed(3)
    fpe.expand_layers(Block(), 2, pairs=[("fc1", "fc2")], generator=gen())
    a = torch.rand(3)
    torch.manual_seed(3)
    fpe.expand_layers(Block(), 2, pairs=[("fc1", "fc2")], generator=gen(), verify=False)
    assert torch.equal(torch.rand(3), a)


# --- prune="copies": only the surplus copies go ---

def _trained(sizes, seed=0):
    from fpe.method.mlp import init_mlp

    return init_mlp(sizes, gen(seed))


@pytest.mark.parametrize("sizes, alpha", [([12, 5, 3], 2), ([20, 16, 3], 8), ([16, 6, 4, 2], 3), ([9, 7, 7, 2], 2)])
def test_copies_prune_keeps_every_layers_count_and_all_split_incoming_weights(sizes, alpha):
    import warnings

    model = _trained(sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        wide = fpe.expand(model, alpha, prune="copies", generator=gen(1))
        split_w, _ = fpe.split_copy(model, alpha, generator=gen(1))
    old = [m for m in model if isinstance(m, nn.Linear)]
    new = [m for m in wide if isinstance(m, nn.Linear)]
    for a, b in zip(old, new):
        assert int(torch.count_nonzero(a.weight)) == int(torch.count_nonzero(b.weight))
    assert torch.equal(new[0].weight.detach(), split_w[0]), "the first layer's split incoming weights all stay"
    last, parent = new[-1].weight.detach(), old[-1].weight.detach()
    h = parent.shape[1]
    kids = last.view(last.shape[0], h, alpha)
    assert torch.equal((kids != 0).sum(2), (parent != 0).long()), "exactly one copy of each outgoing weight"
    assert torch.equal(kids.sum(2), parent)
    if len(sizes) == 3:  # one hidden layer: no child loses its incoming weights
        assert (new[0].weight.detach() != 0).sum(1).min() > 0


def test_copies_prune_warns_when_a_child_keeps_no_incoming_weight_and_global_differs():
    model = _trained([16, 6, 4, 2])
    with pytest.warns(RuntimeWarning, match=r"prune='copies' leaves children with no incoming weight .*: \d+ units in layer '2'"):
        fpe.expand(model, 3, prune="copies", generator=gen(1))
    glob = fpe.expand(_trained([20, 16, 3]), 8, generator=gen(1))
    copies = fpe.expand(_trained([20, 16, 3]), 8, prune="copies", generator=gen(1))
    dead = lambda m: int((m[0].weight.detach() != 0).sum(1).eq(0).sum())  # noqa: E731
    assert dead(copies) == 0 and dead(glob) > 0, "the global prune removes incoming weights too; copies does not"
    assert fpe.count_nonzero(glob) == fpe.count_nonzero(copies)
    with pytest.raises(ValueError, match=r"prune must be one of \('global', 'copies'\)"):
        fpe.expand(model, 2, prune="per_pair")
    with pytest.raises(ValueError, match="prune='copies' is for MLPs"):
        fpe.expand(cnn(), 2, prune="copies")


def test_copies_prune_by_layer_name_equals_the_sequential_one():
    model = _trained([12, 5, 3])
    ref = fpe.expand(model, 2, prune="copies", generator=gen(4))
    new = fpe.expand_layers(model, 2, pairs=[("0", "2")], prune="copies", generator=gen(4))
    assert same_tensors(new, ref)


def test_untraceable_models_are_verified_on_the_example_input():
    import warnings

    x = torch.randn(3, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verified by running: no warning
        wide = fpe.expand_layers(Untraceable(), 2, pairs=[("fc1", "fc2")], check_inputs=x)
    assert wide.fc1.out_features == 12

    class UntraceableResidual(Untraceable):
        def forward(self, x):
            if x.sum() > 0:
                x = -x
            h = self.fc1(x)
            return self.fc2(torch.relu(h)) + h

    with pytest.raises(ValueError, match=r"output of producer 'fc1' is read by (add|__add__) on the example input"):
        fpe.expand_layers(UntraceableResidual(), 2, pairs=[("fc1", "fc2")], check_inputs=x)
    with pytest.raises(ValueError, match=r"consumer 'fc1' is called on something else than the output of producer 'fc2'"):
        fpe.expand_layers(Untraceable(), 2, pairs=[("fc2", "fc1")], check_inputs=x)
