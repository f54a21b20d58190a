"""Deep nucleus segmentation of paper 3: MONAI U-Net, Unified Focal Loss and a K-fold training loop.

* :func:`build_unet` — MONAI ``UNet`` with paper 3's shape: 3 input channels, five levels
  32…512, strides 1 then 2, instance norm, dropout, Mish.
* :class:`UnifiedFocalLoss` — MONAI's ``AsymmetricUnifiedFocalLoss`` (λ, δ, γ of Table A2) on
  *logits*: MONAI's loss expects probabilities (it clamps its input to [ε, 1 − ε] and applies no
  sigmoid, although its docstring speaks of logits), so the sigmoid is applied here.
* :func:`train_unet` — one readable training loop (Adam, ReduceLROnPlateau on the training loss),
  with per-epoch loss and IoU on the training and held-out images.
* :func:`kfold_segmentation` — K-fold cross-validation that returns an out-of-fold mask for every
  image: each image is predicted by the one model that did not see it in training.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
from monai.losses import AsymmetricUnifiedFocalLoss
from monai.networks.nets import UNet
from torch import nn

#: Table A2 of paper 3: U-Net training parameters per dataset (λ = ``weight``, δ, γ, learning rate,
#: dropout, weight decay).
PAPER_UNET_PARAMS: dict[str, dict[str, float]] = {
    "cellavision": dict(lam=0.4, delta=0.7, gamma=1.0, lr=1e-4, dropout=0.1, weight_decay=1e-3),
    "jtsc": dict(lam=0.5, delta=0.8, gamma=1.0, lr=1e-4, dropout=0.05, weight_decay=1e-4),
    "smc_idb": dict(lam=0.6, delta=0.7, gamma=1.0, lr=1e-4, dropout=0.05, weight_decay=1e-3),
    "raabin_wbc": dict(lam=0.4, delta=0.7, gamma=1.0, lr=1e-4, dropout=0.5, weight_decay=1e-2),
    "all_idb2": dict(lam=0.4, delta=0.7, gamma=1.0, lr=1e-4, dropout=0.1, weight_decay=1e-4),
    "leukemia": dict(lam=0.4, delta=0.4, gamma=1.0, lr=1e-4, dropout=0.05, weight_decay=1e-5),
}


def build_unet(in_channels: int = 3, out_channels: int = 1, channels: Sequence[int] = (32, 64, 128, 256, 512),
               strides: Sequence[int] | None = None, dropout: float = 0.05, act: str = "mish",
               norm: str = "instance", num_res_units: int = 0) -> UNet:
    """MONAI 2-D U-Net as in paper 3 (five levels 32…512, strides 1 then 2, instance norm, Mish).

    Parameters
    ----------
    channels : feature channels per level. ``strides`` defaults to ``(1, 2, 2, …)`` (one per level
        transition), so the input side must be divisible by ``2 ** (len(channels) - 2)``.
    dropout : dropout probability (Table A2: 0.05–0.5 depending on the dataset).

    Returns
    -------
    ``monai.networks.nets.UNet`` mapping (n, in_channels, H, W) to (n, out_channels, H, W) logits.
    """
    if len(channels) < 2:
        raise ValueError(f"build_unet: need at least two levels, got channels={channels}")
    if strides is None:
        strides = (1,) + (2,) * (len(channels) - 2)
    if len(strides) != len(channels) - 1:
        raise ValueError(f"build_unet: {len(channels)} levels need {len(channels) - 1} strides, got {strides}")
    return UNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels, channels=tuple(channels),
                strides=tuple(strides), num_res_units=num_res_units, act=act, norm=norm, dropout=dropout)


class UnifiedFocalLoss(nn.Module):
    """Asymmetric Unified Focal Loss (Yeung et al. 2022) on one-channel logits.

    ``loss = λ · asymmetric focal loss + (1 − λ) · asymmetric focal Tversky loss`` as implemented by
    MONAI; the sigmoid that MONAI leaves out is applied here.

    Parameters
    ----------
    lam : λ, weight of the distribution (focal) term against the region (Tversky) term.
    delta : δ, weight of the foreground against the background.
    gamma : γ, focal exponent. Note MONAI's foreground Tversky term is ``(1 − TI)^(1 − γ)``: with
        γ = 1 (Table A2) it is constant and only the focal and background terms give gradients.

    Call with ``logits`` (n, 1, H, W) float and ``target`` (n, 1, H, W) in {0, 1}; returns a scalar.
    """

    def __init__(self, lam: float = 0.5, delta: float = 0.8, gamma: float = 1.0):
        super().__init__()
        self.loss = AsymmetricUnifiedFocalLoss(weight=lam, delta=delta, gamma=gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 4 or logits.shape[1] != 1:
            raise ValueError(f"UnifiedFocalLoss: expected (n, 1, H, W) logits, got {tuple(logits.shape)}")
        if target.shape != logits.shape:
            raise ValueError(f"UnifiedFocalLoss: target shape {tuple(target.shape)} differs from "
                             f"logits shape {tuple(logits.shape)}")
        return self.loss(torch.sigmoid(logits), target.to(logits.dtype))


class SegmentationDataset(torch.utils.data.Dataset):
    """Images and nucleus masks as tensors for the U-Net.

    ``images``: sequence of (H, W, 3) uint8 RGB; ``masks``: sequence of (H, W) bool (same sizes, clear
    error otherwise); ``size``: side the pair is resized to; ``augment``: optional albumentations
    transform called as ``augment(image=..., mask=...)`` (applied before the resize).
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
        image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255)
        y = torch.from_numpy(mask[None].astype(np.float32))
        return x, y


