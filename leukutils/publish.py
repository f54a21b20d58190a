"""Publish a profile's run for readers: ``leukutils reproduce --profile real --publish``.

A run under ``runs/<profile>-<stamp>/`` is copied into ``results/<profile>/`` (executed notebooks, tables,
figures; never a checkpoint), with one provenance card per notebook (``provenance/<notebook>.json``: git
commit, command, parameters, each dataset's name and manifest hash, machine, wall time, date) and a
``SUMMARY.md`` generated from the published tables and cards: the headline figures with their intervals,
each accuracy beside its majority-class baseline and the paper's value, the real set standing in for each
paper's data, the two tint tests on Aria side by side with the parameters in which they differ, and every
verdict; each section marked stale when its notebook's code changed after the recorded commit.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from . import config
from .data import registry
from .parameters import notebook_defaults
from .report import learned, with_ci

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
    earlier publication is replaced, the tables and figures it no longer writes (a renamed artefact, one
    dropped) removed with it (:func:`notebook_artefacts`). The machine's folders in a notebook (its injected ``output_dir``,
    paths in warnings) are written as :func:`leukutils.config.without_machine_paths` names them.
    Returns the results folder.
    """
    run_dir = Path(run_dir)
    dest = Path(results_dir) if results_dir else RESULTS_DIR / profile
    for sub in ("notebooks", "tables", "figures", "provenance"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    written = {path.name for sub in ("tables", "figures") for path in (run_dir / sub).glob("*")}
    for row in summary.itertuples():
        if row.status != "ok":
            continue
        ids = notebook_artefacts(config.NOTEBOOKS_DIR / row.notebook)
        for old in [p for sub in ("tables", "figures") for p in (dest / sub).glob("*")]:
            if old.name.split("_", 1)[0] in ids and old.name not in written:
                old.unlink()  # its earlier publication's, gone from this run
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


#: An artefact id as a notebook's code quotes it (``"P1-T1"``, ``'X-F3'``; :func:`leukutils.report.artefact_name`).
_QUOTED_ID = re.compile(r"""["'](P[123]-[A-Z]+\d*|X-[TF]\d+|D-[A-Z]+\d*)["']""")


def notebook_artefacts(notebook: str | os.PathLike) -> set[str]:
    """The artefact ids a notebook writes: those its code cells quote (each notebook writes the ids of its
    own paper, ``P1-*`` … ``X-*``, and quotes no other's). Returns e.g. ``{"P1-T1", "P1-F3", …}``."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return set(_QUOTED_ID.findall(code))


# --------------------------------------------------------------------------------------------------
# SUMMARY.md
# --------------------------------------------------------------------------------------------------
NOT_RECORDED = "not recorded"  # a column the published table does not have yet (a republish adds it)
DERIVED = "†"  # a majority baseline computed from the table's rates, not read from it
BASELINE = "majority baseline"
#: Rates are published with four decimals: a count fits a rate when it is this close to it.
ROUNDING = 5e-5 + 1e-9


def _table(results: Path, artefact: str) -> pd.DataFrame | None:
    found = sorted((results / "tables").glob(f"{artefact}_*.csv"))
    return pd.read_csv(found[0]) if found else None


def _card(results: Path, notebook: str) -> dict[str, Any] | None:
    """The provenance card of a published notebook (None when it is not published)."""
    path = results / "provenance" / f"{Path(notebook).stem}.json"
    return json.loads(path.read_text()) if path.exists() else None


#: How an estimate's interval is named: the column convention first, then the names of results published
#: before it (``ci_low``/``ci_high``, or a bare ``low``/``high``), which SUMMARY still reads until rerun.
INTERVAL_NAMES = (("{} low", "{} high"), ("ci_low", "ci_high"), ("low", "high"))


def _value(row: pd.Series, *names: str):
    """The first of ``names`` that ``row`` has (a column renamed since a result was published)."""
    for name in names:
        if name in row:
            return row[name]
    raise KeyError(f"none of the columns {names} in the published table (columns: {list(row.index)})")


def _estimate(row: pd.Series, column: str, digits: int = 3, also: tuple[tuple[str, str], ...] = ()) -> str:
    """``row[column]`` with its interval as one cell (``0.912 [0.880, 0.940]``), whichever naming the
    published table uses (:data:`INTERVAL_NAMES`, then the table's own earlier names ``also``)."""
    for low, high in (*INTERVAL_NAMES, *also):
        if low.format(column) in row and high.format(column) in row:
            return with_ci(row[column], row[low.format(column)], row[high.format(column)], digits)
    raise KeyError(f"no interval of {column!r} in the published table (columns: {list(row.index)})")


def _cell(row: pd.Series, column: str, digits: int = 3, also: tuple[tuple[str, str], ...] = ()) -> str:
    """``row[column]`` with its interval where the table has one; "—" when the row has no such value."""
    if column not in row or pd.isna(row[column]):
        return "—"
    try:
        return _estimate(row, column, digits, also)
    except KeyError:
        return f"{row[column]:.{digits}f}"


def _count(row: pd.Series, *names: str) -> int | None:
    """The number of test items of a row (``n``, or the name a table published before used)."""
    for name in names:
        if name in row and pd.notna(row[name]):
            return int(row[name])
    return None


def _paper(value: float, digits: int = 4, note: str = "") -> str:
    """A paper's value as a table cell: "—" when the paper gives none (NaN)."""
    return "—" if pd.isna(value) else f"{value:.{digits}f}{note}"


def _escape(text: Any) -> str:
    """Text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


# Majority baselines ---------------------------------------------------------------------------------
def consistent_positives(n: int, accuracy: float, recall: float, precision: float = float("nan"),
                         specificity: float = float("nan"), tolerance: float = ROUNDING) -> set[int]:
    """The numbers of positive items among ``n`` that binary rates, as published (rounded), allow.

    A count ``P`` (1 … n-1) is kept when some true-positive and true-negative counts reproduce the
    ``accuracy``, the ``recall`` (sensitivity) and whichever of ``precision`` and ``specificity`` is given,
    each within ``tolerance``. One value (or ``P`` and ``n - P``) fixes the test set's majority baseline;
    several say the rates do not (e.g. a model that is right on every item).
    """
    if not (n and np.isfinite(accuracy) and np.isfinite(recall)) or not (np.isfinite(precision) or np.isfinite(specificity)):
        return set()
    found = set()
    for positives in range(1, n):
        negatives = n - positives
        tp = round(recall * positives)
        tn = round(accuracy * n) - tp
        fp = negatives - tn
        if not 0 <= tn <= negatives or abs(tp / positives - recall) > tolerance or abs((tp + tn) / n - accuracy) > tolerance:
            continue
        if np.isfinite(specificity) and abs(tn / negatives - specificity) > tolerance:
            continue
        if np.isfinite(precision) and abs((tp / (tp + fp) if tp + fp else 0.0) - precision) > tolerance:
            continue
        found.add(positives)
    return found


def _baseline_of(n: int, positives: set[int]) -> float | None:
    """The majority baseline the allowed positive counts give, when they all give the same one."""
    baselines = {max(p, n - p) / n for p in positives}
    return baselines.pop() if len(baselines) == 1 else None


def _recorded_baseline(row: pd.Series, column: str = BASELINE) -> str | None:
    """A row's own majority baseline, as a cell; None when the table does not record it."""
    return f"{row[column]:.3f}" if column in row and pd.notna(row[column]) else None


def _baseline_value(row: pd.Series, column: str = BASELINE) -> float | None:
    """A row's own majority baseline; None when the table does not record it."""
    return float(row[column]) if column in row and pd.notna(row[column]) else None


# Models that did not learn ---------------------------------------------------------------------------
#: What SUMMARY says beside an accuracy whose interval reaches its majority baseline, in the words of
#: :data:`leukutils.claims.NOT_LEARNED` (the verdicts of ``X-T0`` carry that string whole).
DID_NOT_LEARN = "the model did not learn"


def _low(row: pd.Series, column: str, also: tuple[tuple[str, str], ...] = ()) -> float:
    """The low end of ``row[column]``'s interval, whichever naming the table uses (:func:`_estimate`); NaN
    when it has none."""
    for low, high in (*INTERVAL_NAMES, *also):
        if low.format(column) in row and high.format(column) in row:
            return float(row[low.format(column)])
    return float("nan")


def _learned_note(row: pd.Series, column: str, baseline: float | None, also: tuple[tuple[str, str], ...] = ()) -> str:
    """`` (the model did not learn)`` where the interval of the accuracy ``row[column]`` reaches ``baseline``
    (:func:`learned`), else ``""``: said beside the accuracy and beside what rests on the model."""
    return "" if learned(_low(row, column, also), baseline) else f" ({DID_NOT_LEARN})"


def _binary_metrics_baseline(table: pd.DataFrame, value: str) -> float | None:
    """The majority baseline of the one test set that every model of a long table of binary metrics
    (``model``, ``metric``, ``value``, ``n``: accuracy, precision, recall) was tested on, from the counts
    their rates allow together; None when they do not fix it."""
    allowed: set[int] | None = None
    ns = set()
    for _, rows in table.groupby("model", sort=False):
        rates = dict(zip(rows["metric"], rows[value]))
        n = _count(rows.iloc[0], "n", "n_test")
        if n is None or "accuracy" not in rates or "recall" not in rates:
            return None
        ns.add(n)
        found = consistent_positives(n, rates["accuracy"], rates["recall"], rates.get("precision", float("nan")),
                                     rates.get("specificity", float("nan")))
        allowed = found if allowed is None else allowed & found
    return _baseline_of(ns.pop(), allowed) if len(ns) == 1 and allowed else None


def _derived(value: float | None) -> str:
    return NOT_RECORDED if value is None else f"{value:.3f}{DERIVED}"


def _derived_note(source: str) -> str:
    return (f"{DERIVED} Not recorded in the published table: computed from {source}, which fix how many test "
            f"items each class has.")


# Sections --------------------------------------------------------------------------------------------
@dataclass
class Block:
    """One table of a SUMMARY section, with the lines before it and the notes under it."""
    columns: list[str]
    rows: list[list[str]]
    lead: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> list[str]:
        lines = [*self.lead, ""] if self.lead else []
        lines += ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns),
                  *["| " + " | ".join(_escape(c) for c in row) + " |" for row in self.rows], ""]
        if self.notes:
            lines += [*self.notes, ""]
        return lines


