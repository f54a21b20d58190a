"""Execute the compendium's notebooks with papermill: ``leukutils reproduce``.

The ``smoke`` profile regenerates the committed ``figures/``, ``tables/`` and executed notebooks;
every other profile (or a smoke run given ``output_root``) writes under ``runs/<profile>-<stamp>/``
and never over the committed outputs. Each notebook is executed into the run folder first, with its
own log, and copied back over ``notebooks/`` only when it succeeded, so a failing notebook stays
where it can be inspected and the committed one is untouched.
"""
from __future__ import annotations

import ast
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
    if only:
        wanted = {str(o).strip().zfill(2) for item in only for o in str(item).split(",") if str(o).strip()}
        unknown = wanted - {p.name[:2] for p in notebooks}
        if unknown:
            raise ValueError(f"no notebook numbered {sorted(unknown)} in {folder}; have {[p.name for p in notebooks]}")
        notebooks = [p for p in notebooks if p.name[:2] in wanted]
    if not notebooks:
        raise FileNotFoundError(f"no notebooks NN_*.ipynb in {folder}")
    return notebooks


def parse_value(text: str) -> Any:
    """A ``-p name value`` value: a Python literal when it parses as one (``3``, ``0.1``, ``None``, ``[1,2]``),
    else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def run_folder(profile: str, output_root: str | Path | None = None, stamp: str | None = None) -> Path | None:
    """``runs/<profile>-<stamp>/`` for non-smoke runs (or when ``output_root`` is given), else None."""
    if profile == "smoke" and output_root is None:
        return None
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(output_root) if output_root is not None else config.RUNS_DIR
    return (base / f"{profile}-{stamp}").resolve()


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

    known = pm.inspect_notebook(str(notebook))
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        print(f"  note: {notebook.name} has no parameter(s) {unknown}; not passed", file=sys.stderr)
    passed = {k: v for k, v in parameters.items() if k in known}
    executed.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=passed, kernel_name=kernel,
                                cwd=str(notebook.parent), progress_bar=False, log_output=True,
                                stdout_file=handle, stderr_file=handle, execution_timeout=timeout)
        except Exception as error:
            detail = _failure_detail(error)
            handle.write("\n" + detail + "\n")
            raise NotebookFailed(notebook, executed, log, detail) from error


def reproduce(profile: str = "smoke", only: Iterable[str] | None = None, params: dict[str, Any] | None = None,
              data_dir: str | None = None, device: str = "auto", output_root: str | Path | None = None,
              kernel: str = KERNEL, progress: bool = True) -> pd.DataFrame:
    """Run the notebooks in order; return the summary table. Stops at the first failing notebook
    (raising :class:`NotebookFailed` after printing the summary so far)."""
    from tqdm.auto import tqdm

    config.check_profile(profile)
    notebooks = list_notebooks(only)
    run_dir = run_folder(profile, output_root)
    work_dir = run_dir or (config.RUNS_DIR / f"smoke-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}").resolve()
    out = config.output_dirs(run_dir) if run_dir else config.output_dirs(None)
    parameters: dict[str, Any] = {"profile": profile, "device": device}
    if data_dir:
        parameters["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if run_dir:
        parameters["output_dir"] = str(run_dir)
    parameters.update(params or {})
    results: list[NotebookResult] = []
    bar = tqdm(notebooks, desc=f"reproduce ({profile})", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.name)
        executed = work_dir / "notebooks" / notebook.name
        log = work_dir / "logs" / f"{notebook.stem}.log"
        start = time.time()
        try:
            execute(notebook, executed, parameters, log, kernel)
        except NotebookFailed:
            results.append(NotebookResult(notebook.name, profile, round(time.time() - start, 1), "FAILED",
                                          _count_outputs([out.figures, out.tables], start), str(executed)))
            print(summary_text(results), file=sys.stderr)
            raise
        if run_dir is None:  # the committed smoke run: the executed notebook replaces the committed one
            shutil.copyfile(executed, notebook)
        results.append(NotebookResult(notebook.name, profile, round(time.time() - start, 1), "ok",
                                      _count_outputs([out.figures, out.tables], start),
                                      str(notebook if run_dir is None else executed)))
    summary = pd.DataFrame([r.__dict__ for r in results])
    summary_path = work_dir / "summary.csv"
    summary.to_csv(summary_path, index=False)
    return summary


def summary_text(results: list[NotebookResult] | pd.DataFrame) -> str:
    table = results if isinstance(results, pd.DataFrame) else pd.DataFrame([r.__dict__ for r in results])
    if table.empty:
        return "(no notebook run)"
    table = table.rename(columns={"seconds": "wall time (s)", "outputs": "outputs written"})
    return table.drop(columns=["executed"]).to_string(index=False)
