"""Plotting: every figure function returns a Figure with the expected axes and titles, and saves nothing."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from leukutils import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def image_axes(fig: Figure) -> list:
    """Axes that show an image (not colour bars)."""
    return [ax for ax in fig.axes if ax.images]


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def rgb(h=24, w=20, value=120):
    image = np.full((h, w, 3), value, np.uint8)
    image[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = (90, 40, 150)
    return image


def square_mask(h=24, w=20):
    mask = np.zeros((h, w), bool)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    return mask


def test_tile_grid_rows_blanks_labels_and_title():
    tiles = [[rgb(), rgb(30, 30), None], [rgb()]]
    fig = plots.tile_grid(tiles, ["first", "second"], [["a", "", "c"], ["d"]], title="grid")
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert len(image_axes(fig)) == 3                                  # None and the short row stay blank
    assert titles(fig) == ["a", "d"] and fig._suptitle.get_text() == "grid"
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["first", "second"]


def test_contour_overlay_draws_only_the_outline():
    image, mask = rgb(), square_mask()
    out = plots.contour_overlay(image, mask, colour=(0, 255, 255))
    assert out.shape == image.shape and out.dtype == np.uint8 and (image == rgb()).all()  # input untouched
    changed = (out != image).any(axis=2)
    inner = np.zeros_like(mask)
    inner[7:17, 6:14] = True                                          # the mask without its 1 px rim
    assert changed.any() and not (changed & ~mask).any() and not (changed & inner).any()
    assert (out[changed] == (0, 255, 255)).all()


def test_contour_strip_and_overlay_and_cam_panel():
    images, masks = [rgb() for _ in range(10)], [square_mask() for _ in range(10)]
    fig = plots.contour_strip(images, masks, n_show=8)
    assert len(fig.axes) == 8 and titles(fig) == [str(i) for i in range(8)]
    assert len(plots.contour_strip(images[:3], masks[:3]).axes) == 3
    heatmap = np.linspace(0, 1, 24 * 20).reshape(24, 20)
    blended = plots.overlay(rgb(), heatmap, alpha=0.5)
    assert blended.shape == (24, 20, 3) and 0 <= blended.min() and blended.max() <= 1
    np.testing.assert_allclose(plots.overlay(rgb(), heatmap, alpha=0.0), rgb() / 255, atol=1e-6)
    fig = plots.cam_panel(rgb(), heatmap, "Grad-CAM of a model")
    assert len(image_axes(fig)) == 3 and len(fig.axes) == 4          # input, heatmap, overlay + colour bar
    assert titles(fig) == ["input", "heatmap", "overlay"] and fig._suptitle.get_text() == "Grad-CAM of a model"
    rows = plots.cam_panel(np.stack([rgb(), rgb()]), np.stack([heatmap, 1 - heatmap]), "two cells",
                           row_titles=["all, right (p = 0.99)", "hem, wrong (p = 0.70)"])
    assert len(image_axes(rows)) == 6 and len(rows.axes) == 7             # one colour bar for both rows
    assert titles(rows)[::3] == ["all, right (p = 0.99)", "hem, wrong (p = 0.70)"]
    np.testing.assert_array_equal(rows.axes[4].images[0].get_array(), 1 - heatmap)
    with pytest.raises(ValueError, match="one of each per row"):
        plots.cam_panel(np.stack([rgb(), rgb()]), heatmap[None], row_titles=["a", "b"])


def test_cam_grid_has_one_row_per_image_and_one_column_per_method():
    images = [rgb(), rgb(), rgb()]
    maps = {m: np.random.default_rng(0).random((3, 24, 20)) for m in ("gradcam", "hirescam")}
    fig = plots.cam_grid(images, maps, ["A\nhem", "A\nall", "B\nhem"], title="two methods")
    assert len(image_axes(fig)) == 9 and len(fig.axes) == 10       # and one colour bar for the figure
    assert titles(fig) == ["A\nhem", "Grad-CAM", "HiResCAM", "A\nall", "Grad-CAM", "HiResCAM", "B\nhem",
                           "Grad-CAM", "HiResCAM"]                    # methods as the papers name them
    assert fig._suptitle.get_text() == "two methods"
    overlays = [ax for ax in fig.axes if ax.get_title() in ("Grad-CAM", "HiResCAM")]
    assert all(len(ax.images) == 2 for ax in overlays)                # image + heatmap
    assert {ax.images[1].get_cmap().name for ax in overlays} == {plots.HEATMAP_CMAP}
    with pytest.raises(ValueError, match="one of each per image"):
        plots.cam_grid(images, maps, ["only one"])
    seen = [np.zeros((24, 20, 3), np.uint8)] * 3
    fig = plots.cam_grid(images, maps, ["a", "b", "c"], inputs={"hirescam": seen})
    drawn = [ax.images[0].get_array() for ax in fig.axes if ax.get_title() == "HiResCAM"]
    assert all((np.asarray(d) == 0).all() for d in drawn), "each method's heatmap is drawn on the input given for it"
    with pytest.raises(ValueError, match="one of each per image"):
        plots.cam_grid(images, maps, ["a", "b", "c"], inputs={"hirescam": seen[:1]})
    fig = plots.cam_grid(images[:1], {"fast_scorecam": maps["gradcam"][:1]}, ["a"])
    assert titles(fig) == ["a", "Score-CAM"]


def test_training_and_fold_curves():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_accuracy": [0.5, 0.7, 0.9], "val_accuracy": [0.5, 0.6, 0.7],
                            "train_loss": [1.0, 0.6, 0.3], "val_loss": [1.1, 0.8, 0.7]})
    fig = plots.training_curves(history, "loss", title="MobileNetV2: loss per epoch")
    ax, = fig.axes
    assert ax.get_title() == "MobileNetV2: loss per epoch" and ax.get_ylabel() == "loss" and len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), history["val_loss"])
    folds = pd.concat([history.assign(fold=f, train_iou=0.5 + f / 10, val_iou=0.4) for f in range(3)])
    fig = plots.fold_curves(folds)
    assert len(fig.axes) == 2 and [len(ax.lines) for ax in fig.axes] == [6, 6]
    assert fig.axes[1].get_ylabel() == "Unified Focal Loss"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["fold 0", "fold 1", "fold 2"]


def test_confusion_matrix_counts():
    fig = plots.confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), ["hem", "all"],
                                 title="MobileNetV2, test set")
    ax, = fig.axes
    assert ax.get_title() == "MobileNetV2, test set"
    assert [t.get_text() for t in ax.texts] == ["1", "1", "1", "2"]   # rows true, columns predicted
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hem", "all"]


def test_mil_figures():
    removal = pd.DataFrame({"size": ["all", "5", "10"], "none": [0.9, 0.8, 0.9], "none low": [0.8, 0.6, 0.8],
                            "none high": [1.0, 0.9, 1.0], "blast removal": [0.1, 0.2, 0.1],
                            "normal removal": [1.0, 0.9, 1.0]})
    fig = plots.removal_recall(removal)
    ax, = fig.axes
    bars = ax.containers                                            # one errorbar per condition
    assert len(bars) == 3 and all(len(c.lines[0].get_xdata()) == 2 for c in bars)  # "all cells" left out
    assert ax.get_title().startswith("removal test") and ax.get_xlabel() and ax.get_ylabel()
    segments = bars[0].lines[2][0].get_segments()                   # the interval of "none" at 5 cells
    np.testing.assert_allclose([segments[0][0][1], segments[0][1][1]], [0.6, 0.9])
    scores = pd.DataFrame({"size": [1, 5, 10], "accuracy": [0.5, 0.7, 0.9], "accuracy low": [0.3, 0.6, 0.8],
                           "accuracy high": [0.7, 0.8, 1.0], "f1": [0.4, 0.6, 0.9]})
    ax, = plots.accuracy_vs_cells(scores).axes
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["F1", "accuracy (95 % interval)"]
    assert ax.get_title() and ax.get_ylabel() and ax.get_xlabel() == "cells per patient"
    np.testing.assert_allclose(ax.containers[0].lines[2][0].get_segments()[0][:, 1], [0.3, 0.7])
    summary = pd.DataFrame({"length": [1, 4, 16], "mean_accuracy": [0.6, 0.8, 0.7], "sd_accuracy": [0.1, 0.05, 0.0]})
    ax, = plots.series_length_curve(summary).axes
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "accuracy (mean ± sd)"
    ax, = plots.order_sensitivity(np.array([0.1, 0.0, 0.3]), np.array([1, 0, 1]), 20).axes
    assert len(ax.patches) == 3 and ax.get_title() == "LSTM order sensitivity, 20 orders per patient"
    assert ax.patches[1].get_facecolor() != ax.patches[0].get_facecolor()  # healthy blue, ALL red


def test_segmentation_figures():
    images, truths = [rgb() for _ in range(4)], [square_mask() for _ in range(4)]
    methods = {"handcrafted": truths, "deep (U-Net)": [np.zeros((24, 20), bool)] * 4, "ensemble": truths}
    fig = plots.segmentation_examples(images, truths, methods, picks=[2, 0, 3])
    assert len(fig.axes) == 15
    assert titles(fig)[:5] == ["image 2", "ground truth", "handcrafted\nDice 1.000", "deep (U-Net)\nDice 0.000",
                               "ensemble\nDice 1.000"]


def test_logit_clusters_one_panel_per_model():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 5)
    projections = {"best": rng.normal(size=(15, 2)) + y[:, None] * 5, "worst": rng.normal(size=(15, 2))}
    fig = plots.logit_clusters(projections, y, ["L1", "L2", "L3"], ratios={"best": 25.78, "worst": 1.5})
    assert len(fig.axes) == 2
    assert titles(fig) == ["best\nDist/SD ratio 25.78", "worst\nDist/SD ratio 1.50"]
    assert len(fig.axes[0].collections) == 6                           # points and centroid per class
    fig = plots.logit_clusters({"only": projections["best"]}, {"only": y}, ["L1", "L2", "L3"])
    assert titles(fig) == ["only"]


def test_figures_are_not_saved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plots.tile_grid([[rgb()]], ["row"])
    plots.cam_panel(rgb(), np.zeros((24, 20)))
    assert not list(tmp_path.iterdir())
