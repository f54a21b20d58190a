"""Speed of the synthetic generator, against a naive per-pixel renderer measured in the same run.

Run: ``python benchmarks/bench_synth.py [--quick]``. Prints one table:

* single-cell 128×128 crops per second (``render_cell``), one core;
* the same cell drawn by a naive renderer (a Python loop over pixels evaluating the same polar
  outline, chromatin and Beer–Lambert colour) — the baseline of the ratio column;
* 640×480 smear fields per second (``render_field``: 4 white cells, red cells, platelets, optics);
* the default datasets of every writer (the synthetic data of the notebooks) built cold into an empty
  cache, then again from the cache.

Bars: ≥ 300 crops/s, ≥ 20 fields/s on one core; synthetic data ≤ 30 s cold, ≤ 2 s cached. Timings on a
shared machine vary; the ratio against the baseline measured in the same run is the stable number.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

from leukutils.data import synth  # noqa: E402
from leukutils.data.synth import stain as stain_module  # noqa: E402

WRITERS = ("cnmc", "all_idb1", "all_idb2", "bccd", "segmentation_wbc", "class_folders", "fab", "patients")


def naive_cell(rng: np.random.Generator, size: int = 128, mpp: float = 18 / 128) -> np.ndarray:
    """A lymphoblast drawn pixel by pixel in Python: the baseline the vectorised renderer is compared to."""
    radius = 0.5 * 11.8 / mpp
    harmonics = [(k, rng.normal(0, 0.03), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5)]
    nucleus_harmonics = [(k, rng.normal(0, 0.06), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4, 5, 6)]
    coarse = rng.standard_normal((size // 4 + 2, size // 4 + 2))
    od = stain_module.REFERENCE_OD
    background = stain_module.REFERENCE_BACKGROUND
    image = np.zeros((size, size, 3), np.uint8)
    c = (size - 1) / 2
    for y in range(size):
        for x in range(size):
            dy, dx = y - c, x - c
            r, theta = math.hypot(dy, dx), math.atan2(dy, dx)
            cell_r = radius * (1 + sum(a * math.cos(k * theta + p) for k, a, p in harmonics))
            nuc_r = 0.87 * radius * (1 + sum(a * math.cos(k * theta + p) for k, a, p in nucleus_harmonics))
            cell = min(max((cell_r - r) / 0.8 + 0.5, 0.0), 1.0)
            nucleus = min(max((nuc_r - r) / 0.8 + 0.5, 0.0), 1.0)
            texture = math.tanh(coarse[y // 4, x // 4])
            dyes = (0.6 * cell, 0.06 * cell, 1.05 * math.exp(0.24 * texture) * nucleus)
            for channel in range(3):
                density = sum(dyes[k] * od[k, channel] for k in range(3))
                image[y, x, channel] = int(min(255, 255 * background[channel] * math.exp(-density)))
    return image


def rate(function, n: int) -> tuple[float, float]:
    """Calls per second of CPU time of this process (one core; not disturbed by other processes sharing
    the machine) and per second of wall time."""
    function()                                           # warm-up (caches, imports)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        function()
    return n / (time.process_time() - start_cpu), n / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no dataset build")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    types = ["lymphoblast", "lymphocyte", "hematogone", "neutrophil", "monocyte"]
    counter = iter(range(10 ** 9))
    n_cells, n_fields, n_naive = (60, 10, 1) if args.quick else (400, 60, 3)

    crops = rate(lambda: synth.render_cell(rng, types[next(counter) % len(types)], size=128), n_cells)
    naive = rate(lambda: naive_cell(rng), n_naive)
    fields = rate(lambda: synth.render_field(rng, (480, 640), 0.11, ["neutrophil", "lymphoblast", "lymphocyte",
                                                                      "monocyte"]), n_fields)
    rows = [("single-cell crops 128x128 / CPU s", crops[0], 300, "higher", crops[0] / naive[0]),
            ("  same, per wall-clock s", crops[1], None, "higher", crops[1] / naive[1]),
            ("naive per-pixel crops / CPU s (baseline)", naive[0], None, "higher", 1.0),
            ("smear fields 640x480 / CPU s", fields[0], 20, "higher", None),
            ("  same, per wall-clock s", fields[1], None, "higher", None)]
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["LEUKUTILS_DATA_CACHE"] = tmp
            start, start_cpu = time.perf_counter(), time.process_time()
            for name in WRITERS:
                getattr(synth, name)()
            cold, cold_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            start = time.perf_counter()
            for name in WRITERS:
                getattr(synth, name)()
            warm = time.perf_counter() - start
        rows += [("synthetic data, all writers, cold (wall s)", cold, 30, "lower", None),
                 ("  same, CPU s", cold_cpu, None, "lower", None),
                 ("synthetic data, all writers, cached (s)", warm, 2, "lower", cold / warm)]

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'measure':40s} {'value':>10s} {'bar':>6s} {'meets':>6s} {'ratio':>9s}")
    for name, value, bar, better, ratio in rows:
        meets = "" if bar is None else ("yes" if (value >= bar if better == "higher" else value <= bar) else "NO")
        ratio_text = "" if ratio is None else f"{ratio:8.0f}x"
        print(f"{name:40s} {value:10.3f} {'' if bar is None else bar:>6} {meets:>6s} {ratio_text:>9s}")
    print("ratio: crops against the naive per-pixel renderer; cached against cold build (same run)")


if __name__ == "__main__":
    main()
