"""One reader per dataset layout, each returning a list of :class:`~leukutils.data.records.Record`.

Layouts (real datasets and their synthetic twins from :mod:`leukutils.data.synth`):

============================  ===========================================================================
``read_cnmc``                 ``fold_k/{all,hem}/UID_<subject>_<image>_<cell>_<class>.bmp`` (C-NMC 2019)
``read_all_idb1``             ``im/ImNNN_<0|1>.jpg`` + ``xyc/ImNNN_<0|1>.xyc`` blast centres (ALL-IDB1)
``read_all_idb2``             ``img/ImNNN_<0|1>.tif`` (ALL-IDB2)
``read_bccd`` / ``read_voc``  ``[BCCD/]{JPEGImages,Annotations,ImageSets/Main}`` Pascal VOC (BCCD, patients)
``read_segmentation_wbc``     ``[Dataset N/]NNN.bmp`` + ``NNN.png`` (JTSC, CellaVision)
``read_class_folders``        ``<class>/*.<image>`` (Aria ALL, Raabin-WBC, FAB L1/L2/L3)
============================  ===========================================================================

Readers check what they can without decoding every image (names, folders, XML sizes, mask headers)
and raise :class:`DatasetError` naming the file and the fix. With ``strict=False`` a bad item is skipped
instead, and every skip is counted in the returned list's :class:`ReadReport` (``records.report``) and
announced with one warning: nothing is dropped silently. :func:`verify_images` decodes every image
when a full check is wanted. Synthetic ground truth (``masks/`` and ``truth.csv`` beside the layout) is
attached when present (``mask_path``, ``extra``).

Pixels: :func:`load_image` (RGB), :func:`load_mask` (label mask), :class:`ImageLoader` (a callable
path → image that can cache what it read and be subclassed to prepare it).
"""
from __future__ import annotations

import csv
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .records import Record

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_IGNORED = {"thumbs.db", ".ds_store", "manifest.sha256", "license", "readme.md", "readme.rst", "readme.txt",
            "truth.csv", ".synth.json"}
_METADATA_SUFFIXES = (".csv", ".txt", ".xml", ".xyc", ".json", ".sha256", ".md", ".rst")


class DatasetError(ValueError):
    """A dataset folder or file is not what its layout promises; the message names the file and the fix."""


class ImageModeWarning(UserWarning):
    """An image was grey, RGBA, palette or 16-bit and was converted to 8-bit RGB."""


@dataclass
class ReadReport:
    """What a reader read and what it skipped (with ``strict=False``), per reason."""

    layout: str
    read: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, path) -> None:
        self.skipped.setdefault(reason, []).append(str(path))

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def __str__(self) -> str:
        parts = ", ".join(f"{len(v)} {k}" for k, v in sorted(self.skipped.items()))
        return f"{self.layout}: {self.read} read, {self.n_skipped} skipped" + (f" ({parts})" if parts else "")


class RecordList(list):
    """A list of records that also carries the :class:`ReadReport` of the read."""

    report: ReadReport


def _finish(records: list[Record], report: ReadReport) -> RecordList:
    report.read = len(records)
    if report.n_skipped:
        warnings.warn(f"{report}; first skipped: {next(iter(report.skipped.values()))[0]}", stacklevel=3)
    out = RecordList(records)
    out.report = report
    return out


def _problem(report: ReadReport, strict: bool, reason: str, path, message: str) -> None:
    if strict:
        raise DatasetError(message)
    report.skip(reason, path)


def _require_dir(root, what: str) -> Path:
    if root is None:
        raise DatasetError(f"no folder given for {what}; pass the dataset folder (see data/README.md)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{what}: folder {root} does not exist; check the path or fetch the dataset "
                           "(`leukutils data`) or set LEUKUTILS_DATA_MIRROR")
    return root