def _jtsc_dice(results: Path) -> list[Block]:
    t = _table(results, "P3-T2")
    if t is None or "dice low" not in t:
        return []
    return [Block(["result", "this run", "paper"],
                  [[f"JTSC nucleus Dice, {r['method']}", with_ci(r["dice"], r["dice low"], r["dice high"], digits=4),
                    _paper(r["paper dice (JTSC)"])] for _, r in t.iterrows()])]


def _bccd_ap(results: Path) -> list[Block]:
    t = _table(results, "P2-M1")
    if t is None:
        return []
    return [Block(["result", "this run", "paper"],
                  [[f"BCCD detector AP@0.5, {r['detector']}", with_ci(r["mAP@0.5"], r["mAP@0.5 low"], r["mAP@0.5 high"])
                    if "mAP@0.5 low" in t else f"{r['mAP@0.5']:.3f}", _paper(r["paper mAP"], 4, " (ALL-IDB1)")]
                   for _, r in t.iterrows()])]


def _p1_baseline(results: Path) -> tuple[float | None, int | None]:
    """Notebook 01's test-set majority baseline derived from ``P1-T1``'s rates, and its test images."""
    t = _table(results, "P1-T1")
    if t is None:
        return None, None
    value = "this run" if "this run" in t else "this_run"
    return _binary_metrics_baseline(t, value), _count(t.iloc[0], "n", "n_test")


