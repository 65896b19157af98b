"""The one cache (fpe.cache) and what its keys depend on (fpe.deps): the modules a computation really
imports, found from the code, and the committed results' record of the code they came from."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fpe import cache, deps

ROOT = Path(__file__).resolve().parents[1]
# every module of fpe that caches a computation, directly or as a job of fpe.jobs (found from the code,
# not listed by hand)
CACHING = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for p in (ROOT / "fpe").rglob("*.py")
    if ("cached(" in p.read_text() or "run_jobs(" in p.read_text()) and p.name not in ("cache.py", "jobs.py")
)


def test_cache_reuses_and_survives_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FPE_CACHE", raising=False)
    calls = []

    def compute():
        calls.append(1)
        return {"a": torch.arange(3)}

    assert torch.equal(cache.cached("t", {"k": 1}, compute, module="fpe.tasks")["a"], torch.arange(3))
    assert torch.equal(cache.cached("t", {"k": 1}, compute, module="fpe.tasks")["a"], torch.arange(3))
    assert len(calls) == 1
    cache.cache_path("t", {"k": 1}, "fpe.tasks").write_bytes(b"garbage")
    cache.cached("t", {"k": 1}, compute, module="fpe.tasks")
    assert len(calls) == 2
    cache.cached("t", {"k": 2}, compute, module="fpe.tasks")
    assert len(calls) == 3
    cache.cached("embeddings/t", {"k": 1}, compute, module="fpe.tasks")  # subfolders of the cache
    assert (tmp_path / "embeddings").is_dir() and len(calls) == 4
    assert cache.cache_path("t", {"k": 1}, "fpe.tasks") != cache.cache_path("t", {"k": 1}, "fpe.experiments.boolean")
    with pytest.raises(ValueError, match="name must be"):
        cache.cache_path("../escape", {}, "fpe.tasks")


def _package(tmp_path: Path) -> Path:
    """A toy package: a imports b at module level, c inside a function, and sub.d through a package;
    e is imported by nobody; sub/k.c is named by d, sub/z.c by nobody."""
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n\ndef f():\n    from .c import g\n    from .sub import d\n    return g()\n")
    (pkg / "b.py").write_text("import os\n")
    (pkg / "c.py").write_text("from .sub.d import h\n\ndef g():\n    return h\n")
    (pkg / "e.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "d.py").write_text("SOURCE = 'k.c'\nh = 1\n")
    (pkg / "sub" / "k.c").write_text("int k;\n")
    (pkg / "sub" / "z.c").write_text("int z;\n")
    return pkg


def test_closure_follows_imports_inside_functions_subpackages_and_c_sources(tmp_path):
    pkg = _package(tmp_path)
    names = {p.relative_to(pkg).as_posix() for p in deps.closure("toy.a", pkg)}
    assert names == {"__init__.py", "a.py", "b.py", "c.py", "sub/__init__.py", "sub/d.py", "sub/k.c"}
    assert {p.relative_to(pkg).as_posix() for p in deps.closure("toy.b", pkg)} == {"__init__.py", "b.py"}
    h = deps.code_hash("toy.a", pkg)
    (pkg / "e.py").write_text("x = 1\n")  # not imported: the key stays
    assert deps.code_hash("toy.a", pkg) == h
    (pkg / "sub" / "d.py").write_text("SOURCE = 'k.c'\nh = 2\n")  # imported two levels down, lazily: the key moves
    assert deps.code_hash("toy.a", pkg) != h
    h2 = deps.code_hash("toy.a", pkg)
    (pkg / "sub" / "k.c").write_text("int k2;\n")
    assert deps.code_hash("toy.a", pkg) != h2
    with pytest.raises(ValueError, match="start must be"):
        deps.closure("other.a", pkg)


def test_the_cached_computations_are_found():
    assert {"fpe.experiments.boolean", "fpe.experiments.realdata", "fpe.datasets.features"} <= set(CACHING)


RUN = textwrap.dedent("""
    import json, sys, torch
    import fpe.experiments.boolean as B, fpe.experiments.realdata as R
    from fpe.datasets.features import Features
    from fpe.experiments.schedule import DENSE, Schedule, Variant
    setup = B.BooleanSetup(n_train=64, n_test=64, batch_size=32, warmup_epochs=1, post_epochs=1)
    B.run_sweep(setup, {4: [3]}, [0], [DENSE, Variant("clause", 2), Variant("random", 2)], use_cache=True)
    g = torch.Generator().manual_seed(0)
    f = Features("toy", torch.randn(40, 6, generator=g), torch.arange(40) % 3, torch.randn(20, 6, generator=g),
                 torch.arange(20) % 3, ["a", "b", "c"])
    R.sweep(f, [3], [0], [DENSE, Variant("gram", 2)], schedule=Schedule(1e-2, 16, 1, 1))
    print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "fpe" and getattr(m, "__file__", None))))
