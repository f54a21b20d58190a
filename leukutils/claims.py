"""Tests of the papers' central claims (notebook 04): CAMs scored against ground-truth masks, sanity
checks by cascading randomisation, split leakage, and shortcut cues.

Localisation scores come from Quantus (relevance mass accuracy, pointing game, AUC); CAMs from
pytorch-grad-cam through :mod:`leukutils.explain`. The functions are small and work on arrays:
(n, H, W) maps and masks, (n, H, W, 3) uint8 images.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torch import nn

from .data.synth import cues
from .metrics import summarise_with_ci

LOCALISATION_METRICS = ("relevance mass", "pointing game", "AUC")


def _quantus_metrics() -> dict[str, Callable]:
    import quantus  # imported here: Quantus is slow to import and only notebook 04 needs it

    options = dict(disable_warnings=True, display_progressbar=False)
    return {"relevance mass": quantus.RelevanceMassAccuracy(**options),
            "pointing game": quantus.PointingGame(**options),
            "AUC": quantus.AUC(**options)}


def localisation_scores(maps: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Quantus' localisation metrics of each map against its ground-truth mask.

    Parameters
    ----------
    maps : (n, H, W) non-negative float attribution maps (CAMs, baselines).
    masks : (n, H, W) bool ground truth: where the evidence for the explained class lies.

    Returns
    -------
    DataFrame with one row per image and the columns of :data:`LOCALISATION_METRICS`:
    ``relevance mass`` (share of the map's sum inside the mask; Arras et al. 2022), ``pointing game``
    (1 when the map's maximum lies in the mask; Zhang et al. 2018) and ``AUC`` (ROC AUC of the map's
    values as a score for mask membership; Fawcett 2006). A map that is constant, or an image whose
    mask is empty, scores NaN (no location to judge).
    """
    maps, masks = np.asarray(maps, np.float32), np.asarray(masks, bool)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(f"localisation_scores: need (n, H, W) maps and masks of one shape, got {maps.shape} "
                         f"and {masks.shape}")
    if (maps < 0).any():
        raise ValueError("localisation_scores: maps must be non-negative (CAMs after ReLU, or shifted baselines)")
    scores = pd.DataFrame(np.nan, index=range(len(maps)), columns=list(LOCALISATION_METRICS))
    ok = masks.any(axis=(1, 2)) & ~masks.all(axis=(1, 2)) & (np.ptp(maps, axis=(1, 2)) > 0)
    if not ok.any():
        return scores
    a, s = maps[ok][:, None], masks[ok][:, None].astype(np.float32)
    x, y = np.zeros_like(a), np.zeros(int(ok.sum()), np.int64)  # Quantus wants inputs; localisation ignores them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, metric in _quantus_metrics().items():
            scores.loc[ok, name] = np.asarray(metric(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s,
                                                     channel_first=True), np.float64)
    return scores


