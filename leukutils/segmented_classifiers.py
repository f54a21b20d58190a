"""Paper 3's segmented-input classifiers on the held-out test images: scores, robustness, class
probabilities, class activation maps and their share on the nucleus.

* :func:`held_out_scores` — a classifier's logits, probabilities and metrics on the test images, with a
  bootstrap interval of its accuracy (:class:`HeldOutScores`); :func:`segmented_minus_raw` each segmented
  variant against its raw twin on the same images (``P3-X1``); :func:`robustness_table` the same scores
  on corrupted test images (``P3-T7``); :func:`correct_by_all` (``P3-TA3``, of :func:`table_a3_models`);
* :class:`VariantCams`, :func:`cam_comparison`, :func:`attention_table` — the winners' class activation
  maps on the test images (``P3-F8``, ``P3-F9``, of :func:`cam_pairs`) and how much of them lies on the nucleus.

Which variants a run trains is a notebook parameter
(:func:`leukutils.cross_validation.chosen_variants`); the functions here take the ones that were trained.

The winners themselves come from :func:`leukutils.cross_validation.kfold_variants`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

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
from .metrics import bootstrap_ci, classification_metrics, paired_difference_ci
from .models.classifiers import paper3_variants
from .plots import cam_grid
from .report import method_name
from .segment import ClassifierInput

__all__ = ["VARIANTS", "HeldOutScores", "held_out_scores", "raw_twin", "segmented_minus_raw", "robustness_table", "TABLE_A3_MODELS",
           "table_a3_models", "correct_by_all", "CAM_PAIRS", "closest_trained", "cam_pairs", "VariantCams",
           "cam_comparison", "attention_table"]

#: Each of paper 3's eight variants by name: its (input kind, head, activation).
VARIANTS = {name: (kind, head, activation) for name, kind, head, activation in paper3_variants()}


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


def raw_twin(name: str) -> str:
    """The raw-input variant with the same activation and head as the segmented variant ``name``
    (``"Segmented Mish Medium"`` → ``"NoSegmented Mish Medium"``)."""
    kind, head, activation = VARIANTS[name]
    if kind != "segmented":
        raise ValueError(f"raw_twin: {name!r} is not a segmented variant")
    return next(other for other, spec in VARIANTS.items() if spec == ("raw", head, activation))


def segmented_minus_raw(scores: Mapping[str, HeldOutScores], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``P3-X1``: each segmented variant's test accuracy minus that of its raw twin (:func:`raw_twin`), on the
    same test images, with a paired bootstrap interval.

    Parameters
    ----------
    scores : variant name → :class:`HeldOutScores` on the same test images; segmented variants whose twin
        is not among them are left out.
    n_boot, seed : the bootstrap over test images: each resample takes the same images for both models,
        each image counting 1 where a model classifies it correctly, 0 where not
        (:func:`leukutils.metrics.paired_difference_ci`).

    Returns
    -------
    One row per twin pair, in the order of ``scores``: ``segmented``, ``raw`` (the variants), ``n`` (test
    images), ``seeds`` (1), ``segmented accuracy``, ``raw accuracy``, ``segmented minus raw`` and its
    ``… low``, ``… high``. Raises ``ValueError`` when a pair's models were scored on different labels.
    """
    columns = ["segmented", "raw", "n", "seeds", "segmented accuracy", "raw accuracy", "segmented minus raw",
               "segmented minus raw low", "segmented minus raw high"]
    rows = []
    for segmented in [n for n in scores if n in VARIANTS and VARIANTS[n][0] == "segmented" and raw_twin(n) in scores]:
        pair = scores[segmented], scores[raw_twin(segmented)]
        if not np.array_equal(pair[0].labels, pair[1].labels):
            raise ValueError(f"segmented_minus_raw: {segmented} and its raw twin were scored on different test images")
        correct = [(s.predicted == s.labels).astype(float) for s in pair]
        difference, low, high = paired_difference_ci(*correct, n_boot=n_boot, seed=seed)
        rows.append(dict(zip(columns, [segmented, raw_twin(segmented), len(correct[0]), 1, correct[0].mean(),
                                       correct[1].mean(), difference, low, high])))
    return pd.DataFrame(rows, columns=columns)


