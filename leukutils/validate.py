"""Checks of a notebook's list parameters, run in its first code cell so that a value it cannot use stops it
before any data is read or any model trained, with one error that names every such parameter and what it
needs (``leukutils reproduce -p NAME VALUE`` and papermill pass lists as given).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def list_problems(parameters: Mapping[str, Any], *, nonempty: Sequence[str] = (), ranges: Sequence[str] = (),
                  shapes: Sequence[str] = (), choices: Mapping[str, Collection[str]] | None = None,
                  keyed: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with a notebook's list parameters, one phrase per problem (empty when nothing is).

    Parameters
    ----------
    parameters : the notebook's parameters (``config.notebook_parameters``).
    nonempty : names of lists that need at least one value.
    ranges : names of ``[low, high]`` pairs (low ≤ high).
    shapes : names of ``[height, width]`` pairs of positive sizes (px).
    choices : name → the values its items may take (e.g. the known CAM methods).
    keyed : name of a list → name of a mapping that needs a key for each of its items
        (``{"extractors": "extractor_sizes"}``).
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
        unknown = [item for item in parameters[name] if item not in allowed]
        if unknown:
            problems.append(f"{name} names {', '.join(map(repr, unknown))}, which is none of {sorted(allowed)}")
    for name, mapping in (keyed or {}).items():
        missing = [item for item in parameters[name] if item not in parameters[mapping]]
        if missing:
            problems.append(f"{mapping} has no entry for {', '.join(map(repr, missing))} of {name} "
                            f"(add it, e.g. {{{missing[0]!r}: …}})")
    return problems


def check_list_parameters(parameters: Mapping[str, Any], **rules: Any) -> None:
    """Raise one ``ValueError`` naming every problem :func:`list_problems` finds (nothing when there is none)."""
    problems = list_problems(parameters, **rules)
    if problems:
        raise ValueError("; ".join(problems))


__all__ = ["list_problems", "check_list_parameters"]
