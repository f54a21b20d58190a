"""Apply saved models to image files: class probabilities (with optional CAM overlays) and nucleus masks.

* :func:`load_classifier` — a classifier saved by :func:`leukutils.train.save_model`, rebuilt from the
  JSON model card beside its ``.pt`` (architecture, classes) with the card's preprocessing
  (:func:`card_transform`); a card that is missing or does not fit the checkpoint is a
  :class:`ModelCardError` naming both files.
* :func:`predict_images` — one row per image file: status, reason, predicted class, one probability
  per class; optionally a CAM panel (:func:`leukutils.plots.cam_panel`) per image.
* :func:`load_unet` / :func:`segment_images` — nucleus masks by Algorithm 1
  (:func:`leukutils.segment.segment_nuclei`), optionally ANDed with a U-Net's
  (:func:`leukutils.segment.ensemble_masks`), written as 0/255 PNGs.
* :func:`find_images` / :func:`output_names` — image files of files and folders, and the names of
  what is written for them.

An image that cannot be read or converted to RGB is a row with ``status`` ``"failed"`` and its
``reason``; the other images are processed. These are the functions behind ``leukutils predict`` and
``leukutils segment``.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data.readers import IMAGE_SUFFIXES, DatasetError, ImageModeWarning, load_image

__all__ = ["ModelCardError", "find_images", "output_names", "read_card", "card_transform", "load_classifier",
           "predict_images", "load_unet", "segment_images"]

#: Keys of paper 1's preprocessing (resize → centred zoom → resize) in a model card's ``parameters``.
PAPER1_KEYS = ("resize", "zoom", "image_size")


class ModelCardError(ValueError):
    """A model card is missing, unreadable, or does not describe its checkpoint; the message names both files."""


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


def _read(path: Path, prepare: Callable[[np.ndarray], np.ndarray] | None = None):
    """``(image, reason)``: the (H, W, 3) uint8 image (prepared, if asked) or None, and why it failed or
    was converted ('' when read as it is)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ImageModeWarning)
            image = load_image(path)
        converted = [str(w.message) for w in caught if issubclass(w.category, ImageModeWarning)]
        reason = "converted to RGB" if converted else ""
        return (prepare(image) if prepare is not None else image), reason
    except DatasetError as error:  # the row names the file: the reason says what is wrong with it
        if error.__cause__ is not None:
            return None, f"unreadable or truncated: {error.__cause__}"
        return None, str(error).replace(f"image {path} ", "")
    except Exception as error:  # a transform that cannot take this image: report it, go on with the rest
        return None, f"could not be prepared: {type(error).__name__}: {error}"


def _batches(n: int, batch_size: int):
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield range(start, min(start + batch_size, n))


def _progress(total: int, enabled: bool, desc: str):
    from .config import progress_bar

    # shown only when the run lasts (delay): a few images print nothing
    return progress_bar(enabled=enabled, total=total, desc=desc, unit="image", delay=2.0)


# --------------------------------------------------------------------------------------------------
# Model cards
# --------------------------------------------------------------------------------------------------

def read_card(checkpoint: str | os.PathLike) -> dict:
    """The JSON model card beside ``checkpoint`` (same name, ``.json``); :class:`ModelCardError` naming
    both files when it is absent or not JSON."""
    checkpoint = Path(checkpoint)
    card_path = checkpoint.with_suffix(".json")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    if not card_path.is_file():
        raise ModelCardError(f"checkpoint {checkpoint} has no model card {card_path}: the card (written by "
                             "leukutils.train.save_model) says what the weights belong to (architecture, classes, "
                             "preprocessing)")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelCardError(f"model card {card_path} of checkpoint {checkpoint} is not readable JSON "
                             f"({error})") from error
    if not isinstance(card, dict):
        raise ModelCardError(f"model card {card_path} of checkpoint {checkpoint} is not a JSON object")
    return card


def card_transform(card: dict, where: str = "model card") -> Callable[[np.ndarray], np.ndarray]:
    """The preprocessing a model card describes: (H, W, 3) uint8 image → the network's (S, S, 3) uint8 input.

    Paper 1's cards (notebook 01) hold ``resize``, ``zoom`` and ``image_size`` among their
    ``parameters`` (or at their top level): :func:`leukutils.preprocess.paper1_transform`. Any key
    missing is a :class:`ModelCardError` naming them and ``where`` (e.g. the card's path).
    """
    from .preprocess import paper1_transform

    values = {**card, **(card.get("parameters") or {})}
    missing = [key for key in PAPER1_KEYS if values.get(key) is None]
    if missing:
        raise ModelCardError(f"{where} does not say how images were prepared: missing {', '.join(missing)} "
                             f"(paper 1's preprocessing needs {', '.join(PAPER1_KEYS)} in the card's 'parameters')")
    try:
        return paper1_transform(int(values["resize"]), float(values["zoom"]), int(values["image_size"]))
    except (TypeError, ValueError) as error:
        raise ModelCardError(f"{where}: resize, zoom and image_size must be numbers, got "
                             f"{[values[k] for k in PAPER1_KEYS]} ({error})") from error


