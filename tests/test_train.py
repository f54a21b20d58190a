"""The training loop with each step (classifier, detector, MIL series, U-Net): learning, history, best-weights
restore, resumable checkpoints; cross-validation; prediction, datasets, model cards."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from leukutils.data.splits import kfold_split
from leukutils.data.torch_datasets import ImageDataset, TensorImageDataset, binary_labels, undersample
from leukutils.models.classifiers import build_classifier, calibrate_batch_norm
from leukutils.models.weights import load_checkpoint
from leukutils.inference import classify
from leukutils.cross_validation import check_folds, cross_validate
from leukutils.model_cards import save_model
from leukutils.train import ClassifierStep, fit

CLASSIFIER_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


pytestmark = pytest.mark.usefixtures("one_thread_torch")


def toy_sets(n=48, size=24, seed=0, signal=0.5):
    """Two classes told apart by the red channel's brightness (``signal`` 0: by nothing, pure overfitting)."""
    g = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 2
    images = torch.rand(n, 3, size, size, generator=g) * 0.5
    images[labels == 1, 0] += signal
    return TensorImageDataset(images[: n * 3 // 4], labels[: n * 3 // 4]), TensorImageDataset(images[n * 3 // 4:], labels[n * 3 // 4:])


def new_model():
    torch.manual_seed(0)
    return build_classifier("standard_cnn", 2, weights=None, dropout=0.2)


def classifier_fit(model, train_set, val_set, epochs, lr, plateau=False, **kw):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=3) if plateau else None
    step = ClassifierStep(train_set, val_set, batch_size=8,
                          recalibrate_batch_norm=kw.pop("recalibrate_batch_norm", False))
    return fit(model, step, epochs=epochs, optimizer=optimizer, scheduler=scheduler, progress=False, **kw)


def test_fit_learns_and_returns_history():
    train_set, val_set = toy_sets()
    model = new_model()
    history = classifier_fit(model, train_set, val_set, epochs=5, lr=3e-3)
    assert list(history.columns) == CLASSIFIER_COLUMNS
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    _, probabilities, labels = classify(model, val_set)
    assert (probabilities.argmax(1) == labels).mean() >= 0.75


def test_best_weights_by_validation_loss_are_restored():
    train_set, val_set = toy_sets(signal=0.0)  # nothing to learn: the validation loss goes up and down
    model = new_model()
    history = classifier_fit(model, train_set, val_set, epochs=4, lr=1e-2)
    assert history["val_loss"].idxmin() != len(history) - 1, "choose settings whose last epoch is not the best"
    val_loss = ClassifierStep(train_set, val_set, batch_size=8).validate(model)["loss"]
    assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-5)
    last = new_model()
    history = classifier_fit(last, train_set, val_set, epochs=4, lr=1e-2, best_by=None)
    val_loss = ClassifierStep(train_set, val_set, batch_size=8).validate(last)["loss"]
    assert val_loss == pytest.approx(history["val_loss"].iloc[-1], rel=1e-5)


@pytest.mark.slow
def test_resumed_run_repeats_an_uninterrupted_one(tmp_path):
    train_set, val_set = toy_sets()
    straight = classifier_fit(new_model(), train_set, val_set, epochs=4, lr=3e-3, plateau=True)
    checkpoint = tmp_path / "run.pt"
    classifier_fit(new_model(), train_set, val_set, epochs=2, lr=3e-3, plateau=True, checkpoint_path=checkpoint)
    model = new_model()  # a fresh process would start from scratch: the checkpoint carries the state
    resumed = classifier_fit(model, train_set, val_set, epochs=4, lr=3e-3, plateau=True, checkpoint_path=checkpoint)
    columns = [c for c in CLASSIFIER_COLUMNS if c != "seconds"]
    np.testing.assert_allclose(resumed[columns].to_numpy(), straight[columns].to_numpy(), rtol=1e-6)


def test_checkpoint_seconds_writes_only_the_last_epoch_of_a_short_run(tmp_path, monkeypatch):
    import leukutils.train as train_module
    written = []
    real_save = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint",
                        lambda path, state: (written.append(len(state["history"])), real_save(path, state)))
    train_set, val_set = toy_sets()
    classifier_fit(new_model(), train_set, val_set, epochs=3, lr=3e-3, checkpoint_path=tmp_path / "every.pt")
    assert written == [1, 2, 3]  # the default: after every epoch
    written.clear()
    classifier_fit(new_model(), train_set, val_set, epochs=3, lr=3e-3, checkpoint_path=tmp_path / "throttled.pt",
                   checkpoint_seconds=3600)
    assert written == [3]  # an hour between writes: only the last epoch's state
    state = torch.load(tmp_path / "throttled.pt", weights_only=False)
    assert len(state["history"]) == 3
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        classifier_fit(new_model(), train_set, val_set, epochs=1, lr=3e-3, checkpoint_seconds=-1)


def test_fit_rejects_bad_settings():
    train_set, val_set = toy_sets()
    with pytest.raises(ValueError, match="epochs"):
        classifier_fit(new_model(), train_set, val_set, epochs=0, lr=1e-3)
    with pytest.raises(ValueError, match="empty split"):
        ClassifierStep(train_set, TensorImageDataset(torch.zeros(0, 3, 4, 4), []), batch_size=8)
    model = new_model()
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="train_iou"):
        fit(model, ClassifierStep(train_set, val_set, batch_size=8), epochs=1, optimizer=optimizer, progress=False,
            scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer), scheduler_metric="train_iou")


def test_predict_probabilities_logits_and_order():
    train_set, _ = toy_sets()
    logits, probabilities, labels = classify(new_model(), train_set, batch_size=5)
    assert logits.shape == probabilities.shape == (len(train_set), 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probabilities, torch.softmax(torch.from_numpy(logits), 1).numpy(), atol=1e-6)
    np.testing.assert_array_equal(labels, train_set.labels)


