"""Paper 2's patient-level protocol: two-stage training of a bag classifier on generated series,
diagnosis of every patient from partitions of its cells, and the "ideal" count perceptron.

* :func:`fit_two_stage` — stage 1 on single cells (blast sensitivity), stage 2 on longer series.
* :func:`evaluate_partitions`, :func:`partition_scores` — P2-T0, P2-F5, P2-F6, P2-T2, P2-A*.
* :func:`count_features`, :func:`fit_count_perceptron`, :func:`predict_count_perceptron` — §5.3, P2-A1.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn


def fit_two_stage(model: nn.Module, bank, normal_pool: np.ndarray, blast_pool: np.ndarray,
                  stage1: dict | None, stage2: dict, seed: int = 0,
                  device: str | torch.device = "cpu") -> dict[str, pd.DataFrame]:
    """Paper 2's training: stage 1 on length-1 series (blast sensitivity), stage 2 on longer series.

    Parameters
    ----------
    model : :class:`leukutils.models.mil.LSTMClassifier` or ``AttentionMIL``, trained in place.
    bank : :class:`leukutils.features.FeatureBank` of the cell pool.
    normal_pool, blast_pool : indices into ``bank`` of the normal and the blast cells.
    stage1, stage2 : dicts with ``n_series``, ``length`` (stage 1 forces 1), ``epochs``, ``lr`` (default
        1e-3), ``weight_decay`` (Adam's L2 penalty, default 0), ``batch_size`` (default 32);
        ``stage1=None`` skips pre-training (ablation ``P2-A2``).
    seed : stage ``s`` (1, 2) draws its series (:func:`leukutils.data.bags.make_series`) and trains
        with seed ``seed * 1000 + s``.

    Each stage trains with Adam and cross-entropy (:class:`leukutils.train.SeriesStep`); the model's
    input standardisation is set from the bank first.

    Returns
    -------
    ``{"stage1": history, "stage2": history}`` (stages run), each a :func:`leukutils.train.fit`
    history with ``train_loss`` and ``train_accuracy`` per epoch.
    """
    from .data.bags import make_series
    from .train import SeriesStep, fit

    if hasattr(model, "set_input_scale"):
        model.set_input_scale(bank.features.reshape(-1, bank.dim))
    histories = {}
    for name, stage, offset in (("stage1", stage1, 1), ("stage2", stage2, 2)):
        if stage is None:
            continue
        length = 1 if name == "stage1" else int(stage["length"])
        series, labels = make_series(normal_pool, blast_pool, int(stage["n_series"]), length,
                                     seed=seed * 1000 + offset)
        optimizer = torch.optim.Adam(model.parameters(), lr=float(stage.get("lr", 1e-3)),
                                     weight_decay=float(stage.get("weight_decay", 0.0)))
        step = SeriesStep(bank, series, labels, batch_size=int(stage.get("batch_size", 32)), device=device)
        histories[name] = fit(model, step, epochs=int(stage["epochs"]), optimizer=optimizer,
                              seed=seed * 1000 + offset, progress=False)
    return histories


def evaluate_partitions(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int],
                        sizes: Sequence[int | None] = (None,), n_draws: int = 1, seed: int = 0,
                        cell_labels: Sequence[np.ndarray] | None = None, remove: str | None = None,
                        device: str | torch.device = "cpu", return_inputs: bool = False):
    """Diagnose every patient from ``size`` of its cells (``None``: all), ``n_draws`` times per size.

    Parameters
    ----------
    model : trained bag classifier.
    bags : per patient, (n_i, D) cell features (view 0).
    labels : per patient, 1 = ALL, 0 = healthy.
    sizes : cells per patient (the paper's partition sizes); bags smaller than a size use all their cells.
    cell_labels : per patient, (n_i,) 1 blast / 0 normal / -1 unknown; needed for ``remove``.
    remove : ``"blast"``, ``"normal"``, ``"random"`` (as many random cells as the partition holds blasts,
        the matched control) or None — cells removed after drawing the partition (``P2-F5``).

    Returns
    -------
    DataFrame, one row per (size, draw, patient): ``size`` (-1 for all cells), ``draw``, ``patient``,
    ``label``, ``n_cells`` (cells the model saw), ``blasts`` (with ``cell_labels``: the blasts of the
    partition before any removal), ``prob`` (P(ALL); NaN when no cell is left) and
    ``pred`` (1 if prob >= 0.5; a bag left empty is predicted 0 and flagged by ``n_cells == 0``). With
    ``return_inputs`` also the list of (n_cells, D) feature tensors of every row, in row order.
    """
    from .data.bags import remove_cells, subsample_bag
    from .predict import predict_bags

    if remove is not None and cell_labels is None:
        raise ValueError("evaluate_partitions: remove= needs cell_labels")
    rows, inputs = [], []
    for size in sizes:
        for p, bag in enumerate(bags):
            n = len(bag)
            picks = subsample_bag(n, n if size is None else int(size), n_draws, seed=seed * 7919 + p * 31 + (size or 0))
            for d, pick in enumerate(picks):
                extra = {} if cell_labels is None else {"blasts": int((np.asarray(cell_labels[p])[pick] == 1).sum())}
                if remove is not None:
                    pick = pick[remove_cells(np.asarray(cell_labels[p])[pick], remove,
                                             seed=seed * 7919 + p * 31 + (size or 0) + 104729 * (d + 1))]
                inputs.append(bag[pick])
                rows.append({"size": -1 if size is None else int(size), "draw": d, "patient": p,
                             "label": int(labels[p]), "n_cells": len(pick), **extra})
    probs = predict_bags(model, inputs, device=device)
    table = pd.DataFrame(rows)
    table["prob"] = probs
    table["pred"] = (np.nan_to_num(probs, nan=0.0) >= 0.5).astype(int)
    return (table, inputs) if return_inputs else table


def partition_scores(table: pd.DataFrame, by: Sequence[str] = ("size",), n_boot: int = 0, seed: int = 0,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy, F1, recall (sensitivity) and specificity per group of :func:`evaluate_partitions` rows,
    with the group's row count ``n`` and its ``empty_bags``.

    With ``n_boot > 0`` also ``accuracy_low`` and ``accuracy_high``: a percentile interval from a
    bootstrap over *patients* (a resampled patient brings all its partitions along, since the partitions
    of one patient are not independent), ``n_boot`` resamples seeded with ``seed``.
    """
    from .metrics import bootstrap_ci, classification_metrics

    rows = []
    for key, group in table.groupby(list(by), sort=True):
        m = classification_metrics(group["label"].to_numpy(), group["pred"].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        row = {**dict(zip(by, key)), "accuracy": m["accuracy"], "f1": m["f1"], "recall": m["recall"],
               "specificity": m["specificity"], "n": len(group), "empty_bags": int((group["n_cells"] == 0).sum())}
        if n_boot:
            per_patient = (group["label"] == group["pred"]).groupby(group["patient"]).agg(["sum", "count"])
            correct, count = per_patient["sum"].to_numpy(float), per_patient["count"].to_numpy(float)
            _, row["accuracy_low"], row["accuracy_high"] = bootstrap_ci(lambda c, n: c.sum() / n.sum(), correct, count,
                                                                        n_boot=n_boot, seed=seed, alpha=alpha)
        rows.append(row)
    return pd.DataFrame(rows)


def diagnosis_table(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Patient-level accuracy, F1, sensitivity and specificity of one diagnosis per patient (``P2-T0``).

    ``table``: :func:`evaluate_partitions` rows with ``sizes=[None]`` (all cells of each patient);
    patients with no cell found are left out and counted. Accuracy, sensitivity and specificity are
    proportions of patients and get Wilson intervals (:func:`leukutils.metrics.wilson_interval`, which
    do not collapse at 0 or 1); F1 gets a percentile bootstrap over patients (``n_boot``, ``seed``).

    Returns one row per metric: ``metric``, ``value``, ``ci_low``, ``ci_high``, ``interval`` (the
    method), ``patients`` (diagnosed), ``no cells found``.
    """
    from .metrics import bootstrap_ci, classification_metrics, wilson_interval

    found = table[table["n_cells"] > 0]
    y, pred = found["label"].to_numpy(), found["pred"].to_numpy()
    counts = {"accuracy": ((y == pred).sum(), len(y)), "sensitivity": ((pred[y == 1] == 1).sum(), (y == 1).sum()),
              "specificity": ((pred[y == 0] == 0).sum(), (y == 0).sum())}
    rows = []
    for metric in ("accuracy", "f1", "sensitivity", "specificity"):
        if metric == "f1":
            value, low, high = bootstrap_ci(lambda a, b: classification_metrics(a, b)["f1"], y, pred, n_boot=n_boot,
                                            seed=seed, alpha=alpha)
            method = "bootstrap"
        else:
            k, n = counts[metric]
            value, (low, high), method = k / n if n else float("nan"), wilson_interval(int(k), int(n), alpha), "Wilson"
        rows.append({"metric": metric, "value": value, "ci_low": low, "ci_high": high, "interval": method})
    return pd.DataFrame(rows).assign(patients=len(found), **{"no cells found": int((table["n_cells"] == 0).sum())})


# --------------------------------------------------------------------------------------------------
# The "ideal" count perceptron (paper 2 §5.3, ablation P2-A1)
# --------------------------------------------------------------------------------------------------

def count_features(cell_probs: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """(normal count, blast count) of each bag from per-cell blast probabilities
    (:func:`leukutils.predict.cell_blast_probability`): (n_bags, 2) float."""
    return np.array([[np.sum(p < threshold), np.sum(p >= threshold)] for p in cell_probs], dtype=float).reshape(-1, 2)


def fit_count_perceptron(counts: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A perceptron on (normal count, blast count), fitted and — as in the paper's "ideal" setting —
    meant to be scored on the same bags. Returns the fitted ``sklearn.linear_model.SGDClassifier``.

    It is the *averaged* perceptron (the perceptron rule, weights averaged over all updates) on
    standardised counts (mean 0, sd 1, stored as ``count_mean_`` and ``count_scale_``). The plain
    ``sklearn.linear_model.Perceptron`` is a poor "ideal": on data that no line separates (bags with
    the same counts and different labels) it never settles and returns its *last* iterate, and its
    intercept moves in steps of 1 while counts scaled to [0, 1] move the score by less — the last
    iterate was often "everything is ALL" (a constant predictor). Fit one perceptron per partition
    size: counts grow with the size, so one line for all sizes fits none of them.
    """
    from sklearn.linear_model import SGDClassifier

    counts = np.asarray(counts, float).reshape(-1, 2)
    mean, scale = counts.mean(0), counts.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    model = SGDClassifier(loss="perceptron", learning_rate="constant", eta0=1.0, penalty=None, average=True,
                          max_iter=1000, tol=None, random_state=seed)
    model.fit((counts - mean) / scale, np.asarray(labels))
    model.count_mean_, model.count_scale_ = mean, scale
    return model


def predict_count_perceptron(model, counts: np.ndarray) -> np.ndarray:
    """Labels (n,) int of the count perceptron."""
    counts = np.asarray(counts, float).reshape(-1, 2)
    return model.predict((counts - model.count_mean_) / model.count_scale_).astype(np.int64)


def lstm_vs_count_perceptron(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int],
                             sizes: Sequence[int], n_draws: int = 1, seed: int = 0,
                             device: str | torch.device = "cpu") -> pd.DataFrame:
    """Paper 2 §5.3 (``P2-A1``): the bag classifier against the "ideal" perceptron on its own cell counts.

    Every partition (:func:`evaluate_partitions`) is diagnosed by ``model``; each of its cells, fed
    alone, is called blast or normal by the same model (:func:`leukutils.predict.cell_blast_probability`);
    per partition size a perceptron on (normal count, blast count) is fitted and scored on the same
    partitions (:func:`fit_count_perceptron`). Returns one row per size and a last row ``"mean"`` over the
    sizes: ``size`` (str), ``LSTM accuracy``, ``perceptron accuracy``, ``difference`` (LSTM − perceptron).
    """
    from .predict import cell_blast_probability

    table, inputs = evaluate_partitions(model, bags, labels, sizes=sizes, n_draws=n_draws, seed=seed, device=device,
                                        return_inputs=True)
    counts = count_features(cell_blast_probability(model, inputs, device=device))
    rows = []
    for size in sizes:
        rows_of = (table["size"] == size).to_numpy()
        y = table.loc[rows_of, "label"].to_numpy()
        perceptron = fit_count_perceptron(counts[rows_of], y, seed=seed)
        rows.append({"size": str(size), "LSTM accuracy": float((table.loc[rows_of, "pred"].to_numpy() == y).mean()),
                     "perceptron accuracy": float((predict_count_perceptron(perceptron, counts[rows_of]) == y).mean())})
    rows.append({"size": "mean", **pd.DataFrame(rows)[["LSTM accuracy", "perceptron accuracy"]].mean().to_dict()})
    out = pd.DataFrame(rows)
    return out.assign(difference=out["LSTM accuracy"] - out["perceptron accuracy"])


def over_seeds(runs: pd.DataFrame, by: str | Sequence[str], columns: Sequence[str],
               interval: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Mean, standard deviation and a t interval of the mean of ``columns`` over model seeds, per group.

    ``runs``: one row per (group, seed). Returns per group ``<column>`` (mean), ``<column> sd`` and, for
    the columns in ``interval`` (default: all), ``<column> low`` and ``<column> high`` (the mean ±
    t(1 - alpha/2, seeds - 1) · sd / √seeds: a 95 % interval of the mean over seeds for ``alpha`` 0.05;
    NaN with one seed), and ``seeds``; groups in order of first appearance.
    """
    from scipy.stats import t

    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, group in runs.groupby(by, sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        n = len(group)
        for column in columns:
            mean, sd = group[column].mean(), group[column].std(ddof=1) if n > 1 else float("nan")
            half = t.ppf(1 - alpha / 2, n - 1) * sd / np.sqrt(n) if n > 1 else float("nan")
            row.update({column: mean, f"{column} sd": sd})
            if interval is None or column in interval:
                row.update({f"{column} low": mean - half, f"{column} high": mean + half})
        rows.append({**row, "seeds": n})
    return pd.DataFrame(rows)


__all__ = ["fit_two_stage", "evaluate_partitions", "partition_scores", "diagnosis_table", "count_features",
           "fit_count_perceptron", "predict_count_perceptron", "lstm_vs_count_perceptron", "over_seeds", "REMOVALS",
           "removal_rows", "removal_table", "removal_test", "compare_extractor"]


# --------------------------------------------------------------------------------------------------
# The pipeline's parts before the bag classifier: detector, pseudo-patients, bags of cell crops
# --------------------------------------------------------------------------------------------------

def train_detector(records: Sequence, classes: Sequence[str], *, epochs: int, lr: float, seed: int = 0,
                   device: str | torch.device = "cpu", checkpoint: str = "", batch_size: int = 4, n_boot: int = 200,
                   **build) -> tuple[nn.Module, pd.DataFrame, dict[str, float], int]:
    """Paper 2's white-cell detector: a torchvision Faster R-CNN trained on the ``train`` (+ ``val``)
    records and scored with COCO mAP on the ``test`` records.

    Parameters
    ----------
    records : records with ``split``, ``boxes`` and ``box_labels`` (BCCD layout).
    classes : box labels detected, mapped to 1..K in this order (``["WBC"]``; ``["blast", "normal"]``).
    epochs, lr, batch_size, seed, device : training (Adam on the trainable parameters, horizontal flips).
    checkpoint : state dict of a detector trained before with the same settings; skips training.
    n_boot : resamples of the test images for the 95 % bootstrap interval of mAP@0.5.
    build : :func:`leukutils.models.detector.build_detector` options (``arch``, ``weights``,
        ``min_size``, ``max_size``, ``anchor_sizes``).

    Returns
    -------
    model (eval mode), history (one row per epoch; one NaN row for a loaded checkpoint), the scores of
    :func:`leukutils.metrics.detection_map` (``map``, ``map_50``, ...) with ``map_50_low`` and
    ``map_50_high`` (the bootstrap interval over test images) and the number of test images.
    """
    import warnings

    from . import train
    from .data.readers import load_image
    from .data.torch_datasets import samples_from_records
    from .metrics import bootstrap_table, detection_map
    from .models.detector import build_detector
    from .models.weights import PretrainedWeightsUnavailable, load_checkpoint
    from .predict import detect

    train_set = samples_from_records([r for r in records if r.split in ("train", "val")], classes, load_image)
    test_set = samples_from_records([r for r in records if r.split == "test"], classes, load_image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PretrainedWeightsUnavailable)  # said once by the notebook's set-up
        model = build_detector(num_classes=len(classes) + 1, **build)
    if checkpoint:
        model = load_checkpoint(model, checkpoint).eval()
        history = pd.DataFrame({"train_loss": [float("nan")], "seconds": [0.0]})
    else:
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        step = train.DetectorStep([train_set[i] for i in range(len(train_set))], batch_size=batch_size, device=device)
        history = train.fit(model, step, epochs=epochs, optimizer=optimizer, seed=seed, progress=False)
    predictions = detect(model, [test_set.image(i) for i in range(len(test_set))], score_threshold=0.05, device=device)
    targets = [dict(zip(("boxes", "labels"), test_set.target(i))) for i in range(len(test_set))]
    scores = detection_map(predictions, targets, class_metrics=len(classes) > 1)
    interval = bootstrap_table(lambda p, t: {"map_50": detection_map(list(p), list(t))["map_50"]},
                               np.array(predictions, dtype=object), np.array(targets, dtype=object), n_boot=n_boot, seed=seed)
    scores["map_50_low"], scores["map_50_high"] = (float(interval.loc[0, c]) for c in ("ci_low", "ci_high"))
    return model, history, scores, len(test_set)


def pseudo_patients(records: Sequence, images_per_patient: int, per_class: int = 0, seed: int = 0,
                    healthy: str = "Benign") -> tuple[list, list, dict[str, int]]:
    """Pseudo-patients from single fields with image-level labels and no patient ids (Aria).

    The fields of each class are shuffled (``seed``), cut to ``per_class`` (0: all) and halved: the
    first half is a cell pool (each field its own subject), the second half is grouped into patients of
    ``images_per_patient`` fields of that class (a class-``c`` patient ``c-000``, ``c-001``, ...).

    Returns
    -------
    pool_fields : records of the pool half, ``subject`` = the field's path.
    patient_fields : records of the patients' fields, ``subject`` = the pseudo-patient.
    patient_labels : pseudo-patient → 1 (ALL) or 0 (``healthy`` class).
    """
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    by_class: dict[str, list] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    pool_fields, patient_fields, patient_labels = [], [], {}
    for label, members in sorted(by_class.items()):
        members = [members[i] for i in rng.permutation(len(members))]
        if per_class:
            members = members[:per_class]
        half, k = len(members) // 2, images_per_patient
        pool_fields += [replace(r, subject=str(r.path)) for r in members[:half]]
        for j in range(0, len(members) - half - k + 1, k):
            subject = f"{label}-{j // k:03d}"
            patient_labels[subject] = int(label != healthy)
            patient_fields += [replace(r, subject=subject) for r in members[half + j: half + j + k]]
    return pool_fields, patient_fields, patient_labels


def detected_bags(detector: nn.Module, smears: Sequence, patient_labels: dict, *, crop_size: int,
                  score_threshold: float, blast_names: Sequence[str] | None = None,
                  device: str | torch.device = "cpu") -> tuple[list, list[dict]]:
    """Detect the white cells of every smear and group their crops into one bag per patient.

    ``blast_names``, when given, labels each crop blast/normal from the smears' annotated boxes (the
    removal test's ground truth). Returns the bags (:class:`leukutils.data.bags.Bag`, sorted by
    subject) and the detections per smear (:func:`leukutils.predict.detect`).
    """
    from .data.bags import bags_from_detections
    from .data.readers import load_image
    from .predict import detect

    found = detect(detector, [load_image(r.path) for r in smears], score_threshold, device=device)
    boxes = {str(r.path): d["boxes"] for r, d in zip(smears, found)}
    options = {} if blast_names is None else {"blast_names": blast_names}
    return bags_from_detections(smears, boxes, patient_labels, load_image, size=crop_size, **options), found


#: The conditions of the removal test (P2-F5): table name → ``remove`` of :func:`evaluate_partitions`.
REMOVALS = {"none": None, "blast removal": "blast", "random removal": "random", "normal removal": "normal"}


def removal_rows(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int],
                 cell_labels: Sequence[np.ndarray], sizes: Sequence[int | None], n_draws: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu") -> pd.DataFrame:
    """Paper 2's removal test (P2-F5) with a matched control: every partition diagnosed with no cell
    removed, with its blasts removed, with as many *randomly chosen* cells removed as it holds blasts,
    and with its normal cells removed (the same partitions in every condition).

    Returns the :func:`evaluate_partitions` rows of every condition of :data:`REMOVALS`, with a
    ``removal`` column (its name).
    """
    tables = [evaluate_partitions(model, bags, labels, sizes=sizes, n_draws=n_draws, seed=seed, cell_labels=cell_labels,
                                  remove=remove, device=device).assign(removal=name) for name, remove in REMOVALS.items()]
    return pd.concat(tables, ignore_index=True)


def removal_table(rows: pd.DataFrame, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Recall of the ALL patients' partitions under each removal, and how much more the blast removal
    lowers it than the matched random removal (P2-F5).

    ``rows``: :func:`removal_rows`. Per partition size (``size`` -1: all cells) the table gives the
    recall of each condition of :data:`REMOVALS`, ``cells removed`` (mean blasts per ALL partition: what
    the blast and the random removals take away), ``excess drop`` = recall(random removal) − recall(blast
    removal) with ``ci_low``/``ci_high``, a percentile interval from a bootstrap over ALL patients (a
    resampled patient brings all its partitions in all conditions: the comparison is paired), and the
    number of ``ALL patients`` and ``partitions``.
    """
    from .metrics import bootstrap_table

    ill = rows[rows["label"] == 1]
    out = []
    for size, group in ill.groupby("size", sort=True):
        hits = group.pivot_table(index="patient", columns="removal", values="pred", aggfunc="sum")[list(REMOVALS)]
        count = group[group["removal"] == "none"].groupby("patient").size().reindex(hits.index).to_numpy(float)
        hit_arrays = [hits[name].to_numpy(float) for name in REMOVALS]

        def statistic(n, *h):
            recall = {name: h_i.sum() / n.sum() for name, h_i in zip(REMOVALS, h)}
            return {**recall, "excess drop": recall["random removal"] - recall["blast removal"]}

        boot = bootstrap_table(statistic, count, *hit_arrays, n_boot=n_boot, seed=seed, alpha=alpha).set_index("metric")
        none = group[group["removal"] == "none"]
        out.append({"size": int(size), **boot["value"].to_dict(), "ci_low": boot.loc["excess drop", "ci_low"],
                    "ci_high": boot.loc["excess drop", "ci_high"], "cells removed": none["blasts"].mean(),
                    "ALL patients": len(hits), "partitions": len(none)})
    return pd.DataFrame(out)


def removal_test(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int],
                 cell_labels: Sequence[np.ndarray], sizes: Sequence[int | None], n_draws: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu") -> pd.DataFrame:
    """:func:`partition_scores` of :func:`removal_rows` per size, with a ``removal`` column (one block of
    rows per condition of :data:`REMOVALS`)."""
    rows = removal_rows(model, bags, labels, cell_labels, sizes, n_draws=n_draws, seed=seed, device=device)
    return pd.concat([partition_scores(group).assign(removal=name) for name, group in rows.groupby("removal", sort=False)],
                     ignore_index=True)


def order_sensitivity(models: dict[str, nn.Module], bags: Sequence[torch.Tensor], labels: Sequence[int],
                      n_orders: int, seed: int = 0, device: str | torch.device = "cpu") -> pd.DataFrame:
    """How much a bag classifier's answer depends on the order of the cells (P2-X2).

    Every non-empty bag ``p`` is shuffled ``n_orders`` times (seed ``seed + p``) and each model
    diagnoses every order. Returns one row per (model, patient): ``label``, ``prob_sd`` and
    ``prob_range`` of P(ALL) over the orders, ``flips`` (1 if the diagnosis changes with the order).
    """
    from .data.bags import shuffle_bag
    from .predict import predict_bags

    rows = []
    for p, bag in enumerate(bags):
        if len(bag) == 0:
            continue
        orders = shuffle_bag(np.arange(len(bag)), n_orders, seed=seed + p)
        for name, model in models.items():
            probs = predict_bags(model, [bag[o] for o in orders], device=device)
            rows.append({"model": name, "patient": p, "label": labels[p], "prob_sd": probs.std(),
                         "prob_range": probs.max() - probs.min(), "flips": int(len(set(probs >= 0.5)) > 1)})
    return pd.DataFrame(rows)


def order_summary(order: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per model, the spread of P(ALL) over cell orders (:func:`order_sensitivity`): ``mean_prob_sd``,
    ``max_prob_range``, ``patients_flipped`` of ``patients``, and the share flipped with its Wilson
    interval (``flipped_low``, ``flipped_high``)."""
    from .metrics import wilson_interval

    table = order.groupby("model", sort=False).agg(mean_prob_sd=("prob_sd", "mean"), max_prob_range=("prob_range", "max"),
                                                   patients_flipped=("flips", "sum"), patients=("flips", "count")).reset_index()
    intervals = [wilson_interval(int(k), int(n), alpha) for k, n in zip(table["patients_flipped"], table["patients"])]
    return table.assign(flipped_low=[i[0] for i in intervals], flipped_high=[i[1] for i in intervals])


def score_partitions(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int],
                     sizes: Sequence[int | None], n_draws: int = 1, seed: int = 0,
                     device: str | torch.device = "cpu", n_boot: int = 0) -> pd.DataFrame:
    """:func:`partition_scores` of :func:`evaluate_partitions`: accuracy, F1, recall, specificity per size
    (with ``n_boot``, an interval of the accuracy from a bootstrap over patients)."""
    return partition_scores(evaluate_partitions(model, bags, labels, sizes=sizes, n_draws=n_draws, seed=seed,
                                                device=device), n_boot=n_boot, seed=seed)


def train_bag_classifier(kind: str, bank, normal_pool: np.ndarray, blast_pool: np.ndarray, stage1: dict | None,
                         stage2: dict, seed: int = 0, device: str | torch.device = "cpu", **options):
    """A new bag classifier (``"lstm"`` or ``"abmil"``, torch seeded with ``seed``, built with ``options``
    such as ``dropout``) trained with :func:`fit_two_stage`; returns the model and its histories per stage."""
    from .models.mil import build_mil

    torch.manual_seed(seed)
    model = build_mil(kind, bank.dim, **options)
    return model, fit_two_stage(model, bank, normal_pool, blast_pool, stage1, stage2, seed=seed, device=device)


def series_length_ablation(bank, normal_pool: np.ndarray, blast_pool: np.ndarray, bags: Sequence[torch.Tensor],
                           labels: Sequence[int], *, lengths: Sequence[int], seeds: Sequence[int], stage1: dict,
                           stage2: dict, sizes: Sequence[int], n_draws: int = 1, seed: int = 0,
                           device: str | torch.device = "cpu") -> pd.DataFrame:
    """P2-F7: stage 2 trained on series of each length after one stage 1 per model seed (LSTM).

    Returns one row per (length, model seed): ``length``, ``seed``, ``accuracy`` (mean over the
    partition ``sizes``, partitions drawn with ``seed``).
    """
    import copy

    rows = []
    for model_seed in seeds:
        pretrained, _ = train_bag_classifier("lstm", bank, normal_pool, blast_pool, None, dict(stage1, length=1),
                                             seed=model_seed, device=device)
        for length in lengths:
            model = copy.deepcopy(pretrained)
            fit_two_stage(model, bank, normal_pool, blast_pool, None, dict(stage2, length=length), seed=model_seed,
                          device=device)
            scores = score_partitions(model, bags, labels, sizes, n_draws=n_draws, seed=seed, device=device)
            rows.append({"length": length, "seed": model_seed, "accuracy": scores["accuracy"].mean()})
    return pd.DataFrame(rows)


def compare_extractor(name: str, input_size: int, pool_views: np.ndarray, pool_is_blast: np.ndarray,
                      patient_crops: Sequence[np.ndarray], labels: Sequence[int], *, seeds: Sequence[int],
                      stage1: dict | None, stage2: dict, sizes: Sequence[int], n_draws: int = 1, seed: int = 0,
                      weights: str | None = "imagenet", layer: str = "pool",
                      device: str | torch.device = "cpu") -> pd.DataFrame:
    """P2-T2: the pipeline with one frozen feature extractor, trained once per model seed.

    The extractor (random weights drawn with ``seed``: the same for every model seed) encodes the
    pool's views (N, V, s, s, 3) uint8 and every patient's crops; an LSTM is trained per model seed
    (:func:`train_bag_classifier`) and scored on random partitions of ``sizes`` cells (drawn with
    ``seed``). Returns one row per model seed: ``extractor``, ``input px``, ``features``, ``seed``, and
    the ``mean accuracy``, ``max accuracy``, ``mean F1`` and ``max F1`` over the partition sizes.
    """
    from .data.bags import blank_image
    from .features import CellEncoder, FeatureBank

    encoder = CellEncoder(name, weights=weights, input_size=input_size, layer=layer, device=device, seed=seed)
    bank = FeatureBank.from_images(encoder, pool_views, blank_image(pool_views.shape[-2]))
    feats = [encoder(c) if len(c) else torch.zeros(0, encoder.dim) for c in patient_crops]
    normal_pool, blast_pool = np.flatnonzero(~np.asarray(pool_is_blast)), np.flatnonzero(pool_is_blast)
    rows = []
    for model_seed in seeds:
        model, _ = train_bag_classifier("lstm", bank, normal_pool, blast_pool, stage1, stage2, seed=model_seed,
                                        device=device)
        scores = score_partitions(model, feats, labels, sizes, n_draws=n_draws, seed=seed, device=device)
        rows.append({"extractor": name, "input px": int(input_size), "features": encoder.dim, "seed": model_seed,
                     "mean accuracy": scores["accuracy"].mean(), "max accuracy": scores["accuracy"].max(),
                     "mean F1": scores["f1"].mean(), "max F1": scores["f1"].max()})
    return pd.DataFrame(rows)