def _images_in(folder: Path, report: ReadReport) -> list[Path]:
    """Image files of a folder, sorted; other files are reported (never silently dropped)."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            out.append(path)
        elif path.name.lower() not in _IGNORED and path.suffix.lower() not in _METADATA_SUFFIXES:
            report.skip("not an image", path)
    return out


def _truth(root: Path) -> dict[str, dict]:
    """Synthetic ground truth rows keyed by relative path (empty for real data)."""
    path = root / "truth.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def _synthetic_mask(root: Path, rel: Path) -> Path | None:
    candidate = root / "masks" / rel.with_suffix(".png")
    return candidate if candidate.exists() else None


def _extra(truth: dict, rel: Path) -> dict:
    row = truth.get(rel.as_posix())
    if not row:
        return {}
    return {k: v for k, v in row.items() if k not in ("file", "label", "subject") and v != ""}


# --------------------------------------------------------------------------------------------------
# images and masks
# --------------------------------------------------------------------------------------------------
def load_image(path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB.

    Grey, grey+alpha, RGBA, palette and 16-bit images are converted (with an :class:`ImageModeWarning`
    naming the file); an unreadable or truncated file raises :class:`DatasetError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"image {path} does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode == "RGB":
                return np.asarray(image, dtype=np.uint8).copy()
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image).astype(np.float64)
                scale = 255.0 / max(array.max(), 1.0) if array.max() > 255 else 1.0
                grey = np.clip(array * scale, 0, 255).astype(np.uint8)
                converted = np.stack([grey] * 3, axis=-1)
            else:
                converted = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DatasetError(f"image {path} is unreadable or truncated ({error}); re-download it or remove it "
                           "from the dataset folder") from error
    warnings.warn(f"image {path} is {mode}, converted to RGB", ImageModeWarning, stacklevel=2)
    return converted


def load_mask(path) -> np.ndarray:
    """Read a label mask as (H, W) uint8 (values kept as stored, e.g. 0/128/255).

    An RGB mask whose channels agree is reduced to one channel; one whose channels differ raises.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"mask {path} does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DatasetError(f"mask {path} is unreadable or truncated ({error})") from error
    if array.ndim == 3:
        if array.shape[2] == 4:
            array = array[..., :3]
        if not (np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])):
            raise DatasetError(f"mask {path} is a colour image with differing channels; expected one channel "
                               "(255 nucleus, 128 cytoplasm, 0 background)")
        array = array[..., 0]
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return array.astype(np.uint8)


def image_size(path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding; :class:`DatasetError` if unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"image {path} is unreadable ({error}); re-download it or remove it") from error


class ImageLoader:
    """Reads images from files as (H, W, 3) uint8 RGB, optionally keeping each in memory by path.

    Call it with a path (``loader(path)``), e.g. as the ``loader`` of
    :class:`leukutils.data.torch_datasets.ImageDataset`. Subclasses change what is returned by
    overriding :meth:`prepare`, which receives each image after :func:`load_image` has read it (see
    :class:`leukutils.segment.ClassifierInput`).

    Parameters
    ----------
    cache : keep the prepared image of each path in memory, so that a path is read and prepared once.
        Leave it off when :meth:`prepare` is random (e.g. a corruption drawn per read).
    """

    def __init__(self, cache: bool = True):
        self._cache: dict[str, np.ndarray] | None = {} if cache else None

    def prepare(self, image: np.ndarray, path: str) -> np.ndarray:
        """The image returned for ``path`` (here: as read). ``image``: (H, W, 3) uint8 RGB."""
        return image

    def __call__(self, path) -> np.ndarray:
        key = str(path)
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        image = self.prepare(load_image(path), key)
        if self._cache is not None:
            self._cache[key] = image
        return image


# --------------------------------------------------------------------------------------------------
# C-NMC 2019
# --------------------------------------------------------------------------------------------------
_CNMC_NAME = re.compile(r"^UID_(?P<subject>H?\d+)_(?P<image>\d+)_(?P<cell>\d+)_(?P<cls>all|hem)\.\w+$", re.I)


