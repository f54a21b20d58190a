"""Paper 3's K-fold protocols: out-of-fold U-Net masks and the ResNet-50 variants' best fold.

* :func:`cross_validate` trains one model per fold of a K-fold partition
  (:func:`leukutils.data.splits.kfold_split`, checked by :func:`check_folds`);
* :func:`kfold_segmentation` — every image segmented by the U-Net that did not train on it;
* :func:`kfold_classifier` — one classifier per fold, the fold with the best validation accuracy kept
  (:class:`BestFold`); :func:`kfold_variants` the same for each ResNet-50 variant that
  :func:`chosen_variants` picks;

The fold winners are scored on the held-out test images by :mod:`leukutils.segmented_classifiers`.

The training itself is :mod:`leukutils.train`'s (:func:`~leukutils.train.train_unet`,
:func:`~leukutils.train.fit_classifier`); each fold's model is saved with its card
(:mod:`leukutils.model_cards`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from .data.splits import kfold_split
from .inference import predict_masks
from .model_cards import save_model, unet_card
from .models.classifiers import build_classifier, paper3_variants
from .train import fit_classifier, train_unet

__all__ = ["cross_validate", "check_folds", "KFoldSegmentation", "kfold_segmentation", "BestFold",
           "kfold_classifier", "chosen_variants", "kfold_variants"]


# --------------------------------------------------------------------------------------------------
# K folds
# --------------------------------------------------------------------------------------------------

def cross_validate(folds: Sequence[tuple[np.ndarray, np.ndarray]], fit_fold: Callable[[int, np.ndarray, np.ndarray], Any],
                   max_folds: int | None = None) -> list:
    """Train one model per fold of a K-fold partition and return what ``fit_fold`` returns, fold by fold.

    Parameters
    ----------
    folds : the k ``(train_idx, held_out_idx)`` pairs of :func:`leukutils.data.splits.kfold_split`;
        the held-out parts must partition the items (every index held out exactly once, never in
        its own fold's training part), which is checked.
    fit_fold : function ``(fold, train_idx, held_out_idx) → result``, called for folds 0, 1, … in
        order; it seeds, builds and trains its model (e.g. with :func:`fit`).
    max_folds : train only the first ``max_folds`` folds (quick runs); None: all of them.

    Returns
    -------
    list of the results of the trained folds, in fold order.
    """
    check_folds(folds)
    if max_folds is not None and max_folds < 1:
        raise ValueError(f"cross_validate: max_folds must be ≥ 1 or None, got {max_folds}")
    return [fit_fold(fold, train, held_out) for fold, (train, held_out) in enumerate(folds[:max_folds])]


def check_folds(folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """Raise ``ValueError`` unless the held-out parts of ``folds`` partition ``0 … n-1`` and each
    fold's training part is the rest."""
    if len(folds) < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {len(folds)}")
    held_out = np.concatenate([np.asarray(test, dtype=int) for _, test in folds])
    n = len(held_out)
    if not np.array_equal(np.sort(held_out), np.arange(n)):
        raise ValueError(f"the folds' held-out parts do not partition the {n} items: every item must be held "
                         f"out exactly once")
    for fold, (train, test) in enumerate(folds):
        if not np.array_equal(np.sort(np.concatenate([train, test]).astype(int)), np.arange(n)):
            raise ValueError(f"fold {fold}: training and held-out parts must be disjoint and cover all {n} items")


# --------------------------------------------------------------------------------------------------
# Paper 3's U-Net: out-of-fold masks
# --------------------------------------------------------------------------------------------------

@dataclass
class KFoldSegmentation:
    """Result of :func:`kfold_segmentation`.

    ``masks``: out-of-fold (H, W) bool mask per image (None for images of untrained folds); ``fold``:
    (n,) fold in which each image was held out (-1: untrained fold); ``history``: per-fold, per-epoch
    curves (column ``fold`` first); ``seconds``: training seconds per fold.
    """

    masks: list[np.ndarray | None]
    fold: np.ndarray
    history: pd.DataFrame
    seconds: list[float] = field(default_factory=list)


def kfold_segmentation(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], k: int = 10, seed: int = 0,
                       max_folds: int | None = None, save_dir=None, progress: bool = False,
                       **train_kw) -> KFoldSegmentation:
    """K-fold cross-validated U-Net masks: every image is segmented by the model that did not train on it.

    Parameters
    ----------
    images, masks : all images ((H, W, 3) uint8) and their (H, W) bool nucleus masks.
    k : number of folds (paper: 10): a seeded random partition
        (:func:`leukutils.data.splits.kfold_split` with ``stratify=False``).
    seed : seed of the partition; fold ``f`` trains with seed ``seed + f``.
    max_folds : train only the first ``max_folds`` folds (quick runs); images of the other folds get
        no mask (``None`` in ``masks``, fold −1) and must be left out of the scores.
    save_dir : if given, each fold's state dict is written there as ``unet_fold<f>.pt``, with its card
        ``unet_fold<f>.json`` (:func:`leukutils.model_cards.unet_card`: what
        :func:`leukutils.model_cards.load_unet` rebuilds it from).
    train_kw : passed to :func:`leukutils.train.train_unet` (size, epochs, lam, delta, gamma, lr, …, device).
    """
    n = len(images)
    if n < k:
        raise ValueError(f"kfold_segmentation: {n} images cannot be split into k={k} folds")

    def fit_fold(fold, train_idx, test_idx):
        model, history = train_unet([images[i] for i in train_idx], [masks[i] for i in train_idx],
                                    [images[i] for i in test_idx], [masks[i] for i in test_idx],
                                    seed=seed + fold, progress=progress, **train_kw)
        predicted = predict_masks(model, [images[i] for i in test_idx], size=train_kw.get("size", 128),
                                  device=train_kw.get("device", "cpu"))
        if save_dir is not None:
            save_model(model, Path(save_dir) / f"unet_fold{fold}.pt",
                       card=unet_card(model, size=train_kw.get("size", 128), fold=fold, k=k, seed=seed + fold))
        return test_idx, predicted, history

    out_masks: list[np.ndarray | None] = [None] * n
    fold_of = np.full(n, -1)
    histories, seconds = [], []
    results = cross_validate(kfold_split(np.arange(n), k=k, seed=seed, stratify=False), fit_fold, max_folds)
    for fold, (test_idx, predicted, history) in enumerate(results):
        for i, mask in zip(test_idx, predicted):
            out_masks[i], fold_of[i] = mask, fold
        histories.append(history.assign(fold=fold))
        seconds.append(float(history["seconds"].sum()))
    history = pd.concat(histories, ignore_index=True)
    return KFoldSegmentation(out_masks, fold_of, history[["fold"] + [c for c in history if c != "fold"]], seconds)


