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
# # Calibrating the Boolean task on dense models only
#
# **Overview.** The paper states the Boolean DNF task and the schedule (1000 epochs dense, FPE,
# 1000 more) but not how inputs are sampled, how many training samples there are, or the
# optimiser's settings. A prototype showed that these choices move FPE's gains by a factor of two.
# This chapter chooses them **without looking at FPE**: it trains *dense models only* on a small
# grid of open choices and picks the point whose dense accuracies best match the dense accuracies
# implied by the paper's figures ({ref}`paper-5`). The chosen point becomes the house
# default of `fpe.experiments.boolean.BooleanSetup`, used by every Boolean chapter. Only at the end, with
# the choice fixed, does the chapter show how FPE's verdicts at 8 clauses / 8 neurons would have
# changed under the other sampling rule and data size (*what the paper left open*).
#
# **Prerequisites.** The headline chapter. Runs on its own.

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
profile = "paper"  # @param ["quick", "paper"]  ("quick" (CI: 2 seeds, tiny budget) or "paper" (5 seeds, the paper's 4096 x 1000 samples per phase))
progress = True  # @param {type:"boolean"}  (progress bars for interactive use; the book build turns them off)

# %% [markdown]
# ## What is calibrated, and against what
#
# **Open choices (the grid):** the sampling rule (`"standard"`: positives carry four forced ones,
# so the count of ones leaks the label; `"count-matched"`: the positives' free inputs are sparser so
# the expected count of ones is the same in both classes, `fpe.tasks`) and the training-set size
# (4096 or 16384), at Adam's learning rate 1e-3; then, at the best rule and size, the learning
# rate (1e-3 or 3e-3). Fixed: batch 512, no weight decay, PyTorch's default initialisation,
# `k = 4` inputs per clause. (A coordinate search, not the full product, to fit the CPU budget.)
#
# **Compute per run:** every grid point sees the same number of training samples per phase,
# `SAMPLES_PER_PHASE`, for the paper profile the paper's 1000 epochs over 4096 samples
# (4,096,000 = 250 epochs over 16,384), the budget every Boolean chapter uses.
#
# **History, for the record.** An earlier version calibrated at a quarter of this budget
# (4096 x 256 samples per phase, what the load sweeps could then afford on this CPU) and chose
# count-matched / 16384 / 1e-3, with 4096 samples second (RMSE 6.7 against 7.3). At the full budget,
# which the fused training epoch of `fpe.training.native` made affordable, the same procedure chooses 4096
# samples: longer training lets dense nets on 16384 samples climb above the paper's dense curves.
# We followed the procedure, changed the house defaults, and recomputed every Boolean chapter.
#
# **Targets (dense only, read off the paper's accuracy-per-parameter curves, ±2-3 points):**
# at `m = 8`: 56 / 71 / 84 / 96 % for `h = 4 / 8 / 12 / 32`; at `h = 8`: 90 / 71 / 58 % for
# `m = 6 / 8 / 12` and about 50-54 % for `m >= 14` (we use 52 % at `m = 16`). The paper's headline
# dense 78.7 % at 8 / 8 disagrees with its own Figure 4 (71 %); the figure values are used because
# they form a consistent sweep. **Score:** root-mean-square distance of the seed-mean dense test
# accuracy to the seven targets. FPE is not trained anywhere in the grid.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from fpe.book.results import Results
from fpe.experiments.boolean import BooleanSetup, boolean_datasets, run_sweep
from fpe.experiments.schedule import DENSE, Variant
from fpe.metrics import benjamini_hochberg
from fpe.repro import seeds, set_determinism
from fpe.tasks import count_threshold_accuracy
from fpe.book.plot import learning_curves, use_style

use_style()  # the book's figure style (fpe.book.plot)

PROFILES = {
    "quick": dict(seeds=2, samples_per_phase=4096 * 8, sens_seeds=2),
    "paper": dict(seeds=5, samples_per_phase=4096 * 1000, sens_seeds=5),
}
if profile not in PROFILES:
    raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
cfg = PROFILES[profile]
SEEDS = seeds(cfg["seeds"], "calibration")  # the calibration block; reported runs use other seeds
SAMPLES_PER_PHASE = cfg["samples_per_phase"]
THREADS = set_determinism()
results = Results("03_calibration", profile)
T0 = time.perf_counter()

TARGETS = {(8, 4): 56.0, (8, 8): 71.0, (8, 12): 84.0, (8, 32): 96.0, (6, 8): 90.0, (12, 8): 58.0, (16, 8): 52.0}  # (m, h): dense %
GRID = {m: [4, 8, 12, 32] for m in (6, 8, 12, 16)}  # one run: all clause counts padded to d = 64
RULES, SIZES, LRS = ["standard", "count-matched"], [4096, 16384], [1e-3, 3e-3]
print(f"profile={profile}: {len(SEEDS)} seeds, {SAMPLES_PER_PHASE:,} samples per phase, {THREADS} thread(s)")


