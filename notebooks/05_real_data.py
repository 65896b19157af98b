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
# # Real data: FashionMNIST and classifiers over frozen pretrained embeddings
#
# **Overview.** The paper's claim that FPE helps beyond toy tasks (claim 4) rests on
# one-hidden-layer classifiers over FashionMNIST pixels and over frozen CLIP image embeddings of
# CIFAR-100, ImageNet-100 and ImageNet-1k: widening at a constant non-zero count helps, most at
# small widths (Figure 5), and the Gram split is about as good as a random split (the real-data
# table). None of CLIP, CIFAR-100 or ImageNet can be had offline, so this chapter runs the same
# experiment on what can:
#
# | paper | here | why |
# |---|---|---|
# | FashionMNIST, raw pixels | FashionMNIST, raw pixels (a training subset) | the paper's own data |
# | CIFAR-100 through CLIP ViT-B/32 (512-d) | CIFAR-10 (JPEG copy) through ImageNet-pretrained EfficientNet-Lite0, projected to 512-d | a frozen pretrained image encoder over natural images |
# | ImageNet-100 through CLIP (many classes) | WordNet-100 glosses through all-MiniLM-L6-v2 (384-d) | frozen pretrained embeddings, 100 classes |
#
# Every row of ours is labelled with what it substitutes for. The paper's own setting (CLIP ViT-B/32
# on CIFAR-100 and ImageNet-100, Figure 5's widths) is real code for readers with the internet and
# ideally a GPU, tested offline with synthetic archives and a randomly initialised CLIP: set
# `setting = "paper"` in the parameters (what it needs and costs: "The paper's own setting" below).
#
# **Prerequisites.** Chapter 1 (what `fpe.expand` does). Runs on its own. On a quiet 2-core CPU the
# `paper` profile takes about 8 minutes from an empty cache, embeddings included (measured: 7 min
# 51 s); on the same machine shared with other jobs (load average about 5) it took about 16 minutes
# of classifiers plus 15 of embeddings. Embeddings are then read from `.cache/embeddings/` and
# finished widths are cached too, so a re-run takes a minute. The
# timings recorded at the end of the chapter are those of the run that produced this page. Each
# width is one job (`fpe.runtime.jobs`), so the chapter run alone trains widths on every core.
# The `device` parameter trains on a GPU where there is one (Colab); this book's numbers were
# computed on the CPU (the provenance page's environment table says where each chapter ran). On a
# GPU the numbers differ within float summation order, so the final reference check reports the
# differences instead of failing.

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
profile = "paper"  # @param ["quick", "paper"]  ("quick" (CI: small subsets, 3 seeds, 5 + 5 epochs) or "paper" (10 seeds, 25 + 25 epochs))
progress = True  # @param {type:"boolean"}  (progress bars for interactive use; the book build turns them off)
device = "auto"  # @param ["auto", "cpu", "cuda"]  (where the classifiers train: "auto" takes a GPU where there is one)
setting = "substitute"  # @param ["substitute", "paper"]  ("substitute": the book's offline substitutes; "paper": CLIP ViT-B/32 on CIFAR-100 and ImageNet-100, see below)
imagenet_dir = ""  # @param {type:"string"}  (setting "paper": your ImageNet folder with train/ and val/ class folders; empty: FPE_IMAGENET_DIR)

