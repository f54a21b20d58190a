"""The one record shape that every reader returns, whatever the layout on disk."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass
class Record:
    """One image of a dataset and what is known about it.

    Attributes
    ----------
    path : Path
        The image file.
    label : str
        Image-level label: the class folder (``all``/``hem``, ``Benign``, ``L1``), ``ALL``/``healthy``
        for smears, or the cell class of a single-cell image.
    subject : str or None
        Patient (subject) id where the layout knows it (C-NMC, synthetic patients); None otherwise.
    mask_path : Path or None
        Ground-truth mask of the same height and width (uint8: 255 nucleus, 128 cytoplasm, 0 rest).
    boxes : ndarray or None
        (n, 4) float32 boxes ``x0, y0, x1, y1`` in pixels (VOC layouts).
    box_labels : list of str or None
        One label per box (``WBC``, ``RBC``, ``Platelets``, ``blast``, ``lymphocyte``...).
    centres : ndarray or None
        (n, 2) float32 ``x, y`` pixel centres of annotated cells (ALL-IDB1 blast centres).
    source : str
        Layout name: ``cnmc``, ``all_idb1``, ``all_idb2``, ``bccd``, ``segmentation_wbc``,
        ``class_folders``.
    split : str or None
        Split given by the dataset itself (``fold_0``, ``train``...), if any.
    extra : dict
        Anything else the layout or the synthetic ground truth says (e.g. ``cell_type``, ``cue``).
    """

    path: Path
    label: str
    subject: str | None = None
    mask_path: Path | None = None
    boxes: np.ndarray | None = None
    box_labels: list[str] | None = None
    centres: np.ndarray | None = None
    source: str = ""
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def labels_of(records: list[Record]) -> np.ndarray:
    """(n,) array of the records' labels (object dtype strings)."""
    return np.array([r.label for r in records], dtype=object)


def subjects_of(records: list[Record]) -> np.ndarray | None:
    """(n,) array of subject ids, or None when any record lacks one."""
    subjects = [r.subject for r in records]
    if any(s is None for s in subjects):
        return None
    return np.array(subjects, dtype=object)


def sample_records(records: Sequence, n: int, seed: int = 0, ordered: bool = True) -> list:
    """``n`` records (all when there are fewer) drawn at random without replacement with ``seed``;
    in their original order when ``ordered``, else in the order drawn."""
    index = np.random.default_rng(seed).choice(len(records), size=min(n, len(records)), replace=False)
    return [records[i] for i in (sorted(index) if ordered else index)]
