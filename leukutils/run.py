"""Execute the compendium's notebooks with papermill: ``leukutils reproduce``.

The default profile (the literals of each notebook's parameters cell) regenerates the committed
``figures/``, ``tables/`` and executed notebooks; every other profile (or a default run given
``output_root``) writes under ``runs/<profile>-<stamp>/`` and never over the committed outputs. A
profile is a papermill parameters file per notebook (:func:`leukutils.config.profile_parameters`);
``-p`` values go on top, and a name that is not a parameter of the notebook stops the run before any
notebook starts. Each notebook is executed into the run folder first, with its
own log, and copied back over ``notebooks/`` only when it succeeded, so a failing notebook stays
where it can be inspected and the committed one is untouched.
"""
from __future__ import annotations

import ast
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import config

KERNEL = "python3"
STANDARD_PARAMETERS = ("profile", "seed", "device", "data_dir", "output_dir")


class UnknownNotebook(ValueError):
    """``--only`` named a notebook number that does not exist."""


class UnknownParameter(ValueError):
    """A parameter name (from ``-p`` or a profile file) that the notebook's parameters cell lacks."""


class NotebookFailed(RuntimeError):
    """A notebook raised; the message holds the failing cell and its traceback."""

    def __init__(self, notebook: Path, executed: Path, log: Path, detail: str):
        super().__init__(f"{notebook.name} failed (executed notebook kept at {executed}, log at {log}):\n{detail}")
        self.notebook, self.executed, self.log = notebook, executed, log


@dataclass
class NotebookResult:
    notebook: str
    profile: str
    seconds: float
    status: str
    outputs: int
    executed: str