# --------------------------------------------------------------------------------------------------
# Classifiers: the best of K folds
# --------------------------------------------------------------------------------------------------

@dataclass
class BestFold:
    """Result of :func:`kfold_classifier`: the ``model`` of the ``fold`` with the best validation accuracy
    (``val_accuracy``, at the epoch of lowest validation loss, whose weights the model keeps), the input
    ``kind`` it was trained on, and every trained fold's validation accuracy (``fold_accuracies``)."""

    model: nn.Module
    fold: int
    val_accuracy: float
    fold_accuracies: list[float]
    kind: str = ""


def kfold_classifier(folds: Sequence[tuple[np.ndarray, np.ndarray]], images: Callable[..., Dataset],
                     indices: np.ndarray, kind: str, transforms: tuple[Callable, Callable], architecture: Mapping[str, Any],
                     *, seed: int = 0, max_folds: int | None = None, **fit_kw) -> BestFold:
    """Train one classifier per fold (:func:`cross_validate`) and keep the most accurate on its validation fold.

    Parameters
    ----------
    folds : ``(train, validation)`` index pairs into ``indices`` (:func:`leukutils.data.splits.kfold_split`
        of the train-validation part's labels).
    images : ``images(record_indices, kind, transform) → Dataset``, e.g.
        :class:`leukutils.segment.ClassifierImages`.
    indices : (n,) int record indices of the train-validation part.
    kind : the input the classifier sees (``"segmented"`` or ``"raw"``), passed to ``images``.
    transforms : the training (augmenting) and the evaluation transform.
    architecture : keyword arguments of :func:`leukutils.models.classifiers.build_classifier`
        (``name``, ``n_classes``, ``weights``, ``head``, ``activation``, …).
    seed : fold ``f`` seeds torch with ``seed + f`` before its model is built, and trains with that seed.
    max_folds : train only the first ``max_folds`` folds; None: all.
    fit_kw : passed to :func:`leukutils.train.fit_classifier` (``epochs``, ``lr``, ``batch_size``, …).

    Returns
    -------
    :class:`BestFold`; of equally accurate folds the first is kept. The model is in eval mode.
    """
    def fit_fold(fold, train_idx, val_idx):
        torch.manual_seed(seed + fold)
        model = build_classifier(**architecture)
        history = fit_classifier(model, images(indices[train_idx], kind, transforms[0]),
                                 images(indices[val_idx], kind, transforms[1]), seed=seed + fold, progress=False,
                                 **fit_kw)
        return model, float(history.loc[history.val_loss.idxmin(), "val_accuracy"])  # the kept weights' accuracy

    fits = cross_validate(folds, fit_fold, max_folds)
    accuracies = [accuracy for _, accuracy in fits]
    best = int(np.argmax(accuracies))  # the first of equally accurate folds
    return BestFold(fits[best][0].eval(), best, accuracies[best], accuracies, kind)


