"""The run grid over seeds (leukutils.grid), here and on a local Dask cluster, and the aggregation over
seeds (leukutils.seeds)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leukutils import grid, seeds
from leukutils.cli import main

from conftest import write_toy_notebook

PARAMETERS = ('profile = "synthetic"\nseed = 0\ndevice = "auto"\ndata_dir = None\noutput_dir = None\nthreads = 1\n'
              'marker_dir = ""\nkill_once = []\nkill_always = []\nexit_once = []\nnap = 0.0')

# A toy notebook whose table depends on the seed. With marker_dir set, a seed listed in kill_once kills
# the process that runs its kernel (the Dask worker) on its first attempt; one in kill_always does so
# on every attempt until a file spare-<seed> appears in marker_dir; one in exit_once ends its own
# kernel on its first attempt.
BODY = """
import json, os, signal, time
from pathlib import Path
if marker_dir:
    attempt = Path(marker_dir) / f"attempt-{seed}"
    if seed in exit_once and not attempt.exists():
        attempt.write_text("kernel ended")
        os._exit(1)
    if (seed in kill_once and not attempt.exists()) or \\
            (seed in kill_always and not (Path(marker_dir) / f"spare-{seed}").exists()):
        attempt.write_text("killed")
        os.kill(os.getppid(), signal.SIGKILL)
        os._exit(1)
