"""Width sweeps of deeper MLPs (fpe.experiments.realdata.sweep with layers > 1): one hidden layer is exactly the real-data sweep,
several hidden layers really are several, FPE keeps the non-zero count, finished widths are cached."""
from __future__ import annotations

import pytest
import torch

from fpe.runtime import cache
from fpe.datasets.features import Features
from fpe.experiments import realdata
from fpe.experiments.realdata import sweep
from fpe.experiments.schedule import DENSE, Schedule, Variant

VARIANTS = [DENSE, Variant("random", 2), Variant("gram", 2)]
SCHEDULE = Schedule(1e-2, 16, 2, 2)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FPE_CACHE", raising=False)


def toy(d=6, classes=4, n_train=48, n_test=24) -> Features:
    g = torch.Generator().manual_seed(0)
    return Features("toy", torch.randn(n_train, d, generator=g), torch.arange(n_train) % classes,
                    torch.randn(n_test, d, generator=g), torch.arange(n_test) % classes, [str(c) for c in range(classes)])


def test_one_hidden_layer_is_exactly_the_real_data_sweep():
    f = toy()
    deep = sweep(f, [3, 4], [0, 1], VARIANTS, schedule=SCHEDULE, layers=1)
    flat = realdata.sweep(f, [3, 4], [0, 1], VARIANTS, schedule=SCHEDULE)
    assert deep.widths == flat.widths == [3, 4]
    for h in (3, 4):
        for v in VARIANTS:
            assert torch.equal(deep[h, v.key].test_acc, flat[h, v.key].test_acc)
            assert torch.equal(deep[h, v.key].nonzeros, flat[h, v.key].nonzeros)


@pytest.mark.parametrize("layers", [2, 4])
def test_every_hidden_layer_is_there_and_fpe_keeps_the_count(layers):
    f = toy()
    d, c, h = f.dim, len(f.classes), 3
    run = sweep(f, [h], [0, 1], VARIANTS, schedule=SCHEDULE, layers=layers)
    assert run.widths == [h]  # indexed by the width, not by the tuple of widths
    dense = run[h, "dense"].nonzeros
    assert (dense == d * h + (layers - 1) * h * h + h * c).all()  # trained dense weights are all non-zero
    for v in VARIANTS[1:]:
        assert (run[h, v.key].nonzeros <= dense).all() and (run[h, v.key].nonzeros > 0).all()
        assert run.relative(h, v.key).shape == (2,)


def test_finished_widths_are_cached_per_depth():
    f = toy()
    before = dict(cache.COUNTS)
    a = sweep(f, [3], [0], VARIANTS, schedule=SCHEDULE, layers=2)
    b = sweep(f, [3], [0], VARIANTS, schedule=SCHEDULE, layers=2)
    sweep(f, [3], [0], VARIANTS, schedule=SCHEDULE, layers=3)
    assert cache.COUNTS["hits"] - before["hits"] == 1 and cache.COUNTS["misses"] - before["misses"] == 2
    assert torch.equal(a[3, "gram_a2"].test_acc, b[3, "gram_a2"].test_acc)


@pytest.mark.parametrize("layers", [0, -1, 1.5, True])
def test_bad_depth_is_rejected(layers):
    with pytest.raises(ValueError, match="layers"):
        sweep(toy(), [3], [0], VARIANTS, schedule=SCHEDULE, layers=layers)
