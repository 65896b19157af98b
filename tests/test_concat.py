"""The concatenated fast trainer computes what plain nn.Module + torch.optim.Adam training computes."""
import os

import pytest
import torch

import fpe
import fpe.training.concat
import fpe.training.native
from fpe.method.mlp import init_mlp
from fpe.training.concat import ConcatMLP, ConcatTrainer, _segment_sum
from fpe.method.mlp import linear_layers
from fpe.tasks import clause_groups, make_dnf
from plain import plain_train


def need_native():
    """The book trains with the native kernel, so its tests fail (not skip) where it cannot be built,
    with the compiler's message; FPE_NATIVE=0 opts out explicitly (the PyTorch path is then used)."""
    if os.environ.get("FPE_NATIVE") == "0":
        pytest.skip("FPE_NATIVE=0")
    fpe.training.native.load()


def weights(model):
    out = []
    for lin in linear_layers(model):
        w = (lin.weight_orig * lin.weight_mask) if hasattr(lin, "weight_mask") else lin.weight
        out += [w.detach(), lin.bias.detach()]
    return out


def test_segment_sum_matches_a_loop():
    t = torch.randn(2, 4 + 4 + 6 + 2, 3)
    widths = [4, 4, 6, 2]
    want = torch.stack([t[:, 0:4].sum(1), t[:, 4:8].sum(1), t[:, 8:14].sum(1), t[:, 14:16].sum(1)], 1)
    assert torch.allclose(_segment_sum(t, widths), want)


@pytest.mark.parametrize("backend,chunk", [("torch", 1 << 17), ("torch", 64), ("native", 0)],
                         ids=["torch-whole-batch", "torch-sub-batches", "native"])
def test_concat_trainer_matches_plain_adam_including_continued_dense_state(backend, chunk, monkeypatch):
    if backend == "native":
        need_native()
    monkeypatch.setattr(fpe.training.concat, "_CHUNK_ELEMS", chunk or (1 << 17))  # 64: every step is split into pieces of samples
    g = torch.Generator().manual_seed(0)
    data = [make_dnf(4, 200, generator=g) for _ in range(2)]
    x, y = torch.stack([d.x for d in data]), torch.stack([d.y for d in data])
    widths = [3, 5]
    dense = [[init_mlp([16, h, 1], torch.Generator().manual_seed(10 * s + h)) for h in widths] for s in range(2)]
    ref_dense = [[init_mlp([16, h, 1]) for h in widths] for _ in range(2)]
    for s in range(2):
        for a, b in zip(dense[s], ref_dense[s]):
            b.load_state_dict(a.state_dict())
    ref_opt = [[torch.optim.Adam(m.parameters(), lr=1e-2) for m in row] for row in ref_dense]

    # phase 1: dense only (batch 64 leaves a smaller last batch: 200 = 3*64 + 8)
    stack = ConcatMLP.from_sequentials(dense, [f"dense_h{h}" for h in widths])
    ConcatTrainer(stack, x, y, lr=1e-2, batch_size=64, backend=backend).fit(3, [torch.Generator().manual_seed(100 + s) for s in range(2)])
    for s in range(2):
        for m, o in zip(ref_dense[s], ref_opt[s]):
            plain_train(m, o, x[s], y[s], epochs=3, batch_size=64, order_gen=torch.Generator().manual_seed(100 + s))
    # phase 2: FPE of the warm dense nets (fresh Adam) trained together with the dense nets (continued Adam)
    warm = [stack.to_sequentials(f"dense_h{h}") for h in widths]  # [h][s][0]
    groups = clause_groups(4)
    fpe_models = [[fpe.expand(warm[i][s][0], 2, split, groups=groups if split == "clause" else None,
                              generator=torch.Generator().manual_seed(7 + s)) for i in range(len(widths)) for split in ("random", "clause")]
                  for s in range(2)]
    keys = [f"{sp}_h{h}" for h in widths for sp in ("random", "clause")]
    ref_fpe = [[fpe.expand(warm[i][s][0], 2, split, groups=groups if split == "clause" else None,
                           generator=torch.Generator().manual_seed(7 + s)) for i in range(len(widths)) for split in ("random", "clause")]
               for s in range(2)]
    post = ConcatMLP.cat([stack, ConcatMLP.from_sequentials(fpe_models, keys)])
    assert post.steps.tolist() == [12, 12, 0, 0, 0, 0]
    ConcatTrainer(post, x, y, lr=1e-2, batch_size=64, backend=backend).fit(3, [torch.Generator().manual_seed(200 + s) for s in range(2)])
    for s in range(2):
        for m, o in zip(ref_dense[s], ref_opt[s]):
            plain_train(m, o, x[s], y[s], epochs=3, batch_size=64, order_gen=torch.Generator().manual_seed(200 + s))
        for m in ref_fpe[s]:
            plain_train(m, torch.optim.Adam(m.parameters(), lr=1e-2), x[s], y[s], epochs=3, batch_size=64,
                        order_gen=torch.Generator().manual_seed(200 + s))
    for s in range(2):
        for key, refs in [(f"dense_h{h}", [ref_dense[s][i]]) for i, h in enumerate(widths)] + \
                         [(k, [ref_fpe[s][j]]) for j, k in enumerate(keys)]:
            got = post.to_sequentials(key)[s][0]
            for a, b in zip(weights(got), weights(refs[0])):
                assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), key
        for j, k in enumerate(keys):  # pruned weights stay exactly zero
            ref = ref_fpe[s][j]
            got = post.to_sequentials(k)[s][0]
            for lg, lr_ in zip(linear_layers(got), linear_layers(ref)):
                assert (lg.weight[lr_.weight_mask == 0] == 0).all()
    nnz = post.nonzeros()
    for s in range(2):
        for j, k in enumerate(post.keys):
            assert nnz[s, j] == fpe.count_nonzero(post.to_sequentials(k)[s][0])
    # accuracy agrees with the plain forward pass
    acc = post.accuracy(x, y)
    for s in range(2):
        for j, k in enumerate(post.keys):
            m = post.to_sequentials(k)[s][0]
            want = 100.0 * ((m(x[s]).squeeze(-1) > 0).float() == y[s]).double().mean()
            assert abs(acc[s, j].item() - want.item()) < 1e-9


