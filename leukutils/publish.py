"""Publish a profile's run for readers: ``leukutils reproduce --profile real --publish``.

A run under ``runs/<profile>-<stamp>/`` is copied into ``results/<profile>/`` (executed notebooks, tables,
figures; never a checkpoint), with one provenance card per notebook (``provenance/<notebook>.json``: git
commit, command, parameters, each dataset's name and manifest hash, machine, wall time, date) and a
``SUMMARY.md`` generated from the published tables: the headline figures with their intervals next to
the papers' values, each marked stale when its notebook's code changed after the recorded commit.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from . import config
from .data import registry
from .parameters import notebook_defaults
from .report import with_ci

RESULTS_DIR = config.ROOT / "results"
PUBLISHING = ("leukutils.publish", "leukutils.site")  # code that only publishes and renders results


def code_dependencies(notebook: str, root: Path = config.ROOT) -> list[str]:
    """What a notebook's results depend on besides the notebook itself.

    The package's modules its code cells import and those they import in turn, with every package
    ``__init__`` on the way (:func:`leukutils.config.module_dependencies`), the package's data files
    (paper values, dataset manifests) and the notebook's profile files. The publishing and rendering
    code is left out, and a change elsewhere in the package leaves the notebook's published results
    current.

    Parameters
    ----------
    notebook : the notebook's file name (``"01_dual_cam.ipynb"``) in ``<root>/notebooks``.
    root : the compendium's root.

    Returns
    -------
    list of repository-relative paths (str), sorted.
    """
    files = set(config.module_dependencies(notebook, root, skip=PUBLISHING))
    package = root / config.PACKAGE
    files |= {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc", ".yaml")}
    files |= set((package / "profiles").glob(f"*/{Path(notebook).stem}.yaml"))
    return sorted(str(p.relative_to(root)) for p in files)


def git(*args: str, cwd: Path = config.ROOT) -> str | None:
    """Output of ``git args`` in the compendium (None when git or the repository is missing)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def datasets_used(parameters: Mapping[str, Any]) -> list[str]:
    """Registered datasets that a notebook's parameters name (``dataset: aria``, ``real_sets: [jtsc]``), in
    registry order; every registered dataset present here when none is named (e.g. notebook 00)."""
    names = list(registry.DATASETS)
    values = [v for value in parameters.values() for v in (value if isinstance(value, (list, tuple)) else [value])]
    named = [n for n in names if any(isinstance(v, str) and v.lower() == n for v in values)]
    return named or [n for n in names if registry.locate(n) is not None]


