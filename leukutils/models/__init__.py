"""Model builders (``nn.Module``s only): torchvision classifiers and backbones, detector, MIL, U-Net.

Names are imported from their submodule on first use, so that ``import leukutils.models`` does not
pull in MONAI or torchvision's detection code for a notebook that needs neither.
"""
from importlib import import_module

_SUBMODULE_OF = {
    **dict.fromkeys(["build_torchvision", "load_checkpoint", "save_checkpoint"], "weights"),
    **dict.fromkeys(["PAPER1_MODELS", "STANDARD_CNN", "StandardCNN", "build_classifier", "calibrate_batch_norm",
                     "make_head"], "classifiers"),
    **dict.fromkeys(["MirrorPaddedUNet", "PAPER_UNET_PARAMS", "UnifiedFocalLoss", "build_unet"], "unet"),
    **dict.fromkeys(["build_detector"], "detector"),
    **dict.fromkeys(["AttentionMIL", "LSTMClassifier", "build_extractor", "build_mil"], "mil"),
}
__all__ = sorted(_SUBMODULE_OF)


def __getattr__(name: str):
    if name in _SUBMODULE_OF:
        return getattr(import_module(f".{_SUBMODULE_OF[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
