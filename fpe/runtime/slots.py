"""Book-wide slots: how many cached computations of all chapters run at once (the house's scheduler).

When ``FPE_JOB_SLOTS`` names a folder, :func:`slot` holds one of the ``FPE_JOB_SLOT_COUNT`` files
there with an exclusive ``flock`` while a computation runs (:func:`fpe.runtime.cache.cached`, and every job of
:mod:`fpe.runtime.jobs`), so chapters executed side by side by ``make execute`` share the machine's cores
instead of oversubscribing them. A thread that holds a slot holds it once, however deeply its
computations nest (:func:`holding`); :func:`exclusive` holds every slot, so that nothing else cached
runs meanwhile (the timings of the cost chapter). Without ``FPE_JOB_SLOTS`` both do nothing.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Iterator

__all__ = ["slot", "exclusive", "holding"]

_STATE = threading.local()  # how deep this thread is inside slot() / exclusive()


def _slots() -> tuple[Path | None, int]:
    folder = os.environ.get("FPE_JOB_SLOTS")
    if not folder:
        return None, 0
    count = int(os.environ.get("FPE_JOB_SLOT_COUNT", "1"))
    if count < 1:
        raise ValueError(f"FPE_JOB_SLOT_COUNT must be an integer >= 1, got {count}")
    return Path(folder), count


def holding() -> bool:
    """Whether this thread is inside :func:`slot` or :func:`exclusive` (with slots configured)."""
    return getattr(_STATE, "depth", 0) > 0


@contextlib.contextmanager
def _held() -> Iterator[None]:
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        yield
    finally:
        _STATE.depth -= 1


@contextlib.contextmanager
def _slot_files() -> Iterator[list | None]:
    """The slot files, open (closing them releases any lock held on them); ``None`` when slots are
    not configured or this thread already holds one."""
    folder, count = _slots()
    if folder is None or holding():
        yield None
        return
    folder.mkdir(parents=True, exist_ok=True)
    files = [open(folder / f"slot{i}", "a+") for i in range(count)]
    try:
        yield files
    finally:
        for fh in files:
            fh.close()


@contextlib.contextmanager
def slot() -> Iterator[None]:
    """Hold one book-wide slot (nothing when ``FPE_JOB_SLOTS`` is unset or this thread holds one).

    Waiters are served first come, first served: each leaves a ticket (a file named by the time it
    began to wait) and tries the slots only while its ticket is among the oldest ``FPE_JOB_SLOT_COUNT``,
    so a process that releases a slot and asks again at once cannot starve one that has been waiting
    (without tickets, a chapter waiting for one embedding waited 20 minutes behind another chapter's
    stream of jobs). Tickets of processes that no longer exist are removed.
    """
    with _slot_files() as files:
        if files is None:
            yield
            return
        folder = Path(files[0].name).parent
        ticket = folder / f"wait-{time.time_ns():020d}-{os.getpid()}-{threading.get_ident()}"
        ticket.touch()
        try:
            while True:
                if _rank(folder, ticket.name) < len(files):
                    for fh in files:
                        try:
                            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except BlockingIOError:
                            continue
                        ticket.unlink()
                        with _held():
                            yield
                        return
                time.sleep(0.05)
        finally:
            ticket.unlink(missing_ok=True)


def _rank(folder: Path, name: str) -> int:
    """How many live waiters' tickets in ``folder`` are older than ``name`` (stale ones are removed)."""
    older = 0
    for p in folder.glob("wait-*"):
        if p.name >= name:
            continue
        pid = int(p.name.split("-")[2])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass
        older += 1
    return older


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold every book-wide slot, so that no cached computation of any chapter runs meanwhile."""
    with _slot_files() as files:
        if files is None:
            yield
            return
        for fh in files:  # always in the same order: two exclusive holders cannot deadlock
            fcntl.flock(fh, fcntl.LOCK_EX)
        with _held():
            yield
