"""Series generation, cropping and bag building for the MIL pipeline (leukutils.data.bags)."""
import warnings
from pathlib import Path

import numpy as np
import pytest

from leukutils.data import bags
from leukutils.data.records import Record


def test_make_series_follows_the_generation_rule():
    normal, blast = np.arange(0, 50), np.arange(50, 70)
    series, labels = bags.make_series(normal, blast, n_series=400, length=15, seed=3)
    assert series.shape == (400, 15) and labels.shape == (400,)
    is_blast = np.zeros(70, bool)
    is_blast[blast] = True
    # ALL iff at least one blast, recomputed from the indices
    np.testing.assert_array_equal(bags.series_labels(series, is_blast), labels)
    real = series != bags.BLANK
    assert real.sum(1).min() >= 1
    assert set(np.unique(series[real])) <= set(range(70))
    # both classes present and padding positions are shuffled (not all at the end)
    assert 0.3 < labels.mean() < 0.7
    assert (series[:, 0] == bags.BLANK).any()


def test_make_series_is_deterministic_and_seed_dependent():
    a = bags.make_series(np.arange(10), np.arange(10, 20), 30, 8, seed=1)
    b = bags.make_series(np.arange(10), np.arange(10, 20), 30, 8, seed=1)
    c = bags.make_series(np.arange(10), np.arange(10, 20), 30, 8, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_length_one_series_are_single_cells_labelled_by_the_cell():
    series, labels = bags.make_series(np.arange(5), np.arange(5, 9), 200, 1, seed=0)
    assert (series != bags.BLANK).all()
    np.testing.assert_array_equal(labels, (series[:, 0] >= 5).astype(int))


def test_a_least_blast_share_keeps_one_blast_from_making_a_series_all():
    normal, blast = np.arange(0, 50), np.arange(50, 70)
    series, labels = bags.make_series(normal, blast, n_series=400, length=15, seed=3, min_blast_fraction=0.2)
    real, blasts = series != bags.BLANK, series >= 50
    share = blasts.sum(1) / real.sum(1)
    assert share[labels == 1].min() >= 0.2 and (share[labels == 0] == 0).all()
    paper, paper_labels = bags.make_series(normal, blast, n_series=400, length=15, seed=3)
    assert ((paper >= 50).sum(1) / (paper != bags.BLANK).sum(1))[paper_labels == 1].min() < 0.2, "the paper's rule: one blast"
    np.testing.assert_array_equal(bags.make_series(normal, blast, 400, 15, seed=3, min_blast_fraction=0.0)[0], paper)
    with pytest.raises(ValueError, match="min_blast_fraction"):
        bags.make_series(normal, blast, 3, 4, min_blast_fraction=1.5)


@pytest.mark.parametrize("kwargs", [dict(normal_pool=[], blast_pool=[1]), dict(normal_pool=[1], blast_pool=[2], length=0),
                                    dict(normal_pool=[1], blast_pool=[2], min_cells=5)])
def test_make_series_rejects_bad_arguments(kwargs):
    args = dict(n_series=3, length=4) | kwargs
    with pytest.raises(ValueError):
        bags.make_series(**args)


def test_crop_cells_cuts_resizes_and_reports_bad_boxes():
    image = np.zeros((100, 120, 3), np.uint8)
    image[20:40, 30:50] = 200  # a bright "cell"
    boxes = np.array([[30, 20, 50, 40], [500, 500, 520, 520], [5, 5, 5, 30]], float)
    with pytest.warns(UserWarning, match="smear.png: 2 of 3"):
        crops, kept = bags.crop_cells(image, boxes, size=32, margin=0.0, source="smear.png")
    assert crops.shape == (1, 32, 32, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(kept, [True, False, False])
    assert crops[0, 16, 16, 0] == 200


def test_crop_cells_at_the_border_keeps_the_cell_centred():
    image = np.zeros((60, 60, 3), np.uint8)
    image[0:20, 0:20] = 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crops, kept = bags.crop_cells(image, np.array([[0, 0, 20, 20]]), size=20, margin=0.0)
    assert kept.all() and crops[0, 10, 10, 0] == 255


def test_augment_cells_keeps_view_zero_and_changes_the_others():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    views = bags.augment_cells(crops, n_views=3, seed=0)
    assert views.shape == (3, 3, 16, 16, 3)
    np.testing.assert_array_equal(views[:, 0], crops)
    assert not np.array_equal(views[:, 1], crops)


def test_remove_cells_and_subsample():
    labels = np.array([1, 0, -1, 1, 0])
    np.testing.assert_array_equal(bags.remove_cells(labels, "blast"), [1, 2, 4])
    np.testing.assert_array_equal(bags.remove_cells(labels, "normal"), [0, 2, 3])
    np.testing.assert_array_equal(bags.remove_cells(labels, None), np.arange(5))
    random = [bags.remove_cells(labels, "random", seed=s) for s in range(20)]
    assert all(len(kept) == 3 and np.all(np.diff(kept) > 0) for kept in random)  # as many cells as blasts (2) go
    assert len({tuple(kept) for kept in random}) > 1  # which ones depends on the seed
    np.testing.assert_array_equal(random[3], bags.remove_cells(labels, "random", seed=3))
    with pytest.raises(ValueError):
        bags.remove_cells(labels, "rbc")
    picks = bags.subsample_bag(10, 4, n_draws=3, seed=0)
    assert all(len(p) == 4 and len(set(p)) == 4 for p in picks)
    assert bags.subsample_bag(3, 10)[0].tolist() == [0, 1, 2]


def test_bags_from_detections_groups_by_patient_and_flags_empty(tmp_path):
    image = np.full((80, 80, 3), 120, np.uint8)
    load = lambda path: image
    smears = [Record(tmp_path / "a1.jpg", "ALL", "A", boxes=np.array([[10, 10, 30, 30], [40, 40, 60, 60]], np.float32),
                     box_labels=["blast_L1", "lymphocyte"]),
              Record(tmp_path / "a2.jpg", "ALL", "A"),
              Record(tmp_path / "b1.jpg", "healthy", "B")]
    boxes = {str(tmp_path / "a1.jpg"): np.array([[41, 41, 61, 61], [9, 9, 31, 31]]),
             str(tmp_path / "a2.jpg"): np.zeros((0, 4)), str(tmp_path / "b1.jpg"): np.zeros((0, 4))}
    out = bags.bags_from_detections(smears, boxes, {"A": 1, "B": 0}, load, size=16, blast_names=("blast_L1",))
    assert [b.subject for b in out] == ["A", "B"]
    assert len(out[0]) == 2 and out[0].cell_labels.tolist() == [0, 1]
    assert out[1].empty and any("no cells found" in n for n in out[1].notes)
    assert any("a2.jpg: no cells found" in n for n in out[0].notes)
    with pytest.raises(KeyError):
        bags.bags_from_detections(smears, {}, {"A": 1, "B": 0}, load)


def test_detected_bags_and_the_cell_pool_read_the_fields_through_the_given_loader(tmp_path):
    fields = [Record(tmp_path / f"{name}.png", label, name) for name, label in (("a", "ALL"), ("b", "Benign"))]
    seen = []

    def load(path):  # e.g. a reader that inpaints a corner mark
        seen.append(Path(path).name)
        return np.full((40, 40, 3), 200 if "a" in Path(path).name else 100, np.uint8)

    def detect(images):
        return [{"boxes": np.array([[5.0, 5.0, 25.0, 25.0]]) if image[0, 0, 0] == 200 else np.zeros((0, 4))} for image in images]

    crops, is_blast = bags.cell_pool_from_fields(fields, detect, crop_size=8, load=load)
    assert crops.shape == (1, 8, 8, 3) and (crops == 200).all() and is_blast.tolist() == [True]
    assert set(seen) == {"a.png", "b.png"}, "every field is read by the loader, none from the disk"


def test_black_out_and_box_iou():
    image = np.full((20, 20, 3), 100, np.uint8)
    out = bags.black_out(image, [[2, 2, 6, 6]])
    assert out[3, 3].sum() == 0 and out[10, 10, 0] == 100 and image[3, 3, 0] == 100
    iou = bags.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]])