# %% [markdown]
# ## Setup and assumptions
#
# **[paper]** one hidden ReLU layer, cross-entropy, 25 epochs dense, FPE, 25 more epochs; the dense
# baseline trains 50 epochs. FPE variants: random and Gram split, `alpha` 2 and 4.
# **[house]**, each a named parameter below: Adam, learning rate 1e-3, batch 256, PyTorch's default
# initialisation; FashionMNIST pixels scaled to [0, 1]; embeddings standardised with the training
# set's mean and std; the EfficientNet-Lite0 features (1280-d, images resized to 64 px, ImageNet
# normalisation, global average pool) are projected to CLIP's 512 dimensions by a fixed seeded
# Gaussian random projection; the Gram split clusters the rows of `W1^T W1` with k-means and
# rebalances to equal groups (`fpe.method.gram`). Training subsets are class-stratified and seeded; every
# variant of a seed sees the same data and minibatch order.
#
# **What the `paper` profile cuts, and why.** The schedule, the seeds (5), the splits and both
# `alpha` are the paper's; the data sizes are not. On a shared 2-core CPU the classifiers' cost is
# dominated by copying minibatches for every model instance (samples x input dimension x models), so
# the training sets are class-stratified subsets: FashionMNIST 5,000 of 60,000 images (all 10,000 test
# images); CIFAR-10 8,000 training and 4,000 test images embedded, of which 4,000 train the
# classifiers; WordNet-100 all of its 8,000 training glosses. The CIFAR width sweep stops at 64
# (the paper's goes to 128, where its gain is already under 1 %). Dense accuracies are therefore
# lower than with the full data sets, and small-data overfitting can move the gains at large widths.
#
# **The paper's own setting** (`setting = "paper"`, for readers with the internet and ideally a GPU,
# e.g. Colab with a GPU runtime). The chapter then runs the same code on the paper's data: FashionMNIST
# (all 60,000 training images in the `paper` profile), CIFAR-100 (`fpe.datasets.paper_data.load_cifar100`:
# the canonical `cifar-100-python.tar.gz`, checked against its published MD5, read from `FPE_DATA_DIR` or
# the user cache, else downloaded, about 170 MB) and ImageNet-100 (`load_imagenet100`: your own ImageNet copy in
# the usual class-folder layout, set `imagenet_dir`; the 100 classes are the CMC list of Tian et al. 2019,
# our assumption, since the paper does not list its classes), both through CLIP ViT-B/32 with OpenAI's
# weights (downloaded once, sha256-pinned, about 350 MB; `fpe.datasets.clip_features`), at the widths of the
# paper's Figure 5 (CIFAR-100: 4 to 128; ImageNet-100: 3 to 16) and `alpha` 2 and 4. Its numbers go to
# `results/<profile>/05_real_data_clip.json` (this page's numbers are never overwritten) and are not checked
# against stored references (there are none: this machine cannot compute them). **Cost:** the embeddings
# dominate; CLIP ViT-B/32 took about 0.06 CPU-seconds per image on this book's CPU (measured with random
# weights, one thread), so embedding CIFAR-100's 60,000 images costs about an hour of one CPU core and
# ImageNet-100's 135,000 about two and a half hours plus JPEG decoding; a GPU does this in minutes. Embeddings
# are cached, so only the first run pays. The classifiers then train on all the data (10 seeds, 5 variants,
# 6 and 10 widths): minutes on a GPU, an hour or more on a CPU. In Colab (a GPU runtime): run
# `!pip install --no-deps open_clip_torch==3.3.0` in a cell (it is not among the book's requirements),
# set `setting` in the form above, and run all.
#
# **WordNet-100 rule** (`fpe.datasets.loaders.load_wordnet100`): for every noun synset of WordNet 3.0 follow its
# first hypernym pointer up to `entity` (depth 0); a synset deeper than 5 is labelled by its ancestor
# at depth 5; the 100 ancestors with the most such synsets are the classes; each class keeps at most
# `per_class` synsets (a seeded sample) and holds out 20 % for testing; the text is the gloss's
# definition, without the quoted examples and without the synset's own words.

# %%
import time

T_START = time.perf_counter()
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from fpe.book.results import Results
from fpe.datasets.features import cifar10_features, fashion_features, wordnet_features
from fpe.experiments.realdata import sweep
from fpe.experiments.schedule import DENSE, Schedule, Variant
from fpe.metrics import accuracy_per_nonzero
from fpe.repro import seeds, set_determinism
from fpe.runtime.device import pick_device
from fpe.book.plot import color, learning_curves, percent_symlog, use_style

use_style()  # the book's figure style (fpe.book.plot)

