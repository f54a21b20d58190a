"""Write figures and tables under their REPRODUCTION.md ids, atomically and deterministically, and join
the papers' reported values onto them.

``save_figure(fig, "P1-F5", "confusion_matrix", dirs.figures)`` → ``figures/P1-F5_confusion_matrix.png``;
``save_table(df, "P1-T1", "metrics", dirs.tables)`` → ``tables/P1-T1_metrics.csv`` and ``.md``.
Tables are written with a fixed float format so that the same numbers give the same bytes.
``publish_table`` saves a table and returns its printable form (one notebook step);
``paper_values("P1-T1", models, metrics)`` reads the papers' numbers from ``paper_values.csv``, the one
file that holds them, aligned to a table's rows.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_ID = re.compile(r"^(P[123]-[A-Z]+\d*|X-[TF]\d+|D-[A-Z]+\d*|A-[TF]\d+)$")
FLOAT_FORMAT = "%.4f"
#: The values the three papers report, one per row: artefact id, row key, column, value, where in the paper.
PAPER_VALUES = Path(__file__).resolve().parent / "paper_values.csv"


def artefact_name(artefact_id: str, slug: str) -> str:
    """``P1-T1``, ``accuracy table`` → ``P1-T1_accuracy_table``; the id must look like REPRODUCTION.md's, or ``A-T1``, ``A-F1`` for an audit (``leukutils audit``)."""
    if not _ID.match(artefact_id):
        raise ValueError(f"artefact id {artefact_id!r} is not of the form P1-T1, P2-F5, X-T3 or D-F1")
    clean = re.sub(r"[^a-z0-9]+", "_", slug.lower()).strip("_")
    return f"{artefact_id}_{clean}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place.

    The package's one writer of single files that must never be seen half-written. Whole folders
    are made atomic differently, by building them beside their target and renaming the folder
    (:func:`leukutils.data.synth.writers.cached_dataset`, :func:`leukutils.data.registry.fetch`): a
    folder cannot be replaced over a non-empty one, and the rename must also tell whether another
    process finished the same folder first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig, artefact_id: str, slug: str, out_dir: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as ``<out_dir>/<id>_<slug>.png`` (no timestamp metadata) and return the path."""
    import io

    path = Path(out_dir) / f"{artefact_name(artefact_id, slug)}.png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())
    return path


def format_table(table: pd.DataFrame, float_format: str = FLOAT_FORMAT) -> pd.DataFrame:
    """Round floats to the table format, so that displayed and written numbers agree."""
    out = table.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].map(lambda v: v if pd.isna(v) else float(float_format % v))
    return out


def save_table(table: pd.DataFrame, artefact_id: str, slug: str, out_dir: str | os.PathLike,
               float_format: str = FLOAT_FORMAT, index: bool = False) -> Path:
    """Write ``table`` as ``<id>_<slug>.csv`` and a rendered ``.md`` beside it; return the csv path."""
    stem = Path(out_dir) / artefact_name(artefact_id, slug)
    csv_text = table.to_csv(index=index, float_format=float_format, lineterminator="\n")
    atomic_write_bytes(stem.with_suffix(".csv"), csv_text.encode())
    md_text = format_table(table, float_format).to_markdown(index=index, floatfmt=float_format[1:]) + "\n"
    atomic_write_bytes(stem.with_suffix(".md"), md_text.encode())
    return stem.with_suffix(".csv")


def with_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    """``0.912 [0.880, 0.940]``: a point estimate with its 95 % interval, as one table cell."""
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def rows_with_ci(table: pd.DataFrame, value: str, labels: str | list[str], paper: str | None = "paper",
                 digits: int = 3) -> str:
    """The rows of a table with intervals as one phrase each, joined by "; ", for a notebook's closing
    sentences: ``"densenet121 0.912 [0.880, 0.940] (paper 0.940)"``.

    ``value``: the column of the estimate (``<value> low``/``<value> high`` hold its interval); ``labels``: the
    column(s) naming a row; ``paper``: the column of the paper's value, left out when None, absent or NaN.
    """
    labels = [labels] if isinstance(labels, str) else list(labels)
    phrases = []
    for _, row in table.iterrows():
        phrase = " ".join(str(row[c]) for c in labels) + " " + with_ci(row[value], row[f"{value} low"], row[f"{value} high"], digits)
        if paper is not None and paper in table and pd.notna(row[paper]):
            phrase += f" (paper {row[paper]:.{digits}f})"
        phrases.append(phrase)
    return "; ".join(phrases)


def _spoken(value) -> str:
    """A parameter value as a "This run" line writes it: lists and dict values joined, floats with ``%g``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_spoken(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_spoken(v)}" for k, v in value.items()) + "}"
    return str(value)


