"""The build's job report: what ``make execute`` prints at its end (``python -m fpe.book.jobreport JOB_LOG``).

It reads the two logs a book build writes: ``FPE_JOB_LOG`` (one JSON line per job of
:mod:`fpe.runtime.jobs`: its chapter and its start and end) and ``FPE_JOB_LOG.chapters`` (one line per
chapter from the Makefile's notebook rule: wall time, exit status, CPU seconds of all its processes).
:func:`job_summary` summarises the first, :func:`chapter_summary` the second (with the book's
critical path), :func:`critical_path` prints both.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["read_log", "job_summary", "chapter_summary", "critical_path"]


def read_log(path: str | os.PathLike) -> list[dict]:
    """The JSON lines of ``path`` (none when it does not exist)."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def job_summary(records: list[dict]) -> list[str]:
    """Per chapter its jobs' span and busy time and the longest job; how full the slots were."""
    if not records:
        return ["no jobs ran (everything was cached)"]
    t0 = min(r["start"] for r in records)
    t1 = max(r["end"] for r in records)
    busy = sum(r["end"] - r["start"] for r in records)
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["chapter"] or "?", []).append(r)
    lines = [f"{len(records)} jobs, {busy / 60:.1f} job-minutes in {(t1 - t0) / 60:.1f} minutes of wall time "
             f"(mean {busy / max(t1 - t0, 1e-9):.2f} jobs running at once)",
             "chapter: first job start -> last job end (minutes from the first job), job-minutes, longest job (minutes)"]
    for chapter, rs in sorted(by.items(), key=lambda kv: -max(r["end"] for r in kv[1])):
        s, e = min(r["start"] for r in rs), max(r["end"] for r in rs)
        longest = max(rs, key=lambda r: r["end"] - r["start"])
        lines.append(f"  {chapter}: {(s - t0) / 60:.1f} -> {(e - t0) / 60:.1f}, {sum(r['end'] - r['start'] for r in rs) / 60:.1f}, "
                     f"{longest['job']} {(longest['end'] - longest['start']) / 60:.1f}")
    last = max(records, key=lambda r: r["end"])
    lines.append(f"the last job to end: {last['job']} of {last['chapter'] or '?'}")
    return lines


def chapter_summary(chapters: list[dict]) -> list[str]:
    """Each chapter's wall time and CPU time (failed ones marked), the book's CPU total and mean busy
    cores, and the critical path (the chapter whose run ends last)."""
    if not chapters:
        return []
    c0, c1 = min(c["start"] for c in chapters), max(c["end"] for c in chapters)
    lines = ["chapters (wall time, start -> end in minutes from the first start, CPU minutes: user + system of all its processes):"]
    for c in sorted(chapters, key=lambda c: -c["end"]):
        failed = f", FAILED (exit {c['status']})" if c.get("status", 0) else ""
        cpu = f", {c['cpu_s'] / 60:.1f} CPU-min" if "cpu_s" in c else ""
        lines.append(f"  {c['chapter']}: {(c['end'] - c['start']) / 60:.1f} min ({(c['start'] - c0) / 60:.1f} -> "
                     f"{(c['end'] - c0) / 60:.1f}){cpu}{failed}")
    if all("cpu_s" in c for c in chapters):
        cpu_s = sum(c["cpu_s"] for c in chapters)
        lines.append(f"all chapters: {cpu_s / 60:.1f} CPU-minutes in {(c1 - c0) / 60:.1f} minutes of wall time "
                     f"(mean {cpu_s / max(c1 - c0, 1e-9):.2f} cores busy)")
    end = max(chapters, key=lambda c: c["end"])
    lines.append(f"critical path: {end['chapter']}, whose run ends the book's computing at {(end['end'] - c0) / 60:.1f} min")
    return lines


def critical_path(log: str | os.PathLike) -> str:
    """The report of a build: :func:`job_summary` of ``log`` and :func:`chapter_summary` of ``log.chapters``."""
    return "\n".join(job_summary(read_log(log)) + chapter_summary(read_log(f"{log}.chapters")))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fpe.book.jobreport JOB_LOG")
    print(critical_path(sys.argv[1]))
