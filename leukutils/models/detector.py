"""White-cell detector of paper 2: torchvision Faster R-CNN, a short training loop and inference.

Architectures (``build_detector(arch=...)``):

``"fasterrcnn_resnet50_fpn"``
    The paper's detector (Faster R-CNN, ResNet-50 FPN backbone).
``"fasterrcnn_mobilenet_v3_large_320_fpn"``
    torchvision's light Faster R-CNN (MobileNetV3 backbone, 320 px inputs): CPU-feasible training.
``"small"``
    Faster R-CNN (torchvision's ``FasterRCNN`` class, unchanged) on a four-block convolutional backbone
    with one 64-channel feature map at stride 8, 5×5 RoI pooling and a 256-wide box head: trains from
    scratch in seconds on synthetic smears.

Pretrained ImageNet backbones are asked for with ``weights="imagenet"``; when they cannot be had
the backbone is random and a :class:`~leukutils.models.weights.PretrainedWeightsUnavailable` warning says so.

Samples are ``(image (H, W, 3) uint8, boxes (n, 4) float x0, y0, x1, y1 px, labels (n,) int >= 1)``;
class 0 is the background, as torchvision expects.
"""
from __future__ import annotations

import time
import warnings
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torchvision.models import detection as tvd
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from .weights import PretrainedWeightsUnavailable

ARCHITECTURES = ("fasterrcnn_resnet50_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn", "small")


def _small_backbone(channels: int = 64) -> nn.Module:
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    backbone = nn.Sequential(block(3, 16), block(16, 32), block(32, channels), nn.Conv2d(channels, channels, 3, padding=1))
    backbone.out_channels = channels
    return backbone


