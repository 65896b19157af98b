"""FPE for CNNs (fpe.method.conv; the paper, as we read it, section 2, "For CNNs the split acts on output channels"):
counts, child filters, BatchNorm copies, the channel split, fixed masks, MLP consistency, devices, export, errors."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fpe
from fpe.method.conv import expand_cnn, split_copy_cnn
from fpe.method.expand import count_nonzero
from test_expand import assert_children_partition, assert_masks_fixed_under_adam

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
gen = lambda seed=0: torch.Generator().manual_seed(seed)  # noqa: E731


def weighted(model):
    return [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]


def cnn(c_in=3, widths=(4, 5), head=(6,), classes=2, size=8, bn=True, seed=0):
    """Conv(3x3, pad 1)[, BN], ReLU, MaxPool(2) per width, then Flatten and an MLP head."""
    torch.manual_seed(seed)
    layers, c = [], c_in
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1), *([nn.BatchNorm2d(w)] if bn else []), nn.ReLU(), nn.MaxPool2d(2)]
        c, size = w, size // 2
    sizes = [c * size * size, *head, classes]
    layers.append(nn.Flatten())
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.GELU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def parents_with_copied_inputs(model, alpha):
    """Each weight layer as ``(out, fan_in)`` with its inputs copied for the previous layer's children."""
    out, prev = [], None
    for m in weighted(model):
        w = m.weight.detach().flatten(1)
        out.append(w if prev is None else w.reshape(w.shape[0], prev, -1).repeat_interleave(alpha, 1).flatten(1))
        prev = w.shape[0]
    return out