def test_classify_unwraps_inception_logits():
    class Wrapped(torch.nn.Module):  # Inception in training mode returns a named tuple holding the logits
        def forward(self, x):
            return type("Outputs", (), {"logits": x.mean((2, 3))[:, :2]})()

    train_set, _ = toy_sets(n=8)
    logits, _, _ = classify(Wrapped(), train_set)
    np.testing.assert_allclose(logits, train_set.images.mean((2, 3))[:, :2].numpy(), rtol=1e-6)


def test_cross_validate_holds_every_item_out_once_and_stops_at_max_folds():
    labels = np.arange(30) % 3
    folds = kfold_split(labels, k=5, seed=0)
    seen = cross_validate(folds, lambda fold, train, test: (fold, train, test))
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
    held_out = np.concatenate([s[2] for s in seen])
    np.testing.assert_array_equal(np.sort(held_out), np.arange(30))
    assert all(len(np.intersect1d(train, test)) == 0 for _, train, test in seen)
    calls = []
    two = cross_validate(folds, lambda fold, train, test: calls.append(fold) or fold, max_folds=2)
    assert two == [0, 1] and calls == [0, 1]
    with pytest.raises(ValueError, match="exactly once"):
        cross_validate(folds[:3], lambda *a: None)  # three of five folds do not partition the items
    with pytest.raises(ValueError, match="disjoint"):
        check_folds([(np.arange(4), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))])
    with pytest.raises(ValueError, match="max_folds"):
        cross_validate(folds, lambda *a: None, max_folds=0)


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
    train_set, val_set = toy_sets(n=64)  # 48 training images: equal batches, so the mean of batch means is the mean
    model = new_model()
    classifier_fit(model, train_set, val_set, epochs=1, lr=3e-3, recalibrate_batch_norm=True)
    stats = model.features[1].running_mean.clone()
    reference = calibrate_batch_norm(model, train_set.images, batch_size=8).features[1].running_mean
    torch.testing.assert_close(stats, reference, rtol=1e-4, atol=1e-5)
    untouched = new_model()
    classifier_fit(untouched, train_set, val_set, epochs=1, lr=3e-3)
    assert not torch.allclose(untouched.features[1].running_mean, reference, atol=1e-3)


def test_fit_classifier_cosine_schedule_and_fused_adam():
    from leukutils.train import fit_classifier

    train_set, val_set = toy_sets()
    histories = {}
    for fused in (False, True):
        model = new_model()
        histories[fused] = fit_classifier(model, train_set, val_set, epochs=4, lr=3e-3, batch_size=8, cosine=True,
                                          fused=fused, progress=False)
    lr = histories[True]["lr"].to_numpy()  # the rate used in each epoch: 3e-3, then down the cosine
    np.testing.assert_allclose(lr, 3e-3 * (1 + np.cos(np.pi * np.arange(4) / 4)) / 2)
    assert histories[True]["train_loss"].iloc[-1] < histories[True]["train_loss"].iloc[0]
    # the fused kernel computes the same update up to float rounding
    np.testing.assert_allclose(histories[True]["train_loss"], histories[False]["train_loss"], rtol=1e-3)
    plateau = fit_classifier(new_model(), train_set, val_set, epochs=2, lr=3e-3, batch_size=8, plateau=True,
                             progress=False)
    assert plateau["lr"].tolist() == [3e-3, 3e-3]


def test_fit_classifier_channels_last_is_the_same_training():
    from leukutils.train import fit_classifier

    train_set, val_set = toy_sets()
    plain, fast = new_model(), new_model()
    kw = dict(epochs=2, lr=3e-3, batch_size=8, progress=False)
    h_plain = fit_classifier(plain, train_set, val_set, **kw)
    h_fast = fit_classifier(fast, train_set, val_set, channels_last=True, **kw)
    np.testing.assert_allclose(h_fast["train_loss"], h_plain["train_loss"], rtol=1e-3)
    assert all(p.is_contiguous() for p in fast.parameters()), "the model comes back in the default memory format"
    np.testing.assert_allclose(classify(fast, val_set)[1], classify(plain, val_set)[1], atol=1e-3)


def test_one_cycle_schedule_steps_every_batch_and_resumes(tmp_path):
    from leukutils.train import fit_classifier

    train_set, val_set = toy_sets()  # 36 training images: 5 batches of 8 per epoch
    kw = dict(lr=1e-2, batch_size=8, progress=False, one_cycle=True)
    straight = fit_classifier(new_model(), train_set, val_set, epochs=3, **kw)
    assert straight["lr"].iloc[0] > straight["lr"].iloc[-1] and straight["lr"].iloc[-1] < 1e-5, "annealed by the last batch"
    assert straight["lr"].max() <= 1e-2 + 1e-12

    class Interrupted(TensorImageDataset):  # the run stops during the third epoch, after two checkpoints
        reads = 0

        def __getitem__(self, index):
            Interrupted.reads += 1
            if Interrupted.reads > 2 * len(self) + 3:
                raise KeyboardInterrupt
            return super().__getitem__(index)

    with pytest.raises(KeyboardInterrupt):
        fit_classifier(new_model(), Interrupted(train_set.images, train_set.labels), val_set, epochs=3,
                       checkpoint_path=tmp_path / "run.pt", **kw)
    resumed = fit_classifier(new_model(), train_set, val_set, epochs=3, checkpoint_path=tmp_path / "run.pt", **kw)
    columns = [c for c in CLASSIFIER_COLUMNS if c != "seconds"]
    np.testing.assert_allclose(resumed[columns].to_numpy(), straight[columns].to_numpy(), rtol=1e-6)
