"""The training loop: learning, best-weights restore, resumable checkpoints, prediction, datasets, cards."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from leukutils.data.torch_datasets import ImageDataset, TensorImageDataset, binary_labels, undersample
from leukutils.models.classifiers import build_classifier
from leukutils.models.weights import load_checkpoint
from leukutils.train import HISTORY_COLUMNS, evaluate, fit, make_loader, predict, save_model


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def toy_sets(n=48, size=24, seed=0):
    """Two classes told apart by the red channel's brightness."""
    g = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 2
    images = torch.rand(n, 3, size, size, generator=g) * 0.5
    images[labels == 1, 0] += 0.5
    return TensorImageDataset(images[: n * 3 // 4], labels[: n * 3 // 4]), TensorImageDataset(images[n * 3 // 4:], labels[n * 3 // 4:])


def new_model():
    torch.manual_seed(0)
    return build_classifier("standard_cnn", 2, weights=None, dropout=0.2)


def test_fit_learns_and_returns_history():
    train_set, val_set = toy_sets()
    model = new_model()
    history = fit(model, train_set, val_set, epochs=5, lr=3e-3, batch_size=8, progress=False)
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    probabilities, labels = predict(model, val_set)
    assert (probabilities.argmax(1) == labels).mean() >= 0.75


def test_best_weights_by_validation_loss_are_restored():
    train_set, val_set = toy_sets()
    model = new_model()
    history = fit(model, train_set, val_set, epochs=4, lr=1e-2, batch_size=8, progress=False)
    val_loss, _ = evaluate(model, make_loader(val_set, 8), torch.nn.CrossEntropyLoss(), torch.device("cpu"))
    assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-5)


def test_resumed_run_repeats_an_uninterrupted_one(tmp_path):
    train_set, val_set = toy_sets()
    straight = fit(new_model(), train_set, val_set, epochs=4, lr=3e-3, batch_size=8, progress=False,
                   scheduler="plateau")
    checkpoint = tmp_path / "run.pt"
    model = new_model()
    fit(model, train_set, val_set, epochs=2, lr=3e-3, batch_size=8, progress=False, scheduler="plateau",
        checkpoint_path=checkpoint)
    model = new_model()  # a fresh process would start from scratch: the checkpoint carries the state
    resumed = fit(model, train_set, val_set, epochs=4, lr=3e-3, batch_size=8, progress=False, scheduler="plateau",
                  checkpoint_path=checkpoint)
    np.testing.assert_allclose(resumed.to_numpy(), straight.to_numpy(), rtol=1e-6)


def test_fit_rejects_bad_settings():
    train_set, val_set = toy_sets()
    with pytest.raises(ValueError, match="epochs"):
        fit(new_model(), train_set, val_set, epochs=0, lr=1e-3, batch_size=8)
    with pytest.raises(ValueError, match="scheduler"):
        fit(new_model(), train_set, val_set, epochs=1, lr=1e-3, batch_size=8, scheduler="cosine")


def test_predict_probabilities_and_order():
    train_set, _ = toy_sets()
    probabilities, labels = predict(new_model(), train_set, batch_size=5)
    assert probabilities.shape == (len(train_set), 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(labels, train_set.labels)


def test_image_dataset_reads_files(tmp_path):
    paths = []
    for i in range(3):
        array = np.full((10, 12, 3), 40 * i, np.uint8)
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(array).save(paths[-1])
    dataset = ImageDataset(paths, [0, 1, 1], transform=lambda im: im[:8, :8], cache=True)
    image, label = dataset[2]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    assert label == 1 and image.max().item() == pytest.approx(80 / 255)
    with pytest.raises(ValueError, match="labels"):
        ImageDataset(paths, [0, 1])
    with pytest.raises(ValueError, match="integer"):
        ImageDataset(paths, ["a", "b", "c"])


def test_undersample_balances_and_is_seeded():
    labels = np.array(["all"] * 30 + ["hem"] * 12)
    keep = undersample(labels, seed=1)
    assert (labels[keep] == "all").sum() == (labels[keep] == "hem").sum() == 12
    np.testing.assert_array_equal(keep, undersample(labels, seed=1))
    assert not np.array_equal(keep, undersample(labels, seed=2))
    assert len(undersample(labels, seed=1, max_per_class=5)) == 10
    np.testing.assert_array_equal(binary_labels(["Benign", "Pre", "Pro"], ["Early", "Pre", "Pro"]), [0, 1, 1])


def test_save_model_writes_card_and_loads(tmp_path):
    model = new_model().eval()
    path = save_model(model, tmp_path / "m.pt", card={"architecture": "standard_cnn", "seed": np.int64(3),
                                                      "accuracy": np.float32(0.5)})
    card = json.loads(path.with_suffix(".json").read_text())
    assert card == {"architecture": "standard_cnn", "seed": 3, "accuracy": 0.5}
    again = load_checkpoint(build_classifier("standard_cnn", 2, weights=None).eval(), path)
    x = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_recalibrated_batch_norm_matches_training_set_statistics():
    from leukutils.models.classifiers import calibrate_batch_norm

    train_set, val_set = toy_sets(n=64)  # 48 training images: equal batches, so the mean of batch means is the mean
    model = new_model()
    fit(model, train_set, val_set, epochs=1, lr=3e-3, batch_size=8, progress=False, recalibrate_batch_norm=True)
    stats = model.features[1].running_mean.clone()
    reference = calibrate_batch_norm(model, train_set.images, batch_size=8).features[1].running_mean
    torch.testing.assert_close(stats, reference, rtol=1e-4, atol=1e-5)
    untouched = new_model()
    fit(untouched, train_set, val_set, epochs=1, lr=3e-3, batch_size=8, progress=False)
    assert not torch.allclose(untouched.features[1].running_mean, reference, atol=1e-3)