AWKWARD = [(12, [1, 7, 13], 300, 130, 0), (33, [2, 6, 5], 257, 64, 9), (40, [9, 4], 64, 64, 0)]


def _train_awkward(d, widths, n, batch, pad, backend):
    """A small ConcatMLP (masks, a zero-padded dataset) trained 4 epochs; returns (model, mask1, mask2)."""
    g = torch.Generator().manual_seed(d)
    s, h = 2, sum(widths)
    mask1 = (torch.rand(s, h, d, generator=g) > 0.3).float()
    mask2 = (torch.rand(s, h, generator=g) > 0.2).float()
    mask1[0, :, d - pad:] = 0  # dataset 0 zero-padded past d - pad (fpe.experiments.boolean buckets): the kernel skips those inputs
    x = torch.randint(0, 2, (s, n, d), generator=g).float()
    y = torch.randint(0, 2, (s, n), generator=g).float()
    m = ConcatMLP(torch.randn(s, h, d, generator=torch.Generator().manual_seed(1)) * 0.3,
                  torch.randn(s, h, generator=torch.Generator().manual_seed(2)) * 0.1,
                  torch.randn(s, h, generator=torch.Generator().manual_seed(3)),
                  torch.zeros(s, len(widths)), mask1, mask2, widths=widths, keys=[f"i{j}" for j in range(len(widths))])
    m.w1.mul_(mask1); m.w2.mul_(mask2)
    ConcatTrainer(m, x, y, lr=3e-3, batch_size=batch, backend=backend).fit(4, [torch.Generator().manual_seed(10 + i) for i in range(s)])
    return m, mask1, mask2


