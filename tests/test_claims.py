"""leukutils.claims: cascading randomisation, verdicts, the per-field tables of the shortcut test, and the steps of
notebook 04 on small fields."""
import numpy as np
import pytest
import torch

from leukutils import claims, features, metrics, report, shortcuts
from leukutils.models.classifiers import StandardCNN


def test_cascading_randomisation_reinitialises_from_the_top_down():
    torch.manual_seed(0)
    model = StandardCNN(2, widths=(4, 8)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stages = list(claims.cascading_randomisation(model, seed=0))
    assert [name for name, _ in stages] == ["trained", "random to classifier", "random to block 2", "random to block 1"]
    assert stages[0][1] is model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the trained model is untouched"
    head_only = stages[1][1].state_dict()
    assert not torch.equal(head_only["classifier.weight"], before["classifier.weight"])
    assert torch.equal(head_only["features.0.weight"], before["features.0.weight"])
    everything = stages[-1][1].state_dict()
    assert not torch.equal(everything["features.0.weight"], before["features.0.weight"])
    with pytest.raises(TypeError, match="features"):
        claims.cascading_stages(torch.nn.Linear(2, 2))


def test_verdicts():
    assert claims.verdict(0.1, 0.3) == "holds"
    assert claims.verdict(-0.3, -0.1) == "does not hold"
    assert claims.verdict(-0.1, 0.2) == "cannot be told here"
    assert claims.verdict(0.1, 0.3, claim_direction=-1) == "does not hold"
    assert claims.verdict(np.nan, np.nan) == "cannot be told here"
    assert claims.verdict(-0.04, 0.0, holds_if_above=-0.05) == "holds"


def test_a_verdict_needs_a_model_that_learned():
    assert report.learned(0.55, 0.5) and not report.learned(0.5, 0.5) and not report.learned(0.45, 0.5)
    assert report.learned(np.nan, 0.5) and report.learned(0.3, np.nan), "nothing to compare: the verdict stands"
    assert claims.verdict(0.1, 0.3, model_learned=report.learned(0.45, 0.5)) == claims.NOT_LEARNED
    assert claims.NOT_LEARNED == "cannot be told here: the model did not learn"
    assert claims.verdict(0.1, 0.3, model_learned=report.learned(0.6, 0.5)) == "holds"
    assert claims.verdict(-0.3, -0.1, model_learned=False) == claims.NOT_LEARNED


def test_per_field_table_and_its_summary():
    predicted = {("a", "as given"): np.array([1, 0, 1, 1]), ("b", "as given"): np.array([0, 0, 0, 0])}
    rows = claims.per_field_table(predicted, np.array([1, 0, 1, 0]), np.array([7, 3, 5, 9]), data="x")
    assert list(rows.columns) == ["data", "model", "test cue", "field", "accuracy"] and len(rows) == 8
    assert rows["field"].tolist()[:4] == [7, 3, 5, 9]
    table = metrics.summarise(rows, ["data", "model", "test cue"], ["accuracy"], n_boot=50).set_index("model")
    assert table.loc["a", "accuracy"] == 0.75 and table.loc["b", "accuracy"] == 0.5 and table.loc["a", "n"] == 4


def test_cam_compartments_on_maps_that_look_at_the_mark_or_away():
    labels = np.zeros((2, 20, 20), np.uint8)
    labels[:, 4:8, 4:8], labels[:, 8:10, 4:8] = 255, 128  # a nucleus, its cytoplasm below it
    mark = np.zeros((2, 20, 20), bool)
    mark[:, -3:, -3:] = True
    maps = np.zeros((2, 20, 20))
    maps[0, -2, -2], maps[1, 5, 5] = 1.0, 1.0  # one map on the mark, one on the nucleus
    maps[:, 9, 5] = 0.5
    table = claims.cam_compartments(maps, labels, mark, near=2)
    assert table["Grad-CAM mass on the mark"].tolist() == [1 / 1.5, 0.0]
    assert table["Grad-CAM peak near the mark"].tolist() == [1.0, 0.0]
    assert table["Grad-CAM mass on nuclei"].tolist() == [0.0, 1 / 1.5]
    assert np.allclose(table["Grad-CAM mass on cytoplasm"], 0.5 / 1.5) and table["Grad-CAM mass on background"][0] == 1 / 1.5
    assert table["nuclei area share"][0] == 16 / 400 and table["mark area share"][0] == 9 / 400


def test_crop_is_marked_follows_the_crops_order():
    mask = np.zeros((30, 30), bool)
    mask[2:6, 2:6], mask[20:26, 20:26] = True, True  # two nuclei; ndimage.label numbers them top-left first
    marked = np.zeros_like(mask)
    marked[20:26, 20:26] = True
    flags = claims.crop_is_marked([mask, mask], [marked, np.zeros_like(mask)])
    assert flags.tolist() == [False, True, False, False]
    assert len(flags) == len(claims.segment.crops_of_fields([np.zeros((30, 30, 3), np.uint8)] * 2, [mask, mask], 8)[0])


def test_per_image_localisation_pairs_methods_by_image():
    masks = np.zeros((3, 10, 10), bool)
    masks[:, :5] = True
    maps = {"good": np.where(masks, 1.0, 0.0), "away": np.where(masks, 0.0, 1.0)}
    rows = claims.per_image_localisation(maps, masks, data="d")
    assert rows["image"].tolist() == [0, 1, 2, 0, 1, 2] and set(rows["data"]) == {"d"}
    assert rows.loc[rows.method == "good", "relevance mass"].tolist() == [1.0] * 3
    assert rows.loc[rows.method == "away", "relevance mass"].tolist() == [0.0] * 3


@pytest.mark.slow
def test_the_recipe_trains_and_the_tests_run_on_small_fields(one_thread_torch):
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 12)
    fields = rng.integers(180, 255, size=(24, 64, 64, 3)).astype(np.uint8)
    masks = np.zeros((24, 64, 64), bool)
    masks[labels == 1, 20:36, 20:36] = True
    fields[masks] = (90, 30, 140)
    fit = claims.StandardCNNRecipe([4, 8, 8, 8], epochs=2, lr=3e-3, batch_size=8)
    train_rows, val_rows, test_rows = np.arange(12), np.arange(12, 18), np.arange(18, 24)
    model = fit(fields, labels, train_rows, val_rows)
    again = fit(fields, labels, train_rows, val_rows)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())), "seeded"
    assert claims.correct_predictions(model, fields[test_rows], labels[test_rows]).shape == (6,)
    table, maps = claims.localisation_table(model, fields[test_rows], masks[test_rows], ["gradcam"], n_boot=20)
    assert table["method"].tolist() == ["gradcam", "random", "centred Gaussian"] and maps["random"].shape == (6, 64, 64)
    rows, stage_maps = claims.sanity_check_rows(model, fields[test_rows][1::2], masks[test_rows][1::2])
    assert list(rows.columns) == ["stage", *claims.SANITY_COLUMNS] and list(stage_maps)[-1] == "class healthy"
    runs = claims.split_leakage_runs(fields, labels, np.repeat(np.arange(6), 4), [0], fit, epochs=1)
    assert runs["split"].tolist() == ["image-level", "subject-level"] and runs["test subjects seen in training"].iloc[1] == 0
    crop_model, threshold, n_crops = claims.fit_crop_model(fit, fields, list(masks), labels, train_rows, val_rows, 16)
    assert n_crops == 6 and claims.crop_field_scores(crop_model, fields[test_rows], masks[test_rows], 16).shape == (6,)
    barred = fields.copy()
    barred[:, 58:60, 44:60] = 0                                  # a scale bar in the bottom-right corner of every field
    aria, per_field, tints = claims.tint_and_scale_bar(barred, labels, (train_rows, val_rows, test_rows), fit, cell_margin=2,
                                                       size=32, epochs=1, n_boot=20)
    assert aria["test cue"].tolist() == list(shortcuts.PROBES)
    assert aria.loc[0, "accuracy minus as given"] == 0 and len(per_field) == 4 * 6 and tints.shape == (24, 3)
    assert 0 < aria.loc[0, "mark area share"] < 0.1 and aria["majority baseline"].iloc[0] == 0.5


