"""One training loop for every classifier: Adam, optional ReduceLROnPlateau, best weights by validation
loss, a history table, a progress bar, and resumable checkpoints.

Read it top to bottom: :func:`fit` runs ``epochs`` passes of :func:`train_one_epoch` and
:func:`evaluate`, keeps the weights with the lowest validation loss and returns the history.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

HISTORY_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"]


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """A DataLoader whose shuffling order depends only on ``seed`` (reproducible, resumable)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers, drop_last=False)


def _logits(output) -> torch.Tensor:
    """Model output → logits (Inception in training mode may return a named tuple)."""
    return output.logits if hasattr(output, "logits") else output


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    loss_fn: Callable, device: torch.device, progress=None) -> tuple[float, float]:
    """One pass over ``loader`` in training mode; returns (mean loss, accuracy) over the samples."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = _logits(model(images))
        loss = loss_fn(logits, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        if progress is not None:
            progress.update(len(labels))
    return total_loss / seen, correct / seen


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable, device: torch.device) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (eval mode) over ``loader``."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = _logits(model(images))
        total_loss += loss_fn(logits, labels).item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    return total_loss / seen, correct / seen


@torch.no_grad()
def _recalibrate(model: nn.Module, loader: DataLoader, device: torch.device) -> None:
    """Batch-norm running statistics := cumulative average over ``loader`` (train mode, no gradients)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for images, _ in loader:
        model(images.to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum


def _save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` atomically (write, then rename) so an interrupted run leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset, *, epochs: int, lr: float, batch_size: int,
        device: torch.device | str = "cpu", weight_decay: float = 0.0, scheduler: str | None = None,
        loss_fn: Callable | None = None, checkpoint_path: str | os.PathLike | None = None, seed: int = 0,
        progress: bool = True, num_workers: int = 0, recalibrate_batch_norm: bool = False) -> pd.DataFrame:
    """Train ``model`` with Adam and return its history; the model ends with its best weights.

    Parameters
    ----------
    model : classifier mapping (n, 3, H, W) images to (n, k) logits; trained in place.
    train_set, val_set : datasets of ``(image, label)`` items.
    epochs, lr, batch_size, weight_decay : optimisation settings (Adam).
    device : where to train.
    scheduler : ``None`` or ``"plateau"`` (ReduceLROnPlateau on validation loss, factor 0.1,
        patience 3).
    loss_fn : default cross-entropy.
    checkpoint_path : if given, the training state (weights, optimiser, scheduler, best weights,
        history) is written there after every epoch, and a run started with the same path resumes
        after the last finished epoch. The shuffling and dropout of epoch ``e`` are seeded by
        ``seed + e``, so a resumed run repeats an uninterrupted one.
    seed : seed of shuffling and dropout.
    progress : show a ``tqdm.auto`` progress bar (samples seen, losses per epoch).
    recalibrate_batch_norm : after each epoch, re-estimate batch-norm running statistics on the
        training set with the epoch's weights (one extra forward pass, no gradients) before validating.
        Not in the papers; for short CPU runs, where a few dozen steps leave the running averages far
        from the data's statistics and eval-mode outputs near constant.

    Returns
    -------
    pandas.DataFrame with columns ``epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr``,
    one row per epoch (1-based). The weights with the lowest validation loss are loaded into ``model``
    before returning (first epoch wins ties).
    """
    if epochs < 1:
        raise ValueError(f"fit: epochs must be ≥ 1, got {epochs}")
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"fit: empty split (train {len(train_set)}, validation {len(val_set)} items)")
    if scheduler not in (None, "plateau"):
        raise ValueError(f"fit: unknown scheduler {scheduler!r}; use None or 'plateau'")
    device = torch.device(device)
    model.to(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=3)
               if scheduler == "plateau" else None)
    history: list[dict] = []
    best_loss, best_state = float("inf"), None
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    if checkpoint_path is not None and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if plateau is not None and state.get("scheduler"):
            plateau.load_state_dict(state["scheduler"])
        history, best_loss, best_state = state["history"], state["best_loss"], state["best_model"]
    val_loader = make_loader(val_set, batch_size, num_workers=num_workers)

    from tqdm.auto import tqdm
    bar = tqdm(total=epochs * len(train_set), initial=len(history) * len(train_set), unit="img",
               disable=not progress, desc=f"fit {getattr(model, 'architecture', type(model).__name__)}")
    for epoch in range(len(history) + 1, epochs + 1):
        torch.manual_seed(seed + epoch)  # dropout and other in-model randomness of this epoch
        train_loader = make_loader(train_set, batch_size, shuffle=True, seed=seed + epoch, num_workers=num_workers)
        train_loss, train_accuracy = train_one_epoch(model, train_loader, optimizer, loss_fn, device, bar)
        if recalibrate_batch_norm:
            _recalibrate(model, train_loader, device)
        val_loss, val_accuracy = evaluate(model, val_loader, loss_fn, device)
        history.append({"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                        "val_loss": val_loss, "val_accuracy": val_accuracy,
                        "lr": optimizer.param_groups[0]["lr"]})
        if plateau is not None:
            plateau.step(val_loss)
        if val_loss < best_loss:
            best_loss = val_loss
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(train_loss=f"{train_loss:.3f}", val_loss=f"{val_loss:.3f}", refresh=False)
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": plateau.state_dict() if plateau is not None else {},
                "history": history, "best_loss": best_loss, "best_model": best_state})
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return pd.DataFrame(history, columns=HISTORY_COLUMNS)


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, device: torch.device | str = "cpu",
            batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of every item of ``dataset``, in order.

    Returns
    -------
    probabilities : (n, k) float np.ndarray, softmax of the logits (rows sum to 1).
    labels : (n,) int np.ndarray, the dataset's labels.
    """
    device = torch.device(device)
    model.to(device).eval()
    probabilities, labels = [], []
    for images, batch_labels in make_loader(dataset, batch_size):
        probabilities.append(torch.softmax(_logits(model(images.to(device))), dim=1).cpu().numpy())
        labels.append(np.asarray(batch_labels))
    return np.concatenate(probabilities).astype(np.float64), np.concatenate(labels).astype(np.int64)


def evaluation_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of predicted probabilities (n, k) against labels (n,) (clipped at 1e-12)."""
    p = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.log(p).mean())


def save_model(model: nn.Module, path: str | os.PathLike, card: dict | None = None) -> Path:
    """Save ``model.state_dict()`` to ``path`` (``.pt``) and ``card`` as JSON beside it (``.json``).

    The card describes the model (architecture, data, split, metrics, seed); it is written with
    sorted keys. Load with :func:`leukutils.models.weights.load_checkpoint` (``weights_only=True``).
    """
    import json

    path = Path(path)
    _save_checkpoint(path, model.state_dict())
    if card is not None:
        from .report import atomic_write_bytes

        text = json.dumps(card, indent=2, sort_keys=True, default=_json_default) + "\n"
        atomic_write_bytes(path.with_suffix(".json"), text.encode())
    return path


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a model card")


__all__ = ["fit", "predict", "evaluate", "train_one_epoch", "make_loader", "save_model", "evaluation_loss",
           "HISTORY_COLUMNS"]
