"""Classification, segmentation and detection metrics, with percentile bootstrap intervals.

Functions take NumPy arrays and return plain floats or DataFrames (scikit-learn does the counting).
Every interval comes from one resampling loop, :func:`bootstrap_table` (named statistics), used by
:func:`bootstrap_ci` (one statistic), :func:`metrics_table` (several models' classification metrics as
one long table) and :func:`metrics_with_ci` (one model). :func:`summarise` is the one summary of a table
with intervals (group means over rows, by bootstrap, or over model seeds, by a t interval, optionally as
paired differences from a reference group); every table names an estimate's interval ``<estimate> low``,
``<estimate> high`` (:func:`interval_columns`), its standard deviation over seeds ``<estimate> sd``, and
counts its rows in ``n`` and its model seeds in ``seeds``. A proportion's Wilson score interval,
:func:`wilson_interval`, stays informative where a percentile bootstrap collapses (a proportion of 0 or 1).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as t_distribution
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None = None,
                           positive: int = 1) -> dict[str, float]:
    """Accuracy, precision, recall (sensitivity), specificity, F1 and (if scores are given) ROC AUC.

    Parameters
    ----------
    y_true, y_pred : (n,) int arrays of class indices.
    y_score : (n,) float array, the probability of class ``positive``; or (n, k) class probabilities
        for ``k > 2`` classes (one-vs-rest macro AUC). Optional.
    positive : the class called positive for binary metrics. With more than two classes present,
        precision, recall and F1 are macro averages and specificity is the macro mean of per-class
        specificities.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred]))
    binary = len(labels) <= 2 and (y_score is None or np.ndim(y_score) == 1)
    out: dict[str, float] = {"accuracy": skm.accuracy_score(y_true, y_pred)}
    if binary:
        kw = dict(pos_label=positive, zero_division=0, average="binary")
        out["precision"] = skm.precision_score(y_true, y_pred, **kw)
        out["recall"] = skm.recall_score(y_true, y_pred, **kw)
        negatives = y_true != positive
        out["specificity"] = float(np.mean(y_pred[negatives] != positive)) if negatives.any() else np.nan
        out["f1"] = skm.f1_score(y_true, y_pred, **kw)
    else:
        kw = dict(average="macro", zero_division=0)
        out["precision"] = skm.precision_score(y_true, y_pred, **kw)
        out["recall"] = skm.recall_score(y_true, y_pred, **kw)
        cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
        tn = cm.sum() - cm.sum(0) - cm.sum(1) + np.diag(cm)
        fp = cm.sum(0) - np.diag(cm)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["specificity"] = float(np.nanmean(tn / (tn + fp)))
        out["f1"] = skm.f1_score(y_true, y_pred, **kw)
    if y_score is not None:
        if len(np.unique(y_true)) < 2:  # one class only: AUC undefined
            out["auc"] = np.nan
        elif np.ndim(y_score) == 1:
            out["auc"] = skm.roc_auc_score(y_true == positive, y_score)
        else:
            try:
                out["auc"] = skm.roc_auc_score(y_true, y_score, multi_class="ovr", average="macro")
            except ValueError:  # a class absent from this sample
                out["auc"] = np.nan
    return {k: float(v) for k, v in out.items()}


def majority_baseline(labels: Sequence | np.ndarray) -> float:
    """The accuracy of always predicting the most frequent class: the share of the largest class among
    ``labels`` ((n,) class labels of a test set, any hashable values). NaN for an empty set. Every
    accuracy the compendium reports on a test set is read against it (column ``majority baseline``)."""
    values = pd.Series(np.asarray(labels).ravel())
    return float(values.value_counts().iloc[0] / len(values)) if len(values) else float("nan")


