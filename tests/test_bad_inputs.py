"""Bad and unusual inputs to the FPE entry points (issue 27; the paper, as we read it, section 2): every
case is either a named error (the parameter or layer and what is allowed, matched here) or a documented
behaviour, checked here. No crash from deep inside torch, no silent change."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import fpe
from fpe.method.verify import UnverifiedPairsWarning


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(6, 6), nn.Linear(6, 6)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Residual(Block):
    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(torch.relu(h)) + h


class Reordered(nn.Sequential):
    def forward(self, x):
        return x


def filled(model, value):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.fill_(value)
    return model


def tied():
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    model[2].weight = model[0].weight
    return model


def weight_normed():
    model = mlp()
    from torch.nn.utils import parametrizations
    model[0] = parametrizations.weight_norm(model[0])
    return model


def spectral():
    model = mlp()
    model[2] = nn.utils.spectral_norm(model[2])
    return model


ALPHA = "alpha must be an integer >= 2"
LAYERS = dict(pairs=[("fc1", "fc2")])

ERRORS = [  # (id, call, exception, message pattern)
    # expand: the model
    ("expand-None", lambda: fpe.expand(None, 2), ValueError, "model must be an nn.Sequential.*got NoneType"),
    ("expand-list", lambda: fpe.expand([nn.Linear(2, 2)], 2), ValueError, "model must be an nn.Sequential.*got list"),
    ("expand-Linear", lambda: fpe.expand(nn.Linear(4, 4), 2), ValueError, "got Linear.*fpe.expand_layers"),
    ("expand-empty", lambda: fpe.expand(nn.Sequential(), 2), ValueError, r"at least two Linear layers.*\(empty\)"),
    ("expand-one-linear", lambda: fpe.expand(nn.Sequential(nn.Linear(4, 2)), 2), ValueError, "at least two Linear layers"),
    ("expand-mismatch", lambda: fpe.expand(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)), 2), ValueError,
     "layer 0 has 3 outputs but layer 2 takes 5"),
    ("expand-layernorm", lambda: fpe.expand(nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2)), 2), ValueError,
     r"module 1 \(LayerNorm\) cannot be expanded"),
    ("expand-softmax", lambda: fpe.expand(nn.Sequential(nn.Linear(4, 3), nn.Softmax(-1), nn.Linear(3, 2)), 2), ValueError,
     r"module 1 \(Softmax\).*mixes the units"),
    ("expand-prelu", lambda: fpe.expand(nn.Sequential(nn.Linear(4, 3), nn.PReLU(3), nn.Linear(3, 2)), 2), ValueError,
     r"module 1 \(PReLU\).*one slope per unit"),
    ("expand-flatten-middle", lambda: fpe.expand(nn.Sequential(nn.Linear(4, 3), nn.Flatten(), nn.Linear(3, 2)), 2), ValueError,
     "Flatten is accepted only before the first Linear"),
    ("expand-nan", lambda: fpe.expand(filled(mlp(), float("nan")), 2), ValueError, "non-finite values in the weight of layer 0"),
    ("expand-inf", lambda: fpe.expand(filled(mlp(), float("inf")), 2), ValueError, "non-finite values"),
    ("expand-complex", lambda: fpe.expand(mlp().to(torch.complex64), 2), ValueError, "layer '0' has torch.complex64 weights"),
    ("expand-meta", lambda: fpe.expand(mlp().to("meta"), 2), ValueError, "'0.weight' is on the meta device"),
    ("expand-tied", lambda: fpe.expand(tied(), 2), ValueError, r"tied weights: \['0.weight', '2.weight'\]"),
    ("expand-weight-norm", lambda: fpe.expand(weight_normed(), 2), ValueError, "layer '0' has a torch.nn.utils.parametrize"),
    ("expand-spectral-norm", lambda: fpe.expand(spectral(), 2), ValueError, "layer '2' has a SpectralNorm hook"),
    ("expand-subclass-forward", lambda: fpe.expand(Reordered(*mlp()), 2), ValueError,
     "Reordered, an nn.Sequential subclass with its own forward"),
    # expand: alpha
    ("alpha-1", lambda: fpe.expand(mlp(), 1), ValueError, ALPHA + r".*got 1"),
    ("alpha-0", lambda: fpe.expand(mlp(), 0), ValueError, ALPHA),
    ("alpha-negative", lambda: fpe.expand(mlp(), -2), ValueError, ALPHA),
    ("alpha-float", lambda: fpe.expand(mlp(), 2.0), ValueError, ALPHA + r".*got 2.0"),
    ("alpha-str", lambda: fpe.expand(mlp(), "2"), ValueError, ALPHA),
    ("alpha-bool", lambda: fpe.expand(mlp(), True), ValueError, ALPHA + ".*got True"),
    ("alpha-None", lambda: fpe.expand(mlp(), None), ValueError, ALPHA),
    ("alpha-float-tensor", lambda: fpe.expand(mlp(), torch.tensor(2.0)), ValueError, ALPHA),
    ("alpha-1d-tensor", lambda: fpe.expand(mlp(), torch.tensor([2])), ValueError, ALPHA),
    ("alpha-numpy-float", lambda: fpe.expand(mlp(), np.float64(2)), ValueError, ALPHA),
    ("alpha-numpy-bool", lambda: fpe.expand(mlp(), np.bool_(True)), ValueError, ALPHA),
    ("alpha-above-fan-in", lambda: fpe.expand(mlp(), 9), ValueError, "alpha=9 is larger than the fan-in 8 of hidden layer 0; allowed: 2..8"),
    ("alpha-huge", lambda: fpe.expand(mlp(), 10**12), ValueError, "larger than the fan-in"),
    # expand: split, groups, generator, inplace
    ("split-unknown", lambda: fpe.expand(mlp(), 2, "foo"), ValueError, r"split must be one of \('random', 'clause', 'gram'\)"),
    ("split-None", lambda: fpe.expand(mlp(), 2, None), ValueError, "split must be one of"),
    ("split-int", lambda: fpe.expand(mlp(), 2, 3), ValueError, "split must be one of"),
    ("clause-without-groups", lambda: fpe.expand(mlp(), 2, "clause"), ValueError, "groups is required when split='clause'"),
    ("groups-with-random", lambda: fpe.expand(mlp(), 2, "random", groups=[[0, 1]]), ValueError, "groups is only used with split='clause'"),
    ("groups-overlap", lambda: fpe.expand(mlp(), 2, "clause", groups=[[0, 1], [1, 2]]), ValueError, "groups must partition the inputs 0..7"),
    ("groups-too-few", lambda: fpe.expand(mlp(), 3, "clause", groups=[list(range(4)), list(range(4, 8))]), ValueError,
     "alpha=3 needs at least alpha groups"),
    ("groups-empty-group", lambda: fpe.expand(mlp(), 2, "clause", groups=[[], list(range(8))]), ValueError, "must not contain an empty group"),
    ("groups-str", lambda: fpe.expand(mlp(), 2, "clause", groups="abc"), ValueError, "groups must be a list of lists of integer input indices"),
    ("generator-int", lambda: fpe.expand(mlp(), 2, generator=3), ValueError, "generator must be a torch.Generator or None, got int"),
    ("generator-numpy", lambda: fpe.expand(mlp(), 2, generator=np.random.default_rng(0)), ValueError, "generator must be a torch.Generator"),
    ("inplace-int", lambda: fpe.expand(mlp(), 2, inplace=1), TypeError, "inplace must be True or False"),
    ("callable-wrong-shape", lambda: fpe.expand(mlp(), 2, lambda w, a, g: torch.zeros(3, dtype=torch.long)), ValueError,
     r"must return shape \(6, 8\) or \(8,\), got \(3,\)"),
    ("callable-out-of-range", lambda: fpe.expand(mlp(), 2, lambda w, a, g: torch.full((w.shape[1],), 5)), ValueError,
     "child indices in 0..1"),
    ("callable-negative", lambda: fpe.expand(mlp(), 2, lambda w, a, g: torch.full((w.shape[1],), -1)), ValueError, "child indices in 0..1"),
    ("callable-list", lambda: fpe.expand(mlp(), 2, lambda w, a, g: [0] * w.shape[1]), ValueError, "must return a torch.Tensor, got list"),
    ("callable-float", lambda: fpe.expand(mlp(), 2, lambda w, a, g: torch.rand(w.shape[1])), ValueError,
     "must return an integer tensor of child indices, got dtype torch.float32"),
    ("callable-raises", lambda: fpe.expand(mlp(), 2, lambda w, a, g: 1 / 0), ZeroDivisionError, "division by zero"),  # the rule's own error, unchanged
    ("split-copy-alpha", lambda: fpe.split_copy(mlp(), 1), ValueError, ALPHA),
    # expand_cnn (and expand on a CNN)
    ("cnn-grouped", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.ReLU(), nn.Conv2d(4, 2, 3)), 2), ValueError,
     r"module 0 \(Conv2d\) cannot be expanded: groups=2"),
    ("cnn-conv-after-linear", lambda: fpe.expand_cnn(nn.Sequential(nn.Linear(4, 4), nn.Conv2d(4, 2, 3)), 2), ValueError,
     "a Conv2d after a Flatten or a Linear"),
    ("cnn-split-clause", lambda: fpe.expand_cnn(cnn(), 2, "clause"), ValueError, r"split must be one of \('random', 'channel', 'gram'\)"),
    ("cnn-alpha-float", lambda: fpe.expand_cnn(cnn(), 2.5), ValueError, ALPHA),
    ("cnn-not-sequential", lambda: fpe.expand_cnn(Block(), 2), ValueError, "model must be an nn.Sequential CNN; got Block"),
    ("cnn-conv1d", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv1d(3, 4, 3), nn.ReLU(), nn.Conv1d(4, 2, 3)), 2), ValueError,
     r"module 0 \(Conv1d\) cannot be expanded"),
    ("cnn-channel-split-alpha", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)), 2, "channel"),
     ValueError, "reads 1 input channels, fewer than alpha=2"),
    ("cnn-flatten-0", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(0), nn.Linear(4, 2)), 2), ValueError,
     r"Flatten\(start_dim=0, end_dim=-1\) is a reshape"),
    ("cnn-in-features", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2)), 2),
     ValueError, "in_features=10 is not a multiple of the 4 channels"),
    ("cnn-groups", lambda: fpe.expand(cnn(), 2, "random", groups=[[0]]), ValueError, r"groups \(split='clause'\) is for MLPs"),
    ("cnn-generator", lambda: fpe.expand_cnn(cnn(), 2, generator="x"), ValueError, "generator must be a torch.Generator or None, got str"),
    ("cnn-one-layer", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv2d(3, 4, 3)), 2), ValueError, "at least two Conv2d or Linear layers"),
    ("cnn-bn1d-after-conv", lambda: fpe.expand_cnn(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm1d(4), nn.Conv2d(4, 2, 3)), 2),
     ValueError, "BatchNorm1d is accepted only after a Linear"),
    ("cnn-meta", lambda: fpe.expand_cnn(cnn().to("meta"), 2), ValueError, "on the meta device"),
    ("cnn-inplace", lambda: fpe.expand_cnn(cnn(), 2, inplace="yes"), TypeError, "inplace must be True or False"),
    ("cnn-subclass-forward", lambda: fpe.expand_cnn(Reordered(*cnn()), 2), ValueError, "subclass with its own forward"),
    # expand_layers
    ("layers-pairs-None", lambda: fpe.expand_layers(Block(), 2, pairs=None), ValueError, "pairs must be a non-empty list"),
    ("layers-pairs-dict", lambda: fpe.expand_layers(Block(), 2, pairs={"fc1": "fc2"}), ValueError, "pairs must be a non-empty list"),
    ("layers-pair-triple", lambda: fpe.expand_layers(Block(), 2, pairs=[("fc1", "fc2", "fc1")]), ValueError,
     "each pair must be \\(producer, consumer\\)"),
    ("layers-name-int", lambda: fpe.expand_layers(Block(), 2, pairs=[(1, 2)]), ValueError, "a pair's producer must be a layer name"),
    ("layers-unknown-name", lambda: fpe.expand_layers(Block(), 2, pairs=[("fc9", "fc2")]), ValueError, "no module named 'fc9'"),
    ("layers-self-pair", lambda: fpe.expand_layers(Block(), 2, pairs=[("fc1", "fc1")]), ValueError, "is a producer of the same pair"),
    ("layers-root-name", lambda: fpe.expand_layers(Block(), 2, pairs=[("", "fc2")]), ValueError, "layer '' is a Block, not an nn.Linear"),
    ("layers-prune", lambda: fpe.expand_layers(Block(), 2, prune=None, **LAYERS), ValueError,
     r"prune must be one of \('global', 'per_pair', 'copies'\)"),
    ("layers-verify", lambda: fpe.expand_layers(Block(), 2, verify="yes", **LAYERS), TypeError, "verify must be None, True or False"),
    ("layers-inplace", lambda: fpe.expand_layers(Block(), 2, inplace="no", **LAYERS), TypeError, "inplace must be True or False"),
    ("layers-model-None", lambda: fpe.expand_layers(None, 2, **LAYERS), TypeError, "model must be an nn.Module, got NoneType"),
    ("layers-alpha", lambda: fpe.expand_layers(Block(), 1.5, **LAYERS), ValueError, ALPHA),
    ("layers-check-inputs-shape", lambda: fpe.expand_layers(Block(), 2, check_inputs=torch.randn(2, 5), **LAYERS), ValueError,
     "check_inputs: the model fails on the example input"),
    ("layers-reversed", lambda: fpe.expand_layers(Block(), 2, pairs=[("fc2", "fc1")]), ValueError,
     "consumer 'fc1' does not read the output of producer 'fc2'.*reversed"),
    ("layers-residual", lambda: fpe.expand_layers(Residual(), 2, **LAYERS), ValueError, "output of producer 'fc1' is read by %add"),
    ("layers-mha-out-proj", lambda: fpe.expand_layers(nn.MultiheadAttention(6, 2), 2, pairs=[("out_proj", "out_proj")]), ValueError,
     "is a producer of the same pair"),
    ("layers-tied", lambda: fpe.expand_layers(tied(), 2, pairs=[("0", "2")]), ValueError, "tied weights"),
    ("layers-meta", lambda: fpe.expand_layers(Block().to("meta"), 2, **LAYERS), ValueError, "on the meta device"),
    ("layers-weight-norm", lambda: fpe.expand_layers(weight_normed(), 2, pairs=[("0", "2")]), ValueError, "parametrize"),
    # export and count_nonzero
    ("export-None", lambda: fpe.export(None), TypeError, "model must be an nn.Module, got NoneType"),
    ("export-list", lambda: fpe.export([mlp()]), TypeError, "model must be an nn.Module, got list"),
    ("export-sparse-str", lambda: fpe.export(mlp(), sparse="yes"), TypeError, "sparse must be True or False"),
    ("count-None", lambda: fpe.count_nonzero(None), TypeError, "model must be an nn.Module, got NoneType"),
    ("count-tensor", lambda: fpe.count_nonzero(torch.ones(3)), TypeError, "model must be an nn.Module, got Tensor"),
    ("count-include-bias-str", lambda: fpe.count_nonzero(mlp(), include_bias="yes"), TypeError, "include_bias must be True or False"),
    ("count-meta", lambda: fpe.count_nonzero(mlp().to("meta")), ValueError, "meta device"),
]


@pytest.mark.parametrize("call, exc, match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_input_gives_a_named_error(call, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own deprecation notes (spectral_norm)
        with pytest.raises(exc, match=match):
            call()


def _same_count(model, **kw):
    wide = fpe.expand(model, 2, generator=torch.Generator().manual_seed(0), **kw)
    return fpe.count_nonzero(wide) == fpe.count_nonzero(model)


def _twice():
    once = fpe.expand(mlp(), 2, generator=torch.Generator().manual_seed(0))
    twice = fpe.expand(once, 2, generator=torch.Generator().manual_seed(1))
    return twice[0].out_features == 24 and fpe.count_nonzero(twice) == fpe.count_nonzero(mlp())


def _zero_weights():
    wide = fpe.expand(filled(mlp(), 0.0), 2, generator=torch.Generator().manual_seed(0))
    return fpe.count_nonzero(wide) == 0 and wide[0].weight_mask.sum() == 0


def _unverified_warns():
    class Untraceable(Block):
        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x))) if x.sum() > 0 else x

    with pytest.warns(UnverifiedPairsWarning, match=r"pair \['fc1'\] -> \['fc2'\]: torch.fx cannot trace the model"):
        fpe.expand_layers(Untraceable(), 2, **LAYERS)
    return True


def _export_plain():
    out = fpe.export(mlp())
    return not any(k.endswith("_mask") for k in out.state_dict())


def _frozen():
    wide = fpe.expand(mlp().requires_grad_(False), 2)
    return not any(p.requires_grad for p in wide.parameters())


BEHAVIOURS = [  # (id, check): documented behaviours for unusual but valid inputs
    ("alpha-numpy-int", lambda: fpe.expand(mlp(), np.int64(2))[0].out_features == 12),
    ("alpha-tensor-int", lambda: fpe.expand(mlp(), torch.tensor(3))[0].out_features == 18),
    ("alpha-equals-fan-in", lambda: _same_count(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))),
    ("float64", lambda: _same_count(mlp().double())),
    ("bfloat16", lambda: _same_count(mlp().bfloat16())),
    ("eval-mode-kept", lambda: not fpe.expand(mlp().eval(), 2).training),
    ("frozen-stays-frozen", _frozen),
    ("zero-weights", _zero_weights),
    ("expand-twice-keeps-the-count", _twice),
    ("untraceable-pairs-warn", _unverified_warns),
    ("export-without-masks", _export_plain),
    ("count-tied-once", lambda: fpe.count_nonzero(tied()) == 36 + 12),
    ("count-sparse-export", lambda: fpe.count_nonzero(fpe.export(fpe.expand(mlp(), 2), sparse=True)) == fpe.count_nonzero(mlp())),
    ("count-mha-projections", lambda: fpe.count_nonzero(nn.MultiheadAttention(4, 2)) == 4 * 16),
]


@pytest.mark.parametrize("check", [b[1] for b in BEHAVIOURS], ids=[b[0] for b in BEHAVIOURS])
def test_unusual_input_has_the_documented_behaviour(check):
    assert check()


def test_the_table_has_at_least_sixty_cases():
    assert len(ERRORS) + len(BEHAVIOURS) >= 60
