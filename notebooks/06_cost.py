# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The cost claim, measured: an FPE layer at inference
#
# **Overview.** The paper closes with a cost argument (claim 5 of {ref}`paper-1`): what limits modern
# hardware is moving non-zero weights from memory, not arithmetic, so a layer with `alpha` times
# more neurons but the same non-zeros should cost about what the narrow dense layer costs. The
# paper gives no measurement and says that real speed needs sparse kernels. This chapter measures
# the claim on this machine's CPU: the expanded first layer of an FPE net, stored in five forms
# (masked dense, PyTorch CSR, PyTorch BSR, a compact balanced-split form, and our split-sum form
# with its own C kernel), timed against the
# narrow dense `nn.Linear(d, h)` with the same non-zeros, at the paper's layer sizes and a large
# one, with the bytes each form moves and a roofline reading (measured bandwidth and matmul speed).
#
# **Prerequisites.** Chapter 1 (what `fpe.expand` produces: children of parent `p` are rows
# `p*alpha .. p*alpha+alpha-1`, each keeping a disjoint part of the parent's inputs). Runs on its
# own: under five minutes for the `paper` profile, under a minute for `quick`, on a 2-core CPU.
# The same measurement is a script: `python benchmarks/inference.py`.

# %% tags=["remove-cell"]
# Colab set-up: inside Google Colab, fetch this companion and install it beside Colab's own torch.
# Anywhere else this cell does nothing (use `make setup` or `pip install -e .` instead).
import os, subprocess, sys

def _in_colab():
    try:
        import google.colab  # noqa: F401
        return True
    except ImportError:
        return False

if _in_colab() and not os.environ.get("FPE_ROOT"):
    REPO, DEST = "https://github.com/fpe-companion/fpe-companion", "/content/fpe-companion"
    if not os.path.isdir(DEST):
        subprocess.run(["git", "clone", "--depth", "1", REPO, DEST], check=True)
    import torch  # Colab's build stays: the constraint below forbids pip to replace it
    with open("/tmp/fpe-constraints.txt", "w") as fh:
        fh.write(f"torch=={torch.__version__}\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/fpe-constraints.txt",
                    "-e", DEST], check=True)
    sys.path.insert(0, DEST)
    os.environ["FPE_ROOT"] = DEST

# %% tags=["parameters"]
profile = "paper"  # @param ["quick", "paper"]  ("quick" (CI: two sizes, alpha 4, batch 1 and 8) or "paper" (the full grid))
progress = True  # @param {type:"boolean"}  (progress bars for interactive use; the book build turns them off)

# %% [markdown]
# ## Setup and assumptions
#
# - **Layer.** A random MLP `d -> h -> 10` (PyTorch's default initialisation, seeded), expanded by
#   `fpe.expand` with the paper's random split and global prune; only its first layer is timed (it
#   holds the `h*d` non-zeros that dominate; the output layer's `10*h` non-zeros are an unstructured
#   sparse matrix that the dense and CSR forms also take). Weights are untrained: the cost does
#   not depend on their values.
# - **Forms** (`fpe.cost.inference`): *masked dense* (the naive form: the `(alpha*h, d)` matrix with its
#   zeros, `alpha` times the FLOPs); *CSR* (`torch.sparse_csr`, int32 indices, `torch.sparse.mm`,
#   a sparse matrix-vector product at batch 1); *BSR* (`torch.sparse_bsr`, square blocks of 16,
#   the only shape its CPU kernel takes); *compact* (each child stores exactly `d/alpha` weights and
#   their input indices in the narrowest integer type, int16 here; evaluated by `index_select` + per-child sums at batch 1 and by the fused
#   gather-and-sum `F.embedding_bag` at larger batches, in chunks of 2^20 indices); *split-sum*
#   (ours: each parent's `d` weights as one dense row, every input's weight being that of the one
#   child that keeps it, plus each weight's child label in `ceil(log2 alpha)` bit planes, no
#   indices; a fused C kernel, `fpe/cost/_splitsum.c`, streams the row once, multiplies by the input
#   and adds each product into masked subset sums from which the `alpha` child sums follow by
#   inclusion-exclusion; rows split over the timing's threads).
# - **Timing** (`fpe.cost.bench`, **house** rules): `torch.set_num_threads(2)` (the machine's core count)
#   while timing, set explicitly; all forms of one point are timed in interleaved rounds, median
#   over rounds (3 to 15 rounds, about half a second per point; a form slower than 0.25 s per call
#   gets one round); ratios are against the narrow dense layer timed in the same rounds (ratio of
#   medians; the ratio of the best rounds is kept too). The machine is shared with other jobs, so timings are noisy: a
#   second measurement of the headline point with one thread shows how much of the picture is
#   contention. Timings and ratios are recorded unchecked (machine-dependent) and the paper gives
#   none to compare with. Correctness and byte counts are checked numbers.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from fpe.book.results import Results
from fpe.cost import bench
from fpe.runtime.jobs import exclusive
from fpe.repro import set_determinism
from fpe.book.plot import use_style

