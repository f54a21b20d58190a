"""Applying saved models to image files: ``leukutils predict`` and ``leukutils segment`` (leukutils.apply)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from leukutils import apply, cli, cross_validation, inference, model_cards
from leukutils.data.readers import load_image
from leukutils.data.sources import open_dataset
from leukutils.data.torch_datasets import ImageDataset, stack_images
from leukutils.models.classifiers import build_classifier, calibrate_batch_norm
from leukutils.models.unet import build_unet
from leukutils.preprocess import paper1_transform
from leukutils.segment import ensemble_masks, segment_nuclei

CLASSES = ["hem", "all"]
#: Notebook 01's parameters as its cards hold them (``device`` is left out by model_card).
PARAMETERS = {"dataset": "synthetic", "resize": 64, "zoom": 0.6, "image_size": 48, "seed": 0, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_thread_torch")


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """A folder of 8 synthetic C-NMC cells (64 px), some in a sub-folder, and 2 bad files beside them."""
    folder = tmp_path_factory.mktemp("cells")
    records = open_dataset("cnmc", n_subjects=2, cells_per_subject=4, size=64, seed=0)
    for k, record in enumerate(records[:8]):
        target = folder / ("more" if k % 2 else "") / record.path.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(record.path, target)
    good = sorted(p for p in folder.rglob("*.bmp"))
    whole = folder / "whole.jpg"
    Image.fromarray(load_image(good[0])).resize((256, 256)).save(whole, quality=95)
    data = whole.read_bytes()
    whole.unlink()
    (folder / "truncated.jpg").write_bytes(data[:len(data) // 3])
    (folder / "notes.png").write_text("not an image\n")
    return folder, good, [folder / "notes.png", folder / "truncated.jpg"]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, cells):
    """A Standard_CNN (batch norm calibrated on the cells, 48 px input) saved with notebook 01's card."""
    torch.manual_seed(0)
    _, good, _ = cells
    transform = paper1_transform(64, 0.6, 48)
    model = build_classifier("standard_cnn", 2, weights=None)
    calibrate_batch_norm(model, stack_images(ImageDataset(good, np.zeros(len(good), int), transform))[0])
    card = model_cards.model_card(PARAMETERS, architecture="standard_cnn", classes=CLASSES,
                             sizes={"train": 6, "validation": 1, "test": 1}, test_metrics={"accuracy": 0.5})
    path = model_cards.save_model(model, tmp_path_factory.mktemp("models") / "01_standard_cnn_test.pt", card=card)
    return path, model.eval()


