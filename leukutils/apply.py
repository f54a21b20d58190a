"""Apply saved models to image files: class probabilities (with optional CAM overlays) and nucleus masks.

The models come from their model cards (:func:`leukutils.model_cards.load_classifier`,
:func:`leukutils.model_cards.load_unet`).

* :func:`predict_images` — one row per image file: status, reason, predicted class, one probability
  per class; optionally a CAM panel (:func:`leukutils.plots.cam_panel`) per image.
* :func:`segment_images` — nucleus masks by Algorithm 1
  (:func:`leukutils.segment.segment_nuclei`), optionally ANDed with a U-Net's
  (:func:`leukutils.segment.ensemble_masks`), written as 0/255 PNGs.
* :func:`find_images` / :func:`output_names` — image files of files and folders, and the names of
  what is written for them.
* :func:`is_grey` / :func:`is_too_small` / :func:`input_warnings` — images a classifier was not made
  for: without colour, or much smaller than its input.

An image that cannot be read or converted to RGB is a row with ``status`` ``"failed"`` and its
``reason``; the other images are processed. :func:`predict_images` still classifies an image that
:func:`input_warnings` flags, says why in its ``reason`` and issues one :class:`UnsuitedImageWarning`
with their number and names. These are the functions behind ``leukutils predict`` and ``leukutils segment``.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from .config import progress_bar
from .data.readers import IMAGE_SUFFIXES, DatasetError, ImageModeWarning, load_image
from .data.torch_datasets import TensorImageDataset, to_tensor
from .explain import CAM_METHODS, cam_heatmaps, target_layers_for
from .inference import classify, predict_masks
from .plots import cam_panel
from .report import method_name
from .segment import ensemble_masks, segment_nuclei

__all__ = ["UnsuitedImageWarning", "find_images", "input_warnings", "is_grey", "is_too_small", "output_names", "read_image",
           "predict_images", "segment_images"]

# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------

def find_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named by ``inputs``: files as given, folders searched recursively for
    :data:`leukutils.data.readers.IMAGE_SUFFIXES` (case-insensitive, hidden files and folders skipped),
    each folder's files sorted. A file given twice is listed once. A path that does not exist is kept
    (it is reported as failed when read); a folder without images is a ``FileNotFoundError``.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise FileNotFoundError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found += files
        else:
            found.append(path)
    seen: set[str] = set()
    unique = []
    for path in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def output_names(paths: Sequence[Path], suffix: str = ".png") -> list[Path]:
    """Relative names of the files written for ``paths``: each path relative to the folder all of them
    share, with ``suffix`` for its own (``a/b.jpg`` → ``a/b.png``). Two images that would get the same
    name (``b.jpg`` and ``b.png``) keep their suffix in it (``b.jpg.png``, ``b.png.png``)."""
    if not paths:
        return []
    absolute = [Path(os.path.abspath(p)) for p in paths]
    common = Path(os.path.commonpath([str(p.parent) for p in absolute]))
    relative = [p.relative_to(common) for p in absolute]
    names = [r.with_suffix(suffix) for r in relative]
    counts = pd.Series([str(n) for n in names]).value_counts()
    return [r.with_name(r.name + suffix) if counts[str(n)] > 1 else n for r, n in zip(relative, names)]


def read_image(path: Path):
    """``(image, reason)``: the (H, W, 3) uint8 image or None, and why it failed or was converted
    ('' when read as it is)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ImageModeWarning)
            image = load_image(path)
        converted = [str(w.message) for w in caught if issubclass(w.category, ImageModeWarning)]
        return image, "converted to RGB" if converted else ""
    except DatasetError as error:  # the row names the file: the reason says what is wrong with it
        if error.__cause__ is not None:
            return None, f"unreadable or truncated: {error.__cause__}"
        return None, str(error).replace(f"image {path} ", "")


def _prepare(image: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]):
    """``(prepared, tensor, reason)``: the network input as (S, S, 3) uint8 and as a (3, S, S) tensor,
    or ``None, None`` and why the transform or the conversion could not take ``image``."""
    try:
        prepared = transform(image)
        return prepared, to_tensor(prepared), ""
    except Exception as error:  # a transform that cannot take this image: report it, go on with the rest
        return None, None, f"could not be prepared: {type(error).__name__}: {error}"


