"""What each notebook's run shows, as sentences computed from the run's tables.

One function per notebook, ``<notebook>_findings(tables...) -> list[str]``: it looks values up by column
name and row key (never by position), states a paper's claim as holding or not from the numbers it is
given, and names what was tested. The notebooks print the sentences in their closing "What this run
shows" cell; the unit tests feed each function a small table where the paper's result holds and one
where it does not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .report import with_ci


def row_of(table: pd.DataFrame, **key) -> pd.Series:
    """The one row of ``table`` whose columns equal ``key`` (``row_of(t1, model="densenet121",
    metric="accuracy")``); a ``KeyError`` naming the key and the table's columns when there is none or
    more than one."""
    match = np.ones(len(table), dtype=bool)
    for column, value in key.items():
        if column not in table:
            raise KeyError(f"row_of: no column {column!r} (columns: {list(table.columns)})")
        match &= (table[column] == value).to_numpy()
    if match.sum() != 1:
        raise KeyError(f"row_of: {int(match.sum())} rows with {key}, need exactly one")
    return table[match].iloc[0]


def estimate(row: pd.Series, column: str, digits: int = 3) -> str:
    """``"0.912 [0.880, 0.940]"``: ``row[column]`` with its interval ``<column> low``/``<column> high``."""
    return with_ci(row[column], row[f"{column} low"], row[f"{column} high"], digits)


# --------------------------------------------------------------------------------------------------
# Notebook 00: the data
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Notebook 01: paper 1, six CNNs, Grad-CAM and Score-CAM, MR-SSIM
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Notebook 02: paper 2, detector, frozen features, LSTM over a patient's cells
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Notebook 03: paper 3, nucleus segmentation as hard attention
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Notebook 04: the claims tested
# --------------------------------------------------------------------------------------------------
