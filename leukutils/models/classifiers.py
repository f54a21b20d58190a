"""Image classifiers by name: torchvision architectures with a new head, and Standard_CNN.

``build_classifier("densenet121", n_classes=2, weights="imagenet")`` returns a torchvision model whose
last layer is replaced by a head for ``n_classes`` classes. The head is either one linear layer
(``head="linear"``) or the "medium" head of paper 3 (in → 1024 → 512 → n_classes with ReLU or Mish).

Two small changes to torchvision's modules, neither of which changes the computed function nor the
state-dict keys (so torchvision checkpoints still load):

* DenseNet: a ReLU module (:class:`ReLUCopy`) is appended to ``features`` (``features.relu5``). torchvision applies
  the same ReLU functionally in ``forward``; as a module it can be hooked, so CAMs read the
  activation that the classifier pools, like Keras' DenseNet ``relu`` layer that paper 1 would have
  used. (ReLU is idempotent: the output is unchanged.)
* InceptionV3 is built without the auxiliary classifier (``aux_logits=False``): the auxiliary head
  is used only for the training loss in the original recipe, and it cannot run on inputs under
  ~ 150 px, which the synthetic profile uses.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping

import torch
from torch import nn

from .weights import build_torchvision, load_checkpoint

#: Name of the small plain CNN of paper 1 ("Standard_CNN").
STANDARD_CNN = "standard_cnn"

#: Architectures of paper 1, in the order of its Table I. torchvision has MobileNet v2 and v3, not the
#: Keras MobileNet v1 of the paper; v2 keeps v1's depthwise-separable blocks and ReLU6 activations.
PAPER1_MODELS = ("resnet50", "densenet121", "vgg19", STANDARD_CNN, "inception_v3", "mobilenet_v2")

#: Smallest input side (pixels) each architecture accepts.
MIN_INPUT_SIZE = {"inception_v3": 75}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "mish": nn.Mish}


def check_input_sizes(sizes: Mapping[str, int], parameters: str = "image_size or model_image_size") -> None:
    """Raise one ``ValueError`` naming every model whose input side is below what it accepts (:data:`MIN_INPUT_SIZE`).

    Parameters
    ----------
    sizes : architecture name → the side (px) of its square network input.
    parameters : the notebook parameters the sizes come from, named in the error.
    """
    small = {name: size for name, size in sizes.items() if size < MIN_INPUT_SIZE.get(name, 1)}
    if small:
        raise ValueError(f"{parameters}: " + "; ".join(f"{name} needs inputs of at least {MIN_INPUT_SIZE[name]} px, "
                                                       f"got {size}" for name, size in small.items()))


class ReLUCopy(nn.ReLU):
    """ReLU that returns a new tensor which nothing saves for the backward pass.

    Appended to DenseNet's ``features`` so CAMs can hook the post-ReLU maps; torchvision's DenseNet
    then applies ``F.relu(..., inplace=True)`` to this output, which is harmless here (values are
    already ≥ 0) and, because the output is a copy, leaves autograd's saved tensors untouched.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.relu(input).clone()


class StandardCNN(nn.Sequential):
    """A small plain CNN (paper 1's "Standard_CNN"): four Conv–BatchNorm–ReLU–MaxPool blocks
    (32, 64, 128, 256 filters, 3×3 kernels), global average pooling and a linear classifier.

    Takes (n, 3, H, W) float images, H, W ≥ 16; returns (n, n_classes) logits. ``classifier`` is the
    last linear layer (replaced by :func:`build_classifier` for the medium head).
    """

    def __init__(self, n_classes: int = 2, widths: tuple[int, ...] = (32, 64, 128, 256),
                 dropout: float = 0.0):
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=False), nn.MaxPool2d(2)]
            channels = width
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, n_classes)


