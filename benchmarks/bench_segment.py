"""Speed of the handcrafted nucleus segmentation (paper 3, Algorithm 1) at 300×300 on one core.

Compares :func:`leukutils.segment.segment_nuclei` (OpenCV) with
:func:`leukutils.segment.segment_nuclei_skimage`, a direct scikit-image/SciPy rendering of the same
algorithm, measured in the same run on the same images, and checks that both give the same masks.
Run: ``python benchmarks/bench_segment.py [--images N] [--size 300]``. Images are real JTSC cells
(resized) when ``LEUKUTILS_DATA_MIRROR`` points at the data mirror, else synthetic JTSC-like cells.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from leukutils import config, segment  # noqa: E402
from leukutils.data import readers, synth  # noqa: E402
from leukutils.metrics import mask_scores  # noqa: E402


def load_images(n: int, size: int) -> tuple[list[np.ndarray], str]:
    mirror = config.mirror_dir()
    folder = None if mirror is None else mirror / "wbc-seg-jtsc"
    if folder is not None and folder.is_dir():
        records, source = readers.read_segmentation_wbc(folder), "JTSC (real)"
    else:
        records, source = readers.read_segmentation_wbc(synth.segmentation_wbc(n_images=n, seed=0)), "synthetic"
    images = [cv2.resize(readers.load_image(r.path), (size, size), interpolation=cv2.INTER_LINEAR)
              for r in records[:n]]
    return images, source


def rate(function, images, repeats: int = 3) -> float:
    """Best-of-``repeats`` throughput in images per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for image in images:
            function(image)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--size", type=int, default=300)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    images, source = load_images(args.images, args.size)
    fast = rate(segment.segment_nuclei, images)
    reference_images = images[: max(5, len(images) // 6)]
    reference = rate(segment.segment_nuclei_skimage, reference_images, repeats=1)
    agreement = np.mean([mask_scores(segment.segment_nuclei(im), segment.segment_nuclei_skimage(im))["dice"]
                         for im in reference_images])
    print(f"handcrafted nucleus segmentation, {len(images)} {source} images at {args.size}×{args.size}, one core")
    print(f"| implementation             | images/s | ratio |")
    print(f"|:---------------------------|---------:|------:|")
    print(f"| scikit-image (reference)   | {reference:8.1f} |  1.00 |")
    print(f"| OpenCV (segment_nuclei)    | {fast:8.1f} | {fast / reference:5.1f} |")
    print(f"mask agreement (mean Dice, OpenCV vs scikit-image): {agreement:.4f}; target ≥ 200 images/s: "
          f"{'met' if fast >= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