def _aria_accuracy(results: Path) -> list[Block]:
    t = _table(results, "P1-T1")
    if t is None:
        return []
    value = "this run" if "this run" in t else "this_run"
    derived, notes = _binary_metrics_baseline(t, value), []
    rows = []
    for _, r in t[t["metric"] == "accuracy"].iterrows():
        baseline, level = _recorded_baseline(r), _baseline_value(r)
        if baseline is None:
            baseline, level = _derived(derived), derived
            notes = [_derived_note("the accuracy, precision and recall of its models, all tested on the same images")] if derived is not None else []
        rows.append([f"Aria accuracy, {r['model']} ({_count(r, 'n', 'n_test')} test images)",
                     _estimate(r, value) + _learned_note(r, value, level), baseline, _paper(r["paper"], 2, " (C-NMC)")])
    return [Block(["result", "this run", BASELINE, "paper"], rows, notes=notes)]


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _parameter(card: Mapping[str, Any] | None, *names: str) -> str:
    """Parameters of a provenance card as one cell: ``colour_augment = 1.0``, several joined by "; "."""
    if card is None:
        return "not published"
    parameters = card.get("parameters", {})
    return "; ".join(f"`{name}` = {_shown(parameters[name])}" if name in parameters else f"`{name}` {NOT_RECORDED}"
                     for name in names)


