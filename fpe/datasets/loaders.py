"""Real data sets for the paper's real-data experiments (the paper, as we read it, sections 5 and 8), local first.

Each data set is looked for, in this order (:func:`search_dirs`):

1. the data directory setting ``FPE_DATA_DIR`` (the Makefile and CI set it to ``../shared/data``);
2. the place a system package installs it (Debian ``dataset-fashion-mnist`` ->
   ``/usr/share/datasets/fashion-mnist/``, ``wordnet-base`` -> ``/usr/share/wordnet/``; ``FPE_SYSTEM_DATA=0``
   skips these, as a machine without the packages would);
3. the user cache directory (``FPE_USER_CACHE``, else ``$XDG_CACHE_HOME/fpe-data``, else
   ``~/.cache/fpe-data``);
4. otherwise a download from the canonical source (https where it offers it; ``FPE_DATA_MIRROR``
   points elsewhere, ``FPE_DATA_PINS`` replaces a mirrored file's pins) into the user cache
   (:func:`fetch`: pinned hashes whose sources are stated below, retries with exponential backoff, a
   progress bar, an atomic write).

Formats are parsed directly (IDX, the CIFAR-10 *binary* version, WordNet's ``data.noun``, the JPEG
pack of ``../shared/data``); nothing downloaded is ever unpickled. A corrupt or truncated file raises
:class:`DataError`, whose message names the file and how to fix it.

Data sets:

- :func:`load_fashion_mnist`: FashionMNIST (Xiao et al. 2017), raw 28x28 pixels, 60k/10k.
- :func:`load_cifar10`: CIFAR-10 (Krizhevsky 2009), 32x32 RGB, 50k/10k; from the JPEG pack
  ``cifar10-jpeg.npz`` (a re-encoded copy: "CIFAR-10 (JPEG copy)") or the canonical binary version.
- :func:`load_wordnet100`: WordNet-100, a real 100-class text task (rule in its docstring).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = ["DataError", "Dataset", "search_dirs", "user_cache_dir", "download", "fetch", "source_urls", "pinned", "sha256_file", "md5_file",
           "read_idx",
           "load_fashion_mnist", "load_cifar10", "find_cifar10", "read_cifar_binary", "read_cifar_jpeg_pack",
           "load_wordnet100", "parse_wordnet_nouns", "wordnet100_from_nouns", "FASHION_CLASSES", "content_hash",
           "write_cifar_binary"]

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# where system packages install the data (Debian's names); FPE_SYSTEM_DATA=0 (read once, at import) leaves
# them out, so that a machine with the packages can stand in for one without them
SYSTEM_DIRS = ({} if os.environ.get("FPE_SYSTEM_DATA") == "0" else
               {"fashion-mnist": ["/usr/share/datasets/fashion-mnist"], "cifar10": [], "wordnet": ["/usr/share/wordnet"]})

# Canonical sources, each over https where the source offers it, and the source of every hash:
#
# - FashionMNIST (Xiao et al. 2017): the upstream repository's data folder over https (the S3 website
#   mirror, http only, as a fallback). A .gz whose MD5 is the one the upstream README publishes
#   (github.com/zalandoresearch/fashion-mnist, "Get the Data"; the same values are in torchvision's
#   FashionMNIST.resources) is the upstream file and is accepted; any other copy is checked by the sha256
#   of its *uncompressed* IDX content (FASHION_FILES), computed here from Debian's dataset-fashion-mnist
#   0.0~git20200523, which recompresses the upstream files (so its .gz differ, its content does not).
#   A download that passes neither check is deleted and refused.
# - CIFAR-10 (Krizhevsky 2009): the binary version from the dataset's page; its MD5
#   c32a1d4ab5d03f1284b67883e8d87530 is the one published on www.cs.toronto.edu/~kriz/cifar.html, the
#   sha256 is of that same 170,052,171-byte archive (computed from a copy whose MD5 matched the published
#   one); both are checked.
# - WordNet 3.0: Princeton's WordNet-3.0.tar.bz2, pinned by the sha256 that Homebrew's wordnet formula
#   records for that upstream archive (Formula/w/wordnet.rb). WORDNET_NOUN_SHA256, of dict/data.noun, was
#   computed from Debian's wordnet-base 3.0: a downloaded data.noun that differs from it (the archive
#   itself verified) is used with a warning, never refused.
#
# FPE_DATA_MIRROR=<base URL> (https://, http://, file://) fetches every file by its canonical file name
# from that base instead (a local mirror, a loopback server in tests); the hashes are checked the same.
# FPE_DATA_PINS=<JSON file> {"<file name>": {"sha256": ..., "md5": ...}} replaces those pins for files
# fetched from such a mirror only (never from the canonical source), with a warning naming each file: a
# mirror of re-packed stand-ins (the offline clone check, .ci/offline) cannot match the published hashes.
FASHION_URLS = ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
FASHION_URL = FASHION_URLS[0]
FASHION_FILES = {  # name -> sha256 of the decompressed IDX file (from Debian's package, see above)
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_GZ_MD5 = {  # name -> MD5 of the upstream NAME.gz (published upstream, see above)
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on the dataset's page
CIFAR10_JPEG_SHA256 = "9e7b5acdae3334ad95512791dfd17fc188af62c5c3bf67ebd5db4d9b00efdf17"  # ../shared/data/README.md
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
WORDNET_URL = "https://wordnetcode.princeton.edu/3.0/WordNet-3.0.tar.bz2"
WORDNET_SHA256 = "6c492d0c7b4a40e7674d088191d3aa11f373bb1da60762e098b8ee2dda96ef22"  # Homebrew's formula, see above
WORDNET_NOUN_SHA256 = "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2"  # Debian's wordnet-base
DOWNLOAD_RETRIES = 4  # attempts per URL
DOWNLOAD_BACKOFF = 2.0  # seconds before the second attempt, doubled before each later one


class DataError(RuntimeError):
    """A data file is missing, corrupt or truncated; the message names the file and the fix."""


@dataclass
class Dataset:
    """A train/test split: ``x_*`` (uint8 images ``(N, H, W[, 3])`` or a list of texts), ``y_*`` int64."""

    name: str
    x_train: object
    y_train: np.ndarray
    x_test: object
    y_test: np.ndarray
    classes: list[str]
    source: str  # the file or directory it was read from
    meta: dict = field(default_factory=dict)
    key: str = ""  # the stable data-set key ("cifar10", "fashion-mnist", "wordnet100"): names seed streams and caches
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def data_key(self) -> str:
        """The stable key of the data set, whatever copy it was read from (the display ``name`` says
        which copy: "CIFAR-10" or "CIFAR-10 (JPEG copy)"); falls back to the name."""
        return self.key or self.name

    def content_hash(self) -> str:
        """sha256 of the data itself (pixels or texts, labels, class names), not of the file it came from:
        two copies with the same pixels (the canonical binary and a re-packing of it) share it, two with
        different pixels (the canonical binary and the JPEG copy) never do. Computed once."""
        if self._hash is None:
            self._hash = content_hash(self.x_train, self.y_train, self.x_test, self.y_test, self.classes)
        return self._hash


def content_hash(*parts) -> str:
    """sha256 over arrays (dtype, shape and bytes), lists of texts and other values, in order."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray) or hasattr(p, "numpy"):
            a = np.ascontiguousarray(p.numpy() if hasattr(p, "numpy") and not isinstance(p, np.ndarray) else p)
            h.update(f"array {a.dtype.str} {a.shape}\n".encode())
            h.update(a.reshape(-1).view(np.uint8).data)
        elif isinstance(p, (list, tuple)):
            h.update(f"list {len(p)}\n".encode())
            for item in p:
                b = str(item).encode("utf-8")
                h.update(len(b).to_bytes(8, "little") + b)
        else:
            h.update(f"value {p!r}\n".encode())
    return h.hexdigest()


