"""Model factories: torchvision classifiers and backbones, detector, MIL, U-Net."""
from .weights import build_torchvision, load_checkpoint

__all__ = ["build_torchvision", "load_checkpoint"]
