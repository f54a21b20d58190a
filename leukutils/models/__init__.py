"""Model factories: torchvision classifiers and backbones, detector, MIL, U-Net."""
from .weights import build_torchvision, load_checkpoint

__all__ = ["build_torchvision", "load_checkpoint"]
from .classifiers import PAPER1_MODELS, STANDARD_CNN, StandardCNN, build_classifier, calibrate_batch_norm, make_head

__all__ += ["PAPER1_MODELS", "STANDARD_CNN", "StandardCNN", "build_classifier", "calibrate_batch_norm", "make_head"]
from .unet import PAPER_UNET_PARAMS, UnifiedFocalLoss, build_unet, kfold_segmentation, predict_masks, train_unet

__all__ += ["PAPER_UNET_PARAMS", "UnifiedFocalLoss", "build_unet", "kfold_segmentation", "predict_masks", "train_unet"]
from .detector import build_detector, detect, train_detector
from .mil import AttentionMIL, CellEncoder, FeatureBank, LSTMClassifier, build_extractor, build_mil

__all__ += ["build_detector", "detect", "train_detector", "AttentionMIL", "CellEncoder", "FeatureBank",
            "LSTMClassifier", "build_extractor", "build_mil"]
