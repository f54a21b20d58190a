import nbformat
import pytest

from leukutils import run
from leukutils.cli import main

from conftest import write_toy_notebook as _notebook

WRITE = ("from pathlib import Path\n"
         "out = Path(output_dir) if output_dir else Path('{tables}')\n"
         "(out / 'tables').mkdir(parents=True, exist_ok=True) if output_dir else out.mkdir(parents=True, exist_ok=True)\n"
         "((out / 'tables') if output_dir else out).joinpath('t.csv').write_text(str(size * 2) + profile)\n")


def test_list_and_only(folders):
    for name in ["00_a.ipynb", "01_b.ipynb", "03_c.ipynb", "notes.ipynb"]:
        _notebook(folders / name, "x = 1")
    assert [p.name for p in run.list_notebooks()] == ["00_a.ipynb", "01_b.ipynb", "03_c.ipynb"]
    assert [p.name for p in run.list_notebooks(["01,3"])] == ["01_b.ipynb", "03_c.ipynb"]
    with pytest.raises(run.UnknownNotebook, match="02.*00_a.ipynb, 01_b.ipynb, 03_c.ipynb"):
        run.list_notebooks(["02"])


def test_real_profile_writes_under_runs_with_parameters(folders, tmp_path):
    _notebook(folders / "01_toy.ipynb", WRITE.format(tables=tmp_path / "tables"))
    (tmp_path / "profiles" / "real" / "01_toy.yaml").write_text("size: 7\n")
    before = (folders / "01_toy.ipynb").read_bytes()
    summary = run.reproduce(profile="real", params={"size": 5}, progress=False)
    assert list(summary["status"]) == ["ok"]
    written = list((tmp_path / "runs").glob("real-*/tables/t.csv"))
    assert len(written) == 1 and written[0].read_text() == "10real"
    assert (folders / "01_toy.ipynb").read_bytes() == before  # committed notebook untouched
    assert not (tmp_path / "tables" / "t.csv").exists()


def test_failing_notebook_stops_with_its_cell_and_keeps_the_executed_copy(folders, capsys):
    _notebook(folders / "01_bad.ipynb", "raise ValueError('broken on purpose')")
    _notebook(folders / "02_never.ipynb", "x = 1")
    with pytest.raises(run.NotebookFailed) as failure:
        run.reproduce(progress=False)
    message = str(failure.value)
    assert "broken on purpose" in message and "raise ValueError" in message
    assert failure.value.executed.exists() and failure.value.log.read_text()
    assert "02_never" not in capsys.readouterr().err


def test_cli_reproduce_default_replaces_notebook_and_reports(folders, tmp_path, capsys):
    _notebook(folders / "01_toy.ipynb", WRITE.format(tables=tmp_path / "tables") + "print('done')")
    assert main(["reproduce", "--quiet"]) == 0
    assert (tmp_path / "tables" / "t.csv").read_text() == "6synthetic"
    assert "done" in (folders / "01_toy.ipynb").read_text()  # executed notebook copied back
    out = capsys.readouterr().out
    assert "01_toy.ipynb" in out and "ok" in out


def test_the_runner_prints_no_kernel_notice_and_keeps_a_cell_warning(folders, tmp_path, capfd):
    """The kernel's start-up notice ("running over TCP without encryption") is not printed between the
    progress bar's lines; a warning a cell raises stays in the notebook and its log."""
    _notebook(folders / "01_toy.ipynb", "import warnings\nwarnings.warn('a warning of the cell')")
    summary = run.reproduce(progress=False)
    assert list(summary["status"]) == ["ok"]
    printed = capfd.readouterr()
    assert "without encryption" not in printed.out + printed.err
    assert "a warning of the cell" in (folders / "01_toy.ipynb").read_text()


@pytest.mark.parametrize("option", [["-p", "size", "4"], ["--seed", "1"], ["--device", "cpu"]])
def test_a_default_profile_run_with_any_change_writes_under_runs(option, folders, tmp_path, capsys):
    """Only the default run with nothing changed writes the committed outputs (``-p seed 1`` does not)."""
    _notebook(folders / "01_toy.ipynb", WRITE.format(tables=tmp_path / "tables"))
    before = (folders / "01_toy.ipynb").read_bytes()
    assert main(["reproduce", "--quiet", *option]) == 0
    (written,) = (tmp_path / "runs").glob("synthetic-*/tables/t.csv")
    assert written.read_text() == ("8synthetic" if "size" in option else "6synthetic")
    assert (folders / "01_toy.ipynb").read_bytes() == before and not (tmp_path / "tables").exists()
    err = capsys.readouterr().err
    assert f"this run writes under {written.parent.parent}/" in err and option[-2].lstrip("-") in err


def test_a_value_given_as_its_default_changes_nothing(folders, tmp_path):
    _notebook(folders / "01_toy.ipynb", WRITE.format(tables=tmp_path / "tables"))
    run.reproduce(params={"size": 3}, progress=False)
    assert (tmp_path / "tables" / "t.csv").read_text() == "6synthetic"


def test_a_bad_value_stops_before_any_notebook_runs(folders, tmp_path, capsys):
    _notebook(folders / "00_first.ipynb", WRITE.format(tables=tmp_path / "tables"))
    _notebook(folders / "01_second.ipynb", "x = 1")
    for value, must in (("abc", "must be an integer (its default is 3)"), ("[1]", "must be an integer")):
        assert main(["reproduce", "--quiet", "-p", "size", value]) == 2
        err = capsys.readouterr().err
        assert "00_first.ipynb: size = " in err and must in err and "Traceback" not in err
    assert main(["reproduce", "--quiet", "-p", "seed", "-1"]) == 2
    assert "seed = -1: must be an integer ≥ 0" in capsys.readouterr().err
    assert not (tmp_path / "tables").exists() and not (tmp_path / "runs").exists()


def test_unknown_parameter_stops_before_any_notebook_runs(folders, tmp_path, capsys):
    _notebook(folders / "00_first.ipynb", WRITE.format(tables=tmp_path / "tables"))
    _notebook(folders / "01_second.ipynb", "x = 1")
    assert main(["reproduce", "--quiet", "-p", "sise", "3"]) == 2
    err = capsys.readouterr().err
    assert "00_first.ipynb has no parameter 'sise'" in err and "size" in err and "Traceback" not in err
    assert not (tmp_path / "tables" / "t.csv").exists() and not (tmp_path / "runs").exists()


def test_only_a_missing_notebook_is_one_line_naming_those_that_exist(folders, capsys):
    _notebook(folders / "00_first.ipynb", "x = 1")
    assert main(["reproduce", "--quiet", "--only", "07"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "07" in err and "00_first.ipynb" in err


def test_default_run_injects_nothing_and_records_no_absolute_path(folders, tmp_path):
    _notebook(folders / "01_toy.ipynb", WRITE.format(tables=tmp_path / "tables"))
    run.reproduce(progress=False)
    nb = nbformat.read(folders / "01_toy.ipynb", as_version=4)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert nb.metadata["papermill"]["input_path"] == "01_toy.ipynb"
    assert str(tmp_path) not in nbformat.writes(nb).replace(str(tmp_path / "tables"), "")