use_style()  # the book's figure style (fpe.book.plot)

PROFILES = {
    "quick": dict(grid=dict(sizes=((512, 32), (4096, 1024)), alphas=(4,), batches=(1, 8), budget=0.2, max_rounds=7),
                  head_budget=0.5),
    "paper": dict(grid=dict(sizes=((512, 4), (512, 32), (512, 128), (784, 4), (784, 32), (784, 128), (4096, 1024)),
                            alphas=(2, 4, 8), batches=(1, 8, 64, 512), budget=0.3, max_rounds=15),
                  head_budget=3.0),
}
if profile not in PROFILES:
    raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
THREADS = set_determinism()  # for the set-up; the timings run with BENCH_THREADS
BENCH_THREADS = 2  # the machine's core count
HEAD = bench.HEADLINE  # d=4096, h=1024, alpha=4, batch 1: the point the goal is stated for
cfg = bench.BenchConfig(threads=BENCH_THREADS, seed=0, **PROFILES[profile]["grid"])
results = Results("06_cost", profile)
print(f"profile={profile}: sizes {list(cfg.sizes)}, alpha {list(cfg.alphas)}, batches {list(cfg.batches)}, "
      f"{BENCH_THREADS} timing threads; {torch.get_num_threads()} thread(s) otherwise")

# %% [markdown]
# ## 1. Every form computes the same layer
#
# Two checks. First, exact: with small integer weights and inputs stored as float32 every sum is
# exact, so each form must give *exactly* the masked dense layer's outputs (error 0, on any
# machine). Second, on the benchmark's own random layers and inputs (every size, `alpha` and batch
# of the grid): the largest error relative to the largest output, which only float rounding
# (summation order) separates from 0.

# %%
exact = bench.integer_agreement(d=48, h=6, alpha=4, batches=(1, 3, 8, 64))
for name, err in exact.items():
    results.add(f"exact_error_{name}", err, label=f"max |error| on integer inputs, {name}", unit="abs")
print("max |form - masked dense| on integer-valued layers:", exact)

# %% [markdown]
# ## 2. Measure
#
# The grid runs once: for each size and `alpha` the layer is expanded, every form is built and
# checked against masked dense, then timed at each batch size next to the narrow dense layer, once
# with two threads and once with one (on a machine shared with other jobs, a two-thread kernel
# waits at its barrier whenever one of its threads is descheduled, which can add a whole
# scheduler time slice, about 15 ms, to a 20 µs call; one thread is disturbed less). Each
# form is cycled over copies of itself totalling 128 MB (four times the 32 MiB L3 cache), so the
# large layers' weights come from memory, not from the cache the previous call left warm; the
# paper's small layers (at most 64 copies) stay in cache, as they would in use. Then the headline
# point is measured again for longer, with two threads and with one.

# %%
with exclusive():  # under `make execute`, no job of any other chapter runs while this times (fpe.runtime.jobs)
    full = bench.run_all(cfg, grid_threads=(BENCH_THREADS, 1), head=HEAD, head_threads=(BENCH_THREADS, 1),
                         head_budget=PROFILES[profile]["head_budget"], progress=progress)