def this_run(parameters: Mapping[str, Any], names: Sequence[str], **facts: Any) -> str:
    """The "This run: …" line a notebook prints where its prose names a parameter instead of its value.

    Parameters
    ----------
    parameters : the run's parameters (:func:`leukutils.parameters.notebook_parameters`).
    names : the parameters to state, in order; a name the run lacks is a ``KeyError`` naming it.
    **facts : further values of the run, e.g. ``test_images=86`` (underscores are said as spaces).

    Returns
    -------
    str, ``"This run: epochs 8, image_size 128, models [standard_cnn, densenet121]; test images 86."``
    (lists in brackets, floats as ``%g``, facts after a semicolon).
    """
    missing = [name for name in names if name not in parameters]
    if missing:
        raise KeyError(f"this_run: no parameter {', '.join(map(repr, missing))} (parameters: {', '.join(parameters)})")
    said = ", ".join(f"{name} {_spoken(parameters[name])}" for name in names)
    extra = ", ".join(f"{name.replace('_', ' ')} {_spoken(value)}" for name, value in facts.items())
    return f"This run: {said}{'; ' + extra if extra and said else extra}."


def publish_table(table: pd.DataFrame, artefact_id: str, slug: str, out_dir: str | os.PathLike,
                  show: list[str] | None = None, float_format: str = FLOAT_FORMAT) -> str:
    """Save ``table`` (:func:`save_table`) and return it as Markdown, rounded as written, for printing.

    ``show`` selects the columns printed (all by default); the saved files always hold every column.
    """
    save_table(table, artefact_id, slug, out_dir, float_format)
    shown = table if show is None else table[show]
    return format_table(shown, float_format).to_markdown(index=False)


def _paper_table() -> pd.DataFrame:
    return pd.read_csv(PAPER_VALUES, dtype={"artefact": str, "key": str, "column": str, "value": float,
                                             "source": str}, keep_default_na=False)


def paper_values(artefact_id: str, keys, columns) -> np.ndarray:
    """The papers' values for the rows of a table: ``paper_values("P1-T1", t["model"], t["metric"])``.

    Parameters
    ----------
    artefact_id : id in ``paper_values.csv`` (``"P1-T1"``); an id it does not hold is an error.
    keys, columns : sequences of equal length, the row key and the column of each table row, as spelt
        in ``paper_values.csv``; either may be one string, repeated for every row.

    Returns
    -------
    (n,) float64 array, NaN where the paper gives no number.
    """
    table = _paper_table()
    rows = table[table["artefact"] == artefact_id]
    if rows.empty:
        raise KeyError(f"{PAPER_VALUES.name} holds no value for {artefact_id!r}; its artefacts are "
                       f"{', '.join(sorted(table['artefact'].unique()))}")
    if isinstance(keys, str) and isinstance(columns, str):
        keys, columns = [keys], [columns]
    elif isinstance(keys, str):
        columns = list(columns)
        keys = [keys] * len(columns)
    elif isinstance(columns, str):
        keys = list(keys)
        columns = [columns] * len(keys)
    keys, columns = list(keys), list(columns)
    if len(keys) != len(columns):
        raise ValueError(f"paper_values: {len(keys)} keys but {len(columns)} columns")
    lookup = {(k, c): v for k, c, v in zip(rows["key"], rows["column"], rows["value"])}
    return np.array([lookup.get((str(k), str(c)), np.nan) for k, c in zip(keys, columns)], dtype=np.float64)


def learned(accuracy_low: float, baseline: float | None) -> bool:
    """Whether a model learned: the low end of its accuracy interval lies above its majority baseline (the
    accuracy of always predicting the test set's largest class, :func:`leukutils.metrics.majority_baseline`).

    False when ``accuracy_low`` ≤ ``baseline``; True otherwise, also when either is missing (None or NaN:
    nothing to compare them by, so a verdict stands as its own interval gives it). The one rule of the
    verdicts (:mod:`leukutils.claims`, :mod:`leukutils.findings`) and of ``SUMMARY.md`` (:mod:`leukutils.publish`).
    """
    return baseline is None or not float(accuracy_low) <= float(baseline)


#: The name a reader knows each method by (the papers' spelling); Score-CAM and its exact fast variant
#: compute the same map.
METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "hirescam": "HiResCAM", "xgradcam": "XGrad-CAM",
                "scorecam": "Score-CAM", "fast_scorecam": "Score-CAM"}


def method_name(method: str) -> str:
    """The name a figure or a sentence gives ``method`` (a key of :data:`leukutils.explain.CAM_METHODS`, e.g. ``"fast_scorecam"``
    → ``"Score-CAM"``); any other label is returned as it is."""
    return METHOD_NAMES.get(method, method)
