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


def test_kfold_covers_everything_once_and_groups():
    labels, groups = _toy()
    folds = splits.kfold_split(labels, groups, k=5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(labels)))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    plain = splits.kfold_split(labels, k=4, seed=0)
    assert all(abs((labels[test] == "all").mean() - 0.5) < 0.1 for _, test in plain)


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
