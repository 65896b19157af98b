"""Build and load the fused C training epoch of :mod:`fpe.training.concat` (``fpe/training/_native.c``; the paper, as we read it, section 3).

The C source is compiled on first use with the system C compiler (``cc``, or ``$CC``) into a shared
library in the user cache (``FPE_NATIVE_DIR``, else ``$XDG_CACHE_HOME/fpe-native``, else
``~/.cache/fpe-native``), named by a hash of the source and the flags, written atomically, and
loaded with :mod:`ctypes` (no PyTorch headers, so the build takes well under a second). The flags
are fixed (``-O3 -ffp-contract=fast``, plus ``-mavx2 -mfma`` when PyTorch reports an AVX2 CPU and
``-mavx512f`` as well when it reports AVX-512: :func:`isa`), never ``-march=native``: every machine of
a kind runs the same instructions, and the AVX-512 build computes every number with the same
operations in the same order as the AVX2 build, so both get the same numbers.

:func:`check_cpu` rejects tensors that are not in CPU memory (the kernel reads raw pointers).
:func:`available` says whether it can be used; :func:`load` raises :class:`NativeUnavailable` with
the compiler's message when it cannot. ``FPE_NATIVE=0`` turns it off (the PyTorch path of
:mod:`fpe.training.concat` is then used, which computes the same numbers to float tolerance).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import torch

__all__ = ["NativeUnavailable", "ISAS", "isa", "available", "load", "flags", "library_path", "compiled", "check_cpu"]

SOURCE = Path(__file__).with_name("_native.c")


class NativeUnavailable(RuntimeError):
    """The C kernel cannot be built or loaded here (no compiler, turned off, or a failed build)."""


def check_cpu(*tensors: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the device unless every tensor is in CPU memory.

    The C kernel reads raw CPU pointers (``data_ptr()``); a GPU tensor's pointer is not CPU memory.
    """
    for t in tensors:
        if t.device.type != "cpu":
            raise ValueError(f"the native C backend runs on the CPU only, but got a tensor on {t.device}; "
                             "move the model and data to the CPU (.cpu()) or use backend='torch'")


ISAS = ("avx512", "avx2", "generic")
_ISA_FLAGS = {"avx512": ["-mavx2", "-mfma", "-mavx512f"], "avx2": ["-mavx2", "-mfma"], "generic": []}


def isa() -> str:
    """The instruction set the kernels are built for: ``"avx512"`` or ``"avx2"`` on x86 CPUs that
    PyTorch reports as such, else ``"generic"``. ``FPE_NATIVE_ISA`` may choose a lower one (one of
    :data:`ISAS`; the AVX-512 and AVX2 builds give bitwise equal numbers, a test checks it)."""
    cap = torch.backends.cpu.get_cpu_capability() if platform.machine().lower() in ("x86_64", "amd64") else ""
    best = {"AVX512": "avx512", "AVX2": "avx2"}.get(cap, "generic")
    asked = os.environ.get("FPE_NATIVE_ISA", best)
    if asked not in ISAS:
        raise ValueError(f"FPE_NATIVE_ISA must be one of {', '.join(ISAS)}, got {asked!r}")
    if ISAS.index(asked) < ISAS.index(best):
        raise ValueError(f"FPE_NATIVE_ISA={asked} is not available on this CPU (the best here is {best})")
    return asked


def flags() -> list[str]:
    """Compiler flags: fixed per instruction set (see the module docstring and :func:`isa`)."""
    return ["-O3", "-ffp-contract=fast", "-fno-math-errno", "-shared", "-fPIC", "-std=gnu11", *_ISA_FLAGS[isa()]]


def _cache_dir() -> Path:
    if os.environ.get("FPE_NATIVE_DIR"):
        return Path(os.environ["FPE_NATIVE_DIR"])
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "fpe-native"


def library_path(source: Path = SOURCE, extra: tuple[str, ...] = ()) -> Path:
    """Where the library built from the current ``source``, flags and ``extra`` flags lives."""
    key = hashlib.sha256(source.read_bytes() + " ".join([*flags(), *extra]).encode()).hexdigest()[:16]
    stem = "fpe_native" if source == SOURCE else f"fpe{source.stem}"
    return _cache_dir() / f"{stem}-{key}.so"


def compiled(source: Path, extra: tuple[str, ...] = ()) -> Path:
    """The shared library of the C file ``source`` (built first if needed, atomically; the same
    compiler, flags and cache as the training kernel, plus ``extra`` flags such as ``-fopenmp``);
    raises :class:`NativeUnavailable`, also where ``FPE_NATIVE=0`` turns the kernels off. Other
    modules' C kernels (:mod:`fpe.cost.inference`) are built through it."""
    if os.environ.get("FPE_NATIVE", "1") == "0":
        raise NativeUnavailable("turned off by FPE_NATIVE=0")
    path = library_path(source, extra)
    if not path.exists():
        _build(path, source, extra)
    return path


def _build(dest: Path, source: Path = SOURCE, extra: tuple[str, ...] = ()) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc); the PyTorch path will be used")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=dest.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cc, *flags(), *extra, str(source), "-o", tmp, "-lm", "-lpthread"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise NativeUnavailable(f"building {source.name} with {cc} failed:\n{proc.stderr.strip()}")
        os.replace(tmp, dest)  # atomic: a concurrent or interrupted build never leaves a half-written library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@lru_cache(maxsize=None)
def _load_path(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    f = lib.fpe_concat_epoch
    p, i, dbl = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    f.argtypes = [i, i, i, i, i, p, p, p, p, p, i] + [p] * 6 + [p] * 8 + [p, dbl, dbl, dbl, dbl]
    f.restype = i
    lib.fpe_vexp.argtypes, lib.fpe_vexp.restype = [p, p, i], None
    return lib


def load() -> ctypes.CDLL:
    """The loaded library (built first if needed); raises :class:`NativeUnavailable`."""
    path = compiled(SOURCE)
    try:
        return _load_path(str(path))
    except OSError as exc:
        raise NativeUnavailable(f"loading {path} failed: {exc}") from exc


def available() -> bool:
    """True if :func:`load` succeeds; else warns once (:func:`warn_fallback`) and returns False."""
    try:
        load()
        return True
    except NativeUnavailable as exc:
        warn_fallback(SOURCE.name, exc)
        return False


_WARNED: set[str] = set()


def warn_fallback(kernel: str, reason: BaseException) -> None:
    """Say once per process that the C kernel ``kernel`` cannot be used and PyTorch ops stand in for
    it (never silently; nothing is said where ``FPE_NATIVE=0`` asked for the PyTorch path)."""
    if os.environ.get("FPE_NATIVE", "1") == "0" or kernel in _WARNED:
        return
    _WARNED.add(kernel)
    warnings.warn(f"fpe: the C kernel {kernel} cannot be used ({reason}); PyTorch ops compute the same numbers "
                  "to float tolerance, more slowly", RuntimeWarning, stacklevel=3)
