"""Every cached computation of a chapter as an independent job, run on every core, or on a cluster.

A :class:`Job` is one cached computation (a sweep bucket, a real-data width): its cache name and
configuration (:mod:`fpe.runtime.cache`), the function that computes it and a cost estimate. :func:`run_jobs`
reads the finished ones from the cache and submits the rest through ``joblib``, longest first; each
result is written to the cache as soon as it arrives (an interrupted run loses nothing finished).
Where the jobs run is configuration, not code:

- by default ``joblib``'s ``loky`` backend with ``FPE_JOBS`` worker processes (default: the number of
  CPU cores; ``FPE_JOBS=1`` runs them in this process, one after another);
- on a Dask cluster with ``FPE_DASK_SCHEDULER=tcp://host:8786`` (or an outer
  ``joblib.parallel_config(backend="dask")``): the jobs are shipped to its workers, and their results
  come back here to be cached;
- any other joblib backend (Ray's ``ray``, ``threading``) through ``joblib.parallel_config``.

Every job runs with this process's thread count and deterministic-kernel setting
(:func:`fpe.repro.set_determinism`) and draws all randomness from its own seeded streams, so its
result does not depend on the backend, the number of workers or the order (``tests/test_jobs.py``
checks bitwise equality, on a local Dask cluster too).

Whole-book scheduling: when ``FPE_JOB_SLOTS`` names a folder, every job, and every other cached
computation (:func:`fpe.runtime.cache.cached`: embeddings, CNN and transformer runs), first takes one of the
``FPE_JOB_SLOT_COUNT`` slot files there (:mod:`fpe.runtime.slots`), so chapters executed side by side share
the machine's cores: ``make execute`` starts every chapter at once, longest first, and the jobs of all
of them together keep every core busy until the last one ends. Jobs submitted from inside a held
slot run in that process, one by one. :func:`exclusive` takes every slot (a timing measurement runs
with no cached computation of any chapter running). Each job's times are appended to
``FPE_JOB_LOG`` (JSON lines; ``make execute`` adds each chapter's wall time to ``FPE_JOB_LOG.chapters``),
from which ``python -m fpe.book.jobreport`` prints every chapter's span and the book's critical path.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

from .cache import COUNTS, cache_path, load_entry, store_entry
from .slots import exclusive, holding, slot

__all__ = ["Job", "run_jobs", "n_workers", "exclusive"]


@dataclass
class Job:
    """One cached computation: ``compute()`` gives the value stored under ``(name, config)`` for the
    code of ``module`` (see :func:`fpe.runtime.cache.cached`); ``cost`` orders the jobs (longest first)."""

    name: str
    config: dict
    compute: Callable[[], Any] = field(repr=False)
    module: str
    cost: float = 1.0


def n_workers(n_jobs: int | None = None) -> int:
    """The worker count: ``n_jobs``, else ``FPE_JOBS``, else the CPU cores this process may use."""
    if n_jobs is None:
        env = os.environ.get("FPE_JOBS")
        n_jobs = int(env) if env else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if isinstance(n_jobs, bool) or int(n_jobs) < 1:
        raise ValueError(f"n_jobs (or FPE_JOBS) must be an integer >= 1, got {n_jobs!r}")
    return int(n_jobs)


def _log(record: dict) -> None:
    path = os.environ.get("FPE_JOB_LOG")
    if path:
        with open(path, "a") as fh:  # one short line per write: appends do not interleave
            fh.write(json.dumps(record) + "\n")


def _settings() -> tuple[int, bool, dict]:
    """What a job must run under: this process's thread count, deterministic mode and ``FPE_*``
    environment (a reused worker process may have been started under another environment)."""
    return torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), \
        {k: v for k, v in os.environ.items() if k.startswith("FPE_")}


@contextlib.contextmanager
def _environment(env: dict) -> Iterator[None]:
    old = {k: v for k, v in os.environ.items() if k.startswith("FPE_")}
    for k in old.keys() - env.keys():
        del os.environ[k]
    os.environ.update(env)
    try:
        yield
    finally:
        for k in env.keys() - old.keys():
            os.environ.pop(k, None)
        os.environ.update(old)


def _execute(compute: Callable[[], Any], threads: int, deterministic: bool, env: dict, label: str) -> tuple[Any, float, float]:
    """Run one job under the submitting process's settings (:func:`_settings`); returns (value, start, end)."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
    torch.utils.deterministic.fill_uninitialized_memory = False
    with _environment(env), slot():
        start = time.time()
        value = compute()
        end = time.time()
        _log({"job": label, "chapter": os.environ.get("FPE_CHAPTER", ""), "start": start, "end": end, "pid": os.getpid()})
    return value, start, end


