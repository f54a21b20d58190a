"""Procedural, seeded Wright/Giemsa blood-smear images with exact ground truth.

Writers (each returns the root folder of a dataset in the real layout, cached under
``config.cache_dir()/synth/``; read it with the matching function of :mod:`leukutils.data.readers`):

``cnmc``, ``all_idb1``, ``all_idb2``, ``bccd``, ``segmentation_wbc``, ``class_folders``, ``fab``,
``patients``.

Drawing: :func:`render_cell` (one cell on a crop, with masks), :func:`render_field` (a smear field),
:func:`draw_cell` (one cell's dye maps), :mod:`.stain` (colour, stain presets and optics), :mod:`.cues`
(shortcut cues), :mod:`.realism` (colour statistics and Otsu nucleus recovery against real sets).

Any change to the drawing changes the synthetic pixels, hence the checked outputs of every notebook's
default (synthetic) run: re-execute the notebooks after such a change (the cache is keyed by the source, so it
regenerates by itself).
"""
from .cells import BLAST_TYPES, CELL_PARAMETERS, CELL_TYPES, NORMAL_WBC_MIX, draw_cell, sample_parameters
from .cues import CUE_KINDS, apply_cue
from .smear import Field, render_cell, render_field
from .stain import Stain, random_stain, reference_stain
from .writers import (GENERATOR_VERSION, all_idb1, all_idb2, bccd, cached_dataset, class_folders, cnmc, fab,
                      patients, prune_cache, segmentation_wbc)

__all__ = ["BLAST_TYPES", "CELL_PARAMETERS", "CELL_TYPES", "CUE_KINDS", "Field", "GENERATOR_VERSION",
           "NORMAL_WBC_MIX", "Stain", "all_idb1", "all_idb2", "apply_cue", "bccd", "cached_dataset",
           "class_folders", "cnmc", "draw_cell", "fab", "patients", "prune_cache", "random_stain", "reference_stain",
           "render_cell", "render_field", "sample_parameters", "segmentation_wbc"]