def _batches(n: int, batch_size: int):
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield range(start, min(start + batch_size, n))


def _progress(total: int, enabled: bool, desc: str):
    # shown only when the run lasts (delay): a few images print nothing
    return progress_bar(enabled=enabled, total=total, desc=desc, unit="image", delay=2.0)


# --------------------------------------------------------------------------------------------------
# Images a classifier was not made for
# --------------------------------------------------------------------------------------------------

#: Largest difference between the three channels of a pixel, in grey levels, of an image without colour.
GREY_TOLERANCE = 2
#: An image is too small when its shorter side is under this share of the network input's side.
SMALLEST_SHARE = 0.5
#: The ``reason`` of an image without colour.
NO_COLOUR = "no colour (grey levels only)"
#: Names listed in the :class:`UnsuitedImageWarning` of a run; the others are counted.
LISTED_NAMES = 20


class UnsuitedImageWarning(UserWarning):
    """Images that were classified although the model was not made for them (:func:`input_warnings`);
    one warning per :func:`predict_images` call, with their number and names."""


def is_grey(image: np.ndarray, tolerance: int = GREY_TOLERANCE) -> bool:
    """Whether ``image`` has no colour: a grey image, or an RGB one whose three channels agree at
    every pixel (a grey image converted to RGB, as :func:`leukutils.data.readers.load_image` does).

    Parameters
    ----------
    image : (H, W) grey or (H, W, 3) RGB, any integer or float dtype.
    tolerance : largest difference between the channels of one pixel, in the image's units (grey
        levels for uint8), that still counts as equal; the default allows for lossy compression.
        Stained blood cells differ by far more (over 100 grey levels in a sample of the aria-all and
        BCCD images).

    Returns
    -------
    bool, True for an image without colour (also a blank one).
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return True
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"is_grey: expected an (H, W) grey or (H, W, 3) RGB image, got shape {image.shape}")
    if image.size == 0:
        return True
    spread = image.max(axis=2).astype(np.float64) - image.min(axis=2)
    return bool(spread.max() <= tolerance)


def is_too_small(image_shape: Sequence[int], input_side: int, share: float = SMALLEST_SHARE) -> bool:
    """Whether an image is much smaller than a network's input: its shorter side under ``share`` of
    ``input_side``, so that preprocessing enlarges it more than 1/``share``-fold and the network sees
    detail the image does not hold.

    Parameters
    ----------
    image_shape : the image's shape, (H, W) or (H, W, C), px.
    input_side : side of the network's (S, S) input, px (a model card's ``image_size``).
    share : smallest shorter side, as a share of ``input_side`` (default one half).

    Returns
    -------
    bool, True when ``min(H, W) < share * input_side``.
    """
    if len(image_shape) < 2:
        raise ValueError(f"is_too_small: expected an image shape (H, W) or (H, W, C), got {tuple(image_shape)}")
    if input_side < 1:
        raise ValueError(f"is_too_small: the input side must be ≥ 1 px, got {input_side}")
    return bool(min(image_shape[:2]) < share * input_side)


def input_warnings(image: np.ndarray, input_side: int) -> list[str]:
    """Why a classifier with (S, S) inputs was not made for ``image``: each reason of :func:`is_grey`
    (``"no colour (grey levels only)"``) and :func:`is_too_small` (``"too small: shorter side h px,
    under 50% of the model's S-px input"``) that holds, in that order.

    Parameters
    ----------
    image : (H, W, 3) RGB image as read (before preprocessing).
    input_side : S, side of the network's input, px.

    Returns
    -------
    list of str, empty for an image the model was made for.
    """
    reasons = []
    if is_grey(image):
        reasons.append(NO_COLOUR)
    if is_too_small(image.shape, input_side):
        reasons.append(f"too small: shorter side {min(image.shape[:2])} px, under {SMALLEST_SHARE:.0%} of the "
                       f"model's {input_side}-px input")
    return reasons


def _unsuited_message(paths: Sequence[Path], reasons: dict[int, list[str]], n: int) -> str:
    named = [f"{paths[i]} ({'; '.join(why)})" for i, why in list(reasons.items())[:LISTED_NAMES]]
    more = len(reasons) - len(named)
    return (f"{len(reasons)} of {n} images are not what the model was made for; they were classified, and "
            f"flagged in the reason column: {', '.join(named)}" + (f", and {more} more" if more else ""))


# --------------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------------

def predict_images(model: nn.Module, paths: Sequence[str | os.PathLike], transform: Callable[[np.ndarray], np.ndarray],
                   classes: Sequence[str], *, device: str | torch.device = "cpu", batch_size: int = 32,
                   cam: str | None = None, cam_dir: str | os.PathLike | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """Class probabilities of image files by a classifier, one row per file, bad files reported.

    Parameters
    ----------
    model : classifier (n, 3, S, S) → (n, k) logits, e.g. from :func:`leukutils.model_cards.load_classifier`.
    paths : image files (see :func:`find_images`); read with :func:`leukutils.data.readers.load_image`.
    transform : (H, W, 3) uint8 → (S, S, 3) uint8 network input, e.g. :func:`leukutils.model_cards.card_transform`.
    classes : the k class names, in the order of the model's outputs.
    device, batch_size : where and how many images at a time (also the memory held at once).
    cam : a method of :func:`leukutils.explain.cam_heatmaps` (``"gradcam"``, ``"gradcam++"``,
        ``"hirescam"``, ``"xgradcam"``, ``"scorecam"``, ``"fast_scorecam"``): for each image, the map of
        its predicted class drawn by :func:`leukutils.plots.cam_panel` (input, heatmap, overlay) into
        ``cam_dir`` as ``<name>.png`` (:func:`output_names`).
    progress : a progress bar (shown when the run lasts more than a moment).

    Returns
    -------
    DataFrame, one row per path in order: ``path`` (as given), ``status`` (``"ok"`` or ``"failed"``),
    ``reason`` (why it failed; else ``"converted to RGB"`` for grey, RGBA, palette or 16-bit images,
    then each reason of :func:`input_warnings`, joined by ``"; "``; else empty), ``predicted`` (class
    name), ``p_<class>`` per class (float64, rows sum to 1; NaN when failed), and with ``cam`` the
    ``cam_path`` of each panel written.

    Warns
    -----
    UnsuitedImageWarning
        Once, when :func:`input_warnings` flags any image read (no colour; shorter side under half
        the side of the network input, i.e. of the transformed image, a card's ``image_size``):
        their number and names. They are classified (``status`` ``"ok"``) all the same.
    """
    classes = [str(c) for c in classes]
    paths = [Path(p) for p in paths]
    if cam is not None:
        if cam not in CAM_METHODS:
            raise ValueError(f"unknown CAM method {cam!r}; choose one of {', '.join(CAM_METHODS)}")
        if cam_dir is None:
            raise ValueError("a CAM method needs a folder for its images (cam_dir)")
        target_layers_for(model)  # an architecture without a known CAM layer stops here, before any image is read
        cam_dir = Path(cam_dir)
        cam_names = output_names(paths)
    n = len(paths)
    status, reason = ["failed"] * n, [""] * n
    probabilities = np.full((n, len(classes)), np.nan)
    cam_paths = [""] * n
    unsuited: dict[int, list[str]] = {}
    device = torch.device(device)
    model.to(device).eval()
    with _progress(n, progress, "predict") as bar:
        for chunk in _batches(n, batch_size):
            good, inputs = [], []
            for i in chunk:
                image, reason[i] = read_image(paths[i])
                if image is None:
                    continue
                prepared, tensor, failure = _prepare(image, transform)
                if prepared is None:
                    reason[i] = failure
                    continue
                why = input_warnings(image, min(prepared.shape[:2]))
                if why:
                    unsuited[i] = why
                    reason[i] = "; ".join(filter(None, [reason[i], *why]))
                good.append(i)
                inputs.append((prepared, tensor))
            if good:
                batch = torch.stack([tensor for _, tensor in inputs])
                _, batch_probabilities, _ = classify(model, TensorImageDataset(batch, np.zeros(len(good), np.int64)),
                                                     device, batch_size=len(good))
                probabilities[good] = batch_probabilities
                for i in good:
                    status[i] = "ok"
                if cam is not None:
                    _write_cams(model, batch, [image for image, _ in inputs], batch_probabilities, classes, cam,
                                [cam_dir / cam_names[i] for i in good], batch_size)
                    for i in good:
                        cam_paths[i] = str(cam_dir / cam_names[i])
            bar.update(len(chunk))
    ok = np.array([s == "ok" for s in status])
    predicted = np.where(ok, np.array(classes, dtype=object)[np.nan_to_num(probabilities).argmax(1)], "")
    table = pd.DataFrame({"path": [str(p) for p in paths], "status": status, "reason": reason, "predicted": predicted})
    for k, name in enumerate(classes):
        table[f"p_{name}"] = probabilities[:, k]
    if cam is not None:
        table["cam_path"] = cam_paths
    if unsuited:
        warnings.warn(_unsuited_message(paths, unsuited, n), UnsuitedImageWarning, stacklevel=2)
    return table


def _write_cams(model, batch, shown, probabilities, classes, method, targets: list[Path], batch_size: int) -> None:
    """One CAM panel PNG per image of ``batch``, for its predicted class."""
    predicted = probabilities.argmax(1)
    heatmaps = cam_heatmaps(model, batch, method=method, targets=predicted.tolist(), batch_size=batch_size)
    for image, heatmap, k, p, target in zip(shown, heatmaps, predicted, probabilities, targets):
        fig = cam_panel(image, heatmap, f"{target.stem}: {classes[k]} (p = {p[k]:.2f}), {method_name(method)}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(target, dpi=100)
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------------

def segment_images(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, unet: nn.Module | None = None,
                   unet_size: int = 128, unet_threshold: float = 0.5, device: str | torch.device = "cpu",
                   batch_size: int = 8, progress: bool = False, **params) -> pd.DataFrame:
    """Nucleus masks of image files, written to ``out_dir`` as 0/255 uint8 PNGs named after the images
    (:func:`output_names`), one summary row per file, bad files reported.

    Parameters
    ----------
    paths : image files (see :func:`find_images`).
    out_dir : folder of the masks (created).
    unet : optional trained U-Net (:func:`leukutils.model_cards.load_unet`): the mask is then Algorithm 1's AND the U-Net's
        (:func:`leukutils.segment.ensemble_masks`, paper 3's ensemble, with the same ``min_area``).
    unet_size, unet_threshold : the U-Net's input side and probability threshold
        (:func:`leukutils.inference.predict_masks`).
    batch_size : images read and segmented at a time.
    params : options of :func:`leukutils.segment.segment_nuclei` (``min_area``, ``closing_size``,
        ``dilation``, …); its defaults (Table A1) otherwise.

    Returns
    -------
    DataFrame, one row per path in order: ``path``, ``status`` (``"ok"``/``"failed"``), ``reason``
    (why it failed; ``"no nucleus found"`` for an all-zero mask; ``"converted to RGB"``),
    ``mask_path`` and ``nucleus_pixels`` (int; −1 when failed).
    """
    paths = [Path(p) for p in paths]
    out_dir = Path(out_dir)
    names = output_names(paths)
    area = {"min_area": params["min_area"]} if "min_area" in params else {}
    n = len(paths)
    status, reason, mask_paths, pixels = ["failed"] * n, [""] * n, [""] * n, [-1] * n
    if unet is not None:
        unet.to(torch.device(device)).eval()
    with _progress(n, progress, "segment") as bar:
        for chunk in _batches(n, batch_size):
            good, images = [], []
            for i in chunk:
                image, reason[i] = read_image(paths[i])
                if image is not None:
                    good.append(i)
                    images.append(image)
            masks = [segment_nuclei(image, **params) for image in images]
            if unet is not None and images:
                deep = predict_masks(unet, images, size=unet_size, batch_size=len(images),
                                     threshold=unet_threshold, device=device)
                masks = [ensemble_masks(hand, mask, **area) for hand, mask in zip(masks, deep)]
            for i, mask in zip(good, masks):
                target = out_dir / names[i]
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(mask.astype(np.uint8) * 255).save(target)
                status[i], mask_paths[i], pixels[i] = "ok", str(target), int(mask.sum())
                if pixels[i] == 0:
                    reason[i] = "; ".join(filter(None, [reason[i], "no nucleus found"]))
            bar.update(len(chunk))
    return pd.DataFrame({"path": [str(p) for p in paths], "status": status, "reason": reason,
                         "mask_path": mask_paths, "nucleus_pixels": pixels})
