"""How well an attribution map finds where the evidence lies: scores of (n, H, W) maps against (n, H, W)
ground-truth masks, and two maps that know nothing about the image, as floors.

* :func:`relevance_mass` — the share of each map's sum inside its mask (relevance mass accuracy,
  Arras et al. 2022; the energy-based pointing game of Score-CAM, Wang et al. 2020).
* :func:`localisation_scores` — relevance mass, pointing game and AUC of each map, one row per image
  (pointing game and AUC from Quantus).
* :func:`baseline_maps` — a random map and a centred Gaussian.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd

LOCALISATION_METRICS = ("relevance mass", "pointing game", "AUC")


def _check_maps(maps: np.ndarray, masks: np.ndarray, where: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    maps, masks = np.asarray(maps, dtype), np.asarray(masks, bool)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(f"{where}: need (n, H, W) maps and masks of one shape, got {maps.shape} and {masks.shape}")
    if (maps < 0).any():
        raise ValueError(f"{where}: maps must be non-negative (CAMs after ReLU, or shifted baselines)")
    return maps, masks


def relevance_mass(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each map's total inside its mask, e.g. how much of a CAM lies on the nucleus.

    Parameters
    ----------
    maps : (n, H, W) non-negative float maps (as :func:`leukutils.explain.cam_heatmaps` returns them).
    masks : (n, H, W) bool regions of interest, one per map.

    Returns
    -------
    (n,) float64 in [0, 1]; NaN for an all-zero map, which points nowhere. Compare with the masks' share
    of the image (``masks.mean(axis=(1, 2))``), what a map spread evenly scores.
    """
    maps, masks = _check_maps(maps, masks, "relevance_mass", np.float64)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full(len(total), np.nan), where=total > 0)


def _quantus_metrics() -> dict[str, Callable]:
    import quantus  # imported here: Quantus is slow to import and only notebook 04 needs it

    options = dict(disable_warnings=True, display_progressbar=False)
    return {"pointing game": quantus.PointingGame(**options), "AUC": quantus.AUC(**options)}


def localisation_scores(maps: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Localisation metrics of each map against its ground-truth mask.

    Parameters
    ----------
    maps : (n, H, W) non-negative float attribution maps (CAMs, baselines).
    masks : (n, H, W) bool ground truth: where the evidence for the explained class lies.

    Returns
    -------
    DataFrame with one row per image and the columns of :data:`LOCALISATION_METRICS`:
    ``relevance mass`` (:func:`relevance_mass`), ``pointing game`` (1 when the map's maximum lies in the
    mask; Zhang et al. 2018; Quantus) and ``AUC`` (ROC AUC of the map's values as a score for mask
    membership; Fawcett 2006; Quantus). A map that is constant, or an image whose mask is empty or full,
    scores NaN (no location to judge).
    """
    maps, masks = _check_maps(maps, masks, "localisation_scores", np.float32)
    scores = pd.DataFrame(np.nan, index=range(len(maps)), columns=list(LOCALISATION_METRICS))
    ok = masks.any(axis=(1, 2)) & ~masks.all(axis=(1, 2)) & (np.ptp(maps, axis=(1, 2)) > 0)
    if not ok.any():
        return scores
    scores.loc[ok, "relevance mass"] = relevance_mass(maps[ok], masks[ok])
    a, s = maps[ok][:, None], masks[ok][:, None].astype(np.float32)
    x, y = np.zeros_like(a), np.zeros(int(ok.sum()), np.int64)  # Quantus wants inputs; localisation ignores them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, metric in _quantus_metrics().items():
            scores.loc[ok, name] = np.asarray(metric(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s,
                                                     channel_first=True), np.float64)
    return scores


def baseline_maps(n: int, shape: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Two explanations that know nothing about the image, as floors for the localisation scores:
    ``random`` (uniform noise, seeded) and ``centred Gaussian`` (σ a quarter of the shorter side).
    Returns name → (n, H, W) float32 maps in [0, 1]."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    sigma = min(h, w) / 4
    gaussian = np.exp(-(((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) / (2 * sigma ** 2))).astype(np.float32)
    noise = np.random.default_rng(seed).uniform(size=(n, h, w)).astype(np.float32)
    return {"random": noise, "centred Gaussian": np.repeat(gaussian[None], n, axis=0)}


__all__ = ["LOCALISATION_METRICS", "relevance_mass", "localisation_scores", "baseline_maps"]