def read_cnmc(root, strict: bool = True) -> RecordList:
    """C-NMC 2019 training data: ``<root>/fold_k/{all,hem}/UID_<subject>_<image>_<cell>_<class>.bmp``.

    ``root`` may be the folder holding the folds or ``training_data`` above it. Subject ids are the
    ``<subject>`` field (``H``-prefixed for healthy subjects); ``split`` is the fold.
    """
    root = _require_dir(root, "C-NMC")
    if not any(root.glob("fold_*")) and (root / "training_data").is_dir():
        root = root / "training_data"
    folds = sorted(p for p in root.glob("fold_*") if p.is_dir())
    if not folds:
        raise DatasetError(f"C-NMC: no fold_* folders in {root}; expected fold_0/all, fold_0/hem, ...")
    report, truth, records = ReadReport("cnmc"), _truth(root), []
    for fold in folds:
        for cls in ("all", "hem"):
            folder = fold / cls
            if not folder.is_dir():
                raise DatasetError(f"C-NMC: class folder {folder} is missing; each fold needs all/ and hem/")
            images = _images_in(folder, report)
            if not images:
                raise DatasetError(f"C-NMC: class folder {folder} is empty")
            for path in images:
                match = _CNMC_NAME.match(path.name)
                if not match or match["cls"].lower() != cls:
                    _problem(report, strict, "unexpected file name", path,
                             f"C-NMC: {path} does not match UID_<subject>_<image>_<cell>_{cls}.<ext>; "
                             "rename or remove it")
                    continue
                rel = path.relative_to(root)
                records.append(Record(path, cls, match["subject"], _synthetic_mask(root, rel), source="cnmc",
                                      split=fold.name, extra=_extra(truth, rel)))
    return _finish(records, report)


# --------------------------------------------------------------------------------------------------
# ALL-IDB1 and ALL-IDB2
# --------------------------------------------------------------------------------------------------
_IDB_NAME = re.compile(r"^Im(?P<number>\d+)_(?P<label>[01])\.\w+$", re.I)


def _read_xyc(path: Path) -> np.ndarray:
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if len(parts) < 2:
            raise DatasetError(f"{path}:{line_no}: expected 'x y', got {line!r}")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError as error:
            raise DatasetError(f"{path}:{line_no}: expected two numbers, got {line!r}") from error
    return np.array(rows, np.float32).reshape(-1, 2)


def _idb_folder(root, name: str, folder: str, expected: str = "") -> tuple[Path, ReadReport, dict, list[Path]]:
    """An ALL-IDB set's root (``root``, or its ``ALL_IDB<k>/`` subfolder as the archive unpacks), a fresh
    report, its synthetic truth table (if any) and the images in ``<root>/<folder>``; an error naming the
    folder when it is missing or holds no image."""
    root = _require_dir(root, name)
    nested = root / name.replace("-", "_")
    if not (root / folder).is_dir() and nested.is_dir():
        root = nested
    if not (root / folder).is_dir():
        raise DatasetError(f"{name}: folder {root / folder} is missing{expected}")
    report = ReadReport(name.lower().replace("-", "_"))
    truth = _truth(root)
    images = _images_in(root / folder, report)
    if not images:
        raise DatasetError(f"{name}: no images in {root / folder}")
    return root, report, truth, images


def _idb_name(path: Path, name: str, suffix: str, report: ReadReport, strict: bool):
    """The match of an ALL-IDB file name ``ImNNN_<0|1><suffix>`` (groups ``label``), or None after the
    problem is reported (an error when ``strict``)."""
    match = _IDB_NAME.match(path.name)
    if not match:
        _problem(report, strict, "unexpected file name", path,
                 f"{name}: {path} does not match ImNNN_<0|1>{suffix}; rename or remove it")
    return match