time.sleep(nap)
out = Path(output_dir)
(out / "tables").mkdir(parents=True, exist_ok=True)
(out / "tables" / "X-T1_toy.csv").write_text(f"model,size,accuracy\\na,8,{seed / 10}\\nb,8,{1 - seed / 10}\\n")
(out / "environment.json").write_text(json.dumps({"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                                                   "threads": threads}))
"""


def _notebook(path, body=BODY, parameters=PARAMETERS):
    write_toy_notebook(path, body, parameters)


def _statistic(table, model, column, statistic):
    row = table[(table["model"] == model) & (table["column"] == column)]
    assert len(row) == 1
    return row.iloc[0][statistic]


# ------------------------------------------------------------------------------------------ aggregation


def test_aggregate_seeds_on_two_hand_made_tables():
    first = pd.DataFrame({"model": ["a", "b"], "size": [8, 8], "accuracy": [0.5, 0.9], "paper": [0.8, np.nan],
                          "flipped": [1, 2]})
    second = pd.DataFrame({"model": ["a", "b"], "size": [8, 8], "accuracy": [0.7, 0.6], "paper": [0.8, np.nan],
                           "flipped": [3, 2]})
    table = seeds.aggregate_seeds({3: second, 0: first})
    # keys: the string column and the integer column equal in both tables; "flipped" changes: a metric
    assert list(table.columns) == ["model", "size", "column", "n_seeds", "mean", "sd", "min", "max", "q2.5", "q97.5"]
    assert list(zip(table["model"], table["column"])) == [("a", "accuracy"), ("a", "paper"), ("a", "flipped"),
                                                          ("b", "accuracy"), ("b", "paper"), ("b", "flipped")]
    a = table.iloc[0]
    assert (a["n_seeds"], a["mean"], a["min"], a["max"]) == (2, pytest.approx(0.6), 0.5, 0.7)
    assert a["sd"] == pytest.approx(np.sqrt(0.02))            # sample sd of (0.5, 0.7): |0.7 - 0.5| / sqrt 2
    assert a["q2.5"] == pytest.approx(0.505) and a["q97.5"] == pytest.approx(0.695)  # 0.5 + 0.025 · 0.2
    assert _statistic(table, "b", "accuracy", "mean") == pytest.approx(0.75)
    assert _statistic(table, "a", "flipped", "sd") == pytest.approx(np.sqrt(2))
    assert _statistic(table, "a", "paper", "sd") == 0.0
    assert _statistic(table, "b", "paper", "n_seeds") == 0 and np.isnan(_statistic(table, "b", "paper", "mean"))


def test_aggregate_seeds_one_seed_repeated_keys_and_no_keys():
    one = seeds.aggregate_seeds({0: pd.DataFrame({"model": ["a"], "accuracy": [0.4]})})
    assert one.loc[0, "n_seeds"] == 1 and one.loc[0, "mean"] == 0.4 and np.isnan(one.loc[0, "sd"])
    repeated = pd.DataFrame({"model": ["a", "a"], "accuracy": [0.1, 0.3]})
    table = seeds.aggregate_seeds({0: repeated, 1: repeated.assign(accuracy=[0.3, 0.5])})
    assert list(table["row"]) == [0, 1] and list(table["mean"]) == pytest.approx([0.2, 0.4])
    numbers = seeds.aggregate_seeds({0: pd.DataFrame({"x": [1.0, 2.0]}), 1: pd.DataFrame({"x": [3.0, 4.0]})})
    assert list(numbers["row"]) == [0, 1] and list(numbers["mean"]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="mean"):
        seeds.aggregate_seeds({0: pd.DataFrame({"mean": ["a"], "x": [1.0]})})


def test_aggregate_run_and_cli_write_tables_seeds(tmp_path, capsys):
    for seed, value in [(0, 0.25), (1, 0.75), (2, 0.5)]:
        folder = tmp_path / "run" / f"seed-{seed}" / "tables"
        folder.mkdir(parents=True)
        pd.DataFrame({"model": ["a"], "accuracy": [value]}).to_csv(folder / "P1-T1_metrics.csv", index=False)
    assert main(["aggregate", str(tmp_path / "run")]) == 0
    written = tmp_path / "run" / "tables" / "seeds" / "P1-T1_metrics.csv"
    assert capsys.readouterr().out.strip() == str(written)
    table = pd.read_csv(written)
    assert table.loc[0, "n_seeds"] == 3 and table.loc[0, "mean"] == 0.5 and table.loc[0, "sd"] == 0.25
    assert written.with_suffix(".md").is_file()
    assert seeds.aggregate_run(tmp_path / "run", tmp_path / "elsewhere") == [tmp_path / "elsewhere" / "P1-T1_metrics.csv"]
    # a table with a metric called "value" (D-T1's HSV value); one that cannot be aggregated is left out
    pd.DataFrame({"set": ["a"], "value": [0.5]}).to_csv(tmp_path / "run" / "seed-0" / "tables" / "D-T1_hsv.csv", index=False)
    pd.DataFrame({"mean": ["a"], "x": [0.5]}).to_csv(tmp_path / "run" / "seed-0" / "tables" / "D-T2_odd.csv", index=False)
    with pytest.warns(UserWarning, match="D-T2_odd"):
        written = seeds.aggregate_run(tmp_path / "run")
    assert [p.name for p in written] == ["D-T1_hsv.csv", "P1-T1_metrics.csv"]
    assert pd.read_csv(written[0]).loc[0, "column"] == "value"
    assert main(["aggregate", str(tmp_path)]) == 2


# ------------------------------------------------------------------------------------------- the grid


def test_parse_seeds_and_cluster():
    assert grid.parse_seeds(["0,1", "3-5", "1"]) == [0, 1, 3, 4, 5]
    with pytest.raises(ValueError):
        grid.parse_seeds(["a"])
    assert grid.parse_cluster("local:3") == 3
    with pytest.raises(ValueError, match="--scheduler"):
        grid.parse_cluster("slurm")


@pytest.mark.slow
def test_default_path_imports_no_dask(folders, tmp_path):
    """run.reproduce and a --seeds run without a cluster never import Dask (checked in a fresh process)."""
    _notebook(folders / "01_toy.ipynb")
    script = f"""
import sys
from pathlib import Path
from leukutils import config, run, grid, cli
root = Path({str(tmp_path)!r})
config.NOTEBOOKS_DIR, config.RUNS_DIR = root / "notebooks", root / "runs"
run.reproduce(profile="synthetic", output_root=root / "runs", progress=False)
assert cli.main(["reproduce", "--quiet", "--seeds", "4", "--output-root", str(root / "runs")]) == 0
print(sorted(name for name in sys.modules if name.split(".")[0] in ("dask", "distributed")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(list((tmp_path / "runs").glob("synthetic-*/seed-4/tables/X-T1_toy.csv"))) == 1


def test_seeds_here_write_per_seed_folders_aggregate_and_resume(folders, tmp_path, capsys):
    _notebook(folders / "01_toy.ipynb")
    source = (folders / "01_toy.ipynb").read_bytes()
    summary = grid.reproduce_seeds([0, 1], progress=False)
    run_dir = Path(summary.attrs["run_dir"])
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("synthetic-")
    assert list(summary["seed"]) == [0, 1] and list(summary["status"]) == ["ok", "ok"]
    for seed in (0, 1):
        assert (run_dir / f"seed-{seed}" / "notebooks" / "01_toy.ipynb").is_file()
        assert (run_dir / f"seed-{seed}" / "logs" / "01_toy.log").is_file()
        assert json.loads((run_dir / f"seed-{seed}" / "done" / "01_toy.json").read_text())["parameters"]["seed"] == seed
        # run here, the notebook keeps its own thread count
        assert json.loads((run_dir / f"seed-{seed}" / "environment.json").read_text())["threads"] == 1
    table = pd.read_csv(run_dir / "tables" / "seeds" / "X-T1_toy.csv")
    assert _statistic(table, "a", "accuracy", "mean") == pytest.approx(0.05)
    assert not (tmp_path / "tables").exists() and (folders / "01_toy.ipynb").read_bytes() == source
    # the same command resumed: nothing runs again; other parameters are refused before anything runs
    before = (run_dir / "seed-0" / "notebooks" / "01_toy.ipynb").stat().st_mtime_ns
    assert main(["reproduce", "--quiet", "--seeds", "0,1", "--resume", str(run_dir)]) == 0
    assert "done before" in capsys.readouterr().out
    assert (run_dir / "seed-0" / "notebooks" / "01_toy.ipynb").stat().st_mtime_ns == before
    assert main(["reproduce", "--quiet", "--seeds", "0,1", "--resume", str(run_dir), "-p", "nap", "0.5"]) == 2
    assert "other parameters" in capsys.readouterr().err
    assert main(["reproduce", "--quiet", "--seed", "1", "--seeds", "0"]) == 2


def test_a_failing_cell_fails_its_job_only(folders, capsys):
    _notebook(folders / "01_toy.ipynb", body="if seed == 1:\n    raise ValueError('broken on purpose')")
    assert main(["reproduce", "--quiet", "--seeds", "0,1"]) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in out and "ok" in out and "broken on purpose" not in out  # the summary, then the errors
    assert "01_toy.ipynb, seed 1" in err and "broken on purpose" in err and "seed-1/logs/01_toy.log" in err


def test_a_dead_kernel_here_fails_its_job(folders, tmp_path):
    _notebook(folders / "01_toy.ipynb")
    summary = grid.reproduce_seeds([0], params={"marker_dir": str(tmp_path), "exit_once": [0]}, progress=False)
    assert list(summary["status"]) == ["FAILED"] and "the kernel died" in summary.loc[0, "error"]


def test_batch_job_scripts_from_dask_jobqueue():
    """The README's SLURM and PBS clusters: their batch scripts, made without a batch system."""
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    with dask_jobqueue.SLURMCluster(cores=1, processes=1, job_cpu=8, memory="16GB", walltime="02:00:00",
                                    job_extra_directives=["--gres=gpu:1"],
                                    job_script_prologue=["export LEUKUTILS_DATA_MIRROR=/shared/data"],
                                    scheduler_options={"dashboard_address": None}) as cluster:
        script = cluster.job_script()
    assert "#SBATCH --cpus-per-task=8" in script and "#SBATCH --gres=gpu:1" in script
    assert "#SBATCH --mem=15G" in script and "export LEUKUTILS_DATA_MIRROR=/shared/data" in script
    assert "--nthreads 1" in script and "distributed.cli.dask_worker" in script
    with dask_jobqueue.PBSCluster(cores=1, processes=1, memory="32GB", walltime="04:00:00",
                                  resource_spec="select=1:ncpus=8:ngpus=1:mem=32GB",
                                  scheduler_options={"dashboard_address": None}) as cluster:
        script = cluster.job_script()
    assert "#PBS -l select=1:ncpus=8:ngpus=1:mem=32GB" in script and "--nthreads 1" in script


@pytest.mark.slow
def test_local_cluster_runs_seeds_retries_a_lost_worker_and_resumes(folders, tmp_path):
    """Two worker processes: seed 0's kernel dies once and seed 1 kills its worker once (both run again:
    ok), seed 2 kills its worker on every attempt (failed, with its log); resumed once seed 2 is spared,
    on a scheduler given by address, only seed 2 runs again."""
    _notebook(folders / "01_toy.ipynb")
    markers = tmp_path / "markers"
    markers.mkdir()
    params = {"marker_dir": str(markers), "exit_once": [0], "kill_once": [1], "kill_always": [2], "nap": 1.0}
    summary = grid.reproduce_seeds([0, 1, 2], params=params, cluster="local:2", progress=False)
    run_dir = Path(summary.attrs["run_dir"])
    assert dict(zip(summary["seed"], summary["status"])) == {0: "ok", 1: "ok", 2: "FAILED"}, summary.to_string()
    assert (markers / "attempt-0").read_text() == "kernel ended" and (markers / "attempt-1").read_text() == "killed"
    lost = summary[summary["seed"] == 2].iloc[0]
    assert "worker died on both attempts" in lost["error"] and lost["log"] == str(run_dir / "seed-2" / "logs" / "01_toy.log")
    assert Path(lost["log"]).is_file() and not (run_dir / "seed-2" / "done" / "01_toy.json").exists()
    # each job got its worker's share of the cores: as the kernel's OMP_NUM_THREADS and its `threads`
    share = max(1, grid.available_cores() // 2)
    assert json.loads((run_dir / "seed-0" / "environment.json").read_text()) == {"OMP_NUM_THREADS": str(share),
                                                                                 "threads": share}
    table = pd.read_csv(run_dir / "tables" / "seeds" / "X-T1_toy.csv")
    assert list(table["n_seeds"]) == [2, 2]
    assert _statistic(table, "a", "accuracy", "mean") == pytest.approx(0.05)
    assert _statistic(table, "b", "accuracy", "sd") == pytest.approx(0.1 / np.sqrt(2), abs=1e-4)  # written with 4 decimals
    assert (_statistic(table, "b", "accuracy", "min"), _statistic(table, "b", "accuracy", "max")) == (0.9, 1.0)

    # the same command resumed, through the CLI on a running scheduler of one worker: only seed 2 runs
    from distributed import LocalCluster

    (markers / "spare-2").write_text("")
    finished = {seed: (run_dir / f"seed-{seed}" / "done" / "01_toy.json").read_bytes() for seed in (0, 1)}
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        assert main(["reproduce", "--quiet", "--seeds", "0-2", "--scheduler", cluster.scheduler_address,
                     "--resume", str(run_dir), "-p", "marker_dir", str(markers), "-p", "exit_once", "[0]",
                     "-p", "kill_once", "[1]",
                     "-p", "kill_always", "[2]", "-p", "nap", "1.0"]) == 0
    again = pd.read_csv(run_dir / "summary.csv")
    assert list(again["status"]) == ["done before", "done before", "ok"]
    assert {seed: (run_dir / f"seed-{seed}" / "done" / "01_toy.json").read_bytes() for seed in (0, 1)} == finished
    assert json.loads((run_dir / "seed-2" / "environment.json").read_text())["threads"] == grid.available_cores()
    table = pd.read_csv(run_dir / "tables" / "seeds" / "X-T1_toy.csv")
    assert list(table["n_seeds"]) == [3, 3] and _statistic(table, "a", "accuracy", "max") == pytest.approx(0.2)


def test_seeds_note_shows_the_aggregate_of_a_grid_run_or_says_one_seed(tmp_path):
    assert "One seed (seed = 3)" in seeds.seeds_note(None, "P2-", seed=3)
    run_dir = tmp_path / "synthetic-20260101-000000"
    (run_dir / "seed-0").mkdir(parents=True)
    assert "One seed" in seeds.seeds_note(run_dir / "seed-0", "P2-")
    (run_dir / "tables" / "seeds").mkdir(parents=True)
    (run_dir / "tables" / "seeds" / "P2-T0_patient_level_metrics.md").write_text("| metric | mean |\n")
    (run_dir / "tables" / "seeds" / "P1-T1_x.md").write_text("other notebook\n")
    note = seeds.seeds_note(run_dir / "seed-0", "P2-")
    assert "P2-T0_patient_level_metrics over seeds" in note and "| metric | mean |" in note and "other" not in note