def _images_per_class(card: Mapping[str, Any] | None, name: str) -> str:
    """A cap on the images per class (0: none, every image after the classes are balanced)."""
    cell = _parameter(card, name)
    value = (card or {}).get("parameters", {}).get(name)
    if value is None:
        return cell
    return cell + (" (every image, classes balanced)" if not value else " (at most, per class)")


def _colour_augmentation(card: Mapping[str, Any] | None) -> str:
    if card is None:
        return "not published"
    strength = card.get("parameters", {}).get("colour_augment")
    if strength is None:
        return f"`colour_augment` {NOT_RECORDED}"
    return f"`colour_augment` = {strength}: " + ("random colour casts" if float(strength) > 0 else "none")


def _probe_rows(probes: pd.DataFrame, notebook: str) -> list[list[str]]:
    """SUMMARY rows of a shortcut-probe table (``P1-X1``, ``X-T4``'s Aria half: ``model``, ``test cue``,
    ``accuracy``, ``accuracy minus as given``): each model's accuracy under each probe and its change
    from the fields as given, a model whose accuracy as given reaches its baseline said not to have
    learned (beside that accuracy and beside its differences)."""
    given = {r["model"]: _learned_note(r, "accuracy", _baseline_value(r)) for _, r in probes[probes["test cue"] == "as given"].iterrows()}
    rows = []
    for _, r in probes.iterrows():
        note = given.get(r["model"], "")
        accuracy, difference = _cell(r, "accuracy"), "—"
        if r["test cue"] == "as given":
            accuracy += note
        else:
            difference = _cell(r, "accuracy minus as given", also=(("minus low", "minus high"),)) + note
        rows.append([f"{notebook}, {r['test cue']}", r["model"], accuracy, difference, _recorded_baseline(r) or NOT_RECORDED])
    return rows


