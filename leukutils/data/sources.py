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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import readers, registry, synth


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


def sample_records(records: Sequence, n: int, seed: int = 0, ordered: bool = True) -> list:
    """``n`` records (all when there are fewer) drawn at random without replacement with ``seed``;
    in their original order when ``ordered``, else in the order drawn."""
    import numpy as np

    index = np.random.default_rng(seed).choice(len(records), size=min(n, len(records)), replace=False)
    return [records[i] for i in (sorted(index) if ordered else index)]


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
