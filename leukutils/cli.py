"""Command line: ``leukutils reproduce``, ``leukutils aggregate``, ``leukutils data list|fetch|verify|where``,
``leukutils predict`` / ``leukutils segment`` (apply a saved model to image files) and ``leukutils audit``
(notebook 04's tests on any classifier, as an executed notebook)."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import apply, audit, config, grid, model_cards, parameters, run
from .data import registry
from .seeds import aggregate_run


def _reproduce(args: argparse.Namespace) -> int:
    """``leukutils reproduce``: one run of the notebooks (:func:`leukutils.run.reproduce`), or the seed grid.

    Parameters
    ----------
    args : the parsed command line.

    Returns
    -------
    int, the exit status: 0 when every notebook ran, 1 when one failed, 2 when the command or a
    parameter is wrong (said on stderr before any notebook starts).
    """
    params = {name: parameters.parse_value(value) for name, value in (args.param or [])}
    if args.publish and (args.seeds or args.profile == config.DEFAULT_PROFILE):
        print(f"error: --publish publishes one run of a profile other than {config.DEFAULT_PROFILE} (whose run is "
              f"committed in place), e.g. --profile real --publish; not a seed grid", file=sys.stderr)
        return 2
    if args.seeds or args.cluster or args.scheduler or args.resume:
        return _reproduce_seeds(args, params)
    if args.threads is not None:
        print("error: --threads goes with --seeds; for one run, pass -p threads N", file=sys.stderr)
        return 2
    if args.seed is not None:
        params["seed"] = args.seed
    try:
        summary = run.reproduce(profile=args.profile, only=args.only, params=params, data_dir=args.data_dir,
                                device=args.device, output_root=args.output_root, progress=not args.quiet,
                                publish=args.publish)
    except run.NotebookFailed as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as error:  # an unknown notebook or parameter, a bad value
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(run.summary_text(summary))
    return 0


def _reproduce_seeds(args: argparse.Namespace, params: dict) -> int:
    """``reproduce --seeds``: the run grid, here or on a Dask cluster (:mod:`leukutils.grid`)."""
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
    except (ValueError, OSError) as error:  # an unknown notebook or parameter, a bad value, a missing folder
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
    if not any(Path(args.run_dir).glob("seed-*/tables/*.csv")):
        print(f"error: {args.run_dir} holds no seed-<k>/tables/*.csv (a run of `leukutils reproduce --seeds`)",
              file=sys.stderr)
        return 2
    for path in aggregate_run(args.run_dir, args.out):
        print(path)
    return 0


def _data(args: argparse.Namespace) -> int:
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


#: Exit status of ``predict`` and ``segment`` when some images failed (2 is a set-up error: nothing read).
SOME_FAILED_STATUS = 1


def _failed_status(table, what: str) -> int:
    """Report the failed rows of ``table`` on stderr (each with its reason, then how many); the exit
    status is :data:`SOME_FAILED_STATUS` when any failed, 0 when none did."""
    failed = table[table["status"] == "failed"]
    for path, reason in zip(failed["path"], failed["reason"]):
        print(f"failed: {path}: {reason}", file=sys.stderr)
    if len(failed):
        print(f"{len(failed)} of {len(table)} images failed; {what} for the other {len(table) - len(failed)}",
              file=sys.stderr)
    return SOME_FAILED_STATUS if len(failed) else 0


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print the warnings caught while predicting on stderr: the images the model was not made for
    (:class:`leukutils.apply.UnsuitedImageWarning`) as one ``warning:`` line, any other as Python shows it."""
    for warning in caught:
        if issubclass(warning.category, apply.UnsuitedImageWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


def _predict(args: argparse.Namespace) -> int:
    caught: list[warnings.WarningMessage] = []
    try:
        device = config.choose_device(args.device)
        if args.cam and not args.cam_dir:
            raise ValueError("--cam needs --cam-dir, the folder of its images")
        model, card, transform = model_cards.load_classifier(args.model)
        paths = apply.find_images(args.images)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", apply.UnsuitedImageWarning)
            table = apply.predict_images(model, paths, transform, card["classes"], device=device,
                                         batch_size=args.batch_size, cam=args.cam, cam_dir=args.cam_dir,
                                         progress=not args.quiet)
    except (model_cards.ModelCardError, FileNotFoundError, ValueError, KeyError, RuntimeError) as error:
        _show_warnings(caught)
        print(f"error: {error}", file=sys.stderr)
        return 2
    _show_warnings(caught)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, lineterminator="\n")
    print(f"{args.out}: {int((table['status'] == 'ok').sum())} of {len(table)} images classified"
          + (f"; CAM panels in {args.cam_dir}" if args.cam else ""))
    return _failed_status(table, "predictions written")


