"""Measuring the inference cost of FPE layers on this machine (the paper, as we read it, section 1, claim 5).

Shared by ``benchmarks/inference.py`` and the chapter ``notebooks/06_cost.py``, so both produce the
same JSON. What is measured:

- latency of each inference form of :mod:`fpe.cost.inference` for an expanded first layer
  (``alpha * h`` children over ``d`` inputs, from :func:`fpe.expand` with a random split), next
  to the narrow dense layer ``nn.Linear(d, h)`` with the same non-zeros, over batch sizes;
- the machine's memory bandwidth (streaming read: ``sum`` of a large tensor; and copy) and
  matrix-multiply throughput (a large ``F.linear``), for a roofline reading.

Timing rules **[house]**: a fixed thread count set explicitly (:func:`bench_threads`); each form is
cycled over copies of itself totalling ``cold_mb`` (128 MB, 4x this machine's 32 MiB L3 cache), so
a large layer's weights really come from memory rather than from the cache it left warm on the
previous call (at most ``max_copies`` copies: the paper's small layers stay in cache); all forms of
one (size, alpha, batch) point are timed in interleaved rounds (form A, B, C, A, B, C, ...) so a
burst of load from other processes hits them alike; each sample repeats the call until it lasts at
least ``min_sample`` seconds; the statistic is the median over rounds, with quartiles kept; rounds
stop at ``max_rounds`` or when the point's time ``budget`` is spent (never fewer than
``min_rounds``; a form slower than ``slow`` seconds per call gets one round). The minimum over rounds
is kept too: on a machine shared with other jobs it is the least disturbed sample. Ratios are taken against the narrow dense layer measured in the same rounds.
Timings depend on the machine and on its load; they are never checked against references.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import copy
import functools
import itertools
import math
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F

from . import inference as inf
from ..method.mlp import init_mlp
from ..method.expand import expand
from ..repro import generator
from ..runtime.provenance import environment

__all__ = ["BenchConfig", "bench_threads", "time_interleaved", "memory_bandwidth", "matmul_gflops", "expanded_pair",
           "run_grid", "integer_agreement", "ratio_table", "save_json", "load_json", "headline"]

FORMS_TIMED = ("dense",) + inf.FORMS


@dataclass
class BenchConfig:
    """One benchmark run: the grid and the timing rules (every field is a documented choice)."""

    sizes: Sequence[tuple[int, int]] = ((512, 4), (512, 32), (512, 128), (784, 4), (784, 32), (784, 128), (4096, 1024))
    alphas: Sequence[int] = (2, 4, 8)
    batches: Sequence[int] = (1, 8, 64, 512)
    forms: Sequence[str] = inf.FORMS
    threads: int = 2  # the machine's core count [house]
    classes: int = 10  # output width of the MLP that is expanded (only its first layer is timed)
    seed: int = 0
    min_sample: float = 2e-3  # seconds per timing sample (calls are repeated until it lasts this long)
    min_rounds: int = 3
    max_rounds: int = 15
    budget: float = 0.3  # seconds of timing per (size, alpha, batch) point before stopping early
    slow: float = 0.15  # a form whose call takes longer is timed in one round only
    bandwidth_mb: int = 256  # size of the tensor streamed to measure memory bandwidth
    cold_mb: int = 128  # each form is cycled over copies of itself totalling at least this (0: one copy) [house]
    max_copies: int = 64  # ... but at most this many copies (small layers stay cache-resident, as in use)


@contextlib.contextmanager
def bench_threads(threads: int):
    """Set ``torch.set_num_threads(threads)`` and turn off the NaN-filling of fresh tensors that
    deterministic mode adds (it would charge every form for writing its output twice); restore after."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    import torch.utils.deterministic as det

    old_threads, old_fill = torch.get_num_threads(), det.fill_uninitialized_memory
    torch.set_num_threads(threads)
    det.fill_uninitialized_memory = False
    try:
        yield threads
    finally:
        torch.set_num_threads(old_threads)
        det.fill_uninitialized_memory = old_fill