def read_all_idb1(root, strict: bool = True) -> RecordList:
    """ALL-IDB1: ``<root>/im/ImNNN_<label>.jpg`` with blast centres in ``<root>/xyc/ImNNN_<label>.xyc``.

    ``label`` is ``"1"`` (ALL) or ``"0"`` (healthy); ``subject`` is ``ImNNN`` (one patient per image);
    ``centres`` holds the (n, 2) ``x, y`` blast centres (empty for healthy images). A centre outside
    the image is an error.
    """
    root, report, truth, images = _idb_folder(root, "ALL-IDB1", "im", "; expected im/ and xyc/")
    records = []
    for path in images:
        match = _idb_name(path, "ALL-IDB1", ".jpg", report, strict)
        if not match:
            continue
        xyc = root / "xyc" / f"{path.stem}.xyc"
        if xyc.exists():
            centres = _read_xyc(xyc)
        elif match["label"] == "0":
            centres = np.zeros((0, 2), np.float32)
        else:
            _problem(report, strict, "missing blast centres", path,
                     f"ALL-IDB1: {xyc} is missing for the ALL image {path}")
            continue
        if len(centres):
            width, height = image_size(path)
            if (centres < 0).any() or (centres[:, 0] > width).any() or (centres[:, 1] > height).any():
                _problem(report, strict, "centre outside image", xyc,
                         f"ALL-IDB1: {xyc} has a centre outside the {width}×{height} image {path}")
                continue
        rel = path.relative_to(root)
        records.append(Record(path, match["label"], path.stem.split("_")[0], _synthetic_mask(root, rel),
                              centres=centres, source="all_idb1", extra=_extra(truth, rel)))
    return _finish(records, report)


def read_all_idb2(root, strict: bool = True) -> RecordList:
    """ALL-IDB2: ``<root>/img/ImNNN_<label>.tif``, one centred cell each; label ``"1"`` blast, ``"0"``
    normal. No subject ids are published."""
    root, report, truth, images = _idb_folder(root, "ALL-IDB2", "img")
    records = []
    for path in images:
        match = _idb_name(path, "ALL-IDB2", ".tif", report, strict)
        if not match:
            continue
        rel = path.relative_to(root)
        records.append(Record(path, match["label"], None, _synthetic_mask(root, rel), source="all_idb2",
                              extra=_extra(truth, rel)))
    return _finish(records, report)


