"""Image preprocessing shared by the notebooks: centred zoom, colour constancy, augmentation pipelines.

All functions take (H, W, 3) uint8 RGB arrays and return arrays of the same dtype unless said otherwise.
"""
from __future__ import annotations

import cv2
import numpy as np


def centred_zoom(image: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """Keep the central ``factor`` of the height and width and resize back to the input size (paper 1).

    ``image``: (H, W[, C]) array. ``factor`` in (0, 1]. Returns an array of the input's shape and dtype.
    """
    if not 0 < factor <= 1:
        raise ValueError(f"centred_zoom: factor must be in (0, 1], got {factor}")
    h, w = image.shape[:2]
    ch, cw = max(1, round(h * factor)), max(1, round(w * factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = image[top:top + ch, left:left + cw]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)


def colour_constancy(image: np.ndarray) -> np.ndarray:
    """Grey-world colour constancy (paper 3, Algorithm 1): each channel × mean grey / mean of channel.

    ``image``: (H, W, 3) uint8 RGB. Returns uint8 RGB, clipped to [0, 255]. A channel whose mean is 0
    is left at 0.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"colour_constancy: expected (H, W, 3) RGB, got shape {image.shape}")
    pixels = image.astype(np.float32)
    means = pixels.reshape(-1, 3).mean(axis=0)
    grey = means.mean()
    gains = np.divide(grey, means, out=np.zeros(3, np.float32), where=means > 0)
    return np.clip(pixels * gains, 0, 255).astype(np.uint8)
