"""A notebook's parameters: its defaults, the profiles, ``-p`` values and the checks they all pass.

Every notebook has one cell tagged ``parameters`` holding the default profile's values as literals
(``epochs = 8``); :func:`notebook_defaults` reads them (``ast.literal_eval``, without running the
notebook). Every other *profile* (``real``, ``paper``; see ARCHITECTURE.md) is a papermill parameters
file per notebook, ``leukutils/profiles/<profile>/<notebook stem>.yaml``, holding the values that
differ (:func:`profile_parameters`); ``leukutils reproduce --profile real`` passes it as papermill's
``-f`` would, with the ``-p NAME VALUE`` values (:func:`parse_value`) on top
(:func:`injected_parameters`).

Whatever the way in (the runner, papermill alone, a hand-edited parameters cell), a value is checked
against its default's type and against the range :data:`RANGES` declares for its name
(:func:`check_values`): the runner checks before any kernel starts, and the notebook's first code
cell (:func:`notebook_parameters`) checks again, so that papermill alone stops there too, before any
data is read. The same cell runs the checks of list parameters that need the notebook's own vocabulary
(:func:`check_list_parameters`). A run whose values differ from the defaults writes under
``runs/<profile>-<stamp>/``, never over the committed ``figures/`` and ``tables/``.
"""
from __future__ import annotations

import ast
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import config

#: The parameters every notebook's parameters cell has, which the runner sets from its own options.
STANDARD_PARAMETERS = ("profile", "seed", "device", "data_dir", "output_dir")


class UnknownParameter(ValueError):
    """A parameter name (from ``-p`` or a profile file) that the notebook's parameters cell lacks."""


# --------------------------------------------------------------------------------------------------
# The parameters cell
# --------------------------------------------------------------------------------------------------
def notebook_file(notebook: str | os.PathLike) -> Path:
    """The file of ``notebook``: a path to an ``.ipynb`` as given, a stem (``"01_dual_cam"``) as
    ``notebooks/<stem>.ipynb`` (:data:`leukutils.config.NOTEBOOKS_DIR`).

    Parameters
    ----------
    notebook : a path ending in ``.ipynb``, or a notebook's stem.

    Returns
    -------
    Path of the notebook file (not checked for existence).
    """
    path = Path(notebook)
    return path if path.suffix == ".ipynb" else config.NOTEBOOKS_DIR / f"{path.name}.ipynb"


def parameters_cell(notebook: str | os.PathLike) -> str:
    """The source of the notebook's cell tagged ``parameters``.

    Parameters
    ----------
    notebook : a notebook path or stem (:func:`notebook_file`).

    Returns
    -------
    str, the cell's source. Raises ``ValueError`` when no cell has the tag.
    """
    path = notebook_file(notebook)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            return source if isinstance(source, str) else "".join(source)
    raise ValueError(f"{path.name} has no cell tagged 'parameters': tag the cell that holds its default values")


