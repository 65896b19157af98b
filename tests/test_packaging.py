"""Packaging and publishing: the licence, the distribution's name and metadata, the extras against the
pinned requirement sets, what a built wheel holds, the README's install notes, and the GitHub
workflows (the book to GitHub Pages, `make test` on pull requests) under actionlint."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
SETS = ("core", "book", "test", "realdata")  # requirements/<set>.txt; an extra of the same name but core
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
WORKFLOWS = ROOT / ".github" / "workflows"


def pins(name: str) -> dict[str, Requirement]:
    """requirements/<name>.txt: canonical name -> requirement (its own lines; `-r` lines apart)."""
    out = {}
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


def includes(path: Path) -> list[str]:
    return re.findall(r"^-r\s+(\S+)", path.read_text(), flags=re.M)


def extra(name: str) -> dict[str, Requirement]:
    reqs = PROJECT["dependencies"] if name == "core" else PROJECT["optional-dependencies"][name]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs}


# --- licence and metadata ----------------------------------------------------------------------

def test_the_licence_is_mit_as_pyproject_and_citation_say():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The FPE companion contributors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["license"] == "MIT"
    assert [a["name"] for a in citation["authors"]] == [a["name"] for a in PROJECT["authors"]]


def test_the_distribution_is_fpe_companion_imported_as_fpe():
    assert PROJECT["name"] == "fpe-companion"  # `fpe` on PyPI is an unrelated package
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["fpe", "fpe.*"]
    import fpe

    assert PROJECT["version"] == fpe.__version__


def test_the_metadata_names_the_repository_and_the_papers_code():
    urls = PROJECT["urls"]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert urls["Repository"] == config["repository"]["url"]
    assert "https://github.com/Shavit-Lab/Expand-Neurons" in urls.values()
    assert "https://arxiv.org/abs/2510.04500" in urls.values()
    assert PROJECT["keywords"] and "Typing :: Typed" in PROJECT["classifiers"]
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # the SPDX `license` says it


# --- requirement sets and extras ----------------------------------------------------------------

def test_requirements_txt_is_the_four_sets_and_nothing_else():
    assert includes(ROOT / "requirements.txt") == [f"requirements/{s}.txt" for s in SETS]
    body = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert all(ln.startswith("-r ") for ln in body)
    assert sorted(p.stem for p in (ROOT / "requirements").glob("*.txt")) == sorted(SETS + ("html",))


def test_make_html_sets_up_only_the_core_and_book_sets():
    """`make html` (book.yml) renders committed notebooks: requirements/html.txt is core + book, no pins of
    its own, and the html target waits for its own set-up, not the full one."""
    assert includes(ROOT / "requirements" / "html.txt") == ["core.txt", "book.txt"]
    assert pins("html") == {}
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^html: \| \$\(HTML_STAMP\)$", make, flags=re.M)
    recipe = make[make.index("\n$(HTML_STAMP):"):].split("\n\n")[0]
    assert "-r requirements/html.txt" in recipe and "$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))" in recipe
    assert "requirements.txt" not in recipe.replace("requirements/html.txt", "")


def test_every_requirement_is_an_exact_pin_in_one_set_only():
    seen: dict[str, str] = {}
    for s in SETS:
        for name, req in pins(s).items():
            assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", req
            assert name not in seen, f"{name} in requirements/{seen.get(name)}.txt and {s}.txt"
            seen[name] = s


@pytest.mark.parametrize("name", SETS)
def test_each_extra_names_the_same_packages_as_its_pin_set_with_loose_bounds(name):
    loose, exact = extra(name), pins(name)
    assert set(loose) == set(exact)
    for pkg, req in loose.items():
        assert not any(s.operator in ("==", "===") for s in req.specifier), req  # bounds, not pins
        assert req.specifier.contains(str(next(iter(exact[pkg].specifier)).version)), (req, exact[pkg])


def test_torch_is_pinned_with_everything_that_depends_on_it():
    assert str(pins("core")["torch"].specifier).startswith("==")
    assert "torch" not in {n for s in SETS[1:] for n in pins(s)}
    assert includes(ROOT / "requirements" / "realdata.txt") == ["core.txt"]  # the encoders need torch
    for path in (ROOT / "requirements" / "core.txt", ROOT / "requirements.txt"):
        assert CPU_INDEX in path.read_text(), f"{path.name} should name PyTorch's CPU wheel index"
    make = (ROOT / "Makefile").read_text()
    assert len(re.findall(r"pip install .*-r requirements\.txt", make)) == 1


def test_the_colab_cell_installs_an_extra_that_exists():
    from fpe.book import colab

    assert set(colab.EXTRA_OF.values()) <= set(PROJECT["optional-dependencies"])  # every extra a chapter's cell installs
    assert '"[colab]"' in colab.cell("colab")
    assert set(extra("colab")) <= set(extra("realdata")) | set(extra("core"))
    assert PROJECT["optional-dependencies"]["all"] == ["fpe-companion[book,test,realdata]"]


def test_the_conda_environment_installs_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements.txt"]
    assert env["name"] == PROJECT["name"]
    assert CPU_INDEX.split()[1] in (ROOT / "environment.yml").read_text()


def test_nothing_installs_the_package_by_the_wrong_name():
    texts = [ROOT / p for p in ("README.md", "CONTRIBUTING.md", "environment.yml", "Makefile", ".ci/run")]
    texts += list((ROOT / "fpe").rglob("*.py")) + list((ROOT / "notebooks").glob("*.py")) + list(WORKFLOWS.glob("*.yml"))
    for path in texts:
        text = path.read_text()
        for command in re.findall(r"pip3? install ([^\n#`]*)", text):
            for arg in command.split():
                assert not re.fullmatch(r"[\"']?fpe([\[=<>~!;\"'].*)?", arg), f"{path}: pip install {command}"
        assert not re.search(r"(?<![\w-])fpe\[[a-z, ]+\]", text), path  # extras go with the distribution name


# --- what is built -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (the checkout stays clean), without build isolation."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "fpe", src / "fpe", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(src)], check=True, capture_output=True, text=True, timeout=300)
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_holds_py_typed_the_c_source_and_the_licence(wheel):
    assert wheel.name.startswith("fpe_companion-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "fpe/py.typed" in names and "fpe/training/_native.c" in names and "fpe/cost/_splitsum.c" in names
    assert "fpe/__init__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert (ROOT / "fpe" / "py.typed").is_file()


def test_the_wheel_carries_every_c_source_of_the_package(wheel):
    """Every C kernel (fpe/training/_native.c, fpe/cost/_splitsum.c, any later one) is package data."""
    sources = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "fpe").rglob("*.c"))
    assert {"fpe/training/_native.c", "fpe/cost/_splitsum.c"} <= set(sources)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [s for s in sources if s not in names] == []


INSTALLED_KERNELS = r"""
import json, sys
import fpe, fpe.training.native as native, fpe.cost.inference as inference
assert "site-packages" in fpe.__file__, fpe.__file__  # the installed copy, not the checkout
built = {"native": str(native.library_path()), "splitsum": str(native.compiled(inference.SPLITSUM_SOURCE, ("-fopenmp",)))}
native.load()
assert inference._splitsum_library() is not None
print(json.dumps({"fpe": fpe.__file__, "sources": [str(native.SOURCE), str(inference.SPLITSUM_SOURCE)], **built}))
"""


def test_the_installed_wheel_compiles_both_kernels(wheel, tmp_path):
    """`pip install` of the wheel into a fresh venv (offline, no dependencies: torch and numpy come from the
    test's own environment through a .pth line), then both kernels compile from the installed copy."""
    import json
    import os
    import site
    import venv

    if not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no C compiler here")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    out = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies (torch, numpy, ...) from this environment, appended after the venv's own site-packages
    # (a plain path line: this environment's editable install of fpe is not activated there)
    Path(purelib, "zz_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FPE_") and k != "PYTHONPATH"}
    env["FPE_NATIVE_DIR"] = str(tmp_path / "kernels")  # an empty kernel cache: both really compile
    out = subprocess.run([str(py), "-c", INSTALLED_KERNELS], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(Path(p).is_relative_to(purelib) for p in [info["fpe"], *info["sources"]]), info
    assert Path(info["native"]).is_file() and Path(info["splitsum"]).is_file()
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "kernels").glob("*.so")) == ["fpe_native", "fpe_splitsum"]


