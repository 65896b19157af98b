"""Fixed input features of the real-data experiments (the paper, as we read it, sections 5 and 8).

Feature sets (each a :class:`Features`, inputs float32, labels int64):

- :func:`fashion_features`: FashionMNIST raw pixels scaled to [0, 1] **[house: no standardisation]**;
- :func:`cifar10_features`: CIFAR-10 through frozen EfficientNet-Lite0 (1280-d), projected to 512
  dimensions (CLIP's width) by a fixed seeded Gaussian random projection, then standardised with the
  training set's mean and std **[house]**;
- :func:`wordnet_features`: WordNet-100 glosses through frozen all-MiniLM-L6-v2 (384-d), standardised
  likewise **[house]**.

Subsets are stratified and seeded (:func:`stratified_subset`); embeddings are cached as float16 by
:func:`fpe.runtime.cache.cached`, keyed by the code of this module and what it imports (the encoders and loaders)
and by the content hash of the data (:meth:`fpe.datasets.loaders.Dataset.content_hash`: two copies with
different pixels never share an entry). Each :class:`Features` carries the data set's stable ``key``
("fashion-mnist", "cifar10", "wordnet100"), which names the training seed streams
(:mod:`fpe.experiments.realdata`), and ``data_hash``; its ``name`` only says which copy was read.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch

from ..runtime.cache import cached
from ..repro import derive_seed
from .encoders import efficientnet_lite0, minilm, random_projection


__all__ = ["Features", "STREAM_TAGS", "stratified_subset", "fashion_features", "cifar10_features", "wordnet_features", "standardise"]


# The seed-stream tag of each stable key. FashionMNIST and WordNet-100 keep the spelling their streams
# always had (their display names never depended on the copy read, so chapters 07 and 08 keep their
# numbers); CIFAR-10's streams were once tagged with the copy's name ("CIFAR-10 (JPEG copy)" vs
# "CIFAR-10", so the same pixels gave different numbers) and are now tagged "cifar10" whatever the copy.
STREAM_TAGS = {"fashion-mnist": "FashionMNIST", "wordnet100": "WordNet-100", "cifar10": "cifar10"}


@dataclass
class Features:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    note: str = ""
    key: str = ""  # the data set's stable key ("cifar10", ...): tags the seed streams, whatever copy was read
    data_hash: str = ""  # sha256 of the source data's content (fpe.datasets.loaders.Dataset.content_hash)

    @property
    def data_key(self) -> str:
        """The stable key (the display ``name`` says which copy was read; the key does not)."""
        return self.key or self.name

    @property
    def stream_tag(self) -> str:
        """The tag of the training seed streams (:mod:`fpe.experiments.realdata`): a function of the
        stable key only, never of the copy the data came from (:data:`STREAM_TAGS`)."""
        return STREAM_TAGS.get(self.data_key, self.data_key)


    @property
    def dim(self) -> int:
        return self.x_train.shape[1]

    def subset(self, n_train: int | None, *, seed: int = 0) -> "Features":
        """A seeded class-stratified subset of the training set (the test set is kept)."""
        idx = torch.from_numpy(stratified_subset(self.y_train.numpy(), n_train, seed, tag="train-subset"))
        note = self.note if n_train is None or n_train >= len(self.y_train) else f"{self.note}; training subset of {len(idx)}"
        return Features(self.name, self.x_train[idx], self.y_train[idx], self.x_test, self.y_test, self.classes, note,
                        key=self.key, data_hash=self.data_hash)


def stratified_subset(y: np.ndarray, n: int | None, seed: int, tag: str = "subset") -> np.ndarray:
    """Indices of a seeded class-stratified subset of size ``n`` (all, in order, when ``n`` is None or >= len)."""
    y = np.asarray(y)
    if n is None or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(derive_seed(seed, tag, n))
    classes, counts = np.unique(y, return_counts=True)
    take = np.floor(counts / len(y) * n).astype(int)
    for i in np.argsort(-(counts / len(y) * n - take))[: n - take.sum()]:
        take[i] += 1
    idx = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(idx))


def standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Z-score every feature with the training set's mean and std."""
    train, test = train.float(), test.float()
    mu, sd = train.mean(0), train.std(0).clamp_min(1e-6)
    return (train - mu) / sd, (test - mu) / sd


def fashion_features(n_train: int | None = None, n_test: int | None = None, *, seed: int = 0) -> Features:
    from .loaders import load_fashion_mnist

    d = load_fashion_mnist(progress=False)
    itr, ite = stratified_subset(d.y_train, n_train, seed), stratified_subset(d.y_test, n_test, seed)
    f = lambda x: torch.from_numpy(x.reshape(len(x), -1)).float() / 255.0  # noqa: E731
    return Features("FashionMNIST", f(d.x_train[itr]), torch.from_numpy(d.y_train[itr]), f(d.x_test[ite]),
                    torch.from_numpy(d.y_test[ite]), d.classes, note=f"raw pixels / 255; source {d.source}",
                    key=d.data_key, data_hash=d.content_hash())