def _tint_tests(results: Path) -> list[Block]:
    """Notebook 01's tint test (``P1-X1``) beside notebook 04's Aria half of ``X-T4``: first the parameters
    in which their training differs, from the provenance cards (01's colour augmentation, models, input
    size and epochs; 04's Standard_CNN, trained on the fields as given without colour augmentation), then
    both tests' accuracies with their majority baselines, each model whose accuracy as given reaches its
    baseline said not to have learned (beside that accuracy and beside its differences)."""
    p1x1, x4 = _table(results, "P1-X1"), _table(results, "X-T4")
    aria = x4[x4["data"] == "Aria"] if x4 is not None and "data" in x4 else pd.DataFrame()
    if p1x1 is None and aria.empty:
        return []
    card01, card04 = _card(results, "01_dual_cam.ipynb"), _card(results, "04_claims_tested.ipynb")
    n01 = _count(p1x1.iloc[0], "n", "test images") if p1x1 is not None else None
    n04 = _count(aria.iloc[0], "n", "test images") if not aria.empty else None
    model04 = f"{aria['model'].iloc[0]}; " if not aria.empty else ""
    setup = Block(["", "notebook 01 (`P1-X1`)", "notebook 04 (`X-T4`, Aria half)"], [
        ["colour augmentation in training", _colour_augmentation(card01),
         "none: its Standard_CNN recipe (`claims.StandardCNNRecipe`) has none" if card04 else "not published"],
        ["models", _parameter(card01, "models", "weights"), model04 + _parameter(card04, "cnn_widths")],
        ["input size (px)", _parameter(card01, "image_size", "resize", "zoom"), _parameter(card04, "aria_size")],
        ["epochs", _parameter(card01, "epochs"), _parameter(card04, "aria_epochs")],
        ["Aria images", _images_per_class(card01, "max_per_class"), _images_per_class(card04, "aria_per_class")],
        ["cells kept when the tint is equalised (nuclei dilated, px)", _parameter(card01, "cell_margin"),
         _parameter(card04, "aria_cell_margin")],
        ["test images", NOT_RECORDED if n01 is None else str(n01), NOT_RECORDED if n04 is None else str(n04)],
    ], lead=["Both tests equalise the background tint of Aria test fields across classes, inpaint the scale bar, "
             "and do both, and compare the accuracy with that on the fields as given. Their models were trained differently (below, from the provenance "
             "cards), so the two ask different questions and their results need not agree: notebook 01 asks "
             "whether its training protects its models from the tint, notebook 04 whether a model trained on the "
             "fields as given leans on it."])
    rows, notes = [], []
    if p1x1 is not None and "test cue" in p1x1:  # one row per model and probe
        rows += _probe_rows(p1x1, "notebook 01")
    elif p1x1 is not None:  # published before the probes: as given and tint equalised, one row per model
        derived, n_p1t1 = _p1_baseline(results)
        derived = derived if n_p1t1 == n01 else None  # P1-T1 and P1-X1 test the same images
        for _, r in p1x1.iterrows():
            baseline, level = _recorded_baseline(r), _baseline_value(r)
            if baseline is None:
                baseline, level = _derived(derived), derived
                if derived is not None:
                    notes = [_derived_note("`P1-T1`'s accuracy, precision and recall on the same test images")]
            note = _learned_note(r, "accuracy", level)
            rows += [["notebook 01, as given", r["model"], _cell(r, "accuracy") + note, "—", baseline],
                     ["notebook 01, tint equalised", r["model"], _cell(r, "tint-equalised accuracy"), _cell(r, "difference") + note,
                      baseline]]
    rows += _probe_rows(aria, "notebook 04")
    return [setup, Block(["test fields", "model", "accuracy", "minus as given", BASELINE], rows, notes=notes)]


def _patient_diagnosis(results: Path) -> list[Block]:
    t = _table(results, "P2-T0")
    if t is None:
        return []
    value = "this run"
    rates = dict(zip(t["metric"], t[value]))
    n = _count(t.iloc[0], "n", "patients")
    derived = (_baseline_of(n, consistent_positives(n, rates["accuracy"], rates["sensitivity"],
                                                    specificity=rates.get("specificity", float("nan"))))
               if n and {"accuracy", "sensitivity"} <= set(rates) else None)
    rows, notes = [], []
    for _, r in t.iterrows():
        baseline, note = "—", ""
        if r["metric"] == "accuracy":
            baseline, level = _recorded_baseline(r), _baseline_value(r)
            if baseline is None:
                baseline, level = _derived(derived), derived
                notes = [_derived_note("its accuracy, sensitivity and specificity over the same patients")] if derived is not None else []
            note = _learned_note(r, value, level)
        rows.append([f"{r['metric']} over {_count(r, 'n', 'patients')} patients ({r['interval']} interval)",
                     _estimate(r, value) + note, baseline, _paper(r["paper (ALL-IDB1)"], 4, " (ALL-IDB1)")])
    return [Block(["result", "this run", BASELINE, "paper"], rows, notes=notes)]