PROFILES = {
    "quick": dict(seeds=3, epochs=5, fashion_train=2000, fashion_test=2000, fashion_widths=[3, 8],
                  cifar_embed=(400, 200), cifar_train=400, cifar_widths=[2, 16],
                  wordnet_classes=10, wordnet_per_class=40, wordnet_train=None, wordnet_widths=[3, 8]),
    "paper": dict(seeds=10, epochs=25, fashion_train=5000, fashion_test=None, fashion_widths=[3, 4, 6, 8, 10],
                  cifar_embed=(8000, 4000), cifar_train=4000, cifar_widths=[2, 4, 8, 16, 32, 64],
                  wordnet_classes=100, wordnet_per_class=100, wordnet_train=None, wordnet_widths=[3, 4, 5, 8, 16]),
}
# (quick uses the 10 largest WordNet classes only: 100 classes with a handful of glosses each give
# dense accuracies of 0 and an undefined relative improvement.)
# What the paper profile cuts to fit a quarter of an hour on a shared 2-core CPU (said in the text):
# training subsets (FashionMNIST 5,000 of 60,000; CIFAR-10 4,000 of 8,000 embedded of 50,000; the
# test sets: all 10,000 FashionMNIST, 4,000 CIFAR-10), CIFAR widths up to 64 instead of 128.
if profile not in PROFILES:
    raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
SETTINGS = ("substitute", "paper")
if setting not in SETTINGS:
    raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
cfg = PROFILES[profile]
SUBSTITUTE = setting == "substitute"
PAPER_DATA = {  # setting="paper": the paper's own data sets, Figure 5's widths
    "quick": dict(fashion_train=2000, fashion_test=2000, cifar100=(1000, 500), imagenet_per_class=10,
                  cifar100_widths=[4, 16], imagenet_widths=[3, 8]),
    "paper": dict(fashion_train=None, fashion_test=None, cifar100=(None, None), imagenet_per_class=None,
                  cifar100_widths=[4, 8, 16, 32, 64, 128], imagenet_widths=[3, 4, 5, 6, 7, 8, 10, 12, 14, 16]),
}
if not SUBSTITUTE:
    cfg = {**cfg, **PAPER_DATA[profile]}
# result ids and cache names per data-set slot: the substitutes keep theirs, the paper's data sets get their own
ID = {"fashion": "fashion", "cifar10": "cifar10", "wordnet": "wordnet"} if SUBSTITUTE else \
    {"fashion": "fashion", "cifar10": "cifar100", "wordnet": "imagenet100"}
IS_SUBSTITUTE = {k: SUBSTITUTE or (k == "fashion" and cfg["fashion_train"] is not None) for k in ID}  # a substitute or a subset
SEEDS = seeds(cfg["seeds"])  # held out: the "reported" block (1000, 1001, ...), never the calibration seeds
THREADS = set_determinism()
EMBED_THREADS = 2  # encoders use both cores; the classifiers use THREADS
LR, BATCH = 1e-3, 256
IMAGE_SIZE, PROJ_DIM = 64, 512
VARIANTS = [DENSE, Variant("random", 2), Variant("gram", 2), Variant("random", 4), Variant("gram", 4)]
FPE_VARIANTS = VARIANTS[1:]
results = Results("05_real_data" if SUBSTITUTE else "05_real_data_clip", profile)
DEVICE = results.device = pick_device(device)  # recorded in the environment report of the results file
timings = {}
print(f"profile={profile}: {len(SEEDS)} seeds, {cfg['epochs']} + {cfg['epochs']} epochs, classifiers on {DEVICE} "
      f"({THREADS} thread(s) on the CPU)")


def run(features, widths, name):
    t = time.perf_counter()
    out = sweep(features, widths, SEEDS, VARIANTS, schedule=Schedule(LR, BATCH, cfg["epochs"], cfg["epochs"]), progress=progress, device=DEVICE, config={"dataset": name, "profile": profile, "note": features.note,
                                                                      "n_train": len(features.y_train)})
    timings[f"train_{name}"] = time.perf_counter() - t
    return out


# %% [markdown]
# ## The data
#
# FashionMNIST is read from `FPE_DATA_DIR`, the Debian package `dataset-fashion-mnist`, the user
# cache, or downloaded (`fpe.datasets.loaders`); CIFAR-10 from the JPEG pack in `FPE_DATA_DIR` (or the canonical
# binary archive); WordNet from the Debian package `wordnet-base`. The embeddings are cached as
# float16 under `.cache/embeddings/`, so only the first run pays for them.

