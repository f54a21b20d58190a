"""Notebook 02's "What this run shows" (leukutils.findings.mil_findings) on small tables where paper 2's
claims hold and where they do not."""
import numpy as np
import pandas as pd
import pytest

from leukutils.findings import mil_findings


def _tables(excess_drop=0.8, lstm_gain=0.09, pretraining=-0.02, growth=0.1, seeds=3):
    """Tables of notebook 02 with the columns and keys the notebook writes, rows in a shuffled order."""
    detectors = pd.DataFrame([{"detector": "blast / normal", "test images": 6, "mAP@0.5": 0.7, "mAP@0.5 low": 0.5,
                               "mAP@0.5 high": 0.9, "paper mAP": 0.93},
                              {"detector": "WBC (one class)", "test images": 6, "mAP@0.5": 0.76, "mAP@0.5 low": 0.25,
                               "mAP@0.5 high": 1.0, "paper mAP": 0.96}])
    t0 = pd.DataFrame({"metric": ["specificity", "sensitivity", "accuracy", "f1"], "this run": [1.0, 0.9, 0.95, 0.95],
                       "this run low": [0.89, 0.74, 0.86, 0.87], "this run high": [1.0, 0.97, 0.98, 1.0],
                       "patients": 60, "paper (ALL-IDB1)": [0.91, 0.98, 0.96, 0.94]})
    t0_seeds = pd.DataFrame({"seed": [0, 1, 2], "recall": [0.9, 0.8, 0.93], "specificity": [1.0, 0.97, 0.9]})
    f5 = pd.DataFrame({"size": ["8", "all"], "none": [0.78, 0.9], "blast removal": [0.1, 0.0],
                       "random removal": [0.71, excess_drop + 0.0], "normal removal": [0.97, 1.0],
                       "excess drop": [0.61, excess_drop], "excess drop low": [0.52, excess_drop - 0.1],
                       "excess drop high": [0.69, excess_drop + 0.1]})
    f6 = pd.DataFrame({"size": [32, 8, 16], "accuracy": [0.87 + growth, 0.87, 0.9]})
    a1 = pd.DataFrame({"size": ["mean", "8"], "difference": [lstm_gain, 0.04], "difference sd": [0.01, 0.03],
                       "difference low": [lstm_gain - 0.03, -0.04], "difference high": [lstm_gain + 0.03, 0.12],
                       "seeds": seeds, "paper difference": [0.0851, np.nan]})
    half = 0.01 if seeds > 1 else np.nan
    a2 = pd.DataFrame({"stage 1": ["without", "with"], "accuracy minus with": [pretraining, 0.0],
                       "accuracy minus with sd": [0.005, 0.0], "accuracy minus with low": [pretraining - half, 0.0],
                       "accuracy minus with high": [pretraining + half, 0.0], "seeds": seeds,
                       "paper accuracy difference": [-0.0205, 0.0]})
    f7 = pd.DataFrame({"length": [1, 4, 32], "accuracy": [0.6, 0.91, 0.89]})
    t2 = pd.DataFrame({"extractor": ["alexnet", "resnet50"], "mean accuracy": [0.78, 0.69],
                       "paper mean accuracy": [0.72, 0.69]})
    x1 = pd.DataFrame({"model": ["attention MIL", "LSTM (paper)", "LSTM (paper)", "attention MIL"],
                       "size": ["8", "all", "8", "all"], "accuracy": [0.89, 0.95, 0.87, 0.98]})
    x2 = pd.DataFrame({"model": ["attention MIL", "LSTM (paper)"], "patients flipped": [0, 6], "patients": [60, 60]})
    return dict(detectors=detectors, t0=t0, t0_seeds=t0_seeds, f5=f5, f6=f6, a1=a1, a2=a2, f7=f7, t2=t2, x1=x1, x2=x2)


def _sentence(sentences, artefact):
    (found,) = [s for s in sentences if s.startswith(artefact)]
    return found


