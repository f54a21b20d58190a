"""Shortcut cues, planted and removed: a mark drawn on the fields of one class (:mod:`leukutils.data.synth.cues`)
and the two cues a real smear set carries, the tint of its glass and a scale bar in a corner.

Functions on arrays: (H, W, 3) uint8 images, (n, H, W, 3) stacks, (H, W) bool regions.
"""
from __future__ import annotations

import functools
from typing import Sequence

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from . import preprocess
from .data.readers import load_image
from .data.synth import cues
from .data.torch_datasets import sample_per_class


def cue_region(kind: str, shape: tuple[int, int], n_classes: int = 2) -> np.ndarray:
    """(H, W) bool: where ``synth.cues.apply_cue`` draws cue ``kind`` (for any cue class) on an image of
    ``shape``; derived by drawing it, so it follows the cue's geometry wherever that is defined."""
    region = np.zeros(shape, bool)
    for cue in range(1, n_classes):
        grey = np.full((*shape, 3), 128, np.uint8)
        region |= (cues.apply_cue(grey, kind, cue, n_classes) != grey).any(axis=2)
    return region


def cue_regions(kind: str, images: np.ndarray, nuclei: np.ndarray | None = None) -> np.ndarray:
    """(n, H, W) bool: where cue ``kind`` lies on each of ``images`` ((n, H, W, 3)): the fixed region of a
    :mod:`leukutils.data.synth.cues` kind (:func:`cue_region`), or for :data:`NUCLEUS_MARK` the discs
    on each image's ``nuclei`` ((n, H, W) bool, :func:`nucleus_mark_region`)."""
    if kind == NUCLEUS_MARK:
        return np.stack([nucleus_mark_region(n) for n in nuclei]) if len(images) else np.zeros(images.shape[:3], bool)
    return np.broadcast_to(cue_region(kind, images.shape[1:3]), images.shape[:3]).copy()


def with_cue(images: np.ndarray, cue_classes: Sequence[int], kind: str, n_classes: int = 2) -> np.ndarray:
    """``images`` ((n, H, W, 3) uint8) with cue ``kind`` drawn for each image's cue class (0: none)."""
    return np.stack([cues.apply_cue(image, kind, int(c), n_classes) for image, c in zip(images, cue_classes)])


def cue_classes(labels: Sequence[int], rate: float, seed: int = 0, n_classes: int = 2) -> np.ndarray:
    """The cue class of each image: its label with probability ``rate``, else a uniformly drawn class
    (``synth.cues.cue_class``). ``rate`` 1: a perfect shortcut; 0: a cue independent of the label."""
    rng = np.random.default_rng(seed)
    return np.array([cues.cue_class(rng, int(label), n_classes, rate) for label in labels], np.int64)


