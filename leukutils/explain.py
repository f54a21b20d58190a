"""Class activation maps (pytorch-grad-cam), a fast exact Score-CAM, and MR-SSIM.

* :func:`cam_heatmaps` — one call for Grad-CAM, Grad-CAM++, HiResCAM, XGradCAM, Score-CAM and
  :class:`FastScoreCAM`; every heatmap is min–max normalised to [0, 1] the same way, whatever the method.
* :func:`target_layers_for` — the layer each architecture is explained at, from one table,
  :data:`TARGET_LAYERS`; :func:`target_map_size` — the size of that layer's map for a given input.
* :func:`heatmap_spread` — whether heatmaps depend on their image (distinct and constant maps).
* :class:`FastScoreCAM` — pytorch-grad-cam's ``ScoreCAM`` with the same weights and heatmaps, computed
  without building all masked copies at once and without forward passes whose result is known.
* :func:`mr_ssim` / :func:`mr_ssim_summary` — paper 1's agreement index of two heatmaps
  (``skimage.metrics.structural_similarity`` with ``data_range=1``) and its per-group mean, with
  constant heatmaps counted rather than averaged in.

The CAM objects are always used as context managers, so their hooks are removed after use. Drawing
heatmaps (overlays, CAM panels and grids) is :mod:`leukutils.plots`'s.
"""
from __future__ import annotations

import contextlib
import copy
import io
import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from .metrics import summarise

# --------------------------------------------------------------------------------------------------
# Which layer each architecture is explained at: ONE table, keyed by the model's class name.
# The choice follows the usual last convolutional stage, taken after its activation (the maps that the
# classifier pools), as Keras' models expose it and as paper 1 (Keras) would have used.
# --------------------------------------------------------------------------------------------------
TARGET_LAYERS: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "ResNet": lambda m: [m.layer4[-1]],               # last bottleneck, after its ReLU (7×7 at 224 px)
    "DenseNet": lambda m: [m.features[-1]],           # features.relu5 (added by build_classifier) or norm5
    "VGG": lambda m: [m.features[-2]],                # ReLU after conv5_4, before the last max-pool (14×14)
    "Inception3": lambda m: [m.Mixed_7c],             # last inception block (8×8 at 299 px)
    "MobileNetV2": lambda m: [m.features[-1]],        # 1×1 conv → BN → ReLU6, 1280 channels (7×7)
    "MobileNetV3": lambda m: [m.features[-1]],        # 1×1 conv → BN → Hardswish (7×7)
    "StandardCNN": lambda m: [m.features[-2]],        # ReLU of the last conv block, before its max-pool
}


def target_layers_for(model: nn.Module) -> list[nn.Module]:
    """The layer(s) to compute CAMs at for ``model``, from :data:`TARGET_LAYERS`."""
    kind = type(model).__name__
    if kind not in TARGET_LAYERS:
        raise KeyError(f"no CAM target layer known for {kind}; add an entry to leukutils.explain.TARGET_LAYERS "
                       f"or pass target_layers=[...]")
    return TARGET_LAYERS[kind](model)


def named_target_layers(model: nn.Module, name: str = "") -> list[nn.Module]:
    """The layer to compute CAMs at: the module at the dotted path ``name`` in ``model`` (e.g.
    ``"features.6"``, as ``model.named_modules()`` names it), or :func:`target_layers_for` ``(model)`` (the last
    convolutional stage) for ``""``. Raises :class:`ValueError` naming the path and the model's top-level
    modules where there is no module at ``name``."""
    if not name:
        return target_layers_for(model)
    try:
        return [model.get_submodule(name)]
    except AttributeError:
        children = ", ".join(n for n, _ in model.named_children())
        raise ValueError(f"no layer {name!r} in {type(model).__name__} (its modules: {children}, and their children "
                         "by dotted path, e.g. 'features.6'); give a name of model.named_modules(), or \"\" for the "
                         "last convolutional stage") from None


