"""Paths, seeding, device choice, the notebooks' set-up and the keys that name their saved models.

The base of the package: it imports none of the package's modules. A notebook's parameters (its
parameters cell, the profiles, ``-p`` values and their checks) are :mod:`leukutils.parameters`'s.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Collection

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


def run_folder(profile: str, root: str | os.PathLike | None = None, stamp: str | None = None) -> Path:
    """A new run folder, ``<root>/<profile>-<stamp>``: where a run other than the committed default one writes.

    Parameters
    ----------
    profile : the run's profile.
    root : the folder of run folders (default ``runs/``, git-ignored).
    stamp : the folder's time stamp (default: now, UTC, ``YYYYmmdd-HHMMSS``).

    Returns
    -------
    Path, absolute (not created here).
    """
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return (Path(root).expanduser() if root is not None else RUNS_DIR).joinpath(f"{profile}-{stamp}").resolve()


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


#: How every warning that ImageNet weights could not be loaded begins (the messages of
#: :class:`leukutils.models.weights.PretrainedWeightsUnavailable`); config imports no model code, so the
#: notebooks' set-up finds them by their words (a test holds this to the models' messages).
PRETRAINED_WEIGHTS_WARNING = r"(vit_b_16 )?ImageNet (backbone )?weights"


def setup_notebook(parameters: dict[str, Any]):
    """The set-up of every notebook: seed Python, NumPy and torch with ``parameters["seed"]``, set torch's
    CPU threads (``threads``, when given and non-zero), show figures at 80 dpi, say each missing set of
    ImageNet weights once and without this machine's paths, choose the device and the output folders.

    Parameters
    ----------
    parameters : the notebook's parameters (:func:`leukutils.parameters.notebook_parameters`): ``seed``,
        and where present ``threads``, ``device``, ``output_dir``.

    Returns
    -------
    device : torch.device
    dirs : OutputDirs
    """
    import matplotlib
    import torch

    matplotlib.rcParams["figure.dpi"] = 80  # figures as shown in the notebook; saved ones have their own dpi
    seed_everything(parameters.get("seed", 0))
    if parameters.get("threads"):
        torch.set_num_threads(int(parameters["threads"]))
    warnings.filterwarnings("once", message=PRETRAINED_WEIGHTS_WARNING, category=UserWarning)
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


# --------------------------------------------------------------------------------------------------
# The code a notebook runs, and the keys of its saved models
# --------------------------------------------------------------------------------------------------
#: The package's name, as the notebooks import it.
PACKAGE = "leukutils"


def module_file(module: str, root: str | os.PathLike | None = None) -> Path | None:
    """The file that defines ``module`` (``"leukutils.data.splits"``) under ``root``.

    Parameters
    ----------
    module : a dotted module name.
    root : the folder holding the package (default: the compendium's root).

    Returns
    -------
    Path of ``<module>.py`` or ``<module>/__init__.py``, or None when neither exists.
    """
    base = Path(root or ROOT).joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source: str, module: str = "__main__", is_package: bool = False) -> set[str]:
    """Names of the package's modules that ``source`` imports, anywhere in it.

    Parameters
    ----------
    source : Python code (a module, or a notebook's code cells).
    module : the dotted name of the module the code is (relative imports are resolved from it).
    is_package : whether that module is a package's ``__init__``.

    Returns
    -------
    set of dotted names under :data:`PACKAGE` (``from leukutils import a`` gives ``leukutils`` and
    ``leukutils.a``; names that are not modules are dropped by :func:`module_dependencies`).
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[:len(parts) - node.level + 1]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {target} | {f"{target}.{alias.name}" for alias in node.names}
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def notebook_code(notebook: str | os.PathLike) -> str:
    """The code cells of a notebook file, joined, without IPython's ``%`` and ``!`` lines.

    Parameters
    ----------
    notebook : path of an ``.ipynb`` file.

    Returns
    -------
    str, Python source.
    """
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
               if c.get("cell_type") == "code"]
    return "\n".join("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
                     for source in sources)


def module_dependencies(notebook: str | os.PathLike, root: str | os.PathLike | None = None,
                        skip: Collection[str] = ()) -> list[Path]:
    """The files of the package's modules that a notebook's code cells import, and those they import in
    turn (with every package ``__init__`` on the way).

    Parameters
    ----------
    notebook : the notebook's file name or stem (``"01_dual_cam"``), looked up in ``<root>/notebooks``.
    root : the compendium's root (default :data:`ROOT`).
    skip : dotted names of modules left out, with what only they import (the publishing code).

    Returns
    -------
    list of Path, sorted.
    """
    root = Path(root or ROOT)
    pending = list(imported_modules(notebook_code(root / "notebooks" / f"{Path(notebook).stem}.ipynb")))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            module = ".".join(parts[:depth])
            path = module_file(module, root)
            if path is None or module in seen or module in skip:
                continue
            seen.add(module)
            pending += imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    return sorted(module_file(module, root) for module in seen)


def code_hash(notebook: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """The sha256 of the source of every package module a notebook depends on (:func:`module_dependencies`).

    Only the files' contents (line endings as ``\\n``) and their paths inside ``root`` enter it, so the
    hash is the same on every machine that has the same code.

    Parameters
    ----------
    notebook : the notebook's file name or stem.
    root : the compendium's root (default :data:`ROOT`).

    Returns
    -------
    str, 64 hex digits.
    """
    root = Path(root or ROOT)
    digest = hashlib.sha256()
    for path in module_dependencies(notebook, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def run_key(parameters: dict[str, Any], notebook: str, ignore: tuple[str, ...] = ()) -> str:
    """10 hex digits naming a run's saved models and training checkpoints (under ``runs/models``).

    A hash of the run's parameters, less ``ignore`` and where it ran (``device``, ``data_dir``,
    ``output_dir``), and of the code of the package modules the notebook imports (:func:`code_hash`):
    a rerun with the same settings and the same code finds (and resumes) its own checkpoints, and one
    after a change to that code trains anew.

    Parameters
    ----------
    parameters : the notebook's parameters (:func:`leukutils.parameters.notebook_parameters`).
    notebook : the notebook's stem (``"01_dual_cam"``).
    ignore : names of parameters that do not change what is trained (``n_boot``, ``threads``).

    Returns
    -------
    str, 10 hex digits.
    """
    skip = set(ignore) | {"device", "data_dir", "output_dir"}
    text = json.dumps({k: v for k, v in parameters.items() if k not in skip}, sort_keys=True)
    return hashlib.sha256((text + code_hash(notebook)).encode()).hexdigest()[:10]
