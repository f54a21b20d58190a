"""Shortcut cues, planted and removed: a mark drawn on the fields of one class (:mod:`leukutils.data.synth.cues`)
and the two cues a real smear set carries, the tint of its glass and a scale bar in a corner.

Functions on arrays: (H, W, 3) uint8 images, (n, H, W, 3) stacks, (H, W) bool regions.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .data.synth import cues


def cue_region(kind: str, shape: tuple[int, int], n_classes: int = 2) -> np.ndarray:
    """(H, W) bool: where ``synth.cues.apply_cue`` draws cue ``kind`` (for any cue class) on an image of
    ``shape``; derived by drawing it, so it follows the cue's geometry wherever that is defined."""
    region = np.zeros(shape, bool)
    for cue in range(1, n_classes):
        grey = np.full((*shape, 3), 128, np.uint8)
        region |= (cues.apply_cue(grey, kind, cue, n_classes) != grey).any(axis=2)
    return region


def with_cue(images: np.ndarray, cue_classes: Sequence[int], kind: str, n_classes: int = 2) -> np.ndarray:
    """``images`` ((n, H, W, 3) uint8) with cue ``kind`` drawn for each image's cue class (0: none)."""
    return np.stack([cues.apply_cue(image, kind, int(c), n_classes) for image, c in zip(images, cue_classes)])


def cue_classes(labels: Sequence[int], rate: float, seed: int = 0, n_classes: int = 2) -> np.ndarray:
    """The cue class of each image: its label with probability ``rate``, else a uniformly drawn class
    (``synth.cues.cue_class``). ``rate`` 1: a perfect shortcut; 0: a cue independent of the label."""
    rng = np.random.default_rng(seed)
    return np.array([cues.cue_class(rng, int(label), n_classes, rate) for label in labels], np.int64)


def cued_conditions(images: np.ndarray, labels: np.ndarray, kind: str, rate: float, seed: int = 0
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Binary-labelled ``images`` ((n, H, W, 3) uint8, ``labels`` 0/1) under three cue conditions: ``as in
    training`` (the cue says the label at ``rate``, :func:`cue_classes`), ``absent`` and ``reversed``
    (drawn on the fields of class 0 only). Returns condition → (n,) cue class, and condition → the
    images with that cue drawn (:func:`with_cue`)."""
    labels = np.asarray(labels)
    classes = {"as in training": cue_classes(labels, rate, seed=seed), "absent": np.zeros_like(labels),
               "reversed": 1 - labels}
    return classes, {condition: with_cue(images, c, kind) for condition, c in classes.items()}


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


__all__ = ["cue_region", "with_cue", "cue_classes", "cued_conditions", "background_colour", "equalise_background",
           "equalise_tints", "mask_corner", "corner_region"]
