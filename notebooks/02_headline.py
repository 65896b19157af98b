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
# # The headline experiment: 8 clauses, 8 neurons
#
# **Overview.** The paper's headline result is on a Boolean DNF task with 8 clauses and a dense
# network of 8 hidden neurons: the dense net reaches **78.7 %**, FPE with a random split
# **88.7 %** and FPE with a clause-aligned split **99.4 %**, all at the same number of non-zero
# weights. This chapter recomputes all three (and both expansion factors, `alpha = 2` and `4`,
# since the paper does not say which one the headline used) over many seeds, with spread, train
# accuracy, a paired test against dense, and the count-of-ones floor of the task.
#
# **Prerequisites.** The previous chapter (what `fpe.expand` does). Runs on its own: about two
# minutes on a 2-core laptop CPU for the `paper` profile, seconds for `quick`.

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
profile = "paper"  # @param ["quick", "paper"]  ("quick" (CI: 3 seeds, 4096 x 100 samples per phase) or "paper" (10 seeds, 4096 x 1000 samples per phase))
progress = True  # @param {type:"boolean"}  (progress bars for interactive use; the book build turns them off)

# %% [markdown]
# ## Setup and assumptions
#
# The paper states the task (OR of clauses, ReLU hidden layer, sigmoid output, binary
# cross-entropy) and the schedule (1000 epochs dense, FPE, 1000 more; dense baseline 1000 + 1000).
# Everything else is a **house** choice, a named field of `fpe.experiments.boolean.BooleanSetup`:
#
# - `k = 4` inputs per clause, `d = 4m` (read off the paper's weight figure);
# - sampling rule `"count-matched"`: positives have one clause forced on and their other inputs
#   sparser, so that both classes carry the same expected number of ones; negatives are
#   Bernoulli(0.5) conditioned on no clause firing; half positives, half negatives;
# - 4096 training and 4096 fresh test samples per seed; Adam, learning rate 3e-3, batch 512, no
#   weight decay; PyTorch's default initialisation; the paper's 1000 + 1000 epochs;
# - the sampling rule, data size and learning rate were chosen on **dense models only** by the
#   calibration chapter (`03_calibration`, at this budget);
# - the split draws (random split, clause order per parent) are independent per seed;
# - FPE's prune is global over both layers; biases are copied to children and not counted.
#
# Every variant of one seed sees the same data and the same minibatches (a paired design). The
# numbers are means ± sample standard deviation over seeds.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from fpe.book.results import Results
from fpe.experiments.boolean import BooleanSetup, boolean_datasets, run_boolean
from fpe.experiments.schedule import DENSE, Variant
from fpe.metrics import accuracy_per_nonzero, benjamini_hochberg, paired_pvalue, relative_improvement
from fpe.book.plot import accuracy_by_variant, learning_curves
from fpe.repro import seeds, set_determinism
from fpe.tasks import count_threshold_accuracy
from fpe.book.plot import use_style

use_style()  # the book's figure style (fpe.book.plot)

PROFILES = {  # samples seen per phase: the paper's 1000 epochs over 4096 samples (quick: 100 epochs)
    "quick": dict(seeds=3, samples=4096 * 100),
    "paper": dict(seeds=10, samples=4096 * 1000),
}
if profile not in PROFILES:
    raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
