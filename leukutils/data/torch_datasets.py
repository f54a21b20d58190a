"""Datasets for training: image files with class labels, image/mask pairs for the U-Net, and detection
samples (image, boxes, labels) read from records."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .readers import load_image


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
        self.loader = load_image if loader is None else loader
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


def sample_per_class(labels: Sequence, n_per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of at most ``n_per_class`` items of each class, chosen at random with ``seed``, sorted.

    Classes are visited in sorted order, each drawing from one generator; a class with fewer items
    keeps them all. ``labels``: (n,) class labels of any type.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        keep += sorted(rng.choice(members, min(n_per_class, len(members)), replace=False).tolist())
    return np.array(sorted(keep), dtype=np.int64)


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


# --------------------------------------------------------------------------------------------------
# Image/mask pairs for the U-Net
# --------------------------------------------------------------------------------------------------

def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) image → (size, size, 3), area interpolation (the U-Net's input resize)."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W) uint8 mask → (size, size), nearest-neighbour interpolation (labels stay 0/1).

    Pixel centres are aligned as in :func:`resize_image` (OpenCV's ``INTER_NEAREST_EXACT``). OpenCV's
    plain ``INTER_NEAREST`` samples source pixel ``floor(x · scale)`` instead of the one under the
    output pixel's centre, which shifts the mask up and left of its image by up to half an output pixel.
    """
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)


class SegmentationDataset(Dataset):
    """Images and nucleus masks as tensors for the U-Net.

    ``images``: sequence of (H, W, 3) uint8 RGB; ``masks``: sequence of (H, W) bool (same sizes, clear
    error otherwise); ``size``: side the pair is resized to (:func:`resize_image`, :func:`resize_mask`);
    ``augment``: optional albumentations transform called as ``augment(image=..., mask=...)`` (applied
    before the resize).
    Items are ``(image (3, size, size) float32 in [0, 1], mask (1, size, size) float32 in {0, 1})``.
    """

    def __init__(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], size: int,
                 augment: Callable | None = None):
        if len(images) != len(masks):
            raise ValueError(f"SegmentationDataset: {len(images)} images but {len(masks)} masks")
        for i, (image, mask) in enumerate(zip(images, masks)):
            if image.shape[:2] != mask.shape[:2]:
                raise ValueError(f"SegmentationDataset: image {i} is {image.shape[:2]} but its mask is "
                                 f"{mask.shape[:2]}; masks must have their image's height and width")
        self.images, self.masks, self.size, self.augment = images, masks, size, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index]
        mask = np.asarray(self.masks[index]).astype(np.uint8)
        if self.augment is not None:
            out = self.augment(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        image, mask = resize_image(image, self.size), resize_mask(mask, self.size)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255)
        y = torch.from_numpy(mask[None].astype(np.float32))
        return x, y


# --------------------------------------------------------------------------------------------------
# Detection samples: (image (H, W, 3) uint8, boxes (n, 4) float x0, y0, x1, y1 px, labels (n,) int >= 1)
# --------------------------------------------------------------------------------------------------

def detection_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB → (3, H, W) float32 in [0, 1], the input torchvision's detectors expect."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detector input must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255)


def detection_target(boxes: np.ndarray, labels: np.ndarray) -> dict[str, torch.Tensor]:
    """torchvision's target dict: ``boxes`` (n, 4) float32 px and ``labels`` (n,) int64 >= 1."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1))
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    if len(labels) and labels.min() < 1:
        raise ValueError("detector labels must be >= 1 (0 is the background)")
    return {"boxes": boxes, "labels": labels}


def flip_left_right(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror an (H, W, 3) image and its (n, 4) ``x0, y0, x1, y1`` boxes left to right."""
    w = image.shape[1]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    return image[:, ::-1], boxes


def samples_from_records(records: Sequence, classes: Sequence[str], load_image: Callable) -> "RecordSamples":
    """Detection samples from records with boxes, keeping the boxes whose label is in ``classes``
    (mapped to 1..K in that order). Images are loaded lazily, one at a time."""
    return RecordSamples(records, classes, load_image)


class RecordSamples:
    """Sequence of ``(image, boxes, labels)`` read from records on demand (see :func:`samples_from_records`)."""

    def __init__(self, records: Sequence, classes: Sequence[str], load_image: Callable):
        self.records, self.classes, self.load_image = list(records), list(classes), load_image
        for record in self.records:
            if record.boxes is None or record.box_labels is None:
                raise ValueError(f"detection sample {record.path} has no boxes; the detector needs box annotations")

    def __len__(self) -> int:
        return len(self.records)

    def target(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) float32 and labels (n,) int64 (1..K) of sample ``i``."""
        record = self.records[i]
        names = np.asarray(record.box_labels, dtype=object)
        keep = np.isin(names, self.classes)
        labels = np.array([self.classes.index(n) + 1 for n in names[keep]], dtype=np.int64)
        return np.asarray(record.boxes, np.float32).reshape(-1, 4)[keep], labels

    def __getitem__(self, i: int):
        boxes, labels = self.target(i)
        return self.load_image(self.records[i].path), boxes, labels

    def image(self, i: int) -> np.ndarray:
        return self.load_image(self.records[i].path)
