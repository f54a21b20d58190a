"""Logit-space clustering analysis of paper 3 (Section 3.6, Table 8, Figure 7).

The test-set logits of a classifier (one coordinate per class, from :func:`leukutils.inference.classify`)
are projected on their first two principal components. Each class forms a cluster; separability is measured by

* inter-class: Euclidean distances between the class centroids in the (PC1, PC2) plane;
* intra-class: the spread of each class, ``sqrt(sd(PC1)² + sd(PC2)²)`` (root-mean-square distance
  to its centroid);
* the Dist/SD ratio "weighted 3 : 1": ``3 · Σ distances / sqrt(Σ_class spread²)``.

The paper states the ingredients but not the formula; this reading reproduces every row of its
Table 8 from the table's own distance and SD columns to within rounding (e.g. Segmented Mish
Medium: 3 · 25.65 / sqrt(2.05² + 0.68² + 2.06²) = 25.8, paper 25.78), see ``tests/test_logit_clustering.py``.
"""
from __future__ import annotations

from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import bootstrap_ci

__all__ = ["logit_pca", "centroid_distances", "class_spread", "dist_sd_ratio", "separability", "separability_table"]


def logit_pca(logits: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of a set of logit vectors.

    Parameters
    ----------
    logits : (n, k) float, one row per image, one column per class.
    n_components : number of components (≤ min(n, k)).

    Returns
    -------
    scores : (n, n_components) float, the projections (PC1, PC2, …).
    explained : (n_components,) float, explained variance ratio.
    """
    from sklearn.decomposition import PCA

    logits = np.asarray(logits, dtype=float)
    if logits.ndim != 2:
        raise ValueError(f"logit_pca: expected (n, k) logits, got shape {logits.shape}")
    if n_components > min(logits.shape):
        raise ValueError(f"logit_pca: {n_components} components need at least that many images and classes, "
                         f"got {logits.shape}")
    pca = PCA(n_components=n_components, svd_solver="full").fit(logits)
    scores = pca.transform(logits)
    # fix the sign of each component (first non-zero loading positive) so that reruns agree
    signs = np.sign(pca.components_[np.arange(n_components), np.argmax(np.abs(pca.components_), axis=1)])
    return scores * signs, pca.explained_variance_ratio_


def _centroids(points: np.ndarray, labels: np.ndarray, classes: Sequence) -> np.ndarray:
    missing = [c for c in classes if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no points of class(es) {missing}: every class needs test images for the cluster analysis")
    return np.stack([points[labels == c].mean(axis=0) for c in classes])


def centroid_distances(points: np.ndarray, labels: np.ndarray, classes: Sequence | None = None) -> dict[tuple, float]:
    """Euclidean distance between the centroids of each pair of classes.

    ``points``: (n, d) float; ``labels``: (n,) class of each point; ``classes``: class order (default
    sorted unique labels). Returns ``{(a, b): distance}`` for the pairs in ``combinations(classes, 2)``.
    """
    points, labels = np.asarray(points, float), np.asarray(labels)
    classes = list(np.unique(labels)) if classes is None else list(classes)
    centres = _centroids(points, labels, classes)
    return {(a, b): float(np.linalg.norm(centres[i] - centres[j]))
            for (i, a), (j, b) in combinations(enumerate(classes), 2)}


def class_spread(points: np.ndarray, labels: np.ndarray, classes: Sequence | None = None) -> pd.DataFrame:
    """Per-class standard deviation of each component and their root-sum-square ``sd``.

    Returns a DataFrame indexed by class with columns ``sd_pc1``, ``sd_pc2``, … and ``sd``
    (population SD, ``ddof=0``; a single-point class has SD 0).
    """
    points, labels = np.asarray(points, float), np.asarray(labels)
    classes = list(np.unique(labels)) if classes is None else list(classes)
    _centroids(points, labels, classes)  # checks every class is present
    rows = []
    for c in classes:
        sds = points[labels == c].std(axis=0)
        row = {f"sd_pc{i + 1}": float(s) for i, s in enumerate(sds)}
        row["sd"] = float(np.sqrt(np.sum(sds ** 2)))
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(classes, name="class"))


def dist_sd_ratio(distances: Sequence[float], spreads: Sequence[float], weight: float = 3.0) -> float:
    """Paper 3's Dist/SD ratio: ``weight · Σ distances / sqrt(Σ spreads²)`` (weight 3 : 1).

    ``distances``: inter-centroid distances; ``spreads``: per-class SDs. Infinite when every class
    collapses to a point (all spreads 0) while the centroids differ.
    """
    total_distance = float(np.sum(distances))
    total_sd = float(np.sqrt(np.sum(np.square(spreads))))
    if total_sd == 0:
        return float("inf") if total_distance > 0 else float("nan")
    return weight * total_distance / total_sd


def separability(logits: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None,
                 weight: float = 3.0) -> tuple[dict[str, float], np.ndarray]:
    """Table 8 row of one model: PCA of the logits, centroid distances, spreads and the Dist/SD ratio.

    Parameters
    ----------
    logits : (n, k) test logits; labels : (n,) int true class indices 0…k−1.
    class_names : names of the k classes (default ``"0"``, ``"1"``, …), used in column names.

    Returns
    -------
    row : dict with ``dist <a>-<b>`` per class pair, ``dist total``, ``sd <a>`` per class,
        ``sd total`` (root-sum-square) and ``dist/sd ratio``.
    scores : (n, 2) PCA projections, for plotting.
    """
    logits, labels = np.asarray(logits, float), np.asarray(labels)
    if len(logits) != len(labels):
        raise ValueError(f"separability: {len(logits)} logit rows but {len(labels)} labels")
    k = logits.shape[1]
    names = [str(i) for i in range(k)] if class_names is None else list(class_names)
    scores, _ = logit_pca(logits, 2)
    classes = list(range(k))
    distances = centroid_distances(scores, labels, classes)
    spread = class_spread(scores, labels, classes)
    row: dict[str, float] = {f"dist {names[a]}-{names[b]}": d for (a, b), d in distances.items()}
    row["dist total"] = float(sum(distances.values()))
    row.update({f"sd {names[c]}": float(spread.loc[c, "sd"]) for c in classes})
    row["sd total"] = float(np.sqrt(np.sum(spread["sd"] ** 2)))
    row["dist/sd ratio"] = dist_sd_ratio(list(distances.values()), spread["sd"].to_numpy(), weight)
    return row, scores


def _resampled_ratio(logits: np.ndarray, labels: np.ndarray, k: int, weight: float) -> float:
    """The Dist/SD ratio of one bootstrap resample (PCA refitted on it); NaN where it lacks a class."""
    if len(np.unique(labels)) < k:
        return float("nan")
    return separability(logits, labels, None, weight)[0]["dist/sd ratio"]


def separability_table(logits: Mapping[str, tuple[np.ndarray, np.ndarray]], class_names: Sequence[str] | None = None,
                       weight: float = 3.0, n_boot: int = 0, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Table 8: :func:`separability` of several models' test logits, one row per model.

    Parameters
    ----------
    logits : model name → ``(logits (n, k), labels (n,))`` of its test images.
    class_names, weight : as in :func:`separability`.
    n_boot, seed : with ``n_boot`` > 0, a percentile interval of the Dist/SD ratio from ``n_boot``
        resamples of the test images (``seed``; the PCA refitted on each, resamples that miss a class
        left out, :func:`leukutils.metrics.bootstrap_ci`).

    Returns
    -------
    table : ``model``, ``n`` (test images), ``seeds`` (1: one model each), the columns of
        :func:`separability` with ``dist/sd ratio low`` / ``high`` where ``n_boot``, and ``interval``: how it
        was found, or why there is none.
    projections : model name → (n, 2) PCA scores, for :func:`leukutils.plots.logit_clusters`.
    """
    rows, projections = [], {}
    for name, (model_logits, labels) in logits.items():
        row, projections[name] = separability(model_logits, labels, class_names, weight)
        if n_boot:
            k = np.asarray(model_logits).shape[1]
            _, row["dist/sd ratio low"], row["dist/sd ratio high"] = bootstrap_ci(
                lambda x, y, k=k: _resampled_ratio(x, y, k, weight), np.asarray(model_logits, float), np.asarray(labels),
                n_boot=n_boot, seed=seed)
        rows.append({"model": name, "n": len(labels), "seeds": 1, **row})
    interval = ("bootstrap over test images, PCA refitted on each resample" if n_boot
                else "none: one ratio of all test logits per model")
    return pd.DataFrame(rows).assign(interval=interval), projections
