"""leukutils.claims: cascading randomisation, verdicts, the per-field tables of the shortcut test, and the steps of
notebook 04 on small fields."""
import numpy as np
import pytest
import torch

from leukutils import claims, metrics
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


def test_per_field_table_and_its_summary():
    predicted = {("a", "as given"): np.array([1, 0, 1, 1]), ("b", "as given"): np.array([0, 0, 0, 0])}
    rows = claims.per_field_table(predicted, np.array([1, 0, 1, 0]), np.array([7, 3, 5, 9]), data="x")
    assert list(rows.columns) == ["data", "model", "test cue", "field", "accuracy"] and len(rows) == 8
    assert rows["field"].tolist()[:4] == [7, 3, 5, 9]
    table = metrics.summarise(rows, ["data", "model", "test cue"], ["accuracy"], n_boot=50).set_index("model")
    assert table.loc["a", "accuracy"] == 0.75 and table.loc["b", "accuracy"] == 0.5 and table.loc["a", "n"] == 4


def test_cue_attention_on_maps_that_look_at_the_mark_or_away():
    region = np.zeros((20, 20), bool)
    region[-3:, -3:] = True
    on, off = np.zeros((2, 20, 20)), np.zeros((2, 20, 20))
    on[:, -2, -2], off[:, 2, 2] = 1.0, 1.0
    on[:, 5, 5] = off[:, 5, 5] = 0.5
    table = claims.cue_attention({"shortcut": on, "clean": off}, region, near=2)
    assert table.loc["shortcut", "Grad-CAM mass on the mark"] == 1 / 1.5 and table.loc["clean", "Grad-CAM mass on the mark"] == 0
    assert table.loc["shortcut", "Grad-CAM peak near the mark"] == 1 and table.loc["clean", "Grad-CAM peak near the mark"] == 0


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
    aria, per_field, tints = claims.tint_and_scale_bar(fields, labels, (train_rows, val_rows, test_rows), fit, cell_margin=2,
                                                       corner=[8, 16], size=32, epochs=1, n_boot=20)
    assert aria["test cue"].tolist() == ["as given", "tint equalised", "scale bar masked", "tint equalised, scale bar masked"]
    assert aria.loc[0, "accuracy minus as given"] == 0 and len(per_field) == 4 * 6 and tints.shape == (24, 3)
