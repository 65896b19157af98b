"""A small CNN trained end to end on images, dense against FPE at an equal non-zero count (the
paper, as we read it, section 7 item 1: a CNN backbone trained jointly with its classifier).

The model (:func:`backbone_cnn`, width ``w``) is a backbone of two convolution blocks and an
embedding, and an MLP head with one hidden layer::

    Conv2d(C, w, 3) BN ReLU MaxPool2 | Conv2d(w, 2w, 3) BN ReLU MaxPool2 | Flatten Linear(.., 4w) ReLU
    | Linear(4w, w) ReLU Linear(w, classes)

Every model trains ``warmup_epochs`` dense, is expanded, and trains ``post_epochs`` more with a fresh
Adam and fixed masks; the dense baseline trains the same ``warmup_epochs + post_epochs`` in one run
with its own optimiser state (the schedule of :mod:`fpe.experiments.schedule`). Two places for FPE:

- ``"head"`` (:func:`head_fpe`): the head's hidden layer (``w`` neurons) becomes ``alpha * w`` children
  over the jointly trained backbone, the later version's setting as far as it is described;
- ``"channel"`` (:func:`channel_fpe`): the channels of both conv layers (:func:`fpe.method.conv.expand_cnn` on
  the backbone up to the embedding, whose ``Linear`` copies its inputs for the children), the head untouched.

In both, one global magnitude prune over the expanded part restores its non-zero count exactly, so
the whole model keeps the dense model's count. :func:`run_cnn` runs every ``(place, alpha)`` variant;
its seeds are cut into fixed chunks, each chunk's dense models one cached job and each chunk's models
of one variant another (:mod:`fpe.runtime.jobs`: side by side on every core); inside a job the models
of one shape train as one stack in :class:`fpe.training.cnn.CNNTrainer`, and every model of one seed
sees the same minibatches (:func:`fpe.repro.stream`). :func:`image_tensors` prepares CIFAR-10
(colour) and FashionMNIST (grey) images alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets.loaders import content_hash
from ..method.conv import expand_cnn
from ..method.expand import count_nonzero
from ..repro import generator, stream
from ..runtime.jobs import Job, run_jobs
from ..training.cnn import CNNTrainer, copy_models, evaluate

__all__ = ["CNNSetup", "PLACES", "backbone_cnn", "head_fpe", "channel_fpe", "image_tensors", "variant_key", "run_cnn"]

PLACES = ("head", "channel")
_EMBED = 9  # index of the embedding Linear in backbone_cnn
_HEAD = 11  # index of the head's hidden Linear


@dataclass(frozen=True)
class CNNSetup:
    """The training set-up of the CNN chapter (every field a **[house]** choice, see the chapter)."""

    n_train: int = 10_000  # training images (a fixed subset, the same for every seed)
    image_size: int = 16  # images are average-pooled from 32x32 to this size
    warmup_epochs: int = 6
    post_epochs: int = 6
    lr: float = 1e-3
    batch_size: int = 128
    split: str = "random"

    def __post_init__(self):
        for name in ("n_train", "image_size", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
        for name in ("warmup_epochs", "post_epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two 2x2 poolings), got {self.image_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")


def backbone_cnn(width: int, *, image_size: int, channels: int = 3, classes: int = 10,
                 generator: torch.Generator | None = None) -> nn.Sequential:
    """The chapter's CNN at ``width`` (module docstring); PyTorch's default initialisation drawn from ``generator``."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    if image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4, got {image_size!r}")
    state = torch.random.get_rng_state()
    if generator is not None:
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    try:
        w = width
        model = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * w * (image_size // 4) ** 2, 4 * w), nn.ReLU(),
            nn.Linear(4 * w, w), nn.ReLU(), nn.Linear(w, classes))
    finally:
        torch.random.set_rng_state(state)
    return model


def head_fpe(model: nn.Sequential, alpha: int, split: str = "random", *, generator: torch.Generator | None = None) -> nn.Sequential:
    """FPE on the head's hidden layer of a :func:`backbone_cnn` (the backbone copied unchanged)."""
    (backbone,) = copy_models([model[:_HEAD]])
    head = expand_cnn(model[_HEAD:], alpha, split, generator=generator)
    return nn.Sequential(*backbone, *head)


def channel_fpe(model: nn.Sequential, alpha: int, split: str = "random", *, generator: torch.Generator | None = None) -> nn.Sequential:
    """Channel FPE on both conv layers of a :func:`backbone_cnn` (the head copied unchanged)."""
    backbone = expand_cnn(model[:_EMBED + 1], alpha, split, generator=generator)
    (head,) = copy_models([model[_EMBED + 1:]])
    return nn.Sequential(*backbone, *head)