grids = full["grid"]  # {"2": ..., "1": ...}
data, data1 = grids[str(BENCH_THREADS)], grids["1"]
bw, mm = data["bandwidth_gbs"], data["matmul"]
for th, g in grids.items():
    gb = g["bandwidth_gbs"]
    print(f"grid, {th} thread(s): {len(g['points'])} timings in {g['seconds']:.0f} s; memory bandwidth: read {gb['read']:.1f}, "
          f"mat-vec {gb['matvec']:.1f}, copy {gb['copy']:.1f} GB/s; matmul {g['matmul']['gflops']:.1f} GFLOP/s")
print("headline re-measurements:", {th: f"{d['seconds']:.0f} s" for th, d in full["headline"].items()},
      f"; L3 cache {data['l3_cache']}; 1-minute load average before/after: {full['load']} on {data['environment']['cpu_count']} cores")
pts = data["points"] + data1["points"]
by = {(p["d"], p["h"], p["alpha"], p["batch"], p["form"]): p for p in data["points"]}
by1 = {(p["d"], p["h"], p["alpha"], p["batch"], p["form"]): p for p in data1["points"]}
FORMS = list(cfg.forms)
for name in FORMS:
    results.add(f"rel_error_{name}", max(p["rel_error"] for p in pts if p["form"] == name),
                label=f"max relative error over the grid, {name}", unit="ratio", checked=False)
assert all(p["rel_error"] < 1e-5 for p in pts), "a form disagrees with the masked dense layer"

# %% [markdown]
# ## 3. Bytes each form stores
#
# The claim counts non-zero weights moved from memory. What a form really moves is its weights
# *and* its indices. For the headline size (`d = 4096`, `h = 1024`), relative to the narrow dense
# layer's 16 MiB of weights: the masked dense form moves `alpha` times the weights; CSR moves the
# weights plus an int32 column index per non-zero (2x); BSR stores whole 16x16 blocks, and with a
# random split every block of sibling rows holds a non-zero, so it stores the masked dense matrix
# again; the compact form moves the weights plus an int16 index each (1.5x); the split-sum form
# moves the weights plus `log2(alpha)` bits of child label each (1.06x at `alpha` = 4).

# %% tags=["finding"]
hd, hh = HEAD["d"], HEAD["h"]
dense_bytes = by[(hd, hh, cfg.alphas[0], 1, "dense")]["stored_bytes"]
rows = ["| form | " + " | ".join(f"α={a}: weights + indices (MB) | × dense" for a in cfg.alphas) + " |",
        "|---|" + "---|---|" * len(cfg.alphas)]
for name in ["dense"] + FORMS:
    cells = []
    for a in cfg.alphas:
        p = by[(hd, hh, a, 1, name)]
        cells += [f"{p['weight_bytes'] / 1e6:.1f} + {p['index_bytes'] / 1e6:.1f}", f"{p['stored_bytes'] / dense_bytes:.2f}"]
    rows.append(f"| {name} | " + " | ".join(cells) + " |")
display(Markdown(f"Stored bytes at d = {hd}, h = {hh} (bias included in the ratio):\n\n" + "\n".join(rows)))
for name in ["dense"] + FORMS:
    p = by[(hd, hh, HEAD["alpha"], 1, name)]
    results.add(f"bytes_{name}", p["stored_bytes"], label=f"stored bytes, {name}, d={hd}, h={hh}, α={HEAD['alpha']}", unit="count")

fig, ax = plt.subplots(figsize=(7, 3.2), constrained_layout=True)
width = 0.8 / len(cfg.alphas)
for j, a in enumerate(cfg.alphas):
    for i, name in enumerate(FORMS):
        p = by[(hd, hh, a, 1, name)]
        x = i + (j - (len(cfg.alphas) - 1) / 2) * width
        ax.bar(x, p["weight_bytes"] / dense_bytes, width, color=f"C{j}", alpha=0.9, label=f"α={a} weights" if i == 0 else None)
        ax.bar(x, p["index_bytes"] / dense_bytes, width, bottom=p["weight_bytes"] / dense_bytes, color=f"C{j}", alpha=0.4,
               hatch="//", label=f"α={a} indices" if i == 0 else None)
