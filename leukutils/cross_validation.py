"""Paper 3's K-fold protocols: out-of-fold U-Net masks, the ResNet-50 variants' best fold, and the
winners' scores on the held-out test images.

* :func:`cross_validate` trains one model per fold of a K-fold partition
  (:func:`leukutils.data.splits.kfold_split`, checked by :func:`check_folds`);
* :func:`kfold_segmentation` — every image segmented by the U-Net that did not train on it;
* :func:`kfold_classifier` — one classifier per fold, the fold with the best validation accuracy kept
  (:class:`BestFold`);
* :func:`held_out_scores` — a classifier's logits, probabilities and metrics on the test images, with a
  bootstrap interval of its accuracy (:class:`HeldOutScores`); :func:`robustness_table` the same on
  corrupted test images (``P3-T7``); :func:`correct_by_all` (``P3-TA3``);
* :class:`VariantCams`, :func:`cam_comparison`, :func:`attention_table` — the winners' class activation
  maps on the test images (``P3-F8``, ``P3-F9``) and how much of them lies on the nucleus.

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
from .data.torch_datasets import stack_images
from .explain import cam_maps, is_constant
from .inference import classify, predict_masks
from .localisation import relevance_mass
from .metrics import bootstrap_ci, classification_metrics
from .model_cards import save_model, unet_card
from .models.classifiers import build_classifier
from .plots import cam_grid
from .segment import ClassifierInput
from .train import fit_classifier, train_unet

__all__ = ["cross_validate", "check_folds", "KFoldSegmentation", "kfold_segmentation", "BestFold",
           "kfold_classifier", "kfold_variants", "HeldOutScores", "held_out_scores", "robustness_table",
           "correct_by_all", "VariantCams", "cam_comparison", "attention_table"]


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
# Classifiers: the best of K folds, scored on the held-out test images
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


@dataclass
class HeldOutScores:
    """Result of :func:`held_out_scores`: (n, k) ``logits`` and ``probabilities``, (n,) ``labels``, the
    ``metrics`` of :func:`leukutils.metrics.classification_metrics` and the bootstrap ``accuracy``
    ``(value, low, high)``."""

    logits: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    metrics: dict[str, float]
    accuracy: tuple[float, float, float]

    @property
    def predicted(self) -> np.ndarray:
        """(n,) int predicted class per image."""
        return self.logits.argmax(1)

    def row(self, prefix: str = "", columns: Sequence[str] = ("precision", "recall", "f1", "auc")) -> dict:
        """One table row: ``n`` (images), ``seeds`` (1), ``<prefix>accuracy`` with ``… low``, ``… high``, and
        ``<prefix><metric>`` for each of ``columns`` that was computed."""
        name = f"{prefix}accuracy"
        return {"n": len(self.labels), "seeds": 1, name: self.metrics["accuracy"], f"{name} low": self.accuracy[1],
                f"{name} high": self.accuracy[2],
                **{f"{prefix}{c}": self.metrics[c] for c in columns if c in self.metrics}}


def _same(a: np.ndarray, b: np.ndarray) -> float:
    return np.mean(a == b)


def held_out_scores(model: nn.Module, dataset: Dataset, device: torch.device | str = "cpu", n_boot: int = 1000,
                    seed: int = 0, auc: bool = True) -> HeldOutScores:
    """A classifier on the test images: logits, probabilities, metrics and a bootstrap interval of its accuracy.

    Parameters
    ----------
    model : the classifier; dataset : items ``(image (3, H, W) float tensor, label int)``.
    n_boot, seed : the percentile bootstrap of the accuracy over images (:func:`leukutils.metrics.bootstrap_ci`).
    auc : also compute the macro one-vs-rest AUC from the probabilities (and the metrics as
        :func:`~leukutils.metrics.classification_metrics` computes them with scores); False: metrics of
        the predicted classes only.
    """
    logits, probabilities, labels = classify(model, dataset, device)
    predicted = logits.argmax(1)
    metrics = classification_metrics(labels, predicted, probabilities if auc else None)
    return HeldOutScores(logits, probabilities, labels, metrics,
                         bootstrap_ci(_same, labels, predicted, n_boot=n_boot, seed=seed))


def kfold_variants(variants: Sequence[tuple[str, str, str, str]], folds, images: Callable[..., Dataset], indices: np.ndarray,
                   transforms: tuple[Callable, Callable], n_classes: int, weights: str | None = None, *,
                   seed: int = 0, max_folds: int | None = None, **fit_kw) -> dict[str, BestFold]:
    """:func:`kfold_classifier` of every ResNet-50 variant of
    :func:`leukutils.models.classifiers.paper3_variants` (``(name, input kind, head, activation)``), in
    order: variant name → its :class:`BestFold`. Mish variants use Mish in the backbone too.
    ``weights``: ``"imagenet"``, a checkpoint, or None (random)."""
    trained = {}
    for name, kind, head, activation in variants:
        architecture = dict(name="resnet50", n_classes=n_classes, weights=weights, head=head, activation=activation,
                            activation_in_backbone=(activation == "mish"))
        trained[name] = kfold_classifier(folds, images, indices, kind, transforms, architecture, seed=seed,
                                         max_folds=max_folds, **fit_kw)
    return trained


def robustness_table(trained: Mapping[str, BestFold], images: Callable[..., Dataset], indices: np.ndarray, transform: Callable,
                     clean: pd.DataFrame, corruption: Callable[[int], Any], segment_params: Mapping[str, Any], *,
                     device: torch.device | str = "cpu", n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Table 7: every classifier on corrupted test images, one row per model.

    Parameters
    ----------
    trained : variant name → :class:`BestFold`.
    images, indices, transform : the test images (``images(indices, kind, transform, loader=...)``, e.g.
        :class:`leukutils.segment.ClassifierImages`).
    clean : Table 5 (``model``, ``test accuracy``): the clean accuracy the change is measured from.
    corruption : ``corruption(seed)`` → an albumentations transform (e.g.
        :func:`leukutils.preprocess.robustness_corruption`), built afresh for every model so that every model
        sees the same draws; applied to the raw image before segmentation (:class:`leukutils.segment.ClassifierInput`).
    segment_params : :func:`leukutils.segment.segment_nuclei`'s options for the segmented inputs.
    seed : seeds the corruption and the bootstrap interval of the accuracy over test images (``n_boot`` resamples).

    Returns
    -------
    ``model``, ``n``, ``seeds``, ``accuracy`` (``accuracy low``, ``accuracy high``), ``precision``,
    ``recall``, ``f1`` (macro) and ``accuracy change`` (corrupted minus clean test accuracy).
    """
    clean_accuracy = clean.set_index("model")["test accuracy"]
    rows = []
    for name, best in trained.items():
        corrupted = ClassifierInput(best.kind == "segmented", corruption(seed), **segment_params)
        noisy = held_out_scores(best.model, images(indices, best.kind, transform, loader=corrupted), device,
                                n_boot=n_boot, seed=seed, auc=False)
        rows.append({"model": name, **noisy.row(columns=("precision", "recall", "f1")),
                     "accuracy change": noisy.metrics["accuracy"] - clean_accuracy.loc[name]})
    return pd.DataFrame(rows)