def _load_weights(model: nn.Module, checkpoint: Path, card_path: Path, described: str) -> nn.Module:
    from .models.weights import load_checkpoint

    try:
        load_checkpoint(model, checkpoint)
    except Exception as error:  # RuntimeError (keys, shapes) or an unpickling error
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelCardError(f"model card {card_path} does not match checkpoint {checkpoint}: {described} "
                             f"cannot load these weights ({first})") from error
    return model


def load_classifier(path: str | os.PathLike) -> tuple[nn.Module, dict, Callable[[np.ndarray], np.ndarray]]:
    """A classifier saved by :func:`leukutils.train.save_model`, ready for :func:`predict_images`.

    Parameters
    ----------
    path : the ``.pt`` state dict; its card ``<name>.json`` must lie beside it, with ``architecture``
        (a :func:`leukutils.models.classifiers.build_classifier` name), ``classes`` (names, in the order
        of the outputs) and the preprocessing keys of :func:`card_transform`. Optional card keys
        ``head`` and ``activation`` (default ``"linear"``, ``"relu"``) rebuild a non-default head.

    Returns
    -------
    model : the classifier in eval mode, on the CPU.
    card : the model card (dict).
    transform : (H, W, 3) uint8 image → (S, S, 3) uint8 network input (:func:`card_transform`).

    Raises
    ------
    ModelCardError : no card, a card without ``architecture``/``classes``/preprocessing, or a card
        whose architecture and number of classes do not fit the checkpoint's weights (both files named).
    """
    from .models.classifiers import build_classifier

    path = Path(path)
    card = read_card(path)
    card_path = path.with_suffix(".json")
    missing = [key for key in ("architecture", "classes") if not card.get(key)]
    if missing:
        raise ModelCardError(f"model card {card_path} of checkpoint {path} lacks {', '.join(missing)}")
    classes = card["classes"]
    if not isinstance(classes, list) or len(classes) < 2:
        raise ModelCardError(f"model card {card_path}: 'classes' must list at least two class names, got {classes!r}")
    transform = card_transform(card, where=f"model card {card_path} of checkpoint {path}")
    architecture = card["architecture"]
    described = f"its {architecture} with {len(classes)} classes"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = build_classifier(architecture, len(classes), weights=None, head=card.get("head", "linear"),
                                     activation=card.get("activation", "relu"),
                                     activation_in_backbone=card.get("activation_in_backbone", False))
    except (ValueError, KeyError) as error:
        raise ModelCardError(f"model card {card_path} of checkpoint {path}: cannot build {described} "
                             f"({error})") from error
    _load_weights(model, path, card_path, described)
    return model.eval(), card, transform


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
    model : classifier (n, 3, S, S) → (n, k) logits, e.g. from :func:`load_classifier`.
    paths : image files (see :func:`find_images`); read with :func:`leukutils.data.readers.load_image`.
    transform : (H, W, 3) uint8 → (S, S, 3) uint8 network input, e.g. :func:`card_transform`.
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
    ``reason`` (why it failed; ``"converted to RGB"`` for grey, RGBA, palette or 16-bit images; else
    empty), ``predicted`` (class name), ``p_<class>`` per class (float64, rows sum to 1; NaN when
    failed), and with ``cam`` the ``cam_path`` of each panel written.
    """
    from .data.torch_datasets import TensorImageDataset, to_tensor
    from .predict import classify

    classes = [str(c) for c in classes]
    paths = [Path(p) for p in paths]
    if cam is not None:
        from .explain import CAM_METHODS, target_layers_for

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
    device = torch.device(device)
    model.to(device).eval()
    with _progress(n, progress, "predict") as bar:
        for chunk in _batches(n, batch_size):
            good, inputs = [], []
            for i in chunk:
                image, reason[i] = _read(paths[i], transform)
                if image is not None:
                    try:
                        tensor = to_tensor(image)
                    except ValueError as error:
                        reason[i] = f"could not be prepared: {error}"
                        continue
                    good.append(i)
                    inputs.append((image, tensor))
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
    return table


def _write_cams(model, batch, shown, probabilities, classes, method, targets: list[Path], batch_size: int) -> None:
    """One CAM panel PNG per image of ``batch``, for its predicted class."""
    import matplotlib.pyplot as plt

    from .explain import cam_heatmaps
    from .plots import cam_panel

    predicted = probabilities.argmax(1)
    heatmaps = cam_heatmaps(model, batch, method=method, targets=predicted.tolist(), batch_size=batch_size)
    for image, heatmap, k, p, target in zip(shown, heatmaps, predicted, probabilities, targets):
        fig = cam_panel(image, heatmap, f"{target.stem}: {classes[k]} (p = {p[k]:.2f}), {method}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(target, dpi=100)
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------------

def load_unet(path: str | os.PathLike, channels: Sequence[int] | None = None,
              size: int | None = None) -> tuple[nn.Module, dict]:
    """A U-Net fold saved by :func:`leukutils.train.kfold_segmentation` (``unet_fold<k>.pt``), rebuilt
    from the card beside it (``channels``, ``strides``, ``size``, …) or from ``channels`` and ``size``
    given here (these win over the card's).

    Returns the U-Net (eval mode, CPU) and its card, completed with the ``channels`` and ``size`` used.
    :class:`ModelCardError` (naming both files) when neither the card nor the arguments say the
    channels or the size, or when the weights do not fit.
    """
    from .models.unet import build_unet

    path = Path(path)
    card_path = path.with_suffix(".json")
    try:
        card = read_card(path)
    except ModelCardError as error:
        if channels is None or size is None:
            raise ModelCardError(f"U-Net checkpoint {path} has no readable model card {card_path} (written beside "
                                 "each fold by leukutils.train.kfold_segmentation): give its channels and size "
                                 "(--unet-channels, --unet-size)") from error
        card = {}
    channels = list(channels) if channels is not None else card.get("channels")
    size = size if size is not None else card.get("size")
    missing = [name for name, value in (("channels", channels), ("size", size)) if value is None]
    if missing:
        raise ModelCardError(f"model card {card_path} of U-Net checkpoint {path} lacks {', '.join(missing)}; "
                             f"give them on the command line (--unet-channels, --unet-size)")
    options = {key: card[key] for key in ("strides", "act", "norm", "num_res_units", "dropout") if key in card}
    described = f"a U-Net with channels {tuple(channels)}"
    try:
        model = build_unet(channels=tuple(int(c) for c in channels), **options)
    except (ValueError, TypeError) as error:
        raise ModelCardError(f"model card {card_path} of checkpoint {path}: cannot build {described} "
                             f"({error})") from error
    _load_weights(model, path, card_path, described)
    return model.eval(), {**card, "channels": list(channels), "size": int(size)}


def segment_images(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, unet: nn.Module | None = None,
                   unet_size: int = 128, unet_threshold: float = 0.5, device: str | torch.device = "cpu",
                   batch_size: int = 8, progress: bool = False, **params) -> pd.DataFrame:
    """Nucleus masks of image files, written to ``out_dir`` as 0/255 uint8 PNGs named after the images
    (:func:`output_names`), one summary row per file, bad files reported.

    Parameters
    ----------
    paths : image files (see :func:`find_images`).
    out_dir : folder of the masks (created).
    unet : optional trained U-Net (:func:`load_unet`): the mask is then Algorithm 1's AND the U-Net's
        (:func:`leukutils.segment.ensemble_masks`, paper 3's ensemble, with the same ``min_area``).
    unet_size, unet_threshold : the U-Net's input side and probability threshold
        (:func:`leukutils.predict.predict_masks`).
    batch_size : images read and segmented at a time.
    params : options of :func:`leukutils.segment.segment_nuclei` (``min_area``, ``closing_size``,
        ``dilation``, …); its defaults (Table A1) otherwise.

    Returns
    -------
    DataFrame, one row per path in order: ``path``, ``status`` (``"ok"``/``"failed"``), ``reason``
    (why it failed; ``"no nucleus found"`` for an all-zero mask; ``"converted to RGB"``),
    ``mask_path`` and ``nucleus_pixels`` (int; −1 when failed).
    """
    from PIL import Image

    from .predict import predict_masks
    from .segment import ensemble_masks, segment_nuclei

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
                image, reason[i] = _read(paths[i])
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