ax.axhline(1, color="k", lw=1, ls="--", label="narrow dense")
ax.set_xticks(range(len(FORMS)), FORMS)
ax.set_ylabel("bytes stored / narrow dense")
ax.set_title(f"What each form moves per call, d={hd}, h={hh}", fontsize=9)
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# ## 4. Latency against the narrow dense layer
#
# Each panel is one layer size; each line is a form's latency divided by the narrow dense layer's
# latency at the same batch size (log scale; 1 = same cost, the dotted line marks 1.5x), at
# `alpha = 4`, with two threads (solid) and one thread (dashed). The plotted latencies are the
# best round of each form: with the machine shared by other jobs (see the load average above), a
# median over a few rounds often measures a scheduler time slice rather than the kernel, and the
# best round is the usual estimate of a kernel's own cost. The claim, "same non-zeros, same cost",
# holds where a line stays near 1. The tables below give every `alpha`, as ratios of medians.

# %%
sizes = list(cfg.sizes)
A = HEAD["alpha"] if HEAD["alpha"] in cfg.alphas else cfg.alphas[0]
ncol = min(4, len(sizes))
nrow = math.ceil(len(sizes) / ncol)
fig, axes = plt.subplots(nrow, ncol, figsize=(3.1 * ncol, 2.7 * nrow), sharey=True, constrained_layout=True, squeeze=False)
for ax, (d, h) in zip(axes.flat, sizes):
    for i, name in enumerate(FORMS):
        for table, ls, th in ((by, "-", BENCH_THREADS), (by1, "--", 1)):
            r = [table[(d, h, A, b, name)]["ratio_best"] for b in cfg.batches]
            ax.plot(cfg.batches, r, ls, marker="o", ms=3, color=f"C{i}", label=f"{name}, {th} thr.")
    ax.axhline(1, color="k", lw=0.8)
    ax.axhline(1.5, color="k", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_title(f"d={d}, h={h}, α={A} ({d * h:,} non-zeros)", fontsize=8)
    ax.set_xlabel("batch size", fontsize=8)
    ax.grid(alpha=0.3, which="both")
for ax in axes[:, 0]:
    ax.set_ylabel("latency / narrow dense (best rounds)", fontsize=8)
for ax in list(axes.flat)[len(sizes):]:
    ax.axis("off")
handles, labels = axes.flat[0].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=7)
plt.show()
for th, g in grids.items():
    display(Markdown(f"Latency ratio (form / narrow dense, medians), **{th} thread(s)**; the dense column is the narrow "
                     "layer's own median latency in ms at each batch:\n\n" + bench.ratio_table(g)))

# %% [markdown]
# ## 5. Roofline
#
# The measured bandwidth (the faster of a streaming `sum` and a dense mat-vec over 256 MB, best of
# 15 rounds) and matmul throughput set two limits: a call
# cannot finish before its bytes are read (`moved bytes / bandwidth`) nor before its arithmetic is
# done. The plot puts every measured point at its arithmetic intensity (useful FLOPs, `2 x non-zeros
# x batch`, per byte the form moves) and its achieved useful GFLOP/s in its best round; the roof is
# `min(peak GFLOP/s, intensity x bandwidth)`, drawn for each thread count, where each ceiling is
# the measured one or, if larger, the best rate a layer of the grid achieved (on a shared machine
# the short ceiling measurements can come out below what a layer demonstrably reaches). A form on
# the roof is as fast as its storage allows.