# --- where files are found ---------------------------------------------------------------------

def user_cache_dir() -> Path:
    if os.environ.get("FPE_USER_CACHE"):
        return Path(os.environ["FPE_USER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fpe-data"


def search_dirs(name: str) -> list[Path]:
    """Directories searched for data set ``name``, in order (module docstring)."""
    dirs: list[Path] = []
    if os.environ.get("FPE_DATA_DIR"):
        root = Path(os.environ["FPE_DATA_DIR"])
        dirs += [root, root / name]
    dirs += [Path(p) for p in SYSTEM_DIRS.get(name, [])]
    dirs.append(user_cache_dir() / name)
    return dirs


def _find(name: str, candidates: Iterable[str]) -> Path | None:
    for d in search_dirs(name):
        for c in candidates:
            if (d / c).is_file():
                return d / c
    return None


# --- download ----------------------------------------------------------------------------------

def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def md5_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def source_urls(*urls: str) -> list[str]:
    """The URLs to try for a file, in order: ``urls``, or with ``FPE_DATA_MIRROR`` set, the file's name
    under that base only (module docstring)."""
    mirror = os.environ.get("FPE_DATA_MIRROR")
    if mirror:
        return [mirror.rstrip("/") + "/" + urls[0].rstrip("/").rsplit("/", 1)[-1]]
    return list(urls)


_HEX = {"sha256": 64, "md5": 32}


def pinned(name: str, sha256: str | None, md5: str | None = None) -> tuple[str | None, str | None]:
    """The hashes to check file ``name`` against: the built-in pins, or with both ``FPE_DATA_MIRROR`` and
    ``FPE_DATA_PINS`` set and ``name`` listed in that JSON file, the file's own (module comment above)."""
    table_path = os.environ.get("FPE_DATA_PINS")
    if not table_path or not os.environ.get("FPE_DATA_MIRROR"):
        return sha256, md5
    try:
        table = json.loads(Path(table_path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"FPE_DATA_PINS={table_path!r} is not a readable JSON file ({exc})") from exc
    entry = table.get(name) if isinstance(table, dict) else None
    if entry is None:
        return sha256, md5
    if (not isinstance(entry, dict) or not entry or set(entry) - set(_HEX)
            or any(not isinstance(v, str) or len(v) != _HEX[k] or set(v.lower()) - set("0123456789abcdef")
                   for k, v in entry.items())):
        raise DataError(f"FPE_DATA_PINS: the entry for {name!r} must map some of {sorted(_HEX)} to hex digests "
                        f"(64 and 32 digits), got {entry!r}")
    warnings.warn(f"FPE_DATA_PINS replaces the published hashes of {name} (mirror {os.environ['FPE_DATA_MIRROR']}): "
                  f"the numbers are those of whatever that mirror serves", stacklevel=3)
    return entry.get("sha256"), entry.get("md5")


def fetch(urls: Sequence[str], dest: str | os.PathLike, sha256: str | None, md5: str | None = None, *,
          progress: bool = True) -> Path:
    """:func:`download` of a data file from its canonical ``urls`` (or the mirror, :func:`source_urls`)
    to ``dest``, checked against its pins (:func:`pinned`, by the file name of ``urls[0]``)."""
    name = urls[0].rstrip("/").rsplit("/", 1)[-1]
    sha256, md5 = pinned(name, sha256, md5)
    return download(source_urls(*urls), dest, sha256, md5=md5, progress=progress)


class _Mismatch(DataError):
    """A download finished but its hash differs (retried: a truncated transfer looks the same)."""


def download(url: str | Iterable[str], dest: str | os.PathLike, sha256: str | None, *, md5: str | None = None,
             progress: bool = True, opener: Callable = urllib.request.urlopen, timeout: float = 60.0,
             retries: int | None = None, backoff: float | None = None, sleep: Callable = time.sleep) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file + rename) and check its sha256 (and MD5).

    ``url`` may be several URLs (mirrors), tried in order. Each is tried ``retries`` times
    (:data:`DOWNLOAD_RETRIES`) with exponential backoff (:data:`DOWNLOAD_BACKOFF` seconds, doubled each
    time) on network errors and on a hash mismatch (a truncated transfer). ``sha256=None`` skips that
    check (for files pinned otherwise, which the caller checks). A final failure deletes the partial file
    and raises :class:`DataError`. ``opener`` is ``urllib.request.urlopen`` (tests pass a fake one or a
    ``file://`` URL).
    """
    urls = [url] if isinstance(url, str) else list(url)
    retries = DOWNLOAD_RETRIES if retries is None else max(1, int(retries))
    backoff = DOWNLOAD_BACKOFF if backoff is None else backoff
    errors = []
    for u in urls:
        for attempt in range(retries):
            if attempt:
                sleep(backoff * 2 ** (attempt - 1))
            try:
                return _download_once(u, Path(dest), sha256, md5, progress=progress, opener=opener, timeout=timeout)
            except _Mismatch as exc:
                errors.append(str(exc))
            except OSError as exc:  # URLError, timeouts, connection resets, disk full
                errors.append(f"{u}: {exc}")
                code = getattr(exc, "code", None)  # an HTTP error: 404 and its kind do not go away by waiting
                if isinstance(code, int) and 400 <= code < 500 and code not in (408, 429):
                    break
    dest = Path(dest)
    if errors and all(e.startswith("download of") for e in errors):
        raise DataError(f"{errors[-1]} ({len(errors)} attempts)")
    raise DataError(f"could not download {urls[0]} to {dest} after {len(errors)} attempts ({errors[-1]}). Offline, "
                    f"set FPE_DATA_DIR to a directory holding the file, FPE_DATA_MIRROR to a mirror, or place a "
                    f"verified copy at {dest}.")


def _download_once(url: str, dest: Path, sha256: str | None, md5: str | None, *, progress: bool, opener: Callable,
                   timeout: float) -> Path:
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    h, m = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out, opener(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, desc=f"download {dest.name}",
                      disable=not progress, leave=False) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    m.update(block)
                    bar.update(len(block))
        for name, want, got in (("sha256", sha256, h.hexdigest()), ("MD5", md5, m.hexdigest())):
            if want is not None and got != want.lower():
                raise _Mismatch(f"download of {url} to {dest} has {name} {got}, expected {want}: the file is "
                                f"corrupt or the source changed. Retry, or place a verified copy in {dest.parent}.")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _fix_hint(path: Path, name: str) -> str:
    return (f"delete {path} and run again to re-download it, or reinstall the source "
            f"(FPE_DATA_DIR, the Debian package, or {user_cache_dir() / name})")


# --- FashionMNIST ------------------------------------------------------------------------------

def read_idx(path: str | os.PathLike, expected_sha256: str | None = None) -> np.ndarray:
    """Parse an IDX file (``.gz`` or raw) into a uint8 array, checking header and length.

    With ``expected_sha256``, also checks the sha256 of the uncompressed bytes.
    """
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} is not a readable IDX file ({exc}); {_fix_hint(path, 'fashion-mnist')}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataError(f"{path} does not start with an IDX uint8 header; {_fix_hint(path, 'fashion-mnist')}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    if len(raw) != start + int(np.prod(dims)):
        raise DataError(f"{path} holds {len(raw) - start} data bytes, its header says {int(np.prod(dims))} "
                        f"(truncated or corrupt); {_fix_hint(path, 'fashion-mnist')}")
    if expected_sha256 is not None and hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise DataError(f"{path} parses but its content differs from the canonical FashionMNIST file; "
                        f"{_fix_hint(path, 'fashion-mnist')}")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims).copy()


def _fashion_file(stem: str, *, progress: bool, verify: bool) -> np.ndarray:
    path, downloaded = _find("fashion-mnist", [stem + ".gz", stem]), False
    if path is None:
        bases = [FASHION_URL] + [u for u in FASHION_URLS if u != FASHION_URL]
        path = fetch([b + stem + ".gz" for b in bases], user_cache_dir() / "fashion-mnist" / (stem + ".gz"), None,
                     progress=progress)
        downloaded = True
    # canonical: the upstream .gz itself (its published MD5), or any copy with the canonical content
    # (Debian's package recompresses the files, so only the content can be compared there)
    expected = FASHION_FILES[stem] if verify else None
    if expected and path.suffix == ".gz" and md5_file(path) == FASHION_GZ_MD5[stem]:
        expected = None
    try:
        return read_idx(path, expected), path
    except DataError:
        if downloaded:  # never keep a download that is not FashionMNIST in the cache
            path.unlink(missing_ok=True)
        raise


def load_fashion_mnist(*, progress: bool = True, verify: bool = True) -> Dataset:
    """FashionMNIST, raw pixels: ``x`` uint8 ``(N, 28, 28)``, ``y`` int64, 60,000 train / 10,000 test."""
    xs, source = {}, None
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x, source = _fashion_file(f"{prefix}-images-idx3-ubyte", progress=progress, verify=verify)
        y, _ = _fashion_file(f"{prefix}-labels-idx1-ubyte", progress=progress, verify=verify)
        if len(x) != len(y):
            raise DataError(f"FashionMNIST {split}: {len(x)} images but {len(y)} labels in {source.parent}")
        xs[split] = (x, y.astype(np.int64))
    return Dataset("FashionMNIST", xs["train"][0], xs["train"][1], xs["test"][0], xs["test"][1],
                   list(FASHION_CLASSES), str(source.parent), key="fashion-mnist")


# --- CIFAR-10 ----------------------------------------------------------------------------------

def read_cifar_binary(path: str | os.PathLike, *, expect_full: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Parse the CIFAR-10 binary version (``cifar-10-binary.tar.gz``) without extracting it.

    Each batch file holds records of 1 label byte + 3072 pixel bytes (10,000 per file in the
    canonical archive; ``expect_full=False`` accepts any whole number of records, for tests).

    Returns ``{"train": (x (50000, 32, 32, 3) uint8, y), "test": (x, y)}``.
    """
    path = Path(path)
    rec = 1 + 3 * 32 * 32
    parts: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            names = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
            for split, files in names.items():
                for f in files:
                    if f not in members:
                        raise DataError(f"{path} lacks {f}; {_fix_hint(path, 'cifar10')}")
                    buf = tar.extractfile(members[f]).read()
                    if len(buf) == 0 or len(buf) % rec or (expect_full and len(buf) != 10000 * rec):
                        raise DataError(f"{path}: {f} has {len(buf)} bytes, expected "
                                        f"{'10000 x ' if expect_full else 'a multiple of '}{rec} (truncated); "
                                        f"{_fix_hint(path, 'cifar10')}")
                    parts[split].append(np.frombuffer(buf, dtype=np.uint8).reshape(-1, rec))
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} is not a readable CIFAR-10 binary archive ({exc}); {_fix_hint(path, 'cifar10')}") from exc
    out = {}
    for split, arrs in parts.items():
        a = np.concatenate(arrs)
        y = a[:, 0].astype(np.int64)
        x = a[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        if y.max() > 9:
            raise DataError(f"{path}: label {y.max()} out of range 0..9 (corrupt); {_fix_hint(path, 'cifar10')}")
        out[split] = (x, y)
    return out


def write_cifar_binary(path: str | os.PathLike, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                       y_test: np.ndarray, *, batches: int = 5) -> Path:
    """Write images ``(N, 32, 32, 3)`` uint8 and labels as a CIFAR-10 binary archive laid out like the
    canonical ``cifar-10-binary.tar.gz`` (``cifar-10-batches-bin/data_batch_1..5.bin``, ``test_batch.bin``,
    ``batches.meta.txt``; records of 1 label byte + 1024 R, 1024 G, 1024 B bytes). The tests write the
    JPEG copy's pixels this way to stand in for the canonical download (:func:`read_cifar_binary` reads it;
    with other than 10,000 images per batch use ``expect_full=False``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def records(x, y):
        x, y = np.asarray(x, dtype=np.uint8), np.asarray(y)
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(x) != len(y) or (len(y) and (y.min() < 0 or y.max() > 9)):
            raise ValueError(f"expected images (N, 32, 32, 3) with labels 0..9, got {x.shape} and {len(y)} labels")
        rec = np.empty((len(x), 1 + 3072), dtype=np.uint8)
        rec[:, 0] = y
        rec[:, 1:] = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        return rec

    train, test = records(x_train, y_train), records(x_test, y_test)
    files = {f"data_batch_{i + 1}.bin": part.tobytes() for i, part in enumerate(np.array_split(train, batches))}
    files["test_batch.bin"] = test.tobytes()
    files["batches.meta.txt"] = ("\n".join(CIFAR10_CLASSES) + "\n").encode()
    tmp = path.with_name(path.name + ".part")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)
    return path


def read_cifar_jpeg_pack(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Decode the JPEG pack ``cifar10-jpeg.npz`` (see ``../shared/data/README.md``), no pickle."""
    from PIL import Image

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data, offsets, labels, is_train = z["data"], z["offsets"], z["labels"], z["is_train"]
    except Exception as exc:  # zipfile.BadZipFile, ValueError, KeyError, EOFError ...
        raise DataError(f"{path} is not a readable CIFAR-10 JPEG pack ({type(exc).__name__}: {exc}); "
                        f"{_fix_hint(path, 'cifar10')}") from exc
    n = len(labels)
    if offsets.shape != (n + 1,) or is_train.shape != (n,) or offsets[-1] != len(data) or (np.diff(offsets) <= 0).any():
        raise DataError(f"{path}: inconsistent arrays (offsets do not index data); {_fix_hint(path, 'cifar10')}")
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        try:
            img = Image.open(io.BytesIO(data[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")
            images[i] = np.asarray(img)
        except Exception as exc:
            raise DataError(f"{path}: image {i} does not decode as a 32x32 JPEG ({exc}); {_fix_hint(path, 'cifar10')}") from exc
    y = labels.astype(np.int64)
    return {"train": (images[is_train], y[is_train]), "test": (images[~is_train], y[~is_train])}


def find_cifar10() -> tuple[Path, str] | None:
    """The file :func:`load_cifar10` would read and the display name it would give, without reading it;
    ``None`` where it would download."""
    path = _find("cifar10", ["cifar-10-binary.tar.gz"])
    if path is not None:
        return path, "CIFAR-10"
    path = _find("cifar10", ["cifar10-jpeg.npz"])
    if path is not None:
        return path, "CIFAR-10 (JPEG copy)"
    return None


def load_cifar10(*, progress: bool = True) -> Dataset:
    """CIFAR-10: ``x`` uint8 ``(N, 32, 32, 3)``, 50,000 train / 10,000 test.

    Prefers the canonical binary archive when present, else the JPEG pack (its name then says
    "CIFAR-10 (JPEG copy)"), else downloads the binary archive (hash-pinned). Whatever the copy, the
    stable key is "cifar10" (:attr:`Dataset.data_key`).
    """
    found = find_cifar10()
    if found is None:
        path = fetch([CIFAR10_URL], user_cache_dir() / "cifar10" / "cifar-10-binary.tar.gz", CIFAR10_SHA256, CIFAR10_MD5,
                     progress=progress)
        found = (path, "CIFAR-10")
    path, name = found
    parts = read_cifar_jpeg_pack(path) if path.suffix == ".npz" else read_cifar_binary(path)
    (xtr, ytr), (xte, yte) = parts["train"], parts["test"]
    return Dataset(name, xtr, ytr, xte, yte, list(CIFAR10_CLASSES), str(path), key="cifar10")


# --- WordNet-100 -------------------------------------------------------------------------------

def parse_wordnet_nouns(path: str | os.PathLike) -> dict[str, tuple[list[str], list[str], str]]:
    """Parse WordNet's ``data.noun``: offset -> (words, hypernym offsets (``@`` and ``@i``), gloss)."""
    path = Path(path)
    out: dict[str, tuple[list[str], list[str], str]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a readable WordNet data.noun ({exc}); {_fix_hint(path, 'wordnet')}") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith(" "):
            continue  # licence header
        try:
            head, gloss = line.split(" | ", 1)
            f = head.split()
            offset, n_words = f[0], int(f[3], 16)
            words = [f[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            p = 4 + 2 * n_words
            n_ptr = int(f[p])
            hyper = [f[p + 1 + 4 * j + 1] for j in range(n_ptr) if f[p + 1 + 4 * j] in ("@", "@i")]
        except (ValueError, IndexError) as exc:
            raise DataError(f"{path}, line {lineno}: not a WordNet data line (corrupt or truncated); "
                            f"{_fix_hint(path, 'wordnet')}") from exc
        out[offset] = (words, hyper, gloss.strip())
    if "00001740" not in out:
        raise DataError(f"{path} lacks the root synset 'entity' (00001740): truncated or not data.noun; "
                        f"{_fix_hint(path, 'wordnet')}")
    return out


def _definition(gloss: str) -> str:
    """The definition part of a gloss (before the first quoted example)."""
    return gloss.split('; "', 1)[0].split(' "', 1)[0].strip().rstrip(";").strip()


def wordnet100_from_nouns(nouns: dict, *, depth: int = 5, n_classes: int = 100, per_class: int = 300,
                          test_fraction: float = 0.2, seed: int = 0):
    """The WordNet-100 rule (see :func:`load_wordnet100`); returns (texts, labels, class names, is_test)."""
    root = "00001740"
    path_cache: dict[str, list[str] | None] = {root: [root]}

    def path_to_root(o: str, seen=()) -> list[str] | None:  # first-hypernym chain, root first
        if o in path_cache:
            return path_cache[o]
        hyper = nouns[o][1]
        if not hyper or o in seen or hyper[0] not in nouns:
            path_cache[o] = None
            return None
        up = path_to_root(hyper[0], seen + (o,))
        path_cache[o] = None if up is None else up + [o]
        return path_cache[o]

    import sys
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    members: dict[str, list[str]] = {}
    for o in sorted(nouns):
        p = path_to_root(o)
        if p is not None and len(p) > depth + 1:  # strictly below the depth-`depth` ancestor
            members.setdefault(p[depth], []).append(o)
    ranked = sorted(members, key=lambda a: (-len(members[a]), a))[:n_classes]
    rng = np.random.default_rng(seed)
    texts, labels, is_test = [], [], []
    for c, anc in enumerate(ranked):
        chosen = sorted(members[anc])
        if len(chosen) > per_class:
            chosen = sorted(rng.choice(chosen, size=per_class, replace=False).tolist())
        order = rng.permutation(len(chosen))
        n_test = int(round(test_fraction * len(chosen)))
        for rank, i in enumerate(order):
            texts.append(_definition(nouns[chosen[i]][2]))
            labels.append(c)
            is_test.append(rank < n_test)
    names = [nouns[a][0][0] for a in ranked]
    names = [f"{n} ({a})" if names.count(n) > 1 else n for n, a in zip(names, ranked)]
    return texts, np.array(labels, dtype=np.int64), names, np.array(is_test)


def load_wordnet100(*, depth: int = 5, n_classes: int = 100, per_class: int = 300, test_fraction: float = 0.2,
                    seed: int = 0, progress: bool = True) -> Dataset:
    """WordNet-100: noun glosses labelled by their depth-``depth`` hypernym ancestor.

    The exact rule **[house]**: for every noun synset of WordNet 3.0 follow its *first* hypernym
    pointer (``@``, or ``@i`` for instances) up to the root ``entity.n.01`` (depth 0); a synset whose
    chain is longer than ``depth`` is labelled by the synset at depth ``depth`` on that chain. The
    ``n_classes`` ancestors with the most labelled synsets are the classes (ties by offset); each class
    keeps at most ``per_class`` synsets (a seeded uniform sample); ``test_fraction`` of each class is
    held out (seeded). The text is the gloss's definition (without the quoted examples and without
    the synset's own words).
    """
    path = _find("wordnet", ["data.noun", "dict/data.noun"])
    if path is None:
        tgz = fetch([WORDNET_URL], user_cache_dir() / "wordnet" / WORDNET_URL.rsplit("/", 1)[-1], WORDNET_SHA256,
                    progress=progress)
        with tarfile.open(tgz, "r:*") as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("dict/data.noun")), None)
            if member is None:
                raise DataError(f"{tgz} lacks dict/data.noun; delete it and run again")
            raw = tar.extractfile(member).read()
        if hashlib.sha256(raw).hexdigest() != WORDNET_NOUN_SHA256:  # the archive itself is verified upstream's
            warnings.warn(f"{tgz}: dict/data.noun differs from the copy the book's numbers were computed from "
                          f"(Debian's wordnet-base 3.0); WordNet-100 may differ from the book's", stacklevel=2)
        path = user_cache_dir() / "wordnet" / "data.noun"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    nouns = parse_wordnet_nouns(path)
    texts, y, names, is_test = wordnet100_from_nouns(nouns, depth=depth, n_classes=n_classes, per_class=per_class,
                                                     test_fraction=test_fraction, seed=seed)
    tr = [t for t, s in zip(texts, is_test) if not s]
    te = [t for t, s in zip(texts, is_test) if s]
    return Dataset("WordNet-100", tr, y[~is_test], te, y[is_test], names, str(path),
                   meta=dict(depth=depth, n_classes=n_classes, per_class=per_class, test_fraction=test_fraction, seed=seed),
                   key="wordnet100")
