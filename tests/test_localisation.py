"""leukutils.localisation: scores of maps against masks by hand-computed values, baselines; segment.marked_components."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leukutils import localisation, segment


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
    scores = localisation.localisation_scores(maps, masks)
    assert list(scores.columns) == list(localisation.LOCALISATION_METRICS)
    # relevance mass accuracy: mass inside / total mass
    assert scores.loc[0, "relevance mass"] == pytest.approx(9 / 12)
    assert scores.loc[1, "relevance mass"] == pytest.approx(maps[1][masks[1]].sum() / maps[1].sum(), rel=1e-5)
    # pointing game: is the maximum inside the mask
    assert scores.loc[0, "pointing game"] == 0 and scores.loc[1, "pointing game"] == 0
    inside = maps.copy()
    inside[0, 3, 3] = 5.0
    assert localisation.localisation_scores(inside, masks).loc[0, "pointing game"] == 1
    # AUC: the map's values as scores for mask membership
    assert scores.loc[1, "AUC"] == pytest.approx(roc_auc_score(masks[1].ravel(), maps[1].ravel()), abs=0.02)


def test_localisation_scores_leave_out_what_cannot_be_judged():
    maps, masks = square_case()
    maps[1] = 0.5                                    # a constant map points nowhere
    masks[0] = False                                 # an image without evidence
    scores = localisation.localisation_scores(maps, masks)
    assert scores.isna().all(axis=None)
    with pytest.raises(ValueError, match="shape"):
        localisation.localisation_scores(maps, masks[:, :4])
    with pytest.raises(ValueError, match="non-negative"):
        localisation.localisation_scores(-maps, masks)


def test_baselines_and_marked_components():
    base = localisation.baseline_maps(3, (10, 12), seed=1)
    assert set(base) == {"random", "centred Gaussian"} and base["random"].shape == (3, 10, 12)
    assert not np.array_equal(base["random"][0], base["random"][1])
    assert np.unravel_index(base["centred Gaussian"][0].argmax(), (10, 12)) in {(4, 5), (4, 6), (5, 5), (5, 6)}
    mask = np.zeros((10, 10), bool)
    mask[1:3, 1:3] = mask[6:9, 6:9] = True
    kept = segment.marked_components(mask, np.array([[7.0, 7.0], [50.0, 50.0]]))  # x, y; the second lies outside
    assert kept[6:9, 6:9].all() and not kept[1:3, 1:3].any()


def test_relevance_mass_is_the_share_of_the_map_on_the_mask():
    maps = np.zeros((3, 4, 4))
    maps[0, :2] = 1.0            # half of the map on the top half
    maps[1] = 1.0                # spread evenly
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2] = True          # the top half
    share = localisation.relevance_mass(maps, masks)
    np.testing.assert_allclose(share[:2], [1.0, 0.5])
    assert np.isnan(share[2])    # an all-zero map points nowhere
    with pytest.raises(ValueError, match="shape"):
        localisation.relevance_mass(maps, masks[:, :2])
    with pytest.raises(ValueError, match="non-negative"):
        localisation.relevance_mass(-maps, masks)


def test_relevance_mass_agrees_with_quantus():
    """The one relevance mass of the package gives Quantus' RelevanceMassAccuracy (which it replaced in
    localisation_scores) to float32 rounding."""
    import quantus

    rng = np.random.default_rng(0)
    maps = rng.uniform(size=(6, 12, 16)).astype(np.float32) ** 3
    masks = rng.uniform(size=(6, 12, 16)) > 0.7
    a, s = maps[:, None], masks[:, None].astype(np.float32)
    theirs = quantus.RelevanceMassAccuracy(disable_warnings=True, display_progressbar=False)(
        model=None, x_batch=np.zeros_like(a), y_batch=np.zeros(6, np.int64), a_batch=a, s_batch=s, channel_first=True)
    np.testing.assert_allclose(localisation.relevance_mass(maps, masks), theirs, rtol=1e-6)
