"""Handcrafted nucleus segmentation (paper 3, Algorithm 1), ensemble and masking."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage import morphology

from leukutils import config, preprocess, segment
from leukutils.metrics import mask_scores


def smear_cell(size: int = 120, radius: int = 22, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A pink background with a pale cytoplasm and a purple nucleus; returns (image, nucleus mask)."""
    rng = np.random.default_rng(seed)
    image = np.empty((size, size, 3), np.float32)
    image[:] = (236, 200, 205)  # pinkish background
    yy, xx = np.mgrid[:size, :size]
    centre = size / 2
    cytoplasm = (yy - centre) ** 2 + (xx - centre) ** 2 < (radius * 1.6) ** 2
    nucleus = ((yy - centre) / 1.0) ** 2 + ((xx - centre) / 1.3) ** 2 < radius ** 2
    image[cytoplasm] = (205, 185, 215)
    image[nucleus] = (110, 50, 150)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), nucleus


def test_segment_finds_the_nucleus_of_a_drawn_cell():
    image, truth = smear_cell()
    mask = segment.segment_nuclei(image)
    assert mask.shape == truth.shape and mask.dtype == bool
    assert mask_scores(mask, truth)["dice"] > 0.9


def test_fast_and_skimage_renderings_agree():
    for seed in range(3):
        image, _ = smear_cell(radius=18 + 4 * seed, seed=seed)
        fast = segment.segment_nuclei(image)
        reference = segment.segment_nuclei_skimage(image)
        assert mask_scores(fast, reference)["dice"] > 0.97


def test_steps_are_returned_in_order():
    image, _ = smear_cell()
    mask, steps = segment.segment_nuclei(image, return_steps=True)
    assert list(steps)[0] == "colour constancy" and list(steps)[-1] == "area filter"
    np.testing.assert_array_equal(steps["area filter"], mask)
    # grey world: after colour constancy the three channel means agree (to the 1 level lost by flooring)
    means = steps["colour constancy"].reshape(-1, 3).mean(axis=0)
    assert means.max() - means.min() <= 1.0 and np.ptp(image.reshape(-1, 3).mean(axis=0)) > 20
    assert steps["magenta × saturation"].dtype == np.uint8


def test_constant_and_empty_images_give_an_empty_mask():
    for value in (0, 128, 255):
        image = np.full((64, 64, 3), value, np.uint8)
        mask = segment.segment_nuclei(image)
        assert not segment.nucleus_found(mask)
    # a nucleus smaller than the area filter is dropped, leaving nothing
    tiny, _ = smear_cell(radius=5)
    assert not segment.nucleus_found(segment.segment_nuclei(tiny, min_area=150))
    run = segment.segment_many([tiny, smear_cell()[0]])
    assert run.found.tolist() == [False, True] and run.n_empty == 1


def test_bad_inputs_raise_clear_errors():
    image, truth = smear_cell()
    with pytest.raises(ValueError, match="differs from image shape"):
        segment.apply_mask(image, truth[:-1])
    with pytest.raises(ValueError, match="RGB"):
        segment.segment_nuclei(image[..., 0])
    with pytest.raises(ValueError, match="uint8"):
        segment.segment_nuclei(image.astype(np.float32))
    with pytest.raises(ValueError, match="differs"):
        segment.ensemble_masks(truth, truth[:, :-2])


def test_apply_mask_keeps_only_the_nucleus():
    image, truth = smear_cell()
    out = segment.apply_mask(image, truth)
    np.testing.assert_array_equal(out[truth], image[truth])
    assert (out[~truth] == 0).all()
    assert (segment.apply_mask(image, np.zeros_like(truth)) == 0).all()


def test_classifier_input_segments_files_counts_empty_ones_and_caches(tmp_path):
    from PIL import Image

    cell, truth = smear_cell()
    paths = [tmp_path / "cell.png", tmp_path / "blank.png"]
    Image.fromarray(cell).save(paths[0])
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(paths[1])
    segmented = segment.ClassifierInput(True)
    out = segmented(paths[0])
    np.testing.assert_array_equal(out, segment.apply_mask(cell, segment.segment_nuclei(cell)))
    assert segmented(paths[0]) is out                          # cached: segmented once
    assert (segmented(paths[1]) == 0).all()                    # no nucleus: all black, counted
    assert segmented.found == {str(paths[0]): True, str(paths[1]): False} and segmented.n_empty == 1
    np.testing.assert_array_equal(segment.ClassifierInput(False)(paths[0]), cell)
    corner = (0.75, 0.75, 1.0, 1.0)
    np.testing.assert_array_equal(segment.ClassifierInput(False, mark_region=corner)(paths[0]),
                                  preprocess.inpaint_region(cell, corner))  # the mark is inpainted before anything else

    calls = []

    def corruption(image):                                     # albumentations' calling convention
        calls.append(1)
        return {"image": 255 - image}

    corrupted = segment.ClassifierInput(False, corruption)
    np.testing.assert_array_equal(corrupted(paths[0]), 255 - cell)
    corrupted(paths[0])
    assert len(calls) == 2                                     # a random corruption is redrawn, never cached