def test_find_images_searches_folders_and_names_outputs_after_the_images(cells, tmp_path):
    folder, good, bad = cells
    found = apply.find_images([folder, good[0]])  # a file also inside the folder is listed once
    assert sorted(found) == sorted(good + bad)
    names = apply.output_names(found)
    assert all(n.suffix == ".png" for n in names) and len(set(names)) == len(names)
    assert any(n.parts[0] == "more" for n in names)
    assert [str(n) for n in apply.output_names([tmp_path / "a.jpg", tmp_path / "a.png"])] == ["a.jpg.png", "a.png.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        apply.find_images([good[0], tmp_path / "empty"])


def test_card_transform_names_the_missing_keys():
    assert model_cards.card_transform({"parameters": {"resize": 64, "zoom": 0.6, "image_size": 48}}).keywords == \
        {"resize": 64, "zoom": 0.6, "size": 48}
    with pytest.raises(model_cards.ModelCardError, match="missing zoom, image_size"):
        model_cards.card_transform({"parameters": {"resize": 64}}, where="card x.json")


def test_a_card_with_a_mark_region_inpaints_it_before_resizing():
    parameters = {"resize": 64, "zoom": 1.0, "image_size": 64}
    image = np.full((64, 64, 3), 220, np.uint8)
    image[56:58, 40:60] = 0                                    # a scale bar in the bottom-right corner
    plain = model_cards.card_transform({"parameters": parameters})(image)
    cleaned = model_cards.card_transform({"parameters": parameters, "mark_region": [0.8, 0.55, 1.0, 1.0]})(image)
    assert plain.min() == 0 and cleaned.min() > 150, "the bar is filled in from the glass around it"
    assert (cleaned[:40] == plain[:40]).all()
    with pytest.raises(model_cards.ModelCardError, match="mark_region"):
        model_cards.card_transform({"parameters": parameters, "mark_region": [0.9, 0.5, 0.8, 1.0]}, where="card y.json")


def test_predict_reports_bad_images_and_classifies_the_rest(cells, classifier, tmp_path, capsys):
    folder, good, bad = cells
    path, model = classifier
    out = tmp_path / "predictions.csv"
    status = cli.main(["predict", str(path), str(folder), "--out", str(out), "--device", "cpu", "--batch-size", "3",
                       "--quiet"])
    assert status == 1  # some images failed (2 would be a set-up error)
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["path", "status", "reason", "predicted", "p_hem", "p_all"]
    assert len(table) == len(good) + len(bad)
    failed = table[table.status == "failed"]
    assert sorted(failed.path) == sorted(map(str, bad))
    assert all("truncated" in r or "unreadable" in r for r in failed.reason)
    assert (failed.predicted == "").all() and (failed[["p_hem", "p_all"]] == "").all().all()
    stderr = capsys.readouterr().err
    assert all(f"failed: {p}" in stderr for p in bad) and "2 of 10 images failed" in stderr
    ok = table[table.status == "ok"].set_index("path").loc[[str(p) for p in good]]
    assert (ok.reason == "").all() and "warning:" not in stderr  # colour cells of the model's size are not flagged
    probabilities = ok[["p_hem", "p_all"]].to_numpy(float)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-6)
    assert (ok.predicted == np.array(CLASSES)[probabilities.argmax(1)]).all()
    # the card's preprocessing was applied: the same as notebook 01's test set through its transform
    test_set = ImageDataset(good, np.zeros(len(good), int), paper1_transform(64, 0.6, 48))
    _, expected, _ = inference.classify(model, test_set)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_grey_and_too_small_images_are_told_apart_from_ordinary_ones():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    grey = np.repeat(colour[..., :1], 3, axis=2)
    assert not apply.is_grey(colour) and apply.is_grey(grey) and apply.is_grey(grey[..., 0])
    nearly = grey.astype(np.int16)
    nearly[5, 7, 1] += 2 if nearly[5, 7, 1] < 200 else -2
    assert apply.is_grey(nearly)  # within the tolerance of lossy compression
    nearly[5, 7, 2] += 3 if nearly[5, 7, 2] < 200 else -3
    assert not apply.is_grey(nearly) and apply.is_grey(nearly, tolerance=5)
    with pytest.raises(ValueError, match=r"got shape \(30, 40, 4\)"):
        apply.is_grey(np.zeros((30, 40, 4), np.uint8))
    assert apply.is_too_small((23, 100, 3), 48) and apply.is_too_small((100, 23), 48)
    assert not apply.is_too_small((24, 24, 3), 48) and not apply.is_too_small((450, 450, 3), 224)
    assert apply.is_too_small((111, 450), 224) and not apply.is_too_small((112, 450), 224)
    with pytest.raises(ValueError, match="input side"):
        apply.is_too_small((10, 10), 0)
    assert apply.input_warnings(colour, 48) == []
    assert apply.input_warnings(grey, 48) == [apply.NO_COLOUR]
    assert apply.input_warnings(colour[:20], 48) == ["too small: shorter side 20 px, under 50% of the model's 48-px input"]
    assert apply.input_warnings(grey[:20], 48) == [apply.NO_COLOUR, apply.input_warnings(colour[:20], 48)[0]]


@pytest.fixture
def unsuited(cells, tmp_path):
    """An ordinary colour cell and three made from it that the 48-px classifier was not made for: grey
    stored as RGB, grey stored as grey (L), and a colour cell 20 px high."""
    _, good, _ = cells
    cell = load_image(good[0])
    assert not apply.is_grey(cell)
    grey = np.repeat(np.asarray(Image.fromarray(cell).convert("L"))[..., None], 3, axis=2)
    files = {"ordinary": tmp_path / "ordinary.png", "grey_rgb": tmp_path / "grey_rgb.png",
             "grey_l": tmp_path / "grey_l.png", "tiny": tmp_path / "tiny.png"}
    Image.fromarray(cell).save(files["ordinary"])
    Image.fromarray(grey).save(files["grey_rgb"])
    Image.fromarray(grey[..., 0]).save(files["grey_l"])
    Image.fromarray(cell).resize((50, 20)).save(files["tiny"])
    return files