""")


def test_cache_keys_cover_every_module_the_cached_computations_import(tmp_path):
    """Runs both runners for real in a fresh interpreter (the cache on, so fpe.cache runs too) and
    checks that every fpe module loaded by then is in the dependency closure of its cache keys."""
    env = dict(os.environ, FPE_CACHE_DIR=str(tmp_path), FPE_CACHE="1")
    out = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = {Path(p).resolve() for p in json.loads(out.stdout.strip().splitlines()[-1])}
    keyed = set(deps.closure("fpe.experiments.boolean")) | set(deps.closure("fpe.experiments.realdata"))
    missed = sorted(p.relative_to(ROOT).as_posix() for p in loaded - keyed)
    assert not missed, f"modules the cached computations import but their cache keys do not hash: {missed}"
    assert (ROOT / "fpe" / "training" / "_native.c") in set(deps.closure("fpe.experiments.boolean"))


@pytest.mark.parametrize("module", CACHING)
def test_every_caching_module_imports_only_what_its_key_hashes(module):
    """Importing a caching module loads nothing outside its closure (checked in a fresh interpreter)."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() " \
           f"if n.split('.')[0] == 'fpe' and getattr(m, '__file__', None))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = {Path(p).resolve() for p in json.loads(out.stdout)}
    assert loaded <= set(deps.closure(module)), sorted(str(p) for p in loaded - set(deps.closure(module)))


@pytest.mark.parametrize("path", sorted((ROOT / "results" / "paper").glob("*.json")), ids=lambda p: p.stem)
def test_committed_results_come_from_the_current_code(path):
    """Each committed chapter records the hash of its source and every fpe file it imports; a change
    to any of them without re-executing the chapter (`make book/NAME.ipynb`) fails here."""
    recorded = json.loads(path.read_text()).get("code_hash")
    source = ROOT / "notebooks" / f"{path.stem}.py"
    assert recorded == deps.code_hash(source), (
        f"results/paper/{path.name} was computed from other code than today's {source.name} and the fpe "
        f"modules it imports; re-execute the chapter (make book/{path.stem}.ipynb) and commit it")


def test_import_graph_has_no_cycle_and_no_upward_import():
    """Modules import only from their own level or below: the method and shared modules at the top of
    fpe/, then training, datasets, experiments, cost and book (a subpackage never imports one after it)."""
    order = ["", "training", "datasets", "experiments", "cost", "book"]
    level = lambda p: order.index(p.relative_to(ROOT / "fpe").parts[0] if len(p.relative_to(ROOT / "fpe").parts) > 1 else "")  # noqa: E731
    graph = {}
    for p in (ROOT / "fpe").rglob("*.py"):
        graph[p] = {deps.module_file(n) for n in deps.imports_of(p)} - {None, p}
    for p, targets in graph.items():
        for t in targets:
            if t.name == "__init__.py" and t.parent in p.parents:
                continue  # a module's own packages run on import; they import nothing themselves below the top
            assert level(t) <= level(p), f"{p.relative_to(ROOT)} imports {t.relative_to(ROOT)} from a higher layer"
    state: dict = {}

    def visit(p, stack):
        state[p] = "open"
        for t in graph[p]:
            if t.name == "__init__.py":
                continue
            assert state.get(t) != "open", "import cycle: " + " -> ".join(str(x.relative_to(ROOT)) for x in [*stack, p, t])
            if t not in state:
                visit(t, [*stack, p])
        state[p] = "done"

    for p in graph:
        if p not in state:
            visit(p, [])