def correct_by_all(scores: Mapping[str, HeldOutScores], names: Sequence[str], class_names: Sequence[str],
                   image_names: Sequence[str]) -> pd.DataFrame:
    """Table A3: the probability of the true class given by each model of ``names``, for the test images
    that all of them classify correctly (predicted class = the most probable one).

    ``scores``: model name → :class:`HeldOutScores` on the same test images, whose file names are
    ``image_names``. Returns ``image``, ``class``, one column per model, ``seeds`` (1) and ``interval``
    (none: one probability per image and model); no rows when no image is correct by all.
    """
    labels = scores[names[0]].labels
    correct = np.all([scores[name].probabilities.argmax(1) == labels for name in names], axis=0)
    table = pd.DataFrame({"image": [n for n, ok in zip(image_names, correct) if ok],
                          "class": [class_names[k] for k in labels[correct]],
                          **{name: scores[name].probabilities[correct, labels[correct]].astype(float) for name in names}})
    return table.assign(seeds=1, interval="none: one probability per image and model")


# --------------------------------------------------------------------------------------------------
# Attention of the fold winners: class activation maps on the test images
# --------------------------------------------------------------------------------------------------

class VariantCams:
    """Class activation maps of the fold winners on test images, for the class each model predicts.

    ``cams(name, methods, picks=None)`` → method → (n, H, W) maps of ``trained[name]`` at its ResNet stage
    ``layer`` (its last block), on the test images ``indices`` (or the positions ``picks`` among them),
    read as the model saw them (``images(indices, kind, transform)``, e.g.
    :class:`leukutils.segment.ClassifierImages`); methods as in :func:`leukutils.explain.cam_maps`.
    """

    def __init__(self, trained: Mapping[str, BestFold], images: Callable[..., Dataset], indices: np.ndarray,
                 transform: Callable, layer: str):
        self.trained, self.images, self.indices, self.transform, self.layer = trained, images, np.asarray(indices), transform, layer

    def __call__(self, name: str, methods: Sequence[str], picks: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        best = self.trained[name]
        indices = self.indices if picks is None else self.indices[np.asarray(picks, dtype=int)]
        batch = stack_images(self.images(indices, best.kind, self.transform))[0]
        return cam_maps(best.model, batch, list(methods), [getattr(best.model, self.layer)[-1]])


def cam_comparison(cams: VariantCams, pair: Sequence[str], picks: Sequence[int], shown: Mapping[str, Sequence[np.ndarray]],
                   scores: Mapping[str, HeldOutScores], class_names: Sequence[str], methods: Sequence[str]):
    """``P3-F8``/``P3-F9``: the CAMs of the models of ``pair`` on the test images at positions ``picks``, one row
    per (model, image), titled "model / true class → predicted class (its probability)".

    ``shown``: input kind → the test images as the models see them, (S, S, 3) uint8; ``scores``: model →
    :class:`HeldOutScores` on the test images. Returns the :func:`leukutils.plots.cam_grid` figure.
    """
    titles = [f"{n}\n{class_names[scores[n].labels[i]]} → {class_names[scores[n].probabilities[i].argmax()]} "
              f"({scores[n].probabilities[i].max():.2f})" for n in pair for i in picks]
    maps = [cams(n, methods, picks) for n in pair]
    return cam_grid([shown[cams.trained[n].kind][i] for n in pair for i in picks],
                    {m: np.concatenate([c[m] for c in maps]) for m in methods}, titles)


def attention_table(cams: VariantCams, names: Sequence[str], nucleus: np.ndarray,
                    methods: Sequence[str] = ("gradcam", "hirescam")) -> pd.DataFrame:
    """How much of each model's CAMs lies on the nucleus, over all test images (the energy-based pointing game).

    ``nucleus``: (n, S, S) bool nucleus of each test image (the segmented input's non-black pixels).
    Returns one row per model of ``names``: ``model``, per method the mean share of the map on the nucleus
    (:func:`leukutils.localisation.relevance_mass`; constant maps are NaN and left out), ``nucleus share of
    the image`` (what an even map scores), ``constant gradcam maps`` (when ``"gradcam"`` is a method) and
    ``n`` (test images).
    """
    rows = []
    for name in names:
        maps = cams(name, methods)
        row = {"model": name, **{m: np.nanmean(relevance_mass(maps[m], nucleus)) for m in methods},
               "nucleus share of the image": nucleus.mean()}
        if "gradcam" in maps:
            row["constant gradcam maps"] = sum(is_constant(h) for h in maps["gradcam"])
        rows.append({**row, "n": len(nucleus)})
    return pd.DataFrame(rows)
