"""leukutils.findings, notebook 04: the X-T0 verdicts and the "What this run shows" sentences, on small tables
where the papers' claims hold and where they do not."""
import numpy as np
import pandas as pd
import pytest

from leukutils import claims, findings

STAGES = ["trained", "random to classifier", "random to block 1"]


def tables(holds: bool):
    """Small X-T1…X-T4 (and their per-field rows) where every claim holds, or where none does."""
    rng = np.random.default_rng(0)
    n = 30
    localised = rng.uniform(0.5, 0.9, n)
    x2_rows = pd.concat([pd.DataFrame({"stage": stage, "MR-SSIM": (0.8 if holds else 0.2) - 0.3 * k + rng.normal(0, .05, n),
                                       "SSIM to trained Grad-CAM": 1.0 - 0.3 * k,
                                       "Grad-CAM relevance mass": localised - 0.25 * k,
                                       "Grad-CAM pointing game": 1.0})
                         for k, stage in enumerate(STAGES)]
                        + [pd.DataFrame({"stage": "trained, class healthy", "MR-SSIM": np.nan,
                                         "SSIM to trained Grad-CAM": 0.1, "Grad-CAM relevance mass": 0.05,
                                         "Grad-CAM pointing game": 0.0}, index=range(n))])
    if not holds:  # agreement rises as the model is randomised, and does not follow localisation
        x2_rows["MR-SSIM"] = x2_rows["MR-SSIM"].where(x2_rows.stage == "trained, class healthy",
                                                      0.2 + 0.3 * x2_rows.stage.map({s: k for k, s in enumerate(STAGES)}))
        x2_rows["MR-SSIM"] += rng.normal(0, .05, len(x2_rows))
    x2 = x2_rows.groupby("stage", sort=False).mean().reset_index()
    x2["MR-SSIM low"], x2["MR-SSIM high"] = x2["MR-SSIM"] - 0.05, x2["MR-SSIM"] + 0.05
    gap = 0.2 if holds else -0.2
    x3 = pd.DataFrame({"split": ["image-level", "subject-level"], "accuracy": [0.6 + max(gap, 0), 0.6 + max(-gap, 0)],
                       "accuracy minus subject-level": [gap, 0.0], "accuracy minus subject-level low": [gap - 0.1, 0.0],
                       "accuracy minus subject-level high": [gap + 0.1, 0.0], "seeds": [5, 5]})
    good, bad = np.ones(n), (np.arange(n) % 4 == 0).astype(float)
    corner = {"end-to-end CNN": bad if holds else good, "segmented-input CNN": good if holds else bad,
              "cell-crop CNN, max rule": good if holds else bad, PIPELINE: good if holds else bad}
    inside = {"end-to-end CNN": bad, "segmented-input CNN": good if holds else bad}
    x4_fields = pd.DataFrame([{"data": "synthetic fields", "cue": cue, "model": model, "test cue": test, "field": field,
                               "accuracy": reversed_accuracy[model][field] if test == "reversed" else 1.0}
                              for cue, reversed_accuracy in (("corner", corner), ("nucleus mark", inside))
                              for model in reversed_accuracy for test in ("as in training", "absent", "reversed")
                              for field in range(n)])
    on_cells = 0.8 if holds else 0.3
    x4_cams = pd.DataFrame([{"cue": cue, "model": model, "field": field, "mark kept by segmentation": kept,
                             "Grad-CAM mass on nuclei": (on_cells if model == "segmented-input CNN" else 0.5) - 0.1 + rng.normal(0, .02),
                             "Grad-CAM mass on cytoplasm": 0.1, "Grad-CAM mass on background": 0.1, "nuclei area share": 0.2,
                             "Grad-CAM mass on the mark": 0.3 if model == "end-to-end CNN" else 0.0, "mark area share": 0.003,
                             "Grad-CAM peak near the mark": 0.6 if model == "end-to-end CNN" else 0.0}
                            for cue, kept in (("corner", 0.0), ("nucleus mark", 0.97))
                            for model in ("end-to-end CNN", "segmented-input CNN") for field in range(n)])
    x4 = x4_fields.groupby(["data", "cue", "model", "test cue"], sort=False)["accuracy"].mean().reset_index()
    means = x4_cams.groupby(["cue", "model"], sort=False).mean(numeric_only=True).drop(columns="field").reset_index()
    x4 = x4.merge(means.assign(**{"Grad-CAM fields": n}), on=["cue", "model"], how="left").assign(**{"majority baseline": 0.5})
    marked = pd.DataFrame({"shortcut MR-SSIM": 0.5 + rng.normal(0, .05, n) - (0.2 if holds else -0.2),
                           "clean MR-SSIM": 0.5 + rng.normal(0, .05, n)})
    x1 = pd.DataFrame({"data": "synthetic fields", "method": ["gradcam", "hirescam", "random", "centred Gaussian"],
                       "relevance mass": [0.5, 0.45, 0.15, 0.2] if holds else [0.1, 0.12, 0.15, 0.2],
                       "pointing game": [0.9, 0.85, 0.1, 0.3], "n": 30, "evidence": "blast nuclei",
                       "evidence share of the image": 0.15, "classifier accuracy": 0.95,
                       "classifier accuracy low": 0.9, "classifier accuracy high": 0.99, "classifier majority baseline": 0.5})
    x1_images = pd.DataFrame([{"data": "synthetic fields", "model": "Standard_CNN/2", "evidence": "blast nuclei", "method": method,
                               "image": i, "relevance mass": mass + rng.normal(0, 0.02), "pointing game": float(rng.uniform() < game)}
                              for method, mass, game in (("gradcam", 0.5 if holds else 0.1, 0.9 if holds else 0.1),
                                                         ("centred Gaussian", 0.2, 0.3))
                              for i in range(n)])
    return x1, x1_images, x2_rows, x2, x3, x4, x4_fields, x4_cams, marked


