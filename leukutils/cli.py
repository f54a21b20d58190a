"""Command line: ``leukutils reproduce`` and ``leukutils data list|fetch|verify|where``."""
from __future__ import annotations

import argparse
import sys

from . import config


def _reproduce(args: argparse.Namespace) -> int:
    from . import run

    params = {name: run.parse_value(value) for name, value in (args.param or [])}
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
    rep.set_defaults(func=_reproduce)

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
