"""Notebook 03's closing sentences (:func:`leukutils.findings.segmentation_findings`): where paper 3's
results hold and where they do not, from small tables looked up by column and key."""
from __future__ import annotations

import pandas as pd
import pytest

from leukutils.findings import segmentation_findings

MODELS = ["Segmented Mish Medium", "NoSegmented ReLU Linear", "NoSegmented Mish Linear", "Segmented ReLU Linear"]


def tables(paper_holds: bool, shuffle: bool = False) -> dict[str, pd.DataFrame]:
    """P3-T2, T5, T7, T8, TA3 and the attention table of a run where the paper's results hold, or the opposite."""
    gain = "ensemble dice minus this"
    hand_gain, unet_gain = (0.02, 0.03) if paper_holds else (-0.01, 0.03)
    t2 = pd.DataFrame({"dataset": "synthetic", "method": ["handcrafted", "deep (U-Net)", "ensemble"], "n": 40, "seeds": 1,
                       "dice": [0.90, 0.89, 0.92], "dice low": [0.88, 0.87, 0.90], "dice high": [0.92, 0.91, 0.94],
                       gain: [hand_gain, unet_gain, 0.0], f"{gain} low": [hand_gain - 0.01, unet_gain - 0.01, 0.0],
                       f"{gain} high": [hand_gain + 0.01, unet_gain + 0.01, 0.0],
                       "paper dice (JTSC)": [float("nan"), float("nan"), 0.961]})
    segmented, raw = (0.90, 0.70) if paper_holds else (0.60, 0.80)
    t5 = pd.DataFrame({"model": MODELS, "best fold": 0, "val accuracy": [0.9, 0.8, 0.7, 0.6], "n": 75, "seeds": 1,
                       "test accuracy": [segmented, raw, 0.5, 0.5], "test accuracy low": [segmented - 0.1, raw - 0.1, 0.4, 0.4],
                       "test accuracy high": [segmented + 0.05, raw + 0.05, 0.6, 0.6]})
    change = [-0.01, -0.10, -0.10, -0.01] if paper_holds else [-0.10, -0.01, -0.01, -0.10]
    t7 = pd.DataFrame({"model": MODELS, "n": 75, "seeds": 1, "accuracy": 0.5, "accuracy change": change})
    ratio = [12.0, 6.0, 5.0, 10.0] if paper_holds else [5.0, 12.0, 10.0, 6.0]
    t8 = pd.DataFrame({"model": MODELS, "n": 75, "seeds": 1, "sd L1": 1.0, "sd L2": 1.0, "sd L3": 1.0, "sd total": 1.7,
                       "dist/sd ratio": ratio, "interval": "none"})
    ta3 = pd.DataFrame({"image": ["a.jpg", "b.jpg"], "class": ["L1", "L2"], "seeds": 1})
    on_nucleus = [0.8, 0.5] if paper_holds else [0.4, 0.6]
    attention = pd.DataFrame({"model": MODELS[:2], "gradcam": on_nucleus, "hirescam": on_nucleus,
                              "nucleus share of the image": 0.3, "constant gradcam maps": [0, 2], "n": 75})
    out = {"t2": t2, "t5": t5, "t7": t7, "t8": t8, "ta3": ta3, "attention": attention}
    if shuffle:  # the sentences must not depend on the row order
        out = {k: v.sample(frac=1, random_state=1).reset_index(drop=True) for k, v in out.items()}
    return out


@pytest.mark.parametrize("shuffle", [False, True])
def test_segmentation_findings_where_the_paper_holds(shuffle):
    t2_sentence, t5_sentence, t7_sentence, cam_sentence, ta3_sentence = segmentation_findings(**tables(True, shuffle))
    assert "the ensemble beats both parts, as in the paper" in t2_sentence
    assert "0.961" in t2_sentence and "minus handcrafted 0.020 [0.010, 0.030]" in t2_sentence
    assert "Segmented Mish Medium 0.900 [0.800, 0.950]" in t5_sentence
    assert "on 75 images (chance 0.33): segmented above raw, as in the paper" in t5_sentence
    assert "-0.010 against -0.100, as in the paper" in t7_sentence
    assert "11.00 against 5.50, as in the paper (highest Segmented Mish Medium, lowest NoSegmented Mish Linear)" in t7_sentence
    assert "0 of the segmented model's 75 Grad-CAMs" in cam_sentence and cam_sentence.endswith("as in the paper.")
    assert "0.80 of its Grad-CAM, 0.50 of the raw" in cam_sentence and "0.30 of an even spread" in cam_sentence
    assert ta3_sentence == "P3-TA3: 2 of 75 test images are correct by all four Mish models."


@pytest.mark.parametrize("shuffle", [False, True])
def test_segmentation_findings_where_the_paper_does_not_hold(shuffle):
    t2_sentence, t5_sentence, t7_sentence, cam_sentence, _ = segmentation_findings(**tables(False, shuffle))
    assert "the ensemble does not beat both parts, unlike the paper" in t2_sentence
    assert "segmented below raw, unlike the paper" in t5_sentence
    assert "-0.100 against -0.010, unlike the paper" in t7_sentence
    assert "5.50 against 11.00, unlike the paper" in t7_sentence
    assert "0.40 of its Grad-CAM, 0.60 of the raw" in cam_sentence and cam_sentence.endswith("unlike the paper.")


def test_segmentation_findings_read_the_real_profiles_first_tables():
    """The real run published before issue 19 names T5's test images ``test images`` and has no attention table
    columns beyond these; its T2, T5, T7 and T8 are read as they are."""
    from pathlib import Path

    real = Path(__file__).resolve().parents[1] / "results" / "real" / "tables"
    if not (real / "P3-T5_eight_resnet50_variants.csv").is_file():
        pytest.skip("no published real run of notebook 03")
    t2, t5, t7, t8, ta3 = (pd.read_csv(next(real.glob(f"{i}_*.csv"))) for i in ("P3-T2", "P3-T5", "P3-T7", "P3-T8", "P3-TA3"))
    attention = tables(True)["attention"]
    sentences = segmentation_findings(t2, t5, t7, t8, ta3, attention)
    assert "on 40 images (chance 0.25)" in sentences[1]
    assert sentences[0].startswith("P3-T2, P3-F4: Dice of the U-Net 0.951")


def test_the_accuracy_sentence_says_the_majority_baseline_where_the_table_has_it():
    given = tables(True)
    given["t5"] = given["t5"].assign(**{"majority baseline": 0.36})
    assert "on 75 images (chance 0.33, majority baseline 0.360): segmented above raw" in segmentation_findings(**given)[1]
