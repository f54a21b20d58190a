"""The one training loop, the per-task steps it runs, and the recipes that use them.

Read :func:`fit` top to bottom: every epoch it seeds the step, runs the step's batches through
forward, backward and the optimiser, validates, steps the scheduler, keeps the best weights and
writes a resumable checkpoint; it returns the history as a DataFrame, one row per epoch.

What differs between tasks lives in a small *step* object (:class:`ClassifierStep`,
:class:`DetectorStep`, :class:`SeriesStep`, :class:`SegmentationStep`): which batches make an
epoch, the loss of a batch, what is counted (accuracy, IoU, loss terms) and how the counts become
the epoch's numbers. A new task subclasses :class:`Step`.

The recipes build an optimiser and a step for one kind of model and call :func:`fit`:
:func:`fit_classifier` (papers 1 and 3), :func:`train_unet` (paper 3) and :func:`train_detector`
(paper 2). Cross-validation is :mod:`leukutils.cross_validation`; model cards are
:mod:`leukutils.model_cards`; inference is :mod:`leukutils.inference`.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from .config import progress_bar
from .data.readers import load_image
from .data.torch_datasets import (SegmentationDataset, detection_target, detection_tensor, flip_left_right,
                                  samples_from_records)
from .models.classifiers import calibrate_batch_norm
from .models.detector import build_detector
from .models.unet import UnifiedFocalLoss, build_unet
from .models.weights import PretrainedWeightsUnavailable, load_checkpoint, save_checkpoint


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """A DataLoader whose shuffling order depends only on ``seed`` (reproducible, resumable)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, drop_last=False)


def logits_of(output) -> torch.Tensor:
    """Model output → logits (Inception in training mode returns a named tuple holding them)."""
    return output.logits if hasattr(output, "logits") else output


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------