def dataset_fact(name: str) -> dict[str, Any]:
    """A dataset's name, the sha256 of its manifest (which pins every file's sha256) and its file count."""
    dataset = registry.get(name)
    if not dataset.manifest:
        return {"name": name, "manifest_sha256": None, "files": None}
    path = registry.MANIFEST_DIR / dataset.manifest
    return {"name": name, "manifest_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "files": len(registry.read_manifest(path))}


def machine_facts(device: str = "auto") -> dict[str, Any]:
    """Cores, platform, Python, torch and the device a run used."""
    import torch

    return {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "device": str(config.choose_device(device))}


def provenance_card(notebook: str, profile: str, parameters: Mapping[str, Any], seconds: float,
                    command: str | None = None) -> dict[str, Any]:
    """The provenance of one executed notebook: what ran, on what, where, when, for how long."""
    parameters = {k: v for k, v in parameters.items() if k not in ("output_dir", "data_dir")}  # machine paths
    return {"notebook": notebook, "profile": profile, "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--", f"notebooks/{notebook}", *code_dependencies(notebook))),
            "command": command or " ".join(["leukutils", *sys.argv[1:]]),
            "parameters": dict(parameters), "datasets": [dataset_fact(n) for n in datasets_used(parameters)],
            "machine": machine_facts(str(parameters.get("device", "auto"))), "wall_seconds": round(float(seconds), 1),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def publish_run(run_dir: str | os.PathLike, summary: pd.DataFrame, plan: Mapping[str, Mapping[str, Any]],
                profile: str, results_dir: str | os.PathLike | None = None) -> Path:
    """Copy a finished run into ``results/<profile>/`` and write its provenance cards and SUMMARY.md.

    ``summary``: :func:`leukutils.run.reproduce`'s table (notebook, seconds, status); ``plan``: notebook
    file name → the parameters it ran with. Only notebooks with status ``ok`` are published; a notebook's
    earlier publication is replaced. The machine's folders in a notebook (its injected ``output_dir``,
    paths in warnings) are written as :func:`leukutils.config.without_machine_paths` names them.
    Returns the results folder.
    """
    run_dir = Path(run_dir)
    dest = Path(results_dir) if results_dir else RESULTS_DIR / profile
    for sub in ("notebooks", "tables", "figures", "provenance"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for row in summary.itertuples():
        if row.status != "ok":
            continue
        executed = (run_dir / "notebooks" / row.notebook).read_text(encoding="utf-8")
        (dest / "notebooks" / row.notebook).write_text(config.without_machine_paths(executed), encoding="utf-8")
        ran_with = {**notebook_defaults(config.NOTEBOOKS_DIR / row.notebook), **plan[row.notebook]}  # every parameter
        card = provenance_card(row.notebook, profile, ran_with, row.seconds)
        (dest / "provenance" / f"{Path(row.notebook).stem}.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    for sub in ("tables", "figures"):
        for path in sorted((run_dir / sub).glob("*")):
            shutil.copyfile(path, dest / sub / path.name)
    (dest / "SUMMARY.md").write_text(summary_markdown(dest))
    return dest


# --------------------------------------------------------------------------------------------------
# SUMMARY.md
# --------------------------------------------------------------------------------------------------
def _table(results: Path, artefact: str) -> pd.DataFrame | None:
    found = sorted((results / "tables").glob(f"{artefact}_*.csv"))
    return pd.read_csv(found[0]) if found else None


#: How an estimate's interval is named: the column convention first, then the names of results published
#: before it (``ci_low``/``ci_high``, or a bare ``low``/``high``), which SUMMARY still reads until rerun.
INTERVAL_NAMES = (("{} low", "{} high"), ("ci_low", "ci_high"), ("low", "high"))


def _value(row: pd.Series, *names: str):
    """The first of ``names`` that ``row`` has (a column renamed since a result was published)."""
    for name in names:
        if name in row:
            return row[name]
    raise KeyError(f"none of the columns {names} in the published table (columns: {list(row.index)})")


def _estimate(row: pd.Series, column: str, digits: int = 3) -> str:
    """``row[column]`` with its interval as one cell (``0.912 [0.880, 0.940]``), whichever naming the
    published table uses (:data:`INTERVAL_NAMES`)."""
    for low, high in INTERVAL_NAMES:
        if low.format(column) in row and high.format(column) in row:
            return with_ci(row[column], row[low.format(column)], row[high.format(column)], digits)
    raise KeyError(f"no interval of {column!r} in the published table (columns: {list(row.index)})")


def _paper(value: float, digits: int = 4, note: str = "") -> str:
    """A paper's value as a table cell: "—" when the paper gives none (NaN)."""
    return "—" if pd.isna(value) else f"{value:.{digits}f}{note}"


def _jtsc_dice(results: Path) -> list[tuple[str, str, str]]:
    t = _table(results, "P3-T2")
    if t is None:
        return []
    return [(f"JTSC nucleus Dice, {r['method']}", with_ci(r["dice"], r["dice low"], r["dice high"], digits=4),
             _paper(r["paper dice (JTSC)"]))
            for _, r in t.iterrows() if "dice low" in t]


def _bccd_ap(results: Path) -> list[tuple[str, str, str]]:
    t = _table(results, "P2-M1")
    if t is None:
        return []
    return [(f"BCCD detector AP@0.5, {r['detector']}", with_ci(r["mAP@0.5"], r["mAP@0.5 low"], r["mAP@0.5 high"])
             if "mAP@0.5 low" in t else f"{r['mAP@0.5']:.3f}", _paper(r["paper mAP"])) for _, r in t.iterrows()]


def _aria_accuracy(results: Path) -> list[tuple[str, str, str]]:
    rows = []
    t = _table(results, "P1-T1")
    if t is not None:
        rows += [(f"Aria accuracy, {r['model']} (notebook 01)", _estimate(r, "this run" if "this run" in r else "this_run"),
                  _paper(r["paper"], 2, " (C-NMC)"))
                 for _, r in t[t["metric"] == "accuracy"].iterrows()]
    t = _table(results, "P1-X1")
    if t is not None:
        rows += [(f"Aria accuracy with the background tint equalised, {r['model']} (notebook 01)",
                  with_ci(r["tint-equalised accuracy"], r["tint-equalised accuracy low"], r["tint-equalised accuracy high"]), "—")
                 for _, r in t.iterrows()]
    t = _table(results, "X-T4")
    if t is not None and "data" in t:
        rows += [(f"Aria accuracy, {r['test cue']} (notebook 04)", with_ci(r["accuracy"], r["accuracy low"], r["accuracy high"]), "—")
                 for _, r in t[t["data"] == "Aria"].iterrows()]
    return rows


def _patient_diagnosis(results: Path) -> list[tuple[str, str, str]]:
    t = _table(results, "P2-T0")
    if t is None:
        return []
    return [(f"{r['metric']} over {int(r['patients'])} patients ({r['interval']} interval)",
             _estimate(r, "this run"), _paper(r["paper (ALL-IDB1)"], 4, " (ALL-IDB1)"))
            for _, r in t.iterrows()]


def _segmented_classifiers(results: Path) -> list[tuple[str, str, str]]:
    t = _table(results, "P3-T5")
    if t is None:
        return []
    return [(f"test accuracy, {r['model']} ({int(_value(r, 'n', 'test images'))} images)",
             with_ci(r["test accuracy"], r["test accuracy low"], r["test accuracy high"]),
             _paper(r["paper val accuracy"], 4, " (validation, FAB L1–L3 set)")) for _, r in t.iterrows()]


def _verdicts(results: Path) -> list[tuple[str, str, str]]:
    t = _table(results, "X-T0")
    if t is None:
        return []
    return [(f"verdict, {r['paper']}: {r['effect']}", f"{_estimate(r, 'value')} → {r['verdict']}", "—")
            for _, r in t.iterrows()]


HEADLINES: dict[str, tuple[tuple[str, ...], Callable[[Path], list]]] = {
    "JTSC Dice": (("03_segmentation_attention.ipynb",), _jtsc_dice),
    "BCCD AP@0.5": (("02_mil_pipeline.ipynb",), _bccd_ap),
    "Aria accuracy": (("01_dual_cam.ipynb", "04_claims_tested.ipynb"), _aria_accuracy),
    "Patient-level diagnosis (detector, cell features, LSTM)": (("02_mil_pipeline.ipynb",), _patient_diagnosis),
    "ResNet-50s on segmented and raw images": (("03_segmentation_attention.ipynb",), _segmented_classifiers),
    "Claims tested": (("04_claims_tested.ipynb",), _verdicts),
}


def staleness(results: Path, notebook: str) -> str:
    """``current``, ``stale (…)`` when the notebook or the package changed after the card's commit, or
    ``not published``."""
    card_path = results / "provenance" / f"{Path(notebook).stem}.json"
    if not card_path.exists():
        return "not published"
    card = json.loads(card_path.read_text())
    commit = card.get("commit")
    if not commit:
        return "unknown (no commit recorded)"
    changed = git("diff", "--name-only", commit, "--", f"notebooks/{notebook}", *code_dependencies(notebook))
    if changed is None:
        return f"unknown (commit {commit[:7]} not in this repository)"
    if changed:
        names = changed.splitlines()
        return f"stale: {', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''} changed since {commit[:7]}"
    return f"current (commit {commit[:7]}{', with uncommitted changes' if card.get('uncommitted_changes') else ''})"


def summary_markdown(results: str | os.PathLike) -> str:
    """SUMMARY.md of a results folder: the headline figures with intervals next to the papers' values."""
    results = Path(results)
    lines = [f"# Results of the `{results.name}` profile", "",
             "Generated by `leukutils.publish` from the tables in this folder; every value is a test-set estimate with",
             "its 95 % interval. A result is *stale* when its notebook, or a `leukutils` module the notebook imports",
             "(directly or through other modules), its profile file or the package's data files changed after the commit",
             "its provenance card records (`provenance/<notebook>.json`).", ""]
    for title, (notebooks, rows_of) in HEADLINES.items():
        lines += [f"## {title}", "", "From " + "; ".join(f"`notebooks/{n}`: {staleness(results, n)}" for n in notebooks) + ".", ""]
        rows = rows_of(results)
        if not rows:
            lines += ["Not published yet.", ""]
            continue
        lines += ["| result | this run | paper |", "|---|---|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows], ""]
    return "\n".join(lines)


__all__ = ["RESULTS_DIR", "code_dependencies", "datasets_used", "dataset_fact", "machine_facts", "provenance_card", "publish_run",
           "staleness", "summary_markdown"]


if __name__ == "__main__":  # rewrite results/<profile>/SUMMARY.md from the published tables (cheap; no run)
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", default="real")
    folder = RESULTS_DIR / parser.parse_args().profile
    (folder / "SUMMARY.md").write_text(summary_markdown(folder))
    print(f"wrote {folder.relative_to(config.ROOT)}/SUMMARY.md")
