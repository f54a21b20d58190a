"""Tests of the papers' central claims (notebook 04): CAMs scored against ground-truth masks, sanity
checks by cascading randomisation, split leakage, and shortcut cues.

The steps of notebook 04, as functions on arrays ((n, H, W, 3) uint8 images, (n, H, W) bool masks, (n,)
labels) that return tables: the classifier every test trains (:class:`StandardCNNRecipe`), CAMs against
ground truth (:func:`localisation_table`, on :mod:`leukutils.localisation`), the sanity checks
(:func:`sanity_check_rows`), image- against subject-level splits (:func:`split_leakage_runs`), a shortcut
cue and three models that meet it (:func:`crop_field_scores`, :func:`per_field_table`,
:func:`cue_run`, :func:`cue_table`, :func:`mr_ssim_of_models`; cues from :mod:`leukutils.shortcuts`), the tint and
scale bar of real fields (:func:`tint_and_scale_bar`) and the verdict an interval implies (:func:`verdict`).
The verdicts and sentences built from these tables are :mod:`leukutils.findings`'.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torch import nn

from . import config, explain, inference, localisation, metrics, patients, preprocess, segment, shortcuts, train
from .data import splits
from .data.bags import augment_cells, blank_image
from .data.torch_datasets import TensorImageDataset, resize_image, resize_mask, to_tensor
from .features import FeatureBank
from .models.classifiers import StandardCNN
from .report import learned

#: The per-field columns of the sanity checks (X-T2), in the order of the table.
SANITY_COLUMNS = ("MR-SSIM", "SSIM to trained Grad-CAM", "Grad-CAM relevance mass", "Grad-CAM pointing game")


# --------------------------------------------------------------------------------------------------
# The classifier every test trains
# --------------------------------------------------------------------------------------------------
def image_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """(n, H, W, 3) uint8 images → the (n, 3, H, W) float tensor a classifier (and a CAM) takes."""
    return torch.stack([to_tensor(image) for image in images])


class StandardCNNRecipe:
    """Paper 1's Standard_CNN at ``widths``, trained from random weights with one-cycle Adam, best weights
    by validation loss: ``fit = StandardCNNRecipe(widths, epochs=8, lr=3e-3, batch_size=32, device=dev)``,
    then ``model = fit(images, labels, train_rows, val_rows)``.

    ``images``: (n, H, W, 3) uint8; ``labels``: (n,) int 0 … k-1 (k = ``labels.max() + 1`` classes);
    ``train_rows``, ``val_rows``: indices into both. ``seed`` and ``epochs`` of a call override the
    recipe's. Returns the trained model in eval mode.
    """

    def __init__(self, widths: Sequence[int], *, epochs: int, lr: float, batch_size: int,
                 device: torch.device | str = "cpu", seed: int = 0):
        self.widths, self.epochs, self.lr, self.batch_size = tuple(widths), epochs, lr, batch_size
        self.device, self.seed = device, seed

    def __call__(self, images: np.ndarray, labels: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray,
                 seed: int | None = None, epochs: int | None = None) -> nn.Module:
        seed = self.seed if seed is None else seed
        x, y = image_batch(images), np.asarray(labels)
        config.seed_everything(seed)
        model = StandardCNN(int(y.max()) + 1, widths=self.widths)
        train.fit_classifier(model, TensorImageDataset(x[train_rows], y[train_rows]),
                             TensorImageDataset(x[val_rows], y[val_rows]), epochs=self.epochs if epochs is None else epochs,
                             lr=self.lr, batch_size=self.batch_size, one_cycle=True, channels_last=True, fused=True,
                             device=self.device, seed=seed, progress=False)
        return model.eval()


def class_probabilities(model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """(n, k) class probabilities of ``model`` for (n, H, W, 3) uint8 ``images``."""
    dataset = TensorImageDataset(image_batch(images), np.zeros(len(images), np.int64))
    return inference.classify(model, dataset, device)[1]


def probability_of_all(model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """(n,) probability of class 1 (ALL) of a binary classifier for (n, H, W, 3) uint8 ``images``."""
    return class_probabilities(model, images, device)[:, 1]


def correct_predictions(model: nn.Module, images: np.ndarray, labels: np.ndarray,
                        device: torch.device | str = "cpu") -> np.ndarray:
    """(n,) bool: whether ``model`` classifies each image as ``labels`` says (binary: probability of
    class 1 above 0.5; more classes: the most probable one)."""
    probabilities = class_probabilities(model, images, device)
    predicted = probabilities[:, 1] > 0.5 if probabilities.shape[1] == 2 else probabilities.argmax(1)
    return predicted == np.asarray(labels)


# --------------------------------------------------------------------------------------------------
# CAMs against ground truth (X-T1)
# --------------------------------------------------------------------------------------------------
def localisation_table(model: nn.Module, images: np.ndarray, masks: np.ndarray, methods: Sequence[str],
                       n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """CAMs of ``methods`` and the two baselines (:func:`leukutils.localisation.baseline_maps`) of
    ``images`` ((n, H, W, 3) uint8) scored against ``masks`` ((n, H, W) bool, the evidence).

    Returns the table (one row per method: :data:`leukutils.localisation.LOCALISATION_METRICS` with their
    bootstrap intervals over images, :func:`leukutils.metrics.summarise`, and ``n`` images) and the maps,
    method → (n, H, W) float32."""
    maps = explain.cam_maps(model, image_batch(images), methods)
    maps.update(localisation.baseline_maps(len(images), masks.shape[1:], seed=seed))
    scores = pd.concat([localisation.localisation_scores(m, masks).assign(method=name) for name, m in maps.items()])
    return metrics.summarise(scores, "method", localisation.LOCALISATION_METRICS, n_boot=n_boot, seed=seed), maps


def per_image_localisation(maps: Mapping[str, np.ndarray], masks: np.ndarray, **columns) -> pd.DataFrame:
    """The per-image scores behind :func:`localisation_table`: one row per (method, image) with
    :data:`leukutils.localisation.LOCALISATION_METRICS`, ``method``, ``image`` (0 … n-1) and the constant
    ``columns`` (e.g. ``data=...``); paired by image, they give a CAM's gain over a baseline map."""
    return pd.concat([localisation.localisation_scores(m, masks).assign(method=name, image=np.arange(len(m)), **columns)
                      for name, m in maps.items()], ignore_index=True)