def setup_for(rule, n, lr, samples=SAMPLES_PER_PHASE):
    epochs = max(1, samples // n)
    return BooleanSetup(rule=rule, n_train=n, lr=lr, batch_size=512, warmup_epochs=epochs, post_epochs=epochs)


# %% [markdown]
# ## The grid: dense models only
#
# Every grid point trains dense nets of width 4, 8, 12, 32 at 8 clauses and of width 8 at 6, 12
# and 16 clauses, for every seed, with the paper's schedule (warm-up, then the same number of epochs
# again: the dense baseline's total). Columns: seed-mean dense test accuracy per cell (train
# accuracy of `h = 32` in brackets: over-fitting shows there), the count-of-ones floor at 8 and
# 16 clauses, and the score.

# %%
grid_rows, dense, grid_sweeps = [], {}, {}


def calibrate(rule, n, lr):
    st = setup_for(rule, n, lr)
    sw = run_sweep(st, GRID, SEEDS, [DENSE], max_pad=3.0, progress=progress)
    accs = {c: sw[(*c, "dense")].test_acc.numpy() for c in TARGETS}
    train32 = float(sw[8, 32, "dense"].train_acc.mean())
    rmse = float(np.sqrt(np.mean([(accs[c].mean() - t) ** 2 for c, t in TARGETS.items()])))
    dense[rule, n, lr] = accs
    grid_sweeps[rule, n, lr] = sw
    grid_rows.append(dict(rule=rule, n=n, lr=lr, epochs=st.warmup_epochs, rmse=rmse, train32=train32))


for rule in RULES:  # stage 1: rule x size at lr 1e-3
    for n in SIZES:
        calibrate(rule, n, LRS[0])
stage1 = min(grid_rows, key=lambda r: r["rmse"])
for lr in LRS[1:]:  # stage 2: learning rate at the best rule and size
    calibrate(stage1["rule"], stage1["n"], lr)
floor = {(rule, m): np.mean([count_threshold_accuracy(*boolean_datasets(BooleanSetup(m=m, rule=rule), s)) for s in SEEDS])
         for rule in RULES for m in (8, 16)}

best = min(grid_rows, key=lambda r: r["rmse"])
CHOSEN = (best["rule"], best["n"], best["lr"])
cells = list(TARGETS)
head = "| rule | n_train | lr | epochs | " + " | ".join(f"m={m}, h={h}" for m, h in cells) + " | floor m=8 / 16 | RMSE |"
rows = [head, "|" + "---|" * (len(cells) + 6),
        "| **paper (figures)** | | | | " + " | ".join(f"{TARGETS[c]:.0f}" for c in cells) + " | | |"]
for r in grid_rows:
    accs = dense[r["rule"], r["n"], r["lr"]]
    vals = [f"{accs[c].mean():.1f} ± {accs[c].std(ddof=1) if len(SEEDS) > 1 else 0:.1f}" + (f" ({r['train32']:.0f})" if c == (8, 32) else "")
            for c in cells]
    mark = "**" if (r["rule"], r["n"], r["lr"]) == CHOSEN else ""
    rows.append(f"| {mark}{r['rule']}{mark} | {r['n']} | {r['lr']:g} | {r['epochs']} + {r['epochs']} | " + " | ".join(vals)
                + f" | {floor[r['rule'], 8]:.0f} / {floor[r['rule'], 16]:.0f} | {mark}{r['rmse']:.1f}{mark} |")
display(Markdown(f"Dense test accuracy (%), mean ± std over {len(SEEDS)} seeds; train accuracy of h = 32 in brackets.\n\n" + "\n".join(rows)))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
for r in grid_rows:
    accs = dense[r["rule"], r["n"], r["lr"]]
    style = dict(marker="o", lw=2.2 if (r["rule"], r["n"], r["lr"]) == CHOSEN else 0.9,
                 ls="-" if r["rule"] == "count-matched" else ":", label=f"{r['rule']}, n={r['n']}, lr={r['lr']:g}")
    axes[0].plot([4, 8, 12, 32], [accs[8, h].mean() for h in (4, 8, 12, 32)], **style)
    axes[1].plot([6, 8, 12, 16], [accs[m, 8].mean() for m in (6, 8, 12, 16)], **style)
axes[0].plot([4, 8, 12, 32], [TARGETS[8, h] for h in (4, 8, 12, 32)], "kD", ms=7, mfc="none", label="paper (figure)")
axes[1].plot([6, 8, 12, 16], [TARGETS[m, 8] for m in (6, 8, 12, 16)], "kD", ms=7, mfc="none")
axes[0].set(xlabel="hidden width h (m = 8)", ylabel="dense test accuracy (%)")
axes[1].set(xlabel="clauses m (h = 8)")
for ax in axes:
    ax.axhline(50, color="0.8", lw=0.8); ax.grid(alpha=0.3)
axes[0].legend(fontsize=7, ncol=1)
fig.suptitle("Dense models only: the open choices against the paper's dense curves (bold: chosen)", fontsize=10)
plt.show()

# %% [markdown]
# ## The chosen point
#
# The point with the smallest score is chosen and is the house default of
# `fpe.experiments.boolean.BooleanSetup` (the cell below checks that the two agree at the paper profile;
# at the quick profile the grid is too short to decide anything and the check is skipped). The
# runner-up is printed with its distance: a gap of a few tenths of a point is inside the seed noise
# of the score, and then the choice between the two is a coin toss that the rule settles, not
# evidence. The sensitivity table below shows what the other data size would have given.

# %%
house = BooleanSetup()
print(f"chosen by the dense-only grid: rule={CHOSEN[0]}, n_train={CHOSEN[1]}, lr={CHOSEN[2]:g} (RMSE {best['rmse']:.1f} points)")
runner = sorted(grid_rows, key=lambda r: r["rmse"])[1]
print(f"runner-up: rule={runner['rule']}, n_train={runner['n']}, lr={runner['lr']:g} "
      f"(RMSE {runner['rmse']:.1f}, {runner['rmse'] - best['rmse']:.2f} points behind)")
print(f"house default of BooleanSetup:  rule={house.rule}, n_train={house.n_train}, lr={house.lr:g}, batch={house.batch_size}")
if profile == "paper":
    assert (house.rule, house.n_train, house.lr) == CHOSEN, "the house default must be the calibrated point"
for r in grid_rows:
    results.add(f"rmse_{r['rule']}_n{r['n']}_lr{r['lr']:g}", r["rmse"], unit="points",
                label=f"dense calibration score (RMSE to the paper's dense curves), {r['rule']}, n={r['n']}, lr={r['lr']:g}")
chosen_acc = dense[CHOSEN]
for (m, h), t in TARGETS.items():
    results.add(f"dense_m{m}_h{h}", chosen_acc[m, h], label=f"dense test accuracy at the chosen point, m={m}, h={h}",
                paper=t, source="Figure 4 (accuracy per parameter), inferred", kind="calibration")
for rule in RULES:
    results.add(f"floor_{rule}_m16", [count_threshold_accuracy(*boolean_datasets(BooleanSetup(m=16, rule=rule), s)) for s in SEEDS],
                label=f"count-of-ones floor, {rule} rule, m=16")

# %% [markdown]
# ## What the paper left open: the verdicts under the other choices
#
# With the calibration fixed, FPE is trained at 8 clauses / 8 neurons and at 16 clauses / 8
# neurons under both sampling rules and both data sizes (learning rate and budget of the chosen
# point). Each entry is the relative improvement over dense (%, mean ± std over seeds, paired per
# seed), with `*` when a paired t-test against dense (`fpe.metrics.paired_pvalue`), Benjamini-Hochberg
# adjusted over the table's tests, gives q < 0.05. This table was computed after the choice, on
# held-out seeds, and played no part in it; its comparisons with Figure 4b repeat those of the
# load-sweep chapter (their primary place) and are not counted again.

# %%

SENS_SEEDS = seeds(cfg["sens_seeds"])  # held out: not the calibration's seeds
VARIANTS = [DENSE, Variant("random", 2), Variant("random", 4), Variant("clause", 2), Variant("clause", 4)]
sens = {}
for rule in RULES:
    for n in SIZES:
        sw = run_sweep(setup_for(rule, n, CHOSEN[2]), {8: [8], 16: [8]}, SENS_SEEDS, VARIANTS, max_pad=2.0, progress=progress)
        if (rule, n) == CHOSEN[:2]:
            sens_chosen = sw
        for m in (8, 16):
            sens[rule, n, m, "dense"] = (sw[m, 8, "dense"].test_acc.numpy(), None)
            for v in VARIANTS[1:]:
                sens[rule, n, m, v.key] = (sw.relative(m, 8, v.key), sw.pvalue(m, 8, v.key))
sens_q = dict(zip([k for k, (r, p) in sens.items() if p is not None],
                  benjamini_hochberg([p for r, p in sens.values() if p is not None])))
PAPER_REL = {8: {"random_a2": 26.0, "random_a4": 19.0, "clause_a2": 43.0, "clause_a4": 40.0},
             16: {"random_a2": 16.0, "random_a4": 21.0, "clause_a2": 27.0, "clause_a4": 75.0}}
rows = ["| m, h = 8 | rule | n_train | dense acc (%) | " + " | ".join(v.label for v in VARIANTS[1:]) + " |", "|---|---|---|---|" + "---|" * 4]
for m in (8, 16):
    rows.append(f"| m={m} | **paper (Fig. 4b)** | | | " + " | ".join(f"{PAPER_REL[m][v.key]:+.0f}" for v in VARIANTS[1:]) + " |")
    for rule in RULES:
        for n in SIZES:
            d = sens[rule, n, m, "dense"][0]
            cells_ = []
            for v in VARIANTS[1:]:
                rel, _ = sens[rule, n, m, v.key]
                cells_.append(f"{rel.mean():+.1f} ± {rel.std(ddof=1) if len(rel) > 1 else 0:.1f}{'*' if sens_q[rule, n, m, v.key] < 0.05 else ''}")
                results.add(f"sens_{rule}_n{n}_m{m}_{v.key}", rel, label=f"relative improvement, {v.label}, m={m}, h=8, {rule} rule, n={n}",
                            paper=PAPER_REL[m][v.key], source="Figure 4b", baseline=0.0, primary=f"03_load_sweeps/rel_m_{v.key}_m{m}_h8")
            chosen = "**" if (rule, n) == CHOSEN[:2] else ""
            rows.append(f"| m={m} | {chosen}{rule}{chosen} | {n} | {d.mean():.1f} | " + " | ".join(cells_) + " |")
display(Markdown(f"Relative improvement over dense (%), {len(SENS_SEEDS)} seeds, `*`: q < 0.05 (paired t-test, Benjamini-Hochberg); "
                 f"bold: the calibrated point.\n\n" + "\n".join(rows)))
gain = lambda rule, n, m, key: sens[rule, n, m, key][0].mean()  # noqa: E731
display(Markdown("**What the open choices move** (computed from the table): " + "; ".join(
    f"{v.label} at m = {m}: " + ", ".join(f"{gain(rule, n, m, v.key):+.1f} % ({rule}, {n})" for rule in RULES for n in SIZES)
    for m in (8, 16) for v in VARIANTS[1:] if v.alpha == 4 or v.split == "random") +
    f". The chosen point beat the runner-up ({runner['rule']}, n = {runner['n']}, lr = {runner['lr']:g}) by "
    f"{runner['rmse'] - best['rmse']:.2f} points of RMSE."))

# %% [markdown]
# ## Learning curves and convergence
#
# Every grid point trains for a fixed budget (the same number of samples per phase); whether it was
# enough is stated by one rule, `fpe.training.convergence.PlateauRule`: a run has converged when its
# mean test accuracy over seeds gained less than 0.2 points over the last 20 % of its epochs;
# otherwise it is *budget-stopped*. The rule only labels the runs and played no part in the choice.
# Each grid point's cells are stated together (met only when every cell met the rule, with the gain
# of the cell that gained most), and so are the held-out runs of the table above at the chosen point
# (dense over all its epochs, each FPE net over its post-expansion epochs). The curves are test
# accuracy every `fpe.experiments.schedule.curve_stride` epochs.

# %%
for (rule, n, lr), sw in grid_sweeps.items():
    st = setup_for(rule, n, lr)
    results.add_run_convergence(sw, ["dense"], prefix=f"grid {rule}, n={n}, lr={lr:g}: ",
                                budget=f"{st.warmup_epochs} + {st.post_epochs} epochs")
st = setup_for(*CHOSEN)
conv = results.add_run_convergence(sens_chosen, [v.key for v in VARIANTS], prefix="held-out seeds, chosen point: ",
                                   budget=f"{st.warmup_epochs} + {st.post_epochs} epochs")
fig = learning_curves(sens_chosen, [(8, 8), (16, 8)], [v.key for v in VARIANTS], labels={v.key: v.label for v in VARIANTS},
                      converged={k: e["met"] for k, e in conv.items()})
fig.suptitle(f"the chosen point ({CHOSEN[0]}, n = {CHOSEN[1]}, lr = {CHOSEN[2]:g}), held-out seeds: mean over {len(SENS_SEEDS)} seeds")
plt.show()
display(Markdown(results.convergence_text()))

# %% [markdown]
# ## All recorded numbers

# %%
results.add("wall_seconds", time.perf_counter() - T0, unit="s", label="wall time of this notebook (cached runs load instantly)", checked=False)
results.meta.update(seeds=SEEDS, samples_per_phase=SAMPLES_PER_PHASE, chosen=dict(rule=CHOSEN[0], n_train=CHOSEN[1], lr=CHOSEN[2]),
                    grid=grid_rows, targets={f"m{m}_h{h}": t for (m, h), t in TARGETS.items()})
results.save()
display(Markdown(results.table() + "\n\n" + results.convergence_text()))

# %%
gaps = results.check_references()
print(f"all {len(gaps)} numbers within their stored tolerance; largest gap {max(gaps.values()):.3g}")
