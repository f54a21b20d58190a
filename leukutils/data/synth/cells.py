"""Morphology of single blood cells, drawn as dye-concentration patches with exact masks.

Each cell type has a table of morphological parameters (size in µm, nucleus:cytoplasm ratio,
chromatin texture, nucleoli, contour irregularity, cytoplasm basophilia, granules, vacuoles), each a
(mean, sd) pair. :func:`draw_cell` samples one cell and returns a :class:`CellDrawing`: concentrations
of the three dyes of :mod:`.stain`, a soft coverage map and boolean nucleus and cytoplasm masks, all
on a square patch whose size follows from the cell's size and the microns-per-pixel scale.

Everything is vectorised over the patch (polar radius functions evaluated on a coordinate grid); no
per-pixel Python.

Morphology encoded (Wright/Giemsa, peripheral blood):

* ``lymphocyte`` 7–10 µm, round nucleus filling most of the cell, dense clumped chromatin, no
  nucleoli, thin rim of pale-blue cytoplasm.
* ``lymphoblast`` larger and variable, high N:C, fine open chromatin, 1–3 pale nucleoli, irregular
  contour (clefts, indentations, a protrusion); FAB subtypes ``blast_L1`` (small, homogeneous,
  inconspicuous nucleoli), ``blast_L2`` (large, heterogeneous, irregular, prominent nucleoli),
  ``blast_L3`` (large, homogeneous, deeply basophilic vacuolated cytoplasm).
* ``hematogone`` benign precursor: small, very high N:C, smooth condensed chromatin (blast mimic).
* ``neutrophil`` 2–5 lobes, lilac granular cytoplasm; ``monocyte`` folded nucleus, grey-blue vacuolated
  cytoplasm; ``eosinophil`` two lobes, orange granules; ``basophil`` dark granules over the nucleus.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .stain import defocus, smooth_noise

#: Mean and standard deviation of each morphological parameter, per cell type.
#: diameter (µm); nc (nucleus radius / cell radius); chromatin_scale (µm); chromatin_contrast;
#: chromatin_density (purple dye); clumping (0 smooth … 1 clumped); nucleoli (mean count);
#: nucleolus_visibility; irregularity (contour harmonics amplitude); cleft (probability of a cleft or
#: indentation); basophilia (azure dye in cytoplasm); vacuoles (mean count); offset (nucleus
#: eccentricity as a fraction of the cell radius).
CELL_PARAMETERS: dict[str, dict[str, tuple[float, float]]] = {
    "lymphocyte": dict(diameter=(8.6, 0.7), nc=(0.84, 0.04), chromatin_scale=(0.85, 0.12),
                       chromatin_contrast=(0.55, 0.07), chromatin_density=(1.45, 0.12), clumping=(0.9, 0.1),
                       nucleoli=(0.0, 0.0), nucleolus_visibility=(0.0, 0.0), irregularity=(0.025, 0.01),
                       cleft=(0.03, 0.0), basophilia=(0.42, 0.07), vacuoles=(0.0, 0.0), offset=(0.08, 0.04)),
    "hematogone": dict(diameter=(9.4, 0.9), nc=(0.89, 0.03), chromatin_scale=(0.55, 0.1),
                       chromatin_contrast=(0.32, 0.06), chromatin_density=(1.3, 0.12), clumping=(0.25, 0.1),
                       nucleoli=(0.15, 0.0), nucleolus_visibility=(0.2, 0.1), irregularity=(0.035, 0.012),
                       cleft=(0.08, 0.0), basophilia=(0.5, 0.08), vacuoles=(0.0, 0.0), offset=(0.06, 0.03)),
    "lymphoblast": dict(diameter=(11.8, 1.8), nc=(0.87, 0.04), chromatin_scale=(0.42, 0.08),
                        chromatin_contrast=(0.24, 0.06), chromatin_density=(1.05, 0.12), clumping=(0.1, 0.08),
                        nucleoli=(1.8, 0.0), nucleolus_visibility=(0.55, 0.15), irregularity=(0.06, 0.025),
                        cleft=(0.35, 0.0), basophilia=(0.6, 0.1), vacuoles=(0.2, 0.0), offset=(0.07, 0.04)),
    "blast_L1": dict(diameter=(10.2, 0.7), nc=(0.9, 0.03), chromatin_scale=(0.45, 0.06),
                     chromatin_contrast=(0.25, 0.04), chromatin_density=(1.15, 0.08), clumping=(0.15, 0.06),
                     nucleoli=(0.8, 0.0), nucleolus_visibility=(0.25, 0.08), irregularity=(0.03, 0.01),
                     cleft=(0.15, 0.0), basophilia=(0.6, 0.06), vacuoles=(0.1, 0.0), offset=(0.05, 0.03)),
    "blast_L2": dict(diameter=(14.0, 2.4), nc=(0.8, 0.06), chromatin_scale=(0.5, 0.12),
                     chromatin_contrast=(0.3, 0.08), chromatin_density=(1.0, 0.15), clumping=(0.2, 0.12),
                     nucleoli=(2.2, 0.0), nucleolus_visibility=(0.8, 0.12), irregularity=(0.1, 0.035),
                     cleft=(0.6, 0.0), basophilia=(0.55, 0.12), vacuoles=(0.3, 0.0), offset=(0.12, 0.06)),
    "blast_L3": dict(diameter=(14.0, 1.0), nc=(0.8, 0.03), chromatin_scale=(0.55, 0.06),
                     chromatin_contrast=(0.32, 0.05), chromatin_density=(1.1, 0.08), clumping=(0.3, 0.08),
                     nucleoli=(1.5, 0.0), nucleolus_visibility=(0.6, 0.1), irregularity=(0.03, 0.01),
                     cleft=(0.1, 0.0), basophilia=(1.25, 0.1), vacuoles=(7.0, 0.0), offset=(0.06, 0.03)),
    "neutrophil": dict(diameter=(12.0, 0.8), nc=(0.3, 0.03), chromatin_scale=(0.8, 0.1),
                       chromatin_contrast=(0.45, 0.06), chromatin_density=(1.55, 0.1), clumping=(0.8, 0.1),
                       nucleoli=(0.0, 0.0), nucleolus_visibility=(0.0, 0.0), irregularity=(0.02, 0.01),
                       cleft=(0.0, 0.0), basophilia=(0.1, 0.03), vacuoles=(0.0, 0.0), offset=(0.0, 0.0)),
    "monocyte": dict(diameter=(15.5, 1.5), nc=(0.66, 0.05), chromatin_scale=(0.7, 0.1),
                     chromatin_contrast=(0.35, 0.06), chromatin_density=(1.1, 0.1), clumping=(0.45, 0.1),
                     nucleoli=(0.0, 0.0), nucleolus_visibility=(0.0, 0.0), irregularity=(0.05, 0.015),
                     cleft=(1.0, 0.0), basophilia=(0.38, 0.06), vacuoles=(3.0, 0.0), offset=(0.15, 0.05)),
    "eosinophil": dict(diameter=(13.0, 0.9), nc=(0.32, 0.03), chromatin_scale=(0.8, 0.1),
                       chromatin_contrast=(0.45, 0.06), chromatin_density=(1.5, 0.1), clumping=(0.8, 0.1),
                       nucleoli=(0.0, 0.0), nucleolus_visibility=(0.0, 0.0), irregularity=(0.02, 0.01),
                       cleft=(0.0, 0.0), basophilia=(0.08, 0.02), vacuoles=(0.0, 0.0), offset=(0.0, 0.0)),
    "basophil": dict(diameter=(11.0, 0.8), nc=(0.6, 0.04), chromatin_scale=(0.8, 0.1),
                     chromatin_contrast=(0.35, 0.06), chromatin_density=(1.3, 0.1), clumping=(0.6, 0.1),
                     nucleoli=(0.0, 0.0), nucleolus_visibility=(0.0, 0.0), irregularity=(0.03, 0.01),
                     cleft=(0.3, 0.0), basophilia=(0.2, 0.04), vacuoles=(0.0, 0.0), offset=(0.05, 0.03)),
}

#: Cell types that are leukaemic blasts.
BLAST_TYPES = ("lymphoblast", "blast_L1", "blast_L2", "blast_L3")
#: Cell types of a healthy differential count (with their usual share in peripheral blood).
NORMAL_WBC_MIX = {"neutrophil": 0.55, "lymphocyte": 0.30, "monocyte": 0.07, "eosinophil": 0.05,
                  "basophil": 0.01, "hematogone": 0.02}
CELL_TYPES = tuple(CELL_PARAMETERS)

_GRANULES = {  # granule dye (azure, eosin, purple) per unit, granule size (µm), coverage, over nucleus
    "neutrophil": ((0.05, 0.12, 0.05), 0.25, 0.5, False),
    "eosinophil": ((0.0, 0.95, 0.08), 0.42, 0.6, False),
    "basophil": ((0.25, 0.15, 1.1), 0.7, 0.35, True),
}


@dataclass
class CellDrawing:
    """One drawn cell on its own square patch.

    Attributes
    ----------
    concentration : ndarray
        (h, w, 3) float32 dye concentrations (azure, eosin, purple).
    coverage : ndarray
        (h, w) float32 in [0, 1]: how much of each pixel the cell covers (soft edge).
    nucleus, cytoplasm : ndarray
        (h, w) bool masks (disjoint; their union is the cell).
    cell_type : str
    parameters : dict
        The sampled morphological parameters (diameter in µm etc.).
    """

    concentration: np.ndarray
    coverage: np.ndarray
    nucleus: np.ndarray
    cytoplasm: np.ndarray
    cell_type: str
    parameters: dict = field(default_factory=dict)


def sample_parameters(rng: np.random.Generator, cell_type: str, difficulty: float = 0.5,
                      **overrides: float) -> dict[str, float]:
    """Draw one cell's morphological parameters.

    ``difficulty`` in [0, 1] moves the means of blasts and of normal lymphoid cells towards each other
    (0: textbook-distinct; 1: blasts drawn halfway into the normal lymphocyte/hematogone range and
    vice versa), so that class overlap is a control. ``overrides`` replace means (e.g. ``diameter=9``).
    """
    if cell_type not in CELL_PARAMETERS:
        raise ValueError(f"unknown cell type {cell_type!r}; choose one of {', '.join(CELL_TYPES)}")
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    table = CELL_PARAMETERS[cell_type]
    if cell_type in BLAST_TYPES:
        partner, pull = CELL_PARAMETERS["hematogone"], 0.5 * difficulty
    elif cell_type in ("lymphocyte", "hematogone"):
        partner, pull = CELL_PARAMETERS["lymphoblast"], 0.3 * difficulty
    else:
        partner, pull = table, 0.0
    out = {}
    for name, (mean, sd) in table.items():
        if not (cell_type == "lymphocyte" and name in ("nucleoli", "nucleolus_visibility")):  # never nucleoli
            mean = (1 - pull) * mean + pull * partner[name][0]
        mean = overrides.get(name, mean)
        out[name] = float(mean + sd * rng.standard_normal()) if sd > 0 else float(mean)
    out["diameter"] = max(out["diameter"], 5.0)
    out["nc"] = float(np.clip(out["nc"], 0.2, 0.95))
    for name in ("chromatin_contrast", "clumping", "nucleolus_visibility", "irregularity", "basophilia"):
        out[name] = max(out[name], 0.0)
    return out


_ANGLES = np.linspace(-np.pi, np.pi, 1025, dtype=np.float32)


def _angle_index(theta):
    """Index of each angle of ``theta`` in the 1,024-bin table :data:`_ANGLES` (for radius functions)."""
    return ((theta + np.float32(np.pi)) * np.float32(1024 / (2 * np.pi)) + 0.5).astype(np.int32)


def _harmonics(rng, index, amplitude, orders=(2, 3, 4, 5)):
    """1 + Σ a_k cos(kθ + φ_k), a_k ~ N(0, amplitude / sqrt(k-1)), tabulated on 1,024 angles and
    looked up at ``index`` (from :func:`_angle_index`); returns (table, values)."""
    table = np.ones_like(_ANGLES)
    for k in orders:
        a = rng.normal(0.0, amplitude / np.sqrt(k - 1))
        table += np.float32(a) * np.cos(k * _ANGLES + np.float32(rng.uniform(0, 2 * np.pi)))
    return table, table[index]


def _bump(centre, width):
    """exp(-(Δθ/width)²) on the angle table, Δθ wrapped to (-π, π]."""
    delta = np.angle(np.exp(1j * (_ANGLES.astype(np.float64) - centre)))
    return np.exp(-(delta / width) ** 2).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _grid(side: int):
    """Centred coordinate grids of a ``side`` × ``side`` patch: yy, xx, r, angle index (read-only)."""
    half = (side - 1) / 2
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    yy -= half
    xx -= half
    r = np.sqrt(yy * yy + xx * xx)
    index = _angle_index(np.arctan2(yy, xx))
    for a in (yy, xx, r, index):
        a.setflags(write=False)
    return yy, xx, r, index


def _soft_inside(radius_field, r, edge_px=0.8):
    """Soft indicator of r < R(θ): 1 inside, 0 outside, linear ramp of ``edge_px`` pixels."""
    return np.clip((radius_field - r) / edge_px + 0.5, 0.0, 1.0).astype(np.float32)


def _disc(yy, xx, cy, cx, ry, rx, angle=0.0, edge_px=0.8):
    """Soft ellipse indicator on the centred grid (yy, xx), computed only in its bounding window."""
    out = np.zeros(yy.shape, np.float32)
    half = (yy.shape[0] - 1) / 2
    reach = max(rx, ry) + edge_px + 1
    y0, y1 = max(int(np.floor(cy + half - reach)), 0), min(int(np.ceil(cy + half + reach)) + 1, yy.shape[0])
    x0, x1 = max(int(np.floor(cx + half - reach)), 0), min(int(np.ceil(cx + half + reach)) + 1, yy.shape[1])
    if y1 <= y0 or x1 <= x0:
        return out
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    dy, dx = yy[y0:y1, x0:x1] - np.float32(cy), xx[y0:y1, x0:x1] - np.float32(cx)
    u, v = (dx * c + dy * s) / np.float32(rx), (dy * c - dx * s) / np.float32(ry)
    d = np.sqrt(u * u + v * v)
    out[y0:y1, x0:x1] = np.clip((1.0 - d) * np.float32(min(rx, ry) / edge_px) + 0.5, 0.0, 1.0)
    return out


def draw_cell(rng: np.random.Generator, cell_type: str, mpp: float = 0.14, difficulty: float = 0.5,
              focus_sigma_um: float = 0.0, **overrides: float) -> CellDrawing:
    """Draw one white cell of ``cell_type`` at ``mpp`` microns per pixel.

    Parameters
    ----------
    rng : numpy Generator
    cell_type : str
        One of :data:`CELL_TYPES`.
    mpp : float
        Microns per pixel.
    difficulty : float
        Blast/normal overlap, see :func:`sample_parameters`.
    focus_sigma_um : float
        Defocus blur (Gaussian sigma, µm) applied to the dye maps (masks stay sharp: ground truth).
    overrides
        Parameter means to replace (see :data:`CELL_PARAMETERS`).

    Returns
    -------
    CellDrawing
    """
    p = sample_parameters(rng, cell_type, difficulty, **overrides)
    radius = 0.5 * p["diameter"] / mpp                       # px
    side = int(np.ceil(2 * radius * 1.25)) + 6
    yy, xx, r, theta_index = _grid(side)

    cell_table, cell_radius = _harmonics(rng, theta_index, 0.5 * p["irregularity"] + 0.01)
    cell_radius = radius * cell_radius
    cell = _soft_inside(cell_radius, r)

    # nucleus ------------------------------------------------------------------------------------
    lobed = cell_type in ("neutrophil", "eosinophil")
    if lobed:
        n_lobes = int(rng.integers(2, 6)) if cell_type == "neutrophil" else 2
        arc = rng.uniform(0.9, 1.6) * (n_lobes - 1) / 2 + 0.6
        start = rng.uniform(0, 2 * np.pi)
        lobe_r = radius * rng.uniform(0.27, 0.33) * (1.0 if n_lobes > 2 else 1.15)
        path_r = radius * 0.42
        nucleus = np.zeros_like(r)
        centres = []
        for i in range(n_lobes):
            a = start + arc * (i / max(n_lobes - 1, 1) - 0.5) * 2
            cy, cx = path_r * np.sin(a), path_r * np.cos(a)
            centres.append((cy, cx))
            nucleus = np.maximum(nucleus, _disc(yy, xx, cy, cx, lobe_r * rng.uniform(0.85, 1.1),
                                                lobe_r * rng.uniform(0.85, 1.1), rng.uniform(0, np.pi)))
        for (y0, x0), (y1, x1) in zip(centres[:-1], centres[1:]):   # thin chromatin bridges
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0)) /
                        max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-6), 0, 1)
            d = np.sqrt((yy - y0 - t * (y1 - y0)) ** 2 + (xx - x0 - t * (x1 - x0)) ** 2)
            nucleus = np.maximum(nucleus, np.clip((0.12 * radius - d) / 0.8 + 0.5, 0, 1))
    else:
        angle = rng.uniform(0, 2 * np.pi)
        shift = p["offset"] * radius
        ny, nx = shift * np.sin(angle), shift * np.cos(angle)
        dy, dx = yy - np.float32(ny), xx - np.float32(nx)
        rn = np.sqrt(dy * dy + dx * dx)
        tn = _angle_index(np.arctan2(dy, dx))
        table, _ = _harmonics(rng, tn[:1, :1], p["irregularity"], orders=(2, 3, 4, 5, 6))
        if rng.uniform() < p["cleft"]:                       # cleft, fold or indentation
            if cell_type == "monocyte":
                depth, width = rng.uniform(0.3, 0.5), rng.uniform(0.5, 0.9)
            else:
                depth, width = rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.25)
            table = table * (1 - np.float32(depth) * _bump(rng.uniform(-np.pi, np.pi), width))
        if cell_type in BLAST_TYPES and rng.uniform() < 0.25:   # a small protrusion
            table = table * (1 + np.float32(0.12) * _bump(rng.uniform(-np.pi, np.pi), 0.2))
        nucleus = _soft_inside(np.float32(p["nc"] * radius) * table[tn], rn)
    nucleus = np.minimum(nucleus, _soft_inside(cell_radius * 0.96, r))

    # chromatin: smooth noise at the chromatin scale, clumped by a soft threshold --------------------
    # bounded texture in [-1, 1] (steeper, i.e. clumpier, with ``clumping``), applied multiplicatively so
    # that the palest chromatin stays stained
    texture = np.tanh(np.float32(0.6 + 2.0 * p["clumping"]) * smooth_noise(rng, (side, side), p["chromatin_scale"] / mpp))
    purple = np.float32(p["chromatin_density"]) * np.exp(np.float32(p["chromatin_contrast"]) * texture)
    azure_nucleus = np.zeros_like(r)
    n_nucleoli = int(rng.poisson(p["nucleoli"])) if p["nucleoli"] > 0 else 0
    if cell_type in BLAST_TYPES and p["nucleoli"] >= 1:
        n_nucleoli = int(np.clip(n_nucleoli, 1, 3))
    for _ in range(n_nucleoli):
        a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.45) * p["nc"] * radius
        size = rng.uniform(0.6, 1.3) / mpp
        spot = _disc(yy, xx, d * np.sin(a), d * np.cos(a), size * rng.uniform(0.8, 1.2), size,
                     rng.uniform(0, np.pi), edge_px=1.2)
        purple *= 1 - 0.65 * p["nucleolus_visibility"] * spot
        azure_nucleus += 0.25 * p["nucleolus_visibility"] * spot
    purple = np.clip(purple, 0, None) * nucleus

    # cytoplasm ----------------------------------------------------------------------------------------
    cyto_texture = smooth_noise(rng, (side, side), 1.5 / mpp, smooth=False)
    azure = p["basophilia"] * cell * (1 + 0.12 * cyto_texture) + azure_nucleus * nucleus
    eosin = 0.06 * cell
    if cell_type == "monocyte":
        eosin = 0.14 * cell
    if cell_type in _GRANULES:
        dye, size_um, coverage, over_nucleus = _GRANULES[cell_type]
        g = smooth_noise(rng, (side, side), size_um / mpp)
        threshold = np.quantile(g, 1 - coverage)
        granules = np.clip((g - threshold) * 2.0, 0, 1) * (cell if over_nucleus else cell * (1 - nucleus))
        azure = azure + dye[0] * granules
        eosin = eosin + dye[1] * granules
        purple = purple + dye[2] * granules
    n_vacuoles = int(rng.poisson(p["vacuoles"])) if p["vacuoles"] > 0 else 0
    if n_vacuoles:
        holes = np.zeros_like(r)
        for _ in range(n_vacuoles):
            a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.85) * radius
            size = rng.uniform(0.35, 0.8) / mpp
            holes = np.maximum(holes, _disc(yy, xx, d * np.sin(a), d * np.cos(a), size, size))
        keep = 1 - 0.75 * holes * cell
        azure, eosin, purple = azure * keep, eosin * keep, purple * keep

    concentration = np.stack([azure, eosin, purple], axis=-1).astype(np.float32)
    if focus_sigma_um > 0:
        concentration = defocus(concentration, focus_sigma_um / mpp)
        cell = defocus(cell, focus_sigma_um / mpp)
    nucleus_mask = nucleus > 0.5
    cell_mask = (cell > 0.5) | nucleus_mask
    p.update(n_nucleoli=n_nucleoli, n_vacuoles=n_vacuoles, mpp=mpp)
    return CellDrawing(concentration, cell.astype(np.float32), nucleus_mask, cell_mask & ~nucleus_mask,
                       cell_type, p)


def draw_red_cell(rng: np.random.Generator, mpp: float, diameter_um: float = 7.5) -> tuple[np.ndarray, np.ndarray]:
    """A red cell: a pink biconcave disc with central pallor.

    Returns ``(concentration (h, w, 3) float32, coverage (h, w) float32)`` on a square patch.
    """
    radius = 0.5 * diameter_um * np.exp(rng.normal(0, 0.06)) / mpp
    side = int(np.ceil(2 * radius * 1.1)) + 4
    yy, xx, _, _ = _grid(side)
    squash = np.float32(1.0 / rng.uniform(0.88, 1.0))
    angle = rng.uniform(0, np.pi)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u, v = xx * c + yy * s, (yy * c - xx * s) * squash
    r = np.sqrt(u * u + v * v)
    coverage = _soft_inside(np.float32(radius), r, edge_px=1.0)
    pallor = np.float32(rng.uniform(0.35, 0.6)) * np.exp(r * r * np.float32(-1.0 / (0.42 * radius) ** 2))
    density = np.float32(rng.uniform(0.5, 0.65)) * (1 - pallor) * coverage
    concentration = np.empty((side, side, 3), np.float32)
    concentration[..., 0] = 0.03 * coverage
    concentration[..., 1] = density
    concentration[..., 2] = 0.01 * coverage
    return concentration, coverage


@functools.lru_cache(maxsize=16)
def red_cell_bank(mpp: float, size: int = 24) -> tuple:
    """``size`` pre-drawn red cells at ``mpp`` (a fixed, seed-independent bank; read-only).

    Returns a tuple of ``(concentration, box)`` pairs, ``box`` the patch-relative ``x0, y0, x1, y1`` of
    the coverage > 0.5. Fields draw their red cells from this bank with a random orientation (one of 8
    flips/transposes) and density, which is much faster than drawing each from scratch.
    """
    rng = np.random.default_rng([20260101, int(round(mpp * 1e6))])
    bank = []
    for _ in range(size):
        concentration, coverage = draw_red_cell(rng, mpp)
        rows, cols = np.flatnonzero((coverage > 0.5).any(axis=1)), np.flatnonzero((coverage > 0.5).any(axis=0))
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        concentration.setflags(write=False)
        bank.append((concentration, box))
    return tuple(bank)


def bank_red_cell(rng: np.random.Generator, mpp: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A red cell from :func:`red_cell_bank`: random member, orientation and dye density (±12 %).

    Returns ``(concentration (h, w, 3) float32, box)`` with ``box`` patch-relative ``x0, y0, x1, y1``.
    """
    bank = red_cell_bank(round(float(mpp), 6))
    concentration, (x0, y0, x1, y1) = bank[int(rng.integers(len(bank)))]
    side = concentration.shape[0]
    k = int(rng.integers(8))
    if k & 1:
        concentration, (x0, x1) = concentration[:, ::-1], (side - x1, side - x0)
    if k & 2:
        concentration, (y0, y1) = concentration[::-1], (side - y1, side - y0)
    if k & 4:
        concentration, (x0, y0, x1, y1) = concentration.transpose(1, 0, 2), (y0, x0, y1, x1)
    return concentration * np.float32(rng.uniform(0.88, 1.12)), (x0, y0, x1, y1)


def draw_platelet(rng: np.random.Generator, mpp: float) -> tuple[np.ndarray, np.ndarray]:
    """A platelet: a small 2–3 µm purple granular fragment. Returns ``(concentration, coverage)``."""
    radius = 0.5 * rng.uniform(1.8, 3.0) / mpp
    side = int(np.ceil(2 * radius * 1.3)) + 4
    yy, xx, r, theta_index = _grid(side)
    coverage = _soft_inside(radius * _harmonics(rng, theta_index, 0.12, orders=(2, 3, 4))[1], r)
    grains = np.clip(smooth_noise(rng, (side, side), 0.4 / mpp), 0, None)
    concentration = np.stack([0.25 * coverage, 0.1 * coverage, (0.35 + 0.5 * grains) * coverage], axis=-1)
    return concentration.astype(np.float32), coverage
