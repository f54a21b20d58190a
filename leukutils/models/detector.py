"""White-cell detector of paper 2: torchvision Faster R-CNN.

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
class 0 is the background, as torchvision expects. Training is :func:`leukutils.train.train_detector`
(its step :class:`leukutils.train.DetectorStep`),
inference :func:`leukutils.inference.detect`, samples from records
:func:`leukutils.data.torch_datasets.samples_from_records`.
"""
from __future__ import annotations

import contextlib
import io
import sys
import warnings
from typing import Sequence

from torch import nn
from torchvision.models import detection as tvd
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from .weights import HUB_CHECKPOINTS, PretrainedWeightsUnavailable

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
    attempt = io.StringIO()
    try:
        with contextlib.redirect_stdout(attempt):  # torch.hub's "Downloading: <url> to <path>"
            model = builder(weights=None, weights_backbone=backbone_weights, num_classes=num_classes,
                            trainable_backbone_layers=trainable, min_size=min_size, max_size=max_size, **kwargs)
        sys.stdout.write(attempt.getvalue())
        return model
    except Exception as error:  # offline: the backbone weights cannot be downloaded
        if backbone_weights is None:
            raise
        warnings.warn(f"ImageNet backbone weights {backbone_weights} for {arch} could not be loaded "
                      f"({type(error).__name__}); the backbone is randomly initialised and fully trained. "
                      f"Put the file in {HUB_CHECKPOINTS} to use them offline.",
                      PretrainedWeightsUnavailable, stacklevel=2)
        return builder(weights=None, weights_backbone=None, num_classes=num_classes, trainable_backbone_layers=5,
                       min_size=min_size, max_size=max_size, **kwargs)
