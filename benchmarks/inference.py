"""What an FPE layer costs at inference next to the dense layer with the same non-zeros
(the paper, as we read it, section 1, claim 5: "the right cost model is non-zero weights moved from memory").

    .venv/bin/python benchmarks/inference.py [--quick] [--threads N] [--out PATH]

Times the inference forms of :mod:`fpe.cost.inference` (masked dense, CSR, BSR, compact balanced split)
of an expanded first layer against the narrow ``nn.Linear(d, h)`` with the same non-zeros, over
batch sizes {1, 8, 64, 512}, alpha {2, 4, 8}, the paper's layer sizes (d = 512 and 784, h = 4 to
128) and a large one (d = 4096, h = 1024); measures the machine's memory bandwidth and matmul
GFLOP/s; prints the ratio table and the roofline reading of the headline point; writes JSON
(default ``_build/bench/inference[_quick].json``; the chapter ``notebooks/06_cost.py`` runs the same
:func:`fpe.cost.bench.run_grid`). Timings are medians of interleaved rounds and depend on the load of
the machine: close other work for clean numbers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fpe.cost import bench  # noqa: E402

QUICK = dict(sizes=((512, 32), (4096, 1024)), alphas=(4,), batches=(1, 8), budget=0.3, max_rounds=7)  # = notebook quick profile


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two sizes, alpha 4, batch 1 and 8 (under a minute)")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch.set_num_threads for the timings (default 2, the core count); 1 thread is always measured too")
    ap.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = ap.parse_args(argv)
    cfg = bench.BenchConfig(threads=args.threads, **(QUICK if args.quick else {}))
    out = args.out or ROOT / "_build" / "bench" / ("inference_quick.json" if args.quick else "inference.json")
    print(f"threads={cfg.threads} sizes={list(cfg.sizes)} alphas={list(cfg.alphas)} batches={list(cfg.batches)}", flush=True)
    threads = sorted({cfg.threads, 1}, reverse=True)
    full = bench.run_all(cfg, grid_threads=threads, head_threads=threads, log=lambda s: print(s, flush=True))
    bench.save_json(full, out)
    for th, data in full["grid"].items():
        bw, mm = data["bandwidth_gbs"], data["matmul"]
        print(f"\n{th} thread(s): memory bandwidth read {bw['read']:.1f} GB/s, mat-vec {bw['matvec']:.1f} GB/s, "
              f"copy {bw['copy']:.1f} GB/s; matmul "
              f"{mm['gflops']:.1f} GFLOP/s; L3 cache {data['l3_cache']}")
        print(f"latency / narrow dense latency (same non-zeros; medians), {th} thread(s); dense column: its latency in ms\n")
        print(bench.ratio_table(data))
    print(f"\n1-minute load average before/after: {full['load']}")
    for th, hd in full["headline"].items():
        head = bench.headline(hd, **full["head"])
        print(f"\nd=4096, h=1024, alpha=4, batch 1, {th} thread(s), measured again (bandwidth roof "
              f"{next(iter(head.values()))['roof_gbs']:.1f} GB/s):")
        print(f"{'form':>13} {'ms':>8} {'q1-q3 ms':>15} {'rounds':>6} {'best ms':>8} {'ratio':>6} {'best':>6} {'moved MB':>9} "
              f"{'bytes/BW ms':>11} {'x limit':>7} {'best':>6}")
        for name, p in head.items():
            spread = f"{p['q1'] * 1e3:.3f}-{p['q3'] * 1e3:.3f}"
            print(f"{name:>13} {p['seconds'] * 1e3:8.3f} {spread:>15} {p['rounds']:6d} {p['best'] * 1e3:8.3f} {p['ratio']:6.2f} "
                  f"{p['ratio_best']:6.2f} {p['moved_bytes'] / 1e6:9.2f} {p['bw_limit_s'] * 1e3:11.3f} {p['from_bw_limit']:7.2f} "
                  f"{p['from_bw_limit_best']:6.2f}")
    total = sum(g["seconds"] for g in full["grid"].values()) + sum(h["seconds"] for h in full["headline"].values())
    print(f"\n{total:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