# --------------------------------------------------------------------------------------------------
# Pascal VOC (BCCD, synthetic patients)
# --------------------------------------------------------------------------------------------------
def read_voc(root, strict: bool = True, source: str = "voc", bad_boxes: str = "raise") -> RecordList:
    """A Pascal-VOC folder: ``JPEGImages/*.jpg`` with ``Annotations/<stem>.xml``.

    Each record holds ``boxes`` (n, 4) ``x0, y0, x1, y1`` and ``box_labels``; ``label`` is the XML's
    ``<label>`` if present (synthetic patients: ``ALL``/``healthy``), else ``"smear"``; ``subject`` the
    XML's ``<subject>`` if present; ``split`` the ``ImageSets/Main/{train,val,test}.txt`` list holding it.
    A box outside the image (beyond a 2-pixel tolerance) or of zero area is an error, unless
    ``bad_boxes="drop"``: then that box alone is dropped and counted in the report. An image without
    annotation is an error.
    """
    if bad_boxes not in ("raise", "drop"):
        raise ValueError(f"bad_boxes must be 'raise' or 'drop', got {bad_boxes!r}")
    root = _require_dir(root, "VOC")
    for folder in ("JPEGImages", "Annotations"):
        if not (root / folder).is_dir():
            raise DatasetError(f"VOC: folder {root / folder} is missing; expected JPEGImages/ and Annotations/")
    splits: dict[str, str] = {}
    main = root / "ImageSets" / "Main"
    for split in ("train", "val", "test"):
        if (main / f"{split}.txt").exists():
            for stem in (main / f"{split}.txt").read_text().split():
                splits[stem] = split
    report, truth, records = ReadReport(source), _truth(root.parent if source == "bccd" else root), []
    images = _images_in(root / "JPEGImages", report)
    if not images:
        raise DatasetError(f"VOC: no images in {root / 'JPEGImages'}")
    for path in images:
        xml_path = root / "Annotations" / f"{path.stem}.xml"
        if not xml_path.exists():
            _problem(report, strict, "missing annotation", path, f"VOC: {xml_path} is missing for {path}")
            continue
        try:
            tree = ET.parse(xml_path).getroot()
        except ET.ParseError as error:
            _problem(report, strict, "unreadable annotation", xml_path, f"VOC: {xml_path} is not valid XML ({error})")
            continue
        size = tree.find("size")
        if size is not None and size.findtext("width"):
            width, height = int(size.findtext("width")), int(size.findtext("height"))
        else:
            width, height = image_size(path)
        boxes, labels = [], []
        bad = None
        for obj in tree.iter("object"):
            bnd = obj.find("bndbox")
            box = [float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
            outside = box[0] < -2 or box[1] < -2 or box[2] > width + 2 or box[3] > height + 2
            if outside or box[2] <= box[0] or box[3] <= box[1]:
                message = (f"VOC: {xml_path} has a box {box} {'outside the' if outside else 'of zero area in the'} "
                           f"{width}×{height} image; fix the annotation, or pass bad_boxes='drop'")
                if bad_boxes == "drop":
                    report.skip("box outside image or empty (box dropped)", f"{xml_path}:{box}")
                    continue
                _problem(report, strict, "box outside image or empty (image skipped)", xml_path, message)
                bad = box
                break
            boxes.append(box)
            labels.append(obj.findtext("name", "").strip())
        if bad is not None:
            continue
        rel = path.relative_to(root.parent if source == "bccd" else root)
        mask_root = root.parent if source == "bccd" else root
        records.append(Record(path, tree.findtext("label", "smear"), tree.findtext("subject"),
                              _synthetic_mask(mask_root, rel),
                              boxes=np.array(boxes, np.float32).reshape(-1, 4), box_labels=labels,
                              source=source, split=splits.get(path.stem), extra=_extra(truth, rel)))
    return _finish(records, report)


def read_bccd(root, strict: bool = True, bad_boxes: str = "drop") -> RecordList:
    """BCCD (``<root>/BCCD/{JPEGImages,Annotations,ImageSets/Main}``; ``root`` may also be ``BCCD``
    itself): boxes ``WBC``/``RBC``/``Platelets`` (or ``blast``/``normal``), splits from ImageSets.

    The real BCCD has two zero-area boxes (images 00338 and 00343); by default such boxes are dropped,
    counted in ``records.report`` and announced in a warning (``bad_boxes="raise"`` to refuse them)."""
    root = _require_dir(root, "BCCD")
    if (root / "BCCD").is_dir():
        root = root / "BCCD"
    return read_voc(root, strict, source="bccd", bad_boxes=bad_boxes)


# --------------------------------------------------------------------------------------------------
# segmentation_WBC (JTSC / CellaVision)
# --------------------------------------------------------------------------------------------------
JTSC_CLASSES = {1: "neutrophil", 2: "lymphocyte", 3: "monocyte", 4: "eosinophil", 5: "basophil"}


def read_segmentation_wbc(root, strict: bool = True) -> RecordList:
    """segmentation_WBC: ``NNN.bmp`` images with ``NNN.png`` masks (255 nucleus, 128 cytoplasm, 0 rest).

    ``root`` is the folder of the pairs or one holding a single ``Dataset N`` folder. The label is the
    cell class from ``Class Labels of <folder>.csv`` (in the folder or beside it) when present, else
    ``"wbc"``. A missing mask or one whose size differs from its image is an error.
    """
    root = _require_dir(root, "segmentation_WBC")
    if not any(root.glob("*.bmp")):
        inner = sorted(p for p in root.glob("Dataset*") if p.is_dir())
        if len(inner) == 1:
            root = inner[0]
        elif len(inner) > 1:
            raise DatasetError(f"segmentation_WBC: {root} holds {[p.name for p in inner]}; pass one of them")
    labels: dict[str, str] = {}
    for candidate in (root / f"Class Labels of {root.name}.csv", root.parent / f"Class Labels of {root.name}.csv"):
        if candidate.exists():
            with candidate.open(newline="", encoding="utf-8-sig") as handle:
                for row in csv.reader(handle):
                    if row and row[0].strip().isdigit():
                        labels[f"{int(row[0]):03d}"] = JTSC_CLASSES.get(int(row[1]), row[1].strip())
            break
    report, records = ReadReport("segmentation_wbc"), []
    truth = _truth(root.parent) or _truth(root)
    images = [p for p in _images_in(root, report) if p.suffix.lower() != ".png"]
    if not images:
        raise DatasetError(f"segmentation_WBC: no .bmp/.jpg images in {root}")
    for path in images:
        mask = path.with_suffix(".png")
        if not mask.exists():
            _problem(report, strict, "missing mask", path, f"segmentation_WBC: mask {mask} is missing for {path}")
            continue
        if image_size(path) != image_size(mask):
            _problem(report, strict, "mask size differs", mask,
                     f"segmentation_WBC: mask {mask} is {image_size(mask)} but image {path} is {image_size(path)}")
            continue
        rel = path.relative_to(root.parent)
        records.append(Record(path, labels.get(path.stem, "wbc"), None, mask, source="segmentation_wbc",
                              extra=_extra(truth, rel)))
    return _finish(records, report)


# --------------------------------------------------------------------------------------------------
# class folders
# --------------------------------------------------------------------------------------------------
def read_class_folders(root, classes=None, strict: bool = True) -> RecordList:
    """One folder per class (Aria ``Benign/Early/Pre/Pro``, Raabin-WBC, FAB ``L1/L2/L3``).

    ``classes``: the class folder names expected (all must exist and be non-empty); default: every
    sub-folder except ``masks``. Labels are the folder names.
    """
    root = _require_dir(root, "class folders")
    if classes is None:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "masks" and not p.name.startswith("."))
        if not classes:
            raise DatasetError(f"class folders: {root} has no class sub-folders")
    report, truth, records = ReadReport("class_folders"), _truth(root), []
    for cls in classes:
        folder = root / cls
        if not folder.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise DatasetError(f"class folders: class folder {folder} is missing (present: {present}); "
                               "pass classes= to choose others")
        images = _images_in(folder, report)
        if not images:
            raise DatasetError(f"class folders: class folder {folder} holds no images")
        for path in images:
            rel = path.relative_to(root)
            records.append(Record(path, cls, None, _synthetic_mask(root, rel), source="class_folders",
                                  extra=_extra(truth, rel)))
    return _finish(records, report)


