"""Paper 3's K-fold protocols (:mod:`leukutils.cross_validation`): the variants chosen, the classifiers' best
fold, their scores on held-out images, segmented minus raw, robustness, Table A3 and the attention table."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from leukutils import cross_validation, segmented_classifiers
from leukutils.data.splits import kfold_split
from leukutils.data.torch_datasets import TensorImageDataset
from leukutils.metrics import bootstrap_ci, classification_metrics, paired_difference_ci
from leukutils.models.classifiers import build_classifier, paper3_variants

pytestmark = pytest.mark.usefixtures("one_thread_torch")


class ToyImages:
    """``images(indices, kind, transform, loader=None)`` over in-memory images (the shape of
    :class:`leukutils.segment.ClassifierImages`); ``kind`` "dark" halves the images."""

    def __init__(self, n=40, size=16, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.labels = np.arange(n) % 2
        self.images = torch.rand(n, 3, size, size, generator=g) * 0.5
        self.images[self.labels == 1, 0] += 0.5
        self.calls = []

    def __call__(self, indices, kind, transform, loader=None):
        self.calls.append((kind, transform, loader))
        images = self.images[np.asarray(indices)] * (0.5 if kind == "dark" else 1.0)
        return TensorImageDataset(images, self.labels[np.asarray(indices)])


ARCHITECTURE = dict(name="standard_cnn", n_classes=2, weights=None)
FIT = dict(epochs=2, lr=3e-3, batch_size=8)


def test_kfold_classifier_keeps_the_most_accurate_fold():
    images = ToyImages()
    indices = np.arange(30)
    folds = kfold_split(images.labels[indices], k=3, seed=0)
    best = cross_validation.kfold_classifier(folds, images, indices, "raw", ("train", "eval"), ARCHITECTURE, seed=0, **FIT)
    assert len(best.fold_accuracies) == 3 and best.kind == "raw" and not best.model.training
    assert best.val_accuracy == max(best.fold_accuracies) and best.fold == best.fold_accuracies.index(best.val_accuracy)
    assert [c[:2] for c in images.calls] == [("raw", "train"), ("raw", "eval")] * 3  # each fold: training set, validation set
    one = cross_validation.kfold_classifier(folds, images, indices, "raw", ("train", "eval"), ARCHITECTURE, seed=0,
                                            max_folds=1, **FIT)
    assert one.fold == 0 and one.fold_accuracies == best.fold_accuracies[:1]  # the same seeds: the same first fold
    variants = cross_validation.kfold_variants([("A", "raw", "linear", "relu"), ("B", "dark", "linear", "relu")], folds,
                                               images, indices, ("train", "eval"), 2, seed=0, max_folds=1, **FIT)
    assert list(variants) == ["A", "B"] and variants["B"].kind == "dark"


def test_held_out_scores_row_and_the_paper_3_tables():
    images = ToyImages()
    torch.manual_seed(0)
    model = build_classifier("standard_cnn", 2, weights=None).eval()
    test = np.arange(30, 40)
    scores = segmented_classifiers.held_out_scores(model, images(test, "raw", None), n_boot=200, seed=3)
    predicted = scores.logits.argmax(1)
    assert scores.accuracy == bootstrap_ci(lambda a, b: np.mean(a == b), scores.labels, predicted, n_boot=200, seed=3)
    assert scores.metrics == classification_metrics(scores.labels, predicted, scores.probabilities)
    row = scores.row("test ")
    assert list(row)[:5] == ["n", "seeds", "test accuracy", "test accuracy low", "test accuracy high"]
    assert row["n"] == 10 and row["seeds"] == 1 and row["test accuracy low"] <= row["test accuracy"] <= row["test accuracy high"]
    assert "auc" not in segmented_classifiers.held_out_scores(model, images(test, "raw", None), auc=False).metrics

    best = {"A": cross_validation.BestFold(model, 0, 0.5, [0.5], "raw"), "B": cross_validation.BestFold(model, 0, 0.5, [0.5], "dark")}
    always_right = segmented_classifiers.HeldOutScores(np.eye(2)[scores.labels], np.eye(2)[scores.labels], scores.labels,
                                                       {"accuracy": 1.0}, (1.0, 1.0, 1.0))
    table = segmented_classifiers.robustness_table(best, images, test, None, {"A": scores, "B": always_right},
                                                   lambda seed: f"noise {seed}", {"min_area": 10}, n_boot=50, seed=1)
    assert list(table.columns) == ["model", "n", "seeds", "accuracy", "accuracy low", "accuracy high", "precision", "recall",
                                   "f1", "accuracy change", "accuracy change low", "accuracy change high"]
    assert table.loc[0, ["accuracy change", "accuracy change low", "accuracy change high"]].tolist() == [0.0] * 3  # the toy
    # images ignore the corrupting loader: the same predictions, image by image
    change = table.loc[1]  # measured from a clean run that was right on every image
    assert change["accuracy change"] == pytest.approx(change["accuracy"] - 1.0) and change["accuracy change"] < 0
    assert change["accuracy change low"] <= change["accuracy change"] <= change["accuracy change high"] <= 0
    loaders = [c[2] for c in images.calls if c[2] is not None]
    assert [(l.segmented, l.corruption) for l in loaders] == [(False, "noise 1"), (False, "noise 1")]

    ta3 = segmented_classifiers.correct_by_all({"A": scores, "B": scores}, ["A", "B"], ["no", "yes"], [f"{i}.png" for i in test])
    correct = scores.probabilities.argmax(1) == scores.labels
    assert len(ta3) == correct.sum() and list(ta3.columns) == ["image", "class", "A", "B", "seeds", "interval"]
    assert ta3["interval"].str.startswith("none").all()


def test_attention_table_and_cam_comparison():
    images = ToyImages(n=8)
    torch.manual_seed(0)
    model = build_classifier("resnet18", 2, weights=None).eval()
    torch.manual_seed(1)
    other = build_classifier("resnet18", 2, weights=None).eval()
    best = {"R": cross_validation.BestFold(model, 0, 0.5, [0.5], "raw"), "S": cross_validation.BestFold(other, 0, 0.5, [0.5], "raw")}
    cams = segmented_classifiers.VariantCams(best, images, np.arange(4), None, "layer2")
    maps = cams("R", ["gradcam"], picks=[1, 2])
    assert maps["gradcam"].shape == (2, 16, 16)
    assert cams.map_size("R") == (2, 2)  # layer2 of a ResNet: stride 8 on 16-px images
    nucleus = np.zeros((4, 16, 16), bool)
    nucleus[:, 4:12, 4:12] = True
    table = segmented_classifiers.attention_table(cams, "S", "R", nucleus, n_boot=50)
    assert list(table.columns) == ["method", "segmented", "raw", "segmented minus raw", "segmented minus raw low",
                                   "segmented minus raw high", "nucleus share of the image", "constant maps, segmented",
                                   "constant maps, raw", "n"]
    assert table["method"].tolist() == ["Grad-CAM", "Grad-CAM++", "HiResCAM", "XGrad-CAM"]  # the four, as the papers name them
    assert (table["nucleus share of the image"] == 0.25).all() and (table["n"] <= 4).all()
    compared = table[table["n"] > 0]
    assert len(compared) and np.allclose(compared["segmented minus raw"], compared["segmented"] - compared["raw"])
    assert (compared["segmented minus raw low"] <= compared["segmented minus raw"]).all()
    assert (compared["segmented minus raw"] <= compared["segmented minus raw high"]).all()
    same = segmented_classifiers.attention_table(cams, "R", "R", nucleus, methods=["gradcam"], n_boot=50).iloc[0]
    assert same["segmented minus raw"] == same["segmented minus raw low"] == same["segmented minus raw high"] == 0
    scores = {"R": segmented_classifiers.held_out_scores(model, images(np.arange(4), "raw", None), n_boot=10)}
    shown = {"raw": [np.zeros((16, 16, 3), np.uint8)] * 4}
    figure = segmented_classifiers.cam_comparison(cams, ["R"], [0, 3], shown, scores, ["no", "yes"], ["gradcam", "hirescam"])
    assert len(figure.axes) >= 2 * 3


EIGHT = [name for name, *_ in paper3_variants()]


def test_chosen_variants_are_all_eight_by_default_and_the_named_ones_in_table_5_order():
    assert cross_validation.chosen_variants([]) == paper3_variants()
    pair = cross_validation.chosen_variants(["NoSegmented Mish Medium", "Segmented Mish Medium"])
    assert pair == [("Segmented Mish Medium", "segmented", "medium", "mish"), ("NoSegmented Mish Medium", "raw", "medium", "mish")]


def test_chosen_variants_name_the_parameter_and_the_valid_names():
    with pytest.raises(ValueError, match=r"variants names 'Segmented Mish Large', which is none of the variants") as error:
        cross_validation.chosen_variants(["Segmented Mish Medium", "Segmented Mish Large"])
    assert all(name in str(error.value) for name in EIGHT)
    with pytest.raises(ValueError, match=r"variants = \['Segmented Mish Medium', 'NoSegmented ReLU Linear'\] holds no "
                                         "segmented variant together with its raw twin"):
        cross_validation.chosen_variants(["Segmented Mish Medium", "NoSegmented ReLU Linear"])


def scored(correct: list[int], labels: list[int] | None = None) -> segmented_classifiers.HeldOutScores:
    """Held-out scores of a two-class model that is right on the images where ``correct`` is 1."""
    labels = np.asarray(labels if labels is not None else [i % 2 for i in range(len(correct))])
    predicted = np.where(np.asarray(correct) == 1, labels, 1 - labels)
    logits = np.eye(2)[predicted]
    return segmented_classifiers.HeldOutScores(logits, logits, labels, {}, (np.nan, np.nan, np.nan))


def test_segmented_minus_raw_is_paired_on_the_test_images():
    same = [1, 0] * 10
    scores = {"Segmented Mish Medium": scored(same), "NoSegmented Mish Medium": scored(same),
              "Segmented ReLU Linear": scored([1] * 20), "NoSegmented ReLU Linear": scored([0] * 20),
              "Segmented Mish Linear": scored(same)}  # its twin is not trained: no row
    table = segmented_classifiers.segmented_minus_raw(scores, n_boot=200, seed=0)
    assert table[["segmented", "raw"]].values.tolist() == [["Segmented Mish Medium", "NoSegmented Mish Medium"],
                                                            ["Segmented ReLU Linear", "NoSegmented ReLU Linear"]]
    # the same images right and wrong: difference 0 in every resample (separate resamples would spread it)
    assert table.loc[0, ["segmented accuracy", "raw accuracy", "segmented minus raw", "segmented minus raw low",
                         "segmented minus raw high"]].tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert table.loc[1, ["segmented minus raw", "segmented minus raw low", "segmented minus raw high"]].tolist() == [1, 1, 1]
    assert table.loc[0, "n"] == 20 and table.loc[0, "seeds"] == 1
    one_better = {"Segmented Mish Medium": scored([1, 1, 1, 1, 0]), "NoSegmented Mish Medium": scored([1, 1, 1, 0, 0])}
    row = segmented_classifiers.segmented_minus_raw(one_better, n_boot=300, seed=2).iloc[0]
    assert row["segmented minus raw"] == pytest.approx(0.2)  # 4 of 5 minus 3 of 5
    assert (row["segmented minus raw low"], row["segmented minus raw high"]) == pytest.approx(
        paired_difference_ci([1, 1, 1, 1, 0], [1, 1, 1, 0, 0], n_boot=300, seed=2)[1:])
    # one image of five differs: a resample holds it 0 to 5 times, 3 or more in under 6 % of resamples
    assert (row["segmented minus raw low"], row["segmented minus raw high"]) == pytest.approx((0.0, 0.6))
    with pytest.raises(ValueError, match="different test images"):
        segmented_classifiers.segmented_minus_raw({"Segmented Mish Medium": scored([1, 1], [0, 1]),
                                                   "NoSegmented Mish Medium": scored([1, 1], [1, 1])})


def test_the_figures_and_table_a3_use_the_trained_variants():
    assert segmented_classifiers.raw_twin("Segmented ReLU Linear") == "NoSegmented ReLU Linear"
    assert segmented_classifiers.cam_pairs(EIGHT) == list(segmented_classifiers.CAM_PAIRS)
    pair = ["Segmented Mish Linear", "NoSegmented Mish Linear"]
    assert segmented_classifiers.cam_pairs(pair) == [tuple(pair)] * 2  # the closest trained model of each input
    assert segmented_classifiers.closest_trained("NoSegmented ReLU Linear", ["NoSegmented Mish Medium", "NoSegmented ReLU Medium"]) \
        == "NoSegmented ReLU Medium"
    with pytest.raises(ValueError, match="no raw variant was trained"):
        segmented_classifiers.closest_trained("NoSegmented Mish Linear", ["Segmented Mish Linear"])
    assert segmented_classifiers.table_a3_models(EIGHT) == list(segmented_classifiers.TABLE_A3_MODELS)
    assert segmented_classifiers.table_a3_models(["Segmented Mish Medium", "NoSegmented Mish Medium"]) == [
        "Segmented Mish Medium", "NoSegmented Mish Medium"]
    assert segmented_classifiers.table_a3_models(["Segmented ReLU Linear", "NoSegmented ReLU Linear"]) == [
        "Segmented ReLU Linear", "NoSegmented ReLU Linear"]
