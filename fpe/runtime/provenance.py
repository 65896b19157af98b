"""What a result was computed with: versions, machine, threads, device, git commit (recorded in every
results file by :mod:`fpe.book.results`; outside the science hash, like the rest of :mod:`fpe.runtime`)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

import numpy as np
import torch

__all__ = ["version", "environment"]

DISTRIBUTION = "fpe-companion"


def version() -> str:
    """The installed ``fpe-companion`` version (``"unknown"`` when run from a source tree that was never installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def _git_commit() -> str | None:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """What a result was computed with: Python, torch, NumPy, CPU, threads, the CUDA device present
    (``None`` when there is none), git commit."""
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "fpe": version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": _git_commit(),
    }