# %%
t = time.perf_counter()
fashion = fashion_features(cfg["fashion_train"], cfg["fashion_test"])
timings["load_fashion"] = time.perf_counter() - t
if SUBSTITUTE:
    cifar, cifar_info = cifar10_features(*cfg["cifar_embed"], size=IMAGE_SIZE, dim=PROJ_DIM,
                                         threads=EMBED_THREADS, progress=progress)
    cifar = cifar.subset(cfg["cifar_train"])
    timings["embed_cifar10_this_run"] = cifar_info["seconds_total"]
    timings["embed_cifar10_when_computed"] = cifar_info["seconds_embed"] + cifar_info["seconds_load"]
    wordnet, wordnet_info = wordnet_features(n_classes=cfg["wordnet_classes"], per_class=cfg["wordnet_per_class"], threads=EMBED_THREADS, progress=progress)
    wordnet = wordnet.subset(cfg["wordnet_train"])
    timings["embed_wordnet_this_run"] = wordnet_info["seconds_total"]
    timings["embed_wordnet_when_computed"] = wordnet_info["seconds_embed"]
    DATASETS = {"fashion": fashion, "cifar10": cifar, "wordnet": wordnet}
else:  # the paper's own setting: CLIP ViT-B/32 on CIFAR-100 and ImageNet-100 (see "The paper's own setting" above)
    from fpe.datasets.clip_features import clip_cifar100_features, clip_imagenet100_features

    import importlib.util

    if importlib.util.find_spec("open_clip") is None:  # fail before any download
        raise ImportError('setting="paper" needs open_clip: pip install --no-deps open_clip_torch==3.3.0 '
                          '(in Colab, run "!pip install --no-deps open_clip_torch==3.3.0" in a cell), then run again')
    CLIP_DEVICE = DEVICE  # the encoder runs where the classifiers train (the device parameter)
    cifar, cifar_info = clip_cifar100_features(*cfg["cifar100"], device=CLIP_DEVICE, threads=EMBED_THREADS, progress=progress)
    timings["embed_cifar100_this_run"] = cifar_info["seconds_total"]
    timings["embed_cifar100_when_computed"] = cifar_info["seconds_embed"]
    wordnet, wordnet_info = clip_imagenet100_features(imagenet_dir or None, per_class_train=cfg["imagenet_per_class"],
                                                      device=CLIP_DEVICE, threads=EMBED_THREADS, progress=progress)
    timings["embed_imagenet100_this_run"] = wordnet_info["seconds_total"]
    timings["embed_imagenet100_when_computed"] = wordnet_info["seconds_embed"]
    print(f"CLIP ViT-B/32 ran on {CLIP_DEVICE}")
    DATASETS = {"fashion": fashion, "cifar10": cifar, "wordnet": wordnet}
torch.set_num_threads(THREADS)
rows = ["| data set | substitutes for | inputs | classes | train | test | features |", "|---|---|---|---|---|---|---|"]
SUBST = {"fashion": "FashionMNIST (the paper's own)", "cifar10": "CIFAR-100 through CLIP", "wordnet": "ImageNet-100 through CLIP"}
if not SUBSTITUTE:
    SUBST = {k: "the paper's own" for k in SUBST}
for k, f in DATASETS.items():
    rows.append(f"| {f.name} | {SUBST[k]} | {f.dim} | {len(f.classes)} | {len(f.y_train)} | {len(f.y_test)} | {f.note} |")
display(Markdown("\n".join(rows)))
print(f"{wordnet.name} classes:", ", ".join(wordnet.classes))

# %% [markdown]
# ## Train: three width sweeps
#
# For each data set and width `h`: dense nets (one per seed) train 25 epochs, are expanded with every
# variant, and all nets train 25 more epochs (`fpe.experiments.realdata.sweep`, which calls
# `fpe.experiments.schedule.run_schedule` once per width and caches each finished width).

# %%
WIDTHS = {"fashion": cfg["fashion_widths"], "cifar10": cfg["cifar_widths"] if SUBSTITUTE else cfg["cifar100_widths"],
          "wordnet": cfg["wordnet_widths"] if SUBSTITUTE else cfg["imagenet_widths"]}
