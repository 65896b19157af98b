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
# # CNNs trained end to end: FPE in the head and in the channels
#
# **Overview.** The later version of the paper adds a CNN backbone trained together with its
# classifier on CIFAR-100, and says that widening at a fixed non-zero count gives gains that "hold
# across widths" and are "biggest where the network is narrowest" ({ref}`paper-7`, item 1); the
# abstract counts CNNs among the models where FPE "consistently increases accuracy". The version we
# could read gives no numbers for it and does not say where in the CNN FPE acts. This chapter trains
# a small CNN (two convolution blocks, an embedding, an MLP head with one hidden layer) end to end
# on **CIFAR-10, a labelled substitute for CIFAR-100** (no CIFAR-100 copy is available), and on
# **FashionMNIST** as a second data set, at several widths, dense against FPE at the same number of
# non-zero weights, in two places:
#
# - **(a) the head's hidden layer** over the jointly trained backbone (ids `head_`), the later
#   version's setting as far as it is described, at `alpha` = 2 and 4;
# - **(b) the channels of both convolution layers** (`fpe.method.conv.expand_cnn`, ids `channel_`), a
#   question the paper leaves open, at `alpha` = 2.
#
# Two claims are tested: the gain over dense is positive at every width (paired t-tests over
# held-out seeds, Benjamini-Hochberg over the widths), and it is largest at the smallest width (the
# paired difference smallest minus largest width, ids `small_minus_large_`), each per data set and
# variant. Every number is recorded with no paper value (`paper=None`) and labelled as on a
# substitute (CIFAR-10 for CIFAR-100; as far as we could read it, the later version runs its CNN on
# CIFAR-100 alone, so FashionMNIST is a second data set of ours, not a comparison).
#
# **Prerequisites.** Chapter 01 (the method) and the CNN form of FPE in `fpe.method.conv`. Runs on its own.
# The models train as one batched program (`fpe.training.cnn`, grouped convolutions over an
# instances dimension), in cached jobs that run side by side on every core (`fpe.runtime.jobs`). The
# `paper` profile is cut to fit about 25 CPU core-minutes (the cuts are listed below and one of them
# is measured); finished runs are cached under `.cache/`.

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
                    "-e", DEST + "[colab]"], check=True)
    sys.path.insert(0, DEST)
    os.environ["FPE_ROOT"] = DEST

# %% tags=["parameters"]
profile = "paper"  # @param ["quick", "paper"]  ("quick" (CI: 2 seeds, 2 widths, 1000 images, 1 + 1 epochs) or "paper" (10 seeds, 3 widths, 10,000 images, 6 + 6 epochs))
progress = True  # @param {type:"boolean"}  (progress bars for interactive use; the book build turns them off)

# %% [markdown]
# ## Setup and assumptions
#
# **[house]** The model of width `w` (`fpe.experiments.cnn.backbone_cnn`): `Conv2d(C, w, 3x3)`,
# BatchNorm, ReLU, 2x2 max-pool; `Conv2d(w, 2w, 3x3)`, BatchNorm, ReLU, 2x2 max-pool; Flatten; the
# embedding `Linear(., 4w)` with ReLU; the head `Linear(4w, w)`, ReLU, `Linear(w, 10)`. The
# convolutions have no bias (the BatchNorm after them has one); `C` is 3 for CIFAR-10 and 1 for
# FashionMNIST. Widths `w` in {4, 8, 16} (paper profile): the head's hidden layer has `w` neurons, as
# narrow as the paper's narrowest heads.
#
# **[house]** Schedule (the book's, chapter 03): `warmup` epochs dense, then FPE with the random split,
# then `post` epochs with a fresh Adam and fixed masks; the dense baseline trains the same
# `warmup + post` epochs with its own optimiser state. Adam at 1e-3 (PyTorch's default, not tuned),
# minibatch 128, cross-entropy. Every model of one seed starts from the same dense initialisation and
# sees the same minibatches (paired design, `fpe.repro.stream`); the seeds are the held-out block
# `fpe.repro.seeds(n)`, cut into fixed chunks of `seed_chunk` = 5 per job (a number, never the core
# count, so the results are the same on any machine). Relative improvement is
# `(acc_FPE - acc_dense) / acc_dense * 100 %` per seed, on the 10,000 test images of each data set
# (quick profile: a fixed random 1,000 of them).
#
# **[house]** Where FPE acts. (a) head: `fpe.method.conv.expand_cnn` on the head (`Linear(4w, w)`, ReLU,
# `Linear(w, 10)`): each hidden neuron becomes `alpha` children reading disjoint parts of its inputs,
# and one magnitude prune over the two head layers restores their non-zero count; `alpha` = 2 and 4.
# (b) channel: `expand_cnn` on the backbone up to the embedding: each filter of both conv layers
# becomes 2 children, the next layer copies its weights per child, BatchNorm entries are copied, and
# one global prune over the two conv layers and the embedding restores their count. In both, the
# whole model keeps exactly the dense model's non-zero count (checked below).
#
# **[house] The cuts** (the paper's schedule is 25 + 25 epochs over the whole training set, with a
# 256- or 512-dimensional embedding): 10,000 training images of each data set (a fixed random
# subset, the same for every seed), images average-pooled to 16x16 (CIFAR-10 from 32x32;
# FashionMNIST's 28x28 zero-padded to 32x32 first, `fpe.experiments.cnn.image_tensors`), embeddings
# of 16-64 dimensions, 6 + 6 epochs, 10 seeds, the random split only, and channel FPE at `alpha` = 2
# only: at `alpha` = 4 its second convolution is 16 times the dense one, and one epoch of it costs
# about 3 times one of channel FPE at `alpha` = 2. The section "How much the epoch cut moves the
# result" repeats the smallest width on CIFAR-10 with twice the epochs.

