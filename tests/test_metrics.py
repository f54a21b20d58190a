import numpy as np
import pandas as pd
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
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))                # 2 tp / (2 tp + fp + fn)


def test_binary_f1_and_auc_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([1, 0, 0, 0, 0, 1, 1, 1])                                  # tp 2, fn 2, fp 2, tn 2
    score = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.7, 0.4, 0.6])
    m = metrics.classification_metrics(y, p, score)
    assert m["f1"] == pytest.approx(0.5)
    # AUC = share of (positive, negative) pairs ranked right: positives 0.9, 0.8, 0.3, 0.6 against
    # negatives 0.2, 0.1, 0.7, 0.4 → 4 + 4 + 2 + 3 = 13 of 16
    assert m["auc"] == pytest.approx(13 / 16)
    # class 0 as the positive class: recall of class 0 = 2 / 4, its scores are 1 - score
    m0 = metrics.classification_metrics(y, p, 1 - score, positive=0)
    assert m0["recall"] == pytest.approx(0.5) and m0["auc"] == pytest.approx(13 / 16)


def test_auc_undefined_for_one_class_is_nan_not_error():
    m = metrics.classification_metrics(np.ones(4, int), np.ones(4, int), np.linspace(0, 1, 4))
    assert np.isnan(m["auc"])


