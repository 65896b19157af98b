"""FPE on whatever device the model is on: CPU here, CUDA where available (the same masks as on the CPU),
and the native C trainer's refusal of non-CPU tensors."""
import pytest
import torch
from torch import nn

import fpe
from fpe.method.mlp import init_mlp
from fpe.training import native
from test_layers import SwiGLU, gen

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


def same(cpu_model, dev_model):
    a, b = cpu_model.state_dict(), dev_model.state_dict()
    return list(a) == list(b) and all(torch.equal(a[k], b[k].cpu()) and a[k].dtype == b[k].dtype for k in a)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("split", ["random", "clause", "gram", lambda w, a, g: torch.arange(w.shape[1], device=w.device) % a])
def test_sequential_expand_gives_the_same_masks_on_every_device(device, split):
    model = nn.Sequential(nn.Linear(16, 6), nn.GELU(), nn.Dropout(0.1), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    groups = [[4 * i + j for j in range(4)] for i in range(4)] if split == "clause" else None
    ref = fpe.expand(model, 2, split, groups=groups, generator=gen(3))
    new = fpe.expand(model.to(device), 2, split, groups=groups, generator=gen(3))
    assert all(p.device.type == device for p in new.parameters()) and same(ref, new)
    x = torch.randn(5, 16)
    assert torch.allclose(new.eval()(x.to(device)).cpu(), ref.eval()(x), atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_named_layers_and_export_on_every_device(device):
    torch.manual_seed(0)
    model = SwiGLU()
    pairs = [(("gate_proj", "up_proj"), "down_proj")]
    ref = fpe.expand_layers(model, 2, pairs=pairs, generator=gen())
    new = fpe.expand_layers(model.to(device), 2, pairs=pairs, generator=gen(), check_inputs=torch.randn(2, 10, device=device))
    assert same(ref, new)
    x = torch.randn(4, 10)
    for sparse in (False, True):
        out = fpe.export(new, sparse=sparse)
        assert out.down_proj.weight.device.type == device
        assert torch.allclose(out(x.to(device)).cpu(), ref(x), atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_expand_keeps_the_dtype_on_every_device(device):
    model = init_mlp([8, 4, 1], gen()).double()
    new = fpe.expand(model.to(device), 2, generator=gen())
    assert all(p.dtype == torch.float64 and p.device.type == device for p in new.parameters())


@pytest.mark.parametrize("device", DEVICES + ["meta"])
def test_the_native_trainer_refuses_tensors_outside_cpu_memory_naming_the_device(device):
    cpu = torch.zeros(3)
    native.check_cpu(cpu, cpu)
    if device == "cpu":
        return
    with pytest.raises(ValueError, match=f"tensor on {device}.*backend='torch'"):
        native.check_cpu(cpu, torch.zeros(3, device=device))


def test_pick_device_names_the_allowed_values():
    from fpe.runtime.device import pick_device

    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "gpu", 3):
        with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda'"):
            pick_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")


@pytest.mark.parametrize("device", DEVICES)
def test_the_reference_schedule_trains_on_the_data_device(device):
    """run_schedule (the reference trainer behind the real-data chapters) trains where the data is and
    returns CPU records; on the CPU twice it is bitwise repeatable, elsewhere equal to float order."""
    from fpe.experiments.schedule import DENSE, Schedule, Variant, run_schedule, stacked_data

    g = torch.Generator().manual_seed(0)
    data = (torch.randn(48, 6, generator=g), torch.arange(48) % 3, torch.randn(24, 6, generator=g), torch.arange(24) % 3)
    kw = dict(seeds=[0, 1], hidden=[4], variants=[DENSE, Variant("random", 2)], schedule=Schedule(1e-2, 16, 3, 3), tag="dev")
    ref = run_schedule(*stacked_data(*data, [0, 1]), **kw)
    got = run_schedule(*stacked_data(*(t.to(device) for t in data), [0, 1]), **kw)
    for key, cell in ref.cells.items():
        other = got.cells[key]
        assert other.test_acc.device.type == "cpu" and other.weights[0].device.type == "cpu"
        assert torch.equal(cell.nonzeros, other.nonzeros)
        for a, b in zip(cell.weights, other.weights):
            assert torch.equal(a, b) if device == "cpu" else torch.allclose(a, b, atol=1e-4)