# %%
import json
import time

T_START = time.perf_counter()
T_CPU = time.process_time()
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from fpe.book.results import Results
from fpe.book.verdicts import significance_word
from fpe.datasets.loaders import load_cifar10, load_fashion_mnist
from fpe.experiments.cnn import CNNSetup, backbone_cnn, channel_fpe, head_fpe, image_tensors, run_cnn, variant_key
from fpe.metrics import benjamini_hochberg, mean_std, paired_pvalue, relative_improvement
from fpe.book.plot import color, use_style
from fpe.repro import generator, seeds, set_determinism
from fpe.training.cnn import CNNTrainer, copy_models, fit_per_model
from fpe.training.convergence import PlateauRule

use_style()  # the book's figure style (fpe.book.plot)

PROFILES = {
    "quick": dict(seeds=2, widths=[4, 8], n_train=1000, n_test=1000, epochs=1, cut_epochs=2),
    "paper": dict(seeds=10, widths=[4, 8, 16], n_train=10_000, n_test=10_000, epochs=6, cut_epochs=12),
}
if profile not in PROFILES:
    raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
cfg = PROFILES[profile]
SEEDS = seeds(cfg["seeds"])  # held out
THREADS = set_determinism()
WIDTHS = cfg["widths"]
W_SMALL, W_LARGE = WIDTHS[0], WIDTHS[-1]
VARIANTS = [("head", 2), ("head", 4), ("channel", 2)]  # (place, alpha)
VKEYS = [variant_key(p, a) for p, a in VARIANTS]
CUT_VARIANTS = [("head", 2), ("channel", 2)]  # the cut check's variants (CIFAR-10, smallest width)
LOADERS = {"cifar10": load_cifar10, "fashion": load_fashion_mnist}  # id slug -> loader
setup = CNNSetup(n_train=cfg["n_train"], warmup_epochs=cfg["epochs"], post_epochs=cfg["epochs"])
setup_cut = CNNSetup(n_train=cfg["n_train"], warmup_epochs=cfg["cut_epochs"], post_epochs=cfg["cut_epochs"])
PLACE_LABEL = {"head": "FPE on the head's hidden layer", "channel": "channel FPE on the conv layers"}
LABEL = {variant_key(p, a): f"{PLACE_LABEL[p]}, α={a}" for p, a in VARIANTS + CUT_VARIANTS}
COLOR = {"head_a2": color("random_a2"), "head_a4": color("random_a4"), "channel_a2": color("clause_a2")}
results = Results("09_cnn", profile)
timings = {}
print(f"profile={profile}: {len(SEEDS)} seeds, widths {WIDTHS}, {setup.warmup_epochs} + {setup.post_epochs} epochs, "
      f"variants {VKEYS}, data {list(LOADERS)}, {THREADS} thread(s)")
print(setup)

