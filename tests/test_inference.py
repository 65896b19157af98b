"""Inference forms of an FPE layer (fpe.cost.inference; the paper, as we read it, section 1 claim 5): every form computes
the masked dense layer's outputs, the bytes accounting is exact, bad input raises ValueError."""

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

import fpe
from fpe.cost import inference as inf
from fpe.method.mlp import init_mlp
from fpe.cost.bench import integer_agreement


def expanded(d, h, alpha, seed=0, classes=3):
    model = init_mlp([d, h, classes], torch.Generator().manual_seed(seed))
    return model[0], fpe.expand(model, alpha, "random", generator=torch.Generator().manual_seed(seed + 1))[0]


@settings(max_examples=30, deadline=None)
@given(d=st.integers(8, 300), h=st.integers(1, 12), alpha=st.sampled_from([2, 4, 8]),
       batch=st.sampled_from([1, 2, 7, 64]), seed=st.integers(0, 10_000))
def test_every_form_matches_the_masked_dense_layer(d, h, alpha, batch, seed):
    _, wide = expanded(d, h, alpha, seed)
    x = torch.randn(batch, d, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = wide(x)  # the pruned nn.Linear itself
        for name in inf.FORMS:
            form = inf.make_form(name, wide, alpha=alpha)
            y = form(x)
            assert y.shape == (batch, alpha * h)
            torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5, msg=f"{name} differs")


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 20])
@pytest.mark.parametrize("batch", [1, 3])
def test_compact_chunking_does_not_change_the_result(chunk, batch):
    _, wide = expanded(37, 5, 4, seed=3)
    x = torch.randn(batch, 37)
    with torch.no_grad():
        torch.testing.assert_close(inf.CompactLinear(wide, alpha=4, chunk=chunk)(x), wide(x), rtol=1e-5, atol=1e-5)


def test_integer_inputs_give_exactly_zero_error():
    errs = integer_agreement(d=40, h=3, alpha=4)
    assert set(errs) == set(inf.FORMS) and all(e == 0.0 for e in errs.values())


def test_forms_fail_when_the_weights_are_wrong():
    """The agreement test can fail: a compact form with one weight changed no longer agrees."""
    _, wide = expanded(16, 2, 2)
    form = inf.CompactLinear(wide, alpha=2)
    form.weight[0, 0] += 1.0
    x = torch.ones(1, 16)
    with torch.no_grad():
        assert not torch.allclose(form(x), wide(x))


def test_bytes_are_exact_on_a_small_case():
    lin = nn.Linear(8, 4)
    mask = torch.zeros(4, 8)
    # alpha = 2: parent 0 -> rows 0, 1; parent 1 -> rows 2, 3; siblings disjoint, 4 inputs each
    mask[0, [0, 1, 2, 3]] = 1; mask[1, [4, 5, 6, 7]] = 1
    mask[2, [0, 2, 4, 6]] = 1; mask[3, [1, 3, 5]] = 1  # one pruned: 3 non-zeros, padded to k = 4
    torch.nn.utils.prune.custom_from_mask(lin, "weight", mask)
    nnz = 15
    assert inf.storage_bytes(inf.MaskedDense(lin)) == {"weights": 4 * 32, "indices": 0, "bias": 16, "total": 144}
    csr = inf.storage_bytes(inf.CSRLinear(lin))
    assert csr == {"weights": 4 * nnz, "indices": 4 * nnz + 4 * 5, "bias": 16, "total": 60 + 80 + 16}
    compact = inf.CompactLinear(lin, alpha=2)
    assert compact.index.dtype == torch.uint8 and compact.k == 4
    assert inf.storage_bytes(compact) == {"weights": 4 * 16, "indices": 16, "bias": 16, "total": 96}
    bsr = inf.BSRLinear(lin, blocksize=(2, 2))  # 2 x 4 grid of blocks; all 8 hold a non-zero
    assert inf.storage_bytes(bsr) == {"weights": 4 * 32, "indices": 4 * 8 + 4 * 3, "bias": 16, "total": 128 + 44 + 16}
    assert inf.bsr_fill(mask, (2, 2)) == pytest.approx(32 / 15)
    assert inf.moved_bytes(compact, 3) == 96 + 4 * 3 * (8 + 4)
    assert inf.flops(inf.CSRLinear(lin), 2) == 2 * nnz * 2


