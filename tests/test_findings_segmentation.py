"""Notebook 03's closing sentences (:func:`leukutils.findings.segmentation_findings`): where paper 3's
results hold and where they do not, from small tables looked up by column and key."""
from __future__ import annotations

import pandas as pd
import pytest

from leukutils.findings import segmentation_findings

MODELS = ["Segmented Mish Medium", "NoSegmented ReLU Linear", "NoSegmented Mish Linear", "Segmented ReLU Linear"]
TWIN = "NoSegmented Mish Medium"  # the raw twin of the best segmented variant by validation accuracy
MISH = ["Segmented Mish Linear", "NoSegmented Mish Linear", "Segmented Mish Medium", "NoSegmented Mish Medium"]


def tables(paper_holds: bool, shuffle: bool = False) -> dict[str, pd.DataFrame]:
    """P3-T2, T5, X1, T7, T8, TA3 and the attention table of a run where the paper's results hold, or the opposite."""
    gain = "ensemble dice minus this"
    hand_gain, unet_gain = (0.02, 0.03) if paper_holds else (-0.01, 0.03)
    t2 = pd.DataFrame({"dataset": "synthetic", "method": ["handcrafted", "deep (U-Net)", "ensemble"], "n": 40, "seeds": 1,
                       "dice": [0.90, 0.89, 0.92], "dice low": [0.88, 0.87, 0.90], "dice high": [0.92, 0.91, 0.94],
                       gain: [hand_gain, unet_gain, 0.0], f"{gain} low": [hand_gain - 0.01, unet_gain - 0.01, 0.0],
                       f"{gain} high": [hand_gain + 0.01, unet_gain + 0.01, 0.0],
                       "paper dice (JTSC)": [float("nan"), float("nan"), 0.961]})
    segmented, raw = (0.90, 0.70) if paper_holds else (0.60, 0.80)
    t5 = pd.DataFrame({"model": MODELS + [TWIN], "best fold": 0, "val accuracy": [0.9, 0.8, 0.7, 0.6, 0.5], "n": 75, "seeds": 1,
                       "test accuracy": [segmented, raw, 0.5, 0.5, raw],
                       "test accuracy low": [segmented - 0.1, raw - 0.1, 0.4, 0.4, raw - 0.1],
                       "test accuracy high": [segmented + 0.05, raw + 0.05, 0.6, 0.6, raw + 0.05]})
    difference = [0.2, 0.1, 0.3] if paper_holds else [-0.2, -0.3, -0.1]  # the other pair's goes the other way
    x1 = pd.DataFrame({"segmented": ["Segmented ReLU Linear", "Segmented Mish Medium"], "raw": ["NoSegmented ReLU Linear", TWIN],
                       "n": 75, "seeds": 1, "segmented minus raw": [-difference[0], difference[0]],
                       "segmented minus raw low": [-difference[2], difference[1]],
                       "segmented minus raw high": [-difference[1], difference[2]]})
    change = [-0.01, -0.10, -0.10, -0.01] if paper_holds else [-0.10, -0.01, -0.01, -0.10]
    t7 = pd.DataFrame({"model": MODELS, "n": 75, "seeds": 1, "accuracy": 0.5, "accuracy change": change})
    ratio = [12.0, 6.0, 5.0, 10.0] if paper_holds else [5.0, 12.0, 10.0, 6.0]
    t8 = pd.DataFrame({"model": MODELS, "n": 75, "seeds": 1, "sd L1": 1.0, "sd L2": 1.0, "sd L3": 1.0, "sd total": 1.7,
                       "dist/sd ratio": ratio, "interval": "none"})
    ta3 = pd.DataFrame({"image": ["a.jpg", "b.jpg"], "class": ["L1", "L2"], **{m: [0.9, 0.8] for m in MISH}, "seeds": 1,
                        "interval": "none"})
    attention = attention_table([0.3, 0.1, 0.2, 0.25] if paper_holds else [-0.2, -0.1, -0.3, -0.15],
                                segmented=0.8 if paper_holds else 0.4)
    out = {"t2": t2, "t5": t5, "x1": x1, "t7": t7, "t8": t8, "ta3": ta3, "attention": attention}
    if shuffle:  # the sentences must not depend on the row order
        out = {k: v.sample(frac=1, random_state=1).reset_index(drop=True) for k, v in out.items()}
    return out


def attention_table(differences, segmented: float = 0.8, half_width: float = 0.05) -> pd.DataFrame:
    """The segmented-against-raw attention table of four CAM methods with these paired differences."""
    methods = ["Grad-CAM", "Grad-CAM++", "HiResCAM", "XGrad-CAM"]
    return pd.DataFrame({"method": methods, "segmented": segmented, "raw": [segmented - d for d in differences],
                         "segmented minus raw": differences,
                         "segmented minus raw low": [d - half_width for d in differences],
                         "segmented minus raw high": [d + half_width for d in differences],
                         "nucleus share of the image": 0.3, "constant maps, segmented": 0, "constant maps, raw": 2, "n": 75})


def test_the_attention_verdict_is_taken_over_every_method():
    """One method whose interval reverses the others' (HiResCAM here) leaves the claim undecided."""
    sentence = segmentation_findings(**{**tables(True), "attention": attention_table([0.3, 0.1, -0.2, 0.02])})[3]
    assert sentence.endswith("segmentation directs the maps to the nucleus cannot be told here: it holds with 2 of 4 "
                             "methods (Grad-CAM, Grad-CAM++).")
    assert "HiResCAM -0.200 [-0.250, -0.150]" in sentence