def test_predict_flags_grey_and_too_small_images_and_still_classifies_them(classifier, unsuited):
    _, model = classifier
    paths = list(unsuited.values())
    with pytest.warns(apply.UnsuitedImageWarning) as caught:
        table = apply.predict_images(model, paths, paper1_transform(64, 0.6, 48), CLASSES, batch_size=2)
    assert len(caught) == 1  # one warning for the call, across its batches
    message = str(caught[0].message)
    assert message.startswith("3 of 4 images are not what the model was made for")
    assert all(str(unsuited[k]) in message for k in ("grey_rgb", "grey_l", "tiny"))
    assert str(unsuited["ordinary"]) not in message
    reason = dict(zip(table.path, table.reason))
    assert reason[str(unsuited["ordinary"])] == ""
    assert reason[str(unsuited["grey_rgb"])] == "no colour (grey levels only)"
    assert reason[str(unsuited["grey_l"])] == "converted to RGB; no colour (grey levels only)"
    assert reason[str(unsuited["tiny"])] == "too small: shorter side 20 px, under 50% of the model's 48-px input"
    assert (table.status == "ok").all()
    np.testing.assert_allclose(table[["p_hem", "p_all"]].sum(axis=1), 1, atol=1e-6)


def test_predict_command_writes_the_flags_into_the_csv_and_warns_once(classifier, unsuited, tmp_path, capsys):
    path, _ = classifier
    out = tmp_path / "predictions.csv"
    status = cli.main(["predict", str(path), *map(str, unsuited.values()), "--out", str(out), "--device", "cpu",
                       "--batch-size", "3", "--quiet"])
    assert status == 0  # flagged images are classified, not failed
    table = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert list(table.columns) == ["status", "reason", "predicted", "p_hem", "p_all"]
    assert (table.status == "ok").all() and (table.predicted != "").all()
    assert table.reason[str(unsuited["ordinary"])] == ""
    assert table.reason[str(unsuited["grey_rgb"])] == "no colour (grey levels only)"
    assert table.reason[str(unsuited["tiny"])].startswith("too small: shorter side 20 px")
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "3 of 4 images" in warned[0] and str(unsuited["tiny"]) in warned[0]


def _write_card(path, change):
    card = json.loads(path.with_suffix(".json").read_text())
    card.update(change)
    return card


@pytest.mark.parametrize("change, expected", [
    ({"classes": ["L1", "L2", "L3"]}, "standard_cnn with 3 classes cannot load"),
    ({"architecture": "mobilenet_v3_small"}, "mobilenet_v3_small with 2 classes cannot load"),
    (None, "has no model card"),
    ({"parameters": {"dataset": "synthetic"}}, "missing resize, zoom, image_size"),
])
def test_a_card_that_does_not_fit_stops_before_any_image_is_read(cells, classifier, tmp_path, monkeypatch, capsys,
                                                                  change, expected):
    folder, _, _ = cells
    path, _ = classifier
    moved = tmp_path / "model.pt"
    shutil.copy(path, moved)
    if change is not None:
        moved.with_suffix(".json").write_text(json.dumps(_write_card(path, change)))
    with pytest.raises(model_cards.ModelCardError, match=expected) as error:
        model_cards.load_classifier(moved)
    assert str(moved) in str(error.value) and str(moved.with_suffix(".json")) in str(error.value)

    def no_reading(path):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(apply, "load_image", no_reading)
    out = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(moved), str(folder), "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    assert str(moved) in capsys.readouterr().err


def test_predict_draws_one_cam_panel_per_good_image(cells, classifier, tmp_path):
    _, good, bad = cells
    path, _ = classifier
    cams = tmp_path / "cams"
    status = cli.main(["predict", str(path), *map(str, good[:3]), str(bad[1]), "--out", str(tmp_path / "p.csv"),
                       "--cam", "gradcam", "--cam-dir", str(cams), "--device", "cpu", "--quiet"])
    assert status == 1
    written = sorted(cams.rglob("*.png"))
    assert len(written) == 3 and {p.stem for p in written} == {p.stem for p in good[:3]}
    assert all(np.asarray(Image.open(p)).shape[2] in (3, 4) for p in written)
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert sorted(table.cam_path[table.status == "ok"]) == sorted(map(str, written))
    assert cli.main(["predict", str(path), str(good[0]), "--cam", "gradcam", "--quiet"]) == 2  # no --cam-dir


