"""`make setup`'s system check (the Makefile's `system-check`): it asks only for what the targets being
built need, installs with apt-get only where there is one, never needs root when nothing is missing,
and on a machine without apt (macOS, Fedora) says what to provide by hand and goes on.

Each test runs the real Makefile recipe in a copy of the project, with a PATH of chosen tools only
(a folder of symlinks, plus stand-ins for apt-get, dpkg-query, id, cc or chromium where a test needs
them), so nothing is installed and the machine's own packages do not matter."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {  # apt-packages.txt, as the check must read it: package -> need
    "gcc": "native", "libc6-dev": "native", "dataset-fashion-mnist": "realdata", "wordnet-base": "realdata",
    "chromium": "browser", "chromium-driver": "browser",
}
TOOLS = ["make", "bash", "sh", "awk", "grep", "sed", "find", "env", "cat", "rm", "mkdir", "touch", "dirname", "basename"]


def apt_packages(root: Path = ROOT) -> dict[str, str]:
    out = {}
    for line in (root / "apt-packages.txt").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            out[fields[0]] = fields[1]
    return out


@pytest.fixture
def project(tmp_path):
    """A copy of what the Makefile reads (not .venv, not _build), with an up-to-date _build/deps.mk."""
    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("Makefile", "apt-packages.txt", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "requirements", dest / "requirements")
    shutil.copytree(ROOT / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(ROOT / "fpe", dest / "fpe", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "_build").mkdir()
    (dest / "_build" / "deps.mk").write_text("")  # newer than its sources: make does not rebuild it
    return dest


class Machine:
    """A PATH of symlinks to ordinary tools, to which a test adds stand-ins."""

    def __init__(self, root: Path):
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "apt.log"
        self.home = root / "home"
        self.home.mkdir()
        self.data = root / "data"  # FPE_DATA_DIR, empty unless a test fills it
        self.data.mkdir()
        self.share = root / "share"  # stands for /usr/share (Debian's data packages)
        self.share.mkdir()
        self.os_release = root / "os-release"  # stands for /etc/os-release: Debian unless a test says otherwise
        self.distribution("debian")
        for tool in TOOLS:
            path = shutil.which(tool)
            if path is None:
                pytest.skip(f"{tool} is not installed here")
            (self.bin / tool).symlink_to(path)

    def script(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)

    def with_apt(self, *, install_rc: int = 0) -> "Machine":
        """apt-get (logging its arguments) and a dpkg-query that knows no package; root."""
        self.script("apt-get", f'echo "$*" >> {self.log}\n[ "$1" = update ] || exit {install_rc}')
        self.script("dpkg-query", "exit 1")
        self.script("id", 'echo 0')
        return self

    def distribution(self, os_id: str, like: str = "") -> "Machine":
        self.os_release.write_text(f'ID={os_id}\n' + (f'ID_LIKE="{like}"\n' if like else ""))
        return self

    def apt_cache_knows(self, *names: str) -> "Machine":
        """An apt-cache whose `show NAME` succeeds for these names only."""
        cases = " | ".join(names) if names else "__none__"
        self.script("apt-cache", f'[ "$1" = show ] || exit 1\ncase "$2" in {cases}) echo "Package: $2";; *) exit 100;; esac')
        return self

    def installed(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split()[3:] for line in self.log.read_text().splitlines() if line.startswith("install")]

    def make(self, project: Path, *args: str) -> subprocess.CompletedProcess:
        env = {"PATH": str(self.bin), "HOME": str(self.home), "FPE_DATA_DIR": str(self.data), "LC_ALL": "C"}
        # nothing from an outer make (when this runs under `make unit`): no MAKEFLAGS, no MAKELEVEL,
        # and not FPE_SYSTEM_CHECKED, which tells a sub-make that the check has run
        return subprocess.run([str(self.bin / "make"), "--no-print-directory", *args, f"SYSTEM_SHARE={self.share}",
                               f"OS_RELEASE={self.os_release}"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def named(output: str) -> set[str]:
    """The packages a 'provide these by hand' list names."""
    return set(re.findall(r"^  - ([\w.+-]+): ", output, flags=re.M))


def test_apt_packages_lists_each_package_with_its_need():
    assert apt_packages() == PACKAGES


def test_ci_installs_every_package_of_the_list():
    """.ci/run reads the first column of apt-packages.txt (its own parser, run here)."""
    text = (ROOT / ".ci" / "run").read_text()
    parser = re.search(r"done < <\((.*apt-packages\.txt)\)", text).group(1)
    out = subprocess.run(["bash", "-c", parser], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == list(PACKAGES)
    assert "make test" in text


def test_without_apt_it_says_what_to_provide_and_goes_on(project, machine):
    result = machine.make(project, "system-check")  # no apt-get, dpkg-query, cc, chromium, data
    assert result.returncode == 0, result.stderr
    assert "no apt-get here" in result.stdout and "going on without them" in result.stdout
    assert named(result.stdout) == set(PACKAGES)
    assert "installing" not in result.stdout


@pytest.mark.parametrize("goal, needs", [
    ("html", set()),
    ("browser", {"browser"}),
    ("unit", {"native", "realdata"}),
    ("book/01_fpe_step_by_step.ipynb", {"native"}),
    ("book/05_real_data.ipynb", {"native", "realdata"}),  # the chapter that imports fpe.datasets
    ("_build/quick/05_real_data.ipynb", {"native", "realdata"}),
    ("test", {"native", "realdata", "browser"}),
    ("book", {"native", "realdata"}),
    ("setup", {"native", "realdata", "browser"}),
])
def test_only_the_needs_of_the_goals_are_asked_for(project, machine, goal, needs):
    result = machine.make(project, "system-check", f"SETUP_GOALS={goal}")
    assert result.returncode == 0, result.stderr
    assert named(result.stdout) == {p for p, n in PACKAGES.items() if n in needs}
    if not needs:
        assert result.stdout == ""


def test_with_apt_it_installs_only_what_the_goals_need(project, machine):
    machine.with_apt()
    assert machine.make(project, "system-check", "SETUP_GOALS=html").returncode == 0
    assert not machine.log.exists()  # nothing needed: apt-get is not even updated
    result = machine.make(project, "system-check", "SETUP_GOALS=browser")
    assert result.returncode == 0 and "installing Debian packages: chromium chromium-driver" in result.stdout
    assert machine.installed() == [["chromium", "chromium-driver"]]
    machine.log.unlink()
    assert machine.make(project, "system-check", "SETUP_GOALS=test").returncode == 0
    assert machine.installed() == [list(PACKAGES)]


def test_what_is_present_is_not_installed_and_no_root_is_needed(project, machine):
    machine.with_apt()
    machine.script("id", "echo 1000")  # not root, and no sudo on this PATH
    machine.script("cc", "cat > /dev/null")  # a compiler that builds the probe
    machine.script("chromium", "exit 0")
    machine.script("chromedriver", "exit 0")
    (machine.data / "fashion-mnist").mkdir()
    (machine.data / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (machine.share / "wordnet").mkdir()  # as Debian's wordnet-base lays it out
    (machine.share / "wordnet" / "data.noun").write_text("")
    result = machine.make(project, "system-check", "SETUP_GOALS=test")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and not machine.log.exists()


def test_not_root_without_sudo_it_prints_the_command_instead(project, machine):
    machine.with_apt()
    machine.script("id", "echo 1000")
    result = machine.make(project, "system-check", "SETUP_GOALS=browser")
    assert result.returncode == 0
    assert "as root: apt-get install chromium chromium-driver" in result.stdout
    assert not machine.log.exists()


def test_a_failed_install_is_reported_and_the_setup_goes_on(project, machine):
    machine.with_apt(install_rc=100)
    result = machine.make(project, "system-check", "SETUP_GOALS=browser")
    assert result.returncode == 0
    assert "apt-get could not install" in result.stdout and named(result.stdout) == {"chromium", "chromium-driver"}


def test_it_runs_once_per_make_command(project, machine):
    env_checked = machine.make(project, "system-check", "FPE_SYSTEM_CHECKED=1")
    assert env_checked.returncode == 0 and env_checked.stdout == ""


def test_setup_runs_the_check_first_and_takes_an_opt_in_torch_index(project, machine):
    dry = machine.make(project, "-n", "setup")
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert out.index("apt-packages.txt") < out.index("-m venv")  # system-check's recipe, then the venv
    pip = [line for line in out.splitlines() if "-r requirements.txt" in line]
    assert len(pip) == 1 and "--extra-index-url" not in pip[0]  # one command, no index by default
    cpu = machine.make(project, "-n", "setup", "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    pip = [line for line in cpu.stdout.splitlines() if "-r requirements.txt" in line]
    assert pip[0].rstrip().endswith("--extra-index-url https://download.pytorch.org/whl/cpu")


# --- per distribution: Debian's and Ubuntu's names, one package at a time --------------------------

UBUNTU = {"chromium": "chromium-browser", "chromium-driver": "chromium-chromedriver"}


def test_apt_packages_gives_ubuntus_names_where_they_differ():
    alternatives = {}
    for line in (ROOT / "apt-packages.txt").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        alternatives.update({fields[0]: f.split(":", 1)[1] for f in fields[2:] if f.startswith("ubuntu:")})
    assert alternatives == UBUNTU


@pytest.mark.parametrize("os_id, like", [("ubuntu", ""), ("linuxmint", "ubuntu debian")])
def test_on_ubuntu_it_asks_for_ubuntus_names(project, machine, os_id, like):
    machine.with_apt().distribution(os_id, like).apt_cache_knows("chromium-browser", "chromium-chromedriver")
    result = machine.make(project, "system-check", "SETUP_GOALS=browser")
    assert result.returncode == 0, result.stderr
    assert "installing Ubuntu packages: chromium-browser chromium-chromedriver" in result.stdout
    assert machine.installed() == [["chromium-browser", "chromium-chromedriver"]]


def test_on_debian_it_asks_for_debians_names_even_where_apt_knows_both(project, machine):
    machine.with_apt().apt_cache_knows("chromium", "chromium-driver", "chromium-browser", "chromium-chromedriver")
    result = machine.make(project, "system-check", "SETUP_GOALS=browser")
    assert result.returncode == 0, result.stderr
    assert machine.installed() == [["chromium", "chromium-driver"]]


def test_a_name_apt_does_not_know_falls_back_to_the_other_distributions(project, machine):
    machine.with_apt().distribution("ubuntu").apt_cache_knows("chromium", "chromium-chromedriver")
    result = machine.make(project, "system-check", "SETUP_GOALS=browser")
    assert result.returncode == 0, result.stderr
    assert machine.installed() == [["chromium", "chromium-chromedriver"]]


def test_a_package_apt_does_not_know_does_not_skip_the_others(project, machine):
    known = [p for p in PACKAGES if p not in UBUNTU]  # no name of either Chromium package is known
    machine.with_apt().distribution("ubuntu").apt_cache_knows(*known)
    result = machine.make(project, "system-check", "SETUP_GOALS=test")
    assert result.returncode == 0, result.stderr
    assert machine.installed() == [known]
    assert "no package of this name known to apt here (Ubuntu): chromium chromium-driver" in result.stdout
    assert named(result.stdout) == {"chromium", "chromium-driver"} and "going on without them" in result.stdout


def test_a_package_that_fails_to_install_does_not_skip_the_others(project, machine):
    """Ubuntu's chromium-browser is a transitional package that installs a snap, which fails in a container:
    the whole command fails, then each package is installed alone."""
    machine.with_apt().distribution("ubuntu").apt_cache_knows(*[UBUNTU.get(p, p) for p in PACKAGES])
    machine.script("apt-get", f'echo "$*" >> {machine.log}\n'
                              'case " $* " in *" chromium-browser "*) exit 100;; esac\nexit 0')
    result = machine.make(project, "system-check", "SETUP_GOALS=test")
    assert result.returncode == 0, result.stderr
    names = [UBUNTU.get(p, p) for p in PACKAGES]
    assert machine.installed() == [names] + [[n] for n in names]  # all at once, then one at a time
    assert "apt-get could not install: chromium-browser" in result.stdout
    assert named(result.stdout) == {"chromium"}