def _fields(tmp_path, labels):
    """Saved light fields, one purple square each, labelled ``labels``; no patient ids (as Aria)."""
    import cv2

    records = []
    for i, label in enumerate(labels):
        image = np.full((64, 64, 3), 235, np.uint8)
        image[20:40, 20:40] = (110, 40, 150)
        cv2.imwrite(str(tmp_path / f"f{i}.png"), image)
        records.append(Record(tmp_path / f"f{i}.png", label))
    return records


def _one_cell_per_image(images):
    """A stand-in detector: one box in the middle of every image."""
    return [{"boxes": np.array([[18.0, 18.0, 42.0, 42.0]])} for _ in images]


def test_pseudo_patients_halve_each_class_into_a_pool_and_patients(tmp_path):
    fields = _fields(tmp_path, ["ALL"] * 8 + ["Benign"] * 6)
    pool, patient_fields, labels = bags.pseudo_patients(fields, images_per_patient=2, seed=0)
    assert len(pool) == 4 + 3 and all(r.subject == str(r.path) for r in pool)
    assert labels == {"ALL-000": 1, "ALL-001": 1, "Benign-000": 0}  # 3 Benign fields left: one patient of 2
    assert sorted({r.subject for r in patient_fields}) == sorted(labels)
    assert not {r.path for r in pool} & {r.path for r in patient_fields}
    again = bags.pseudo_patients(fields, images_per_patient=2, seed=0)
    assert [r.path for r in again[0]] == [r.path for r in pool]
    assert len(bags.pseudo_patients(fields, 2, per_class=4, seed=0)[0]) == 4