def fit(model: nn.Module, step: "Step", *, epochs: int, optimizer: torch.optim.Optimizer, scheduler=None,
        scheduler_metric: str | None = "val_loss", best_by: str | None = "val_loss",
        checkpoint_path: str | os.PathLike | None = None, seed: int = 0, progress: bool = True,
        desc: str | None = None, batch_scheduler=None, checkpoint_seconds: float = 0.0) -> pd.DataFrame:
    """Train ``model`` in place for ``epochs`` epochs of ``step`` and return the history.

    Parameters
    ----------
    model : the network; moved to ``step.device``, left in eval mode.
    step : the task (:class:`ClassifierStep`, :class:`DetectorStep`, :class:`SeriesStep`,
        :class:`SegmentationStep`): batches, loss, counts, validation and seeding.
    epochs : number of passes over the step's training batches.
    optimizer : e.g. ``torch.optim.Adam(model.parameters(), lr=1e-3)``.
    scheduler : optional learning-rate scheduler, stepped once per epoch with the history column
        ``scheduler_metric`` (e.g. ``ReduceLROnPlateau``), or with no argument when that is None.
        The classifiers follow the validation loss (paper 3: factor 0.1, patience 3). The U-Net
        follows its *training* loss (factor 0.5, patience 3): its validation images are the fold
        held out for testing, and nothing — learning rate or weights — may be chosen on them.
    best_by : history column whose smallest value picks the weights ``model`` ends with (first epoch
        on ties); when the column is absent (no validation) or ``best_by`` is None, the last
        epoch's weights are kept. The U-Net passes None for the reason above.
    checkpoint_path : if given, the training state (weights, optimiser, scheduler, best weights,
        history, the step's generators and torch's global generator) is written there after every
        epoch, and a run started with the same path resumes after the last finished epoch and
        repeats an uninterrupted run (on the CPU; an augmentation pipeline with its own generator,
        as albumentations has, restarts its stream).
    checkpoint_seconds : write the checkpoint after an epoch only when at least this many seconds of
        wall time have passed since the last write (or the start), and always after the last epoch.
        0 (default): after every epoch. A large model's state (weights, Adam's two moments, best
        weights: four copies of its parameters) takes seconds to write; an interrupted run then
        repeats at most this much training. passed to ``step.seed(seed, epoch)`` at the start of every epoch: the one place where
        training randomness is seeded.
    progress : show a text progress bar (epochs, last losses).
    desc : label of the progress bar (default: the model's architecture or class name).
    batch_scheduler : optional learning-rate scheduler stepped after every optimiser step (e.g.
        ``OneCycleLR``, for runs of a few epochs); saved in checkpoints like ``scheduler``.

    Returns
    -------
    pandas.DataFrame, one row per epoch: ``epoch`` (1-based), ``train_<name>`` for every number the
    step summarises (e.g. ``train_loss``, ``train_accuracy``), ``val_<name>`` when the step validates,
    ``lr`` (learning rate used during the epoch) and ``seconds`` (wall time of the epoch).
    """
    if epochs < 1:
        raise ValueError(f"fit: epochs must be ≥ 1, got {epochs}")
    model.to(step.device)
    history, best, best_weights = [], math.inf, None
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    if checkpoint_path is not None and checkpoint_path.is_file():
        history, best, best_weights = _resume(checkpoint_path, model, optimizer, scheduler, step, batch_scheduler)
    bar = progress_bar(total=epochs, initial=len(history), unit="epoch", enabled=progress,
                       desc=desc or f"fit {getattr(model, 'architecture', type(model).__name__)}")
    if checkpoint_seconds < 0:
        raise ValueError(f"fit: checkpoint_seconds must be ≥ 0, got {checkpoint_seconds}")
    last_written = time.perf_counter()
    for epoch in range(len(history) + 1, epochs + 1):
        started = time.perf_counter()
        step.seed(seed, epoch)
        model.train()
        totals: dict[str, float] = {}
        for batch in step.batches():
            optimizer.zero_grad(set_to_none=True)
            loss, counts = step(model, batch)
            loss.backward()
            optimizer.step()
            if batch_scheduler is not None:
                batch_scheduler.step()
            _add(totals, counts)
        row = {"epoch": epoch, **_prefix("train", step.summarise(totals)), **_prefix("val", step.validate(model)),
               "lr": optimizer.param_groups[0]["lr"]}
        if scheduler is not None:
            if scheduler_metric is None:
                scheduler.step()
            elif scheduler_metric in row:
                scheduler.step(row[scheduler_metric])
            else:
                raise ValueError(f"fit: the scheduler follows {scheduler_metric!r}, which this step does not "
                                 f"report; the history has {sorted(row)}")
        if best_by is not None and best_by in row and row[best_by] < best:
            best, best_weights = row[best_by], {k: v.detach().clone() for k, v in model.state_dict().items()}
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        bar.update()
        bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "val_loss") if k in row}, refresh=False)
        if checkpoint_path is not None and (epoch == epochs or time.perf_counter() - last_written >= checkpoint_seconds):
            save_checkpoint(checkpoint_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else {},
                "batch_scheduler": batch_scheduler.state_dict() if batch_scheduler is not None else {},
                "history": history, "best": best, "best_model": best_weights,
                "step": step.state_dict(), "torch_rng": torch.get_rng_state()})
            last_written = time.perf_counter()
    bar.close()
    if best_weights is not None:
        model.load_state_dict(best_weights)
    model.eval()
    return pd.DataFrame(history)


def _add(totals: dict, counts: dict) -> None:
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + value


def _prefix(prefix: str, numbers: dict) -> dict:
    return {f"{prefix}_{key}": value for key, value in numbers.items()}


