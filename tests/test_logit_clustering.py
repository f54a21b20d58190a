"""Logit-space clustering analysis of paper 3 (Table 8)."""
from __future__ import annotations

import numpy as np
import pytest

from leukutils import logit_clustering

# Table 8 of paper 3: three centroid distances, three per-class SDs, reported Dist/SD ratio
TABLE8 = [
    ((10.12, 8.22, 7.31), (2.05, 0.68, 2.06), 25.78),
    ((6.60, 5.17, 3.65), (1.09, 1.43, 0.66), 24.12),
    ((3.94, 3.34, 2.99), (1.32, 1.60, 1.33), 12.52),
    ((3.15, 2.08, 1.88), (0.94, 1.49, 0.50), 11.63),
]


@pytest.mark.parametrize("distances, spreads, reported", TABLE8)
def test_ratio_formula_reproduces_paper_table8(distances, spreads, reported):
    assert logit_clustering.dist_sd_ratio(distances, spreads) == pytest.approx(reported, rel=0.01)


def test_centroid_distances_and_spread_on_known_points():
    points = np.array([[0, 0], [2, 0], [10, 0], [10, 4]], float)
    labels = np.array([0, 0, 1, 1])
    d = logit_clustering.centroid_distances(points, labels)
    assert d[(0, 1)] == pytest.approx(np.hypot(9, 2))
    spread = logit_clustering.class_spread(points, labels)
    assert spread.loc[0, "sd_pc1"] == pytest.approx(1.0) and spread.loc[0, "sd_pc2"] == 0
    assert spread.loc[1, "sd"] == pytest.approx(2.0)


def make_logits(separation: float, n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n // 3)
    logits = rng.normal(0, 1, (n, 3)) + separation * np.eye(3)[labels]
    return logits, labels


def test_better_separated_logits_score_higher():
    tight, labels = make_logits(8.0)
    loose, _ = make_logits(1.0)
    row_tight, scores = logit_clustering.separability(tight, labels, ["L1", "L2", "L3"])
    row_loose, _ = logit_clustering.separability(loose, labels, ["L1", "L2", "L3"])
    assert scores.shape == (60, 2)
    assert row_tight["dist/sd ratio"] > 2 * row_loose["dist/sd ratio"]
    assert set(row_tight) >= {"dist L1-L2", "dist L2-L3", "sd L3", "sd total", "dist total"}
    assert row_tight["dist total"] == pytest.approx(
        row_tight["dist L1-L2"] + row_tight["dist L1-L3"] + row_tight["dist L2-L3"])


def test_pca_signs_are_stable_and_missing_class_is_an_error():
    logits, labels = make_logits(4.0)
    a, _ = logit_clustering.logit_pca(logits)
    b, _ = logit_clustering.logit_pca(logits[::-1].copy())
    np.testing.assert_allclose(a, b[::-1], atol=1e-9)
    with pytest.raises(ValueError, match="class"):
        logit_clustering.centroid_distances(logits[:, :2], labels, classes=[0, 1, 2, 3])


def test_separability_table_one_row_per_model_with_its_counts_and_why_no_interval():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 10)
    logits = {"a": (np.eye(3)[labels] * 5 + rng.normal(0, 0.5, (30, 3)), labels),
              "b": (rng.normal(0, 1, (30, 3)), labels)}
    table, projections = logit_clustering.separability_table(logits, ["L1", "L2", "L3"])
    assert table["model"].tolist() == ["a", "b"] and table["n"].tolist() == [30, 30] and table["seeds"].tolist() == [1, 1]
    assert table["interval"].str.startswith("none").all() and projections["a"].shape == (30, 2)
    row, _ = logit_clustering.separability(*logits["a"], ["L1", "L2", "L3"])
    assert table.loc[0, "dist/sd ratio"] == row["dist/sd ratio"] > table.loc[1, "dist/sd ratio"]
    with_interval, _ = logit_clustering.separability_table(logits, ["L1", "L2", "L3"], n_boot=100, seed=0)
    low, high = with_interval["dist/sd ratio low"], with_interval["dist/sd ratio high"]
    assert ((low <= with_interval["dist/sd ratio"]) & (with_interval["dist/sd ratio"] <= high)).all()
    assert low[0] > high[1], "separated logits are told from random ones by their intervals"
    assert with_interval["interval"].str.startswith("bootstrap").all()
