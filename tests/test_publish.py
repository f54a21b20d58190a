"""leukutils.publish: provenance cards, the published folder, SUMMARY.md and staleness."""
import json

import nbformat
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
    dest = publish.publish_run(run, summary, plan, "real", results_dir=tmp_path / "results")
    assert (dest / "notebooks" / "02_mil_pipeline.ipynb").exists()
    assert not (dest / "notebooks" / "04_claims_tested.ipynb").exists(), "a failed notebook is not published"
    assert (dest / "tables" / "P2-M1_detector_map.csv").exists() and (dest / "figures" / "P2-F5_removal_recall.png").exists()
    card = json.loads((dest / "provenance" / "02_mil_pipeline.json").read_text())
    assert card["wall_seconds"] == 10.0
    text = (dest / "SUMMARY.md").read_text()
    assert "| BCCD detector AP@0.5, WBC (one class) | 0.900 [0.800, 0.950] | 0.9603 |" in text
    assert text.count("Not published yet.") == 5  # JTSC Dice, Aria accuracy, patients (no P2-T0 here), ResNet-50s, claims
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
    assert "leukutils/patients.py" not in publish.code_dependencies("03_segmentation_attention.ipynb")  # paper 2's
    assert {"leukutils/claims.py", "leukutils/explain.py", "leukutils/data/registry.py"} <= set(
        publish.code_dependencies("04_claims_tested.ipynb"))


def test_publish_refuses_the_default_profile(capsys):
    assert cli.main(["reproduce", "--publish"]) == 2
    assert "--publish" in capsys.readouterr().err
    with pytest.raises(ValueError, match="publish"):
        from leukutils import run
        run.reproduce(profile=config.DEFAULT_PROFILE, publish=True, only=["00"])
