"""Open a dataset in one call: its synthetic twin, the real dataset, or a folder in the same layout.

Every layout has one reader (:mod:`leukutils.data.readers`) and one synthetic writer
(:mod:`leukutils.data.synth`) that writes that layout, so the same records come back whichever source
is asked for::

    records = open_dataset("cnmc", n_subjects=8, cells_per_subject=8, size=96)   # synthetic twin
    records = open_dataset("aria", "real")                   # the registry's copy (cache or mirror)
    records = open_dataset("jtsc", "cellavision")            # another registered set in the same layout
    records = open_dataset("jtsc", "/data/segmentation_WBC/Dataset 2")          # a folder
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from . import readers, registry, synth
from .torch_datasets import binary_labels
from .records import sample_records  # noqa: F401  (here since open_dataset's callers sample its records)


@dataclass(frozen=True)
class Layout:
    """A folder layout: its name in text, the writer of its synthetic twin, its reader, and the
    registered real dataset that has it (None where no real copy can be registered)."""

    title: str
    write_synthetic: Callable[..., Path]
    read: Callable[..., readers.RecordList]
    real: str | None


LAYOUTS: dict[str, Layout] = {
    "cnmc": Layout("C-NMC", synth.cnmc, readers.read_cnmc, "cnmc"),
    "all-idb1": Layout("ALL-IDB1", synth.all_idb1, readers.read_all_idb1, "all-idb1"),
    "all-idb2": Layout("ALL-IDB2", synth.all_idb2, readers.read_all_idb2, "all-idb2"),
    "bccd": Layout("BCCD", synth.bccd, readers.read_bccd, "bccd"),
    "jtsc": Layout("JTSC (segmentation_WBC)", synth.segmentation_wbc, readers.read_segmentation_wbc, "jtsc"),
    "aria": Layout("Aria ALL (class folders)", synth.class_folders, readers.read_class_folders, "aria"),
    "fab": Layout("FAB L1/L2/L3", synth.fab, readers.read_class_folders, None),
    "patients": Layout("patients (VOC, per subject)", synth.patients, readers.read_voc, None),
}


def dataset_folder(layout: str, source: str | os.PathLike = "real", data_dir: str | os.PathLike | None = None,
                   mirror: str | os.PathLike | None = None) -> Path:
    """The folder of a real dataset in ``layout``: ``data_dir`` when given, else ``source`` when it is
    a folder, else the registered dataset ``source`` (``"real"``: the layout's own) from the data cache
    or mirror. Raises FileNotFoundError saying how to get it."""
    if data_dir not in (None, ""):
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"data_dir {folder} is not a folder; give a folder in the {layout} layout")
        return folder
    if Path(str(source)).expanduser().is_dir():
        return Path(str(source)).expanduser()
    name = LAYOUTS[layout].real if str(source) == "real" else str(source)
    if name is None:
        raise FileNotFoundError(f"no real dataset is registered for the {layout} layout; pass data_dir=<folder>")
    found = registry.locate(name, mirror=mirror)
    if found is None:
        raise FileNotFoundError(f"dataset {name!r} not found: run `leukutils data fetch {name}`, set "
                                f"LEUKUTILS_DATA_MIRROR to a mirror folder, or pass data_dir=<folder>")
    return found


def open_dataset(layout: str, source: str | os.PathLike = "synthetic", *, data_dir: str | os.PathLike | None = None,
                 mirror: str | os.PathLike | None = None, reader_options: dict | None = None,
                 **synthetic_options) -> readers.RecordList:
    """Records of a dataset in ``layout`` (a key of :data:`LAYOUTS`).

    Parameters
    ----------
    layout : ``"cnmc"``, ``"bccd"``, ``"jtsc"``, ``"aria"``, ``"fab"``, ``"patients"``, ...
    source : ``"synthetic"`` (the twin, written with ``synthetic_options``, e.g. ``n_images=40, seed=0``),
        ``"real"`` (the layout's registered dataset), another registered name in the same layout, or a
        folder. ``data_dir``, when given, wins over any non-synthetic source.
    reader_options : passed to the layout's reader (e.g. ``{"bad_boxes": "drop"}``).

    Returns
    -------
    RecordList of :class:`leukutils.data.records.Record` (path, label, subject, mask, boxes, ...).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    spec = LAYOUTS[layout]
    if str(source) == "synthetic":
        folder = spec.write_synthetic(**synthetic_options)
    else:
        if synthetic_options:
            raise TypeError(f"options {sorted(synthetic_options)} apply to synthetic data only, not to source={source!r}")
        folder = dataset_folder(layout, source, data_dir, mirror)
    return spec.read(folder, **(reader_options or {}))


def pick_per_class(records: Sequence, per_class: int, rng, max_classes: int = 4) -> list:
    """Up to ``per_class`` random records of each of the first ``max_classes`` labels (sorted), drawn
    from the generator ``rng`` (a ``numpy.random.Generator``) class after class."""
    by_class: dict = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    picked = []
    for label in sorted(by_class)[:max_classes]:
        items = by_class[label]
        picked += [items[i] for i in rng.choice(len(items), size=min(per_class, len(items)), replace=False)]
    return picked


def describe(records: Sequence) -> dict:
    """One row about a dataset: images, class counts, subjects, masks and boxes."""
    return {"images": len(records), "classes": " ".join(f"{k}:{v}" for k, v in readers.summary(records).items()),
            "subjects": len({r.subject for r in records}) if records and records[0].subject is not None else 0,
            "masks": sum(r.mask_path is not None for r in records),
            "boxes": sum(len(r.boxes) for r in records if r.boxes is not None)}


def open_real_datasets(mirror: str | os.PathLike | None = None) -> dict[str, readers.RecordList]:
    """The records of every layout's registered real dataset that is present (data cache or mirror),
    by layout title (:data:`LAYOUTS`), read with the layout's reader.

    Readers' warnings about single bad annotations (BCCD's two zero-area boxes) are not shown: each
    RecordList's ``report`` counts what was skipped or dropped.
    """
    found = {}
    for layout, spec in LAYOUTS.items():
        if spec.real is not None and registry.locate(spec.real, mirror=mirror) is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found[spec.title] = open_dataset(layout, "real", mirror=mirror)
    return found


def real_and_synthetic(names: Mapping[str, str], real: Mapping, synthetic: Mapping) -> dict[str, list]:
    """The records of each set named in ``names`` (short name → layout title): ``"<short> real"`` where
    the real set is present, then ``"<short> synthetic"``, in the order of ``names``."""
    sets = {}
    for short, title in names.items():
        if title in real:
            sets[f"{short} real"] = real[title]
        sets[f"{short} synthetic"] = synthetic[title]
    return sets


def example_tiles(synthetic: Mapping, real: Mapping, per_class: int, rng) -> tuple[list, list, list]:
    """Example images per dataset and class (notebook 00, D-F1): for each dataset of ``synthetic``
    (title → records), up to ``per_class`` images of each class (:func:`pick_per_class` with ``rng``)
    from the real set where ``real`` holds it, else from the synthetic twin.

    Returns
    -------
    rows : list of lists of (H, W, 3) uint8 images, one row per dataset; row_labels : the titles
    without their parenthesis; captions : per row, ``"<label> (real)"`` or ``"<label> (synth)"``.
    """
    rows, captions = [], []
    for name, records in synthetic.items():
        source, chosen = ("real", real[name]) if name in real else ("synth", records)
        picked = pick_per_class(chosen, per_class, rng)
        rows.append([readers.load_image(r.path) for r in picked])
        captions.append([f"{r.label} ({source})" for r in picked])
    return rows, [name.split(" (")[0] for name in synthetic], captions


#: The two classes of each dataset that paper 1's classifiers tell apart: the labels counted as ALL (1),
#: the reader's options, and the names of classes 0 and 1.
TWO_CLASSES: dict[str, tuple[list[str], dict | None, list[str]]] = {
    "cnmc": (["all"], None, ["hem", "all"]),
    "aria": (["Early", "Pre", "Pro"], {"classes": ["Benign", "Early", "Pre", "Pro"]}, ["Benign", "ALL"]),
}


def open_two_class(dataset: str, data_dir: str | os.PathLike | None = None, **synthetic_options
                   ) -> tuple[readers.RecordList, np.ndarray, list[str]]:
    """Records of a dataset as paper 1's two classes: ALL (1) against normal cells (0).

    Parameters
    ----------
    dataset : ``"synthetic"`` (the C-NMC twin, written with ``synthetic_options``), ``"cnmc"`` or
        ``"aria"`` (Benign against Early + Pre + Pro), read from ``data_dir``, the cache or the mirror.

    Returns
    -------
    records; labels : (n,) int64, 1 for ALL; class_names : the names of classes 0 and 1.
    """
    layout = "cnmc" if dataset == "synthetic" else dataset
    if layout not in TWO_CLASSES:
        raise ValueError(f"open_two_class: dataset {dataset!r} is none of synthetic, {', '.join(TWO_CLASSES)}")
    positive, reader_options, class_names = TWO_CLASSES[layout]
    if dataset == "synthetic":
        records = open_dataset("cnmc", **synthetic_options)
    else:
        records = open_dataset(layout, "real", data_dir=data_dir, reader_options=reader_options)
    return records, binary_labels([r.label for r in records], positive), class_names