#: The compartments of a smear field that :func:`cam_compartments` measures the CAM mass on.
COMPARTMENTS = ("nuclei", "cytoplasm", "background")


def cam_compartments(maps: np.ndarray, label_masks: np.ndarray, mark: np.ndarray | None = None, near: int = 8
                     ) -> pd.DataFrame:
    """Where a CAM's mass lies on smear fields: the share of each map on the nuclei, the cytoplasm and the
    background (:data:`COMPARTMENTS`) and, with ``mark``, on a cue's pixels.

    Parameters
    ----------
    maps : (n, H, W) non-negative maps.
    label_masks : (n, H, W) uint8 ground truth: 255 nucleus, 128 cytoplasm, 0 background.
    mark : (n, H, W) bool, where a cue is drawn on each field (None: no mark columns).
    near : px; a map's peak within ``near`` of the mark counts as on it (the pointing game on the
        mark dilated by ``near``).

    Returns
    -------
    One row per field (``field`` 0 … n-1): ``Grad-CAM mass on <compartment>`` and the compartment's
    ``<compartment> area share`` (what an evenly spread map puts there); with ``mark``, ``Grad-CAM mass
    on the mark``, ``mark area share`` and ``Grad-CAM peak near the mark`` (1.0 or 0.0).
    """
    compartments = {"nuclei": label_masks == 255, "cytoplasm": label_masks == 128, "background": label_masks == 0}
    table = pd.DataFrame({"field": np.arange(len(maps))})
    for name, where in compartments.items():
        table[f"Grad-CAM mass on {name}"] = localisation.relevance_mass(maps, where)
        table[f"{name} area share"] = where.reshape(len(where), -1).mean(axis=1)
    if mark is not None:
        close = np.stack([segment.dilate_mask(m, near) for m in mark])
        table["Grad-CAM mass on the mark"] = localisation.relevance_mass(maps, mark)
        table["mark area share"] = mark.reshape(len(mark), -1).mean(axis=1)
        table["Grad-CAM peak near the mark"] = localisation.localisation_scores(maps, close)["pointing game"].to_numpy()
    return table


# --------------------------------------------------------------------------------------------------
# Sanity checks (Adebayo et al. 2018): cascading randomisation (X-T2)
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



