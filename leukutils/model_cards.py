"""Model cards: the JSON beside each saved model (``<name>.pt`` + ``<name>.json``), written and read here.

A card says what a checkpoint is and how it was made: architecture, classes, the notebook's parameters
(among them the preprocessing), fold, seed, metrics. It is what rebuilds the model for
``leukutils predict`` and ``leukutils segment`` (:mod:`leukutils.apply`).

* writing: :func:`model_card` (a card from a notebook's parameters and facts), :func:`unet_card` (a
  U-Net's shape), :func:`save_model` (weights and card, atomically);
* reading: :func:`read_card`, :func:`card_transform` (the preprocessing a card describes),
  :func:`load_classifier` and :func:`load_unet` (the model rebuilt from its card, weights loaded);
  a card that is missing or does not fit its checkpoint is a :class:`ModelCardError` naming both files.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from torch import nn

from .models.classifiers import build_classifier
from .models.unet import build_unet
from .models.weights import load_checkpoint, save_checkpoint
from .preprocess import chain, mark_removal, paper1_transform, region_mask
from .report import atomic_write_bytes

__all__ = ["ModelCardError", "model_card", "unet_card", "save_model", "read_card", "card_transform",
           "load_classifier", "load_unet"]

#: Keys of paper 1's preprocessing (resize → centred zoom → resize) in a model card's ``parameters``.
PAPER1_KEYS = ("resize", "zoom", "image_size")


class ModelCardError(ValueError):
    """A model card is missing, unreadable, or does not describe its checkpoint; the message names both files."""


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

def model_card(parameters: dict, **facts) -> dict:
    """A model card: what a saved model is and how it was made, for the JSON beside its ``.pt``.

    Parameters
    ----------
    parameters : the notebook's parameters (:func:`leukutils.parameters.notebook_parameters`); where the run
        read and wrote (``data_dir``, ``output_dir``, ``device``) is left out, as it describes the machine,
        not the model.
    facts : what the notebook knows besides (``architecture``, ``classes``, ``sizes``, ``test_metrics``, ...).
    """
    machine = {"data_dir", "output_dir", "device"}
    return {"parameters": {k: v for k, v in parameters.items() if k not in machine}, **facts}


def save_model(model: nn.Module, path: str | os.PathLike, card: dict | None = None) -> Path:
    """Save ``model.state_dict()`` to ``path`` (``.pt``) and ``card`` as JSON beside it (``.json``).

    The card describes the model (architecture, data, split, metrics, seed); it is written with
    sorted keys. Load with :func:`load_classifier` or :func:`load_unet` (from the card), or
    :func:`leukutils.models.weights.load_checkpoint` (``weights_only=True``).
    """
    path = Path(path)
    save_checkpoint(path, model.state_dict())
    if card is not None:
        text = json.dumps(card, indent=2, sort_keys=True, default=_json_default) + "\n"
        atomic_write_bytes(path.with_suffix(".json"), text.encode())
    return path


def unet_card(model: nn.Module, size: int, **facts) -> dict:
    """The card of a U-Net of :func:`leukutils.models.unet.build_unet`: its ``channels``, ``strides``,
    ``act``, ``norm``, ``num_res_units`` and ``dropout``, the input ``size`` it was trained at, and ``facts``
    (e.g. ``fold``, ``k``, ``seed``)."""
    return {"architecture": "unet", "channels": list(model.channels), "strides": list(model.strides),
            "act": model.act, "norm": model.norm, "num_res_units": model.num_res_units,
            "dropout": model.dropout, "size": int(size), **facts}


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a model card")


# --------------------------------------------------------------------------------------------------
# Reading
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
                             "leukutils.model_cards.save_model) says what the weights belong to (architecture, classes, "
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
    missing is a :class:`ModelCardError` naming them and ``where`` (e.g. the card's path). A card with a
    ``mark_region`` (the corner mark its training images carried, :func:`leukutils.shortcuts.mark_region`)
    first inpaints that region (:func:`leukutils.preprocess.mark_removal`), as training did, so that
    ``leukutils predict`` removes a scale bar from a user's images too.
    """
    values = {**card, **(card.get("parameters") or {})}
    missing = [key for key in PAPER1_KEYS if values.get(key) is None]
    if missing:
        raise ModelCardError(f"{where} does not say how images were prepared: missing {', '.join(missing)} "
                             f"(paper 1's preprocessing needs {', '.join(PAPER1_KEYS)} in the card's 'parameters')")
    try:
        transform = paper1_transform(int(values["resize"]), float(values["zoom"]), int(values["image_size"]))
    except (TypeError, ValueError) as error:
        raise ModelCardError(f"{where}: resize, zoom and image_size must be numbers, got "
                             f"{[values[k] for k in PAPER1_KEYS]} ({error})") from error
    region = values.get("mark_region")
    if region is None:
        return transform
    try:
        region_mask((8, 8), region)  # checks the four fractions
    except (TypeError, ValueError) as error:
        raise ModelCardError(f"{where}: mark_region must be (top, left, bottom, right) fractions of the image, "
                             f"got {region!r} ({error})") from error
    return chain(mark_removal(region), transform)


def _load_weights(model: nn.Module, checkpoint: Path, card_path: Path, described: str) -> nn.Module:
    try:
        load_checkpoint(model, checkpoint)
    except Exception as error:  # RuntimeError (keys, shapes) or an unpickling error
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelCardError(f"model card {card_path} does not match checkpoint {checkpoint}: {described} "
                             f"cannot load these weights ({first})") from error
    return model


def load_classifier(path: str | os.PathLike) -> tuple[nn.Module, dict, Callable[[np.ndarray], np.ndarray]]:
    """A classifier saved by :func:`save_model`, ready for :func:`leukutils.apply.predict_images`.

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




def load_unet(path: str | os.PathLike, channels: Sequence[int] | None = None,
              size: int | None = None) -> tuple[nn.Module, dict]:
    """A U-Net fold saved by :func:`leukutils.cross_validation.kfold_segmentation` (``unet_fold<k>.pt``), rebuilt
    from the card beside it (``channels``, ``strides``, ``size``, …) or from ``channels`` and ``size``
    given here (these win over the card's).

    Returns the U-Net (eval mode, CPU) and its card, completed with the ``channels`` and ``size`` used.
    :class:`ModelCardError` (naming both files) when neither the card nor the arguments say the
    channels or the size, or when the weights do not fit.
    """
    path = Path(path)
    card_path = path.with_suffix(".json")
    try:
        card = read_card(path)
    except ModelCardError as error:
        if channels is None or size is None:
            raise ModelCardError(f"U-Net checkpoint {path} has no readable model card {card_path} (written beside "
                                 "each fold by leukutils.cross_validation.kfold_segmentation): give its channels and size "
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
