"""Execute the compendium's notebooks with papermill: ``leukutils reproduce``.

Only the default profile run with nothing changed (the literals of each notebook's parameters cell)
regenerates the committed ``figures/``, ``tables/`` and executed notebooks; a run with any value that
differs (another profile, any ``-p NAME VALUE``, ``--seed``, ``--device``) or given ``output_root``
writes under ``runs/<profile>-<stamp>/``, says so, and never writes over the committed outputs. A
profile is a papermill parameters file per notebook (:func:`leukutils.parameters.profile_parameters`);
``-p`` values go on top, and a name that is not a parameter of the notebook, or a value of the wrong
type or out of its range (:func:`leukutils.parameters.injected_parameters`), stops the run before any
kernel starts. Each notebook is executed into the run folder first, with its own log, and copied back
over ``notebooks/`` only when it succeeded, so a failing notebook stays where it can be inspected and
the committed one is untouched.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import config, parameters
from .publish import publish_run

KERNEL = "python3"


class UnknownNotebook(ValueError):
    """``--only`` named a notebook number that does not exist."""


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


def _count_outputs(dirs: list[Path], since: float) -> int:
    return sum(1 for d in dirs if d.is_dir() for f in d.iterdir() if f.is_file() and f.stat().st_mtime >= since)


def _failure_detail(error: Exception) -> str:
    cell = getattr(error, "cell_index", None)
    source = getattr(error, "source", "")
    traceback = getattr(error, "traceback", None)
    lines = [f"cell {cell}:" if cell is not None else "", source.strip()]
    if traceback:
        lines.append(re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback)))
    else:
        lines.append(f"{type(error).__name__}: {error}")
    return "\n".join(l for l in lines if l)


#: Arguments the kernel starts with: its own log (start-up notices such as "Kernel is running over TCP
#: without encryption", printed once per notebook between the progress bar's lines) shows errors only.
#: Warnings that cells raise are not the kernel's log: they stay in the notebook and in its log file.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def execute(notebook: Path, executed: Path, values: dict[str, Any], log: Path, kernel: str = KERNEL,
            timeout: int | None = None) -> None:
    """Execute one notebook with papermill into ``executed``, its cell output streamed to ``log``.

    Parameters
    ----------
    notebook : the notebook to run.
    executed : where the executed notebook is written.
    values : the parameters papermill injects (:func:`leukutils.parameters.injected_parameters`).
    log : the file that receives the cells' output.
    kernel : Jupyter kernel name.
    timeout : seconds a cell may run (None: no limit).

    Raises :class:`NotebookFailed`, holding the failing cell and its traceback, when a cell raises.
    """
    import papermill as pm

    executed.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get(config.PROGRESS_ENV)
    os.environ[config.PROGRESS_ENV] = "off"  # the kernel inherits it: no redrawn bars in saved notebooks
    with log.open("w") as handle:
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=values, kernel_name=kernel,
                                cwd=str(notebook.parent), progress_bar=False, log_output=True,
                                stdout_file=handle, stderr_file=handle, execution_timeout=timeout,
                                extra_arguments=KERNEL_ARGUMENTS)
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


def _shown(path: Path) -> Path:
    """``path`` relative to the compendium's root when it lies inside it."""
    return path.relative_to(config.ROOT) if path.is_relative_to(config.ROOT) else path


def reproduce(profile: str = config.DEFAULT_PROFILE, only: Iterable[str] | None = None,
              params: dict[str, Any] | None = None, data_dir: str | None = None, device: str = "auto",
              output_root: str | Path | None = None, kernel: str = KERNEL, progress: bool = True,
              publish: bool = False) -> pd.DataFrame:
    """Run the notebooks in order; return the summary table.

    Parameters
    ----------
    profile : the parameter set (:func:`leukutils.parameters.profiles`).
    only : notebook numbers (:func:`list_notebooks`); None: every notebook.
    params : ``-p`` values, on top of the profile's (the same for every notebook run).
    data_dir, device : the notebooks' ``data_dir`` and ``device`` parameters.
    output_root : write the run folder ``<profile>-<stamp>/`` here (default ``runs/``).
    kernel : Jupyter kernel name.
    progress : show a progress bar.
    publish : when every notebook succeeded, copy the run into ``results/<profile>/`` with provenance
        cards and SUMMARY.md (:func:`leukutils.publish.publish_run`); not for the default profile,
        whose run is committed in place.

    Returns
    -------
    DataFrame with columns notebook, profile, seconds, status, outputs, executed; also written to
    ``summary.csv`` in the run folder.

    Every notebook's parameters (profile file + ``params``, see
    :func:`leukutils.parameters.injected_parameters`) are checked before the first one starts. The run
    is the committed one, writing ``notebooks/``, ``figures/`` and ``tables/``, only for the default
    profile without ``output_root`` and without a value that differs from a notebook's defaults;
    otherwise it writes under ``runs/<profile>-<stamp>/`` and says where on stderr. Stops at the first
    failing notebook (raising :class:`NotebookFailed` after printing the summary so far).
    """
    parameters.check_profile(profile)
    if publish and profile == config.DEFAULT_PROFILE and output_root is None:
        raise ValueError(f"--publish is for the other profiles ({', '.join(p for p in parameters.profiles() if p != profile)}): "
                         f"the {profile} run already writes the committed figures/, tables/ and notebooks/")
    notebooks = list_notebooks(only)
    given = {**parameters.standard_parameters(profile, device, data_dir), **(params or {})}
    plan = {notebook: parameters.injected_parameters(notebook, profile, given) for notebook in notebooks}
    changed = sorted({name for notebook in notebooks
                      for name in parameters.overrides(plan[notebook], parameters.notebook_defaults(notebook))})
    committed = profile == config.DEFAULT_PROFILE and output_root is None and not changed
    run_dir = None if committed else config.run_folder(profile, output_root)
    if run_dir is not None:
        plan = {notebook: {**values, "output_dir": str(run_dir)} for notebook, values in plan.items()}
        why = (f"profile {profile}" if profile != config.DEFAULT_PROFILE
               else f"{', '.join(changed)} differ{'s' if len(changed) == 1 else ''} from the notebooks' defaults" if changed
               else "--output-root given")
        print(f"{why}: this run writes under {_shown(run_dir)}/ (the committed notebooks/, figures/ and tables/ "
              f"are left as they are)", file=sys.stderr)
    work_dir = run_dir or config.run_folder(profile)
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
        dest = publish_run(work_dir, summary, {notebook.name: plan[notebook] for notebook in notebooks}, profile)
        print(f"published to {_shown(dest)} (SUMMARY.md, provenance/)", file=sys.stderr)
    return summary


def summary_text(results: list[NotebookResult] | pd.DataFrame) -> str:
    table = results if isinstance(results, pd.DataFrame) else pd.DataFrame([r.__dict__ for r in results])
    if table.empty:
        return "(no notebook run)"
    table = table.rename(columns={"seconds": "wall time (s)", "outputs": "outputs written"})
    return table.drop(columns=["executed", "log", "error"], errors="ignore").to_string(index=False)