def _grad_and_score(model: nn.Module, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grad-CAM and fast Score-CAM of ``images`` ((n, 3, H, W)) and their (n,) MR-SSIM."""
    grad = explain.cam_heatmaps(model, images, method="gradcam")
    score = explain.cam_heatmaps(model, images, method="fast_scorecam")
    return grad, score, np.array([explain.mr_ssim(g, s) for g, s in zip(grad, score)])


def _stage_rows(stage: str, grad: np.ndarray, mr_ssim: np.ndarray | float, trained: np.ndarray,
                masks: np.ndarray) -> pd.DataFrame:
    located = localisation.localisation_scores(grad, masks)
    return pd.DataFrame({"stage": stage, "MR-SSIM": mr_ssim,
                         "SSIM to trained Grad-CAM": [explain.mr_ssim(g, t) for g, t in zip(grad, trained)],
                         **{f"Grad-CAM {k}": located[k].to_numpy() for k in ("relevance mass", "pointing game")}})


def sanity_check_rows(model: nn.Module, images: np.ndarray, masks: np.ndarray, seed: int = 0
                      ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Paper 1's MR-SSIM and Grad-CAM's localisation under cascading randomisation, and for the class the
    model did not predict (class 0, ``healthy``, on ALL fields).

    Parameters
    ----------
    model : a trained binary :class:`~leukutils.models.classifiers.StandardCNN`.
    images : (n, H, W, 3) uint8 fields of class 1; masks : (n, H, W) bool evidence (blast nuclei).
    seed : seed of the re-initialisation (:func:`cascading_randomisation`).

    Returns
    -------
    One row per field and stage (``trained``, ``random to classifier`` … ``random to block 1``, then
    ``trained, class healthy``) with ``stage`` and :data:`SANITY_COLUMNS` (``MR-SSIM``: Grad-CAM against
    fast Score-CAM; ``SSIM to trained Grad-CAM``: Adebayo et al.'s measure; NaN MR-SSIM for the wrong
    class), and the Grad-CAMs, stage → (n, H, W) (the wrong class under ``class healthy``).
    """
    batch, rows, maps = image_batch(images), [], {}
    for stage, randomised in cascading_randomisation(model, seed=seed):
        grad, _, mr_ssim = _grad_and_score(randomised, batch)
        maps[stage] = grad
        rows.append(_stage_rows(stage, grad, mr_ssim, maps["trained"], masks))
    wrong = explain.cam_heatmaps(model, batch, method="gradcam", targets=[0] * len(batch))
    rows.append(_stage_rows("trained, class healthy", wrong, np.nan, maps["trained"], masks))
    maps["class healthy"] = wrong
    return pd.concat(rows), maps


# --------------------------------------------------------------------------------------------------
# Image-level against subject-level split (X-T3)
# --------------------------------------------------------------------------------------------------
def split_leakage_runs(images: np.ndarray, labels: np.ndarray, subjects: np.ndarray, seeds: Sequence[int],
                       fit: StandardCNNRecipe, epochs: int | None = None, device: torch.device | str = "cpu"
                       ) -> pd.DataFrame:
    """Per seed, a 60/20/20 split of the cells by image and one by subject, a model ``fit`` on each, and
    its test accuracy and AUC.

    ``images``: (n, H, W, 3) uint8 cells; ``labels``: (n,) 0/1; ``subjects``: (n,) subject id per cell.
    Returns one row per (seed, split): ``split`` (``image-level``, ``subject-level``), ``seed``,
    ``accuracy``, ``AUC``, ``test subjects seen in training`` and ``test cells``."""
    rows = []
    for model_seed in seeds:
        for split, groups in (("image-level", None), ("subject-level", subjects)):
            tr, va, te = splits.holdout_split(labels, groups, fractions=(0.6, 0.2, 0.2), seed=model_seed)
            p = probability_of_all(fit(images, labels, tr, va, seed=model_seed, epochs=epochs), images[te], device)
            rows.append({"split": split, "seed": model_seed, "accuracy": np.mean((p > 0.5) == labels[te]),
                         "AUC": metrics.classification_metrics(labels[te], p > 0.5, p)["auc"],
                         "test subjects seen in training": len(set(subjects[te]) & set(subjects[tr])),
                         "test cells": len(te)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# A shortcut cue, and three models that meet it (X-T4)
# --------------------------------------------------------------------------------------------------
def crop_field_scores(model: nn.Module, fields: Sequence[np.ndarray], masks: Sequence[np.ndarray], crop_size: int,
                      device: torch.device | str = "cpu") -> np.ndarray:
    """Paper 2's rule on fields: the cell-crop model's probability of ALL of each crop around a nucleus
    (:func:`leukutils.segment.crops_of_fields`), the largest per field (:func:`leukutils.metrics.bag_scores`).
    ``fields``: (n, H, W, 3) uint8, ``masks``: (n, H, W) bool nuclei. Returns (n,) float."""
    crops, field = segment.crops_of_fields(fields, masks, crop_size)
    return metrics.bag_scores(probability_of_all(model, crops, device), field, len(fields))


def fit_crop_model(fit: StandardCNNRecipe, fields: np.ndarray, masks: Sequence[np.ndarray], labels: np.ndarray,
                   train_rows: np.ndarray, val_rows: np.ndarray, crop_size: int,
                   device: torch.device | str = "cpu") -> tuple[nn.Module, float, int]:
    """A cell-crop model in paper 2's manner: a CNN ``fit`` on the crops around each nucleus of the fields
    ``train_rows`` (validated on those of ``val_rows``), each crop labelled with its field's label, and the
    threshold on :func:`crop_field_scores` that classifies the validation fields best
    (:func:`leukutils.metrics.best_threshold`). Returns the model, the threshold and the number of
    training crops."""
    def crops_of(rows):
        return segment.crops_of_fields([fields[i] for i in rows], [masks[i] for i in rows], crop_size)

    (train_crops, train_field), (val_crops, val_field) = crops_of(train_rows), crops_of(val_rows)
    crop_labels = np.concatenate([labels[train_rows][train_field], labels[val_rows][val_field]])
    model = fit(np.concatenate([train_crops, val_crops]), crop_labels, np.arange(len(train_crops)),
                len(train_crops) + np.arange(len(val_crops)))
    val_scores = crop_field_scores(model, [fields[i] for i in val_rows], [masks[i] for i in val_rows], crop_size, device)
    return model, metrics.best_threshold(val_scores, labels[val_rows]), len(train_crops)


def crop_is_marked(masks: Sequence[np.ndarray], marked: Sequence[np.ndarray]) -> np.ndarray:
    """For each crop of :func:`leukutils.segment.crops_of_fields` (same fields, same order), whether most of
    the nucleus it is centred on lies on ``marked`` ((H, W) bool per field, e.g. the annotated blast
    nuclei of :func:`leukutils.segment.marked_components`). Returns (k,) bool."""
    flags = []
    for mask, mark in zip(masks, marked):
        labels, k = ndimage.label(np.asarray(mask, bool))
        if k:
            flags.append(ndimage.mean(np.asarray(mark, float), labels, range(1, k + 1)) > 0.5)
    return np.concatenate(flags).astype(bool) if flags else np.zeros(0, bool)


class PatientPipeline:
    """Paper 2's pipeline on smear fields, one patient per field: the cells a finder gives (here the
    handcrafted nuclei, :func:`leukutils.segment.crops_of_fields`, in place of the trained detector that
    notebook 02 measures), their frozen CNN features (:class:`leukutils.features.CellEncoder`) and an
    LSTM over the field's cells (:func:`leukutils.patients.train_bag_classifier`).

    ``pipeline(fields, masks)`` returns the (n,) P(ALL) of (n, H, W, 3) uint8 ``fields`` whose nuclei
    are ``masks`` ((H, W) bool each); NaN for a field where no cell was found.
    """

    def __init__(self, encoder, lstm: nn.Module, crop_size: int, device: torch.device | str = "cpu"):
        self.encoder, self.lstm, self.crop_size, self.device = encoder, lstm, int(crop_size), device

    def __call__(self, fields: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray:
        crops, field = segment.crops_of_fields(fields, masks, self.crop_size)
        cell_features = self.encoder(crops) if len(crops) else torch.zeros(0, 1)
        bags = [cell_features[field == i] for i in range(len(fields))]
        return inference.predict_bags(self.lstm, bags, device=self.device)


def fit_patient_pipeline(fields: np.ndarray, masks: Sequence[np.ndarray], blast_nuclei: np.ndarray,
                         train_rows: np.ndarray, *, crop_size: int, encoder, stage1: dict, stage2: dict,
                         n_views: int = 4, seed: int = 0, device: torch.device | str = "cpu"
                         ) -> tuple[PatientPipeline, int, int]:
    """Paper 2's training on the fields ``train_rows``: the crops around their nuclei (``masks``) form the
    single-cell pool, each crop a blast when its nucleus lies on ``blast_nuclei`` (:func:`crop_is_marked`,
    the cell-level labels paper 2 takes from its single-cell sets), ``n_views`` augmented views each
    (:func:`leukutils.data.bags.augment_cells`) encoded once by the frozen ``encoder``; the LSTM learns
    from series drawn from the pool in paper 2's two stages (``stage1``, ``stage2``:
    :func:`leukutils.patients.fit_two_stage`). Returns the pipeline and the pool's blast and normal counts."""
    rows = np.asarray(train_rows)
    crops, _ = segment.crops_of_fields([fields[i] for i in rows], [masks[i] for i in rows], crop_size)
    is_blast = crop_is_marked([masks[i] for i in rows], [blast_nuclei[i] for i in rows])
    bank = FeatureBank.from_images(encoder, augment_cells(crops, n_views=n_views, seed=seed), blank_image(crop_size))
    lstm, _ = patients.train_bag_classifier("lstm", bank, np.flatnonzero(~is_blast), np.flatnonzero(is_blast),
                                            stage1, stage2, seed=seed, device=device)
    return PatientPipeline(encoder, lstm, crop_size, device), int(is_blast.sum()), int((~is_blast).sum())


def per_field_table(predicted: Mapping[tuple[str, str], np.ndarray], truth: np.ndarray, fields: np.ndarray,
                    **columns) -> pd.DataFrame:
    """One row per (model, test cue, field): ``accuracy`` 1.0 when the prediction is right, else 0.0.
    ``predicted``: (model, test cue) → (n,) predicted labels of the fields ``fields`` ((n,) their
    indices), whose labels are ``truth``; ``columns``: constant columns put first (e.g. ``data=...``).
    :func:`leukutils.metrics.summarise` of it by ``["model", "test cue"]`` gives each accuracy with its
    bootstrap interval over fields; its rows, paired by field, the differences of :mod:`leukutils.findings`."""
    return pd.DataFrame([{**columns, "model": model, "test cue": cue, "field": int(field), "accuracy": float(ok)}
                         for (model, cue), guess in predicted.items()
                         for field, ok in zip(fields, np.asarray(guess) == np.asarray(truth))])


@dataclasses.dataclass
class CueRun:
    """What :func:`cue_run` trained and measured for one cue.

    Attributes
    ----------
    cue : the cue's name (a :mod:`leukutils.data.synth.cues` kind or :data:`leukutils.shortcuts.NUCLEUS_MARK`).
    classes, images, masks, segmented : condition (``as in training``, ``absent``, ``reversed``) → the (n,)
        cue class of each field, the (n, H, W, 3) fields with the cue drawn so, their handcrafted nuclei
        ((n, H, W) bool) and the segmented input (nuclei kept, black elsewhere).
    models : name → the trained CNNs (``end-to-end CNN``, ``segmented-input CNN``).
    fields : one row per (model, test cue, test field): ``cue``, ``model``, ``test cue``, ``field``,
        ``accuracy`` (0/1) (:func:`per_field_table`).
    cams : one row per (CNN, marked ALL test field): :func:`cam_compartments` of its Grad-CAM on the input
        it saw, with ``cue``, ``model``, ``mark kept by segmentation`` (share of the mark's pixels in the
        segmented input).
    maps : CNN name → (k, H, W) Grad-CAM maps of the marked ALL test fields ``with_mark``.
    with_mark : (k,) indices of the ALL test fields that carry the cue as in training.
    notes : what else was trained (crop-model threshold, pipeline pool), for the notebook to print.
    """

    cue: str
    classes: dict
    images: dict
    masks: dict
    segmented: dict
    models: dict
    fields: pd.DataFrame
    cams: pd.DataFrame
    maps: dict
    with_mark: np.ndarray
    notes: dict = dataclasses.field(default_factory=dict)


def cue_run(fields: np.ndarray, labels: np.ndarray, label_masks: np.ndarray, rows: tuple[np.ndarray, np.ndarray, np.ndarray],
            fit: StandardCNNRecipe, *, cue: str, rate: float, min_nucleus_area: int, seed: int = 0,
            crop_size: int | None = None, pipeline: Mapping | None = None, blast_nuclei: np.ndarray | None = None,
            device: torch.device | str = "cpu", **columns) -> CueRun:
    """Models trained on fields whose ALL class carries ``cue`` at ``rate``, tested with the cue as in
    training, absent and reversed (:func:`leukutils.shortcuts.cued_conditions`), and where their Grad-CAMs
    lie on the fields that carry it.

    The models: the end-to-end CNN (``fit`` on the fields), the segmented-input CNN (``fit`` on paper 3's
    handcrafted nuclei, black elsewhere), with ``crop_size`` the cell-crop CNN with the max-and-threshold
    rule (:func:`fit_crop_model`) and with ``pipeline`` paper 2's pipeline (:func:`fit_patient_pipeline`;
    ``pipeline`` holds its ``encoder``, ``stage1``, ``stage2``, ``n_views``; needs ``blast_nuclei``).

    Parameters
    ----------
    fields : (n, H, W, 3) uint8; labels : (n,) 0/1; label_masks : (n, H, W) uint8 (255 nucleus, 128
        cytoplasm, 0 background), whose nuclei carry :data:`leukutils.shortcuts.NUCLEUS_MARK`.
    rows : (train, validation, test) indices.
    columns : constant columns of the per-field tables (e.g. ``data=...``).
    """
    train_rows, val_rows, test_rows = rows
    classes, images = shortcuts.cued_conditions(fields, labels, cue, rate, seed=seed, nuclei=label_masks == 255)
    masks = {c: np.stack(segment.segment_many(i, min_area=min_nucleus_area).masks) for c, i in images.items()}
    segmented = {c: np.stack([segment.apply_mask(i, m) for i, m in zip(images[c], masks[c])]) for c in images}
    models = {"end-to-end CNN": fit(images["as in training"], labels, train_rows, val_rows),
              "segmented-input CNN": fit(segmented["as in training"], labels, train_rows, val_rows)}
    inputs = {"end-to-end CNN": images, "segmented-input CNN": segmented}
    predicted = {(name, c): probability_of_all(model, inputs[name][c][test_rows], device) > 0.5
                 for name, model in models.items() for c in images}
    notes = {}
    if crop_size:
        crop_model, threshold, n_crops = fit_crop_model(fit, images["as in training"], masks["as in training"], labels,
                                                        train_rows, val_rows, crop_size, device)
        predicted |= {("cell-crop CNN, max rule", c): crop_field_scores(crop_model, images[c][test_rows], masks[c][test_rows],
                                                                          crop_size, device) > threshold for c in images}
        notes.update({"crop-model threshold": threshold, "training crops": n_crops})
    if pipeline:
        lstm_pipeline, blasts, normals = fit_patient_pipeline(images["as in training"], masks["as in training"], blast_nuclei,
                                                              train_rows, crop_size=crop_size, seed=seed, device=device, **pipeline)
        predicted |= {("paper 2's pipeline (cells, frozen features, LSTM)", c):
                      np.nan_to_num(lstm_pipeline(images[c][test_rows], masks[c][test_rows])) > 0.5 for c in images}
        notes.update({"pipeline pool blasts": blasts, "pipeline pool normal cells": normals})
    table = per_field_table(predicted, labels[test_rows], test_rows, **columns, cue=cue)
    with_mark = test_rows[(classes["as in training"][test_rows] == 1) & (labels[test_rows] == 1)]
    mark = shortcuts.cue_regions(cue, images["as in training"][with_mark], label_masks[with_mark] == 255)
    maps, cams = {}, []
    for name, model in models.items():
        maps[name] = explain.cam_heatmaps(model, image_batch(inputs[name]["as in training"][with_mark]), method="gradcam")
        cams.append(cam_compartments(maps[name], label_masks[with_mark], mark).assign(
            field=with_mark, **columns, cue=cue, model=name,
            **{"mark kept by segmentation": masks["as in training"][with_mark][mark].mean() if mark.any() else np.nan}))
    return CueRun(cue, classes, images, masks, segmented, models, table, pd.concat(cams, ignore_index=True), maps,
                  with_mark, notes)


def cue_table(runs: Sequence[CueRun], majority_baseline: float, n_boot: int = 1000, seed: int = 0
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``X-T4`` of the synthetic fields of :func:`cue_run` runs: one row per (cue, model, test cue) with the
    ``accuracy`` and its bootstrap interval over the test fields (:func:`leukutils.metrics.summarise`),
    the ``majority baseline`` given, and the CNNs' mean Grad-CAM masses (:func:`cam_compartments`) on the
    marked ALL test fields (``Grad-CAM fields`` of them). Returns the table, the per-field accuracies
    and the per-field CAM masses."""
    fields = pd.concat([run.fields for run in runs], ignore_index=True)
    cams = pd.concat([run.cams for run in runs], ignore_index=True)
    by = [c for c in fields.columns if c not in ("field", "accuracy")]
    table = metrics.summarise(fields, by, ["accuracy"], n_boot=n_boot, seed=seed)
    means = cams.groupby(["cue", "model"], sort=False).mean(numeric_only=True).drop(columns="field")
    means["Grad-CAM fields"] = cams.groupby(["cue", "model"], sort=False).size()
    table = table.merge(means.reset_index(), on=["cue", "model"], how="left")
    table.insert(table.columns.get_loc("n") + 1, "majority baseline", majority_baseline)
    return table.assign(seeds=1), fields, cams


def cue_panels(runs: Sequence[CueRun], per_cue: int = 2) -> tuple[list, dict, list, dict]:
    """The panels of ``X-F3`` (:func:`leukutils.plots.cam_grid`): for ``per_cue`` marked ALL test fields of
    each run, the field with its cue, each CNN's Grad-CAM, and the input each CNN saw (the segmented
    field for the segmented-input CNN). Returns images, maps by model, row titles and inputs by model."""
    picks = [(run, k) for run in runs for k in range(min(per_cue, len(run.with_mark)))]
    images = [run.images["as in training"][run.with_mark[k]] for run, k in picks]
    maps = {name: [run.maps[name][k] for run, k in picks] for name in runs[0].maps}
    titles = [f"ALL field {run.with_mark[k]}\n{run.cue}" for run, k in picks]
    inputs = {"segmented-input CNN": [run.segmented["as in training"][run.with_mark[k]] for run, k in picks]}
    return images, maps, titles, inputs


def mr_ssim_of_models(models: Mapping[str, nn.Module], images: np.ndarray) -> pd.DataFrame:
    """Paper 1's MR-SSIM (Grad-CAM against fast Score-CAM) of each model on the same (n, H, W, 3) uint8
    images: one row per image, one column ``<model> MR-SSIM`` per model (NaN for a constant map)."""
    batch = image_batch(images)
    return pd.DataFrame({f"{name} MR-SSIM": _grad_and_score(model, batch)[2] for name, model in models.items()})


# --------------------------------------------------------------------------------------------------
# Real fields: background tint and scale bar (X-T4, Aria)
# --------------------------------------------------------------------------------------------------
def probe_table(correct: Mapping[tuple[str, str], np.ndarray], labels: np.ndarray, *, n_boot: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """Accuracy of each model under each shortcut probe (:data:`leukutils.shortcuts.PROBES`), beside the
    same model's accuracy on the fields as given.

    Parameters
    ----------
    correct : ``{(model, probe): (n,) bool}``, each test field classified correctly or not; every model
        has an ``"as given"`` entry, and all arrays hold the same fields in the same order.
    labels : (n,) the test fields' classes (for the majority baseline).

    Returns
    -------
    One row per (model, probe): ``model``, ``test cue``, ``accuracy`` with its bootstrap interval,
    ``accuracy minus as given`` with its paired interval over the fields, ``n``, ``majority baseline``.
    """
    ci = dict(n_boot=n_boot, seed=seed)
    return pd.DataFrame([{"model": model, "test cue": probe,
                          **dict(zip(["accuracy", "accuracy low", "accuracy high"], metrics.mean_ci(ok, **ci))),
                          **dict(zip(["accuracy minus as given", *metrics.interval_columns("accuracy minus as given")],
                                     metrics.paired_difference_ci(ok, correct[model, "as given"], **ci))),
                          "n": len(ok), "majority baseline": metrics.majority_baseline(labels)}
                         for (model, probe), ok in correct.items()])


def cam_masses(maps: np.ndarray, cells: np.ndarray, mark: np.ndarray) -> dict[str, float]:
    """Where a model's CAMs lie on smear fields: the mean share of each map ((n, h, w)) on the cells
    ((n, h, w) bool) and on the corner mark's region ((h, w) bool), beside the share of the area each
    covers (a map spread evenly would put that much on it)."""
    mark = np.broadcast_to(mark, cells.shape)
    return {"Grad-CAM mass on cells": float(np.nanmean(localisation.relevance_mass(maps, cells))),
            "cell area share": float(cells.mean()),
            "Grad-CAM mass on the scale-bar corner": float(np.nanmean(localisation.relevance_mass(maps, mark))),
            "mark area share": float(mark[0].mean())}


def tint_and_scale_bar(fields: np.ndarray, labels: np.ndarray, rows: tuple[np.ndarray, np.ndarray, np.ndarray],
                       fit: StandardCNNRecipe, *, cell_margin: int, size: int, epochs: int,
                       device: torch.device | str = "cpu", n_boot: int = 1000, seed: int = 0
                       ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """A classifier of real fields trained as given, tested under the four shortcut probes
    (:func:`leukutils.shortcuts.shortcut_probes`): as given, the background tint equalised across classes
    (to the training fields' median tint), the corner mark that the training fields carry
    (:func:`leukutils.shortcuts.mark_region`) inpainted, and both.

    Parameters
    ----------
    fields : (n, H, W, 3) uint8 fields at full size; labels : (n,) 0/1.
    rows : the (train, validation, test) indices.
    fit : the recipe of the classifier, trained ``epochs`` on the fields resized to ``size`` px.
    cell_margin : px at full size by which the handcrafted nuclei are dilated to cover their cells
        (:func:`leukutils.segment.cell_masks`); the rest is the background.

    Returns
    -------
    The table (:func:`probe_table`, with ``data`` and the Grad-CAM masses of :func:`cam_masses` on the
    fields as given), the per-field table (:func:`per_field_table`) and the (n, 3) background colour of
    each field.
    """
    train_rows, val_rows, test_rows = rows
    cells = segment.cell_masks(fields, cell_margin)
    region = shortcuts.mark_region(fields[train_rows])
    probes, tints = shortcuts.shortcut_probes(fields, cells, region, reference_rows=train_rows)
    inputs = {name: np.stack([resize_image(i, size) for i in images]) for name, images in probes.items()}
    model = fit(inputs["as given"], labels, train_rows, val_rows, epochs=epochs)
    name = "Standard_CNN/2 (Benign vs ALL)"
    correct = {(name, probe): correct_predictions(model, images[test_rows], labels[test_rows], device)
               for probe, images in inputs.items()}
    maps = explain.cam_heatmaps(model, image_batch(inputs["as given"][test_rows]), method="gradcam")
    cells_small = np.stack([resize_mask(m, size) for m in cells[test_rows]])
    mark = (resize_mask(preprocess.region_mask(fields.shape[1:3], region), size) if region is not None
            else np.zeros((size, size), bool))
    table = probe_table(correct, labels[test_rows], n_boot=n_boot, seed=seed)
    table = table.assign(**cam_masses(maps, cells_small, mark), seeds=1)
    table.insert(0, "data", "Aria")
    fields_table = per_field_table(correct, np.ones(len(test_rows), bool), test_rows, data="Aria")
    return table, fields_table, tints


# --------------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------------
#: The verdict of a test that rests on a model whose accuracy interval reaches its majority baseline.
NOT_LEARNED = "cannot be told here: the model did not learn"


def verdict(low: float, high: float, holds_if_above: float = 0.0, claim_direction: int = 1,
            model_learned: bool = True) -> str:
    """``holds`` / ``does not hold`` / ``cannot be told here`` from an interval [low, high] of an effect
    whose sign decides a claim: the claim holds when the effect lies wholly above ``holds_if_above``
    (``claim_direction`` 1) or wholly below it (-1), does not hold when wholly on the other side, and
    cannot be told when the interval spans it (or is NaN). :data:`NOT_LEARNED` whatever the interval when
    the effect rests on a model that did not learn (``model_learned`` False, from :func:`learned`)."""
    if not model_learned:
        return NOT_LEARNED
    if not (np.isfinite(low) and np.isfinite(high)):
        return "cannot be told here"
    above, below = low > holds_if_above, high < holds_if_above
    if (above and claim_direction > 0) or (below and claim_direction < 0):
        return "holds"
    if above or below:
        return "does not hold"
    return "cannot be told here"


__all__ = ["SANITY_COLUMNS", "image_batch", "StandardCNNRecipe", "class_probabilities", "probability_of_all",
           "correct_predictions", "localisation_table", "cascading_stages", "cascading_randomisation",
           "sanity_check_rows", "split_leakage_runs", "crop_field_scores", "fit_crop_model", "per_field_table",
           "crop_is_marked", "PatientPipeline", "fit_patient_pipeline",
           "per_image_localisation", "COMPARTMENTS", "cam_compartments", "CueRun", "cue_run", "cue_table", "cue_panels", "mr_ssim_of_models", "probe_table", "cam_masses", "tint_and_scale_bar", "NOT_LEARNED", "learned", "verdict"]
