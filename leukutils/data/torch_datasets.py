"""PyTorch datasets over image files: records (or paths) and integer labels in, (image, label) out."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


def to_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W, 3) uint8 RGB array → (3, H, W) float32 tensor in [0, 1]; tensors pass through as float."""
    if isinstance(image, torch.Tensor):
        return image.float()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"to_tensor: expected an (H, W, 3) RGB array, got shape {image.shape}")
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(scale)


def _path_of(item) -> Path:
    return Path(item.path if hasattr(item, "path") else item)


class ImageDataset(Dataset):
    """Images read from files, with integer class labels.

    Parameters
    ----------
    records_or_paths : sequence of :class:`leukutils.data.records.Record` (their ``path`` is read)
        or of file paths.
    labels : (n,) integer class indices, one per item.
    transform : optional callable on the (H, W, 3) uint8 RGB image returning an array (H', W', 3)
        (uint8 in [0, 255] or float in [0, 1]) or a (3, H', W') float tensor;
        e.g. :func:`leukutils.preprocess.paper1_transform`.
    loader : callable path → (H, W, 3) uint8 RGB array (default
        :func:`leukutils.data.readers.load_image`).
    cache : keep each transformed image in memory after its first read (only for deterministic
        transforms, i.e. no random augmentation).

    Items are ``(image, label)``: a (3, H, W) float32 tensor and an ``int``.
    """

    def __init__(self, records_or_paths: Sequence, labels: Sequence[int] | np.ndarray,
                 transform: Callable | None = None, loader: Callable | None = None, cache: bool = False):
        items = list(records_or_paths)
        if labels is None:
            raise ValueError("ImageDataset: labels are required (one integer class index per image); "
                             "map record.label strings to indices first, e.g. with a class list")
        labels = np.asarray(labels)
        if len(items) != len(labels):
            raise ValueError(f"ImageDataset: {len(items)} images but {len(labels)} labels")
        if len(items) == 0:
            raise ValueError("ImageDataset: no images given (empty split?)")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"ImageDataset: labels must be integer class indices, got dtype {labels.dtype}")
        self.paths = [_path_of(item) for item in items]
        self.labels = labels.astype(np.int64)
        self.transform = transform
        if loader is None:
            from .readers import load_image as loader
        self.loader = loader
        self._cache: dict[int, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self._cache is not None and index in self._cache:
            return self._cache[index], int(self.labels[index])
        image = self.loader(self.paths[index])
        if self.transform is not None:
            image = self.transform(image)
        tensor = to_tensor(image)
        if self._cache is not None:
            self._cache[index] = tensor
        return tensor, int(self.labels[index])


class TensorImageDataset(Dataset):
    """Images already in memory: (n, 3, H, W) float tensor and (n,) labels → (image, label) items."""

    def __init__(self, images: torch.Tensor, labels: Sequence[int] | np.ndarray):
        if len(images) != len(labels):
            raise ValueError(f"TensorImageDataset: {len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = np.asarray(labels).astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


def stack_images(dataset: Dataset, indices: Sequence[int] | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """All (or the chosen) items of an image dataset as an (n, 3, H, W) tensor and (n,) int labels."""
    indices = range(len(dataset)) if indices is None else indices
    pairs = [dataset[i] for i in indices]
    if not pairs:
        raise ValueError("stack_images: no items chosen")
    return torch.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.int64)


def undersample(labels: Sequence, seed: int = 0, max_per_class: int | None = None) -> np.ndarray:
    """Indices that balance the classes by random undersampling (paper 1), sorted.

    Every class keeps as many items as the smallest class has (or ``max_per_class`` if smaller),
    chosen at random with ``seed``. ``labels``: (n,) class labels of any type.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"undersample: need at least two classes, got {list(classes)}")
    keep = int(counts.min()) if not max_per_class else min(int(counts.min()), int(max_per_class))
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), keep, replace=False) for c in classes]
    return np.sort(np.concatenate(chosen))


def binary_labels(labels: Sequence[str], positive: Sequence[str]) -> np.ndarray:
    """(n,) int labels: 1 for items whose label is in ``positive`` (ALL), 0 otherwise.

    E.g. C-NMC ``all``/``hem`` with ``positive=["all"]``; Aria with ``positive=["Early", "Pre", "Pro"]``
    (Benign = hematogones = 0).
    """
    positive = set(positive)
    labels = list(labels)
    missing = positive - set(labels)
    if missing == positive:
        raise ValueError(f"binary_labels: none of the positive labels {sorted(positive)} occur; "
                         f"labels present: {sorted(set(labels))}")
    return np.array([int(label in positive) for label in labels], dtype=np.int64)
