"""Feature caching for the series-length grid of paper 2 (P2-F7): cached frozen features against
recomputing the backbone for every batch.

Both paths train the same LSTMs on the same generated series (lengths 1…32 × seeds, stage 2 only, from
one stage-1 model per seed) with the same random augmented view per position; the cached path encodes
every (cell, view) once into a FeatureBank, the baseline runs AlexNet on the cells of every batch.
The script checks that both give the same losses and accuracies and prints the time ratio.

    python benchmarks/bench_feature_cache.py [--size 224] [--seeds 2] [--series 8] [--epochs 2]
"""
from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch

from leukutils import config
from leukutils.data import bags, readers, synth
from leukutils.features import CellEncoder, FeatureBank
from leukutils.models import mil
from leukutils.models.weights import PretrainedWeightsUnavailable
from leukutils.train import SeriesStep, fit


def cell_pool(n_cells: int, seed: int = 0):
    root = synth.patients(n_patients=8, smears_per_patient=2, seed=seed + 100, shape=(240, 320), mpp=0.22,
                          cells_per_smear=(3, 6), blast_fraction=(0.3, 0.9))
    crops, is_blast, _ = bags.cell_pool_from_records(readers.read_voc(root, bad_boxes="drop"), readers.load_image,
                                                     size=64, blast_names=synth.BLAST_TYPES)
    return crops[:n_cells], is_blast[:n_cells]


def train_series(model, bank, series, labels, epochs, seed, encode=None):
    """Adam (lr 1e-3) and cross-entropy on the series, as a stage of paper 2's training; returns the history."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return fit(model, SeriesStep(bank, series, labels, encode=encode), epochs=epochs, optimizer=optimizer, seed=seed,
               progress=False)


def run_grid(bank, normal, blast, lengths, seeds, n_series, epochs, encode=None):
    """Train stage 1 once per seed, then stage 2 at every length; returns [(length, seed, loss, accuracy)]."""
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        pre = mil.LSTMClassifier(bank.dim)
        pre.set_input_scale(bank.features.reshape(-1, bank.dim))
        s, y = bags.make_series(normal, blast, n_series, 1, seed=seed)
        train_series(pre, bank, s, y, epochs=epochs, seed=seed, encode=encode)
        for length in lengths:
            model = copy.deepcopy(pre)
            s, y = bags.make_series(normal, blast, n_series, length, seed=seed * 100 + length)
            h = train_series(model, bank, s, y, epochs=epochs, seed=seed * 100 + length, encode=encode)
            out.append((length, seed, h["train_loss"].iloc[-1], h["train_accuracy"].iloc[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="backbone input side (px); the paper's is 224")
    parser.add_argument("--cells", type=int, default=48, help="cells in the training pool")
    parser.add_argument("--views", type=int, default=2, help="augmented views per cell")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--series", type=int, default=8, help="series per length and stage")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config.seed_everything(0)
    warnings.simplefilter("ignore", PretrainedWeightsUnavailable)

    crops, is_blast = cell_pool(args.cells)
    normal, blast = np.flatnonzero(~is_blast), np.flatnonzero(is_blast)
    views = bags.augment_cells(crops, n_views=args.views, seed=0)
    lengths, seeds = list(range(1, args.max_length + 1)), list(range(args.seeds))

    # cached: encode every (cell, view) once, then train the whole grid from the bank
    torch.manual_seed(0)
    encoder = CellEncoder("alexnet", weights="imagenet", input_size=args.size, layer="pool")
    start = time.perf_counter()
    bank = FeatureBank.from_images(encoder, views, bags.blank_image(64))
    encode_s = time.perf_counter() - start
    cached = run_grid(bank, normal, blast, lengths, seeds, args.series, args.epochs)
    cached_s = time.perf_counter() - start

    # baseline: run the backbone on the cells of every batch (blank features reused: a generous baseline)
    def recompute(series, generator):
        idx = torch.as_tensor(series, dtype=torch.long)
        view = (torch.randint(0, bank.n_views, idx.shape, generator=generator) if generator is not None
                else torch.zeros_like(idx))  # the same draw as FeatureBank.gather
        out = bank.blank.expand(*idx.shape, bank.dim).clone()
        real = idx >= 0
        if real.any():
            out[real] = encoder.compute(views[idx[real].numpy(), view[real].numpy()])
        return out

    n_before = encoder.computed
    start = time.perf_counter()
    recomputed = run_grid(bank, normal, blast, lengths, seeds, args.series, args.epochs, encode=recompute)
    recompute_s = time.perf_counter() - start
    images = encoder.computed - n_before

    a, b = np.array(cached), np.array(recomputed)
    same_accuracy = bool(np.array_equal(a[:, 3], b[:, 3]))
    loss_gap = float(np.abs(a[:, 2] - b[:, 2]).max())
    print(f"grid: lengths 1..{args.max_length} x {args.seeds} seeds, {args.series} series/length, {args.epochs} epoch(s); "
          f"AlexNet at {args.size} px, {len(crops)} cells x {args.views} views; torch threads {args.threads}")
    print("| path | backbone images | seconds | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| recompute per batch (baseline) | {images} | {recompute_s:.1f} | 1.0 |")
    print(f"| cached features (encode {encode_s:.1f} s + LSTMs) | {len(crops) * args.views + 1} | {cached_s:.1f} | "
          f"{recompute_s / cached_s:.1f}x |")
    print(f"same result: accuracies identical = {same_accuracy}; max |loss difference| = {loss_gap:.2e}")


if __name__ == "__main__":
    main()