# %% [markdown]
# ## Data
#
# CIFAR-10 and FashionMNIST from the project's copies (`fpe.datasets.loaders`), as raw images; the
# subset, padding, pooling and per-channel normalisation are `fpe.experiments.cnn.image_tensors`.

# %%
t = time.perf_counter()
DATA = {}
for d, load in LOADERS.items():
    ds = load(progress=progress)
    DATA[d] = (ds, image_tensors(ds.x_train, ds.y_train, ds.x_test, ds.y_test, n_train=setup.n_train, n_test=cfg["n_test"],
                                 image_size=setup.image_size))
    x = DATA[d][1]
    print(f"{ds.name}: {len(x[0])} training images {tuple(x[0].shape[1:])}, {len(x[2])} test images, {len(ds.classes)} classes")
NAME = {d: DATA[d][0].name for d in DATA}
timings["load"] = time.perf_counter() - t

# %% [markdown]
# ## Train
#
# One call of `fpe.experiments.cnn.run_cnn` per data set: the dense models of every seed and width,
# then every FPE variant of their warm-up weights, as cached jobs on every core.

# %%
t = time.perf_counter()
RUNS = {d: run_cnn(setup, WIDTHS, SEEDS, data, tag=ds.data_key, variants=VARIANTS, progress=progress)
        for d, (ds, data) in DATA.items()}
timings["train"] = time.perf_counter() - t
for d, run in RUNS.items():
    for v in VKEYS:
        for w in WIDTHS:
            assert torch.equal(run["nonzeros"][v, w], run["nonzeros"]["dense", w]), "FPE keeps the dense non-zero count"
print({k: f"{s:.0f} s" for k, s in timings.items()}, "(train: 0 if cached); CPU seconds of the jobs when computed:",
      {d: {k: round(v) for k, v in run["seconds"].items()} for d, run in RUNS.items()})

# %% [markdown]
# ## Learning curves and convergence
#
# The budget of epochs is fixed (the cuts above); whether it was enough is stated by one rule,
# `fpe.training.convergence.PlateauRule`: a run has converged when its mean test accuracy over seeds
# gained less than 0.2 points over the last 20 % of its epochs; otherwise it is *budget-stopped*. The
# rule only labels the runs: nothing is chosen from these curves. They are measured after every epoch
# on a fixed subset of the test images (`curve_examples`, evenly spaced over the test set) and show the
# dense baseline over all its epochs and each FPE model from its expansion on (its warm-up is the dense
# curve's first epochs). FPE's label is taken over its post-expansion epochs.

# %%
RULE = PlateauRule()
W_EP = setup.warmup_epochs
N_EP = setup.warmup_epochs + setup.post_epochs
conv = {}
for d, run in RUNS.items():
    CURVES = run["curves"]
    for w in WIDTHS:
        conv[d, "dense", w] = results.add_convergence(f"dense_{d}_w{w}", RULE.check(CURVES["dense"][w]["acc"].mean(0).tolist()),
                                                      budget=f"{setup.warmup_epochs} + {setup.post_epochs} epochs")
        for v in VKEYS:
            conv[d, v, w] = results.add_convergence(f"{v}_{d}_w{w}", RULE.check(CURVES[v][w]["acc"].mean(0).tolist()),
                                                    budget=f"{setup.post_epochs} epoch{'s' * (setup.post_epochs != 1)} after the expansion")
    fig, axes = plt.subplots(2, len(WIDTHS), figsize=(4.2 * len(WIDTHS), 6.2), constrained_layout=True, squeeze=False)
    for j, w in enumerate(WIDTHS):
        ax_a, ax_l = axes[0, j], axes[1, j]
        ax_a.plot(range(N_EP + 1), CURVES["dense"][w]["acc"].mean(0), marker="o", ms=3, color=color("dense"),
                  label="dense" + ("" if conv[d, "dense", w]["met"] else " (budget-stopped)"))
        ax_l.plot(range(1, N_EP + 1), CURVES["dense"][w]["loss"].mean(0), marker="o", ms=3, color=color("dense"), label="dense")
        for v in VKEYS:
            ax_a.plot(range(W_EP, N_EP + 1), CURVES[v][w]["acc"].mean(0), marker="o", ms=3, color=COLOR[v],
                      label=LABEL[v] + ("" if conv[d, v, w]["met"] else " (budget-stopped)"))
            ax_l.plot(range(W_EP + 1, N_EP + 1), CURVES[v][w]["loss"].mean(0), marker="o", ms=3, color=COLOR[v], label=LABEL[v])
        for ax in (ax_a, ax_l):
            ax.axvline(W_EP, color="0.6", lw=0.8, ls=":")
        ax_a.set(title=f"{NAME[d]}, w={w}", xlabel="epoch", ylabel=f"test accuracy (%, {CURVES['examples']} images)")
        ax_l.set(xlabel="epoch", ylabel="mean training loss")
        ax_a.legend(fontsize=7)
    fig.suptitle(f"{NAME[d]}: learning curves, mean over {len(SEEDS)} seeds (dotted: the expansion after {W_EP} warm-up epochs)")
    plt.show()
