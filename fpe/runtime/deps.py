"""What a computation's numbers depend on, and their science hash (standard library only).

A cached computation (:mod:`fpe.runtime.cache`), a chapter's result file (:mod:`fpe.book.results`) and
the Makefile's rebuild rule all need the set of source files whose change could change a number.
That set is never kept by hand: :func:`closure` walks the import statements of a module, or of a
chapter's source, with :mod:`ast`, transitively, including imports inside functions, the
``__init__.py`` of every package on the way (Python runs those on import) and the names a chapter
reads off the lazy top level (``fpe.expand`` is :data:`fpe.EXPORTS` ``["expand"]``).

**The science hash.** Only science is hashed: the method, training, data sets, experiments, tasks,
metrics, theory and seeds. Infrastructure and book tooling (the folders named in :data:`UNHASHED`:
``fpe/runtime/`` for paths, cache, slots, jobs and provenance, ``fpe/book/`` for results, pages, plots
and reports) are outside the closure by their place, and their own imports are not followed: they
cannot change a number, and bitwise tests across job backends and worker counts and the
quick-profile references guard them instead. Each Python file is hashed as its syntax tree with every
docstring removed (``ast.unparse``: comments and formatting drop out too), so prose never changes a
hash; a C source beside a module counts only where that module's *code* names it in a string (not in a
docstring or comment), and is hashed as bytes. :func:`file_hashes` gives one hash per file (the results
store them, so a stale chapter names the file that changed) and :func:`code_hash` one over them,
tagged with :data:`SCHEME`.

Run as a script (``python3 fpe/runtime/deps.py makefile notebooks/*.py``), it writes one stamp file
per chapter, ``_build/hash/NAME``, holding the chapter's science hash and rewritten only when that
hash changes, and prints the Makefile's rules ``book/NAME.ipynb: _build/hash/NAME``; so a docstring
edit does not make ``make`` re-execute a chapter. It imports nothing of ``fpe`` (so no torch).
"""
from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

