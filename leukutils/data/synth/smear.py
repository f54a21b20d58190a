"""Smear fields: white cells, red cells and platelets composed on one slide, then stained and imaged.

:func:`render_field` places the cells (white cells without overlap, red cells at a chosen density,
overlapping each other and the white cells' edges where dense), adds their dye concentrations,
renders colour with the slide's :class:`~.stain.Stain`, then vignetting, blur, noise and JPEG.
It returns the image with its exact ground truth as a :class:`Field`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cells import CellDrawing, bank_red_cell, draw_cell, draw_platelet
from .stain import Stain, finish, reference_stain, smooth_noise, to_rgb
from .stain import vignetting as vignetting_light


@dataclass
class Field:
    """A rendered field and its ground truth.

    Attributes
    ----------
    image : ndarray
        (H, W, 3) uint8 RGB.
    nucleus, cytoplasm : ndarray
        (H, W) bool masks of all white cells.
    instances : ndarray
        (H, W) int32: 0 background, i + 1 for white cell i.
    boxes : ndarray
        (n, 4) float32 ``x0, y0, x1, y1`` of every object (white cells first, then red cells, platelets).
    box_labels : list of str
        ``cell_type`` of each white cell, ``RBC``, ``Platelets``.
    centres : ndarray
        (n_wbc, 2) float32 ``x, y`` of each white cell.
    cell_types : list of str
        Type of each white cell (same order as ``centres``).
    """

    image: np.ndarray
    nucleus: np.ndarray
    cytoplasm: np.ndarray
    instances: np.ndarray
    boxes: np.ndarray
    box_labels: list[str]
    centres: np.ndarray
    cell_types: list[str]
    info: dict = field(default_factory=dict)

    def mask(self) -> np.ndarray:
        """(H, W) uint8 label mask: 255 nucleus, 128 cytoplasm, 0 background."""
        out = np.zeros(self.nucleus.shape, np.uint8)
        out[self.cytoplasm] = 128
        out[self.nucleus] = 255
        return out


def _paste(canvas: np.ndarray, patch: np.ndarray, cy: float, cx: float, mode: str = "add") -> tuple[int, int, int, int]:
    """Add (or max, or write where True) ``patch`` centred at (cy, cx) into ``canvas``, clipped at the
    borders. Returns the (y0, x0, y1, x1) of the pasted region in canvas coordinates."""
    h, w = patch.shape[:2]
    top, left = int(round(cy - (h - 1) / 2)), int(round(cx - (w - 1) / 2))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, canvas.shape[0]), min(left + w, canvas.shape[1])
    if y1 <= y0 or x1 <= x0:
        return y0, x0, y0, x0
    piece = patch[y0 - top:y1 - top, x0 - left:x1 - left]
    region = canvas[y0:y1, x0:x1]
    if mode == "add":
        region += piece
    elif mode == "max":
        np.maximum(region, piece, out=region)
    else:  # boolean or label write where the patch is non-zero
        region[piece > 0] = piece[piece > 0] if mode == "label" else True
    return y0, x0, y1, x1


def _mask_box(mask: np.ndarray, offset: tuple[int, int]) -> np.ndarray | None:
    """Box ``x0, y0, x1, y1`` (exclusive ends) of a boolean patch mask, shifted by ``offset`` (top, left)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return np.array([cols[0] + offset[1], rows[0] + offset[0], cols[-1] + 1 + offset[1],
                     rows[-1] + 1 + offset[0]], np.float32)


def _shift_box(box, patch_shape, cy, cx, w, h) -> np.ndarray | None:
    """Patch-relative box → field box for a patch centred at (cy, cx), clipped; None if outside."""
    top, left = int(round(cy - (patch_shape[0] - 1) / 2)), int(round(cx - (patch_shape[1] - 1) / 2))
    x0, y0, x1, y1 = box
    out = np.clip(np.array([x0 + left, y0 + top, x1 + left, y1 + top], np.float32), 0, [w, h, w, h])
    return out if out[2] > out[0] and out[3] > out[1] else None