DENSE_IDS = [f"dense_{d}_w{w}" for d in RUNS for w in WIDTHS]
CONVERGENCE = results.convergence_text(DENSE_IDS)
display(Markdown(CONVERGENCE + " " + results.convergence_text([f"{v}_{d}_w{w}" for d in RUNS for v in VKEYS for w in WIDTHS])
                 .replace("**Convergence**", "**FPE after the expansion**")))

# %% [markdown]
# ## Relative improvement against width
#
# Mean ± std over seeds; `*`: q < 0.05 in the paired t-test against dense (Benjamini-Hochberg over
# the widths of each data set and variant).

# %% tags=["finding"]
rel = {(d, v, w): np.asarray(relative_improvement(RUNS[d][v][w], RUNS[d]["dense"][w])) for d in RUNS for v in VKEYS for w in WIDTHS}
pval = {(d, v, w): paired_pvalue(RUNS[d][v][w].numpy(), RUNS[d]["dense"][w].numpy()) for d in RUNS for v in VKEYS for w in WIDTHS}
qval = {}
for d in RUNS:
    for v in VKEYS:
        qval.update(zip([(d, v, w) for w in WIDTHS], benjamini_hochberg([pval[d, v, w] for w in WIDTHS])))
fig, axes = plt.subplots(len(RUNS), 2, figsize=(11, 3.8 * len(RUNS)), constrained_layout=True, squeeze=False)
for i, (d, run) in enumerate(RUNS.items()):
    for v in VKEYS:
        mean, std = np.array([mean_std(rel[d, v, w]) for w in WIDTHS]).T
        axes[i, 0].errorbar(WIDTHS, mean, yerr=std, marker="o", ms=4, capsize=3, color=COLOR[v], label=LABEL[v])
        for w, mu, sd in zip(WIDTHS, mean, std):
            if qval[d, v, w] < 0.05:
                axes[i, 0].annotate("*", (w, mu + sd), ha="center", va="bottom", color=COLOR[v], fontsize=11)
    axes[i, 0].axhline(0, color="0.5", lw=0.8)
    axes[i, 0].set(xscale="log", xticks=WIDTHS, xticklabels=WIDTHS, xlabel="width w (head neurons before FPE)",
                   ylabel="relative improvement over dense (%)", title=f"{NAME[d]}: gain of FPE at equal non-zeros")
    axes[i, 0].legend(fontsize=8)
    for key, lab, c in [("dense", "dense", "0.3"), *((v, LABEL[v], COLOR[v]) for v in VKEYS)]:
        mean, std = np.array([mean_std(run[key][w].numpy()) for w in WIDTHS]).T
        axes[i, 1].errorbar(WIDTHS, mean, yerr=std, marker="o", ms=4, capsize=3, color=c, label=lab)
    axes[i, 1].set(xscale="log", xticks=WIDTHS, xticklabels=WIDTHS, xlabel="width w", ylabel="test accuracy (%)",
                   title=f"{NAME[d]}: test accuracy")
    axes[i, 1].legend(fontsize=8)
for ax in axes.flat:
    ax.minorticks_off()  # only the widths on the log axis
fig.suptitle(f"CNNs on substitutes for the later version's CIFAR-100, {len(SEEDS)} seeds, mean ± std")
plt.show()

# %% [markdown]
# ## The claims, tested
#
# **Consistent gains** (abstract; later version): per data set, variant and width, the paired
# two-sided t-test of FPE against dense over seeds, Benjamini-Hochberg over the widths of each data
# set and variant. The claim holds at a width when the mean gain is positive with q < 0.05. **Largest
# at the smallest width** (later version): per data set and variant, the paired difference over seeds
# of the relative improvement at `w` = smallest minus at `w` = largest, two-sided paired t-test,
# Benjamini-Hochberg over all these tests.

