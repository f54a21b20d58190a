"""The synthetic generator: shapes and masks, morphology it promises, controls, determinism, caching."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from leukutils.data import readers, sources, synth
from leukutils.data.records import sample_records
from leukutils.data.synth import realism
from leukutils.data.synth.cells import sample_parameters


def _digest(root):
    out = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".synth.json"):
        out.update(path.relative_to(root).as_posix().encode())
        out.update(path.read_bytes())
    return out.hexdigest()


@pytest.mark.parametrize("cell_type", synth.CELL_TYPES)
def test_render_cell_shapes_and_masks(cell_type):
    rgb, nucleus, cytoplasm = synth.render_cell(np.random.default_rng(1), cell_type, size=96)
    assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8
    assert nucleus.shape == cytoplasm.shape == (96, 96) and nucleus.dtype == bool
    assert nucleus.sum() > 50 and cytoplasm.sum() > 20
    assert not (nucleus & cytoplasm).any()
    # the nucleus is darker than the background around the cell
    background = ~(nucleus | cytoplasm)
    assert rgb[nucleus].mean() < rgb[background].mean() - 30


def test_render_cell_is_deterministic_and_seed_dependent():
    a = synth.render_cell(np.random.default_rng(7), "lymphoblast")[0]
    b = synth.render_cell(np.random.default_rng(7), "lymphoblast")[0]
    c = synth.render_cell(np.random.default_rng(8), "lymphoblast")[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_black_background_is_black_outside_the_cell():
    rgb, nucleus, cytoplasm = synth.render_cell(np.random.default_rng(2), "lymphocyte", background="black")
    assert rgb[~(nucleus | cytoplasm)].max() == 0
    with pytest.raises(ValueError, match="background"):
        synth.render_cell(np.random.default_rng(2), "lymphocyte", background="white")


def _areas(cell_type, n=24, **kw):
    rng = np.random.default_rng(3)
    cells, ratios = [], []
    for _ in range(n):
        _, nucleus, cytoplasm = synth.render_cell(rng, cell_type, size=128, **kw)
        cells.append(nucleus.sum() + cytoplasm.sum())
        ratios.append(nucleus.sum() / (nucleus.sum() + cytoplasm.sum()))
    return np.mean(cells), np.mean(ratios)


def test_morphology_blasts_larger_lymphocytes_high_nc_neutrophils_low_nc():
    blast_area, blast_nc = _areas("lymphoblast")
    lymph_area, lymph_nc = _areas("lymphocyte")
    _, neutro_nc = _areas("neutrophil")
    _, hematogone_nc = _areas("hematogone")
    assert blast_area > 1.3 * lymph_area
    assert lymph_nc > 0.6 and blast_nc > 0.6 and hematogone_nc > 0.7
    assert neutro_nc < 0.45


def test_blasts_have_nucleoli_lymphocytes_none():
    rng = np.random.default_rng(4)
    blasts = [synth.draw_cell(rng, "blast_L2").parameters["n_nucleoli"] for _ in range(20)]
    lymphs = [synth.draw_cell(rng, "lymphocyte").parameters["n_nucleoli"] for _ in range(20)]
    assert min(blasts) >= 1 and max(blasts) <= 3
    assert max(lymphs) == 0


def test_difficulty_pulls_blasts_towards_normal_cells():
    def gap(difficulty):
        rng = np.random.default_rng(5)
        blast = np.mean([sample_parameters(rng, "lymphoblast", difficulty)["chromatin_contrast"] for _ in range(300)])
        lymph = np.mean([sample_parameters(rng, "lymphocyte", difficulty)["chromatin_contrast"] for _ in range(300)])
        return lymph - blast
    assert gap(0.0) > 0.2
    assert gap(1.0) < 0.7 * gap(0.0)
    with pytest.raises(ValueError, match="difficulty"):
        sample_parameters(np.random.default_rng(0), "lymphoblast", 1.5)


def test_cnmc_layout_subjects_folds_masks(tmp_path):
    root = synth.cnmc(tmp_path / "cnmc", n_subjects=4, cells_per_subject=5, size=64, n_folds=2)
    records = readers.read_cnmc(root)
    assert len(records) == 20
    assert readers.summary(records) == {"all": 10, "hem": 10}
    by_subject = {}
    for r in records:
        by_subject.setdefault(r.subject, set()).add((r.label, r.split))
        assert readers.load_mask(r.mask_path).shape == readers.load_image(r.path).shape[:2]
    assert len(by_subject) == 4 and all(len(v) == 1 for v in by_subject.values())   # one class, one fold
    assert {r.split for r in records} == {"fold_0", "fold_1"}


def test_writers_are_deterministic_and_cached(tmp_path):
    a = synth.all_idb2(tmp_path / "a", n_images=6, size=96, seed=3)
    b = synth.all_idb2(tmp_path / "b", n_images=6, size=96, seed=3)
    c = synth.all_idb2(tmp_path / "c", n_images=6, size=96, seed=4)
    assert _digest(a) == _digest(b) != _digest(c)
    stamp = (a / ".synth.json").stat().st_mtime_ns
    assert synth.all_idb2(tmp_path / "a", n_images=6, size=96, seed=3) == a
    assert (a / ".synth.json").stat().st_mtime_ns == stamp          # reused, not rebuilt
    assert json.loads((a / ".synth.json").read_text())["params"]["seed"] == 3
    # other parameters for the same root rebuild it; a foreign folder is never overwritten
    synth.all_idb2(tmp_path / "a", n_images=4, size=96, seed=3)
    assert len(readers.read_all_idb2(a)) == 4
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        synth.all_idb2(tmp_path / "foreign", n_images=2)
    assert not list(tmp_path.glob(".*tmp-*"))                         # no half-written folders left


def test_default_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LEUKUTILS_DATA_CACHE", str(tmp_path))
    root = synth.segmentation_wbc(n_images=3, size=64)
    assert root.parent == tmp_path / "synth" and root.name.startswith("segmentation_wbc-")
    assert synth.segmentation_wbc(n_images=3, size=64) == root
    assert synth.segmentation_wbc(n_images=3, size=64, seed=1) != root


def test_all_idb1_centres_are_the_blasts(tmp_path):
    root = synth.all_idb1(tmp_path / "idb1", n_images=4, shape=(240, 320), cells_per_image=(2, 4))
    for r in readers.read_all_idb1(root):
        n_blasts = int(r.extra["n_blasts"])
        assert len(r.centres) == n_blasts
        assert (n_blasts > 0) == (r.label == "1")
        if n_blasts:
            mask = readers.load_mask(r.mask_path)
            x, y = np.round(r.centres).astype(int).T
            assert (mask[y, x] > 0).all()                               # centres sit on cells


def test_voc_boxes_inside_image_and_two_class_names(tmp_path):
    root = synth.bccd(tmp_path / "bccd", n_images=4, shape=(240, 320), two_class=True)
    records = readers.read_bccd(root)
    names = set()
    for r in records:
        assert (r.boxes[:, 2] <= 320).all() and (r.boxes[:, 3] <= 240).all() and (r.boxes >= 0).all()
        names |= set(r.box_labels)
    assert {"blast", "normal", "RBC"} <= names and "WBC" not in names
    assert {r.split for r in records} <= {"train", "val", "test"}


def test_patients_have_subjects_labels_and_cell_type_boxes(tmp_path):
    root = synth.patients(tmp_path / "p", n_patients=4, smears_per_patient=2, shape=(200, 260),
                          cells_per_smear=(2, 3), blast_fraction=(1.0, 1.0))
    records = readers.read_voc(root)
    assert len(records) == 8 and len({r.subject for r in records}) == 4
    for r in records:
        blasts = [b for b in r.box_labels if b in synth.BLAST_TYPES]
        assert (len(blasts) > 0) == (r.label == "ALL")


@pytest.mark.parametrize("kind", ["corner", "tint", "scalebar"])
def test_shortcut_cue_follows_label_at_rate_one(tmp_path, kind):
    root = synth.cnmc(tmp_path / kind, n_subjects=2, cells_per_subject=6, size=64, n_folds=1,
                      shortcut=kind, shortcut_rate=1.0)
    records = readers.read_cnmc(root)
    assert all(int(r.extra["cue"]) == int(r.label == "all") for r in records)
    if kind == "corner":   # the mark is drawn where the cell never is
        corners = [readers.load_image(r.path)[2:4, 2:4].max() for r in records]
        assert all((c > 0) == (r.label == "all") for c, r in zip(corners, records))
    with pytest.raises(ValueError, match="shortcut"):
        synth.cnmc(tmp_path / "bad", shortcut="sticker")


def test_class_folders_and_fab_layouts(tmp_path):
    root = synth.class_folders(tmp_path / "aria", n_per_class=2, size=96)
    assert readers.summary(readers.read_class_folders(root)) == {"Benign": 2, "Early": 2, "Pre": 2, "Pro": 2}
    raabin = synth.class_folders(tmp_path / "raabin", classes=("Lymphocyte", "Neutrophil"), n_per_class=2, size=96)
    assert readers.summary(readers.read_class_folders(raabin)) == {"Lymphocyte": 2, "Neutrophil": 2}
    with pytest.raises(ValueError, match="no cell type"):
        synth.class_folders(tmp_path / "x", classes=("Banana",))
    fab = synth.fab(tmp_path / "fab", n_per_class=2, size=(128, 160))
    records = readers.read_class_folders(fab, classes=("L1", "L2", "L3"))
    assert readers.load_image(records[0].path).shape == (128, 160, 3)


def test_segmentation_wbc_masks_and_labels(tmp_path):
    root = synth.segmentation_wbc(tmp_path / "jtsc", n_images=5, size=80)
    records = readers.read_segmentation_wbc(root)
    assert len(records) == 5
    assert {r.label for r in records} <= set(readers.JTSC_CLASSES.values())
    for r in records:
        mask = readers.load_mask(r.mask_path)
        assert set(np.unique(mask)) <= {0, 128, 255} and (mask == 255).any()
        assert r.extra["cell_types"] == r.label


def test_realism_measures():
    rng = np.random.default_rng(0)
    cells = [synth.render_cell(rng, "lymphocyte", size=96) for _ in range(6)]
    recovery = realism.nucleus_recovery([c[0] for c in cells], [c[1] for c in cells])
    assert recovery["mean_iou"] > 0.6
    flat = np.zeros((8, 8, 3), np.uint8)
    flat[...] = (255, 0, 0)
    stats = realism.hsv_statistics([flat])
    assert stats["hue"] == pytest.approx(0, abs=2) and stats["saturation"] == pytest.approx(1)
    assert not realism.otsu_nucleus(np.full((8, 8, 3), 200, np.uint8)).any()  # constant: nothing to separate


def test_prune_cache_removes_only_stale_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("LEUKUTILS_DATA_CACHE", str(tmp_path))
    current = synth.segmentation_wbc(n_images=2, size=48)
    stale = tmp_path / "synth" / "segmentation_wbc-000000000000"
    stale.mkdir()
    (stale / ".synth.json").write_text(json.dumps({"key": "x", "source": "an older generator"}))
    (tmp_path / "synth" / ".fab-1.tmp-1-abc").mkdir()          # an abandoned half-written folder
    assert set(synth.prune_cache(dry_run=True)) == {stale, tmp_path / "synth" / ".fab-1.tmp-1-abc"}
    assert stale.exists()
    synth.prune_cache()
    assert not stale.exists() and current.exists()
    assert synth.segmentation_wbc(n_images=2, size=48) == current


def test_recovery_table_has_intervals_over_images_and_the_means_of_nucleus_recovery(tmp_path):
    records = readers.read_segmentation_wbc(synth.segmentation_wbc(tmp_path / "jtsc", n_images=8, size=80))
    table = realism.recovery_table({"JTSC synthetic": records, "first half": records[:4]}, n=6, seed=0, n_boot=50)
    assert list(table["set"]) == ["JTSC synthetic", "first half"]  # in the order given
    assert list(table.columns) == ["set", "n", "mean_iou", "mean_iou low", "mean_iou high", "median_iou", "recovered",
                                   "recovered low", "recovered high", "seeds"]
    picked = sample_records(records, 6, 0)
    plain = realism.nucleus_recovery([readers.load_image(r.path) for r in picked],
                                     [readers.load_mask(r.mask_path) == 255 for r in picked])
    row = table.set_index("set").loc["JTSC synthetic"]
    assert row["n"] == 6 and row["mean_iou"] == plain["mean_iou"] and row["recovered"] == plain["recovered"]
    assert row["median_iou"] == pytest.approx(plain["median_iou"])
    assert row["mean_iou low"] <= row["mean_iou"] <= row["mean_iou high"]
    assert table.set_index("set").loc["first half", "n"] == 4  # fewer records than asked: all of them


def test_compare_table_and_set_tiles(tmp_path):
    records = readers.read_segmentation_wbc(synth.segmentation_wbc(tmp_path / "jtsc", n_images=4, size=64))
    sets = {"JTSC real": records, "JTSC synthetic": records[:2]}
    table = realism.compare_table({name: realism.sample_images(r, 3) for name, r in sets.items()})
    assert list(table["n"]) == [3, 2] and table["interval"].str.startswith("none").all()
    assert "n_images" not in table and table["seeds"].str.startswith("none").all()
    rows, labels = realism.set_tiles(sets, 2, seed=0, outlined=["JTSC real"])
    assert labels == ["JTSC\nreal", "JTSC\nsynthetic"] and [len(r) for r in rows] == [2, 2]
    plain = realism.set_tiles(sets, 2, seed=0)[0]
    assert not np.array_equal(rows[0][0], plain[0][0])  # outlined: the contour is drawn
    assert np.array_equal(rows[1][0], plain[1][0])


def test_real_and_synthetic_sets_and_example_tiles(tmp_path):
    twin = readers.read_segmentation_wbc(synth.segmentation_wbc(tmp_path / "jtsc", n_images=6, size=64))
    title = sources.LAYOUTS["jtsc"].title
    assert list(sources.real_and_synthetic({"JTSC": title}, {}, {title: twin})) == ["JTSC synthetic"]
    both = sources.real_and_synthetic({"JTSC": title}, {title: twin[:3]}, {title: twin})
    assert list(both) == ["JTSC real", "JTSC synthetic"] and len(both["JTSC real"]) == 3
    rows, row_labels, captions = sources.example_tiles({title: twin}, {}, 1, np.random.default_rng(0))
    assert row_labels == ["JTSC"] and all(c.endswith("(synth)") for c in captions[0])
    assert len(rows[0]) == len({r.label for r in twin}) and rows[0][0].ndim == 3


def test_open_two_class_gives_paper_1s_classes():
    records, labels, names = sources.open_two_class("synthetic", n_subjects=2, cells_per_subject=4, size=64)
    assert names == ["hem", "all"] and labels.dtype == np.int64
    assert [int(r.label == "all") for r in records] == labels.tolist()
    with pytest.raises(ValueError, match="none of synthetic"):
        sources.open_two_class("bccd")