# --------------------------------------------------------------------------------------------------
# Fast exact Score-CAM
# --------------------------------------------------------------------------------------------------
class FastScoreCAM(ScoreCAM):
    """Score-CAM (Wang et al. 2020) giving pytorch-grad-cam's ``ScoreCAM`` heatmaps, faster and in
    bounded memory.

    ``ScoreCAM`` builds all C masked copies of each input at once (C × 3 × H × W floats: 1.2 GB for one
    224-px image at ResNet-50's 2048 channels) and runs C forward passes per image. This subclass
    computes the same channel weights (softmax over channels of the target score of the input masked
    by each min–max normalised, upsampled activation map) with:

    * **streaming**: masks are rebuilt per batch of ``batch_size`` masked inputs, never all at once;
    * **known results skipped**: a channel whose upsampled map is constant has an all-zero mask, so its
      masked input is the zero image and its score is the zero image's score, computed once for all
      images; channels with bit-identical activation maps share one forward pass;
    * **batching across images**: forward passes mix masked inputs of several images.

    The masks are computed with the very operations of ``ScoreCAM`` (same upsampling, same ``1e-8``),
    so the weights differ from ``ScoreCAM``'s only by float rounding of batched forward passes.

    Attributes after a call: ``last_counts`` — dict with ``channels`` (n × C), ``forward`` (masked
    inputs actually run), ``constant`` (zero masks skipped) and ``duplicate`` (shared passes).
    """

    def __init__(self, model: nn.Module, target_layers: list[nn.Module], reshape_transform=None,
                 batch_size: int = 8, channel_chunk: int = 256, optimise: bool = True):
        super().__init__(model, target_layers, reshape_transform=reshape_transform)
        self.batch_size = batch_size
        self.channel_chunk = channel_chunk
        self.optimise = optimise
        self.last_counts: dict[str, int] = {}
        self._scorer: Callable | None = None

    def _scoring_model(self, example: torch.Tensor) -> Callable:
        """The model that scores masked inputs. With ``optimise`` on CPU: a frozen TorchScript trace of
        a hook-free copy, run with oneDNN graph fusion (batch norm folded, convolution and activation
        fused); same weights, same function, different float rounding. Otherwise the model itself."""
        if not self.optimise or example.device.type != "cpu":
            return self.model
        if self._scorer is None:
            clone = copy.deepcopy(self.model).eval()
            for module in clone.modules():
                module._forward_hooks.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._scorer = torch.jit.freeze(torch.jit.trace(clone, example, check_trace=False))
        return self._scorer

    @staticmethod
    def _masks(upsample: nn.Module, activations: torch.Tensor) -> torch.Tensor:
        """(k, h, w) activation maps → (k, H, W) masks, exactly as ``ScoreCAM.get_cam_weights``."""
        upsampled = upsample(activations[None])[0]
        flat = upsampled.view(upsampled.size(0), -1)
        maxs, mins = flat.max(dim=-1)[0], flat.min(dim=-1)[0]
        maxs, mins = maxs[:, None, None], mins[:, None, None]
        return (upsampled - mins) / (maxs - mins + 1e-8)

    def _plan(self, upsample, activations: torch.Tensor):
        """Per image: which channels need a forward pass. Returns the list of (image, channel) passes
        to run and an (n, C) int array: index into those passes, or -1 for an all-zero mask."""
        n, n_channels = activations.shape[:2]
        source = np.full((n, n_channels), -1, dtype=np.int64)
        passes: list[tuple[int, int]] = []
        constant = duplicate = 0
        for i in range(n):
            seen: dict[bytes, int] = {}
            for start in range(0, n_channels, self.channel_chunk):
                block = activations[i, start:start + self.channel_chunk]
                # A mask is all zero only if its upsampled map is exactly constant, which needs a constant
                # low-resolution map; only those few are upsampled here to check. Any other channel gets
                # its forward pass, which is what ScoreCAM computes for it.
                flat = block.reshape(block.size(0), -1)
                is_constant = (flat.max(dim=-1)[0] == flat.min(dim=-1)[0]).cpu().numpy()
                for offset in np.flatnonzero(is_constant):
                    upsampled = upsample(block[None, offset:offset + 1])[0, 0]
                    is_constant[offset] = bool(upsampled.max() == upsampled.min())
                lowres = block.cpu().contiguous().numpy()
                for offset in range(block.size(0)):
                    channel = start + offset
                    if is_constant[offset]:
                        constant += 1
                        continue
                    key = lowres[offset].tobytes()
                    if key in seen:
                        source[i, channel] = seen[key]
                        duplicate += 1
                        continue
                    seen[key] = source[i, channel] = len(passes)
                    passes.append((i, channel))
        self.last_counts = {"channels": n * n_channels, "forward": len(passes),
                            "constant": constant, "duplicate": duplicate}
        return passes, source

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        fusion = torch.jit.onednn_fusion_enabled()
        torch.jit.enable_onednn_fusion(self.optimise)
        try:
            return self._weights(input_tensor, targets, activations)
        finally:
            torch.jit.enable_onednn_fusion(fusion)

    def _weights(self, input_tensor, targets, activations) -> np.ndarray:
        with torch.inference_mode():
            upsample = nn.UpsamplingBilinear2d(size=input_tensor.shape[-2:])
            activation_tensor = torch.from_numpy(activations).to(self.device)
            passes, source = self._plan(upsample, activation_tensor)
            hooked = self.activations_and_grads.activations
            keep = len(hooked)
            # the zero image's score: the score of every channel whose mask is all zero
            zero_output = self.model(torch.zeros_like(input_tensor[:1]))[0]
            del hooked[keep:]
            zero_scores = torch.tensor([float(target(zero_output)) for target in targets])
            pass_scores = torch.empty(len(passes))
            for start in range(0, len(passes), self.batch_size):
                batch = passes[start:start + self.batch_size]
                by_image: dict[int, list[int]] = {}
                for j, (image, _) in enumerate(batch):
                    by_image.setdefault(image, []).append(j)
                masked, order = [], []
                for image, js in by_image.items():
                    masks = self._masks(upsample, activation_tensor[image, [batch[j][1] for j in js]])
                    masked.append(input_tensor[image][None] * masks[:, None])
                    order += js
                masked = torch.cat(masked)
                n_real = len(masked)
                if n_real < self.batch_size and start > 0:  # keep one input shape for the traced model
                    masked = torch.cat([masked, masked.new_zeros((self.batch_size - n_real, *masked.shape[1:]))])
                outputs = self._scoring_model(masked)(masked)[:n_real]
                del hooked[keep:]  # the target layer's hook may have seen these passes: drop them
                for output, j in zip(outputs, order):
                    pass_scores[start + j] = float(targets[batch[j][0]](output))
            source_t = torch.from_numpy(source)
            scores = torch.where(source_t >= 0, pass_scores[source_t.clamp(min=0)] if len(passes) else 0.0,
                                 zero_scores[:, None])
            return torch.softmax(scores, dim=-1).numpy()


