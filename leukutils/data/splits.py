"""Stratified hold-out and K-fold splits, grouped by subject wherever subject ids exist.

Thin wrappers over scikit-learn (``StratifiedShuffleSplit``, ``StratifiedKFold``,
``StratifiedGroupKFold``, ``KFold``) that return sorted index arrays, refuse empty splits, and check that no
subject crosses a split (:func:`assert_no_subject_leak`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit


class SubjectLeakError(AssertionError):
    """A subject (patient) has images in more than one split."""


def _as_arrays(labels, groups):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {labels.shape}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != labels.shape:
            raise ValueError(f"groups has shape {groups.shape} but labels {labels.shape}; one subject id per item")
        if any(g is None for g in groups.tolist()):
            raise ValueError("groups holds None: some items have no subject id; pass groups=None for an "
                             "image-level split, or fill the ids")
    return labels, groups


def _grouped_part(labels, groups, fraction, seed, indices):
    """Split ``indices`` into (rest, part) with ``part`` ≈ ``fraction`` of them, whole groups only,
    stratified as far as groups allow."""
    n_groups = len(np.unique(groups[indices]))
    n_splits = int(np.clip(round(1 / fraction), 2, n_groups))
    if n_groups < 2:
        raise ValueError(f"cannot split {n_groups} subject(s) into two parts; need more subjects")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rest, part = next(folds.split(np.zeros(len(indices)), labels[indices], groups[indices]))
    return indices[rest], indices[part]


def holdout_split(labels, groups=None, fractions=(0.8, 0.1, 0.1), seed: int = 0):
    """Stratified train/validation/test split, by subject when ``groups`` is given.

    Parameters
    ----------
    labels : sequence, shape (n,)
    groups : sequence, shape (n,), optional
        Subject ids; every subject lands in exactly one split (sizes then approximate the fractions).
    fractions : (float, float, float)
        Train, validation, test shares; must sum to 1. Validation may be 0 (an empty array returned).
    seed : int

    Returns
    -------
    (train_idx, val_idx, test_idx) : tuple of int ndarrays, sorted.
    """
    labels, groups = _as_arrays(labels, groups)
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative shares summing to 1, got {fractions}")
    train_f, val_f, test_f = fractions
    if train_f == 0 or test_f == 0:
        raise ValueError(f"train and test fractions must be > 0, got {fractions}")
    n = len(labels)
    everything = np.arange(n)
    try:
        if groups is None:
            n_test, n_val = max(1, round(test_f * n)), round(val_f * n)   # counts, not shares: no rounding drift
            outer = StratifiedShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
            rest, test = next(outer.split(np.zeros(n), labels))
            if val_f > 0:
                inner = StratifiedShuffleSplit(n_splits=1, test_size=max(1, n_val), random_state=seed + 1)
                train_rel, val_rel = next(inner.split(np.zeros(len(rest)), labels[rest]))
                train, val = rest[train_rel], rest[val_rel]
            else:
                train, val = rest, np.array([], int)
        else:
            rest, test = _grouped_part(labels, groups, test_f, seed, everything)
            if val_f > 0:
                train, val = _grouped_part(labels, groups, val_f / (train_f + val_f), seed + 1, rest)
            else:
                train, val = rest, np.array([], int)
    except ValueError as error:
        raise ValueError(f"holdout_split: cannot make a stratified {fractions} split of {n} items with class "
                         f"counts {dict(zip(*np.unique(labels, return_counts=True)))}: {error}") from error
    for name, part in (("train", train), ("test", test)) + ((("validation", val),) if val_f > 0 else ()):
        if len(part) == 0:
            raise ValueError(f"holdout_split: the {name} split is empty; use more data or other fractions")
    out = tuple(np.sort(np.asarray(p, dtype=int)) for p in (train, val, test))
    if groups is not None:
        assert_no_subject_leak(groups, *out)
    return out


def kfold_split(labels, groups=None, k: int = 5, seed: int = 0, stratify: bool = True):
    """Stratified K-fold (``StratifiedGroupKFold`` when ``groups`` is given), or a plain shuffled K-fold.

    Parameters
    ----------
    labels : sequence, shape (n,)
        Class of each item. With ``stratify=False`` only their number is used (e.g. ``np.arange(n)``
        for segmentation images, which have no class).
    groups : sequence, shape (n,), optional
        Subject ids; every subject lands in one fold's test part (stratified folds only).
    k : int
        Number of folds (≥ 2).
    seed : int
    stratify : bool
        False for ``sklearn.model_selection.KFold(k, shuffle=True, random_state=seed)``: a seeded
        random partition into folds of equal size (± 1), blind to the labels.

    Returns
    -------
    list of ``k`` ``(train_idx, test_idx)`` pairs of sorted int arrays; the test parts cover every
    item once.
    """
    labels, groups = _as_arrays(labels, groups)
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if not stratify and groups is not None:
        raise ValueError("kfold_split: grouped folds are always stratified; pass stratify=True or groups=None")
    x = np.zeros(len(labels))
    try:
        if not stratify:
            if len(labels) < k:
                raise ValueError(f"{len(labels)} items are too few for k={k} folds")
            folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(x)
        elif groups is None:
            folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
        else:
            n_groups = len(np.unique(groups))
            if n_groups < k:
                raise ValueError(f"only {n_groups} subjects for k={k} grouped folds")
            folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels, groups)
        out = [(np.sort(train), np.sort(test)) for train, test in folds]
    except ValueError as error:
        if not stratify:
            raise ValueError(f"kfold_split: cannot make {k} folds of {len(labels)} items: {error}") from error
        raise ValueError(f"kfold_split: cannot make {k} stratified folds of {len(labels)} items with class "
                         f"counts {dict(zip(*np.unique(labels, return_counts=True)))}: {error}") from error
    for i, (train, test) in enumerate(out):
        if len(train) == 0 or len(test) == 0:
            raise ValueError(f"kfold_split: fold {i} has an empty part; use fewer folds")
        if groups is not None:
            assert_no_subject_leak(groups, train, test)
    return out


def assert_no_subject_leak(groups, *index_sets) -> None:
    """Raise :class:`SubjectLeakError` if any subject id appears in more than one of ``index_sets``.

    ``groups``: (n,) subject ids; ``index_sets``: integer index arrays into ``groups`` (e.g. train,
    val, test). The message lists the leaking subjects and the splits they appear in.
    """
    groups = np.asarray(groups)
    seen: dict = {}
    leaks: dict = {}
    for split_no, indices in enumerate(index_sets):
        for subject in np.unique(groups[np.asarray(indices, dtype=int)]).tolist():
            if subject in seen and seen[subject] != split_no:
                leaks.setdefault(subject, {seen[subject]}).add(split_no)
            seen.setdefault(subject, split_no)
    if leaks:
        shown = ", ".join(f"{s!r} in splits {sorted(v)}" for s, v in list(leaks.items())[:10])
        raise SubjectLeakError(f"{len(leaks)} subject(s) appear in more than one split: {shown}")


def first_per_class(labels, n: int, classes=(0, 1)) -> np.ndarray:
    """The indices of the first ``n`` items of each class (all of them for ``n = 0``), sorted.

    ``labels``: (n_items,) class indices; ``classes``: the classes to take, each in the order the items
    come. Returns a sorted int ndarray (e.g. the test images explained with CAMs in notebook 01).
    """
    labels = np.asarray(labels)
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:n or len(labels)] for c in classes]))


def right_and_wrong_per_class(labels, probabilities, class_names) -> tuple[list[int], list[str]]:
    """For each class, the item of that class classified right with the highest probability and the one
    classified wrong with the highest probability for the wrong class (the cells a CAM figure shows:
    what the model is sure of, and where it errs).

    ``labels``: (n,) true class indices 0 … k-1; ``probabilities``: (n, k) class probabilities;
    ``class_names``: k names. Returns the positions (2 per class, fewer where a class has no item right or
    none wrong) and a caption of each: ``"<true> → <predicted> (p = 0.97), right"`` / ``"…, wrong"``.
    """
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    picks, captions = [], []
    for c in range(len(class_names)):
        for outcome, among in (("right", (labels == c) & (predicted == c)), ("wrong", (labels == c) & (predicted != c))):
            if among.any():
                i = int(np.flatnonzero(among)[np.argmax(confidence[among])])
                picks.append(i)
                captions.append(f"{class_names[c]} → {class_names[predicted[i]]} (p = {confidence[i]:.2f}), {outcome}")
    return picks, captions


def class_counts(labels, parts: dict, class_names) -> pd.DataFrame:
    """Items of each class in each part of a split, one row per part.

    ``labels``: (n,) class indices 0 … k-1; ``parts``: part name → index array (``{"train": train_idx,
    …}``); ``class_names``: k names. Returns a DataFrame with ``split`` and one count column per class.
    """
    labels = np.asarray(labels)
    rows = [{"split": name, **dict(zip(class_names, np.bincount(labels[idx], minlength=len(class_names)).tolist()))}
            for name, idx in parts.items()]
    return pd.DataFrame(rows, columns=["split", *class_names])


def subject_leak_table(labels, subjects, fractions=(0.75, 0.0, 0.25), seed: int = 0) -> pd.DataFrame:
    """What an image-level split leaks that a subject-level one does not (notebook 00, D-T3).

    Parameters
    ----------
    labels, subjects : (n,) class labels and subject ids, one per image.
    fractions, seed : as in :func:`holdout_split`, for both splits.

    Returns
    -------
    DataFrame, rows ``image-level`` and ``subject-level``: train and test images and subjects, the
    subjects in both (what :func:`assert_no_subject_leak` refuses) and the test images of training
    subjects; ``interval`` and ``seeds`` say why the counts have no interval or seed count.
    """
    subjects = np.asarray(subjects)
    rows = []
    for kind, groups in (("image-level", None), ("subject-level", subjects)):
        train, _, test = holdout_split(labels, groups, fractions=fractions, seed=seed)
        shared = set(subjects[train]) & set(subjects[test])
        rows.append({"split": kind, "train images": len(train), "test images": len(test),
                     "train subjects": len(set(subjects[train])), "test subjects": len(set(subjects[test])),
                     "subjects in both": len(shared),
                     "test images of training subjects": int(np.isin(subjects[test], list(shared)).sum()),
                     "interval": "none: exact counts of one split", "seeds": "none: no model"})
    return pd.DataFrame(rows)