def test_multiclass_macro():
    y = np.array([0, 1, 2, 2])
    p = np.array([0, 1, 2, 1])
    m = metrics.classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(0.75)
    # per class (tp, fp, fn, tn): 0 (1, 0, 0, 3), 1 (1, 1, 0, 2), 2 (1, 0, 1, 2)
    assert m["specificity"] == pytest.approx((1 + 2 / 3 + 1) / 3)          # mean of tn / (tn + fp)
    assert m["precision"] == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert m["recall"] == pytest.approx((1 + 1 + 1 / 2) / 3)
    assert m["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    est, lo, hi = metrics.bootstrap_ci(np.mean, x, n_boot=300, seed=1)
    assert lo < est < hi and hi - lo < 0.5
    assert metrics.bootstrap_ci(np.mean, x, n_boot=300, seed=1) == (est, lo, hi)
    with pytest.raises(ValueError):
        metrics.bootstrap_ci(np.mean, x, x[:5])


def test_bootstrap_honours_alpha():
    x = np.random.default_rng(0).normal(size=100)
    _, low95, high95 = metrics.bootstrap_ci(np.mean, x, n_boot=400, seed=0, alpha=0.05)
    _, low50, high50 = metrics.bootstrap_ci(np.mean, x, n_boot=400, seed=0, alpha=0.5)
    assert low95 < low50 < high50 < high95                  # same resamples, inner quantiles
    # the interval is the alpha/2 and 1 - alpha/2 quantiles of the resampled statistic
    table = metrics.bootstrap_table(lambda a: {"min": a.min(), "mean": a.mean()}, x, n_boot=400, alpha=0.5)
    assert table["metric"].tolist() == ["min", "mean"]
    assert tuple(table.iloc[1][["value", "value low", "value high"]]) == pytest.approx((x.mean(), low50, high50))
    assert metrics.bootstrap_ci(np.mean, np.full(10, 3.0), n_boot=50) == (3.0, 3.0, 3.0)
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            metrics.bootstrap_ci(np.mean, x, alpha=bad)
    y = np.array([0, 1] * 20)
    wide = metrics.metrics_with_ci(y, y, n_boot=30, alpha=0.05)
    assert (wide["value low"] == 1).all()                       # perfect predictions: every resample scores 1
    p = y.copy()
    p[:8] = 1 - p[:8]
    narrow, wide = (metrics.metrics_with_ci(y, p, n_boot=60, alpha=a) for a in (0.5, 0.05))
    assert (wide["value low"] <= narrow["value low"]).all() and (narrow["value high"] <= wide["value high"]).all()
    assert (narrow["value high"] - narrow["value low"] < wide["value high"] - wide["value low"]).any()


def test_metrics_table_is_long_and_matches_one_model_at_a_time():
    rng = np.random.default_rng(2)
    y = np.array([0, 1] * 15)
    probabilities = {name: rng.dirichlet([1, 1], len(y)) for name in ("b", "a")}
    table = metrics.metrics_table({name: (y, p) for name, p in probabilities.items()}, n_boot=40, seed=1)
    assert table.columns.tolist() == ["model", "metric", "value", "value low", "value high", "n"]
    assert table["model"].unique().tolist() == ["b", "a"] and (table["n"] == 30).all()
    for name, p in probabilities.items():
        one = metrics.metrics_with_ci(y, p.argmax(1), p[:, 1], n_boot=40, seed=1)
        rows = table[table.model == name].set_index("metric")[["value", "value low", "value high"]]
        pd.testing.assert_frame_equal(rows, one)
    # a chosen subset in a chosen order, and an extra statistic resampled with the same rows
    loss = lambda t, p: float(-np.log(p[np.arange(len(t)), t]).mean())
    chosen = metrics.metrics_table({"a": (y, probabilities["a"])}, n_boot=40, seed=1, metrics=["f1", "loss"],
                                   extra={"loss": loss})
    assert chosen["metric"].tolist() == ["f1", "loss"]
    assert chosen.iloc[1]["value"] == pytest.approx(loss(y, probabilities["a"]))
    assert tuple(chosen.iloc[1][["value", "value low", "value high"]]) == pytest.approx(
        metrics.bootstrap_ci(loss, y, probabilities["a"], n_boot=40, seed=1))
    # predicted classes only: no AUC
    labels_only = metrics.metrics_table({"m": (y, 1 - y)}, n_boot=20)
    assert "auc" not in labels_only["metric"].tolist() and (labels_only.set_index("metric")["value"]["accuracy"] == 0)
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.metrics_table({"m": (y, y)}, n_boot=5, metrics=["dice"])
    with pytest.raises(ValueError, match="no predictions"):
        metrics.metrics_table({})


def test_metrics_with_ci_table():
    y = np.array([0, 1] * 20)
    p = y.copy()
    p[:6] = 1 - p[:6]
    table = metrics.metrics_with_ci(y, p, np.where(p == 1, 0.8, 0.2), n_boot=200)
    assert table.loc["accuracy", "value"] == pytest.approx(34 / 40)
    assert (table["value low"] <= table["value"]).all() and (table["value"] <= table["value high"]).all()


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


def test_wilson_interval_matches_known_values_and_does_not_collapse():
    low, high = metrics.wilson_interval(27, 30)
    assert low == pytest.approx(0.7438, abs=1e-4) and high == pytest.approx(0.9654, abs=1e-4)
    low, high = metrics.wilson_interval(29, 29)  # a percentile bootstrap would give [1, 1]
    assert low == pytest.approx(0.8830, abs=1e-4) and high == 1.0
    assert metrics.wilson_interval(0, 10)[0] == 0.0
    assert np.isnan(metrics.wilson_interval(0, 0)[0])
    assert metrics.wilson_interval(5, 10, alpha=0.5)[0] > metrics.wilson_interval(5, 10)[0]
    with pytest.raises(ValueError):
        metrics.wilson_interval(11, 10)


def test_mean_and_paired_difference_intervals():
    from leukutils.metrics import mean_ci, paired_difference_ci

    correct = np.array([1, 1, 1, 0] * 25)
    value, low, high = mean_ci(correct, n_boot=300, seed=1)
    assert value == 0.75 and low < 0.75 < high and high - low < 0.25
    same, low, high = paired_difference_ci(correct, correct, n_boot=300)
    assert same == 0 and low == 0 and high == 0, "the same items in both: no spread"
    better, low, high = paired_difference_ci(np.ones(100), correct, n_boot=300)
    assert better == 0.25 and low > 0


def test_summarise_over_rows_is_the_bootstrap_mean_per_group_in_order_of_appearance():
    from leukutils.metrics import bootstrap_ci, summarise

    table = pd.DataFrame({"method": ["b", "a", "b", "a", "b"], "dice": [0.9, 0.5, 0.7, np.nan, 0.8]})
    out = summarise(table, "method", ["dice"], n_boot=50, seed=2)
    assert out["method"].tolist() == ["b", "a"]
    assert out.columns.tolist() == ["method", "dice", "dice low", "dice high", "n"]
    b = out.set_index("method").loc["b"]
    assert tuple(b[["dice", "dice low", "dice high"]]) == pytest.approx(
        bootstrap_ci(np.mean, np.array([0.9, 0.7, 0.8]), n_boot=50, seed=2))
    assert out.set_index("method").loc["a", "n"] == 1  # the NaN row has no value


def test_summarise_over_seeds_gives_a_t_interval_and_paired_differences():
    from scipy.stats import t

    from leukutils.metrics import summarise

    runs = pd.DataFrame({"split": ["image", "subject"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                         "accuracy": [0.9, 0.7, 0.8, 0.7, 1.0, 0.7]})
    out = summarise(runs, "split", ["accuracy"], over="seeds", reference="subject").set_index("split")
    image = out.loc["image"]
    assert image["accuracy"] == pytest.approx(0.9) and image["seeds"] == 3
    half = t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert (image["accuracy low"], image["accuracy high"]) == pytest.approx((0.9 - half, 0.9 + half))
    assert image["accuracy minus subject"] == pytest.approx(0.2)
    assert out.loc["subject", "accuracy minus subject"] == 0
    one_seed = summarise(runs[runs.seed == 0], "split", ["accuracy"], over="seeds")
    assert one_seed["accuracy low"].isna().all()  # one seed: no interval, visibly
    with pytest.raises(ValueError, match="no rows with split == 'other'"):
        summarise(runs, "split", ["accuracy"], over="seeds", reference="other")
    with pytest.raises(ValueError, match="no column"):
        summarise(runs, "split", ["auc"])
    with pytest.raises(ValueError, match="over must be"):
        summarise(runs, "split", ["accuracy"], over="images")
