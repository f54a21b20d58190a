"""Audit a classifier of one's own: notebook 04's questions asked of any model and any folder of images.

A reviewer handed a model asks what the compendium asks of its own: does the model beat the majority
baseline, does its accuracy survive removing the glass's tint, a corner or a mark, do its CAMs agree and
survive randomising its weights, do they lie on the cells. The parts come from the field's libraries
(pytorch-grad-cam's CAMs, Quantus' localisation metrics, OpenCV's inpainting); this module puts them
together, and the audit notebook (``leukutils/notebooks/audit.ipynb``, run by ``leukutils audit``)
reads like a methods section around them.

* :func:`load_audited_model` — a classifier saved by the compendium (``.pt`` with its card) or a
  TorchScript file with a small card the user writes (:data:`TORCHSCRIPT_CARD_KEYS`); a model the audit
  cannot explain stops here, before any image is read (:class:`AuditError`).
* :func:`audit_images` — image files or class-named folders, labels from the folder names, a cap that
  keeps the classes' shares (:func:`stratified_cap`), unreadable files listed and skipped.
* :func:`probe_inputs`, :func:`probe_table` — the shortcut probes and the accuracy and predictions
  under each; :func:`cam_agreement`, :func:`randomisation_table`, :func:`localisation_table` — the CAM tests;
  :func:`verdict_table` — one verdict per test in the form of ``X-T0``, naming what it shows and what it
  cannot.

The TorchScript card (JSON beside the file, same name)::

    {"format": "torchscript", "classes": ["Benign", "ALL"], "input_size": 128, "layer": "features.10",
     "normalisation": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}

``normalisation`` is optional (the model then takes RGB in [0, 1]); ``mark_region`` (top, left, bottom,
right fractions) optional, as in the compendium's cards. TorchScript modules accept no hooks, so the audit
calls the model's modules one after another (the top-level ones, and inside each ``nn.Sequential`` on the
way to ``layer``) and hooks the output of ``layer``; it first checks that this chain computes the model's
own output, and stops, saying so, where it does not.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import explain, localisation, metrics, preprocess, segment, shortcuts
from .apply import find_images, read_image
from .claims import NOT_LEARNED, verdict
from .config import progress_bar
from .data.readers import IMAGE_SUFFIXES, load_mask
from .data.torch_datasets import resize_mask, to_tensor
from .model_cards import ModelCardError, load_classifier, read_card
from .report import learned, method_name

__all__ = ["AuditError", "AuditedModel", "ModuleChain", "TORCHSCRIPT_CARD_KEYS", "load_audited_model", "module_chain",
           "check_explainable", "stratified_cap", "audit_images", "network_inputs", "predict", "accuracy_table",
           "probe_inputs", "probe_table", "cam_agreement", "randomisation_stages", "randomised_copy",
           "randomisation_table", "localisation_table", "verdict_table", "SHORTCUT_TOLERANCE", "AGREEMENT"]

#: Keys a TorchScript model's card must hold (see the module docstring).
TORCHSCRIPT_CARD_KEYS = ("classes", "input_size", "layer")
#: A probe "holds" (the model does not lean on what it removes) when the accuracy lost, or the share of
#: predictions changed, is surely under this (its interval's far end below it).
SHORTCUT_TOLERANCE = 0.05
#: The MR-SSIM above which two CAMs count as agreeing: halfway between unrelated maps (0) and the same map (1).
AGREEMENT = 0.5
#: Smallest CAM map side the audit accepts: SSIM's 7 × 7 window needs maps upsampled from at least this.
SMALLEST_MAP = 2


class AuditError(ValueError):
    """The model cannot be audited (no layer to explain, an input it cannot take, a card that does not
    describe it); raised before any image is read, naming the file and what to change."""


class ModuleChain(nn.Module):
    """Modules called one after another: ``ModuleChain([("features.0", conv), ...])(x)`` is
    ``conv(x)`` passed on to the next. Used to hook a layer of a TorchScript model, whose own modules
    take no hooks: an :class:`~torch.nn.Identity` step after the layer is the CAM's target."""

    def __init__(self, steps: Sequence[tuple[str, nn.Module]]):
        super().__init__()
        self.names = [name for name, _ in steps]
        self.steps = nn.ModuleList([module for _, module in steps])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            if isinstance(step, nn.Linear) and x.ndim > 2:  # torchvision flattens before its classifier
                x = torch.flatten(x, 1)
            x = step(x)
        return x


