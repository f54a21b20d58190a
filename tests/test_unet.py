"""U-Net of paper 3: architecture, Unified Focal Loss on logits, training loop and K-fold."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.losses import AsymmetricUnifiedFocalLoss
from torch import nn

from leukutils.models import unet
from leukutils.preprocess import segmentation_augmentation

SMALL = (4, 8, 16)


def discs(n: int = 6, size: int = 32, seed: int = 0):
    """Images with one dark disc each on a light background, and the disc masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, masks = [], []
    for _ in range(n):
        cy, cx = rng.uniform(10, size - 10, 2)
        r = rng.uniform(5, 8)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        image = np.full((size, size, 3), 220, np.uint8)
        image[mask] = (120, 40, 160)
        images.append(image)
        masks.append(mask)
    return images, masks


def test_unet_shape_and_layers():
    model = unet.build_unet()
    out = model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"Mish", "InstanceNorm2d", "Dropout"} <= kinds and "PReLU" not in kinds
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 3 and first.out_channels == 32 and first.stride == (1, 1)
    with pytest.raises(ValueError, match="strides"):
        unet.build_unet(channels=(8, 16, 32), strides=(1,))


def test_loss_applies_the_sigmoid_monai_leaves_out():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    good = (target * 2 - 1) * 6.0  # confident, correct logits
    bad = -good
    loss = unet.UnifiedFocalLoss(lam=0.5, delta=0.8, gamma=0.5)
    assert loss(good, target) < loss(bad, target)
    # MONAI's loss on the same raw logits would clamp them to [ε, 1 − ε]: different value
    raw = AsymmetricUnifiedFocalLoss(weight=0.5, delta=0.8, gamma=0.5)(good, target)
    expected = AsymmetricUnifiedFocalLoss(weight=0.5, delta=0.8, gamma=0.5)(torch.sigmoid(good), target)
    assert torch.isclose(loss(good, target), expected) and not torch.isclose(raw, expected)
    with pytest.raises(ValueError, match="target shape"):
        loss(good, target[:, :, :4])


def test_loss_falls_on_a_tiny_overfit():
    images, masks = discs(4)
    trained = unet.train_unet(images, masks, size=32, epochs=25, batch_size=4, lr=3e-3, channels=SMALL,
                              dropout=0.0, lam=0.5, delta=0.8, gamma=0.5, seed=0)
    history = trained.history
    assert len(history) == 25 and history.train_loss.notna().all()
    assert history.train_loss.iloc[-3:].mean() < 0.7 * history.train_loss.iloc[:3].mean()
    assert history.train_iou.iloc[-1] > history.train_iou.iloc[0]


def test_kfold_predicts_every_image_with_a_model_that_did_not_see_it():
    images, masks = discs(6, seed=1)
    result = unet.kfold_segmentation(images, masks, k=3, seed=0, size=32, epochs=1, batch_size=4,
                                     channels=SMALL, augment=segmentation_augmentation(0))
    assert sorted(np.bincount(result.fold).tolist()) == [2, 2, 2]
    assert all(m.shape == im.shape[:2] and m.dtype == bool for m, im in zip(result.masks, images))
    assert set(result.history.fold) == {0, 1, 2} and result.history.val_iou.notna().all()
    # k-fold partition: the folds' held-out sets are disjoint and cover all images
    from sklearn.model_selection import KFold
    for fold, (_, test_idx) in enumerate(KFold(3, shuffle=True, random_state=0).split(np.arange(6))):
        assert (result.fold[test_idx] == fold).all()


def test_dataset_rejects_mismatched_masks():
    images, masks = discs(2)
    with pytest.raises(ValueError, match="mask"):
        unet.SegmentationDataset(images, [masks[0], masks[1][:-1]], size=32)


def test_augmentations_keep_image_and_mask_aligned_and_repeat_with_a_seed():
    from leukutils.preprocess import classification_transform, robustness_corruption

    images, masks = discs(8, size=40, seed=3)
    first = [segmentation_augmentation(seed=5)(image=im, mask=m.astype(np.uint8)) for im, m in zip(images, masks)]
    again = [segmentation_augmentation(seed=5)(image=im, mask=m.astype(np.uint8)) for im, m in zip(images, masks)]
    for out, rep in zip(first, again):
        np.testing.assert_array_equal(out["image"], rep["image"])
        dark = out["image"].astype(int).sum(axis=2) < 500  # the disc stays where the mask is
        assert (dark == out["mask"].astype(bool)).mean() > 0.97
    x = classification_transform(48, train=True, seed=0)(image=images[0])["image"]
    assert x.shape == (48, 48, 3) and x.dtype == np.float32 and x.min() < 0  # ImageNet-normalised
    noisy = robustness_corruption(seed=0)(image=images[0])["image"]
    assert noisy.shape == images[0].shape and not np.array_equal(noisy, images[0])
