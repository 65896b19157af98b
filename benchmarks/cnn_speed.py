"""Training speed of CNNs: the per-model loop vs the batched CNN trainer, on the CNN chapter's grid.

The grid is the post-FPE phase of ``notebooks/09_cnn.py`` (paper profile): widths w in {4, 8, 16},
for each the dense :func:`fpe.experiments.cnn.backbone_cnn` and its head and channel FPE expansions
(alpha 2, random split), 5 seeds = 45 models, trained on 16x16 CIFAR-10-sized inputs, both

1. **per-model loop**: each model an ``nn.Sequential`` (FPE masks via ``torch.nn.utils.prune``) with
   its own ``torch.optim.Adam``, trained one after another (:func:`fpe.training.cnn.fit_per_model`);
2. **batched**: all 45 in one :class:`fpe.training.cnn.CNNTrainer` (grouped convolutions over an
   instances dimension, one stack per shape), what the chapter uses.

The same random images (the speed does not depend on the pixels), minibatches, epochs and
threads. Printed: the wall and CPU time of each run and the speed-up (loop / batched) per repeat,
its median and its range over ``--repeats`` runs.

Usage: ``python benchmarks/cnn_speed.py [--images 2000] [--epochs 1] [--repeats 3] [--device cpu]``
(``make bench``). The machine may be shared: the medians are noisy, run it again when in doubt.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from fpe.experiments.cnn import backbone_cnn, channel_fpe, head_fpe
from fpe.repro import generator, seeds, set_determinism
from fpe.training.cnn import CNNTrainer, copy_models, fit_per_model

WIDTHS = [4, 8, 16]
SEEDS = 5
IMAGE_SIZE = 16
BATCH = 128
LR = 1e-3


def build_models(n_seeds: int, device: str):
    models, seed_index = [], []
    for k, s in enumerate(seeds(n_seeds)):
        for w in WIDTHS:
            d = backbone_cnn(w, image_size=IMAGE_SIZE, generator=generator(s, "bench-cnn", w))
            models += [d, head_fpe(d, 2, generator=generator(s, "bench-cnn-split", w)),
                       channel_fpe(d, 2, generator=generator(s, "bench-cnn-split", w))]
            seed_index += [k] * 3
    return [m.to(device) for m in copy_models(models)], seed_index


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> tuple[float, float]:
    _sync(device)
    w, c = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    return time.perf_counter() - w, time.process_time() - c


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, default=SEEDS)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    threads = set_determinism()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.images, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g).to(args.device)
    y = torch.randint(0, 10, (args.images,), generator=g).to(args.device)
    orders = lambda: [generator(s, "bench-cnn-order") for s in seeds(args.seeds)]  # noqa: E731

    def batched():
        models, si = build_models(args.seeds, args.device)
        return lambda: CNNTrainer(models, x, y, si, lr=LR, batch_size=BATCH).fit(args.epochs, orders())

    def loop():
        models, si = build_models(args.seeds, args.device)
        return lambda: fit_per_model(models, x, y, si, lr=LR, batch_size=BATCH, epochs=args.epochs, order_generators=orders())

    timed(batched(), args.device)  # warm-up (kernel selection, allocator), not counted
    t_bat, t_loop = [], []
    for _ in range(args.repeats):
        t_bat.append(timed(batched(), args.device))
        t_loop.append(timed(loop(), args.device))
    n_models = 3 * len(WIDTHS) * args.seeds
    ratios = [lw / bw for (bw, _), (lw, _) in zip(t_bat, t_loop)]
    cpu_ratios = [lc / bc for (_, bc), (_, lc) in zip(t_bat, t_loop)]
    runs = lambda ts, i: ", ".join(f"{t[i]:.2f}" for t in ts)  # noqa: E731
    print(f"grid: CNN chapter (w in {WIDTHS}, dense + head FPE + channel FPE, alpha 2), {args.seeds} seeds = {n_models} models, "
          f"{args.epochs} epoch(s) x {args.images} images {IMAGE_SIZE}x{IMAGE_SIZE}, batch {BATCH}, {threads} thread(s), device {args.device}")
    print(f"per-model loop : {statistics.median(t[0] for t in t_loop):7.2f} s wall (runs: {runs(t_loop, 0)}), "
          f"CPU {statistics.median(t[1] for t in t_loop):.2f} s (runs: {runs(t_loop, 1)})")
    print(f"batched        : {statistics.median(t[0] for t in t_bat):7.2f} s wall (runs: {runs(t_bat, 0)}), "
          f"CPU {statistics.median(t[1] for t in t_bat):.2f} s (runs: {runs(t_bat, 1)})")
    print(f"speed-up (loop / batched), wall: median {statistics.median(ratios):.2f} x, range {min(ratios):.2f}-{max(ratios):.2f} "
          f"over {args.repeats} repeats; CPU time: median {statistics.median(cpu_ratios):.2f} x, "
          f"range {min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}")
    return dict(ratio=statistics.median(ratios), ratio_range=(min(ratios), max(ratios)), cpu_ratio=statistics.median(cpu_ratios))


if __name__ == "__main__":
    main()
