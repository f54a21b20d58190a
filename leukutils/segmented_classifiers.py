"""Paper 3's segmented-input classifiers on the held-out test images: scores, robustness, class
probabilities, class activation maps and their share on the nucleus.

* :func:`held_out_scores` — a classifier's logits, probabilities and metrics on the test images, with a
  bootstrap interval of its accuracy (:class:`HeldOutScores`); :func:`robustness_table` the same on
  corrupted test images (``P3-T7``); :func:`correct_by_all` (``P3-TA3``);
* :class:`VariantCams`, :func:`cam_comparison`, :func:`attention_table` — the winners' class activation
  maps on the test images (``P3-F8``, ``P3-F9``) and how much of them lies on the nucleus.

The winners themselves come from :func:`leukutils.cross_validation.kfold_variants`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from .cross_validation import BestFold
from .data.torch_datasets import stack_images
from .explain import cam_maps, is_constant, target_map_size
from .inference import classify
from .localisation import relevance_mass
from .metrics import bootstrap_ci, classification_metrics
from .plots import cam_grid
from .segment import ClassifierInput

__all__ = ["HeldOutScores", "held_out_scores", "robustness_table", "correct_by_all", "VariantCams", "cam_comparison",
           "attention_table"]


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

    def map_size(self, name: str) -> tuple[int, int]:
        """(rows, columns) of the activation map at ``layer`` that the CAMs of ``trained[name]`` are upsampled
        from, on the first test image as the model sees it (:func:`leukutils.explain.target_map_size`)."""
        best = self.trained[name]
        batch = stack_images(self.images(self.indices[:1], best.kind, self.transform))[0]
        return target_map_size(best.model, batch, [getattr(best.model, self.layer)[-1]])


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