def make_head(in_features: int, n_classes: int, head: str = "linear", activation: str = "relu",
              dropout: float = 0.0) -> nn.Module:
    """Classification head: ``"linear"`` (in → n_classes) or ``"medium"`` (in → 1024 → 512 → n_classes,
    ``activation`` and ``dropout`` after each hidden layer, paper 3)."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
    if head == "linear":  # always (Dropout, Linear), so state-dict keys do not depend on ``dropout``
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, n_classes))
    if head == "medium":
        act = _ACTIVATIONS[activation]
        return nn.Sequential(
            nn.Linear(in_features, 1024), act(), nn.Dropout(dropout),
            nn.Linear(1024, 512), act(), nn.Dropout(dropout),
            nn.Linear(512, n_classes))
    raise ValueError(f"unknown head {head!r}; choose 'linear' or 'medium'")


def _swap_activation(module: nn.Module, activation: str) -> None:
    """Replace every ReLU in ``module`` by ``activation`` (in place); "relu" leaves it as is."""
    if activation == "relu":
        return
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, _ACTIVATIONS[activation]())
        else:
            _swap_activation(child, activation)


def _last_linear(model: nn.Module) -> tuple[nn.Module, str]:
    """(parent module, attribute name) of the classifier layer to replace, per torchvision family."""
    if hasattr(model, "fc") and isinstance(model.fc, nn.Linear):  # ResNet, Inception
        return model, "fc"
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Linear):  # DenseNet, StandardCNN
        return model, "classifier"
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):  # VGG, MobileNet
        return classifier, str(len(classifier) - 1)
    raise ValueError(f"do not know where the classifier of {type(model).__name__} is; "
                     "add it to leukutils.models.classifiers._last_linear")


def build_classifier(name: str, n_classes: int, weights: str | os.PathLike | None = "imagenet",
                     head: str = "linear", activation: str = "relu", dropout: float = 0.0,
                     activation_in_backbone: bool = False) -> nn.Module:
    """A classifier for ``n_classes`` classes built from a torchvision architecture or Standard_CNN.

    Parameters
    ----------
    name : a torchvision model name (``"resnet50"``, ``"densenet121"``, ``"vgg19"``,
        ``"inception_v3"``, ``"mobilenet_v2"``, ``"mobilenet_v3_small"``, …) or ``"standard_cnn"``.
    n_classes : number of output logits (≥ 2).
    weights : ``"imagenet"`` (torchvision's default weights for the backbone; random with a warning
        when they cannot be loaded offline), ``None`` (random), or a path to a state dict of *this
        classifier* (same name, n_classes and head) saved with ``torch.save(model.state_dict())``.
        Standard_CNN has no pretrained weights: ``"imagenet"`` gives random weights for it.
    head : ``"linear"`` or ``"medium"`` (in → 1024 → 512 → n_classes, paper 3).
    activation : ``"relu"`` or ``"mish"``, the activation of the medium head.
    dropout : dropout before each linear layer of the head.
    activation_in_backbone : also replace the backbone's ReLUs by ``activation`` (default False).

    Returns
    -------
    nn.Module mapping (n, 3, H, W) float images to (n, n_classes) logits (in eval and train mode;
    Inception is built without its auxiliary head).
    """
    if n_classes < 2:
        raise ValueError(f"build_classifier: n_classes must be ≥ 2, got {n_classes}")
    checkpoint = None
    if weights not in (None, "imagenet"):
        checkpoint, weights = weights, None
    if name == STANDARD_CNN:
        model: nn.Module = StandardCNN(n_classes)
    else:
        kwargs = {}
        if name == "inception_v3":
            kwargs = {"aux_logits": False} | ({"init_weights": True} if weights is None else {})
        model = build_torchvision(name, weights=weights, **kwargs)
        if name.startswith("densenet"):
            model.features.add_module("relu5", ReLUCopy())
    parent, attr = _last_linear(model)
    in_features = getattr(parent, attr).in_features
    setattr(parent, attr, make_head(in_features, n_classes, head, activation, dropout))
    if activation_in_backbone:
        _swap_activation(model, activation)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    model.architecture = name  # read by explain.target_layers_for and the model cards
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, images, batch_size: int = 16, device: torch.device | str | None = None,
                         memory_format: torch.memory_format = torch.contiguous_format) -> nn.Module:
    """Set every batch-norm layer's running mean and variance to the statistics of ``images``.

    A randomly initialised network has running statistics (0, 1), so in eval mode its activations
    shrink or blow up layer after layer and its outputs barely depend on the input. Re-estimating the
    statistics on some images (a cumulative average, ``momentum=None``) gives an untrained network
    whose outputs do depend on its input: what tests and benchmarks of explanation methods need when
    no trained weights are at hand. Briefly trained networks need it too: after a few dozen steps the
    running averages lag far behind the weights (:class:`leukutils.train.ClassifierStep`'s
    ``recalibrate_batch_norm``).

    Parameters
    ----------
    model : the network; a network without batch norm is left as it is (no forward pass is run).
    images : (n, 3, H, W) float tensor, cut into batches of ``batch_size``; or an iterable of batches,
        each a tensor or an ``(images, labels)`` pair (e.g. a DataLoader).
    device, memory_format : where and in which memory format the batches go (default: as they are).

    Returns
    -------
    ``model`` in eval mode, gradients untouched (the passes run without them).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    if isinstance(images, torch.Tensor):
        images = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for batch in images:
            batch = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(batch.to(device, memory_format=memory_format) if device is not None else batch)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return model.eval()


def paper3_variants() -> list[tuple[str, str, str, str]]:
    """Paper 3's eight ResNet-50 variants as ``(name, input, head, activation)``, in Table 5's naming:
    input ``"segmented"`` or ``"raw"`` × activation ``"mish"`` or ``"relu"`` × head ``"medium"`` or
    ``"linear"`` (e.g. ``("Segmented Mish Medium", "segmented", "medium", "mish")``)."""
    return [(f"{'Segmented' if kind == 'segmented' else 'NoSegmented'} {'Mish' if act == 'mish' else 'ReLU'} {head.title()}",
             kind, head, act) for kind in ("segmented", "raw") for act in ("mish", "relu") for head in ("medium", "linear")]
