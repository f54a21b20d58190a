"""Series and bags of cells for multiple-instance learning (paper 2).

Two kinds of inputs feed the MIL classifiers:

*Generated series* (training, paper 2 §3.2): index arrays into a pool of single-cell images. A series
is ALL (label 1) if and only if it holds at least one blast; it is padded with blank images to a fixed
length and shuffled. :func:`make_series` draws them; ``BLANK`` (-1) marks a padding position.

*Bags* (evaluation): all white cells cut from the smears of one patient. :func:`crop_cells` cuts boxes
out of a smear, :func:`bags_from_detections` groups the crops of a patient's smears into a :class:`Bag`
(:func:`detected_bags` runs a detector first), :func:`pseudo_patients` groups single fields without
patient ids into pseudo-patients and :func:`cell_pool_from_fields` makes a weakly labelled cell pool of them,
:func:`describe_bags` says what a cohort's bags hold,
:func:`remove_cells` builds the blast-removal / normal-removal variants and :func:`subsample_bag` the
fixed-size partitions of the cells-per-patient ablation.

Everything is index based: the cell images are encoded once (``leukutils.features.FeatureBank``) and
series and bags only say which rows to read.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np

from .readers import load_image

#: Index of a blank (padding) image in a series.
BLANK = -1
#: Label values: 0 = normal / healthy, 1 = blast / ALL.
NORMAL, ALL = 0, 1


def make_series(normal_pool: Sequence[int] | np.ndarray, blast_pool: Sequence[int] | np.ndarray,
                n_series: int, length: int, blast_prob: float = 0.5, seed: int = 0,
                min_cells: int = 1, max_cells: int | None = None,
                min_blast_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw training series of cell indices with their labels (paper 2 generation rule).

    Each series draws its label (ALL with probability ``blast_prob``) and a number of cells ``k``
    uniformly in ``[min_cells, max_cells]``; an ALL series holds ``b`` blasts, ``b`` uniform in
    ``[max(1, ceil(min_blast_fraction * k)), k]``, and ``k - b`` normal cells; a normal series holds
    ``k`` normal cells. Cells are drawn with replacement; the series is padded with ``BLANK`` to
    ``length`` and shuffled, so that the order carries no information.

    Parameters
    ----------
    normal_pool, blast_pool : 1-D int arrays, the indices (rows of a feature bank) of normal and blast
        single-cell images. Both must be non-empty.
    n_series : number of series to draw.
    length : fixed length of every series (>= 1). ``length=1`` gives the stage-1 single-cell task.
    blast_prob : probability that a series is ALL.
    seed : seed of the generator; the same arguments give the same series.
    min_cells, max_cells : bounds on the number of real (non-blank) cells; ``max_cells`` defaults to
        ``length``.
    min_blast_fraction : least share of blasts in an ALL series, in [0, 1]. 0 (the paper's rule):
        one blast makes a series ALL; 0.2 follows the diagnostic threshold of 20 % blasts, so that one
        blast-like cell among many normal ones is not enough (data whose cell labels are weak).

    Returns
    -------
    series : (n_series, length) int64, indices into the pools' index space, ``BLANK`` for padding.
    labels : (n_series,) int64, 1 = ALL (at least one blast), 0 = normal.
    """
    normal_pool = np.asarray(normal_pool, dtype=np.int64).ravel()
    blast_pool = np.asarray(blast_pool, dtype=np.int64).ravel()
    if normal_pool.size == 0 or blast_pool.size == 0:
        raise ValueError(f"make_series: both pools must be non-empty (normal {normal_pool.size}, "
                         f"blast {blast_pool.size}); check the cell labels of the training set")
    if length < 1 or n_series < 0:
        raise ValueError(f"make_series: need length >= 1 and n_series >= 0, got {length}, {n_series}")
    max_cells = length if max_cells is None else int(max_cells)
    if not 1 <= min_cells <= max_cells <= length:
        raise ValueError(f"make_series: need 1 <= min_cells ({min_cells}) <= max_cells ({max_cells}) "
                         f"<= length ({length})")
    if not 0 <= blast_prob <= 1:
        raise ValueError(f"make_series: blast_prob must be in [0, 1], got {blast_prob}")
    if not 0 <= min_blast_fraction <= 1:
        raise ValueError(f"make_series: min_blast_fraction must be in [0, 1], got {min_blast_fraction}")
    rng = np.random.default_rng(seed)
    series = np.full((n_series, length), BLANK, dtype=np.int64)
    labels = (rng.random(n_series) < blast_prob).astype(np.int64)
    for i in range(n_series):
        k = int(rng.integers(min_cells, max_cells + 1))
        b = int(rng.integers(max(1, math.ceil(min_blast_fraction * k - 1e-9)), k + 1)) if labels[i] else 0
        cells = np.concatenate([rng.choice(blast_pool, b), rng.choice(normal_pool, k - b)])
        series[i, :k] = cells
        series[i] = rng.permutation(series[i])
    return series, labels


