"""Write ``environment.yml`` for conda users from the uv lock file, so both carry the same pins.

``python -m leukutils.environment > environment.yml`` regenerates it; a test checks it is current.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from . import config


def locked_versions(lock_path: Path) -> dict[str, str]:
    """Package name → version as pinned in ``uv.lock`` (first entry when a package is locked twice)."""
    lock = tomllib.loads(lock_path.read_text())
    versions: dict[str, str] = {}
    for package in lock.get("package", []):
        versions.setdefault(package["name"], package.get("version", ""))
    return versions


def direct_dependencies(pyproject_path: Path) -> list[str]:
    project = tomllib.loads(pyproject_path.read_text())["project"]
    return [re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]]


def conda_environment(root: Path = config.ROOT) -> str:
    """The text of ``environment.yml``: Python 3.11 from conda-forge, every direct dependency pinned by pip."""
    versions = locked_versions(root / "uv.lock")
    lines = ["# Generated from uv.lock by `python -m leukutils.environment > environment.yml`; do not edit.",
             "name: leukemia-xai-compendium", "channels:", "  - conda-forge", "dependencies:",
             "  - python=3.11", "  - pip", "  - pip:"]
    for name in direct_dependencies(root / "pyproject.toml"):
        lines.append(f"      - {name}=={versions[name]}")
    lines.append("      - -e .")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(conda_environment(), end="")