def list_notebooks(only: Iterable[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Numbered notebooks ``NN_*.ipynb`` in order; ``only`` keeps those whose number is listed (``["01", "3"]``)."""
    folder = folder or config.NOTEBOOKS_DIR
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks NN_*.ipynb in {folder}")
    if only:
        wanted = {str(o).strip().zfill(2) for item in only for o in str(item).split(",") if str(o).strip()}
        unknown = wanted - {p.name[:2] for p in notebooks}
        if unknown:
            raise UnknownNotebook(f"no notebook numbered {', '.join(sorted(unknown))}; the notebooks are "
                             f"{', '.join(p.name for p in notebooks)}")
        notebooks = [p for p in notebooks if p.name[:2] in wanted]
    return notebooks


def notebook_parameter_names(notebook: Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (papermill's own reading of it)."""
    import papermill as pm

    return list(pm.inspect_notebook(str(notebook)))


def notebook_parameters(notebook: Path, profile: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """What papermill injects into ``notebook``: the profile's parameters file, then ``given`` on top.

    Raises :class:`UnknownParameter`, naming the notebook and listing its parameters, when a name is
    not a parameter of the notebook (misspelt, or belonging to another notebook).
    """
    values = {**config.profile_parameters(notebook, profile), **(given or {})}
    known = notebook_parameter_names(notebook)
    unknown = [name for name in values if name not in known]
    if unknown:
        source = config.profile_file(notebook, profile)
        where = f" (profile file {source.relative_to(config.ROOT) if source.is_relative_to(config.ROOT) else source})" \
            if source is not None and any(name in config.profile_parameters(notebook, profile) for name in unknown) else ""
        raise UnknownParameter(f"{notebook.name} has no parameter {', '.join(map(repr, unknown))}{where}; "
                               f"its parameters are: {', '.join(known)}")
    return values


def parse_value(text: str) -> Any:
    """A ``-p name value`` value: a Python literal when it parses as one (``3``, ``0.1``, ``None``, ``[1,2]``),
    else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_folder(profile: str, output_root: str | Path | None = None, stamp: str | None = None) -> Path | None:
    """``runs/<profile>-<stamp>/`` for runs other than the committed default one (or when ``output_root``
    is given), else None."""
    if profile == config.DEFAULT_PROFILE and output_root is None:
        return None
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(output_root) if output_root is not None else config.RUNS_DIR
    return (base / f"{profile}-{stamp}").resolve()


def standard_parameters(profile: str, device: str = "auto", data_dir: str | None = None,
                        output_dir: str | Path | None = None) -> dict[str, Any]:
    """The parameters every notebook has, as the runner passes them: only those that differ from the
    parameters cell's literals (``profile``, ``device``, ``data_dir`` resolved, ``output_dir``)."""
    standard: dict[str, Any] = {}
    if profile != config.DEFAULT_PROFILE:
        standard["profile"] = profile
    if device != "auto":
        standard["device"] = device
    if data_dir:
        standard["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if output_dir:
        standard["output_dir"] = str(output_dir)
    return standard


def _count_outputs(dirs: list[Path], since: float) -> int:
    return sum(1 for d in dirs if d.is_dir() for f in d.iterdir() if f.is_file() and f.stat().st_mtime >= since)


def _failure_detail(error: Exception) -> str:
    cell = getattr(error, "cell_index", None)
    source = getattr(error, "source", "")
    traceback = getattr(error, "traceback", None)
    lines = [f"cell {cell}:" if cell is not None else "", source.strip()]
    if traceback:
        import re
        lines.append(re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback)))
    else:
        lines.append(f"{type(error).__name__}: {error}")
    return "\n".join(l for l in lines if l)


def execute(notebook: Path, executed: Path, parameters: dict[str, Any], log: Path, kernel: str = KERNEL,
            timeout: int | None = None) -> None:
    """Execute one notebook with papermill into ``executed``, its cell output streamed to ``log``."""
    import papermill as pm

    executed.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get(config.PROGRESS_ENV)
    os.environ[config.PROGRESS_ENV] = "off"  # the kernel inherits it: no redrawn bars in saved notebooks
    with log.open("w") as handle:
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                                cwd=str(notebook.parent), progress_bar=False, log_output=True,
                                stdout_file=handle, stderr_file=handle, execution_timeout=timeout)
        except Exception as error:
            detail = _failure_detail(error)
            handle.write("\n" + detail + "\n")
            raise NotebookFailed(notebook, executed, log, detail) from error
        finally:
            if previous is None:
                os.environ.pop(config.PROGRESS_ENV, None)
            else:
                os.environ[config.PROGRESS_ENV] = previous


def _relative_papermill_paths(executed: Path) -> None:
    """Papermill records the absolute input and output paths in the notebook's metadata; the committed
    notebook keeps only their names, so that it says nothing about the machine that ran it."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = Path(record[key]).name
    nbformat.write(nb, executed)


def reproduce(profile: str = config.DEFAULT_PROFILE, only: Iterable[str] | None = None,
              params: dict[str, Any] | None = None, data_dir: str | None = None, device: str = "auto",
              output_root: str | Path | None = None, kernel: str = KERNEL, progress: bool = True,
              publish: bool = False) -> pd.DataFrame:
    """Run the notebooks in order; return the summary table.

    Every notebook's parameters (profile file + ``params``, see :func:`notebook_parameters`) are checked
    before the first one starts. Stops at the first failing notebook (raising :class:`NotebookFailed`
    after printing the summary so far). ``publish``: when every notebook succeeded, copy the run into
    ``results/<profile>/`` with provenance cards and SUMMARY.md (:func:`leukutils.publish.publish_run`);
    not for the default profile, whose run is committed in place.
    """
    config.check_profile(profile)
    if publish and profile == config.DEFAULT_PROFILE and output_root is None:
        raise ValueError(f"--publish is for the other profiles ({', '.join(p for p in config.profiles() if p != profile)}): "
                         f"the {profile} run already writes the committed figures/, tables/ and notebooks/")
    notebooks = list_notebooks(only)
    run_dir = run_folder(profile, output_root)
    standard = standard_parameters(profile, device, data_dir, run_dir)
    plan = {notebook: notebook_parameters(notebook, profile, {**standard, **(params or {})}) for notebook in notebooks}
    work_dir = run_dir or (config.RUNS_DIR / f"{profile}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}").resolve()
    out = config.output_dirs(run_dir)
    results: list[NotebookResult] = []
    bar = config.progress_bar(notebooks, enabled=progress, desc=f"reproduce ({profile})", unit="notebook")
    for notebook in bar:
        bar.set_postfix_str(notebook.name)
        executed = work_dir / "notebooks" / notebook.name
        log = work_dir / "logs" / f"{notebook.stem}.log"
        start = time.time()
        try:
            execute(notebook, executed, plan[notebook], log, kernel)
        except NotebookFailed:
            results.append(NotebookResult(notebook.name, profile, round(time.time() - start, 1), "FAILED",
                                          _count_outputs([out.figures, out.tables], start), str(executed)))
            print(summary_text(results), file=sys.stderr)
            raise
        _relative_papermill_paths(executed)
        if run_dir is None:  # the committed default run: the executed notebook replaces the committed one
            shutil.copyfile(executed, notebook)
        results.append(NotebookResult(notebook.name, profile, round(time.time() - start, 1), "ok",
                                      _count_outputs([out.figures, out.tables], start),
                                      str(notebook if run_dir is None else executed)))
    summary = pd.DataFrame([r.__dict__ for r in results])
    summary_path = work_dir / "summary.csv"
    summary.to_csv(summary_path, index=False)
    if publish:
        from .publish import publish_run

        dest = publish_run(work_dir, summary, {notebook.name: plan[notebook] for notebook in notebooks}, profile)
        print(f"published to {dest.relative_to(config.ROOT) if dest.is_relative_to(config.ROOT) else dest} "
              f"(SUMMARY.md, provenance/)", file=sys.stderr)
    return summary


def summary_text(results: list[NotebookResult] | pd.DataFrame) -> str:
    table = results if isinstance(results, pd.DataFrame) else pd.DataFrame([r.__dict__ for r in results])
    if table.empty:
        return "(no notebook run)"
    table = table.rename(columns={"seconds": "wall time (s)", "outputs": "outputs written"})
    return table.drop(columns=["executed", "log", "error"], errors="ignore").to_string(index=False)