def series_labels(series: np.ndarray, is_blast: np.ndarray) -> np.ndarray:
    """Label of each series by the generation rule: 1 iff it holds at least one blast.

    ``series``: (n, L) int indices with ``BLANK`` padding; ``is_blast``: (N,) bool over the index space.
    """
    series = np.asarray(series)
    is_blast = np.asarray(is_blast, dtype=bool)
    valid = series != BLANK
    hits = np.zeros(series.shape, dtype=bool)
    hits[valid] = is_blast[series[valid]]
    return hits.any(axis=1).astype(np.int64)


def shuffle_bag(indices: np.ndarray, n_orders: int, seed: int = 0) -> np.ndarray:
    """``n_orders`` random permutations of one bag: (n_orders, n) int64 (the first is the given order)."""
    indices = np.asarray(indices, dtype=np.int64)
    rng = np.random.default_rng(seed)
    orders = [indices] + [rng.permutation(indices) for _ in range(max(0, n_orders - 1))]
    return np.stack(orders) if len(indices) else np.zeros((n_orders, 0), np.int64)


# --------------------------------------------------------------------------------------------------
# Cutting cells out of smears
# --------------------------------------------------------------------------------------------------

def crop_cells(image: np.ndarray, boxes: np.ndarray, size: int = 64, margin: float = 0.1,
               min_side: int = 4, source: str | Path = "<image>") -> tuple[np.ndarray, np.ndarray]:
    """Cut square crops of the cells in ``boxes`` out of a smear and resize them to ``size``.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB smear.
    boxes : (n, 4) float, ``x0, y0, x1, y1`` in pixels.
    size : side of the returned crops in pixels.
    margin : fraction of the box side added around it (context around the cell).
    min_side : boxes narrower or shorter than this (after clipping to the image) are not cropped.
    source : name of the smear, used in the warning about rejected boxes.

    Returns
    -------
    crops : (m, size, size, 3) uint8, one per accepted box, in box order.
    kept : (n,) bool, which boxes gave a crop. Rejected boxes (outside the image, of zero width or
        height, non-finite) are reported with a warning naming ``source``, never dropped silently.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"crop_cells: {source}: expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    h, w = image.shape[:2]
    crops, kept = [], np.zeros(len(boxes), dtype=bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if not np.all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
            continue
        side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
        right, bottom = int(round(cx + side / 2)), int(round(cy + side / 2))
        cl, ct, cr, cb = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
        if cr - cl < min_side or cb - ct < min_side:
            continue
        patch = image[ct:cb, cl:cr]
        # pad (reflect) where the square leaves the image, so the cell stays centred
        patch = cv2.copyMakeBorder(patch, ct - top, bottom - cb, cl - left, right - cr, cv2.BORDER_REFLECT_101
                                   if min(patch.shape[:2]) > 1 else cv2.BORDER_REPLICATE)
        crops.append(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))
        kept[i] = True
    if (~kept).any():
        warnings.warn(f"crop_cells: {source}: {int((~kept).sum())} of {len(boxes)} box(es) gave no crop "
                      f"(outside the image, empty, smaller than {min_side} px or not finite): "
                      f"{boxes[~kept].round(1).tolist()[:5]}", stacklevel=2)
    out = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return out, kept


def blank_image(size: int = 64) -> np.ndarray:
    """The blank padding image of a series: (size, size, 3) uint8 zeros (a black square)."""
    return np.zeros((size, size, 3), np.uint8)


def black_out(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Copy of ``image`` with the ``boxes`` painted black (paper 2, Fig. 4: cells used in training are
    removed from the evaluation smears). ``boxes``: (n, 4) ``x0, y0, x1, y1`` px."""
    out = np.array(image, copy=True)
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=float).reshape(-1, 4):
        x0, y0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        x1, y1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
        out[y0:y1, x0:x1] = 0
    return out


