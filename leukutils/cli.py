"""Command line: ``leukutils reproduce``, ``leukutils aggregate`` and ``leukutils data list|fetch|verify|where``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import config


def _reproduce(args: argparse.Namespace) -> int:
    from . import run

    params = {name: run.parse_value(value) for name, value in (args.param or [])}
    if args.seeds or args.cluster or args.scheduler or args.resume:
        return _reproduce_seeds(args, params)
    if args.threads is not None:
        print("error: --threads goes with --seeds; for one run, pass -p threads N", file=sys.stderr)
        return 2
    if args.seed is not None:
        params["seed"] = args.seed
    try:
        summary = run.reproduce(profile=args.profile, only=args.only, params=params, data_dir=args.data_dir,
                                device=args.device, output_root=args.output_root, progress=not args.quiet)
    except run.NotebookFailed as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        return 1
    except (run.UnknownNotebook, run.UnknownParameter, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(run.summary_text(summary))
    return 0


def _reproduce_seeds(args: argparse.Namespace, params: dict) -> int:
    """``reproduce --seeds``: the run grid, here or on a Dask cluster (:mod:`leukutils.grid`)."""
    from . import grid, run

    try:
        if args.seeds and args.seed is not None:
            raise ValueError("give either --seed or --seeds")
        if args.cluster and args.scheduler:
            raise ValueError("give either --cluster or --scheduler")
        if not args.seeds:
            raise ValueError("--cluster, --scheduler and --resume run the seed grid: give its seeds, e.g. --seeds 0,1,2")
        summary = grid.reproduce_seeds(grid.parse_seeds(args.seeds), profile=args.profile, only=args.only,
                                       params=params, data_dir=args.data_dir, device=args.device,
                                       output_root=args.output_root, resume=args.resume, cluster=args.cluster,
                                       scheduler=args.scheduler, threads=args.threads, progress=not args.quiet)
    except (run.UnknownNotebook, run.UnknownParameter, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(run.summary_text(summary))
    print(f"run folder: {summary.attrs['run_dir']}")
    failures = grid.failures_text(summary)
    if failures:
        print(f"\n{failures}", file=sys.stderr)
        return 1
    return 0


def _aggregate(args: argparse.Namespace) -> int:
    from .seeds import aggregate_run

    if not any(Path(args.run_dir).glob("seed-*/tables/*.csv")):
        print(f"error: {args.run_dir} holds no seed-<k>/tables/*.csv (a run of `leukutils reproduce --seeds`)",
              file=sys.stderr)
        return 2
    for path in aggregate_run(args.run_dir, args.out):
        print(path)
    return 0


def _data(args: argparse.Namespace) -> int:
    from .data import registry

    try:
        if args.action == "list":
            table = registry.status_table(args.mirror)
            print(table.drop(columns=["title"]).to_string(index=False))
            return 0
        if not args.name:
            print("a dataset name is needed; `leukutils data list` shows them", file=sys.stderr)
            return 2
        dataset = registry.get(args.name)
        if args.action == "where":
            found = registry.locate(args.name, mirror=args.mirror, check="none")
            if found is None:
                print(f"{args.name}: not present; would be fetched to {registry.default_root(dataset)}\n"
                      f"layout: {dataset.layout}\nlicence: {dataset.licence}\ncite: {dataset.citation}")
                return 1
            print(found)
            return 0
        if args.action == "verify":
            root = registry.verify(args.name, root=args.root, mirror=args.mirror, progress=not args.quiet)
            print(f"{args.name}: all {len(dataset.hashes()) or 'layout'} files verified under {root}")
            return 0
        if args.action == "fetch":
            root = registry.fetch(args.name, mirror=args.mirror, progress=not args.quiet)
            print(f"{args.name}: ready at {root}\nlicence: {dataset.licence}\ncite: {dataset.citation}")
            return 0
    except registry.DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leukutils", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="execute the notebooks with papermill and regenerate figures and tables")
    rep.add_argument("--profile", choices=config.profiles(), default=config.DEFAULT_PROFILE,
                     help="parameter set: the notebooks' own defaults, or leukutils/profiles/<profile>/*.yaml")
    rep.add_argument("--only", action="append", help="notebook numbers, e.g. --only 01,03")
    rep.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="a notebook parameter (papermill), repeatable")
    rep.add_argument("--data-dir", help="folder holding the real dataset for the notebooks that read one")
    rep.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    rep.add_argument("--seed", type=int, default=None)
    rep.add_argument("--output-root", help="write the run under this folder instead of runs/")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    grid = rep.add_argument_group("seeds and clusters", "run every notebook once per seed, each (notebook, seed) "
                                  "a job, into runs/<profile>-<stamp>/seed-<k>/; the tables are aggregated over "
                                  "seeds into tables/seeds/ there")
    grid.add_argument("--seeds", action="append", help="seeds, e.g. --seeds 0,1,2 or --seeds 0-9")
    grid.add_argument("--cluster", help="run the jobs on a new local Dask cluster of N worker processes: local:N")
    grid.add_argument("--scheduler", help="run the jobs on a running Dask cluster: tcp://HOST:8786")
    grid.add_argument("--resume", metavar="RUN_DIR", help="complete this run folder: jobs that finished there are skipped")
    grid.add_argument("--threads", type=int, help="CPU threads per job (default: a Dask worker's share of its cores)")
    rep.set_defaults(func=_reproduce)

    agg = sub.add_parser("aggregate", help="aggregate the tables of a --seeds run over its seeds")
    agg.add_argument("run_dir", help="runs/<profile>-<stamp>, holding seed-<k>/tables/")
    agg.add_argument("--out", help="write here instead of <run_dir>/tables/seeds/")
    agg.set_defaults(func=_aggregate)

    data = sub.add_parser("data", help="the registry of real datasets")
    data.add_argument("action", choices=("list", "fetch", "verify", "where"))
    data.add_argument("name", nargs="?")
    data.add_argument("--mirror", help=f"local mirror folder (default ${config.MIRROR_ENV})")
    data.add_argument("--root", help="verify this folder instead of the located one")
    data.add_argument("--quiet", action="store_true")
    data.set_defaults(func=_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
