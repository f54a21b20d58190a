import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from leukutils import report


def test_artefact_names():
    assert report.artefact_name("P1-T1", "Test metrics (six models)") == "P1-T1_test_metrics_six_models"
    with pytest.raises(ValueError):
        report.artefact_name("T1", "x")


def test_table_is_written_byte_identically(tmp_path):
    table = pd.DataFrame({"model": ["a", "b"], "accuracy": [1 / 3, 0.123456789]})
    path = report.save_table(table, "P1-T1", "metrics", tmp_path)
    first = path.read_bytes()
    report.save_table(table, "P1-T1", "metrics", tmp_path)
    assert path.read_bytes() == first
    assert "0.3333" in first.decode() and path.with_suffix(".md").exists()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_figure_is_saved(tmp_path):
    fig, ax = plt.subplots()
    ax.plot(np.arange(3))
    path = report.save_figure(fig, "P2-F5", "recall", tmp_path)
    plt.close(fig)
    assert path.name == "P2-F5_recall.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_with_ci():
    assert report.with_ci(0.9123, 0.85, 0.95) == "0.912 [0.850, 0.950]"


def test_rows_with_ci():
    import pandas as pd

    table = pd.DataFrame({"model": ["a", "b"], "class": ["all", "hem"], "value": [0.9123, 0.5],
                          "value low": [0.85, 0.4], "value high": [0.95, 0.6], "paper": [0.94, float("nan")]})
    assert report.rows_with_ci(table, "value", "model") == "a 0.912 [0.850, 0.950] (paper 0.940); b 0.500 [0.400, 0.600]"
    assert report.rows_with_ci(table.drop(columns="paper"), "value", ["model", "class"], digits=2) == \
        "a all 0.91 [0.85, 0.95]; b hem 0.50 [0.40, 0.60]"


def test_this_run_states_the_named_parameters_and_facts():
    values = {"epochs": 8, "lr": 0.003, "models": ["standard_cnn", "densenet121"], "zoom": 1.0, "tint_test": True,
              "sizes": {"alexnet": 64}}
    assert report.this_run(values, ["epochs", "lr", "models", "zoom", "tint_test", "sizes"], test_images=86) == (
        "This run: epochs 8, lr 0.003, models [standard_cnn, densenet121], zoom 1, tint_test True, sizes {alexnet: 64}; "
        "test images 86.")
    assert report.this_run(values, [], test_images=86) == "This run: test images 86."
    with pytest.raises(KeyError, match="'batch_size'"):
        report.this_run(values, ["epochs", "batch_size"])