def evaluation_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of predicted probabilities (n, k) against labels (n,) (clipped at 1e-12)."""
    p = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.log(p).mean())


def bootstrap_table(statistic: Callable[..., Mapping[str, float]], *arrays: np.ndarray, n_boot: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Percentile bootstrap of named statistics over resampled rows: the one resampling loop of the package.

    Parameters
    ----------
    statistic : ``statistic(*arrays)`` → mapping name → float (e.g. :func:`classification_metrics`).
    arrays : arrays of the same length ``n`` along their first axis; resample ``b`` takes the same
        rows ``rng.integers(0, n, n)`` of each (``rng = numpy.random.default_rng(seed)``).
    n_boot : number of resamples.
    seed : seed of the resampling.
    alpha : the interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles (0.05: a 95 % interval).

    Returns
    -------
    DataFrame, one row per name returned by the statistic on the full sample, in its order: ``metric``
    (the name), ``value`` (the statistic on the full sample), ``value low``, ``value high`` (the interval, named as in
    every table: :func:`interval_columns`). Resamples
    where a value is NaN or infinite (e.g. one class only) are dropped for that value; if all are, its
    interval is NaN.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    if not arrays:
        raise ValueError("bootstrap: no arrays to resample")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"bootstrap: arrays differ in length: {[len(a) for a in arrays]}")
    if n == 0:
        raise ValueError("bootstrap: empty sample")
    if not 0 < alpha < 1:
        raise ValueError(f"bootstrap: alpha must be in (0, 1), got {alpha}")
    full = dict(statistic(*arrays))
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(full)))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        with np.errstate(all="ignore"):
            values = statistic(*(a[idx] for a in arrays))
        draws[b] = [values.get(name, np.nan) for name in full]
    rows = []
    for j, (name, value) in enumerate(full.items()):
        finite = draws[:, j][np.isfinite(draws[:, j])]
        low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2]) if finite.size else (np.nan, np.nan)
        rows.append({"metric": name, "value": float(value), "value low": float(low), "value high": float(high)})
    return pd.DataFrame(rows, columns=["metric", "value", "value low", "value high"])


def bootstrap_ci(statistic: Callable[..., float], *arrays: np.ndarray, n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """Percentile bootstrap of one statistic ``statistic(*arrays)`` over resampled rows.

    Returns ``(estimate, low, high)``: the statistic on the full sample and the ``alpha/2`` and
    ``1 - alpha/2`` quantiles over ``n_boot`` resamples (NaN resamples, e.g. one class only, are
    dropped; if all are NaN the interval is NaN). Resampling as in :func:`bootstrap_table`.
    """
    row = bootstrap_table(lambda *a: {"value": statistic(*a)}, *arrays, n_boot=n_boot, seed=seed,
                          alpha=alpha).iloc[0]
    return float(row["value"]), float(row["value low"]), float(row["value high"])


def mean_ci(values: Sequence[float] | np.ndarray, n_boot: int = 1000, seed: int = 0,
            alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean of per-item values (e.g. 1 for a correct prediction: the accuracy) with its percentile
    bootstrap interval over items: ``(mean, low, high)``."""
    return bootstrap_ci(np.mean, np.asarray(values, float), n_boot=n_boot, seed=seed, alpha=alpha)


