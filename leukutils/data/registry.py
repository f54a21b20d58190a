"""Registry of the real datasets: where each comes from, its licence and citation, its layout, and the
sha256 of every file.

Built on pooch's registry-of-hashes pattern (as scikit-image's data module is): each downloadable
dataset has a manifest ``leukutils/data/manifests/<name>.sha256`` (``sha256sum`` format, one file a
line) and a per-file base URL. :func:`fetch` downloads every file with a progress bar into
``<cache>/<folder>.partial/`` (pooch verifies each file's hash, and files already there are kept, so
an interrupted fetch resumes), then renames the folder into place, so a half-written dataset is never
seen under its final name. A *mirror* folder (``--mirror DIR`` or ``$LEUKUTILS_DATA_MIRROR``) holding
``<folder>/`` is used instead of the network: :func:`locate` verifies and returns it in place.

Datasets that may not be redistributed or sit behind a log-in are registered as *manual*: the
registry says where to get them and where to put them, and verifies their layout when present.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from .. import config

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"


class DatasetError(RuntimeError):
    """A dataset is missing, incomplete or corrupt; the message names the files and the fix."""


@dataclass(frozen=True)
class Dataset:
    """One real dataset.

    Attributes
    ----------
    name : short name used on the command line (``bccd``).
    title : what it is, in a line.
    folder : folder name under the data cache or mirror (``bccd``, ``wbc-seg-jtsc``).
    layout : the expected layout inside that folder, for error messages and the README.
    reader : name of the function in :mod:`leukutils.data.readers` that reads it.
    licence, citation : as the dataset's authors ask.
    base_url : per-file download prefix (the manifest's relative path is appended), or None.
    manual : where to get a dataset that cannot be downloaded automatically, or None.
    manifest : manifest file name in ``manifests/``, or None when no hashes are known.
    data_subdir : sub-folder that the reader is given (``Dataset 1`` for JTSC), relative to ``folder``.
    """

    name: str
    title: str
    folder: str
    layout: str
    reader: str
    licence: str
    citation: str
    base_url: str | None = None
    manual: str | None = None
    manifest: str | None = None
    data_subdir: str = ""
    required: tuple[str, ...] = field(default_factory=tuple)

    @property
    def downloadable(self) -> bool:
        return self.base_url is not None and self.manifest is not None

    def hashes(self) -> dict[str, str]:
        """Relative path → sha256 from the manifest (empty for datasets without one)."""
        return read_manifest(MANIFEST_DIR / self.manifest) if self.manifest else {}


def _github_raw(repo: str, commit: str, prefix: str = "") -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{prefix}"


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            name="bccd",
            title="BCCD: 364 peripheral-blood smear photos (640×480 JPEG) with Pascal-VOC boxes for WBC, RBC, platelets",
            folder="bccd",
            layout="BCCD/JPEGImages/*.jpg, BCCD/Annotations/*.xml, BCCD/ImageSets/Main/{train,val,test,trainval}.txt",
            reader="read_bccd",
            licence="MIT",
            citation="Shenggan, BCCD Dataset, https://github.com/Shenggan/BCCD_Dataset (2017)",
            base_url=_github_raw("Shenggan/BCCD_Dataset", "d272fb14cdff6e473fafeeeba32aba5f560e9e43"),
            manifest="bccd.sha256",
        ),
        Dataset(
            name="jtsc",
            title="JTSC (Dataset 1 of segmentation_WBC): 300 single-WBC images 120×120 with nucleus/cytoplasm ground truth",
            folder="wbc-seg-jtsc",
            layout="Dataset 1/NNN.bmp + Dataset 1/NNN.png (255 nucleus, 128 cytoplasm, 0 background), 'Class Labels of Dataset 1.csv'",
            reader="read_segmentation_wbc",
            licence="GPL-3.0; acknowledge Jiangxi Tecom Science Corporation",
            citation="Zheng X., Wang Y., Wang G., Liu J. Fast and robust segmentation of white blood cell images "
                     "by self-supervised learning. Micron 107:55-71 (2018)",
            base_url=_github_raw("zxaoyou/segmentation_WBC", "fa9c01622f52bccb9aeb8a6f2628f564e377767d"),
            manifest="jtsc.sha256",
            data_subdir="Dataset 1",
        ),
        Dataset(
            name="cellavision",
            title="CellaVision (Dataset 2 of segmentation_WBC): 100 single-WBC images 300×300 with nucleus/cytoplasm ground truth",
            folder="wbc-seg-cellavision",
            layout="Dataset 2/NNN.bmp + Dataset 2/NNN.png (255 nucleus, 128 cytoplasm, 0 background)",
            reader="read_segmentation_wbc",
            licence="GPL-3.0",
            citation="Zheng X., Wang Y., Wang G., Liu J. Micron 107:55-71 (2018)",
            base_url=_github_raw("zxaoyou/segmentation_WBC", "fa9c01622f52bccb9aeb8a6f2628f564e377767d"),
            manifest="cellavision.sha256",
            data_subdir="Dataset 2",
        ),
        Dataset(
            name="aria",
            title="ALL image dataset (Aria et al.): peripheral-blood fields 224×224, Benign (hematogones) / Early / Pre / Pro B-ALL",
            folder="aria-all",
            layout="{Benign,Early,Pre,Pro}/WBC-*.jpg (the manifest covers a fixed subset of 2,767 of the 3,256 images)",
            reader="read_class_folders",
            licence="CC BY 4.0",
            citation="Aria M., Ghaderzadeh M., Bashash D. et al. Acute Lymphoblastic Leukemia (ALL) image dataset. "
                     "Kaggle / Mendeley Data (2021), doi:10.34740/KAGGLE/DSV/2175623",
            base_url=_github_raw("mikeacquaviva/APS360-Leukaemia-Classification",
                                 "ecad3b571b0dcc773f5deada4c8664a2b63e2234", "images/"),
            manual="Kaggle dataset 'mehradaria/leukemia' (folder 'Original'); put the class folders in <data>/aria-all/",
            manifest="aria.sha256",
        ),
        Dataset(
            name="cnmc",
            title="C-NMC 2019: 15,135 segmented single-cell images (ALL vs normal B cells), 118 subjects",
            folder="cnmc",
            layout="training_data/fold_{0,1,2}/{all,hem}/UID_<subject>_<image>_<cell>_<all|hem>.bmp",
            reader="read_cnmc",
            licence="CC BY 3.0",
            citation="Gupta A., Gupta R. ALL Challenge dataset of ISBI 2019 (C-NMC 2019). The Cancer Imaging Archive (2019), "
                     "doi:10.7937/tcia.2019.dc64i46r",
            manual="The Cancer Imaging Archive (C-NMC 2019) or Kaggle 'andrewmvd/leukemia-classification' (about 10 GB); "
                   "unpack so that <data>/cnmc/training_data/fold_0/all exists",
        ),
        Dataset(
            name="all-idb1",
            title="ALL-IDB1: 108 smear images (2592×1944) with blast centres (.xyc)",
            folder="all-idb1",
            layout="im/ImNNN_{0,1}.jpg + xyc/ImNNN_{0,1}.xyc",
            reader="read_all_idb1",
            licence="research use on request; no redistribution",
            citation="Labati R.D., Piuri V., Scotti F. ALL-IDB: the acute lymphoblastic leukemia image database for "
                     "image processing. IEEE ICIP (2011)",
            manual="request from the ALL-IDB authors (Università degli Studi di Milano); put 'im/' and 'xyc/' in <data>/all-idb1/",
        ),
        Dataset(
            name="all-idb2",
            title="ALL-IDB2: 260 single-cell crops (257×257), half blasts",
            folder="all-idb2",
            layout="img/ImNNN_{0,1}.tif",
            reader="read_all_idb2",
            licence="research use on request; no redistribution",
            citation="Labati R.D., Piuri V., Scotti F. IEEE ICIP (2011)",
            manual="request from the ALL-IDB authors; put 'img/' in <data>/all-idb2/",
        ),
        Dataset(
            name="raabin",
            title="Raabin-WBC: normal white cells in class folders (and Raabin leukemia images per patient)",
            folder="raabin-wbc",
            layout="<class>/*.jpg (Basophil, Eosinophil, Lymphocyte, Monocyte, Neutrophil)",
            reader="read_class_folders",
            licence="CC BY 4.0 (check the current terms on raabindata.com)",
            citation="Kouzehkanan Z.M. et al. A large dataset of white blood cells containing cell locations and types, "
                     "along with segmented nuclei and cytoplasm. Scientific Reports 12:1123 (2022)",
            manual="https://raabindata.com (free registration); put the class folders in <data>/raabin-wbc/",
        ),
    ]
}


def get(name: str) -> Dataset:
    """The registered dataset ``name``; a clear error listing the known names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def read_manifest(path: str | os.PathLike) -> dict[str, str]:
    """Parse a ``sha256sum``-format manifest into ``{relative path: sha256}`` (``./`` prefixes dropped)."""
    entries: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        if len(digest) != 64 or not rel:
            raise DatasetError(f"{path}:{number}: not a 'sha256  path' line: {line!r}")
        entries[rel.removeprefix("./")] = digest.lower()
    return entries


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def default_root(dataset: Dataset) -> Path:
    """Where :func:`fetch` puts the dataset: ``<cache>/<folder>``."""
    return config.cache_dir() / dataset.folder


def candidate_roots(dataset: Dataset, mirror: str | os.PathLike | None = None) -> list[Path]:
    """Folders that may hold the dataset, in the order they are tried: mirror, then the cache."""
    roots = []
    mirror_path = config.mirror_dir(mirror)
    if mirror_path is not None:
        roots.append(mirror_path / dataset.folder)
    roots.append(default_root(dataset))
    return roots


def verify(name: str, root: str | os.PathLike | None = None, mirror: str | os.PathLike | None = None,
           progress: bool = False) -> Path:
    """Check every file of the manifest under ``root`` (default: the located folder) against its sha256.

    Returns the root. Raises :class:`DatasetError` naming each missing or corrupt file (up to 20, then
    a count). For a manual dataset without a manifest, checks that the layout's top folders exist.
    """
    dataset = get(name)
    if root is None:
        root = next((r for r in candidate_roots(dataset, mirror) if r.is_dir()), None)
        if root is None:
            raise DatasetError(_missing_message(dataset, mirror))
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{dataset.name}: folder {root} does not exist. " + _how_to_get(dataset))
    hashes = dataset.hashes()
    if not hashes:
        sub = root / dataset.data_subdir if dataset.data_subdir else root
        if not any(sub.iterdir()):
            raise DatasetError(f"{dataset.name}: {sub} is empty; expected layout: {dataset.layout}")
        return root
    problems: list[str] = []
    items = sorted(hashes.items())
    if progress:
        items = config.progress_bar(items, desc=f"verify {dataset.name}", unit="file")
    for rel, digest in items:
        path = root / rel
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif sha256_of(path) != digest:
            problems.append(f"checksum mismatch: {path} (expected sha256 {digest[:12]}…, got {sha256_of(path)[:12]}…)")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError(f"{dataset.name}: {len(problems)} of {len(hashes)} files failed verification under "
                           f"{root}:\n  {shown}{more}\nDelete the folder and run `leukutils data fetch {name}` again.")
    return root


def locate(name: str, mirror: str | os.PathLike | None = None, check: str = "files") -> Path | None:
    """The folder the dataset's reader should be given (``root/data_subdir``), or None if absent.

    ``check="files"`` (default) confirms every manifest file exists (cheap); ``"sha256"`` verifies
    every hash; ``"none"`` only checks the folder exists. A folder that exists but fails the check
    raises :class:`DatasetError` (an incomplete dataset is an error, not "absent").
    """
    dataset = get(name)
    for root in candidate_roots(dataset, mirror):
        if not root.is_dir():
            continue
        if check == "sha256":
            verify(name, root)
        elif check == "files":
            missing = [rel for rel in dataset.hashes() if not (root / rel).is_file()]
            if missing:
                raise DatasetError(f"{dataset.name}: {len(missing)} files missing under {root}, e.g. {missing[0]}; "
                                   f"run `leukutils data verify {name}` for the list")
        return root / dataset.data_subdir if dataset.data_subdir else root
    return None


def _how_to_get(dataset: Dataset) -> str:
    if dataset.downloadable:
        return f"Run `leukutils data fetch {dataset.name}` (or point --mirror/$LEUKUTILS_DATA_MIRROR at a folder holding {dataset.folder}/)."
    return f"It is not downloadable automatically: {dataset.manual}."


def _missing_message(dataset: Dataset, mirror) -> str:
    tried = ", ".join(str(r) for r in candidate_roots(dataset, mirror))
    return f"{dataset.name} not found (looked in {tried}). " + _how_to_get(dataset)


def _copy_from_mirror(source_root: Path):
    """A pooch downloader that copies from a local mirror folder instead of the network."""

    def download(url: str, output_file, pooch_instance) -> None:
        rel = urllib.parse.unquote(url.split("mirror://", 1)[1])
        source = source_root / rel
        if not source.is_file():
            raise DatasetError(f"mirror file missing: {source}")
        shutil.copyfile(source, output_file)

    return download


def fetch(name: str, mirror: str | os.PathLike | None = None, progress: bool = True,
          dest: str | os.PathLike | None = None) -> Path:
    """Download (or copy from a mirror) every file of ``name`` into ``dest`` (default ``<cache>/<folder>``).

    Files go to ``<dest>.partial/`` first, each checked against its sha256 by pooch (a mismatch is an
    error naming the file); the folder is renamed to ``dest`` only when all are there. Re-running after
    an interruption keeps the files already verified. Returns ``dest``.
    """
    import pooch

    pooch.get_logger().setLevel("WARNING")
    dataset = get(name)
    if not dataset.downloadable:
        raise DatasetError(f"{dataset.name} cannot be fetched automatically. {_how_to_get(dataset)} "
                           f"Then pass its folder as data_dir, or put it under {default_root(dataset)}.")
    dest = Path(dest) if dest else default_root(dataset)
    if dest.is_dir():
        return verify(name, dest)
    partial = dest.with_name(dest.name + ".partial")
    mirror_path = config.mirror_dir(mirror)
    hashes = dataset.hashes()
    if mirror_path is not None and (mirror_path / dataset.folder).is_dir():
        base_url, downloader = "mirror://", _copy_from_mirror(mirror_path / dataset.folder)
    else:
        base_url, downloader = dataset.base_url, None
    fetcher = pooch.create(path=partial, base_url=base_url,
                           registry={rel: f"sha256:{digest}" for rel, digest in hashes.items()},
                           urls={rel: base_url + urllib.parse.quote(rel) for rel in hashes},
                           retry_if_failed=2)
    for rel in config.progress_bar(sorted(hashes), enabled=progress, desc=f"fetch {dataset.name}", unit="file"):
        try:
            if downloader is None:
                fetcher.fetch(rel)
            else:
                fetcher.fetch(rel, downloader=downloader)
        except ValueError as error:  # pooch's hash mismatch
            raise DatasetError(f"{dataset.name}: {rel}: {error}") from error
        except DatasetError:
            raise
        except Exception as error:
            raise DatasetError(f"{dataset.name}: could not get {rel} from {base_url}: {type(error).__name__}: {error}. "
                               f"Files fetched so far are kept in {partial}; run the command again to resume, "
                               f"or use a mirror folder.") from error
    verify(name, partial)
    partial.rename(dest)
    return dest


def status_table(mirror: str | os.PathLike | None = None):
    """A DataFrame of every dataset: name, title, licence, how to get it, whether present and where."""
    import pandas as pd

    rows = []
    for dataset in DATASETS.values():
        try:
            where = locate(dataset.name, mirror=mirror, check="none")
        except DatasetError:
            where = None
        rows.append({
            "name": dataset.name,
            "title": dataset.title,
            "licence": dataset.licence,
            "source": "download (sha256 manifest)" if dataset.downloadable else "manual",
            "files": len(dataset.hashes()) or None,
            "present": where is not None,
            "where": str(where) if where is not None else "",
        })
    return pd.DataFrame(rows).astype({"files": "Int64"})
