"""CLIP ViT-B/32 features of CIFAR-100 and ImageNet-100: the paper's own real-data inputs (the paper, as we read it, section 5).

For readers with the internet (and ideally a GPU): the OpenAI ViT-B/32 weights
(:func:`fpe.datasets.encoders.clip_model`, sha256-pinned download) embed the images of
:func:`~fpe.datasets.paper_data.load_cifar100` and :func:`~fpe.datasets.paper_data.load_imagenet100`
into 512-d image embeddings (``encode_image``, unnormalised), which are then standardised with the
training set's mean and std **[house]**, as the substitutes of :mod:`fpe.datasets.features` are.
The encoder runs on the device of ``model`` (a GPU where the reader has one); images are resized to
224 px (bicubic) and normalised with CLIP's mean and std. Embeddings are cached as float16 by
:func:`fpe.runtime.cache.cached`, keyed by the data set, the subset, the encoder's identity and this code.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ..runtime.cache import cached
from .encoders import CLIP_MEAN, CLIP_STD, CLIP_SHA256, clip_model, preprocess_images
from .features import Features, standardise, stratified_subset

__all__ = ["embed_images", "clip_cifar100_features", "clip_imagenet100_features"]


def embed_images(model: torch.nn.Module, n: int, batch: Callable[[int, int], np.ndarray], *, batch_size: int = 256,
                 progress: bool = False, desc: str = "CLIP ViT-B/32") -> torch.Tensor:
    """``model.encode_image`` of ``n`` images, ``batch(start, stop)`` giving uint8 ``(B, H, W, 3)``; on the model's device."""
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    size = model.visual.image_size[0] if hasattr(model.visual, "image_size") else 224
    out = []
    with torch.inference_mode():
        for s in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, leave=False):
            x = preprocess_images(batch(s, min(n, s + batch_size)), size, CLIP_MEAN, CLIP_STD).to(device)
            out.append(model.encode_image(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 512)


def _encoder(model: torch.nn.Module | None, device: str | torch.device | None, progress: bool):
    """The model and its identity for the cache key (OpenAI's weights, or a reader-supplied model)."""
    if model is None:
        model = clip_model(progress=progress)
        ident = f"openai-ViT-B-32-{CLIP_SHA256[:16]}"
    else:
        ident = getattr(model, "fpe_identity", None)
        if ident is None:
            raise ValueError("model must carry an fpe_identity attribute (a string naming its weights) so that its "
                             "embeddings are cached under their own key; pass model=None for OpenAI's ViT-B/32")
    if device is not None:
        model = model.to(device)
    return model.eval(), ident


def clip_cifar100_features(n_train: int | None = None, n_test: int | None = None, *, model: torch.nn.Module | None = None,
                           device: str | torch.device | None = None, seed: int = 0, batch_size: int = 256,
                           threads: int = 2, progress: bool = False, verify: bool = True) -> tuple[Features, dict]:
    """CIFAR-100 (fine labels) through CLIP ViT-B/32; seeded class-stratified subsets of ``n_train``/``n_test``
    images (``None``: all 50,000 / 10,000). Returns the features and the embedding's info (times, source).
    ``verify=False`` skips the MD5 check of a local archive (:func:`~fpe.datasets.paper_data.load_cifar100`)."""
    from .paper_data import load_cifar100

    d = load_cifar100(progress=progress, verify=verify)
    itr, ite = stratified_subset(d.y_train, n_train, seed), stratified_subset(d.y_test, n_test, seed)
    model, ident = _encoder(model, device, progress)

    def compute():
        t0 = time.perf_counter()
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            e = {split: embed_images(model, len(idx), lambda a, b, x=x, idx=idx: x[idx[a:b]], batch_size=batch_size,
                                     progress=progress, desc=f"CLIP CIFAR-100 {split}")
                 for split, x, idx in (("train", d.x_train, itr), ("test", d.x_test, ite))}
        finally:
            torch.set_num_threads(old)
        return {**e, "seconds_embed": time.perf_counter() - t0, "device": str(next(model.parameters()).device)}

    t = time.perf_counter()
    emb = cached("embeddings/cifar100-clip", {"encoder": ident, "archive": md5_or_size(d), "n_train": n_train, "n_test": n_test, "seed": seed,
                                              "resize": "bicubic-antialias-224", "norm": "clip"},
                 lambda: _half(compute()), module=__name__)
    x_tr, x_te = standardise(emb["train"].float(), emb["test"].float())
    f = Features("CIFAR-100 (CLIP ViT-B/32)", x_tr, torch.from_numpy(d.y_train[itr]), x_te, torch.from_numpy(d.y_test[ite]),
                 d.classes, note=f"CLIP ViT-B/32 ({ident}) 512-d image embeddings, standardised; {len(itr)} train / {len(ite)} test images")
    return f, {"seconds_total": time.perf_counter() - t, "seconds_embed": emb["seconds_embed"], "source": d.source,
               "device": emb["device"]}


def clip_imagenet100_features(root=None, *, classes=None, per_class_train: int | None = None, model: torch.nn.Module | None = None,
                              device: str | torch.device | None = None, seed: int = 0, batch_size: int = 256,
                              threads: int = 2, progress: bool = False) -> tuple[Features, dict]:
    """ImageNet-100 (a local ImageNet copy, :func:`~fpe.datasets.paper_data.load_imagenet100`) through CLIP
    ViT-B/32: images decoded at 224 px (shorter side, centre crop); the test set is the 5,000 validation images.
    ``classes``: the class folders (default: the CMC list, :data:`~fpe.datasets.paper_data.IMAGENET100_CLASSES`)."""
    from .paper_data import IMAGENET100_CLASSES, load_imagenet100, read_images

    d = load_imagenet100(root, classes=IMAGENET100_CLASSES if classes is None else classes, per_class_train=per_class_train, seed=seed)
    model, ident = _encoder(model, device, progress)
    size = model.visual.image_size[0] if hasattr(model.visual, "image_size") else 224

    def compute():
        t0 = time.perf_counter()
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            e = {split: embed_images(model, len(paths), lambda a, b, paths=paths: read_images(paths[a:b], size),
                                     batch_size=batch_size, progress=progress, desc=f"CLIP ImageNet-100 {split}")
                 for split, paths in (("train", d.x_train), ("test", d.x_test))}
        finally:
            torch.set_num_threads(old)
        return {**e, "seconds_embed": time.perf_counter() - t0, "device": str(next(model.parameters()).device)}

    t = time.perf_counter()
    # keyed by the file lists (relative to the root), so another copy with the same files reuses it
    files = [str(p)[len(d.source):] for p in (*d.x_train, *d.x_test)]
    emb = cached("embeddings/imagenet100-clip", {"encoder": ident, "classes": d.classes, "per_class_train": per_class_train,
                                                 "seed": seed, "files": _digest(files), "size": size, "norm": "clip"},
                 lambda: _half(compute()), module=__name__)
    x_tr, x_te = standardise(emb["train"].float(), emb["test"].float())
    f = Features("ImageNet-100 (CLIP ViT-B/32)", x_tr, torch.from_numpy(d.y_train), x_te, torch.from_numpy(d.y_test), d.classes,
                 note=f"CLIP ViT-B/32 ({ident}) 512-d image embeddings, standardised; {len(d.y_train)} train / "
                      f"{len(d.y_test)} validation images of the {d.meta['class_list']} class list")
    return f, {"seconds_total": time.perf_counter() - t, "seconds_embed": emb["seconds_embed"], "source": d.source,
               "device": emb["device"]}


def md5_or_size(d) -> str:
    """The archive's identity in the cache key: the checked MD5, else its size and modification time."""
    import os

    from .paper_data import CIFAR100_MD5

    if d.meta.get("md5_checked"):
        return CIFAR100_MD5
    st = os.stat(d.source)
    return f"unchecked-{st.st_size}-{int(st.st_mtime)}"


def _digest(items) -> str:
    import hashlib

    return hashlib.sha256("\n".join(items).encode()).hexdigest()


def _half(value: dict) -> dict:
    """Embeddings are stored (and used) as float16."""
    return {k: v.half() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in value.items()}