def test_segment_writes_algorithm_1_masks_and_reports_bad_images(cells, tmp_path, capsys):
    folder, good, bad = cells
    out = tmp_path / "masks"
    status = cli.main(["segment", str(folder), "--out", str(out), "--min-area", "500", "--quiet", "--batch-size", "3"])
    assert status == 1
    summary = pd.read_csv(out / "nuclei.csv", keep_default_na=False).set_index("path")
    assert sorted(summary.index[summary.status == "failed"]) == sorted(map(str, bad))
    assert sorted(str(p) for p in out.rglob("*.png")) == sorted(summary.mask_path[summary.status == "ok"])
    option_changed = 0
    for image_path in good:
        row = summary.loc[str(image_path)]
        written = np.asarray(Image.open(row.mask_path))
        assert row.mask_path.endswith(image_path.with_suffix(".png").name)
        assert written.dtype == np.uint8 and set(np.unique(written)) <= {0, 255}
        expected = segment_nuclei(load_image(image_path), min_area=500)
        np.testing.assert_array_equal(written == 255, expected)
        assert row.nucleus_pixels == expected.sum() and (row.reason == "no nucleus found") == (not expected.any())
        option_changed += not np.array_equal(expected, segment_nuclei(load_image(image_path)))
    assert option_changed  # --min-area reached Algorithm 1: some masks differ from Table A1's 150 px
    assert "failed: " + str(bad[0]) in capsys.readouterr().err


def test_segment_with_a_unet_fold_is_the_ensemble(cells, tmp_path):
    _, good, _ = cells
    torch.manual_seed(0)
    model = build_unet(channels=(4, 8, 16))
    fold = model_cards.save_model(model, tmp_path / "unet_fold0.pt", card=model_cards.unet_card(model, size=32, fold=0))
    out = tmp_path / "masks"
    assert cli.main(["segment", *map(str, good[:2]), "--out", str(out), "--unet", str(fold), "--unet-threshold", "0.45",
                     "--device", "cpu", "--quiet"]) == 0
    images = [load_image(p) for p in good[:2]]
    deep = inference.predict_masks(model, images, size=32, threshold=0.45)
    for image_path, image, mask in zip(good[:2], images, deep):
        expected = ensemble_masks(segment_nuclei(image), mask)
        written = np.asarray(Image.open(out / image_path.with_suffix(".png").name))
        np.testing.assert_array_equal(written == 255, expected)
    # without its card the U-Net is rebuilt from the options, and wrong channels name both files
    fold.with_suffix(".json").unlink()
    with pytest.raises(model_cards.ModelCardError, match="--unet-channels"):
        model_cards.load_unet(fold)
    assert model_cards.load_unet(fold, channels=[4, 8, 16], size=32)[1]["size"] == 32
    with pytest.raises(model_cards.ModelCardError, match="does not match checkpoint"):
        model_cards.load_unet(fold, channels=[8, 16, 32], size=32)


def test_kfold_segmentation_saves_cards_the_segment_command_reads(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    masks = [rng.random((32, 32)) > 0.5 for _ in range(4)]
    result = cross_validation.kfold_segmentation(images, masks, k=2, seed=0, max_folds=1, save_dir=tmp_path, size=32, epochs=1,
                                      batch_size=2, channels=(4, 8, 16))
    card = json.loads((tmp_path / "unet_fold0.json").read_text())
    assert card["channels"] == [4, 8, 16] and card["size"] == 32 and card["fold"] == 0
    model, _ = model_cards.load_unet(tmp_path / "unet_fold0.pt")
    held_out = np.flatnonzero(result.fold == 0)
    again = inference.predict_masks(model, [images[i] for i in held_out], size=32)
    for i, mask in zip(held_out, again):
        np.testing.assert_array_equal(mask, result.masks[i])