CAM_METHODS = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
    "scorecam": ScoreCAM,
    "fast_scorecam": FastScoreCAM,
}
SCORE_METHODS = ("scorecam", "fast_scorecam")


def target_map_size(model: nn.Module, images: torch.Tensor,
                    target_layers: list[nn.Module] | None = None) -> tuple[int, int]:
    """(height, width) of the activation map a CAM of ``model`` is computed from, for inputs shaped like
    ``images`` ((n, 3, H, W); one image is run). E.g. (7, 7) for MobileNetV2 at 224 px, (3, 3) at 80 px:
    the heatmap is this map upsampled to the input, so it cannot be finer than it."""
    layers = target_layers if target_layers is not None else target_layers_for(model)
    shapes: list[tuple[int, int]] = []
    handle = layers[0].register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape[-2:])))
    try:
        with torch.no_grad():
            model.eval()(images[:1].to(next(model.parameters()).device))
    finally:
        handle.remove()
    return shapes[0]


def heatmap_spread(maps: np.ndarray) -> dict[str, float]:
    """Whether heatmaps depend on their image: for (n, H, W) maps of n different images, the number of
    ``constant`` maps, of ``distinct`` maps (bit for bit), and the ``mean_difference``: mean absolute
    difference between the maps of two different images, averaged over all pairs (0 when every image
    gets the same map)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"heatmap_spread: expected (n, H, W) maps, got shape {maps.shape}")
    n = len(maps)
    flat = maps.reshape(n, -1)
    pairs = [np.abs(flat[i] - flat[j]).mean() for i in range(n) for j in range(i + 1, n)]
    return {"n": n, "constant": int(sum(is_constant(m) for m in maps)),
            "distinct": len({m.astype(np.float32).tobytes() for m in maps}),
            "mean_difference": float(np.mean(pairs)) if pairs else float("nan")}


def normalise_heatmaps(maps: np.ndarray) -> np.ndarray:
    """Min–max normalise each (H, W) map of an (n, H, W) stack to [0, 1] (float32).

    A constant map (no spatial information, e.g. all-zero gradients) becomes all zeros; find such
    maps with :func:`is_constant`.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"normalise_heatmaps: expected (n, H, W) maps, got shape {maps.shape}")
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    out = np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)
    return out.astype(np.float32)