def _segmented_classifiers(results: Path) -> list[Block]:
    t = _table(results, "P3-T5")
    if t is None:
        return []
    return [Block(["result", "this run", BASELINE, "paper"],
                  [[f"test accuracy, {r['model']} ({_count(r, 'n', 'test images')} images)",
                    with_ci(r["test accuracy"], r["test accuracy low"], r["test accuracy high"])
                    + _learned_note(r, "test accuracy", _baseline_value(r)),
                    _recorded_baseline(r) or NOT_RECORDED,
                    _paper(r["paper val accuracy"], 4, " (validation, FAB L1–L3 set)")] for _, r in t.iterrows()]
                  + _paired_rows(_table(results, "P3-X1")))]


def _paired_rows(x1: pd.DataFrame | None) -> list[list[str]]:
    """``P3-X1``'s rows for the ResNet-50 block: each segmented variant minus its raw twin, same images."""
    if x1 is None:
        return []
    return [[f"segmented minus raw, {r['segmented']} minus {r['raw']} (paired, {_count(r, 'n')} images)",
             with_ci(r["segmented minus raw"], r["segmented minus raw low"], r["segmented minus raw high"]),
             "—", "—"] for _, r in x1.iterrows()]


def _classifiers_explained(results: Path) -> list[Block]:
    """The classifiers whose CAMs ``X-T1`` scores, one row per data set: test accuracy (said not to have learned
    where its interval reaches the baseline) and majority baseline."""
    x1 = _table(results, "X-T1")
    if x1 is None or "data" not in x1:
        return []
    rows = []
    for _, r in x1.drop_duplicates([c for c in ("data", "model") if c in x1]).iterrows():
        accuracy = (_cell(r, "classifier accuracy") + _learned_note(r, "classifier accuracy", _baseline_value(r, f"classifier {BASELINE}"))
                    if "classifier accuracy" in r else NOT_RECORDED)
        baseline = _recorded_baseline(r, f"classifier {BASELINE}") or _recorded_baseline(r) or NOT_RECORDED
        rows.append([r["data"], r.get("model", "—"), r.get("evidence", "—"), accuracy, baseline])
    return [Block(["data", "classifier", "evidence its CAMs are scored against", "test accuracy", BASELINE], rows,
                  lead=["The classifiers whose CAMs `X-T1` scores against ground truth:"])]


def _verdicts(results: Path) -> list[Block]:
    """The classifiers ``X-T1`` explains, then every row of ``X-T0`` as it stands (paper, test, effect, value
    with its interval, verdict: :data:`leukutils.claims.NOT_LEARNED` where the test rests on a model that did
    not learn), after a count of the verdicts and the claims in the papers' words."""
    blocks = _classifiers_explained(results)
    t = _table(results, "X-T0")
    if t is None:
        return blocks
    counts = t["verdict"].value_counts()
    lead = [f"{len(t)} tests; " + "; ".join(f"{v}: {counts[v]}" for v in counts.index) + "."]
    if "claim" in t:
        lead += ["", "The claims, in the papers' words:", ""] + [
            f"* {paper}: {claim}" for paper, claim in t[["paper", "claim"]].drop_duplicates().itertuples(index=False)]
    rows = [[r["paper"], r["test"] if "test" in r else "—", r["effect"], _estimate(r, "value"), f"**{r['verdict']}**"]
            for _, r in t.iterrows()]
    return [*blocks, Block(["paper", "test", "effect", "value [95 % interval]", "verdict"], rows,
                           lead=[*lead, "", "The verdicts (`X-T0`), one row per test:"])]


@dataclass
class Section:
    """A SUMMARY section: its notebooks, the line saying which data stand in for which paper's, its tables."""
    notebooks: tuple[str, ...]
    data: str
    blocks: Callable[[Path], list[Block]]


