"""fpe.export: an FPE model without the pruning machinery loads into its own class at the new widths."""
import pytest
import torch
from torch import nn

import fpe
from test_layers import Net, SwiGLU, gen


def plain_keys(model):
    return not any(k.endswith(("_orig", "_mask")) for k in model.state_dict())


def test_exported_sequential_loads_into_a_plain_sequential_with_equal_outputs():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.GELU(), nn.Dropout(0.2), nn.Linear(5, 3)).eval()
    wide = fpe.expand(model, 3, "random", generator=gen())
    out = fpe.export(wide)
    assert plain_keys(out) and not any(m._forward_pre_hooks for m in out.modules())
    assert hasattr(wide[1], "weight_mask"), "the expanded model itself keeps its masks"
    plain = nn.Sequential(nn.Flatten(), nn.Linear(12, 15), nn.GELU(), nn.Dropout(0.2), nn.Linear(15, 3)).eval()
    plain.load_state_dict(out.state_dict())
    x = torch.randn(7, 3, 4)
    assert torch.equal(plain(x), wide(x)) and fpe.count_nonzero(plain) == fpe.count_nonzero(model)


def test_exported_named_layers_load_into_the_class_built_with_the_new_widths():
    torch.manual_seed(0)
    model = Net()
    wide = fpe.expand_layers(model, 2, pairs=[("mlp.fc1", "mlp.fc2")], generator=gen())
    with torch.no_grad():  # train a little first: export must take the current masked weights
        wide.mlp.fc1.weight_orig.add_(0.1)
    plain = Net(h=12)
    plain.load_state_dict(fpe.export(wide).state_dict())
    x = torch.randn(5, 12)
    assert torch.allclose(plain(x), wide(x), atol=1e-6, rtol=0)
    assert (plain.mlp.fc1.weight[wide.mlp.fc1.weight_mask == 0] == 0).all()


def test_sparse_export_stores_csr_weights_and_computes_the_same_outputs():
    torch.manual_seed(1)
    wide = fpe.expand_layers(SwiGLU(), 2, pairs=[(("gate_proj", "up_proj"), "down_proj")], generator=gen())
    dense, sparse = fpe.export(wide), fpe.export(wide, sparse=True)
    for name in ("gate_proj", "up_proj", "down_proj"):
        w = getattr(sparse, name).weight
        assert w.layout == torch.sparse_csr and not w.requires_grad
        assert w._nnz() == int(torch.count_nonzero(getattr(dense, name).weight))
    for x in (torch.randn(10), torch.randn(4, 10), torch.randn(2, 3, 10)):
        assert torch.allclose(sparse(x), dense(x), atol=1e-6, rtol=1e-5)
    plain = SwiGLU(h=12)
    plain.load_state_dict({k: v.to_dense() for k, v in sparse.state_dict().items()})
    assert torch.equal(plain.down_proj.weight, dense.down_proj.weight)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_model_without_masks_is_copied_unchanged(sparse):
    model = Net()
    out = fpe.export(model, sparse=sparse)
    assert out is not model and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), out.state_dict().values()))
    assert out.mlp.fc1.weight.layout == torch.strided
