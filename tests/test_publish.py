"""leukutils.publish: provenance cards, the published folder, SUMMARY.md and staleness."""
import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from leukutils import cli, config, publish


def test_provenance_card_names_code_data_machine_and_time():
    card = publish.provenance_card("01_dual_cam.ipynb", "real", {"dataset": "aria", "epochs": 4, "output_dir": "/x/y",
                                                                 "data_dir": None, "device": "cpu"}, 12.34)
    assert card["notebook"] == "01_dual_cam.ipynb" and card["profile"] == "real" and card["wall_seconds"] == 12.3
    assert card["commit"] == publish.git("rev-parse", "HEAD")
    assert "output_dir" not in card["parameters"] and card["parameters"]["epochs"] == 4, "no machine paths"
    (aria,) = card["datasets"]
    assert aria["name"] == "aria" and len(aria["manifest_sha256"]) == 64 and aria["files"] == 2767
    assert card["machine"]["cpu_cores"] >= 1 and card["machine"]["device"] == "cpu" and card["machine"]["torch"]
    assert card["date"].endswith("Z")
    json.dumps(card)  # a card is plain JSON


def test_notebook_artefacts_are_the_ids_its_code_quotes(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell('"P1-T1" in prose is not written here'),
        nbformat.v4.new_code_cell('save_figure(fig, "P2-F5", "x", d)\nfor a, q in ((\'P2-F6\', 1),): pass\n# ALL-IDB1, "C-NMC"')])
    path = tmp_path / "02_x.ipynb"
    nbformat.write(notebook, path)
    assert publish.notebook_artefacts(path) == {"P2-F5", "P2-F6"}
    assert publish.notebook_artefacts(config.NOTEBOOKS_DIR / "01_dual_cam.ipynb") >= {"P1-T1", "P1-X1", "P1-F6"}


def test_datasets_used_reads_list_parameters():
    assert publish.datasets_used({"real_sets": ["jtsc", "aria"], "seed": 0}) == ["jtsc", "aria"]


def fake_run(tmp_path):
    run = tmp_path / "run"
    for sub in ("notebooks", "tables", "figures"):
        (run / sub).mkdir(parents=True)
    (run / "notebooks" / "02_mil_pipeline.ipynb").write_text("{}")
    (run / "notebooks" / "04_claims_tested.ipynb").write_text("{}")
    pd.DataFrame({"detector": ["WBC (one class)"], "mAP@0.5": [0.9], "mAP@0.5 low": [0.8], "mAP@0.5 high": [0.95],
                  "paper mAP": [0.9603]}).to_csv(run / "tables" / "P2-M1_detector_map.csv", index=False)
    (run / "figures" / "P2-F5_removal_recall.png").write_bytes(b"png")
    summary = pd.DataFrame({"notebook": ["02_mil_pipeline.ipynb", "04_claims_tested.ipynb"], "seconds": [10.0, 3.0],
                            "status": ["ok", "FAILED"]})
    plan = {"02_mil_pipeline.ipynb": {"seed": 0}, "04_claims_tested.ipynb": {"seed": 0}}
    return run, summary, plan


def test_publish_run_copies_the_run_and_writes_cards_and_summary(tmp_path):
    run, summary, plan = fake_run(tmp_path)
    earlier = tmp_path / "results" / "figures"
    earlier.mkdir(parents=True)
    for name in ("P2-F5_removal_recall_under_an_old_name.png", "P1-F5_confusion_matrix.png", "X-F1_cams.png"):
        (earlier / name).write_bytes(b"png")
    dest = publish.publish_run(run, summary, plan, "real", results_dir=tmp_path / "results")
    assert not (earlier / "P2-F5_removal_recall_under_an_old_name.png").exists(), "a renamed artefact leaves no old copy"
    assert (earlier / "P1-F5_confusion_matrix.png").exists(), "another notebook's artefacts stay"
    assert (earlier / "X-F1_cams.png").exists(), "so do those of a notebook that failed in this run"
    assert (dest / "notebooks" / "02_mil_pipeline.ipynb").exists()
    assert not (dest / "notebooks" / "04_claims_tested.ipynb").exists(), "a failed notebook is not published"
    assert (dest / "tables" / "P2-M1_detector_map.csv").exists() and (dest / "figures" / "P2-F5_removal_recall.png").exists()
    card = json.loads((dest / "provenance" / "02_mil_pipeline.json").read_text())
    assert card["wall_seconds"] == 10.0
    text = (dest / "SUMMARY.md").read_text()
    assert "| BCCD detector AP@0.5, WBC (one class) | 0.900 [0.800, 0.950] | 0.9603 (ALL-IDB1) |" in text
    assert text.count("Not published yet.") == 6  # JTSC Dice, Aria accuracy, tint tests, patients, ResNet-50s, claims
    assert "not published" in text.split("## Claims tested")[1]