class Normalise(nn.Module):
    """(n, 3, H, W) RGB in [0, 1] → standardised by per-channel ``mean`` and ``std`` (a user's model
    trained on ImageNet-normalised inputs)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclasses.dataclass
class AuditedModel:
    """A classifier ready for the audit.

    Attributes
    ----------
    network : the model as loaded: (n, 3, S, S) float → (n, k) logits (eager, or a TorchScript module).
    classes : the k class names, in the order of the outputs.
    input_size : S, px.
    layer : dotted name of the module in ``network`` whose output the CAMs explain.
    transform : (H, W, 3) uint8 image → (S, S, 3) uint8 network input.
    source : what was loaded (``"compendium checkpoint"`` or ``"TorchScript"``) and from where.
    normalisation : (mean, std) applied before ``network`` (TorchScript cards), or None.
    """
    network: nn.Module
    classes: list[str]
    input_size: int
    layer: str
    transform: Callable[[np.ndarray], np.ndarray]
    source: str
    normalisation: tuple[Sequence[float], Sequence[float]] | None = None

    @property
    def scripted(self) -> bool:
        return isinstance(self.network, torch.jit.ScriptModule)

    def explainable(self, network: nn.Module | None = None) -> tuple[nn.Module, list[nn.Module]]:
        """``(model, target_layers)`` for :func:`leukutils.explain.cam_heatmaps`: the eager network and its
        ``layer``, or for TorchScript the :func:`module_chain` with a hookable step after ``layer``.
        ``network``: a copy of :attr:`network` (e.g. randomised) to explain instead."""
        network = self.network if network is None else network
        if not self.scripted:
            return network, explain.named_target_layers(network, self.layer)
        steps = module_chain(network, self.layer)
        if self.normalisation is not None:
            device = next(network.parameters()).device
            steps = [("normalise", Normalise(*self.normalisation).to(device)), *steps]
        cut = [name for name, _ in steps].index(self.layer) + 1
        target = nn.Identity()
        chain = ModuleChain([*steps[:cut], (f"{self.layer} (output)", target), *steps[cut:]]).eval()
        return chain, [target]


def _is_sequential(module: nn.Module) -> bool:
    return isinstance(module, nn.Sequential) or getattr(module, "original_name", "") == "Sequential"


def module_chain(network: nn.Module, layer: str) -> list[tuple[str, nn.Module]]:
    """The modules of ``network`` in calling order, down to ``layer``: its top-level modules, each
    ``nn.Sequential`` that holds ``layer`` replaced by its own modules. Whether calling them in turn
    computes ``network`` is checked by :func:`check_explainable`.

    Raises :class:`AuditError` when ``layer`` lies inside a module that is not a Sequential (its
    calling order is unknown) or names no module."""
    steps = list(network.named_children())
    while layer not in [name for name, _ in steps]:
        holder = next((i for i, (name, _) in enumerate(steps) if layer.startswith(name + ".")), None)
        if holder is None:
            raise AuditError(f"no module {layer!r} among the model's modules ({', '.join(n for n, _ in steps)})")
        name, module = steps[holder]
        if not _is_sequential(module):
            raise AuditError(f"layer {layer!r} lies inside {name!r}, which is not an nn.Sequential, so the order its "
                             f"modules are called in is unknown; name {name!r} itself or a layer of a Sequential")
        steps[holder:holder + 1] = [(f"{name}.{child}", sub) for child, sub in module.named_children()]
    return steps


def _torchscript_card(path: Path) -> dict:
    card = read_card(path)
    missing = [key for key in TORCHSCRIPT_CARD_KEYS if card.get(key) in (None, "", [])]
    if missing:
        raise AuditError(f"model card {path.with_suffix('.json')} of TorchScript model {path} lacks "
                         f"{', '.join(missing)} (a TorchScript card holds {', '.join(TORCHSCRIPT_CARD_KEYS)}, "
                         "optionally normalisation and mark_region: see leukutils.audit)")
    if not isinstance(card["classes"], list) or len(card["classes"]) < 2:
        raise AuditError(f"model card {path.with_suffix('.json')}: 'classes' must list at least two names, "
                         f"got {card['classes']!r}")
    return card


def _resize_transform(size: int, region) -> Callable[[np.ndarray], np.ndarray]:
    resize = preprocess.paper1_transform(size, 1.0, size)
    return preprocess.chain(preprocess.mark_removal(region), resize) if region is not None else resize


def load_audited_model(path: str | os.PathLike, layer: str = "", device: str | torch.device = "cpu") -> AuditedModel:
    """The classifier at ``path``, checked for the audit (:func:`check_explainable`) before any image is read.

    Parameters
    ----------
    path : a ``.pt`` state dict saved by :func:`leukutils.model_cards.save_model` with its card (the
        card's ``architecture`` rebuilds it), or a TorchScript file whose card says ``"format":
        "torchscript"`` (keys in the module docstring).
    layer : the module to explain, a dotted name; ``""``: the card's ``layer``, else the architecture's
        last convolutional stage (:data:`leukutils.explain.TARGET_LAYERS`).
    device : where the model runs (``"cpu"``, ``"cuda"``; see :func:`leukutils.config.choose_device`).

    Raises
    ------
    AuditError : the card does not describe the model, or the model cannot be explained (no
        convolutional layer at ``layer``, maps under 2 × 2, a chain that does not compute the model).
    """
    path = Path(path)
    try:
        card = read_card(path)
    except ModelCardError as error:
        raise AuditError(str(error)) from error
    if card.get("format") == "torchscript":
        card = _torchscript_card(path)
        try:
            with warnings.catch_warnings():  # torch's deprecation notice of TorchScript, not the user's concern
                warnings.simplefilter("ignore", FutureWarning)
                network = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as error:  # not a TorchScript archive
            raise AuditError(f"{path} is not a TorchScript file its card says it is ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''})") from error
        norm = card.get("normalisation")
        normalisation = (norm["mean"], norm["std"]) if norm else None
        size = int(card["input_size"])
        model = AuditedModel(network, [str(c) for c in card["classes"]], size, layer or card["layer"],
                             _resize_transform(size, card.get("mark_region")), f"TorchScript {path}", normalisation)
    else:
        try:
            network, card, transform = load_classifier(path)
        except ModelCardError as error:
            raise AuditError(str(error)) from error
        size = int({**card, **(card.get("parameters") or {})}["image_size"])
        chosen = layer or card.get("layer", "")
        if not chosen:
            try:
                target = explain.target_layers_for(network)[0]
            except KeyError as error:
                raise AuditError(f"{path}: {error.args[0]}; give the layer to explain (--layer)") from None
            chosen = next(name for name, module in network.named_modules() if module is target)
        model = AuditedModel(network, [str(c) for c in card["classes"]], size, chosen, transform,
                             f"compendium checkpoint {path}")
    check_explainable(model)
    model.network.to(device)
    return model


def check_explainable(model: AuditedModel) -> tuple[int, int]:
    """Stop, naming why, where the audit cannot explain ``model``: no module at its layer, no 2-D
    convolution at or before it, a layer whose output is not an (n, C, h, w) map of at least 2 × 2 on
    the model's input, outputs that are not one logit per class, or (TorchScript) a chain of modules
    that does not compute the model's output. Runs on one blank input; reads no image.

    Returns the (h, w) of the layer's maps."""
    where = model.source
    try:
        explained, targets = model.explainable()
    except (ValueError, AuditError) as error:
        raise AuditError(f"{where}: {error}") from None
    if not any(isinstance(m, nn.Conv2d) or getattr(m, "original_name", "") == "Conv2d" for m in model.network.modules()):
        raise AuditError(f"{where}: the model holds no 2-D convolution, so a class activation map has no layer "
                         "to hook; the audit explains convolutional classifiers")
    device = next(model.network.parameters()).device
    blank = torch.full((1, 3, model.input_size, model.input_size), 0.5, device=device)
    seen: list[torch.Tensor] = []
    handle = targets[0].register_forward_hook(lambda module, inputs, output: seen.append(output))
    try:
        with torch.no_grad():
            logits = explained(blank)
            if model.scripted:
                own = model.network(Normalise(*model.normalisation).to(device)(blank) if model.normalisation else blank)
    except Exception as error:  # an input size the model cannot take, a chain that breaks
        raise AuditError(f"{where}: the model does not take a {model.input_size}-px input through {model.layer!r} "
                         f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
    finally:
        handle.remove()
    if logits.ndim != 2 or logits.shape[1] != len(model.classes):
        raise AuditError(f"{where}: the model gives outputs of shape {tuple(logits.shape)}, not one logit for each of "
                         f"its card's {len(model.classes)} classes")
    if model.scripted and not torch.allclose(own, logits, atol=1e-4, rtol=1e-4):
        raise AuditError(f"{where}: calling its modules in turn ({', '.join(n for n, _ in module_chain(model.network, model.layer))}) "
                         "does not compute the model's output, so its layer cannot be hooked; export a model whose forward "
                         "calls its modules in order, or save it with the compendium's card")
    maps = seen[0] if seen else None
    if maps is None or maps.ndim != 4 or min(maps.shape[2:]) < SMALLEST_MAP:
        shape = None if maps is None else tuple(maps.shape)
        raise AuditError(f"{where}: layer {model.layer!r} gives {shape} at {model.input_size} px, not (n, C, h, w) maps of "
                         f"at least {SMALLEST_MAP} × {SMALLEST_MAP}; name an earlier convolutional layer (--layer)")
    return int(maps.shape[2]), int(maps.shape[3])


# --------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------
def stratified_cap(groups: Sequence, cap: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``cap`` items that keep each group's share (largest remainders, so the
    counts add up to ``cap``), drawn at random within each group with ``seed``. ``cap`` 0: all."""
    groups = np.asarray(groups, dtype=object)
    if cap <= 0 or cap >= len(groups):
        return np.arange(len(groups))
    names, counts = np.unique(groups.astype(str), return_counts=True)
    exact = counts / counts.sum() * cap
    take = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - take), kind="stable")[:cap - take.sum()]:
        take[k] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(groups.astype(str) == name))[:n] for name, n in zip(names, take)]
    return np.sort(np.concatenate(chosen))


def _label_of(path: Path, lookup: dict[str, int]) -> int:
    return next((lookup[part.lower()] for part in reversed(path.parent.parts) if part.lower() in lookup), -1)


def folder_labels(classes: Sequence[str], folder_classes: dict[str, str] | None = None) -> dict[str, int]:
    """Folder name (lower case) → class index: each class's own name, and the folders that
    ``folder_classes`` maps to a class (``{"Early": "ALL", "Pre": "ALL"}``: Aria's ALL subtypes for a
    Benign-vs-ALL model). A mapping to a class the model lacks is an :class:`AuditError` naming it."""
    lookup = {c.lower(): k for k, c in enumerate(classes)}
    for folder, name in (folder_classes or {}).items():
        if name.lower() not in {c.lower() for c in classes}:
            raise AuditError(f"folder {folder!r} is mapped to {name!r}, which is not one of the model's classes "
                             f"({', '.join(classes)})")
        lookup[str(folder).lower()] = next(k for k, c in enumerate(classes) if c.lower() == name.lower())
    return lookup


def audit_images(inputs: Sequence[str | os.PathLike], classes: Sequence[str], max_images: int = 0, seed: int = 0,
                 progress: bool = False, folder_classes: dict[str, str] | None = None
                 ) -> tuple[list[Path], list[np.ndarray], np.ndarray, pd.DataFrame]:
    """The images an audit reads: files, or folders searched for images (:func:`leukutils.apply.find_images`).

    Parameters
    ----------
    inputs : files and folders; an image's label is the nearest folder above it named like one of
        ``classes`` (case-insensitive) or mapped to one by ``folder_classes`` (:func:`folder_labels`),
        else unknown (−1).
    max_images : at most this many, the classes' shares kept (:func:`stratified_cap`); 0: all.

    Returns
    -------
    paths, images ((H, W, 3) uint8 each, as read), labels ((n,) int, −1 unknown) of the images read, and a
    table of the files skipped (``path``, ``reason``: unreadable, truncated, not an image).
    """
    paths = find_images(inputs)
    lookup = folder_labels(classes, folder_classes)
    labels = np.array([_label_of(p, lookup) for p in paths], dtype=np.int64)
    keep = stratified_cap(labels, max_images, seed)
    read, images, kept, skipped = [], [], [], []
    with progress_bar(enabled=progress, total=len(keep), desc="read", unit="image", delay=2.0) as bar:
        for i in keep:
            image, reason = read_image(paths[i])
            if image is None:
                skipped.append({"path": str(paths[i]), "reason": reason})
            else:
                read.append(paths[i])
                images.append(image)
                kept.append(labels[i])
            bar.update(1)
    return read, images, np.array(kept, dtype=np.int64), pd.DataFrame(skipped, columns=["path", "reason"])


def network_inputs(model: AuditedModel, images: Sequence[np.ndarray]) -> np.ndarray:
    """(n, S, S, 3) uint8: each image as the model takes it (its card's preprocessing)."""
    return np.stack([model.transform(image) for image in images])


def _batch(inputs: np.ndarray) -> torch.Tensor:
    return torch.stack([to_tensor(image) for image in inputs])


def predict(model: AuditedModel, inputs: np.ndarray, network: nn.Module | None = None, batch_size: int = 32) -> np.ndarray:
    """(n, k) class probabilities of network inputs ((n, S, S, 3) uint8)."""
    explained, _ = model.explainable(network)
    device = next(model.network.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            out.append(torch.softmax(explained(_batch(inputs[start:start + batch_size]).to(device)), 1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


# --------------------------------------------------------------------------------------------------
# Accuracy and the shortcut probes
# --------------------------------------------------------------------------------------------------
def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean([np.mean(y_pred[y_true == k] == k) for k in np.unique(y_true)]))


def accuracy_table(probabilities: np.ndarray, labels: np.ndarray, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Accuracy and balanced accuracy (mean per-class recall) of the labelled images with their bootstrap
    intervals, beside the majority baseline; one row per measure with ``n``. Empty without labels."""
    known = labels >= 0
    if not known.any():
        return pd.DataFrame(columns=["measure", "value", "value low", "value high", "n", "majority baseline"])
    y, predicted = labels[known], probabilities[known].argmax(1)
    accuracy = metrics.mean_ci(predicted == y, n_boot=n_boot, seed=seed)
    balanced = metrics.bootstrap_ci(_balanced_accuracy, y, predicted, n_boot=n_boot, seed=seed)
    baseline = metrics.majority_baseline(y)
    return pd.DataFrame([("accuracy", *accuracy, int(known.sum()), baseline),
                         ("balanced accuracy", *balanced, int(known.sum()), 1 / len(np.unique(y)))],
                        columns=["measure", "value", "value low", "value high", "n", "majority baseline"])


def probe_inputs(inputs: np.ndarray, cell_margin: int = 3) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The shortcut probes of network inputs ((n, S, S, 3) uint8): as given; the background tint
    equalised across the images (:func:`leukutils.shortcuts.equalise_tints`: outside the handcrafted cells
    dilated by ``cell_margin`` px, to the median tint of all the images); each corner's box
    (:data:`leukutils.shortcuts.CORNER_SIZE`) inpainted; and the mark that the images share in a
    corner, where :func:`leukutils.shortcuts.mark_region` finds one, inpainted.

    Returns ``{probe: (n, S, S, 3) uint8}`` and ``{probe: what it removes}`` (the mark's region, or that
    none was found)."""
    cells = segment.cell_masks(inputs, cell_margin)
    probes, what = {"as given": inputs}, {"as given": "nothing"}
    probes["tint equalised"], _, _ = shortcuts.equalise_tints(inputs, cells)
    what["tint equalised"] = "the background tint (glass outside the cells moved to one median colour)"
    h, w = inputs.shape[1:3]
    for corner, (rows, cols) in shortcuts.corner_boxes((h, w)).items():
        region = (rows.start / h, cols.start / w, rows.stop / h, cols.stop / w)
        probes[f"{corner} corner inpainted"] = np.stack([preprocess.inpaint_region(i, region) for i in inputs])
        what[f"{corner} corner inpainted"] = f"whatever lies in the {corner} corner's box"
    region = shortcuts.mark_region(inputs)
    if region is not None:
        probes["mark inpainted"] = np.stack([preprocess.inpaint_region(i, region) for i in inputs])
        what["mark inpainted"] = ("the mark the images share, rows and columns "
                                  + ", ".join(f"{v:.2f}" for v in region) + " of the image")
    return probes, what


def probe_table(model: AuditedModel, probes: dict[str, np.ndarray], labels: np.ndarray, n_boot: int = 1000,
                seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Each probe's accuracy (labelled images) and share of predictions changed from the images as given,
    with bootstrap intervals (paired over images for the change). Returns the table (one row per probe)
    and the predicted classes under each probe."""
    predicted = {name: predict(model, images).argmax(1) for name, images in probes.items()}
    known = labels >= 0
    ci = dict(n_boot=n_boot, seed=seed)
    rows = []
    for name, classes in predicted.items():
        row = {"probe": name, "n": len(classes)}
        row.update(zip(["predictions changed", "predictions changed low", "predictions changed high"],
                       metrics.mean_ci(classes != predicted["as given"], **ci)))
        if known.any():
            ok, given = classes[known] == labels[known], predicted["as given"][known] == labels[known]
            row.update(zip(["accuracy", "accuracy low", "accuracy high"], metrics.mean_ci(ok, **ci)))
            row.update(zip(["accuracy minus as given", "accuracy minus as given low", "accuracy minus as given high"],
                           metrics.paired_difference_ci(ok, given, **ci)))
        rows.append(row)
    return pd.DataFrame(rows), predicted


# --------------------------------------------------------------------------------------------------
# CAMs: agreement, randomisation, localisation
# --------------------------------------------------------------------------------------------------
def _heatmaps(explained: nn.Module, batch: torch.Tensor, method: str, targets: list[nn.Module],
              batch_size: int = 32) -> np.ndarray:
    """:func:`leukutils.explain.cam_heatmaps` at ``targets``; pytorch-grad-cam's ``zero_grad`` on a TorchScript
    module's parameters reads ``.grad`` of non-leaf tensors, a notice that says nothing about the maps."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf", category=UserWarning)
        return explain.cam_heatmaps(explained, batch, method, target_layers=targets, batch_size=batch_size)


def cam_agreement(model: AuditedModel, inputs: np.ndarray, network: nn.Module | None = None,
                  score_batch_size: int = 32) -> dict[str, np.ndarray]:
    """Grad-CAM and Score-CAM (the exact fast variant) of each input for its predicted class, at the
    model's layer, and their MR-SSIM (NaN where a map is constant): ``{"gradcam": (n, S, S),
    "fast_scorecam": (n, S, S), "mr_ssim": (n,)}``."""
    explained, targets = model.explainable(network)
    batch = _batch(inputs)
    maps = {method: _heatmaps(explained, batch, method, targets, score_batch_size) for method in ("gradcam", "fast_scorecam")}
    maps["mr_ssim"] = np.array([explain.mr_ssim(g, s) for g, s in zip(maps["gradcam"], maps["fast_scorecam"])])
    return maps


def randomisation_stages(network: nn.Module) -> list[tuple[str, list[str]]]:
    """Cascading randomisation's stages, from the output back to the input: each top-level module with
    weights, or each module with weights inside a top-level ``nn.Sequential``, as (stage name, the
    prefixes of its parameter names). The same for a model and its TorchScript export."""
    stages = []
    for name, child in network.named_children():
        subs = list(child.named_children()) if _is_sequential(child) else []
        for sub_name, sub in (subs or [("", child)]):
            full = f"{name}.{sub_name}" if sub_name else name
            if any(True for _ in sub.parameters()):
                stages.append((full, [full + "."]))
    return stages[::-1]


def randomised_copy(network: nn.Module, prefixes: Sequence[str], seed: int = 0) -> nn.Module:
    """A copy of ``network`` in which every parameter whose name starts with one of ``prefixes`` has its
    values shuffled (a random permutation within each tensor, seeded): what training put where is gone,
    the scale of the weights stays, so activations neither vanish nor explode. Works alike on eager and
    TorchScript modules (same parameter names, same permutations)."""
    with warnings.catch_warnings():  # copying a TorchScript module reads .grad of its non-leaf tensors
        warnings.simplefilter("ignore", UserWarning)
        randomised = copy.deepcopy(network).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in randomised.named_parameters():
            if any(name.startswith(p) for p in prefixes):
                flat = parameter.detach().reshape(-1)
                order = torch.randperm(flat.numel(), generator=generator).to(flat.device)
                parameter.copy_(flat[order].view_as(parameter))
    return randomised


def randomisation_table(model: AuditedModel, inputs: np.ndarray, trained: dict[str, np.ndarray], seed: int = 0,
                        n_boot: int = 1000, score_batch_size: int = 32) -> pd.DataFrame:
    """Cascading randomisation (Adebayo et al. 2018): the layers shuffled from the output down
    (:func:`randomisation_stages`, :func:`randomised_copy`), stage after stage; at each, the SSIM of
    Grad-CAM to the trained model's Grad-CAM, and at the last (every layer shuffled) the MR-SSIM of
    Grad-CAM and Score-CAM, each a mean over images with its bootstrap interval.

    ``trained``: :func:`cam_agreement` of the trained model on the same inputs."""
    explained_batch = _batch(inputs)
    rows, done = [], []
    stages = randomisation_stages(model.network)
    for k, (stage, prefixes) in enumerate(stages):
        done += prefixes
        network = randomised_copy(model.network, done, seed)
        explained, targets = model.explainable(network)
        grad = _heatmaps(explained, explained_batch, "gradcam", targets)
        ssim = np.array([explain.mr_ssim(g, t) for g, t in zip(grad, trained["gradcam"])])
        row = {"stage": f"random to {stage}", "layers shuffled": k + 1}
        row.update(zip(["SSIM to trained Grad-CAM", "SSIM to trained Grad-CAM low", "SSIM to trained Grad-CAM high"],
                       metrics.mean_ci(ssim[np.isfinite(ssim)] if np.isfinite(ssim).any() else [np.nan],
                                       n_boot=n_boot, seed=seed)))
        if k == len(stages) - 1:
            last = cam_agreement(model, inputs, network, score_batch_size)["mr_ssim"]
            both = np.isfinite(last) & np.isfinite(trained["mr_ssim"])
            row.update(zip(["MR-SSIM", "MR-SSIM low", "MR-SSIM high"],
                           metrics.mean_ci(last[both] if both.any() else [np.nan], n_boot=n_boot, seed=seed)))
            row.update(zip(["trained minus random MR-SSIM", "trained minus random MR-SSIM low",
                            "trained minus random MR-SSIM high"],
                           metrics.paired_difference_ci(trained["mr_ssim"][both], last[both], n_boot=n_boot, seed=seed)
                           if both.any() else (np.nan,) * 3))
        rows.append(row)
    return pd.DataFrame(rows)


def localisation_table(maps: dict[str, np.ndarray], regions: np.ndarray, region_name: str, n_boot: int = 1000,
                       seed: int = 0) -> pd.DataFrame:
    """Grad-CAM's and Score-CAM's relevance mass and pointing game (Quantus) on ``regions`` ((n, S, S)
    bool: masks given, or the cells the handcrafted segmentation finds), each minus a centred Gaussian
    map's on the same images (paired bootstrap), with the regions' share of the image (what a map
    spread evenly scores on relevance mass)."""
    gaussian = localisation.baseline_maps(len(regions), regions.shape[1:], seed)["centred Gaussian"]
    floor = localisation.localisation_scores(gaussian, regions)
    rows = []
    for method in ("gradcam", "fast_scorecam"):
        scores = localisation.localisation_scores(maps[method], regions)
        for metric in ("relevance mass", "pointing game"):
            ok = scores[metric].notna() & floor[metric].notna()
            a, b = scores.loc[ok, metric].to_numpy(), floor.loc[ok, metric].to_numpy()
            rows.append({"method": method_name(method), "metric": metric, "regions": region_name,
                         "value": float(a.mean()) if len(a) else np.nan,
                         "centred Gaussian": float(b.mean()) if len(b) else np.nan,
                         **dict(zip(["minus centred Gaussian", "minus centred Gaussian low", "minus centred Gaussian high"],
                                    metrics.paired_difference_ci(a, b, n_boot=n_boot, seed=seed) if len(a) else (np.nan,) * 3)),
                         "n": int(ok.sum()), "region share of the image": float(regions.mean())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------------
def verdict_table(model_name: str, accuracy: pd.DataFrame, probes: pd.DataFrame, probe_what: dict[str, str],
                  agreement: tuple[float, float, float, int], randomisation: pd.DataFrame,
                  located: pd.DataFrame) -> pd.DataFrame:
    """One row per test in the form of ``X-T0``: ``test`` (what was measured, on which model and images),
    ``shows`` and ``cannot show``, ``effect``, ``value`` with its interval, ``n`` and ``verdict``
    (:func:`leukutils.claims.verdict`). A test that rests on the model's accuracy reads
    :data:`leukutils.claims.NOT_LEARNED` where the accuracy interval reaches the majority baseline.

    ``agreement``: the mean MR-SSIM of the trained model with its interval and the number of images."""
    rows = []
    has_labels = not accuracy.empty
    model_learned = True
    if has_labels:
        acc = accuracy.set_index("measure").loc["accuracy"]
        model_learned = learned(acc["value low"], acc["majority baseline"])
        rows.append({"test": f"{model_name}: accuracy on the labelled images minus the majority baseline",
                     "shows": "whether the model tells the classes apart on these images at all",
                     "cannot show": "what it tells them apart by (the probes and CAMs below)",
                     "effect": "accuracy minus majority baseline", "value": acc["value"] - acc["majority baseline"],
                     "low": acc["value low"] - acc["majority baseline"], "high": acc["value high"] - acc["majority baseline"],
                     "n": int(acc["n"]), "verdict": "holds" if model_learned else NOT_LEARNED})
    for _, row in probes[probes["probe"] != "as given"].iterrows():
        if has_labels:
            effect, value, low, high = ("accuracy with the probe minus as given", row["accuracy minus as given"],
                                        row["accuracy minus as given low"], row["accuracy minus as given high"])
            result = verdict(low, high, -SHORTCUT_TOLERANCE, model_learned=model_learned)
        else:
            effect, value, low, high = ("share of predictions changed by the probe", row["predictions changed"],
                                        row["predictions changed low"], row["predictions changed high"])
            result = verdict(low, high, SHORTCUT_TOLERANCE, claim_direction=-1)
        rows.append({"test": f"{model_name}: {row['probe']} ({probe_what[row['probe']]}); holds when the "
                             f"{'loss' if has_labels else 'change'} is surely under {SHORTCUT_TOLERANCE:.2f}",
                     "shows": "that the model does not need what the probe removes",
                     "cannot show": "that it reads the cells: a cue the probe leaves in place is not tested",
                     "effect": effect, "value": value, "low": low, "high": high, "n": int(row["n"]), "verdict": result})
    value, low, high, n = agreement
    rows.append({"test": f"{model_name}: mean MR-SSIM of Grad-CAM and Score-CAM, above {AGREEMENT}",
                 "shows": "whether the two methods read the same evidence (paper 1's check)",
                 "cannot show": "that the evidence is the pathology: both agree on a shortcut as well",
                 "effect": f"MR-SSIM minus {AGREEMENT}", "value": value - AGREEMENT, "low": low - AGREEMENT,
                 "high": high - AGREEMENT, "n": n, "verdict": verdict(low - AGREEMENT, high - AGREEMENT)})
    last = randomisation.iloc[-1]
    rows.append({"test": f"{model_name}: MR-SSIM of the trained model minus that of the same network with every "
                         "layer shuffled, same images",
                 "shows": "whether the agreement comes from what the model learned (Adebayo et al.'s sanity check)",
                 "cannot show": "that what it learned is the pathology",
                 "effect": "MR-SSIM difference", "value": last["trained minus random MR-SSIM"],
                 "low": last["trained minus random MR-SSIM low"], "high": last["trained minus random MR-SSIM high"],
                 "n": n, "verdict": verdict(last["trained minus random MR-SSIM low"], last["trained minus random MR-SSIM high"])})
    for _, row in located.iterrows():
        rows.append({"test": f"{model_name}: {row['method']}'s {row['metric']} on the {row['regions']} minus a "
                             "centred Gaussian map's, same images",
                     "shows": f"whether the map lies on the {row['regions']} more than a map that knows nothing of the image",
                     "cannot show": "which part of the cell carries the evidence, or that the class is read from it",
                     "effect": f"{row['metric']} difference", "value": row["minus centred Gaussian"],
                     "low": row["minus centred Gaussian low"], "high": row["minus centred Gaussian high"],
                     "n": int(row["n"]), "verdict": verdict(row["minus centred Gaussian low"], row["minus centred Gaussian high"])})
    return pd.DataFrame(rows)


def audit_findings(verdicts: pd.DataFrame, n_images: int, seconds: float) -> list[str]:
    """The closing sentences of an audit, from its verdict table (:func:`verdict_table`): how many tests hold,
    do not hold or cannot be told, which probes the model failed (it leans on what they remove), and
    whether its CAMs passed the randomisation and localisation tests."""
    counts = verdicts["verdict"].value_counts()
    lines = [f"The audit read {n_images} images and ran {len(verdicts)} tests in {seconds:.0f} s: "
             + "; ".join(f"{name}: {int(counts.get(name, 0))}" for name in ("holds", "does not hold", "cannot be told here",
                                                                            NOT_LEARNED) if counts.get(name, 0)) + "."]
    if (verdicts["verdict"] == NOT_LEARNED).any():
        lines.append("Its accuracy interval reaches the majority baseline on these images: the model did not learn "
                     "anything they can test, and the probes that rest on its accuracy cannot be told.")
    probes = verdicts[verdicts["test"].str.contains(" inpainted| equalised")]
    failed = probes[probes["verdict"] == "does not hold"]
    if len(failed):
        lines.append("It leans on what these probes remove (a shortcut): " + "; ".join(
            f"{t.split(': ', 1)[1].split(' (')[0]} {v:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            for t, v, lo, hi in failed[["test", "value", "low", "high"]].itertuples(index=False)) + ".")
    elif len(probes):
        lines.append(f"None of its {len(probes)} probes shows a shortcut; a cue that none of them removes is not tested.")
    for key, name in (("every layer shuffled", "randomisation"), ("centred Gaussian", "localisation")):
        rows = verdicts[verdicts["test"].str.contains(key)]
        lines.append(f"CAM {name} tests: " + ", ".join(f"{v}" for v in rows["verdict"]) + ".")
    return lines


def masks_for(paths: Sequence[Path], masks_dir: str | os.PathLike, size: int) -> tuple[np.ndarray, list[str]]:
    """Ground-truth masks for ``paths`` from ``masks_dir``: the file with the image's name (any image
    suffix) anywhere below it, non-zero = inside, resized to the network input ((n, S, S) bool). Returns
    the masks and the names of images without one (their mask is all False and they are left out of
    the localisation scores)."""
    folder = Path(masks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"masks folder {folder} does not exist")
    found = {p.stem: p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    masks, missing = [], []
    for path in paths:
        if path.stem in found:
            masks.append(resize_mask((load_mask(found[path.stem]) > 0).astype(np.uint8), size) > 0)
        else:
            masks.append(np.zeros((size, size), bool))
            missing.append(str(path))
    return np.stack(masks), missing


def write_card(path: str | os.PathLike, classes: Sequence[str], input_size: int, layer: str,
               normalisation: dict | None = None) -> Path:
    """Write the card of a TorchScript model (``path`` with ``.json``): the format the audit reads."""
    card = {"format": "torchscript", "classes": list(classes), "input_size": int(input_size), "layer": layer}
    if normalisation:
        card["normalisation"] = normalisation
    target = Path(path).with_suffix(".json")
    target.write_text(json.dumps(card, indent=1) + "\n")
    return target


__all__ += ["masks_for", "write_card", "Normalise", "audit_findings", "folder_labels"]