def cifar10_features(n_train: int | None = None, n_test: int | None = None, *, size: int = 64, dim: int = 512,
                     seed: int = 0, threads: int = 2, progress: bool = False) -> tuple[Features, dict]:
    """CIFAR-10 through EfficientNet-Lite0; returns the features and the cached embedding's info."""
    import time

    from .loaders import CIFAR10_CLASSES, find_cifar10, load_cifar10, sha256_file

    info = {}
    t = time.perf_counter()
    loaded: dict = {}

    def data():
        """The data set, read (or downloaded) once, only where needed."""
        if "d" not in loaded:
            t_load = time.perf_counter()
            loaded["d"] = load_cifar10(progress=progress)
            loaded["seconds"] = time.perf_counter() - t_load
        return loaded["d"]

    # The embedding cache is keyed by the data's content hash (never by the copy's name). The hash of a
    # local copy is itself cached under that file's sha256, so that a cached run does not decode the
    # JPEG copy (about 10 s) only to hash it; a download is loaded and hashed.
    found = find_cifar10()
    if found is None:
        name, data_hash = data().name, data().content_hash()
    else:
        name = found[1]
        data_hash = cached("data-hash/cifar10", {"file_sha256": sha256_file(found[0])}, lambda: data().content_hash(),
                           module=__name__)

    def compute():
        d = data()
        t1 = time.perf_counter()
        itr, ite = stratified_subset(d.y_train, n_train, seed), stratified_subset(d.y_test, n_test, seed)
        e_tr = efficientnet_lite0(d.x_train[itr], size=size, threads=threads, progress=progress)
        e_te = efficientnet_lite0(d.x_test[ite], size=size, threads=threads, progress=progress)
        t2 = time.perf_counter()
        return {"train": e_tr, "test": e_te, "y_train": torch.from_numpy(d.y_train[itr]),
                "y_test": torch.from_numpy(d.y_test[ite]), "seconds_load": loaded["seconds"], "seconds_embed": t2 - t1}

    emb = cached("embeddings/cifar10-efficientnet-lite0", {"size": size, "resize": "bicubic-antialias", "norm": "imagenet",
                                                           "pool": "mean", "n_train": n_train, "n_test": n_test,
                                                           "seed": seed, "data": data_hash}, lambda: _half(compute()),
                 module=__name__)
    info.update(seconds_total=time.perf_counter() - t, seconds_load=emb["seconds_load"],  # both when computed
                seconds_embed=emb["seconds_embed"], seconds_load_this_run=loaded.get("seconds", 0.0), source=name,
                data_hash=data_hash)
    p_tr = random_projection(emb["train"].float(), dim, seed=seed)
    p_te = random_projection(emb["test"].float(), dim, seed=seed)
    x_tr, x_te = standardise(p_tr, p_te)
    return Features(name, x_tr, emb["y_train"], x_te, emb["y_test"], list(CIFAR10_CLASSES),
                    note=f"EfficientNet-Lite0 at {size} px, 1280-d -> seeded Gaussian projection to {dim}-d, standardised",
                    key="cifar10", data_hash=data_hash), info


def wordnet_features(*, per_class: int = 300, n_classes: int = 100, depth: int = 5, seed: int = 0, threads: int = 2,
                     progress: bool = False) -> tuple[Features, dict]:
    """WordNet-100 glosses through all-MiniLM-L6-v2, standardised."""
    import time

    from .loaders import load_wordnet100

    d = load_wordnet100(depth=depth, n_classes=n_classes, per_class=per_class, seed=seed, progress=progress)

    def compute():
        t0 = time.perf_counter()
        e_tr = minilm(d.x_train, threads=threads, progress=progress)
        e_te = minilm(d.x_test, threads=threads, progress=progress)
        return {"train": e_tr, "test": e_te, "seconds_embed": time.perf_counter() - t0}

    t = time.perf_counter()
    data_hash = d.content_hash()
    emb = cached("embeddings/wordnet100-all-MiniLM-L6-v2", {"depth": depth, "n_classes": n_classes, "per_class": per_class,
                                                            "seed": seed, "pool": "mean", "normalize": True,
                                                            "data": data_hash},
                 lambda: _half(compute()), module=__name__)
    info = {"seconds_total": time.perf_counter() - t, "seconds_embed": emb["seconds_embed"], "source": d.source,
            "data_hash": data_hash}
    x_tr, x_te = standardise(emb["train"].float(), emb["test"].float())
    return Features("WordNet-100", x_tr, torch.from_numpy(d.y_train), x_te, torch.from_numpy(d.y_test), d.classes,
                    note=f"all-MiniLM-L6-v2 384-d gloss embeddings, standardised; {len(d.x_train)} train / "
                         f"{len(d.x_test)} test glosses", key=d.data_key, data_hash=data_hash), info


def _half(value: dict) -> dict:
    """Embeddings are stored (and used) as float16."""
    return {k: v.half() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in value.items()}