def _unread_fields(counts):
    """Records of fields that are never read, ``counts``: class → number of fields (Aria's layout)."""
    return [Record(Path(f"{label}/f{i}.png"), label) for label, n in counts.items() for i in range(n)]


def test_balanced_pseudo_patients_hold_as_many_all_as_healthy_patients():
    fields = _unread_fields({"Benign": 20, "Early": 40, "Pre": 36, "Pro": 30})  # Aria's shape: Benign the smallest
    labels = bags.pseudo_patients(fields, images_per_patient=2, per_class=20, seed=1)[2]
    assert sorted(labels.values()) == [0] * 5 + [1] * 15  # patients made per class: three ALL classes to one
    pool, patient_fields, labels = bags.pseudo_patients(fields, images_per_patient=2, seed=1, balance=True)
    n_all = sum(labels.values())
    assert n_all == len(labels) - n_all == 5  # 10 Benign fields left after the pool: 5 patients of 2
    assert sum(r.label == "Benign" for r in pool) == sum(r.label != "Benign" for r in pool) == 10
    assert sorted(r.label for r in pool if r.label != "Benign") == ["Early"] * 4 + ["Pre"] * 3 + ["Pro"] * 3
    assert sorted(labels) == ["Benign-000", "Benign-001", "Benign-002", "Benign-003", "Benign-004",
                              "Early-000", "Early-001", "Pre-000", "Pre-001", "Pro-000"]
    for subject in labels:  # a patient holds fields of its own class only, none of the pool's
        assert {r.label for r in patient_fields if r.subject == subject} == {subject.split("-")[0]}
    assert len(patient_fields) == 2 * len(labels) and not {r.path for r in pool} & {r.path for r in patient_fields}
    # per_class caps each side; the same seed gives the same split
    small = bags.pseudo_patients(fields, 2, per_class=8, seed=1, balance=True)
    assert len(small[0]) == 8 and sorted(small[2].values()) == [0, 0, 1, 1]
    assert small == bags.pseudo_patients(fields, 2, per_class=8, seed=1, balance=True)
    with pytest.raises(ValueError, match="healthy class 'Benign'"):
        bags.pseudo_patients(_unread_fields({"Early": 4, "Pre": 4}), 2, balance=True)


def test_detected_bags_and_a_weakly_labelled_pool_from_fields(tmp_path):
    fields = _fields(tmp_path, ["ALL", "ALL", "Benign"])
    patient_fields = [Record(r.path, r.label, "P" if r.label == "ALL" else "Q") for r in fields]
    out, found = bags.detected_bags(patient_fields, {"P": 1, "Q": 0}, _one_cell_per_image, crop_size=16)
    assert [b.subject for b in out] == ["P", "Q"] and [len(b) for b in out] == [2, 1] and len(found) == 3
    assert out[0].crops.shape == (2, 16, 16, 3) and (out[0].cell_labels == -1).all()  # no boxes: labels unknown
    assert bags.describe_bags(out) == ("2 patients (1 ALL); cells per patient 1–2 (median 2); blasts among matched cells "
                                       "not known (no cell-level labels in this data); patients with no cells found: none")
    pool = [Record(r.path, r.label, str(r.path)) for r in fields]
    crops, is_blast = bags.cell_pool_from_fields(pool, _one_cell_per_image, crop_size=16)
    assert crops.shape == (3, 16, 16, 3) and is_blast.tolist() == [True, True, False]
