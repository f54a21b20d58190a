"""Splits: stratified proportions, subject-level grouping, leak detection, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from leukutils.data import readers, splits, synth
from leukutils.data.records import labels_of, subjects_of


def _toy(n_subjects=20, per_subject=10, seed=0):
    rng = np.random.default_rng(seed)
    subject_labels = np.array(["all", "hem"])[rng.permutation(np.arange(n_subjects) % 2)]
    groups = np.repeat([f"S{i}" for i in range(n_subjects)], per_subject)
    labels = np.repeat(subject_labels, per_subject)
    return labels, groups


def test_holdout_image_level_is_stratified_and_partitions():
    labels = np.array(["a"] * 80 + ["b"] * 20)
    train, val, test = splits.holdout_split(labels, fractions=(0.7, 0.1, 0.2), seed=1)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert len(test) == 20 and len(val) == 10
    assert (labels[test] == "b").sum() == 4 and (labels[val] == "b").sum() == 2


def test_holdout_is_deterministic_per_seed():
    labels, _ = _toy()
    a = splits.holdout_split(labels, seed=3)
    b = splits.holdout_split(labels, seed=3)
    c = splits.holdout_split(labels, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[2], c[2])


def test_grouped_holdout_keeps_each_subject_in_one_split():
    labels, groups = _toy()
    parts = splits.holdout_split(labels, groups, fractions=(0.6, 0.2, 0.2), seed=0)
    splits.assert_no_subject_leak(groups, *parts)
    for part in parts:
        assert set(labels[part]) == {"all", "hem"}          # both classes in every split


def test_leak_check_fails_when_a_subject_leaks():
    labels, groups = _toy()
    train, val, test = splits.holdout_split(labels, groups, seed=0)
    leaked_test = np.append(test, train[0])                  # one image of a training subject
    with pytest.raises(splits.SubjectLeakError, match=f"'{groups[train[0]]}' in splits"):
        splits.assert_no_subject_leak(groups, train, val, leaked_test)


def test_image_level_split_of_subject_data_leaks():
    """On synthetic C-NMC (every subject with many cells) an image-level split mixes subjects — the
    leak X-T3 measures — and the grouped split does not."""
    records = readers.read_cnmc(synth.cnmc(n_subjects=6, cells_per_subject=8, size=48))
    labels, groups = labels_of(records), subjects_of(records)
    with pytest.raises(splits.SubjectLeakError):
        splits.assert_no_subject_leak(groups, *splits.holdout_split(labels, seed=0))
    parts = splits.holdout_split(labels, groups, fractions=(0.5, 0.17, 0.33), seed=0)
    splits.assert_no_subject_leak(groups, *parts)


def _check_folds(folds, n, k):
    """Properties every K-fold split must have, whatever the implementation."""
    assert len(folds) == k
    held_out = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.bincount(held_out, minlength=n), np.ones(n, int))   # each item held out once
    for train, test in folds:
        assert len(test) and not np.intersect1d(train, test).size                # disjoint ...
        assert np.array_equal(np.union1d(train, test), np.arange(n))             # ... and complete


@pytest.mark.parametrize("counts,k", [((30, 15), 5), ((23, 12, 7), 4), ((9, 41), 3)])
def test_kfold_holds_each_item_out_once_with_class_proportions(counts, k):
    labels = np.repeat(np.array(["a", "b", "c"][:len(counts)]), counts)
    labels = labels[np.random.default_rng(0).permutation(len(labels))]
    folds = splits.kfold_split(labels, k=k, seed=0)
    _check_folds(folds, len(labels), k)
    for _, test in folds:
        for name, count in zip("abc", counts):          # each class spread evenly: n_c / k, within one item
            assert abs((labels[test] == name).sum() - count / k) < 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_kfold_keeps_subjects_whole_and_both_classes_in_every_fold(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 15, 24)                      # subjects of unequal size, one class each
    groups = np.repeat([f"S{i}" for i in range(24)], sizes)
    labels = np.repeat(np.array(["all", "hem", "hem"])[np.arange(24) % 3], sizes)
    folds = splits.kfold_split(labels, groups, k=4, seed=seed)
    _check_folds(folds, len(labels), 4)
    tests = [set(groups[test]) for _, test in folds]
    assert sum(len(t) for t in tests) == 24                                   # no subject in two folds
    for (train, test), subjects in zip(folds, tests):
        assert not subjects & set(groups[train])
        assert abs((labels[test] == "all").mean() - (labels == "all").mean()) < 0.15   # roughly stratified


def test_kfold_is_deterministic_per_seed():
    labels, groups = _toy()
    a, b, c = (splits.kfold_split(labels, groups, k=5, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_split_errors_are_clear():
    labels, groups = _toy(n_subjects=4)
    with pytest.raises(ValueError, match="only 4 subjects"):
        splits.kfold_split(labels, groups, k=5)
    with pytest.raises(ValueError, match="sum"):
        splits.holdout_split(labels, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="groups has shape"):
        splits.holdout_split(labels, groups[:-1])
    with pytest.raises(ValueError, match="no subject id"):
        splits.holdout_split(labels, np.array([None] * len(labels)))
    with pytest.raises(ValueError, match="class counts"):
        splits.holdout_split(np.array(["a", "a", "b"]), fractions=(0.4, 0.3, 0.3))


def test_unstratified_kfold_split_is_sklearn_kfold():
    from sklearn.model_selection import KFold

    folds = splits.kfold_split(np.arange(11), k=3, seed=4, stratify=False)
    for (train, test), (ref_train, ref_test) in zip(folds, KFold(3, shuffle=True, random_state=4).split(np.zeros(11))):
        np.testing.assert_array_equal(train, np.sort(ref_train))
        np.testing.assert_array_equal(test, np.sort(ref_test))
    with pytest.raises(ValueError, match="too few"):
        splits.kfold_split(np.arange(2), k=3, stratify=False)
    with pytest.raises(ValueError, match="stratif"):
        splits.kfold_split(np.arange(6), groups=np.arange(6), k=3, stratify=False)


def test_right_and_wrong_per_class_picks_the_surest_right_and_the_surest_wrong():
    labels = np.array([0, 0, 0, 1, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9], [0.45, 0.55]])
    picks, captions = splits.right_and_wrong_per_class(labels, probabilities, ["hem", "all"])
    assert picks == [0, 2, 4]                       # class 1 has no wrong item: one pick fewer
    assert captions == ["hem → hem (p = 0.90), right", "hem → all (p = 0.80), wrong", "all → all (p = 0.90), right"]


def test_first_per_class_takes_the_first_items_of_each_class():
    labels = np.array([1, 0, 1, 1, 0, 0, 1])
    assert splits.first_per_class(labels, 2).tolist() == [0, 1, 2, 4]
    assert splits.first_per_class(labels, 0).tolist() == list(range(7))  # 0: all of them


def test_class_counts_per_part():
    labels = np.array([0, 1, 1, 0, 1])
    table = splits.class_counts(labels, {"train": np.array([0, 1, 2]), "test": np.array([3, 4])}, ["hem", "all"])
    assert table.to_dict("records") == [{"split": "train", "hem": 1, "all": 2}, {"split": "test", "hem": 1, "all": 1}]


def test_subject_leak_table_image_level_leaks_subject_level_does_not():
    subjects = np.repeat([f"s{i}" for i in range(8)], 10)
    labels = np.repeat([0, 1] * 4, 10)
    table = splits.subject_leak_table(labels, subjects, seed=0).set_index("split")
    assert table.loc["subject-level", "subjects in both"] == 0
    assert table.loc["subject-level", "test images of training subjects"] == 0
    assert table.loc["image-level", "subjects in both"] > 0
    assert table["interval"].str.startswith("none").all() and table["seeds"].str.startswith("none").all()