PIPELINE = "paper 2's pipeline (cells, frozen features, LSTM)"


def verdicts(holds):
    x1, x1_images, x2_rows, x2, x3, x4, x4_fields, x4_cams, marked = tables(holds)
    x0 = findings.claims_verdicts(x1_images, x2_rows, x3, x4_fields, x4_cams, marked, "corner", "nucleus mark", n_boot=200, seed=0)
    return x0, findings.claims_findings(x0, x1, x2, x3, x4)


def verdict_of(x0, paper, contains):
    rows = x0[(x0["paper"] == paper) & x0["test"].str.contains(contains, regex=False)]
    assert len(rows) == 1, (paper, contains, x0["test"].tolist())
    return rows["verdict"].iloc[0]


def test_claims_verdicts_where_the_claims_hold():
    x0, sentences = verdicts(holds=True)
    assert list(x0.columns) == ["paper", "claim", "test", "effect", "seeds", "value", "value low", "value high", "verdict"]
    paper_1 = x0[x0["paper"] == "paper 1"]
    assert paper_1["verdict"].tolist() == ["holds"] * 5, "three MR-SSIM rows and Grad-CAM's two localisation rows"
    assert verdict_of(x0, "paper 1", "Grad-CAM's relevance mass on the blast nuclei minus a centred Gaussian") == "holds"
    assert x0.set_index("paper").loc["all three", "seeds"] == 5
    assert verdict_of(x0, "paper 2", PIPELINE) == "holds", "paper 2's row tests its own pipeline"
    assert verdict_of(x0, "paper 2", "cell-crop CNN") == "holds"
    assert verdict_of(x0, "paper 3", "corner, 0% of its pixels kept by the segmentation): accuracy") == "holds"
    assert verdict_of(x0, "paper 3", "(corner, 0% of its pixels kept by the segmentation): share of Grad-CAM on the cells") == "holds"
    assert verdict_of(x0, "paper 3", "(nucleus mark, 97% of its pixels kept by the segmentation): accuracy") == "holds"
    probes = x0[x0["paper"] == "all three (shortcut)"]
    assert len(probes) == 2 * 6, "each probe (absent, reversed) of each model of each cue"
    assert verdict_of(x0, "all three (shortcut)", "end-to-end CNN with the corner reversed") == "does not hold"
    assert "MR-SSIM would have warned of the shortcut" in sentences[-2]
    assert sentences[-1].startswith("X-T0: paper 1: 5 holds;") and "paper 2: 2 holds" in sentences[-1]
    assert "best gradcam" in sentences[0] and "0.45–0.50" in sentences[0] and "majority baseline 0.50" in sentences[0]


def test_claims_verdicts_where_they_do_not():
    x0, sentences = verdicts(holds=False)
    assert x0[x0["paper"] == "paper 1"]["verdict"].tolist() == ["does not hold"] * 5
    assert verdict_of(x0, "all three", "image-level") == "holds"
    assert verdict_of(x0, "paper 2", PIPELINE) == "does not hold"
    assert verdict_of(x0, "paper 3", "(nucleus mark, 97% of its pixels kept by the segmentation): accuracy") == "does not hold"
    assert verdict_of(x0, "paper 3", "(corner, 0% of its pixels kept by the segmentation): share") == "does not hold"
    assert "MR-SSIM would not have warned of the shortcut" in sentences[-2]