sweeps = {k: run(DATASETS[k], WIDTHS[k], ID[k]) for k in ("fashion", "cifar10", "wordnet")}
for k, sw in sweeps.items():
    h0 = min(sw.widths)
    nnz = {v.key: sorted(set(sw[h0, v.key].nonzeros.tolist())) for v in VARIANTS}
    print(f"{k}: non-zero weights at h={h0}: {nnz}")
    for h in sw.widths:
        for v in FPE_VARIANTS:
            assert (sw[h, v.key].nonzeros <= sw[h, "dense"].nonzeros).all(), "FPE must not add non-zeros"

# %% [markdown]
# ## Figure 5: relative improvement and accuracy per non-zero weight vs width
#
# Relative improvement is `(acc_FPE - acc_dense) / acc_dense * 100 %`, paired per seed; accuracy
# per parameter is test accuracy (%) over the non-zero weight count. Error bars: standard deviation
# over seeds. Crosses: the paper's Figure 5 values (alpha = 4; read off the figure) for the data set
# each of ours substitutes for.

# %% tags=["finding"]
PAPER_FIG5_READ = {  # alpha = 4, the paper, as we read it, section 5 (Figure 5, a log axis, read by eye): (low, high) per width
    "fashion": {3: (14, 17), 4: (2.3, 2.5), 6: (1.5, 1.7), 8: (0.85, 1.0), 10: (0.95, 1.1)},
    "cifar10": {4: (100, 100), 8: (150, 150), 16: (3.5, 3.5), 32: (0.7, 1.0), 64: (0.3, 0.4), 128: (0.2, 0.2)},
    "wordnet": {3: (55, 55), 4: (20, 20), 5: (11, 11), 6: (8, 8), 7: (5.5, 5.5), 8: (3.5, 4.0), 10: (2.3, 2.3), 12: (1.5, 1.5),
                14: (1.0, 1.0), 16: (0.6, 0.8)},
}
# the middle of a read range, and its uncertainty: half the range (the spread between the two series
# or the band) plus the 15 % reading uncertainty of a log axis
PAPER_FIG5 = {k: {h: (lo + hi) / 2 for h, (lo, hi) in d.items()} for k, d in PAPER_FIG5_READ.items()}
PAPER_FIG5_U = {k: {h: (hi - lo) / 2 + 0.15 * (lo + hi) / 2 for h, (lo, hi) in d.items()} for k, d in PAPER_FIG5_READ.items()}
PAPER_NAME = {"fashion": "FashionMNIST", "cifar10": "CIFAR-100 (CLIP)", "wordnet": "ImageNet-100 (CLIP)"}
STYLE = {v.key: (color(v.key), {"dense": "^", "random": "o", "gram": "s"}[v.split], "--" if v.alpha == 2 else "-") for v in VARIANTS}
rel = {k: {h: {v.key: sw.relative(h, v.key) for v in FPE_VARIANTS} for h in sw.widths} for k, sw in sweeps.items()}
fig, axes = plt.subplots(2, 3, figsize=(13, 7))
for j, (k, sw) in enumerate(sweeps.items()):
    ws = sw.widths
    ax = axes[0, j]
    for v in FPE_VARIANTS:
        c, m, ls = STYLE[v.key]
        mu = [rel[k][h][v.key].mean() for h in ws]
        sd = [rel[k][h][v.key].std(ddof=1) for h in ws]
        ax.errorbar(ws, mu, yerr=sd, color=c, marker=m, ls=ls, ms=4, capsize=2, label=v.label)
    px = sorted(PAPER_FIG5[k])
    ax.plot(px, [PAPER_FIG5[k][h] for h in px], "kx", ms=7, label=f"paper, {PAPER_NAME[k]}, α=4")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(ws) | set(px)), [str(h) for h in sorted(set(ws) | set(px))])
    ax.minorticks_off()
    percent_symlog(ax, linthresh=1)
    ax.set_title(f"{DATASETS[k].name} (for {PAPER_NAME[k]})")
    ax.set_xlabel("dense width h")
    ax.set_ylabel("relative improvement over dense (%)")
    ax = axes[1, j]
    for v in VARIANTS:
        c, m, ls = STYLE[v.key]
        vals = [accuracy_per_nonzero(sw[h, v.key].test_acc.numpy(), sw[h, v.key].nonzeros.numpy()) for h in ws]
        ax.errorbar(ws, [x.mean() for x in vals], yerr=[x.std(ddof=1) for x in vals], color=c, marker=m, ls=ls, ms=4,
                    capsize=2, label=v.label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ws, [str(h) for h in ws])
    ax.set_yscale("log")
    ax.set_xlabel("dense width h")
    ax.set_ylabel("test accuracy (%) per non-zero weight")