def baseline_maps(n: int, shape: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Two explanations that know nothing about the image, as floors for the localisation scores:
    ``random`` (uniform noise, seeded) and ``centred Gaussian`` (σ a quarter of the shorter side).
    Returns name → (n, H, W) float32 maps in [0, 1]."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    sigma = min(h, w) / 4
    gaussian = np.exp(-(((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) / (2 * sigma ** 2))).astype(np.float32)
    noise = np.random.default_rng(seed).uniform(size=(n, h, w)).astype(np.float32)
    return {"random": noise, "centred Gaussian": np.repeat(gaussian[None], n, axis=0)}


def marked_components(mask: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The connected regions of ``mask`` ((H, W) bool) that hold at least one of ``centres`` ((k, 2)
    ``x, y`` pixels), e.g. the nuclei of the annotated blasts among all nuclei of a field."""
    labels, _ = ndimage.label(np.asarray(mask, bool))
    h, w = labels.shape
    xy = np.round(np.asarray(centres, np.float64).reshape(-1, 2)).astype(int)
    xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)]
    keep = np.setdiff1d(np.unique(labels[xy[:, 1], xy[:, 0]]), [0])
    return np.isin(labels, keep)


def summarise(table: pd.DataFrame, by: str | list[str], columns: Sequence[str], n_boot: int = 1000,
              seed: int = 0) -> pd.DataFrame:
    """:func:`leukutils.metrics.summarise_with_ci` with groups in order of first appearance, the interval
    columns named ``<column> low`` / ``<column> high``, and ``n`` last: the rows with a value in any column."""
    by, columns = ([by] if isinstance(by, str) else list(by)), list(columns)
    out = table[by].drop_duplicates().merge(summarise_with_ci(table, by, columns, n_boot=n_boot, seed=seed), on=by)
    out = out.rename(columns={f"{c}_{end}": f"{c} {end}" for c in columns for end in ("low", "high")})
    out["n"] = table.groupby(by, sort=False)[columns].apply(lambda g: int(g.notna().any(axis=1).sum())).to_numpy()
    return out[[c for c in out if c != "n"] + ["n"]]


# --------------------------------------------------------------------------------------------------
# Sanity checks (Adebayo et al. 2018): cascading randomisation
# --------------------------------------------------------------------------------------------------
def cascading_stages(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """The layers of a :class:`~leukutils.models.classifiers.StandardCNN`, or of any model with a
    ``features`` Sequential and a ``classifier``, from the output back to the input: ``classifier``,
    then each convolution block (``block 4`` … ``block 1``, a block being the modules from one
    convolution to the next)."""
    if not hasattr(model, "features") or not hasattr(model, "classifier"):
        raise TypeError(f"cascading_stages: {type(model).__name__} has no `features` and `classifier`; "
                        f"list its stages by hand as [(name, [modules]), ...]")
    blocks: list[list[nn.Module]] = []
    for module in model.features:
        if isinstance(module, nn.Conv2d) or not blocks:
            blocks.append([])
        blocks[-1].append(module)
    return [("classifier", [model.classifier])] + [(f"block {i + 1}", blocks[i]) for i in reversed(range(len(blocks)))]


def cascading_randomisation(model: nn.Module, stages: Sequence[tuple[str, Sequence[nn.Module]]] | None = None,
                            seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Copies of ``model`` with its layers re-initialised from the top down (Adebayo et al.'s cascading
    randomisation): first ``("trained", model)`` itself, then after each stage of ``stages`` (default
    :func:`cascading_stages`) a copy in which that stage and every stage above it hold fresh random
    weights (each module's own ``reset_parameters``; batch-norm statistics reset too). Seeded."""
    stages = cascading_stages(model) if stages is None else stages
    names = {id(m): n for n, m in model.named_modules()}
    yield "trained", model
    done: list[str] = []
    for stage, modules in stages:
        done += [names[id(m)] for m in modules]
        torch.manual_seed(seed)
        randomised = copy.deepcopy(model).eval()
        lookup = dict(randomised.named_modules())
        for name in done:
            for sub in lookup[name].modules():
                if hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()
                if hasattr(sub, "reset_running_stats"):
                    sub.reset_running_stats()
        yield f"random to {stage}", randomised


# --------------------------------------------------------------------------------------------------
# Shortcut cues
# --------------------------------------------------------------------------------------------------
def cue_region(kind: str, shape: tuple[int, int], n_classes: int = 2) -> np.ndarray:
    """(H, W) bool: where ``synth.cues.apply_cue`` draws cue ``kind`` (for any cue class) on an image of
    ``shape``; derived by drawing it, so it follows the cue's geometry wherever that is defined."""
    region = np.zeros(shape, bool)
    for cue in range(1, n_classes):
        grey = np.full((*shape, 3), 128, np.uint8)
        region |= (cues.apply_cue(grey, kind, cue, n_classes) != grey).any(axis=2)
    return region


def with_cue(images: np.ndarray, cue_classes: Sequence[int], kind: str, n_classes: int = 2) -> np.ndarray:
    """``images`` ((n, H, W, 3) uint8) with cue ``kind`` drawn for each image's cue class (0: none)."""
    return np.stack([cues.apply_cue(image, kind, int(c), n_classes) for image, c in zip(images, cue_classes)])


def cue_classes(labels: Sequence[int], rate: float, seed: int = 0, n_classes: int = 2) -> np.ndarray:
    """The cue class of each image: its label with probability ``rate``, else a uniformly drawn class
    (``synth.cues.cue_class``). ``rate`` 1: a perfect shortcut; 0: a cue independent of the label."""
    rng = np.random.default_rng(seed)
    return np.array([cues.cue_class(rng, int(label), n_classes, rate) for label in labels], np.int64)


def background_colour(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Median RGB of the ``background`` pixels ((H, W) bool) of ``image`` ((H, W, 3) uint8): the tint of
    a smear's empty glass. Returns (3,) float; the whole image's median when ``background`` is empty."""
    pixels = image[np.asarray(background, bool)]
    return np.median(pixels if len(pixels) else image.reshape(-1, 3), axis=0).astype(np.float64)


def equalise_background(image: np.ndarray, background: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` with its background tint moved to ``reference`` ((3,) RGB): each channel multiplied by
    reference / the image's own background median (a von Kries white balance on the glass). Applied to
    every image of a set with one reference, it removes a tint that differs between classes while
    keeping each image's contrast. Returns (H, W, 3) uint8."""
    gain = np.asarray(reference, np.float64) / np.maximum(background_colour(image, background), 1.0)
    return np.clip(image.astype(np.float64) * gain, 0, 255).round().astype(np.uint8)


def cell_masks(images: Sequence[np.ndarray], margin: int = 6, **segment_options) -> np.ndarray:
    """Where the cells of smear fields lie: paper 3's handcrafted nuclei (``segment.segment_nuclei`` with
    ``segment_options``) dilated by ``margin`` px to take in their cytoplasm. (n, H, W) bool."""
    from . import segment

    return np.stack([segment.dilate_mask(segment.segment_nuclei(image, **segment_options), margin) for image in images])


def equalise_tints(images: Sequence[np.ndarray], cells: np.ndarray, reference_rows: Sequence[int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every field's background (outside ``cells``) moved to one reference tint: the median background
    colour of the fields ``reference_rows`` (e.g. the training split; default all), so that the glass no
    longer tells the classes apart. Returns the equalised (n, H, W, 3) uint8 fields, each field's own
    background colour (n, 3) and the reference (3,)."""
    tints = np.stack([background_colour(image, ~cell) for image, cell in zip(images, cells)])
    reference = np.median(tints[slice(None) if reference_rows is None else np.asarray(reference_rows)], axis=0)
    equalised = np.stack([equalise_background(image, ~cell, reference) for image, cell in zip(images, cells)])
    return equalised, tints, reference


def mask_corner(image: np.ndarray, size: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """``image`` with its bottom-right ``size`` = (height, width) px filled with ``colour`` (e.g. its
    background colour): hides a scale bar drawn there. Returns a copy."""
    out = image.copy()
    h, w = size
    out[out.shape[0] - h:, out.shape[1] - w:] = np.asarray(colour).round().astype(out.dtype)
    return out


def nucleus_crops(image: np.ndarray, mask: np.ndarray, size: int, min_area: int = 1) -> np.ndarray:
    """Square crops of ``size`` px centred on each connected region of ``mask`` (nuclei), the image
    mirror-padded at its borders. Returns (k, size, size, 3) uint8, k the number of regions of at least
    ``min_area`` pixels (possibly 0)."""
    labels, k = ndimage.label(np.asarray(mask, bool))
    if k == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    areas = ndimage.sum_labels(np.ones_like(labels), labels, range(1, k + 1))
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, range(1, k + 1))
    half = size // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)), mode="reflect")
    crops = [padded[int(round(cy)):int(round(cy)) + size, int(round(cx)):int(round(cx)) + size]
             for (cy, cx), area in zip(centres, areas) if area >= min_area]
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def bag_scores(crop_probability: np.ndarray, bag_of_crop: np.ndarray, n_bags: int) -> np.ndarray:
    """The score of each bag (a field): the largest crop probability in it (0 for a bag without crops),
    the max-pooling rule of multiple-instance learning. ``bag_of_crop``: (k,) bag index per crop."""
    scores = np.zeros(n_bags)
    np.maximum.at(scores, np.asarray(bag_of_crop, np.int64), np.asarray(crop_probability, np.float64))
    return scores


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on ``scores`` that classifies ``labels`` (0/1) most accurately (the midpoint
    between neighbouring scores; the lowest such on ties); fitted on validation data."""
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    accuracy = [np.mean((scores > c) == labels) for c in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def paired_over_seeds(runs: pd.DataFrame, condition: str, columns: Sequence[str], reference: str,
                      alpha: float = 0.05) -> pd.DataFrame:
    """Per condition, mean ± sd and a t interval over seeds of each of ``columns`` and of its paired
    difference from the ``reference`` condition (same seed). ``runs``: one row per (condition, seed)
    with a ``seed`` column. Returns one row per condition with ``<column>``, ``<column> sd``,
    ``<column> low/high``, ``<column> minus <reference>`` (and its sd, low, high) and ``seeds``."""
    from .patients import over_seeds

    base = runs[runs[condition] == reference].set_index("seed")
    if base.empty:
        raise ValueError(f"paired_over_seeds: no rows with {condition} == {reference!r}")
    runs = runs.copy()
    for column in columns:
        runs[f"{column} minus {reference}"] = runs[column] - runs["seed"].map(base[column])
    return over_seeds(runs, condition, list(columns) + [f"{c} minus {reference}" for c in columns], alpha=alpha)


def verdict(low: float, high: float, holds_if_above: float = 0.0, claim_direction: int = 1) -> str:
    """``holds`` / ``does not hold`` / ``cannot be told here`` from an interval [low, high] of an effect
    whose sign decides a claim: the claim holds when the effect lies wholly above ``holds_if_above``
    (``claim_direction`` 1) or wholly below it (-1), does not hold when wholly on the other side, and
    cannot be told when the interval spans it (or is NaN)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "cannot be told here"
    above, below = low > holds_if_above, high < holds_if_above
    if (above and claim_direction > 0) or (below and claim_direction < 0):
        return "holds"
    if above or below:
        return "does not hold"
    return "cannot be told here"


__all__ = ["LOCALISATION_METRICS", "localisation_scores", "baseline_maps", "marked_components", "summarise",
           "cascading_stages", "cascading_randomisation", "cue_region", "with_cue", "cue_classes", "background_colour",
           "equalise_background", "cell_masks", "equalise_tints", "mask_corner", "nucleus_crops",
           "bag_scores", "best_threshold", "paired_over_seeds", "verdict"]