@pytest.mark.parametrize("d, dtype", [(2, torch.uint8), (256, torch.uint8), (257, torch.int16), (32768, torch.int16),
                                      (32769, torch.int32)])
def test_narrowest_index_dtype(d, dtype):
    assert inf.narrowest_index_dtype(d) == dtype


def test_compact_stores_d_over_alpha_weights_per_child():
    narrow, wide = expanded(784, 8, 4)
    form = inf.CompactLinear(wide, alpha=4)
    assert form.index.dtype == torch.int16 and form.weight.shape == (32, 196)
    sb = inf.storage_bytes(form)
    assert sb["weights"] == 32 * 196 * 4 == narrow.weight.numel() * 4 and sb["indices"] == 32 * 196 * 2


def test_compact_rejects_a_mask_that_is_not_a_balanced_split():
    lin = nn.Linear(8, 4)
    dense_mask = torch.ones(4, 8)
    torch.nn.utils.prune.custom_from_mask(lin, "weight", dense_mask)
    with pytest.raises(ValueError, match="siblings must keep disjoint inputs"):
        inf.CompactLinear(lin, alpha=2)
    lin2 = nn.Linear(8, 4)
    m = torch.zeros(4, 8)
    m[0, :6] = 1; m[1, 6:] = 1; m[2, :4] = 1; m[3, 4:] = 1  # disjoint but child 0 keeps 6 > 4
    torch.nn.utils.prune.custom_from_mask(lin2, "weight", m)
    with pytest.raises(ValueError, match="more than"):
        inf.CompactLinear(lin2, alpha=2)
    with pytest.raises(ValueError, match="multiple of alpha"):
        inf.CompactLinear(nn.Linear(8, 5), alpha=2)


def test_bad_input_raises_value_error():
    _, wide = expanded(16, 2, 2)
    with pytest.raises(ValueError, match="form must be one of"):
        inf.make_form("ell", wide)
    with pytest.raises(ValueError, match="shape"):
        inf.CSRLinear(wide)(torch.ones(3, 15))
    with pytest.raises(ValueError, match="square"):
        inf.BSRLinear(wide, blocksize=(2, 4))
    with pytest.raises(ValueError, match="divide"):
        inf.BSRLinear(wide, blocksize=(3, 3))
    with pytest.raises(ValueError, match="index_dtype"):
        inf.CompactLinear(expanded(300, 2, 2)[1], alpha=2, index_dtype=torch.uint8)
    with pytest.raises(ValueError, match="nn.Linear"):
        inf.DenseLinear(nn.ReLU())
    with pytest.raises(ValueError, match="batch"):
        inf.moved_bytes(inf.DenseLinear(wide), 0)
    bad = nn.Linear(4, 2)
    torch.nn.utils.prune.custom_from_mask(bad, "weight", torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="only 0 and 1"):
        inf.MaskedDense(bad)


def test_narrow_dense_has_the_same_nonzeros_and_weight_bytes_as_compact():
    narrow, wide = expanded(64, 4, 4)
    dense, compact = inf.DenseLinear(narrow), inf.CompactLinear(wide, alpha=4)
    assert compact.weight.numel() == dense.weight.numel() == 64 * 4
    assert compact.nonzeros() <= dense.nonzeros()
    assert fpe.count_nonzero(nn.Sequential(wide)) == inf.CSRLinear(wide).nonzeros()


