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
        1e-3), ``batch_size`` (default 32); ``stage1=None`` skips pre-training (ablation ``P2-A2``).
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
        optimizer = torch.optim.Adam(model.parameters(), lr=float(stage.get("lr", 1e-3)))
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
    remove : ``"blast"``, ``"normal"`` or None — cells removed after drawing the partition (``P2-F5``).

    Returns
    -------
    DataFrame, one row per (size, draw, patient): ``size`` (-1 for all cells), ``draw``, ``patient``,
    ``label``, ``n_cells`` (cells the model saw), ``prob`` (P(ALL); NaN when no cell is left) and
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
                if remove is not None:
                    pick = pick[remove_cells(np.asarray(cell_labels[p])[pick], remove)]
                inputs.append(bag[pick])
                rows.append({"size": -1 if size is None else int(size), "draw": d, "patient": p,
                             "label": int(labels[p]), "n_cells": len(pick)})
    probs = predict_bags(model, inputs, device=device)
    table = pd.DataFrame(rows)
    table["prob"] = probs
    table["pred"] = (np.nan_to_num(probs, nan=0.0) >= 0.5).astype(int)
    return (table, inputs) if return_inputs else table


def partition_scores(table: pd.DataFrame, by: Sequence[str] = ("size",)) -> pd.DataFrame:
    """Accuracy, F1, recall (sensitivity) and specificity per group of :func:`evaluate_partitions` rows,
    with the group's row count ``n`` and its ``empty_bags``."""
    from .metrics import classification_metrics

    rows = []
    for key, group in table.groupby(list(by), sort=True):
        m = classification_metrics(group["label"].to_numpy(), group["pred"].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "accuracy": m["accuracy"], "f1": m["f1"], "recall": m["recall"],
                     "specificity": m["specificity"], "n": len(group), "empty_bags": int((group["n_cells"] == 0).sum())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# The "ideal" count perceptron (paper 2 §5.3, ablation P2-A1)
# --------------------------------------------------------------------------------------------------

def count_features(cell_probs: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """(normal count, blast count) of each bag from per-cell blast probabilities
    (:func:`leukutils.predict.cell_blast_probability`): (n_bags, 2) float."""
    return np.array([[np.sum(p < threshold), np.sum(p >= threshold)] for p in cell_probs], dtype=float).reshape(-1, 2)


def fit_count_perceptron(counts: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A perceptron on (normal count, blast count), fitted and — as in the paper's "ideal" setting —
    meant to be scored on the same bags. Returns the fitted ``sklearn.linear_model.Perceptron``."""
    from sklearn.linear_model import Perceptron

    counts = np.asarray(counts, float)
    scale = np.maximum(counts.max(0), 1.0)
    model = Perceptron(max_iter=1000, tol=None, random_state=seed)
    model.fit(counts / scale, np.asarray(labels))
    model.count_scale_ = scale
    return model


def predict_count_perceptron(model, counts: np.ndarray) -> np.ndarray:
    """Labels (n,) int of the count perceptron."""
    return model.predict(np.asarray(counts, float) / model.count_scale_).astype(np.int64)


__all__ = ["fit_two_stage", "evaluate_partitions", "partition_scores", "count_features", "fit_count_perceptron",
           "predict_count_perceptron"]
