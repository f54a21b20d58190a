"""Multiple-instance models of paper 2: cell encoder with cached frozen features, LSTM profiler and
classifier, the "ideal" count perceptron, and a gated-attention MIL baseline (Ilse et al. 2018).

The pipeline is: cell crop → frozen ImageNet backbone (AlexNet in the paper) → trainable FC-256 →
LSTM (256 hidden) → 64-d patient vector → FC-2. The backbone never changes, so its features are
computed once per cell (and per augmented view) and kept in a :class:`FeatureBank`; every training stage,
series length and ablation then reads rows of the bank instead of running the backbone again.

Shapes: a *series* or *bag* is a sequence of cells; models take ``features`` (B, L, D) float32 and an
optional ``lengths`` (B,) int64 (real cells per row, the rest padding) and return logits (B, 2).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from .weights import PretrainedWeightsUnavailable, build_torchvision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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


def to_input(images: np.ndarray, input_size: int) -> torch.Tensor:
    """(n, H, W, 3) uint8 RGB → (n, 3, input_size, input_size) float32, ImageNet-normalised."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (n, H, W, 3) uint8 cell images, got {images.shape} {images.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
    if x.shape[-2:] != (input_size, input_size):
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def image_hash(image: np.ndarray) -> str:
    """sha1 of an image's bytes, shape and dtype: the cache key of one cell image."""
    image = np.ascontiguousarray(image)
    digest = hashlib.sha1(image.tobytes())
    digest.update(f"{image.shape}{image.dtype}".encode())
    return digest.hexdigest()


