"""Multiple-instance models of paper 2: the frozen feature extractors, the LSTM profiler and
classifier, and a gated-attention MIL baseline (Ilse et al. 2018).

The pipeline is: cell crop → frozen ImageNet backbone (AlexNet in the paper) → trainable FC-256 →
LSTM (256 hidden) → 64-d patient vector → FC-2. The backbone's features are cached by
:mod:`leukutils.features`; training is :func:`leukutils.patients.fit_two_stage`, inference
:mod:`leukutils.inference`.

Shapes: a *series* or *bag* is a sequence of cells; models take ``features`` (B, L, D) float32 and an
optional ``lengths`` (B,) int64 (real cells per row, the rest padding) and return logits (B, 2).
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .weights import PretrainedWeightsUnavailable, build_torchvision

#: The five feature extractors compared in paper 2, Table 2 (torchvision names) and their feature size
#: for ``layer="head"`` (fc7 of AlexNet/VGG16, pooled features of ResNet50/InceptionV3, ViT class token);
#: ``layer="pool"`` gives the globally average-pooled last convolutional block of AlexNet (256) and VGG16 (512).
EXTRACTORS = {"alexnet": 4096, "inception_v3": 2048, "resnet50": 2048, "vgg16": 4096, "vit_b_16": 768}
POOL_DIM = {"alexnet": 256, "vgg16": 512}
#: Smallest input side each architecture accepts.
MIN_INPUT = {"alexnet": 63, "inception_v3": 75, "resnet50": 32, "vgg16": 32, "vit_b_16": 16}


# --------------------------------------------------------------------------------------------------
# Frozen feature extractors
# --------------------------------------------------------------------------------------------------

def build_extractor(name: str = "alexnet", weights: str | None = "imagenet", input_size: int = 224,
                    layer: str = "head") -> nn.Module:
    """A frozen torchvision backbone returning one feature vector per image, in eval mode.

    Parameters
    ----------
    name : one of :data:`EXTRACTORS`. AlexNet and VGG16 give the penultimate (fc7, 4096-d) activations,
        ResNet50 and InceptionV3 the pooled 2048-d features, ViT-B/16 the 768-d class token.
    weights : ``"imagenet"`` (random weights with a warning when they cannot be had), ``None``, or a
        checkpoint path (see :func:`leukutils.models.weights.build_torchvision`).
    input_size : side of the (square) input. ViT-B/16 is built for this size (a multiple of 16; its
        position embeddings are sized to it), the CNNs accept any size >= :data:`MIN_INPUT`.
    layer : ``"head"`` (see :data:`EXTRACTORS`) or ``"pool"``: for AlexNet and VGG16 the global average of
        the last convolutional block (256 / 512 channels) — far more informative than fc7 when the
        weights are random (no ImageNet weights at hand); the other architectures ignore it.

    Returns
    -------
    Module mapping (B, 3, input_size, input_size) normalised float32 → (B, D) float32, with
    ``requires_grad=False`` on every parameter.
    """
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    if layer not in ("head", "pool"):
        raise ValueError(f"layer must be 'head' or 'pool', got {layer!r}")
    if input_size < MIN_INPUT[name]:
        raise ValueError(f"{name} needs inputs of at least {MIN_INPUT[name]} px, got input_size={input_size}")
    kwargs = {}
    if name == "vit_b_16":
        if input_size % 16:
            raise ValueError(f"vit_b_16 needs input_size a multiple of 16, got {input_size}")
        if input_size != 224 and weights == "imagenet":
            warnings.warn(f"vit_b_16 ImageNet weights need 224 px inputs; input_size={input_size} builds it "
                          f"with random weights", PretrainedWeightsUnavailable, stacklevel=2)
            weights = None
        kwargs["image_size"] = input_size
    if name == "inception_v3" and weights is None:
        kwargs.update(aux_logits=False, init_weights=False)  # PyTorch's default init: fast, and random anyway
    model = build_torchvision(name, weights=weights, **kwargs)
    if name in ("alexnet", "vgg16") and layer == "pool":
        model = nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    elif name in ("alexnet", "vgg16"):
        model.classifier = model.classifier[:-1]  # drop the 1000-way layer: fc7 features
    elif name in ("resnet50", "inception_v3"):
        model.fc = nn.Identity()
        if name == "inception_v3":
            model.aux_logits, model.AuxLogits = False, None
    elif name == "vit_b_16":
        model.heads = nn.Identity()
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


# --------------------------------------------------------------------------------------------------
# Bag classifiers
# --------------------------------------------------------------------------------------------------

class _Standardised(nn.Module):
    """Per-feature standardisation of the frozen features, stored with the model (buffers)."""

    def _init_scale(self, in_features: int) -> None:
        self.register_buffer("input_mean", torch.zeros(in_features))
        self.register_buffer("input_std", torch.ones(in_features))

    @torch.no_grad()
    def set_input_scale(self, features: torch.Tensor) -> "_Standardised":
        """Set the mean and standard deviation from ``features`` (n, D) (the training cell pool):
        random or ImageNet features have arbitrary per-channel scales that slow the FC-256 down."""
        flat = torch.as_tensor(features).reshape(-1, self.input_mean.shape[0]).float()
        self.input_mean.copy_(flat.mean(0))
        self.input_std.copy_(flat.std(0).clamp_min(1e-6))
        return self

    def _standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.input_mean) / self.input_std


class LSTMClassifier(_Standardised):
    """Paper 2's profiler and classifier: FC-256 on each cell's frozen features → LSTM (256 hidden) →
    64-d patient vector → FC-2.

    ``forward(features (B, L, D), lengths=None) → logits (B, 2)``; with ``lengths`` the rows are read up
    to their length (packed sequences), so bags of any length can share a batch.
    """

    def __init__(self, in_features: int, cell_dim: int = 256, hidden: int = 256, patient_dim: int = 64,
                 n_classes: int = 2, dropout: float = 0.0):
        super().__init__()
        self._init_scale(in_features)
        self.cell = nn.Sequential(nn.Linear(in_features, cell_dim), nn.ReLU(), nn.Dropout(dropout))
        self.lstm = nn.LSTM(cell_dim, hidden, batch_first=True)
        self.patient = nn.Sequential(nn.Linear(hidden, patient_dim), nn.ReLU())
        self.head = nn.Linear(patient_dim, n_classes)

    def profile(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The 64-d patient vector of each bag: (B, patient_dim)."""
        x = self.cell(self._standardise(features))
        if lengths is not None:
            x = pack_padded_sequence(x, torch.as_tensor(lengths).cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(x)
        return self.patient(h[-1])

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.profile(features, lengths))