# %%
SUB = {d: f"{NAME[d]} substitutes for the later version's CIFAR-100" for d in RUNS}


for d, run in RUNS.items():
    for w in WIDTHS:
        results.add(f"dense_acc_{d}_w{w}", run["dense"][w].numpy(), substitute=True,
                    label=f"{NAME[d]}: dense CNN test accuracy, w={w}, {setup.warmup_epochs + setup.post_epochs} epochs")
        results.add(f"dense_warmup_acc_{d}_w{w}", run["dense_warmup"][w].numpy(), substitute=True,
                    label=f"{NAME[d]}: dense CNN test accuracy after the {setup.warmup_epochs}-epoch warm-up, w={w}")
status = {}
for d, run in RUNS.items():
    for (p, a), v in zip(VARIANTS, VKEYS):
        for w in WIDTHS:
            r = rel[d, v, w]
            status[d, v, w] = significance_word(r.mean(), qval[d, v, w])
            results.add(f"{p}_acc_a{a}_{d}_w{w}", run[v][w].numpy(), substitute=True, label=f"{NAME[d]}: {LABEL[v]}: test accuracy, w={w}")
            results.add(f"{p}_rel_a{a}_{d}_w{w}", r, baseline=0.0, substitute=True,
                        label=f"{NAME[d]}: {LABEL[v]}: relative improvement over dense, w={w} (later version: positive)",
                        note=f"{SUB[d]}; paired t-test against dense p={pval[d, v, w]:.3g}, BH q={qval[d, v, w]:.3g} over "
                             f"{len(WIDTHS)} widths; 'consistently increases accuracy' {status[d, v, w]}")
            results.add(f"{p}_rel_a{a}_{d}_w{w}_q", qval[d, v, w], unit="q", label=f"{NAME[d]}: BH q-value of {LABEL[v]} against dense, w={w}")
SL = [(d, p, a, v) for d in RUNS for (p, a), v in zip(VARIANTS, VKEYS)]
diff = {(d, v): rel[d, v, W_SMALL] - rel[d, v, W_LARGE] for d, _, _, v in SL}
p_sl = {(d, v): paired_pvalue(rel[d, v, W_SMALL], rel[d, v, W_LARGE]) for d, _, _, v in SL}
q_sl = dict(zip([(d, v) for d, _, _, v in SL], benjamini_hochberg([p_sl[d, v] for d, _, _, v in SL])))
sl_status = {(d, v): significance_word(diff[d, v].mean(), q_sl[d, v]) for d, _, _, v in SL}
for d, p, a, v in SL:
    results.add(f"small_minus_large_{p}_a{a}_{d}", diff[d, v], baseline=0.0, substitute=True,
                label=f"{NAME[d]}: {LABEL[v]}: relative improvement at w={W_SMALL} minus at w={W_LARGE} (later version: positive)",
                note=f"{SUB[d]}; paired over seeds, p={p_sl[d, v]:.3g}, BH q={q_sl[d, v]:.3g} over {len(SL)} tests; "
                     f"'largest at the smallest width' {sl_status[d, v]}")
    results.add(f"small_minus_large_{p}_a{a}_{d}_q", q_sl[d, v], unit="q",
                label=f"{NAME[d]}: BH q-value of smallest minus largest width, {LABEL[v]}")
rows = ["| data | variant | " + " | ".join(f"w={w} (%)" for w in WIDTHS) + f" | w={W_SMALL} minus w={W_LARGE} (points) | BH q | largest at the smallest width |",
        "|---|---|" + "---|" * len(WIDTHS) + "---|---|---|"]
for d, p, a, v in SL:
    num = results[f"small_minus_large_{p}_a{a}_{d}"]
    rows.append(f"| {NAME[d]} | {LABEL[v]} | " + " | ".join(
        f"{rel[d, v, w].mean():+.1f} ± {rel[d, v, w].std(ddof=1):.1f}{'*' if qval[d, v, w] < 0.05 else ''}" for w in WIDTHS)
        + f" | {num.value:+.1f} ± {num.spread:.1f} | {q_sl[d, v]:.2g} | {sl_status[d, v]} |")
