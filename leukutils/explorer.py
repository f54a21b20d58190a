"""An interactive CAM explorer for a class: pick an image, a model, a CAM method, its layer and class.

* :class:`Classifier` — a model with its class names and the preprocessing of its inputs; from a file
  saved with its card (:meth:`Classifier.from_file`, ``leukutils predict``'s format) or built in a
  notebook.
* :func:`explore` — one view, computed: the network input, the heatmaps of two CAM methods
  (:func:`leukutils.explain.cam_heatmaps`), their MR-SSIM, the model's class probabilities and, where a
  nucleus mask is known, the share of the heatmap inside it (:func:`leukutils.localisation.relevance_mass`)
  beside the mask's share of the image (what a map spread evenly scores). Pure: arrays in, a
  :class:`ExplorerView` out.
* :func:`leukutils.plots.explorer_figure` draws a view.
* :class:`CamExplorer` — ipywidgets controls over :func:`explore`. Called, it computes a view; its
  :meth:`~CamExplorer.show` displays the controls and the figure of the current choice, and every change
  of a control redraws that figure in place (an IPython display with an id). A notebook run by papermill
  or nbval thus keeps the figure of the first view as an ordinary image output.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from . import explain, localisation
from .apply import find_images
from .data.readers import load_image
from .data.torch_datasets import to_tensor
from .model_cards import load_classifier
from .plots import explorer_figure
from .report import method_name

#: The class menu's value for "the predicted class" (a widget's None would show an empty menu).
PREDICTED = -1

#: The methods offered by default, as :data:`leukutils.explain.CAM_METHODS` names them.
METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "fast_scorecam")


@dataclasses.dataclass
class Classifier:
    """A classifier ready to explain.

    Attributes
    ----------
    model : (n, 3, S, S) float in [0, 1] → (n, k) logits.
    classes : the k class names, in the order of the outputs.
    transform : (H, W, 3) uint8 image → (S, S, 3) uint8 network input (resizing, cropping, marks removed);
        None: the images are given as the network takes them.
    name : how the explorer lists it.
    """
    model: nn.Module
    classes: Sequence[str]
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    name: str = "model"

    def __post_init__(self):
        self.classes = [str(c) for c in self.classes]
        if len(self.classes) < 2:
            raise ValueError(f"Classifier {self.name!r}: give at least two class names, got {self.classes}")
        self.model.eval()

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Classifier":
        """A classifier saved by :func:`leukutils.model_cards.save_model` (its ``.pt`` with the card beside it)."""
        model, card, transform = load_classifier(path)
        return cls(model, card["classes"], transform, name=Path(path).stem)


def explainable_layers(model: nn.Module, depth: int = 2) -> list[str]:
    """Dotted names of the modules, at most ``depth`` levels below the model, that hold a 2-D convolution:
    the layers a CAM can be computed at (e.g. ``features.6`` of MobileNetV2, ``layer2`` or ``layer2.1``
    of a ResNet). ``""`` first: the architecture's usual last stage (:func:`leukutils.explain.target_layers_for`)."""
    names = [""]
    for name, module in model.named_modules():
        if name and name.count(".") < depth and any(isinstance(m, nn.Conv2d) for m in module.modules()):
            names.append(name)
    if len(names) == 1:
        raise ValueError(f"{type(model).__name__} has no 2-D convolution: a CAM needs a convolutional layer to explain")
    return names


@dataclasses.dataclass
class ExplorerView:
    """What :func:`explore` computed for one choice.

    ``image`` (S, S, 3) uint8 network input; ``heatmap``, ``compare_heatmap`` (S, S) float in [0, 1] of
    ``method`` and ``compare``; ``map_size`` (h, w) cells of the layer's map; ``probabilities`` (k,);
    ``target`` the class explained (index into ``classes``); ``mr_ssim`` of the two heatmaps (NaN when one
    is constant); with a mask: ``mask`` (S, S) bool, ``nucleus_mass`` (share of ``heatmap`` inside it)
    and ``nucleus_share`` (the mask's share of the image).
    """
    image: np.ndarray
    heatmap: np.ndarray
    compare_heatmap: np.ndarray
    probabilities: np.ndarray
    classes: list[str]
    target: int
    method: str
    compare: str
    layer: str
    map_size: tuple[int, int]
    mr_ssim: float
    mask: np.ndarray | None = None
    nucleus_mass: float = float("nan")
    nucleus_share: float = float("nan")
    title: str = ""

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))