def cued_conditions(images: np.ndarray, labels: np.ndarray, kind: str, rate: float, seed: int = 0,
                    nuclei: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Binary-labelled ``images`` ((n, H, W, 3) uint8, ``labels`` 0/1) under three cue conditions: ``as in
    training`` (the cue says the label at ``rate``, :func:`cue_classes`), ``absent`` and ``reversed``
    (drawn on the fields of class 0 only). ``kind`` is a cue of :mod:`leukutils.data.synth.cues` drawn
    by :func:`with_cue`, or :data:`NUCLEUS_MARK`, drawn inside the cells by :func:`mark_nuclei` on the
    ``nuclei`` ((n, H, W) bool) of each image. Returns condition → (n,) cue class, and condition → the
    images with that cue drawn."""
    labels = np.asarray(labels)
    classes = {"as in training": cue_classes(labels, rate, seed=seed), "absent": np.zeros_like(labels),
               "reversed": 1 - labels}
    if kind != NUCLEUS_MARK:
        return classes, {condition: with_cue(images, c, kind) for condition, c in classes.items()}
    if nuclei is None or len(nuclei) != len(images):
        raise ValueError(f"cued_conditions: the cue {NUCLEUS_MARK!r} is drawn on the nuclei: give nuclei=, "
                         f"one (H, W) bool mask per image ({len(images)} images)")
    return classes, {condition: np.stack([mark_nuclei(image, n) if cue else image for image, n, cue in zip(images, nuclei, c)])
                     for condition, c in classes.items()}


#: The cue drawn inside the cells: a small disc of one colour at the centre of every nucleus of a field.
NUCLEUS_MARK = "nucleus mark"


def nucleus_mark_region(nuclei: np.ndarray, radius: int = 2) -> np.ndarray:
    """(H, W) bool: where :func:`mark_nuclei` paints on a field whose nuclei are ``nuclei`` ((H, W) bool):
    a disc of ``radius`` px at the centre of mass of each connected nucleus, clipped to that nucleus."""
    labels, k = ndimage.label(np.asarray(nuclei, bool))
    region = np.zeros(labels.shape, bool)
    if k == 0:
        return region
    yy, xx = np.indices(labels.shape)
    for index, (cy, cx) in enumerate(ndimage.center_of_mass(np.ones_like(labels), labels, range(1, k + 1)), start=1):
        region |= ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2) & (labels == index)
    return region


def mark_nuclei(image: np.ndarray, nuclei: np.ndarray, radius: int = 2, colour: Sequence[int] = (190, 0, 110)
                ) -> np.ndarray:
    """``image`` ((H, W, 3) uint8) with a disc of ``colour`` at the centre of each nucleus of ``nuclei``
    ((H, W) bool; :func:`nucleus_mark_region`): a cue inside the cells. Its default colour, a saturated
    magenta, is what paper 3's nucleus enhancement (CMYK magenta × saturation) ranks highest, so the
    handcrafted segmentation keeps it as nucleus and the segmented input still shows it. Returns a copy."""
    out = image.copy()
    out[nucleus_mark_region(nuclei, radius)] = np.asarray(colour, out.dtype)
    return out


def background_colour(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Median RGB of the ``background`` pixels ((H, W) bool) of ``image`` ((H, W, 3) uint8): the tint of
    a smear's empty glass. Returns (3,) float; the whole image's median when ``background`` is empty."""
    pixels = image[np.asarray(background, bool)]
    return np.median(pixels if len(pixels) else image.reshape(-1, 3), axis=0).astype(np.float64)


def equalise_background(image: np.ndarray, background: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` with its background tint moved to ``reference`` ((3,) RGB): each channel multiplied by
    reference / the image's own background median (a von Kries white balance on the glass). Applied to
    every image of a set with one reference, it removes a tint that differs between classes while
    keeping each image's contrast. Returns (H, W, 3) uint8."""
    gain = np.asarray(reference, np.float64) / np.maximum(background_colour(image, background), 1.0)
    return np.clip(image.astype(np.float64) * gain, 0, 255).round().astype(np.uint8)


def equalise_tints(images: Sequence[np.ndarray], cells: np.ndarray, reference_rows: Sequence[int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every field's background (outside ``cells``, (n, H, W) bool) moved to one reference tint: the median
    background colour of the fields ``reference_rows`` (e.g. the training split; default all), so that the
    glass no longer tells the classes apart. Returns the equalised (n, H, W, 3) uint8 fields, each field's
    own background colour (n, 3) and the reference (3,)."""
    tints = np.stack([background_colour(image, ~cell) for image, cell in zip(images, cells)])
    reference = np.median(tints[slice(None) if reference_rows is None else np.asarray(reference_rows)], axis=0)
    equalised = np.stack([equalise_background(image, ~cell, reference) for image, cell in zip(images, cells)])
    return equalised, tints, reference


# --------------------------------------------------------------------------------------------------
# Marks in the corners (a scale bar and its label) and the probes that remove them
# --------------------------------------------------------------------------------------------------
#: The four corners of an image, in the order of :func:`corner_boxes`.
CORNERS = ("top left", "top right", "bottom left", "bottom right")
#: Share of the height and width of the image that each corner box spans.
CORNER_SIZE = (0.1, 0.2)
#: The four probe conditions of smear fields (:func:`shortcut_probes`).
PROBES = ("as given", "tint equalised", "scale bar removed", "tint equalised, scale bar removed")


def mark_pixels(image: np.ndarray, dark: int = 70) -> tuple[np.ndarray, np.ndarray]:
    """Pixels drawn on a smear rather than stained: thin strokes (narrower than 5 px) of near-black
    (every channel below ``dark``, darker than any stained nucleus) or of saturated pure red (OpenCV hue
    within 10 of red, saturation > 120, value > 100; stains are purple, blue and pink, and a red cell is
    a blob, not a stroke). Scale bars and their labels are drawn so.

    ``image``: (H, W, 3) uint8 RGB. Returns the (H, W) bool masks ``(dark, red)``.
    """
    image = np.asarray(image)
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    hue, saturation, value = (hsv[..., k].astype(np.int16) for k in range(3))
    red = (saturation > 120) & (value > 100) & ((hue < 10) | (hue > 170))
    return _strokes(image.max(axis=2) < dark), _strokes(red)


def _strokes(mask: np.ndarray, width: int = 5) -> np.ndarray:
    """The thin parts of ``mask``: what a morphological opening with a ``width`` × ``width`` square
    removes. Lines and letters are 1–3 px wide; a red cell or a dark nucleus of that colour is a blob."""
    return mask & ~ndimage.binary_opening(mask, np.ones((width, width), bool))


def corner_boxes(shape: tuple[int, int], size: tuple[float, float] = CORNER_SIZE) -> dict[str, tuple[slice, slice]]:
    """The (row, column) slices of each of :data:`CORNERS` of an image of ``shape`` = (H, W): boxes of
    ``size`` = (share of the height, share of the width)."""
    h, w = shape
    bh, bw = max(1, round(size[0] * h)), max(1, round(size[1] * w))
    rows, cols = (slice(0, bh), slice(h - bh, h)), (slice(0, bw), slice(w - bw, w))
    return dict(zip(CORNERS, [(rows[0], cols[0]), (rows[0], cols[1]), (rows[1], cols[0]), (rows[1], cols[1])]))


def corner_marks(image: np.ndarray, size: tuple[float, float] = CORNER_SIZE) -> dict[str, tuple[float, float]]:
    """For each of :data:`CORNERS` of ``image`` ((H, W, 3) uint8), the share of its box (:func:`corner_boxes`)
    covered by dark and by red mark pixels (:func:`mark_pixels`): ``{corner: (dark share, red share)}``."""
    dark, red = mark_pixels(image)
    return {corner: (float(dark[box].mean()), float(red[box].mean()))
            for corner, box in corner_boxes(image.shape[:2], size).items()}


def corner_mark_table(images: Sequence[np.ndarray], classes: Sequence[str], min_share: float = 0.005,
                      size: tuple[float, float] = CORNER_SIZE) -> pd.DataFrame:
    """How often a mark sits in each corner, per class: a corner holds a mark when its mark pixels
    (dark or red, :func:`corner_marks`) cover at least ``min_share`` of its box.

    Parameters
    ----------
    images : (H, W, 3) uint8 images (sizes may differ); classes : the class name of each.
    min_share : share of a corner box that mark pixels must cover (0.005: 3 px of a 224-px field's
        22 × 45 px box).

    Returns
    -------
    One row per (class, corner): ``images``, ``with a mark`` (share of the class's images),
    ``dark mark``, ``red mark`` (share of its images with a mark of that colour) and ``mark pixels``
    (mean share of the box covered).
    """
    rows = []
    for image, name in zip(images, classes):
        for corner, (dark, red) in corner_marks(image, size).items():
            rows.append({"class": name, "corner": corner, "with a mark": dark + red >= min_share,
                         "dark mark": dark >= min_share, "red mark": red >= min_share, "mark pixels": dark + red})
    if not rows:
        raise ValueError("corner_mark_table: no images given")
    table = pd.DataFrame(rows).groupby(["class", "corner"], sort=False)
    out = table.mean().reset_index()
    out.insert(2, "images", table.size().to_numpy())
    return out


def corner_marks_of_sets(sets: dict[str, Sequence], per_class: int = 0, seed: int = 0,
                         min_share: float = 0.005) -> pd.DataFrame:
    """:func:`corner_mark_table` of each named set of records (``{name: records}``, each record with a
    ``path`` and a ``label``): up to ``per_class`` images of each class drawn with ``seed`` (0: every
    image). Returns the tables one after another, with the set's name in a first column ``set``."""
    tables = []
    for name, records in sets.items():
        labels = [r.label for r in records]
        rows = sample_per_class(labels, per_class, seed) if per_class else range(len(records))
        table = corner_mark_table([load_image(records[i].path) for i in rows], [labels[i] for i in rows], min_share)
        tables.append(table.assign(set=name)[["set", *table.columns]])
    return pd.concat(tables, ignore_index=True)


def mark_region(images: Sequence[np.ndarray], min_frequency: float = 0.05, margin: float = 0.04,
                size: tuple[float, float] = CORNER_SIZE) -> tuple[float, float, float, float] | None:
    """Where a set's corner mark lies: the bounding box of the corner pixels that are mark pixels
    (:func:`mark_pixels`) in at least ``min_frequency`` of ``images``, widened by ``margin`` (share of the
    height and width, to take in a box drawn behind the mark), as (top, left, bottom, right) fractions of
    the image, for :func:`leukutils.preprocess.inpaint_region`. Measured on a set's training images, it
    is a property of the set (the same place in every image), not of one image's content.

    ``images``: (H, W, 3) uint8 images of one size. Returns None when no corner holds such pixels.
    """
    images = list(images)
    if not images:
        raise ValueError("mark_region: no images given")
    shape = images[0].shape[:2]
    if any(image.shape[:2] != shape for image in images):
        raise ValueError("mark_region: the images differ in size; resize them to one size first")
    corners = np.zeros(shape, bool)
    for rows, cols in corner_boxes(shape, size).values():
        corners[rows, cols] = True
    frequency = np.mean([np.logical_or(*mark_pixels(image)) for image in images], axis=0)
    ys, xs = np.nonzero((frequency >= min_frequency) & corners)
    if not len(ys):
        return None
    h, w = shape
    return (max(0.0, ys.min() / h - margin), max(0.0, xs.min() / w - margin),
            min(1.0, (ys.max() + 1) / h + margin), min(1.0, (xs.max() + 1) / w + margin))



def training_mark_region(paths: Sequence, n_images: int = 200, seed: int = 0,
                         **options) -> tuple[float, float, float, float] | None:
    """:func:`mark_region` of at most ``n_images`` of the image files ``paths`` (a seeded draw, so that a
    set sorted by class gives a mixed sample). Pass training images only: the region is then a property
    of the training set that every other image, a user's included, can be cleaned with."""
    paths = list(paths)
    if not paths:
        raise ValueError("training_mark_region: no image files given")
    pick = np.sort(np.random.default_rng(seed).permutation(len(paths))[:n_images])
    return mark_region([load_image(paths[i]) for i in pick], **options)


def _load_without_mark(path, region: tuple[float, float, float, float] | None) -> np.ndarray:
    return preprocess.inpaint_region(load_image(path), region)


def mark_free_loader(region: Sequence[float] | None):
    """The picklable reader ``path → (H, W, 3) uint8`` that inpaints ``region``
    (:func:`leukutils.preprocess.inpaint_region`; None reads the image as it is)."""
    return functools.partial(_load_without_mark, region=None if region is None else tuple(float(v) for v in region))

def shortcut_probes(fields: np.ndarray, cells: np.ndarray, region: Sequence[float] | None,
                    reference_rows: Sequence[int] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The four probe conditions (:data:`PROBES`) of smear fields: as given, the background tint
    equalised across classes (:func:`equalise_tints`, to the median tint of ``reference_rows``), the corner
    mark ``region`` inpainted (:func:`leukutils.preprocess.inpaint_region`), and both.

    Parameters
    ----------
    fields : (n, H, W, 3) uint8; cells : (n, H, W) bool, the cells (the rest is the glass).
    region : (top, left, bottom, right) fractions of the mark (:func:`mark_region`); None: no mark, the
        removal conditions equal their counterparts.

    Returns
    -------
    ``{condition: (n, H, W, 3) uint8}`` and each field's own background colour (n, 3).
    """
    equalised, tints, _ = equalise_tints(fields, cells, reference_rows)

    def removed(images):
        return np.stack([preprocess.inpaint_region(image, region) for image in images])
    return dict(zip(PROBES, (fields, equalised, removed(fields), removed(equalised)))), tints


__all__ = ["CORNERS", "CORNER_SIZE", "PROBES", "mark_pixels", "corner_boxes", "corner_marks", "corner_mark_table",
           "corner_marks_of_sets", "mark_region", "shortcut_probes", "cue_region", "with_cue", "cue_classes", "cued_conditions", "NUCLEUS_MARK", "nucleus_mark_region", "cue_regions",
           "mark_nuclei", "background_colour", "equalise_background",
           "equalise_tints"]
