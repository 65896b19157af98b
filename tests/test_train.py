"""The batched trainer equals plain per-model PyTorch training, and keeps masks exact."""
import torch

import fpe
from fpe.method.mlp import init_mlp
from fpe.method.mlp import linear_layers
from fpe.tasks import make_dnf
from fpe.training.stacked import StackedMLP, Trainer
from plain import plain_train


def test_batched_trainer_matches_plain_adam_runs():
    g = torch.Generator().manual_seed(0)
    data = [make_dnf(4, 200, generator=g) for _ in range(2)]
    x = torch.stack([d.x for d in data])
    y = torch.stack([d.y for d in data])
    dense = [init_mlp([16, 4, 1], torch.Generator().manual_seed(s)) for s in range(2)]
    models = [fpe.expand(m, 2, "random", generator=torch.Generator().manual_seed(9 + i)) for i, m in enumerate(dense)]
    models.append(fpe.expand(dense[0], 2, "clause", groups=[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]))
    data_index = torch.tensor([0, 1, 0])
    stack = StackedMLP.from_sequentials(models)
    # batch size 64 leaves a smaller last batch (200 = 3*64 + 8)
    Trainer(stack, x, y, data_index, lr=1e-2, batch_size=64).fit(
        5, [torch.Generator().manual_seed(100 + s) for s in range(2)])
    for i, model in enumerate(models):
        s = int(data_index[i])
        plain_train(model, torch.optim.Adam(model.parameters(), lr=1e-2), x[s], y[s], epochs=5, batch_size=64, order_gen=torch.Generator().manual_seed(100 + s))
        for layer, lin in enumerate(linear_layers(model)):
            # torch.nn.utils.prune recomputes `weight` only in the next forward: read weight_orig * mask
            weight = (lin.weight_orig * lin.weight_mask).detach()
            assert torch.allclose(stack.weights[layer][i], weight, atol=1e-5, rtol=1e-4)
            assert torch.allclose(stack.biases[layer][i], lin.bias.detach(), atol=1e-5, rtol=1e-4)
            # pruned weights are exactly zero in both
            zero = lin.weight_mask == 0
            assert (stack.weights[layer][i][zero] == 0).all() and (weight[zero] == 0).all()
        assert stack.nonzeros()[i] <= fpe.count_nonzero(dense[0])
    acc = stack.accuracy(x, y, data_index)
    assert acc.shape == (3,) and ((0 <= acc) & (acc <= 100)).all()


def test_round_trip_to_sequentials_keeps_masks():
    model = fpe.expand(init_mlp([8, 3, 2], torch.Generator().manual_seed(0)), 2, "random")
    back = StackedMLP.from_sequentials([model]).to_sequentials()[0]
    x = torch.rand(5, 8)
    assert torch.allclose(back(x), model(x))
    assert all(torch.equal(a.weight_mask, b.weight_mask) for a, b in zip(linear_layers(back), linear_layers(model)))


def test_cross_entropy_for_several_classes_trains():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 256, 5, generator=g)
    y = (x[0, :, 0] > 0).long().unsqueeze(0) + (x[0, :, 1] > 0).long().unsqueeze(0)
    stack = StackedMLP.from_sequentials([init_mlp([5, 8, 3], g)])
    before = stack.accuracy(x, y, torch.tensor([0]))
    Trainer(stack, x, y, lr=1e-2, batch_size=64).fit(30, [torch.Generator().manual_seed(1)])
    assert stack.accuracy(x, y, torch.tensor([0])) > max(before, 80)