def transform_mask(mask: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A (H, W) mask through an image transform ((H, W, 3) uint8 → (S, S, 3) uint8) as a white-on-black
    image, thresholded at half: the mask of the network input, for transforms that only resize and crop."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"transform_mask: expected an (H, W) mask, got shape {mask.shape}")
    shown = transform(np.repeat((mask > 0).astype(np.uint8)[..., None] * 255, 3, axis=2))
    return np.asarray(shown)[..., 0] > 127


def explore(classifier: Classifier, image: np.ndarray, method: str = "gradcam", compare: str = "fast_scorecam",
            layer: str = "", target: int | None = None, mask: np.ndarray | None = None,
            device: str | torch.device = "cpu") -> ExplorerView:
    """One explorer view of ``image`` by ``classifier``.

    Parameters
    ----------
    classifier : the model, its classes and its input transform.
    image : (H, W, 3) uint8 image as read (the classifier's transform prepares it).
    method, compare : CAM methods of :func:`leukutils.explain.cam_heatmaps`; the figure shows both and
        their MR-SSIM (paper 1's agreement index).
    layer : dotted module name to explain at (:func:`explainable_layers`); ``""`` the usual last stage.
    target : class index to explain; None → the predicted class.
    mask : (H, W) bool nucleus mask of ``image``, or None.
    device : where the model runs.
    """
    for name in (method, compare):
        if name not in explain.CAM_METHODS:
            raise ValueError(f"unknown CAM method {name!r}; choose one of {', '.join(explain.CAM_METHODS)}")
    model = classifier.model.to(device).eval()
    shown = np.asarray(image if classifier.transform is None else classifier.transform(np.asarray(image)))
    batch = to_tensor(shown)[None].to(device)
    with torch.no_grad():
        probabilities = torch.softmax(model(batch), dim=1)[0].cpu().numpy().astype(np.float64)
    if target is None:
        target = int(probabilities.argmax())
    if not 0 <= target < len(classifier.classes):
        raise ValueError(f"target class {target} is not one of the {len(classifier.classes)} classes {classifier.classes}")
    layers = explain.named_target_layers(model, layer)
    maps = {m: explain.cam_heatmaps(model, batch, method=m, targets=[target], target_layers=layers)[0]
            for m in dict.fromkeys((method, compare))}
    map_size = explain.target_map_size(model, batch, layers)
    agreement = explain.mr_ssim(maps[method], maps[compare]) if min(maps[method].shape) >= 7 else float("nan")
    view = ExplorerView(shown, maps[method], maps[compare], probabilities, list(classifier.classes), target, method,
                        compare, layer, tuple(map_size), agreement)
    if mask is not None:
        view.mask = np.asarray(mask) > 0 if classifier.transform is None else transform_mask(mask, classifier.transform)
        if view.mask.shape != view.heatmap.shape:
            raise ValueError(f"the nucleus mask becomes {view.mask.shape} through the transform, the input {view.heatmap.shape}")
        view.nucleus_mass = float(localisation.relevance_mass(view.heatmap[None], view.mask[None])[0])
        view.nucleus_share = float(view.mask.mean())
    view.title = (f"{classifier.name}: {method_name(method)} of class {classifier.classes[target]} at "
                  f"{layer or 'the last stage'} ({map_size[0]}×{map_size[1]} map)")
    return view


def _images_of(images) -> tuple[list[np.ndarray], list[str]]:
    """Arrays and names from a folder, a list of files or a list of (H, W, 3) uint8 arrays."""
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("the explorer needs at least one image")
    if all(isinstance(i, (str, os.PathLike)) for i in images):
        paths = find_images(images)
        return [load_image(p) for p in paths], [p.name for p in paths]
    arrays = [np.asarray(i) for i in images]
    bad = [k for k, a in enumerate(arrays) if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8]
    if bad:
        raise ValueError(f"images {bad[:5]} are not (H, W, 3) uint8 arrays (first shape {arrays[bad[0]].shape}, "
                         f"dtype {arrays[bad[0]].dtype}); give RGB uint8 arrays, image files or a folder")
    return arrays, [f"image {k}" for k in range(len(arrays))]


class CamExplorer:
    """ipywidgets over :func:`explore`: image, model, CAM method, method compared, layer and class.

    Parameters
    ----------
    models : a :class:`Classifier`, a path to a classifier saved with its card, or a mapping name → either.
    images : a folder, image files, or (H, W, 3) uint8 arrays.
    masks : nucleus masks, one (H, W) bool array per image (or None for an image without one), or None.
    names : labels of the images in the image menu (default: the file names, or ``image <k>``).
    labels : the true class name of each image, shown in the menu, or None.
    methods : the CAM methods offered.
    device : where the models run.

    ``explorer(image=0, model=None, method="gradcam", compare="fast_scorecam", layer="", target=None)``
    computes a view (``model`` a name; ``None`` the first); :meth:`show` displays the controls and the
    figure; :attr:`choice` is what the controls hold and :attr:`view` the view last drawn.
    """

    def __init__(self, models, images, masks: Sequence[np.ndarray | None] | None = None,
                 names: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                 methods: Sequence[str] = METHODS, device: str | torch.device = "cpu"):
        if isinstance(models, (Classifier, str, os.PathLike)):
            models = {models.name if isinstance(models, Classifier) else Path(models).stem: models}
        self.models = {name: m if isinstance(m, Classifier) else Classifier.from_file(m) for name, m in models.items()}
        if not self.models:
            raise ValueError("the explorer needs at least one model")
        self.images, default_names = _images_of(images)
        self.names = list(names) if names is not None else default_names
        self.labels = None if labels is None else [str(label) for label in labels]
        self.masks = None if masks is None else list(masks)
        for what, values in (("names", self.names), ("labels", self.labels), ("masks", self.masks)):
            if values is not None and len(values) != len(self.images):
                raise ValueError(f"{len(values)} {what} for {len(self.images)} images: give one per image")
        unknown = [m for m in methods if m not in explain.CAM_METHODS]
        if unknown:
            raise ValueError(f"unknown CAM methods {unknown}; choose among {', '.join(explain.CAM_METHODS)}")
        self.methods = list(methods)
        self.device = device
        self.choice = {"image": 0, "model": next(iter(self.models)), "method": self.methods[0],
                       "compare": self.methods[-1], "layer": "", "target": None}
        self.view: ExplorerView | None = None
        self._cache: dict[tuple, ExplorerView] = {}
        self._controls = None
        self._display = None

    def __call__(self, image: int = 0, model: str | None = None, method: str = "gradcam", compare: str = "fast_scorecam",
                 layer: str = "", target: int | None = None) -> ExplorerView:
        model = next(iter(self.models)) if model is None else model
        if model not in self.models:
            raise ValueError(f"no model {model!r}; the explorer has {', '.join(self.models)}")
        if not 0 <= image < len(self.images):
            raise ValueError(f"image {image} is not one of the {len(self.images)} images (0 … {len(self.images) - 1})")
        key = (image, model, method, compare, layer, target)
        if key not in self._cache:
            mask = None if self.masks is None else self.masks[image]
            self._cache[key] = explore(self.models[model], self.images[image], method, compare, layer, target,
                                       mask, self.device)
        return self._cache[key]

    def figure(self, view: ExplorerView | None = None):
        """:func:`leukutils.plots.explorer_figure` of ``view`` (default: the current choice)."""
        view = self(**self.choice) if view is None else view
        label = self.names[self.choice["image"]] + ("" if self.labels is None else f" (true class {self.labels[self.choice['image']]})")
        return explorer_figure(view, label)

    def controls(self):
        """The ipywidgets box of dropdowns; a change redraws the figure shown by :meth:`show`."""
        import ipywidgets as widgets

        if self._controls is not None:
            return self._controls
        model = self.models[self.choice["model"]]
        image_options = [(n if self.labels is None else f"{n} ({label})", k)
                         for k, (n, label) in enumerate(zip(self.names, self.labels or [""] * len(self.names)))]
        dropdowns = {
            "image": widgets.Dropdown(options=image_options, value=self.choice["image"], description="image"),
            "model": widgets.Dropdown(options=list(self.models), value=self.choice["model"], description="model"),
            "method": widgets.Dropdown(options=[(method_name(m), m) for m in self.methods], value=self.choice["method"],
                                       description="CAM"),
            "compare": widgets.Dropdown(options=[(method_name(m), m) for m in self.methods], value=self.choice["compare"],
                                        description="against"),
            "layer": widgets.Dropdown(options=self._layer_options(model), value=self.choice["layer"], description="layer"),
            "target": widgets.Dropdown(options=self._target_options(model), value=PREDICTED if self.choice["target"] is None
                                       else self.choice["target"], description="class"),
        }
        for name, dropdown in dropdowns.items():
            dropdown.observe(lambda change, name=name: self._changed(name, change["new"]), names="value")
        self._dropdowns = dropdowns
        self._status = widgets.HTML()
        self._controls = widgets.VBox([widgets.HBox(list(dropdowns.values())[:3]),
                                       widgets.HBox(list(dropdowns.values())[3:]), self._status])
        return self._controls

    @staticmethod
    def _layer_options(model: Classifier) -> list[tuple[str, str]]:
        return [(name or "last stage", name) for name in explainable_layers(model.model)]

    @staticmethod
    def _target_options(model: Classifier) -> list[tuple[str, int | None]]:
        return [("predicted", PREDICTED)] + [(c, k) for k, c in enumerate(model.classes)]

    def _changed(self, name: str, value) -> None:
        self.choice[name] = None if name == "target" and value == PREDICTED else value
        if name == "model":  # another model: its own layers and classes
            model = self.models[value]
            self.choice["layer"], self.choice["target"] = "", None
            self._dropdowns["layer"].options = self._layer_options(model)
            self._dropdowns["target"].options = self._target_options(model)
            self._dropdowns["layer"].value, self._dropdowns["target"].value = "", PREDICTED
        self.redraw()

    def redraw(self) -> None:
        """Compute the current choice's view and draw it in place of the figure shown."""
        import matplotlib.pyplot as plt

        try:
            figure = self.figure()
        except Exception as error:  # a layer or method that cannot explain this model: said, not raised in a callback
            if self._controls is not None:
                self._status.value = f"<b>cannot show this choice:</b> {type(error).__name__}: {error}"
                return
            raise
        self.view = self(**self.choice)
        if self._controls is not None:
            self._status.value = ""
        if self._display is not None:
            self._display.update(figure)
        plt.close(figure)

    def show(self):
        """Display the controls and the figure of the current choice (a static image in a papermill run)."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        display(self.controls())
        figure = self.figure()
        self.view = self(**self.choice)
        self._display = display(figure, display_id=True)
        plt.close(figure)
        return self
