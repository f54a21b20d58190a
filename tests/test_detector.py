"""White-cell detector (leukutils.models.detector), its training step and inference, and the COCO
detection metric (leukutils.metrics)."""
import numpy as np
import pytest
import torch

from leukutils import config, patients
from leukutils import train as training
from leukutils.data.records import Record
from leukutils.data.torch_datasets import samples_from_records
from leukutils.metrics import detection_map
from leukutils.models import detector
from leukutils.inference import detect
from leukutils.train import DetectorStep, fit


pytestmark = pytest.mark.usefixtures("one_thread_torch")


def _smears(n, seed=0):
    """Light fields with 1-2 purple squares (the 'cells') and their boxes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        image = np.full((96, 96, 3), 235, np.uint8)
        boxes = []
        for _ in range(int(rng.integers(1, 3))):
            x, y = rng.integers(4, 60, 2)
            side = int(rng.integers(22, 30))
            image[y:y + side, x:x + side] = (110, 40, 150)
            boxes.append([x, y, x + side, y + side])
        out.append((image, np.array(boxes, np.float32), np.ones(len(boxes), np.int64)))
    return out


def train_detector(model, samples, epochs, lr=1e-3, batch_size=2, seed=0, **kw):
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    return fit(model, DetectorStep(samples, batch_size=batch_size), epochs=epochs, optimizer=optimizer, seed=seed,
               progress=False, **kw)


def test_detection_map_is_one_for_perfect_and_zero_for_missing_boxes():
    truth = [{"boxes": np.array([[10, 10, 50, 50]]), "labels": np.array([1])},
             {"boxes": np.array([[0, 0, 20, 30], [40, 40, 80, 90]]), "labels": np.array([1, 1])}]
    perfect = [dict(t, scores=np.ones(len(t["labels"]))) for t in truth]
    assert detection_map(perfect, truth)["map_50"] == pytest.approx(1.0)
    assert detection_map(perfect, truth)["map"] == pytest.approx(1.0)
    shifted = [dict(boxes=t["boxes"] + 15, labels=t["labels"], scores=np.ones(len(t["labels"]))) for t in truth]
    assert detection_map(shifted, truth)["map_50"] < 0.5
    none = [dict(boxes=np.zeros((0, 4)), labels=np.zeros(0), scores=np.zeros(0)) for _ in truth]
    assert detection_map(none, truth)["map_50"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        detection_map(perfect[:1], truth)


@pytest.mark.slow
def test_small_detector_learns_cells_and_finds_none_on_a_blank_field():
    config.seed_everything(0)
    train, test = _smears(16, seed=0), _smears(6, seed=1)
    model = detector.build_detector("small", 2, weights=None, min_size=96, max_size=96, anchor_sizes=(16, 24, 32))
    history = train_detector(model, train, epochs=8, lr=3e-3, batch_size=4, seed=0)
    assert history["epoch"].tolist() == list(range(1, 9))
    assert {"train_loss", "train_loss_classifier", "train_loss_box_reg", "train_loss_objectness",
            "train_loss_rpn_box_reg", "lr", "seconds"} <= set(history.columns)
    assert not any(c.startswith("val_") for c in history.columns)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    predictions = detect(model, [t[0] for t in test], score_threshold=0.05)
    assert all(p["boxes"].shape[1] == 4 and p["boxes"].dtype == np.float32 for p in predictions)
    score = detection_map(predictions, [{"boxes": t[1], "labels": t[2]} for t in test])
    assert score["map_50"] > 0.5
    blank = detect(model, [np.full((96, 96, 3), 235, np.uint8)], score_threshold=0.5)[0]
    assert len(blank["boxes"]) == 0 and len(blank["scores"]) == 0


def test_training_is_deterministic():
    results = []
    for _ in range(2):
        config.seed_everything(0)
        model = detector.build_detector("small", 2, weights=None, min_size=96, max_size=96)
        results.append(train_detector(model, _smears(4), epochs=1, batch_size=2, seed=0)["train_loss"].iloc[0])
    assert results[0] == results[1]


def test_resumed_detector_training_repeats_an_uninterrupted_one(tmp_path):
    def new_detector():
        torch.manual_seed(0)
        return detector.build_detector("small", 2, weights=None, min_size=96, max_size=96)

    samples = _smears(4)
    straight = train_detector(new_detector(), samples, epochs=3, seed=1)
    checkpoint = tmp_path / "detector.pt"
    train_detector(new_detector(), samples, epochs=1, seed=1, checkpoint_path=checkpoint)
    torch.manual_seed(123)  # another process: the checkpoint restores the order, flips and torchvision's sampling
    resumed = train_detector(new_detector(), samples, epochs=3, seed=1, checkpoint_path=checkpoint)
    columns = [c for c in straight.columns if c != "seconds"]
    np.testing.assert_allclose(resumed[columns].to_numpy(), straight[columns].to_numpy(), rtol=1e-6)


def test_build_detector_architectures_and_errors():
    model = detector.build_detector("fasterrcnn_resnet50_fpn", 3, weights=None)
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    with pytest.raises(ValueError, match="unknown detector"):
        detector.build_detector("yolo", 2)
    with pytest.raises(ValueError, match="weights"):
        detector.build_detector("fasterrcnn_resnet50_fpn", 2, weights="coco")


def test_bad_targets_and_images_are_refused():
    model = detector.build_detector("small", 2, weights=None, min_size=64, max_size=64)
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="background"):
        train_detector(model, [(image, np.array([[1, 1, 20, 20]]), np.array([0]))], epochs=1)
    with pytest.raises(ValueError, match="uint8"):
        detect(model, [np.zeros((64, 64), np.float32)])


def test_samples_from_records_keep_only_the_asked_classes(tmp_path):
    record = Record(tmp_path / "a.jpg", "smear", boxes=np.array([[0, 0, 5, 5], [1, 1, 9, 9], [2, 2, 8, 8]], np.float32),
                    box_labels=["RBC", "WBC", "blast"])
    samples = samples_from_records([record], ["WBC", "blast"], lambda path: np.zeros((10, 10, 3), np.uint8))
    image, boxes, labels = samples[0]
    assert image.shape == (10, 10, 3) and boxes.tolist() == [[1, 1, 9, 9], [2, 2, 8, 8]] and labels.tolist() == [1, 2]
    with pytest.raises(ValueError, match="no boxes"):
        samples_from_records([Record(tmp_path / "b.jpg", "smear")], ["WBC"], lambda p: None)


def test_train_detector_trains_on_train_records_and_detector_row_scores_the_test_ones(tmp_path):
    """train.train_detector (the recipe) and patients.detector_row (P2-M1's row) on a few saved fields."""
    import cv2

    records = []
    for i, (image, boxes, _) in enumerate(_smears(6, seed=2)):
        path = tmp_path / f"field{i}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        records.append(Record(path, "smear", boxes=boxes, box_labels=["WBC"] * len(boxes),
                              split="test" if i >= 4 else "train"))
    options = dict(arch="small", weights=None, min_size=64, max_size=96)
    model, history = training.train_detector(records, ["WBC"], epochs=1, lr=1e-3, seed=0, batch_size=2, **options)
    assert len(history) == 1 and not model.training
    row = patients.detector_row("WBC", model, records, ["WBC"], n_boot=5, seed=0)
    assert row["detector"] == "WBC" and row["test images"] == 2
    assert row["mAP@0.5 low"] <= row["mAP@0.5 high"] and 0 <= row["mAP@[.5:.95]"] <= 1
    checkpoint = tmp_path / "detector.pt"
    torch.save(model.state_dict(), checkpoint)
    loaded, history = training.train_detector(records, ["WBC"], epochs=1, lr=1e-3, checkpoint=str(checkpoint), **options)
    assert history["train_loss"].isna().all()
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