def _iou(logits: torch.Tensor, target: torch.Tensor) -> tuple[int, int]:
    pred = logits > 0
    truth = target > 0.5
    return int((pred & truth).sum()), int((pred | truth).sum())


@dataclass
class TrainedUnet:
    """A trained U-Net and its per-epoch history (epoch, train_loss, train_iou, val_loss, val_iou, lr)."""

    model: nn.Module
    history: pd.DataFrame
    seconds: float


def _evaluate(model: nn.Module, loader, loss_fn, device) -> tuple[float, float]:
    model.eval()
    total, n, inter, union = 0.0, 0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total += float(loss_fn(logits, y)) * len(x)
            n += len(x)
            i, u = _iou(logits, y)
            inter, union = inter + i, union + u
    return total / max(n, 1), (inter / union if union else 1.0)


def train_unet(train_images, train_masks, val_images=None, val_masks=None, *, size: int = 128,
               epochs: int = 30, batch_size: int = 8, lr: float = 1e-4, weight_decay: float = 1e-4,
               lam: float = 0.5, delta: float = 0.8, gamma: float = 1.0, dropout: float = 0.05,
               channels: Sequence[int] = (32, 64, 128, 256, 512), augment: Callable | None = None,
               device: str | torch.device = "cpu", seed: int = 0, progress: bool = False) -> TrainedUnet:
    """Train a paper-3 U-Net on image/mask pairs (Adam, Unified Focal Loss, ReduceLROnPlateau).

    Parameters
    ----------
    train_images, val_images : sequences of (H, W, 3) uint8 RGB images; ``val_*`` optional (held-out
        curves only: nothing is selected on them, and the scheduler follows the training loss).
    train_masks, val_masks : matching (H, W) bool nucleus masks.
    size : side the images are resized to (paper: 256); must suit ``channels`` (see :func:`build_unet`).
    lam, delta, gamma, lr, dropout, weight_decay : Table A2 (see :data:`PAPER_UNET_PARAMS`).
    augment : albumentations transform for training pairs (e.g.
        :func:`leukutils.preprocess.segmentation_augmentation`).

    Returns
    -------
    :class:`TrainedUnet` with the model (eval mode, on ``device``), the history and training seconds.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build_unet(channels=channels, dropout=dropout).to(device)
    loss_fn = UnifiedFocalLoss(lam, delta, gamma)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=3)
    train_set = SegmentationDataset(train_images, train_masks, size, augment)
    if len(train_set) == 0:
        raise ValueError("train_unet: no training images")
    # shuffling is seeded here; albumentations 2 draws from its own generator (seed it in the Compose)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator)
    val_loader = None
    if val_images is not None and len(val_images):
        val_loader = torch.utils.data.DataLoader(SegmentationDataset(val_images, val_masks, size),
                                                 batch_size=batch_size)
    rows = []
    start = time.perf_counter()
    for epoch in tqdm(range(1, epochs + 1), desc="U-Net epochs", disable=not progress, leave=False):
        model.train()
        total, n, inter, union = 0.0, 0, 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = loss_fn(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(x)
            n += len(x)
            i, u = _iou(logits.detach(), y)
            inter, union = inter + i, union + u
        train_loss = total / n
        scheduler.step(train_loss)
        row = {"epoch": epoch, "train_loss": train_loss, "train_iou": inter / union if union else 1.0,
               "val_loss": np.nan, "val_iou": np.nan, "lr": optimiser.param_groups[0]["lr"]}
        if val_loader is not None:
            row["val_loss"], row["val_iou"] = _evaluate(model, val_loader, loss_fn, device)
        rows.append(row)
    seconds = time.perf_counter() - start
    model.eval()
    return TrainedUnet(model, pd.DataFrame(rows), seconds)


def predict_masks(model: nn.Module, images: Sequence[np.ndarray], size: int = 128, batch_size: int = 8,
                  threshold: float = 0.5, device: str | torch.device = "cpu") -> list[np.ndarray]:
    """Nucleus masks of ``images`` by a trained U-Net, each resized back to its image's size.

    Returns a list of (H, W) bool arrays (probability > ``threshold``).
    """
    device = torch.device(device)
    model.eval().to(device)
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            x = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in chunk])
            x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).float().div_(255).to(device)
            prob = torch.sigmoid(model(x))[:, 0].cpu().numpy()
            for im, p in zip(chunk, prob):
                h, w = im.shape[:2]
                out.append(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) > threshold)
    return out


@dataclass
class KFoldSegmentation:
    """Result of :func:`kfold_segmentation`.

    ``masks``: out-of-fold (H, W) bool mask per image; ``fold``: (n,) fold in which each image was held
    out; ``history``: per-fold, per-epoch curves (column ``fold``); ``seconds``: training seconds per fold.
    """

    masks: list[np.ndarray]
    fold: np.ndarray
    history: pd.DataFrame
    seconds: list[float] = field(default_factory=list)


def kfold_segmentation(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], k: int = 10, seed: int = 0,
                       max_folds: int | None = None, save_dir=None, progress: bool = False,
                       **train_kw) -> KFoldSegmentation:
    """K-fold cross-validated U-Net masks: every image is segmented by the model that did not train on it.

    Parameters
    ----------
    images, masks : all images ((H, W, 3) uint8) and their (H, W) bool nucleus masks.
    k : number of folds (paper: 10). Folds are a seeded random partition (``sklearn.model_selection.KFold``).
    max_folds : train only the first ``max_folds`` folds (quick runs); images of the other folds get
        no mask (``None`` in ``masks``, fold −1) and must be left out of the scores.
    save_dir : if given, each fold's state dict is written there as ``unet_fold<k>.pt``.
    train_kw : passed to :func:`train_unet` (size, epochs, lam, delta, gamma, lr, …, device).
    """
    from pathlib import Path

    from sklearn.model_selection import KFold

    n = len(images)
    if n < k:
        raise ValueError(f"kfold_segmentation: {n} images cannot be split into k={k} folds")
    splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    out_masks: list[np.ndarray | None] = [None] * n
    fold_of = np.full(n, -1)
    histories, seconds = [], []
    size = train_kw.get("size", 128)
    device = train_kw.get("device", "cpu")
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.arange(n))):
        if max_folds is not None and fold >= max_folds:
            break
        trained = train_unet([images[i] for i in train_idx], [masks[i] for i in train_idx],
                             [images[i] for i in test_idx], [masks[i] for i in test_idx],
                             seed=seed + fold, progress=progress, **train_kw)
        predicted = predict_masks(trained.model, [images[i] for i in test_idx], size=size, device=device)
        for i, m in zip(test_idx, predicted):
            out_masks[i] = m
            fold_of[i] = fold
        histories.append(trained.history.assign(fold=fold))
        seconds.append(trained.seconds)
        if save_dir is not None:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
            torch.save(trained.model.state_dict(), Path(save_dir) / f"unet_fold{fold}.pt")
    history = pd.concat(histories, ignore_index=True)
    return KFoldSegmentation(out_masks, fold_of, history[["fold"] + [c for c in history if c != "fold"]], seconds)
