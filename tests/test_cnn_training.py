"""The batched CNN trainer (fpe.training.cnn; the paper, as we read it, sections 3 and 7): it matches a plain
per-model nn.Sequential + torch.optim.Adam loop to float tolerance, keeps FPE's pruned weights at zero, batches
per-instance BatchNorm, and rejects bad arguments by name."""
import pytest
import torch
from torch import nn

from fpe.method.conv import expand_cnn
from fpe.method.expand import count_nonzero
from fpe.experiments.cnn import backbone_cnn, channel_fpe, head_fpe
from fpe.training.cnn import CNNTrainer, StackedCNN, copy_models, evaluate, fit_per_model, shape_key

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
gen = lambda seed=0: torch.Generator().manual_seed(seed)  # noqa: E731


def small(width, seed, bn=True):
    torch.manual_seed(seed)
    w = width
    return nn.Sequential(nn.Conv2d(3, w, 3, padding=1, bias=not bn), *([nn.BatchNorm2d(w)] if bn else []), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(w, 2 * w, 3, padding=1, stride=2, bias=not bn),
                         *([nn.BatchNorm2d(2 * w)] if bn else []), nn.GELU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(2 * w, 6), nn.ReLU(), nn.Linear(6, 3))


def grid():
    """Two seeds, two shapes, dense and expanded models (the chapter's mix)."""
    models, seed_index = [], []
    for s in range(2):
        for w in (3, 4):
            d = small(w, 10 * s + w)
            models += [d, expand_cnn(d, 2, generator=gen(s))]
            seed_index += [s, s]
    models.append(small(3, 99, bn=False))
    seed_index.append(1)
    return copy_models(models), seed_index