@pytest.mark.parametrize("shuffle", [False, True])
def test_segmentation_findings_where_the_paper_holds(shuffle):
    t2_sentence, t5_sentence, t7_sentence, cam_sentence, ta3_sentence = segmentation_findings(**tables(True, shuffle))
    assert "the ensemble beats both parts, as in the paper" in t2_sentence
    assert "0.961" in t2_sentence and "minus handcrafted 0.020 [0.010, 0.030]" in t2_sentence
    assert "the best segmented variant by validation accuracy, Segmented Mish Medium, 0.900 [0.800, 0.950]" in t5_sentence
    assert f"its raw twin {TWIN} 0.700 [0.600, 0.750] test accuracy on 75 images (chance 0.33)" in t5_sentence
    assert t5_sentence.endswith("on the same images 0.200 [0.100, 0.300] (paired bootstrap): paper 3's claim that the "
                                "segmented input is more accurate holds.")
    assert "-0.010 against -0.100, as in the paper" in t7_sentence
    assert "11.00 against 5.50, as in the paper (highest Segmented Mish Medium, lowest NoSegmented Mish Linear)" in t7_sentence
    assert "0 of the segmented model's 75 Grad-CAMs" in cam_sentence and cam_sentence.endswith("holds with every method.")
    assert cam_sentence.startswith("P3-F8, P3-F9, Segmented Mish Medium against NoSegmented ReLU Linear: ")
    assert "0.80 of its Grad-CAM, 0.50 of the raw" in cam_sentence and "0.30 of an even spread" in cam_sentence
    assert "Grad-CAM 0.300 [0.250, 0.350], Grad-CAM++ 0.100 [0.050, 0.150]" in cam_sentence
    assert ta3_sentence == "P3-TA3: 2 of 75 test images are correct by all four Mish models."


@pytest.mark.parametrize("shuffle", [False, True])
def test_segmentation_findings_where_the_paper_does_not_hold(shuffle):
    t2_sentence, t5_sentence, t7_sentence, cam_sentence, _ = segmentation_findings(**tables(False, shuffle))
    assert "the ensemble does not beat both parts, unlike the paper" in t2_sentence
    assert t5_sentence.endswith("-0.200 [-0.300, -0.100] (paired bootstrap): paper 3's claim that the segmented input "
                                "is more accurate does not hold.")
    assert "-0.100 against -0.010, unlike the paper" in t7_sentence
    assert "5.50 against 11.00, unlike the paper" in t7_sentence
    assert "0.40 of its Grad-CAM, 0.60 of the raw" in cam_sentence and cam_sentence.endswith("does not hold with every method.")


def test_segmentation_findings_read_the_published_real_tables():
    """The published real run's T2, T5, X1, T7, T8 and TA3 are read as they are, whatever variants it trained;
    the sentences carry the published test-set size and Dice."""
    from pathlib import Path

    real = Path(__file__).resolve().parents[1] / "results" / "real" / "tables"
    if not list(real.glob("P3-X1_*.csv")):
        pytest.skip("no published real run of notebook 03 with its paired difference (P3-X1)")
    t2, t5, x1, t7, t8, ta3 = (pd.read_csv(next(real.glob(f"{i}_*.csv"))) for i in ("P3-T2", "P3-T5", "P3-X1", "P3-T7", "P3-T8", "P3-TA3"))
    pair = x1["segmented"].iloc[0], x1["raw"].iloc[0]  # the variants it trained
    attention = tables(True)["attention"]
    sentences = segmentation_findings(t2, t5, x1, t7, t8, ta3, attention, segmented_model=pair[0], raw_model=pair[1])
    assert f"on {int(x1['n'].iloc[0])} images (chance 0.25" in sentences[1]
    assert f"{x1['segmented minus raw'].iloc[0]:.3f} [" in sentences[1] or f"+{x1['segmented minus raw'].iloc[0]:.3f} [" in sentences[1]
    assert sentences[0].startswith("P3-T2, P3-F4: Dice of the U-Net")


def test_the_accuracy_sentence_says_the_majority_baseline_where_the_table_has_it():
    given = tables(True)
    given["t5"] = given["t5"].assign(**{"majority baseline": 0.36})
    assert "on 75 images (chance 0.33, majority baseline 0.360); segmented minus raw" in segmentation_findings(**given)[1]


NOT_LEARNED = "cannot be told here: the model did not learn"


def test_the_verdicts_on_models_need_models_that_learned():
    given = tables(True)  # test accuracy low: 0.8, 0.6, 0.4, 0.4
    given["t5"] = given["t5"].assign(**{"majority baseline": 0.4})
    t2, t5, t7, cams, _ = segmentation_findings(**given)
    assert "unlike the paper" not in t2 and NOT_LEARNED not in t2, "the segmentation rests on no classifier"
    assert t5.endswith("segmented input is more accurate holds."), "its two models learned"
    assert t7.count(f"{NOT_LEARNED} (NoSegmented Mish Linear, Segmented ReLU Linear)") == 2
    assert cams.endswith("holds with every method.")
    given["t5"] = given["t5"].assign(**{"majority baseline": 0.6})
    t5, t7, cams = segmentation_findings(**given)[1:4]
    assert t5.endswith(f"segmented input is more accurate {NOT_LEARNED} ({TWIN}).")
    assert cams.endswith(f"{NOT_LEARNED} (NoSegmented ReLU Linear).")


def test_the_table_a3_sentence_names_the_models_when_not_the_four_mish_ones():
    given = tables(True)
    given["ta3"] = given["ta3"][["image", "class", "Segmented Mish Medium", TWIN, "seeds", "interval"]]
    assert segmentation_findings(**given)[4] == f"P3-TA3: 2 of 75 test images are correct by all of Segmented Mish Medium, {TWIN}."
