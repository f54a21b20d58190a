"""Measures of how close synthetic images are to real ones (measured, not asserted).

* :func:`hsv_statistics` – colour statistics (hue, saturation, value) of a set of images, for the whole
  field and for its darkest pixels (nuclei), to compare a synthetic set with a real one.
* :func:`otsu_nucleus` / :func:`nucleus_recovery` – a plain Otsu threshold on a nucleus-contrast channel
  (CMYK magenta × HSV saturation) and the share of images whose nucleus it recovers with IoU ≥ 0.8 against
  the ground-truth mask (:func:`leukutils.metrics.mask_scores`): a check that nuclei stand out the way
  they do in real stained smears.

* :func:`sample_images`, :func:`set_tiles` – images of named sets of records, and tile rows of them
  (real next to synthetic, D-F2); :func:`recovery_table` – D-T2, with bootstrap intervals over images.

Figures of image sets are drawn with :func:`leukutils.plots.tile_grid` and
:func:`leukutils.plots.contour_overlay`.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
from skimage.filters import threshold_otsu

from ...metrics import mask_scores, summarise
from ...plots import contour_overlay
from ...preprocess import nucleus_enhancement
from ..readers import load_image, load_mask
from ..records import sample_records
from .cells import CELL_TYPES
from .cues import apply_cue
from .smear import render_cell


def _hsv(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: hue in degrees [0, 360), saturation and value in [0, 1]."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] *= 360.0 / 256.0
    hsv[..., 1:] /= 255.0
    return hsv


def _circular(hue_deg: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted circular mean (degrees, [0, 360)) and circular standard deviation (degrees)."""
    angles = np.deg2rad(hue_deg)
    w = weights / max(weights.sum(), 1e-12)
    c, s = float((np.cos(angles) * w).sum()), float((np.sin(angles) * w).sum())
    length = min(max(np.hypot(c, s), 1e-12), 1.0)
    return float(np.rad2deg(np.arctan2(s, c)) % 360), float(np.rad2deg(np.sqrt(-2 * np.log(length))))


