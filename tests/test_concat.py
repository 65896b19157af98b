"""The concatenated fast trainer computes what plain nn.Module + torch.optim.Adam training computes."""
import pytest
import torch

import fpe
import fpe.concat
from fpe.batched import init_mlp
from fpe.concat import ConcatMLP, ConcatTrainer, _segment_sum
from fpe.expand import linear_layers
from fpe.tasks import clause_groups, make_dnf
from plain import plain_train


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


@pytest.mark.parametrize("chunk", [1 << 17, 64], ids=["whole-batch", "sub-batches"])
def test_concat_trainer_matches_plain_adam_including_continued_dense_state(chunk, monkeypatch):
    monkeypatch.setattr(fpe.concat, "_CHUNK_ELEMS", chunk)  # 64: every step is split into pieces of samples
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
    ConcatTrainer(stack, x, y, lr=1e-2, batch_size=64).fit(3, [torch.Generator().manual_seed(100 + s) for s in range(2)])
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
    ConcatTrainer(post, x, y, lr=1e-2, batch_size=64).fit(3, [torch.Generator().manual_seed(200 + s) for s in range(2)])
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
