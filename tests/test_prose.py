"""Every sentence of a notebook's markdown true for the run it describes, under every profile.

A profile file (``leukutils/profiles/<profile>/<notebook>.yaml``) changes a notebook's parameters; the
executed copy of the notebook keeps its markdown. A sentence that types a value a profile changes
("one epoch", "80-px inputs", "the centred 0.6 zoom", "the `real` profile trains all six") is false in the
runs of the other profiles. This check finds such sentences without starting a kernel.

How it looks
------------
For every numbered notebook it reads each profile's values (the parameters cell's literals for the default
profile, :func:`leukutils.parameters.profile_parameters` on top for the others). A parameter whose value
differs between the default and some profile *varies*. Each profile's value of a varying parameter is
rendered the ways prose writes it (:func:`renderings`: ``80`` as "80 px", "80-px", "80 ×"; ``1`` epoch as
"one epoch" or "a single epoch"; ``0.005`` as "5e-3" or "0.005"; ``0.25`` as "25 %"; a list as "8/16/32",
"8…128" and its length, "all six"; a list's items or a string by their names, "InceptionV3", "Aria",
"random weights"), each only in a context that ties it to the parameter: a unit after the value or a
keyword before it, from :data:`KINDS` (a table of parameter kinds by name) and the parameter's own name
("zoom 0.6", "`zoom` = 0.6", "0.6 zoom"). Names (strings, list items) count only within five words after a
verb of running (:data:`RUN_VERBS`: "trains on the synthetic twin", "start from random weights") or, for
list items, within four words of a keyword of the list (:data:`LIST_WORDS`: "*models*: …, InceptionV3",
"ResNet50 and VGG19 are left out"). The markdown cells are cut into sentences (a list item or heading is
one, :func:`sentences`); a sentence that holds the rendering of one profile's value is false under every
profile whose value is not rendered so: one :class:`Hit` per sentence, parameter and such profile. Where
two parameters share a value ("64 px" of ``crop_size`` and ``extractor_size``) the sentence is reported
under both: the check cannot tell which one the prose means, and either way the sentence needs rewording.

Besides the parameters' own values (:data:`DERIVED`): counts that follow from them ("75 test images",
"1,600 synthetic cells") and CAM grid sizes ("2×2 and 3×3 maps") in a notebook with a varying count or
size; in a "What this run shows" section, any typed number (its facts must come from printed output); and
a sentence that names a profile beside a code span ``name = value`` whose value is not that profile's.

Not counted: a value the sentence gives as the paper's (:func:`the_papers`: "paper" among the eight words
before it, as in "the paper's 50 epochs", or "… in the paper" right after), a condition on the parameter
(:func:`conditions`: "with `dataset="cnmc"`", "under `data="real"`"; :func:`named_condition`: "where
`models` holds it": true whatever the profile), a code span ``name = value`` tied to a named profile
(checked against that profile instead, :func:`profile_claims`), profile names ("the `real` profile") and
code spans naming the parameter alone ("at `image_size` px"). Defaults are no exemption: "one epoch by
default" is a value that the `real` profile changes, and the executed copy of its run would state it. :data:`DATA_FACTS` lists, by notebook,
the few sentences whose number is a fixed fact of a dataset that a unit ties to a parameter by chance.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from leukutils import config, parameters

from conftest import write_toy_notebook

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))

#: How prose writes a value of each kind of parameter, by the first pattern that its name matches:
#: ``units`` may follow the value ("80 px"; for ``gap`` > 0, after up to that many words: "100 synthetic
#: FAB fields"), ``keywords`` may precede it, with at most two little words between ("batch of 16",
#: "learning rate 1e-3", "warm-up to 5e-3"). Every parameter's name is a keyword and a unit too.
KINDS: list[tuple[str, dict[str, Any]]] = [
    (r"epochs$", dict(units=[r"epochs?\b", r"-epoch"])),
    (r"batch", dict(units=[r"images per (?:forward )?pass", r"per batch"], keywords=[r"batch(?:es)?(?: size)?"])),
    (r"(?:^|_)lr$", dict(units=[r"learning rate"], keywords=[r"learning rates?", r"lr", r"rates?", r"to", r"at", r"from"])),
    (r"weight_decay", dict(keywords=[r"decay", r"L2 penalty", r"penalty"])),
    (r"channels|widths", dict(units=[r"channels?", r"filters?"])),
    (r"size|shape|anchors", dict(units=[r"px\b", r"pixels?\b", r"×", r"x\d"], keywords=[r"resized? to", r"resizes to", r"inputs? of", r"×"])),
    (r"(?:^|_)k$|folds", dict(units=[r"folds?\b", r"-fold\b"], keywords=[r"K ="])),
    (r"threads", dict(units=[r"(?:CPU )?threads?\b"])),
    (r"seeds", dict(units=[r"(?:model )?seeds?\b"], gap=1)),
    (r"fraction|rate|share", dict(units=[r"%", r"test\b", r"held.out"], keywords=[r"test"])),
    (r"images|cells|fields|subjects|series|views|draws|per_class|per_patient|n_boot|patients|smears",
     dict(units=[], keywords=[r"first"], gap=2)),  # units: COUNTED, by the noun of the name
    (r"models$", dict(units=[r"models?\b", r"CNNs?\b", r"networks?\b", r"architectures?\b"], keywords=[r"all"], gap=1)),
    (r"extractors$", dict(units=[r"extractors?\b", r"backbones?\b"], keywords=[r"all"], gap=1)),
    (r"sets$", dict(units=[r"sets?\b", r"halves\b"], keywords=[r"all"], gap=1)),
    (r"methods$", dict(units=[r"methods?\b", r"CAMs?\b"], keywords=[r"all"], gap=1)),
]
#: The units of a count, by a word of its parameter's name (``n_subjects``: "20 subjects"; ``cam_images``:
#: "the first 7 test images"; ``aria_per_class``: "120 images per class").
COUNTED = {
    "images": [r"images?\b", r"fields?\b", r"cells?\b"], "cells": [r"cells?\b"], "fields": [r"fields?\b"],
    "subjects": [r"subjects?\b"], "patients": [r"patients?\b"], "smears": [r"smears?\b"], "series": [r"series\b"],
    "views": [r"views?\b"], "draws": [r"draws?\b", r"partitions?\b"], "boot": [r"resamples?\b", r"bootstrap\b"],
    "class": [r"per class\b", r"images?\b", r"fields?\b"], "patient": [r"per patient\b", r"cells?\b"],
    "subject": [r"per subject\b", r"cells?\b"],
}
#: Little words that are no adjective of a counted noun ("0 if every image" is no count of images).
FILLER = r"(?:if|of|the|a|an|for|per|and|or|to|in|on|at|with|by|every|each|all|is|are|was|were|than|as|its|their)"

#: Verbs that tie a name (a dataset, a weight source, a list item) to the run: "trains on the Aria set".
RUN_VERBS = (r"runs?|ran|running|trains?|trained|uses?|used|using|reads?|diagnoses|scored|scores|computed|"
             r"tests?|tested|starts?|started|encodes?|explained|explains|left out|skipped")
#: Keywords that tie a list item to its list ("*models*: DenseNet121, …", "… are left out", "not trained").
LIST_WORDS = r"models?|CNNs|networks|extractors|sets|halves|methods|left out|not trained|are trained|trains?|trained"
#: Prose names of string values and list items, besides the value itself.
ALIASES = {
    "aria": ["Aria"], "cnmc": ["C-NMC"], "jtsc": ["JTSC"], "imagenet": ["ImageNet weights", "ImageNet"],
    "none": ["random weights", "random initial weights", "randomly initialised", "random initialisation"],
    "small": ["light Faster R-CNN", "light model", "light detector"], "fasterrcnn_resnet50_fpn": ["ResNet50-FPN", "ResNet-50-FPN"],
    "pool": ["pooled"], "head": ["fc7"], "plateau": ["ReduceLROnPlateau", "plateau"],
    "densenet121": ["DenseNet121", "DenseNet"], "standard_cnn": ["Standard_CNN", "Standard CNN"],
    "inception_v3": ["InceptionV3", "Inception V3", "Inception"], "mobilenet_v2": ["MobileNetV2", "MobileNet"],
    "resnet50": ["ResNet50", "ResNet-50"], "vgg19": ["VGG19"], "vgg16": ["VGG16"], "alexnet": ["AlexNet"],
    "vit_b_16": ["ViT-B/16"], "fast_scorecam": ["Score-CAM"], "gradcam": ["Grad-CAM"],
}
#: String values too common as words to count bare ("the cell pool"): only their aliases count.
COMMON_WORDS = {"pool", "head", "small", "none"}
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

#: Facts that follow from the parameters without being one: counts of the run's data and CAM grids.
DERIVED = {
    "(derived: data size)": re.compile(r"(?<![\w.,])\d[\d,]*(?:\s+[^\W\d]+){0,2}?\s+(?:test|held-out|training|validation|"
                                       r"synthetic|real)\s+(?:images?|cells?|fields?|patients?|smears?)\b", re.I),
    "(derived: CAM grid)": re.compile(r"(?<![\w.,×])(\d{1,2})\s*×\s*\1(?![\w.,])"),
}
#: A number as prose writes it, for a "What this run shows" section (ids, notebook and paper numbers aside).
NUMBER = re.compile(r"(?<![\w.,/-])\d[\d,]*(?:\.\d+)?(?![\w-])")
NOT_A_FACT = re.compile(r"`[^`]*`|\b[PDX]\d?-[A-Z]+\d*\b|\b[Nn]otebook \d+|\b[Pp]apers? \d|\b95 %|\bTable [A-Z]?\d+|"
                        r"\bAlgorithm \d|\b\d+ (?:CPU )?cores?\b|\b[Ss]tages? \d|\blength-\d")

#: Sentences whose number is a fixed fact of a dataset that a unit ties to a parameter by chance, by
#: notebook: a fragment of each (keep this short, and give the reason beside each).
DATA_FACTS: dict[str, list[str]] = {
    "02_mil_pipeline": ["Aria fields (224 px"],  # the size of Aria's images, which crop_size and extractor_size are not
}

CONDITION = r"(?:[Ww]ith|[Ww]hen|[Ii]f|[Uu]nder|[Ww]here|[Ww]hereas|[Ww]ithout|[Ff]or|[Uu]nless)"
NOT_THE_PAPER = {"our", "we", "here", "this", "instead", "against", "vs", "versus", "but", "while", "whereas", "than",
                 "not", "unlike", "run"}


@dataclass(frozen=True)
class Hit:
    """A sentence that is false under ``profile``: it states ``stated`` of ``parameter``."""

    notebook: str
    cell: int
    sentence: str
    parameter: str
    profile: str
    stated: str

    def __str__(self) -> str:
        return f"{self.notebook}, cell {self.cell}: {self.parameter} ({self.stated!r}) false under {self.profile}: {self.sentence}"


# ------------------------------------------------------------------------------------------- sentences


ABBREVIATIONS = re.compile(r"(?:e\.g|i\.e|et al|cf|Fig|vs|approx|resp)\.$")


def sentences(markdown: str, heading: str = "") -> list[tuple[str, str]]:
    """``(heading, sentence)`` of a markdown cell: each heading, list item and paragraph cut into sentences
    (not after "e.g.", "i.e.", "et al."), whitespace collapsed; ``heading`` is the last heading above
    (the one given for the sentences before the cell's first)."""
    blocks, out = [], []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            blocks.append((stripped.lstrip("#").strip(), stripped))
        elif not stripped:
            blocks.append(None)
        elif re.match(r"([-*+]|\d+\.)\s", stripped) or not blocks or blocks[-1] is None or blocks[-1][1].startswith("#"):
            blocks.append((None, stripped))
        else:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + " " + stripped)
    for block in blocks:
        if block is None:
            continue
        title, text = block
        if title is not None:
            heading = title
        pieces, current = re.split(r"(?<=[.!?])\s+(?=[A-Z*`(\"'_])", text), ""
        for piece in pieces:
            current = f"{current} {piece}".strip()
            if not ABBREVIATIONS.search(current):
                out.append((heading, current))
                current = ""
        if current:
            out.append((heading, current))
    return out


