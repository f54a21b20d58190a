"""Tables aggregated over seeds: how much a number moves when only the seed changes.

A grid run (:mod:`leukutils.grid`) writes one copy of each table per seed,
``<run>/seed-<k>/tables/<id>_<slug>.csv``. :func:`aggregate_seeds` combines the copies of one table
(DataFrames in, DataFrame out); :func:`aggregate_run` does it for every table of a run folder and
writes ``<run>/tables/seeds/<id>_<slug>.csv`` and ``.md``.

The aggregated table has one row per row of the original table and numeric column ("metric"):

=========  ==================================================================================
keys       the original row's key columns (see :func:`key_columns`)
column     the name of the metric column
n_seeds    seeds whose table holds a number there (NaN cells are left out)
mean, sd   mean and sample standard deviation (``ddof=1``; NaN with one seed) across seeds
min, max   smallest and largest value across seeds
q2.5       2.5 % and 97.5 % quantiles across seeds (linear interpolation, ``pandas.Series.quantile``):
q97.5      the spread of the seeds' results, not a confidence interval of their mean; with few seeds
           it is close to [min, max]
=========  ==================================================================================
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .report import save_table

#: Columns of an aggregated table after the key columns.
STATISTICS = ("column", "n_seeds", "mean", "sd", "min", "max")
#: Quantiles of the interval across seeds.
INTERVAL = (0.025, 0.975)


def _label(q: float) -> str:
    return f"q{100 * q:g}"


def key_columns(tables: Sequence[pd.DataFrame]) -> list[str]:
    """The columns that say which row is which: every non-numeric column, and every integer column
    whose values are the same in every table (sizes, counts, a table's own seed count).

    Any other numeric column (floats, integers that change with the seed) is a metric.
    """
    first = tables[0]
    keys = []
    for name in first.columns:
        column = first[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            keys.append(name)
        elif pd.api.types.is_integer_dtype(column) and all(
                name in t.columns and t[name].reset_index(drop=True).equals(column.reset_index(drop=True))
                for t in tables[1:]):
            keys.append(name)
    return keys


def aggregate_seeds(tables: Mapping[int, pd.DataFrame], keys: Sequence[str] | None = None,
                    interval: tuple[float, float] = INTERVAL) -> pd.DataFrame:
    """Combine the copies of one table made with different seeds.

    Parameters
    ----------
    tables : seed → that seed's table (same columns).
    keys : the columns that identify a row (default :func:`key_columns`); rows of different seeds
        with equal keys are combined. Where the keys repeat within a table, the repeats are told apart
        by their order, in a column ``row``; with no key column at all, rows are matched by position.
    interval : lower and upper quantile of the spread across seeds.

    Returns
    -------
    DataFrame: the key columns, then ``column``, ``n_seeds``, ``mean``, ``sd``, ``min``, ``max``,
    and the two quantiles (``q2.5``, ``q97.5``); one row per original row and metric column, in the
    order of the tables' rows, then columns.
    """
    if not tables:
        raise ValueError("no table to aggregate")
    frames = [tables[seed].reset_index(drop=True) for seed in sorted(tables)]
    keys = list(key_columns(frames) if keys is None else keys)
    metrics = [c for c in frames[0].columns if c not in keys]
    low, high = _label(interval[0]), _label(interval[1])
    clash = set(keys) & {*STATISTICS, low, high, "row"}
    if clash:
        raise ValueError(f"key columns {sorted(clash)} have the names of aggregated columns; rename them")
    combined = pd.concat(frames, ignore_index=True)
    repeated = any(f.duplicated(subset=keys or None, keep=False).any() for f in frames) if keys else True
    if repeated:
        combined["row"] = pd.concat([f.groupby(keys, dropna=False, sort=False).cumcount() if keys
                                     else pd.Series(range(len(f))) for f in frames], ignore_index=True)
    by = keys + (["row"] if repeated else [])
    value = "\0value"  # a name no table column has (a metric may be called "value")
    long = combined.melt(id_vars=by, value_vars=metrics, var_name="column", value_name=value)
    long[value] = pd.to_numeric(long[value], errors="coerce").astype(float)
    grouped = long.groupby(by + ["column"], dropna=False, sort=False)[value]
    out = pd.DataFrame({"n_seeds": grouped.count(), "mean": grouped.mean(), "sd": grouped.std(ddof=1),
                        "min": grouped.min(), "max": grouped.max(),
                        low: grouped.quantile(interval[0]), high: grouped.quantile(interval[1])}).reset_index()
    # rows in the order of the tables' rows, then of the metric columns
    first_seen = combined[by].drop_duplicates().reset_index(drop=True).reset_index(names="_order")
    out = out.merge(first_seen, on=by, how="left")
    out["_column"] = out["column"].map({c: i for i, c in enumerate(metrics)})
    out = out.sort_values(["_order", "_column"], kind="stable").drop(columns=["_order", "_column"])
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out.reset_index(drop=True)[by + list(STATISTICS) + [low, high]]


def seed_tables(run_dir: str | os.PathLike) -> dict[str, dict[int, pd.DataFrame]]:
    """Every table of a grid run: ``<id>_<slug>`` → seed → the table read from ``seed-<k>/tables/``."""
    found: dict[str, dict[int, pd.DataFrame]] = {}
    for path in sorted(Path(run_dir).glob("seed-*/tables/*.csv")):
        match = re.fullmatch(r"seed-(\d+)", path.parent.parent.name)
        if match:
            found.setdefault(path.stem, {})[int(match[1])] = pd.read_csv(path)
    return dict(sorted(found.items()))


def aggregate_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Aggregate every table of a grid run over its seeds (:func:`aggregate_seeds`).

    Parameters
    ----------
    run_dir : a grid run folder, holding ``seed-<k>/tables/<id>_<slug>.csv``.
    out_dir : where to write (default ``<run_dir>/tables/seeds``).

    Returns
    -------
    The csv files written, ``<out_dir>/<id>_<slug>.csv``, each with its ``.md`` beside it. A table that
    cannot be aggregated (a file name without an artefact id, a key column named like an aggregated
    one) is left out with a warning.
    """
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "tables" / "seeds"
    written = []
    for name, tables in seed_tables(run_dir).items():
        artefact_id, _, slug = name.partition("_")
        try:
            written.append(save_table(aggregate_seeds(tables), artefact_id, slug or "table", out))
        except ValueError as error:  # one odd table does not keep the others from being aggregated
            warnings.warn(f"{name}: not aggregated over seeds: {error}", stacklevel=2)
    return written


def seeds_note(output_dir: str | os.PathLike | None, prefix: str, seed: int = 0) -> str:
    """The closing line of a notebook about its seeds: the tables of artefacts ``prefix`` (``"P2-"``)
    aggregated over seeds, when ``output_dir`` is one seed's folder of a grid run (``<run>/seed-<k>``)
    whose aggregation (``<run>/tables/seeds/``) exists, else a sentence saying that one seed stands
    behind every number and how to run more."""
    folder = Path(output_dir) if output_dir else None
    aggregated = sorted((folder.parent / "tables" / "seeds").glob(f"{prefix}*.md")) if folder is not None else []
    if not aggregated:
        return (f"One seed (seed = {seed}) stands behind every number above. For the spread over seeds: "
                f"`leukutils reproduce --only <NN> --seeds 0,1,2` (add `--cluster local:N` for a Dask cluster), "
                f"then `leukutils aggregate runs/<profile>-<stamp>`.")
    return "\n\n".join(f"{path.stem} over seeds:\n\n{path.read_text()}" for path in aggregated)
