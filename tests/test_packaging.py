"""The built wheel carries the package's data files: the papers' values, the profiles, the dataset manifests.

The wheel is built from a copy of the sources (so that no ``build/`` or ``*.egg-info`` lands in the
checkout), installed without its dependencies into a fresh environment, and its files are read there with
``importlib.resources``, in a Python that sees nothing of the checkout.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from leukutils import config

ROOT = config.ROOT
PACKAGE = ROOT / config.PACKAGE
SKIP_SUFFIXES = (".py", ".pyc")


def uv() -> str | None:
    """The uv the Makefile uses: on PATH, else ``.tools/bin/uv``."""
    found = shutil.which("uv")
    if found:
        return found
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.is_file() and os.access(local, os.X_OK) else None


def package_data_files() -> list[str]:
    """Every file of the package that is not Python source, as a path inside the wheel."""
    return sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*")
                  if p.is_file() and p.suffix not in SKIP_SUFFIXES and "__pycache__" not in p.parts)


def run(command: list[str], cwd: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment)


def build_wheel(source: Path, out: Path) -> tuple[Path, str]:
    """Build the wheel of ``source`` into ``out`` with the first backend that works here: uv with an
    isolated build environment (offline, from uv's cache), uv in this environment (its setuptools), or
    setuptools' PEP 517 hook called directly. Skips, saying why each failed, when none does."""
    attempts: list[tuple[str, list[str]]] = []
    if uv():
        attempts += [("uv build (isolated, offline)", [uv(), "build", "--wheel", "--offline", "--out-dir", str(out)]),
                     ("uv build (this environment)", [uv(), "build", "--wheel", "--no-build-isolation", "--python",
                                                      sys.executable, "--out-dir", str(out)])]
    attempts.append(("setuptools.build_meta", [sys.executable, "-c", "import sys; from setuptools import build_meta; "
                                               f"build_meta.build_wheel({str(out)!r})"]))
    failures = []
    for name, command in attempts:
        done = run(command, source, timeout=120)
        wheels = sorted(out.glob("leukutils-*.whl"))
        if done.returncode == 0 and wheels:
            return wheels[-1], name
        failures.append(f"{name}: {(done.stderr or done.stdout).strip().splitlines()[-1:] or ['no output']}")
    pytest.skip("no wheel build backend works here (" + "; ".join(failures) + ")")


def install(wheel: Path, where: Path) -> Path:
    """A Python that has the wheel installed and nothing of the checkout: a fresh uv environment with the
    wheel installed without its dependencies, or, without uv, the wheel unpacked onto an isolated path.
    Returns the interpreter (with ``where/site`` to put on its path in the second case)."""
    if uv():
        env = where / "env"
        made = run([uv(), "venv", "--offline", "--python", sys.executable, str(env)], where)
        python = env / "bin" / "python"
        if made.returncode == 0 and python.exists():
            done = run([uv(), "pip", "install", "--offline", "--no-deps", "--python", str(python), str(wheel)], where)
            assert done.returncode == 0, f"uv pip install of the wheel failed:\n{done.stderr}"
            return python
    with zipfile.ZipFile(wheel) as archive:  # a pure-Python wheel installs by unpacking
        archive.extractall(where / "site")
    return Path(sys.executable)


READ = """
import importlib.metadata, importlib.resources, json, sys
if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
package = importlib.resources.files("leukutils")
print(json.dumps({
    "module": str(package),
    "paper_values.csv": (package / "paper_values.csv").read_text(encoding="utf-8"),
    "profiles/real/01_dual_cam.yaml": (package / "profiles" / "real" / "01_dual_cam.yaml").read_text(encoding="utf-8"),
    "heavy": sorted(m for m in ("torch", "numpy", "pandas") if m in sys.modules),
    "record": sorted(str(f) for f in importlib.metadata.files("leukutils") or []),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / config.PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return build_wheel(source, tmp / "dist")


def test_the_wheel_holds_every_data_file_of_the_package(wheel):
    path, backend = wheel
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    missing = [name for name in package_data_files() if name not in names]
    assert not missing, f"the wheel (built by {backend}) lacks {missing}: list them in pyproject.toml's package-data"


def test_the_installed_package_reads_its_paper_values_and_profiles(wheel, tmp_path):
    path, _ = wheel
    python = install(path, tmp_path)
    extra = [str(tmp_path / "site")] if (tmp_path / "site").is_dir() else []
    done = run([str(python), "-I", "-c", READ, *extra], tmp_path)
    assert done.returncode == 0, f"reading the installed package failed:\n{done.stderr}"
    found = json.loads(done.stdout)
    assert Path(found["module"]).is_relative_to(tmp_path), f"read {found['module']}, not the installed copy"
    assert found["paper_values.csv"] == (PACKAGE / "paper_values.csv").read_text(encoding="utf-8")
    assert found["profiles/real/01_dual_cam.yaml"] == (PACKAGE / "profiles" / "real" / "01_dual_cam.yaml").read_text(encoding="utf-8")
    assert found["heavy"] == [], f"importing leukutils imported {found['heavy']}"
    assert "leukutils/paper_values.csv" in found["record"], "the installed distribution's RECORD lacks paper_values.csv"


def test_the_data_file_check_can_fail(tmp_path):
    """What the first test compares: a package data file absent from a wheel is reported."""
    fake = tmp_path / "fake.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("leukutils/__init__.py", "")
    with zipfile.ZipFile(fake) as archive:
        names = set(archive.namelist())
    assert "leukutils/paper_values.csv" in [n for n in package_data_files() if n not in names]