def _resume(path: Path, model: nn.Module, optimizer, scheduler, step: "Step",
            batch_scheduler=None) -> tuple[list, float, dict | None]:
    """Load a :func:`fit` checkpoint into the objects; returns (history, best value, best weights)."""
    state = torch.load(path, map_location=step.device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler"):
        scheduler.load_state_dict(state["scheduler"])
    if batch_scheduler is not None and state.get("batch_scheduler"):
        batch_scheduler.load_state_dict(state["batch_scheduler"])
    step.load_state_dict(state.get("step", {}))
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"].cpu())
    best = state["best"] if "best" in state else state["best_loss"]  # older classifier checkpoints
    return state["history"], best, state["best_model"]


# --------------------------------------------------------------------------------------------------
# Steps: the task-specific part of an epoch
# --------------------------------------------------------------------------------------------------

class Step:
    """One task's part of :func:`fit`. Per epoch, ``fit`` calls :meth:`seed`, then ``self(model, batch)``
    for every batch of :meth:`batches`, then :meth:`summarise` on the summed counts and :meth:`validate`.

    A subclass sets ``device`` and overrides :meth:`batches`, :meth:`__call__` and :meth:`summarise`;
    it may override :meth:`seed`, :meth:`validation_batches` and :meth:`validate`.
    """

    device = torch.device("cpu")
    generator: torch.Generator | None = None

    def seed(self, seed: int, epoch: int) -> None:
        """Seed the randomness of ``epoch`` (1-based). Default: one generator (:attr:`generator`) seeded
        with ``seed`` before the first epoch and carried on (saved in checkpoints)."""
        if epoch == 1:
            self.generator = torch.Generator().manual_seed(seed)

    def batches(self) -> Iterable:
        """The training batches of the current epoch."""
        raise NotImplementedError

    def __call__(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's loss (a scalar tensor to back-propagate) and its counts (numbers summed over the epoch)."""
        raise NotImplementedError

    def summarise(self, totals: dict[str, float]) -> dict[str, float]:
        """Counts summed over an epoch → the epoch's numbers (e.g. mean loss, accuracy)."""
        raise NotImplementedError

    def validation_batches(self) -> Iterable | None:
        """Batches to validate on after every epoch, or None (no validation)."""
        return None

    @torch.no_grad()
    def validate(self, model: nn.Module) -> dict[str, float]:
        """The epoch's numbers on :meth:`validation_batches` (eval mode, no gradients); ``{}`` without them."""
        batches = self.validation_batches()
        if batches is None:
            return {}
        model.eval()
        totals: dict[str, float] = {}
        for batch in batches:
            _add(totals, self(model, batch)[1])
        return self.summarise(totals)

    def state_dict(self) -> dict:
        """States of the step's generators, for a checkpoint."""
        return {} if self.generator is None else {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if "generator" in state:
            self.generator = torch.Generator()
            self.generator.set_state(state["generator"])


def _loss_and_accuracy(totals: dict) -> dict[str, float]:
    seen = max(totals.get("seen", 0), 1)
    return {"loss": totals.get("loss", 0.0) / seen, "accuracy": totals.get("correct", 0) / seen}


class ClassifierStep(Step):
    """Image classification: datasets of ``(image (3, H, W) float, label int)``, cross-entropy, accuracy.

    Every epoch reseeds torch (dropout) and the shuffling with ``seed + epoch``, so a resumed run
    repeats an uninterrupted one.

    Parameters
    ----------
    train_set, val_set : the training and validation datasets (neither may be empty).
    batch_size : images per batch.
    loss_fn : default cross-entropy on the logits.
    device : where batches (and the model) go.
    num_workers : DataLoader worker processes.
    recalibrate_batch_norm : after each epoch, re-estimate batch-norm running statistics on the
        training set with the epoch's weights (one extra forward pass, no gradients) before validating.
        Not in the papers; for short CPU runs, where a few dozen steps leave the running averages far
        from the data's statistics and eval-mode outputs near constant.
    channels_last : hand the model its batches in channels-last memory format (NHWC), which oneDNN's CPU
        convolutions run faster (put the model in that format too, as :func:`fit_classifier` does).
        The same function computed in another order: results differ from NCHW by float rounding only.
    """

    def __init__(self, train_set: Dataset, val_set: Dataset, batch_size: int, loss_fn: Callable | None = None,
                 device: torch.device | str = "cpu", num_workers: int = 0, recalibrate_batch_norm: bool = False,
                 channels_last: bool = False):
        if len(train_set) == 0 or len(val_set) == 0:
            raise ValueError(f"ClassifierStep: empty split (train {len(train_set)}, validation {len(val_set)} items)")
        self.train_set, self.batch_size, self.num_workers = train_set, batch_size, num_workers
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.device = torch.device(device)
        self.recalibrate_batch_norm = recalibrate_batch_norm
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.val_loader = make_loader(val_set, batch_size, num_workers=num_workers)

    def seed(self, seed: int, epoch: int) -> None:
        torch.manual_seed(seed + epoch)  # dropout and other in-model randomness of this epoch
        self.loader = make_loader(self.train_set, self.batch_size, shuffle=True, seed=seed + epoch,
                                  num_workers=self.num_workers)

    def batches(self) -> DataLoader:
        return self.loader

    def __call__(self, model, batch):
        images, labels = batch[0].to(self.device, memory_format=self.memory_format), batch[1].to(self.device)
        logits = logits_of(model(images))
        loss = self.loss_fn(logits, labels)
        return loss, {"loss": loss.item() * len(labels), "correct": (logits.argmax(1) == labels).sum().item(),
                      "seen": len(labels)}

    def summarise(self, totals):
        return _loss_and_accuracy(totals)

    def validation_batches(self) -> DataLoader:
        return self.val_loader

    def validate(self, model):
        if self.recalibrate_batch_norm:
            calibrate_batch_norm(model, self.loader, device=self.device, memory_format=self.memory_format)
        return super().validate(model)


class DetectorStep(Step):
    """Object detection with a torchvision detector; the loss is the sum of torchvision's loss dict.

    ``samples``: sequence of ``(image (H, W, 3) uint8, boxes (n, 4) float x0, y0, x1, y1 px,
    labels (n,) int >= 1)`` (class 0 is the background), e.g.
    :func:`leukutils.data.torch_datasets.samples_from_records`. Each epoch visits them in a random
    order, ``batch_size`` at a time, each flipped left-right with probability 0.5 when ``flip``.
    The numbers are the mean over batches of ``loss`` and of each torchvision loss term. No validation.

    Seeding: a NumPy generator (order, flips) and torch's global generator (torchvision's box
    sampling) are seeded once, before the first epoch.
    """

    def __init__(self, samples: Sequence, batch_size: int = 2, flip: bool = True, device: torch.device | str = "cpu"):
        self.samples, self.batch_size, self.flip = samples, batch_size, flip
        self.device = torch.device(device)
        self.rng: np.random.Generator | None = None

    def seed(self, seed: int, epoch: int) -> None:
        if epoch == 1:
            self.rng = np.random.default_rng(seed)
            torch.manual_seed(seed)

    def batches(self):
        order = self.rng.permutation(len(self.samples))
        for first in range(0, len(order), self.batch_size):
            images, targets = [], []
            for i in order[first:first + self.batch_size]:
                image, boxes, labels = self.samples[int(i)]
                if self.flip and self.rng.random() < 0.5:
                    image, boxes = flip_left_right(image, boxes)
                images.append(detection_tensor(image).to(self.device))
                targets.append({k: v.to(self.device) for k, v in detection_target(boxes, labels).items()})
            yield images, targets

    def __call__(self, model, batch):
        losses = model(*batch)
        loss = sum(losses.values())
        return loss, {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in losses.items()}, "batches": 1}

    def summarise(self, totals):
        batches = max(totals.get("batches", 0), 1)
        return {k: v / batches for k, v in totals.items() if k != "batches"}

    def state_dict(self) -> dict:
        return {} if self.rng is None else {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        if "rng" in state:
            self.rng = np.random.default_rng()
            self.rng.bit_generator.state = state["rng"]


class SeriesStep(Step):
    """Bag classification on generated series of cells (paper 2): cross-entropy, accuracy.

    Parameters
    ----------
    bank : :class:`leukutils.features.FeatureBank` of the cell pool the series index.
    series : (n, L) int cell indices (``BLANK`` = -1 pads); labels : (n,) int 0/1.
    batch_size : series per batch; each epoch visits them in a random order.
    augment : each position reads a random augmented view of its cell (else view 0).
    device : where batches (and the model) go.
    encode : optional function ``(indices (B, L) np.ndarray, generator or None) → (B, L, D) features``
        replacing ``bank.gather`` (the benchmark recomputes backbone features per batch with it).

    Seeding: one torch generator (order and views), seeded before the first epoch. No validation.
    """

    def __init__(self, bank, series: np.ndarray, labels: np.ndarray, batch_size: int = 32, augment: bool = True,
                 device: torch.device | str = "cpu", encode: Callable | None = None):
        self.bank, self.batch_size, self.augment, self.encode = bank, batch_size, augment, encode
        self.series = torch.as_tensor(np.asarray(series), dtype=torch.long)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.device = torch.device(device)

    def batches(self):
        order = torch.randperm(len(self.series), generator=self.generator)
        views = self.generator if self.augment else None
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            if self.encode is None:
                features = self.bank.gather(self.series[rows], views)
            else:
                features = self.encode(self.series[rows].numpy(), views)
            yield features, self.labels[rows]

    def __call__(self, model, batch):
        features, labels = batch[0].to(self.device), batch[1].to(self.device)
        logits = model(features)
        loss = F.cross_entropy(logits, labels)
        return loss, {"loss": float(loss.detach()) * len(labels), "correct": int((logits.argmax(1) == labels).sum()),
                      "seen": len(labels)}

    def summarise(self, totals):
        return _loss_and_accuracy(totals)


class SegmentationStep(Step):
    """Binary segmentation (the U-Net): ``loss_fn`` on (n, 1, H, W) logits, IoU of ``logits > 0``.

    Parameters
    ----------
    train_set, val_set : datasets of ``(image (3, s, s) float32, mask (1, s, s) float32 in {0, 1})``, e.g.
        :class:`leukutils.data.torch_datasets.SegmentationDataset`; ``val_set`` optional.
    batch_size : images per batch.
    loss_fn : e.g. :class:`leukutils.models.unet.UnifiedFocalLoss`.
    device : where batches (and the model) go.

    The numbers are ``loss`` (mean over images) and ``iou`` (intersection over union pooled over all
    pixels of the epoch; 1 when both are empty). Seeding: one torch generator shuffles the training
    set; torch's global generator (dropout) is seeded by the caller before building the model;
    albumentations augmentations draw from their own generator (seed it in the ``Compose``).
    The validation loader has no generator of its own, so each validation pass draws one number from
    torch's global generator (as the first U-Net loop did).
    """

    def __init__(self, train_set: Dataset, val_set: Dataset | None = None, batch_size: int = 8,
                 loss_fn: Callable | None = None, device: torch.device | str = "cpu"):
        if len(train_set) == 0:
            raise ValueError("SegmentationStep: no training images")
        self.train_set, self.batch_size, self.loss_fn = train_set, batch_size, loss_fn
        self.device = torch.device(device)
        self.val_loader = DataLoader(val_set, batch_size=batch_size) if val_set is not None and len(val_set) else None

    def batches(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, generator=self.generator)

    def __call__(self, model, batch):
        images, masks = batch[0].to(self.device), batch[1].to(self.device)
        logits = model(images)
        loss = self.loss_fn(logits, masks)
        predicted, truth = logits.detach() > 0, masks > 0.5
        return loss, {"loss": float(loss.detach()) * len(images), "seen": len(images),
                      "intersection": int((predicted & truth).sum()), "union": int((predicted | truth).sum())}

    def summarise(self, totals):
        union = totals.get("union", 0)
        return {"loss": totals.get("loss", 0.0) / max(totals.get("seen", 0), 1),
                "iou": totals.get("intersection", 0) / union if union else 1.0}

    def validation_batches(self) -> DataLoader | None:
        return self.val_loader


# --------------------------------------------------------------------------------------------------
# Recipes: an optimiser and a step for one kind of model, then fit
# --------------------------------------------------------------------------------------------------

def fit_classifier(model: nn.Module, train_set: Dataset, val_set: Dataset, *, epochs: int, lr: float,
                   batch_size: int, weight_decay: float = 0.0, plateau: bool = False,
                   device: torch.device | str = "cpu", seed: int = 0, recalibrate_batch_norm: bool = False,
                   checkpoint_path: str | os.PathLike | None = None, progress: bool = True,
                   cosine: bool = False, channels_last: bool = False, one_cycle: bool = False,
                   fused: bool = False, checkpoint_seconds: float = 0.0) -> pd.DataFrame:
    """:func:`fit` of an image classifier with the papers' optimiser: Adam (``lr``, ``weight_decay``),
    optionally ReduceLROnPlateau on the validation loss (factor 0.1, patience 3; paper 3), best weights by
    validation loss. Returns the history (``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``, ...).

    ``cosine``: instead of the plateau rule, the learning rate falls from ``lr`` along a cosine towards 0
    over the ``epochs`` (stepped once per epoch): for runs of a few epochs, where a plateau never shows,
    the last epochs then take small steps and the batch-norm running averages settle on the final weights.
    ``one_cycle``: instead of a constant rate, the one-cycle schedule (``OneCycleLR``, stepped every batch):
    the rate rises from ``lr``/25 to ``lr`` over the first 30 % of the steps and anneals (cosine) to
    nearly 0 by the last one; it makes runs of one or two epochs converge. Not in the papers.
    ``channels_last``: train in channels-last memory format (faster CPU convolutions, see
    :class:`ClassifierStep`); the model is handed back in the default (contiguous) format.
    ``fused``: Adam's fused implementation (one kernel over all parameters instead of a loop over them);
    the same update up to float rounding.
    ``checkpoint_seconds``: least wall time between two checkpoint writes (see :func:`fit`)."""
    if sum((plateau, cosine, one_cycle)) > 1:
        raise ValueError("fit_classifier: choose at most one of plateau, cosine and one_cycle")
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, **({"fused": True} if fused else {}))
    if cosine:
        scheduler, metric = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), None
    else:
        scheduler, metric = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=3)
                             if plateau else None), "val_loss"
    step = ClassifierStep(train_set, val_set, batch_size=batch_size, device=device,
                          recalibrate_batch_norm=recalibrate_batch_norm, channels_last=channels_last)
    batch_scheduler = None
    if one_cycle:
        steps = epochs * math.ceil(len(train_set) / batch_size)  # + 1: the rate after the last batch is the cycle's end
        batch_scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps + 1)
    history = fit(model, step, epochs=epochs, optimizer=optimizer, scheduler=scheduler, scheduler_metric=metric,
                  seed=seed, checkpoint_path=checkpoint_path, progress=progress, batch_scheduler=batch_scheduler,
                  checkpoint_seconds=checkpoint_seconds)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return history