def is_constant(heatmap: np.ndarray) -> bool:
    """True when a heatmap has one value everywhere (it says nothing about where)."""
    heatmap = np.asarray(heatmap)
    return bool(heatmap.max() == heatmap.min())


def cam_heatmaps(model: nn.Module, images: torch.Tensor, method: str = "gradcam",
                 targets: Sequence[int] | None = None, target_layers: list[nn.Module] | None = None,
                 batch_size: int = 32) -> np.ndarray:
    """Class activation maps of ``images`` for ``model``, one per image.

    Parameters
    ----------
    model : classifier (n, 3, H, W) → (n, k) logits; put in eval mode.
    images : (n, 3, H, W) float tensor, as the model takes it.
    method : ``"gradcam"``, ``"gradcam++"``, ``"hirescam"``, ``"xgradcam"``, ``"scorecam"``
        (pytorch-grad-cam's ScoreCAM, one image per call) or ``"fast_scorecam"`` (:class:`FastScoreCAM`).
    targets : class index explained for each image; None → the predicted class.
    target_layers : default :func:`target_layers_for` ``(model)``.
    batch_size : images per CAM call for gradient methods; masked inputs per forward pass for the
        Score-CAM methods.

    Returns
    -------
    (n, H, W) float32 heatmaps, each min–max normalised to [0, 1] by :func:`normalise_heatmaps`
    (a constant map is returned as zeros).
    """
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {sorted(CAM_METHODS)}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"cam_heatmaps: expected (n, 3, H, W) images, got shape {tuple(images.shape)}")
    if targets is not None and len(targets) != len(images):
        raise ValueError(f"cam_heatmaps: {len(targets)} targets for {len(images)} images")
    model.eval()
    layers = target_layers if target_layers is not None else target_layers_for(model)
    device = next(model.parameters()).device
    images = images.to(device)
    if method == "scorecam":
        per_call = 1  # ScoreCAM holds every masked copy of every image of a call in memory at once
    elif method == "fast_scorecam":
        per_call = 8
    else:
        per_call = batch_size
    out = []
    with CAM_METHODS[method](model=model, target_layers=layers) as cam:
        if method in SCORE_METHODS:
            cam.batch_size = batch_size
        for start in range(0, len(images), per_call):
            chunk = images[start:start + per_call]
            chunk_targets = None if targets is None else [ClassifierOutputTarget(int(t))
                                                          for t in targets[start:start + per_call]]
            with contextlib.redirect_stderr(io.StringIO()):  # ScoreCAM's own tqdm bars
                out.append(cam(input_tensor=chunk, targets=chunk_targets))
    return normalise_heatmaps(np.concatenate(out))


