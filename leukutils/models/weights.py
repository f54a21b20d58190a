"""Build torchvision models by name with ``weights="imagenet" | None | <checkpoint path>``.

ImageNet weights come from torchvision's own weight enums (``get_model_weights(name).DEFAULT``) and
its download cache (``$TORCH_HOME``). When they cannot be had (no network, no cached file), the model
is built with random weights and a warning says so and how to fix it, instead of failing.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from ..report import atomic_write_bytes


#: Where torchvision looks for downloaded weights, said without this machine's home folder.
HUB_CHECKPOINTS = "torch.hub.get_dir()/checkpoints (by default ~/.cache/torch/hub/checkpoints)"


class PretrainedWeightsUnavailable(UserWarning):
    """ImageNet weights were asked for but could not be loaded; the model has random weights."""


def load_checkpoint(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load a ``torch.save``-d state dict (``weights_only=True``) into ``model``; clear error if absent."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model.load_state_dict(state, strict=strict)
    return model


def save_checkpoint(path: str | os.PathLike, state) -> Path:
    """``torch.save(state)`` to ``path`` atomically: an interrupted write leaves the previous file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def build_torchvision(name: str, weights: str | os.PathLike | None = "imagenet", **kwargs) -> nn.Module:
    """A torchvision model (``"resnet50"``, ``"densenet121"``, ``"alexnet"``, ``"vit_b_16"``, …).

    Parameters
    ----------
    name : torchvision model name as in ``torchvision.models.list_models()``.
    weights : ``"imagenet"`` for torchvision's default ImageNet weights (falls back to random weights
        with a :class:`PretrainedWeightsUnavailable` warning when offline), ``None`` for random
        weights, or a path to a local state-dict checkpoint of the same architecture.
    kwargs : passed to the torchvision constructor (e.g. ``aux_logits=False`` for Inception).
    """
    if name not in tvm.list_models():
        raise ValueError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()")
    if weights is None:
        return tvm.get_model(name, weights=None, **kwargs)
    if weights == "imagenet":
        enum = tvm.get_model_weights(name).DEFAULT
        attempt = io.StringIO()
        try:
            with contextlib.redirect_stdout(attempt):  # torch.hub's "Downloading: <url> to <path>"
                model = tvm.get_model(name, weights=enum, **kwargs)
        except Exception as error:  # offline: URLError, RuntimeError from the hub, ...
            warnings.warn(
                f"ImageNet weights {enum} for {name} could not be loaded ({type(error).__name__}: "
                f"{str(error)[:120]}); using random weights instead. To use pretrained weights offline, "
                f"put the file {Path(enum.url).name} in {HUB_CHECKPOINTS} or pass weights=<path to a state dict>.",
                PretrainedWeightsUnavailable, stacklevel=2)
            return tvm.get_model(name, weights=None, **kwargs)
        sys.stdout.write(attempt.getvalue())
        return model
    model = tvm.get_model(name, weights=None, **kwargs)
    return load_checkpoint(model, weights)
