"""leukutils.findings, notebook 04: the X-T0 verdicts and the "What this run shows" sentences, on small tables
where the papers' claims hold and where they do not."""
import numpy as np
import pandas as pd
import pytest

from leukutils import findings

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
    reversed_accuracy = {"end-to-end CNN": bad if holds else good, "segmented-input CNN": good if holds else bad,
                         "cell-crop model": good if holds else bad}
    x4_fields = pd.DataFrame([{"data": "synthetic fields", "model": model, "test cue": cue, "field": field,
                               "accuracy": reversed_accuracy[model][field] if cue == "reversed" else 1.0}
                              for model in reversed_accuracy for cue in ("as in training", "absent", "reversed")
                              for field in range(n)])
    x4 = x4_fields.groupby(["data", "model", "test cue"], sort=False)["accuracy"].mean().reset_index()
    x4["Grad-CAM mass on the mark"] = x4["model"].map({"end-to-end CNN": 0.3, "segmented-input CNN": 0.0})
    x4["Grad-CAM peak near the mark"] = x4["model"].map({"end-to-end CNN": 0.6, "segmented-input CNN": 0.0})
    x4["mark area share"], x4["Grad-CAM fields"] = 0.003, n
    marked = pd.DataFrame({"shortcut MR-SSIM": 0.5 + rng.normal(0, .05, n) - (0.2 if holds else -0.2),
                           "clean MR-SSIM": 0.5 + rng.normal(0, .05, n)})
    x1 = pd.DataFrame({"data": "synthetic fields", "method": ["gradcam", "hirescam", "random", "centred Gaussian"],
                       "relevance mass": [0.5, 0.45, 0.15, 0.2] if holds else [0.1, 0.12, 0.15, 0.2],
                       "pointing game": [0.9, 0.85, 0.1, 0.3], "n": 30, "evidence": "blast nuclei",
                       "evidence share of the image": 0.15, "classifier accuracy": 0.95,
                       "classifier accuracy low": 0.9, "classifier accuracy high": 0.99})
    return x1, x2_rows, x2, x3, x4, x4_fields, marked


def verdicts(holds):
    x1, x2_rows, x2, x3, x4, x4_fields, marked = tables(holds)
    x0 = findings.claims_verdicts(x2_rows, x3, x4_fields, marked, n_boot=200, seed=0)
    return x0, findings.claims_findings(x0, x1, x2, x3, x4)


def test_claims_verdicts_where_the_claims_hold():
    x0, sentences = verdicts(holds=True)
    assert list(x0.columns) == ["paper", "claim", "test", "effect", "seeds", "value", "value low", "value high", "verdict"]
    assert x0["verdict"].tolist() == ["holds", "holds", "holds", "does not hold", "holds", "holds"]
    assert x0.set_index("paper").loc["all three", "seeds"] == 5
    assert "MR-SSIM would have warned of the shortcut" in sentences[3]
    assert sentences[-1] == ("X-T0: paper 1 holds; paper 1 holds; paper 1 holds; all three does not hold; "
                             "paper 3 holds; paper 2 holds.")
    assert "best gradcam" in sentences[0] and "0.45–0.50" in sentences[0]


def test_claims_verdicts_where_they_do_not():
    x0, sentences = verdicts(holds=False)
    assert x0["verdict"].tolist() == ["does not hold", "does not hold", "does not hold", "holds", "does not hold",
                                      "does not hold"]
    assert "MR-SSIM would not have warned of the shortcut" in sentences[3]
    assert "all three holds" in sentences[-1] and "paper 3 does not hold" in sentences[-1]


def test_claims_verdicts_add_the_real_row_and_name_missing_keys():
    x1, x2_rows, x2, x3, x4, x4_fields, marked = tables(True)
    aria = pd.DataFrame([{"data": "Aria", "model": "m", "test cue": cue, "field": f, "accuracy": float(f % 10 != 0)}
                         for cue in ("as given", "tint equalised") for f in range(40)])
    x0 = findings.claims_verdicts(x2_rows, x3, pd.concat([x4_fields, aria]), marked, n_boot=200)
    assert x0.set_index("paper").loc["all three (Aria)", "verdict"] == "holds"  # no loss at all: surely under 0.05
    with pytest.raises(KeyError, match="image-level"):
        findings.claims_verdicts(x2_rows, x3.assign(split="other"), x4_fields, marked, n_boot=50)
