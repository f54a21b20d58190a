"""Inference with trained models (the forward passes of evaluation), one function per kind of output:
class scores, cell detections, nucleus masks and P(ALL) of series and bags. (``leukutils predict``, the
command that applies a saved model to image files, is :mod:`leukutils.apply`.) Every function puts
the model in eval mode and runs without gradients; none draws random numbers.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .data.torch_datasets import detection_tensor, resize_image
from .train import logits_of, make_loader


@torch.no_grad()
def classify(model: nn.Module, dataset: Dataset, device: torch.device | str = "cpu",
             batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits and class probabilities of a classifier for every item of ``dataset``, in order.

    Parameters
    ----------
    model : classifier mapping (n, 3, H, W) images to (n, k) logits (Inception's named tuple is unwrapped).
    dataset : items ``(image (3, H, W) float tensor, label int)``.

    Returns
    -------
    logits : (n, k) float64, the raw outputs (computed in float32).
    probabilities : (n, k) float64, their softmax taken in float32 (rows sum to 1).
    labels : (n,) int64, the dataset's labels.
    """
    device = torch.device(device)
    model.to(device).eval()
    logits, probabilities, labels = [], [], []
    for images, batch_labels in make_loader(dataset, batch_size):
        batch_logits = logits_of(model(images.to(device)))
        logits.append(batch_logits.cpu().numpy())
        probabilities.append(torch.softmax(batch_logits, dim=1).cpu().numpy())
        labels.append(np.asarray(batch_labels))
    return (np.concatenate(logits).astype(np.float64), np.concatenate(probabilities).astype(np.float64),
            np.concatenate(labels).astype(np.int64))


@torch.no_grad()
def detect(model: nn.Module, images: Sequence[np.ndarray] | Callable, score_threshold: float = 0.5,
           batch_size: int = 4, device: str | torch.device = "cpu") -> list[dict[str, np.ndarray]]:
    """Run a torchvision detector on (H, W, 3) uint8 images.

    Returns one dict per image with ``boxes`` (n, 4) float32 ``x0, y0, x1, y1`` px, ``scores`` (n,)
    float32 and ``labels`` (n,) int64, keeping detections with score >= ``score_threshold``. An image
    without detections gives n = 0 arrays (the caller reports "no cells found").
    """
    device = torch.device(device)
    model.to(device).eval()
    out = []
    for first in range(0, len(images), batch_size):
        batch = [detection_tensor(images[i]).to(device) for i in range(first, min(first + batch_size, len(images)))]
        for pred in model(batch):
            keep = pred["scores"] >= score_threshold
            out.append({"boxes": pred["boxes"][keep].cpu().numpy().astype(np.float32),
                        "scores": pred["scores"][keep].cpu().numpy().astype(np.float32),
                        "labels": pred["labels"][keep].cpu().numpy().astype(np.int64)})
    return out


@torch.no_grad()
def predict_masks(model: nn.Module, images: Sequence[np.ndarray], size: int = 128, batch_size: int = 8,
                  threshold: float = 0.5, device: str | torch.device = "cpu") -> list[np.ndarray]:
    """Nucleus masks of (H, W, 3) uint8 ``images`` by a trained U-Net, each resized back to its image's size.

    Returns a list of (H, W) bool arrays (probability > ``threshold``).
    """
    device = torch.device(device)
    model.eval().to(device)
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        x = np.stack([resize_image(im, size) for im in chunk])
        x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).float().div_(255).to(device)
        prob = torch.sigmoid(model(x))[:, 0].cpu().numpy()
        for im, p in zip(chunk, prob):
            h, w = im.shape[:2]
            out.append(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) > threshold)
    return out


@torch.no_grad()
def predict_series(model: nn.Module, bank, series: np.ndarray, batch_size: int = 256,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """P(ALL) of each fixed-length series of cell indices into ``bank`` (view 0): (n,) float64."""
    model.to(device).eval()
    probs = []
    for start in range(0, len(series), batch_size):
        x = bank.gather(np.asarray(series)[start:start + batch_size]).to(device)
        probs.append(torch.softmax(model(x), 1)[:, 1].double().cpu())
    return torch.cat(probs).numpy() if probs else np.zeros(0)


@torch.no_grad()
def predict_bags(model: nn.Module, bags: Sequence[torch.Tensor], batch_size: int = 64,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """P(ALL) of each bag of any length; ``bags``: list of (n_i, D) feature tensors. Returns (n_bags,) float64.

    An empty bag (no cells found) gets NaN: there is nothing to diagnose, and the caller must report
    it rather than count it as healthy.
    """
    model.to(device).eval()
    out = np.full(len(bags), np.nan)
    filled = [i for i, b in enumerate(bags) if len(b)]
    for start in range(0, len(filled), batch_size):
        chunk = filled[start:start + batch_size]
        lengths = torch.tensor([len(bags[i]) for i in chunk])
        x = nn.utils.rnn.pad_sequence([torch.as_tensor(bags[i]).float() for i in chunk], batch_first=True)
        probs = torch.softmax(model(x.to(device), lengths), 1)[:, 1].double().cpu().numpy()
        out[chunk] = probs
    return out


@torch.no_grad()
def cell_blast_probability(model: nn.Module, bags: Sequence[torch.Tensor],
                           device: str | torch.device = "cpu") -> list[np.ndarray]:
    """Each cell fed alone (a length-1 series) to a bag classifier: P(blast) per cell, one (n_i,) array per bag."""
    model.to(device).eval()
    out = []
    for bag in bags:
        if len(bag) == 0:
            out.append(np.zeros(0))
            continue
        x = torch.as_tensor(bag).float()[:, None].to(device)
        out.append(torch.softmax(model(x), 1)[:, 1].double().cpu().numpy())
    return out


__all__ = ["classify", "detect", "predict_masks", "predict_series", "predict_bags", "cell_blast_probability"]