def render_field(rng: np.random.Generator, shape: tuple[int, int] = (480, 640), mpp: float = 0.16,
                 cell_types: list[str] = ("lymphocyte",), positions: list[tuple[float, float]] | None = None,
                 rbc_density: float = 0.45, n_platelets: int | None = None, stain: Stain | None = None,
                 difficulty: float = 0.5, out_of_focus_rate: float = 0.1, rbc_overlap_rate: float = 0.25,
                 blur_px: float = 0.7, noise: float = 0.012, vignetting: float = 0.12,
                 jpeg_quality: int | None = None, cell_overrides: list[dict] | None = None) -> Field:
    """Render one smear field.

    Parameters
    ----------
    rng : numpy Generator
    shape : (int, int)
        (H, W) in pixels.
    mpp : float
        Microns per pixel.
    cell_types : list of str
        White cells to place (types from :data:`.cells.CELL_TYPES`).
    positions : list of (y, x), optional
        Centres of the white cells; random non-overlapping positions when None.
    rbc_density : float
        Fraction of the field covered by red cells (≈ 0.3 thin area … 0.8 dense, overlapping).
    n_platelets : int, optional
        Default: about one per 12 red cells.
    stain : Stain, optional
        The slide's stain (default: the reference stain).
    difficulty : float
        Blast/normal morphological overlap in [0, 1].
    out_of_focus_rate : float
        Share of white cells drawn out of focus (defocus sigma 0.6–1.4 µm).
    rbc_overlap_rate : float
        Share of white cells that get a red cell overlapping their edge.
    blur_px, noise, vignetting, jpeg_quality
        Optics and camera, see :func:`.stain.finish`.
    cell_overrides : list of dict, optional
        Per white cell parameter overrides for :func:`.cells.draw_cell`.

    Returns
    -------
    Field
    """
    h, w = shape
    stain = stain or reference_stain()
    concentration = np.zeros((h, w, 3), np.float32)
    # plasma haze: faint eosin, uneven
    concentration[..., 1] += 0.02 + 0.01 * smooth_noise(rng, (h, w), 40.0, smooth=False)
    nucleus = np.zeros((h, w), bool)
    cytoplasm = np.zeros((h, w), bool)
    instances = np.zeros((h, w), np.int32)

    drawings: list[CellDrawing] = []
    for i, cell_type in enumerate(cell_types):
        overrides = (cell_overrides[i] if cell_overrides else None) or {}
        focus = rng.uniform(0.6, 1.4) if rng.uniform() < out_of_focus_rate else 0.0
        drawings.append(draw_cell(rng, cell_type, mpp, difficulty, focus_sigma_um=focus, **overrides))

    if positions is None:
        positions = []
        for d in drawings:
            radius = d.coverage.shape[0] / 2.5
            for _ in range(200):
                my, mx = min(radius * 0.6, h / 2), min(radius * 0.6, w / 2)   # small fields: allow cut cells
                cy, cx = rng.uniform(my, h - my), rng.uniform(mx, w - mx)
                if all((cy - py) ** 2 + (cx - px) ** 2 > (radius + pr) ** 2 for (py, px, pr) in positions):
                    break
            positions.append((cy, cx, radius))
        positions = [(py, px) for (py, px, _) in positions]
    if len(positions) != len(drawings):
        raise ValueError(f"render_field: {len(positions)} positions for {len(drawings)} cells")

    boxes, labels, centres = [], [], []
    wbc_radii = []
    for i, (d, (cy, cx)) in enumerate(zip(drawings, positions)):
        y0, x0, _, _ = _paste(concentration, d.concentration, cy, cx)
        label_patch = np.where(d.nucleus | d.cytoplasm, i + 1, 0).astype(np.int32)
        _paste(instances, label_patch, cy, cx, mode="label")
        _paste(nucleus, d.nucleus, cy, cx, mode="bool")
        _paste(cytoplasm, d.cytoplasm, cy, cx, mode="bool")
        top = int(round(cy - (d.nucleus.shape[0] - 1) / 2))
        left = int(round(cx - (d.nucleus.shape[1] - 1) / 2))
        box = _mask_box(d.nucleus | d.cytoplasm, (top, left))
        if box is not None:
            box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
        boxes.append(box)
        labels.append(d.cell_type)
        centres.append((cx, cy))
        wbc_radii.append(0.5 * d.parameters["diameter"] / mpp)
    cytoplasm &= ~nucleus

    # red cells: random sequential placement; they avoid white-cell centres, a few overlap edges
    rbc_area = np.pi * (3.75 / mpp) ** 2
    n_rbc = int(rng.poisson(rbc_density * h * w / rbc_area))
    overlapping = {i for i in range(len(drawings)) if rng.uniform() < rbc_overlap_rate}
    placed = 0
    for i in overlapping:   # one red cell over the edge of these white cells
        cy, cx = positions[i]
        a = rng.uniform(0, 2 * np.pi)
        dist = wbc_radii[i] + 0.35 * 3.75 / mpp
        conc, box = bank_red_cell(rng, mpp)
        ry, rx = cy + dist * np.sin(a), cx + dist * np.cos(a)
        y0, x0, _, _ = _paste(concentration, conc, ry, rx)
        box = _shift_box(box, conc.shape, ry, rx, w, h)
        if box is not None:
            boxes.append(box)
            labels.append("RBC")
        placed += 1
    for _ in range(max(n_rbc - placed, 0)):
        for _try in range(6):
            ry, rx = rng.uniform(-10, h + 10), rng.uniform(-10, w + 10)
            if all((ry - cy) ** 2 + (rx - cx) ** 2 > (r + 2.5 / mpp) ** 2
                   for (cy, cx), r in zip(positions, wbc_radii)):
                break
        else:
            continue
        conc, box = bank_red_cell(rng, mpp)
        _paste(concentration, conc, ry, rx)
        box = _shift_box(box, conc.shape, ry, rx, w, h)
        if box is not None and box[2] - box[0] >= 4 and box[3] - box[1] >= 4:
            boxes.append(box)
            labels.append("RBC")

    if n_platelets is None:
        n_platelets = int(rng.poisson(max(n_rbc, 1) / 12))
    for _ in range(n_platelets):
        py, px = rng.uniform(0, h), rng.uniform(0, w)
        conc, cov = draw_platelet(rng, mpp)
        _paste(concentration, conc, py, px)
        box = _mask_box(cov > 0.5, (int(round(py - (cov.shape[0] - 1) / 2)), int(round(px - (cov.shape[1] - 1) / 2))))
        if box is not None:
            box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
            if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                boxes.append(box)
                labels.append("Platelets")

    light = vignetting_light((h, w), vignetting) if vignetting > 0 else None
    rgb = to_rgb(concentration, stain, light)
    image = finish(rgb, rng, blur_px=blur_px, noise=noise, jpeg_quality=jpeg_quality)
    keep = [i for i, b in enumerate(boxes) if b is not None]
    box_array = np.stack([boxes[i] for i in keep]).astype(np.float32) if keep else np.zeros((0, 4), np.float32)
    return Field(image, nucleus, cytoplasm, instances, box_array, [labels[i] for i in keep],
                 np.array(centres, np.float32).reshape(-1, 2), list(cell_types),
                 info={"parameters": [d.parameters for d in drawings]})


