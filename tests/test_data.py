"""Tests of the real-data loaders, the downloader and the embedding cache (fpe.datasets.loaders, fpe.datasets.encoders)."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fpe.datasets import loaders as data
from fpe.datasets.loaders import DataError

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
WORDNET_SYSTEM = Path("/usr/share/wordnet/data.noun")


pytestmark = pytest.mark.usefixtures("isolated_data")  # tests/conftest.py


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return head + arr.tobytes()


def write_fashion(dirpath: Path, n_train=12, n_test=6, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    dirpath.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    for stem, a in arrays.items():
        (dirpath / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(a)))
    return arrays


# --- IDX / FashionMNIST --------------------------------------------------------------------------

def test_fashion_loader_reads_small_idx_files(tmp_path, monkeypatch):
    arrays = write_fashion(tmp_path / "data")
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path / "data"))
    d = data.load_fashion_mnist(progress=False, verify=False)
    assert d.x_train.shape == (12, 28, 28) and d.x_test.shape == (6, 28, 28)
    np.testing.assert_array_equal(d.x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert d.y_train.dtype == np.int64 and len(d.classes) == 10


def test_fashion_loader_rejects_corrupt_and_truncated_files(tmp_path, monkeypatch):
    write_fashion(tmp_path / "data")
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path / "data"))
    bad = tmp_path / "data" / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(raw[:-100]))  # truncated payload
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_fashion_mnist(progress=False, verify=False)
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        data.load_fashion_mnist(progress=False, verify=False)


def test_fashion_content_hash_is_checked(tmp_path, monkeypatch):
    write_fashion(tmp_path / "data")
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError, match="differs from the canonical"):
        data.load_fashion_mnist(progress=False, verify=True)


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_real_files_verify(monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_DIRS", {"fashion-mnist": [str(FASHION_SYSTEM)]})
    y = data.read_idx(FASHION_SYSTEM / "t10k-labels-idx1-ubyte.gz", data.FASHION_FILES["t10k-labels-idx1-ubyte"])
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))


# --- download ----------------------------------------------------------------------------------

def test_download_file_url_checks_sha_and_is_atomic(tmp_path):
    src = tmp_path / "src.bin"
    payload = os.urandom(3000)
    src.write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "out" / "file.bin"
    data.download(src.as_uri(), dest, good, progress=False)
    assert dest.read_bytes() == payload
    assert not list(dest.parent.glob("*.part"))
    dest2 = tmp_path / "out" / "other.bin"
    with pytest.raises(DataError, match="sha256"):
        data.download(src.as_uri(), dest2, "0" * 64, progress=False)
    assert not dest2.exists() and not list(dest2.parent.glob("*.part"))


def test_download_failure_midway_leaves_nothing(tmp_path):
    class Broken(io.BytesIO):
        headers = {"Content-Length": "100"}

        def read(self, n=-1):
            raise ConnectionResetError("network went away")

    dest = tmp_path / "x.bin"
    with pytest.raises(DataError, match="could not download"):
        data.download("http://example.invalid/x.bin", dest, None, progress=False, opener=lambda url, timeout: Broken(),
                      sleep=lambda s: None)
    assert not dest.exists() and not list(tmp_path.glob("*.part"))


def test_download_retries_with_backoff_then_succeeds(tmp_path):
    payload = os.urandom(500)
    calls, waits = [], []

    class Once(io.BytesIO):
        headers = {}

    def flaky(url, timeout):
        calls.append(url)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")
        if len(calls) == 3:
            return Once(payload[:100])  # truncated: the hash differs, so it is retried too
        return Once(payload)

    dest = tmp_path / "f.bin"
    data.download("https://example.invalid/f.bin", dest, hashlib.sha256(payload).hexdigest(), progress=False,
                  opener=flaky, sleep=waits.append, retries=4, backoff=0.5)
    assert dest.read_bytes() == payload and len(calls) == 4
    assert waits == [0.5, 1.0, 2.0]  # exponential backoff


def test_download_tries_the_next_mirror_and_does_not_wait_on_a_404(tmp_path):
    import urllib.error

    src = tmp_path / "ok.bin"
    src.write_bytes(b"abc")
    waits = []

    def opener(url, timeout):
        if url.startswith("https://gone.invalid/"):
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return urllib.request.urlopen(url, timeout=timeout)

    import urllib.request
    out = data.download(["https://gone.invalid/ok.bin", src.as_uri()], tmp_path / "d" / "ok.bin", None,
                        md5=hashlib.md5(b"abc").hexdigest(), progress=False, opener=opener, sleep=waits.append)
    assert out.read_bytes() == b"abc" and waits == []
    with pytest.raises(DataError, match="MD5"):
        data.download(src.as_uri(), tmp_path / "d" / "bad.bin", None, md5="0" * 32, progress=False, sleep=waits.append)
    assert waits == [2.0, 4.0, 8.0]  # the default: 4 attempts, 2 s doubled


def test_every_source_is_https_and_every_pin_names_its_source():
    import inspect
    src = inspect.getsource(data)
    for url in (data.FASHION_URL, data.CIFAR10_URL, data.WORDNET_URL):
        assert url.startswith("https://")
    assert data.FASHION_URLS[0] == data.FASHION_URL
    for words in ("zalandoresearch/fashion-mnist", "torchvision", "cifar.html", "Homebrew", "wordnet-base",
                  "dataset-fashion-mnist"):
        assert words in src
    assert set(data.FASHION_GZ_MD5) == set(data.FASHION_FILES)


def test_the_mirror_setting_fetches_every_file_by_its_canonical_name(tmp_path, monkeypatch):
    """FPE_DATA_MIRROR stands in for the internet (a file:// folder here): FashionMNIST, checked (by the
    upstream MD5 of each .gz or by its content) unless verify=False; a download that fails it is deleted."""
    arrays = write_fashion(tmp_path / "mirror")
    monkeypatch.setenv("FPE_DATA_MIRROR", (tmp_path / "mirror").as_uri())
    assert data.source_urls(data.CIFAR10_URL) == [(tmp_path / "mirror").as_uri() + "/cifar-10-binary.tar.gz"]
    d = data.load_fashion_mnist(progress=False, verify=False)
    np.testing.assert_array_equal(d.x_test, arrays["t10k-images-idx3-ubyte"])
    for f in (data.user_cache_dir() / "fashion-mnist").glob("*.gz"):
        f.unlink()
    with pytest.raises(DataError, match="differs from the canonical"):  # not FashionMNIST's files
        data.load_fashion_mnist(progress=False, verify=True)
    assert not list((data.user_cache_dir() / "fashion-mnist").glob("*"))


def test_data_pins_replace_a_mirrored_files_pins_only_and_are_checked(tmp_path, monkeypatch):
    """FPE_DATA_PINS: a mirror's own hashes (the offline clone check serves re-packed stand-ins); ignored
    without FPE_DATA_MIRROR and for files it does not list; a bad table is refused naming the setting."""
    pins = tmp_path / "pins.json"
    pins.write_text('{"cifar-10-binary.tar.gz": {"sha256": "%s", "md5": "%s"}}' % ("ab" * 32, "cd" * 16))
    monkeypatch.setenv("FPE_DATA_PINS", str(pins))
    assert data.pinned("cifar-10-binary.tar.gz", "x", "y") == ("x", "y")  # no mirror: the built-in pins
    monkeypatch.setenv("FPE_DATA_MIRROR", (tmp_path / "mirror").as_uri())
    with pytest.warns(UserWarning, match="replaces the published hashes of cifar-10-binary.tar.gz"):
        assert data.pinned("cifar-10-binary.tar.gz", "x", "y") == ("ab" * 32, "cd" * 16)
    assert data.pinned("WordNet-3.0.tar.bz2", "x") == ("x", None)  # not listed
    for bad, match in (('{"cifar-10-binary.tar.gz": {"sha1": "00"}}', "must map some of"),
                       ('{"cifar-10-binary.tar.gz": {"md5": "zz"}}', "hex digests"), ("not json", "FPE_DATA_PINS=")):
        pins.write_text(bad)
        with pytest.raises(DataError, match=match):
            data.pinned("cifar-10-binary.tar.gz", "x")


def test_system_data_off_leaves_the_package_directories_out():
    """FPE_SYSTEM_DATA=0 (read at import) makes a machine with the Debian data packages look like one
    without them (the offline clone check downloads FashionMNIST and WordNet from its mirror)."""
    import subprocess
    import sys

    code = "from fpe.datasets import loaders as d; print(d.SYSTEM_DIRS, d.search_dirs('wordnet')[0])"
    off = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, FPE_SYSTEM_DATA="0", FPE_DATA_DIR=""),
                         capture_output=True, text=True, check=True).stdout
    on = subprocess.run([sys.executable, "-c", code], env={k: v for k, v in os.environ.items() if k != "FPE_SYSTEM_DATA"} | {"FPE_DATA_DIR": ""},
                        capture_output=True, text=True, check=True).stdout
    assert off.startswith("{} ") and "/usr/share/wordnet" not in off
    assert "/usr/share/wordnet" in on


def test_an_upstream_fashion_gz_is_accepted_by_its_md5(tmp_path, monkeypatch):
    """A .gz whose MD5 is the upstream one is FashionMNIST whatever the content hash taken from Debian says
    (so a non-Debian user never gets a permanent 'differs' error)."""
    arrays = write_fashion(tmp_path / "data")
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(data, "FASHION_GZ_MD5", {f"{stem}": data.md5_file(tmp_path / "data" / f"{stem}.gz") for stem in arrays})
    d = data.load_fashion_mnist(progress=False, verify=True)
    assert d.x_train.shape == (12, 28, 28)


def test_fashion_falls_back_to_download(tmp_path, monkeypatch):
    write_fashion(tmp_path / "mirror")
    monkeypatch.setattr(data, "FASHION_URL", (tmp_path / "mirror").as_uri() + "/")
    monkeypatch.setattr(data, "FASHION_URLS", (data.FASHION_URL,))
    d = data.load_fashion_mnist(progress=False, verify=False)
    assert d.x_train.shape == (12, 28, 28)
    assert (data.user_cache_dir() / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()


# --- CIFAR-10 ----------------------------------------------------------------------------------

def cifar_archive(path: Path, n=4, truncate=False, seed=0):
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1).astype(np.uint8)
            buf = rec.tobytes()[: -7 if truncate else None]
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(buf)
            tar.addfile(info, io.BytesIO(buf))
    return path


def test_cifar_binary_reader(tmp_path):
    parts = data.read_cifar_binary(cifar_archive(tmp_path / "c.tar.gz"), expect_full=False)
    assert parts["train"][0].shape == (20, 32, 32, 3) and parts["test"][0].shape == (4, 32, 32, 3)
    with pytest.raises(DataError, match="c.tar.gz.*test_batch.bin|c.tar.gz.*truncated"):
        data.read_cifar_binary(cifar_archive(tmp_path / "c.tar.gz", truncate=True), expect_full=False)
    with pytest.raises(DataError, match="expected 10000"):
        data.read_cifar_binary(cifar_archive(tmp_path / "c.tar.gz"))  # not the full canonical size
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="junk.tar.gz"):
        data.read_cifar_binary(tmp_path / "junk.tar.gz")


def jpeg_pack(path: Path, n=6, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    blobs, labels = [], []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=75)
        blobs.append(buf.getvalue())
        labels.append(i % 10)
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    np.savez(path, data=np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets=offsets,
             labels=np.array(labels, dtype=np.uint8), is_train=np.arange(n) < n - 2, classes=np.array(data.CIFAR10_CLASSES))
    return path


def test_cifar_jpeg_pack_reader_and_loader(tmp_path, monkeypatch):
    jpeg_pack(tmp_path / "cifar10-jpeg.npz")
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    d = data.load_cifar10(progress=False)
    assert d.name == "CIFAR-10 (JPEG copy)"
    assert d.x_train.shape == (4, 32, 32, 3) and d.x_test.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(d.y_train, [0, 1, 2, 3])


def test_cifar_jpeg_pack_corrupt(tmp_path):
    p = jpeg_pack(tmp_path / "cifar10-jpeg.npz")
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DataError, match="cifar10-jpeg.npz"):
        data.read_cifar_jpeg_pack(p)


def test_cifar_loader_prefers_binary_archive(tmp_path, monkeypatch):
    jpeg_pack(tmp_path / "cifar10-jpeg.npz")
    cifar_archive(tmp_path / "cifar-10-binary.tar.gz")
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="expected 10000"):  # the canonical archive must be complete
        data.load_cifar10(progress=False)


# --- WordNet-100 -------------------------------------------------------------------------------

def wordnet_lines(depth=7, leaves=3, n_branches=4):
    """A tiny data.noun: a chain entity -> a1 -> ... and ``n_branches`` subtrees below depth 4."""
    lines = ["  1 This software and database is being provided ... (licence header)"]
    nodes = {}  # offset -> (word, parent offset)
    nodes["00001740"] = ("entity", None)
    parent = "00001740"
    for dpt in range(1, 5):
        off = f"{10000000 + dpt:08d}"
        nodes[off] = (f"level{dpt}", parent)
        parent = off
    counter = 20000000
    for b in range(n_branches):
        counter += 1
        branch = f"{counter:08d}"
        nodes[branch] = (f"branch{b}", parent)  # depth 5: the class
        for j in range(leaves + b):  # class sizes differ
            counter += 1
            nodes[f"{counter:08d}"] = (f"leaf{b}_{j}", branch)
    for off, (word, par) in nodes.items():
        ptr = "000" if par is None else f"001 @ {par} n 0000"
        lines.append(f"{off} 03 n 01 {word} 0 {ptr} | the definition of {word}; \"an example of {word}\"")
    return "\n".join(lines) + "\n"


def test_wordnet_rule_on_small_file(tmp_path, monkeypatch):
    (tmp_path / "wordnet").mkdir()
    (tmp_path / "wordnet" / "data.noun").write_text(wordnet_lines())
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    d = data.load_wordnet100(n_classes=3, per_class=4, test_fraction=0.25, progress=False)
    assert d.classes == ["branch3", "branch2", "branch1"]  # the 3 largest depth-5 ancestors
    counts = np.bincount(np.concatenate([d.y_train, d.y_test]))
    assert counts.tolist() == [4, 4, 4]  # capped per class
    assert all('"' not in t and t.startswith("the definition of leaf") for t in d.x_train + d.x_test)
    assert len(d.x_test) == 3  # 25 % of each class


@pytest.mark.skipif(not WORDNET_SYSTEM.is_file(), reason="Debian package wordnet-base not installed")
def test_wordnet_real_file_gives_100_classes():
    nouns = data.parse_wordnet_nouns(WORDNET_SYSTEM)
    texts, y, names, is_test = data.wordnet100_from_nouns(nouns, per_class=50)
    assert len(names) == len(set(names)) == 100
    assert np.bincount(y).max() == 50 and len(texts) == len(y)


def test_wordnet_corrupt_file(tmp_path):
    p = tmp_path / "data.noun"
    p.write_text(wordnet_lines() + "00099999 03 n zz broken line | gloss\n")
    with pytest.raises(DataError, match="data.noun, line"):
        data.parse_wordnet_nouns(p)
    p.write_text("\n".join(wordnet_lines().splitlines()[3:]))  # the root is missing
    with pytest.raises(DataError, match="root synset"):
        data.parse_wordnet_nouns(p)


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_a_mirror_of_debians_recompressed_files_passes_by_content(tmp_path, monkeypatch):
    """Debian's .gz are recompressed (their MD5 is not upstream's): served as a mirror, they are accepted
    by their content, and the same pixels come back."""
    monkeypatch.setenv("FPE_DATA_MIRROR", FASHION_SYSTEM.as_uri())
    d = data.load_fashion_mnist(progress=False, verify=True)
    assert d.x_train.shape == (60000, 28, 28) and d.source == str(data.user_cache_dir() / "fashion-mnist")
