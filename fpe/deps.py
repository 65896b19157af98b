"""What a computation's numbers depend on, read from the code's own imports (standard library only).

A cached computation (:mod:`fpe.cache`), a chapter's result file (:mod:`fpe.book.results`) and the
Makefile's rebuild rule all need the set of ``fpe`` source files whose change would change a number.
That set is never kept by hand: :func:`closure` walks the import statements of a module, or of a
chapter's source, with :mod:`ast`, transitively, including imports inside functions and the
``__init__.py`` of every package on the way (Python runs those on import). A C source that lives
beside a module of the closure and named in its text (``fpe/training/_native.c``, which
``native.py`` compiles) belongs to the closure too. :func:`code_hash` hashes the files of a closure (paths and contents).

Run as a script (``python3 fpe/deps.py makefile notebooks/*.py``), it prints the Makefile's
dependency rules without importing ``fpe`` (so without torch): one line
``book/NAME.ipynb: <files>`` per chapter.
"""
from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

__all__ = ["PACKAGE_DIR", "module_file", "imports_of", "closure", "code_hash"]

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name  # "fpe"


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


def imports_of(path: Path, root: Path = PACKAGE_DIR) -> set[str]:
    """Names of the ``root`` package's modules imported anywhere in ``path`` (functions included),
    with the packages above each one (their ``__init__`` runs too)."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    inside = Path(path).resolve().is_relative_to(root)
    here = _module_name(Path(path).resolve(), root).split(".") if inside else []
    package = here if inside and Path(path).name == "__init__.py" else here[:-1]
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


def closure(start: str | Path, root: Path = PACKAGE_DIR) -> list[Path]:
    """Every ``root`` source file that ``start`` (a module name or a file path) imports, transitively,
    plus ``start`` itself and the C sources beside the modules; sorted."""
    if isinstance(start, Path) or str(start).endswith(".py"):
        first = Path(start).resolve()
    else:
        first = module_file(str(start), root)
        if first is None:
            raise ValueError(f"start must be a module of the {root.name} package or a .py file, got {start!r}")
    seen: set[Path] = set()
    todo = [first]
    if first.is_relative_to(root):  # a module inside the package: its packages' __init__ run first
        todo += [module_file(n, root) for n in imports_of(first, root) if n] + [
            p / "__init__.py" for p in first.parents if p.is_relative_to(root) and (p / "__init__.py").is_file()]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(module_file(n, root) for n in imports_of(p, root))
    texts = [p.read_text() for p in seen]
    folders = {p.parent for p in seen if p.is_relative_to(root)}
    seen.update(c for f in folders for c in f.glob("*.c") if any(c.name in t for t in texts))
    return sorted(seen)


def code_hash(start: str | Path, root: Path = PACKAGE_DIR) -> str:
    """sha256 (16 hex digits) over the files of :func:`closure` ``(start)``: paths relative to the
    project and contents."""
    h = hashlib.sha256()
    top = root.parent
    for p in closure(start, root):
        h.update((p.relative_to(top).as_posix() if p.is_relative_to(top) else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _makefile(sources: list[str]) -> str:
    top = PACKAGE_DIR.parent
    lines = []
    for src in sources:
        files = [p.relative_to(top).as_posix() for p in closure(Path(src)) if p.is_relative_to(PACKAGE_DIR)]
        lines.append(f"book/{Path(src).stem}.ipynb: {' '.join(files)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "makefile":
        sys.exit("usage: python3 fpe/deps.py makefile notebooks/NAME.py ...")
    sys.stdout.write(_makefile(sys.argv[2:]))