def build_detector(arch: str = "fasterrcnn_resnet50_fpn", num_classes: int = 2, weights: str | None = "imagenet",
                   min_size: int = 800, max_size: int = 1333, anchor_sizes: Sequence[int] = (16, 32, 64, 128),
                   **kwargs) -> nn.Module:
    """A torchvision Faster R-CNN detector for ``num_classes`` classes (background included).

    Parameters
    ----------
    arch : one of :data:`ARCHITECTURES`.
    num_classes : 2 for a white-cell detector (background, WBC), 3 for blast/normal.
    weights : ``"imagenet"`` for an ImageNet backbone (falls back to random with a warning), or None.
    min_size, max_size : torchvision's internal resize of the shorter / longer image side (pixels).
    anchor_sizes : anchor sides in pixels (after the internal resize) for the ``"small"`` backbone.
    kwargs : passed to the torchvision constructor (e.g. ``box_detections_per_img``).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown detector {arch!r}; choose one of {ARCHITECTURES}")
    if arch == "small":
        backbone = _small_backbone()
        anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=((0.75, 1.0, 1.33),))
        roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=5, sampling_ratio=2)
        box_head = TwoMLPHead(backbone.out_channels * 5 * 5, 256)
        for key, value in dict(rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=200,
                               rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=64,
                               box_batch_size_per_image=32).items():
            kwargs.setdefault(key, value)
        return tvd.FasterRCNN(backbone, rpn_anchor_generator=anchors, box_roi_pool=roi_pool, box_head=box_head,
                              box_predictor=FastRCNNPredictor(256, num_classes), min_size=min_size,
                              max_size=max_size, **kwargs)
    builder = getattr(tvd, arch)
    backbone_weights = None
    if weights == "imagenet":
        from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights

        backbone_weights = (ResNet50_Weights.IMAGENET1K_V1 if "resnet50" in arch
                            else MobileNet_V3_Large_Weights.IMAGENET1K_V1)
    elif weights is not None:
        raise ValueError(f"build_detector: weights must be 'imagenet' or None, got {weights!r}")
    trainable = 3 if backbone_weights is not None else 5
    try:
        return builder(weights=None, weights_backbone=backbone_weights, num_classes=num_classes,
                       trainable_backbone_layers=trainable, min_size=min_size, max_size=max_size, **kwargs)
    except Exception as error:  # offline: the backbone weights cannot be downloaded
        if backbone_weights is None:
            raise
        warnings.warn(f"ImageNet backbone weights {backbone_weights} for {arch} could not be loaded "
                      f"({type(error).__name__}); the backbone is randomly initialised and fully trained. "
                      f"Put the file in {torch.hub.get_dir()}/checkpoints to use them offline.",
                      PretrainedWeightsUnavailable, stacklevel=2)
        return builder(weights=None, weights_backbone=None, num_classes=num_classes, trainable_backbone_layers=5,
                       min_size=min_size, max_size=max_size, **kwargs)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detector input must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255)


def _target(boxes: np.ndarray, labels: np.ndarray) -> dict[str, torch.Tensor]:
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1))
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    if len(labels) and labels.min() < 1:
        raise ValueError("detector labels must be >= 1 (0 is the background)")
    return {"boxes": boxes, "labels": labels}


def _hflip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = image.shape[1]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    return image[:, ::-1], boxes


def train_detector(model: nn.Module, samples: Sequence, epochs: int = 10, lr: float = 1e-3, batch_size: int = 2,
                   seed: int = 0, flip: bool = True, device: str | torch.device = "cpu",
                   optimiser: str = "adam", progress: bool = False) -> list[dict]:
    """Train a torchvision detector on ``samples`` (list of ``(image, boxes, labels)`` or a function
    ``i → sample`` with ``len``); one readable loop summing torchvision's loss dict.

    ``flip``: random horizontal flips. ``optimiser``: ``"adam"`` or ``"sgd"`` (momentum 0.9, weight decay
    1e-4). Returns one dict per epoch with the mean of each loss term, ``loss`` and ``seconds``.
    """
    device = torch.device(device)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if optimiser == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    elif optimiser == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    else:
        raise ValueError(f"optimiser must be 'adam' or 'sgd', got {optimiser!r}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    history = []
    iterator = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="detector epochs")
    for epoch in iterator:
        start = time.perf_counter()
        order = rng.permutation(len(samples))
        sums: dict[str, float] = {}
        n_batches = 0
        for first in range(0, len(order), batch_size):
            images, targets = [], []
            for i in order[first:first + batch_size]:
                image, boxes, labels = samples[int(i)]
                if flip and rng.random() < 0.5:
                    image, boxes = _hflip(image, boxes)
                images.append(_to_tensor(image).to(device))
                targets.append({k: v.to(device) for k, v in _target(boxes, labels).items()})
            losses = model(images, targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            n_batches += 1
        row = {"epoch": epoch + 1, **{k: v / max(n_batches, 1) for k, v in sums.items()},
               "seconds": time.perf_counter() - start}
        history.append(row)
    model.eval()
    return history


@torch.no_grad()
def detect(model: nn.Module, images: Sequence[np.ndarray] | Callable, score_threshold: float = 0.5,
           batch_size: int = 4, device: str | torch.device = "cpu") -> list[dict[str, np.ndarray]]:
    """Run the detector on (H, W, 3) uint8 images.

    Returns one dict per image with ``boxes`` (n, 4) float32 ``x0, y0, x1, y1`` px, ``scores`` (n,)
    float32 and ``labels`` (n,) int64, keeping detections with score >= ``score_threshold``. An image
    without detections gives n = 0 arrays (the caller reports "no cells found").
    """
    device = torch.device(device)
    model.to(device).eval()
    out = []
    for first in range(0, len(images), batch_size):
        batch = [_to_tensor(images[i]).to(device) for i in range(first, min(first + batch_size, len(images)))]
        for pred in model(batch):
            keep = pred["scores"] >= score_threshold
            out.append({"boxes": pred["boxes"][keep].cpu().numpy().astype(np.float32),
                        "scores": pred["scores"][keep].cpu().numpy().astype(np.float32),
                        "labels": pred["labels"][keep].cpu().numpy().astype(np.int64)})
    return out


def samples_from_records(records: Sequence, classes: Sequence[str], load_image: Callable) -> "RecordSamples":
    """Detection samples from records with boxes, keeping the boxes whose label is in ``classes``
    (mapped to 1..K in that order). Images are loaded lazily, one at a time."""
    return RecordSamples(records, classes, load_image)


class RecordSamples:
    """Sequence of ``(image, boxes, labels)`` read from records on demand (see :func:`samples_from_records`)."""

    def __init__(self, records: Sequence, classes: Sequence[str], load_image: Callable):
        self.records, self.classes, self.load_image = list(records), list(classes), load_image
        for record in self.records:
            if record.boxes is None or record.box_labels is None:
                raise ValueError(f"detection sample {record.path} has no boxes; the detector needs box annotations")

    def __len__(self) -> int:
        return len(self.records)

    def target(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        record = self.records[i]
        names = np.asarray(record.box_labels, dtype=object)
        keep = np.isin(names, self.classes)
        labels = np.array([self.classes.index(n) + 1 for n in names[keep]], dtype=np.int64)
        return np.asarray(record.boxes, np.float32).reshape(-1, 4)[keep], labels

    def __getitem__(self, i: int):
        boxes, labels = self.target(i)
        return self.load_image(self.records[i].path), boxes, labels

    def image(self, i: int) -> np.ndarray:
        return self.load_image(self.records[i].path)