def test_the_wheels_metadata(wheel):
    zf = zipfile.ZipFile(wheel)
    meta = Parser().parsestr(zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode())
    assert meta["Name"] == "fpe-companion"
    assert meta["License-Expression"] == "MIT"
    assert set(meta.get_all("Provides-Extra")) == {"book", "test", "realdata", "colab", "all"}
    assert any("Shavit-Lab/Expand-Neurons" in u for u in meta.get_all("Project-URL"))
    assert meta["Author"] == "The FPE companion contributors"


# --- README ------------------------------------------------------------------------------------

def test_the_readme_says_how_to_install_and_opens_chapter_one_in_colab():
    readme = (ROOT / "README.md").read_text()
    install = readme[readme.index("## Install"):]
    install = install[: install.index("\n## ", 1)]
    assert CPU_INDEX in install and "fpe-companion" in install and "import fpe" in install
    for name in ("book", "test", "realdata"):
        assert f"`{name}`" in install and f"requirements/{name}.txt" in install
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{repo}/blob/main/book/01_fpe_step_by_step.ipynb"
    assert badge in readme[: readme.index("\n## ")]  # near the top
    assert (ROOT / "book" / "01_fpe_step_by_step.ipynb").is_file()


# --- GitHub workflows --------------------------------------------------------------------------