def _task(k: int, compute: Callable[[], Any], threads: int, deterministic: bool, env: dict, label: str) -> tuple[int, tuple]:
    return k, _execute(compute, threads, deterministic, env, label)


def _backend() -> contextlib.AbstractContextManager:
    """The joblib backend configuration: a Dask cluster's when FPE_DASK_SCHEDULER is set, else the
    caller's (an outer ``joblib.parallel_config``, or loky by default)."""
    address = os.environ.get("FPE_DASK_SCHEDULER")
    if not address:
        return contextlib.nullcontext()
    from joblib import parallel_config
    from distributed import Client, default_client  # optional: `pip install dask distributed`

    try:
        if default_client().scheduler.address == address:
            return parallel_config(backend="dask")
    except ValueError:  # no client yet
        pass
    Client(address, set_as_default=True)  # joblib's dask backend uses the default client
    return parallel_config(backend="dask")


def run_jobs(jobs: Sequence[Job], *, n_jobs: int | None = None, progress: bool = False, desc: str = "jobs") -> list[Any]:
    """The values of ``jobs`` in their order: cached ones read back, the others computed through
    joblib (longest ``cost`` first) and cached as each one finishes (atomic writes).

    ``n_jobs`` workers (default :func:`n_workers`); with one worker, or one job to compute, the work
    runs in this process. ``FPE_CACHE=0`` computes everything and stores nothing.
    """
    jobs = list(jobs)
    for job in jobs:
        if not isinstance(job, Job):
            raise TypeError(f"jobs must be fpe.runtime.jobs.Job instances, got {type(job).__name__}")
    use_cache = os.environ.get("FPE_CACHE", "1") != "0"
    values: list[Any] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        path = cache_path(job.name, job.config, job.module) if use_cache else None
        value = load_entry(path) if path is not None else None
        if value is not None:
            COUNTS["hits"] += 1
            values[i] = value
        else:
            todo.append((i, path))
    if not todo:
        return values
    COUNTS["misses"] += len(todo)
    todo.sort(key=lambda t: -jobs[t[0]].cost)  # longest first: the last core is not left with the biggest job
    settings = _settings()
    if os.environ.get("FPE_DASK_SCHEDULER"):  # a cluster schedules its own workers: no book-wide slot files there
        settings[2].pop("FPE_JOB_SLOTS", None)
    workers = 1 if holding() else min(n_workers(n_jobs), len(todo))  # inside a held slot: here, one by one
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=desc)

    def finish(k: int, result: tuple) -> None:
        i, path = todo[k]
        values[i] = result[0]
        if path is not None:
            store_entry(path, result[0])
        if bar is not None:
            bar.update()

    labels = [f"{jobs[i].name}:{k}" for k, (i, _) in enumerate(todo)]
    if workers == 1 and (holding() or not os.environ.get("FPE_DASK_SCHEDULER")):
        for k, (i, _) in enumerate(todo):
            finish(k, _execute(jobs[i].compute, *settings, labels[k]))
    else:
        from joblib import Parallel, delayed

        calls = (delayed(_task)(k, jobs[i].compute, *settings, labels[k]) for k, (i, _) in enumerate(todo))
        with _backend():
            for k, result in Parallel(n_jobs=workers, return_as="generator_unordered")(calls):
                finish(k, result)
    if bar is not None:
        bar.close()
    return values