@pytest.mark.parametrize("alpha", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("d", [8, 21, 64])
def test_splitsum_agrees_with_masked_dense_in_c_and_in_pytorch(alpha, d, monkeypatch):
    """The split-sum form (C kernel, and the PyTorch fallback) gives masked dense's outputs, on a d
    that needs padding to a multiple of 8 and with one, two and three bit planes; integer inputs make
    every sum exact, so both paths must agree to the bit."""
    h = 3
    wide = fpe.expand(nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 1)), alpha, "random",
                      generator=torch.Generator().manual_seed(d))[0]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        wide.weight_orig.copy_(torch.randint(-3, 4, wide.weight.shape, generator=g).float())
        wide.weight.copy_(wide.weight_orig * wide.weight_mask)
    form, ref = inf.SplitSumLinear(wide, alpha=alpha, threads=2), inf.MaskedDense(wide)
    x = torch.randint(-3, 4, (5, d), generator=g).float()
    assert torch.equal(form(x), ref(x))
    assert form.nonzeros() == ref.nonzeros() and form.bits.shape == (form.planes, h, -(-d // 8))
    monkeypatch.setenv("FPE_NATIVE", "0")
    inf._splitsum_library.cache_clear()
    try:
        assert torch.equal(form(x), ref(x))
    finally:
        monkeypatch.delenv("FPE_NATIVE")
        inf._splitsum_library.cache_clear()


def test_splitsum_threads_are_pytorchs_openmp_pool_and_do_not_change_a_bit():
    """The kernel's row blocks run in an OpenMP team; loaded after PyTorch it shares PyTorch's OpenMP
    runtime (one libgomp mapped in the process: a second runtime's threads would compete with
    PyTorch's for the cores), and every row is one thread's, so any thread count gives the same bits."""
    if inf._splitsum_library() is None:
        pytest.skip("no C compiler here")
    narrow = nn.Linear(200, 37)
    wide = fpe.expand(nn.Sequential(narrow, nn.ReLU(), nn.Linear(37, 1)), 4, "random", generator=torch.Generator().manual_seed(3))[0]
    x = torch.randn(3, 200, generator=torch.Generator().manual_seed(4))
    outs = [inf.SplitSumLinear(wide, alpha=4, threads=t)(x) for t in (1, 2, 3, 8)]
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    maps = Path("/proc/self/maps")
    if maps.exists() and "OpenMP" in torch.__config__.parallel_info():
        # runtimes that other wheels vendor under a renamed soname (scikit-learn's libgomp-<hash>) do not
        # take our symbols; a second plain libgomp.so.1 (the system's) would
        gomp = {line.split()[-1] for line in maps.read_text().splitlines() if "libgomp.so" in line.split("/")[-1]}
        assert len(gomp) <= 1, gomp


def test_splitsum_stores_a_quarter_byte_of_labels_per_weight_at_alpha_4():
    narrow = nn.Linear(64, 16)
    wide = fpe.expand(nn.Sequential(narrow, nn.ReLU(), nn.Linear(16, 1)), 4, "random", generator=torch.Generator().manual_seed(0))[0]
    form = inf.SplitSumLinear(wide, alpha=4)
    assert inf.storage_bytes(form) == {"weights": 4 * 16 * 64, "indices": 2 * 16 * 64 // 8, "bias": 4 * 64, "total": 4096 + 256 + 256}


def test_splitsum_rejects_overlapping_siblings_and_bad_arguments():
    lin = nn.Linear(8, 4)
    prune.custom_from_mask(lin, "weight", torch.ones(4, 8))  # siblings share every input
    with pytest.raises(ValueError, match="disjoint"):
        inf.SplitSumLinear(lin, alpha=2)
    with pytest.raises(ValueError, match="alpha"):
        inf.SplitSumLinear(lin, alpha=9)
    with pytest.raises(ValueError, match="multiple of alpha"):
        inf.SplitSumLinear(nn.Linear(8, 5), alpha=2)
    with pytest.raises(ValueError, match="threads"):
        inf.SplitSumLinear(lin, alpha=2, threads=0)


def test_a_kernel_that_cannot_be_built_says_so_once(monkeypatch, tmp_path):
    """No silent fallback: a missing split-sum source warns once and the PyTorch path computes the layer;
    FPE_NATIVE=0 (the PyTorch path asked for) says nothing."""
    import warnings

    from fpe.cost import inference as inf
    from fpe.training import native

    monkeypatch.setattr(inf, "SPLITSUM_SOURCE", tmp_path / "_missing.c")
    monkeypatch.setattr(native, "_WARNED", set())
    inf._splitsum_library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="_missing.c cannot be used"):
            assert not inf.splitsum_available()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert not inf.splitsum_available()  # once
        monkeypatch.setattr(native, "_WARNED", set())
        monkeypatch.setenv("FPE_NATIVE", "0")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert not native.available()
    finally:
        inf._splitsum_library.cache_clear()