def _sample(fn: Callable[[], object], reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def time_interleaved(fns: dict[str, Callable[[], object]], *, min_sample: float = 2e-3, min_rounds: int = 3,
                     max_rounds: int = 15, budget: float = 1.0, slow: float = 0.25) -> dict[str, dict]:
    """Median seconds per call of each function, timed in interleaved rounds (module docstring).

    A function whose warm-up call takes longer than ``slow`` seconds is timed in the first round only
    (its one sample is long enough to average over short disturbances, and it would eat the budget).
    Returns ``{name: {"median": s, "min": s, "q1": s, "q3": s, "rounds": n, "reps": calls per sample}}``.
    """
    if not fns:
        raise ValueError("fns must not be empty")
    reps, first = {}, {}
    for name, fn in fns.items():  # warm-up call (its time calibrates the repetitions per sample)
        first[name] = _sample(fn, 1)
        reps[name] = max(1, min(1000, int(min_sample / max(first[name], 1e-7))))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    for r in range(max_rounds):
        for name, fn in fns.items():
            if r == 0 or first[name] <= slow:
                samples[name].append(_sample(fn, reps[name]))
        if r + 1 >= min_rounds and time.perf_counter() - start > budget:
            break
    out = {}
    for name, s in samples.items():
        q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
        out[name] = {"median": statistics.median(s), "min": min(s), "q1": q[0], "q3": q[2], "rounds": len(s),
                     "reps": reps[name]}
    return out


def memory_bandwidth(*, megabytes: int = 256, rounds: int = 15) -> dict[str, float]:
    """Streaming memory bandwidth in GB/s over a ``megabytes`` tensor (8x this machine's L3 cache),
    best of ``rounds`` (a ceiling: the least disturbed round), three ways: ``read`` (``x.sum()``),
    ``copy`` (``y.copy_(x)``, read + write counted) and ``matvec`` (``F.linear`` of one vector by a
    matrix of that size: the dense layer's own access pattern at batch 1). ``roof`` is the largest
    read rate (``read`` or ``matvec``), the bandwidth limit used by the roofline."""
    n = megabytes * (1 << 20) // 4
    cols = 4096
    x = torch.ones(n)
    y = torch.empty_like(x)
    y.copy_(x)
    m = x.view(n // cols, cols)
    v = torch.ones(1, cols)
    t = time_interleaved({"read": lambda: x.sum(), "copy": lambda: y.copy_(x), "matvec": lambda: F.linear(v, m)},
                         min_rounds=rounds, max_rounds=rounds, min_sample=0.0)
    out = {"read": 4 * n / t["read"]["min"] / 1e9, "copy": 8 * n / t["copy"]["min"] / 1e9,
           "matvec": 4 * n / t["matvec"]["min"] / 1e9, "megabytes": megabytes}
    out["roof"] = max(out["read"], out["matvec"])
    return out


def matmul_gflops(*, m: int = 512, k: int = 4096, n: int = 1024, rounds: int = 11) -> dict[str, float]:
    """Dense float32 matrix-multiply throughput in GFLOP/s: ``F.linear`` of ``(m, k)`` by ``(n, k)``, best
    of ``rounds`` (a ceiling)."""
    g = generator(0, "bench", "matmul")
    a, b = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g)
    t = time_interleaved({"mm": lambda: F.linear(a, b)}, min_rounds=rounds, max_rounds=rounds, min_sample=0.0)
    return {"gflops": 2 * m * k * n / t["mm"]["min"] / 1e9, "shape": [m, k, n]}


@functools.lru_cache(maxsize=2)
def expanded_pair(d: int, h: int, alpha: int, *, seed: int = 0, classes: int = 10):
    """The narrow dense first layer ``Linear(d, h)`` of a random MLP ``d -> h -> classes`` and the first
    layer of its FPE expansion (random split, global prune), from seeded generators (cached: treat the
    returned layers as read-only)."""
    model = init_mlp([d, h, classes], generator(seed, "bench", "init", d, h))
    wide = expand(model, alpha, "random", generator=generator(seed, "bench", "split", d, h, alpha))
    return model[0], wide[0]


def integer_agreement(*, d: int = 48, h: int = 6, alpha: int = 4, batches: Iterable[int] = (1, 3, 8), seed: int = 0) -> dict[str, float]:
    """Max ``|form(x) - masked dense(x)|`` per form on integer-valued weights and inputs (small integers in
    float32, so every sum is exact and a correct form gives exactly 0 on any machine)."""
    g = generator(seed, "bench", "integer")
    narrow, wide = expanded_pair.__wrapped__(d, h, alpha, seed=seed)  # a fresh copy: its weights are changed below
    with torch.no_grad():
        wide.weight_orig.copy_(torch.randint(-3, 4, wide.weight.shape, generator=g).float())
        wide.weight.copy_(wide.weight_orig * wide.weight_mask)
        wide.bias.copy_(torch.randint(-3, 4, wide.bias.shape, generator=g).float())
    ref_form = inf.MaskedDense(wide)
    errs = {}
    for name in inf.FORMS:
        form = inf.make_form(name, wide, alpha=alpha)
        errs[name] = 0.0
        for b in batches:
            x = torch.randint(-3, 4, (b, d), generator=g).float()
            errs[name] = max(errs[name], float((form(x) - ref_form(x)).abs().max()))
    return errs


@dataclass
class Point:
    """One measured (size, alpha, batch, form)."""

    d: int
    h: int
    alpha: int
    batch: int
    form: str
    seconds: float  # median over rounds
    best: float  # minimum over rounds (the least disturbed sample)
    q1: float
    q3: float
    rounds: int
    ratio: float  # seconds / seconds of the narrow dense layer in the same rounds (medians)
    ratio_best: float  # the same with minimums
    stored_bytes: int
    weight_bytes: int
    index_bytes: int
    moved_bytes: int
    useful_flops: int  # 2 * non-zeros * batch
    kernel_flops: int  # what the kernel multiplies (stored zeros and padding included)
    nonzeros: int
    rel_error: float  # max |form - masked dense| / max |masked dense| (0 for the dense baseline)
    copies: int = 1  # copies of the form cycled through while timing


def _copies(form, cold_mb: int, max_copies: int) -> list:
    """``form`` and deep copies of it, enough to total ``cold_mb`` megabytes (at most ``max_copies``)."""
    n = max(1, min(max_copies, math.ceil(cold_mb * (1 << 20) / max(1, inf.storage_bytes(form)["total"]))))
    return [form] + [_clone(form) for _ in range(n - 1)]


def _clone(form):
    """A copy of a form with every tensor it holds cloned (``deepcopy`` cannot copy sparse CSR tensors)."""
    new = copy.copy(form)
    new.__dict__ = dict(form.__dict__)
    for k, v in form.__dict__.items():
        if isinstance(v, torch.Tensor):
            new.__dict__[k] = v.clone()
    return new


def run_grid(cfg: BenchConfig, *, progress: bool = False, log: Callable[[str], None] | None = None) -> dict:
    """Measure every (size, alpha, batch, form) of ``cfg`` plus the roofline constants; a JSON-ready dict."""
    unknown = [f for f in cfg.forms if f not in inf.FORMS]
    if unknown:
        raise ValueError(f"unknown forms {unknown}; allowed: {inf.FORMS}")
    points: list[Point] = []
    t0 = time.perf_counter()
    with bench_threads(cfg.threads):
        bw = memory_bandwidth(megabytes=cfg.bandwidth_mb)
        mm = matmul_gflops()
        jobs = [(d, h, a) for d, h in cfg.sizes for a in cfg.alphas]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs) * len(cfg.batches), desc="benchmark")
        for d, h, alpha in jobs:
            narrow, wide = expanded_pair(d, h, alpha, seed=cfg.seed, classes=cfg.classes)
            forms = {"dense": inf.DenseLinear(narrow)}
            forms.update({name: inf.make_form(name, wide, alpha=alpha) for name in cfg.forms})
            copies = {n: _copies(f, cfg.cold_mb, cfg.max_copies) for n, f in forms.items()}
            ref = inf.MaskedDense(wide)
            for batch in cfg.batches:
                x = torch.randn(batch, d, generator=generator(cfg.seed, "bench", "x", d, batch))
                with torch.no_grad():
                    y_ref = ref(x)
                    scale = float(y_ref.abs().max()) or 1.0
                    errs = {n: 0.0 if n == "dense" else float((f(x) - y_ref).abs().max()) / scale for n, f in forms.items()}
                    fns = {n: (lambda it=itertools.cycle(copies[n]): next(it)(x)) for n in forms}
                    t = time_interleaved(fns, min_sample=cfg.min_sample, min_rounds=cfg.min_rounds,
                                         max_rounds=cfg.max_rounds, budget=cfg.budget, slow=cfg.slow)
                base, base_best = t["dense"]["median"], t["dense"]["min"]
                for n, f in forms.items():
                    sb = inf.storage_bytes(f)
                    nnz = f.nonzeros()
                    points.append(Point(d=d, h=h, alpha=alpha, batch=batch, form=n, seconds=t[n]["median"], best=t[n]["min"], q1=t[n]["q1"],
                                        q3=t[n]["q3"], rounds=t[n]["rounds"], ratio=t[n]["median"] / base,
                                        ratio_best=t[n]["min"] / base_best,
                                        stored_bytes=sb["total"], weight_bytes=sb["weights"], index_bytes=sb["indices"],
                                        moved_bytes=inf.moved_bytes(f, batch), useful_flops=2 * nnz * batch,
                                        kernel_flops=inf.flops(f, batch), nonzeros=nnz, rel_error=errs[n],
                                        copies=len(copies[n])))
                if bar is not None:
                    bar.update(1)
                if log is not None:
                    log(f"d={d} h={h} alpha={alpha} batch={batch}: " +
                        " ".join(f"{n}={t[n]['median'] * 1e3:.3g}ms" for n in forms))
        if bar is not None:
            bar.close()
    return {"config": asdict(cfg), "bandwidth_gbs": bw, "matmul": mm, "points": [asdict(p) for p in points],
            "seconds": time.perf_counter() - t0, "environment": environment(), "threads": cfg.threads,
            "l3_cache": _l3_cache()}


