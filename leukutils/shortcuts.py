"""Shortcut cues, planted and removed: a mark drawn on the fields of one class (:mod:`leukutils.data.synth.cues`)
and the two cues a real smear set carries, the tint of its glass and a scale bar in a corner.

Functions on arrays: (H, W, 3) uint8 images, (n, H, W, 3) stacks, (H, W) bool regions.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from .data.synth import cues


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


def mask_corner(image: np.ndarray, size: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """``image`` with its bottom-right ``size`` = (height, width) px filled with ``colour`` (e.g. its
    background colour): hides a scale bar drawn there. Returns a copy."""
    out = image.copy()
    h, w = size
    out[out.shape[0] - h:, out.shape[1] - w:] = np.asarray(colour).round().astype(out.dtype)
    return out


def corner_region(shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the bottom-right ``size`` = (height, width) px of an image of ``shape``, where
    :func:`mask_corner` paints."""
    return mask_corner(np.zeros((*shape, 1), np.uint8), size, [1])[..., 0] > 0


__all__ = ["cue_region", "with_cue", "cue_classes", "cued_conditions", "NUCLEUS_MARK", "nucleus_mark_region", "cue_regions",
           "mark_nuclei", "background_colour", "equalise_background",
           "equalise_tints", "mask_corner", "corner_region"]