# --------------------------------------------------------------------------------------------------
# Bags: the cells of one patient
# --------------------------------------------------------------------------------------------------

@dataclass
class Bag:
    """The cells found in the smears of one patient.

    Attributes
    ----------
    subject : patient id.
    label : patient label, 1 = ALL, 0 = healthy.
    crops : (n, s, s, 3) uint8 cell crops (n may be 0: no cells found).
    cell_labels : (n,) int, 1 = blast, 0 = normal, -1 = unknown (no matching annotated cell).
    smears : (n,) int, which of ``sources`` each crop comes from.
    sources : paths of the patient's smears.
    notes : problems met while building the bag (rejected boxes, smears without cells).
    """

    subject: str
    label: int
    crops: np.ndarray
    cell_labels: np.ndarray
    smears: np.ndarray
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def empty(self) -> bool:
        """True when no cell was found in any of the patient's smears."""
        return len(self.crops) == 0


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (n, 4) and ``b`` (m, 4), ``x0, y0, x1, y1``: (n, m) float."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_cell_labels(pred_boxes: np.ndarray, true_boxes: np.ndarray | None, true_is_blast: np.ndarray | None,
                      min_iou: float = 0.3) -> np.ndarray:
    """Give each detected box the label of the annotated cell it overlaps best (IoU >= ``min_iou``).

    Returns (n,) int: 1 blast, 0 normal, -1 no match (or no annotation).
    """
    pred_boxes = np.asarray(pred_boxes, float).reshape(-1, 4)
    out = np.full(len(pred_boxes), -1, dtype=np.int64)
    if true_boxes is None or len(true_boxes) == 0 or len(pred_boxes) == 0:
        return out
    iou = box_iou(pred_boxes, true_boxes)
    best = iou.argmax(1)
    ok = iou[np.arange(len(pred_boxes)), best] >= min_iou
    out[ok] = np.asarray(true_is_blast, dtype=np.int64)[best[ok]]
    return out


