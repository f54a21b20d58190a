"""Write figures and tables under their REPRODUCTION.md ids, atomically and deterministically.

``save_figure(fig, "P1-F5", "confusion_matrix", dirs.figures)`` → ``figures/P1-F5_confusion_matrix.png``;
``save_table(df, "P1-T1", "metrics", dirs.tables)`` → ``tables/P1-T1_metrics.csv`` and ``.md``.
Tables are written with a fixed float format so that the same numbers give the same bytes.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd

_ID = re.compile(r"^(P[123]-[A-Z]+\d*|X-T\d+|D-[A-Z]+\d*)$")
FLOAT_FORMAT = "%.4f"


def artefact_name(artefact_id: str, slug: str) -> str:
    """``P1-T1``, ``accuracy table`` → ``P1-T1_accuracy_table``; the id must look like REPRODUCTION.md's."""
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