for d in RUNS:
    rows.append(f"| {NAME[d]} | dense accuracy (%) | " + " | ".join(f"{RUNS[d]['dense'][w].mean():.1f}" for w in WIDTHS) + " | | | |")
display(Markdown("\n".join(rows) + "\n\nDense baselines. " + CONVERGENCE))

# %% [markdown]
# ## How much the epoch cut moves the result
#
# The smallest width on CIFAR-10 again, with twice the epochs in both phases (the same seeds, data
# and streams), for the `alpha` = 2 variants, so the gain at the cut schedule can be compared with the
# gain at a longer one (paired over seeds).

# %%
t = time.perf_counter()
CUT_D = "cifar10"
CUT_KEYS = [variant_key(p, a) for p, a in CUT_VARIANTS]
run_cut = run_cnn(setup_cut, [W_SMALL], SEEDS, DATA[CUT_D][1], tag=DATA[CUT_D][0].data_key, variants=CUT_VARIANTS, progress=progress)
timings["train_cut_check"] = time.perf_counter() - t
results.add_convergence(f"dense_{CUT_D}_w{W_SMALL}_twice_the_epochs", RULE.check(run_cut["curves"]["dense"][W_SMALL]["acc"].mean(0).tolist()),
                        budget=f"{setup_cut.warmup_epochs} + {setup_cut.post_epochs} epochs (the cut check)")
cut_move, cut_rel = {}, {}
for v in CUT_KEYS:
    cut_rel[v] = np.asarray(relative_improvement(run_cut[v][W_SMALL], run_cut["dense"][W_SMALL]))
    cut_move[v] = cut_rel[v] - rel[CUT_D, v, W_SMALL]
    results.add(f"cut_{v}_rel_{CUT_D}_w{W_SMALL}_epochs{2 * setup_cut.post_epochs}", cut_rel[v], baseline=0.0, substitute=True,
                label=f"{NAME[CUT_D]}: {LABEL[v]}: relative improvement, w={W_SMALL}, {setup_cut.warmup_epochs} + {setup_cut.post_epochs} epochs",
                note=f"paired t-test against dense p={paired_pvalue(run_cut[v][W_SMALL].numpy(), run_cut['dense'][W_SMALL].numpy()):.3g}")
    results.add(f"cut_{v}_shift_{CUT_D}_w{W_SMALL}", cut_move[v], baseline=0.0, substitute=True,
                label=f"{NAME[CUT_D]}: {LABEL[v]}: relative improvement with twice the epochs minus at the cut schedule, w={W_SMALL}",
                note=f"paired over seeds, p={paired_pvalue(cut_rel[v], rel[CUT_D, v, W_SMALL]):.3g}")
results.add(f"cut_dense_acc_{CUT_D}_w{W_SMALL}_epochs{2 * setup_cut.post_epochs}", run_cut["dense"][W_SMALL].numpy(), substitute=True,
            label=f"{NAME[CUT_D]}: dense CNN test accuracy, w={W_SMALL}, {setup_cut.warmup_epochs} + {setup_cut.post_epochs} epochs")
display(Markdown("| variant | gain at " + f"{setup.warmup_epochs} + {setup.post_epochs} epochs (%) | gain at {setup_cut.warmup_epochs} + "
                 f"{setup_cut.post_epochs} epochs (%) | shift (points) |\n|---|---|---|---|\n" + "\n".join(
                     f"| {LABEL[v]} | {rel[CUT_D, v, W_SMALL].mean():+.1f} ± {rel[CUT_D, v, W_SMALL].std(ddof=1):.1f} | "
                     f"{cut_rel[v].mean():+.1f} ± {cut_rel[v].std(ddof=1):.1f} | "
                     f"{cut_move[v].mean():+.1f} ± {cut_move[v].std(ddof=1):.1f} |" for v in CUT_KEYS)))

# %% [markdown]
# ## The batched trainer against a per-model loop
#
# One epoch over 1,000 of the CIFAR-10 training images for the chapter's post-FPE grid at `alpha` = 2
# (dense, head and channel models of every seed and width), once with `fpe.training.cnn.CNNTrainer`
# and once with a plain `nn.Sequential` + `torch.optim.Adam` loop (`fpe.training.cnn.fit_per_model`),
# CPU time of this process. `make bench` (`benchmarks/cnn_speed.py`) measures the same with repeats.

