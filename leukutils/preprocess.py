"""Image preprocessing shared by the notebooks: centred zoom, colour constancy, nucleus enhancement,
augmentation pipelines.

All functions take (H, W, 3) uint8 RGB arrays and return arrays of the same dtype unless said otherwise.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

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


def _check_rgb_uint8(image: np.ndarray, where: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{where}: expected an (H, W, 3) RGB image, got shape {image.shape}; "
                         "convert grey or RGBA images with leukutils.data.readers.load_image")
    if image.dtype != np.uint8:
        raise ValueError(f"{where}: expected dtype uint8 (0–255), got {image.dtype}; "
                         "use skimage.util.img_as_ubyte to convert")
    return image


def colour_constancy(image: np.ndarray) -> np.ndarray:
    """Grey-world colour constancy (paper 3, Algorithm 1, step 1): each channel × mean grey / mean of channel.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB.

    Returns
    -------
    (H, W, 3) uint8 RGB: ``floor(clip(value × gain, 0, 255))`` per channel, with ``gain = mean of the
    three channel means / channel mean`` (float32). A channel whose mean is 0 is left at 0.

    Notes
    -----
    Computed with one 256-entry look-up table per channel (``cv2.LUT``): the same bytes as multiplying
    every pixel by its channel's gain in float32, several times faster on large images. The channel
    means are accumulated in float64 (``cv2.mean``).
    """
    image = _check_rgb_uint8(image, "colour_constancy")
    means = np.array(cv2.mean(image)[:3], np.float32)
    grey = means.mean(dtype=np.float32)
    gains = np.divide(grey, means, out=np.zeros(3, np.float32), where=means > 0)
    levels = np.arange(256, dtype=np.float32)[:, None] * gains[None, :]
    table = np.clip(levels, 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(np.ascontiguousarray(image), table)


def nucleus_enhancement(image: np.ndarray, as_uint8: bool = False) -> np.ndarray:
    """CMYK magenta × HSV saturation of an RGB image (paper 3, Algorithm 1, step 2): high on stained nuclei.

    Magenta is ``M = (1 - G/255 - K) / (1 - K)`` with ``K = 1 - max(R, G, B)/255``, i.e.
    ``(max - G) / max``; saturation is ``S = (max - min) / max``. Both are 0 where the pixel is black.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB.
    as_uint8 : return ``255 × M × S`` rounded to uint8, computed in integer arithmetic with OpenCV
        (the fast path :func:`leukutils.segment.segment_nuclei` filters and thresholds), instead of
        float32.

    Returns
    -------
    (H, W) float32 in [0, 1] (``M`` in float32 times OpenCV's 8-bit HSV saturation, i.e. ``S``
    rounded to a multiple of 1/255), or with ``as_uint8`` (H, W) uint8 in [0, 255]. The two agree to
    within one grey level: ``|uint8 - 255 × float| <= 1``.
    """
    image = _check_rgb_uint8(image, "nucleus_enhancement")
    if as_uint8:
        red, green, blue = cv2.split(image)
        high = cv2.max(cv2.max(red, green), blue)
        low = cv2.min(cv2.min(red, green), blue)
        numerator = cv2.multiply(cv2.subtract(high, green), cv2.subtract(high, low), dtype=cv2.CV_32F)
        denominator = cv2.max(cv2.multiply(high, high, dtype=cv2.CV_32F), 1.0)
        return cv2.divide(numerator, denominator, scale=255.0, dtype=cv2.CV_8U)
    rgb = image.astype(np.float32) / 255.0
    k_complement = rgb.max(axis=-1)                         # 1 - K
    magenta = np.where(k_complement > 1e-6, (k_complement - rgb[..., 1]) / np.maximum(k_complement, 1e-6), 0)
    saturation = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV_FULL)[..., 1].astype(np.float32) / 255.0
    return (magenta * saturation).astype(np.float32)


# --- Augmentation pipelines of paper 3 (albumentations) -------------------------------------------
#: Paper 3 used albumentations 1.x ``GaussNoise(var_limit=(10, 50))`` (variance in 0–255 grey levels);
#: albumentations 2 takes the standard deviation as a fraction of 255 instead.
_PAPER3_NOISE_STD = (float(np.sqrt(10.0) / 255), float(np.sqrt(50.0) / 255))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def segmentation_augmentation(seed: int | None = 0, flip_p: float = 0.5, photometric_p: float = 0.2):
    """Paper 3's U-Net training augmentation (albumentations ``Compose``, call with ``image=, mask=``).

    Vertical and horizontal flip, RandomRotate90 and Transpose with probability ``flip_p`` (0.5);
    RandomGamma, CLAHE and GaussNoise with probability ``photometric_p`` (0.2). The paper's final
    Resize(256, 256) is done by the dataset (:class:`leukutils.models.unet.SegmentationDataset`).
    ``seed`` makes the draws repeatable (albumentations 2 keeps its own generator).
    """
    import albumentations as A

    return A.Compose([
        A.VerticalFlip(p=flip_p), A.HorizontalFlip(p=flip_p), A.RandomRotate90(p=flip_p), A.Transpose(p=flip_p),
        A.RandomGamma(p=photometric_p), A.CLAHE(p=photometric_p),
        A.GaussNoise(std_range=_PAPER3_NOISE_STD, p=photometric_p),
    ], seed=seed)


def classification_transform(size: int = 224, train: bool = True, seed: int | None = 0, p: float = 0.5,
                             normalise: bool = True):
    """Paper 3's ResNet-50 input pipeline: (train only) V/H flip, RandomRotate90, RandomGamma, CLAHE,
    Transpose, GaussNoise, each with probability ``p`` (0.5); then Resize(size × 232/224, shorter side),
    CenterCrop(size) and ImageNet normalisation. Returns an albumentations ``Compose`` mapping
    ``image=`` (H, W, 3) uint8 to float32 (size, size, 3) (normalised if ``normalise``).
    """
    import albumentations as A

    augment = [A.VerticalFlip(p=p), A.HorizontalFlip(p=p), A.RandomRotate90(p=p), A.RandomGamma(p=p),
               A.CLAHE(p=p), A.Transpose(p=p), A.GaussNoise(std_range=_PAPER3_NOISE_STD, p=p)] if train else []
    resize = int(round(size * 232 / 224))
    final = [A.SmallestMaxSize(max_size=resize), A.CenterCrop(size, size)]
    final.append(A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD) if normalise else A.ToFloat(max_value=255))
    return A.Compose(augment + final, seed=seed)


def colour_augmentation(strength: float = 1.0, seed: int | None = 0, p: float = 0.8):
    """Random colour casts for training, so that a tint shared by the images of one class (of the glass,
    the stain batch or the camera) stops telling the classes apart: albumentations ``RGBShift`` (each
    channel shifted by up to ±20·``strength`` grey levels), ``HueSaturationValue`` (hue ±10·s, saturation
    ±20·s, value ±15·s) and ``RandomBrightnessContrast`` (±0.15·s), each with probability ``p``.

    Chosen over stain normalisation (Macenko, Reinhard), which estimates the dyes from stained pixels and
    leaves the glass's own tint in place; augmentation also leaves the test images untouched, so a test
    with the tint equalised still measures what the model learned. Not in the papers. Returns a picklable
    callable (H, W, 3) uint8 → (H, W, 3) uint8 (draws repeatable with ``seed``).
    """
    import albumentations as A

    s = float(strength)
    compose = A.Compose([
        A.RGBShift(r_shift_limit=20 * s, g_shift_limit=20 * s, b_shift_limit=20 * s, p=p),
        A.HueSaturationValue(hue_shift_limit=10 * s, sat_shift_limit=20 * s, val_shift_limit=15 * s, p=p),
        A.RandomBrightnessContrast(brightness_limit=0.15 * s, contrast_limit=0.15 * s, p=p),
    ], seed=seed)
    return functools.partial(_albumentations_image, compose)


def _albumentations_image(compose, image: np.ndarray) -> np.ndarray:
    return compose(image=image)["image"]


def chain(*steps: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """The picklable composition ``image → steps[-1](…steps[0](image))`` (e.g. augmentation, then
    :func:`paper1_transform`)."""
    return functools.partial(_chained, steps)


def _chained(steps, image: np.ndarray) -> np.ndarray:
    for step in steps:
        image = step(image)
    return image


def region_mask(shape: tuple[int, int], region: Sequence[float]) -> np.ndarray:
    """(H, W) bool: the rectangle ``region`` = (top, left, bottom, right), given as fractions of the height
    and width (so that one region fits an image at any size), of an image of ``shape`` = (H, W)."""
    top, left, bottom, right = (float(v) for v in region)
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(f"region must be (top, left, bottom, right) fractions with 0 ≤ top < bottom ≤ 1 and "
                         f"0 ≤ left < right ≤ 1, got {tuple(region)}")
    h, w = shape
    mask = np.zeros((h, w), bool)
    mask[int(np.floor(top * h)):int(np.ceil(bottom * h)), int(np.floor(left * w)):int(np.ceil(right * w))] = True
    return mask


def inpaint_region(image: np.ndarray, region: Sequence[float] | None, radius: int = 3) -> np.ndarray:
    """``image`` with the rectangle ``region`` (fractions, :func:`region_mask`) filled in from its
    surroundings by OpenCV's Telea inpainting: removes a mark such as a scale bar while continuing the
    smear's colours and edges into it, rather than painting a flat patch a model could learn.

    ``image``: (H, W, 3) uint8 RGB; ``radius``: px around each filled pixel that inpainting draws on.
    ``region`` None returns the image unchanged. Returns (H, W, 3) uint8.
    """
    image = _check_rgb_uint8(image, "inpaint_region")
    if region is None:
        return image
    mask = region_mask(image.shape[:2], region).astype(np.uint8)
    return cv2.inpaint(np.ascontiguousarray(image), mask, radius, cv2.INPAINT_TELEA)


def mark_removal(region: Sequence[float] | None):
    """The picklable callable ``image → inpaint_region(image, region)`` (a first step for
    :func:`chain`, in training, testing and ``leukutils predict``)."""
    return functools.partial(inpaint_region, region=None if region is None else tuple(float(v) for v in region))


def transform_mask(transform: Callable[[np.ndarray], np.ndarray], mask: np.ndarray) -> np.ndarray:
    """An (H, W) bool ``mask`` carried through an image ``transform`` ((H, W, 3) uint8 → (h, w, 3) uint8,
    e.g. :func:`paper1_transform`) as a white-on-black image, so that it lies where the transform puts the
    pixels it covers. Returns (h, w) bool."""
    white = np.repeat(np.asarray(mask, bool)[:, :, None], 3, axis=2).astype(np.uint8) * 255
    return transform(white)[..., 0] > 127


def robustness_corruption(seed: int | None = 0):
    """Paper 3's Table 7 corruptions, all applied: MotionBlur(blur_limit=5), MultiplicativeNoise,
    GaussNoise(variance 10, mean 0). Returns an albumentations ``Compose`` on uint8 images (apply
    before :func:`classification_transform` with ``train=False``)."""
    import albumentations as A

    return A.Compose([
        A.MotionBlur(blur_limit=(3, 5), p=1.0), A.MultiplicativeNoise(p=1.0),
        A.GaussNoise(std_range=(float(np.sqrt(10.0) / 255),) * 2, mean_range=(0.0, 0.0), p=1.0),
    ], seed=seed)


def resize_zoom_resize(image: np.ndarray, resize: int = 256, zoom: float = 0.6, size: int = 224) -> np.ndarray:
    """Paper 1's preprocessing: resize to ``resize`` × ``resize``, centred zoom by ``zoom`` (keep the
    central share and resize back), resize to the network input ``size`` × ``size``.

    ``image``: (H, W, 3) uint8 RGB. Returns (size, size, 3) uint8. ``zoom=1`` skips the zoom.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"resize_zoom_resize: expected (H, W, 3) RGB, got shape {image.shape}")
    out = cv2.resize(image, (resize, resize), interpolation=cv2.INTER_AREA)
    if zoom != 1:
        out = centred_zoom(out, zoom)
    if size != resize:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out


def paper1_transform(resize: int = 256, zoom: float = 0.6, size: int = 224):
    """The callable ``image → resize_zoom_resize(image, resize, zoom, size)`` (picklable, for
    :class:`leukutils.data.torch_datasets.ImageDataset` and DataLoader workers)."""

    return functools.partial(resize_zoom_resize, resize=resize, zoom=zoom, size=size)