# %%
BW, PEAK = bw["roof"], mm["gflops"]
fig, ax = plt.subplots(figsize=(6.4, 4), constrained_layout=True)
grid_ai = np.logspace(-1.5, 2.5, 200)
for (th, g), ls, filled in zip(grids.items(), ("-", "--"), (True, False)):
    big = [p for p in g["points"] if p["d"] * p["h"] >= 100_000]
    # empirical ceilings: the measured ones, or what a layer demonstrably achieved if that is more
    gbw = max(g["bandwidth_gbs"]["roof"], max(p["moved_bytes"] / p["best"] / 1e9 for p in big))
    gpeak = max(g["matmul"]["gflops"], max(p["useful_flops"] / p["best"] / 1e9 for p in big))
    ax.plot(grid_ai, np.minimum(gpeak, grid_ai * gbw), color="0.3", lw=1.2, ls=ls,
            label=f"roof, {th} thr.: {gbw:.1f} GB/s, {gpeak:.0f} GFLOP/s")
    for i, name in enumerate(["dense"] + FORMS):
        sel = [p for p in g["points"] if p["form"] == name and p["d"] * p["h"] >= 100_000]
        ai = np.array([p["useful_flops"] / p["moved_bytes"] for p in sel])
        gf = np.array([p["useful_flops"] / p["best"] / 1e9 for p in sel])
        c = "k" if name == "dense" else f"C{i - 1}"
        ax.scatter(ai, gf, s=[6 + 1.2 * math.log2(p["batch"]) ** 2 for p in sel], facecolor=c if filled else "none",
                   edgecolor=c, alpha=0.7, label=f"{name}, {th} thr.")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("arithmetic intensity (useful FLOP / byte moved)")
ax.set_ylabel("useful GFLOP/s")
ax.set_title("Roofline, layers with at least 100k non-zeros (marker size: batch; hollow: 1 thread)", fontsize=9)
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=6, ncol=2)
plt.show()

# %% [markdown]
# ## 6. The headline point: d = 4096, h = 1024, alpha = 4, batch 1
#
# The goal set for this chapter: the best form within 1.5x of the narrow dense layer's latency
# and within 2x of its own bytes/bandwidth limit. The bandwidth used here is the larger of the
# measured streaming bandwidth and the fastest rate any form of this point achieved (on a shared
# machine the first can come out below the second, and a limit that is beaten is no limit). The table gives, per form and thread count, the
# median latency and the best (least disturbed) round, the ratio of medians, the bytes moved, the
# bandwidth limit of those bytes (measured with the same thread count) and how far the form is
# from it.