def bags_from_detections(smears: Sequence, boxes: Mapping[str, np.ndarray], patient_labels: Mapping[str, int],
                         load_image, size: int = 64, blast_names: Sequence[str] = ("blast",),
                         min_iou: float = 0.3) -> list[Bag]:
    """Group the cells detected in each patient's smears into one :class:`Bag` per patient.

    Parameters
    ----------
    smears : records (``leukutils.data.records.Record``) of smear images with ``subject`` set; their
        annotated ``boxes``/``box_labels``, if any, give each crop its cell label (for the removal test).
    boxes : ``str(record.path)`` → (n, 4) detected boxes for that smear (n may be 0).
    patient_labels : subject → 1 (ALL) / 0 (healthy).
    load_image : function path → (H, W, 3) uint8 (``leukutils.data.readers.load_image``).
    size : crop side in pixels.
    blast_names : box label names counted as blasts.

    Returns
    -------
    One bag per subject, sorted by subject id. A patient whose smears hold no detected cell gets an
    empty bag with a note "no cells found" (the caller must report it, not score it as healthy).
    """
    by_subject: dict[str, list] = {}
    for record in smears:
        if record.subject is None:
            raise ValueError(f"bags_from_detections: smear {record.path} has no subject id; bags need "
                             f"patient ids (use one bag per image by setting subject=path)")
        by_subject.setdefault(str(record.subject), []).append(record)
    bags = []
    for subject in sorted(by_subject):
        if subject not in patient_labels:
            raise KeyError(f"bags_from_detections: no patient label for subject {subject!r}")
        crops, labels, smear_ids, sources, notes = [], [], [], [], []
        for j, record in enumerate(sorted(by_subject[subject], key=lambda r: str(r.path))):
            key = str(record.path)
            if key not in boxes:
                raise KeyError(f"bags_from_detections: no detection result for {key}")
            found = np.asarray(boxes[key], float).reshape(-1, 4)
            sources.append(key)
            if len(found) == 0:
                notes.append(f"{key}: no cells found")
                continue
            image = load_image(record.path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cut, kept = crop_cells(image, found, size=size, source=key)
            notes.extend(str(c.message) for c in caught)
            true_blast = None
            if record.boxes is not None and record.box_labels is not None:
                true_blast = np.isin(np.asarray(record.box_labels), list(blast_names))
            cell_labels = match_cell_labels(found[kept], record.boxes, true_blast, min_iou)
            crops.append(cut)
            labels.append(cell_labels)
            smear_ids.append(np.full(len(cut), j, np.int64))
        if not crops:
            notes.append(f"patient {subject}: no cells found in {len(sources)} smear(s)")
        bags.append(Bag(subject=subject, label=int(patient_labels[subject]),
                        crops=np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
                        cell_labels=np.concatenate(labels) if labels else np.zeros(0, np.int64),
                        smears=np.concatenate(smear_ids) if smear_ids else np.zeros(0, np.int64),
                        sources=sources, notes=notes))
    return bags


def remove_cells(cell_labels: np.ndarray, remove: str | None, seed: int = 0) -> np.ndarray:
    """Indices of the cells kept under a removal attack (paper 2 §4.2, ``P2-F5``).

    ``remove``: ``"blast"`` drops the blasts, ``"normal"`` drops the normal cells, ``"random"`` drops as
    many randomly chosen cells (any label, drawn with ``seed``) as there are blasts — the matched control
    of the blast removal —, ``None``/``"none"`` keeps all. Cells of unknown label (-1) are kept by the
    blast and normal removals. Returns (m,) int64 indices, in increasing order.
    """
    cell_labels = np.asarray(cell_labels)
    if remove in (None, "none"):
        keep = np.ones(len(cell_labels), bool)
    elif remove == "blast":
        keep = cell_labels != ALL
    elif remove == "normal":
        keep = cell_labels != NORMAL
    elif remove == "random":
        keep = np.ones(len(cell_labels), bool)
        keep[np.random.default_rng(seed).choice(len(cell_labels), int((cell_labels == ALL).sum()), replace=False)] = False
    else:
        raise ValueError(f"remove_cells: remove must be 'blast', 'normal', 'random' or None, got {remove!r}")
    return np.flatnonzero(keep)


def subsample_bag(n_cells: int, size: int, n_draws: int = 1, seed: int = 0) -> list[np.ndarray]:
    """``n_draws`` subsets of ``size`` cells out of a bag of ``n_cells`` (without replacement when the bag
    is large enough, else the whole bag): the partitions of the cells-per-patient ablation (``P2-F6``)."""
    rng = np.random.default_rng(seed)
    if n_cells <= size:
        return [np.arange(n_cells) for _ in range(n_draws)]
    return [np.sort(rng.choice(n_cells, size, replace=False)) for _ in range(n_draws)]


def augment_cells(crops: np.ndarray, n_views: int = 4, max_shift: float = 0.1, seed: int = 0) -> np.ndarray:
    """Rotated and translated views of each cell crop (paper 2: rotation and translation only, no shear,
    which would change the morphology the diagnosis rests on).

    Parameters
    ----------
    crops : (n, s, s, 3) uint8.
    n_views : views per cell; view 0 is the crop itself, the others a random rotation in [0, 360)
        degrees plus a random shift of at most ``max_shift`` × s pixels per axis (border reflected).
    seed : seed of the random angles and shifts.

    Returns
    -------
    (n, n_views, s, s, 3) uint8.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"augment_cells: expected (n, s, s, 3) crops, got {crops.shape}")
    n, h, w = crops.shape[:3]
    rng = np.random.default_rng(seed)
    out = np.empty((n, n_views, h, w, 3), dtype=crops.dtype)
    out[:, 0] = crops
    for v in range(1, n_views):
        for i in range(n):
            angle = rng.uniform(0, 360)
            dx, dy = rng.uniform(-max_shift, max_shift, 2) * (w, h)
            matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            matrix[:, 2] += (dx, dy)
            out[i, v] = cv2.warpAffine(crops[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REFLECT_101)
    return out


def cell_pool_from_records(records: Sequence, load_image, size: int = 64, blast_names: Sequence[str] = ("blast",),
                           ignore_names: Sequence[str] = ("RBC", "Platelets")) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single-cell training pool cut from annotated smears (as ALL-IDB2 was cut from ALL-IDB1).

    Every box whose label is not in ``ignore_names`` gives one crop; it is a blast if its label is in
    ``blast_names``. Returns ``crops`` (n, size, size, 3) uint8, ``is_blast`` (n,) bool and ``record``
    (n,) int, the index of the record each crop comes from. Rejected boxes are warned about by
    :func:`crop_cells`.
    """
    crops, is_blast, origin = [], [], []
    for i, record in enumerate(records):
        if record.boxes is None or record.box_labels is None:
            raise ValueError(f"cell_pool_from_records: {record.path} has no box annotations")
        names = np.asarray(record.box_labels, dtype=object)
        keep = ~np.isin(names, list(ignore_names))
        if not keep.any():
            continue
        cut, kept = crop_cells(load_image(record.path), np.asarray(record.boxes)[keep], size=size, source=record.path)
        crops.append(cut)
        is_blast.append(np.isin(names[keep][kept], list(blast_names)))
        origin.append(np.full(len(cut), i, np.int64))
    if not crops:
        raise ValueError("cell_pool_from_records: no white-cell boxes in the given records")
    return np.concatenate(crops), np.concatenate(is_blast), np.concatenate(origin)


def describe_bags(bags: Sequence[Bag]) -> str:
    """One sentence on a cohort's bags: patients (ALL), cells per patient, the share of blasts among the
    cells matched to an annotated box, and the patients with no cell found."""
    labels, n_cells = np.array([b.label for b in bags]), np.array([len(b) for b in bags])
    matched = np.concatenate([b.cell_labels for b in bags])
    blasts = (f"{np.mean(matched[matched >= 0] == 1):.1%}" if (matched >= 0).any()
              else "not known (no cell-level labels in this data)")
    return (f"{len(bags)} patients ({labels.sum()} ALL); cells per patient {n_cells.min()}–{n_cells.max()} "
            f"(median {np.median(n_cells):.0f}); blasts among matched cells {blasts}; "
            f"patients with no cells found: {[b.subject for b in bags if b.empty] or 'none'}")


def pseudo_patients(records: Sequence, images_per_patient: int, per_class: int = 0, seed: int = 0,
                    healthy: str = "Benign", balance: bool = False) -> tuple[list, list, dict[str, int]]:
    """Pseudo-patients from single fields with image-level labels and no patient ids (Aria).

    The fields of each class are shuffled (``seed``), cut to ``per_class`` (0: all) and halved: the
    first half is a cell pool (each field its own subject), the second half is grouped into patients of
    ``images_per_patient`` fields of that class (a class-``c`` patient ``c-000``, ``c-001``, ...).

    Every class other than ``healthy`` is ALL (Aria's Early, Pre and Pro), so with one healthy class
    and three ALL classes of equal size three patients in four are ALL. With ``balance`` the ALL
    classes share the healthy class's numbers instead: the healthy class gives ``n`` fields (all of
    them, or ``per_class``, or as many as the ALL classes hold together), ``n // 2`` to the pool and
    the rest to ``P`` patients; the ALL classes give ``n // 2`` pool fields and ``P`` patients
    between them, spread evenly (the first classes by name take one more when they do not divide).
    The pool and the patients then hold as many ALL as healthy fields and patients, and "always ALL"
    scores 0.5. A patient still holds fields of one class only.

    Parameters
    ----------
    records : records of single fields (``leukutils.data.records.Record``), ``label`` = the field's class.
    images_per_patient : fields per pseudo-patient (>= 1).
    per_class : at most this many fields of a class (0: all); with ``balance``, of the healthy class
        and of the ALL classes together.
    seed : seed of the shuffles; the same arguments give the same pool and patients.
    healthy : the class whose patients are healthy (label 0).
    balance : whether ALL and healthy get equal numbers of pool fields and of patients.

    Returns
    -------
    pool_fields : records of the pool half, ``subject`` = the field's path.
    patient_fields : records of the patients' fields, ``subject`` = the pseudo-patient.
    patient_labels : pseudo-patient → 1 (ALL) or 0 (``healthy`` class).
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, list] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    shuffled = {label: [members[i] for i in rng.permutation(len(members))] for label, members in sorted(by_class.items())}
    k = images_per_patient
    sizes = {label: len(members) for label, members in shuffled.items()}
    if balance:
        counts = _balanced_counts(sizes, k, per_class, healthy)
    else:
        counts = {}
        for label, size in sizes.items():
            n = min(size, per_class) if per_class else size
            counts[label] = (n // 2, (n - n // 2) // k)
    pool_fields, patient_fields, patient_labels = [], [], {}
    for label, members in shuffled.items():
        n_pool, n_patients = counts[label]
        pool_fields += [replace(r, subject=str(r.path)) for r in members[:n_pool]]
        for j in range(n_patients):
            subject = f"{label}-{j:03d}"
            patient_labels[subject] = int(label != healthy)
            patient_fields += [replace(r, subject=subject) for r in members[n_pool + j * k: n_pool + (j + 1) * k]]
    return pool_fields, patient_fields, patient_labels


def _spread(total: int, n_parts: int) -> list[int]:
    """``total`` split into ``n_parts`` counts as even as possible, the larger ones first."""
    return [total // n_parts + (i < total % n_parts) for i in range(n_parts)]


def _balanced_counts(sizes: Mapping[str, int], images_per_patient: int, per_class: int,
                     healthy: str) -> dict[str, tuple[int, int]]:
    """Class → (pool fields, patients) of :func:`pseudo_patients` with ``balance``: as many ALL as
    ``healthy`` pool fields and patients, the ALL share spread evenly over the ALL classes (``sizes``:
    class → number of fields)."""
    ill = sorted(label for label in sizes if label != healthy)
    if healthy not in sizes or not ill:
        raise ValueError(f"pseudo_patients: balancing needs the healthy class {healthy!r} and at least one "
                         f"other class, got {sorted(sizes)}")
    n = min(sizes[healthy], sum(sizes[label] for label in ill))
    n = min(n, per_class) if per_class else n
    n_pool, n_patients = n // 2, (n - n // 2) // images_per_patient
    counts = {healthy: (n_pool, n_patients)}
    for label, pool_share, patient_share in zip(ill, _spread(n_pool, len(ill)), _spread(n_patients, len(ill))):
        needed = pool_share + patient_share * images_per_patient
        if needed > sizes[label]:
            raise ValueError(f"pseudo_patients: class {label!r} has {sizes[label]} fields, a balanced split of "
                             f"{n} fields per side needs {needed} of it; lower per_class")
        counts[label] = (pool_share, patient_share)
    return counts


def detected_bags(smears: Sequence, patient_labels: Mapping[str, int], detect: Callable, *, crop_size: int,
                  blast_names: Sequence[str] | None = None,
                  load: Callable = load_image) -> tuple[list[Bag], list[dict]]:
    """Detect the white cells of every smear and group their crops into one bag per patient.

    Parameters
    ----------
    smears : records with ``subject`` set (the patient).
    patient_labels : subject → 1 (ALL) / 0 (healthy).
    detect : images → one dict per image with ``boxes`` (n, 4): a detector with its settings bound, e.g.
        ``functools.partial(leukutils.inference.detect, model, score_threshold=0.5)``. It is passed in
        because the data layer does not import the methods that run models.
    crop_size : side of a crop (px).
    blast_names : when given, each crop is labelled blast/normal from the smears' annotated boxes (the
        removal test's ground truth).
    load : path → (H, W, 3) uint8, the smear as the detector and the crops see it (default
        :func:`leukutils.data.readers.load_image`; e.g. with a corner mark inpainted).

    Returns
    -------
    The bags (:class:`Bag`, sorted by subject, :func:`bags_from_detections`) and the detections per smear.
    """
    found = detect([load(r.path) for r in smears])
    boxes = {str(r.path): d["boxes"] for r, d in zip(smears, found)}
    options = {} if blast_names is None else {"blast_names": blast_names}
    return bags_from_detections(smears, boxes, patient_labels, load, size=crop_size, **options), found


def cell_pool_from_fields(fields: Sequence, detect: Callable, *, crop_size: int, healthy: str = "Benign",
                          load: Callable = load_image) -> tuple[np.ndarray, np.ndarray]:
    """A weakly labelled single-cell pool from fields with image-level labels (the pool half of
    :func:`pseudo_patients`): every cell ``detect`` finds on a field of a class other than ``healthy`` is
    called a blast; ``load`` reads a field (:func:`detected_bags`). Returns ``crops`` (n, crop_size,
    crop_size, 3) uint8 and ``is_blast`` (n,) bool, field by field in the order of their subjects."""
    pool_bags, _ = detected_bags(fields, {r.subject: int(r.label != healthy) for r in fields}, detect,
                                 crop_size=crop_size, load=load)
    return np.concatenate([b.crops for b in pool_bags]), np.concatenate([np.full(len(b), b.label == 1) for b in pool_bags])
