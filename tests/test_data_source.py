"""The numbers do not depend on which copy of a data set was read (issue 26).

CIFAR-10 reaches a user either as the JPEG copy of ``../shared/data`` ("CIFAR-10 (JPEG copy)") or as the
canonical binary archive ``cifar-10-binary.tar.gz`` that a clone without ``../shared`` downloads
("CIFAR-10"). Here the JPEG copy's pixels are written in the canonical binary format
(:func:`fpe.datasets.loaders.write_cifar_binary`) as the stand-in for the download, and the two copies
must give the same pixels, the same stable key (which tags the seed streams), the same content hash
(which keys the embedding cache) and the same numbers from a tiny sweep; different pixels must never
share a cache entry.
"""
from __future__ import annotations

import functools
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fpe.datasets import features as F
from fpe.datasets import loaders as data

ROOT = Path(__file__).resolve().parents[1]
SHARED_PACK = Path(os.environ.get("FPE_DATA_DIR") or ROOT.parent / "shared" / "data") / "cifar10-jpeg.npz"


@pytest.fixture(autouse=True)
def isolated(isolated_data, monkeypatch):
    """tests/conftest.py's isolation, and jobs in this process."""
    monkeypatch.setenv("FPE_JOBS", "1")


def jpeg_pack(path: Path, n_train=40, n_test=20, seed=0) -> Path:
    """A small JPEG pack in the format of ``../shared/data/cifar10-jpeg.npz``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    n = n_train + n_test
    blobs = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=75)
        blobs.append(buf.getvalue())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, data=np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets=offsets,
             labels=(np.arange(n) % 10).astype(np.uint8), is_train=np.arange(n) < n_train,
             classes=np.array(data.CIFAR10_CLASSES))
    return path


@pytest.fixture
def two_copies(tmp_path, monkeypatch):
    """The same small pixels as a JPEG pack and as a canonical binary archive; returns a loader of each.

    The canonical archive holds 10,000 records per batch; these small ones are read with
    ``expect_full=False`` (the full-size case is :func:`test_the_real_jpeg_copy_as_the_canonical_binary`)."""
    monkeypatch.setattr(data, "read_cifar_binary", functools.partial(data.read_cifar_binary, expect_full=False))
    jpeg_dir, bin_dir = tmp_path / "jpeg", tmp_path / "canonical"
    jpeg_pack(jpeg_dir / "cifar10-jpeg.npz")

    def load(where):
        monkeypatch.setenv("FPE_DATA_DIR", str(where))
        return data.load_cifar10(progress=False)

    jp = load(jpeg_dir)
    data.write_cifar_binary(bin_dir / "cifar-10-binary.tar.gz", jp.x_train, jp.y_train, jp.x_test, jp.y_test)
    return {"jpeg": lambda: load(jpeg_dir), "canonical": lambda: load(bin_dir), "dirs": (jpeg_dir, bin_dir)}


def test_the_binary_writer_round_trips_in_the_canonical_layout(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 50)
    xt, yt = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 10)
    p = data.write_cifar_binary(tmp_path / "cifar-10-binary.tar.gz", x, y, xt, yt)
    import tarfile
    with tarfile.open(p) as tar:
        names = sorted(m.name for m in tar.getmembers())
        first = tar.extractfile("cifar-10-batches-bin/data_batch_1.bin").read()
    assert names == sorted([f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)]
                           + ["cifar-10-batches-bin/test_batch.bin", "cifar-10-batches-bin/batches.meta.txt"])
    # one record: the label byte, then the red, green and blue planes, row-major
    assert first[0] == y[0] and first[1:1025] == x[0, :, :, 0].tobytes() and first[2049:3073] == x[0, :, :, 2].tobytes()
    parts = data.read_cifar_binary(p, expect_full=False)
    np.testing.assert_array_equal(parts["train"][0], x)
    np.testing.assert_array_equal(parts["test"][1], yt)


def test_both_copies_give_the_same_pixels_key_and_content_hash(two_copies):
    jp, cb = two_copies["jpeg"](), two_copies["canonical"]()
    assert (jp.name, cb.name) == ("CIFAR-10 (JPEG copy)", "CIFAR-10")  # the display name says which copy
    assert jp.key == cb.key == jp.data_key == "cifar10"  # the key does not
    for a, b in ((jp.x_train, cb.x_train), (jp.y_train, cb.y_train), (jp.x_test, cb.x_test), (jp.y_test, cb.y_test)):
        np.testing.assert_array_equal(a, b)
    assert jp.content_hash() == cb.content_hash()
    # one pixel different: another hash
    x = cb.x_train.copy()
    x[0, 0, 0, 0] ^= 1
    assert data.content_hash(x, cb.y_train, cb.x_test, cb.y_test, cb.classes) != cb.content_hash()


def test_every_loader_names_its_stable_key():
    import inspect
    src = inspect.getsource(data)
    assert re.findall(r'key="([a-z0-9-]+)"', src) == ["fashion-mnist", "cifar10", "wordnet100"]
    assert F.STREAM_TAGS["cifar10"] == "cifar10"


def fake_encoder(calls):
    def encode(images, *, size=64, threads=2, progress=False):
        calls.append(len(images))
        x = torch.from_numpy(np.asarray(images, dtype=np.float32).reshape(len(images), -1))
        return x[:, :1280] / 255.0 + x[:, -1280:] / 510.0
    return encode


def test_the_embedding_cache_is_keyed_by_content_not_by_copy(two_copies, monkeypatch):
    calls = []
    monkeypatch.setattr(F, "efficientnet_lite0", fake_encoder(calls))
    jpeg_dir, bin_dir = two_copies["dirs"]
    monkeypatch.setenv("FPE_DATA_DIR", str(jpeg_dir))
    fj, ij = F.cifar10_features(dim=16)
    assert len(calls) == 2  # computed: train and test
    monkeypatch.setenv("FPE_DATA_DIR", str(bin_dir))
    fc, ic = F.cifar10_features(dim=16)
    assert len(calls) == 2, "the same pixels from the canonical copy reuse the entry"
    assert (fj.name, fc.name) == ("CIFAR-10 (JPEG copy)", "CIFAR-10")
    assert fj.key == fc.key == "cifar10" and fj.stream_tag == fc.stream_tag == "cifar10"
    assert fj.data_hash == fc.data_hash == ij["data_hash"] == ic["data_hash"]
    torch.testing.assert_close(fj.x_train, fc.x_train, rtol=0, atol=0)
    # other pixels under the same name and the same sizes: never the same entry
    cb = data.load_cifar10(progress=False)
    x = cb.x_train.copy()
    x[3] = 255 - x[3]
    other = bin_dir.parent / "other"
    data.write_cifar_binary(other / "cifar-10-binary.tar.gz", x, cb.y_train, cb.x_test, cb.y_test)
    monkeypatch.setenv("FPE_DATA_DIR", str(other))
    fo, io_ = F.cifar10_features(dim=16)
    assert len(calls) == 4 and fo.data_hash != fc.data_hash
    assert fo.subset(20).key == "cifar10" and fo.subset(20).data_hash == fo.data_hash


def test_a_cached_run_does_not_read_the_data_again(two_copies, monkeypatch):
    """The content hash of a local copy is cached under the file's sha256: with the embedding cached too,
    the second call neither decodes the images nor embeds them."""
    calls, loads = [], []
    monkeypatch.setattr(F, "efficientnet_lite0", fake_encoder(calls))
    real = data.load_cifar10
    monkeypatch.setattr(data, "load_cifar10", lambda **kw: loads.append(1) or real(**kw))
    monkeypatch.setenv("FPE_DATA_DIR", str(two_copies["dirs"][0]))
    first, i1 = F.cifar10_features(dim=16)
    assert (len(loads), len(calls)) == (1, 2)
    again, i2 = F.cifar10_features(dim=16)
    assert (len(loads), len(calls)) == (1, 2), "nothing read or embedded the second time"
    assert again.name == "CIFAR-10 (JPEG copy)" and again.data_hash == first.data_hash
    assert torch.equal(again.x_train, first.x_train)
    assert i2["seconds_load_this_run"] == 0.0 and i2["seconds_load"] == i1["seconds_load"] > 0


def test_a_tiny_sweep_gives_the_same_numbers_from_either_copy(two_copies, monkeypatch):
    """The seed streams are tagged by the stable key: the display names differ, the numbers do not
    (with the cache off, so both really train)."""
    from fpe.experiments import realdata
    from fpe.experiments.schedule import DENSE, Schedule, Variant

    monkeypatch.setattr(F, "efficientnet_lite0", fake_encoder([]))
    monkeypatch.setenv("FPE_CACHE", "0")
    runs, names = [], []
    for where in two_copies["dirs"]:
        monkeypatch.setenv("FPE_DATA_DIR", str(where))
        f, _ = F.cifar10_features(dim=16)
        names.append(f.name)
        runs.append(realdata.sweep(f, [3], [1000, 1001], [DENSE, Variant("random", 2)], schedule=Schedule(1e-2, 16, 1, 1)))
    assert names[0] != names[1]
    a, b = runs
    assert a.cells.keys() == b.cells.keys() and a.cells
    for k in a.cells:
        for field in ("test_acc", "train_acc", "nonzeros"):
            assert torch.equal(getattr(a.cells[k], field), getattr(b.cells[k], field)), (k, field)


def test_the_seed_streams_follow_the_key_not_the_name(monkeypatch):
    """Before issue 26 the streams were tagged with the display name: renaming the features changed the
    numbers. Now only the key matters (same key, other name: same numbers; other key: other numbers)."""
    from fpe.experiments import realdata
    from fpe.experiments.schedule import DENSE, Schedule

    g = torch.Generator().manual_seed(0)
    base = dict(x_train=torch.randn(40, 6, generator=g), y_train=torch.arange(40) % 3,
                x_test=torch.randn(20, 6, generator=g), y_test=torch.arange(20) % 3, classes=list("abc"))
    monkeypatch.setenv("FPE_CACHE", "0")
    acc = {}
    for label, name, key in (("a", "CIFAR-10 (JPEG copy)", "cifar10"), ("b", "CIFAR-10", "cifar10"), ("c", "CIFAR-10", "other")):
        f = F.Features(name, **base, key=key)
        r = realdata.sweep(f, [4], [1000], [DENSE], schedule=Schedule(1e-2, 16, 1, 1))
        acc[label] = next(iter(r.cells.values())).test_acc
    assert torch.equal(acc["a"], acc["b"])
    assert not torch.equal(acc["a"], acc["c"])


def test_the_chapters_take_the_key_and_label_from_the_data():
    ch05 = (ROOT / "notebooks" / "05_real_data.py").read_text()
    ch09 = (ROOT / "notebooks" / "09_cnn.py").read_text()
    assert "SEEDS = seeds(cfg[\"seeds\"])" in ch05 and "list(range(cfg[\"seeds\"]))" not in ch05  # held-out seeds
    assert 'tag="cifar10"' not in ch09 and "tag=ds.data_key" in ch09 and "tag=DATA[CUT_D][0].data_key" in ch09
    assert "(JPEG copy) for" not in ch09 and "NAME = {d: DATA[d][0].name for d in DATA}" in ch09


@pytest.mark.skipif(not SHARED_PACK.is_file(), reason="the JPEG copy (../shared/data/cifar10-jpeg.npz) is not here")
def test_the_real_jpeg_copy_as_the_canonical_binary(tmp_path, monkeypatch):
    """The full 60,000 images of the JPEG copy written as the canonical, full-size binary archive (the
    stand-in for the download of a clone without ../shared) load as the same data under the same key."""
    monkeypatch.setenv("FPE_DATA_DIR", str(SHARED_PACK.parent))
    jp = data.load_cifar10(progress=False)
    data.write_cifar_binary(tmp_path / "c" / "cifar-10-binary.tar.gz", jp.x_train, jp.y_train, jp.x_test, jp.y_test)
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path / "c"))
    cb = data.load_cifar10(progress=False)  # full-size: the canonical size check applies
    assert cb.name == "CIFAR-10" and jp.name == "CIFAR-10 (JPEG copy)" and cb.key == jp.key == "cifar10"
    assert cb.x_train.shape == (50000, 32, 32, 3) and cb.x_test.shape == (10000, 32, 32, 3)
    assert cb.content_hash() == jp.content_hash()
    np.testing.assert_array_equal(cb.x_test, jp.x_test)
    np.testing.assert_array_equal(cb.y_train, jp.y_train)


def test_a_clone_without_shared_data_downloads_the_same_pixels_from_a_loopback_mirror(two_copies, tmp_path, monkeypatch):
    """No FPE_DATA_DIR, no JPEG copy: CIFAR-10 is downloaded (here from a loopback HTTP server standing in
    for the dataset's page, through FPE_DATA_MIRROR), checked against its pins (the stand-in's own hashes
    here) and gives the JPEG copy's pixels, key and content hash."""
    import hashlib
    import http.server
    import threading

    jp = two_copies["jpeg"]()
    served = two_copies["dirs"][1]
    archive = served / "cifar-10-binary.tar.gz"
    monkeypatch.setattr(data, "CIFAR10_SHA256", data.sha256_file(archive))
    monkeypatch.setattr(data, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a, **k: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.delenv("FPE_DATA_DIR", raising=False)
        monkeypatch.setenv("FPE_DATA_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
        got = data.load_cifar10(progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert Path(got.source) == data.user_cache_dir() / "cifar10" / "cifar-10-binary.tar.gz"
    assert got.name == "CIFAR-10" and got.key == "cifar10" and got.content_hash() == jp.content_hash()
    # a source whose bytes differ from the pins is refused, and nothing is kept
    Path(got.source).unlink()
    monkeypatch.setattr(data, "CIFAR10_SHA256", "0" * 64)
    monkeypatch.setattr(data, "DOWNLOAD_BACKOFF", 0.0)
    monkeypatch.setenv("FPE_DATA_MIRROR", served.as_uri())
    with pytest.raises(data.DataError, match="sha256"):
        data.load_cifar10(progress=False)
    assert not list((data.user_cache_dir() / "cifar10").glob("*"))