# %%
def speed_grid():
    models, si = [], []
    for k, s in enumerate(SEEDS):
        for w in WIDTHS:
            d = backbone_cnn(w, image_size=setup.image_size, generator=generator(s, "cnn-speed", w))
            models += [d, head_fpe(d, 2, generator=generator(s, "cnn-speed-split", w)),
                       channel_fpe(d, 2, generator=generator(s, "cnn-speed-split", w))]
            si += [k] * 3
    return copy_models(models), si


x_s, y_s = DATA["cifar10"][1][0][:1000], DATA["cifar10"][1][1][:1000]
models, si = speed_grid()
c = time.process_time()
CNNTrainer(models, x_s, y_s, si, lr=setup.lr, batch_size=setup.batch_size).fit(1, [generator(s, "cnn-speed-order") for s in SEEDS])
cpu_batched = time.process_time() - c
models, si = speed_grid()
c = time.process_time()
fit_per_model(models, x_s, y_s, si, lr=setup.lr, batch_size=setup.batch_size, epochs=1,
              order_generators=[generator(s, "cnn-speed-order") for s in SEEDS])
cpu_loop = time.process_time() - c
results.add("speed_ratio_batched_vs_loop", cpu_loop / cpu_batched, unit="x", checked=False,
            label=f"CPU time of the per-model loop / the batched trainer, one epoch over 1,000 images, {len(models)} models")
print(f"{len(models)} models: batched {cpu_batched:.2f} s, per-model loop {cpu_loop:.2f} s of CPU, ratio {cpu_loop / cpu_batched:.2f}x")

# %% [markdown]
# ## What this shows

# %%
timings["total_notebook"] = time.perf_counter() - T_START
cpu_total = time.process_time() - T_CPU
RECORD = results.run_record()
# the CPU minutes of the latest run from an empty cache (this run's jobs and kernel, or kept from the previous result file)
_prev = json.loads(results.path.read_text()) if results.path.is_file() else {}
_prev_cold = _prev.get("meta", {}).get("cpu_minutes_cold")
JOB_CPU = sum(sum(run["seconds"].values()) for run in RUNS.values()) + sum(run_cut["seconds"].values())
CPU_COLD = (cpu_total + JOB_CPU) / 60 if RECORD["cache_hits"] == 0 else _prev_cold
RATIO = cpu_loop / cpu_batched
WHY = ("on a CPU the convolutions, BatchNorm and pooling of these small models are bound by arithmetic and memory "
       "traffic, which batching does not reduce; it saves only the Python and dispatch overhead" if RATIO < 2 else
       "batching saves the per-model Python and dispatch overhead")


def fmt_variant(d, v):
    return "; ".join(f"w={w}: {rel[d, v, w].mean():+.1f} ± {rel[d, v, w].std(ddof=1):.1f} % (q={qval[d, v, w]:.2g}, {status[d, v, w]})"
                     for w in WIDTHS)


def data_paragraph(d):
    run = RUNS[d]
    accs = ", ".join(f"{run['dense'][w].mean():.1f} %" for w in WIDTHS)
    lines = [f"**{NAME[d]}.** Dense test accuracy {accs} from the narrowest "
             f"to the widest (std over seeds {run['dense'][W_SMALL].std():.1f} points at w={W_SMALL}, "
             f"{run['dense'][W_LARGE].std():.1f} at w={W_LARGE})."]
    for v in VKEYS:
        n_h = sum(status[d, v, w] == "holds" for w in WIDTHS)
        n_r = sum(status[d, v, w] == "reversed" for w in WIDTHS)
        lines.append(f"- {LABEL[v]}: {fmt_variant(d, v)}. \"Consistently increases accuracy\" holds at {n_h} of {len(WIDTHS)} widths "
                     f"and is reversed at {n_r}; smallest minus largest width {diff[d, v].mean():+.1f} ± {diff[d, v].std(ddof=1):.1f} "
                     f"points (q={q_sl[d, v]:.2g}): \"largest at the smallest width\" {sl_status[d, v]}.")
    return "\n".join(lines)