@pytest.mark.slow
def test_cue_run_trains_the_four_models_and_measures_where_they_look(one_thread_torch):
    rng = np.random.default_rng(1)
    labels = np.array([0, 1] * 16)
    fields = rng.integers(200, 256, size=(32, 48, 48, 3)).astype(np.uint8)
    label_masks = np.zeros((32, 48, 48), np.uint8)
    for i in range(32):  # two nuclei per field, ringed by cytoplasm; the blasts of ALL fields are larger
        for y, x in ((14, 14), (32, 30)):
            r = 6 if labels[i] and y == 14 else 4
            yy, xx = np.ogrid[:48, :48]
            label_masks[i][(yy - y) ** 2 + (xx - x) ** 2 <= (r + 3) ** 2] = 128
            label_masks[i][(yy - y) ** 2 + (xx - x) ** 2 <= r ** 2] = 255
    fields[label_masks == 255], fields[label_masks == 128] = (90, 30, 140), (200, 170, 210)
    blast_nuclei = (label_masks == 255) & (labels[:, None, None] == 1) & (np.indices((48, 48))[0] < 24)
    fit = claims.StandardCNNRecipe([4, 8, 8, 8], epochs=1, lr=3e-3, batch_size=8)
    rows = (np.arange(16), np.arange(16, 24), np.arange(24, 32))
    encoder = features.CellEncoder("alexnet", weights=None, input_size=64, layer="pool", seed=0)
    stage = dict(n_series=40, epochs=1, batch_size=8)
    pipeline = dict(encoder=encoder, n_views=1, stage1=stage, stage2=dict(stage, length=2))
    outside = claims.cue_run(fields, labels, label_masks, rows, fit, cue="corner", rate=1.0, min_nucleus_area=10, crop_size=16,
                             pipeline=pipeline, blast_nuclei=blast_nuclei, data="d")
    inside = claims.cue_run(fields, labels, label_masks, rows, fit, cue=shortcuts.NUCLEUS_MARK, rate=1.0, min_nucleus_area=10, data="d")
    assert outside.fields["model"].unique().tolist() == ["end-to-end CNN", "segmented-input CNN", "cell-crop CNN, max rule",
                                                         "paper 2's pipeline (cells, frozen features, LSTM)"]
    assert inside.fields["model"].unique().tolist() == ["end-to-end CNN", "segmented-input CNN"]
    assert len(outside.with_mark) == 4 and outside.notes["pipeline pool blasts"] == 8  # one blast in each ALL training field
    kept = outside.cams["mark kept by segmentation"].iloc[0], inside.cams["mark kept by segmentation"].iloc[0]
    assert kept[0] == 0 and kept[1] > 0.9, "the corner mark is segmented away, the nucleus mark is kept"
    table, per_field, cams = claims.cue_table([outside, inside], 0.5, n_boot=20)
    assert len(table) == 3 * 6 and table["majority baseline"].eq(0.5).all() and len(cams) == 2 * 2 * 4
    images, maps, titles, inputs = claims.cue_panels([outside, inside], per_cue=1)
    assert len(images) == 2 and list(maps) == ["end-to-end CNN", "segmented-input CNN"] and titles[1].endswith("nucleus mark")
    assert (inputs["segmented-input CNN"][0][0, 0] == 0).all(), "the segmented-input CNN's maps are drawn on what it saw"