__all__ = ["PACKAGE_DIR", "UNHASHED", "SCHEME", "module_file", "imports_of", "closure", "file_hashes", "code_hash",
           "normalised_source"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name  # "fpe"
#: subfolders of the package outside the science hash (infrastructure and book tooling)
UNHASHED = ("runtime", "book")
#: the hashing scheme, part of every hash: a change of the rule changes every key once
SCHEME = "fpe-science-hash-v1: ast.unparse of the syntax tree without docstrings; C sources named in code, as bytes"


def module_file(name: str, root: Path = PACKAGE_DIR) -> Path | None:
    """The source file of module ``name`` (``"fpe.training.concat"``) under ``root``, or None."""
    parts = name.split(".")
    if parts[0] != root.name:
        return None
    base = root.joinpath(*parts[1:])
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _exports(root: Path) -> dict[str, str]:
    """The lazy top-level names of the package (the literal ``EXPORTS`` dict of its ``__init__.py``)."""
    init = root / "__init__.py"
    if not init.is_file():
        return {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def imports_of(path: Path, root: Path = PACKAGE_DIR) -> set[str]:
    """Names of the ``root`` package's modules imported anywhere in ``path`` (functions included),
    with the packages above each one (their ``__init__`` runs too), and the modules behind the lazy
    top-level names it uses (``fpe.expand``, ``from fpe import expand``)."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    inside = Path(path).resolve().is_relative_to(root)
    here = _module_name(Path(path).resolve(), root).split(".") if inside else []
    package = here if inside and Path(path).name == "__init__.py" else here[:-1]
    exports = _exports(root)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
            if mod == root.name:
                names.update(exports[a.name] for a in node.names if a.name in exports)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == root.name:
            if node.attr in exports:  # `fpe.expand(...)` after `import fpe`
                names.add(exports[node.attr])
    out = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != root.name:
            continue
        for i in range(1, len(parts) + 1):  # the packages above run their __init__
            sub = ".".join(parts[:i])
            if module_file(sub, root) is not None:
                out.add(sub)
    return out


def _hashed(path: Path, root: Path) -> bool:
    """Whether ``path`` is science: not under one of the :data:`UNHASHED` folders of ``root``."""
    return not any(path.is_relative_to(root / folder) for folder in UNHASHED)


def _code_strings(tree: ast.AST) -> set[str]:
    """The string constants of a syntax tree that are code, not docstrings."""
    docs = {id(node.body[0].value) for node in _documented(tree)}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs}


def _documented(tree: ast.AST) -> list[ast.AST]:
    """The module, classes and functions of a syntax tree whose body starts with a docstring."""
    return [node for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
            and isinstance(node.body[0].value.value, str)]


def closure(start: str | Path, root: Path = PACKAGE_DIR) -> list[Path]:
    """The science files that ``start`` (a module name or a file path) depends on: ``start`` itself
    and every ``root`` module it imports, transitively, and the C sources their code names; files
    under :data:`UNHASHED` folders are left out and their imports not followed. Sorted."""
    if isinstance(start, Path) or str(start).endswith(".py"):
        first = Path(start).resolve()
    else:
        first = module_file(str(start), root)
        if first is None:
            raise ValueError(f"start must be a module of the {root.name} package or a .py file, got {start!r}")
    seen: set[Path] = set()
    todo = [first]
    if first.is_relative_to(root):  # a module inside the package: its packages' __init__ run first
        todo += [p / "__init__.py" for p in first.parents if p.is_relative_to(root) and (p / "__init__.py").is_file()]
    while todo:
        p = todo.pop()
        if p in seen or (p.is_relative_to(root) and not _hashed(p, root)):
            continue
        seen.add(p)
        todo.extend(module_file(n, root) for n in imports_of(p, root))
    sources = set()
    for p in seen:
        if p.is_relative_to(root):
            named = _code_strings(ast.parse(p.read_text()))
            sources.update(c for c in p.parent.glob("*.c") if any(c.name in s for s in named))
    return sorted(seen | sources)


def normalised_source(path: Path) -> bytes:
    """What is hashed of one file: a Python file's ``ast.unparse`` without docstrings, a C file's bytes."""
    path = Path(path)
    if path.suffix != ".py":
        return path.read_bytes()
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in _documented(tree):
        node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree).encode()


def _label(path: Path, root: Path) -> str:
    top = root.parent
    return path.relative_to(top).as_posix() if path.is_relative_to(top) else path.name


def file_hashes(start: str | Path, root: Path = PACKAGE_DIR) -> dict[str, str]:
    """``{file: sha256 (16 hex digits) of its normalised source}`` over :func:`closure` ``(start)``;
    files are named relative to the project."""
    return {_label(p, root): hashlib.sha256(normalised_source(p)).hexdigest()[:16] for p in closure(start, root)}


def code_hash(start: str | Path, root: Path = PACKAGE_DIR) -> str:
    """The science hash of ``start``: sha256 (16 hex digits) over :data:`SCHEME` and :func:`file_hashes`."""
    h = hashlib.sha256(SCHEME.encode())
    for name, digest in sorted(file_hashes(start, root).items()):
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()[:16]


def _makefile(sources: list[str], stamps: Path) -> str:
    """The Makefile's rules, one stamp per chapter (rewritten only when its hash changes)."""
    stamps.mkdir(parents=True, exist_ok=True)
    lines = []
    for src in sources:
        stamp = stamps / Path(src).stem
        digest = code_hash(Path(src)) + "\n"
        if not stamp.is_file() or stamp.read_text() != digest:
            stamp.write_text(digest)
        lines.append(f"book/{Path(src).stem}.ipynb: {stamp.as_posix()}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "makefile":
        sys.exit("usage: python3 fpe/runtime/deps.py makefile notebooks/NAME.py ...")
    sys.stdout.write(_makefile(sys.argv[2:], Path("_build/hash")))