def robustness_table(trained: Mapping[str, BestFold], images: Callable[..., Dataset], indices: np.ndarray, transform: Callable,
                     clean: Mapping[str, HeldOutScores], corruption: Callable[[int], Any], segment_params: Mapping[str, Any], *,
                     mark_region: Sequence[float] | None = None, device: torch.device | str = "cpu", n_boot: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """Table 7: every classifier on corrupted test images, one row per model.

    Parameters
    ----------
    trained : variant name → :class:`BestFold`.
    images, indices, transform : the test images (``images(indices, kind, transform, loader=...)``, e.g.
        :class:`leukutils.segment.ClassifierImages`).
    clean : variant name → :class:`HeldOutScores` on the same test images as they are (Table 5's): the
        accuracy the change is measured from.
    corruption : ``corruption(seed)`` → an albumentations transform (e.g.
        :func:`leukutils.preprocess.robustness_corruption`), built afresh for every model so that every model
        sees the same draws; applied to the raw image before segmentation (:class:`leukutils.segment.ClassifierInput`).
    segment_params : :func:`leukutils.segment.segment_nuclei`'s options for the segmented inputs.
    mark_region : the corner mark the clean inputs inpaint (:class:`leukutils.segment.ClassifierInput`), or None.
    seed : seeds the corruption and the bootstrap intervals over test images (``n_boot`` resamples).

    Returns
    -------
    ``model``, ``n``, ``seeds``, ``accuracy`` (``accuracy low``, ``accuracy high``), ``precision``,
    ``recall``, ``f1`` (macro) and ``accuracy change`` (corrupted minus clean test accuracy) with
    ``accuracy change low`` / ``high``, a paired bootstrap over the test images (each resampled image
    brings its corrupted and its clean prediction, :func:`leukutils.metrics.paired_difference_ci`).
    """
    rows = []
    for name, best in trained.items():
        corrupted = ClassifierInput(best.kind == "segmented", corruption(seed), mark_region=mark_region, **segment_params)
        noisy = held_out_scores(best.model, images(indices, best.kind, transform, loader=corrupted), device,
                                n_boot=n_boot, seed=seed, auc=False)
        change = paired_difference_ci(noisy.predicted == noisy.labels, clean[name].predicted == clean[name].labels,
                                      n_boot=n_boot, seed=seed)
        rows.append({"model": name, **noisy.row(columns=("precision", "recall", "f1")),
                     **dict(zip(("accuracy change", "accuracy change low", "accuracy change high"), change))})
    return pd.DataFrame(rows)


#: The four Mish models whose class probabilities paper 3's Table A3 gives, in its order.
TABLE_A3_MODELS = ("Segmented Mish Linear", "NoSegmented Mish Linear", "Segmented Mish Medium", "NoSegmented Mish Medium")


def table_a3_models(trained: Collection[str]) -> list[str]:
    """The models of :data:`TABLE_A3_MODELS` among ``trained`` (variant names), in Table A3's order; every
    trained model, in its order, when none of them was trained."""
    return [name for name in TABLE_A3_MODELS if name in trained] or list(trained)


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


#: The (segmented, raw) pairs whose CAMs paper 3's Figures 8 and 9 show.
CAM_PAIRS = (("Segmented Mish Medium", "NoSegmented ReLU Linear"), ("Segmented Mish Medium", "NoSegmented Mish Linear"))


def closest_trained(name: str, trained: Collection[str]) -> str:
    """``name`` when it was trained; else the trained variant on the same input (segmented or raw) that
    shares most of its activation and head, the first of equals in the order of ``trained`` (variant
    names, or a mapping from them such as :func:`leukutils.cross_validation.kfold_variants`').

    Raises ``ValueError`` when no variant on that input was trained.
    """
    if name in trained:
        return name
    kind, head, activation = VARIANTS[name]
    same_input = [other for other in trained if VARIANTS[other][0] == kind]
    if not same_input:
        raise ValueError(f"closest_trained: no {kind} variant was trained (trained: {list(trained)})")
    return max(same_input, key=lambda other: (VARIANTS[other][1] == head) + (VARIANTS[other][2] == activation))


def cam_pairs(trained: Collection[str]) -> list[tuple[str, str]]:
    """The pairs of :data:`CAM_PAIRS` (``P3-F8``, ``P3-F9``), each model replaced by its
    :func:`closest_trained` variant among ``trained`` where it was not trained."""
    return [tuple(closest_trained(name, trained) for name in pair) for pair in CAM_PAIRS]


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


def attention_table(cams: VariantCams, segmented: str, raw: str, nucleus: np.ndarray,
                    methods: Sequence[str] = ("gradcam", "gradcam++", "hirescam", "xgradcam"), n_boot: int = 1000,
                    seed: int = 0) -> pd.DataFrame:
    """Paper 3's claim of ``P3-F8``/``P3-F9``, per CAM method: how much of the segmented model's map lies on the
    nucleus, how much of the raw model's, and the difference, paired by test image (the energy-based pointing game).

    Parameters
    ----------
    cams : the two models' CAMs (:class:`VariantCams`) on the test images.
    segmented, raw : the two models compared (variant names, e.g. :func:`cam_pairs`' first pair).
    nucleus : (n, S, S) bool nucleus of each test image (the segmented input's non-black pixels).
    methods : CAM methods, as in :func:`leukutils.explain.cam_maps`.
    n_boot, seed : the paired bootstrap over test images (:func:`leukutils.metrics.paired_difference_ci`).

    Returns
    -------
    One row per method: ``method`` (the papers' name, :func:`leukutils.report.method_name`), ``segmented``
    and ``raw`` (mean share of each model's map on the nucleus, :func:`leukutils.localisation.relevance_mass`),
    ``segmented minus raw`` with ``… low`` / ``… high`` over the images where neither map is constant,
    ``nucleus share of the image`` (what an even map scores), ``constant maps, segmented`` / ``raw`` (left
    out: a constant map has no place it looks at) and ``n`` (images compared).
    """
    maps = {name: cams(name, methods) for name in (segmented, raw)}
    rows = []
    for method in methods:
        shares = {name: relevance_mass(maps[name][method], nucleus) for name in maps}  # NaN for a constant map
        both = np.isfinite(shares[segmented]) & np.isfinite(shares[raw])
        if both.any():
            difference = paired_difference_ci(shares[segmented][both], shares[raw][both], n_boot=n_boot, seed=seed)
            means = shares[segmented][both].mean(), shares[raw][both].mean()
        else:  # every map of one of the two is constant: nothing to compare
            difference, means = (np.nan,) * 3, (np.nan, np.nan)
        rows.append({"method": method_name(method), "segmented": means[0], "raw": means[1],
                     **dict(zip(("segmented minus raw", "segmented minus raw low", "segmented minus raw high"), difference)),
                     "nucleus share of the image": nucleus.mean(),
                     "constant maps, segmented": int(sum(is_constant(h) for h in maps[segmented][method])),
                     "constant maps, raw": int(sum(is_constant(h) for h in maps[raw][method])), "n": int(both.sum())})
    return pd.DataFrame(rows)