def test_claims_verdicts_add_the_real_rows_and_name_missing_keys():
    x1, x1_images, x2_rows, x2, x3, x4, x4_fields, x4_cams, marked = tables(True)
    aria = pd.DataFrame([{"data": "Aria", "model": "m", "test cue": cue, "field": f,
                          "accuracy": float(f % 10 != 0) if cue != "scale bar removed" else float(f % 2)}
                         for cue in ("as given", "tint equalised", "scale bar removed") for f in range(40)])
    jtsc = x1_images.assign(data="JTSC", evidence="nucleus (expert mask)")
    x0 = findings.claims_verdicts(pd.concat([x1_images, jtsc]), x2_rows, x3, pd.concat([x4_fields, aria]), x4_cams, marked,
                                  "corner", "nucleus mark", n_boot=200)
    assert verdict_of(x0, "all three (Aria)", "tint equalised") == "holds"  # no loss at all: surely under 0.05
    assert verdict_of(x0, "all three (Aria)", "scale bar removed") == "does not hold"
    assert verdict_of(x0, "paper 1", "X-T1 (JTSC, Standard_CNN/2): Grad-CAM's pointing game on the nucleus (expert mask)") == "holds"
    with pytest.raises(KeyError, match="image-level"):
        findings.claims_verdicts(x1_images, x2_rows, x3.assign(split="other"), x4_fields, x4_cams, marked, "corner", "nucleus mark",
                                 n_boot=50)


def unlearned(table, column, baseline="majority baseline", **key):
    """``table`` with the accuracy interval of the rows matching ``key`` reaching their baseline."""
    match = np.logical_and.reduce([(table[c] == v).to_numpy() for c, v in key.items()])
    table = table.copy()
    table.loc[match, [column, f"{column} low", f"{column} high"]] = [0.55, table.loc[match, baseline].max(), 0.6]
    return table


def accuracy_tables(holds=True):
    """``X-T1`` and ``X-T4`` of :func:`tables` with the accuracy intervals of the models (all clear of 0.5)."""
    x1, x1_images, x2_rows, x2, x3, x4, x4_fields, x4_cams, marked = tables(holds)
    x4 = x4.assign(**{"accuracy low": x4["accuracy"] - 0.1, "accuracy high": x4["accuracy"] + 0.1})
    x4.loc[x4["test cue"] == "as in training", ["accuracy", "accuracy low", "accuracy high"]] = [0.95, 0.9, 0.99]
    return x1, x1_images, x2_rows, x2, x3, x4, x4_fields, x4_cams, marked


def verdicts_with_accuracies(x1, x4, holds=True):
    _, x1_images, x2_rows, x2, x3, _, x4_fields, x4_cams, marked = accuracy_tables(holds)
    x0 = findings.claims_verdicts(x1_images, x2_rows, x3, x4_fields, x4_cams, marked, "corner", "nucleus mark",
                                  n_boot=200, seed=0, x1=x1, x4=x4)
    return x0, findings.claims_findings(x0, x1, x2, x3, x4)


def test_verdicts_of_models_clear_of_their_baseline_are_the_ordinary_ones():
    x1, *_, x4, _, _, _ = accuracy_tables()
    with_accuracies, _ = verdicts_with_accuracies(x1, x4)
    without, _ = verdicts(holds=True)
    assert with_accuracies["verdict"].tolist() == without["verdict"].tolist()
    assert claims.NOT_LEARNED not in with_accuracies["verdict"].tolist()


def test_a_classifier_that_did_not_learn_leaves_its_verdicts_untold():
    x1, *_, x4, _, _, _ = accuracy_tables()
    x1 = unlearned(x1, "classifier accuracy", "classifier majority baseline", data="synthetic fields")
    x0, sentences = verdicts_with_accuracies(x1, x4)
    paper_1 = x0[x0["paper"] == "paper 1"]
    assert paper_1["verdict"].tolist() == [claims.NOT_LEARNED] * 5, "X-T2, the MR-SSIM warning and X-T1 rest on it"
    others = x0[x0["paper"] != "paper 1"]
    assert claims.NOT_LEARNED not in others["verdict"].tolist(), "the cue models learned"
    assert "whether MR-SSIM would have warned of the shortcut cannot be told here: the model did not learn" in sentences[-2]
    assert f"({claims.NOT_LEARNED})" in sentences[0] and f"({claims.NOT_LEARNED})" in sentences[1]
    assert sentences[-1].startswith(f"X-T0: paper 1: 5 {claims.NOT_LEARNED};")


