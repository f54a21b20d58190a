"""leukutils.shortcuts: cues planted as the generator draws them, tints equalised, corner marks found and inpainted; the
segment helpers the shortcut tests use (cell masks, nucleus crops) and metrics' threshold search."""
import numpy as np
import pytest

from leukutils import metrics, preprocess, segment, shortcuts
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


def test_background_tint_equalised():
    image = np.full((20, 30, 3), (200, 180, 220), np.uint8)
    image[5:10, 5:10] = (80, 40, 120)                    # a "cell"
    background = np.ones((20, 30), bool)
    background[5:10, 5:10] = False
    np.testing.assert_allclose(shortcuts.background_colour(image, background), [200, 180, 220])
    out = shortcuts.equalise_background(image, background, np.array([220.0, 220.0, 220.0]))
    np.testing.assert_array_equal(out[0, 0], [220, 220, 220])
    np.testing.assert_array_equal(out[6, 6], np.round(np.array([80, 40, 120]) * [1.1, 220 / 180, 1.0]).astype(np.uint8))
    assert np.array_equal(image[0, 0], [200, 180, 220]), "the input is not changed"


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


# ------------------------------------------------------------------------------------ corner marks
def _smear(seed: int = 0, size: int = 120) -> np.ndarray:
    """A light field with two purple nuclei and a pink red cell (a blob, not a stroke)."""
    rng = np.random.default_rng(seed)
    field = np.clip(rng.normal(225, 4, (size, size, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.ogrid[:size, :size]
    field[(yy - 40) ** 2 + (xx - 40) ** 2 <= 100] = (120, 60, 170)
    field[(yy - 80) ** 2 + (xx - 30) ** 2 <= 64] = (200, 20, 30)      # saturated red, but 16 px wide
    return field


def _with_bar(field: np.ndarray, colour=(0, 0, 0)) -> np.ndarray:
    out = field.copy()
    h, w = out.shape[:2]
    out[h - 8:h - 6, w - 20:w - 4] = colour                          # a 2-px bar
    out[h - 12:h - 9, w - 20:w - 18] = colour                        # and a tick
    return out


def test_a_thin_mark_in_a_corner_is_found_by_class_and_colour_and_a_blob_is_not():
    plain = [_smear(k) for k in range(4)]
    images = plain[:2] + [_with_bar(plain[2]), _with_bar(plain[3], (230, 20, 20))]
    table = shortcuts.corner_mark_table(images, ["a", "a", "b", "b"]).set_index(["class", "corner"])
    assert table.loc[("a", "bottom right"), "with a mark"] == 0, "the red cell is a blob: no mark"
    assert table.loc[("b", "bottom right"), ["with a mark", "dark mark", "red mark"]].tolist() == [1.0, 0.5, 0.5]
    assert table.xs("top left", level="corner")["with a mark"].sum() == 0
    assert table["images"].tolist() == [2] * 8
    region = shortcuts.mark_region(images[2:], margin=0.0)
    assert region == (108 / 120, 100 / 120, 114 / 120, 116 / 120)
    assert shortcuts.mark_region(plain) is None
    cleaned = [preprocess.inpaint_region(image, shortcuts.mark_region(images[2:])) for image in images[2:]]
    assert shortcuts.corner_mark_table(cleaned, ["b", "b"])["with a mark"].sum() == 0, "inpainting removes the bar"
    assert np.abs(cleaned[0][100:, 90:].astype(int) - 225).max() < 40, "filled with the glass around it, not a flat patch of black"
    with pytest.raises(ValueError, match="no images"):
        shortcuts.corner_mark_table([], [])


def test_the_training_mark_region_is_drawn_from_a_mixed_sample_and_read_back_inpainted(tmp_path):
    from PIL import Image

    paths = []
    for k in range(8):  # sorted by class: four plain fields, then four with a bar
        field = _smear(k) if k < 4 else _with_bar(_smear(k))
        paths.append(tmp_path / f"field{k}.png")
        Image.fromarray(field).save(paths[-1])
    assert shortcuts.mark_region([np.asarray(Image.open(p)) for p in paths[:3]]) is None, "the first files alone carry none"
    region = shortcuts.training_mark_region(paths, n_images=3, seed=0)
    assert region == shortcuts.mark_region([np.asarray(Image.open(p)) for p in paths])
    load = shortcuts.mark_free_loader(region)
    assert shortcuts.corner_mark_table([load(p) for p in paths[4:]], ["b"] * 4)["with a mark"].sum() == 0
    np.testing.assert_array_equal(shortcuts.mark_free_loader(None)(paths[5]), np.asarray(Image.open(paths[5])))
    with pytest.raises(ValueError, match="no image files"):
        shortcuts.training_mark_region([])


def test_the_four_probes_equalise_the_tint_and_inpaint_the_mark():
    fields = np.stack([_with_bar(_smear(k)) for k in range(3)])
    fields[1] = np.clip(fields[1].astype(int) + [0, 0, 20], 0, 255).astype(np.uint8)  # a bluer glass
    cells = np.zeros(fields.shape[:3], bool)
    cells[:, 25:55, 25:55] = True
    probes, tints = shortcuts.shortcut_probes(fields, cells, shortcuts.mark_region(fields))
    assert list(probes) == list(shortcuts.PROBES) and tints.shape == (3, 3)
    assert (probes["as given"] == fields).all()
    removed = shortcuts.corner_mark_table(list(probes["scale bar removed"]), ["x"] * 3)
    assert removed["with a mark"].sum() == 0 and (probes["scale bar removed"][:, :60] == fields[:, :60]).all()
    backgrounds = [shortcuts.background_colour(f, ~c) for f, c in zip(probes["tint equalised"], cells)]
    assert np.ptp(backgrounds, axis=0).max() <= 1, "one tint after equalising"
    assert shortcuts.corner_mark_table(list(probes["tint equalised, scale bar removed"]), ["x"] * 3)["with a mark"].sum() == 0


def test_inpaint_region_checks_its_region():
    image = _smear()
    assert (preprocess.inpaint_region(image, None) == image).all()
    with pytest.raises(ValueError, match="top < bottom"):
        preprocess.region_mask((10, 10), (0.5, 0.0, 0.4, 1.0))


@pytest.mark.realdata
def test_aria_carries_its_mark_in_the_bottom_right_corner_in_a_colour_that_differs_by_class():
    """The check of notebook 00 (D-T4) on the real Aria set: a mark in the bottom-right corner of
    nearly every image of every class, none elsewhere, red in about half of the Early fields and in none
    of the Pro fields: a label cue by its colour. Inpainting the region found removes it."""
    from conftest import real_dataset

    from leukutils.data import readers

    records = readers.read_class_folders(real_dataset("aria"), classes=("Benign", "Early", "Pre", "Pro"))
    table = shortcuts.corner_marks_of_sets({"Aria": records}, per_class=60, seed=0).set_index(["class", "corner"])
    corner = table.xs("bottom right", level="corner")
    assert (corner["with a mark"] >= 0.8).all(), corner
    assert (table.drop("bottom right", level="corner")["with a mark"] <= 0.05).all()
    assert corner.loc["Early", "red mark"] >= 0.3 and corner.loc["Pro", "red mark"] == 0
    images = [readers.load_image(r.path) for r in records[::40]]
    region = shortcuts.mark_region(images)
    assert region is not None and region[0] > 0.8 and region[1] > 0.75 and region[2:] == (1.0, 1.0)
    cleaned = shortcuts.corner_mark_table([preprocess.inpaint_region(i, region) for i in images], ["x"] * len(images))
    assert cleaned.set_index("corner").loc["bottom right", "with a mark"] <= 0.05