# ------------------------------------------------------------------------------------------- renderings


def _number_forms(value: Any, percent: bool = False) -> list[str]:
    """Regexes of a number as prose writes it: digits (with thousands commas), a word for 1–12, "a single"
    for 1, ``5e-3`` / ``5 × 10⁻³`` for small floats, ``25 %`` for a share."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return []
    forms = set()
    if isinstance(value, float) and not value.is_integer():
        forms |= {repr(value), f"{value:g}", f"{value:.2f}".rstrip("0")}
        mantissa, exponent = f"{value:e}".split("e")
        mantissa, exponent = f"{float(mantissa):g}", int(exponent)
        if exponent < 0:
            forms |= {f"{mantissa}e{exponent}", f"{mantissa}e-0{-exponent}", f"{mantissa}.0e{exponent}",
                      f"{mantissa} × 10{str(exponent).translate(SUPERSCRIPT)}", f"{mantissa}·10{str(exponent).translate(SUPERSCRIPT)}"}
            if mantissa == "1":
                forms.add(f"10{str(exponent).translate(SUPERSCRIPT)}")
        if percent and 0 < value < 1:
            forms |= {f"{100 * value:g} %", f"{100 * value:g}%"}
        patterns = [re.escape(f) for f in forms]
    else:
        number = int(value)
        forms = {str(number), f"{number:,}"} | ({f"{float(number):.1f}"} if isinstance(value, float) else set())
        patterns = [re.escape(f) for f in forms]
        if 0 <= number < len(WORDS):
            patterns.append(WORDS[number])
        if number == 1:
            patterns.append(r"(?:a )?single(?!-)")
    return [rf"(?<![\w.,/–…-])(?:{p})(?![\w]|[.,/–…]\d)" for p in patterns]


def _names(value: str) -> list[str]:
    """Regexes of a string value or list item: the value and its :data:`ALIASES`, as whole words."""
    words = {*([] if value in COMMON_WORDS or not value.strip() else [value]), *ALIASES.get(value, [])}  # "" names nothing
    return [rf"(?<![\w-])(?:{re.escape(w)})(?![\w])" for w in sorted(words, key=len, reverse=True)]


def _kind(name: str) -> dict[str, Any]:
    """The :data:`KINDS` entry of a parameter, with its own name added as keyword and unit."""
    kind = next((dict(k) for pattern, k in KINDS if re.search(pattern, name)), {})
    if "units" in kind and not kind["units"]:
        kind["units"] = [u for word, units in COUNTED.items() if re.search(rf"{word}$|{word}_", name) for u in units]
    spoken = [re.escape(name), re.escape(name.replace("_", " "))]
    last = name.split("_")[-1]
    if len(last) > 3 and not re.search(r"images|cells|fields|subjects|series|views|draws|class|patient|boot|epochs|size|seeds|"
                                       r"models|extractors|sets|methods", last):
        spoken.append(re.escape(last))
    kind["keywords"] = [*kind.get("keywords", []), *spoken]
    kind["units"] = [*kind.get("units", []), *spoken]
    kind.setdefault("gap", 0)
    return kind


def _tied(sentence: str, start: int, end: int, kind: dict[str, Any]) -> bool:
    """Whether the value at ``sentence[start:end]`` has a unit of ``kind`` after it or a keyword before it."""
    units, keywords, gap = "|".join(kind["units"]), "|".join(kind["keywords"]), kind["gap"]
    if re.match(rf"[\s\u00a0`\"')*-]*(?:(?!{FILLER}\b)[^\W\d]+[\s-]+){{0,{gap}}}?(?:{units})", sentence[end:], re.I):
        return True
    return bool(re.search(rf"(?<![\w-])(?:{keywords})[\s`=:\"'*(]*(?:(?:of|to|at|is|are|a|an|the|with|by|about)\s+){{0,2}}$",
                          sentence[:start], re.I))


def renderings(name: str, value: Any) -> list[tuple[str, str]]:
    """``(regex, how)`` of how prose writes ``value`` of parameter ``name``; ``how`` says what ties a match
    to the parameter: ``"kind"`` (a unit or keyword of :func:`_kind`), ``"verb"`` (a run verb shortly
    before), ``"list"`` (a list keyword close by), ``"free"`` (distinctive on its own: "8/16/32")."""
    if isinstance(value, bool):
        spoken = re.escape(name.replace("_", " "))
        word = "True|on|enabled" if value else "False|off|disabled|skipped"
        return [(rf"`?{re.escape(name)}`?\s*(?:=|is)\s*`?(?:{word})\b", "free"), (rf"\b{spoken} (?:is )?(?:{word})\b", "free")]
    if isinstance(value, (int, float)):
        percent = bool(re.search(r"fraction|rate|share", name))
        return [(form, "kind") for form in _number_forms(value, percent)]
    if isinstance(value, str):
        return [(form, "verb") for form in _names(value)]
    if isinstance(value, list):
        out = []
        numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) == len(value) and len(value) >= 2:
            first, last = (f"{v:,}" if isinstance(v, int) else f"{v:g}" for v in (value[0], value[-1]))
            out.append((rf"(?<![\w.,/–…])(?:{re.escape(first)}\s*(?:…|\.\.\.|–)\s*{re.escape(last)})(?![\w]|[.,]\d)", "free"))
            for joiner in ("/", ", "):
                out.append((rf"(?<![\w.,/])(?:{re.escape(joiner.join(f'{v:g}' for v in value))})(?![\w/]|[.,]\d)", "free"))
            if len(value) <= 4:
                joined = ", ".join(f"{v:g}" for v in value[:-1]) + f" and {value[-1]:g}"
                out.append((rf"(?<![\w.,/])(?:{re.escape(joined)})(?![\w]|[.,]\d)", "free"))
        out += [(form, "kind") for form in _number_forms(len(value)) if len(value) != 1]
        return out
    return []


# ------------------------------------------------------------------------------------------- attributions


def the_papers(sentence: str, start: int, end: int) -> bool:
    """Whether the value at ``sentence[start:end]`` is given as the paper's: "paper" (not the `paper`
    profile) among the eight words before it, with none of :data:`NOT_THE_PAPER` between, or "in the paper",
    "as in the paper", "(paper" right after it."""
    if re.match(r"[\s)]*(?:\(|,)?\s*(?:as |like )?(?:in|of|from|by) the papers?\b|[\s]*\(\s*(?:the )?papers?\b", sentence[end:], re.I):
        return True
    before = sentence[:start].split(";")[-1].split()[-8:]
    for index in range(len(before) - 1, -1, -1):
        token = before[index]
        bare = token.strip("*_,:()\"'.").lower()
        if bare in NOT_THE_PAPER:
            return False
        if bare in {"paper", "paper's", "papers", "papers'"} and "`" not in token and \
                not (index + 1 < len(before) and before[index + 1].strip("*_,:()").lower().startswith("profile")):
            return True
    return False


def conditions(sentence: str, name: str) -> list[str]:
    """The values a sentence names as a condition on parameter ``name`` ("with `data="real"`")."""
    found = re.findall(rf"{CONDITION}\s+(?:[^\s`]+\s+){{0,3}}?`{re.escape(name)}\s*=\s*([^`]+)`", sentence)
    found += re.findall(rf"\b(?:runs?|trains?) with `{re.escape(name)}\s*=\s*([^`]+)`", sentence)
    return [text.strip() for text in found]


def named_condition(sentence: str, name: str) -> bool:
    """Whether a sentence makes parameter ``name`` itself its condition ("with `real_sets`", "where `models`
    holds it"): its list items and names then say what happens where the list holds them."""
    return bool(re.search(rf"{CONDITION}\s+(?:[^\s`]+\s+){{0,3}}?`{re.escape(name)}`", sentence))


def _profile_named(sentence: str, names: list[str]) -> list[str]:
    return [p for p in names if re.search(_profile_pattern(p), sentence)]


def _profile_pattern(profile: str) -> str:
    return rf"`{re.escape(profile)}`|\b{re.escape(profile)} profile|profile `?{re.escape(profile)}\b"


def profile_claims(sentence: str, names: list[str]) -> list[tuple[str, str, str]]:
    """``(profile, name, value)`` of each code span ``name = value`` that a sentence ties to a profile: the
    profile named within 50 characters of the span, in the same clause ("`zoom = 1.0` (the `real` profile)",
    "the `real` profile sets `epochs = 8`")."""
    claims = []
    for clause in sentence.split(";"):
        for span in re.finditer(r"`(\w+)\s*=\s*([^`]+)`", clause):
            for profile in names:
                for mention in re.finditer(_profile_pattern(profile), clause):
                    if -50 < mention.start() - span.end() < 50 or -50 < span.start() - mention.end() < 50:
                        claims.append((profile, span.group(1), span.group(2).strip()))
                        break
    return claims


# ------------------------------------------------------------------------------------------- the check


def profile_values(notebook: Path) -> dict[str, dict[str, Any]]:
    """profile → every parameter's value of ``notebook`` under that profile."""
    defaults = parameters.notebook_defaults(notebook)
    return {p: {**defaults, **parameters.profile_parameters(notebook, p)} for p in parameters.profiles()}


def varying(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """parameter → profile → value, for the parameters (a dict's keys each as ``name[key]``) whose value
    differs between the default and some profile."""
    default = values[config.DEFAULT_PROFILE]
    out: dict[str, dict[str, Any]] = {}
    for name in default:
        by_profile = {p: v[name] for p, v in values.items()}
        if all(not parameters.overrides({name: v}, {name: default[name]}) for v in by_profile.values()):
            continue
        if isinstance(default[name], dict):
            for key in sorted({k for v in by_profile.values() if isinstance(v, dict) for k in v}):
                entries = {p: v.get(key) if isinstance(v, dict) else None for p, v in by_profile.items()}
                if len({repr(e) for e in entries.values()}) > 1:
                    out[f"{name}[{key}]"] = entries
        else:
            out[name] = by_profile
    return out


def _rendered(name: str, value: Any) -> list[tuple[str, str, str]]:
    """``(regex, how, what)``: :func:`renderings`, list items as ``how = "item"`` with ``what`` the item."""
    base = name.split("[")[0]
    out = [(regex, how, "") for regex, how in renderings(base, value)]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        out += [(regex, "item", item) for item in value for regex in _names(item)]
    return out


def _matches(sentence: str, name: str, regex: str, how: str) -> list[re.Match]:
    base, key = (name.split("[") + [""])[:2]
    kind = _kind(base)
    if key:  # a dict entry: "7 for DenseNet121", "AlexNet 64 px"
        names = "|".join(re.escape(a) for a in [key.rstrip("]"), *ALIASES.get(key.rstrip("]"), [])])
        kind = {**kind, "units": [*kind["units"], rf"for (?:{names})"], "keywords": [*kind["keywords"], names]}
    found = []
    for match in re.finditer(regex, sentence, re.I if how != "kind" else 0):
        start, end = match.span()
        if how == "free":
            tied = True
        elif how == "kind":
            tied = _tied(sentence, start, end, kind)
        elif how == "verb":
            tied = bool(re.search(rf"\b(?:{RUN_VERBS})\b(?:\s+[^\s;:]+){{0,5}}\s*$", sentence[:start], re.I)) or \
                bool(re.search(rf"`?{re.escape(base)}`?\s*=\s*[\"']?$", sentence[:start]))
        else:  # a list item: a list keyword among the four words before or after it
            tied = bool(re.search(rf"\b(?:{LIST_WORDS})\b\W*(?:\s+\S+){{0,4}}\s*$", sentence[:start], re.I)) or \
                bool(re.match(rf"(?:\s*\S+){{0,4}}?\s+(?:{LIST_WORDS})\b", sentence[end:], re.I))
        if tied:
            found.append(match)
    return found


def sentence_hits(notebook: str, cell: int, sentence: str, heading: str, values: dict[str, dict[str, Any]]) -> list[Hit]:
    """The hits of one sentence: for each varying parameter (:func:`varying`) and each profile's value
    rendered in it, tied to the parameter and not the paper's nor a condition, the profiles whose value is
    not rendered so; then the :data:`DERIVED` facts, typed numbers under "What this run shows", and code
    spans ``name = value`` beside a profile's name that are not that profile's value."""
    scan = sentence  # the sentence with its DATA_FACTS blanked
    for fragment in DATA_FACTS.get(notebook, []):
        scan = scan.replace(fragment, " " * len(fragment))
    profiles = list(values)
    others = [p for p in profiles if p != config.DEFAULT_PROFILE]
    found: dict[tuple[str, str], str] = {}
    changing = varying(values)
    for name, by_profile in changing.items():
        said = conditions(scan, name.split("[")[0])  # "with `data="real"`": true whatever the profile
        said += [v for _, n, v in profile_claims(scan, profiles) if n == name]  # checked against that profile below
        said_values = [parameters.parse_value(v) for v in said]
        stated: dict[str, set[str]] = {}  # matched text → profiles whose value renders it
        items: dict[str, set[str]] = {}  # list item → profiles whose list holds it
        conditional = named_condition(scan, name.split("[")[0])
        for profile, value in by_profile.items():
            if any(not parameters.overrides({name: v}, {name: value}) for v in said_values):
                continue
            for regex, how, item in _rendered(name, value):
                if conditional and (how in ("item", "verb") or isinstance(value, list)):
                    continue
                for match in _matches(scan, name, regex, how if how != "item" else "item"):
                    if the_papers(scan, *match.span()):
                        continue
                    if how == "item":
                        items.setdefault(item, set()).add(profile)
                    else:
                        stated.setdefault(match.group(0).lower(), set()).add(profile)
        for text, holding in [*stated.items(), *items.items()]:
            for profile in profiles:
                if profile not in holding:
                    found.setdefault((name, profile), text)
    sizes = any(re.search(r"size|shape", n) for n in changing)  # a CAM grid follows from the input size
    for label, pattern in DERIVED.items():
        relevant = bool(changing) if "data" in label else sizes
        for match in pattern.finditer(scan) if relevant else []:
            if not the_papers(scan, *match.span()):
                for profile in others:
                    found.setdefault((label, profile), match.group(0))
    if heading.lower().startswith("what this run shows") and changing:
        blanked = NOT_A_FACT.sub(lambda m: " " * len(m.group(0)), scan)
        for match in NUMBER.finditer(blanked):
            if not the_papers(scan, *match.span()):
                for profile in others:
                    found.setdefault(("(typed number in 'What this run shows')", profile), match.group(0))
    for profile, name, text in profile_claims(scan, profiles):
        if name in values[profile] and parameters.overrides({name: parameters.parse_value(text)}, {name: values[profile][name]}):
            found.setdefault((name, profile), f"{name} = {text}")
    return [Hit(notebook, cell, sentence, name, profile, text) for (name, profile), text in found.items()]


def prose_hits(notebook: str | Path) -> list[Hit]:
    """Every :class:`Hit` of a notebook's markdown cells under its profiles."""
    path = parameters.notebook_file(notebook)
    values = profile_values(path)
    nb = nbformat.read(path, as_version=4)
    hits, heading = [], ""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for heading, sentence in sentences(cell.source, heading):
            hits += sentence_hits(path.stem, index, sentence, heading, values)
    return hits


def report(hits: list[Hit]) -> str:
    """One line per sentence: notebook, cell, the parameters and profiles it is false under, the sentence."""
    by_sentence: dict[tuple[str, int, str], list[str]] = {}
    for hit in hits:
        by_sentence.setdefault((hit.notebook, hit.cell, hit.sentence), []).append(f"{hit.parameter} ({hit.stated!r}) under {hit.profile}")
    return "\n".join(f"{nb}, cell {cell}: {'; '.join(why)}: {sentence}" for (nb, cell, sentence), why in by_sentence.items())


# ------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_sentence_states_a_value_a_profile_changes(path):
    hits = prose_hits(path)
    assert not hits, (f"{path.name}: {len({(h.cell, h.sentence) for h in hits})} sentence(s) state what a profile changes; "
                      "print it from the run's variables or name the parameter instead:\n" + report(hits))


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy notebook ``01_toy`` (epochs 1, image_size 80, zoom 0.6, models of two, dataset synthetic) and a
    profile ``real`` that changes every one of them."""
    (tmp_path / "profiles" / "real").mkdir(parents=True)
    (tmp_path / "profiles" / "real" / "01_toy.yaml").write_text(
        "epochs: 8\nimage_size: 128\nzoom: 1.0\nmodels: ['standard_cnn']\ndataset: 'aria'\nlr: 0.003\n")
    monkeypatch.setattr(config, "PROFILE_DIR", tmp_path / "profiles")
    path = tmp_path / "01_toy.ipynb"
    write_toy_notebook(path, "x = 1", "seed = 0\nepochs = 1\nimage_size = 80\nzoom = 0.6\n"
                       "models = ['standard_cnn', 'inception_v3']\ndataset = 'synthetic'\nlr = 0.005\nn_boot = 200")

    def check(*markdown: str) -> list[Hit]:
        nb = nbformat.read(path, as_version=4)
        nb.cells = nb.cells[:2] + [nbformat.v4.new_markdown_cell(m) for m in markdown]
        nbformat.write(nb, path)
        return prose_hits(path)

    return check


@pytest.mark.parametrize("sentence, parameter, profile", [
    ("The models train for one epoch at 80-px inputs.", "epochs", "real"),
    ("The models train for one epoch at 80-px inputs.", "image_size", "real"),
    ("The real run trains 8 epochs.", "epochs", config.DEFAULT_PROFILE),
    ("Inputs are 128 × 128.", "image_size", config.DEFAULT_PROFILE),
    ("The centred 0.6 zoom crops the scale bar out.", "zoom", "real"),
    ("Every image is zoomed on its centre (`zoom = 0.6`).", "zoom", "real"),
    ("*models*: Standard_CNN and InceptionV3.", "models", "real"),
    ("The two models are trained from random weights.", "models", "real"),
    ("It trains on the synthetic twin.", "dataset", "real"),
    ("Warm-up to 5e-3, then cosine decay.", "lr", "real"),
    ("The heatmaps are upsampled from 2×2 maps.", "(derived: CAM grid)", "real"),
    ("It leaves 200 test images.", "(derived: data size)", "real"),
    ("The `real` profile sets `epochs = 50`.", "epochs", "real"),
    ("The `real` profile trains the two models.", "models", "real"),
    ("The default `models` leave out InceptionV3 and VGG19, at 80 px.", "image_size", "real"),
    ("Aria fields (224 px, image-level labels) are split; crops are 80 px.", "image_size", "real"),
])
def test_the_check_finds_a_planted_sentence(toy, sentence, parameter, profile):
    hits = toy(f"# Toy\n\n{sentence}")
    assert (parameter, profile) in {(h.parameter, h.profile) for h in hits}, report(hits) or "no hit"
    assert all(h.cell == 2 and h.notebook == "01_toy" and h.sentence == sentence for h in hits)


def test_what_this_run_shows_holds_no_typed_number(toy):
    hits = toy("## What this run shows\n\nThe accuracy is 0.93 (`P1-T1`), the paper's 0.94.\n\n## Notes\n\nAccuracy 0.93.")
    assert [(h.parameter, h.stated) for h in hits] == [("(typed number in 'What this run shows')", "0.93")]


@pytest.mark.parametrize("sentence", [
    "The models train for `epochs` epochs at `image_size` px.",
    "The paper trains 50 epochs at 224 px; its learning rate is 1e-4 (Adam).",
    "The images are zoomed by 0.6 in the paper.",
    "With `dataset=\"aria\"` the notebook trains on the Aria set.",
    "The `real` profile sets `epochs = 8`.",
    "On Aria the background tint differs between classes.",
    "Each model of `models` is trained with Adam at `lr`; Standard_CNN is paper 1's own network.",
    "The differences are float rounding, far below 1e-4.",
])
def test_the_check_leaves_true_sentences_alone(toy, sentence):
    assert toy(f"# Toy\n\n{sentence}") == []


def test_the_paper_only_where_it_is_named():
    sentence = "The paper's 50 epochs against our 8 epochs."
    assert the_papers(sentence, sentence.index("50"), sentence.index("50") + 2)
    assert not the_papers(sentence, sentence.index("8 "), sentence.index("8 ") + 1)
    sentence = "The `paper` profile trains 50 epochs."
    assert not the_papers(sentence, sentence.index("50"), sentence.index("50") + 2)


def test_sentences_keep_abbreviations_and_list_items():
    cut = sentences("# Title\n\nOne sentence, e.g. this. Another one.\n- an item\n  continued. Its second.\n\n## Next\nLast.")
    assert cut == [("Title", "# Title"), ("Title", "One sentence, e.g. this."), ("Title", "Another one."),
                   ("Title", "- an item continued."), ("Title", "Its second."), ("Next", "## Next"), ("Next", "Last.")]


def test_a_data_fact_is_blanked_and_the_rest_of_its_sentence_checked():
    values = {config.DEFAULT_PROFILE: {"crop_size": 64}, "real": {"crop_size": 224}}
    sentence = "Aria fields (224 px, image-level labels) are cut into 64-px crops."
    hits = sentence_hits("02_mil_pipeline", 0, sentence, "", values)
    assert [(h.parameter, h.profile, h.stated, h.sentence) for h in hits] == [("crop_size", "real", "64", sentence)]
    assert {h.stated for h in sentence_hits("99_other", 0, sentence, "", values)} == {"224", "64"}