@st.composite
def small_cnns(draw):
    """A random small Sequential CNN (conv stride/dilation/pool/BN/activations; an MLP head or a conv output)."""
    c = draw(st.integers(1, 4))
    c_in, size, layers = c, 6, []
    for _ in range(draw(st.integers(1, 3))):
        k, stride, dil = draw(st.sampled_from([1, 3])), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        out = draw(st.integers(1, 4))
        layers.append(nn.Conv2d(c, out, k, stride=stride, padding=dil * (k // 2), dilation=dil, bias=draw(st.booleans())))
        c, size = out, (size - 1) // stride + 1
        layers += [nn.BatchNorm2d(c)] * draw(st.booleans()) + [draw(st.sampled_from([nn.ReLU, nn.GELU, nn.Tanh]))()]
        if size >= 2 and draw(st.booleans()):
            layers.append(draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2)])))
            size //= 2
    if draw(st.booleans()):  # a conv output layer
        layers += [nn.Conv2d(c, draw(st.integers(1, 3)), 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    else:
        sizes = [c * size * size, *draw(st.lists(st.integers(1, 5), max_size=2)), draw(st.integers(1, 3))]
        layers.append(nn.Flatten())
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.pop()
    return nn.Sequential(*layers), c_in


@settings(max_examples=40, deadline=None)
@given(net=small_cnns(), alpha=st.integers(2, 3), seed=st.integers(0, 10_000), split=st.sampled_from(["random", "channel"]))
def test_counts_are_kept_and_children_partition_their_parent_on_random_cnns(net, alpha, seed, split):
    model, c_in = net
    first = weighted(model)[0]
    if alpha > (c_in if split == "channel" else first.weight[0].numel()):
        with pytest.raises(ValueError, match="model module 0 \\(Conv2d\\).*alpha"):
            expand_cnn(model, alpha, split, generator=gen(seed))
        return
    new = expand_cnn(model, alpha, split, generator=gen(seed))
    old_layers, new_layers = weighted(model), weighted(new)
    assert count_nonzero(new) == count_nonzero(model)
    for k, (a, b) in enumerate(zip(old_layers, new_layers)):
        hidden = k < len(old_layers) - 1
        assert b.weight.shape[0] == a.weight.shape[0] * (alpha if hidden else 1)
        assert hasattr(b, "weight_orig") and torch.equal(b.weight, b.weight_orig * b.weight_mask)
        if b.bias is not None:
            assert torch.equal(b.bias.detach(), a.bias.detach().repeat_interleave(alpha if hidden else 1))
    # before the prune: children are disjoint and cover the (input-copied) parent exactly
    wide, _ = split_copy_cnn(model, alpha, split, generator=gen(seed))
    parents = parents_with_copied_inputs(model, alpha)
    for k, (parent, w, m) in enumerate(zip(parents, wide, new_layers)):
        if k < len(parents) - 1:
            assert_children_partition(parent, w.flatten(1), alpha)
            assert_children_partition(parent, m.weight.flatten(1), alpha, exact=False)  # after the prune
        else:
            assert torch.equal(w.flatten(1), parent)
    x = torch.randn(3, c_in, 6, 6)
    assert new.eval()(x).shape == model.eval()(x).shape


def test_first_conv_split_is_balanced_and_differs_per_parent():
    model = cnn(widths=(6, 4), head=())
    with torch.no_grad():  # small later layers: the prune then removes only copies, the first split is seen whole
        for m in weighted(model)[1:]:
            m.weight.mul_(1e-6)
    new = expand_cnn(model, 3, "random", generator=gen(1))
    support = assert_children_partition(model[0].weight.flatten(1), new[0].weight.flatten(1), 3)  # (6, 3, 27)
    assert (support.sum(-1) == 9).all() and len({tuple(s.flatten().tolist()) for s in support}) > 1
    assert count_nonzero(new) == count_nonzero(model)


def test_gram_split_shares_one_balanced_partition_per_layer():
    model = cnn(widths=(4, 3), head=(5,))
    wide, _ = split_copy_cnn(model, 2, "gram", generator=gen(6))
    for parent, w in zip(parents_with_copied_inputs(model, 2), wide[:-1]):
        support = assert_children_partition(parent, w.flatten(1), 2)
        sizes = support[0].sum(-1)
        assert (support == support[0]).all() and sizes.max() - sizes.min() <= 1
    assert count_nonzero(expand_cnn(model, 2, "gram", generator=gen(6))) == count_nonzero(model)


def test_batchnorm_parameters_and_statistics_are_copied_per_child():
    model, alpha = cnn(), 2
    model.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics and num_batches_tracked away from their init
            model(torch.randn(8, 3, 8, 8) * 2 + 1)
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-1, 1)
    new = expand_cnn(model, alpha, generator=gen())
    assert new.training
    for i in (1, 5):
        old, bn = model[i], new[i]
        assert bn.num_features == old.num_features * alpha and (bn.eps, bn.momentum) == (old.eps, old.momentum)
        for name in ("weight", "bias", "running_mean", "running_var"):
            assert torch.equal(getattr(bn, name).detach(), getattr(old, name).detach().repeat_interleave(alpha)), name
        assert isinstance(bn.weight, nn.Parameter) and int(bn.num_batches_tracked) == int(old.num_batches_tracked) == 3
        assert bn.running_mean is not old.running_mean


@pytest.mark.parametrize("alpha", [2, 3])
def test_channel_split_keeps_whole_input_channels(alpha):
    model = cnn(c_in=3, widths=(4, 5), head=(6,), size=8)
    wide, _ = split_copy_cnn(model, alpha, "channel", generator=gen(4))
    for w, n_in in ((wide[0], 3), (wide[1], 4 * alpha), (wide[2].view(6 * alpha, 5 * alpha, 4), 5 * alpha)):
        channels = (w != 0).flatten(2)  # (children, input channels, positions)
        assert (channels.all(-1) | ~channels.any(-1)).all(), "an input channel was cut between children"
        per_child = channels.any(-1).sum(1)
        assert per_child.max() - per_child.min() <= 1 and w.shape[1] == n_in


def test_callable_split_gets_the_filters_and_may_share_one_partition():
    model = cnn(c_in=2, widths=(3,), head=(4,))
    seen = []

    def by_kernel_row(w, alpha, g):
        seen.append(w.shape)
        return torch.arange(w.shape[-2]).view(1, -1, 1).expand(*w.shape[-3:]) % alpha if w.dim() == 4 else torch.arange(w.shape[1]) % alpha

    wide, _ = split_copy_cnn(model, 2, by_kernel_row)
    assert seen[0] == (3, 2, 3, 3) and len(seen[1]) == 2  # a conv sees (out, in, kh, kw), a Linear (out, in)
    assert (wide[0][0::2, :, 1] == 0).all() and (wide[0][1::2, :, 0::2] == 0).all()
    with pytest.raises(ValueError, match="child indices"):
        split_copy_cnn(model, 2, lambda w, a, g: torch.full(w.shape, 7))


@pytest.mark.parametrize("split", ["random", "gram", lambda w, a, g: torch.arange(w.shape[1]) % a])
def test_an_mlp_comes_out_as_from_fpe_expand(split):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.GELU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    ref, new = fpe.expand(model, 2, split, generator=gen(7)), expand_cnn(model, 2, split, generator=gen(7))
    a, b = ref.state_dict(), new.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_pruned_weights_stay_zero_under_adam_and_the_model_is_not_modified():
    model = cnn(widths=(4, 3), head=(5,), bn=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = expand_cnn(model, 2, "random", generator=gen(2))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 2, (16,))
    assert_masks_fixed_under_adam(new, lambda m: nn.functional.cross_entropy(m(x), y), steps=3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("split", ["random", "channel", "gram"])
def test_the_same_masks_on_every_device(device, split):
    model = cnn(widths=(4, 3), head=(5,)).eval()
    ref = expand_cnn(model, 2, split, generator=gen(3))
    new = expand_cnn(model.to(device), 2, split, generator=gen(3))
    a, b = ref.state_dict(), new.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k].cpu()) for k in a)
    assert all(p.device.type == device for p in new.parameters())
    x = torch.randn(4, 3, 8, 8)
    assert torch.allclose(new(x.to(device)).cpu(), ref(x), atol=1e-5)


