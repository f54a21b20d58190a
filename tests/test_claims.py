"""leukutils.claims: localisation scores against hand-computed values, cascading randomisation, cues, verdicts."""
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from leukutils import claims
from leukutils.data.synth import cues
from leukutils.models.classifiers import StandardCNN


def square_case():
    masks = np.zeros((2, 8, 8), bool)
    masks[:, 2:5, 2:5] = True                        # 9 of 64 pixels
    maps = np.zeros((2, 8, 8), np.float32)
    maps[0, 2:5, 2:5] = 1.0                          # all of its mass inside
    maps[0, 0, 0] = 3.0                              # ... but the maximum outside
    maps[1] = np.arange(64, dtype=np.float32).reshape(8, 8) / 63  # a ramp
    return maps, masks


def test_localisation_scores_match_hand_computed_values():
    maps, masks = square_case()
    scores = claims.localisation_scores(maps, masks)
    assert list(scores.columns) == list(claims.LOCALISATION_METRICS)
    # relevance mass accuracy: mass inside / total mass
    assert scores.loc[0, "relevance mass"] == pytest.approx(9 / 12)
    assert scores.loc[1, "relevance mass"] == pytest.approx(maps[1][masks[1]].sum() / maps[1].sum(), rel=1e-5)
    # pointing game: is the maximum inside the mask
    assert scores.loc[0, "pointing game"] == 0 and scores.loc[1, "pointing game"] == 0
    inside = maps.copy()
    inside[0, 3, 3] = 5.0
    assert claims.localisation_scores(inside, masks).loc[0, "pointing game"] == 1
    # AUC: the map's values as scores for mask membership
    assert scores.loc[1, "AUC"] == pytest.approx(roc_auc_score(masks[1].ravel(), maps[1].ravel()), abs=0.02)


def test_localisation_scores_leave_out_what_cannot_be_judged():
    maps, masks = square_case()
    maps[1] = 0.5                                    # a constant map points nowhere
    masks[0] = False                                 # an image without evidence
    scores = claims.localisation_scores(maps, masks)
    assert scores.isna().all(axis=None)
    with pytest.raises(ValueError, match="shape"):
        claims.localisation_scores(maps, masks[:, :4])
    with pytest.raises(ValueError, match="non-negative"):
        claims.localisation_scores(-maps, masks)


def test_baselines_and_marked_components():
    base = claims.baseline_maps(3, (10, 12), seed=1)
    assert set(base) == {"random", "centred Gaussian"} and base["random"].shape == (3, 10, 12)
    assert not np.array_equal(base["random"][0], base["random"][1])
    assert np.unravel_index(base["centred Gaussian"][0].argmax(), (10, 12)) in {(4, 5), (4, 6), (5, 5), (5, 6)}
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = mask[6:9, 6:9] = True
    kept = claims.marked_components(mask, np.array([[7.0, 7.0], [50.0, 50.0]]))  # x, y; the second lies outside
    assert kept[6:9, 6:9].all() and not kept[1:3, 1:3].any()


