"""The one cache (fpe.runtime.cache) and what its keys depend on (fpe.runtime.deps): the modules a computation really
imports, found from the code, and the committed results' record of the code they came from."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fpe.runtime import cache, deps

ROOT = Path(__file__).resolve().parents[1]
# the science files of the package (everything outside the unhashed folders: fpe/runtime/, fpe/book/)
SCIENCE = {p for p in (ROOT / "fpe").rglob("*") if p.suffix in (".py", ".c")
           and not any(p.is_relative_to(ROOT / "fpe" / f) for f in deps.UNHASHED)}
# every module of fpe that caches a computation, directly or as a job of fpe.runtime.jobs (found from the code,
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
    """Runs both runners for real in a fresh interpreter (the cache on, so fpe.runtime.cache runs too) and
    checks that every fpe module loaded by then is in the dependency closure of its cache keys."""
    env = dict(os.environ, FPE_CACHE_DIR=str(tmp_path), FPE_CACHE="1")
    out = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = {Path(p).resolve() for p in json.loads(out.stdout.strip().splitlines()[-1])} & SCIENCE
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
    loaded = {Path(p).resolve() for p in json.loads(out.stdout)} & SCIENCE
    assert loaded <= set(deps.closure(module)), sorted(str(p) for p in loaded - set(deps.closure(module)))


@pytest.mark.parametrize("path", sorted((ROOT / "results" / "paper").glob("*.json")), ids=lambda p: p.stem)
def test_committed_results_come_from_the_current_code(path):
    """Each committed chapter records the science hash of its source and of every fpe science file it
    imports, file by file; a change to the code of any of them without re-executing the chapter
    (`make book/NAME.ipynb`) fails here, naming the files that changed."""
    data = json.loads(path.read_text())
    source = ROOT / "notebooks" / f"{path.stem}.py"
    now = deps.file_hashes(source)
    then = data.get("code_files") or {}
    changed = sorted(f for f in set(now) | set(then) if now.get(f) != then.get(f))
    assert not changed and data.get("code_hash") == deps.code_hash(source), (
        f"results/paper/{path.name} was computed from other code than today's: {changed or 'the hashing scheme'} "
        f"changed; re-execute the chapter (make book/{path.stem}.ipynb) and commit it")


def _tree(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A copy of the package and the chapters' sources, to edit."""
    import shutil

    shutil.copytree(ROOT / "fpe", tmp_path / "fpe", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path / "fpe", sorted((tmp_path / "notebooks").glob("*.py"))


def _keys(pkg: Path, chapters: list[Path]) -> dict[str, str]:
    """Every chapter's science hash and every caching module's cache-key hash."""
    return {**{c.stem: deps.code_hash(c, pkg) for c in chapters}, **{m: deps.code_hash(m, pkg) for m in CACHING}}


def test_docstrings_and_infrastructure_never_change_a_key(tmp_path):
    """Rewriting every docstring and comment of every module (and its formatting), and any code edit
    under fpe/runtime/ and fpe/book/, leave all 13 chapters' hashes and every cache key unchanged."""
    pkg, chapters = _tree(tmp_path)
    before = _keys(pkg, chapters)
    for p in pkg.rglob("*.py"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):  # every docstring gets new words
            body = getattr(node, "body", None)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body[0].value.value = "Rewritten. " + body[0].value.value[::-1]
        p.write_text("# a comment\n" + ast.unparse(tree) + "\n")  # new comments, new formatting
        if any(p.is_relative_to(pkg / f) for f in deps.UNHASHED):
            p.write_text(p.read_text() + "\nINFRASTRUCTURE_EDIT = 1\n")
    assert _keys(pkg, chapters) == before


@pytest.mark.parametrize("module", ["method/splits.py", "theory.py", "method/sparsity.py", "training/_native.c"])
def test_a_line_of_science_changes_exactly_the_chapters_that_import_it(tmp_path, module):
    """A one-line code edit in a science file changes the hash of exactly the chapters whose import
    closure holds it (and no other), and the cache keys of exactly the modules that import it."""
    pkg, chapters = _tree(tmp_path)
    before = _keys(pkg, chapters)
    target = pkg / module
    users = {c.stem for c in chapters if target in deps.closure(c, pkg)} | {m for m in CACHING if target in deps.closure(m, pkg)}
    assert users, f"no chapter uses {module}"
    target.write_text(target.read_text() + ("\n/* a comment is code to C */\n" if target.suffix == ".c" else "\nLINE_OF_SCIENCE = 1\n"))
    after = _keys(pkg, chapters)
    assert {k for k in before if before[k] != after[k]} == users


def test_chapters_import_by_their_use():
    """The lazy top level: a chapter that uses only the theory does not depend on the method, and the
    names it reads off ``fpe`` (``fpe.expand``) count as imports."""
    files = lambda name: {p.relative_to(ROOT).as_posix() for p in deps.closure(ROOT / "notebooks" / f"{name}.py")}  # noqa: E731
    assert "fpe/method/expand.py" in files("01_fpe_step_by_step")  # `fpe.expand(...)` after `import fpe`
    assert "fpe/theory.py" in files("04_theory") and "fpe/theory.py" not in files("02_headline")
    assert "fpe/method/sparsity.py" not in files("02_headline")
    assert not any(f.startswith(("fpe/runtime/", "fpe/book/")) for c in ROOT.glob("notebooks/*.py") for f in files(c.stem))


def test_import_graph_has_no_cycle_and_no_upward_import():
    """Modules import only from their own level or below: the infrastructure (runtime) at the bottom,
    the shared science modules at the top of fpe/, then the method, training, datasets, experiments,
    cost and book (a subpackage never imports one after it)."""
    order = ["runtime", "", "method", "training", "datasets", "experiments", "cost", "book"]
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
