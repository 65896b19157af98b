"""The paper's own real data sets, for readers who can get them (the paper, as we read it, section 5).

The paper trains its real-data classifiers on CLIP ViT-B/32 embeddings of CIFAR-100 and ImageNet-100
(Figure 5 and the real-data table). Neither data set is on the machines that build this book, which
uses labelled substitutes (:mod:`fpe.datasets.loaders`); these loaders read the real ones with the same
conventions, local copy first:

- :func:`load_cifar100`: CIFAR-100 (Krizhevsky 2009), the canonical *python* archive
  ``cifar-100-python.tar.gz`` (:data:`CIFAR100_URL`, its published MD5 :data:`CIFAR100_MD5`), looked
  for in ``FPE_DATA_DIR``, ``FPE_DATA_DIR/cifar100`` and the user cache
  (:func:`fpe.datasets.loaders.search_dirs`), else downloaded into the user cache. The archive holds
  pickles; they are read by a restricted unpickler that builds only plain containers and NumPy arrays
  (:func:`read_cifar100_python`), never arbitrary objects, and only after the checksum matched.
- :func:`load_imagenet100`: ImageNet-100 from a reader's own ImageNet copy in the usual class-folder
  layout (``<root>/train/<wnid>/*.JPEG`` and ``<root>/val/<wnid>/*.JPEG``), which cannot be
  downloaded (ImageNet's licence). The 100 classes are :data:`IMAGENET100_CLASSES`, the list of the
  CMC paper (Tian, Krishnan and Isola 2019, ``imagenet100.txt`` of github.com/HobbitLong/CMC), which
  is what "ImageNet-100" usually means; the paper does not list its classes, so this is our
  assumption **[house]**. Images are returned as file paths and decoded in batches by
  :func:`read_images` (shorter side resized to ``size``, then centre-cropped: CLIP's own preprocessing).
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .loaders import DataError, Dataset, _find, fetch, md5_file, search_dirs, user_cache_dir

__all__ = ["CIFAR100_URL", "CIFAR100_MD5", "IMAGENET100_CLASSES", "md5_file", "read_cifar100_python", "load_cifar100",
           "imagenet100_root", "load_imagenet100", "read_images"]

CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"  # published on the CIFAR page (the only checksum it gives)
CIFAR100_FILE = "cifar-100-python.tar.gz"

# The CMC ImageNet-100 class list (Tian et al. 2019), in its published order.
IMAGENET100_CLASSES = tuple("""
n02869837 n01749939 n02488291 n02107142 n13037406 n02091831 n04517823 n04589890 n03062245 n01773797
n01735189 n07831146 n07753275 n03085013 n04485082 n02105505 n01983481 n02788148 n03530642 n04435653
n02086910 n02859443 n13040303 n03594734 n02085620 n02099849 n01558993 n04493381 n02109047 n04111531
n02877765 n04429376 n02009229 n01978455 n02106550 n01820546 n01692333 n07714571 n02974003 n02114855
n03785016 n03764736 n03775546 n02087046 n07836838 n04099969 n04592741 n03891251 n02701002 n03379051
n02259212 n07715103 n03947888 n04026417 n02326432 n03637318 n01980166 n02113799 n02086240 n03903868
n02483362 n04127249 n02089973 n03017168 n02093428 n02804414 n02396427 n04418357 n02172182 n01729322
n02113978 n03787032 n02089867 n02119022 n03777754 n04238763 n02231487 n03032252 n02138441 n02104029
n03837869 n03494278 n04136333 n03794056 n03492542 n02018207 n04067472 n03930630 n03584829 n02123045
n04229816 n02100583 n03642806 n04336792 n03259280 n02116738 n02108089 n03424325 n01855672 n02090622
""".split())
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


# --- CIFAR-100 ---------------------------------------------------------------------------------

class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds plain containers and NumPy arrays only (CIFAR's python pickles need no more)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: CIFAR-100's pickles hold only arrays and lists")
        return super().find_class(module, name)


def _unpickle(raw: bytes) -> dict:
    obj = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"expected a dict, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar100_python(path: str | os.PathLike, *, expect_full: bool = True) -> tuple[dict, list[str], list[str]]:
    """Parse ``cifar-100-python.tar.gz`` (members ``cifar-100-python/{train,test,meta}``) without extracting it.

    ``train``/``test`` are dicts with ``data`` (uint8 ``(N, 3072)``: the red, green and blue planes of a
    32x32 image, row-major), ``fine_labels`` and ``coarse_labels``; ``meta`` has ``fine_label_names`` and
    ``coarse_label_names``. ``expect_full`` checks the canonical 50,000 / 10,000 sizes (tests pass False).

    Returns ``({"train": (x (N, 32, 32, 3) uint8, fine y, coarse y), "test": ...}, fine names, coarse names)``.
    """
    path = Path(path)
    hint = (f"delete {path} and run again to re-download it, or place a verified copy of {CIFAR100_FILE} "
            f"(md5 {CIFAR100_MD5}) in {search_dirs('cifar100')[0]}")
    out = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for name in ("train", "test", "meta"):
                if name not in members:
                    raise DataError(f"{path} lacks cifar-100-python/{name}; {hint}")
            parts = {name: _unpickle(tar.extractfile(members[name]).read()) for name in ("train", "test", "meta")}
    except (tarfile.TarError, OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DataError(f"{path} is not a readable CIFAR-100 python archive ({type(exc).__name__}: {exc}); {hint}") from exc
    meta = parts["meta"]
    try:
        fine = [n.decode() if isinstance(n, bytes) else str(n) for n in meta["fine_label_names"]]
        coarse = [n.decode() if isinstance(n, bytes) else str(n) for n in meta["coarse_label_names"]]
    except KeyError as exc:
        raise DataError(f"{path}: meta lacks {exc}; {hint}") from exc
    sizes = {"train": 50000, "test": 10000}
    for split in ("train", "test"):
        d = parts[split]
        try:
            data, yf, yc = np.asarray(d["data"]), np.asarray(d["fine_labels"], dtype=np.int64), np.asarray(d["coarse_labels"], dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"{path}: {split} lacks {exc}; {hint}") from exc
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(yf) != len(data) or len(yc) != len(data):
            raise DataError(f"{path}: {split} holds data {data.dtype} {data.shape} with {len(yf)} fine and {len(yc)} "
                            f"coarse labels, expected uint8 (N, 3072) and N labels; {hint}")
        if expect_full and len(data) != sizes[split]:
            raise DataError(f"{path}: {split} has {len(data)} images, expected {sizes[split]} (truncated); {hint}")
        if len(yf) and (yf.min() < 0 or yf.max() >= len(fine) or yc.min() < 0 or yc.max() >= len(coarse)):
            raise DataError(f"{path}: {split} has labels outside the {len(fine)} fine / {len(coarse)} coarse classes; {hint}")
        out[split] = (data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), yf, yc)
    return out, fine, coarse


def load_cifar100(*, progress: bool = True, verify: bool = True, label: str = "fine") -> Dataset:
    """CIFAR-100: ``x`` uint8 ``(N, 32, 32, 3)``, 50,000 train / 10,000 test, ``label`` ``"fine"`` (100
    classes, the paper's) or ``"coarse"`` (20 superclasses).

    The archive is looked for locally (module docstring), else downloaded; its MD5 must be the
    published one (``verify=False`` skips the check of a local copy, never of a download).
    """
    if label not in ("fine", "coarse"):
        raise ValueError(f"label must be one of ('fine', 'coarse'), got {label!r}")
    path = _find("cifar100", [CIFAR100_FILE])
    downloaded = path is None
    if downloaded:  # a download is checked against the published MD5 (or FPE_DATA_PINS) by fetch itself
        path = fetch([CIFAR100_URL], user_cache_dir() / "cifar100" / CIFAR100_FILE, None, CIFAR100_MD5, progress=progress)
    elif verify:
        got = md5_file(path)
        if got != CIFAR100_MD5:
            raise DataError(f"{path} has md5 {got}, expected the published {CIFAR100_MD5}: the file is corrupt or "
                            f"not the canonical {CIFAR100_FILE}; delete it and run again")
    parts, fine, coarse = read_cifar100_python(path)
    k = 1 if label == "fine" else 2
    return Dataset("CIFAR-100", parts["train"][0], parts["train"][k], parts["test"][0], parts["test"][k],
                   fine if label == "fine" else coarse, str(path), meta={"label": label, "md5_checked": verify or downloaded})


# --- ImageNet-100 ------------------------------------------------------------------------------

def imagenet100_root(root: str | os.PathLike | None = None) -> Path:
    """The ImageNet folder: ``root``, else ``FPE_IMAGENET_DIR``, else ``imagenet`` under the data
    directories (:func:`fpe.datasets.loaders.search_dirs`); it must hold ``train/`` and ``val/``."""
    candidates = [Path(root)] if root else ([Path(os.environ["FPE_IMAGENET_DIR"])] if os.environ.get("FPE_IMAGENET_DIR") else
                                            [d for d in search_dirs("imagenet") if d.name == "imagenet"])
    for c in candidates:
        if (c / "train").is_dir() and (c / "val").is_dir():
            return c
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise DataError(f"no ImageNet copy found (looked in {where}): ImageNet cannot be downloaded automatically. Pass "
                    "imagenet_dir (or set FPE_IMAGENET_DIR) to a folder with train/<wnid>/*.JPEG and val/<wnid>/*.JPEG "
                    "(the validation images sorted into class folders, as torchvision's ImageFolder expects)")


def _class_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_imagenet100(root: str | os.PathLike | None = None, *, classes: Sequence[str] = IMAGENET100_CLASSES,
                     per_class_train: int | None = None, seed: int = 0) -> Dataset:
    """ImageNet-100 from a local ImageNet copy: ``x_*`` are lists of image file paths (decode them with
    :func:`read_images`), ``y_*`` the index of the class in ``classes``.

    ``per_class_train`` keeps a seeded sample of that many training images per class (``None``: all,
    about 1,300); the test set is the 50 validation images of every class.
    """
    root = imagenet100_root(root)
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty list of distinct class folder names, got {len(classes)} "
                         f"with {len(classes) - len(set(classes))} repeated")
    if per_class_train is not None and (isinstance(per_class_train, bool) or not isinstance(per_class_train, int) or per_class_train < 1):
        raise ValueError(f"per_class_train must be None or an integer >= 1, got {per_class_train!r}")
    rng = np.random.default_rng(seed)
    split_files = {}
    for split in ("train", "val"):
        xs, ys = [], []
        for c, wnid in enumerate(classes):
            folder = root / split / wnid
            if not folder.is_dir():
                raise DataError(f"{folder} is missing: the ImageNet copy at {root} lacks class {wnid} in {split}/")
            files = _class_files(folder)
            if not files:
                raise DataError(f"{folder} holds no images (*.JPEG, *.jpg, *.png)")
            if split == "train" and per_class_train is not None and len(files) > per_class_train:
                files = sorted(rng.choice(files, size=per_class_train, replace=False).tolist())
            xs += files
            ys += [c] * len(files)
        split_files[split] = (xs, np.array(ys, dtype=np.int64))
    (xtr, ytr), (xte, yte) = split_files["train"], split_files["val"]
    return Dataset("ImageNet-100", xtr, ytr, xte, yte, classes, str(root),
                   meta={"class_list": "CMC (Tian et al. 2019)" if tuple(classes) == IMAGENET100_CLASSES else "custom",
                         "per_class_train": per_class_train, "seed": seed})


def read_images(paths: Sequence[str], size: int = 224) -> np.ndarray:
    """Decode image files to uint8 ``(N, size, size, 3)``: RGB, shorter side resized to ``size``
    (bicubic), centre crop. Raises :class:`DataError` naming an unreadable file."""
    from PIL import Image

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as img:
                img = img.convert("RGB")
                w, h = img.size
                s = size / min(w, h)
                img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BICUBIC)
                w, h = img.size
                left, top = (w - size) // 2, (h - size) // 2
                out[i] = np.asarray(img.crop((left, top, left + size, top + size)))
        except (OSError, ValueError) as exc:
            raise DataError(f"{p} does not decode as an image ({exc}); delete or replace it") from exc
    return out