def load(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as true
    return wf


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def actionlint() -> str:
    exe = Path(sys.executable).with_name("actionlint")
    found = str(exe) if exe.is_file() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: it is pinned in requirements/test.txt (run `make setup`)")
    return found


def lint(folder: Path) -> subprocess.CompletedProcess:
    """As `make lint-workflows` runs it."""
    files = sorted(str(p) for p in folder.glob("*.yml"))
    return subprocess.run([actionlint(), "-shellcheck=", "-pyflakes=", *files], cwd=folder.parent.parent,
                          capture_output=True, text=True, timeout=120)


def test_the_makefile_lints_the_workflows_within_make_test():
    make = (ROOT / "Makefile").read_text()
    assert "\t$(BIN)/actionlint -shellcheck= -pyflakes= .github/workflows/*.yml" in make
    test_recipe = make[make.index("\ntest:"):].split("\n\n")[0]
    assert "lint-workflows" in test_recipe


def test_the_workflows_pass_actionlint():
    result = lint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name, old, new, message", [
    ("book.yml", "needs: build", "needs: biuld", 'needs job "biuld" which does not exist'),
    ("book.yml", "runs-on: ubuntu-24.04", "runs-on: ubuntu-lates", 'label "ubuntu-lates" is unknown'),
    ("test.yml", "pull_request:", "pull_requests:", "unknown Webhook event"),
    ("test.yml", "uses: actions/checkout@v5", "uses: actions/checkout@v5\n        with: {fetch_depth: 0}", 'input "fetch_depth" is not defined'),
])
def test_actionlint_rejects_a_broken_workflow(tmp_path, name, old, new, message):
    folder = tmp_path / ".github" / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    text = (folder / name).read_text()
    assert old in text
    (folder / name).write_text(text.replace(old, new, 1))
    result = lint(folder)
    assert result.returncode != 0 and message in result.stdout, result.stdout + result.stderr