def data(n=96, size=8, classes=3, seed=0):
    g = gen(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


def params(model):
    return {k: v for k, v in model.state_dict().items() if not k.endswith("weight_mask")}


@pytest.mark.parametrize("device", DEVICES)
def test_batched_matches_per_model_loop(device):
    models, si = grid()
    x, y = (t.to(device) for t in data())
    a = copy_models(models)
    for m in a:
        m.to(device).train()
    ga = [gen(100 + s) for s in range(2)]
    trainer = CNNTrainer(a, x, y, si, lr=3e-3, batch_size=32)
    trainer.fit(2, ga)
    trainer.fit(1, ga)  # continuing keeps the optimiser state: the same as one Adam over 3 epochs
    assert len(trainer.groups) == 5  # two widths x (dense, expanded) with BN, plus one without BN
    c = copy_models(models)
    for m in c:
        m.to(device).train()
    fit_per_model(c, x, y, si, lr=3e-3, batch_size=32, epochs=3, order_generators=[gen(100 + s) for s in range(2)])
    for ma, mc in zip(a, c):
        pa, pc = params(ma), params(mc)
        assert pa.keys() == pc.keys()
        for k in pa:
            torch.testing.assert_close(pa[k].float(), pc[k].float(), atol=2e-5, rtol=1e-4, msg=k)
    torch.testing.assert_close(evaluate(a, x, y), evaluate(c, x, y))
    changed = [not torch.equal(params(m0)[k].to(device), params(ma)[k]) for m0, ma in zip(models, a) for k in params(ma)]
    assert any(changed), "training must move the weights"


def test_masked_weights_stay_zero_and_counts_hold():
    torch.manual_seed(0)
    dense = backbone_cnn(4, image_size=8)
    models = copy_models([dense, head_fpe(dense, 2, generator=gen(1)), channel_fpe(dense, 2, generator=gen(2)),
                          expand_cnn(dense, 3, "channel", generator=gen(3))])
    n0 = count_nonzero(dense)
    assert [count_nonzero(m) for m in models] == [n0] * 4
    masks = [[m.weight_mask.clone() for m in mdl if hasattr(m, "weight_mask")] for mdl in models]
    x, y = data(n=64, classes=10)
    CNNTrainer(models, x, y, [0, 0, 0, 0], lr=1e-2, batch_size=16).fit(2, [gen(5)])
    for mdl, ms in zip(models[1:], masks[1:]):
        layers = [m for m in mdl if hasattr(m, "weight_mask")]
        assert layers and len(layers) == len(ms)
        for m, mask in zip(layers, ms):
            assert torch.equal(m.weight_mask, mask)
            assert (m.weight_orig[mask == 0] == 0).all() and (m.weight[mask == 0] == 0).all()
    assert [count_nonzero(m) for m in models[1:]] <= [n0] * 3  # a weight may cross zero only by chance
    assert all(count_nonzero(m) > 0.95 * n0 for m in models)


def test_batchnorm_is_per_instance():
    """Two instances of one shape on different data: each instance's running statistics are its own."""
    models = copy_models([small(3, 1), small(3, 1)])
    x, y = data(n=64)
    x2 = torch.cat([x[:32], 5 * x[32:] + 3])
    a = copy_models(models)
    CNNTrainer(a, x2, y, [0, 1], lr=1e-3, batch_size=32).fit(1, [gen(0), gen(1)])
    assert not torch.allclose(a[0][1].running_mean, a[1][1].running_mean)  # different minibatches per seed
    b = copy_models(models)
    fit_per_model(b, x2, y, [0, 1], lr=1e-3, batch_size=32, epochs=1, order_generators=[gen(0), gen(1)])
    for ma, mb in zip(a, b):
        torch.testing.assert_close(ma[1].running_mean, mb[1].running_mean, atol=1e-5, rtol=1e-4)
        assert int(ma[1].num_batches_tracked) == int(mb[1].num_batches_tracked) == 2


def test_stack_round_trip_and_forward():
    models = copy_models([small(3, 1), small(3, 2)])
    stack = StackedCNN.from_sequentials(models).eval()
    x, _ = data(n=5)
    out = stack(x.unsqueeze(0).expand(2, *x.shape))
    for i, m in enumerate(models):
        m.eval()
        torch.testing.assert_close(out[i], m(x), atol=1e-5, rtol=1e-5)


def test_bad_arguments_raise_named_errors():
    models, si = grid()
    x, y = data()
    with pytest.raises(ValueError, match="lr"):
        CNNTrainer(models, x, y, si, lr=0, batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        CNNTrainer(models, x, y, si, lr=1e-3, batch_size=1)
    with pytest.raises(ValueError, match="seed_index"):
        CNNTrainer(models, x, y, si[:-1], lr=1e-3, batch_size=8)
    with pytest.raises(ValueError, match="x must be"):
        CNNTrainer(models, x.flatten(1), y, si, lr=1e-3, batch_size=8)
    with pytest.raises(ValueError, match="y must be"):
        CNNTrainer(models, x, y[:-1], si, lr=1e-3, batch_size=8)
    with pytest.raises(ValueError, match="models must be a non-empty"):
        CNNTrainer([], x, y, [], lr=1e-3, batch_size=8)
    tr = CNNTrainer(models, x, y, si, lr=1e-3, batch_size=8)
    with pytest.raises(ValueError, match="order_generators"):
        tr.fit(1, [gen(0)])
    with pytest.raises(ValueError, match="epochs"):
        tr.fit(-1, [gen(0), gen(1)])
    with pytest.raises(ValueError, match="module 0 \\(Conv2d\\).*groups=2"):
        shape_key(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="module 1 \\(LayerNorm\\)"):
        shape_key(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm(4), nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="Flatten"):
        shape_key(nn.Sequential(nn.Conv2d(3, 4, 3)))
    with pytest.raises(ValueError, match="one shape"):
        StackedCNN([small(3, 0), small(4, 0)])
    with pytest.raises(ValueError, match="chunk"):
        evaluate(models, x, y, chunk=0)
    with pytest.raises(ValueError, match="width"):
        backbone_cnn(0, image_size=8)


# --- the chapter's runner (fpe.experiments.cnn.run_cnn) ---

def test_image_tensors_pads_grey_images_and_pools_colour_ones():
    import numpy as np

    from fpe.experiments.cnn import image_tensors

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    xtr, ytr, xte, yte = image_tensors(grey, np.arange(40) % 10, grey[:10], np.arange(10), n_train=30, image_size=16)
    assert xtr.shape == (30, 1, 16, 16) and xte.shape == (10, 1, 16, 16) and ytr.dtype == torch.long
    assert abs(float(xtr.mean())) < 1e-5 and abs(float(xtr.std()) - 1) < 1e-3  # normalised by the subset
    colour = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    x = image_tensors(colour, np.zeros(12), colour, np.zeros(12), n_train=12, image_size=16)[0]
    t = torch.from_numpy(colour).permute(0, 3, 1, 2).float() / 255
    want = torch.nn.functional.avg_pool2d(t, 2)
    want = (want - want.mean((0, 2, 3), keepdim=True)) / want.std((0, 2, 3), keepdim=True)
    assert x.shape == (12, 3, 16, 16) and torch.allclose(x, want, atol=1e-5)  # the subset of all 12 is sorted: same order
    with pytest.raises(ValueError, match="image_size"):
        image_tensors(grey, np.zeros(40), grey, np.zeros(40), n_train=30, image_size=14)


def test_run_cnn_variants_and_seed_chunks(monkeypatch):
    """Every (place, alpha) variant keeps the dense non-zero count, and cutting the seeds into other
    chunks (other jobs) changes no number beyond float tolerance."""
    from fpe.experiments.cnn import CNNSetup, run_cnn

    monkeypatch.setenv("FPE_CACHE", "0")
    monkeypatch.setenv("FPE_JOBS", "1")
    g = gen(3)
    x, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    setup = CNNSetup(n_train=64, image_size=8, warmup_epochs=1, post_epochs=1, batch_size=32)
    kw = dict(tag="test", variants=[("head", 2), ("head", 4), ("channel", 2)])
    a = run_cnn(setup, [2, 4], [0, 1, 2], (x, y, x, y), seed_chunk=2, **kw)
    b = run_cnn(setup, [2, 4], [0, 1, 2], (x, y, x, y), seed_chunk=1, **kw)
    for v in ("dense", "head_a2", "head_a4", "channel_a2"):
        for w in (2, 4):
            assert a[v][w].shape == (3,) and torch.allclose(a[v][w], b[v][w], atol=2 * 100 / 64)
            assert torch.allclose(a["curves"][v][w]["loss"], b["curves"][v][w]["loss"], atol=1e-4)
            if v != "dense":
                assert torch.equal(a["nonzeros"][v, w], a["nonzeros"]["dense", w])
                assert a["curves"][v][w]["acc"].shape == (3, 2)
    assert a["curves"]["dense"][2]["acc"].shape == (3, 3)
    with pytest.raises(ValueError, match="variants"):
        run_cnn(setup, [2], [0], (x, y, x, y), tag="test", variants=[("tail", 2)])
    with pytest.raises(ValueError, match="seed_chunk"):
        run_cnn(setup, [2], [0], (x, y, x, y), tag="test", seed_chunk=0)