def test_a_cue_model_that_did_not_learn_leaves_the_verdicts_on_it_untold():
    x1, *_, x4, _, _, _ = accuracy_tables()
    x4 = unlearned(x4, "accuracy", cue="corner", model="segmented-input CNN", **{"test cue": "as in training"})
    x0, _ = verdicts_with_accuracies(x1, x4)
    assert verdict_of(x0, "paper 3", "corner, 0% of its pixels kept by the segmentation): accuracy") == claims.NOT_LEARNED
    assert verdict_of(x0, "paper 3", "(corner, 0% of its pixels kept by the segmentation): share") == claims.NOT_LEARNED
    assert verdict_of(x0, "all three (shortcut)", "segmented-input CNN with the corner reversed") == claims.NOT_LEARNED
    assert verdict_of(x0, "paper 3", "(nucleus mark, 97% of its pixels kept by the segmentation): accuracy") == "holds"
    assert verdict_of(x0, "paper 2", PIPELINE) == "holds" and x0[x0["paper"] == "paper 1"]["verdict"].eq("holds").all()
    x4 = unlearned(accuracy_tables()[5], "accuracy", cue="corner", model="end-to-end CNN", **{"test cue": "as in training"})
    x0, _ = verdicts_with_accuracies(x1, x4)
    assert verdict_of(x0, "paper 2", PIPELINE) == claims.NOT_LEARNED, "paper 2's pipeline is measured against it"
    assert verdict_of(x0, "paper 1", "trained with the shortcut") == claims.NOT_LEARNED


def test_the_real_rows_rest_on_their_own_classifiers():
    x1, x1_images, x2_rows, _, x3, x4, x4_fields, x4_cams, marked = accuracy_tables()
    aria = pd.DataFrame([{"data": "Aria", "model": "m", "test cue": cue, "field": f, "accuracy": float(f % 10 != 0)}
                         for cue in ("as given", "tint equalised") for f in range(40)])
    jtsc_images = x1_images.assign(data="JTSC", evidence="nucleus (expert mask)")
    jtsc = x1.assign(data="JTSC", **{"classifier majority baseline": 0.41, "classifier accuracy low": 0.41})
    aria_x4 = pd.DataFrame({"data": "Aria", "model": "m", "test cue": ["as given", "tint equalised"], "accuracy": [0.9, 0.9],
                            "accuracy low": [0.8, 0.8], "accuracy high": [0.95, 0.95], "majority baseline": 0.5})
    x0 = findings.claims_verdicts(pd.concat([x1_images, jtsc_images]), x2_rows, x3, pd.concat([x4_fields, aria]), x4_cams, marked,
                                  "corner", "nucleus mark", n_boot=200, x1=pd.concat([x1, jtsc]), x4=pd.concat([x4, aria_x4]))
    assert verdict_of(x0, "paper 1", "X-T1 (JTSC, Standard_CNN/2): Grad-CAM's pointing game") == claims.NOT_LEARNED
    assert verdict_of(x0, "paper 1", "X-T1 (synthetic fields, Standard_CNN/2): Grad-CAM's pointing game") == "holds"
    assert verdict_of(x0, "all three (Aria)", "tint equalised") == "holds"
    x0 = findings.claims_verdicts(x1_images, x2_rows, x3, pd.concat([x4_fields, aria]), x4_cams, marked, "corner", "nucleus mark",
                                  n_boot=200, x1=x1, x4=pd.concat([x4, aria_x4.assign(**{"accuracy low": 0.5})]))
    assert verdict_of(x0, "all three (Aria)", "tint equalised") == claims.NOT_LEARNED


def test_the_leakage_verdict_rests_on_the_image_level_model_where_x3_has_a_baseline():
    x1, x1_images, x2_rows, _, x3, x4, x4_fields, x4_cams, marked = accuracy_tables()
    x3 = x3.assign(**{"accuracy low": x3["accuracy"] - 0.05, "majority baseline": 0.5})
    call = (x1_images, x2_rows, x3, x4_fields, x4_cams, marked, "corner", "nucleus mark")
    assert verdict_of(findings.claims_verdicts(*call, n_boot=100, x1=x1, x4=x4), "all three", "image-level") == "does not hold"
    x3.loc[x3["split"] == "image-level", "majority baseline"] = 0.8
    call = (x1_images, x2_rows, x3, *call[3:])
    assert verdict_of(findings.claims_verdicts(*call, n_boot=100), "all three", "image-level") == claims.NOT_LEARNED
