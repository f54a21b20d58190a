"""Shortcut cues: marks correlated with the label that a model may learn instead of the cells.

A cue has a *cue class* per image. With probability ``rate`` the cue class is the image's true class;
otherwise it is drawn uniformly among the classes (so ``rate = 0`` makes the cue independent of the
label, ``rate = 1`` makes it a perfect shortcut). Class 0 (the negative/benign class) draws no mark, so
in a binary task the cue is "present" for the positive class.

Kinds: ``tint`` (a colour cast of the whole image, different per class), ``corner`` (a small filled
square in the top-left corner), ``scalebar`` (a dark bar in the bottom-right corner, its length coding
the class, like the scale bars of some real datasets).
"""
from __future__ import annotations

import numpy as np

CUE_KINDS = (None, "tint", "corner", "scalebar")


def check_cue(kind: str | None, rate: float) -> None:
    if kind not in CUE_KINDS:
        raise ValueError(f"shortcut must be one of {CUE_KINDS}, got {kind!r}")
    if not 0 <= rate <= 1:
        raise ValueError(f"shortcut_rate must be in [0, 1], got {rate}")


def cue_class(rng: np.random.Generator, label_index: int, n_classes: int, rate: float) -> int:
    """The class a cue signals for an image of class ``label_index``: the true one with probability
    ``rate``, else a uniformly drawn one."""
    if rng.uniform() < rate:
        return int(label_index)
    return int(rng.integers(0, n_classes))


def apply_cue(image: np.ndarray, kind: str | None, cue: int, n_classes: int) -> np.ndarray:
    """Draw cue ``kind`` signalling class ``cue`` on a copy of ``image`` ((H, W, 3) uint8).

    Class 0 draws nothing; ``kind=None`` returns the image unchanged.
    """
    if kind is None or cue <= 0:
        return image
    out = image.copy()
    h, w = out.shape[:2]
    if kind == "tint":
        hue = 2 * np.pi * (cue - 1) / max(n_classes - 1, 1)
        cast = 1.0 + 0.07 * np.array([np.cos(hue), np.cos(hue - 2.1), np.cos(hue + 2.1)], np.float32)
        out = np.clip(out.astype(np.float32) * cast, 0, 255).astype(np.uint8)
    elif kind == "corner":
        side = max(4, round(0.06 * min(h, w)))
        colours = np.array([[30, 160, 60], [200, 120, 20], [40, 60, 200], [180, 40, 160], [20, 20, 20]])
        out[1:1 + side, 1:1 + side] = colours[(cue - 1) % len(colours)]
    elif kind == "scalebar":
        thickness = max(2, round(0.012 * h))
        length = round(w * (0.06 + 0.05 * (cue - 1) / max(n_classes - 1, 1)))
        y1, x1 = h - max(3, round(0.04 * h)), w - max(3, round(0.04 * w))
        out[y1 - thickness:y1, x1 - length:x1] = (15, 15, 15)
    else:
        raise ValueError(f"unknown cue kind {kind!r}")
    return out


def scale_bar(image: np.ndarray, length_px: int, colour=(25, 25, 25)) -> np.ndarray:
    """A scale bar of ``length_px`` pixels with a tiny label block in the bottom-right corner (present
    on every image of some datasets, hence no label information)."""
    out = image.copy()
    h, w = out.shape[:2]
    thickness = max(1, round(0.008 * h))
    y1, x1 = h - max(3, round(0.035 * h)), w - max(3, round(0.03 * w))
    out[y1 - thickness:y1, x1 - length_px:x1] = colour
    out[y1 - 3 * thickness - 2:y1 - thickness - 1, x1 - length_px:x1 - length_px + max(2, length_px // 3)] = colour
    return out
