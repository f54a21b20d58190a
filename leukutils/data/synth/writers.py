"""Synthetic datasets written in the real datasets' layouts, cached on disk.

Each writer draws a deterministic dataset for its seed and parameters and writes it in the layout of a
real dataset (so that the real reader is the one that reads it), plus ground truth the real datasets
lack: ``masks/<relative path>.png`` (255 nucleus, 128 cytoplasm, 0 rest) and ``truth.csv`` (one row per
image: file, label, subject, cell types, the cue class of any shortcut, stain).

Caching: the folder is ``<cache_dir>/synth/<layout>-<key>`` (or ``root`` if given), where ``key`` hashes
the generator version, the writer, its parameters and the seed. A dataset is written into a temporary
sibling folder and renamed into place when complete, so a half-written dataset is never read. Every
image has its own random stream (``default_rng([seed, stream, index])``), so images do not depend on
the order or number of the others.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ... import config
from .cells import BLAST_TYPES, CELL_TYPES, NORMAL_WBC_MIX
from .cues import apply_cue, check_cue, cue_class
from .cues import scale_bar as draw_scale_bar
from .smear import Field, render_field
from .stain import Stain, random_stain

#: Bump when the drawing changes, so that cached datasets are regenerated.
GENERATOR_VERSION = "1.0"
STAMP = ".synth.json"


# --------------------------------------------------------------------------------------------------
# caching
# --------------------------------------------------------------------------------------------------
def _source_digest() -> str:
    """Hash of the generator's source files, so that any change to the drawing invalidates the cache."""
    digest = hashlib.sha256()
    for name in ("cells.py", "smear.py", "stain.py", "cues.py", "writers.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


_SOURCE_DIGEST = _source_digest()


def dataset_key(layout: str, params: dict) -> str:
    """12-hex-digit hash of generator version and source, layout and parameters (seed included)."""
    text = json.dumps({"version": GENERATOR_VERSION, "source": _SOURCE_DIGEST, "layout": layout, "params": params},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_dataset(layout: str, params: dict, build: Callable[[Path], None], root=None) -> Path:
    """Return the folder of a synthetic dataset, building it with ``build(tmp_folder)`` if needed."""
    key = dataset_key(layout, params)
    target = Path(root).expanduser().resolve() if root is not None else config.cache_dir() / "synth" / f"{layout}-{key}"
    stamp = target / STAMP
    if stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                return target
        except (OSError, json.JSONDecodeError):
            pass
    if target.exists() and any(target.iterdir()):
        if not stamp.exists():
            raise FileExistsError(f"{target} exists and is not a synthetic dataset; choose another root "
                                  "or remove the folder")
        shutil.rmtree(target)          # an older synthetic dataset with other parameters
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        build(tmp)
        (tmp / STAMP).write_text(json.dumps({"key": key, "layout": layout, "version": GENERATOR_VERSION,
                                             "source": _SOURCE_DIGEST, "params": params}, sort_keys=True,
                                            indent=1, default=str))
        if target.exists():
            target.rmdir()             # empty folder left by someone
        os.rename(tmp, target)
    except OSError:
        if (target / STAMP).exists():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return target
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def prune_cache(dry_run: bool = False) -> list[Path]:
    """Remove cached synthetic datasets drawn by another version of the generator's source (and
    abandoned temporary folders) from ``<cache_dir>/synth``; return what was (or would be) removed."""
    folder = config.cache_dir() / "synth"
    stale = []
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if not path.is_dir():
            continue
        try:
            current = json.loads((path / STAMP).read_text()).get("source") == _SOURCE_DIGEST
        except (OSError, json.JSONDecodeError):
            current = False
        if not current:
            stale.append(path)
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
    return stale


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------
def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(stream), int(index)])


def _write_image(path: Path, image: np.ndarray, jpeg_quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1]), params):
        raise OSError(f"could not write {path}")


def _write_mask(path: Path, f_nucleus: np.ndarray, f_cytoplasm: np.ndarray) -> None:
    mask = np.zeros(f_nucleus.shape, np.uint8)
    mask[f_cytoplasm] = 128
    mask[f_nucleus] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), mask):
        raise OSError(f"could not write {path}")


