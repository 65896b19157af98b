"""Channel FPE by layer name inside any module (issue 27; the paper, as we read it, section 2: the CNN form
of FPE): conv -> BatchNorm2d -> activation -> conv pairs of a ResNet-style basic block, skip path intact."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fpe
from test_expand import assert_masks_fixed_under_adam


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class BasicBlock(nn.Module):
    def __init__(self, c=4, h=6, bias=False):
        super().__init__()
        self.conv1 = nn.Conv2d(c, h, 3, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(h)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(h, c, 3, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)  # the skip connection


class ResNet(nn.Module):
    def __init__(self, c=4, h=6, bias=False):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.block = BasicBlock(c, h, bias)
        self.head = nn.Linear(c, 2)

    def forward(self, x):
        return self.head(self.block(self.stem(x)).mean((2, 3)))


def trained_stats(model, seed=0):
    """BatchNorm statistics that are not the defaults, so that copying them is checked."""
    g = gen(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return model


PAIR = [("block.conv1", "block.conv2")]


@settings(max_examples=15, deadline=None)
@given(c=st.integers(2, 5), h=st.integers(1, 6), alpha=st.integers(2, 4), seed=st.integers(0, 1000), bias=st.booleans())
def test_basic_block_channel_fpe_invariants(c, h, alpha, seed, bias):
    torch.manual_seed(seed)
    model = trained_stats(ResNet(c, h, bias), seed).eval()
    wide = fpe.expand_layers(model, alpha, pairs=PAIR, generator=gen(seed))
    old, new = model.block, wide.block
    assert new.conv1.out_channels == h * alpha == new.bn1.num_features == new.conv2.in_channels
    assert new.conv2.out_channels == c and new.bn2.num_features == c, "the block's output (the skip's width) is unchanged"
    assert fpe.count_nonzero(wide) == fpe.count_nonzero(model)
    # children: disjoint parts of the parent's filter; their union within the parent's filter
    kids = new.conv1.weight.detach().reshape(h, alpha, -1)
    parent = old.conv1.weight.detach().reshape(h, -1)
    assert ((kids != 0).sum(1) <= 1).all()
    assert torch.equal(kids.sum(1)[(kids != 0).any(1)], parent[(kids != 0).any(1)])
    # the BatchNorm entries are copied per child, num_batches_tracked kept
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(new.bn1, name).detach(), getattr(old.bn1, name).detach().repeat_interleave(alpha))
    assert torch.equal(new.bn1.num_batches_tracked, old.bn1.num_batches_tracked)
    if bias:
        assert torch.equal(new.conv1.bias.detach(), old.conv1.bias.detach().repeat_interleave(alpha))
    # the consumer's surviving weights are copies of the parent's input-channel slices
    src = old.conv2.weight.detach()[:, torch.arange(h).repeat_interleave(alpha)]
    kept = new.conv2.weight.detach() != 0
    assert torch.equal(new.conv2.weight.detach()[kept], src[kept])
    # the rest of the model is untouched
    for name in ("stem", "block.bn2", "head"):
        a, b = model.get_submodule(name), wide.get_submodule(name)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_skip_path_stays_intact():
    torch.manual_seed(1)
    model = trained_stats(ResNet()).eval()
    wide = fpe.expand_layers(model, 3, pairs=PAIR, generator=gen())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():  # with the residual branch silenced, both compute relu(bn2(0) + stem(x))
        model.block.conv2.weight.zero_()
        wide.block.conv2.weight_orig.zero_()
        assert torch.equal(wide(x), model(x))


def test_expanded_block_trains_with_fixed_masks_and_deep_copies():
    import copy

    torch.manual_seed(2)
    wide = fpe.expand_layers(trained_stats(ResNet()), 2, pairs=PAIR, generator=gen())
    x, y = torch.randn(4, 3, 6, 6), torch.randn(4, 2)
    assert_masks_fixed_under_adam(wide, lambda m: nn.functional.mse_loss(m(x), y))
    assert torch.equal(copy.deepcopy(wide).eval()(x), wide.eval()(x))


class SharedNorm(BasicBlock):
    def forward(self, x):
        return self.conv2(self.relu(self.bn1(self.conv1(x)))) + self.bn1(x[:, :1].repeat(1, 6, 1, 1))


class Untraceable(BasicBlock):
    def forward(self, x):
        if x.sum() > 0:
            x = -x
        return super().forward(x)


def test_conv_pair_errors_are_named():
    with pytest.raises(ValueError, match="BatchNorm2d 'bn1' between them is also called on other tensors"):
        fpe.expand_layers(SharedNorm(), 2, pairs=[("conv1", "conv2")])
    with pytest.raises(ValueError, match="need the traced graph to find the BatchNorm2d layers.*torch.fx cannot trace"):
        fpe.expand_layers(Untraceable(), 2, pairs=[("conv1", "conv2")])
    with pytest.raises(ValueError, match="leave verify at None or True"):
        fpe.expand_layers(BasicBlock(), 2, pairs=[("conv1", "conv2")], verify=False)
    with pytest.raises(ValueError, match="prune='copies' is for Linear pairs"):
        fpe.expand_layers(BasicBlock(), 2, pairs=[("conv1", "conv2")], prune="copies")
    with pytest.raises(ValueError, match="'head' is a Linear but producer 'block.conv2' is a Conv2d"):
        fpe.expand_layers(ResNet(), 2, pairs=[("block.conv2", "head")])
    grouped = BasicBlock()
    grouped.conv2 = nn.Conv2d(6, 4, 3, padding=1, groups=2)
    with pytest.raises(ValueError, match=r"'conv2' is a grouped or depthwise Conv2d \(groups=2\)"):
        fpe.expand_layers(grouped, 2, pairs=[("conv1", "conv2")])
    with pytest.raises(ValueError, match="reversed"):
        fpe.expand_layers(BasicBlock(c=6, h=6), 2, pairs=[("conv2", "conv1")])
