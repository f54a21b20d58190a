"""How notebook 02's synthetic profile was chosen: on a *validation* cohort, never on its test patients.

The validation cohort is built like the notebook's test cohort (same generator parameters) with another
seed (``seed + 4`` instead of ``seed + 3``); the detector, the training pool and the frozen encoder are
the notebook's. Two questions:

1. *Blast fraction.* For each candidate range, the best any counting rule can do: a logistic regression
   on the pool's cell features calls each cell blast or normal, and a patient is ALL when at least ``k``
   cells pass a threshold ``t``; ``t`` and ``k`` are chosen on the validation patients themselves (an
   optimistic bound). With 2–25 % blasts it stays below the 0.85 sensitivity and specificity asked of
   the notebook; hematogones (blast mimics among the normal cells) are why.
2. *Schedule.* Patient-level sensitivity and specificity (all cells) and the accuracy averaged over
   partitions of 8/16/32 cells, per training schedule, over random backbones (no ImageNet weights here:
   the frozen AlexNet is drawn with ``--encoder-seeds``) × model seeds; and how many of those runs reach
   0.85 in both sensitivity and specificity.

    python benchmarks/bench_mil_validation.py [--encoder-seeds 0 1 2 3] [--seeds 0 1]
"""
from __future__ import annotations

import argparse
import time
import warnings
from functools import partial

import numpy as np
import torch

from leukutils import config, features, inference, patients, train
from leukutils.data import bags, readers, synth
from leukutils.data.sources import open_dataset
from leukutils.models.weights import PretrainedWeightsUnavailable

SMEAR = dict(shape=(240, 320), mpp=0.22)
VOC = dict(reader_options={"bad_boxes": "drop"})
#: name → (stage 1, stage 2) of the candidates; the notebook's main schedule is "2000 x 4, weight decay 1e-3".
SCHEDULES = {
    "500 x 4 (before)": (dict(n_series=500, epochs=4), dict(n_series=500, length=15, epochs=4)),
    "2000 x 4": (dict(n_series=2000, epochs=4), dict(n_series=2000, length=15, epochs=4)),
    "2000 x 4, stage 2 length 40": (dict(n_series=2000, epochs=4), dict(n_series=2000, length=40, epochs=4)),
    "2000 x 4, dropout 0.3": (dict(n_series=2000, epochs=4), dict(n_series=2000, length=15, epochs=4), 0.3),
    "2000 x 4, weight decay 1e-3": (dict(n_series=2000, epochs=4, weight_decay=1e-3),
                                    dict(n_series=2000, length=15, epochs=4, weight_decay=1e-3)),
    "2000 x 4, weight decay 1e-3, no stage 1": (None, dict(n_series=2000, length=15, epochs=4, weight_decay=1e-3)),
}


def cohort(blast_fraction, seed):
    """Validation patients as the notebook's test patients, drawn with ``seed + 4``."""
    return open_dataset("patients", n_patients=60, smears_per_patient=6, seed=seed + 4, cells_per_smear=(4, 9),
                        blast_fraction=blast_fraction, **SMEAR, **VOC)


