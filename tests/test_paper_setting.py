"""The paper's own real-data setting, offline: the CIFAR-100 and ImageNet-100 loaders on small synthetic
archives in the canonical formats, their checksum and corruption errors, and the CLIP pipeline with a
random-weight ViT-B/32 through chapter 05's sweep (fpe.datasets.paper_data, fpe.datasets.clip_features)."""
from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from fpe.datasets import loaders
from fpe.datasets import paper_data as pd
from fpe.datasets.loaders import DataError


SYSTEM_DIRS = dict(loaders.SYSTEM_DIRS)
ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("isolated_data")  # tests/conftest.py


FINE = ["apple", "bear", "castle", "dolphin", "forest"]
COARSE = ["fruit", "mammals"]


def cifar100_parts(n_train=20, n_test=10, seed=0):
    """Arrays in CIFAR-100's python layout: data (N, 3072) uint8 (R, G, B planes), fine and coarse labels."""
    rng = np.random.default_rng(seed)
    parts = {}
    for split, n in (("train", n_train), ("test", n_test)):
        fine = np.arange(n) % len(FINE)
        parts[split] = {b"filenames": [f"img_{i}.png".encode() for i in range(n)], b"batch_label": f"{split} batch".encode(),
                        b"fine_labels": fine.tolist(), b"coarse_labels": (fine % len(COARSE)).tolist(),
                        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    parts["meta"] = {b"fine_label_names": [n.encode() for n in FINE], b"coarse_label_names": [n.encode() for n in COARSE]}
    return parts


def write_cifar100(path: Path, parts=None, *, drop=None, raw=None) -> dict:
    """A cifar-100-python.tar.gz: members cifar-100-python/{train,test,meta}, pickles as the canonical ones (protocol 2)."""
    parts = cifar100_parts() if parts is None else parts
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name in ("meta", "test", "train"):
            if name == drop:
                continue
            blob = raw[name] if raw and name in raw else pickle.dumps(parts[name], protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return parts


def test_cifar100_reader_keeps_the_pixel_layout(tmp_path):
    parts = write_cifar100(tmp_path / "c.tar.gz")
    out, fine, coarse = pd.read_cifar100_python(tmp_path / "c.tar.gz", expect_full=False)
    assert fine == FINE and coarse == COARSE
    x, yf, yc = out["train"]
    assert x.shape == (20, 32, 32, 3) and x.dtype == np.uint8 and out["test"][0].shape == (10, 32, 32, 3)
    data = parts["train"][b"data"]
    # pixel (row 3, column 5) of image 7: red at 3*32+5, green 1024 later, blue 2048 later
    assert tuple(x[7, 3, 5]) == (data[7, 3 * 32 + 5], data[7, 1024 + 3 * 32 + 5], data[7, 2048 + 3 * 32 + 5])
    assert yf.tolist() == parts["train"][b"fine_labels"] and yc.tolist() == parts["train"][b"coarse_labels"]
    with pytest.raises(DataError, match="expected 50000"):
        pd.read_cifar100_python(tmp_path / "c.tar.gz")


def test_cifar100_loader_reads_local_archive_first_and_checks_md5(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_cifar100(root / "cifar100" / pd.CIFAR100_FILE)
    monkeypatch.setenv("FPE_DATA_DIR", str(root))
    monkeypatch.setattr(pd, "read_cifar100_python", lambda p, expect_full=True, f=pd.read_cifar100_python: f(p, expect_full=False))
    monkeypatch.setattr(loaders, "download", lambda *a, **k: pytest.fail("a local archive must not be downloaded"))
    with pytest.raises(DataError, match=f"expected the published {pd.CIFAR100_MD5}"):
        pd.load_cifar100(progress=False)
    d = pd.load_cifar100(progress=False, verify=False)
    assert d.name == "CIFAR-100" and d.classes == FINE and len(d.y_train) == 20 and d.source.startswith(str(root))
    assert pd.load_cifar100(progress=False, verify=False, label="coarse").classes == COARSE
    with pytest.raises(ValueError, match="label must be one of"):
        pd.load_cifar100(label="medium")
    # the published MD5 of the real archive is what a match is checked against
    monkeypatch.setattr(pd, "CIFAR100_MD5", pd.md5_file(root / "cifar100" / pd.CIFAR100_FILE))
    assert pd.load_cifar100(progress=False).meta["md5_checked"]


def test_cifar100_download_is_checked_and_goes_to_the_user_cache(tmp_path, monkeypatch):
    """Downloaded through a mirror (a file:// folder standing in for the CIFAR page): the published MD5
    is checked and a mismatch keeps nothing; FPE_DATA_PINS (the mirror's own pins) is obeyed, with a warning."""
    served = tmp_path / "mirror"
    write_cifar100(served / pd.CIFAR100_FILE)
    monkeypatch.setenv("FPE_DATA_MIRROR", served.as_uri())
    monkeypatch.setattr(loaders, "DOWNLOAD_BACKOFF", 0.0)
    monkeypatch.setattr(pd, "read_cifar100_python", lambda p, expect_full=True, f=pd.read_cifar100_python: f(p, expect_full=False))
    dest = tmp_path / "usercache" / "cifar100" / pd.CIFAR100_FILE
    with pytest.raises(DataError, match="MD5"):  # the stand-in is not the canonical archive
        pd.load_cifar100(progress=False, verify=False)  # a download is always checked
    assert not dest.exists() and not list(dest.parent.glob("*"))  # the bad download was deleted
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({pd.CIFAR100_FILE: {"md5": pd.md5_file(served / pd.CIFAR100_FILE)}}))
    monkeypatch.setenv("FPE_DATA_PINS", str(pins))
    with pytest.warns(UserWarning, match="FPE_DATA_PINS replaces the published hashes of cifar-100-python.tar.gz"):
        d = pd.load_cifar100(progress=False)
    assert d.source == str(dest) and d.classes == FINE


def test_cifar100_corrupt_truncated_and_hostile_archives(tmp_path):
    p = tmp_path / "c.tar.gz"
    write_cifar100(p, drop="meta")
    with pytest.raises(DataError, match="lacks cifar-100-python/meta"):
        pd.read_cifar100_python(p, expect_full=False)
    write_cifar100(p)
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DataError, match="not a readable CIFAR-100"):
        pd.read_cifar100_python(p, expect_full=False)

    class Hostile:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    write_cifar100(p, raw={"meta": pickle.dumps({b"fine_label_names": Hostile()}, protocol=2)})
    with pytest.raises(DataError, match="refusing to load"):
        pd.read_cifar100_python(p, expect_full=False)
    parts = cifar100_parts()
    parts["train"][b"fine_labels"][0] = 99
    write_cifar100(p, parts)
    with pytest.raises(DataError, match="labels outside"):
        pd.read_cifar100_python(p, expect_full=False)
    parts = cifar100_parts()
    parts["test"][b"data"] = parts["test"][b"data"][:, :100]
    write_cifar100(p, parts)
    with pytest.raises(DataError, match=r"expected uint8 \(N, 3072\)"):
        pd.read_cifar100_python(p, expect_full=False)


# --- ImageNet-100 ------------------------------------------------------------------------------

def test_imagenet100_class_list_is_the_cmc_list():
    assert len(pd.IMAGENET100_CLASSES) == 100 == len(set(pd.IMAGENET100_CLASSES))
    assert all(re.fullmatch(r"n\d{8}", c) for c in pd.IMAGENET100_CLASSES)
    assert pd.IMAGENET100_CLASSES[:3] == ("n02869837", "n01749939", "n02488291") and pd.IMAGENET100_CLASSES[-1] == "n02090622"


def write_imagenet(root: Path, classes, n_train=3, n_val=1, size=(40, 30)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for wnid in classes:
            (root / split / wnid).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
                img.save(root / split / wnid / f"{wnid}_{i}.JPEG", format="JPEG")
    (root / "train" / classes[0] / "notes.txt").write_text("not an image")


def test_imagenet100_loader_reads_a_class_folder_tree(tmp_path, monkeypatch):
    classes = list(pd.IMAGENET100_CLASSES[:3])
    root = tmp_path / "imagenet"
    write_imagenet(root, classes + ["n99999999"])  # an extra class folder is ignored
    d = pd.load_imagenet100(root, classes=classes)
    assert d.classes == classes and len(d.x_train) == 9 and len(d.x_test) == 3
    assert d.y_train.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and all(p.endswith(".JPEG") for p in d.x_train)
    assert all(Path(p).parent.name == classes[y] for p, y in zip(d.x_test, d.y_test))
    sub = pd.load_imagenet100(root, classes=classes, per_class_train=2, seed=1)
    assert len(sub.x_train) == 6 and set(sub.x_train) <= set(d.x_train)
    assert sub.x_train == pd.load_imagenet100(root, classes=classes, per_class_train=2, seed=1).x_train
    monkeypatch.setenv("FPE_IMAGENET_DIR", str(root))  # the environment names the copy
    assert pd.load_imagenet100(classes=classes).source == str(root)
    with pytest.raises(DataError, match=f"lacks class {pd.IMAGENET100_CLASSES[3]}"):
        pd.load_imagenet100(root)  # the default list needs all 100 classes
    with pytest.raises(ValueError, match="per_class_train"):
        pd.load_imagenet100(root, classes=classes, per_class_train=0)
    with pytest.raises(ValueError, match="distinct"):
        pd.load_imagenet100(root, classes=classes + classes[:1])
    monkeypatch.delenv("FPE_IMAGENET_DIR")
    with pytest.raises(DataError, match="cannot be downloaded"):
        pd.load_imagenet100(classes=classes)


def test_read_images_resizes_the_short_side_and_centre_crops(tmp_path):
    from PIL import Image

    img = np.zeros((20, 60, 3), dtype=np.uint8)  # wide: a red left third, green middle, blue right third
    img[:, :20, 0] = img[:, 20:40, 1] = img[:, 40:, 2] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "b.JPEG").write_bytes(b"not a jpeg")
    out = pd.read_images([str(tmp_path / "a.png")], size=10)
    assert out.shape == (1, 10, 10, 3) and out.dtype == np.uint8
    assert out[0, :, 2:8, 1].min() > 200 and out[0, :, 2:8, 0].max() < 50  # the crop is the green middle
    with pytest.raises(DataError, match="b.JPEG"):
        pd.read_images([str(tmp_path / "b.JPEG")])


# --- the CLIP pipeline, random weights ---------------------------------------------------------------

@pytest.fixture(scope="module")
def random_clip():
    if importlib.util.find_spec("open_clip") is None:
        pytest.skip("open_clip_torch is not installed: pip install --no-deps open_clip_torch ftfy regex")
    from fpe.datasets.encoders import clip_model

    torch.set_num_threads(1)
    model = clip_model("ViT-B-32", pretrained=False, seed=0)
    model.fpe_identity = "random-ViT-B-32-seed0"
    return model


def test_clip_pipeline_on_synthetic_cifar100_and_imagenet100(tmp_path, monkeypatch, random_clip):
    from fpe.datasets.clip_features import clip_cifar100_features, clip_imagenet100_features
    from fpe.experiments.realdata import sweep
    from fpe.experiments.schedule import DENSE, Schedule, Variant
    from fpe.runtime import cache

    root = tmp_path / "data"
    write_cifar100(root / pd.CIFAR100_FILE)
    monkeypatch.setenv("FPE_DATA_DIR", str(root))
    monkeypatch.setattr(pd, "read_cifar100_python", lambda p, expect_full=True, f=pd.read_cifar100_python: f(p, expect_full=False))
    with pytest.raises(DataError, match="md5"):
        clip_cifar100_features(10, 5, model=random_clip, threads=1)
    f, info = clip_cifar100_features(10, 5, model=random_clip, threads=1, verify=False)
    assert f.x_train.shape == (10, 512) and f.x_test.shape == (5, 512) and torch.isfinite(f.x_train).all()
    assert f.classes == FINE and sorted(f.y_train.tolist()) == sorted([0, 1, 2, 3, 4] * 2) and info["device"] == "cpu"
    assert abs(float(f.x_train.mean())) < 1e-2  # standardised with the training set's statistics
    hits = cache.COUNTS["hits"]
    again, _ = clip_cifar100_features(10, 5, model=random_clip, threads=1, verify=False)  # read from the cache
    assert cache.COUNTS["hits"] == hits + 1 and torch.equal(again.x_train, f.x_train)
    with pytest.raises(ValueError, match="fpe_identity"):
        clip_cifar100_features(10, 5, model=torch.nn.Linear(2, 2), verify=False)

    classes = list(pd.IMAGENET100_CLASSES[:2])
    write_imagenet(tmp_path / "imagenet", classes, n_train=2, n_val=1, size=(50, 40))
    g, info = clip_imagenet100_features(tmp_path / "imagenet", classes=classes, model=random_clip, threads=1, batch_size=3)
    assert g.x_train.shape == (4, 512) and g.x_test.shape == (2, 512) and g.y_train.tolist() == [0, 0, 1, 1]

    # chapter 05's sweep runs on the CLIP features: FPE keeps the non-zero count
    run = sweep(f, [2], [0, 1], [DENSE, Variant("random", 2)], schedule=Schedule(1e-3, 4, 1, 1), config={"test": "clip"})
    assert (run[2, "random_a2"].nonzeros == run[2, "dense"].nonzeros).all()
    assert run[2, "dense"].test_acc.shape == (2,)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # one fake image per ImageNet class: dense accuracy 0, relative gain undefined
def test_chapter05_paper_setting_runs_offline(tmp_path, monkeypatch, random_clip):
    """Chapter 05 with setting="paper" (quick profile) end to end on a synthetic CIFAR-100 archive and
    ImageNet tree, with the random-weight CLIP standing in for OpenAI's and the archive's MD5 patched in."""
    jupytext = pytest.importorskip("jupytext")
    if not Path(SYSTEM_DIRS.get("fashion-mnist", ["/nonexistent"])[0]).is_dir():
        pytest.skip("FashionMNIST (Debian dataset-fashion-mnist) is not installed, or FPE_SYSTEM_DATA=0 hides it")
    import matplotlib

    matplotlib.use("Agg")
    from fpe.datasets import clip_features

    monkeypatch.setattr(loaders, "SYSTEM_DIRS", SYSTEM_DIRS)
    rng = np.random.default_rng(1)
    parts = cifar100_parts(n_train=40, n_test=20)
    for split in ("train", "test"):  # learnable images: the class sets the mean colour
        y = np.asarray(parts[split][b"fine_labels"])
        parts[split][b"data"] = np.clip(y[:, None] * 50 + rng.integers(0, 30, (len(y), 3072)), 0, 255).astype(np.uint8)
    write_cifar100(tmp_path / "data" / pd.CIFAR100_FILE, parts)
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(pd, "CIFAR100_MD5", pd.md5_file(tmp_path / "data" / pd.CIFAR100_FILE))
    monkeypatch.setattr(pd, "read_cifar100_python", lambda p, expect_full=True, f=pd.read_cifar100_python: f(p, expect_full=False))
    monkeypatch.setattr(clip_features, "clip_model", lambda progress=True: random_clip)
    write_imagenet(tmp_path / "imagenet", list(pd.IMAGENET100_CLASSES), n_train=1, n_val=1, size=(8, 8))
    monkeypatch.setenv("FPE_ROOT", str(tmp_path / "project"))  # results go there, not into the book

    nb = jupytext.read(ROOT / "notebooks" / "05_real_data.py")
    ns: dict = {}
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    cwd = os.getcwd()
    try:
        os.chdir(ROOT / "notebooks")
        for cell in nb.cells:
            if cell.cell_type != "code" or "remove-cell" in cell.metadata.get("tags", []):
                continue
            exec(compile(cell.source, "05_real_data", "exec"), ns)
            if "parameters" in cell.metadata.get("tags", []):
                ns.update(profile="quick", progress=False, setting="paper", imagenet_dir=str(tmp_path / "imagenet"))
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    import json

    saved = json.loads((tmp_path / "project" / "results" / "quick" / "05_real_data_clip.json").read_text())
    ids = {n["id"]: n for n in saved["numbers"]}
    assert "table_cifar100_random_a4" in ids and "rel_imagenet100_h3_gram_a2" in ids and "acc_cifar100_h16_dense" in ids
    assert not any(i.startswith(("table_cifar10_", "table_wordnet_")) for i in ids)
    assert not ids["table_cifar100_random_a4"]["substitute"]
    assert saved["meta"]["data"]["cifar10"]["name"] == "CIFAR-100 (CLIP ViT-B/32)"
    assert saved["meta"]["data"]["wordnet"]["name"] == "ImageNet-100 (CLIP ViT-B/32)"
    assert not (ROOT / "results" / "quick" / "05_real_data_clip.json").exists()
