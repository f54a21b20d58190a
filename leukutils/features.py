"""Frozen-CNN cell features and their cache (paper 2).

The backbone never changes, so its features are computed once per cell (and per augmented view):
:class:`CellEncoder` runs a frozen extractor (:func:`leukutils.models.mil.build_extractor`) with a
cache keyed by the image's hash, and :class:`FeatureBank` keeps the features of a cell pool so that
every training stage, series length and ablation reads rows of the bank instead of running the
backbone again.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .models.mil import EXTRACTORS, POOL_DIM, build_extractor
from .preprocess import IMAGENET_MEAN, IMAGENET_STD
from .report import atomic_write_bytes


def to_input(images: np.ndarray, input_size: int) -> torch.Tensor:
    """(n, H, W, 3) uint8 RGB → (n, 3, input_size, input_size) float32, ImageNet-normalised."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (n, H, W, 3) uint8 cell images, got {images.shape} {images.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
    if x.shape[-2:] != (input_size, input_size):
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def image_hash(image: np.ndarray) -> str:
    """sha1 of an image's bytes, shape and dtype: the cache key of one cell image."""
    image = np.ascontiguousarray(image)
    digest = hashlib.sha1(image.tobytes())
    digest.update(f"{image.shape}{image.dtype}".encode())
    return digest.hexdigest()


def weights_hash(model: nn.Module) -> str:
    """sha1 over a model's parameters and buffers (identifies the exact frozen weights, random or not)."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


class CellEncoder:
    """Frozen backbone with a feature cache keyed by (architecture, weights, input size, image hash).

    ``encoder(images)`` returns the (n, D) features of (n, H, W, 3) uint8 images; images seen before
    are read from the cache instead of being run through the backbone again. With ``cache_dir`` the
    cache is also kept on disk (``<cache_dir>/<name>-<layer>-<weights sha1>-<size>.pt``), loaded when
    the encoder is built and written by :meth:`save`.

    Parameters
    ----------
    name, weights, input_size, layer : see :func:`leukutils.models.mil.build_extractor`.
    batch_size : images per backbone forward pass.
    device : torch device for the backbone.
    cache_dir : folder of the on-disk cache, or None for memory only.
    seed : when given, the weights that are random (no ImageNet weights at hand, or ``weights=None``) are
        drawn from a torch generator seeded with it, whatever ran before; torch's global random state
        is left as it was. None: drawn from (and advancing) the global state.
    """

    def __init__(self, name: str = "alexnet", weights: str | None = "imagenet", input_size: int = 224,
                 batch_size: int = 64, device: str | torch.device = "cpu", cache_dir: str | Path | None = None,
                 layer: str = "head", seed: int | None = None):
        self.name, self.input_size, self.batch_size = name, int(input_size), int(batch_size)
        self.device = torch.device(device)
        if seed is None:
            self.model = build_extractor(name, weights, input_size, layer).to(self.device)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.model = build_extractor(name, weights, input_size, layer).to(self.device)
        self.dim = POOL_DIM[name] if layer == "pool" and name in POOL_DIM else EXTRACTORS[name]
        self.key = f"{name}-{layer}-{weights_hash(self.model)}-{self.input_size}"
        self.cache: dict[str, torch.Tensor] = {}
        self.computed = 0  # images actually run through the backbone
        self.cache_file = None if cache_dir is None else Path(cache_dir) / f"{self.key}.pt"
        if self.cache_file is not None and self.cache_file.is_file():
            stored = torch.load(self.cache_file, map_location="cpu", weights_only=True)
            self.cache.update(zip(stored["hashes"], stored["features"]))

    @torch.no_grad()
    def compute(self, images: np.ndarray) -> torch.Tensor:
        """Run the backbone on ``images`` (n, H, W, 3) uint8, no cache: (n, D) float32 on the CPU."""
        outs = []
        for start in range(0, len(images), self.batch_size):
            x = to_input(images[start:start + self.batch_size], self.input_size).to(self.device)
            outs.append(self.model(x).float().cpu())
        self.computed += len(images)
        return torch.cat(outs) if outs else torch.zeros(0, self.dim)

    def __call__(self, images: np.ndarray) -> torch.Tensor:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        keys = [image_hash(im) for im in images]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self.cache}.values())
        if missing:
            feats = self.compute(images[missing])
            for i, f in zip(missing, feats):
                self.cache[keys[i]] = f.clone()
        if not keys:
            return torch.zeros(0, self.dim)
        return torch.stack([self.cache[k] for k in keys])

    def save(self) -> Path | None:
        """Write the cache to disk (atomically); returns the file, or None for a memory-only encoder."""
        if self.cache_file is None:
            return None
        hashes = sorted(self.cache)
        buffer = io.BytesIO()
        torch.save({"hashes": hashes, "features": torch.stack([self.cache[h] for h in hashes])}, buffer)
        atomic_write_bytes(self.cache_file, buffer.getvalue())
        return self.cache_file


class FeatureBank:
    """Frozen features of a pool of cells, ``n_views`` augmented views each, plus the blank image.

    ``bank.gather(series)`` turns (B, L) cell indices (``BLANK`` = -1 for padding) into (B, L, D)
    features; with ``generator`` given, each position reads a random view (augmentation at no
    backbone cost), else view 0 (the unaugmented crop).

    Attributes
    ----------
    features : (N, V, D) float32.
    blank : (D,) float32, the features of the blank padding image.
    """

    def __init__(self, features: torch.Tensor, blank: torch.Tensor):
        if features.ndim == 2:
            features = features[:, None]
        if features.ndim != 3 or blank.shape != features.shape[-1:]:
            raise ValueError(f"FeatureBank: need (N, V, D) features and (D,) blank, got "
                             f"{tuple(features.shape)} and {tuple(blank.shape)}")
        self.features, self.blank = features.float(), blank.float()
        # one table with the blank as the last row, so that a gather is a single index operation
        self._table = torch.cat([self.features, self.blank.expand(1, self.n_views, -1)])

    @classmethod
    def from_images(cls, encoder: CellEncoder, views: np.ndarray, blank_image: np.ndarray) -> "FeatureBank":
        """Encode ``views`` (N, V, s, s, 3) or (N, s, s, 3) uint8 and the blank image with ``encoder``."""
        views = np.asarray(views)
        if views.ndim == 4:
            views = views[:, None]
        n, v = views.shape[:2]
        feats = encoder(views.reshape(n * v, *views.shape[2:])).reshape(n, v, -1)
        return cls(feats, encoder(blank_image[None])[0])

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def n_views(self) -> int:
        return self.features.shape[1]

    @property
    def dim(self) -> int:
        return self.features.shape[2]

    def gather(self, series: np.ndarray | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, L) int indices → (B, L, D) features (blank rows for ``BLANK``)."""
        idx = torch.as_tensor(np.asarray(series), dtype=torch.long)
        if idx.numel() and (idx.max() >= len(self) or idx.min() < -1):
            raise IndexError(f"FeatureBank.gather: index out of range [-1, {len(self) - 1}]")
        idx = torch.where(idx < 0, torch.full_like(idx, len(self)), idx)
        if generator is None or self.n_views == 1:
            view = torch.zeros_like(idx)
        else:
            view = torch.randint(0, self.n_views, idx.shape, generator=generator)
        return self._table[idx, view]