def render_cell(rng: np.random.Generator, cell_type: str, size: int = 128, mpp: float | None = None,
                difficulty: float = 0.5, stain: Stain | None = None, background: str = "smear",
                rbc_density: float = 0.35, out_of_focus_rate: float = 0.1, rbc_overlap_rate: float = 0.25,
                jpeg_quality: int | None = None, **overrides: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One white cell centred in a ``size`` × ``size`` crop.

    Parameters
    ----------
    rng : numpy Generator
    cell_type : str
        See :data:`.cells.CELL_TYPES`.
    size : int
        Crop side in pixels.
    mpp : float, optional
        Microns per pixel; default ``18 / size`` (an 18 µm field: the largest cells fill the crop).
    difficulty : float
        Blast/normal overlap in [0, 1].
    stain : Stain, optional
    background : {"smear", "black"}
        ``smear``: red cells and plasma around the cell; ``black``: the cell alone on black
        (C-NMC style, everything outside the cell mask set to 0).
    overrides
        Morphological parameter means, see :data:`.cells.CELL_PARAMETERS`.

    Returns
    -------
    rgb : ndarray
        (size, size, 3) uint8.
    nucleus, cytoplasm : ndarray
        (size, size) bool.
    """
    if background not in ("smear", "black"):
        raise ValueError(f"render_cell: background must be 'smear' or 'black', got {background!r}")
    mpp = 18.0 / size if mpp is None else mpp
    black = background == "black"
    centre = (size - 1) / 2 + rng.normal(0, size * 0.02, size=2)
    f = render_field(rng, (size, size), mpp, [cell_type], positions=[tuple(centre)],
                     rbc_density=0.0 if black else rbc_density, n_platelets=0 if black else None,
                     stain=stain, difficulty=difficulty, out_of_focus_rate=out_of_focus_rate,
                     rbc_overlap_rate=0.0 if black else rbc_overlap_rate, vignetting=0.0 if black else 0.08,
                     jpeg_quality=jpeg_quality, cell_overrides=[overrides])
    image = f.image
    if black:
        image = np.where((f.nucleus | f.cytoplasm)[..., None], image, 0).astype(np.uint8)
    return image, f.nucleus, f.cytoplasm
