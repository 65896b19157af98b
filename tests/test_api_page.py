"""The API reference page (``book/api.md``): every module of ``fpe`` is on it, and every target imports.

Fast (no book build): it reads the page's reStructuredText directives. Sphinx itself (``make html``,
warnings as errors) checks that the docstrings render; the browser check visits the built page.
"""
import importlib
import re
import types
from pathlib import Path

import yaml

from fpe.book import report

ROOT = Path(__file__).resolve().parents[1]
API = (ROOT / "book" / "api.md").read_text()

# `.. automodule:: fpe.x` documents a module with its docstring; `.. py:module:: fpe.x` followed by one
# `.. autoclass::`/`.. autofunction::` per name of its `__all__` is the stand-in for a module whose own
# docstring cannot be rendered yet (see test_every_exclusion_is_still_needed).
AUTOMODULE = re.compile(r"^\.\. automodule:: +(\S+)[ \t]*$", re.M)
PYMODULE = re.compile(r"^\.\. py:module:: +(\S+)[ \t]*$", re.M)
AUTOOBJECT = re.compile(r"^\.\. auto(?:class|function|data|exception|attribute):: +(\S+)[ \t]*$", re.M)
EXCLUDED = re.compile(r"^\.\. automodule:: +(\S+)[ \t]*\n(?:   :[\w-]+:.*\n)*?   :exclude-members: +(.+)$", re.M)
ROW = re.compile(r"^\| `(fpe(?:\.\w+)*)` \|", re.M)


def table_modules(text: str) -> list[str]:
    return ROW.findall(text)


def readme_modules() -> list[str]:
    """The modules of the README's generated layout table (between its markers)."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split(report.LAYOUT_START, 1)[1].split(report.LAYOUT_END, 1)[0]
    return table_modules(block)


def documented() -> set[str]:
    return set(AUTOMODULE.findall(API)) | set(PYMODULE.findall(API))


def test_every_module_of_the_layout_table_is_on_the_api_page():
    # the README's table, and the table as `python -m fpe.book.report` would write it now, so that a new
    # module counts before the README is regenerated
    listed = set(readme_modules()) | set(table_modules(report.layout_table(ROOT)))
    assert len(listed) >= 30 and {"fpe.method.expand", "fpe.training.stacked", "fpe.book.verdicts"} <= listed
    public = {m for m in listed if not any(part.startswith("_") for part in m.split("."))}
    missing = sorted(public - documented())
    assert not missing, f"book/api.md has no `.. automodule::` for {missing}"
    assert "fpe" in AUTOMODULE.findall(API)  # the package itself, with its overview docstring


def test_every_target_of_the_api_page_imports_as_a_module_of_fpe():
    targets = AUTOMODULE.findall(API) + PYMODULE.findall(API)
    assert len(targets) == len(set(targets)), "a module is documented twice (duplicate object warnings)"
    for name in targets:
        module = importlib.import_module(name)  # autodoc imports the same way (fpe.expand is also a function)
        assert isinstance(module, types.ModuleType) and module.__name__ == name
        assert Path(module.__file__).resolve().is_relative_to(ROOT / "fpe")


def test_a_module_documented_member_by_member_has_all_its_public_names():
    objects = set(AUTOOBJECT.findall(API))
    for name in set(PYMODULE.findall(API)) - set(AUTOMODULE.findall(API)):
        module = importlib.import_module(name)
        missing = [n for n in module.__all__ if f"{name}.{n}" not in objects]
        assert not missing, f"book/api.md documents {name} member by member but lacks {missing}"


def _has_bare_bars(doc: str) -> bool:
    """Whether ``doc`` has |text| outside ``literals`` that reStructuredText reads as a substitution."""
    text = re.sub(r"``.+?``", "", doc or "", flags=re.S)
    return re.search(r"(?<![\\|\w])\|[^\s|][^|\n]*?(?<![\s\\])\|(?![|\w])", text) is not None


def test_every_exclusion_is_still_needed():
    """Objects left off the page because their docstring writes an absolute value as |x| (an undefined
    substitution under -W) come back as soon as fpe/ escapes the bars: this test then fails."""
    left_out = [(mod, member.strip()) for mod, members in EXCLUDED.findall(API) for member in members.split(",")]
    for mod, member in left_out:
        obj = getattr(importlib.import_module(mod), member)
        assert _has_bare_bars(obj.__doc__), f"{mod}.{member} renders now: drop it from :exclude-members:"
    for name in set(PYMODULE.findall(API)) - set(AUTOMODULE.findall(API)):
        assert _has_bare_bars(importlib.import_module(name).__doc__), f"{name} renders now: use automodule"
    assert _has_bare_bars("mean |cosine| of ``W1``") and not _has_bare_bars("``|w| > 0`` and a || b")


def test_the_page_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert "book/api" in files
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon"} <= set(config["extra_extensions"])