def weights_hash(model: nn.Module) -> str:
    """sha1 over a model's parameters and buffers (identifies the exact frozen weights, random or not)."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


class CellEncoder:
    """Frozen backbone with a feature cache keyed by (architecture, weights, input size, image hash).

    ``encoder(images)`` returns the (n, D) features of (n, H, W, 3) uint8 images; images seen before
    are read from the cache instead of being run through the backbone again. With ``cache_dir`` the
    cache is also kept on disk (``<cache_dir>/<name>-<weights sha1>-<size>.pt``), loaded when the
    encoder is built and written by :meth:`save`.

    Parameters
    ----------
    name, weights, input_size, layer : see :func:`build_extractor`.
    batch_size : images per backbone forward pass.
    device : torch device for the backbone.
    cache_dir : folder of the on-disk cache, or None for memory only.
    """

    def __init__(self, name: str = "alexnet", weights: str | None = "imagenet", input_size: int = 224,
                 batch_size: int = 64, device: str | torch.device = "cpu", cache_dir: str | Path | None = None,
                 layer: str = "head"):
        self.name, self.input_size, self.batch_size = name, int(input_size), int(batch_size)
        self.device = torch.device(device)
        self.model = build_extractor(name, weights, input_size, layer).to(self.device)
        self.dim = POOL_DIM[name] if layer == "pool" and name in POOL_DIM else EXTRACTORS[name]
        self.key = f"{name}-{layer}-{weights_hash(self.model)}-{self.input_size}"
        self.cache: dict[str, torch.Tensor] = {}
        self.computed = 0  # images actually run through the backbone
        self.cache_file = None if cache_dir is None else Path(cache_dir) / f"{self.key}.pt"
        if self.cache_file is not None and self.cache_file.is_file():
            stored = torch.load(self.cache_file, map_location="cpu", weights_only=True)
            self.cache.update(zip(stored["hashes"], stored["features"]))

    @torch.no_grad()
    def compute(self, images: np.ndarray) -> torch.Tensor:
        """Run the backbone on ``images`` (n, H, W, 3) uint8, no cache: (n, D) float32 on the CPU."""
        outs = []
        for start in range(0, len(images), self.batch_size):
            x = to_input(images[start:start + self.batch_size], self.input_size).to(self.device)
            outs.append(self.model(x).float().cpu())
        self.computed += len(images)
        return torch.cat(outs) if outs else torch.zeros(0, self.dim)

    def __call__(self, images: np.ndarray) -> torch.Tensor:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        keys = [image_hash(im) for im in images]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self.cache}.values())
        if missing:
            feats = self.compute(images[missing])
            for i, f in zip(missing, feats):
                self.cache[keys[i]] = f.clone()
        if not keys:
            return torch.zeros(0, self.dim)
        return torch.stack([self.cache[k] for k in keys])

    def save(self) -> Path | None:
        """Write the cache to disk (atomically); returns the file, or None for a memory-only encoder."""
        if self.cache_file is None:
            return None
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_suffix(".tmp")
        hashes = sorted(self.cache)
        torch.save({"hashes": hashes, "features": torch.stack([self.cache[h] for h in hashes])}, tmp)
        tmp.replace(self.cache_file)
        return self.cache_file


class FeatureBank:
    """Frozen features of a pool of cells, ``n_views`` augmented views each, plus the blank image.

    ``bank.gather(series)`` turns (B, L) cell indices (``BLANK`` = -1 for padding) into (B, L, D)
    features; with ``generator`` given, each position reads a random view (augmentation at no
    backbone cost), else view 0 (the unaugmented crop).

    Attributes
    ----------
    features : (N, V, D) float32.
    blank : (D,) float32, the features of the blank padding image.
    """

    def __init__(self, features: torch.Tensor, blank: torch.Tensor):
        if features.ndim == 2:
            features = features[:, None]
        if features.ndim != 3 or blank.shape != features.shape[-1:]:
            raise ValueError(f"FeatureBank: need (N, V, D) features and (D,) blank, got "
                             f"{tuple(features.shape)} and {tuple(blank.shape)}")
        self.features, self.blank = features.float(), blank.float()
        # one table with the blank as the last row, so that a gather is a single index operation
        self._table = torch.cat([self.features, self.blank.expand(1, self.n_views, -1)])

    @classmethod
    def from_images(cls, encoder: CellEncoder, views: np.ndarray, blank_image: np.ndarray) -> "FeatureBank":
        """Encode ``views`` (N, V, s, s, 3) or (N, s, s, 3) uint8 and the blank image with ``encoder``."""
        views = np.asarray(views)
        if views.ndim == 4:
            views = views[:, None]
        n, v = views.shape[:2]
        feats = encoder(views.reshape(n * v, *views.shape[2:])).reshape(n, v, -1)
        return cls(feats, encoder(blank_image[None])[0])

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def n_views(self) -> int:
        return self.features.shape[1]

    @property
    def dim(self) -> int:
        return self.features.shape[2]

    def gather(self, series: np.ndarray | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, L) int indices → (B, L, D) features (blank rows for ``BLANK``)."""
        idx = torch.as_tensor(np.asarray(series), dtype=torch.long)
        if idx.numel() and (idx.max() >= len(self) or idx.min() < -1):
            raise IndexError(f"FeatureBank.gather: index out of range [-1, {len(self) - 1}]")
        idx = torch.where(idx < 0, torch.full_like(idx, len(self)), idx)
        if generator is None or self.n_views == 1:
            view = torch.zeros_like(idx)
        else:
            view = torch.randint(0, self.n_views, idx.shape, generator=generator)
        return self._table[idx, view]


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


# --------------------------------------------------------------------------------------------------
# Training and prediction
# --------------------------------------------------------------------------------------------------

