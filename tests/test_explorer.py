"""The CAM explorer: one view computed from arrays, its figure, and the controls redrawing it."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from leukutils import explorer, plots
from leukutils.model_cards import save_model
from leukutils.models.classifiers import StandardCNN, build_classifier

pytestmark = pytest.mark.usefixtures("one_thread_torch")


def cell_images(n: int = 3, size: int = 32) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dark discs ("nuclei") at different places on a light background, and their masks."""
    yy, xx = np.mgrid[:size, :size]
    images, masks = [], []
    for k in range(n):
        cy, cx = 10 + 5 * k, 20 - 4 * k
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < 36
        image = np.full((size, size, 3), 220, np.uint8)
        image[mask] = (90, 40, 140)
        images.append(image)
        masks.append(mask)
    return images, masks


def small_classifier() -> explorer.Classifier:
    torch.manual_seed(0)
    return explorer.Classifier(StandardCNN(2, widths=(4, 8, 8, 8)).eval(), ["hem", "ALL"], name="cnn")


def test_explore_gives_two_maps_their_agreement_and_the_nucleus_share():
    images, masks = cell_images()
    view = explorer.explore(small_classifier(), images[0], "gradcam", "fast_scorecam", layer="features.8", mask=masks[0])
    assert view.image.shape == (32, 32, 3) and view.heatmap.shape == view.compare_heatmap.shape == (32, 32)
    assert 0 <= view.heatmap.min() and view.heatmap.max() <= 1
    assert view.probabilities.sum() == pytest.approx(1) and view.target == view.predicted
    assert view.map_size == (8, 8)  # the third block's convolution at 32 px, after two poolings
    assert view.nucleus_share == pytest.approx(masks[0].mean())
    assert np.isnan(view.nucleus_mass) or 0 <= view.nucleus_mass <= 1
    other = explorer.explore(small_classifier(), images[0], "gradcam", "gradcam", layer="features.8", target=1 - view.target)
    assert other.target == 1 - view.target
    assert np.isnan(other.mr_ssim) or other.mr_ssim == pytest.approx(1.0)  # a map against itself


def test_explore_names_what_is_wrong():
    images, _ = cell_images(1)
    with pytest.raises(ValueError, match="unknown CAM method 'gradcamm'"):
        explorer.explore(small_classifier(), images[0], "gradcamm")
    with pytest.raises(ValueError, match="no layer 'features.99'"):
        explorer.explore(small_classifier(), images[0], layer="features.99")
    with pytest.raises(ValueError, match="target class 5"):
        explorer.explore(small_classifier(), images[0], target=5)


def test_explainable_layers_lists_the_convolutional_modules():
    layers = explorer.explainable_layers(StandardCNN(2, widths=(4, 8, 8, 8)))
    assert layers[0] == "" and "features.0" in layers and all(not name.startswith("classifier") for name in layers)
    with pytest.raises(ValueError, match="no 2-D convolution"):
        explorer.explainable_layers(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 2)))


def test_the_explorer_figure_has_the_views_panels():
    images, masks = cell_images(1)
    view = explorer.explore(small_classifier(), images[0], mask=masks[0], layer="features.8")
    fig = plots.explorer_figure(view, "cell 0")
    titles = [ax.get_title() for ax in fig.axes]
    assert "Grad-CAM" in titles and "Score-CAM" in titles and any("probabilities" in t for t in titles)
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    assert "MR-SSIM" in fig._suptitle.get_text() and "nucleus" in fig._suptitle.get_text()


def test_controls_redraw_the_view_and_cache_it():
    images, masks = cell_images()
    cam_explorer = explorer.CamExplorer(small_classifier(), images, masks=masks, labels=["hem", "ALL", "ALL"],
                                        methods=["gradcam", "hirescam", "fast_scorecam"])
    controls = cam_explorer.controls()
    cam_explorer.redraw()
    first = cam_explorer.view
    dropdowns = cam_explorer._dropdowns
    dropdowns["method"].value = "hirescam"
    assert cam_explorer.view.method == "hirescam" and cam_explorer.view is not first
    dropdowns["image"].value = 2
    assert cam_explorer.choice["image"] == 2 and not np.array_equal(cam_explorer.view.image, first.image)
    dropdowns["target"].value = 0
    assert cam_explorer.view.target == 0
    dropdowns["target"].value = explorer.PREDICTED
    assert cam_explorer.choice["target"] is None and cam_explorer.view.target == cam_explorer.view.predicted
    dropdowns["layer"].value = "features.4"
    assert cam_explorer.view.map_size == (16, 16)
    assert cam_explorer(**cam_explorer.choice) is cam_explorer.view  # computed once
    assert controls is cam_explorer.controls()


def test_the_explorer_loads_a_saved_classifier_and_a_folder(tmp_path):
    from PIL import Image

    images, _ = cell_images(2)
    for k, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"cell_{k}.png")
    torch.manual_seed(0)
    path = save_model(build_classifier("standard_cnn", 2, weights=None), tmp_path / "model" / "cnn.pt",
                      card={"architecture": "standard_cnn", "classes": ["hem", "all"], "resize": 32, "zoom": 1.0, "image_size": 32})
    cam_explorer = explorer.CamExplorer(path, tmp_path)
    assert cam_explorer.names == ["cell_0.png", "cell_1.png"] and list(cam_explorer.models) == ["cnn"]
    assert cam_explorer(image=1).image.shape == (32, 32, 3)


def test_the_explorer_rejects_what_it_cannot_show():
    images, masks = cell_images(2)
    with pytest.raises(ValueError, match="1 masks for 2 images"):
        explorer.CamExplorer(small_classifier(), images, masks=masks[:1])
    with pytest.raises(ValueError, match="not \\(H, W, 3\\) uint8"):
        explorer.CamExplorer(small_classifier(), [images[0].astype(float)])
    with pytest.raises(ValueError, match="image 7 is not one of the 2"):
        explorer.CamExplorer(small_classifier(), images)(image=7)
