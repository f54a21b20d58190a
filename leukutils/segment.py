"""White-blood-cell nucleus segmentation (paper 3): handcrafted Algorithm 1, ensemble, masking.

Algorithm 1 of Diaz Resendiz et al. (2023), with the parameters of their Table A1 as named arguments:

1. grey-world colour constancy (:func:`leukutils.preprocess.colour_constancy`);
2. nucleus enhancement: CMYK magenta × HSV saturation (Hadamard product),
   :func:`leukutils.preprocess.nucleus_enhancement`;
3. bilateral filter (kernel 9, colour and spatial sigma 50, in 0–255 grey levels);
4. Otsu threshold;
5. closing (3 × 3);
6. hole filling;
7. area filter: connected components smaller than 150 px are removed.

The deep segmentation is the U-Net of :mod:`leukutils.models.unet`; the ensemble is the logical AND
of the two masks followed by an area opening (:func:`ensemble_masks`). :func:`apply_mask` turns a
mask into the "segmented" classifier input (nucleus kept, everything else black).

All functions take (H, W, 3) uint8 RGB images and (H, W) boolean masks and use OpenCV for the
per-pixel work. :func:`segment_nuclei_skimage` renders steps 3–7 with scikit-image and SciPy instead
(on the float enhancement of step 2), kept as the reference for tests and ``benchmarks/bench_segment.py``.
Reading classifier inputs from files (:class:`ClassifierInput`) builds on
:class:`leukutils.data.readers.ImageLoader`, which does the reading and caching.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from .data.readers import ImageLoader
from .data.torch_datasets import ImageDataset
from .metrics import bootstrap_ci, mask_scores, summarise
from .preprocess import _check_rgb_uint8 as _check_rgb
from .preprocess import colour_constancy, inpaint_region, nucleus_enhancement

__all__ = [
    "segment_nuclei", "segment_nuclei_skimage", "fill_holes", "remove_small_regions",
    "ensemble_masks", "apply_mask", "dilate_mask", "out_of_fold_dilation", "DILATION_CANDIDATES", "nucleus_found",
    "segment_many", "SegmentationRun", "ClassifierInput", "ClassifierImages", "score_masks", "compare_methods",
]


def _check_mask(mask: np.ndarray, shape: tuple[int, int], where: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{where}: expected an (H, W) mask, got shape {mask.shape}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{where}: mask shape {mask.shape} differs from image shape {tuple(shape)}; "
                         "resize the mask with nearest-neighbour interpolation to the image size first")
    return mask.astype(bool, copy=False)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a binary mask (background not connected to the border), via OpenCV flood fill.

    ``mask``: (H, W) bool. Returns (H, W) bool. Same result as ``scipy.ndimage.binary_fill_holes``.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    outside = padded.copy()
    cv2.floodFill(outside, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    # pixels still 0 after flooding the border are holes
    return mask | (outside[1:-1, 1:-1] == 0)


def remove_small_regions(mask: np.ndarray, min_area: int = 150, connectivity: int = 8) -> np.ndarray:
    """Binary area opening: drop connected regions of fewer than ``min_area`` pixels.

    ``mask``: (H, W) bool. ``connectivity``: 4 or 8. Returns (H, W) bool.
    """
    mask = np.asarray(mask, dtype=bool)
    if min_area <= 1 or not mask.any():
        return mask.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # label 0 is the background
    if keep[1:].all():  # nothing to drop (the usual case): skip the relabelling
        return mask.copy()
    return keep[labels]


def segment_nuclei(image: np.ndarray, bilateral_diameter: int = 9, bilateral_sigma_colour: float = 50.0,
                   bilateral_sigma_space: float = 50.0, closing_size: int = 3, min_area: int = 150,
                   dilation: int = 0, colour_correct: bool = True, return_steps: bool = False):
    """Handcrafted nucleus segmentation, Algorithm 1 of paper 3 with Table A1's parameters as defaults.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB.
    bilateral_diameter : bilateral filter kernel size in pixels (Table A1: 9).
    bilateral_sigma_colour, bilateral_sigma_space : bilateral sigmas, grey levels (0–255) and pixels
        (Table A1: 50 and 50).
    closing_size : side of the square closing element in pixels (Table A1: 3).
    min_area : smallest region kept, in pixels (Table A1: 150). The paper's images are 120×120 to
        640×480; scale it with the square of the magnification for very different pixel sizes.
    dilation : radius in pixels of a final dilation (default 0 = none). Table A1 lists a dilation of 4
        that the paper used for Raabin basophils only; it widens masks whose boundary is drawn
        outside the stained edge by the annotators.
    colour_correct : apply grey-world colour constancy first (Algorithm 1, step 1).
    return_steps : also return a dict of the intermediate images (for figures).

    Returns
    -------
    mask : (H, W) bool, True on nuclei. A constant image, or one where nothing survives the area
        filter, gives an all-False mask (check with :func:`nucleus_found`), not an error.
    steps : dict of intermediate (H, W) arrays, only if ``return_steps``.
    """
    image = _check_rgb(image, "segment_nuclei")
    balanced = colour_constancy(image) if colour_correct else image
    grey = nucleus_enhancement(balanced, as_uint8=True)
    smooth = cv2.bilateralFilter(grey, bilateral_diameter, bilateral_sigma_colour, bilateral_sigma_space)
    if int(smooth.max()) == int(smooth.min()):  # constant: Otsu has nothing to separate
        binary = np.zeros(smooth.shape, bool)
    else:
        _, thresholded = cv2.threshold(smooth, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        binary = thresholded.astype(bool)
    if closing_size > 1:
        kernel = np.ones((closing_size, closing_size), np.uint8)
        closed = cv2.morphologyEx(binary.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    else:
        closed = binary
    filled = fill_holes(closed)
    mask = remove_small_regions(filled, min_area)
    mask = dilate_mask(mask, dilation)
    if return_steps:
        steps = {"colour constancy": balanced, "magenta × saturation": grey, "bilateral": smooth,
                 "Otsu": binary, "closing": closed, "fill holes": filled, "area filter": mask}
        return mask, steps
    return mask


def segment_nuclei_skimage(image: np.ndarray, bilateral_diameter: int = 9, bilateral_sigma_colour: float = 50.0,
                           bilateral_sigma_space: float = 50.0, closing_size: int = 3,
                           min_area: int = 150) -> np.ndarray:
    """The same algorithm with steps 3–7 written with scikit-image and SciPy (reference implementation).

    Slower than :func:`segment_nuclei` (scikit-image's bilateral filter dominates); kept to check
    that the fast version computes the same thing and as the benchmark baseline. Steps 1–2 are the
    shared :func:`leukutils.preprocess.colour_constancy` and the float32 rendering of
    :func:`leukutils.preprocess.nucleus_enhancement` (the fast version filters its uint8 rendering).
    Same parameters and return value as :func:`segment_nuclei` (without ``return_steps``).
    """
    from skimage import filters, morphology, restoration

    image = _check_rgb(image, "segment_nuclei_skimage")
    enhanced = nucleus_enhancement(colour_constancy(image)).astype(np.float64)
    smooth = restoration.denoise_bilateral(enhanced, win_size=bilateral_diameter,
                                           sigma_color=bilateral_sigma_colour / 255,
                                           sigma_spatial=bilateral_sigma_space, mode="reflect")
    if np.ptp(smooth) == 0:
        return np.zeros(enhanced.shape, bool)
    binary = smooth > filters.threshold_otsu(smooth)
    closed = morphology.closing(binary, morphology.footprint_rectangle((closing_size, closing_size)))
    filled = ndimage.binary_fill_holes(closed)
    return morphology.remove_small_objects(filled, max_size=min_area - 1, connectivity=2)


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a (H, W) bool mask by a disc of ``radius`` pixels (0 = unchanged copy). Returns (H, W) bool."""
    mask = np.asarray(mask, dtype=bool)
    if radius < 0:
        raise ValueError(f"dilate_mask: radius must be >= 0 pixels, got {radius}")
    if radius == 0:
        return mask.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


#: Dilations (px) tried by :func:`out_of_fold_dilation`: none up to Table A1's largest, 4.
DILATION_CANDIDATES = (0, 1, 2, 3, 4)


def out_of_fold_dilation(masks: Sequence[np.ndarray], truths: Sequence[np.ndarray], folds: np.ndarray,
                         candidates: Sequence[int] = DILATION_CANDIDATES) -> tuple[list[np.ndarray], dict[int, int]]:
    """Fit the handcrafted masks' boundary to a dataset's annotation convention without scoring any
    image with a choice made on it.

    Annotators draw nucleus outlines at different places on the stained edge (Table A1 of paper 3 uses
    a 4 px dilation for one dataset only). For each cross-validation fold ``f``, the dilation radius
    from ``candidates`` with the highest mean Dice over the images *outside* ``f`` is chosen and applied
    to the images *in* ``f`` (ties: the smaller radius).

    Parameters
    ----------
    masks : (H, W) bool handcrafted masks without dilation, one per image.
    truths : matching (H, W) bool ground-truth masks.
    folds : (n,) int fold of each image (e.g. :attr:`leukutils.cross_validation.KFoldSegmentation.fold`);
        images with fold −1 are left undilated and not used for the choice.
    candidates : dilation radii in pixels.

    Returns
    -------
    masks : the dilated (H, W) bool masks, one per image.
    chosen : {fold: radius in pixels}.
    """
    folds = np.asarray(folds)
    if not (len(masks) == len(truths) == len(folds)):
        raise ValueError(f"out_of_fold_dilation: {len(masks)} masks, {len(truths)} truths and {len(folds)} folds")
    candidates = sorted({int(r) for r in candidates})
    if not candidates:
        raise ValueError("out_of_fold_dilation: no candidate dilation")
    truths = [_check_mask(t, np.shape(m), f"out_of_fold_dilation (image {i})")
              for i, (m, t) in enumerate(zip(masks, truths))]
    dilated = {r: [dilate_mask(m, r) for m in masks] for r in candidates}
    dice = np.array([[mask_scores(m, t)["dice"] for m, t in zip(dilated[r], truths)]
                     for r in candidates])  # (radii, images)
    out = [np.asarray(m, dtype=bool).copy() for m in masks]
    chosen: dict[int, int] = {}
    for fold in sorted(set(folds.tolist()) - {-1}):
        outside = (folds != fold) & (folds != -1)
        if not outside.any():
            raise ValueError(f"out_of_fold_dilation: fold {fold} is the only one; need at least two folds")
        best = candidates[int(np.argmax(dice[:, outside].mean(axis=1)))]  # argmax: first (smallest) of ties
        chosen[int(fold)] = int(best)
        for i in np.flatnonzero(folds == fold):
            out[i] = dilated[best][i]
    return out, chosen


def ensemble_masks(handcrafted: np.ndarray, deep: np.ndarray, min_area: int = 150) -> np.ndarray:
    """Ensemble of paper 3: handcrafted AND deep mask, then area opening (regions < ``min_area`` px dropped).

    ``handcrafted``, ``deep``: (H, W) bool masks of the same shape. Returns (H, W) bool.
    """
    handcrafted = np.asarray(handcrafted)
    deep = _check_mask(deep, handcrafted.shape, "ensemble_masks")
    handcrafted = handcrafted.astype(bool)
    return remove_small_regions(handcrafted & deep, min_area)


def nucleus_found(mask: np.ndarray) -> bool:
    """True if the mask holds at least one pixel."""
    return bool(np.asarray(mask).any())


def apply_mask(image: np.ndarray, mask: np.ndarray, background: int = 0) -> np.ndarray:
    """The segmented classifier input: image pixels inside ``mask``, ``background`` elsewhere.

    ``image``: (H, W, 3) uint8; ``mask``: (H, W) bool of the same size (clear error otherwise).
    An empty mask gives an image of ``background`` only; callers flag it with :func:`nucleus_found`.
    """
    image = _check_rgb(image, "apply_mask")
    mask = _check_mask(mask, image.shape[:2], "apply_mask")
    out = np.full_like(image, background)
    out[mask] = image[mask]
    return out


def score_masks(methods: Mapping[str, Sequence[np.ndarray]], truths: Sequence[np.ndarray]) -> pd.DataFrame:
    """Every method's mask of every image scored against its ground truth.

    ``methods``: method name → (H, W) bool masks, one per image; ``truths``: the (H, W) bool ground truths.
    Returns one row per method and image: ``method``, ``image`` (index), ``empty`` (no nucleus found)
    and the scores of :func:`leukutils.metrics.mask_scores` (accuracy, precision, recall, specificity,
    Dice, IoU).
    """
    return pd.DataFrame([{"method": method, "image": i, "empty": not nucleus_found(mask), **mask_scores(mask, truth)}
                         for method, masks in methods.items() for i, (mask, truth) in enumerate(zip(masks, truths))])


def compare_methods(scores: pd.DataFrame, columns: Sequence[str] = ("accuracy", "precision", "recall", "specificity",
                                                                     "dice", "iou"),
                    reference: str | None = "ensemble", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Segmentation methods side by side (paper 3, Table 2/4): mean scores over the images, a bootstrap
    interval for Dice, and each method's paired Dice difference from a ``reference`` method.

    Parameters
    ----------
    scores : one row per method and image, as :func:`score_masks` returns it (columns ``method``,
        ``image``, ``empty`` and ``columns``); every method scores the same images.
    columns : scores averaged over the images.
    reference : the method the others are compared with (e.g. the ensemble); None for no comparison.
    n_boot, seed : the bootstrap's (:func:`leukutils.metrics.bootstrap_ci`; 95 % intervals).

    Returns
    -------
    DataFrame, one row per method in the order of ``scores``: ``method``, ``n`` (images), ``empty masks``,
    the mean of each of ``columns``, ``dice low`` and ``dice high`` (interval of the mean Dice) and, with
    a reference, ``<reference> dice minus this`` with ``… low`` and ``… high``: the mean over the images
    of the reference's Dice minus this method's, with an interval from resampling images (paired).
    """
    methods = list(dict.fromkeys(scores["method"]))
    if reference is not None and reference not in methods:
        raise ValueError(f"compare_methods: reference {reference!r} is not one of the methods {methods}")
    summary = summarise(scores, "method", list(columns), n_boot=n_boot, seed=seed).set_index("method").loc[methods]
    table = pd.DataFrame({"method": methods, "n": scores.groupby("method").size().loc[methods].to_numpy(),
                          "empty masks": scores.groupby("method")["empty"].sum().loc[methods].to_numpy(),
                          **{c: summary[c].to_numpy() for c in columns}})
    if "dice" in columns:
        table["dice low"], table["dice high"] = summary["dice low"].to_numpy(), summary["dice high"].to_numpy()
    if reference is not None:
        dice = scores.pivot(index="image", columns="method", values="dice")
        if dice.isna().any().any():
            raise ValueError("compare_methods: the methods were not scored on the same images")
        gains = np.array([bootstrap_ci(np.mean, (dice[reference] - dice[m]).to_numpy(), n_boot=n_boot, seed=seed)
                          for m in methods])
        name = f"{reference} dice minus this"
        table[name], table[f"{name} low"], table[f"{name} high"] = gains.T
    return table


@dataclass
class SegmentationRun:
    """Masks of a set of images with a per-image flag for "no nucleus found"."""

    masks: list[np.ndarray]
    found: np.ndarray  # (n,) bool

    @property
    def n_empty(self) -> int:
        return int((~self.found).sum())


def segment_many(images, **params) -> SegmentationRun:
    """:func:`segment_nuclei` over a sequence of images; returns masks and the ``found`` flags."""
    masks = [segment_nuclei(image, **params) for image in images]
    return SegmentationRun(masks, np.array([nucleus_found(m) for m in masks], bool))


class ClassifierInput(ImageLoader):
    """Reads a classifier's input image from a file: raw, or segmented (nucleus only), optionally corrupted.

    Use as the ``loader`` of :class:`leukutils.data.torch_datasets.ImageDataset`. Reading and caching
    are :class:`leukutils.data.readers.ImageLoader`'s; this class adds the preparation.
    ``mark_region`` (a corner mark such as a scale bar, :func:`leukutils.shortcuts.mark_region`) is
    inpainted first (:func:`leukutils.preprocess.inpaint_region`), so that neither input carries it.
    ``corruption`` (an albumentations transform, e.g. :func:`leukutils.preprocess.robustness_corruption`)
    is applied to the raw image *before* segmentation, as noise from the microscope would be. Whether a
    nucleus was found is recorded per file in ``found``; an image without one enters the classifier all
    black and is counted in :attr:`n_empty` rather than dropped.

    Parameters
    ----------
    segmented : True for the segmented input (:func:`apply_mask` of :func:`segment_nuclei`), False
        for the raw image.
    corruption : optional callable ``corruption(image=...)["image"]`` on uint8 RGB.
    cache : keep the prepared image of each file in memory (only used without corruption).
    mark_region : (top, left, bottom, right) fractions of the image to inpaint, or None (nothing).
    params : passed to :func:`segment_nuclei`.
    """

    def __init__(self, segmented: bool = True, corruption=None, cache: bool = True,
                 mark_region: Sequence[float] | None = None, **params):
        super().__init__(cache=cache and corruption is None)
        self.segmented, self.corruption, self.params = segmented, corruption, params
        self.mark_region = None if mark_region is None else tuple(float(v) for v in mark_region)
        self.found: dict[str, bool] = {}

    def prepare(self, image: np.ndarray, path: str) -> np.ndarray:
        """Inpaint the mark, corrupt, then segment (each if asked) one (H, W, 3) uint8 image read from ``path``."""
        image = inpaint_region(image, self.mark_region)
        if self.corruption is not None:
            image = self.corruption(image=image)["image"]
        if self.segmented:
            mask = segment_nuclei(image, **self.params)
            self.found[path] = nucleus_found(mask)
            image = apply_mask(image, mask)
        return image

    @property
    def n_empty(self) -> int:
        """Number of files read so far in which no nucleus was found."""
        return sum(not f for f in self.found.values())


# --------------------------------------------------------------------------------------------------
# Nuclei as regions: the marked ones, crops around each, the cells they belong to
# --------------------------------------------------------------------------------------------------


def marked_components(mask: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The connected regions of ``mask`` ((H, W) bool) that hold at least one of ``centres`` ((k, 2)
    ``x, y`` pixels), e.g. the nuclei of the annotated blasts among all nuclei of a field. (H, W) bool."""
    labels, _ = ndimage.label(np.asarray(mask, bool))
    h, w = labels.shape
    xy = np.round(np.asarray(centres, np.float64).reshape(-1, 2)).astype(int)
    xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)]
    keep = np.setdiff1d(np.unique(labels[xy[:, 1], xy[:, 0]]), [0])
    return np.isin(labels, keep)


