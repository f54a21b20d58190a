"""Notebook 01's "What this run shows" (findings.dual_cam_findings): fed a small run where paper 1's
results hold and one where they do not, its sentences say which."""
from __future__ import annotations

import numpy as np
import pandas as pd

from leukutils.findings import dual_cam_findings

MODELS = ["densenet121", "mobilenet_v2"]


def t1_of(accuracy: dict) -> pd.DataFrame:
    """P1-T1 rows (accuracy and loss) with this run's value, its interval ±0.04, 200 test cells, one seed."""
    rows = []
    for model, value in accuracy.items():
        for metric, v in (("accuracy", value), ("loss", 0.2)):
            rows.append({"model": model, "metric": metric, "paper": 0.94, "this run": v, "this run low": v - 0.04,
                         "this run high": v + 0.04, "n": 200, "seeds": 1})
    return pd.DataFrame(rows)


def t2_of(mr_ssim: float) -> pd.DataFrame:
    """P1-T2 rows of both models and classes, every MR-SSIM ``mr_ssim``."""
    return pd.DataFrame([{"model": m, "class": c, "paper": 0.9, "mr_ssim": mr_ssim, "mr_ssim low": mr_ssim - 0.05,
                          "mr_ssim high": mr_ssim + 0.05, "n": 7, "n_constant": 0, "seeds": 1}
                         for m in MODELS for c in ("all", "hem")])


def spread_of(distinct: int) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "method": "gradcam", "n": 14, "constant": 14 - distinct, "distinct": distinct,
                          "mean_difference": 0.1} for m in MODELS])


def run(accuracy: dict, mr_ssim: float, distinct: int = 14, tint: pd.DataFrame | None = None) -> list[str]:
    # the model's last epoch comes second: found by its epoch number, not by position
    histories = {"mobilenet_v2": pd.DataFrame({"epoch": [2, 1], "train_accuracy": [0.8, 0.7], "val_accuracy": [0.9, 0.6]})}
    y_true = np.array([1, 1, 0, 0])
    probabilities = np.array([[0.2, 0.8], [0.7, 0.3], [0.9, 0.1], [0.4, 0.6]])
    return dual_cam_findings(t1_of(accuracy), t2_of(mr_ssim), spread_of(distinct), histories,
                             {"mobilenet_v2": (probabilities, y_true)}, tint, epochs=1, not_trained=["vgg19"],
                             map_size={"mobilenet_v2": (3, 3)}, cam_seconds={"mobilenet_v2": 1.0}, test_images=200)


def test_the_sentences_say_the_paper_holds_where_it_does():
    out = run({"densenet121": 0.91, "mobilenet_v2": 0.89}, mr_ssim=0.9)
    t1, curves, cams, t2 = out
    assert t1.startswith("P1-T1: 2 of the 2 trained models") and "holds for every one" in t1
    assert "densenet121 0.91 [0.87, 0.95] (paper 0.94)" in t1 and "Not trained here: vgg19" in t1
    assert "0.800 / 0.900" in curves  # the last epoch, by its number
    assert "misses 1 of 2 ALL test images and calls 1 of 2 normal ones ALL" in curves
    assert "depend on the image" in cams and "do not all" not in cams
    assert "holds for both models and classes" in t2 and "3 CPU min" in t2


def test_the_sentences_say_the_paper_does_not_hold_where_it_does_not():
    out = run({"densenet121": 0.91, "mobilenet_v2": 0.70}, mr_ssim=0.6, distinct=1)
    t1, _, cams, t2 = out
    assert t1.startswith("P1-T1: 1 of the 2 trained models") and "does not hold for mobilenet_v2" in t1
    assert "do not all depend on the image" in cams
    assert "holds for none of the 4 model–class pairs" in t2