def test_staleness_follows_the_recorded_commit(tmp_path):
    results = tmp_path / "results"
    (results / "provenance").mkdir(parents=True)
    card = results / "provenance" / "01_dual_cam.json"
    head = publish.git("rev-parse", "HEAD")
    card.write_text(json.dumps({"commit": head}))
    local = publish.git("diff", "--name-only", "HEAD", "--", "notebooks/01_dual_cam.ipynb",
                        *publish.code_dependencies("01_dual_cam.ipynb"))
    assert publish.staleness(results, "01_dual_cam.ipynb").startswith("stale" if local else "current")
    first = publish.git("rev-list", "--max-parents=0", "HEAD").splitlines()[0]
    card.write_text(json.dumps({"commit": first}))
    assert publish.staleness(results, "01_dual_cam.ipynb").startswith("stale")
    card.write_text(json.dumps({"commit": "0" * 40}))
    assert publish.staleness(results, "01_dual_cam.ipynb").startswith("unknown")
    assert publish.staleness(results, "03_segmentation_attention.ipynb") == "not published"


def test_code_dependencies_follow_imports_transitively(tmp_path):
    package = tmp_path / "leukutils"
    for name, code in {"__init__.py": "", "used.py": "from .sub import deep\nfrom . import config\n", "config.py": "",
                       "unused.py": "import numpy\n", "publish.py": "", "sub/__init__.py": "",
                       "sub/deep.py": "def f():\n    from leukutils.sub import lazy\n", "sub/lazy.py": "",
                       "profiles/real/01_toy.yaml": "x: 1\n", "profiles/real/02_other.yaml": "x: 2\n",
                       "paper_values.csv": "a,b\n"}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(code)
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%matplotlib inline\nfrom leukutils import used, publish"),
                                               nbformat.v4.new_markdown_cell("from leukutils import unused")])
    nbformat.write(notebook, tmp_path / "notebooks" / "01_toy.ipynb")
    assert publish.code_dependencies("01_toy.ipynb", root=tmp_path) == [
        "leukutils/__init__.py", "leukutils/config.py", "leukutils/paper_values.csv", "leukutils/profiles/real/01_toy.yaml",
        "leukutils/sub/__init__.py", "leukutils/sub/deep.py", "leukutils/sub/lazy.py", "leukutils/used.py"]


def test_a_change_to_a_module_the_notebook_does_not_import_leaves_it_current():
    outside = {"leukutils/apply.py", "leukutils/cli.py", "leukutils/publish.py", "leukutils/site.py"}  # commands and publishing
    assert not outside & set(publish.code_dependencies("03_segmentation_attention.ipynb"))
    assert {"leukutils/claims.py", "leukutils/explain.py", "leukutils/data/registry.py"} <= set(
        publish.code_dependencies("04_claims_tested.ipynb"))


def test_publish_refuses_the_default_profile(capsys):
    assert cli.main(["reproduce", "--publish"]) == 2
    assert "--publish" in capsys.readouterr().err
    with pytest.raises(ValueError, match="publish"):
        from leukutils import run
        run.reproduce(profile=config.DEFAULT_PROFILE, publish=True, only=["00"])


# --------------------------------------------------------------------------------------------------
# SUMMARY.md on small synthetic tables
# --------------------------------------------------------------------------------------------------
def results_folder(tmp_path, tables: dict[str, pd.DataFrame], cards: dict[str, dict] | None = None):
    """A published folder holding ``tables`` (``"P3-T5_slug"`` → table) and provenance cards (no commit)."""
    results = tmp_path / "results" / "real"
    (results / "tables").mkdir(parents=True)
    (results / "provenance").mkdir()
    for name, table in tables.items():
        table.to_csv(results / "tables" / f"{name}.csv", index=False)
    for notebook, parameters in (cards or {}).items():
        (results / "provenance" / f"{notebook}.json").write_text(json.dumps({"commit": None, "parameters": parameters}))
    return results


