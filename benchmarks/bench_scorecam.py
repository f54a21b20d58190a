"""Score-CAM: pytorch-grad-cam's ScoreCAM against leukutils.explain.FastScoreCAM, in one run.

Each method runs in its own subprocess on the same model and images, so that the peak resident
memory (``ru_maxrss``) of one does not hide the other's. Prints, per model: seconds per image, peak
memory, the speed-up and the largest absolute difference of the normalised heatmaps.

    python benchmarks/bench_scorecam.py                       # MobileNetV2 and DenseNet121, 224 px
    python benchmarks/bench_scorecam.py --size 96 --images 2 --models mobilenet_v2
    python benchmarks/bench_scorecam.py --weights mobilenet_v2=runs/models/mobilenet_v2.pt

Models have random (seeded) weights with batch-norm statistics estimated on random images
(:func:`leukutils.models.classifiers.calibrate_batch_norm`, so that scores depend on the masks), unless
``--weights name=path`` gives a trained state dict of ``build_classifier(name, 2)``. Timings on a shared machine vary from run to run; the ratio is
measured within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    """Run one method and write heatmaps (.npy) and a JSON line with time and memory."""
    import resource

    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    from leukutils.explain import cam_heatmaps
    from leukutils.models.classifiers import build_classifier, calibrate_batch_norm

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_classifier(args.model, 2, weights=args.weight_path or None).eval()
    generator = torch.Generator().manual_seed(1)
    if not args.weight_path:  # random weights: estimate batch-norm statistics so outputs depend on the input
        calibrate_batch_norm(model, torch.rand(16, 3, args.size, args.size, generator=generator))
    images = torch.rand(args.images, 3, args.size, args.size, generator=generator)
    with torch.no_grad():
        targets = model(images).argmax(1).tolist()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    maps = cam_heatmaps(model, images, method=args.method, targets=targets, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(args.out, maps)
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "rss_before_mib": rss_before}))


def run_method(model: str, method: str, args: argparse.Namespace, out: Path, batch_size: int) -> dict:
    command = [sys.executable, __file__, "--child", "--model", model, "--method", method,
               "--size", str(args.size), "--images", str(args.images), "--threads", str(args.threads),
               "--batch-size", str(batch_size), "--out", str(out)]
    if model in args.weight_map:
        command += ["--weight-path", args.weight_map[model]]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONWARNINGS="ignore")
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{model}/{method} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "densenet121"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fast-batch", type=int, default=8,
                        help="masked inputs per forward pass of FastScoreCAM (8 is fastest at 224 px on 2 cores)")
    parser.add_argument("--weights", nargs="*", default=[], help="name=path of a trained state dict")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--weight-path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import numpy as np
    import pandas as pd

    args.weight_map = dict(item.split("=", 1) for item in args.weights)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            # pytorch-grad-cam's default batch of 16 for ScoreCAM; --fast-batch masked inputs per pass for the fast one
            base = run_method(model, "scorecam", args, Path(tmp) / "base.npy", batch_size=16)
            fast = run_method(model, "fast_scorecam", args, Path(tmp) / "fast.npy", batch_size=args.fast_batch)
            diff = float(np.abs(np.load(Path(tmp) / "base.npy") - np.load(Path(tmp) / "fast.npy")).max())
            for name, r in (("ScoreCAM (pytorch-grad-cam)", base), ("FastScoreCAM", fast)):
                rows.append({"model": model, "method": name, "s_per_image": r["seconds"] / args.images,
                             "peak_MiB": r["peak_mib"], "peak_above_model_MiB": r["peak_mib"] - r["rss_before_mib"],
                             "speed_up": base["seconds"] / r["seconds"], "max_abs_diff": diff})
    table = pd.DataFrame(rows)
    print(f"Score-CAM, {args.images} image(s) {args.size}×{args.size}, {args.threads} thread(s), "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
