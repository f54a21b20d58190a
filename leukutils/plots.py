"""All drawing of the compendium: image tiles, outlines, CAM panels, curves and the notebooks' figures.

Functions that draw a figure take arrays or DataFrames and return a ``matplotlib.figure.Figure``; they
do not save it (:func:`leukutils.report.save_figure` does) and do not show it. A notebook cell that
makes a figure is one call here and one ``report.save_figure``. Functions that return an image
(:func:`contour_overlay`, :func:`overlay`) return an array to be shown or tiled.

===========================  ===========================================================================
image tiles and outlines     :func:`tile_grid` (D-F1–D-F3, the cell pool of notebook 02),
                             :func:`contour_overlay`, :func:`contour_strip` (P3-F5)
heatmaps                     :func:`overlay`, :func:`cam_panel` (P1-F6–P1-F9), :func:`cam_grid` (P3-F8, P3-F9),
                             :func:`explorer_figure` (the CAM explorer, :mod:`leukutils.explorer`)
curves                       :func:`training_curves` (P1-F3, P1-F4), :func:`fold_curves` (P3-F6),
                             :func:`removal_recall` (P2-F5), :func:`accuracy_vs_cells` (P2-F6),
                             :func:`series_length_curve` (P2-F7)
other figures                :func:`confusion_matrix` (P1-F5), :func:`order_sensitivity` (P2-X2),
                             :func:`segmentation_examples` (P3-F4), :func:`logit_clusters` (P3-F7)
===========================  ===========================================================================
"""
from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
from matplotlib import colormaps
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.metrics import confusion_matrix as counts

from .metrics import mask_scores
from .report import method_name

__all__ = ["tile_grid", "contour_overlay", "contour_strip", "overlay", "cam_panel", "cam_grid", "explorer_figure", "training_curves",
           "fold_curves", "confusion_matrix", "removal_recall", "accuracy_vs_cells", "series_length_curve",
           "order_sensitivity", "segmentation_examples", "logit_clusters", "corner_marks", "interval_panels"]


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _show(ax, image: np.ndarray, title: str, fontsize: float = 8) -> None:
    """An image (grey for (H, W), colour for (H, W, 3)) without axes, with a small title."""
    ax.imshow(image, cmap="gray" if np.ndim(image) == 2 else None)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


#: The one colour map of every heatmap (CAMs, overlays) in the compendium's figures.
HEATMAP_CMAP = "viridis"


# --------------------------------------------------------------------------------------------------
# image tiles and outlines
# --------------------------------------------------------------------------------------------------
def tile_grid(tiles: Sequence[Sequence[np.ndarray | None]], row_labels: Sequence[str],
              tile_labels: Sequence[Sequence[str]] | None = None, tile_size: float = 1.3, title: str | None = None):
    """A grid of image tiles, one row per entry of ``tiles``.

    Parameters
    ----------
    tiles : rows of (H, W, 3) uint8 RGB images (any sizes); ``None`` leaves a blank tile, and a row
        shorter than the longest is padded with blanks.
    row_labels : one label per row, written left of the row.
    tile_labels : optional small caption per tile (rows of strings; ``""`` for none).
    tile_size : inches per tile.
    title : optional figure title.

    Returns
    -------
    Figure with ``len(tiles) × max(len(row))`` axes.
    """
    plt = _pyplot()
    n_rows, n_cols = len(tiles), max(len(row) for row in tiles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(tile_size * n_cols + 1.2, tile_size * n_rows + 0.4),
                             squeeze=False)
    for i, row in enumerate(tiles):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            image = row[j] if j < len(row) else None
            if image is None:
                continue
            ax.imshow(image)
            if tile_labels and j < len(tile_labels[i]) and tile_labels[i][j]:
                ax.set_title(tile_labels[i][j], fontsize=6, pad=2)
        axes[i, 0].set_ylabel(row_labels[i], fontsize=7, rotation=0, ha="right", va="center", labelpad=4)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4,
                     rect=(0, 0, 1, 1 - 0.35 / (tile_size * n_rows + 0.4) if title else 1))
    return fig