def chosen_variants(names: Sequence[str], parameter: str = "variants") -> list[tuple[str, str, str, str]]:
    """The ResNet-50 variants of :func:`leukutils.models.classifiers.paper3_variants` named in ``names``,
    in Table 5's order; all eight when ``names`` is empty.

    Parameters
    ----------
    names : variant names as in Table 5 (``"Segmented Mish Medium"``, ``"NoSegmented Mish Medium"``);
        an empty list for all eight.
    parameter : the name of the notebook parameter ``names`` came from, said in the errors.

    Returns
    -------
    list of ``(name, input kind, head, activation)``. Raises ``ValueError`` naming ``parameter`` and
    the valid names when a name is not a variant, and when no segmented variant comes with its raw twin
    (the same activation and head on raw images), which every segmented-against-raw comparison needs.
    """
    every = paper3_variants()
    valid = [name for name, *_ in every]
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"{parameter} names {', '.join(map(repr, unknown))}, which is none of the variants "
                         f"{valid}; give some of these, or [] for all eight")
    chosen = [variant for variant in every if not names or variant[0] in names]
    segmented, raw = ({(head, activation) for _, k, head, activation in chosen if k == kind} for kind in ("segmented", "raw"))
    if not segmented & raw:
        raise ValueError(f"{parameter} = {list(names)} holds no segmented variant together with its raw twin (e.g. "
                         "'Segmented Mish Medium' and 'NoSegmented Mish Medium'), which the segmented-against-raw "
                         "comparison needs")
    return chosen


def kfold_variants(variants: Sequence[tuple[str, str, str, str]], folds, images: Callable[..., Dataset], indices: np.ndarray,
                   transforms: tuple[Callable, Callable], n_classes: int, weights: str | None = None, *,
                   seed: int = 0, max_folds: int | None = None, **fit_kw) -> dict[str, BestFold]:
    """:func:`kfold_classifier` of each ResNet-50 variant given (``(name, input kind, head, activation)`` as
    :func:`leukutils.models.classifiers.paper3_variants` and :func:`chosen_variants` give them), in
    order: variant name → its :class:`BestFold`. Mish variants use Mish in the backbone too.
    ``weights``: ``"imagenet"``, a checkpoint, or None (random)."""
    trained = {}
    for name, kind, head, activation in variants:
        architecture = dict(name="resnet50", n_classes=n_classes, weights=weights, head=head, activation=activation,
                            activation_in_backbone=(activation == "mish"))
        trained[name] = kfold_classifier(folds, images, indices, kind, transforms, architecture, seed=seed,
                                         max_folds=max_folds, **fit_kw)
    return trained