def train_unet(train_images, train_masks, val_images=None, val_masks=None, *, size: int = 128,
               epochs: int = 30, batch_size: int = 8, lr: float = 1e-4, weight_decay: float = 1e-4,
               lam: float = 0.5, delta: float = 0.8, gamma: float = 1.0, dropout: float = 0.05,
               channels: Sequence[int] = (32, 64, 128, 256, 512), augment: Callable | None = None,
               device: str | torch.device = "cpu", seed: int = 0, progress: bool = False,
               mirror_pad: int = 8) -> tuple[nn.Module, pd.DataFrame]:
    """Train a paper-3 U-Net on image/mask pairs: Adam, Unified Focal Loss, ReduceLROnPlateau on the
    training loss (factor 0.5, patience 3), last epoch's weights kept.

    Parameters
    ----------
    train_images, val_images : sequences of (H, W, 3) uint8 RGB images; ``val_*`` optional (held-out
        curves only: nothing is selected on them).
    train_masks, val_masks : matching (H, W) bool nucleus masks.
    size : side the images are resized to (paper: 256); must suit ``channels``
        (see :func:`leukutils.models.unet.build_unet`).
    lam, delta, gamma, lr, dropout, weight_decay : Table A2 (see
        :data:`leukutils.models.unet.PAPER_UNET_PARAMS`).
    augment : albumentations transform for training pairs (e.g.
        :func:`leukutils.preprocess.segmentation_augmentation`).
    seed : seeds torch before the model is built (weights, dropout) and the shuffling.
    mirror_pad : mirrored border in pixels (:class:`leukutils.models.unet.MirrorPaddedUNet`; 0 = none).

    Returns
    -------
    model : the trained U-Net (eval mode, on ``device``).
    history : :func:`fit`'s history (``train_loss, train_iou``, ``val_loss, val_iou`` with validation images).
    """
    device = torch.device(device)
    torch.manual_seed(seed)
    model = build_unet(channels=channels, dropout=dropout, mirror_pad=mirror_pad).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=3)
    val_set = None if val_images is None else SegmentationDataset(val_images, val_masks, size)
    step = SegmentationStep(SegmentationDataset(train_images, train_masks, size, augment), val_set,
                            batch_size=batch_size, loss_fn=UnifiedFocalLoss(lam, delta, gamma), device=device)
    history = fit(model, step, epochs=epochs, optimizer=optimizer, scheduler=scheduler, scheduler_metric="train_loss",
                  best_by=None, seed=seed, progress=progress, desc="U-Net")
    return model, history