def test_classifier_images_read_by_the_input_kind_and_transform_the_image_alone(tmp_path):
    from PIL import Image

    cell, _ = smear_cell()
    paths = [tmp_path / f"cell{i}.png" for i in range(3)]
    for k, path in enumerate(paths):
        Image.fromarray(np.roll(cell, k, axis=1)).save(path)
    inputs = {"segmented": segment.ClassifierInput(True), "raw": segment.ClassifierInput(False)}
    images = segment.ClassifierImages(paths, np.array([0, 1, 0]), inputs)

    def halve(image):                                          # albumentations' calling convention
        return {"image": image // 2}

    raw = images(np.array([2, 0]), "raw", halve)
    assert len(raw) == 2 and [raw[i][1] for i in range(2)] == [0, 0]
    np.testing.assert_allclose(raw[1][0].numpy(), (cell // 2).transpose(2, 0, 1) / 255, atol=1e-6)
    segmented = images([1], "segmented", halve)[0][0]
    expected = segment.apply_mask(np.roll(cell, 1, axis=1), segment.segment_nuclei(np.roll(cell, 1, axis=1))) // 2
    np.testing.assert_allclose(segmented.numpy(), expected.transpose(2, 0, 1) / 255, atol=1e-6)
    black = segment.ClassifierInput(False, lambda image: {"image": np.zeros_like(image)})
    assert images([0], "raw", halve, loader=black)[0][0].max() == 0  # another loader (e.g. corrupting) wins


def test_fill_holes_and_area_filter_match_scipy_and_skimage():
    rng = np.random.default_rng(1)
    for _ in range(5):
        mask = ndimage.binary_opening(rng.random((80, 90)) > 0.45)
        np.testing.assert_array_equal(segment.fill_holes(mask), ndimage.binary_fill_holes(mask))
        expected = morphology.remove_small_objects(mask, max_size=19, connectivity=2)
        np.testing.assert_array_equal(segment.remove_small_regions(mask, 20), expected)


def test_ensemble_is_and_then_area_opening():
    a = np.zeros((60, 60), bool)
    b = np.zeros((60, 60), bool)
    a[10:40, 10:40] = True
    b[20:50, 20:50] = True
    a[50:53, 0:3] = b[50:53, 0:3] = True  # a 9 px region both agree on: removed by the area opening
    out = segment.ensemble_masks(a, b, min_area=50)
    expected = a & b
    expected[50:53, 0:3] = False
    np.testing.assert_array_equal(out, expected)
    assert out.sum() == 400  # the 20×20 overlap


def jtsc_root() -> Path:
    mirror = config.mirror_dir()
    root = None if mirror is None else mirror / "wbc-seg-jtsc" / "Dataset 1"
    if root is None or not root.is_dir():
        pytest.skip("JTSC (wbc-seg-jtsc) not found; set LEUKUTILS_DATA_MIRROR")
    return root


@pytest.mark.realdata
def test_real_jtsc_handcrafted_dice():
    root = jtsc_root()
    dice = []
    for path in sorted(root.glob("*.bmp"))[:60]:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        truth = cv2.imread(str(path.with_suffix(".png")), cv2.IMREAD_GRAYSCALE) == 255
        dice.append(mask_scores(segment.segment_nuclei(image), truth)["dice"])
    assert np.mean(dice) > 0.88  # the paper's Makem & Tiedeu anchor is 0.908 over all 300


def test_dilation_widens_the_mask_by_its_radius():
    image, _ = smear_cell()
    plain = segment.segment_nuclei(image)
    wider = segment.segment_nuclei(image, dilation=2)
    assert (wider >= plain).all() and wider.sum() > plain.sum()
    # nothing beyond 2 px (chessboard distance) of the plain mask
    from scipy import ndimage
    assert not (wider & ~ndimage.binary_dilation(plain, np.ones((5, 5), bool))).any()


def disc_masks(n: int = 6, size: int = 48, radius: int = 10) -> list[np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    return [(yy - size / 2 - i % 3) ** 2 + (xx - size / 2 + i % 2) ** 2 < radius ** 2 for i in range(n)]


@pytest.mark.parametrize("radius", [1, 2, 3, 4, 6])
def test_dilate_mask_adds_a_digital_disc_of_the_radius(radius):
    point = np.zeros((31, 31), bool)
    point[15, 15] = True
    grown = segment.dilate_mask(point, radius)
    distance = np.hypot(*(np.mgrid[:31, :31] - 15))
    assert grown[distance <= radius].all()              # every pixel within the radius is added ...
    assert not grown[distance > radius + 0.5].any()     # ... and nothing beyond half a pixel more
    rows, cols = np.nonzero(grown)
    assert rows.min() == cols.min() == 15 - radius and rows.max() == cols.max() == 15 + radius
    # a region grows by the radius on every side: a 6 × 8 rectangle becomes (6 + 2r) × (8 + 2r) across
    box = np.zeros((31, 31), bool)
    box[12:18, 11:19] = True
    rows, cols = np.nonzero(segment.dilate_mask(box, radius))
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (6 + 2 * radius, 8 + 2 * radius)


def test_dilate_mask_radius_zero_is_a_copy_and_negative_radii_are_errors():
    mask = disc_masks(1)[0]
    same = segment.dilate_mask(mask, 0)
    assert (same == mask).all() and same is not mask
    with pytest.raises(ValueError, match="radius"):
        segment.dilate_mask(mask, -1)


def test_out_of_fold_dilation_recovers_the_annotation_margin():
    masks = disc_masks(6)
    truths = [segment.dilate_mask(m, 2) for m in masks]
    folds = np.array([0, 0, 1, 1, 2, 2])
    out, chosen = segment.out_of_fold_dilation(masks, truths, folds)
    assert chosen == {0: 2, 1: 2, 2: 2}
    assert all((o == t).all() for o, t in zip(out, truths))


def test_out_of_fold_dilation_never_chooses_on_the_images_it_scores():
    masks = disc_masks(6)
    # fold 0 is annotated 3 px outside the stained edge, folds 1 and 2 at 1 px
    margins = [3, 3, 1, 1, 1, 1]
    truths = [segment.dilate_mask(m, r) for m, r in zip(masks, margins)]
    folds = np.array([0, 0, 1, 1, 2, 2])
    out, chosen = segment.out_of_fold_dilation(masks, truths, folds)
    assert chosen[0] == 1  # chosen on folds 1 and 2 only, so it cannot see fold 0's 3 px
    assert (out[0] == segment.dilate_mask(masks[0], 1)).all()
    # images outside every fold (fold −1) are left as they are and do not vote
    out, chosen = segment.out_of_fold_dilation(masks, truths, np.array([-1, -1, 1, 1, 2, 2]))
    assert set(chosen) == {1, 2} and (out[0] == masks[0]).all()


def test_out_of_fold_dilation_rejects_bad_input():
    masks = disc_masks(4)
    with pytest.raises(ValueError, match="4 masks, 3 truths"):
        segment.out_of_fold_dilation(masks, masks[:3], np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="shape"):
        segment.out_of_fold_dilation(masks, [m[:-1] for m in masks], np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="at least two folds"):
        segment.out_of_fold_dilation(masks, masks, np.zeros(4, int))


def test_compare_methods_means_intervals_and_paired_differences():
    truths = [np.zeros((10, 10), bool) for _ in range(6)]
    for t in truths:
        t[2:8, 2:8] = True
    exact = [t.copy() for t in truths]
    wide = [np.pad(t[1:-1, 1:-1], 1, constant_values=False) | np.roll(t, 1, axis=1) for t in truths]  # extra pixels
    empty = [np.zeros_like(t) for t in truths]
    scores = segment.score_masks({"wide": wide, "empty": empty, "exact": exact}, truths)
    assert len(scores) == 18 and scores.loc[scores.method == "empty", "empty"].all()
    table = segment.compare_methods(scores, reference="exact", n_boot=200, seed=0)
    assert table["method"].tolist() == ["wide", "empty", "exact"]  # the order of the scores
    assert table["n"].tolist() == [6, 6, 6] and table["empty masks"].tolist() == [0, 6, 0]
    row = table.set_index("method")
    assert row.loc["exact", "dice"] == 1.0 and row.loc["empty", "dice"] == 0.0
    assert row.loc["wide", "dice"] == pytest.approx(mask_scores(wide[0], truths[0])["dice"])
    gain = row["exact dice minus this"]
    assert gain["exact"] == 0.0 and gain["empty"] == 1.0
    assert gain["wide"] == pytest.approx(1.0 - row.loc["wide", "dice"])
    # the same images in every resample: identical masks give a zero-width interval around the difference
    assert row.loc["wide", "exact dice minus this low"] == pytest.approx(gain["wide"])
    assert row.loc["wide", "exact dice minus this high"] == pytest.approx(gain["wide"])
    assert "exact dice minus this" not in segment.compare_methods(scores, reference=None, n_boot=10)
    with pytest.raises(ValueError, match="reference"):
        segment.compare_methods(scores, reference="ensemble", n_boot=10)