# %%
head = bench.headline(full["headline"][str(BENCH_THREADS)], **HEAD)
head_1t = bench.headline(full["headline"]["1"], **HEAD)
rows = ["| form | threads | median (ms) | best (ms) | rounds | / narrow dense (median) | / narrow dense (best) | moved (MB) | "
        "bytes / bandwidth (ms) | × bandwidth limit (median) | × limit (best) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
for hp, th in ((head, BENCH_THREADS), (head_1t, 1)):
    for name, p in hp.items():
        rows.append(f"| {name} | {th} | {p['seconds'] * 1e3:.2f} | {p['best'] * 1e3:.2f} | {p['rounds']} | {p['ratio']:.2f} | "
                    f"{p['ratio_best']:.2f} | {p['moved_bytes'] / 1e6:.1f} | {p['bw_limit_s'] * 1e3:.2f} | {p['from_bw_limit']:.2f} | "
                    f"{p['from_bw_limit_best']:.2f} |")
display(Markdown("\n".join(rows)))
for name, p in head.items():
    results.add(f"head_ms_{name}", p["seconds"] * 1e3, label=f"latency (ms), {name}, d=4096 h=1024 α=4 batch 1", unit="ms", checked=False)
    if name != "dense":
        results.add(f"head_ratio_{name}", p["ratio"], label=f"latency / narrow dense, {name}, d=4096 h=1024 α=4 batch 1",
                    unit="ratio", checked=False)
    results.add(f"head_from_bw_{name}", p["from_bw_limit"], label=f"latency / (moved bytes / bandwidth), {name}",
                unit="ratio", checked=False)
    if name != "dense":
        results.add(f"head_ratio_best_{name}", p["ratio_best"], label=f"best-round latency / narrow dense, {name}",
                    unit="ratio", checked=False)
for name, p in head_1t.items():
    if name != "dense":
        results.add(f"head_ratio_1thread_{name}", p["ratio"], label=f"latency / narrow dense, {name}, one thread",
                    unit="ratio", checked=False)
results.add("bandwidth_read", bw["read"], label="memory bandwidth, streaming read (GB/s)", unit="GB/s", checked=False)
results.add("bandwidth_matvec", bw["matvec"], label="memory bandwidth, dense mat-vec (GB/s)", unit="GB/s", checked=False)
results.add("bandwidth_copy", bw["copy"], label="memory bandwidth, copy, read + write (GB/s)", unit="GB/s", checked=False)
results.add("matmul_gflops", mm["gflops"], label="float32 matmul 512x4096 by 4096x1024 (GFLOP/s)", unit="GFLOP/s", checked=False)

# %% [markdown]
# ## 7. Where the claim holds on this CPU
#
# For every size and batch, the best sparse form (lowest latency among masked dense, CSR, BSR,
# compact and split-sum, at each `alpha`) is compared with the narrow dense layer, both in their best rounds
# (section 4 says why). The sentences below are computed from this run's numbers.

# %%
rows = ["| d | h | α | " + " | ".join(f"best b={b}, 2 thr. / 1 thr." for b in cfg.batches) + " |",
        "|---|---|---|" + "---|" * len(cfg.batches)]
holds, total = {}, {}
for d, h in sizes:
    for a in cfg.alphas:
        cells = []
        for b in cfg.batches:
            cell = []
            for th, table in ((BENCH_THREADS, by), (1, by1)):
                f = min(FORMS, key=lambda f: table[(d, h, a, b, f)]["best"])
                r = table[(d, h, a, b, f)]["ratio_best"]
                cell.append(f"{f} {r:.2f}" + (" ✓" if r <= 1.5 else ""))
                key = (th, "paper sizes" if d * h <= 784 * 128 else "large", b)
                holds[key] = holds.get(key, 0) + (r <= 1.5)
                total[key] = total.get(key, 0) + 1
            cells.append(" / ".join(cell))
        rows.append(f"| {d} | {h} | {a} | " + " | ".join(cells) + " |")
display(Markdown("Best form and its latency ratio (best rounds), two threads / one thread (✓: within 1.5x of the "
                 "narrow dense layer):\n\n" + "\n".join(rows)))

lines = []
for group in ("paper sizes", "large"):
    for th in (BENCH_THREADS, 1):
        part = [f"batch {b}: {holds[(th, group, b)]}/{total[(th, group, b)]}" for b in cfg.batches if (th, group, b) in total]
        if part:
            lines.append(f"- **{group}** ({'d = 512, 784; h = 4 to 128' if group == 'paper sizes' else 'd = 4096, h = 1024'}), "
                         f"{th} thread(s): points where the best form is within 1.5x of narrow dense, " + ", ".join(part) + ".")
def goal_text(p):
    r, rb, l, lb = p["ratio"], p["ratio_best"], p["from_bw_limit"], p["from_bw_limit_best"]
    g1 = "met" if r <= 1.5 else f"missed by a factor {r / 1.5:.2f}"
    g1b = "met" if rb <= 1.5 else f"missed by a factor {rb / 1.5:.2f}"
    g2 = "met" if l <= 2 else f"missed by a factor {l / 2:.2f}"
    g2b = "met" if lb <= 2 else f"missed by a factor {lb / 2:.2f}"
    return f"goal 1.5x: {g1} on medians, {g1b} on best rounds; goal 2x of the limit: {g2} on medians, {g2b} on best rounds"


for th, hp in ((BENCH_THREADS, head), (1, head_1t)):
    f = min((f for f in hp if f != "dense"), key=lambda f: hp[f]["best"])
    p = hp[f]
    roof = p["roof_gbs"]
    lines.append(f"- **Headline, {th} thread(s)** (d = 4096, h = 1024, α = 4, batch 1): the fastest form is **{f}**, "
                 f"**{p['ratio']:.2f}x** the narrow dense latency on medians ({p['seconds'] * 1e3:.2f} ms vs "
                 f"{hp['dense']['seconds'] * 1e3:.2f} ms) and **{p['ratio_best']:.2f}x** on best rounds ({p['best'] * 1e3:.2f} ms "
                 f"vs {hp['dense']['best'] * 1e3:.2f} ms); it is {p['from_bw_limit']:.2f}x (median) and "
                 f"{p['from_bw_limit_best']:.2f}x (best) its own bytes/bandwidth limit ({p['moved_bytes'] / 1e6:.1f} MB at "
                 f"{roof:.1f} GB/s = {p['bw_limit_s'] * 1e3:.2f} ms): {goal_text(p)}. "
                 + " ".join(f"The {g} form: {hp[g]['ratio']:.2f}x the narrow layer on medians, {hp[g]['ratio_best']:.2f}x on best "
                            f"rounds, {hp[g]['from_bw_limit_best']:.2f}x its limit (best rounds)." for g in ("splitsum", "compact") if g != f))
lines.append(f"- Bytes alone bound the best achievable ratio: split-sum stores "
             f"{head['splitsum']['stored_bytes'] / head['dense']['stored_bytes']:.2f}x, compact "
             f"{head['compact']['stored_bytes'] / head['dense']['stored_bytes']:.2f}x and CSR "
             f"{head['csr']['stored_bytes'] / head['dense']['stored_bytes']:.2f}x the narrow layer's bytes, so even a "
             f"kernel at the bandwidth roof cannot reach 1x; at their own limits split-sum would be "
             f"{head['splitsum']['bw_limit_s'] / head['dense']['best']:.2f}x and compact "
             f"{head['compact']['bw_limit_s'] / head['dense']['best']:.2f}x the narrow dense layer's best round.")
small = [p["best"] * 1e6 for p in data1["points"] if p["form"] == "dense" and p["d"] * p["h"] <= 784 * 128 and p["batch"] == 1]
if small:
    lines.append(f"- At the paper's own sizes the narrow dense layer takes {min(small):.0f} to {max(small):.0f} µs per call "
                 f"(one thread, batch 1, best rounds): 8 kB to 400 kB of weights, which stay in cache; such calls are "
                 f"bound by per-call overhead, not by memory, so the claim's premise does not apply there and the ratios "
                 f"measure the overhead of each kernel.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## All recorded numbers
#
# From `results/<profile>/06_cost.json`, which this notebook has just written (the full grid of
# timings is kept in its `meta`). Exact errors and byte counts are checked against the stored
# references; timings, ratios, bandwidth and GFLOP/s are machine-dependent and unchecked.

# %%
results.meta.update(benchmark=full)
results.save()
display(Markdown(results.table()))

# %%
gaps = results.check_references()
print(f"all {len(gaps)} checked numbers within their stored tolerance; largest gap {max(gaps.values()):.3g}")

# %% [markdown]
# ## Summary
#
# - All five forms compute the expanded layer exactly (integer check) and to float rounding on
#   every benchmark layer.
# - **Bytes.** The claim's accounting (non-zero weights) leaves out the indices. A general sparse
#   layer moves its weights plus at least one index per weight: 1.5x the dense bytes with int16
#   indices (compact), 2x with PyTorch's int32 CSR; BSR and masked dense move `alpha` times. FPE's
#   structure (siblings split their parent's inputs) needs no indices: the split-sum form moves
#   the weights plus `log2(alpha)` label bits each, 1.06x at `alpha` = 4.
# - **Latency.** The computed bullets of section 7 say, for this run, where the best form stays
#   within 1.5x of the narrow dense layer. At the paper's own sizes (a few thousand to 100k
#   weights) every call takes tens of microseconds and is bound by per-call overhead, not by
#   memory, so the "memory-bound" premise of the claim does not apply there. At the large size the
#   narrow dense layer streams its weights at the machine's bandwidth, while the sparse kernels
#   PyTorch offers on a CPU do not reach their own (smaller-than-masked-dense) byte counts: CSR moves
#   twice the narrow layer's bytes and its mat-vec is not at the roof, BSR stores every zero of a
#   random split, and the compact form's gathers cost nanoseconds per element in eager PyTorch.
#   That is the "needs sparse kernels" caveat the paper states, measured; the split-sum form is
#   such a kernel, and section 7's computed bullets say how close it comes.
# - **Contention.** This machine has two cores shared with other jobs; two-thread timings suffer
#   most (a kernel waits at its barrier for a descheduled thread), which is why the chapter also
#   measures one thread, keeps the best round next to the median, and records the load average.
# - **What is left**: the split-sum kernel's limit is its bytes bound (1.06x at `alpha` = 4), not
#   1x; where section 7 finds it above that bound, the remaining cost is its arithmetic (a masked
#   add per subset of label bits), which a kernel for wider vectors or with label-sorted rows would
#   cut.
