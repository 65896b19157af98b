"""Cached computations as jobs (fpe.runtime.jobs): the same bits whatever runs them (this process, loky worker
processes, a local Dask cluster on the loopback interface), cached as they finish, book-wide slots
that really bound how many run at once, and the critical-path summary."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import torch

from fpe.runtime import cache
from fpe.experiments.boolean import BooleanSetup, run_sweep
from fpe.experiments.schedule import DENSE, Variant
from fpe.book.jobreport import critical_path
from fpe.runtime.jobs import Job, exclusive, n_workers, run_jobs

SMALL = BooleanSetup(n_train=256, n_test=256, batch_size=64, warmup_epochs=3, post_epochs=3, lr=1e-2)
GRID = {3: [3, 5], 6: [4], 12: [3]}  # three buckets of clause counts: three jobs
VARIANTS = [DENSE, Variant("random", 2), Variant("clause", 2)]


def _flat(x, out):
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, dict):
        for k in sorted(x, key=str):
            _flat(x[k], out)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _flat(v, out)
    return out


def assert_bitwise_equal(a, b):
    sa, sb = a.to_state(), b.to_state()
    assert [c[0] for c in sa["cells"]] == [c[0] for c in sb["cells"]]
    ta, tb = _flat(sa, []), _flat(sb, [])
    assert len(ta) == len(tb) > 0
    for x, y in zip(ta, tb):
        assert x.dtype == y.dtype and torch.equal(x, y)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FPE_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("FPE_JOB_SLOTS", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def serial():
    os.environ["FPE_JOBS"] = "1"
    try:
        return run_sweep(SMALL, GRID, [0, 1], VARIANTS, use_cache=False)
    finally:
        del os.environ["FPE_JOBS"]


def test_loky_workers_give_the_serial_bits_and_cache_every_job(fresh_cache, monkeypatch, serial):
    monkeypatch.setenv("FPE_JOBS", "2")
    before = dict(cache.COUNTS)
    got = run_sweep(SMALL, GRID, [0, 1], VARIANTS)
    assert cache.COUNTS["misses"] - before["misses"] == 3
    assert_bitwise_equal(got, serial)
    assert len(list(fresh_cache.glob("sweep-*.pt"))) == 3  # each job cached as it finished
    again = run_sweep(SMALL, GRID, [0, 1], VARIANTS)  # all read back
    assert cache.COUNTS["hits"] - before["hits"] == 3
    assert_bitwise_equal(again, serial)


def test_a_local_dask_cluster_gives_the_serial_bits(fresh_cache, monkeypatch, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        monkeypatch.setenv("FPE_DASK_SCHEDULER", cluster.scheduler_address)
        got = run_sweep(SMALL, GRID, [0, 1], VARIANTS)
        client = distributed.default_client()  # the client run_jobs opened: the jobs ran on the cluster
        assert client.scheduler.address == cluster.scheduler_address
        assert sum(client.run(lambda: 1).values()) == 2  # two worker processes
        client.close()
    assert_bitwise_equal(got, serial)
    assert len(list(fresh_cache.glob("sweep-*.pt"))) == 3


def _sleeper(value, seconds=0.3):
    time.sleep(seconds)
    return {"v": torch.tensor([value])}


def test_slots_bound_the_jobs_running_at_once_across_processes(fresh_cache, tmp_path, monkeypatch):
    log = tmp_path / "jobs.jsonl"
    monkeypatch.setenv("FPE_JOB_SLOTS", str(tmp_path / "slots"))
    monkeypatch.setenv("FPE_JOB_SLOT_COUNT", "1")
    monkeypatch.setenv("FPE_JOB_LOG", str(log))
    monkeypatch.setenv("FPE_CHAPTER", "toy")
    jobs = [Job("toy", {"i": i}, lambda i=i: _sleeper(i), module="fpe.runtime.jobs", cost=i) for i in range(4)]
    values = run_jobs(jobs, n_jobs=2)
    assert [v["v"].item() for v in values] == [0, 1, 2, 3]
    records = sorted((json.loads(line) for line in log.read_text().splitlines()), key=lambda r: r["start"])
    assert len(records) == 4
    for a, b in zip(records, records[1:]):  # one slot: never two at once, although two workers ran
        assert b["start"] >= a["end"] - 1e-3
    assert records[0]["job"].endswith((":0", ":1"))  # the two costliest (i = 3, 2) were submitted first
    (tmp_path / "jobs.jsonl.chapters").write_text(
        json.dumps({"chapter": "toy", "start": records[0]["start"] - 1, "end": records[-1]["end"] + 1, "status": 0, "cpu_s": 90}) + "\n"
        + json.dumps({"chapter": "broken", "start": records[0]["start"], "end": records[0]["start"] + 2, "status": 1, "cpu_s": 30}) + "\n")
    text = critical_path(log)
    assert "4 jobs" in text and "critical path: toy" in text
    assert "broken: 0.0 min" in text and "FAILED (exit 1)" in text and text.count("FAILED") == 1  # failed chapters are listed too
    assert "toy: " in text and ", 1.5 CPU-min" in text and "all chapters: 2.0 CPU-minutes in" in text
    log.write_text("")  # everything cached: the chapters are still reported
    text = critical_path(log)
    assert text.startswith("no jobs ran") and "critical path: toy" in text and "all chapters: 2.0 CPU-minutes" in text


def test_exclusive_waits_for_running_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_JOB_SLOTS", str(tmp_path / "slots"))
    monkeypatch.setenv("FPE_JOB_SLOT_COUNT", "2")
    monkeypatch.delenv("FPE_JOB_LOG", raising=False)
    from fpe.runtime.slots import slot as _slot

    events = []

    def job():
        with _slot():
            events.append(("job-start", time.time()))
            time.sleep(0.4)
            events.append(("job-end", time.time()))

    t = threading.Thread(target=job)
    t.start()
    time.sleep(0.1)
    with exclusive():
        events.append(("exclusive", time.time()))
    t.join()
    names = [e[0] for e in sorted(events, key=lambda e: e[1])]
    assert names == ["job-start", "job-end", "exclusive"]


def test_bad_arguments_are_named(monkeypatch):
    with pytest.raises(ValueError, match="n_jobs"):
        n_workers(0)
    monkeypatch.setenv("FPE_JOBS", "0")
    with pytest.raises(ValueError, match="FPE_JOBS"):
        n_workers()
    with pytest.raises(TypeError, match="Job"):
        run_jobs([lambda: 1])


def test_a_cached_computation_holds_a_slot_and_jobs_inside_it_run_in_place(fresh_cache, tmp_path, monkeypatch):
    """cached() computes inside a book-wide slot; run_jobs called from there runs its jobs in this
    process, one by one (two slots would otherwise deadlock under nesting), with the same bits."""
    from fpe.runtime.cache import cached
    from fpe.runtime.slots import holding

    monkeypatch.setenv("FPE_JOB_SLOTS", str(tmp_path / "slots"))
    monkeypatch.setenv("FPE_JOB_SLOT_COUNT", "1")
    monkeypatch.setenv("FPE_JOBS", "2")
    seen = {}

    def outer():
        seen["holding"] = holding()
        jobs = [Job("toy", {"i": i}, lambda i=i: {"v": torch.tensor([i, os.getpid()])}, module="fpe.runtime.jobs") for i in range(3)]
        return {"vals": torch.stack([v["v"] for v in run_jobs(jobs)])}

    out = cached("outer", {"k": 1}, outer, module="fpe.runtime.jobs")
    assert seen["holding"] and not holding()
    assert out["vals"][:, 0].tolist() == [0, 1, 2] and set(out["vals"][:, 1].tolist()) == {os.getpid()}


def test_slots_serve_waiters_first_come_first_served(tmp_path, monkeypatch):
    """A thread that releases the only slot and asks again at once does not starve one already
    waiting (the waiter's ticket is older); a ticket left by a process that no longer exists is ignored."""
    from fpe.runtime.slots import slot as _slot
    monkeypatch.setenv("FPE_JOB_SLOTS", str(tmp_path / "slots"))
    monkeypatch.setenv("FPE_JOB_SLOT_COUNT", "1")
    (tmp_path / "slots").mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "slots" / f"wait-{0:020d}-{dead.pid}-1").touch()  # the oldest ticket, of a finished process
    order, first = [], threading.Event()

    def greedy():
        for i in range(5):
            with _slot():
                order.append("greedy")
                first.set()
                time.sleep(0.15)

    def waiter():
        first.wait()
        with _slot():
            order.append("waiter")

    threads = [threading.Thread(target=greedy), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert order.index("waiter") == 1, order
    assert not list((tmp_path / "slots").glob("wait-*"))  # no ticket left behind