#: The audit notebook that ``leukutils audit`` executes (shipped with the package).
AUDIT_NOTEBOOK = Path(__file__).parent / "notebooks" / "audit.ipynb"


def _audit(args: argparse.Namespace) -> int:
    """``leukutils audit``: check that the model can be explained (before any image is read), then execute
    the audit notebook with papermill into ``--out`` (``audit.ipynb``, its log, ``tables/``, ``figures/``).
    Exit status 0 when the audit ran, 1 when a cell failed, 2 when the model or the command is wrong."""
    out = Path(args.out)
    try:
        model = audit.load_audited_model(args.model, args.layer or "")
        missing = [path for path in args.images if not Path(path).exists()]
        if missing:
            raise FileNotFoundError(f"no such image file or folder: {', '.join(missing)}")
        bad = [item for item in args.label or [] if "=" not in item]
        if bad:
            raise ValueError(f"--label takes FOLDER=CLASS, got {', '.join(bad)}")
        folder_classes = dict(item.split("=", 1) for item in args.label or [])
        audit.folder_labels(model.classes, folder_classes)
        if args.masks and not Path(args.masks).is_dir():
            raise FileNotFoundError(f"--masks {args.masks} is not a folder")
    except (audit.AuditError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    values = {"model_path": str(Path(args.model).resolve()), "images": [str(Path(p).resolve()) for p in args.images],
              "folder_classes": folder_classes,
              "masks": str(Path(args.masks).resolve()) if args.masks else "", "layer": args.layer or "",
              "max_images": args.max_images, "cam_images": args.cam_images, "seed": args.seed, "n_boot": args.n_boot,
              "device": args.device, "output_dir": str(out.resolve())}
    print(f"auditing {args.model}: the notebook runs in {out / 'audit.ipynb'} (log {out / 'audit.log'})")
    try:
        run.execute(AUDIT_NOTEBOOK, out / "audit.ipynb", values, out / "audit.log")
    except run.NotebookFailed as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        return 1
    verdicts = sorted((out / "tables").glob("A-T0_*.md"))
    if verdicts:
        print(verdicts[0].read_text())
    print(f"audit written: {out / 'audit.ipynb'}; tables in {out / 'tables'}, figures in {out / 'figures'}")
    return 0


def _segment(args: argparse.Namespace) -> int:
    params = {name: value for name, value in (
        ("min_area", args.min_area), ("closing_size", args.closing_size), ("dilation", args.dilation),
        ("bilateral_diameter", args.bilateral_diameter), ("bilateral_sigma_colour", args.bilateral_sigma_colour),
        ("bilateral_sigma_space", args.bilateral_sigma_space)) if value is not None}
    if args.no_colour_correct:
        params["colour_correct"] = False
    try:
        device = config.choose_device(args.device)
        unet, size = None, None
        if args.unet:
            channels = [int(c) for c in args.unet_channels.split(",")] if args.unet_channels else None
            unet, unet_card = model_cards.load_unet(args.unet, channels=channels, size=args.unet_size)
            size = unet_card["size"]
        elif args.unet_channels or args.unet_size:
            raise ValueError("--unet-channels and --unet-size describe the checkpoint given with --unet")
        paths = apply.find_images(args.images)
        table = apply.segment_images(paths, args.out, unet=unet, unet_size=size or 128,
                                     unet_threshold=args.unet_threshold, device=device, batch_size=args.batch_size,
                                     progress=not args.quiet, **params)
    except (model_cards.ModelCardError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = Path(args.summary) if args.summary else Path(args.out) / "nuclei.csv"
    summary.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(summary, index=False, lineterminator="\n")
    method = "Algorithm 1 AND U-Net" if unet is not None else "Algorithm 1"
    print(f"{args.out}: {int((table['status'] == 'ok').sum())} of {len(table)} masks ({method}); summary {summary}")
    return _failed_status(table, "masks written")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leukutils", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="execute the notebooks with papermill and regenerate figures and tables")
    rep.add_argument("--profile", choices=parameters.profiles(), default=config.DEFAULT_PROFILE,
                     help="parameter set: the notebooks' own defaults, or leukutils/profiles/<profile>/*.yaml")
    rep.add_argument("--only", action="append", help="notebook numbers, e.g. --only 01,03")
    rep.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="a notebook parameter (papermill), repeatable; its value is checked against the "
                     "notebook's default (type and range) before anything runs, and any -p makes the run write "
                     "under runs/<profile>-<stamp>/")
    rep.add_argument("--data-dir", help="folder holding the real dataset for the notebooks that read one")
    rep.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    rep.add_argument("--seed", type=int, default=None)
    rep.add_argument("--output-root", help="write the run under this folder instead of runs/")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.add_argument("--publish", action="store_true", help="copy the finished run into results/<profile>/ with a "
                     "provenance card per notebook and SUMMARY.md (profiles other than the default)")
    seed_options = rep.add_argument_group("seeds and clusters", "run every notebook once per seed, each (notebook, "
                                          "seed) a job, into runs/<profile>-<stamp>/seed-<k>/; the tables are "
                                          "aggregated over seeds into tables/seeds/ there")
    seed_options.add_argument("--seeds", action="append", help="seeds, e.g. --seeds 0,1,2 or --seeds 0-9")
    seed_options.add_argument("--cluster", help="run the jobs on a new local Dask cluster of N worker processes: local:N")
    seed_options.add_argument("--scheduler", help="run the jobs on a running Dask cluster: tcp://HOST:8786")
    seed_options.add_argument("--resume", metavar="RUN_DIR", help="complete this run folder: jobs that finished there are skipped")
    seed_options.add_argument("--threads", type=int, help="CPU threads per job (default: a Dask worker's share of its cores)")
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

    failed = ("Images that cannot be read are listed on stderr and in the CSV (status failed, reason) while "
              "the rest are processed; the exit status is 1 when any failed, 0 when none did, 2 for an error "
              "before any image was read.")
    pre = sub.add_parser("predict", help="apply a saved classifier (.pt with its JSON card) to image files",
                         description="Class probabilities of image files (or folders, searched recursively) by a "
                         "classifier saved with its model card (notebook 01's models/01_<name>_<key>.pt and .json); "
                         "the card's preprocessing is applied. " + failed + " Images the model was not made for "
                         "(no colour: grey, or RGB with equal channels; shorter side under half the card's "
                         "image_size) are classified all the same, flagged in the reason column and named in "
                         "one warning on stderr.")
    pre.add_argument("model", help="the .pt state dict; its card <name>.json lies beside it")
    pre.add_argument("images", nargs="+", help="image files and folders")
    pre.add_argument("--out", default="predictions.csv",
                     help="CSV: path, status, reason (why it failed or is flagged), predicted, p_<class> per "
                     "class (default predictions.csv)")
    pre.add_argument("--cam", choices=("gradcam", "gradcam++", "hirescam", "xgradcam", "scorecam", "fast_scorecam"),
                     help="also draw this CAM of the predicted class for each image")
    pre.add_argument("--cam-dir", help="folder of the CAM panels, one <image name>.png per image")
    pre.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    pre.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(func=_predict)

    aud = sub.add_parser("audit", help="notebook 04's tests on a classifier of your own, as an executed notebook",
                         description="Audit a classifier: accuracy and balanced accuracy beside the majority baseline, "
                         "accuracy and predictions under the shortcut probes (tint equalised, each corner inpainted, a shared "
                         "mark inpainted), Grad-CAM and Score-CAM agreement (MR-SSIM) and its cascading randomisation, and "
                         "localisation on --masks or on the handcrafted cells, each with its interval, in one verdict table "
                         "(A-T0). MODEL is a .pt with the compendium's card, or a TorchScript file with a card "
                         '{"format": "torchscript", "classes": [...], "input_size": S, "layer": "..."} (see leukutils.audit). '
                         "A model that cannot be explained stops before any image is read; unreadable images are listed and "
                         "skipped.")
    aud.add_argument("model", help="the .pt (compendium card beside it) or TorchScript file (its card beside it)")
    aud.add_argument("images", nargs="+", help="image files and folders; folders named like the card's classes give labels")
    aud.add_argument("--label", action="append", metavar="FOLDER=CLASS",
                     help="images in folders named FOLDER have the model's class CLASS (repeatable), e.g. --label Early=ALL")
    aud.add_argument("--masks", help="folder of ground-truth masks named like the images (default: handcrafted cells)")
    aud.add_argument("--out", default="audit", help="folder of the executed notebook, tables and figures (default audit/)")
    aud.add_argument("--layer", help="module to explain, a dotted name (default: the card's, else the last convolutional stage)")
    aud.add_argument("--max-images", type=int, default=0, help="at most this many images, class shares kept (0: all)")
    aud.add_argument("--cam-images", type=int, default=50, help="images whose CAMs are computed (default 50)")
    aud.add_argument("--seed", type=int, default=0)
    aud.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of every interval (default 1000)")
    aud.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    aud.set_defaults(func=_audit)

    seg = sub.add_parser("segment", help="nucleus masks of image files (Algorithm 1, optionally AND a U-Net)",
                         description="Nucleus masks (0/255 PNG named after each image) by paper 3's Algorithm 1 "
                         "with Table A1's parameters unless given, optionally ANDed with a U-Net fold of "
                         "notebook 03 (paper 3's ensemble). " + failed)
    seg.add_argument("images", nargs="+", help="image files and folders")
    seg.add_argument("--out", required=True, help="folder of the masks")
    seg.add_argument("--summary", help="CSV: path, status, reason, mask_path, nucleus_pixels (default OUT/nuclei.csv)")
    algorithm = seg.add_argument_group("Algorithm 1 (default: Table A1)")
    algorithm.add_argument("--min-area", type=int, help="smallest nucleus region kept, px (150)")
    algorithm.add_argument("--closing-size", type=int, help="side of the closing element, px (3)")
    algorithm.add_argument("--dilation", type=int, help="radius of a final dilation, px (0)")
    algorithm.add_argument("--bilateral-diameter", type=int, help="bilateral filter kernel, px (9)")
    algorithm.add_argument("--bilateral-sigma-colour", type=float, help="bilateral colour sigma, grey levels (50)")
    algorithm.add_argument("--bilateral-sigma-space", type=float, help="bilateral spatial sigma, px (50)")
    algorithm.add_argument("--no-colour-correct", action="store_true", help="skip the grey-world colour constancy")
    deep = seg.add_argument_group("U-Net (the mask is then Algorithm 1's AND the U-Net's)")
    deep.add_argument("--unet", help="a U-Net fold, e.g. models/03_unet/unet_fold0.pt (its card beside it)")
    deep.add_argument("--unet-channels", help="channels per level, e.g. 8,16,32,64,128 (default: the card's)")
    deep.add_argument("--unet-size", type=int, help="input side of the U-Net, px (default: the card's)")
    deep.add_argument("--unet-threshold", type=float, default=0.5, help="probability threshold (0.5)")
    seg.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    seg.add_argument("--batch-size", type=int, default=8, help="images at a time (default 8)")
    seg.add_argument("--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(func=_segment)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