cfg = PROFILES[profile]
SEEDS = seeds(cfg["seeds"])  # held out: the calibration chapter never saw these seeds
THREADS = set_determinism()
EPOCHS = max(1, cfg["samples"] // BooleanSetup().n_train)
setup = BooleanSetup(m=8, h=8, warmup_epochs=EPOCHS, post_epochs=EPOCHS)
VARIANTS = [DENSE, Variant("random", 2), Variant("random", 4), Variant("clause", 2), Variant("clause", 4)]
results = Results("02_headline", profile)
print(f"profile={profile}: {len(SEEDS)} seeds, {setup.warmup_epochs} + {setup.post_epochs} epochs, {THREADS} thread(s)")
print(setup)

# %% [markdown]
# ## Train: dense warm-up, FPE, more training
#
# `fpe.experiments.boolean.run_boolean` trains the dense nets of all seeds as one batched stack, expands
# each with every variant, and trains the expanded nets (one stack per `alpha`) and the dense nets
# for the second phase. The finished run is cached on disk under its full configuration.

# %%
run = run_boolean(setup, SEEDS, VARIANTS, progress=progress)
acc = {v.key: run[setup.m, setup.h, v.key].test_acc.numpy() for v in VARIANTS}
train_acc = {v.key: run[setup.m, setup.h, v.key].train_acc.numpy() for v in VARIANTS}
nonzeros = {v.key: run[setup.m, setup.h, v.key].nonzeros.numpy() for v in VARIANTS}
dense_nnz = setup.d * setup.h + setup.h * 1  # W1 and W2 of the dense net (one output)
print("non-zero weights per model:", {k: sorted(set(v.tolist())) for k, v in nonzeros.items()}, "dense:", dense_nnz)

# %% [markdown]
# ## The count-of-ones floor
#
# Under the standard sampling rule a positive carries four forced ones, so the number of ones
# alone predicts the label better than chance (about 72 % at 8 clauses); the count-matched rule
# used here removes most of that leak. The floor is the test accuracy of the best threshold on the
# count of ones (fitted on each seed's training set).

# %%
floors = [count_threshold_accuracy(*boolean_datasets(setup, s)) for s in SEEDS]
print(f"count-of-ones floor: {np.mean(floors):.1f} ± {np.std(floors, ddof=1) if len(floors) > 1 else 0:.1f} %")

# %% [markdown]
# ## Results against the paper
#
# The headline does not state `alpha`. Declared before the comparison: the **primary** comparison
# of the paper's 88.7 % and 99.4 % is at `alpha = 2` (the paper's headline setting as we read it);
# `alpha = 4` is reported as **secondary** and not counted. The accuracies of FPE are judged as
# effects over dense (ours over our dense, the paper's over its 78.7 %); the dense accuracy, which
# has no baseline, counts as told apart when our 95 % interval is at most ±5 points wide. The
# relative improvements repeat the paper's Figure 4a at `h = 8`, whose primary comparison is in the
# load-sweep chapter. Every verdict follows {doc}`the verdict rule <verdicts>`. The p-value is a paired
# t-test of the variant against dense over seeds (`fpe.metrics.paired_pvalue`); `q` is its
# Benjamini-Hochberg adjustment over the four tests of this table.

# %%
PAPER_ACC = {"dense": 78.7, "random_a2": 88.7, "random_a4": 88.7, "clause_a2": 99.4, "clause_a4": 99.4}
PAPER_REL_FIG4A = {"random_a2": 19.0, "random_a4": 10.5, "clause_a2": 34.0, "clause_a4": 42.0}
label = {v.key: v.label for v in VARIANTS}
dense_mean = float(acc["dense"].mean())
for v in VARIANTS:
    k = v.key
    results.add(f"acc_{k}", acc[k], label=f"test accuracy, {label[k]}", paper=PAPER_ACC[k],
                source="text" + (" (α not stated)" if k != "dense" else ""), resolution=5.0 if k == "dense" else None,
                baseline=None if k == "dense" else dense_mean, paper_baseline=None if k == "dense" else PAPER_ACC["dense"],
                primary=f"02_headline/acc_{v.split}_a2" if v.alpha == 4 else None)
for v in VARIANTS[1:]:
    k = v.key
    rel = relative_improvement(acc[k], acc["dense"])  # paired per seed
    results.add(f"rel_{k}", rel, label=f"relative improvement over dense, {label[k]}", paper=PAPER_REL_FIG4A[k],
                source="Figure 4a, h=8", baseline=0.0, primary=f"03_load_sweeps/rel_h_{k}_m8_h8")
for v in VARIANTS:
    results.add(f"train_acc_{v.key}", train_acc[v.key], label=f"train accuracy, {label[v.key]}")
for v in VARIANTS:
    results.add(f"acc_per_nnz_{v.key}", accuracy_per_nonzero(acc[v.key], nonzeros[v.key]),
                label=f"accuracy per non-zero weight, {label[v.key]}", unit="%/weight")
results.add("count_floor", floors, label="count-of-ones floor (threshold on the number of ones)")
for v in VARIANTS[1:]:
    assert (nonzeros[v.key] <= dense_nnz).all(), "FPE must not add non-zero weights"

pvals = {v.key: paired_pvalue(acc[v.key], acc["dense"]) for v in VARIANTS[1:]}
qvals = dict(zip(pvals, benjamini_hochberg(list(pvals.values()))))
rows = ["| model | test accuracy (%) | train accuracy (%) | paper (%) | rel. improvement (%) | paper Fig. 4a (%) | p vs dense | q (BH) | verdict (accuracy) |",
        "|---|---|---|---|---|---|---|---|---|"]
for v in VARIANTS:
    k = v.key
    a, t = results[f"acc_{k}"], results[f"train_acc_{k}"]
    r = results.numbers.get(f"rel_{k}")
    rel_txt = f"{r.value:+.1f} ± {r.spread:.1f}" if r else "–"
    rows.append(f"| {label[k]} | {a.value:.1f} ± {a.spread:.1f} | {t.value:.1f} ± {t.spread:.1f} | {PAPER_ACC[k]} | {rel_txt} | "
                f"{PAPER_REL_FIG4A.get(k, '–')} | {pvals.get(k, float('nan')):.2g} | {qvals.get(k, float('nan')):.2g} | {a.verdict} |")
rows.append(f"| count-of-ones floor | {np.mean(floors):.1f} | | | | | | | |")
display(Markdown(f"**{len(SEEDS)} seeds**, {setup.warmup_epochs} + {setup.post_epochs} epochs, m = {setup.m}, h = {setup.h}, "
                 f"{dense_nnz} non-zero weights per model (biases not counted).\n\n" + "\n".join(rows)))

# %% tags=["finding"]
fig = accuracy_by_variant([label[v.key] for v in VARIANTS], [acc[v.key] for v in VARIANTS],
                          paper=[PAPER_ACC[v.key] for v in VARIANTS], floor=float(np.mean(floors)), keys=[v.key for v in VARIANTS])
fig.axes[0].set_title(f"8 clauses, 8 neurons: test accuracy over {len(SEEDS)} seeds (dots), mean ± std")
plt.show()

# %% [markdown]
# ## Learning curves and convergence
#
# The budget of epochs is fixed (the paper's 1000 + 1000); whether it was enough is stated by one
# rule, `fpe.training.convergence.PlateauRule`: a run has converged when its mean test accuracy over
# seeds gained less than 0.2 points over the last 20 % of its epochs; otherwise it is
# *budget-stopped*. The rule only labels the runs: nothing is chosen from the curves. The curves are
# test accuracy every `fpe.experiments.schedule.curve_stride` epochs (about 100 points per run,
# evaluated without drawing random numbers, so recording them changes no number): the dense net from
# its initialisation over all its epochs, each FPE net from its expansion (the dotted line) on, and
# FPE's label is taken over its post-expansion epochs.

# %%
conv = results.add_run_convergence(run, [v.key for v in VARIANTS], budget=f"{setup.warmup_epochs} + {setup.post_epochs} epochs")
fig = learning_curves(run, [(setup.m, setup.h)], [v.key for v in VARIANTS], labels=label,
                      converged={k: e["met"] for k, e in conv.items()})
fig.suptitle(f"learning curves, mean over {len(SEEDS)} seeds")
plt.show()
display(Markdown(results.convergence_text()))

# %% [markdown]
# ## All recorded numbers
#
# These rows are generated from `results/<profile>/02_headline.json`, which this notebook has just
# written; the book's results page reads the same file. The last cell checks every number against
# the stored reference for this profile (tolerance, `fpe.book.results.reference_tolerance`: 3 times
# the number's float-order gap, measured between the native and the PyTorch training backends on the
# same seeds, at least 0.5 points for percentages) and fails loudly if one moved.

# %%
results.meta.update(setup=setup.__dict__, seeds=SEEDS, variants=[v.key for v in VARIANTS],
                    p_values_vs_dense=pvals, q_values_vs_dense=qvals)
results.save()
display(Markdown(results.table() + "\n\n" + results.convergence_text()))

# %%
gaps = results.check_references()
print(f"all {len(gaps)} numbers within their stored tolerance; largest gap {max(gaps.values()):.3g}")

# %% [markdown]
# ## Reading the result
#
# The verdict column above is computed, not written: read it for the current run. What the
# recorded numbers support, in the terms of the paper's claims:
#
# - **Claim 1** (clause-aligned splitting raises accuracy at the same non-zero count) is tested by
#   the clause-split rows and their p-values against dense.
# - **Claim 2** (a random split recovers much of that gain) is tested by the random-split rows.
# - The dense model's accuracy depends on choices the paper leaves open (data size, learning
#   rate, sampling rule); the count-of-ones floor shows how much of it the task's sampling rule
#   gives away for free. The chapter on load sweeps calibrates these choices on dense-only
#   evidence.
