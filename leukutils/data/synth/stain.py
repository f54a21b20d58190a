"""Stain and optics of a Wright/Giemsa smear: Beer–Lambert colour from stain concentrations.

Every structure is drawn as a concentration map of three dyes (all float32 (H, W), ≥ 0):

* ``azure``  – basophilic blue (cytoplasmic RNA),
* ``eosin``  – acidophilic pink/orange (red cells, eosinophil granules),
* ``purple`` – the azure–eosin (Romanowsky) complex bound to chromatin (nuclei).

:func:`to_rgb` turns the maps into an RGB image with ``I = I0 · exp(-Σ c_k · OD_k)``, where ``OD_k`` is
the optical density per unit concentration of dye ``k`` (one RGB vector per dye). A :class:`Stain`
(per subject or batch) perturbs these vectors and the background light: the batch effect.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

#: Reference optical densities per unit concentration, rows azure / eosin / purple, columns R, G, B.
REFERENCE_OD = np.array([
    [0.80, 0.50, 0.16],   # azure: absorbs red, pale-blue at low density
    [0.10, 0.72, 0.50],   # eosin: absorbs green, pink-red
    [0.62, 1.00, 0.32],   # chromatin complex: purple
], dtype=np.float32)

#: Reference background light (RGB in [0, 1]): the slightly warm white of a smear background.
REFERENCE_BACKGROUND = np.array([0.93, 0.89, 0.86], dtype=np.float32)


@dataclass(frozen=True)
class Stain:
    """Dye optical densities and illumination of one slide or batch.

    Attributes
    ----------
    od : ndarray
        (3, 3) float32 optical density per unit concentration, rows azure/eosin/purple, columns RGB.
    background : ndarray
        (3,) float32 background light in [0, 1] (the "white" of the field, with its tint).
    strength : float
        Overall staining intensity multiplier (under/over-staining).
    """

    od: np.ndarray
    background: np.ndarray
    strength: float = 1.0


#: Stain presets calibrated by eye and by HSV statistics on the real sets (see notebook 00): optical
#: densities (rows azure / eosin / purple) and background light. ``giemsa`` is a textbook May–Grünwald–
#: Giemsa look (C-NMC, ALL-IDB, FAB); ``bccd`` a greyish-lavender field with pale pink-grey red cells;
#: ``jtsc`` the yellow background and dark magenta nuclei of the JTSC camera; ``aria`` the bright bluish
#: field with lilac-grey red cells of the Aria ALL set.
PRESETS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "giemsa": (REFERENCE_OD, REFERENCE_BACKGROUND),
    "bccd": (np.array([[0.50, 0.40, 0.08], [0.02, 0.30, 0.40], [0.42, 0.47, 0.06]], np.float32),
             np.array([0.80, 0.80, 0.84], np.float32)),
    "jtsc": (np.array([[0.55, 0.45, 0.05], [0.03, 0.14, 0.10], [0.68, 1.45, 0.42]], np.float32),
             np.array([1.0, 0.98, 0.74], np.float32)),
    "aria": (np.array([[0.45, 0.35, 0.06], [0.22, 0.24, 0.06], [0.45, 0.80, 0.10]], np.float32),
             np.array([0.92, 0.94, 0.985], np.float32)),
}


def reference_stain(preset: str = "giemsa") -> Stain:
    """The un-shifted stain of a preset (see :data:`PRESETS`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown stain preset {preset!r}; choose one of {', '.join(PRESETS)}")
    od, background = PRESETS[preset]
    return Stain(od.copy(), background.copy(), 1.0)


def random_stain(rng: np.random.Generator, shift: float = 1.0, preset: str = "giemsa") -> Stain:
    """A per-subject stain: dye colours, dye strength and background tint jittered around a preset.

    ``shift`` scales every perturbation (0 → the preset itself, 1 → typical between-slide variation).
    """
    base = reference_stain(preset)
    od = base.od * np.exp(rng.normal(0.0, 0.12 * shift, size=(3, 3))).astype(np.float32)
    od *= np.exp(rng.normal(0.0, 0.10 * shift, size=(3, 1))).astype(np.float32)
    background = base.background + rng.normal(0.0, 0.025 * shift, size=3).astype(np.float32)
    strength = float(np.exp(rng.normal(0.0, 0.12 * shift)))
    return Stain(od.astype(np.float32), np.clip(background, 0.6, 1.0).astype(np.float32), strength)


def to_rgb(concentration: np.ndarray, stain: Stain, light: np.ndarray | None = None) -> np.ndarray:
    """Beer–Lambert rendering of dye concentrations.

    Parameters
    ----------
    concentration : ndarray
        (H, W, 3) float32 concentrations of azure, eosin, purple.
    stain : Stain
    light : ndarray, optional
        (H, W) or (H, W, 3) float32 multiplicative illumination (vignetting); 1 where absent.

    Returns
    -------
    ndarray
        (H, W, 3) float32 RGB in [0, 1].
    """
    # per-pixel linear map (OpenCV's transform: out[..., j] = Σ_k m[j, k] · in[..., k]) then exp
    matrix = (-(stain.od * stain.strength)).T.astype(np.float32)
    od = cv2.transform(np.ascontiguousarray(concentration, dtype=np.float32), matrix)
    rgb = np.exp(od, out=od)
    rgb *= stain.background
    if light is not None:
        rgb *= light if light.ndim == 3 else light[..., None]
    return rgb


@functools.lru_cache(maxsize=16)
def _vignetting(shape, strength, centre):
    out = _vignetting_uncached(shape, strength, centre)
    out.setflags(write=False)
    return out


def vignetting(shape: tuple[int, int], strength: float = 0.15, centre: tuple[float, float] | None = None
               ) -> np.ndarray:
    """(H, W) float32 illumination falling off radially from ``centre`` (default: image centre); read-only."""
    return _vignetting(tuple(int(v) for v in shape), float(strength), None if centre is None else tuple(centre))


def _vignetting_uncached(shape, strength, centre) -> np.ndarray:
    h, w = shape
    cy, cx = centre if centre is not None else ((h - 1) / 2, (w - 1) / 2)
    yy = (np.arange(h, dtype=np.float32) - cy)[:, None] / (0.5 * max(h, w))
    xx = (np.arange(w, dtype=np.float32) - cx)[None, :] / (0.5 * max(h, w))
    return (1.0 - strength * np.minimum(yy * yy + xx * xx, 2.0) / 2.0).astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float, smooth: bool = True
                 ) -> np.ndarray:
    """(H, W) float32 zero-mean, unit-variance noise smooth on ``scale_px`` pixels.

    Drawn on a coarse grid and resized (bicubic, or bilinear with ``smooth=False``: faster, for fields
    where the texture is faint), so the cost does not grow with the scale.
    """
    h, w = shape
    scale_px = max(float(scale_px), 0.5)
    gh, gw = max(2, int(np.ceil(h / scale_px)) + 1), max(2, int(np.ceil(w / scale_px)) + 1)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC if smooth else cv2.INTER_LINEAR)
    mean, std = cv2.meanStdDev(field)
    std = float(std[0, 0])
    field -= np.float32(mean[0, 0])
    if std > 1e-6:
        field *= np.float32(1.0 / std)
    return field


