"""CAMs: target-layer table, fast Score-CAM equal to pytorch-grad-cam's ScoreCAM, MR-SSIM, hooks released."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from leukutils.explain import (FastScoreCAM, TARGET_LAYERS, cam_heatmaps, is_constant, mr_ssim, mr_ssim_summary,
                               normalise_heatmaps, target_layers_for)
from leukutils.models.classifiers import PAPER1_MODELS, build_classifier, calibrate_batch_norm

pytestmark = pytest.mark.usefixtures("one_thread_torch")


def calibrated(name, size, n=8):
    model = build_classifier(name, 2, weights=None)
    return calibrate_batch_norm(model, torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("name", PAPER1_MODELS)
def test_every_paper1_model_has_a_target_layer(name):
    model = build_classifier(name, 2, weights=None)
    layers = target_layers_for(model)
    assert len(layers) == 1 and isinstance(layers[0], torch.nn.Module)
    assert any(layers[0] is m for m in model.modules())
    assert type(model).__name__ in TARGET_LAYERS


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(KeyError, match="TARGET_LAYERS"):
        target_layers_for(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("mobilenet_v2", 48), ("standard_cnn", 48)])
def test_fast_scorecam_equals_scorecam(name, size):
    model = calibrated(name, size)
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    reference = cam_heatmaps(model, images, method="scorecam", batch_size=16)
    fast = cam_heatmaps(model, images, method="fast_scorecam", batch_size=24)  # batches mix the two images
    assert not any(is_constant(m) for m in reference)
    assert np.abs(reference - fast).max() < 1e-4


def test_fast_scorecam_skips_constant_and_duplicate_channels():
    model = calibrated("standard_cnn", 32)
    conv, norm = model.features[12], model.features[13]  # last conv block: conv, batch norm, ReLU
    with torch.no_grad():
        conv.weight[:10] = 0                 # channels 0–9: constant maps → all-zero masks, known score
        norm.bias[:10] = -100.0              # ... and ReLU(negative) = 0 everywhere
        conv.weight[20] = conv.weight[21]    # channels 20 and 21: identical maps → one forward pass
        for p in (norm.weight, norm.bias, norm.running_mean, norm.running_var):
            p[20] = p[21]
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    layers = target_layers_for(model)
    with FastScoreCAM(model, layers) as cam:
        fast = cam(images, None)
        counts = cam.last_counts
    assert counts["constant"] >= 2 * 10
    assert counts["duplicate"] >= 2
    assert counts["forward"] + counts["constant"] + counts["duplicate"] == counts["channels"] == 2 * 256
    reference = cam_heatmaps(model, images, method="scorecam")
    assert np.abs(normalise_heatmaps(fast) - reference).max() < 1e-4


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "xgradcam"])
def test_gradient_cams_shape_range_and_hooks_released(method):
    model = calibrated("standard_cnn", 32)
    layer = target_layers_for(model)[0]
    maps = cam_heatmaps(model, torch.rand(3, 3, 32, 32), method=method, targets=[0, 1, 1])
    assert maps.shape == (3, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    assert not layer._forward_hooks  # context manager removed pytorch-grad-cam's hooks


def test_cam_heatmaps_rejects_bad_input():
    model = calibrated("standard_cnn", 32)
    with pytest.raises(ValueError, match="unknown CAM method"):
        cam_heatmaps(model, torch.rand(1, 3, 32, 32), method="lime")
    with pytest.raises(ValueError, match="targets"):
        cam_heatmaps(model, torch.rand(2, 3, 32, 32), targets=[1])


def test_normalise_heatmaps_and_constant_maps():
    maps = np.stack([np.arange(64.0).reshape(8, 8), np.full((8, 8), 3.0)])
    out = normalise_heatmaps(maps)
    assert out[0].min() == 0 and out[0].max() == 1
    assert (out[1] == 0).all() and is_constant(out[1]) and not is_constant(out[0])


def test_mr_ssim_values_and_constant_maps():
    rng = np.random.default_rng(0)
    a = rng.random((32, 32))
    assert mr_ssim(a, a) == pytest.approx(1.0)
    assert mr_ssim(a, 1 - a) < 0
    assert np.isnan(mr_ssim(a, np.zeros((32, 32))))
    with pytest.raises(ValueError, match="shape"):
        mr_ssim(a, a[:16])
    with pytest.raises(ValueError, match="NaN"):
        mr_ssim(a, np.full((32, 32), np.nan))


def test_mr_ssim_summary_counts_constant_pairs():
    scores = np.array([0.8, 0.6, np.nan, 0.9, np.nan, np.nan])
    groups = ["all", "all", "all", "hem", "hem", "hem"]
    table = mr_ssim_summary(scores, groups, n_boot=200).set_index("group")
    assert table.loc["all", "mr_ssim"] == pytest.approx(0.7)
    assert table.loc["all", "n_constant"] == 1 and table.loc["all", "n"] == 3
    assert table.loc["hem", "mr_ssim"] == pytest.approx(0.9) and table.loc["hem", "n_constant"] == 2
    assert table.loc["all", "mr_ssim low"] <= 0.7 <= table.loc["all", "mr_ssim high"]
    assert list(table.columns) == ["n", "n_constant", "mr_ssim", "mr_ssim low", "mr_ssim high"]
    all_constant = mr_ssim_summary(np.array([np.nan, np.nan]))
    assert np.isnan(all_constant.loc[0, "mr_ssim"]) and all_constant.loc[0, "n_constant"] == 2


def test_cam_maps_at_a_chosen_layer():
    from leukutils.explain import cam_maps

    model = calibrated("resnet18", 32)  # layer4 is 1×1 at 32 px: its CAM is one number per image
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    last = cam_maps(model, images, ["gradcam"])["gradcam"]
    assert all(is_constant(m) for m in last)
    earlier = cam_maps(model, images, ["gradcam", "hirescam"], target_layers=[model.layer2[-1]])  # 4×4
    assert set(earlier) == {"gradcam", "hirescam"} and earlier["gradcam"].shape == (2, 32, 32)
    assert not all(is_constant(m) for m in earlier["hirescam"])


def test_target_map_size_and_heatmap_spread():
    from leukutils.explain import heatmap_spread, target_map_size

    model = calibrated("mobilenet_v2", 80)
    assert target_map_size(model, torch.rand(2, 3, 80, 80)) == (3, 3)
    assert target_map_size(model, torch.rand(1, 3, 224, 224)) == (7, 7)
    assert not model.features[-1]._forward_hooks, "the hook is removed"
    different = np.stack([np.eye(8), np.eye(8)[::-1], np.ones((8, 8))]).astype(np.float32)
    spread = heatmap_spread(different)
    assert spread["n"] == 3 and spread["distinct"] == 3 and spread["constant"] == 1 and spread["mean_difference"] > 0
    same = heatmap_spread(np.stack([np.eye(8)] * 4))
    assert same["distinct"] == 1 and same["mean_difference"] == 0 and same["constant"] == 0
