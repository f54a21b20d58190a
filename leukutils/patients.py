"""Paper 2's patient-level protocol: two-stage training of a bag classifier on generated series,
diagnosis of every patient from partitions of its cells, the removal and order tests, the ablations,
and the "ideal" count perceptron.

* :func:`synthetic_cohorts` — the synthetic stand-ins of the paper's datasets.
* :func:`detector_row` — the detector's mAP on its test images (``P2-M1``; training is
  :func:`leukutils.train.train_detector`).
* :func:`fit_two_stage`, :func:`train_bag_classifier` — stage 1 on single cells (blast sensitivity),
  stage 2 on longer series (:func:`leukutils.data.bags.make_series`).
* :func:`evaluate_partitions`, :func:`partition_scores`, :func:`score_partitions`, :func:`diagnosis_table`
  — ``P2-T0``, ``P2-F6``; :func:`compare_models` — ``P2-X1``; :func:`seed_scores` — one row per model seed.
* :func:`removal_rows`, :func:`removal_table` — ``P2-F5``; :func:`order_sensitivity`, :func:`order_summary`
  — ``P2-X2``; :func:`bad_input_report` — what bad input gives.
* :func:`count_features`, :func:`fit_count_perceptron`, :func:`predict_count_perceptron`,
  :func:`lstm_vs_count_perceptron` — §5.3, ``P2-A1``.
* :func:`series_length_ablation` — ``P2-F7``; :func:`compare_extractor`, :func:`compare_extractors` — ``P2-T2``.

Bags of cells are built in :mod:`leukutils.data.bags`; statistics over model seeds are
:func:`leukutils.metrics.summarise` with ``over="seeds"``.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import SGDClassifier
from torch import nn

from .data.bags import blank_image, crop_cells, make_series, remove_cells, shuffle_bag, subsample_bag
from .data.readers import load_image
from .data.sources import open_dataset
from .data.torch_datasets import samples_from_records
from .features import CellEncoder, FeatureBank
from .inference import cell_blast_probability, detect, predict_bags
from .metrics import bootstrap_ci, bootstrap_table, classification_metrics, detection_map, wilson_interval
from .models.mil import build_mil
from .train import SeriesStep, fit

__all__ = ["synthetic_cohorts", "detector_row", "fit_two_stage", "train_bag_classifier", "evaluate_partitions",
           "partition_scores", "score_partitions", "diagnosis_table", "seed_scores", "compare_models", "REMOVALS", "removal_rows",
           "removal_table", "removal_test", "order_sensitivity", "order_summary", "bad_input_report",
           "count_features", "fit_count_perceptron", "predict_count_perceptron", "lstm_vs_count_perceptron",
           "series_length_ablation", "compare_extractor", "compare_extractors"]


def synthetic_cohorts(*, seed: int, smear_shape: Sequence[int], mpp: float, detector_images: int, pool_patients: int,
                      pool_smears: int, n_patients: int, smears_per_patient: int, cells_per_smear: Sequence[int],
                      blast_fraction: Sequence[float], detector_test_images: int = 0) -> tuple[list, list, list, list]:
    """The synthetic stand-ins of paper 2's datasets (:func:`leukutils.data.sources.open_dataset`).

    Returns four record lists: ``detector_images`` BCCD-layout fields with WBC boxes (``seed``; ALL-IDB1's
    role), as many with blast / normal boxes (``seed + 1``; the two-class detector), the smears of
    ``pool_patients`` training patients whose annotated cells make the single-cell pool (``seed + 2``;
    6–10 cells per smear, 30–90 % blasts; ALL-IDB2 and Raabin's role) and the smears of ``n_patients``
    test patients (``seed + 3``; Raabin-Leukemia's role) with ``cells_per_smear`` (low, high) cells and an
    ALL patient's ``blast_fraction`` (low, high). Smears are ``smear_shape`` (H, W) px at ``mpp`` µm/px;
    the patients' boxes that fall outside a smear are dropped. With ``detector_test_images`` the detectors'
    fields are that many test fields on top of ``detector_images`` for training and validation (0: a fifth
    of ``detector_images`` are the test split).
    """
    smear, voc = dict(shape=tuple(smear_shape), mpp=mpp), dict(reader_options={"bad_boxes": "drop"})
    detector = dict(n_images=detector_images, test_images=detector_test_images or None, **smear)
    return (open_dataset("bccd", seed=seed, **detector),
            open_dataset("bccd", seed=seed + 1, two_class=True, **detector),
            open_dataset("patients", n_patients=pool_patients, smears_per_patient=pool_smears, seed=seed + 2,
                         cells_per_smear=(6, 10), blast_fraction=(0.3, 0.9), **smear, **voc),
            open_dataset("patients", n_patients=n_patients, smears_per_patient=smears_per_patient, seed=seed + 3,
                         cells_per_smear=tuple(cells_per_smear), blast_fraction=tuple(blast_fraction), **smear, **voc))


def detector_row(name: str, model: nn.Module, records: Sequence, classes: Sequence[str], *, n_boot: int = 200,
                 seed: int = 0, device: str | torch.device = "cpu") -> dict:
    """One row of ``P2-M1``: a trained detector's COCO mAP on the ``test`` records, with a 95 % bootstrap
    interval of mAP@0.5 over the test images.

    Parameters
    ----------
    name : the row's ``detector``.
    model : a detector trained by :func:`leukutils.train.train_detector` on the other records.
    records, classes : as given to :func:`leukutils.train.train_detector`.
    n_boot, seed : resamples of the test images and their seed.

    Returns
    -------
    ``{"detector", "test images", "mAP@0.5", "mAP@0.5 low", "mAP@0.5 high", "mAP@[.5:.95]"}`` (detections
    scored from a score of 0.05 up, :func:`leukutils.metrics.detection_map`).
    """
    test_set = samples_from_records([r for r in records if r.split == "test"], classes, load_image)
    predictions = detect(model, [test_set.image(i) for i in range(len(test_set))], score_threshold=0.05, device=device)
    targets = [dict(zip(("boxes", "labels"), test_set.target(i))) for i in range(len(test_set))]
    scores = detection_map(predictions, targets, class_metrics=len(classes) > 1)
    interval = bootstrap_table(lambda p, t: {"map_50": detection_map(list(p), list(t))["map_50"]},
                               np.array(predictions, dtype=object), np.array(targets, dtype=object), n_boot=n_boot, seed=seed)
    return {"detector": name, "test images": len(test_set), "mAP@0.5": scores["map_50"],
            "mAP@0.5 low": float(interval.loc[0, "value low"]), "mAP@0.5 high": float(interval.loc[0, "value high"]),
            "mAP@[.5:.95]": scores["map"]}


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
        1e-3), ``weight_decay`` (Adam's L2 penalty, default 0), ``batch_size`` (default 32),
        ``min_blast_fraction`` (least share of blasts in an ALL series, default 0: the paper's rule);
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
    if hasattr(model, "set_input_scale"):
        model.set_input_scale(bank.features.reshape(-1, bank.dim))
    histories = {}
    for name, stage, offset in (("stage1", stage1, 1), ("stage2", stage2, 2)):
        if stage is None:
            continue
        length = 1 if name == "stage1" else int(stage["length"])
        series, labels = make_series(normal_pool, blast_pool, int(stage["n_series"]), length,
                                     seed=seed * 1000 + offset,
                                     min_blast_fraction=float(stage.get("min_blast_fraction", 0.0)))
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

    With ``n_boot > 0`` also ``accuracy low`` and ``accuracy high``: a percentile interval from a
    bootstrap over *patients* (a resampled patient brings all its partitions along, since the partitions
    of one patient are not independent), ``n_boot`` resamples seeded with ``seed``.

    Returns one row per group: the ``by`` columns, ``accuracy`` (``accuracy low``, ``accuracy high``),
    ``f1``, ``recall``, ``specificity``, ``n`` (partitions) and ``empty_bags``.
    """
    rows = []
    for key, group in table.groupby(list(by), sort=True):
        m = classification_metrics(group["label"].to_numpy(), group["pred"].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        row = {**dict(zip(by, key)), "accuracy": m["accuracy"]}
        if n_boot:
            per_patient = (group["label"] == group["pred"]).groupby(group["patient"]).agg(["sum", "count"])
            correct, count = per_patient["sum"].to_numpy(float), per_patient["count"].to_numpy(float)
            _, row["accuracy low"], row["accuracy high"] = bootstrap_ci(lambda c, n: c.sum() / n.sum(), correct, count,
                                                                        n_boot=n_boot, seed=seed, alpha=alpha)
        rows.append({**row, "f1": m["f1"], "recall": m["recall"], "specificity": m["specificity"], "n": len(group),
                     "empty_bags": int((group["n_cells"] == 0).sum())})
    return pd.DataFrame(rows)


def diagnosis_table(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                    estimate: str = "value") -> pd.DataFrame:
    """Patient-level accuracy, F1, sensitivity and specificity of one diagnosis per patient (``P2-T0``).

    ``table``: :func:`evaluate_partitions` rows with ``sizes=[None]`` (all cells of each patient);
    patients with no cell found are left out and counted. Accuracy, sensitivity and specificity are
    proportions of patients and get Wilson intervals (:func:`leukutils.metrics.wilson_interval`, which
    do not collapse at 0 or 1); F1 gets a percentile bootstrap over patients (``n_boot``, ``seed``).

    Returns one row per metric: ``metric``, the ``estimate`` column (default ``value``) with its interval
    ``<estimate> low``, ``<estimate> high``, ``interval`` (the method), ``patients`` (diagnosed), ``no cells
    found``.
    """
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
        rows.append({"metric": metric, estimate: value, f"{estimate} low": low, f"{estimate} high": high,
                     "interval": method})
    return pd.DataFrame(rows).assign(patients=len(found), **{"no cells found": int((table["n_cells"] == 0).sum())})


# --------------------------------------------------------------------------------------------------
# The "ideal" count perceptron (paper 2 §5.3, ablation P2-A1)
# --------------------------------------------------------------------------------------------------

def count_features(cell_probs: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """(normal count, blast count) of each bag from per-cell blast probabilities
    (:func:`leukutils.inference.cell_blast_probability`): (n_bags, 2) float."""
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
    alone, is called blast or normal by the same model (:func:`leukutils.inference.cell_blast_probability`);
    per partition size a perceptron on (normal count, blast count) is fitted and scored on the same
    partitions (:func:`fit_count_perceptron`). Returns one row per size and a last row ``"mean"`` over the
    sizes: ``size`` (str), ``LSTM accuracy``, ``perceptron accuracy``, ``difference`` (LSTM − perceptron).
    """
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


def size_name(size: int | None) -> str:
    """A partition size as the tables name it: ``"all"`` for every cell (``None`` or -1), else ``"8"``."""
    return "all" if size is None or size == -1 else str(int(size))


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

    ``rows``: :func:`removal_rows`. Per partition size (``size``: ``"all"`` for all cells, else the number
    of cells as text, :func:`size_name`) the table gives the recall of each condition of :data:`REMOVALS`,
    ``excess drop`` = recall(random removal) − recall(blast removal) with ``excess drop low``/``excess drop
    high``, a percentile interval from a bootstrap over ALL patients (a
    resampled patient brings all its partitions in all conditions: the comparison is paired), each
    condition's interval from the same resamples (``<condition> low``, ``<condition> high``), ``cells
    removed`` (mean blasts per ALL partition: what the blast and the random removals take away), and the
    number of ``ALL patients`` and ``partitions``.
    """
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
        out.append({"size": size_name(size), **boot["value"].to_dict(),
                    **{f"{name} {end}": boot.loc[name, f"value {end}"] for name in REMOVALS for end in ("low", "high")},
                    "excess drop low": boot.loc["excess drop", "value low"],
                    "excess drop high": boot.loc["excess drop", "value high"], "cells removed": none["blasts"].mean(),
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
    """Per model, the spread of P(ALL) over cell orders (:func:`order_sensitivity`): ``mean sd of P(ALL)``
    (over orders, averaged over patients), ``max range of P(ALL)``, ``patients flipped`` of ``patients``,
    and the ``share flipped`` with its Wilson interval (``share flipped low``, ``share flipped high``)."""
    table = order.groupby("model", sort=False).agg(**{
        "mean sd of P(ALL)": ("prob_sd", "mean"), "max range of P(ALL)": ("prob_range", "max"),
        "patients flipped": ("flips", "sum"), "patients": ("flips", "count")}).reset_index()
    intervals = [wilson_interval(int(k), int(n), alpha) for k, n in zip(table["patients flipped"], table["patients"])]
    return table.assign(**{"share flipped": table["patients flipped"] / table["patients"],
                           "share flipped low": [i[0] for i in intervals], "share flipped high": [i[1] for i in intervals]})


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


def compare_extractors(names: Sequence[str], input_sizes: Mapping[str, int], views: np.ndarray, is_blast: np.ndarray,
                       patient_crops: Sequence[np.ndarray], labels: Sequence[int], *, pool_cells: int, pool_views: int,
                       cells_per_patient: int, sizes: Sequence[int], seed: int = 0, **options) -> pd.DataFrame:
    """P2-T2 for every extractor of ``names``: :func:`compare_extractor` on the same subsample of cells.

    To keep every extractor's encoding short, ``pool_cells`` of the pool's cells (0: all; views
    (N, V, s, s, 3) uint8, their ``is_blast`` (N,) bool) with their first ``pool_views`` views and
    ``cells_per_patient`` random crops of each patient are drawn once (``seed``); the partitions are of the
    ``sizes``, each at most ``cells_per_patient`` (a larger one would be every cell again, and the mean and
    max over sizes would repeat it: :class:`ValueError`). ``input_sizes``: extractor → input px;
    ``options``: :func:`compare_extractor`'s ``seeds``, ``stage1``, ``stage2``, ``n_draws``, ``weights``,
    ``layer``, ``device``. Returns the rows of every extractor, one per model seed.
    """
    if not sizes or max(sizes) > cells_per_patient:
        raise ValueError(f"compare_extractors: partition sizes {list(sizes)} for {cells_per_patient} cells per patient; "
                         "give sizes of at most t2_cells_per_patient (t2_partition_sizes), or encode more cells")
    rng = np.random.default_rng(seed)
    pool = np.sort(rng.choice(len(views), min(len(views), pool_cells or len(views)), replace=False))
    crops = [c[np.sort(rng.choice(len(c), min(len(c), cells_per_patient), replace=False))] for c in patient_crops]
    return pd.concat([compare_extractor(name, input_sizes[name], views[pool, :pool_views], np.asarray(is_blast)[pool], crops,
                                        labels, sizes=sizes, seed=seed, **options) for name in names], ignore_index=True)


def seed_scores(models: Mapping[int, nn.Module], bags: Sequence[torch.Tensor], labels: Sequence[int],
                sizes: Sequence[int | None], n_draws: int = 1, seed: int = 0,
                device: str | torch.device = "cpu") -> pd.DataFrame:
    """One row per model seed (``models``: seed → trained bag classifier): ``seed`` and the ``accuracy``,
    ``f1``, ``recall`` and ``specificity`` of :func:`score_partitions`, averaged over the partition
    ``sizes`` (partitions drawn with ``seed``); the input of
    :func:`leukutils.metrics.summarise` with ``over="seeds"``."""
    columns = ["accuracy", "f1", "recall", "specificity"]
    return pd.DataFrame([{"seed": s, **score_partitions(m, bags, labels, sizes, n_draws, seed, device)[columns].mean()}
                         for s, m in models.items()])


def compare_models(models: Mapping[str, nn.Module], bags: Sequence[torch.Tensor], labels: Sequence[int],
                   sizes: Sequence[int | None], n_draws: int = 1, seed: int = 0, device: str | torch.device = "cpu",
                   n_boot: int = 0) -> pd.DataFrame:
    """P2-X1: :func:`score_partitions` of several bag classifiers (name → model) on the same partitions.

    Returns one row per (model, size): ``model``, ``size`` (:func:`size_name`), ``accuracy`` with its
    bootstrap interval over patients (``accuracy low``, ``accuracy high``, with ``n_boot``), ``f1``,
    ``recall``, ``specificity`` and ``seeds`` (1: one model each).
    """
    table = pd.concat([score_partitions(m, bags, labels, sizes, n_draws, seed, device, n_boot=n_boot).assign(model=name)
                       for name, m in models.items()])
    table = table.assign(size=table["size"].map(size_name), seeds=1)
    columns = ["model", "size", "accuracy", "accuracy low", "accuracy high", "f1", "recall", "specificity", "seeds"]
    return table[[c for c in columns if c in table]].reset_index(drop=True)


def bad_input_report(detect_cells: Callable, model: nn.Module, bag: torch.Tensor, shape: Sequence[int],
                     crop_size: int) -> list[str]:
    """What bad input gives, as three sentences: cells found by ``detect_cells`` (images → detections,
    :func:`leukutils.inference.detect` with its detector bound) on a blank (H, W) = ``shape`` field,
    ``model``'s P(ALL) for bags of 0, 1 and all cells of ``bag`` (n, D), and the crop of a box outside
    the image (kept or not, and the warning :func:`leukutils.data.bags.crop_cells` gives)."""
    blank_smear = np.full((*shape, 3), 235, np.uint8)
    nothing = detect_cells([blank_smear])[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, kept = crop_cells(blank_smear, np.array([[10, 10, 60, 60], [400, 400, 420, 420]]), size=crop_size,
                             source="blank field")
    probs = predict_bags(model, [torch.zeros(0, bag.shape[1]), bag[:1], bag])
    return [f"cells found on a blank field: {len(nothing['boxes'])} -> "
            f"{'no cells found' if len(nothing['boxes']) == 0 else 'cells found'}",
            f"P(ALL) for bags of 0, 1 and {len(bag)} cells: {np.round(probs, 3).tolist()}",
            f"crop of a box outside the image: kept={kept.tolist()}; warning: {caught[0].message if caught else None}"]