def probes_of(drops: dict, low: dict | None = None) -> pd.DataFrame:
    """A P1-X1 table: per model the accuracy 0.9 as given, and each probe's accuracy 0.9 + drop with a
    paired interval of ± 0.05 around the drop; ``low``: model → lower end of its accuracy as given."""
    rows = []
    for model, drop in drops.items():
        for cue in ("as given", "tint equalised", "scale bar removed", "tint equalised, scale bar removed"):
            d = 0.0 if cue == "as given" else drop.get(cue, 0.0)
            rows.append({"model": model, "test cue": cue, "accuracy": 0.9 + d, "accuracy low": (low or {}).get(model, 0.85) + d,
                         "accuracy high": 0.95 + d, "accuracy minus as given": d, "accuracy minus as given low": d - 0.05,
                         "accuracy minus as given high": d + 0.05, "majority baseline": 0.5, "Grad-CAM mass on cells": 0.3,
                         "cell area share": 0.2, "Grad-CAM mass on the scale-bar corner": 0.01, "mark area share": 0.026})
    return pd.DataFrame(rows)


def test_the_probe_sentence_names_the_models_and_probes_that_lose_accuracy():
    tint = probes_of({"densenet121": {"tint equalised": -0.3}, "mobilenet_v2": {"scale bar removed": -0.02}})
    sentence = run({"densenet121": 0.91, "mobilenet_v2": 0.89}, mr_ssim=0.9, tint=tint)[-1]
    assert sentence.startswith("P1-X1: densenet121: as given 0.900 [0.850, 0.950], tint equalised 0.600 (-0.300 [-0.350, -0.250])")
    assert "Accuracy falls beyond its interval for densenet121 (tint equalised): those models read" in sentence
    assert "mobilenet_v2 (scale bar removed)" not in sentence and "on the scale-bar corner 0.010 (its area 0.026)" in sentence
    assert "(majority baseline 0.500)" in sentence
    held = run({"densenet121": 0.91, "mobilenet_v2": 0.89}, mr_ssim=0.9, tint=tint[tint["model"] == "mobilenet_v2"])[-1]
    assert "No model that learned loses accuracy beyond its interval under any probe" in held


NOT_LEARNED = "cannot be told here: the model did not learn"


def test_the_probe_verdict_sets_apart_a_model_that_did_not_learn():
    tint = probes_of({"densenet121": {"tint equalised": -0.3}, "mobilenet_v2": {"tint equalised": -0.3}},
                     low={"mobilenet_v2": 0.5})
    sentence = run({"densenet121": 0.91, "mobilenet_v2": 0.89}, mr_ssim=0.9, tint=tint)[-1]
    assert f"for densenet121 (tint equalised): those models read the glass or the mark; {NOT_LEARNED} (mobilenet_v2)." in sentence
    alone = run({"densenet121": 0.91, "mobilenet_v2": 0.89}, mr_ssim=0.9, tint=tint[tint["model"] == "mobilenet_v2"])[-1]
    assert f"any probe; {NOT_LEARNED} (mobilenet_v2)." in alone and "falls" not in alone


def test_the_accuracy_sentence_says_the_majority_baseline_where_the_table_has_it():
    t1 = t1_of({"densenet121": 0.91, "mobilenet_v2": 0.89})
    t1["majority baseline"] = np.where(t1["metric"] == "accuracy", 0.5, np.nan)
    sentence = dual_cam_findings(t1, t2_of(0.9), spread_of(14), {}, {}, epochs=1)[0]
    assert "on 200 test images (majority baseline 0.50) after 1 epoch(s)" in sentence
    assert "majority baseline" not in run({"densenet121": 0.91, "mobilenet_v2": 0.89}, mr_ssim=0.9)[0]


def test_the_mr_ssim_verdict_needs_models_that_learned():
    t1 = t1_of({"densenet121": 0.91, "mobilenet_v2": 0.54})  # mobilenet_v2: 0.50 [0.50, 0.58] against 0.50
    t1["majority baseline"] = np.where(t1["metric"] == "accuracy", 0.5, np.nan)
    t2 = dual_cam_findings(t1, t2_of(0.9), spread_of(14), {}, {}, epochs=1)[-1]
    assert f"(MR-SSIM ≥ 0.85) {NOT_LEARNED} (mobilenet_v2)." in t2 and "holds for both" not in t2
    clear = dual_cam_findings(t1.assign(**{"majority baseline": 0.45}), t2_of(0.9), spread_of(14), {}, {}, epochs=1)[-1]
    assert "holds for both models and classes" in clear and NOT_LEARNED not in clear