def counting_bound(bank, is_blast, bag_features, labels):
    """Best min(sensitivity, specificity) of "at least k cells with P(blast) >= t" over a small grid."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = bank.features.reshape(-1, bank.dim).numpy()
    scale = StandardScaler().fit(x)
    cells = LogisticRegression(C=0.1, max_iter=3000).fit(scale.transform(x), np.repeat(is_blast, bank.n_views))
    probs = [cells.predict_proba(scale.transform(f.numpy()))[:, 1] if len(f) else np.zeros(0) for f in bag_features]
    best = (0.0, None, None, 0.0, 0.0)
    for t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99):
        for k in (1, 2, 3, 4):
            pred = np.array([(p >= t).sum() >= k for p in probs])
            sens, spec = pred[labels == 1].mean(), (~pred[labels == 0]).mean()
            best = max(best, (min(sens, spec), t, k, sens, spec), key=lambda b: b[0])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the notebook's seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="model seeds per schedule")
    parser.add_argument("--encoder-seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="random backbones")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", PretrainedWeightsUnavailable)
    seed = args.seed
    config.seed_everything(seed)  # as the notebook's set-up does before training its detector
    detector, _ = train.train_detector(
        open_dataset("bccd", n_images=32, seed=seed, **SMEAR), ["WBC"], epochs=10, lr=0.002, seed=seed, arch="small",
        weights="imagenet", min_size=128, max_size=171, anchor_sizes=[12, 18, 24, 32, 48])
    pool = open_dataset("patients", n_patients=40, smears_per_patient=4, seed=seed + 2, cells_per_smear=(6, 10),
                        blast_fraction=(0.3, 0.9), **SMEAR, **VOC)
    crops, is_blast, _ = bags.cell_pool_from_records(pool, readers.load_image, size=64, blast_names=synth.BLAST_TYPES)
    views = bags.augment_cells(crops, n_views=4, seed=seed)
    normal_pool, blast_pool = np.flatnonzero(~is_blast), np.flatnonzero(is_blast)
    find_cells = partial(inference.detect, detector, score_threshold=0.5)
    cohorts = {}
    for fraction in ((0.02, 0.25), (0.1, 0.5)):  # the last one is the notebook's, used for the schedules
        records = cohort(fraction, seed)
        cohorts[fraction] = bags.detected_bags(records, {r.subject: int(r.label == "ALL") for r in records}, find_cells,
                                               crop_size=64, blast_names=synth.BLAST_TYPES)[0]
    results = {name: [] for name in SCHEDULES}
    for encoder_seed in args.encoder_seeds:
        encoder = features.CellEncoder("alexnet", weights="imagenet", input_size=64, layer="pool", seed=encoder_seed)
        bank = features.FeatureBank.from_images(encoder, views, bags.blank_image(64))
        for fraction, found in cohorts.items():
            bag_features = [encoder(b.crops) if len(b) else torch.zeros(0, bank.dim) for b in found]
            labels = np.array([b.label for b in found])
            _, t, k, sens, spec = counting_bound(bank, is_blast, bag_features, labels)
            print(f"backbone {encoder_seed}, blast fraction {fraction}: best counting rule (t={t}, k={k}) "
                  f"sensitivity {sens:.3f}, specificity {spec:.3f}", flush=True)
        for name, (stage1, stage2, *dropout) in SCHEDULES.items():
            for model_seed in args.seeds:
                start = time.process_time()
                model, _ = patients.train_bag_classifier("lstm", bank, normal_pool, blast_pool, stage1, stage2,
                                                         seed=model_seed, dropout=dropout[0] if dropout else 0.0)
                seconds = time.process_time() - start
                full = patients.score_partitions(model, bag_features, labels, [None], 1, seed).iloc[0]
                parts = patients.score_partitions(model, bag_features, labels, [8, 16, 32], 3, seed)
                results[name].append((full["recall"], full["specificity"], parts["accuracy"].mean()))
                print(f"  backbone {encoder_seed} {name:40s} seed {model_seed}: sensitivity {full['recall']:.3f} "
                      f"specificity {full['specificity']:.3f} partition accuracy {parts['accuracy'].mean():.3f} "
                      f"({seconds:.1f} s CPU)", flush=True)
    print("schedule (validation cohort, blast fraction 0.1-0.5)        runs  sensitivity specificity partition acc. "
          "both >= 0.85")
    for name, runs in results.items():
        r = np.array(runs)
        print(f"{name:58s} {len(r):4d}  {r[:, 0].mean():11.3f} {r[:, 1].mean():11.3f} {r[:, 2].mean():14.3f} "
              f"{int((r[:, :2].min(1) >= 0.85).sum()):6d}")


if __name__ == "__main__":
    main()