# --------------------------------------------------------------------------------------------------
# MR-SSIM
# --------------------------------------------------------------------------------------------------
def mr_ssim(map_a: np.ndarray, map_b: np.ndarray) -> float:
    """MR-SSIM of paper 1: structural similarity of two heatmaps of the same image and model.

    ``map_a``, ``map_b``: (H, W) float heatmaps normalised to [0, 1] (as :func:`cam_heatmaps`
    returns them). Uses ``skimage.metrics.structural_similarity(data_range=1.0)`` with its defaults
    (7 × 7 uniform window). Returns a float in [-1, 1], or NaN when either map is constant: a map
    with one value everywhere localises nothing, so its agreement is undefined.
    :func:`mr_ssim_summary` counts such pairs instead of averaging them in.
    """
    from skimage.metrics import structural_similarity

    a = np.asarray(map_a, dtype=np.float64)
    b = np.asarray(map_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"mr_ssim: expected two (H, W) maps of one shape, got {a.shape} and {b.shape}")
    if min(a.shape) < 7:
        raise ValueError(f"mr_ssim: maps of shape {a.shape} are smaller than SSIM's 7 × 7 window")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("mr_ssim: heatmaps contain NaN or inf; normalise them with normalise_heatmaps")
    if is_constant(a) or is_constant(b):
        return float("nan")
    return float(structural_similarity(a, b, data_range=1.0))


def mr_ssim_summary(scores: np.ndarray, groups: Sequence | None = None, n_boot: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Mean MR-SSIM per group with a bootstrap interval, constant-map pairs counted apart.

    Parameters
    ----------
    scores : (n,) MR-SSIM values from :func:`mr_ssim` (NaN = a constant heatmap in the pair).
    groups : (n,) group label per score (e.g. class name); None → one group ``"all"``.
    n_boot, seed, alpha : :func:`leukutils.metrics.summarise`'s (``alpha`` 0.05: a 95 % interval).

    Returns
    -------
    DataFrame, one row per group (sorted): ``group``, ``n`` (pairs), ``n_constant`` (pairs left out
    because a heatmap was constant), ``mr_ssim`` (mean over the others), ``mr_ssim low``, ``mr_ssim high``.
    A group whose pairs are all constant has NaN mean, visibly, with ``n_constant == n``.
    """
    scores = np.asarray(scores, dtype=float)
    groups = np.array(["all"] * len(scores) if groups is None else list(groups), dtype=object)
    if len(groups) != len(scores):
        raise ValueError(f"mr_ssim_summary: {len(scores)} scores but {len(groups)} group labels")
    pairs = pd.DataFrame({"group": groups, "mr_ssim": scores})
    pairs = pairs.iloc[np.argsort(groups.astype(str), kind="stable")]
    table = summarise(pairs, "group", ["mr_ssim"], n_boot=n_boot, seed=seed, alpha=alpha).drop(columns="n")
    counts = pairs.groupby("group", sort=False)["mr_ssim"].agg(["size", "count"]).loc[table["group"]]
    table.insert(1, "n", counts["size"].to_numpy())
    table.insert(2, "n_constant", (counts["size"] - counts["count"]).to_numpy())
    return table[["group", "n", "n_constant", "mr_ssim", "mr_ssim low", "mr_ssim high"]]


def mr_ssim_of_model(model: nn.Module, images: torch.Tensor, groups: Sequence, score_batch_size: int = 32,
                     n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Paper 1's agreement test for one model: Grad-CAM and (fast) Score-CAM of every image, their
    MR-SSIM, and the mean per group with a bootstrap interval (:func:`mr_ssim_summary`).

    ``images``: (n, 3, H, W) network inputs; ``groups``: (n,) label per image (e.g. class name).
    """
    grad = cam_heatmaps(model, images, method="gradcam")
    score = cam_heatmaps(model, images, method="fast_scorecam", batch_size=score_batch_size)
    ssim = np.array([mr_ssim(a, b) for a, b in zip(grad, score)])
    return mr_ssim_summary(ssim, groups, n_boot=n_boot, seed=seed)


def cam_maps(model: nn.Module, images: torch.Tensor, methods: Sequence[str],
             target_layers: list[nn.Module] | None = None) -> dict[str, np.ndarray]:
    """:func:`cam_heatmaps` of ``images`` by each of ``methods``: method → (n, H, W) maps.
    ``target_layers``: default :func:`target_layers_for` ``(model)``."""
    return {method: cam_heatmaps(model, images, method=method, target_layers=target_layers) for method in methods}
