"""leukutils.shortcuts: cues planted as the generator draws them, tints equalised, corners masked; the
segment helpers the shortcut tests use (cell masks, nucleus crops) and metrics' threshold search."""
import numpy as np
import pytest

from leukutils import metrics, segment, shortcuts
from leukutils.data.synth import cues


def test_cues_follow_the_generator():
    region = shortcuts.cue_region("corner", (50, 60))
    grey = np.full((50, 60, 3), 128, np.uint8)
    drawn = (cues.apply_cue(grey, "corner", 1, 2) != grey).any(axis=2)
    assert region.any() and np.array_equal(region, drawn)
    labels = np.array([0, 1, 1, 0, 1])
    np.testing.assert_array_equal(shortcuts.cue_classes(labels, rate=1.0), labels)
    marked = shortcuts.with_cue(np.repeat(grey[None], 2, axis=0), [0, 1], "corner")
    assert np.array_equal(marked[0], grey) and not np.array_equal(marked[1], grey)
    classes, cued = shortcuts.cued_conditions(np.repeat(grey[None], 5, axis=0), labels, "corner", rate=1.0)
    np.testing.assert_array_equal(classes["reversed"], 1 - labels)
    assert not classes["absent"].any() and np.array_equal(cued["absent"][0], grey)
    assert np.array_equal(shortcuts.corner_region((20, 30), (4, 6)), shortcuts.mask_corner(np.zeros((20, 30, 1), np.uint8), (4, 6), [1])[..., 0] > 0)


def test_crops_bags_and_threshold():
    image = np.zeros((40, 40, 3), np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[2:6, 2:6] = mask[20:30, 20:30] = True
    crops = segment.nucleus_crops(image, mask, 16)
    assert crops.shape == (2, 16, 16, 3)
    assert segment.nucleus_crops(image, mask, 16, min_area=20).shape[0] == 1
    assert segment.nucleus_crops(image, np.zeros_like(mask), 16).shape == (0, 16, 16, 3)
    all_crops, field = segment.crops_of_fields([image, image, image], [mask, np.zeros_like(mask), mask], 16)
    assert all_crops.shape == (4, 16, 16, 3) and field.tolist() == [0, 0, 2, 2]
    np.testing.assert_allclose(metrics.bag_scores(np.array([0.2, 0.9, 0.4]), np.array([0, 0, 2]), 3), [0.9, 0.0, 0.4])
    threshold = metrics.best_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert 0.2 < threshold < 0.8


def test_background_tint_equalised_and_corner_masked():
    image = np.full((20, 30, 3), (200, 180, 220), np.uint8)
    image[5:10, 5:10] = (80, 40, 120)                    # a "cell"
    background = np.ones((20, 30), bool)
    background[5:10, 5:10] = False
    np.testing.assert_allclose(shortcuts.background_colour(image, background), [200, 180, 220])
    out = shortcuts.equalise_background(image, background, np.array([220.0, 220.0, 220.0]))
    np.testing.assert_array_equal(out[0, 0], [220, 220, 220])
    np.testing.assert_array_equal(out[6, 6], np.round(np.array([80, 40, 120]) * [1.1, 220 / 180, 1.0]).astype(np.uint8))
    masked = shortcuts.mask_corner(image, (4, 6), np.array([1, 2, 3]))
    assert (masked[-4:, -6:] == [1, 2, 3]).all() and np.array_equal(masked[:-4], image[:-4])
    assert np.array_equal(image[-1, -1], [200, 180, 220]), "the input is not changed"


def test_equalise_tints_moves_every_background_to_the_reference_rows_tint():
    a = np.full((12, 12, 3), (200, 200, 200), np.uint8)
    b = np.full((12, 12, 3), (180, 200, 240), np.uint8)
    cells = np.zeros((2, 12, 12), bool)
    cells[:, 4:8, 4:8] = True
    equalised, tints, reference = shortcuts.equalise_tints(np.stack([a, b]), cells, reference_rows=[0])
    np.testing.assert_allclose(reference, [200, 200, 200])
    np.testing.assert_allclose(tints[1], [180, 200, 240])
    assert (equalised[:, 0, 0] == [200, 200, 200]).all(), "both backgrounds now share the reference tint"
    field = np.full((40, 40, 3), 230, np.uint8)
    field[15:25, 15:25] = (90, 30, 140)                     # a dark magenta nucleus
    mask = segment.cell_masks([field], margin=3, min_area=20)[0]
    assert mask[20, 20] and mask[13, 20] and not mask[2, 2]  # the nucleus, its margin, not the glass


def test_the_nucleus_mark_is_drawn_inside_every_nucleus_and_survives_segmentation():
    image = np.full((40, 40, 3), 230, np.uint8)
    nuclei = np.zeros((40, 40), bool)
    yy, xx = np.ogrid[:40, :40]
    for y, x in ((10, 10), (28, 26)):
        nuclei[(yy - y) ** 2 + (xx - x) ** 2 <= 36] = True
    image[nuclei] = (90, 30, 140)
    region = shortcuts.nucleus_mark_region(nuclei, radius=2)
    assert region.sum() == 2 * 13 and not (region & ~nuclei).any() and region[10, 10] and region[28, 26]
    marked = shortcuts.mark_nuclei(image, nuclei)
    assert (marked[region] == (190, 0, 110)).all() and (marked[~region] == image[~region]).all()
    kept = segment.segment_nuclei(marked, min_area=20)
    assert kept[region].mean() == 1.0, "the handcrafted segmentation keeps the mark as nucleus"
    classes, images = shortcuts.cued_conditions(np.stack([image, image]), np.array([1, 0]), shortcuts.NUCLEUS_MARK, 1.0,
                                                nuclei=np.stack([nuclei, nuclei]))
    assert (images["as in training"][0] == marked).all() and (images["as in training"][1] == image).all()
    assert (images["reversed"][1] == marked).all() and (images["absent"] == image).all()
    assert shortcuts.cue_regions(shortcuts.NUCLEUS_MARK, images["absent"], np.stack([nuclei, nuclei])).sum() == 2 * region.sum()
    assert shortcuts.cue_regions("corner", images["absent"]).shape == (2, 40, 40)
    with pytest.raises(ValueError, match="nuclei="):
        shortcuts.cued_conditions(np.stack([image]), np.array([1]), shortcuts.NUCLEUS_MARK, 1.0)