def _l3_cache() -> str | None:
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as fh:
            return fh.read().strip()
    except OSError:
        return None


HEADLINE = dict(d=4096, h=1024, alpha=4, batch=1)  # the point the chapter's goal is stated for


def run_all(cfg: BenchConfig, *, grid_threads: Sequence[int] = (2, 1), head: dict | None = None,
            head_threads: Sequence[int] = (2, 1), head_budget: float = 3.0, head_rounds: int = 31, progress: bool = False,
            log: Callable[[str], None] | None = None) -> dict:
    """The grid of ``cfg`` at each of ``grid_threads``, then the headline point timed again, longer, at
    each of ``head_threads`` (the machine's core count, and one thread, which other jobs on a busy
    machine disturb less: a parallel kernel waits at its barrier for a thread that is descheduled).

    Returns ``{"grid": {str(threads): run_grid(...)}, "headline": {str(threads): run_grid(...)},
    "head": head, "load": [1-minute load average before, after]}``.
    """
    head = dict(HEADLINE if head is None else head)
    load0 = _load()
    grids = {}
    for th in grid_threads:
        grids[str(th)] = run_grid(dataclasses.replace(cfg, threads=th), progress=progress, log=log)
    heads = {}
    for th in head_threads:
        hcfg = dataclasses.replace(cfg, sizes=((head["d"], head["h"]),), alphas=(head["alpha"],), batches=(head["batch"],),
                                   threads=th, max_rounds=head_rounds, budget=head_budget)
        heads[str(th)] = run_grid(hcfg, log=log)
    return {"grid": grids, "headline": heads, "head": head, "load": [load0, _load()]}


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def headline(data: dict, *, d: int = 4096, h: int = 1024, alpha: int = 4, batch: int = 1) -> dict[str, dict]:
    """The points of one (size, alpha, batch), by form, each with ``roof_gbs``, ``bw_limit_s`` (its moved
    bytes over that roof) and ``from_bw_limit`` (median / limit; ``from_bw_limit_best``: best round).

    The roof is the larger of the measured streaming bandwidth (:func:`memory_bandwidth`) and the
    fastest rate at which any form of this point moved its bytes in its best round: on a shared
    machine the bandwidth measurement can come out lower than what a layer demonstrably achieves,
    and a limit that is beaten is no limit.
    """
    pts = [p for p in data["points"] if (p["d"], p["h"], p["alpha"], p["batch"]) == (d, h, alpha, batch)]
    if not pts:
        return {}
    achieved = max(p["moved_bytes"] / p["best"] for p in pts) / 1e9
    roof = max(data["bandwidth_gbs"]["roof"], achieved)
    out = {}
    for p in pts:
        q = dict(p)
        q["roof_gbs"] = roof
        q["bw_limit_s"] = p["moved_bytes"] / (roof * 1e9)
        q["from_bw_limit"] = p["seconds"] / q["bw_limit_s"]
        q["from_bw_limit_best"] = p["best"] / q["bw_limit_s"]
        out[p["form"]] = q
    return out


def ratio_table(data: dict, *, forms: Sequence[str] | None = None) -> str:
    """A Markdown table of latency ratios (form / narrow dense), one row per (size, alpha), one column
    per (form, batch)."""
    pts = data["points"]
    forms = list(forms or data["config"]["forms"])
    batches = sorted({p["batch"] for p in pts})
    keys = sorted({(p["d"], p["h"], p["alpha"]) for p in pts})
    by = {(p["d"], p["h"], p["alpha"], p["batch"], p["form"]): p for p in pts}
    head = "| d | h | α | dense (ms) | " + " | ".join(f"{f} b={b}" for f in forms for b in batches) + " |"
    rows = [head, "|" + "---|" * (4 + len(forms) * len(batches))]
    for d, h, a in keys:
        dense_ms = "/".join(f"{by[(d, h, a, b, 'dense')]['seconds'] * 1e3:.3g}" for b in batches)
        cells = [f"{by[(d, h, a, b, f)]['ratio']:.2f}" for f in forms for b in batches]
        rows.append(f"| {d} | {h} | {a} | {dense_ms} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def save_json(data: dict, path) -> None:
    from ..runtime.paths import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def load_json(path) -> dict:
    with open(path) as fh:
        return json.load(fh)
