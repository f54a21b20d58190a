"""Deep nucleus segmentation of paper 3: MONAI U-Net and Unified Focal Loss.

* :func:`build_unet` — MONAI ``UNet`` with paper 3's shape: 3 input channels, five levels
  32…512, strides 1 then 2, instance norm, dropout, Mish; the input is mirror-padded by 8 px on
  every side and the output cropped back (:class:`MirrorPaddedUNet`).
* :class:`UnifiedFocalLoss` — MONAI's ``AsymmetricUnifiedFocalLoss`` (λ, δ, γ of Table A2) on
  *logits*: MONAI's loss expects probabilities (it clamps its input to [ε, 1 − ε] and applies no
  sigmoid, although its docstring speaks of logits), so the sigmoid is applied here.

Training (one fold, and the K-fold out-of-fold masks) is :func:`leukutils.train.train_unet` and
:func:`leukutils.cross_validation.kfold_segmentation`; inference :func:`leukutils.inference.predict_masks`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
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


class MirrorPaddedUNet(UNet):
    """MONAI ``UNet`` that sees its input mirror-padded by ``mirror_pad`` pixels on every side and
    returns the output cropped back to the input's size (the overlap-tile border strategy of the
    original U-Net, Ronneberger et al. 2015). Same parameters and state dict as ``UNet``.

    Why: MONAI's U-Net does not treat its four borders alike. Each stride-2 up-sampling is a
    transposed convolution (kernel 3, padding 1, output padding 1) whose *last* row and column receive
    one kernel tap where the other odd rows and columns receive two, and each stride-2 convolution
    reads zero padding on the top and left but not on the bottom and right. A briefly trained
    network (paper 3's loss, δ = 0.8, makes false positives four times cheaper than misses) turns
    that into a band of false-positive pixels along the right edge of every mask, in the network's own
    coordinates (it stays at the right when the input is mirrored or transposed). With the padding,
    every image pixel, edges included, lies inside the padded input with mirrored context around it
    and the odd border rows and columns fall in the cropped margin.
    """

    def __init__(self, *args, mirror_pad: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        if mirror_pad < 0:
            raise ValueError(f"MirrorPaddedUNet: mirror_pad must be >= 0 pixels, got {mirror_pad}")
        self.mirror_pad = int(mirror_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.mirror_pad
        if pad == 0:
            return super().forward(x)
        if min(x.shape[-2:]) <= pad:
            raise ValueError(f"MirrorPaddedUNet: input {tuple(x.shape[-2:])} is too small for a {pad}-px mirror pad")
        out = super().forward(F.pad(x, (pad, pad, pad, pad), mode="reflect"))
        return out[..., pad:-pad, pad:-pad]


def build_unet(in_channels: int = 3, out_channels: int = 1, channels: Sequence[int] = (32, 64, 128, 256, 512),
               strides: Sequence[int] | None = None, dropout: float = 0.05, act: str = "mish",
               norm: str = "instance", num_res_units: int = 0, mirror_pad: int = 8) -> MirrorPaddedUNet:
    """MONAI 2-D U-Net as in paper 3 (five levels 32…512, strides 1 then 2, instance norm, Mish).

    Parameters
    ----------
    channels : feature channels per level. ``strides`` defaults to ``(1, 2, 2, …)`` (one per level
        transition), so the input side plus ``2 * mirror_pad`` must be divisible by
        ``2 ** (len(channels) - 2)``.
    dropout : dropout probability (Table A2: 0.05–0.5 depending on the dataset).
    mirror_pad : pixels of mirrored border added on every side before the network and cropped after
        (:class:`MirrorPaddedUNet`; 0 = MONAI's ``UNet`` as is, with its right-edge artefact).

    Returns
    -------
    :class:`MirrorPaddedUNet` (a ``monai.networks.nets.UNet``) mapping (n, in_channels, H, W) to
    (n, out_channels, H, W) logits.
    """
    if len(channels) < 2:
        raise ValueError(f"build_unet: need at least two levels, got channels={channels}")
    if strides is None:
        strides = (1,) + (2,) * (len(channels) - 2)
    if len(strides) != len(channels) - 1:
        raise ValueError(f"build_unet: {len(channels)} levels need {len(channels) - 1} strides, got {strides}")
    return MirrorPaddedUNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                            channels=tuple(channels), strides=tuple(strides), num_res_units=num_res_units, act=act,
                            norm=norm, dropout=dropout, mirror_pad=mirror_pad)


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