@pytest.mark.parametrize("d,widths,n,batch,pad", AWKWARD)
def test_native_and_torch_backends_agree_on_awkward_shapes(d, widths, n, batch, pad):
    """Rows not a multiple of the 6-row tile, d not a multiple of 8 or 32, batches that leave a partial
    64-sample tile and a short last batch, masks, a zero-padded dataset: the C epoch equals the PyTorch reference."""
    need_native()
    a, _, _ = _train_awkward(d, widths, n, batch, pad, "torch")
    b, mask1, mask2 = _train_awkward(d, widths, n, batch, pad, "native")
    for name in ("w1", "b1", "w2", "b2"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-5, rtol=1e-4), name
    assert (b.w1[mask1 == 0] == 0).all() and (b.w2[mask2 == 0] == 0).all()
    assert a.steps.tolist() == b.steps.tolist() == [4 * -(-n // batch)] * len(widths)


@pytest.mark.parametrize("d,widths,n,batch,pad", AWKWARD + [(64, [3, 25, 12], 200, 100, 20), (17, [30], 80, 40, 0)])
def test_the_avx512_build_gives_bitwise_the_numbers_of_the_avx2_build(d, widths, n, batch, pad, monkeypatch):
    """The AVX-512 build (16-float GEMM tiles, up to 12 rows) does every number's operations in the
    AVX2 build's order, so the book's numbers do not depend on which of the two a machine runs."""
    need_native()
    if fpe.training.native.isa() != "avx512":
        pytest.skip("this CPU has no AVX-512 (PyTorch does not report it)")
    out, paths = {}, {}
    for isa in ("avx2", "avx512"):
        monkeypatch.setenv("FPE_NATIVE_ISA", isa)
        paths[isa] = fpe.training.native.library_path()
        out[isa] = _train_awkward(d, widths, n, batch, pad, "native")[0]
    assert paths["avx2"] != paths["avx512"]  # two different builds ran
    for name in ("w1", "b1", "w2", "b2"):
        assert torch.equal(getattr(out["avx2"], name), getattr(out["avx512"], name)), name


def test_native_isa_must_be_known_and_available(monkeypatch):
    monkeypatch.setenv("FPE_NATIVE_ISA", "sse9")
    with pytest.raises(ValueError, match="FPE_NATIVE_ISA must be one of avx512, avx2, generic"):
        fpe.training.native.isa()
    monkeypatch.delenv("FPE_NATIVE_ISA")
    best = fpe.training.native.isa()
    higher = fpe.training.native.ISAS[:fpe.training.native.ISAS.index(best)]
    for isa in higher:  # one the CPU lacks
        monkeypatch.setenv("FPE_NATIVE_ISA", isa)
        with pytest.raises(ValueError, match="not available on this CPU"):
            fpe.training.native.isa()


def test_backend_must_be_named():
    x, y = torch.zeros(1, 4, 3), torch.zeros(1, 4)
    m = ConcatMLP(torch.zeros(1, 2, 3), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 1), torch.ones(1, 2, 3),
                  torch.ones(1, 2), widths=[2], keys=["a"])
    with pytest.raises(ValueError, match="backend must be one of"):
        ConcatTrainer(m, x, y, lr=1e-3, batch_size=2, backend="cuda")


def test_without_a_compiler_auto_falls_back_and_native_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_NATIVE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "/bin/false")
    with pytest.raises(fpe.training.native.NativeUnavailable, match="failed"):
        fpe.training.native.load()
    x, y = torch.zeros(1, 4, 3), torch.zeros(1, 4)
    m = ConcatMLP(torch.zeros(1, 2, 3), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 1), torch.ones(1, 2, 3),
                  torch.ones(1, 2), widths=[2], keys=["a"])
    assert ConcatTrainer(m, x, y, lr=1e-3, batch_size=2).backend == "torch"
    with pytest.raises(fpe.training.native.NativeUnavailable):
        ConcatTrainer(m, x, y, lr=1e-3, batch_size=2, backend="native")
    assert not list(tmp_path.glob("*.so"))  # nothing half-built left behind


def test_native_vector_exp_is_within_two_ulp_of_exp():
    """The kernel's sigmoid uses a vector exp (Cephes expf); over the range that matters it is as
    accurate as libm's."""
    import ctypes

    need_native()
    x = torch.cat([torch.linspace(-87, 88, 200_000), 10 * torch.randn(20_000, generator=torch.Generator().manual_seed(0))]).float()
    out = torch.empty_like(x)
    fpe.training.native.load().fpe_vexp(ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(out.data_ptr()), x.numel())
    ref = torch.exp(x.double())
    assert ((out.double() - ref).abs() / ref).max() < 2 * 2.0 ** -24