def _write_field(tmp: Path, rel: Path, image: np.ndarray, field: Field, label: str, cue) -> dict:
    """Write a class-folder image at ``tmp/rel`` and its mask at ``tmp/masks/rel`` (as PNG); returns its
    row of the truth table (no subject: class-folder sets publish none)."""
    _write_image(tmp / rel, image)
    _write_mask(tmp / "masks" / rel.with_suffix(".png"), field.nucleus, field.cytoplasm)
    return dict(file=rel.as_posix(), label=label, subject="", cell_types=";".join(field.cell_types), cue=cue)


def _write_truth(root: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with (root / "truth.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _stain_text(stain: Stain) -> str:
    return json.dumps({"od": np.round(stain.od, 4).tolist(), "background": np.round(stain.background, 4).tolist(),
                       "strength": round(stain.strength, 4)})


def _normal_types(rng: np.random.Generator, n: int, mix: dict[str, float] = NORMAL_WBC_MIX) -> list[str]:
    names = list(mix)
    p = np.array([mix[k] for k in names], float)
    return [names[i] for i in rng.choice(len(names), size=n, p=p / p.sum())]


def _blast_type(rng: np.random.Generator) -> str:
    return str(rng.choice(["lymphoblast", "lymphoblast", "blast_L1", "blast_L2"]))


def _check_common(difficulty: float, shortcut, shortcut_rate: float) -> None:
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    check_cue(shortcut, shortcut_rate)


def _voc_xml(path: Path, filename: str, shape: tuple[int, int], boxes: np.ndarray, labels: list[str],
             extra: dict[str, str] | None = None) -> None:
    annotation = ET.Element("annotation")
    ET.SubElement(annotation, "folder").text = "JPEGImages"
    ET.SubElement(annotation, "filename").text = filename
    for key, value in (extra or {}).items():
        ET.SubElement(annotation, key).text = str(value)
    size = ET.SubElement(annotation, "size")
    ET.SubElement(size, "width").text = str(shape[1])
    ET.SubElement(size, "height").text = str(shape[0])
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(annotation, "segmented").text = "0"
    for box, label in zip(boxes, labels):
        obj = ET.SubElement(annotation, "object")
        ET.SubElement(obj, "name").text = label
        ET.SubElement(obj, "pose").text = "Unspecified"
        x0, y0, x1, y1 = [int(round(v)) for v in box]
        truncated = int(x0 <= 0 or y0 <= 0 or x1 >= shape[1] or y1 >= shape[0])
        ET.SubElement(obj, "truncated").text = str(truncated)
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        for name, v in zip(("xmin", "ymin", "xmax", "ymax"), (max(x0, 1), max(y0, 1), x1, y1)):
            ET.SubElement(bnd, name).text = str(v)
    ET.indent(annotation, "\t")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ET.tostring(annotation, encoding="unicode") + "\n")


# --------------------------------------------------------------------------------------------------
# C-NMC 2019: fold_k/{all,hem}/UID_<subject>_<image>_<cell>_<class>.bmp, segmented cell on black
# --------------------------------------------------------------------------------------------------
def cnmc(root=None, n_subjects: int = 8, cells_per_subject: int = 40, size: int = 128, seed: int = 0,
         n_folds: int = 3, all_fraction: float = 0.5, difficulty: float = 0.5, stain_shift: float = 0.5,
         shortcut: str | None = None, shortcut_rate: float = 0.9, mpp: float | None = None) -> Path:
    """C-NMC-like single-cell images: every cell of an ALL subject is a blast (``all``), every cell of a
    healthy subject a lymphocyte or hematogone (``hem``). Subjects are split over ``n_folds`` folds
    (subject-disjoint, both classes in each fold); each subject has its own stain (batch effect of
    strength ``stain_shift``). Returns the folder holding ``fold_0 … fold_{n_folds-1}``.
    """
    _check_common(difficulty, shortcut, shortcut_rate)
    if n_subjects < 2:
        raise ValueError("cnmc: need n_subjects >= 2 (at least one ALL and one healthy subject)")
    params = dict(n_subjects=n_subjects, cells_per_subject=cells_per_subject, size=size, seed=seed,
                  n_folds=n_folds, all_fraction=all_fraction, difficulty=difficulty, stain_shift=stain_shift,
                  shortcut=shortcut, shortcut_rate=shortcut_rate, mpp=mpp)

    def build(tmp: Path) -> None:
        n_all = min(max(1, round(n_subjects * all_fraction)), n_subjects - 1)
        subjects = [(str(i + 1), "all") for i in range(n_all)] + [(f"H{i + 1}", "hem") for i in range(n_subjects - n_all)]
        rows = []
        counters = {"all": 0, "hem": 0}
        for s, (subject, cls) in enumerate(subjects):
            fold = counters[cls] % n_folds
            counters[cls] += 1
            stain = random_stain(_rng(seed, 1, s), stain_shift)
            for c in range(cells_per_subject):
                rng = _rng(seed, 2 + s, c)
                cell_type = _blast_type(rng) if cls == "all" else str(rng.choice(["lymphocyte", "lymphocyte", "lymphocyte", "hematogone", "hematogone"]))
                field = render_field(rng, (size, size), mpp or 18.0 / size, [cell_type],
                                     positions=[tuple((size - 1) / 2 + rng.normal(0, size * 0.02, 2))],
                                     rbc_density=0.0, n_platelets=0, stain=stain, difficulty=difficulty,
                                     out_of_focus_rate=0.08, rbc_overlap_rate=0.0, vignetting=0.0)
                cell = field.nucleus | field.cytoplasm
                image = np.where(cell[..., None], field.image, 0).astype(np.uint8)
                cue = cue_class(rng, int(cls == "all"), 2, shortcut_rate) if shortcut else 0
                image = apply_cue(image, shortcut, cue, 2)
                name = f"UID_{subject}_{c // 4 + 1}_{c % 4 + 1}_{cls}.bmp"
                rel = Path(f"fold_{fold}") / cls / name
                _write_image(tmp / rel, image)
                _write_mask(tmp / "masks" / rel.with_suffix(".png"), field.nucleus, field.cytoplasm)
                rows.append(dict(file=rel.as_posix(), label=cls, subject=subject, cell_types=cell_type,
                                 cue=cue if shortcut else "", stain=s))
        _write_truth(tmp, rows)

    return cached_dataset("cnmc", params, build, root)


# --------------------------------------------------------------------------------------------------
# ALL-IDB1: im/ImNNN_<0|1>.jpg + xyc/ImNNN_<0|1>.xyc (blast centres "x y" per line)
# --------------------------------------------------------------------------------------------------
def _smear_cells(rng: np.random.Generator, is_all: bool, n_cells: int, blast_fraction: float) -> list[str]:
    types = _normal_types(rng, n_cells)
    if is_all:
        blasts = rng.uniform(size=n_cells) < blast_fraction
        if not blasts.any():
            blasts[rng.integers(n_cells)] = True
        types = [_blast_type(rng) if b else t for b, t in zip(blasts, types)]
    return types


def all_idb1(root=None, n_images: int = 20, seed: int = 0, shape: tuple[int, int] = (480, 640),
             mpp: float = 0.11, cells_per_image: tuple[int, int] = (3, 8),
             blast_fraction: float | tuple[float, float] = (0.3, 0.9),
             difficulty: float = 0.5, stain_shift: float = 0.7, shortcut: str | None = None,
             shortcut_rate: float = 0.9) -> Path:
    """ALL-IDB1-like smear fields, one patient per image: half ALL (``_1``), half healthy (``_0``). Each
    ALL patient has a blast fraction (``blast_fraction``: a number, or a (low, high) range drawn from
    uniformly per patient); each white cell is a blast with that probability, at least one per ALL image.
    Blast centres go to ``xyc/``."""
    _check_common(difficulty, shortcut, shortcut_rate)
    fraction_range = (blast_fraction, blast_fraction) if np.isscalar(blast_fraction) else tuple(blast_fraction)
    params = dict(n_images=n_images, seed=seed, shape=list(shape), mpp=mpp, cells_per_image=list(cells_per_image),
                  blast_fraction=list(fraction_range), difficulty=difficulty, stain_shift=stain_shift,
                  shortcut=shortcut, shortcut_rate=shortcut_rate)

    def build(tmp: Path) -> None:
        rows = []
        for i in range(n_images):
            rng = _rng(seed, 1, i)
            is_all = i % 2 == 0
            n = int(rng.integers(cells_per_image[0], cells_per_image[1] + 1))
            fraction = float(rng.uniform(*fraction_range))
            types = _smear_cells(rng, is_all, n, fraction)
            f = render_field(rng, shape, mpp, types, stain=random_stain(rng, stain_shift), difficulty=difficulty,
                             rbc_density=rng.uniform(0.35, 0.6), jpeg_quality=None)
            cue = cue_class(rng, int(is_all), 2, shortcut_rate) if shortcut else 0
            image = apply_cue(f.image, shortcut, cue, 2)
            stem = f"Im{i + 1:03d}_{int(is_all)}"
            _write_image(tmp / "im" / f"{stem}.jpg", image)
            _write_mask(tmp / "masks" / "im" / f"{stem}.png", f.nucleus, f.cytoplasm)
            blast_xy = [c for c, t in zip(f.centres, f.cell_types) if t in BLAST_TYPES]
            (tmp / "xyc").mkdir(exist_ok=True)
            (tmp / "xyc" / f"{stem}.xyc").write_text("".join(f"{int(round(x))}\t{int(round(y))}\n" for x, y in blast_xy))
            rows.append(dict(file=f"im/{stem}.jpg", label=str(int(is_all)), subject=stem.split("_")[0],
                             cell_types=";".join(f.cell_types), n_blasts=len(blast_xy),
                             blast_fraction=round(fraction, 4) if is_all else 0.0, cue=cue if shortcut else ""))
        _write_truth(tmp, rows)

    return cached_dataset("all_idb1", params, build, root)


# --------------------------------------------------------------------------------------------------
# ALL-IDB2: img/ImNNN_<0|1>.tif, one centred white cell (first half blasts, as in the real set)
# --------------------------------------------------------------------------------------------------
def all_idb2(root=None, n_images: int = 60, seed: int = 0, size: int = 257, mpp: float = 0.09,
             difficulty: float = 0.5, stain_shift: float = 0.7, shortcut: str | None = None,
             shortcut_rate: float = 0.9) -> Path:
    """ALL-IDB2-like crops: ``ImNNN_1.tif`` a centred blast, ``ImNNN_0.tif`` a centred normal lymphocyte
    or hematogone, with red cells around."""
    _check_common(difficulty, shortcut, shortcut_rate)
    params = dict(n_images=n_images, seed=seed, size=size, mpp=mpp, difficulty=difficulty,
                  stain_shift=stain_shift, shortcut=shortcut, shortcut_rate=shortcut_rate)

    def build(tmp: Path) -> None:
        rows = []
        n_pos = (n_images + 1) // 2
        for i in range(n_images):
            rng = _rng(seed, 1, i)
            label = int(i < n_pos)
            cell_type = _blast_type(rng) if label else str(rng.choice(["lymphocyte", "lymphocyte", "hematogone"]))
            centre = tuple((size - 1) / 2 + rng.normal(0, size * 0.02, 2))
            f = render_field(rng, (size, size), mpp, [cell_type], positions=[centre], stain=random_stain(rng, stain_shift),
                             difficulty=difficulty, rbc_density=rng.uniform(0.3, 0.55), jpeg_quality=90)
            cue = cue_class(rng, label, 2, shortcut_rate) if shortcut else 0
            image = apply_cue(f.image, shortcut, cue, 2)
            stem = f"Im{i + 1:03d}_{label}"
            _write_image(tmp / "img" / f"{stem}.tif", image)
            _write_mask(tmp / "masks" / "img" / f"{stem}.png", f.nucleus, f.cytoplasm)
            rows.append(dict(file=f"img/{stem}.tif", label=str(label), subject="", cell_types=cell_type,
                             cue=cue if shortcut else ""))
        _write_truth(tmp, rows)

    return cached_dataset("all_idb2", params, build, root)


# --------------------------------------------------------------------------------------------------
# BCCD: BCCD/{JPEGImages,Annotations,ImageSets/Main} (Pascal VOC)
# --------------------------------------------------------------------------------------------------
def bccd(root=None, n_images: int = 40, seed: int = 0, two_class: bool = False, shape: tuple[int, int] = (480, 640),
         mpp: float = 0.075, difficulty: float = 0.5, stain_shift: float = 0.5, stain_preset: str = "bccd",
         test_images: int | None = None) -> Path:
    """BCCD-like fields (640×480, high magnification, dense red cells) with VOC boxes ``WBC``, ``RBC``,
    ``Platelets``; with ``two_class`` the white cells are named ``blast`` or ``normal`` instead (half the
    images hold a blast). The ``ImageSets`` split the ``n_images`` fields 60/20/20 into train, val and
    test; with ``test_images`` the ``n_images`` are split 80/20 into train and val and that many more
    fields make the test split (a test set of a chosen size at no extra training). Returns the folder
    holding ``BCCD/``."""
    _check_common(difficulty, None, 0.0)
    if test_images is not None and test_images < 1:
        raise ValueError(f"bccd: test_images = {test_images}; give at least 1, or None for a fifth of n_images")
    params = dict(n_images=n_images, seed=seed, two_class=two_class, shape=list(shape), mpp=mpp,
                  difficulty=difficulty, stain_shift=stain_shift, stain_preset=stain_preset)
    if test_images is not None:
        params["test_images"] = test_images  # only when given: earlier caches keep their key

    def build(tmp: Path) -> None:
        base = tmp / "BCCD"
        rows, names = [], []
        for i in range(n_images + (test_images or 0)):
            rng = _rng(seed, 1, i)
            n = 1 if rng.uniform() < 0.85 else 2
            types = _normal_types(rng, n)
            if two_class and i % 2 == 0:
                types[0] = _blast_type(rng)
            f = render_field(rng, shape, mpp, types, stain=random_stain(rng, stain_shift, stain_preset),
                             difficulty=difficulty, rbc_density=rng.uniform(0.8, 1.1))
            labels = []
            for label in f.box_labels:
                if label in ("RBC", "Platelets"):
                    labels.append(label)
                elif two_class:
                    labels.append("blast" if label in BLAST_TYPES else "normal")
                else:
                    labels.append("WBC")
            stem = f"BloodImage_{i:05d}"
            _write_image(base / "JPEGImages" / f"{stem}.jpg", f.image, jpeg_quality=90)
            _voc_xml(base / "Annotations" / f"{stem}.xml", f"{stem}.jpg", shape, f.boxes, labels)
            _write_mask(tmp / "masks" / "BCCD" / "JPEGImages" / f"{stem}.png", f.nucleus, f.cytoplasm)
            names.append(stem)
            rows.append(dict(file=f"BCCD/JPEGImages/{stem}.jpg", label="smear", subject="",
                             cell_types=";".join(f.cell_types)))
        if test_images is None:
            order = _rng(seed, 9).permutation(len(names))
            n_test = max(1, len(names) // 5) if len(names) >= 3 else 0
        else:  # the extra fields are the test split; the first n_images are split into train and val
            order = np.concatenate([n_images + np.arange(test_images), _rng(seed, 9).permutation(n_images)])
            n_test = test_images
        n_val = max(1, n_images // 5) if n_images >= 3 else 0
        test = sorted(names[j] for j in order[:n_test])
        val = sorted(names[j] for j in order[n_test:n_test + n_val])
        train = sorted(names[j] for j in order[n_test + n_val:])
        main = base / "ImageSets" / "Main"
        main.mkdir(parents=True, exist_ok=True)
        for split, items in (("train", train), ("val", val), ("test", test), ("trainval", sorted(train + val))):
            (main / f"{split}.txt").write_text("".join(f"{s}\n" for s in items))
        _write_truth(tmp, rows)

    return cached_dataset("bccd", params, build, root)


# --------------------------------------------------------------------------------------------------
# segmentation_WBC (JTSC "Dataset 1"): Dataset 1/NNN.bmp + NNN.png, class labels csv beside
# --------------------------------------------------------------------------------------------------
JTSC_CLASSES = ("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil")


def segmentation_wbc(root=None, n_images: int = 60, size: int = 120, seed: int = 0, mpp: float = 0.16,
                     difficulty: float = 0.5, stain_shift: float = 0.7, stain_preset: str = "jtsc") -> Path:
    """JTSC-like single white cells (``NNN.bmp``) with ground truth (``NNN.png``: 255 nucleus, 128
    cytoplasm, 0 background) in ``Dataset 1/``, and ``Class Labels of Dataset 1.csv`` (1–5 =
    neutrophil, lymphocyte, monocyte, eosinophil, basophil) beside it, as in the real repository.
    Returns the folder holding ``Dataset 1/`` (readers accept either)."""
    _check_common(difficulty, None, 0.0)
    params = dict(n_images=n_images, size=size, seed=seed, mpp=mpp, difficulty=difficulty, stain_shift=stain_shift,
                  stain_preset=stain_preset)
    mix = {"neutrophil": 0.35, "lymphocyte": 0.3, "monocyte": 0.15, "eosinophil": 0.15, "basophil": 0.05}

    def build(tmp: Path) -> None:
        folder = tmp / "Dataset 1"
        rows, classes = [], []
        for i in range(n_images):
            rng = _rng(seed, 1, i)
            cell_type = _normal_types(rng, 1, mix)[0]
            centre = tuple((size - 1) / 2 + rng.normal(0, size * 0.02, 2))
            f = render_field(rng, (size, size), mpp, [cell_type], positions=[centre],
                             stain=random_stain(rng, stain_shift, stain_preset), difficulty=difficulty,
                             rbc_density=rng.uniform(0.2, 0.5), out_of_focus_rate=0.05, vignetting=0.05)
            stem = f"{i + 1:03d}"
            _write_image(folder / f"{stem}.bmp", f.image)
            _write_mask(folder / f"{stem}.png", f.nucleus, f.cytoplasm)
            classes.append(JTSC_CLASSES.index(cell_type) + 1)
            rows.append(dict(file=f"Dataset 1/{stem}.bmp", label=cell_type, subject="", cell_types=cell_type))
        with (tmp / "Class Labels of Dataset 1.csv").open("w", newline="") as handle:
            handle.write("image ID,class label\r\n")
            handle.writelines(f"{i + 1},{c}\r\n" for i, c in enumerate(classes))
        _write_truth(tmp, rows)

    return cached_dataset("segmentation_wbc", params, build, root)


# --------------------------------------------------------------------------------------------------
# class folders (Aria ALL: Benign/Early/Pre/Pro; Raabin-WBC; any class → cell type mapping)
# --------------------------------------------------------------------------------------------------
#: Cell type and parameter overrides of the main cells of each class of the Aria-style data.
ARIA_CLASSES = {
    "Benign": ("hematogone", {}),
    "Early": ("blast_L1", {}),
    "Pre": ("lymphoblast", {}),
    "Pro": ("blast_L2", {}),
}


def _class_cell_type(name: str, index: int) -> tuple[str, dict]:
    if name in ARIA_CLASSES:
        return ARIA_CLASSES[name]
    lowered = name.lower()
    for cell_type in CELL_TYPES:
        if lowered in (cell_type, cell_type + "s") or lowered == cell_type.replace("blast_", ""):
            return cell_type, {}
    aliases = {"all": "lymphoblast", "blast": "lymphoblast", "hem": "lymphocyte", "normal": "lymphocyte",
               "l1": "blast_L1", "l2": "blast_L2", "l3": "blast_L3", "malignant": "lymphoblast"}
    if lowered in aliases:
        return aliases[lowered], {}
    raise ValueError(f"class_folders: no cell type known for class {name!r}; pass class_cell_types="
                     f"{{{name!r}: 'lymphocyte', ...}} (types: {', '.join(CELL_TYPES)})")


def class_folders(root=None, classes=("Benign", "Early", "Pre", "Pro"), n_per_class: int = 30, size: int = 224,
                  seed: int = 0, mpp: float = 0.36, cells_per_image: tuple[int, int] = (1, 6),
                  difficulty: float = 0.5, stain_shift: float = 0.6, scale_bar: bool = True,
                  shortcut: str | None = None, shortcut_rate: float = 0.9,
                  class_cell_types: dict[str, str] | None = None, extension: str = ".jpg",
                  stain_preset: str = "aria") -> Path:
    """Aria-like fields in one folder per class: every white cell of a field is of the class's cell type
    (``Benign`` hematogones, ``Early`` L1-like, ``Pre`` blasts, ``Pro`` L2-like), at low magnification with
    dense red cells and, like the real set, a scale bar in every image. Other class names map to cell
    types by name (``Lymphocyte``, ``Neutrophil``…) or through ``class_cell_types``."""
    _check_common(difficulty, shortcut, shortcut_rate)
    classes = tuple(classes)
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"class_folders: classes must be distinct and non-empty, got {classes}")
    mapping = {c: ((class_cell_types[c], {}) if class_cell_types and c in class_cell_types else _class_cell_type(c, i))
               for i, c in enumerate(classes)}
    params = dict(classes=list(classes), n_per_class=n_per_class, size=size, seed=seed, mpp=mpp,
                  cells_per_image=list(cells_per_image), difficulty=difficulty, stain_shift=stain_shift,
                  scale_bar=scale_bar, shortcut=shortcut, shortcut_rate=shortcut_rate,
                  mapping={k: v[0] for k, v in mapping.items()}, extension=extension, stain_preset=stain_preset)

    def build(tmp: Path) -> None:
        rows = []
        for k, cls in enumerate(classes):
            cell_type, overrides = mapping[cls]
            for i in range(n_per_class):
                rng = _rng(seed, 1 + k, i)
                n = int(rng.integers(cells_per_image[0], cells_per_image[1] + 1))
                f = render_field(rng, (size, size), mpp, [cell_type] * n,
                                 stain=random_stain(rng, stain_shift, stain_preset),
                                 difficulty=difficulty, rbc_density=rng.uniform(0.35, 0.7), blur_px=0.5,
                                 cell_overrides=[overrides] * n)
                image = f.image
                if scale_bar:
                    image = draw_scale_bar(image, max(4, round(5.0 / mpp)))
                cue = cue_class(rng, k, len(classes), shortcut_rate) if shortcut else 0
                image = apply_cue(image, shortcut, cue, len(classes))
                rows.append(_write_field(tmp, Path(cls) / f"WBC-{cls}-{i + 1:03d}{extension}", image, f, cls,
                                         cue if shortcut else ""))
        _write_truth(tmp, rows)

    return cached_dataset("class_folders", params, build, root)


def fab(root=None, n_per_class: int = 40, size: tuple[int, int] = (256, 320), seed: int = 0, mpp: float = 0.12,
        difficulty: float = 0.5, stain_shift: float = 0.6, shortcut: str | None = None,
        shortcut_rate: float = 0.9) -> Path:
    """FAB-subtype fields (``L1/``, ``L2/``, ``L3/``), 256×320 like the Leukemia Dataset: one main blast of
    the subtype near the centre, sometimes a second, red cells around; masks under ``masks/``."""
    _check_common(difficulty, shortcut, shortcut_rate)
    params = dict(n_per_class=n_per_class, size=list(size), seed=seed, mpp=mpp, difficulty=difficulty,
                  stain_shift=stain_shift, shortcut=shortcut, shortcut_rate=shortcut_rate)

    def build(tmp: Path) -> None:
        rows = []
        for k, cls in enumerate(("L1", "L2", "L3")):
            for i in range(n_per_class):
                rng = _rng(seed, 1 + k, i)
                n = 1 if rng.uniform() < 0.75 else 2
                h, w = size
                positions = [((h - 1) / 2 + rng.normal(0, 0.05 * h), (w - 1) / 2 + rng.normal(0, 0.05 * w))]
                if n == 2:
                    side = rng.choice([-1, 1])
                    positions.append(((h - 1) / 2 + rng.normal(0, 0.1 * h), (w - 1) / 2 + side * 0.36 * w))
                f = render_field(rng, size, mpp, [f"blast_{cls}"] * n, positions=positions,
                                 stain=random_stain(rng, stain_shift), difficulty=difficulty,
                                 rbc_density=rng.uniform(0.3, 0.6), jpeg_quality=None)
                cue = cue_class(rng, k, 3, shortcut_rate) if shortcut else 0
                image = apply_cue(f.image, shortcut, cue, 3)
                rows.append(_write_field(tmp, Path(cls) / f"{cls}_{i + 1:03d}.jpg", image, f, cls,
                                         cue if shortcut else ""))
        _write_truth(tmp, rows)

    return cached_dataset("fab", params, build, root)


# --------------------------------------------------------------------------------------------------
# patients: several smears per patient, VOC boxes with cell types, subject id and diagnosis
# --------------------------------------------------------------------------------------------------
def patients(root=None, n_patients: int = 20, smears_per_patient: int = 3, seed: int = 0,
             shape: tuple[int, int] = (480, 640), mpp: float = 0.11, cells_per_smear: tuple[int, int] = (3, 8),
             all_fraction: float = 0.5, blast_fraction: tuple[float, float] = (0.15, 0.9),
             difficulty: float = 0.5, stain_shift: float = 0.8, shortcut: str | None = None,
             shortcut_rate: float = 0.9) -> Path:
    """Patients with several smears each, in a VOC layout (``JPEGImages/``, ``Annotations/`` whose XML
    holds ``<subject>``, ``<label>`` ALL/healthy and one box per object named by cell type: ``lymphoblast``,
    ``blast_L1``, ``lymphocyte``, ``neutrophil``…, ``RBC``, ``Platelets``) and ``patients.csv`` (subject,
    label, blast fraction, stain). An ALL patient has a blast fraction drawn uniformly in
    ``blast_fraction``; a smear of an ALL patient may, by chance, hold no blast. Each patient has its own
    stain (batch effect). Read with ``readers.read_voc`` (or ``read_bccd``)."""
    _check_common(difficulty, shortcut, shortcut_rate)
    params = dict(n_patients=n_patients, smears_per_patient=smears_per_patient, seed=seed, shape=list(shape),
                  mpp=mpp, cells_per_smear=list(cells_per_smear), all_fraction=all_fraction,
                  blast_fraction=list(blast_fraction), difficulty=difficulty, stain_shift=stain_shift,
                  shortcut=shortcut, shortcut_rate=shortcut_rate)

    def build(tmp: Path) -> None:
        n_all = round(n_patients * all_fraction)
        table, rows = [], []
        for p in range(n_patients):
            prng = _rng(seed, 1, p)
            is_all = p < n_all
            fraction = float(prng.uniform(*blast_fraction)) if is_all else 0.0
            stain = random_stain(prng, stain_shift)
            subject = f"P{p + 1:03d}"
            label = "ALL" if is_all else "healthy"
            table.append(dict(subject=subject, label=label, blast_fraction=round(fraction, 4), stain=_stain_text(stain)))
            for s in range(smears_per_patient):
                rng = _rng(seed, 2 + p, s)
                n = int(rng.integers(cells_per_smear[0], cells_per_smear[1] + 1))
                types = _normal_types(rng, n)
                if is_all:
                    types = [_blast_type(rng) if rng.uniform() < fraction else t for t in types]
                f = render_field(rng, shape, mpp, types, stain=stain, difficulty=difficulty,
                                 rbc_density=rng.uniform(0.35, 0.65))
                cue = cue_class(rng, int(is_all), 2, shortcut_rate) if shortcut else 0
                image = apply_cue(f.image, shortcut, cue, 2)
                stem = f"{subject}_S{s + 1}"
                _write_image(tmp / "JPEGImages" / f"{stem}.jpg", image)
                _voc_xml(tmp / "Annotations" / f"{stem}.xml", f"{stem}.jpg", shape, f.boxes, f.box_labels,
                         extra={"subject": subject, "label": label})
                _write_mask(tmp / "masks" / "JPEGImages" / f"{stem}.png", f.nucleus, f.cytoplasm)
                rows.append(dict(file=f"JPEGImages/{stem}.jpg", label=label, subject=subject,
                                 cell_types=";".join(f.cell_types),
                                 n_blasts=sum(t in BLAST_TYPES for t in f.cell_types), cue=cue if shortcut else ""))
        with (tmp / "patients.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]) if table else ["subject"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(table)
        _write_truth(tmp, rows)

    return cached_dataset("patients", params, build, root)