def nucleus_crops(image: np.ndarray, mask: np.ndarray, size: int, min_area: int = 1) -> np.ndarray:
    """Square crops of ``size`` px centred on each connected region of ``mask`` ((H, W) bool: nuclei) of
    ``image`` ((H, W, 3) uint8), the image mirror-padded at its borders. Returns (k, size, size, 3) uint8,
    k the number of regions of at least ``min_area`` pixels (possibly 0), in the order of ``ndimage.label``."""
    labels, k = ndimage.label(np.asarray(mask, bool))
    if k == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    areas = ndimage.sum_labels(np.ones_like(labels), labels, range(1, k + 1))
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, range(1, k + 1))
    half = size // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)), mode="reflect")
    crops = [padded[int(round(cy)):int(round(cy)) + size, int(round(cx)):int(round(cx)) + size]
             for (cy, cx), area in zip(centres, areas) if area >= min_area]
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def crops_of_fields(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], size: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nucleus_crops` of every field: the (k, size, size, 3) uint8 crops of all fields together and
    (k,) the index of the field (0 … n-1, in the order given) each crop comes from."""
    per_field = [nucleus_crops(image, mask, size) for image, mask in zip(images, masks)]
    return np.concatenate(per_field), np.repeat(np.arange(len(per_field)), [len(c) for c in per_field])


def cell_masks(images: Sequence[np.ndarray], margin: int = 6, **segment_options) -> np.ndarray:
    """Where the cells of smear fields ((H, W, 3) uint8 each) lie: the handcrafted nuclei
    (:func:`segment_nuclei` with ``segment_options``) dilated by ``margin`` px to take in their cytoplasm.
    (n, H, W) bool."""
    return np.stack([dilate_mask(segment_nuclei(image, **segment_options), margin) for image in images])


class ClassifierImages:
    """The datasets paper 3's classifiers train and are tested on: image files read raw or segmented
    (:class:`ClassifierInput`), then passed through an albumentations transform.

    ``images(indices, kind, transform)`` is the :class:`leukutils.data.torch_datasets.ImageDataset` of
    ``records[indices]`` with their labels, read by ``inputs[kind]`` (or by ``loader``, e.g. a corrupting
    :class:`ClassifierInput`) and transformed by ``transform(image=...)["image"]``.

    Parameters
    ----------
    records : the image records (their ``path`` is read); labels : (n,) int class index per record.
    inputs : input kind (``"segmented"``, ``"raw"``) → the :class:`ClassifierInput` that reads it.
    """

    def __init__(self, records: Sequence, labels: np.ndarray, inputs: Mapping[str, ClassifierInput]):
        self.records, self.labels, self.inputs = list(records), np.asarray(labels), dict(inputs)

    def __call__(self, indices: Sequence[int], kind: str, transform, loader: ClassifierInput | None = None) -> ImageDataset:
        indices = np.asarray(indices, dtype=int)
        return ImageDataset([self.records[i] for i in indices], self.labels[indices], transform=_ImageOnly(transform),
                            loader=loader or self.inputs[kind])


class _ImageOnly:
    """An albumentations transform as a function of the image alone."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.transform(image=image)["image"]
