"""Profiles, paths, seeding and device choice: the one place notebooks read their defaults from.

A *profile* is a named set of defaults (``smoke``, ``real``, ``paper``; see ARCHITECTURE.md). The
defaults of notebook ``NN`` live as data in ``leukutils/profiles/NN.toml``, one table per profile::

    [smoke]
    epochs = 2
    [real]
    epochs = 10

Notebooks declare every parameter in their ``parameters`` cell with ``None`` meaning "take the
profile's default", then call :func:`notebook_params`, so that papermill ``-p`` overrides win.
"""
from __future__ import annotations

import os
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROFILES = ("smoke", "real", "paper")

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
FIGURES_DIR = ROOT / "figures"
TABLES_DIR = ROOT / "tables"
RUNS_DIR = ROOT / "runs"
DATA_DIR = ROOT / "data"
PROFILE_DIR = PACKAGE_DIR / "profiles"

#: Environment variable naming a folder that mirrors the real datasets (``../shared/data`` in CI).
MIRROR_ENV = "LEUKUTILS_DATA_MIRROR"
#: Environment variable overriding where downloaded and generated data are kept.
CACHE_ENV = "LEUKUTILS_DATA_CACHE"
#: Environment variable redirecting outputs of notebooks run with ``output_dir=None`` (used by the
#: notebook tests, so that re-executing a notebook never rewrites the committed figures and tables).
OUTPUT_ENV = "LEUKUTILS_OUTPUT_DIR"


def cache_dir() -> Path:
    """Folder (git-ignored) for downloaded and generated data: ``data/cache`` unless overridden."""
    return Path(os.environ.get(CACHE_ENV, DATA_DIR / "cache")).expanduser().resolve()


def mirror_dir(mirror: str | os.PathLike | None = None) -> Path | None:
    """The local mirror of real datasets: ``mirror`` if given, else ``$LEUKUTILS_DATA_MIRROR``, else None."""
    value = mirror if mirror not in (None, "") else os.environ.get(MIRROR_ENV)
    if not value:
        return None
    return Path(value).expanduser().resolve()


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


def profile_defaults(notebook: str, profile: str) -> dict[str, Any]:
    """Defaults of notebook ``notebook`` (``"01"``) under ``profile``, read from ``profiles/<notebook>.toml``.

    The ``[common]`` table, if present, holds defaults shared by all profiles; the profile's own table
    overrides it.
    """
    check_profile(profile)
    path = PROFILE_DIR / f"{notebook}.toml"
    if not path.exists():
        raise FileNotFoundError(f"no profile file for notebook {notebook!r}: expected {path}")
    with path.open("rb") as handle:
        tables = tomllib.load(handle)
    if profile not in tables:
        raise KeyError(f"{path} has no [{profile}] table")
    return {**tables.get("common", {}), **tables[profile]}


def notebook_params(notebook: str, profile: str = "smoke", **given: Any) -> dict[str, Any]:
    """Merge a notebook's parameters: values given (not None) win over the profile's defaults.

    Raises ``KeyError`` for a parameter that the profile file does not know, so that a misspelt
    papermill ``-p`` name is an error rather than silently ignored.
    """
    defaults = profile_defaults(notebook, profile)
    unknown = sorted(set(given) - set(defaults) - {"seed", "device", "data_dir", "output_dir", "profile"})
    if unknown:
        raise KeyError(f"notebook {notebook}: unknown parameter(s) {unknown}; known: {sorted(defaults)}")
    merged = dict(defaults)
    merged.update({k: v for k, v in given.items() if v is not None})
    merged["profile"] = profile
    return merged


@dataclass(frozen=True)
class OutputDirs:
    """Where a notebook writes its figures and tables."""

    figures: Path
    tables: Path
    models: Path


def output_dirs(output_dir: str | os.PathLike | None = None) -> OutputDirs:
    """Output folders: the committed ``figures/`` and ``tables/`` when ``output_dir`` is empty, else
    ``<output_dir>/{figures,tables}`` (what ``leukutils reproduce`` passes for non-smoke runs).
    Trained models always go to an ignored folder (``<output_dir>/models`` or ``runs/models``).
    ``$LEUKUTILS_OUTPUT_DIR``, when set, stands in for an empty ``output_dir``."""
    if output_dir in (None, ""):
        output_dir = os.environ.get(OUTPUT_ENV) or None
    if output_dir is None:
        dirs = OutputDirs(FIGURES_DIR, TABLES_DIR, RUNS_DIR / "models")
    else:
        base = Path(output_dir).expanduser().resolve()
        dirs = OutputDirs(base / "figures", base / "tables", base / "models")
    for folder in (dirs.figures, dirs.tables, dirs.models):
        folder.mkdir(parents=True, exist_ok=True)
    return dirs


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; on CPU, also ask torch for deterministic algorithms."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def choose_device(device: str = "auto"):
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"``/``"cuda"`` as asked (error if CUDA is absent)."""
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(device)