def test_cascading_randomisation_reinitialises_from_the_top_down():
    torch.manual_seed(0)
    model = StandardCNN(2, widths=(4, 8)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stages = list(claims.cascading_randomisation(model, seed=0))
    assert [name for name, _ in stages] == ["trained", "random to classifier", "random to block 2", "random to block 1"]
    assert stages[0][1] is model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the trained model is untouched"
    head_only = stages[1][1].state_dict()
    assert not torch.equal(head_only["classifier.weight"], before["classifier.weight"])
    assert torch.equal(head_only["features.0.weight"], before["features.0.weight"])
    everything = stages[-1][1].state_dict()
    assert not torch.equal(everything["features.0.weight"], before["features.0.weight"])
    with pytest.raises(TypeError, match="features"):
        claims.cascading_stages(torch.nn.Linear(2, 2))


def test_cues_follow_the_generator():
    region = claims.cue_region("corner", (50, 60))
    grey = np.full((50, 60, 3), 128, np.uint8)
    drawn = (cues.apply_cue(grey, "corner", 1, 2) != grey).any(axis=2)
    assert region.any() and np.array_equal(region, drawn)
    labels = np.array([0, 1, 1, 0, 1])
    np.testing.assert_array_equal(claims.cue_classes(labels, rate=1.0), labels)
    marked = claims.with_cue(np.repeat(grey[None], 2, axis=0), [0, 1], "corner")
    assert np.array_equal(marked[0], grey) and not np.array_equal(marked[1], grey)


def test_crops_bags_and_threshold():
    image = np.zeros((40, 40, 3), np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[2:6, 2:6] = mask[20:30, 20:30] = True
    crops = claims.nucleus_crops(image, mask, 16)
    assert crops.shape == (2, 16, 16, 3)
    assert claims.nucleus_crops(image, mask, 16, min_area=20).shape[0] == 1
    assert claims.nucleus_crops(image, np.zeros_like(mask), 16).shape == (0, 16, 16, 3)
    np.testing.assert_allclose(claims.bag_scores(np.array([0.2, 0.9, 0.4]), np.array([0, 0, 2]), 3), [0.9, 0.0, 0.4])
    threshold = claims.best_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert 0.2 < threshold < 0.8


def test_verdicts_and_paired_seeds():
    assert claims.verdict(0.1, 0.3) == "holds"
    assert claims.verdict(-0.3, -0.1) == "does not hold"
    assert claims.verdict(-0.1, 0.2) == "cannot be told here"
    assert claims.verdict(0.1, 0.3, claim_direction=-1) == "does not hold"
    assert claims.verdict(np.nan, np.nan) == "cannot be told here"
    runs = pd.DataFrame({"split": ["a", "b"] * 3, "seed": [0, 0, 1, 1, 2, 2], "accuracy": [0.9, 0.7, 0.8, 0.7, 1.0, 0.7]})
    table = claims.paired_over_seeds(runs, "split", ["accuracy"], reference="b").set_index("split")
    assert table.loc["a", "accuracy minus b"] == pytest.approx(0.2)
    assert table.loc["b", "accuracy minus b"] == 0 and table.loc["a", "seeds"] == 3
    assert table.loc["a", "accuracy minus b low"] < 0.2 < table.loc["a", "accuracy minus b high"]
    with pytest.raises(ValueError, match="no rows"):
        claims.paired_over_seeds(runs, "split", ["accuracy"], reference="c")


def test_background_tint_equalised_and_corner_masked():
    image = np.full((20, 30, 3), (200, 180, 220), np.uint8)
    image[5:10, 5:10] = (80, 40, 120)                    # a "cell"
    background = np.ones((20, 30), bool)
    background[5:10, 5:10] = False
    np.testing.assert_allclose(claims.background_colour(image, background), [200, 180, 220])
    out = claims.equalise_background(image, background, np.array([220.0, 220.0, 220.0]))
    np.testing.assert_array_equal(out[0, 0], [220, 220, 220])
    np.testing.assert_array_equal(out[6, 6], np.round(np.array([80, 40, 120]) * [1.1, 220 / 180, 1.0]).astype(np.uint8))
    masked = claims.mask_corner(image, (4, 6), np.array([1, 2, 3]))
    assert (masked[-4:, -6:] == [1, 2, 3]).all() and np.array_equal(masked[:-4], image[:-4])
    assert np.array_equal(image[-1, -1], [200, 180, 220]), "the input is not changed"


def test_equalise_tints_moves_every_background_to_the_reference_rows_tint():
    a = np.full((12, 12, 3), (200, 200, 200), np.uint8)
    b = np.full((12, 12, 3), (180, 200, 240), np.uint8)
    cells = np.zeros((2, 12, 12), bool)
    cells[:, 4:8, 4:8] = True
    equalised, tints, reference = claims.equalise_tints(np.stack([a, b]), cells, reference_rows=[0])
    np.testing.assert_allclose(reference, [200, 200, 200])
    np.testing.assert_allclose(tints[1], [180, 200, 240])
    assert (equalised[:, 0, 0] == [200, 200, 200]).all(), "both backgrounds now share the reference tint"
    field = np.full((40, 40, 3), 230, np.uint8)
    field[15:25, 15:25] = (90, 30, 140)                     # a dark magenta nucleus
    mask = claims.cell_masks([field], margin=3, min_area=20)[0]
    assert mask[20, 20] and mask[13, 20] and not mask[2, 2]  # the nucleus, its margin, not the glass
