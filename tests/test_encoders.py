"""Tests of the encoders and the Gram split (fpe.datasets.encoders, fpe.method.gram)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

import fpe
from fpe.datasets import encoders
from fpe.method.gram import balanced_groups, gram_assignment


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FPE_CACHE", raising=False)


def test_random_projection_is_fixed_and_seeded():
    x = torch.randn(4, 20)
    a, b = encoders.random_projection(x, 8, seed=1), encoders.random_projection(x, 8, seed=1)
    assert a.shape == (4, 8) and torch.equal(a, b)
    assert not torch.equal(a, encoders.random_projection(x, 8, seed=2))


def test_preprocess_images_shape_and_normalisation():
    img = np.full((2, 32, 32, 3), 255, dtype=np.uint8)
    x = encoders.preprocess_images(img, 64, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (2, 3, 64, 64)
    assert torch.allclose(x, torch.ones_like(x), atol=1e-5)


def test_efficientnet_lite0_features():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    f = encoders.efficientnet_lite0(imgs, size=32, threads=1)
    assert f.shape == (3, 1280) and torch.isfinite(f).all()
    g = encoders.efficientnet_lite0(imgs[:1], size=32, threads=1)
    assert torch.allclose(f[:1], g, atol=1e-4)  # batch independent (eval-mode batch norm)


def test_minilm_embeddings():
    e = encoders.minilm(["a small dog", "a small dog", "a theory of numbers"], threads=1)
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-4)
    assert (e[0] @ e[1]) > (e[0] @ e[2])


@pytest.mark.skipif(importlib.util.find_spec("open_clip") is None, reason="open_clip_torch not installed")
def test_clip_path_builds_and_embeds_offline():
    model = encoders.clip_model("ViT-B-32", pretrained=False, seed=0)
    assert model.visual.image_size[0] == 224
    imgs = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    e = encoders.clip_image(imgs, model=model, threads=1)
    assert e.shape == (2, 512) and torch.isfinite(e).all()
    again = encoders.clip_model("ViT-B-32", pretrained=False, seed=0)
    assert torch.equal(next(model.parameters()), next(again.parameters()))  # seeded random init


# --- Gram split --------------------------------------------------------------------------------

@pytest.mark.parametrize("d,alpha", [(10, 2), (11, 3), (32, 4), (7, 7)])
def test_gram_groups_balanced_disjoint_covering(d, alpha):
    w = torch.randn(5, d, generator=torch.Generator().manual_seed(d))
    a = gram_assignment(w, alpha, torch.Generator().manual_seed(0))
    assert a.shape == (d,) and a.dtype == torch.long
    counts = torch.bincount(a, minlength=alpha)
    assert counts.sum() == d and len(counts) == alpha  # every input in exactly one group
    assert counts.max() - counts.min() <= 1  # balanced


def test_gram_groups_inputs_that_interfere():
    # inputs 0..5 drive neurons 0-1, inputs 6..11 drive neurons 2-3: two clean blocks of W^T W
    w = torch.zeros(4, 12)
    w[:2, :6] = torch.rand(2, 6) + 0.5
    w[2:, 6:] = torch.rand(2, 6) + 0.5
    a = gram_assignment(w, 2, torch.Generator().manual_seed(0))
    assert len(set(a[:6].tolist())) == 1 and len(set(a[6:].tolist())) == 1 and a[0] != a[6]


def test_balanced_groups_respects_capacity():
    dist = np.zeros((9, 3))
    dist[:, 1:] = 1.0  # everyone prefers cluster 0
    out = balanced_groups(dist, 3)
    assert np.bincount(out, minlength=3).tolist() == [3, 3, 3]


def test_expand_with_gram_split_keeps_nonzeros():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 3))
    wide = fpe.expand(model, 2, split="gram", generator=g)
    assert fpe.count_nonzero(wide) == fpe.count_nonzero(model)
    assert wide[0].out_features == 8
    w1 = wide[0].weight_orig.detach() if hasattr(wide[0], "weight_orig") else wide[0].weight.detach()
    # the two children of each parent hold disjoint input sets (before the prune)
    from fpe.method.expand import split_copy

    new_w, _ = split_copy(model, 2, "gram", generator=torch.Generator().manual_seed(0))
    nz = new_w[0] != 0
    assert not (nz[0::2] & nz[1::2]).any()
    assert w1.shape == (8, 12)