def test_export_gives_plain_layers_with_equal_outputs():
    model = cnn(widths=(4, 3), head=(5,)).eval()
    wide = expand_cnn(model, 2, "random", generator=gen(5))
    with torch.no_grad():  # train a little first: export must take the current masked weights
        wide[0].weight_orig.add_(0.1)
    out = fpe.export(wide)
    assert not any(k.endswith(("_orig", "_mask")) for k in out.state_dict())
    plain = cnn(widths=(8, 6), head=(10,)).eval()
    plain.load_state_dict(out.state_dict())
    x = torch.randn(5, 3, 8, 8)
    assert torch.equal(plain(x), wide(x)) and count_nonzero(plain) == count_nonzero(model)
    assert torch.allclose(fpe.export(wide, sparse=True)(x), wide(x), atol=1e-5)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 3, 3, padding=1), nn.Sequential(nn.Flatten(), nn.Linear(48, 2))

    def forward(self, x):
        return self.head(x + self.conv(x))


def seq(*modules):
    return nn.Sequential(*modules)


@pytest.mark.parametrize("model, alpha, match", [
    (seq(nn.Conv2d(4, 4, 3, groups=2), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)), 2, r"module 0 \(Conv2d\).*groups=2"),
    (seq(nn.Conv2d(4, 4, 3, groups=4), nn.Flatten(), nn.Linear(16, 2)), 2, r"module 0 \(Conv2d\).*depthwise"),
    (seq(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2)), 2, r"module 3 \(Linear\).*in_features=10 is not a multiple of the 4 channels"),
    (seq(nn.Conv2d(1, 4, 1), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)), 2, r"module 0 \(Conv2d\).*alpha=2 is larger than its fan-in 1"),
    (seq(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(16, 2)), 19, r"module 0 \(Conv2d\).*alpha=19.*fan-in 18"),
    (Residual(), 2, "got Residual.*residual"),
    (seq(nn.Conv2d(3, 4, 3), nn.Flatten(2), nn.Linear(4, 2)), 2, r"module 1 \(Flatten\).*reshape"),
    (seq(nn.Conv2d(3, 4, 3), nn.Linear(4, 2)), 2, r"module 1 \(Linear\).*put a Flatten before it"),
    (seq(nn.Flatten(), nn.Linear(12, 4), nn.Conv2d(4, 2, 1)), 2, r"module 2 \(Conv2d\).*after a Flatten or a Linear"),
    (seq(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.MaxPool2d(2), nn.Linear(4, 2)), 2, r"module 2 \(MaxPool2d\).*mixes"),
    (seq(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2), nn.Flatten(), nn.Linear(64, 2)), 2, r"module 1 \(Upsample\)"),
    (seq(nn.Conv2d(3, 4, 3), nn.PReLU(4), nn.Flatten(), nn.Linear(4, 2)), 2, r"module 1 \(PReLU\).*slope per channel"),
    (seq(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(5), nn.Flatten(), nn.Linear(4, 2)), 2, r"module 1 \(BatchNorm2d\).*takes 5"),
    (seq(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.BatchNorm1d(4), nn.Linear(4, 2)), 2, r"module 2 \(BatchNorm1d\)"),
    (seq(nn.Conv2d(3, 4, 3), nn.Conv2d(5, 2, 1)), 2, r"module 1 \(Conv2d\).*takes 5 inputs but the layer before gives 4"),
    (seq(nn.Conv2d(3, 4, 3), nn.Flatten()), 2, "at least two Conv2d or Linear"),
])
def test_models_it_cannot_expand_raise_naming_the_module(model, alpha, match):
    with pytest.raises(ValueError, match=match):
        expand_cnn(model, alpha, "random")


@pytest.mark.parametrize("kwargs, match", [
    (dict(alpha=1), "alpha"), (dict(alpha=2.0), "alpha"), (dict(split="clause"), "split must be one of"),
    (dict(generator=0), "generator"), (dict(split="channel", alpha=4), r"module 0 \(Conv2d\).*3 input channels, fewer than alpha=4"),
])
def test_bad_arguments_raise_named_value_errors(kwargs, match):
    args = dict(alpha=2, split="random") | kwargs
    with pytest.raises(ValueError, match=match):
        expand_cnn(cnn(), args.pop("alpha"), args.pop("split"), **args)


def test_non_finite_weights_are_rejected():
    model = cnn()
    with torch.no_grad():
        model[4].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite values in the weight of layer 4"):
        expand_cnn(model, 2)


def test_fpe_expand_takes_a_sequential_cnn_and_gives_expand_cnn_bit_for_bit():
    """The one entry point: fpe.expand on a Sequential with Conv2d layers is channel FPE (fpe.expand_cnn)."""
    import fpe

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 5), nn.ReLU(), nn.Linear(5, 3))
    a = fpe.expand(model, 2, "random", generator=torch.Generator().manual_seed(4))
    b = expand_cnn(model, 2, "random", generator=torch.Generator().manual_seed(4))
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert fpe.count_nonzero(a) == fpe.count_nonzero(model)
    with pytest.raises(ValueError, match="groups"):
        fpe.expand(model, 2, "clause", groups=[[0, 1, 2]])