def contour_overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (0, 255, 255)) -> np.ndarray:
    """Copy of ``image`` with the outer outline of ``mask`` drawn 1 px wide in ``colour``.

    ``image``: (H, W, 3) uint8 RGB; ``mask``: (H, W) bool; ``colour``: RGB, default cyan.
    Returns (H, W, 3) uint8.
    """
    out = np.array(image, copy=True)
    contours, _ = cv2.findContours(np.asarray(mask).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, colour, 1)
    return out


def contour_strip(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], n_show: int = 8):
    """The first ``n_show`` images in one row, each with its mask's outline in cyan, titled by index (P3-F5).

    ``images``: (H, W, 3) uint8 RGB; ``masks``: matching (H, W) bool. Returns a Figure with
    ``min(n_show, len(images))`` axes.
    """
    plt = _pyplot()
    n = min(n_show, len(images))
    if n == 0:
        raise ValueError("contour_strip: no images")
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 1.9))
    for ax, i in zip(np.atleast_1d(axes), range(n)):
        _show(ax, contour_overlay(images[i], masks[i]), f"{i}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# heatmaps
# --------------------------------------------------------------------------------------------------
def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heatmap, coloured with viridis, over an image.

    ``image``: (H, W, 3) float in [0, 1] or uint8; ``heatmap``: (H, W) float in [0, 1].
    Returns (H, W, 3) float in [0, 1].
    """
    image = np.asarray(image, dtype=np.float32)
    if image.max() > 1.0:
        image = image / 255.0
    coloured = colormaps[HEATMAP_CMAP](np.clip(heatmap, 0, 1))[..., :3]
    return (1 - alpha) * image + alpha * coloured


def cam_panel(image: np.ndarray, heatmap: np.ndarray, title: str = "", row_titles: Sequence[str] | None = None):
    """Paper 1's CAM figure (P1-F6–P1-F9): input, heatmap (viridis, with colour bar) and overlay side by
    side, one row per image.

    ``image``: (H, W, 3) or (n, H, W, 3) float in [0, 1] or uint8; ``heatmap``: (H, W) or (n, H, W) float in
    [0, 1], e.g. from :func:`leukutils.explain.cam_heatmaps`; ``row_titles``: n titles, one per row (the
    input's), or None. Returns a Figure with 3 image axes per row and one colour bar.
    """
    plt = _pyplot()
    images, heatmaps = np.asarray(image), np.asarray(heatmap)
    if images.ndim == 3:
        images, heatmaps = images[None], heatmaps[None]
    if len(images) != len(heatmaps) or (row_titles is not None and len(row_titles) != len(images)):
        raise ValueError(f"cam_panel: {len(images)} images, {len(heatmaps)} heatmaps and "
                         f"{'no' if row_titles is None else len(row_titles)} row titles; give one of each per row")
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(9, 0.3 + 2.9 * n), squeeze=False, layout="constrained")
    for row, (ax, shown_image, shown_map) in enumerate(zip(axes, images, heatmaps)):
        ax[0].imshow(np.clip(shown_image, 0, 1) if shown_image.dtype != np.uint8 else shown_image)
        ax[0].set_title("input" if row_titles is None else row_titles[row], fontsize=8 if row_titles else None)
        shown = ax[1].imshow(shown_map, cmap=HEATMAP_CMAP, vmin=0, vmax=1)
        ax[1].set_title("heatmap")
        ax[2].imshow(overlay(shown_image, shown_map))
        ax[2].set_title("overlay")
        for a in ax:
            a.axis("off")
    fig.colorbar(shown, ax=axes[:, 1].tolist() if n > 1 else axes[0, 1], fraction=0.046, pad=0.04,
                 label="relevance (normalised)")
    if title:
        fig.suptitle(title)
    return fig


def cam_grid(images: Sequence[np.ndarray], heatmaps: Mapping[str, Sequence[np.ndarray]], row_titles: Sequence[str],
             alpha: float = 0.45, inputs: Mapping[str, Sequence[np.ndarray]] | None = None, title: str | None = None):
    """A CAM comparison (P3-F8, P3-F9, X-F1–X-F3): one row per image, the image then one overlay per CAM method,
    in the one heatmap colour map (:data:`HEATMAP_CMAP`) with one colour bar for the figure.

    Parameters
    ----------
    images : n (H, W, 3) images as shown (uint8, or float in [0, 1]).
    heatmaps : method name → n (H, W) heatmaps in [0, 1], one per image; the column titles are the names,
        CAM methods as the papers name them (:func:`leukutils.report.method_name`: ``"fast_scorecam"`` →
        Score-CAM).
    row_titles : n titles of the first column (e.g. ``"<model>\\n<class>"``).
    alpha : opacity of the heatmap drawn over the image.
    inputs : name → the n images that name's heatmaps are drawn over, where a model saw another input
        than ``images`` (e.g. the segmented field); default ``images`` for every name.
    title : the figure's title.

    Returns
    -------
    Figure with ``n × (1 + len(heatmaps))`` image axes and a colour bar.
    """
    plt = _pyplot()
    methods = list(heatmaps)
    n = len(images)
    inputs = dict(inputs or {})
    if len(row_titles) != n or any(len(maps) != n for maps in heatmaps.values()) or any(len(v) != n for v in inputs.values()):
        raise ValueError(f"cam_grid: {n} images, {len(row_titles)} row titles, heatmaps per method "
                         f"{ {m: len(v) for m, v in heatmaps.items()} } and inputs {({m: len(v) for m, v in inputs.items()})}; "
                         "give one of each per image")
    fig, axes = plt.subplots(n, 1 + len(methods), figsize=(0.6 + 2 * (1 + len(methods)), 0.4 + 2.1 * n), squeeze=False,
                             layout="constrained")
    shown = None
    for j, ax in enumerate(axes):
        _show(ax[0], images[j], row_titles[j])
        for a, m in zip(ax[1:], methods):
            a.imshow(inputs[m][j] if m in inputs else images[j])
            shown = a.imshow(heatmaps[m][j], cmap=HEATMAP_CMAP, alpha=alpha, vmin=0, vmax=1)
            a.set_title(method_name(m), fontsize=8)
            a.axis("off")
    if shown is not None:
        fig.colorbar(plt.cm.ScalarMappable(norm=shown.norm, cmap=HEATMAP_CMAP), ax=axes[:, 1:].ravel().tolist(),
                     shrink=min(0.9, 3 / max(n, 1)), label="relevance (normalised)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def explorer_figure(view, label: str = ""):
    """One view of the CAM explorer (:class:`leukutils.explorer.ExplorerView`): the network input (with
    the nucleus outline where a mask is known), the two methods' heatmaps (viridis, one colour bar), the
    first method's overlay, and the class probabilities as bars (the explained class outlined).
    ``label`` names the image in the title. Returns a Figure."""
    plt = _pyplot()
    fig = plt.figure(figsize=(13, 3.4), layout="constrained")
    grid = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 1, 1.1])
    axes = [fig.add_subplot(grid[0, k]) for k in range(5)]
    shown = view.image if view.mask is None else contour_overlay(view.image, view.mask)
    _show(axes[0], shown, "input" + ("" if view.mask is None else " (nucleus outlined)"), fontsize=9)
    mapped = None
    for ax, heatmap, method in ((axes[1], view.heatmap, view.method), (axes[2], view.compare_heatmap, view.compare)):
        mapped = ax.imshow(heatmap, cmap=HEATMAP_CMAP, vmin=0, vmax=1)
        ax.set_title(method_name(method), fontsize=9)
        ax.axis("off")
    fig.colorbar(mapped, ax=axes[1:3], fraction=0.046, pad=0.02, label="relevance (normalised)")
    _show(axes[3], overlay(view.image, view.heatmap), f"{method_name(view.method)} overlay", fontsize=9)
    bars = axes[4].barh(view.classes, view.probabilities, color="0.6")
    bars[view.predicted].set_color("tab:blue")
    bars[view.target].set_edgecolor("black")
    bars[view.target].set_linewidth(1.5)
    axes[4].set_xlim(0, 1)
    axes[4].set_xlabel("probability")
    axes[4].set_title("class probabilities\n(blue: predicted; outlined: explained)", fontsize=8)
    agreement = "MR-SSIM undefined (a constant map or one under 7×7 px)" if np.isnan(view.mr_ssim) else f"MR-SSIM {view.mr_ssim:.2f}"
    found = "" if view.mask is None else (f"; on the nucleus {view.nucleus_mass:.2f} of the map, "
                                          f"{view.nucleus_share:.2f} of the image")
    fig.suptitle(f"{label + ': ' if label else ''}{view.title}\n{method_name(view.method)} against "
                 f"{method_name(view.compare)}: {agreement}{found}", fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------------------------------
def training_curves(history: pd.DataFrame, quantity: str = "accuracy", title: str | None = None):
    """Training (red dotted) and validation (blue) ``quantity`` per epoch (P1-F3 accuracy, P1-F4 loss).

    ``history``: one row per epoch with columns ``epoch``, ``train_<quantity>``, ``val_<quantity>``
    (as :func:`leukutils.train.fit` returns it). Returns a Figure with one axes.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history["epoch"], history[f"train_{quantity}"], "r:", marker="o", label="training")
    ax.plot(history["epoch"], history[f"val_{quantity}"], "b-", marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(quantity)
    ax.legend()
    ax.set_title(title if title is not None else f"{quantity} per epoch")
    return fig


def fold_curves(history: pd.DataFrame, score: str = "iou", score_label: str = "IoU",
                loss_label: str = "Unified Focal Loss", title: str | None = None):
    """Per-fold training (solid) and held-out (dashed) curves of a K-fold run (P3-F6): score and loss.

    ``history``: one row per fold and epoch with columns ``fold`` (0, 1, …), ``epoch``,
    ``train_<score>``, ``val_<score>``, ``train_loss``, ``val_loss`` (e.g.
    :attr:`leukutils.cross_validation.KFoldSegmentation.history`). Returns a Figure with two axes.
    """
    plt = _pyplot()
    fig, (ax_score, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.4))
    folds = sorted(history["fold"].unique())
    colours = plt.cm.tab10(np.arange(max(folds) + 1 if folds else 1) % 10)
    for fold, curve in history.groupby("fold"):
        c = colours[fold]
        ax_score.plot(curve.epoch, curve[f"train_{score}"], color=c, lw=1, label=f"fold {fold}")
        ax_score.plot(curve.epoch, curve[f"val_{score}"], color=c, lw=1, ls="--")
        ax_loss.plot(curve.epoch, curve.train_loss, color=c, lw=1)
        ax_loss.plot(curve.epoch, curve.val_loss, color=c, lw=1, ls="--")
    ax_score.set(xlabel="epoch", ylabel=f"{score_label} (solid: training, dashed: held-out fold)")
    ax_loss.set(xlabel="epoch", ylabel=loss_label)
    ax_score.legend(fontsize=7, ncol=2)
    ax_score.set_title(f"{score_label} per epoch", fontsize=9)
    ax_loss.set_title(f"{loss_label} per epoch", fontsize=9)
    fig.suptitle(title or f"K-fold training: {score_label} and loss of each fold", fontsize=10)
    fig.tight_layout()
    return fig


def _interval_error(table: pd.DataFrame, column: str) -> np.ndarray | None:
    """(2, n) distances from ``column`` down to ``<column> low`` and up to ``<column> high`` (an errorbar's
    ``yerr``), or None where the table holds no interval of ``column``."""
    if f"{column} low" not in table or f"{column} high" not in table:
        return None
    value = table[column].to_numpy(float)
    return np.nan_to_num(np.abs(np.stack([value - table[f"{column} low"].to_numpy(float),
                                          table[f"{column} high"].to_numpy(float) - value])))


def removal_recall(removal: pd.DataFrame, conditions: Sequence[str] = ("none", "blast removal", "normal removal"),
                   title: str = "removal test (paper: 97.6 / 43.9 / 97.6 %)"):
    """Patient-level recall against cells per patient, one line per removal condition, with its 95 %
    interval as error bars (P2-F5).

    ``removal``: :func:`leukutils.patients.removal_table`: one row per ``size`` (cells per partition as
    text; ``"all"``, every cell, is left out), a recall column per condition and, where present, its
    interval ``<condition> low`` / ``<condition> high``. Returns a Figure with one axes.
    """
    plt = _pyplot()
    part = removal[removal["size"].astype(str) != "all"]
    sizes = part["size"].astype(int).to_numpy()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for k, name in enumerate(conditions):
        offset = (k - (len(conditions) - 1) / 2) * 0.02 * sizes.max()  # conditions side by side at each size
        ax.errorbar(sizes + offset, part[name], yerr=_interval_error(part, name), marker="o", capsize=3, label=name)
    ax.set_xlabel("cells per patient")
    ax.set_ylabel("recall of ALL patients (95 % interval)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def accuracy_vs_cells(scores: pd.DataFrame, title: str = "Patient-level scores against cells per patient"):
    """Patient-level accuracy (with its 95 % interval where ``scores`` holds one) and F1 against cells
    per patient (P2-F6).

    ``scores``: columns ``size`` (cells per patient), ``accuracy`` (``accuracy low``, ``accuracy high``),
    ``f1`` (e.g. :func:`leukutils.patients.score_partitions`). Returns a Figure with one axes.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.errorbar(scores["size"], scores["accuracy"], yerr=_interval_error(scores, "accuracy"), marker="o", capsize=3,
                label="accuracy (95 % interval)")
    ax.plot(scores["size"], scores["f1"], marker="s", label="F1")
    ax.set_xlabel("cells per patient")
    ax.set_ylabel("score over the test patients")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def series_length_curve(summary: pd.DataFrame, x: str = "length", mean: str = "mean_accuracy",
                        sd: str = "sd_accuracy", xlabel: str = "training series length",
                        ylabel: str = "accuracy (mean ± sd)",
                        title: str = "Accuracy against the length of the training series"):
    """Mean ± sd (error bars) against training series length on a log₂ axis (P2-F7).

    ``summary``: one row per length with columns ``x``, ``mean`` and ``sd`` (sd over seeds).
    Returns a Figure with one axes.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.errorbar(summary[x], summary[mean], yerr=summary[sd], marker="o", color="k", ecolor="r", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title, fontsize=9)
    return fig


def interval_panels(table: pd.DataFrame, label: str, columns: Sequence[str], reference: Mapping[str, float] | None = None,
                    title: str | None = None):
    """Estimates with their intervals, one panel per quantity (a forest plot): for each of ``columns`` a
    point at ``<column>`` and a bar from ``<column> low`` to ``<column> high``, one row per entry of
    ``label`` (in table order, top to bottom). ``reference``: optional column → value drawn as a dashed
    vertical line (e.g. chance). Returns a Figure with ``len(columns)`` axes."""
    plt = _pyplot()
    missing = [c for column in columns for c in (column, f"{column} low", f"{column} high") if c not in table]
    if missing:
        raise KeyError(f"interval_panels: the table has no column(s) {missing}")
    rows = np.arange(len(table))[::-1]
    fig, axes = plt.subplots(1, len(columns), figsize=(1.2 + 2.6 * len(columns), 0.9 + 0.3 * len(table)),
                             sharey=True, squeeze=False)
    for ax, column in zip(axes[0], columns):
        ax.errorbar(table[column].to_numpy(float), rows, xerr=_interval_error(table, column), fmt="o", color="k",
                    ecolor="tab:red", capsize=3)
        if reference and column in reference:
            ax.axvline(reference[column], color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(column)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(rows, table[label].astype(str).tolist())
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# other figures
# --------------------------------------------------------------------------------------------------
def corner_marks(table: pd.DataFrame, title: str | None = None):
    """How often each class's images carry a mark in each corner, and of which colour (D-F4): one panel
    per set, classes along x, for each corner the share of images with a dark and with a red mark
    (stacked bars may exceed the share with a mark when a corner holds both).

    ``table``: :func:`leukutils.shortcuts.corner_mark_table` rows with a ``set`` column. Returns a Figure.
    """
    plt = _pyplot()
    sets = list(dict.fromkeys(table["set"]))
    corners = list(dict.fromkeys(table["corner"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(0.8 + 3.2 * len(sets), 3.2), sharey=True, squeeze=False)
    width = 0.8 / len(corners)
    for ax, name in zip(axes[0], sets):
        rows = table[table["set"] == name]
        classes = list(dict.fromkeys(rows["class"]))
        for k, corner in enumerate(corners):
            part = rows[rows["corner"] == corner].set_index("class").loc[classes]
            x = np.arange(len(classes)) + (k - (len(corners) - 1) / 2) * width
            colour = colormaps["viridis"](k / max(1, len(corners) - 1))
            ax.bar(x, part["dark mark"], width, color=colour, label=f"{corner}, dark")
            ax.bar(x, part["red mark"], width, bottom=part["dark mark"], color=colour, hatch="///", edgecolor="tab:red",
                   label=f"{corner}, red")
        ax.set_xticks(np.arange(len(classes)), classes, rotation=30, fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1.05)
    axes[0][0].set_ylabel("share of the class's images")
    axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title or "Marks in the corners of each class's images", fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], title: str | None = None):
    """Confusion matrix of class indices as a labelled grid of counts (P1-F5).

    ``y_true``, ``y_pred``: (n,) int class indices 0 … k-1; ``class_names``: k names (rows: true,
    columns: predicted). Returns a Figure with one axes.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ConfusionMatrixDisplay(counts(y_true, y_pred, labels=list(range(len(class_names)))),
                           display_labels=list(class_names)).plot(ax=ax, colorbar=False)
    if title:
        ax.set_title(title)
    return fig


def order_sensitivity(prob_range: np.ndarray, labels: np.ndarray, n_orders: int, model: str = "LSTM"):
    """Range of P(ALL) over shuffled cell orders, one bar per patient, red for ALL, blue for healthy (P2-X2).

    ``prob_range``: (n_patients,) max − min of the predicted probability over ``n_orders`` orders;
    ``labels``: (n_patients,) 1 for ALL, 0 for healthy. Returns a Figure with one axes.
    """
    plt = _pyplot()
    prob_range, labels = np.asarray(prob_range), np.asarray(labels)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(np.arange(len(prob_range)), prob_range, color=np.where(labels == 1, "tab:red", "tab:blue"))
    ax.set_xlabel("patient (red: ALL, blue: healthy)")
    ax.set_ylabel("range of P(ALL) over shuffles")
    ax.set_title(f"{model} order sensitivity, {n_orders} orders per patient", fontsize=9)
    return fig


def segmentation_examples(images: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                          methods: Mapping[str, Sequence[np.ndarray]], picks: Sequence[int]):
    """Image, ground truth and each method's mask with its Dice, one row per picked image (P3-F4).

    Parameters
    ----------
    images : (H, W, 3) uint8 RGB images.
    truths : matching (H, W) bool ground-truth masks.
    methods : method name → (H, W) bool masks, one per image.
    picks : indices of the images to show (e.g. median, worst and best Dice).

    Returns
    -------
    Figure with ``len(picks) × (2 + len(methods))`` axes.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(len(picks), 2 + len(methods), figsize=(10, 2.1 * len(picks)), squeeze=False)
    for row, i in zip(axes, picks):
        _show(row[0], images[i], f"image {i}")
        _show(row[1], truths[i], "ground truth")
        for ax, (method, masks) in zip(row[2:], methods.items()):
            _show(ax, masks[i], f"{method}\nDice {mask_scores(masks[i], truths[i])['dice']:.3f}")
    fig.tight_layout()
    return fig


def logit_clusters(projections: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray] | np.ndarray,
                   class_names: Sequence[str], ratios: Mapping[str, float] | None = None):
    """Test-set logits on their first two principal components, one panel per model (P3-F7).

    Parameters
    ----------
    projections : model name → (n, 2) PC1, PC2 scores (e.g. from :func:`leukutils.logit_clustering.separability`).
    labels : (n,) int class index of each point, or model name → such an array.
    class_names : k names, class ``c`` drawn as its own colour with its centroid as a black cross.
    ratios : optional model name → Dist/SD ratio, written under the model name.

    Returns
    -------
    Figure with ``len(projections)`` axes.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(projections), figsize=(4.5 * len(projections), 3.8), squeeze=False)
    for ax, (name, points) in zip(axes[0], projections.items()):
        y = np.asarray(labels[name] if isinstance(labels, Mapping) else labels)
        for k, cls in enumerate(class_names):
            ax.scatter(*points[y == k].T, s=14, label=cls)
            ax.scatter(*points[y == k].mean(0), marker="x", s=80, color="k")
        title = name if ratios is None else f"{name}\nDist/SD ratio {ratios[name]:.2f}"
        ax.set(title=title, xlabel="PC1", ylabel="PC2")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