class AttentionMIL(_Standardised):
    """Gated attention MIL pooling (Ilse, Tomczak & Welling 2018) on the same FC-256 cell embedding:
    order-free, attention weights show which cells drove the decision.

    ``forward(features (B, L, D), lengths=None) → logits (B, 2)``; :meth:`attention` gives the (B, L)
    weights (zero on padding).
    """

    def __init__(self, in_features: int, cell_dim: int = 256, attention_dim: int = 128, patient_dim: int = 64,
                 n_classes: int = 2, dropout: float = 0.0):
        super().__init__()
        self._init_scale(in_features)
        self.cell = nn.Sequential(nn.Linear(in_features, cell_dim), nn.ReLU(), nn.Dropout(dropout))
        self.attend_v = nn.Linear(cell_dim, attention_dim)
        self.attend_u = nn.Linear(cell_dim, attention_dim)
        self.attend_w = nn.Linear(attention_dim, 1)
        self.patient = nn.Sequential(nn.Linear(cell_dim, patient_dim), nn.ReLU())
        self.head = nn.Linear(patient_dim, n_classes)

    def _scores(self, h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        scores = self.attend_w(torch.tanh(self.attend_v(h)) * torch.sigmoid(self.attend_u(h))).squeeze(-1)
        if lengths is not None:
            pad = torch.arange(h.shape[1], device=h.device)[None] >= torch.as_tensor(lengths, device=h.device)[:, None]
            scores = scores.masked_fill(pad, float("-inf"))
        return torch.softmax(scores, dim=1)

    def attention(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self._scores(self.cell(self._standardise(features)), lengths)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.cell(self._standardise(features))
        weights = self._scores(h, lengths)
        return self.head(self.patient(torch.einsum("bl,bld->bd", weights, h)))


def build_mil(kind: str, in_features: int, **kwargs) -> nn.Module:
    """``"lstm"`` → :class:`LSTMClassifier`, ``"abmil"`` → :class:`AttentionMIL`."""
    kinds = {"lstm": LSTMClassifier, "abmil": AttentionMIL}
    if kind not in kinds:
        raise ValueError(f"unknown MIL model {kind!r}; choose one of {sorted(kinds)}")
    return kinds[kind](in_features, **kwargs)