def train_series(model: nn.Module, bank: FeatureBank, series: np.ndarray, labels: np.ndarray, epochs: int = 3,
                 lr: float = 1e-3, batch_size: int = 32, seed: int = 0, augment: bool = True,
                 device: str | torch.device = "cpu", encode=None) -> list[dict]:
    """Train a bag classifier on generated series (Adam, cross-entropy), one short readable loop.

    Parameters
    ----------
    model : :class:`LSTMClassifier` or :class:`AttentionMIL` (trained in place).
    bank : features of the cell pool the series index.
    series : (n, L) int indices with ``BLANK`` padding; labels : (n,) int 0/1.
    augment : read a random augmented view of each cell (else view 0).
    encode : optional function (B, L) indices → (B, L, D) features that replaces ``bank.gather``
        (used by the benchmark to recompute backbone features per batch instead of reading the cache).

    Returns
    -------
    One dict per epoch: ``epoch``, ``loss`` (mean training loss), ``accuracy`` (training accuracy).
    """
    device = torch.device(device)
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    series = torch.as_tensor(np.asarray(series), dtype=torch.long)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    history = []
    for epoch in range(epochs):
        order = torch.randperm(len(series), generator=generator)
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(series), batch_size):
            rows = order[start:start + batch_size]
            if encode is None:
                x = bank.gather(series[rows], generator if augment else None)
            else:
                x = encode(series[rows].numpy(), generator if augment else None)
            y = labels[rows].to(device)
            logits = model(x.to(device))
            loss = F.cross_entropy(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(rows)
        history.append({"epoch": epoch + 1, "loss": total / max(seen, 1), "accuracy": correct / max(seen, 1)})
    model.eval()
    return history


@torch.no_grad()
def predict_series(model: nn.Module, bank: FeatureBank, series: np.ndarray, batch_size: int = 256,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """P(ALL) of each fixed-length series: (n,) float64."""
    model.to(device).eval()
    probs = []
    for start in range(0, len(series), batch_size):
        x = bank.gather(np.asarray(series)[start:start + batch_size]).to(device)
        probs.append(torch.softmax(model(x), 1)[:, 1].double().cpu())
    return torch.cat(probs).numpy() if probs else np.zeros(0)


@torch.no_grad()
def predict_bags(model: nn.Module, bags: Sequence[torch.Tensor], batch_size: int = 64,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """P(ALL) of each bag of any length; ``bags``: list of (n_i, D) feature tensors.

    An empty bag (no cells found) gets NaN: there is nothing to diagnose, and the caller must report
    it rather than count it as healthy.
    """
    model.to(device).eval()
    out = np.full(len(bags), np.nan)
    filled = [i for i, b in enumerate(bags) if len(b)]
    for start in range(0, len(filled), batch_size):
        chunk = filled[start:start + batch_size]
        lengths = torch.tensor([len(bags[i]) for i in chunk])
        x = nn.utils.rnn.pad_sequence([torch.as_tensor(bags[i]).float() for i in chunk], batch_first=True)
        probs = torch.softmax(model(x.to(device), lengths), 1)[:, 1].double().cpu().numpy()
        out[chunk] = probs
    return out


def fit_two_stage(model: nn.Module, bank: FeatureBank, normal_pool: np.ndarray, blast_pool: np.ndarray,
                  stage1: dict | None, stage2: dict, seed: int = 0, device: str | torch.device = "cpu") -> dict:
    """Paper 2's training: stage 1 on length-1 series (blast sensitivity), stage 2 on longer series.

    ``stage1``/``stage2``: dicts with ``n_series``, ``length`` (stage 1 forces 1), ``epochs``, ``lr``,
    ``batch_size``; ``stage1=None`` skips pre-training (ablation ``P2-A2``). Series come from
    :func:`leukutils.data.bags.make_series` on the given pools; the model's input standardisation is
    set from the bank first. Returns the histories per stage.
    """
    from leukutils.data.bags import make_series

    if hasattr(model, "set_input_scale"):
        model.set_input_scale(bank.features.reshape(-1, bank.dim))
    histories = {}
    for name, stage, offset in (("stage1", stage1, 1), ("stage2", stage2, 2)):
        if stage is None:
            continue
        length = 1 if name == "stage1" else int(stage["length"])
        series, labels = make_series(normal_pool, blast_pool, int(stage["n_series"]), length,
                                     seed=seed * 1000 + offset)
        histories[name] = train_series(model, bank, series, labels, epochs=int(stage["epochs"]),
                                       lr=float(stage.get("lr", 1e-3)), batch_size=int(stage.get("batch_size", 32)),
                                       seed=seed * 1000 + offset, device=device)
    return histories


# --------------------------------------------------------------------------------------------------
# The "ideal" count perceptron (paper 2 §5.3, ablation P2-A1)
# --------------------------------------------------------------------------------------------------

@torch.no_grad()
def cell_blast_probability(model: nn.Module, bags: Sequence[torch.Tensor], device: str | torch.device = "cpu") -> list[np.ndarray]:
    """Each cell fed alone (a length-1 series) to a bag classifier: P(blast) per cell, one array per bag."""
    model.to(device).eval()
    out = []
    for bag in bags:
        if len(bag) == 0:
            out.append(np.zeros(0))
            continue
        x = torch.as_tensor(bag).float()[:, None].to(device)
        out.append(torch.softmax(model(x), 1)[:, 1].double().cpu().numpy())
    return out


def count_features(cell_probs: Sequence[np.ndarray], threshold: float = 0.5) -> np.ndarray:
    """(normal count, blast count) of each bag from per-cell blast probabilities: (n_bags, 2) float."""
    return np.array([[np.sum(p < threshold), np.sum(p >= threshold)] for p in cell_probs], dtype=float).reshape(-1, 2)


def fit_count_perceptron(counts: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A perceptron on (normal count, blast count), fitted and — as in the paper's "ideal" setting —
    meant to be scored on the same bags. Returns the fitted ``sklearn.linear_model.Perceptron``."""
    from sklearn.linear_model import Perceptron

    counts = np.asarray(counts, float)
    scale = np.maximum(counts.max(0), 1.0)
    model = Perceptron(max_iter=1000, tol=None, random_state=seed)
    model.fit(counts / scale, np.asarray(labels))
    model.count_scale_ = scale
    return model


def predict_count_perceptron(model, counts: np.ndarray) -> np.ndarray:
    """Labels (n,) int of the count perceptron."""
    return model.predict(np.asarray(counts, float) / model.count_scale_).astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Patient-level evaluation over partitions of each bag (P2-T0, P2-F5, P2-F6, P2-T2, P2-A*)
# --------------------------------------------------------------------------------------------------

def evaluate_partitions(model: nn.Module, bags: Sequence[torch.Tensor], labels: Sequence[int],
                        sizes: Sequence[int | None] = (None,), n_draws: int = 1, seed: int = 0,
                        cell_labels: Sequence[np.ndarray] | None = None, remove: str | None = None,
                        device: str | torch.device = "cpu", return_inputs: bool = False):
    """Diagnose every patient from ``size`` of its cells (``None``: all), ``n_draws`` times per size.

    Parameters
    ----------
    model : trained bag classifier.
    bags : per patient, (n_i, D) cell features (view 0).
    labels : per patient, 1 = ALL, 0 = healthy.
    sizes : cells per patient (the paper's partition sizes); bags smaller than a size use all their cells.
    cell_labels : per patient, (n_i,) 1 blast / 0 normal / -1 unknown; needed for ``remove``.
    remove : ``"blast"``, ``"normal"`` or None — cells removed after drawing the partition (``P2-F5``).

    Returns
    -------
    DataFrame, one row per (size, draw, patient): ``size``, ``draw``, ``patient``, ``label``, ``n_cells``
    (cells the model saw), ``prob`` (P(ALL); NaN when no cell is left) and ``pred`` (1 if prob >= 0.5;
    a bag left empty is predicted 0 and flagged by ``n_cells == 0``). With ``return_inputs`` also the
    list of (n_cells, D) feature tensors of every row, in row order.
    """
    import pandas as pd

    from leukutils.data.bags import remove_cells, subsample_bag

    if remove is not None and cell_labels is None:
        raise ValueError("evaluate_partitions: remove= needs cell_labels")
    rows, inputs = [], []
    for size in sizes:
        for p, bag in enumerate(bags):
            n = len(bag)
            picks = subsample_bag(n, n if size is None else int(size), n_draws, seed=seed * 7919 + p * 31 + (size or 0))
            for d, pick in enumerate(picks):
                if remove is not None:
                    pick = pick[remove_cells(np.asarray(cell_labels[p])[pick], remove)]
                inputs.append(bag[pick])
                rows.append({"size": -1 if size is None else int(size), "draw": d, "patient": p,
                             "label": int(labels[p]), "n_cells": len(pick)})
    probs = predict_bags(model, inputs, device=device)
    table = pd.DataFrame(rows)
    table["prob"] = probs
    table["pred"] = (np.nan_to_num(probs, nan=0.0) >= 0.5).astype(int)
    return (table, inputs) if return_inputs else table


def partition_scores(table, by: Sequence[str] = ("size",)):
    """Accuracy, F1, recall (sensitivity) and specificity per group of :func:`evaluate_partitions` rows."""
    import pandas as pd

    from leukutils.metrics import classification_metrics

    rows = []
    for key, group in table.groupby(list(by), sort=True):
        m = classification_metrics(group["label"].to_numpy(), group["pred"].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "accuracy": m["accuracy"], "f1": m["f1"], "recall": m["recall"],
                     "specificity": m["specificity"], "n": len(group), "empty_bags": int((group["n_cells"] == 0).sum())})
    return pd.DataFrame(rows)
