"""Readers: every layout on its synthetic twin, bad input with clear errors, real data when present."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from leukutils.data import readers, synth
from leukutils.data.readers import DatasetError, ImageModeWarning
from conftest import real_dataset


@pytest.fixture(scope="module")
def cnmc_root(tmp_path_factory):
    return synth.cnmc(tmp_path_factory.mktemp("cnmc") / "data", n_subjects=4, cells_per_subject=3, size=48)


def _copy(root, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


# --------------------------------------------------------------------------------- images and masks
def test_load_image_rgb(cnmc_root):
    record = readers.read_cnmc(cnmc_root)[0]
    image = readers.load_image(record.path)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA"])
def test_load_image_converts_grey_and_rgba_and_says_so(tmp_path, mode):
    path = tmp_path / f"odd_{mode}.png"
    Image.fromarray(np.full((5, 7, 3), 120, np.uint8)).convert(mode).save(path)
    with pytest.warns(ImageModeWarning, match=f"odd_{mode}.png is {mode}"):
        image = readers.load_image(path)
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8


def test_load_image_truncated_and_missing(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(DatasetError, match="cut.jpg is unreadable or truncated"):
        readers.load_image(path)
    with pytest.raises(DatasetError, match="does not exist"):
        readers.load_image(tmp_path / "nothing.png")


def test_image_loader_reads_once_when_caching(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((6, 5, 3), 7, np.uint8)).save(path)

    class Counting(readers.ImageLoader):
        calls = 0

        def prepare(self, image, key):
            Counting.calls += 1
            return image + 1

    cached = Counting()
    first = cached(path)
    assert first.shape == (6, 5, 3) and (first == 8).all()
    assert cached(str(path)) is first and Counting.calls == 1     # same file, str or Path: prepared once
    uncached = Counting(cache=False)
    uncached(path), uncached(path)
    assert Counting.calls == 3
    np.testing.assert_array_equal(readers.ImageLoader()(path), readers.load_image(path))
    with pytest.raises(DatasetError, match="does not exist"):
        readers.ImageLoader()(tmp_path / "missing.png")


def test_load_mask_rejects_colour_mask(tmp_path):
    path = tmp_path / "mask.png"
    array = np.zeros((4, 4, 3), np.uint8)
    array[0, 0] = (255, 0, 0)
    Image.fromarray(array).save(path)
    with pytest.raises(DatasetError, match="differing channels"):
        readers.load_mask(path)


# --------------------------------------------------------------------------------------- C-NMC
def test_cnmc_bad_names_error_or_are_counted(cnmc_root, tmp_path):
    root = _copy(cnmc_root, tmp_path)
    shutil.copy(next((root / "fold_0" / "all").glob("*.bmp")), root / "fold_0" / "all" / "cell.bmp")
    with pytest.raises(DatasetError, match="cell.bmp does not match UID_"):
        readers.read_cnmc(root)
    with pytest.warns(UserWarning, match="1 skipped"):
        records = readers.read_cnmc(root, strict=False)
    assert len(records) == 12 and records.report.n_skipped == 1
    assert "unexpected file name" in records.report.skipped


def test_cnmc_missing_or_empty_class_folder(cnmc_root, tmp_path):
    root = _copy(cnmc_root, tmp_path)
    for path in (root / "fold_0" / "hem").iterdir():
        path.unlink()
    with pytest.raises(DatasetError, match="hem is empty"):
        readers.read_cnmc(root)
    (root / "fold_0" / "hem").rmdir()
    with pytest.raises(DatasetError, match="hem is missing"):
        readers.read_cnmc(root)
    with pytest.raises(DatasetError, match="does not exist"):
        readers.read_cnmc(tmp_path / "nowhere")


def test_stray_files_are_reported_not_dropped(cnmc_root, tmp_path):
    root = _copy(cnmc_root, tmp_path)
    (root / "fold_0" / "all" / "notes.docx").write_text("x")
    with pytest.warns(UserWarning, match="not an image"):
        records = readers.read_cnmc(root)
    assert records.report.skipped["not an image"][0].endswith("notes.docx")


# ------------------------------------------------------------------------------------ class folders
def test_class_folders_missing_and_empty(tmp_path):
    root = synth.class_folders(tmp_path / "aria", n_per_class=2, size=64)
    with pytest.raises(DatasetError, match="Banana is missing"):
        readers.read_class_folders(root, classes=("Benign", "Banana"))
    (root / "Empty").mkdir()
    with pytest.raises(DatasetError, match="Empty holds no images"):
        readers.read_class_folders(root)
    records = readers.read_class_folders(root, classes=("Benign", "Pro"))
    assert readers.summary(records) == {"Benign": 2, "Pro": 2}
    assert all(r.mask_path is not None and r.source == "class_folders" for r in records)


# -------------------------------------------------------------------------------------------- VOC
def test_voc_box_outside_image(tmp_path):
    root = synth.bccd(tmp_path / "bccd", n_images=3, shape=(120, 160))
    xml = sorted((root / "BCCD" / "Annotations").glob("*.xml"))[0]
    text = xml.read_text()
    xmax = text.split("<xmax>")[1].split("</xmax>")[0]
    xml.write_text(text.replace(f"<xmax>{xmax}</xmax>", "<xmax>900</xmax>", 1))
    with pytest.raises(DatasetError, match="outside the 160×120 image"):
        readers.read_bccd(root, bad_boxes="raise")
    with pytest.warns(UserWarning, match="box dropped"):
        records = readers.read_bccd(root)
    assert len(records) == 3 and records.report.n_skipped == 1


def test_voc_missing_annotation(tmp_path):
    root = synth.bccd(tmp_path / "bccd", n_images=3, shape=(120, 160))
    sorted((root / "BCCD" / "Annotations").glob("*.xml"))[0].unlink()
    with pytest.raises(DatasetError, match="Annotations/BloodImage_00000.xml is missing"):
        readers.read_bccd(root)


# ------------------------------------------------------------------------------ segmentation_WBC
def test_segmentation_mask_of_other_size(tmp_path):
    root = synth.segmentation_wbc(tmp_path / "jtsc", n_images=3, size=64)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "Dataset 1" / "002.png")
    with pytest.raises(DatasetError, match=r"002.png is \(10, 10\) but image .*002.bmp is \(64, 64\)"):
        readers.read_segmentation_wbc(root)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        records = readers.read_segmentation_wbc(root / "Dataset 1", strict=False)
    assert len(records) == 2 and records.report.skipped["mask size differs"]


def test_all_idb_layouts(tmp_path):
    idb1 = readers.read_all_idb1(synth.all_idb1(tmp_path / "i1", n_images=4, shape=(120, 160), cells_per_image=(1, 2)))
    assert [r.label for r in idb1] == ["1", "0", "1", "0"] and idb1[0].subject == "Im001"
    idb2 = readers.read_all_idb2(synth.all_idb2(tmp_path / "i2", n_images=4, size=64))
    assert readers.summary(idb2) == {"0": 2, "1": 2}
    bad = tmp_path / "i1" / "xyc" / "Im001_1.xyc"
    bad.write_text("5000 10\n")
    with pytest.raises(DatasetError, match="centre outside"):
        readers.read_all_idb1(tmp_path / "i1")


# ------------------------------------------------------------------------------------ real data
@pytest.mark.realdata
def test_real_bccd():
    records = readers.read_bccd(real_dataset("bccd"))
    assert len(records) == 364
    labels = {label for r in records for label in r.box_labels}
    assert labels == {"WBC", "RBC", "Platelets"}
    assert records.report.n_skipped == 2          # the two zero-area boxes of the published set
    assert {r.split for r in records} >= {"train", "val", "test"}
    assert readers.load_image(records[0].path).shape == (480, 640, 3)


@pytest.mark.realdata
def test_real_jtsc():
    records = readers.read_segmentation_wbc(real_dataset("jtsc"))
    assert len(records) == 300
    assert set(readers.summary(records)) == set(readers.JTSC_CLASSES.values())
    mask = readers.load_mask(records[0].mask_path)
    assert set(np.unique(mask)) <= {0, 128, 255} and mask.shape == (120, 120)


@pytest.mark.realdata
def test_real_aria():
    records = readers.read_class_folders(real_dataset("aria"), classes=("Benign", "Early", "Pre", "Pro"))
    counts = readers.summary(records)
    assert set(counts) == {"Benign", "Early", "Pre", "Pro"} and min(counts.values()) > 100
    assert readers.load_image(records[-1].path).shape == (224, 224, 3)


def test_verify_images_finds_truncated_files(cnmc_root, tmp_path):
    root = _copy(cnmc_root, tmp_path)
    records = readers.read_cnmc(root)
    assert readers.verify_images(records).n_skipped == 0
    records[3].path.write_bytes(records[3].path.read_bytes()[:200])
    with pytest.raises(DatasetError, match=f"1 of 12 images failed: unreadable: {records[3].path}"):
        readers.verify_images(records)
    assert readers.verify_images(records, strict=False).skipped["unreadable"] == [str(records[3].path)]
