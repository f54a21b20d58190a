"""U-Net of paper 3: architecture, Unified Focal Loss on logits, its training step, one fold and K-fold."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.losses import AsymmetricUnifiedFocalLoss
from torch import nn

from leukutils import cross_validation, train
from leukutils.data.torch_datasets import SegmentationDataset
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
    _, history = train.train_unet(images, masks, size=32, epochs=25, batch_size=4, lr=3e-3, channels=SMALL,
                                  dropout=0.0, lam=0.5, delta=0.8, gamma=0.5, seed=0)
    assert list(history.columns) == ["epoch", "train_loss", "train_iou", "lr", "seconds"]
    assert len(history) == 25 and history.train_loss.notna().all()
    assert history.train_loss.iloc[-3:].mean() < 0.7 * history.train_loss.iloc[:3].mean()
    assert history.train_iou.iloc[-1] > history.train_iou.iloc[0]


@pytest.mark.slow
def test_kfold_predicts_every_image_with_a_model_that_did_not_see_it():
    images, masks = discs(6, seed=1)
    result = cross_validation.kfold_segmentation(images, masks, k=3, seed=0, size=32, epochs=1, batch_size=4,
                                      channels=SMALL, augment=segmentation_augmentation(0))
    assert sorted(np.bincount(result.fold).tolist()) == [2, 2, 2]
    assert all(m.shape == im.shape[:2] and m.dtype == bool for m, im in zip(result.masks, images))
    assert set(result.history.fold) == {0, 1, 2} and result.history.val_iou.notna().all()
    # k-fold partition: the folds' held-out sets are disjoint and cover all images
    from sklearn.model_selection import KFold
    for fold, (_, test_idx) in enumerate(KFold(3, shuffle=True, random_state=0).split(np.arange(6))):
        assert (result.fold[test_idx] == fold).all()
    assert list(result.history.columns[:3]) == ["fold", "epoch", "train_loss"] and len(result.seconds) == 3
    partial = cross_validation.kfold_segmentation(images, masks, k=3, seed=0, max_folds=1, size=32, epochs=1, batch_size=4,
                                       channels=SMALL)
    assert (partial.fold == -1).sum() == 4 and sum(m is None for m in partial.masks) == 4


def test_segmentation_fit_follows_training_loss_keeps_last_weights_and_resumes(tmp_path):
    images, masks = discs(6, seed=2)

    def run(epochs, checkpoint=None):
        torch.manual_seed(0)
        model = unet.build_unet(channels=SMALL, dropout=0.2)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
        step = train.SegmentationStep(SegmentationDataset(images[:4], masks[:4], 32),
                                      SegmentationDataset(images[4:], masks[4:], 32), batch_size=2,
                                      loss_fn=unet.UnifiedFocalLoss(0.5, 0.8, 0.5))
        history = train.fit(model, step, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
                            scheduler_metric="train_loss", best_by=None, seed=5, checkpoint_path=checkpoint,
                            progress=False)
        return model, step, history

    model, step, straight = run(4)
    assert list(straight.columns) == ["epoch", "train_loss", "train_iou", "val_loss", "val_iou", "lr", "seconds"]
    # the held-out fold selects nothing: the model ends with its last weights
    assert step.validate(model)["loss"] == pytest.approx(straight["val_loss"].iloc[-1], rel=1e-5)
    run(2, tmp_path / "unet.pt")
    _, _, resumed = run(4, tmp_path / "unet.pt")
    columns = [c for c in straight.columns if c != "seconds"]
    np.testing.assert_allclose(resumed[columns].to_numpy(), straight[columns].to_numpy(), rtol=1e-6)


def test_dataset_rejects_mismatched_masks():
    images, masks = discs(2)
    with pytest.raises(ValueError, match="mask"):
        SegmentationDataset(images, [masks[0], masks[1][:-1]], size=32)


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


def test_mirror_padded_unet_is_monai_unet_on_the_padded_image():
    from monai.networks.nets import UNet

    torch.manual_seed(0)
    padded = unet.build_unet(channels=SMALL, dropout=0.0, mirror_pad=4).eval()
    plain = unet.build_unet(channels=SMALL, dropout=0.0, mirror_pad=0).eval()
    assert isinstance(padded, UNet) and padded.mirror_pad == 4
    assert padded.state_dict().keys() == plain.state_dict().keys()  # checkpoints load either way
    plain.load_state_dict(padded.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = padded(x)
        expected = plain(torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect"))[..., 4:-4, 4:-4]
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="mirror_pad"):
        unet.build_unet(channels=SMALL, mirror_pad=-1)


def test_resized_masks_stay_on_their_images():
    from leukutils.data.torch_datasets import resize_image, resize_mask

    image = np.zeros((120, 120, 3), np.uint8)
    image[:, 5:10] = 255  # a thin bright band and its mask
    mask = (image[..., 0] > 0).astype(np.uint8)
    small_image, small_mask = resize_image(image, 64)[..., 0] > 127, resize_mask(mask, 64).astype(bool)
    # OpenCV's INTER_NEAREST samples floor(x · 120 / 64): it widens the band by a column
    assert (small_image == small_mask).all()
