import numpy as np
import pytest

from leukutils import metrics


def test_binary_metrics_match_hand_counts():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    m = metrics.classification_metrics(y, p)
    # tp=3 fn=1 fp=1 tn=3
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(3 / 4)


def test_auc_undefined_for_one_class_is_nan_not_error():
    m = metrics.classification_metrics(np.ones(4, int), np.ones(4, int), np.linspace(0, 1, 4))
    assert np.isnan(m["auc"])


def test_multiclass_macro():
    y = np.array([0, 1, 2, 2])
    p = np.array([0, 1, 2, 1])
    m = metrics.classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(0.75)
    assert 0 < m["f1"] < 1


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    est, lo, hi = metrics.bootstrap_ci(np.mean, x, n_boot=300, seed=1)
    assert lo < est < hi and hi - lo < 0.5
    assert metrics.bootstrap_ci(np.mean, x, n_boot=300, seed=1) == (est, lo, hi)
    with pytest.raises(ValueError):
        metrics.bootstrap_ci(np.mean, x, x[:5])


def test_metrics_with_ci_table():
    y = np.array([0, 1] * 20)
    p = y.copy()
    p[:6] = 1 - p[:6]
    table = metrics.metrics_with_ci(y, p, np.where(p == 1, 0.8, 0.2), n_boot=200)
    assert table.loc["accuracy", "value"] == pytest.approx(34 / 40)
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()


def test_mask_scores():
    truth = np.zeros((4, 4), bool)
    truth[:2] = True
    pred = np.zeros((4, 4), bool)
    pred[:1] = True
    s = metrics.mask_scores(pred, truth)
    assert s["iou"] == pytest.approx(0.5) and s["dice"] == pytest.approx(2 / 3) and s["precision"] == 1
    assert metrics.mask_scores(np.zeros((2, 2)), np.zeros((2, 2)))["dice"] == 1
    with pytest.raises(ValueError, match="shape"):
        metrics.mask_scores(np.zeros((2, 2)), np.zeros((3, 3)))
