"""Profiles, paths, seeding and device choice.

A notebook's ``parameters`` cell holds the default profile's values as literals (``epochs = 2``), so
that the notebook runs as it stands. Every other *profile* (``real``, ``paper``; see ARCHITECTURE.md)
is a papermill parameters file per notebook, ``leukutils/profiles/<profile>/<notebook stem>.yaml``,
holding the values that differ from the defaults; ``leukutils reproduce --profile real`` passes it as
papermill's ``-f`` would, and ``-p`` overrides go on top (:func:`leukutils.run.notebook_parameters`).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The profile whose values are the literals of each notebook's parameters cell (the committed run).
DEFAULT_PROFILE = "synthetic"

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
#: Environment variable that ``leukutils reproduce`` sets to ``off`` for the notebooks it executes: a
#: saved notebook keeps every redraw of a progress bar, so there the cells print their own summaries.
PROGRESS_ENV = "LEUKUTILS_PROGRESS"


def cache_dir() -> Path:
    """Folder (git-ignored) for downloaded and generated data: ``data/cache`` unless overridden."""
    return Path(os.environ.get(CACHE_ENV, DATA_DIR / "cache")).expanduser().resolve()


def mirror_dir(mirror: str | os.PathLike | None = None) -> Path | None:
    """The local mirror of real datasets: ``mirror`` if given, else ``$LEUKUTILS_DATA_MIRROR``, else None."""
    value = mirror if mirror not in (None, "") else os.environ.get(MIRROR_ENV)
    if not value:
        return None
    return Path(value).expanduser().resolve()


def profiles() -> list[str]:
    """Profile names: the default one, then one per folder of parameter files under ``profiles/``."""
    return [DEFAULT_PROFILE] + sorted(p.name for p in PROFILE_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


def check_profile(profile: str) -> str:
    """``profile`` if it exists, else a ValueError naming the profiles there are."""
    if profile not in profiles():
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(profiles())}")
    return profile


def profile_file(notebook: str | os.PathLike, profile: str) -> Path | None:
    """The papermill parameters file of ``notebook`` (a path or stem, ``"01_dual_cam"``) under ``profile``;
    None for the default profile, whose values are the notebook's own parameters cell."""
    check_profile(profile)
    if profile == DEFAULT_PROFILE:
        return None
    return PROFILE_DIR / profile / f"{Path(notebook).stem}.yaml"


def profile_parameters(notebook: str | os.PathLike, profile: str) -> dict[str, Any]:
    """The values ``profile`` sets for ``notebook``, read from its parameters file ({} for the default
    profile). A missing file is an error naming the file to write."""
    import yaml

    path = profile_file(notebook, profile)
    if path is None:
        return {}
    if not path.is_file():
        raise FileNotFoundError(f"profile {profile!r} has no parameters file for {Path(notebook).stem}: "
                                f"expected {path} (a YAML mapping of parameter names to values, {{}} for none)")
    with path.open() as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a parameters file must be a YAML mapping of names to values")
    return values


def notebook_parameters(notebook: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """The values of a notebook's parameters, read from its namespace after the parameters cell (and
    papermill's injected one) ran: ``parameters = config.notebook_parameters("01_dual_cam", globals())``.

    The names are those of the parameters cell of ``notebooks/<notebook>.ipynb``; the dict is what a
    model card or a run key records.
    """
    from .run import notebook_parameter_names

    names = notebook_parameter_names(NOTEBOOKS_DIR / f"{notebook}.ipynb")
    missing = [name for name in names if name not in namespace]
    if missing:
        raise NameError(f"{notebook}: parameters {missing} are not defined; run the parameters cell first")
    return {name: namespace[name] for name in names}


@dataclass(frozen=True)
class OutputDirs:
    """Where a notebook writes its figures and tables."""

    figures: Path
    tables: Path
    models: Path


def output_dirs(output_dir: str | os.PathLike | None = None) -> OutputDirs:
    """Output folders: the committed ``figures/`` and ``tables/`` when ``output_dir`` is empty, else
    ``<output_dir>/{figures,tables}`` (what ``leukutils reproduce`` passes for runs other than the committed default one).
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


def without_machine_paths(text: str) -> str:
    """``text`` with the machine's folders written as names a reader of a committed notebook can place:
    the compendium's root as a relative path, the data mirror as ``$LEUKUTILS_DATA_MIRROR``, the data
    cache as ``$LEUKUTILS_DATA_CACHE`` and the home folder as ``~``."""
    for folder, name in ((mirror_dir(), "$" + MIRROR_ENV), (cache_dir(), "$" + CACHE_ENV), (ROOT, ""), (Path.home(), "~")):
        if folder is not None:
            text = text.replace(str(Path(folder).resolve()) + os.sep, f"{name}/" if name else "")
    return text


def _short_warning(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {without_machine_paths(str(message))}\n"


def setup_notebook(parameters: dict[str, Any]):
    """The set-up of every notebook: seed Python, NumPy and torch with ``parameters["seed"]``, set torch's
    CPU threads (``threads``, when given and non-zero), show figures at 80 dpi, say each missing set of
    ImageNet weights once and without this machine's paths, choose the device and the output folders.

    Returns
    -------
    device : torch.device
    dirs : OutputDirs
    """
    import warnings

    import torch

    from .models.weights import PretrainedWeightsUnavailable

    import matplotlib

    matplotlib.rcParams["figure.dpi"] = 80  # figures as shown in the notebook; saved ones have their own dpi
    seed_everything(parameters.get("seed", 0))
    if parameters.get("threads"):
        torch.set_num_threads(int(parameters["threads"]))
    warnings.filterwarnings("once", category=PretrainedWeightsUnavailable)
    warnings.formatwarning = _short_warning  # a saved notebook shows the warning, not this machine's paths
    return choose_device(parameters.get("device", "auto")), output_dirs(parameters.get("output_dir"))


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A plain-text ``tqdm`` progress bar (it needs no widgets, in a terminal or in JupyterLab), off when
    ``enabled`` is False or ``$LEUKUTILS_PROGRESS`` is ``off`` (runs executed by papermill)."""
    from tqdm import tqdm

    disable = not enabled or os.environ.get(PROGRESS_ENV, "").lower() == "off"
    return tqdm(iterable, disable=disable, **kwargs)


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


def run_key(parameters: dict[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """10 hex digits naming a run's models and checkpoints: a hash of its parameters, less ``ignore``
    and where it ran (``device``, ``data_dir``, ``output_dir``), so that a rerun with the same settings
    finds (and resumes) its own training checkpoints."""
    import hashlib
    import json

    skip = set(ignore) | {"device", "data_dir", "output_dir"}
    text = json.dumps({k: v for k, v in parameters.items() if k not in skip}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
