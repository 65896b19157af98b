"""Time and peak memory of ``fpe.expand`` on a large MLP (issue 27; the paper, as we read it, section 2).

``python benchmarks/expand_speed.py [--width 4096] [--alpha 2] [--repeat 1]`` expands
``Sequential(Linear(w, w), GELU(), Linear(w, w))`` (float32, CPU) once per prune threshold method of
:func:`fpe.method.pruning.global_magnitude_masks`: ``select`` (``torch.kthvalue``, the default) and
``sort`` (the full stable ``argsort`` it replaced), each in a fresh subprocess so that the peak
resident memory (``resource.getrusage``, the process's ``ru_maxrss``) is its own. Reported: the wall
seconds of ``fpe.expand`` (best of ``--repeat``), the peak RSS of the first run above the RSS with the model built,
the masks' equality across methods (a digest) and the old/new ratios. Target: at width 4096, alpha 2,
at most 3 s and 1.5 GB.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def one(width: int, alpha: int, method: str, repeat: int) -> dict:
    """Run in a subprocess: build, expand ``repeat`` times, report seconds, memory and a mask digest."""
    import functools

    import torch
    from torch import nn

    import fpe
    import fpe.method.expand as ex
    from fpe.method.pruning import global_magnitude_masks

    torch.set_num_threads(int(os.environ.get("FPE_BENCH_THREADS", torch.get_num_threads())))
    if method != "baseline":  # "baseline": the package found first on PYTHONPATH (e.g. an older commit), as it is
        ex.global_magnitude_masks = functools.partial(global_magnitude_masks, method=method)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
    base = _rss_mb()
    best, peak = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        wide = fpe.expand(model, alpha, generator=torch.Generator().manual_seed(1))
        best = min(best, time.perf_counter() - t)
        h = hashlib.sha256()
        for m in (wide[0], wide[2]):
            h.update(m.weight_mask.to(torch.uint8).numpy().tobytes())
        del wide
        peak = _peak_mb() - base if peak is None else peak  # the first run's (freed memory is not always returned)
    return {"method": method, "seconds": best, "peak_mb": peak, "digest": h.hexdigest()[:16],
            "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--alpha", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--methods", default="select,sort")
    ap.add_argument("--baseline", metavar="COMMIT", help="also time fpe.expand of this commit (git archive into a temp dir)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.width, a.alpha, a.one, a.repeat)))
        return 0
    rows = {}
    methods = a.methods.split(",") + (["baseline"] if a.baseline else [])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = None
    for method in methods:
        env = dict(os.environ)
        if method == "baseline":
            import tempfile

            tmp = tempfile.mkdtemp(prefix="fpe-baseline-")
            archive = subprocess.run(["git", "-C", root, "archive", a.baseline, "fpe"], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            env["PYTHONPATH"] = tmp
        out = subprocess.run([sys.executable, __file__, "--one", method, "--width", str(a.width), "--alpha", str(a.alpha),
                              "--repeat", str(a.repeat)], capture_output=True, text=True, check=True, env=env, cwd=tmp or root)
        rows[method] = json.loads(out.stdout.strip().splitlines()[-1])
        r = rows[method]
        print(f"{method:>6}: fpe.expand of a {a.width}x{a.width} GELU MLP, alpha {a.alpha}: {r['seconds']:.2f} s, "
              f"peak +{r['peak_mb']:.0f} MB above the built model ({r['threads']} threads), masks {r['digest']}")
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    ok = True
    if "select" in rows:
        s = rows["select"]
        for name, o in rows.items():
            if name != "select":
                same = s["digest"] == o["digest"]
                ok &= same
                print(f"{name}/select: {o['seconds'] / s['seconds']:.2f}x the time, {o['peak_mb'] / s['peak_mb']:.2f}x the peak "
                      f"memory; masks {'identical' if same else 'DIFFERENT'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
