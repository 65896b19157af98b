import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helpers (tests/plain.py)


import pytest  # noqa: E402


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """No test reads the machine's data directories, caches or data settings unless it asks to: the data
    tests' common fixture (``.ci/offline`` exports FPE_DATA_MIRROR and FPE_DATA_PINS for a whole `make test`)."""
    from fpe.datasets import loaders

    monkeypatch.setenv("FPE_USER_CACHE", str(tmp_path / "usercache"))
    monkeypatch.setenv("FPE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("FPE_DATA_DIR", "FPE_DATA_MIRROR", "FPE_DATA_PINS", "FPE_IMAGENET_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(loaders, "SYSTEM_DIRS", {})
