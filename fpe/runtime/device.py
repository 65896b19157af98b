"""The device a chapter trains on (CUDA where present, else the CPU)."""
from __future__ import annotations

import torch

__all__ = ["pick_device"]


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """The device a chapter trains on: ``"auto"`` is the first CUDA GPU where there is one, else the
    CPU; ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as asked (a GPU that is not there is an error)."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA GPU here; use 'auto' or 'cpu'")
    return dev
