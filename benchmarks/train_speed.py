"""Training speed: the per-model PyTorch loop vs the concatenated batched trainer, on one grid.

The grid is the paper's Figure 4a grid (m = 8 clauses, h in {4, ..., 32}, dense + random and clause
splits at alpha 2 and 4: 55 models per seed) trained for a few epochs of the post-FPE phase, both

1. **per-model loop**: each model an ``nn.Sequential`` (FPE masks via ``torch.nn.utils.prune``) with
   its own ``torch.optim.Adam``, trained one after another (what one would write by hand);
2. **batched, PyTorch ops**: every model of every seed in one :class:`fpe.training.concat.ConcatMLP`, trained
   by :class:`fpe.training.concat.ConcatTrainer` with ``backend="torch"`` (the readable reference);
3. **batched, native**: the same with ``backend="native"``, the fused C epoch of :mod:`fpe.training.native`,
   which is what :func:`fpe.experiments.boolean.run_sweep` and every Boolean chapter use.

All use one thread (``fpe.repro.set_determinism``), the same data, minibatches and epochs. Printed: the
wall time of each (median of ``--repeats`` runs), the speed-up ratios over the per-model loop, the
batched trainers' useful GFLOP/s (the two first-layer GEMMs, ``4 B H d`` per step; second layer,
elementwise work and Adam not counted) and that as a fraction of a dense ``torch.mm`` measured in
the same run.

Usage: ``python benchmarks/train_speed.py [--seeds 2] [--epochs 16] [--repeats 3]`` (``make bench``).
The machine may be shared: the medians are noisy, run it again when in doubt.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import fpe
from fpe.experiments.boolean import BooleanSetup, boolean_data
from fpe.method.mlp import init_mlp
from fpe.repro import generator, set_determinism
from fpe.tasks import clause_groups
from fpe.training import native
from fpe.training.concat import ConcatMLP, ConcatTrainer, step_flops
from fpe.training.stacked import batch_order

HS = [4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32]
VARIANTS = [("random", 2), ("clause", 2), ("random", 4), ("clause", 4)]


def build_models(seeds, m=8, k=4):
    """models[s] = list of (key, nn.Sequential): dense nets of every width and their FPE expansions."""
    out = []
    for s in seeds:
        row = []
        for h in HS:
            dense = init_mlp([k * m, h, 1], generator(s, "init", "bench", h))
            row.append((f"dense_h{h}", dense))
            for split, alpha in VARIANTS:
                g = generator(s, "split", "bench", split, alpha, h)
                row.append((f"{split}_a{alpha}_h{h}", fpe.expand(dense, alpha, split,
                            groups=clause_groups(m, k) if split == "clause" else None, generator=g)))
        out.append(row)
    return out


def per_model_loop(models, x, y, *, epochs, batch_size, lr, seeds):
    for si, row in enumerate(models):
        for _, model in row:
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            g = generator(seeds[si], "order", "bench")
            for _ in range(epochs):
                perm = batch_order(x.shape[1], g)
                for start in range(0, x.shape[1], batch_size):
                    idx = perm[start:start + batch_size]
                    loss = nn.functional.binary_cross_entropy_with_logits(model(x[si, idx]).squeeze(-1), y[si, idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()


def batched(models, x, y, *, epochs, batch_size, lr, seeds, backend):
    stack = ConcatMLP.from_sequentials([[mdl for _, mdl in row] for row in models], [k for k, _ in models[0]])
    ConcatTrainer(stack, x, y, lr=lr, batch_size=batch_size, backend=backend).fit(
        epochs, [generator(s, "order", "bench") for s in seeds])
    return stack


def _why_not_native():
    try:
        native.load()
    except native.NativeUnavailable as exc:
        return str(exc)
    return "?"


def mm_gflops(n=1024, repeats=10):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    threads = set_determinism()
    setup = BooleanSetup()
    seeds = list(range(args.seeds))
    x, y, _, _ = boolean_data(setup, seeds)
    models = build_models(seeds, setup.m, setup.k)
    n_models = sum(len(r) for r in models)
    widths = [mdl[0].out_features for _, mdl in models[0]]
    steps = args.epochs * -(-x.shape[1] // setup.batch_size)
    flops = step_flops(widths, x.shape[2], setup.batch_size, len(seeds)) * steps
    kw = dict(epochs=args.epochs, batch_size=setup.batch_size, lr=setup.lr, seeds=seeds)

    backends = ["torch"] + (["native"] if native.available() else [])
    t_loop, t_mm, t_bat = [], [], {b: [] for b in backends}
    for _ in range(args.repeats):
        t_mm.append(mm_gflops())
        for b in backends:
            fresh = build_models(seeds, setup.m, setup.k)  # deterministic: the same models every time
            t0 = time.perf_counter(); batched(fresh, x, y, backend=b, **kw); t_bat[b].append(time.perf_counter() - t0)
        fresh = build_models(seeds, setup.m, setup.k)
        t0 = time.perf_counter(); per_model_loop(fresh, x, y, **kw); t_loop.append(time.perf_counter() - t0)
    loop, peak = statistics.median(t_loop), statistics.median(t_mm)
    runs = lambda ts: ", ".join(f"{t:.2f}" for t in ts)  # noqa: E731
    print(f"grid: Figure 4a (m={setup.m}, h={HS[0]}..{HS[-1]}, dense + 4 FPE variants), {len(seeds)} seeds = {n_models} models, "
          f"{sum(widths)} hidden units per seed, {args.epochs} epochs x {x.shape[1]} samples, batch {setup.batch_size}, {threads} thread(s)")
    print(f"torch.mm 1024^3       : {peak:8.1f} GFLOP/s (runs: {', '.join(f'{t:.1f}' for t in t_mm)})")
    print(f"per-model loop        : {loop:8.2f} s   (runs: {runs(t_loop)})")
    out = {}
    for b in backends:
        bat = statistics.median(t_bat[b])
        achieved = flops / bat / 1e9
        out[b] = (loop / bat, achieved / peak)
        print(f"batched ({b:6s})      : {bat:8.2f} s   (runs: {runs(t_bat[b])})   speed-up {loop / bat:5.1f} x   "
              f"{achieved:5.1f} GFLOP/s = {100 * achieved / peak:3.0f} % of the measured matmul throughput")
    if "native" not in out:
        print(f"native backend unavailable here: {_why_not_native()}")
    return out


if __name__ == "__main__":
    main()