def verify_images(records: list[Record], strict: bool = True) -> ReadReport:
    """Decode every image (and mask) of ``records``: the readers only check names and headers.

    Returns a :class:`ReadReport` of what failed (unreadable or truncated, or a mask whose size differs
    from its image); with ``strict`` (default) raises :class:`DatasetError` listing them instead.
    Grey/RGBA images are not failures (they are converted when loaded) but are counted as ``converted``.
    """
    report = ReadReport("verify")
    for record in records:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                image = load_image(record.path)
            if any(issubclass(w.category, ImageModeWarning) for w in caught):
                report.skip("converted", record.path)
            if record.mask_path is not None:
                mask = load_mask(record.mask_path)
                if mask.shape != image.shape[:2]:
                    report.skip("mask size differs", record.mask_path)
        except DatasetError:
            report.skip("unreadable", record.path)
    report.read = len(records)
    failures = {k: v for k, v in report.skipped.items() if k != "converted"}
    if strict and failures:
        listed = "; ".join(f"{k}: {', '.join(v[:5])}" + (" ..." if len(v) > 5 else "") for k, v in failures.items())
        raise DatasetError(f"{sum(len(v) for v in failures.values())} of {len(records)} images failed: {listed}")
    return report


def summary(records: list[Record]) -> dict[str, int]:
    """Number of records per label, sorted by label."""
    return dict(sorted(Counter(r.label for r in records).items()))