def defocus(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of sigma ``sigma_px`` (no-op below 0.3 px); any float or uint8 (H, W[, C]) array."""
    if sigma_px < 0.3:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma_px), borderType=cv2.BORDER_REFLECT)


def finish(rgb: np.ndarray, rng: np.random.Generator, blur_px: float = 0.6, noise: float = 0.012,
           jpeg_quality: int | None = None) -> np.ndarray:
    """Optics and camera: blur, shot/read noise, 8-bit quantisation and optional JPEG round trip.

    ``rgb``: (H, W, 3) float32 in [0, 1]. Returns (H, W, 3) uint8 RGB.
    """
    out = defocus(rgb, blur_px)
    if noise > 0:   # shot noise grows with the signal: sigma = noise · sqrt(I)
        grain = np.empty(out.shape, np.float32)
        cv2.setRNGSeed(int(rng.integers(2 ** 31 - 1)))   # OpenCV's generator, seeded from ours: fast
        cv2.randn(grain, 0.0, 1.0)
        grain *= cv2.sqrt(np.maximum(out, 0.05))
        out = cv2.scaleAdd(grain, float(noise), out)
    image = cv2.convertScaleAbs(out, alpha=255.0)   # rounds and saturates to uint8
    if jpeg_quality is not None:
        ok, buffer = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return image