def image_tensors(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                  n_train: int, image_size: int, n_test: int | None = None, subset_seed: int = 0):
    """Float tensors ``(N, C, S, S)`` from uint8 images ``(N, H, H, C)`` (CIFAR-10) or ``(N, H, H)``
    (FashionMNIST, ``C = 1``): a fixed random subset of ``n_train`` training images and of ``n_test`` test
    images (default: all; the files may be sorted by class, so never a prefix), each zero-padded evenly
    on all sides to the smallest multiple of ``S = image_size`` at least its side and average-pooled by
    the whole factor (32x32 to 16x16: 2x2 means; FashionMNIST's 28x28: padded to 32, then 2x2 means),
    normalised per channel by the training subset's mean and std. Returns ``x_train, y_train, x_test, y_test``."""
    if not 2 <= n_train <= len(x_train):
        raise ValueError(f"n_train must be in 2..{len(x_train)}, got {n_train!r}")
    n_test = len(x_test) if n_test is None else n_test
    if not 1 <= n_test <= len(x_test):
        raise ValueError(f"n_test must be in 1..{len(x_test)}, got {n_test!r}")
    if np.ndim(x_train) not in (3, 4) or np.shape(x_train)[1] != np.shape(x_train)[2]:
        raise ValueError(f"x_train must hold square images (N, H, H) or (N, H, H, C); got shape {np.shape(x_train)}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 4 or image_size % 4:
        raise ValueError(f"image_size must be a positive multiple of 4, got {image_size!r}")
    idx = torch.randperm(len(x_train), generator=generator(subset_seed, "cnn", "subset"))[:n_train].sort().values.numpy()
    idx_test = torch.randperm(len(x_test), generator=generator(subset_seed, "cnn", "test"))[:n_test].sort().values.numpy()

    def prep(x):
        t = torch.from_numpy(np.ascontiguousarray(x)).float() / 255.0
        t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
        side = t.shape[-1]
        k = -(-side // image_size)  # the pooling factor
        pad = k * image_size - side
        if pad:
            t = F.pad(t, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return F.avg_pool2d(t, k) if k > 1 else t

    xtr = prep(x_train[idx])
    mean, std = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True)
    return ((xtr - mean) / std, torch.as_tensor(y_train[idx]).long(), (prep(x_test[idx_test]) - mean) / std,
            torch.as_tensor(y_test[idx_test]).long())


def variant_key(place: str, alpha: int) -> str:
    """The name of an FPE variant in :func:`run_cnn`'s results: ``"head_a2"``, ``"channel_a4"``."""
    return f"{place}_a{alpha}"


def _check_variants(variants) -> list[tuple[str, int]]:
    out = []
    for v in variants:
        if not (isinstance(v, (tuple, list)) and len(v) == 2 and v[0] in PLACES and isinstance(v[1], int)
                and not isinstance(v[1], bool) and v[1] >= 2):
            raise ValueError(f"variants must be (place, alpha) pairs with place in {PLACES} and an integer alpha >= 2; got {v!r}")
        out.append((v[0], v[1]))
    if not out or len(set(out)) != len(out):
        raise ValueError(f"variants must be a non-empty list of distinct (place, alpha) pairs, got {list(variants)}")
    return out


def _curve(models, xcu, ycu):
    """The learning curve's recorder: test accuracy on the curve subset now and after every epoch
    (evaluation only: no gradients, no random numbers, the models' weights untouched)."""
    acc = [evaluate(models, xcu, ycu)]
    return acc, lambda _epoch, _losses: acc.append(evaluate(models, xcu, ycu))


def _seed_index(seeds, widths) -> list[int]:
    """The seed of every model of the grid ``seeds`` x ``widths`` (seed-major), as an index into ``seeds``."""
    return [si for si, _ in enumerate(seeds) for _ in widths]


def _dense_chunk(setup: CNNSetup, widths, seeds, data, curve_data, tag: str, progress: bool) -> dict:
    """The dense models of ``seeds`` x ``widths`` in one trainer: warm-up, its weights, then the rest."""
    import time
    t = time.process_time()
    xtr, ytr, xte, yte = data
    grid = [(s, w) for s in seeds for w in widths]
    models = [backbone_cnn(w, image_size=setup.image_size, channels=xtr.shape[1], generator=stream(s, f"cnn-{tag}", "init", w))
              for s, w in grid]
    trainer = CNNTrainer(models, xtr, ytr, _seed_index(seeds, widths), lr=setup.lr, batch_size=setup.batch_size)
    acc_curve, record = _curve(models, *curve_data)
    order = lambda phase: [stream(s, f"cnn-{tag}", "order", phase) for s in seeds]  # noqa: E731
    losses = trainer.fit(setup.warmup_epochs, order("warmup"), progress=progress, desc="dense warm-up", on_epoch=record)
    warm = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    acc_warm = evaluate(models, xte, yte)
    losses += trainer.fit(setup.post_epochs, order("post"), progress=progress, desc="dense, continued", on_epoch=record)
    return dict(warm=warm, acc_warm=acc_warm, acc=evaluate(models, xte, yte),
                nonzeros=torch.tensor([count_nonzero(m) for m in models]), seconds=time.process_time() - t,
                curve_acc=torch.stack(acc_curve, 1), curve_loss=_stack_losses(losses, len(models)))


def _fpe_chunk(setup: CNNSetup, widths, seeds, data, curve_data, tag: str, place: str, alpha: int, warm: list,
               progress: bool) -> dict:
    """One FPE variant of the dense warm-up weights ``warm`` (one per seed x width), trained ``post_epochs``."""
    import time
    t = time.process_time()
    xtr, ytr, xte, yte = data
    expand = head_fpe if place == "head" else channel_fpe
    models = []
    for k, (s, w) in enumerate((s, w) for s in seeds for w in widths):
        base = backbone_cnn(w, image_size=setup.image_size, channels=xtr.shape[1])
        base.load_state_dict(warm[k])
        models.append(expand(base, alpha, setup.split, generator=stream(s, f"cnn-{tag}", "split", place, alpha, w)))
    for m in models:
        m.train()
    trainer = CNNTrainer(models, xtr, ytr, _seed_index(seeds, widths), lr=setup.lr, batch_size=setup.batch_size)
    acc_curve, record = _curve(models, *curve_data)
    losses = trainer.fit(setup.post_epochs, [stream(s, f"cnn-{tag}", "order", "post") for s in seeds], progress=progress,
                         desc=f"FPE {variant_key(place, alpha)}", on_epoch=record)
    return dict(acc=evaluate(models, xte, yte), nonzeros=torch.tensor([count_nonzero(m) for m in models]),
                seconds=time.process_time() - t, curve_acc=torch.stack(acc_curve, 1),
                curve_loss=_stack_losses(losses, len(models)))


def run_cnn(setup: CNNSetup, widths: list[int], seeds: list[int], data: tuple, *, tag: str,
            variants=(("head", 2), ("channel", 2)), seed_chunk: int = 5, curve_examples: int = 2000,
            progress: bool = False) -> dict:
    """Dense and FPE CNNs for every width and seed, as cached jobs that run side by side on every core.

    The seeds are cut into chunks of ``seed_chunk`` **[house]** (a fixed number, never the core count,
    so the chunks, and every number, are the same on any machine); each chunk's dense models are one
    job (:func:`fpe.runtime.jobs.run_jobs`), and each chunk's models of one FPE variant another, started
    from that chunk's dense warm-up weights. Inside a job the models of one shape train as one stack
    (:class:`fpe.training.cnn.CNNTrainer`).

    Args:
        data: ``(x_train, y_train, x_test, y_test)`` from :func:`image_tensors` (any channel count); ``tag``
            names it in the cache key and the random streams: the data set's stable key (``Dataset.data_key``,
            e.g. ``"cifar10"``), never its display name, which differs between copies. The cache key also
            holds the data's content hash.
        variants: ``(place, alpha)`` pairs, ``place`` in :data:`PLACES`; every variant uses ``setup.split``.
        curve_examples: the learning curves' test accuracy is measured on ``curve_examples`` test images
            (all when there are fewer), evenly spaced over the test set (which may be sorted by class, so
            never a prefix; no random number drawn): a fixed subset, the same after every epoch **[house]**.

    Returns ``{"dense": {w: acc (S,)}, "dense_warmup": {w: acc (S,)}, variant: {w: acc (S,)},
    "nonzeros": {(kind, w): (S,)}, "seconds": {"dense": s, variant: s}, "curves": {...}}`` with ``variant``
    the :func:`variant_key` of each pair (accuracy in %, on the test set). ``curves`` holds the learning
    curves: ``{"dense": {w: {"acc": (S, E + 1), "loss": (S, E)}}, variant: {w: {"acc": (S, P + 1), "loss":
    (S, P)}}, "warmup_epochs": W, "examples": n}``, with ``E = W + P`` the dense model's epochs and ``P``
    FPE's post-expansion epochs; ``acc[:, e]`` is the test accuracy (%, on the curve subset) after ``e``
    epochs (for FPE: ``e`` epochs after the expansion, ``e = 0`` the expanded model before training; its
    warm-up is the dense curve's first ``W`` epochs), ``loss[:, e - 1]`` the mean training loss of epoch
    ``e``. Recording them evaluates the models between epochs without gradients and without random
    numbers, so every other number is the same as without them.
    """
    if not widths or not seeds:
        raise ValueError("widths and seeds must be non-empty lists")
    variants = _check_variants(variants)
    if isinstance(seed_chunk, bool) or not isinstance(seed_chunk, int) or seed_chunk < 1:
        raise ValueError(f"seed_chunk must be an integer >= 1, got {seed_chunk!r}")
    xtr, ytr, xte, yte = data
    if isinstance(curve_examples, bool) or not isinstance(curve_examples, int) or curve_examples < 1:
        raise ValueError(f"curve_examples must be an integer >= 1, got {curve_examples!r}")
    n_curve = min(curve_examples, len(xte))
    pick = torch.arange(n_curve) * len(xte) // n_curve  # evenly spaced: the test set may be sorted by class
    curve_data = (xte[pick], yte[pick])
    # the data's content (not the copy it came from) is in the cache key: the same pixels from any copy share
    # an entry, different pixels never do; ``tag`` (the data set's stable key) names the seed streams
    base = dict(setup=asdict(setup), widths=list(widths), tag=tag, n_train=len(xtr), n_test=len(xte),
                image=list(xtr.shape[1:]), data=content_hash(xtr, ytr, xte, yte), curve_examples=n_curve)
    chunks = [list(seeds[i:i + seed_chunk]) for i in range(0, len(seeds), seed_chunk)]
    dense_jobs = [Job(f"cnn/{tag}-dense", {**base, "seeds": c},
                      partial(_dense_chunk, setup, list(widths), c, data, curve_data, tag, progress), module=__name__,
                      cost=len(c)) for c in chunks]
    dense = run_jobs(dense_jobs, progress=progress, desc="dense CNN jobs")
    fpe_jobs = [Job(f"cnn/{tag}-fpe", {**base, "seeds": c, "place": p, "alpha": a},
                    partial(_fpe_chunk, setup, list(widths), c, data, curve_data, tag, p, a, d["warm"], progress),
                    module=__name__, cost=len(c) * a * (a if p == "channel" else 1))
                for p, a in variants for c, d in zip(chunks, dense)]
    fpe = run_jobs(fpe_jobs, progress=progress, desc="FPE CNN jobs")
    n_s, n_w = len(seeds), len(widths)
    cat = lambda parts, k: torch.cat([r[k] for r in parts])  # noqa: E731  (chunks in seed order)
    per_w = lambda t: {w: t.view(n_s, n_w)[:, j].clone() for j, w in enumerate(widths)}  # noqa: E731
    rows = lambda t: {w: t.reshape(n_s, n_w, t.shape[-1])[:, j].clone() for j, w in enumerate(widths)}  # noqa: E731  (M, E) -> {w: (S, E)}
    curves = lambda parts: {w: {"acc": a, "loss": lo} for (w, a), lo in  # noqa: E731
                            zip(rows(cat(parts, "curve_acc")).items(), rows(cat(parts, "curve_loss")).values())}
    out = {"dense": per_w(cat(dense, "acc")), "dense_warmup": per_w(cat(dense, "acc_warm")),
           "nonzeros": {("dense", w): v for w, v in per_w(cat(dense, "nonzeros")).items()},
           "seconds": {"dense": float(sum(r["seconds"] for r in dense))},
           "curves": {"dense": curves(dense), "warmup_epochs": setup.warmup_epochs, "examples": n_curve}}
    for v_i, (p, a) in enumerate(variants):
        parts = fpe[v_i * len(chunks):(v_i + 1) * len(chunks)]
        v = variant_key(p, a)
        out[v] = per_w(cat(parts, "acc"))
        out["nonzeros"].update({(v, w): t for w, t in per_w(cat(parts, "nonzeros")).items()})
        out["seconds"][v] = float(sum(r["seconds"] for r in parts))
        out["curves"][v] = curves(parts)
    return out


def _stack_losses(losses: list[torch.Tensor], n_models: int) -> torch.Tensor:
    """Per-epoch loss tensors ``[(M,)] * E`` as one ``(M, E)`` tensor (``(M, 0)`` for no epoch)."""
    return torch.stack(losses, 1) if losses else torch.zeros(n_models, 0, dtype=torch.float64)