def section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def binary_rates(positives: int, negatives: int, tp: int, tn: int) -> dict[str, float]:
    """Accuracy, recall, precision and specificity of counts, rounded as the published tables are."""
    fp = negatives - tn
    return {"accuracy": round((tp + tn) / (positives + negatives), 4), "recall": round(tp / positives, 4),
            "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0, "specificity": round(tn / negatives, 4)}


@pytest.mark.parametrize("positives, negatives, tp, tn", [(45, 15, 45, 3), (43, 43, 38, 32), (30, 90, 21, 80), (7, 193, 5, 190)])
def test_consistent_positives_recovers_the_class_counts_from_rounded_rates(positives, negatives, tp, tn):
    r = binary_rates(positives, negatives, tp, tn)
    n = positives + negatives
    with_specificity = publish.consistent_positives(n, r["accuracy"], r["recall"], specificity=r["specificity"])
    with_precision = publish.consistent_positives(n, r["accuracy"], r["recall"], precision=r["precision"])
    assert positives in with_specificity and positives in with_precision
    assert {max(p, n - p) for p in with_specificity} == {max(positives, negatives)}


def test_consistent_positives_leave_a_perfect_model_undetermined():
    assert len(publish.consistent_positives(86, 1.0, 1.0, precision=1.0)) == 85  # every split of 86 fits
    assert publish.consistent_positives(86, 0.9, float("nan"), precision=0.9) == set(), "accuracy alone fixes nothing"


def p1_t1(models: dict[str, tuple[int, int, int, int]], baseline: float | None = None) -> pd.DataFrame:
    """P1-T1 rows (model, metric, paper, this run with its interval, n) of counts (P, N, TP, TN) per model."""
    rows = []
    for model, counts in models.items():
        for metric, value in binary_rates(*counts).items():
            row = {"model": model, "metric": metric, "paper": 0.9, "this run": value, "this run low": value - 0.05,
                   "this run high": min(value + 0.05, 1.0), "n": counts[0] + counts[1]}
            if baseline is not None and metric == "accuracy":
                row["majority baseline"] = baseline
            rows.append(row)
    return pd.DataFrame(rows)


def test_summary_derives_a_majority_baseline_from_the_rates_and_marks_it(tmp_path):
    # two models on one test set of 30 ALL and 10 healthy images: the first is right on every image
    results = results_folder(tmp_path, {"P1-T1_test_metrics": p1_t1({"a": (30, 10, 30, 10), "b": (30, 10, 27, 6)})})
    text = section(publish.summary_markdown(results), "Aria accuracy")
    assert "| result | this run | majority baseline | paper |" in text
    assert "| Aria accuracy, a (40 test images) | 1.000 [0.950, 1.000] | 0.750† | 0.90 (C-NMC) |" in text
    assert f"{publish.DERIVED} Not recorded in the published table" in text


def test_summary_says_not_recorded_where_the_rates_do_not_fix_the_baseline(tmp_path):
    results = results_folder(tmp_path, {"P1-T1_test_metrics": p1_t1({"a": (30, 10, 30, 10)})})
    text = section(publish.summary_markdown(results), "Aria accuracy")
    assert "| 1.000 [0.950, 1.000] | not recorded |" in text and publish.DERIVED not in text


def test_summary_reads_the_recorded_majority_baseline_first(tmp_path):
    results = results_folder(tmp_path, {"P1-T1_test_metrics": p1_t1({"a": (30, 10, 27, 6)}, baseline=0.6123)})
    text = section(publish.summary_markdown(results), "Aria accuracy")
    assert "| 0.612 |" in text and publish.DERIVED not in text


def p2_t0(positives: int, negatives: int, tp: int, tn: int, baseline: float | None = None) -> pd.DataFrame:
    r, n = binary_rates(positives, negatives, tp, tn), positives + negatives
    table = pd.DataFrame({"metric": ["accuracy", "f1", "sensitivity", "specificity"],
                          "this run": [r["accuracy"], 0.5, r["recall"], r["specificity"]]})
    table["this run low"], table["this run high"] = table["this run"] - 0.1, table["this run"] + 0.01
    table = table.assign(interval=["Wilson", "bootstrap", "Wilson", "Wilson"], patients=n, seeds=1)
    table["paper (ALL-IDB1)"] = [0.9615, 0.9424, 0.9756, 0.9091]
    if baseline is not None:
        table["majority baseline"] = [baseline, np.nan, np.nan, np.nan]
    return table


def test_patient_diagnosis_gets_its_baseline_from_sensitivity_and_specificity(tmp_path):
    results = results_folder(tmp_path, {"P2-T0_patient_level_metrics": p2_t0(20, 40, 18, 30)})
    text = section(publish.summary_markdown(results), "Patient-level diagnosis (detector, cell features, LSTM)")
    accuracy = next(line for line in text.splitlines() if line.startswith("| accuracy over 60 patients"))
    assert "| 0.667† |" in accuracy and "0.9615 (ALL-IDB1)" in accuracy
    assert "| sensitivity over 60 patients (Wilson interval) | 0.900 [0.800, 0.910] | — |" in text
    recorded = results_folder(tmp_path / "recorded", {"P2-T0_patient_level_metrics": p2_t0(20, 40, 18, 30, baseline=0.5)})
    assert "| 0.500 |" in section(publish.summary_markdown(recorded), "Patient-level diagnosis (detector, cell features, LSTM)")


def test_segmented_classifiers_show_not_recorded_without_the_column(tmp_path):
    t5 = pd.DataFrame({"model": ["Segmented Mish Medium", "NoSegmented ReLU Linear"], "n": [40, 40], "test accuracy": [0.6, 0.5],
                       "test accuracy low": [0.45, 0.35], "test accuracy high": [0.75, 0.65], "paper val accuracy": [0.9999, np.nan]})
    text = section(publish.summary_markdown(results_folder(tmp_path, {"P3-T5_x": t5})), "ResNet-50s on segmented and raw images")
    assert "| test accuracy, Segmented Mish Medium (40 images) | 0.600 [0.450, 0.750] | not recorded | 0.9999 (validation, FAB L1–L3 set) |" in text
    with_baseline = results_folder(tmp_path / "b", {"P3-T5_x": t5.assign(**{"majority baseline": [0.3, 0.3]})})
    assert text.count("not recorded") == 2
    assert section(publish.summary_markdown(with_baseline), "ResNet-50s on segmented and raw images").count("| 0.300 |") == 2


def test_each_section_says_which_real_set_stands_in_for_which_papers_data(tmp_path):
    text = publish.summary_markdown(results_folder(tmp_path, {}))
    data = {title: next(line for line in section(text, title).splitlines() if line.startswith("Data: "))
            for title in publish.SECTIONS}
    assert "Aria" in data["Aria accuracy"] and "C-NMC" in data["Aria accuracy"]
    assert "BCCD" in data["BCCD AP@0.5"] and "detector" in data["BCCD AP@0.5"]
    assert "Aria" in data["Patient-level diagnosis (detector, cell features, LSTM)"] and "ALL-IDB1" in data[
        "Patient-level diagnosis (detector, cell features, LSTM)"]
    assert "Aria" in data["ResNet-50s on segmented and raw images"] and "FAB L1–L3" in data["ResNet-50s on segmented and raw images"]


TINT_CARDS = {"01_dual_cam": {"colour_augment": 0.5, "models": ["standard_cnn", "densenet121"], "weights": "none",
                              "image_size": 112, "resize": 112, "zoom": 1.0, "epochs": 5, "max_per_class": 0, "cell_margin": 4},
              "04_claims_tested": {"cnn_widths": [8, 16], "aria_size": 64, "aria_epochs": 3, "aria_per_class": 50,
                                   "aria_cell_margin": 5}}


def tint_tables() -> dict[str, pd.DataFrame]:
    p1x1 = pd.DataFrame({"model": ["standard_cnn"], "accuracy": [0.81], "accuracy low": [0.7], "accuracy high": [0.9],
                         "tint-equalised accuracy": [0.79], "tint-equalised accuracy low": [0.68], "tint-equalised accuracy high": [0.88],
                         "difference": [-0.02], "difference low": [-0.08], "difference high": [0.04], "test images": [50]})
    # notebook 04's published names of the paired interval: "minus low", "minus high"
    x4 = pd.DataFrame({"data": ["synthetic fields", "Aria", "Aria"], "model": ["end-to-end CNN", "Standard_CNN/2", "Standard_CNN/2"],
                       "test cue": ["absent", "as given", "tint equalised"], "accuracy": [0.7, 0.97, 0.61],
                       "accuracy low": [0.6, 0.93, 0.52], "accuracy high": [0.8, 1.0, 0.7],
                       "accuracy minus as given": [np.nan, 0.0, -0.36], "minus low": [np.nan, 0.0, -0.45], "minus high": [np.nan, 0.0, -0.27]})
    return {"P1-X1_tint": p1x1, "X-T4_shortcut_cue": x4}


def test_the_two_tint_tests_stand_side_by_side_with_what_differs(tmp_path):
    text = section(publish.summary_markdown(results_folder(tmp_path, tint_tables(), TINT_CARDS)), "The two tint tests on Aria")
    lines = text.splitlines()
    row = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| ")}
    assert "`colour_augment` = 0.5: random colour casts" in row["colour augmentation in training"]
    assert "none" in row["colour augmentation in training"].split(" | ")[2]
    assert "`models` = standard_cnn, densenet121" in row["models"] and "`cnn_widths` = 8, 16" in row["models"]
    assert "`image_size` = 112" in row["input size (px)"] and "`aria_size` = 64" in row["input size (px)"]
    assert "`epochs` = 5" in row["epochs"] and "`aria_epochs` = 3" in row["epochs"]
    assert "| notebook 01, tint equalised | standard_cnn | 0.790 [0.680, 0.880] | -0.020 [-0.080, 0.040] | not recorded |" in text
    assert "| notebook 04, tint equalised | Standard_CNN/2 | 0.610 [0.520, 0.700] | -0.360 [-0.450, -0.270] | not recorded |" in text
    assert "synthetic fields" not in text and "end-to-end CNN" not in text, "only X-T4's Aria rows"


def test_notebook_01s_four_probes_stand_beside_notebook_04s(tmp_path):
    tables = tint_tables()
    cues = ["as given", "tint equalised", "scale bar removed", "tint equalised, scale bar removed"]
    tables["P1-X1_probes"] = pd.DataFrame({"model": "densenet121", "test cue": cues, "accuracy": [0.96, 0.95, 0.9, 0.89],
                                           "accuracy low": [0.93, 0.92, 0.86, 0.85], "accuracy high": [0.99, 0.98, 0.94, 0.93],
                                           "accuracy minus as given": [0.0, -0.01, -0.06, -0.07],
                                           "accuracy minus as given low": [0.0, -0.03, -0.09, -0.1],
                                           "accuracy minus as given high": [0.0, 0.01, -0.03, -0.04], "n": 100,
                                           "majority baseline": 0.5})
    del tables["P1-X1_tint"]
    text = section(publish.summary_markdown(results_folder(tmp_path, tables, TINT_CARDS)), "The two tint tests on Aria")
    assert "| notebook 01, as given | densenet121 | 0.960 [0.930, 0.990] | — | 0.500 |" in text
    assert "| notebook 01, scale bar removed | densenet121 | 0.900 [0.860, 0.940] | -0.060 [-0.090, -0.030] | 0.500 |" in text
    assert "| notebook 04, tint equalised | Standard_CNN/2 | 0.610 [0.520, 0.700] | -0.360 [-0.450, -0.270] | not recorded |" in text
    assert "| test images | 100 |" in text


def test_the_tint_tests_say_when_a_card_is_missing(tmp_path):
    text = section(publish.summary_markdown(results_folder(tmp_path, tint_tables(), {"01_dual_cam": TINT_CARDS["01_dual_cam"]})),
                   "The two tint tests on Aria")
    epochs = next(line for line in text.splitlines() if line.startswith("| epochs"))
    assert epochs == "| epochs | `epochs` = 5 | not published |"


def test_every_verdict_row_is_shown_whatever_the_table_holds(tmp_path):
    x0 = pd.DataFrame({"paper": ["paper 1", "paper 2", "all three (shortcut)"], "claim": ["agree | trust", "blasts", "cells"],
                       "test": ["X-T1 (JTSC, Standard_CNN/2): Grad-CAM minus a centred Gaussian", "X-T4 (corner): LSTM pipeline minus CNN",
                                "X-T4 (nucleus mark): segmented-input CNN, reversed minus as in training"],
                       "effect": ["relevance mass difference", "accuracy difference", "accuracy difference"], "seeds": [1, 1, 1],
                       "value": [0.12, 0.3, -0.2], "value low": [0.05, 0.2, -0.3], "value high": [0.2, 0.4, -0.1],
                       "verdict": ["holds", "holds", "does not hold"]})
    text = section(publish.summary_markdown(results_folder(tmp_path, {"X-T0_verdicts": x0})), "Claims tested")
    assert "3 tests; holds: 2; does not hold: 1." in text
    assert "| paper 2 | X-T4 (corner): LSTM pipeline minus CNN | accuracy difference | 0.300 [0.200, 0.400] | **holds** |" in text
    assert "X-T4 (nucleus mark): segmented-input CNN, reversed minus as in training" in text and "-0.200 [-0.300, -0.100]" in text
    assert "* paper 1: agree | trust" in text
    old = x0.rename(columns={"value low": "low", "value high": "high"}).drop(columns="test")  # as published before
    text = section(publish.summary_markdown(results_folder(tmp_path / "old", {"X-T0_verdicts": old})), "Claims tested")
    assert "| paper 1 | — | relevance mass difference | 0.120 [0.050, 0.200] | **holds** |" in text


def test_the_classifiers_of_x_t1_stand_beside_their_baseline(tmp_path):
    x1 = pd.DataFrame({"method": ["gradcam", "random", "gradcam"], "data": ["synthetic fields", "synthetic fields", "JTSC"],
                       "model": ["Standard_CNN/2"] * 3, "evidence": ["blast nuclei", "blast nuclei", "nucleus (expert mask)"],
                       "classifier accuracy": [0.9, 0.9, 0.7], "classifier accuracy low": [0.85, 0.85, 0.6],
                       "classifier accuracy high": [0.95, 0.95, 0.8], "classifier majority baseline": [0.5, 0.5, 0.41]})
    text = section(publish.summary_markdown(results_folder(tmp_path, {"X-T1_cams": x1})), "Claims tested")
    assert "| JTSC | Standard_CNN/2 | nucleus (expert mask) | 0.700 [0.600, 0.800] | 0.410 |" in text
    assert text.count("| synthetic fields |") == 1, "one row per classifier"
    old = results_folder(tmp_path / "old", {"X-T1_cams": x1.drop(columns=["classifier accuracy", "classifier accuracy low",
                                                                           "classifier accuracy high", "classifier majority baseline"])})
    assert "| JTSC | Standard_CNN/2 | nucleus (expert mask) | not recorded | not recorded |" in publish.summary_markdown(old)


# --------------------------------------------------------------------------------------------------
# Models that did not learn
# --------------------------------------------------------------------------------------------------
def test_publishing_says_a_model_did_not_learn_by_the_rule_and_words_of_the_verdicts():
    from leukutils import claims, report

    assert publish.learned is report.learned and claims.learned is report.learned, "one rule, in one place"
    expected = {(0.4, 0.5): False, (0.5, 0.5): False, (0.51, 0.5): True, (np.nan, 0.5): True, (0.3, np.nan): True, (0.3, None): True}
    for (low, baseline), did in expected.items():
        assert report.learned(low, baseline) is did, (low, baseline)
    assert claims.NOT_LEARNED == f"cannot be told here: {publish.DID_NOT_LEARN}"


def test_an_accuracy_interval_that_reaches_its_baseline_says_the_model_did_not_learn(tmp_path):
    t5 = pd.DataFrame({"model": ["Segmented Mish Medium", "NoSegmented ReLU Linear"], "n": [40, 40], "test accuracy": [0.6, 0.5],
                       "test accuracy low": [0.45, 0.3], "test accuracy high": [0.75, 0.65], "paper val accuracy": [0.9999, np.nan],
                       "majority baseline": [0.3, 0.3]})
    text = section(publish.summary_markdown(results_folder(tmp_path, {"P3-T5_x": t5})), "ResNet-50s on segmented and raw images")
    assert "| 0.600 [0.450, 0.750] | 0.300 |" in text
    assert "| test accuracy, NoSegmented ReLU Linear (40 images) | 0.500 [0.300, 0.650] (the model did not learn) | 0.300 |" in text
    p2 = section(publish.summary_markdown(results_folder(tmp_path / "p2", {"P2-T0_patient_level_metrics": p2_t0(20, 40, 18, 30)})),
                 "Patient-level diagnosis (detector, cell features, LSTM)")  # accuracy 0.8 [0.7, 0.81] against 0.667 derived
    assert "(the model did not learn)" not in p2
    near = p2_t0(20, 40, 18, 30, baseline=0.75)
    p2 = section(publish.summary_markdown(results_folder(tmp_path / "near", {"P2-T0_patient_level_metrics": near})),
                 "Patient-level diagnosis (detector, cell features, LSTM)")
    assert "| 0.800 [0.700, 0.810] (the model did not learn) | 0.750 |" in p2
    assert p2.count("did not learn") == 1, "said of the accuracy, not of sensitivity or specificity"


def test_the_aria_accuracies_and_classifiers_say_which_models_did_not_learn(tmp_path):
    results = results_folder(tmp_path, {"P1-T1_test_metrics": p1_t1({"a": (30, 10, 30, 10), "b": (30, 10, 27, 6)}, baseline=0.8)})
    text = section(publish.summary_markdown(results), "Aria accuracy")
    assert "| Aria accuracy, a (40 test images) | 1.000 [0.950, 1.000] | 0.800 |" in text
    assert "| Aria accuracy, b (40 test images) | 0.825 [0.775, 0.875] (the model did not learn) | 0.800 |" in text
    x1 = pd.DataFrame({"method": ["gradcam", "gradcam"], "data": ["synthetic fields", "JTSC"], "model": ["Standard_CNN/2"] * 2,
                       "evidence": ["blast nuclei", "nucleus (expert mask)"], "classifier accuracy": [0.9, 0.45],
                       "classifier accuracy low": [0.85, 0.35], "classifier accuracy high": [0.95, 0.55],
                       "classifier majority baseline": [0.5, 0.41]})
    text = section(publish.summary_markdown(results_folder(tmp_path / "x1", {"X-T1_cams": x1})), "Claims tested")
    assert "| JTSC | Standard_CNN/2 | nucleus (expert mask) | 0.450 [0.350, 0.550] (the model did not learn) | 0.410 |" in text
    assert "| synthetic fields | Standard_CNN/2 | blast nuclei | 0.900 [0.850, 0.950] | 0.500 |" in text


def test_the_tint_tests_say_which_model_did_not_learn(tmp_path):
    given = tint_tables()
    given["P1-X1_tint"] = given["P1-X1_tint"].assign(**{"majority baseline": 0.7})
    given["X-T4_shortcut_cue"] = given["X-T4_shortcut_cue"].assign(**{"majority baseline": 0.5})
    text = section(publish.summary_markdown(results_folder(tmp_path, given, TINT_CARDS)), "The two tint tests on Aria")
    assert "| notebook 01, as given | standard_cnn | 0.810 [0.700, 0.900] (the model did not learn) | — | 0.700 |" in text
    assert "| notebook 01, tint equalised | standard_cnn | 0.790 [0.680, 0.880] | -0.020 [-0.080, 0.040] (the model did not learn) |" in text
    assert "| notebook 04, as given | Standard_CNN/2 | 0.970 [0.930, 1.000] | — | 0.500 |" in text
    assert text.count("did not learn") == 2, "notebook 04's model learned"
    given["X-T4_shortcut_cue"].loc[1, "accuracy low"] = 0.5
    text = section(publish.summary_markdown(results_folder(tmp_path / "b", given, TINT_CARDS)), "The two tint tests on Aria")
    assert "| notebook 04, tint equalised | Standard_CNN/2 | 0.610 [0.520, 0.700] | -0.360 [-0.450, -0.270] (the model did not learn) |" in text


def test_a_verdict_on_a_model_that_did_not_learn_is_shown_in_its_words(tmp_path):
    x0 = pd.DataFrame({"paper": ["paper 1", "paper 2"], "claim": ["agree", "blasts"], "test": ["X-T2: r", "X-T4 (corner): LSTM"],
                       "effect": ["Spearman r", "accuracy difference"], "seeds": [1, 1], "value": [0.5, 0.3],
                       "value low": [0.4, 0.2], "value high": [0.6, 0.4],
                       "verdict": ["cannot be told here: the model did not learn", "holds"]})
    text = section(publish.summary_markdown(results_folder(tmp_path, {"X-T0_verdicts": x0})), "Claims tested")
    assert "| paper 1 | X-T2: r | Spearman r | 0.500 [0.400, 0.600] | **cannot be told here: the model did not learn** |" in text
    assert "cannot be told here: the model did not learn: 1" in text