def test_the_book_workflow_publishes_the_committed_notebooks_to_pages():
    wf = load("book.yml")
    assert wf["concurrency"]["group"] and wf["concurrency"]["cancel-in-progress"] is False
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    runs = " ".join(s.get("run", "") for s in steps(build))
    assert re.search(r"\bmake html\b", runs) and not re.search(r"\bmake (book|execute|test)\b", runs)
    upload = next(s for s in steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert build["env"]["TORCH_INDEX"] == CPU_INDEX.split()[1]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in steps(deploy))
    assert wf["permissions"] == {"contents": "read"}


def test_the_book_deploys_only_what_the_tests_passed_on_main():
    wf = load("book.yml")
    assert set(wf["on"]) == {"workflow_run", "workflow_dispatch"}  # never straight from a push
    run = wf["on"]["workflow_run"]
    assert run["workflows"] == [load("test.yml")["name"]] and run["types"] == ["completed"] and run["branches"] == ["main"]
    build = wf["jobs"]["build"]
    cond = " ".join(build["if"].split())
    assert "github.event.workflow_run.conclusion == 'success'" in cond and "github.event.workflow_run.event == 'push'" in cond
    checkout = next(s for s in steps(build) if s.get("uses", "").startswith("actions/checkout@"))
    assert "github.event.workflow_run.head_sha" in checkout["with"]["ref"]  # the tested commit, not a later one


def test_the_book_workflow_enables_pages():
    build = load("book.yml")["jobs"]["build"]
    configure = next(s for s in steps(build) if s.get("uses", "").startswith("actions/configure-pages@"))
    assert configure["with"]["enablement"] is True and "secrets.PAGES_TOKEN" in configure["with"]["token"]
    assert build["permissions"]["pages"] in ("read", "write")


def test_the_test_workflow_runs_make_test_on_pull_requests():
    wf = load("test.yml")
    assert "pull_request" in wf["on"]
    job = wf["jobs"]["test"]
    assert job["runs-on"].startswith("ubuntu-")
    assert job["env"]["TORCH_INDEX"] == CPU_INDEX.split()[1]
    runs = " ".join(s.get("run", "") for s in steps(job))
    assert "bash .ci/run" in runs  # installs the system packages, then `make test`
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), flags=re.M)


def test_the_test_workflow_runs_on_main_too_and_caches_pip_apt_and_data():
    wf = load("test.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    job = wf["jobs"]["test"]
    caches = {s["with"]["path"]: s["with"] for s in steps(job) if s.get("uses", "").startswith("actions/cache@")}
    assert set(caches) == {"~/.cache/pip", "/var/cache/apt/archives/*.deb", "~/.cache/fpe-data"}
    assert all(c["key"] and c["restore-keys"] for c in caches.values())
    names = [s.get("name", s.get("uses", "")) for s in steps(job)]
    ci = next(i for i, s in enumerate(steps(job)) if "bash .ci/run" in s.get("run", ""))
    assert all(names.index(n) < ci for n in names if n.startswith("Cache"))  # restored before they are needed
    assert "docker-clean" in " ".join(s.get("run", "") for s in steps(job))  # the image would delete the .debs
    # a newer push cancels an older run on a pull request only: every push to main is tested
    assert "pull_request" in str(wf["concurrency"]["cancel-in-progress"])


def test_the_other_pythons_of_the_classifiers_are_tested():
    classifiers = PROJECT["classifiers"]
    versions = sorted(c.rsplit(":: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    job = load("test.yml")["jobs"]["other-pythons"]
    # Python 3.11 is the Debian container's (the `test` job); the matrix covers the others
    assert sorted(job["strategy"]["matrix"]["python"] + ["3.11"]) == versions
    run = " ".join(s.get("run", "") for s in steps(job))
    assert "pip install" in run and CPU_INDEX.split()[1] in run and "pytest" in run