def test_findings_where_the_papers_claims_hold():
    sentences = mil_findings(**_tables(), overlap=0.95)
    assert _sentence(sentences, "P2-M1").startswith("P2-M1: WBC detector mAP@0.5 0.76 [0.25, 1.00] on 6 test images")
    assert "95.0% of the detected cells" in _sentence(sentences, "P2-M1")
    assert "sensitivity 0.90 [0.74, 0.97], specificity 1.00 [0.89, 1.00] (paper 0.98 / 0.91)" in _sentence(sentences, "P2-T0")
    assert "sensitivity 0.80–0.93" in _sentence(sentences, "P2-T0") and "majority baseline" not in _sentence(sentences, "P2-T0")
    assert "excess drop 0.80 [0.70, 0.90]" in _sentence(sentences, "P2-F5")
    assert "hinges on blasts, as the paper says" in _sentence(sentences, "P2-F5")
    assert "0.87 at 8 cells per patient, 0.97 at 32: it grows" in _sentence(sentences, "P2-F6")
    assert "beats the ideal perceptron, as in the paper" in _sentence(sentences, "P2-A1")
    assert _sentence(sentences, "P2-A2").endswith("pre-training helps, as in the paper.")
    assert "best 0.91 at length 4, 0.89 at 32" in _sentence(sentences, "P2-F7")
    assert "from 0.69 (resnet50) to 0.78 (alexnet); paper best on average: alexnet" in _sentence(sentences, "P2-T2")
    assert "attention MIL 0.98, LSTM 0.95" in _sentence(sentences, "P2-X1") and "6 of 60 patients" in _sentence(sentences, "P2-X1")


def test_findings_where_the_papers_claims_do_not_hold():
    sentences = mil_findings(**_tables(excess_drop=0.05, lstm_gain=-0.01, pretraining=0.03, growth=-0.05), overlap=None)
    assert "carry no white-cell boxes" in _sentence(sentences, "P2-M1")
    assert "the paper's claim does not hold here" in _sentence(sentences, "P2-F5")
    assert "does not grow with the cells per patient, unlike the paper" in _sentence(sentences, "P2-F6")
    assert "does no better than the ideal perceptron (interval spans 0), unlike the paper" in _sentence(sentences, "P2-A1")
    assert _sentence(sentences, "P2-A2").endswith("pre-training hurts, unlike the paper.")
    spans = mil_findings(**_tables(pretraining=0.005), overlap=0.9)
    assert _sentence(spans, "P2-A2").endswith("not resolved (interval spans 0).")
    one_seed = mil_findings(**_tables(seeds=1), overlap=0.9)
    assert _sentence(one_seed, "P2-A2").endswith("not resolved (one seed: no interval).")


def test_findings_of_the_real_profile_say_the_removal_test_did_not_run():
    tables = _tables()
    tables["f5"] = pd.DataFrame([{"size": "all", "note": "no cell-level labels in this data: removal test not available",
                                  "seeds": 1}])
    sentence = _sentence(mil_findings(**tables), "P2-F5")
    assert sentence == "P2-F5: no cell-level labels in this data: removal test not available."


def test_findings_look_rows_up_by_key():
    tables = _tables()
    tables["x1"] = tables["x1"][tables["x1"]["size"] != "all"]
    with pytest.raises(KeyError, match="size"):
        mil_findings(**tables)


def test_the_diagnosis_sentence_says_the_majority_baseline_where_the_table_has_it():
    tables = _tables()
    tables["t0"]["majority baseline"] = np.where(tables["t0"]["metric"] == "accuracy", 0.5, np.nan)
    sentence = _sentence(mil_findings(**tables), "P2-T0")
    assert "60 test patients; accuracy 0.95 [0.86, 0.98] (majority baseline 0.50), sensitivity 0.90" in sentence


NOT_LEARNED = "cannot be told here: the model did not learn"


@pytest.mark.parametrize("baseline, learned", [(0.86, False), (0.9, False), (0.5, True)])
def test_the_verdicts_on_the_patient_model_need_a_model_that_learned(baseline, learned):
    tables = _tables()  # accuracy 0.95 [0.86, 0.98]
    tables["t0"]["majority baseline"] = np.where(tables["t0"]["metric"] == "accuracy", baseline, np.nan)
    sentences = mil_findings(**tables, overlap=0.9)
    for artefact in ("P2-F5", "P2-F6", "P2-A1", "P2-A2"):
        assert _sentence(sentences, artefact).endswith(f": {NOT_LEARNED}.") != learned, artefact
    if learned:
        assert "hinges on blasts, as the paper says" in _sentence(sentences, "P2-F5")
        assert _sentence(sentences, "P2-A2").endswith("pre-training helps, as in the paper.")
    assert NOT_LEARNED not in " ".join(_sentence(sentences, a) for a in ("P2-M1", "P2-T0", "P2-F7", "P2-T2", "P2-X1"))