N_HOLDS = sum(s == "holds" for s in status.values())
N_REV = sum(s == "reversed" for s in status.values())
N_SL = sum(s == "holds" for s in sl_status.values())
SUMMARY = f"""
**Setting.** A {len(WIDTHS)}-width CNN (w in {WIDTHS}) trained end to end on {setup.n_train} training images of each of
{" and ".join(NAME.values())} at {setup.image_size}x{setup.image_size}, {setup.warmup_epochs} + {setup.post_epochs} epochs,
{len(SEEDS)} held-out seeds, the random split; FPE on the head's hidden layer at α = {" and ".join(str(a) for p, a in VARIANTS if p == "head")}
and on the conv channels at α = {" and ".join(str(a) for p, a in VARIANTS if p == "channel")}. CIFAR-10 stands in for the later
version's CIFAR-100 and FashionMNIST is a data set of ours; our heads are narrower and our schedule shorter, so these are tests of the
claims' direction, not comparisons with numbers (the later version gives none). Over all {len(status)} tests (data set x variant x
width) "consistently increases accuracy" holds at {N_HOLDS} and is reversed at {N_REV}; "largest at the smallest width" holds in
{N_SL} of {len(sl_status)}.

{data_paragraph("cifar10")}

{data_paragraph("fashion")}

{results.convergence_text(DENSE_IDS + [f"dense_{CUT_D}_w{W_SMALL}_twice_the_epochs"])}

**The cut.** With twice the epochs ({setup_cut.warmup_epochs} + {setup_cut.post_epochs}) on {NAME[CUT_D]} at w={W_SMALL} the gain
moves by {"; ".join(f"{cut_move[v].mean():+.1f} ± {cut_move[v].std(ddof=1):.1f} points for {LABEL[v]}" for v in CUT_KEYS)}, and
dense accuracy from {RUNS[CUT_D]["dense"][W_SMALL].mean():.1f} % to {run_cut["dense"][W_SMALL].mean():.1f} %. Still cut, and not
measured here: the full training sets, 32x32 images, 256- to 512-dimensional embeddings, the paper's 25 + 25 epochs, channel FPE at
α = 4 and the Gram split.

**Cost.** The batched trainer took {cpu_batched:.2f} s of CPU for one epoch of the {len(models)}-model grid over 1,000 images,
the per-model loop {cpu_loop:.2f} s ({RATIO:.1f}x; {WHY}). This run took {timings['total_notebook']:.0f} s of wall time and
{cpu_total / 60:.1f} CPU minutes of this kernel ({THREADS} training thread(s) per process); {results.cold_text()}{f" and {CPU_COLD:.1f} CPU minutes (kernel and jobs)" if CPU_COLD is not None else ""}.
"""
display(Markdown(SUMMARY))

# %% [markdown]
# ## All recorded numbers
#
# Generated from `results/<profile>/09_cnn.json`; none has a paper value (the later version gives
# none), and all are on substitutes (CIFAR-10 for CIFAR-100, and FashionMNIST). The last cell checks
# every number against the stored reference for this profile.

# %%
timings["cpu_minutes_kernel"] = cpu_total / 60
results.meta.update(summary=SUMMARY)  # the findings page quotes it
results.meta.update(cpu_minutes_cold=CPU_COLD, setup={**setup.__dict__}, setup_cut_check={**setup_cut.__dict__}, seeds=SEEDS, widths=WIDTHS,
                    variants=VARIANTS, cut_variants=CUT_VARIANTS, data_keys=list(RUNS), profile_config=cfg, threads=THREADS, timings=timings,
                    train_cpu_seconds={d: run["seconds"] for d, run in RUNS.items()},
                    cut_check_cpu_seconds=run_cut["seconds"], data=list(NAME.values()),
                    significance="scipy.stats.ttest_rel, two-sided; Benjamini-Hochberg over the widths of each data set and "
                                 "variant, and separately over all smallest-minus-largest tests",
                    substitute=f"{' and '.join(NAME.values())} for the later version's CIFAR-100",
                    cuts=f"{cfg['n_train']:,}-image subsets, 16x16 images, {cfg['epochs']} + {cfg['epochs']} epochs, {len(SEEDS)} seeds, "
                         "head alpha 2 and 4, channel alpha 2, random split")
results.save()
display(Markdown(results.table() + "\n\n" + results.convergence_text()))

# %%
gaps = results.check_references()
print(f"all {len(gaps)} numbers within their stored tolerance; largest gap {max(gaps.values()):.3g}")