def paired_difference_ci(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, n_boot: int = 1000,
                         seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b``, measured on the same items (e.g. correctness of two models on the
    same test images), with a paired bootstrap interval (items resampled together): ``(difference, low, high)``."""
    return bootstrap_ci(lambda u, v: np.mean(u) - np.mean(v), np.asarray(a, float), np.asarray(b, float),
                        n_boot=n_boot, seed=seed, alpha=alpha)


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n`` (e.g. a sensitivity over patients).

    Unlike a percentile bootstrap it does not collapse to a point when the proportion is 0 or 1
    (29 of 29 patients found: about [0.88, 1.00], not [1.00, 1.00]). Returns ``(low, high)``; NaNs for
    ``n == 0``. ``alpha`` 0.05: a 95 % interval.
    """
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n, got {successes} of {n}")
    z = float(norm.ppf(1 - alpha / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _predictions(arrays: tuple[np.ndarray, ...], positive: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(y_true, y_pred[, y_score])`` or ``(y_true, probabilities)`` → ``(y_true, y_pred, y_score)``."""
    if len(arrays) == 3:
        return arrays
    y_true, second = arrays
    if np.ndim(second) == 2:  # (n, k) class probabilities
        score = second[:, positive] if second.shape[1] == 2 else second
        return y_true, second.argmax(1), score
    return y_true, second, None


def metrics_table(predictions: Mapping[str, Sequence[np.ndarray]], n_boot: int = 1000, seed: int = 0,
                  alpha: float = 0.05, positive: int = 1, metrics: Sequence[str] | None = None,
                  extra: Mapping[str, Callable[..., float]] | None = None) -> pd.DataFrame:
    """:func:`classification_metrics` of several models with bootstrap intervals, as one long table.

    Parameters
    ----------
    predictions : model name → ``(y_true, y_pred)``, ``(y_true, y_pred, y_score)`` (as
        :func:`classification_metrics` takes them) or ``(y_true, probabilities)`` with (n, k) class
        probabilities (then ``y_pred`` is their argmax and ``y_score`` the column ``positive`` for
        k = 2, all columns otherwise).
    n_boot, seed, alpha : as in :func:`bootstrap_table`; every model is resampled with the same seed.
    positive : the positive class of binary metrics.
    metrics : names to keep, in this order (default: all of :func:`classification_metrics`, then
        ``extra``).
    extra : further statistics, name → ``statistic(*arrays)`` called on the model's arrays as given
        in ``predictions`` and resampled with the same rows (e.g. the log loss of probabilities).

    Returns
    -------
    DataFrame with columns ``model``, ``metric``, ``value``, ``value low``, ``value high``, ``n`` (the number
    of predictions), one row per model and metric, models in the order given.
    """
    if not predictions:
        raise ValueError("metrics_table: no predictions given")
    tables = []
    for model, arrays in predictions.items():
        arrays = tuple(np.asarray(a) for a in arrays)
        if len(arrays) not in (2, 3):
            raise ValueError(f"metrics_table: predictions of {model!r} must be (y_true, y_pred), "
                             f"(y_true, y_pred, y_score) or (y_true, probabilities); got {len(arrays)} arrays")

        def statistic(*sample):
            out = classification_metrics(*_predictions(sample, positive), positive=positive)
            for name, function in (extra or {}).items():
                out[name] = float(function(*sample))
            return out

        table = bootstrap_table(statistic, *arrays, n_boot=n_boot, seed=seed, alpha=alpha)
        if metrics is not None:
            unknown = sorted(set(metrics) - set(table["metric"]))
            if unknown:
                raise ValueError(f"metrics_table: unknown metric(s) {unknown}; known: {table['metric'].tolist()}")
            table = table.set_index("metric").loc[list(metrics)].reset_index()
        table.insert(0, "model", model)
        table["n"] = len(arrays[0])
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def metrics_with_ci(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None = None,
                    n_boot: int = 1000, seed: int = 0, positive: int = 1, alpha: float = 0.05) -> pd.DataFrame:
    """:func:`classification_metrics` of one model with a bootstrap interval per metric.

    Returns a DataFrame indexed by metric with columns ``value``, ``value low``, ``value high`` (one model's
    rows of :func:`metrics_table`).
    """
    arrays = (y_true, y_pred) if y_score is None else (y_true, y_pred, y_score)
    table = metrics_table({"": arrays}, n_boot=n_boot, seed=seed, alpha=alpha, positive=positive)
    return table.set_index("metric")[["value", "value low", "value high"]]


def mask_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, precision, recall, specificity, Dice and IoU of a binary mask against the truth.

    ``pred`` and ``truth`` are (H, W) boolean-like arrays of the same shape; two empty masks score 1 on
    Dice and IoU (nothing to find, nothing found).
    """
    pred = np.asarray(pred).astype(bool)
    truth = np.asarray(truth).astype(bool)
    if pred.shape != truth.shape:
        raise ValueError(f"mask_scores: prediction shape {pred.shape} differs from truth shape {truth.shape}")
    tp = np.count_nonzero(pred & truth)
    fp = np.count_nonzero(pred & ~truth)
    fn = np.count_nonzero(~pred & truth)
    tn = pred.size - tp - fp - fn
    union = tp + fp + fn
    return {
        "accuracy": (tp + tn) / pred.size,
        "precision": tp / (tp + fp) if tp + fp else float(fn == 0),
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "specificity": tn / (tn + fp) if tn + fp else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "iou": tp / union if union else 1.0,
    }


def interval_columns(column: str) -> tuple[str, str]:
    """The names of ``column``'s interval in every table of the compendium: ``"<column> low"``,
    ``"<column> high"`` (its standard deviation over seeds, where given, is ``"<column> sd"``)."""
    return f"{column} low", f"{column} high"


def summarise(table: pd.DataFrame, by: str | Sequence[str], columns: Sequence[str], *, over: str = "rows",
              reference: object = None, pair_on: str = "seed", interval: Sequence[str] | None = None,
              n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Mean of ``columns`` per group with its interval: the one summary-with-an-interval of the package.

    Parameters
    ----------
    table : one row per item (``over="rows"``: an image, a cell, a patient) or per model seed
        (``over="seeds"``: needs a ``seed`` column, or ``pair_on``'s, when ``reference`` is given).
    by : the column(s) naming a group; groups come in order of first appearance.
    columns : the numeric columns to summarise; NaN values are left out of a column's mean.
    over : ``"rows"``: percentile bootstrap interval of the mean over rows (:func:`bootstrap_ci`, seeded
        by ``seed``); ``"seeds"``: mean ± t(1 - alpha/2, seeds - 1) · sd / √seeds, a t interval of the
        mean over model seeds (NaN with one seed), with the standard deviation ``<column> sd``.
    reference : a value of the group column ``by`` (one column): adds, per column, the paired difference
        ``<column> minus <reference>`` (each row minus the reference group's row with the same
        ``pair_on``), summarised like the others.
    interval : the columns that get an interval (default all, difference columns included).
    n_boot, seed, alpha : the bootstrap's resamples and seed; ``alpha`` 0.05 gives a 95 % interval.

    Returns
    -------
    DataFrame, one row per group: the ``by`` columns, then per column ``<column>`` (mean),
    ``<column> sd`` (``over="seeds"`` only), ``<column> low``, ``<column> high``; then ``n`` (rows with a
    value in any column; ``over="rows"``) or ``seeds`` (rows of the group; ``over="seeds"``).
    """
    if over not in ("rows", "seeds"):
        raise ValueError(f"summarise: over must be 'rows' or 'seeds', got {over!r}")
    by = [by] if isinstance(by, str) else list(by)
    columns = list(columns)
    missing = [c for c in by + columns if c not in table]
    if missing:
        raise ValueError(f"summarise: no column(s) {missing} in the table (columns: {list(table.columns)})")
    if reference is not None:
        if len(by) != 1:
            raise ValueError("summarise: a paired reference needs exactly one group column")
        base = table[table[by[0]] == reference].set_index(pair_on)
        if base.empty:
            raise ValueError(f"summarise: no rows with {by[0]} == {reference!r} to pair against")
        table = table.copy()
        differences = [f"{c} minus {reference}" for c in columns]
        for column, difference in zip(columns, differences):
            table[difference] = table[column] - table[pair_on].map(base[column])
        columns = columns + differences
    rows = []
    for key, group in table.groupby(by, sort=False):
        row: dict = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for column in columns:
            values = group[column].to_numpy(dtype=float)
            if over == "seeds":
                n = len(values)
                mean = float(group[column].mean())
                sd = float(group[column].std(ddof=1)) if n > 1 else float("nan")
                half = float(t_distribution.ppf(1 - alpha / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
                row.update({column: mean, f"{column} sd": sd})
                low, high = mean - half, mean + half
            else:
                values = values[np.isfinite(values)]
                if values.size:
                    mean, low, high = bootstrap_ci(np.mean, values, n_boot=n_boot, seed=seed, alpha=alpha)
                else:
                    mean = low = high = float("nan")
                row[column] = mean
            if interval is None or column in interval:
                row.update(dict(zip(interval_columns(column), (low, high))))
        if over == "seeds":
            row["seeds"] = len(group)
        else:
            row["n"] = int(group[columns].notna().any(axis=1).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def as_table(results: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """``{"model": {"accuracy": .9, ...}}`` → DataFrame with a ``model`` column, rows in insertion order."""
    return pd.DataFrame([{"model": k, **v} for k, v in results.items()])


def detection_map(predictions: list[Mapping[str, np.ndarray]], targets: list[Mapping[str, np.ndarray]],
                  class_metrics: bool = False) -> dict[str, float]:
    """COCO mean average precision of box detections (torchmetrics ``MeanAveragePrecision``, pycocotools
    backend).

    Parameters
    ----------
    predictions : one dict per image with ``boxes`` (n, 4) ``x0, y0, x1, y1`` px, ``scores`` (n,) and
        ``labels`` (n,) int.
    targets : one dict per image with ``boxes`` (m, 4) and ``labels`` (m,).
    class_metrics : also return ``map_50_class<k>`` (AP@0.5 of class ``k``) and ``map_class<k>``.

    Returns
    -------
    ``map`` (mAP@[.5:.95]), ``map_50``, ``map_75``, ``mar_100`` (recall with up to 100 detections) and,
    if asked, per-class values; floats in [0, 1] (-1 where undefined, e.g. no ground truth).
    """
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    if len(predictions) != len(targets):
        raise ValueError(f"detection_map: {len(predictions)} predictions for {len(targets)} targets")

    def as_tensors(d, with_scores):
        out = {"boxes": torch.as_tensor(np.asarray(d["boxes"], np.float32).reshape(-1, 4)),
               "labels": torch.as_tensor(np.asarray(d["labels"], np.int64).reshape(-1))}
        if with_scores:
            out["scores"] = torch.as_tensor(np.asarray(d["scores"], np.float32).reshape(-1))
        return out

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools",
                                  class_metrics=class_metrics)
    metric.update([as_tensors(p, True) for p in predictions], [as_tensors(t, False) for t in targets])
    result = metric.compute()
    out = {k: float(result[k]) for k in ("map", "map_50", "map_75", "mar_100")}
    if class_metrics:
        classes = result["classes"].reshape(-1).tolist()
        per_class = result["map_per_class"].reshape(-1).tolist()
        for c, v in zip(classes, per_class):
            out[f"map_class{int(c)}"] = float(v)
        # AP@0.5 per class: a second pass restricted to IoU 0.5
        metric50 = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools",
                                        class_metrics=True, iou_thresholds=[0.5])
        metric50.update([as_tensors(p, True) for p in predictions], [as_tensors(t, False) for t in targets])
        res50 = metric50.compute()
        for c, v in zip(res50["classes"].reshape(-1).tolist(), res50["map_per_class"].reshape(-1).tolist()):
            out[f"map_50_class{int(c)}"] = float(v)
    return out


# --------------------------------------------------------------------------------------------------
# Threshold search: a bag's score from its instances, and the threshold fitted on validation data
# --------------------------------------------------------------------------------------------------
def bag_scores(instance_scores: np.ndarray, bag_of_instance: np.ndarray, n_bags: int) -> np.ndarray:
    """The score of each bag (e.g. a field): the largest score of its instances (e.g. crop probabilities;
    0 for a bag without instances), the max-pooling rule of multiple-instance learning.

    ``instance_scores``: (k,) float; ``bag_of_instance``: (k,) int bag index (0 … n_bags-1) per instance.
    Returns (n_bags,) float64."""
    scores = np.zeros(n_bags)
    np.maximum.at(scores, np.asarray(bag_of_instance, np.int64), np.asarray(instance_scores, np.float64))
    return scores


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on ``scores`` ((n,) float) that classifies ``labels`` ((n,) 0/1) most accurately as
    ``scores > threshold``: the midpoint between neighbouring scores, the lowest such on ties; fit it on
    validation data."""
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    accuracy = [np.mean((scores > c) == labels) for c in candidates]
    return float(candidates[int(np.argmax(accuracy))])