def notebook_defaults(notebook: str | os.PathLike) -> dict[str, Any]:
    """The default profile's values: the literals assigned in the notebook's parameters cell, in order.

    Parameters
    ----------
    notebook : a notebook path or stem (:func:`notebook_file`).

    Returns
    -------
    dict name → value (``ast.literal_eval`` of the assigned literal). A value that is not a literal
    raises ``ValueError`` naming the parameter.
    """
    path = notebook_file(notebook)
    defaults: dict[str, Any] = {}
    for node in ast.parse(parameters_cell(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        try:
            defaults[name] = ast.literal_eval(value)
        except ValueError:
            raise ValueError(f"{path.name}: parameter {name} = {ast.unparse(value)} is not a literal; the parameters "
                             "cell holds the default profile's values as literals (numbers, strings, lists, dicts, "
                             "None)") from None
    return defaults


# --------------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------------
def profiles() -> list[str]:
    """The profile names.

    Returns
    -------
    list of str: the default profile, then one per folder of parameter files under
    ``leukutils/profiles/`` (:data:`leukutils.config.PROFILE_DIR`), sorted.
    """
    folder = config.PROFILE_DIR
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")) if folder.is_dir() else []
    return [config.DEFAULT_PROFILE] + found


def check_profile(profile: str) -> str:
    """``profile`` when it exists.

    Parameters
    ----------
    profile : a profile name.

    Returns
    -------
    str, ``profile``; raises ``ValueError`` naming the profiles there are when it does not exist.
    """
    if profile not in profiles():
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(profiles())}")
    return profile


def profile_file(notebook: str | os.PathLike, profile: str) -> Path | None:
    """The papermill parameters file of ``notebook`` under ``profile``.

    Parameters
    ----------
    notebook : a notebook path or stem (``"01_dual_cam"``).
    profile : a profile name (checked with :func:`check_profile`).

    Returns
    -------
    Path ``leukutils/profiles/<profile>/<stem>.yaml``, or None for the default profile, whose values
    are the notebook's own parameters cell.
    """
    check_profile(profile)
    if profile == config.DEFAULT_PROFILE:
        return None
    return config.PROFILE_DIR / profile / f"{Path(notebook).stem}.yaml"


def profile_parameters(notebook: str | os.PathLike, profile: str) -> dict[str, Any]:
    """The values ``profile`` sets for ``notebook``, read from its parameters file.

    Parameters
    ----------
    notebook : a notebook path or stem.
    profile : a profile name.

    Returns
    -------
    dict name → value ({} for the default profile). A missing file raises ``FileNotFoundError`` naming
    the file to write; a file that is not a mapping raises ``ValueError``.
    """
    path = profile_file(notebook, profile)
    if path is None:
        return {}
    if not path.is_file():
        raise FileNotFoundError(f"profile {profile!r} has no parameters file for {Path(notebook).stem}: "
                                f"expected {path} (a YAML mapping of parameter names to values, {{}} for none)")
    with path.open() as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a parameters file must be a YAML mapping of names to values")
    return values


# --------------------------------------------------------------------------------------------------
# What the runner injects
# --------------------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value.

    Parameters
    ----------
    text : the value as typed.

    Returns
    -------
    The Python literal it parses as (``3``, ``0.1``, ``None``, ``[1, 2]``), else the string itself.
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def standard_parameters(profile: str, device: str = "auto", data_dir: str | os.PathLike | None = None,
                        output_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The :data:`STANDARD_PARAMETERS` as the runner passes them: only those that differ from the
    parameters cell's literals.

    Parameters
    ----------
    profile, device : the runner's ``--profile`` and ``--device``.
    data_dir : the runner's ``--data-dir`` (resolved to an absolute path), or None.
    output_dir : the run folder, or None for the committed default run.

    Returns
    -------
    dict holding ``profile``, ``device``, ``data_dir``, ``output_dir`` where they are not the defaults.
    """
    standard: dict[str, Any] = {}
    if profile != config.DEFAULT_PROFILE:
        standard["profile"] = profile
    if device != "auto":
        standard["device"] = device
    if data_dir:
        standard["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if output_dir:
        standard["output_dir"] = str(output_dir)
    return standard


def injected_parameters(notebook: str | os.PathLike, profile: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What papermill injects into ``notebook``: the profile's parameters file, then ``given`` on top,
    every name and value checked.

    Parameters
    ----------
    notebook : a notebook path or stem.
    profile : a profile name.
    given : values from ``-p`` and the runner's options (:func:`standard_parameters`).

    Returns
    -------
    dict name → value. Raises :class:`UnknownParameter` (naming the notebook and listing its
    parameters) when a name is not a parameter of the notebook, and ``ValueError`` (naming each value,
    what it must be and the profile file it came from) when a value fails :func:`check_values`.
    """
    path = notebook_file(notebook)
    from_profile = profile_parameters(path, profile)
    values = {**from_profile, **(given or {})}
    defaults = notebook_defaults(path)
    source = profile_file(path, profile)
    shown = (source.relative_to(config.ROOT) if source.is_relative_to(config.ROOT) else source) if source else None
    unknown = [name for name in values if name not in defaults]
    if unknown:
        where = f" (profile file {shown})" if any(name in from_profile for name in unknown) else ""
        raise UnknownParameter(f"{path.name} has no parameter {', '.join(map(repr, unknown))}{where}; "
                               f"its parameters are: {', '.join(defaults)}")
    problems = value_problems(values, defaults)
    if problems:
        raise ValueError(f"{path.name}: " + "; ".join(
            problem + (f" (set in profile file {shown})" if name in from_profile and name not in (given or {}) else "")
            for name, problem in problems.items()))
    return values


def overrides(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from the notebook's defaults (a run with any is not the committed run).

    Parameters
    ----------
    values : parameter values (all of a notebook's, or only those injected).
    defaults : the notebook's defaults (:func:`notebook_defaults`).

    Returns
    -------
    dict name → value of those in ``values`` that differ from their default (``1`` for a default of
    ``1.0`` does not; ``True`` for a default of ``1`` does), in the order of ``values``.
    """
    def same(value: Any, default: Any) -> bool:
        if _is_number(value) and _is_number(default):
            return value == default
        return type(value) is type(default) and value == default

    return {name: value for name, value in values.items() if name in defaults and not same(value, defaults[name])}


# --------------------------------------------------------------------------------------------------
# Types and ranges
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    """The numbers a parameter may take (each item, for a list or dict parameter).

    Attributes
    ----------
    low, high : bounds (None: unbounded); ``low`` is excluded when ``above`` is True.
    above : whether the value must be greater than ``low`` (positive: ``Range(0, above=True)``).
    also : values accepted besides the numbers (``"auto"``), whatever the default's type.
    integer : for a parameter whose default is one of ``also``: whether its numbers are integers.
    """

    low: float | None = None
    high: float | None = None
    above: bool = False
    also: tuple = ()
    integer: bool = False

    def holds(self, number: float) -> bool:
        """Whether ``number`` lies in the range (NaN never does)."""
        if number != number:  # NaN
            return False
        if self.low is not None and (number <= self.low if self.above else number < self.low):
            return False
        return self.high is None or number <= self.high

    def describe(self, integer: bool) -> str:
        """The range in words: ``"a positive integer"``, ``"a number in [0, 1]"``, ``"'auto' or an integer ≥ 0"``."""
        kind = "integer" if integer else "number"
        if self.low == 0 and self.above and self.high is None:
            words = f"a positive {kind}"
        elif self.low is not None and self.high is not None:
            words = f"a{'n' if integer else ''} {kind} in {'(' if self.above else '['}{self.low:g}, {self.high:g}]"
        elif self.low is not None:
            words = f"a{'n' if integer else ''} {kind} {'>' if self.above else '≥'} {self.low:g}"
        elif self.high is not None:
            words = f"a{'n' if integer else ''} {kind} ≤ {self.high:g}"
        else:
            words = f"a{'n' if integer else ''} {kind}"
        return " or ".join([*map(repr, self.also), words])


POSITIVE = Range(0, above=True)
AT_LEAST_ZERO = Range(0)
SHARE = Range(0, 1)
FOLDS = Range(2)

#: The range of each parameter of the notebooks that has one, by name (a name means the same in
#: every notebook that has it). For a list or a dict the range holds for each of its numbers. Zero is
#: allowed where a notebook reads it as "all" or "off" (``max_per_class = 0``, ``threads = 0``).
RANGES: dict[str, Range] = {
    # every notebook
    "seed": AT_LEAST_ZERO, "threads": AT_LEAST_ZERO,
    # 00_data
    "examples_per_class": POSITIVE, "side_by_side": POSITIVE, "realism_images": POSITIVE, "recovery_images": POSITIVE,
    "mark_images": AT_LEAST_ZERO, "cnmc_subjects": POSITIVE, "cnmc_cells": POSITIVE,
    # 01_dual_cam
    "max_per_class": AT_LEAST_ZERO, "train_per_class": AT_LEAST_ZERO, "model_image_size": POSITIVE,
    "model_batch_size": POSITIVE, "n_subjects": POSITIVE, "cells_per_subject": POSITIVE, "synthetic_size": POSITIVE,
    "synthetic_difficulty": SHARE, "resize": POSITIVE, "zoom": Range(0, 1, above=True), "image_size": POSITIVE,
    "epochs": POSITIVE, "batch_size": POSITIVE, "lr": POSITIVE, "cam_images": AT_LEAST_ZERO,
    "mr_ssim_images": AT_LEAST_ZERO, "score_batch_size": POSITIVE, "n_boot": POSITIVE, "colour_augment": AT_LEAST_ZERO,
    "cell_margin": AT_LEAST_ZERO,
    # 02_mil_pipeline
    "smear_shape": POSITIVE, "mpp": POSITIVE, "crop_size": POSITIVE, "detector_min_size": POSITIVE,
    "detector_max_size": POSITIVE, "detector_anchors": POSITIVE, "detector_images": POSITIVE,
    "detector_test_images": AT_LEAST_ZERO, "t2_partition_sizes": POSITIVE,
    "detector_epochs": POSITIVE, "detector_lr": POSITIVE, "detector_score": SHARE, "pool_patients": POSITIVE,
    "pool_smears": POSITIVE, "n_views": POSITIVE, "n_patients": POSITIVE, "smears_per_patient": POSITIVE,
    "cells_per_smear": POSITIVE, "blast_fraction": SHARE, "extractor_size": POSITIVE, "stage1_series": POSITIVE,
    "stage1_epochs": POSITIVE, "stage2_series": POSITIVE, "stage2_length": POSITIVE, "stage2_epochs": POSITIVE,
    "min_blast_fraction": SHARE,
    "weight_decay": AT_LEAST_ZERO, "partition_sizes": POSITIVE, "n_draws": POSITIVE, "ablation_seeds": AT_LEAST_ZERO,
    "extractor_sizes": POSITIVE, "t2_cells_per_patient": POSITIVE, "t2_pool_cells": AT_LEAST_ZERO,
    "t2_pool_views": POSITIVE, "series_lengths": POSITIVE, "length_series": POSITIVE, "length_epochs": POSITIVE,
    "order_shuffles": POSITIVE, "aria_per_class": AT_LEAST_ZERO, "aria_images_per_patient": POSITIVE,
    "aria_detector_size": POSITIVE,
    # 03_segmentation_attention
    "seg_n_images": POSITIVE, "bilateral_diameter": AT_LEAST_ZERO, "bilateral_sigma": POSITIVE,
    "closing_size": AT_LEAST_ZERO, "min_area": AT_LEAST_ZERO, "dilation": Range(0, also=("auto",), integer=True),
    "unet_lam": SHARE, "unet_delta": SHARE, "unet_gamma": AT_LEAST_ZERO, "unet_lr": POSITIVE, "unet_dropout": SHARE,
    "unet_weight_decay": AT_LEAST_ZERO, "unet_channels": POSITIVE, "unet_size": POSITIVE, "unet_epochs": POSITIVE,
    "unet_batch": POSITIVE, "seg_k": FOLDS, "class_n_per_class": AT_LEAST_ZERO, "class_size": POSITIVE,
    "class_epochs": POSITIVE, "class_batch": POSITIVE, "class_lr": POSITIVE, "class_weight_decay": AT_LEAST_ZERO,
    "class_k": FOLDS, "class_max_folds": POSITIVE, "test_fraction": SHARE,
    # 04_claims_tested
    "n_fields": POSITIVE, "field_shape": POSITIVE, "field_mpp": POSITIVE, "cells_per_field": POSITIVE,
    "cnn_widths": POSITIVE, "sanity_images": AT_LEAST_ZERO, "leak_subjects": POSITIVE, "leak_cells": POSITIVE,
    "leak_size": POSITIVE, "leak_stain_shift": AT_LEAST_ZERO, "leak_difficulty": SHARE, "leak_epochs": POSITIVE,
    "leak_seeds": AT_LEAST_ZERO, "cue_rate": SHARE, "min_nucleus_area": AT_LEAST_ZERO, "jtsc_size": POSITIVE,
    "jtsc_epochs": POSITIVE, "min_class_images": AT_LEAST_ZERO, "aria_size": POSITIVE, "aria_epochs": POSITIVE,
    "aria_cell_margin": AT_LEAST_ZERO, "lstm_series": POSITIVE, "lstm_epochs": POSITIVE,
    # 05_tour
    "mr_ssim_cells": POSITIVE, "explorer_cells": POSITIVE,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_problem(value: Any, default: Any) -> str | None:
    """What is wrong with the type of ``value`` for a parameter whose default is ``default``.

    An int default takes an int (a bool is not one here), a float default an int or a float, a bool
    default a bool, a str, list or dict default one of its own type; a None default takes anything.

    Parameters
    ----------
    value : the value given.
    default : the parameter's default (:func:`notebook_defaults`).

    Returns
    -------
    str such as ``"must be an integer (its default is 4)"``, or None when the type fits.
    """
    if default is None:
        return None
    if isinstance(default, bool):
        fits, words = isinstance(value, bool), "True or False"
    elif isinstance(default, int):
        fits, words = _is_integer(value), "an integer"
    elif isinstance(default, float):
        fits, words = _is_number(value), "a number"
    elif isinstance(default, str):
        fits, words = isinstance(value, str), "a string"
    elif isinstance(default, list):
        fits, words = isinstance(value, list), "a list"
    elif isinstance(default, dict):
        fits, words = isinstance(value, dict), "a dict"
    else:  # a default of another type (a tuple): not checked
        return None
    return None if fits else f"must be {words} (its default is {default!r})"


def value_problem(name: str, value: Any, default: Any) -> str | None:
    """What is wrong with ``value`` for the parameter ``name`` whose default is ``default``: its type
    (:func:`type_problem`), then its range (:data:`RANGES`), for a number or each number of a list or dict.

    Parameters
    ----------
    name : the parameter's name.
    value : the value given.
    default : the parameter's default.

    Returns
    -------
    str naming the parameter, the value and what it must be (``"epochs = -1: must be a positive
    integer"``), or None when the value is fine.
    """
    rule = RANGES.get(name)
    shown = f"{name} = {value!r}"
    if rule is not None and any(type(value) is type(also) and value == also for also in rule.also):
        return None
    if rule is not None and any(type(default) is type(also) and default == also for also in rule.also):
        integer = rule.integer
        fits = (_is_integer(value) if integer else _is_number(value)) and rule.holds(value)
        return None if fits else f"{shown}: must be {rule.describe(integer)} (its default is {default!r})"
    problem = type_problem(value, default)
    if problem:
        return f"{shown}: {problem}"
    if rule is None or default is None:
        return None
    if _is_number(default):
        integer = _is_integer(default)
        return None if rule.holds(value) else f"{shown}: must be {rule.describe(integer)}"
    items = list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, list) else []
    known = list(default.values()) if isinstance(default, dict) else list(default) if isinstance(default, list) else []
    integer = bool(known) and all(_is_integer(item) for item in known)
    if all((_is_integer(item) if integer else _is_number(item)) and rule.holds(item) for item in items):
        return None
    return f"{shown}: each {'value' if isinstance(default, dict) else 'item'} must be {rule.describe(integer)}"


def value_problems(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, str]:
    """:func:`value_problem` of every value whose name has a default.

    Parameters
    ----------
    values : parameter values.
    defaults : the notebook's defaults (:func:`notebook_defaults`); names without one are left out.

    Returns
    -------
    dict name → problem, for the values that have one (empty when every value is fine).
    """
    problems = {name: value_problem(name, value, defaults[name]) for name, value in values.items() if name in defaults}
    return {name: problem for name, problem in problems.items() if problem}


def check_values(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Raise one ``ValueError`` naming every value that fails :func:`value_problem` (nothing when none does).

    Parameters
    ----------
    values : parameter values.
    defaults : the notebook's defaults.
    """
    problems = value_problems(values, defaults)
    if problems:
        raise ValueError("; ".join(problems.values()))


# --------------------------------------------------------------------------------------------------
# List parameters a notebook checks with its own vocabulary
# --------------------------------------------------------------------------------------------------
def list_problems(parameters: Mapping[str, Any], *, nonempty: Sequence[str] = (), ranges: Sequence[str] = (),
                  shapes: Sequence[str] = (), choices: Mapping[str, Collection[str]] | None = None,
                  keyed: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with a notebook's list parameters, one phrase per problem.

    Parameters
    ----------
    parameters : the notebook's parameters (:func:`notebook_parameters`).
    nonempty : names of lists that need at least one value.
    ranges : names of ``[low, high]`` pairs (low ≤ high).
    shapes : names of ``[height, width]`` pairs of positive sizes (px).
    choices : name → the values its items (or, for a string, itself) may take (e.g. the known CAM methods).
    keyed : name of a list → name of a mapping that needs a key for each of its items
        (``{"extractors": "extractor_sizes"}``).

    Returns
    -------
    list of str, empty when nothing is wrong.
    """
    problems = [f"{name} is empty: give at least one value" for name in nonempty if len(parameters[name]) == 0]
    for name in ranges:
        value = parameters[name]
        if len(value) != 2 or value[0] > value[1]:
            problems.append(f"{name} = {value} is not a [low, high] pair")
    for name in shapes:
        value = parameters[name]
        if len(value) != 2 or min(value) <= 0:
            problems.append(f"{name} = {value} is not [height, width] in px")
    for name, allowed in (choices or {}).items():
        value = parameters[name]
        unknown = [item for item in ([value] if isinstance(value, str) else value) if item not in allowed]
        if unknown:
            problems.append(f"{name} names {', '.join(map(repr, unknown))}, which is none of {sorted(allowed)}")
    for name, mapping in (keyed or {}).items():
        missing = [item for item in parameters[name] if item not in parameters[mapping]]
        if missing:
            problems.append(f"{mapping} has no entry for {', '.join(map(repr, missing))} of {name} "
                            f"(add it, e.g. {{{missing[0]!r}: …}})")
    return problems


def check_list_parameters(parameters: Mapping[str, Any], **rules: Any) -> None:
    """Raise one ``ValueError`` naming every problem :func:`list_problems` finds (nothing when there is none).

    Parameters
    ----------
    parameters : the notebook's parameters.
    **rules : ``nonempty``, ``ranges``, ``shapes``, ``choices``, ``keyed`` as in :func:`list_problems`.
    """
    problems = list_problems(parameters, **rules)
    if problems:
        raise ValueError("; ".join(problems))


# --------------------------------------------------------------------------------------------------
# In the notebook
# --------------------------------------------------------------------------------------------------
def notebook_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a notebook's parameters, checked, read from its namespace after the parameters cell
    (and papermill's injected one) ran: ``parameters = notebook_parameters("01_dual_cam", globals())``.

    The names and defaults are those of the parameters cell of ``notebooks/<notebook>.ipynb``. When a
    value differs from its default and neither ``output_dir`` nor ``$LEUKUTILS_OUTPUT_DIR`` says where
    to write (papermill alone, ``-p seed 1``), ``output_dir`` becomes a new ``runs/<profile>-<stamp>/``,
    said in a printed line, so that only the default run writes the committed figures and tables.

    Parameters
    ----------
    notebook : the notebook's stem (``"01_dual_cam"``) or path.
    namespace : the notebook's ``globals()``.

    Returns
    -------
    dict name → value, what a model card or a run key records. Raises ``NameError`` when a parameter
    is not defined, ``ValueError`` (naming every bad value and what it must be) when a value fails
    :func:`check_values`.
    """
    defaults = notebook_defaults(notebook)
    missing = [name for name in defaults if name not in namespace]
    if missing:
        raise NameError(f"{Path(notebook).stem}: parameters {missing} are not defined; run the parameters cell first")
    values = {name: namespace[name] for name in defaults}
    check_values(values, defaults)
    changed = overrides(values, defaults)
    if changed and "output_dir" in values and not values["output_dir"] and not os.environ.get(config.OUTPUT_ENV):
        folder = config.run_folder(values.get("profile") or config.DEFAULT_PROFILE)
        values["output_dir"] = str(folder)
        shown = folder.relative_to(config.ROOT) if folder.is_relative_to(config.ROOT) else folder
        print(f"{', '.join(changed)} differ{'s' if len(changed) == 1 else ''} from the notebook's defaults: this run "
              f"writes under {shown}/ (the committed figures/ and tables/ are left as they are)")
    return values


__all__ = ["STANDARD_PARAMETERS", "RANGES", "Range", "UnknownParameter", "notebook_file", "parameters_cell",
           "notebook_defaults", "profiles", "check_profile", "profile_file", "profile_parameters", "parse_value",
           "standard_parameters", "injected_parameters", "overrides", "type_problem", "value_problem",
           "value_problems", "check_values", "list_problems", "check_list_parameters", "notebook_parameters"]