SECTIONS: dict[str, Section] = {
    "JTSC Dice": Section(("03_segmentation_attention.ipynb",),
                         "JTSC, the set paper 3 scores its segmentation on: no stand-in.", _jtsc_dice),
    "BCCD AP@0.5": Section(("02_mil_pipeline.ipynb",),
                           "BCCD stands in for paper 2's detector data (white-cell boxes drawn on ALL-IDB1).", _bccd_ap),
    "Aria accuracy": Section(("01_dual_cam.ipynb",),
                             "Aria (Benign against Early, Pre and Pro fields) stands in for paper 1's C-NMC (single cells).",
                             _aria_accuracy),
    "The two tint tests on Aria": Section(("01_dual_cam.ipynb", "04_claims_tested.ipynb"),
                                          "Aria in both (in notebook 01, the stand-in for paper 1's C-NMC).",
                                          _tint_tests),
    "Patient-level diagnosis (detector, cell features, LSTM)": Section(
        ("02_mil_pipeline.ipynb",), "Pseudo-patients of Aria fields stand in for paper 2's ALL-IDB1 patients "
        "(Aria has no patient ids); BCCD for its detector data.", _patient_diagnosis),
    "ResNet-50s on segmented and raw images": Section(
        ("03_segmentation_attention.ipynb",), "Aria (Benign, Early, Pre, Pro) stands in for paper 3's FAB L1–L3 set.",
        _segmented_classifiers),
    "Claims tested": Section(("04_claims_tested.ipynb",),
                             "Synthetic fields and cells with exact ground truth; with `real_sets`, JTSC cells "
                             "(expert nucleus masks) and Aria fields. Each test names its data.", _verdicts),
}


def staleness(results: Path, notebook: str) -> str:
    """``current``, ``stale (…)`` when the notebook or the package changed after the card's commit, or
    ``not published``."""
    card = _card(results, notebook)
    if card is None:
        return "not published"
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
    """SUMMARY.md of a results folder: the headline figures with intervals next to the papers' values and,
    for accuracies, the majority-class baselines; the data standing in for each paper's; the two tint
    tests side by side; every verdict."""
    results = Path(results)
    lines = [f"# Results of the `{results.name}` profile", "",
             "Generated by `leukutils.publish` from the tables and provenance cards in this folder. Every value is a",
             "test-set estimate with its 95 % interval; each accuracy stands beside its majority baseline (the accuracy",
             "of always predicting the test set's largest class) and the paper's value. *Not recorded*: the published",
             "table predates that column. A result is *stale* when its notebook, or a `leukutils` module the notebook",
             "imports (directly or through other modules), its profile file or the package's data files changed after",
             "the commit its provenance card records (`provenance/<notebook>.json`). An accuracy whose interval reaches",
             f"its majority baseline is marked *{DID_NOT_LEARN}*, and a verdict that rests on such a model reads",
             f"*cannot be told here: {DID_NOT_LEARN}*.", ""]
    for title, section in SECTIONS.items():
        lines += [f"## {title}", "",
                  "From " + "; ".join(f"`notebooks/{n}`: {staleness(results, n)}" for n in section.notebooks) + ".",
                  f"Data: {section.data}", ""]
        blocks = section.blocks(results)
        if not blocks:
            lines += ["Not published yet.", ""]
        for block in blocks:
            lines += block.markdown()
    return "\n".join(lines)


__all__ = ["RESULTS_DIR", "INTERVAL_NAMES", "SECTIONS", "DID_NOT_LEARN", "Block", "Section", "code_dependencies", "consistent_positives", "learned",
           "datasets_used", "dataset_fact", "machine_facts", "provenance_card", "publish_run", "staleness", "summary_markdown"]


if __name__ == "__main__":  # rewrite results/<profile>/SUMMARY.md from the published tables (cheap; no run)
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", default="real")
    folder = RESULTS_DIR / parser.parse_args().profile
    (folder / "SUMMARY.md").write_text(summary_markdown(folder))
    print(f"wrote {folder.relative_to(config.ROOT)}/SUMMARY.md")