def hsv_statistics(images: Iterable[np.ndarray], dark_fraction: float = 0.1) -> dict[str, float]:
    """Colour statistics of a set of RGB images.

    Parameters
    ----------
    images : iterable of (H, W, 3) uint8
    dark_fraction : float
        Share of darkest pixels (lowest value) of each image taken as "nucleus-like" pixels.

    Returns
    -------
    dict
        ``n_images``; ``hue``, ``hue_sd`` (circular, degrees, saturation-weighted), ``saturation``,
        ``saturation_sd``, ``value``, ``value_sd`` over all pixels; ``dark_hue``, ``dark_saturation``,
        ``dark_value`` over the darkest pixels; ``background_value`` (90th percentile of value).
    """
    hues, sats, vals, dark, background = [], [], [], [], []
    n = 0
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"hsv_statistics: expected (H, W, 3) RGB images, got shape {image.shape}")
        hsv = _hsv(image).reshape(-1, 3)
        step = max(1, len(hsv) // 20000)          # a fixed subsample per image keeps sets comparable
        sample = hsv[::step]
        hues.append(sample[:, 0])
        sats.append(sample[:, 1])
        vals.append(sample[:, 2])
        k = max(1, int(dark_fraction * len(sample)))
        dark.append(sample[np.argpartition(sample[:, 2], k - 1)[:k]])
        background.append(np.percentile(sample[:, 2], 90))
        n += 1
    if n == 0:
        raise ValueError("hsv_statistics: no images")
    h, s, v = np.concatenate(hues), np.concatenate(sats), np.concatenate(vals)
    d = np.concatenate(dark)
    hue, hue_sd = _circular(h, s)
    dark_hue, _ = _circular(d[:, 0], d[:, 1])
    return dict(n_images=n, hue=hue, hue_sd=hue_sd, saturation=float(s.mean()), saturation_sd=float(s.std()),
                value=float(v.mean()), value_sd=float(v.std()), dark_hue=dark_hue,
                dark_saturation=float(d[:, 1].mean()), dark_value=float(d[:, 2].mean()),
                background_value=float(np.mean(background)))


def otsu_nucleus(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: Otsu threshold of the nucleus contrast (no filtering, no morphology).

    ``image``: (H, W, 3) uint8 RGB. The contrast is :func:`leukutils.preprocess.nucleus_enhancement`
    (float32, CMYK magenta × HSV saturation); a constant contrast gives an all-False mask.
    """
    channel = nucleus_enhancement(image)
    if channel.max() - channel.min() < 1e-6:
        return np.zeros(channel.shape, bool)
    return channel > threshold_otsu(channel)


def nucleus_iou(images: Iterable[np.ndarray], nuclei: Iterable[np.ndarray]) -> np.ndarray:
    """(n,) float: IoU of :func:`otsu_nucleus` of each image against its ground-truth nucleus.

    ``images``: (H, W, 3) uint8; ``nuclei``: matching (H, W) bool ground-truth nucleus masks.
    """
    return np.array([mask_scores(otsu_nucleus(im), np.asarray(m, bool))["iou"] for im, m in zip(images, nuclei)],
                    dtype=float)


def nucleus_recovery(images: Iterable[np.ndarray], nuclei: Iterable[np.ndarray], threshold: float = 0.8
                     ) -> dict[str, float]:
    """How often a plain Otsu recovers the nucleus.

    ``images``: (H, W, 3) uint8; ``nuclei``: matching (H, W) bool ground-truth nucleus masks.
    Returns ``n_images``, ``mean_iou``, ``median_iou`` and ``recovered`` (share with IoU ≥ ``threshold``).
    """
    scores = nucleus_iou(images, nuclei)
    if scores.size == 0:
        raise ValueError("nucleus_recovery: no images")
    return dict(n_images=int(scores.size), mean_iou=float(scores.mean()), median_iou=float(np.median(scores)),
                recovered=float((scores >= threshold).mean()))


def compare_table(sets: dict[str, Iterable[np.ndarray]]) -> pd.DataFrame:
    """One row of :func:`hsv_statistics` per named image set (D-T1): ``dataset``, ``n`` (images), the
    statistics, and ``interval`` and ``seeds`` saying why they have neither (the ``_sd`` columns are
    spreads over pixels, not over seeds)."""
    rows = [{"dataset": name, **hsv_statistics(images)} for name, images in sets.items()]
    return pd.DataFrame(rows).rename(columns={"n_images": "n"}).assign(
        interval="none: statistics pooled over the pixels of every image", seeds="none: no model")


def sample_images(records: Sequence, n: int, seed: int = 0, ordered: bool = True) -> list[np.ndarray]:
    """The (H, W, 3) uint8 images of ``n`` records drawn with ``seed`` (:func:`leukutils.data.records.sample_records`)."""
    return [load_image(r.path) for r in sample_records(records, n, seed, ordered)]


def set_tiles(sets: Mapping[str, Sequence], n: int, seed: int = 0, outlined: Sequence[str] = ()
              ) -> tuple[list[list[np.ndarray]], list[str]]:
    """Rows of ``n`` random images per named set of records, for :func:`leukutils.plots.tile_grid` (D-F2).

    Parameters
    ----------
    sets : set name (``"JTSC real"``) → records; one row each, in this order.
    n, seed : images per row, drawn with ``seed`` in the order drawn.
    outlined : name prefixes of the sets whose tiles carry their ground-truth nucleus outline (cyan).

    Returns
    -------
    rows : lists of (H, W, 3) uint8 tiles; row_labels : each set's name, its last word on a second line.
    """
    rows = []
    for name, records in sets.items():
        picked = sample_records(records, n, seed, ordered=False)
        images = [load_image(r.path) for r in picked]
        if name.startswith(tuple(outlined)):
            images = [contour_overlay(im, load_mask(r.mask_path) == 255) for im, r in zip(images, picked)]
        rows.append(images)
    return rows, ["\n".join(name.rsplit(" ", 1)) for name in sets]


def recovery_table(sets: Mapping[str, Sequence], n: int, seed: int = 0, n_boot: int = 1000,
                   threshold: float = 0.8) -> pd.DataFrame:
    """Otsu nucleus recovery (:func:`nucleus_iou`) on ``n`` records per named set, with intervals (D-T2).

    Parameters
    ----------
    sets : set name → records with nucleus masks (255 = nucleus).
    n, seed : records per set, drawn with ``seed`` (in their order); ``seed`` also seeds the bootstrap.
    n_boot : bootstrap resamples of the images (:func:`leukutils.metrics.summarise`).
    threshold : the IoU from which a nucleus counts as recovered.

    Returns
    -------
    DataFrame, one row per set: ``set``, ``n`` (images), ``mean_iou`` with ``mean_iou low``/``high``,
    ``median_iou``, ``recovered`` (share with IoU ≥ ``threshold``) with its interval, and ``seeds``
    (none: no model is involved).
    """
    per_image = []
    for name, records in sets.items():
        picked = sample_records(records, n, seed)
        iou = nucleus_iou([load_image(r.path) for r in picked], [load_mask(r.mask_path) == 255 for r in picked])
        per_image.append(pd.DataFrame({"set": name, "iou": iou, "recovered": (iou >= threshold).astype(float)}))
    per_image = pd.concat(per_image, ignore_index=True)
    table = summarise(per_image, "set", ["iou", "recovered"], n_boot=n_boot, seed=seed)
    table = table.rename(columns={"iou": "mean_iou", "iou low": "mean_iou low", "iou high": "mean_iou high"})
    table["median_iou"] = per_image.groupby("set", sort=False)["iou"].median().to_numpy()
    table["seeds"] = "none: no model"
    return table[["set", "n", "mean_iou", "mean_iou low", "mean_iou high", "median_iou", "recovered", "recovered low",
                  "recovered high", "seeds"]]


def gallery(rng: np.random.Generator, size: int = 112):
    """What the generator draws, as rows of tiles for :func:`leukutils.plots.tile_grid` (D-F3): every
    cell type twice, the first five with their ground-truth outlines (nucleus cyan, cell yellow), and a
    lymphoblast without and with each shortcut cue.

    Returns
    -------
    rows : list of 4 lists of (size, size, 3) uint8 tiles; row_labels : 4 names; tile_labels : per row.
    """
    types = list(CELL_TYPES)
    first = [render_cell(rng, t, size=size)[0] for t in types]
    second = [render_cell(rng, t, size=size)[0] for t in types]
    outlines = []
    for t in types[:5]:
        image, nucleus, cytoplasm = render_cell(rng, t, size=size)
        outlines.append(contour_overlay(contour_overlay(image, nucleus | cytoplasm, (255, 255, 0)), nucleus))
    base = render_cell(rng, "lymphoblast", size=size)[0]
    cues = [base] + [apply_cue(base, kind, 1, 2) for kind in ("tint", "corner", "scalebar")]
    return ([first, second, outlines, cues], ["cell types", "another draw", "ground truth", "cues"],
            [types, [""] * len(types), types[:5], ["none", "tint", "corner", "scale bar"]])