axes[0, 0].legend()
axes[1, 0].legend()
fig.suptitle(f"FPE on real data, {len(SEEDS)} seeds (mean ± std)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Every point of the three sweeps
#
# Test accuracy of each variant and the relative improvement over dense, per data set and width.

# %%
for k, sw in sweeps.items():
    rows = ["| h | dense acc. (%) | " + " | ".join(f"{v.label}: acc. (%) / rel. impr. (%)" for v in FPE_VARIANTS) + " |",
            "|---|---|" + "---|" * len(FPE_VARIANTS)]
    for h in sw.widths:
        d = sw[h, "dense"].test_acc.numpy()
        cells = []
        for v in FPE_VARIANTS:
            a, r = sw[h, v.key].test_acc.numpy(), rel[k][h][v.key]
            cells.append(f"{a.mean():.2f} / {r.mean():+.2f} ± {r.std(ddof=1):.2f}")
        rows.append(f"| {h} | {d.mean():.2f} ± {d.std(ddof=1):.2f} | " + " | ".join(cells) + " |")
    display(Markdown(f"**{DATASETS[k].name}**" + (f" (substitutes for {PAPER_NAME[k]})" if SUBSTITUTE else "") + "\n\n" + "\n".join(rows)))

# %% [markdown]
# ## The real-data table: the paper's rows and ours side by side
#
# The paper's table does not state the width ("small"). Its values match its own Figure 5 at one
# width per data set (FashionMNIST about 1 % at h = 8-10, CIFAR-100 about 100 % at h = 4,
# ImageNet-100 about 10 % at h = 5), so each of our rows is taken at that width (`TABLE_WIDTH`, or
# our nearest width).

# %%
PAPER_TABLE = {  # the paper, as we read it, section 5: (dataset, split) -> {alpha: relative improvement %}
    ("fashion", "gram"): {2: 1.1, 4: 1.3}, ("fashion", "random"): {2: 1.0, 4: 1.2},
    ("cifar10", "gram"): {2: 100.2, 4: 114.3}, ("cifar10", "random"): {2: 97.4, 4: 108.9},
    ("wordnet", "gram"): {2: 9.0, 4: 10.3}, ("wordnet", "random"): {2: 8.8, 4: 10.5},
}
TABLE_WIDTH = {"fashion": 8, "cifar10": 4, "wordnet": 5}
table_h = {k: min(sweeps[k].widths, key=lambda h: (abs(h - TABLE_WIDTH[k]), h)) for k in sweeps}
rows = ["| data set | split | paper α=2 | paper α=4 | ours | h | ours α=2 | ours α=4 | verdict α=2 | verdict α=4 |",
        "|---|---|---|---|---|---|---|---|---|---|"]
for (k, split), pv in PAPER_TABLE.items():
    h = table_h[k]
    cells = []
    for a in (2, 4):
        key = f"{split}_a{a}"
        n = results.add(f"table_{ID[k]}_{key}", rel[k][h][key], paper=pv[a], source="real-data table (width not stated)",
                        label=f"real-data table, {DATASETS[k].name} (for {PAPER_NAME[k]}), {split} split, α={a}, h={h}: relative improvement",
                        baseline=0.0, substitute=IS_SUBSTITUTE[k],
                        note=(f"ours on {DATASETS[k].name} substitutes for the paper's {PAPER_NAME[k]}" if SUBSTITUTE else "the paper's own data")
                        + ("" if k != "fashion" or not IS_SUBSTITUTE[k] else " (a training subset of the paper's data set)"))
        cells.append(n)
    rows.append(f"| {PAPER_NAME[k]} | {split} | {pv[2]} % | {pv[4]} % | {DATASETS[k].name} | {h} | "
                f"{cells[0].value:+.2f} ± {cells[0].spread:.2f} % | {cells[1].value:+.2f} ± {cells[1].spread:.2f} % | "
                f"{cells[0].verdict} | {cells[1].verdict} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Which of the paper's trends hold here
#
# Three trends, each computed from the sweeps above:
#
# 1. **gain largest at small width**: the mean relative improvement at the smallest width exceeds
#    that at the largest width, for each variant;
# 2. **Gram about equal to random**: the paired difference Gram - random (same seed, same dense
#    parent), averaged over widths, is tested for equivalence with zero within a margin of ±1 point
#    of relative improvement (our 95 % interval must lie inside it; the paper reports no difference);
# 3. **larger alpha a little better**: alpha = 4 minus alpha = 2, averaged over widths and both splits,
#    is positive.

# %%
trend_rows = ["| data set | trend | evidence | holds |", "|---|---|---|---|"]
trends = {}
for k, sw in sweeps.items():
    ws = sw.widths
    small, large = ws[0], ws[-1]
    ok = [rel[k][small][v.key].mean() > rel[k][large][v.key].mean() for v in FPE_VARIANTS]
    ev = ", ".join(f"{v.key}: {rel[k][small][v.key].mean():+.2f} → {rel[k][large][v.key].mean():+.2f}" for v in FPE_VARIANTS)
    trends[(k, "small_width")] = all(ok)
    trend_rows.append(f"| {DATASETS[k].name} | gain largest at small width (h={small} vs h={large}) | {ev} | {'yes' if all(ok) else 'no'} |")
    for a in (2, 4):
        diff = np.stack([rel[k][h][f"gram_a{a}"] - rel[k][h][f"random_a{a}"] for h in ws]).mean(0)  # per seed
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        num = results.add(f"gram_minus_random_{ID[k]}_a{a}", diff, label=f"{DATASETS[k].name}: Gram minus random split, α={a}, "
                          f"relative improvement averaged over widths", paper=0.0, paper_uncertainty=0.0, kind="null", margin=1.0,
                          substitute=IS_SUBSTITUTE[k], source="real-data table and Figure 5 (nearly indistinguishable)",
                          note=f"substitutes for {PAPER_NAME[k]}" if SUBSTITUTE else None)
        holds = num.verdict.startswith("equivalent")
        trends[(k, f"gram_eq_random_a{a}")] = bool(holds)
        trend_rows.append(f"| {DATASETS[k].name} | Gram ≈ random, α={a} | Gram - random = {diff.mean():+.2f} ± {se:.2f} (SE) points | "
                          f"{'yes' if holds else 'no'} |")
    d4 = np.stack([rel[k][h][f"{s}_a4"] - rel[k][h][f"{s}_a2"] for h in ws for s in ("random", "gram")]).mean(0)
    se = d4.std(ddof=1) / np.sqrt(len(d4))
    trends[(k, "alpha4_better")] = bool(d4.mean() > 0)
    results.add(f"alpha4_minus_alpha2_{ID[k]}", d4, label=f"{DATASETS[k].name}: α=4 minus α=2, relative improvement averaged over widths and splits",
                note=f"paper (table): +0.1 to +0.5 (FashionMNIST), +12 to +14 (CIFAR-100), +1.3 to +1.7 (ImageNet-100); "
                + (f"ours substitutes for {PAPER_NAME[k]}" if SUBSTITUTE else "ours on the paper's own data"))
    trend_rows.append(f"| {DATASETS[k].name} | α=4 a little better than α=2 | α=4 - α=2 = {d4.mean():+.2f} ± {se:.2f} (SE) points | "
                      f"{'yes' if d4.mean() > 0 else 'no'} |")
display(Markdown("\n".join(trend_rows)))

# %% [markdown]
# ## Learning curves and convergence
#
# The budget of epochs is fixed (the paper's 25 + 25); whether it was enough is stated by one rule,
# `fpe.training.convergence.PlateauRule`: a run has converged when its mean test accuracy over seeds
# gained less than 0.2 points over the last 20 % of its epochs; otherwise it is *budget-stopped*. The
# rule only labels the runs: nothing is chosen from the curves. The widths of each data set and
# variant are stated together (met only when every width met it, with the gain of the width that
# gained most): the dense nets over all their epochs, each FPE net over its post-expansion epochs.
# The curves (test accuracy after every epoch) are drawn at each data set's smallest and largest width.

# %%
conv = {}
for k, sw in sweeps.items():
    conv[k] = results.add_run_convergence(sw, [v.key for v in VARIANTS], prefix=f"{DATASETS[k].name}: ",
                                          budget=f"{cfg['epochs']} + {cfg['epochs']} epochs")
    fig = learning_curves(sw, [(None, min(sw.widths)), (None, max(sw.widths))], [v.key for v in VARIANTS],
                          labels={v.key: v.label for v in VARIANTS}, converged={key: e["met"] for key, e in conv[k].items()})
    fig.suptitle(f"{DATASETS[k].name}: learning curves, mean over {len(SEEDS)} seeds")
    plt.show()
display(Markdown(results.convergence_text()))

# %% [markdown]
# ## All recorded numbers
#
# Every point of the three sweeps (test accuracy of every variant and the relative improvement of
# every FPE variant, per width), with the paper's Figure 5 value where one exists (alpha = 4; the
# figure does not separate the splits, so it is attached to both). Generated from
# `results/<profile>/05_real_data.json`; the last cell checks every number against the stored
# reference for this profile.

# %%
for k, sw in sweeps.items():
    for h in sw.widths:
        for v in VARIANTS:
            results.add(f"acc_{ID[k]}_h{h}_{v.key}", sw[h, v.key].test_acc.numpy(),
                        label=f"{DATASETS[k].name} (for {PAPER_NAME[k]}), h={h}: test accuracy, {v.label}")
        for v in FPE_VARIANTS:
            pv = PAPER_FIG5[k].get(h) if v.alpha == 4 else None
            results.add(f"rel_{ID[k]}_h{h}_{v.key}", rel[k][h][v.key], baseline=0.0, paper=pv, substitute=IS_SUBSTITUTE[k],
                        paper_uncertainty=PAPER_FIG5_U[k].get(h) if pv is not None else None,
                        primary=f"{results.notebook}/rel_{ID[k]}_h{h}_random_a4" if (pv is not None and v.split == "gram") else None,
                        source=f"Figure 5, {PAPER_NAME[k]}, α=4" if pv is not None else None,
                        label=f"{DATASETS[k].name} (for {PAPER_NAME[k]}), h={h}: relative improvement, {v.label}",
                        note=f"ours on {DATASETS[k].name} substitutes for {PAPER_NAME[k]}" if pv is not None and SUBSTITUTE else None)
timings["total_notebook"] = time.perf_counter() - T_START
for name, sec in timings.items():
    results.add(f"seconds_{name}", [sec], label=f"wall time of this run (cached parts cost nothing): {name.replace('_', ' ')}",
                unit="s", checked=False)
results.meta.update(seeds=SEEDS, profile_config=cfg, lr=LR, batch_size=BATCH, image_size=IMAGE_SIZE, projection_dim=PROJ_DIM,
                    variants=[v.key for v in VARIANTS], trends={f"{a}/{b}": v for (a, b), v in trends.items()},
                    data={k: {"name": f.name, "substitutes_for": PAPER_NAME[k], "note": f.note, "n_train": len(f.y_train),
                              "n_test": len(f.y_test)} for k, f in DATASETS.items()}, timings=timings)
results.save()
display(Markdown(results.table() + "\n\n" + results.convergence_text()))

# %%
if SUBSTITUTE:
    gaps = results.check_references()
    print(f"all {len(gaps)} numbers within their stored tolerance; largest gap {max(gaps.values()):.3g}")
else:
    print(f"the paper's own setting: {len(results.numbers)} numbers saved to {results.path}; no stored references to check against")

# %% [markdown]
# ## Reading the result
#
# The verdicts and the trend table above are computed, not written: read them for the current run.
# What they test, in the terms of the paper's claim 4:
#
# - whether widening at a constant non-zero count helps on real features, and whether the gain is
#   largest at the smallest widths (Figure 5's shape);
# - whether the Gram split, which groups inputs that interfere through `W1`, does better than a
#   random split (the paper: no);
# - how the size of the gain depends on the features. Our substitutes differ from the paper's data
#   (10 instead of 100 CIFAR classes, a smaller convolutional encoder instead of CLIP, gloss text
#   instead of ImageNet images), so sizes are not expected to match; the direction and the shape
#   of the curves are what can be compared.
