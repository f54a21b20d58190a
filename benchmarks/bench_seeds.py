"""Seeds on a local Dask cluster against the same seeds run one after another, measured in the same run.

Run: ``python benchmarks/bench_seeds.py [--only 02] [--seeds 0,1,2] [--workers 2]``. Times, as
subprocesses from this checkout:

* baseline: ``leukutils reproduce --only NN --seed k`` once per seed, one after another;
* ``leukutils reproduce --only NN --seeds 0,1,2 --cluster local:W`` (cluster start-up included).

Prints both wall times, their ratio (baseline / cluster; W is the most it can be, less the cluster's
start-up and the kernels' share of the cores), and whether each seed's tables are byte-identical in
the two runs. Each job of the cluster run gets ``cores // W`` threads (``leukutils.grid``); the
baseline keeps the notebook's own setting, so on a machine with more cores than workers the two runs
differ in threads too (pass ``--threads`` to give both the same). Runs write into a temporary folder,
removed at the end.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def leukutils(*args: str) -> float:
    """Run ``python -m leukutils ARGS`` from the checkout; return its wall time in seconds."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "leukutils", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"leukutils {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def tables_identical(first: Path, second: Path) -> bool:
    """Whether two tables folders hold the same files with the same bytes."""
    names = sorted(p.name for p in first.glob("*.csv"))
    if not names or names != sorted(p.name for p in second.glob("*.csv")):
        return False
    return all(filecmp.cmp(first / name, second / name, shallow=False) for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="02", help="the notebook number (default 02)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster")
    parser.add_argument("--threads", type=int, help="CPU threads per job in both runs (-p threads and --threads)")
    parser.add_argument("--show", default="P2-T0", help="print the tables aggregated over seeds whose id starts so")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    threads_parameter = ["-p", "threads", str(args.threads)] if args.threads else []
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as scratch:
        scratch = Path(scratch)
        sequential = 0.0
        for seed in seeds:
            sequential += leukutils("reproduce", "--quiet", "--only", args.only, "--seed", str(seed),
                                    "--output-root", str(scratch / f"one-{seed}"), *threads_parameter)
        grid_threads = ["--threads", str(args.threads)] if args.threads else []
        cluster = leukutils("reproduce", "--quiet", "--only", args.only, "--seeds", args.seeds, "--cluster",
                            f"local:{args.workers}", "--output-root", str(scratch / "cluster"), *grid_threads)
        run_dir = next((scratch / "cluster").iterdir())
        identical = [tables_identical(next((scratch / f"one-{seed}").iterdir()) / "tables",
                                      run_dir / f"seed-{seed}" / "tables") for seed in seeds]
        aggregated = {path.stem: path.read_text() for path in sorted((run_dir / "tables" / "seeds").glob(f"{args.show}*.md"))}
    print(f"notebook {args.only}, seeds {args.seeds}, {os.cpu_count()} cores")
    print(f"{'run':<52}{'wall (s)':>10}")
    print(f"{f'{len(seeds)} x reproduce --seed k, one after another':<52}{sequential:>10.1f}")
    print(f"{f'reproduce --seeds {args.seeds} --cluster local:{args.workers}':<52}{cluster:>10.1f}")
    print(f"ratio (one after another / cluster): {sequential / cluster:.2f}")
    print(f"tables byte-identical per seed: {', '.join(f'{s}: {i}' for s, i in zip(seeds, identical))}")
    for name, text in aggregated.items():
        print(f"\n{name}, aggregated over seeds {args.seeds}:\n{text}")


if __name__ == "__main__":
    main()