def train_detector(records: Sequence, classes: Sequence[str], *, epochs: int, lr: float, seed: int = 0,
                   device: str | torch.device = "cpu", checkpoint: str = "", batch_size: int = 4,
                   **build) -> tuple[nn.Module, pd.DataFrame]:
    """Paper 2's white-cell detector: a torchvision Faster R-CNN trained on the ``train`` (+ ``val``) records.

    Parameters
    ----------
    records : records with ``split``, ``boxes`` and ``box_labels`` (BCCD layout); the ``test`` records
        are left for scoring (:func:`leukutils.patients.detector_row`).
    classes : box labels detected, mapped to 1..K in this order (``["WBC"]``; ``["blast", "normal"]``).
    epochs, lr, batch_size, seed, device : training (Adam on the trainable parameters, horizontal flips).
    checkpoint : state dict of a detector trained before with the same settings; skips training.
    build : :func:`leukutils.models.detector.build_detector` options (``arch``, ``weights``,
        ``min_size``, ``max_size``, ``anchor_sizes``).

    Returns
    -------
    model (eval mode) and history (one row per epoch; one NaN row for a loaded checkpoint).
    """
    train_set = samples_from_records([r for r in records if r.split in ("train", "val")], classes, load_image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PretrainedWeightsUnavailable)  # said once by the notebook's set-up
        model = build_detector(num_classes=len(classes) + 1, **build)
    if checkpoint:
        return load_checkpoint(model, checkpoint).eval(), pd.DataFrame({"train_loss": [float("nan")], "seconds": [0.0]})
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    step = DetectorStep([train_set[i] for i in range(len(train_set))], batch_size=batch_size, device=device)
    history = fit(model, step, epochs=epochs, optimizer=optimizer, seed=seed, progress=False)
    return model.eval(), history


__all__ = ["fit", "Step", "ClassifierStep", "DetectorStep", "SeriesStep", "SegmentationStep", "fit_classifier",
           "train_unet", "make_loader", "logits_of", "save_checkpoint", "train_detector"]
