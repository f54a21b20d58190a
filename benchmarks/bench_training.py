"""Training speed of notebook 01's default profile: the package's path against a plain eager PyTorch loop.

Run: ``python benchmarks/bench_training.py [--model mobilenet_v2] [--epochs N] [--threads N] [--paths package]``
(``--paths`` runs only the named paths, e.g. to time one epoch of a model alone). The
paths train the same model from the same initial weights on the notebook's data (the default profile's
parameters, read from the notebook's parameters cell: C-NMC twin, split, input size, epochs, batch size,
learning rate and schedule), visit the images in the same order and validate after every epoch:

* plain: the loop written out in eager PyTorch, on an ``ImageDataset`` that reads and resizes every image
  again each epoch (no cache), in the default (NCHW) memory format;
* package: ``train.fit_classifier(..., channels_last=True, fused=True)`` — what the notebook runs — on a
  ``TensorImageDataset`` of the images read and resized once (that one-time step is counted in its time);
* control: ``train.fit_classifier`` with both options off on the same tensors: the package's loop doing
  exactly what the plain loop does, which must give the plain loop's numbers bit for bit.

Prints training images per second (training images × epochs / seconds; CPU and wall time of each path),
the ratio plain / package, and how the runs' results compare: per-epoch training loss and validation
accuracy, test accuracy and the share of equal test predictions. The control equals the plain loop
exactly. The package's run computes the same function with other float rounding (channels-last
convolutions and the fused Adam update sum in another order); training amplifies rounding differences
step after step, so its trained model ends close to the plain one's (accuracies within a few test
images, most predictions equal), not equal to it. Timings on a shared machine vary from run to run; the
ratio is measured within one run.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plain_loop(model, train_set, val_set, p: dict) -> tuple[list[float], list[float]]:
    """The eager loop: Adam (+ OneCycleLR per batch when the notebook uses it), cross-entropy, validation
    after every epoch, the weights of the epoch with the lowest validation loss. Returns the per-epoch
    training loss and validation accuracy. Same seeding as ``train.ClassifierStep``."""
    import torch
    from torch.nn import functional as F
    from torch.utils.data import DataLoader

    optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"])
    steps = p["epochs"] * math.ceil(len(train_set) / p["batch_size"]) + 1  # as train.fit_classifier
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=p["lr"], total_steps=steps) if p["one_cycle"] else None
    val_loader = DataLoader(val_set, batch_size=p["batch_size"])
    losses, accuracies, best, best_weights = [], [], math.inf, None
    for epoch in range(1, p["epochs"] + 1):
        torch.manual_seed(p["seed"] + epoch)
        loader = DataLoader(train_set, batch_size=p["batch_size"], shuffle=True,
                            generator=torch.Generator().manual_seed(p["seed"] + epoch))
        model.train()
        total, seen = 0.0, 0
        for images, labels in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total, seen = total + loss.item() * len(labels), seen + len(labels)
        model.eval()
        val_loss, correct = 0.0, 0
        with torch.no_grad():
            for images, labels in val_loader:
                logits = model(images)
                val_loss += F.cross_entropy(logits, labels, reduction="sum").item()
                correct += (logits.argmax(1) == labels).sum().item()
        losses.append(total / seen)
        accuracies.append(correct / len(val_set))
        if val_loss < best:
            best, best_weights = val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_weights)
    return losses, accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2", help="a model of notebook 01 (default mobilenet_v2)")
    parser.add_argument("--epochs", type=int, help="default: the notebook's")
    parser.add_argument("--threads", type=int, help="torch CPU threads for both loops (default: the notebook's)")
    parser.add_argument("--paths", default="plain,control,package", help="which paths to run (default: all three)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from leukutils import config, inference, preprocess, train
    from leukutils.parameters import notebook_defaults
    from leukutils.data import splits
    from leukutils.data.sources import open_dataset
    from leukutils.data.torch_datasets import (ImageDataset, TensorImageDataset, binary_labels, stack_images,
                                               undersample)
    from leukutils.models.classifiers import build_classifier

    p = notebook_defaults(config.NOTEBOOKS_DIR / "01_dual_cam.ipynb")
    p["epochs"] = args.epochs or p["epochs"]
    threads = args.threads if args.threads is not None else p["threads"]
    if threads:
        torch.set_num_threads(threads)
    records = open_dataset("cnmc", n_subjects=p["n_subjects"], cells_per_subject=p["cells_per_subject"],
                           size=p["synthetic_size"], seed=p["seed"], difficulty=p["synthetic_difficulty"])
    labels = binary_labels([r.label for r in records], ["all"])
    keep = undersample(labels, seed=p["seed"])
    records, labels = [records[i] for i in keep], labels[keep]
    parts = splits.holdout_split(labels, None, (0.8, 0.1, 0.1), seed=p["seed"])
    transform = preprocess.paper1_transform(p["resize"], p["zoom"], p["image_size"])

    def image_set(indices, cache=False):
        return ImageDataset([records[i] for i in indices], labels[indices], transform=transform, cache=cache)

    print(f"{args.model}, {len(parts[0])} training images, {p['epochs']} epoch(s), {p['image_size']} px, batch "
          f"{p['batch_size']}, {torch.get_num_threads()} thread(s)")
    results = {}
    for path in args.paths.split(","):
        config.seed_everything(p["seed"])
        model = build_classifier(args.model, n_classes=2, weights=None)
        wall, cpu = time.perf_counter(), time.process_time()
        if path == "plain":
            train_set, val_set, test_set = (image_set(indices) for indices in parts)
            losses, accuracies = plain_loop(model, train_set, val_set, p)
        else:
            train_set, val_set, test_set = (TensorImageDataset(*stack_images(image_set(indices))) for indices in parts)
            fast = path == "package"
            history = train.fit_classifier(model, train_set, val_set, epochs=p["epochs"], lr=p["lr"],
                                           batch_size=p["batch_size"], seed=p["seed"], one_cycle=p["one_cycle"],
                                           channels_last=fast, fused=fast, progress=False)
            losses, accuracies = list(history["train_loss"]), list(history["val_accuracy"])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        probabilities = inference.classify(model, test_set)[1]
        test_labels = labels[parts[2]]
        results[path] = dict(wall=wall, cpu=cpu, losses=np.array(losses), accuracies=np.array(accuracies),
                             probabilities=probabilities, test=(probabilities.argmax(1) == test_labels).mean())
        seen = len(parts[0]) * p["epochs"]
        print(f"{path:8s} {seen / cpu:7.1f} images/s of CPU time ({cpu:.1f} s), {seen / wall:7.1f} images/s of wall "
              f"time ({wall:.1f} s); training loss per epoch {np.round(losses, 4)}, validation accuracy "
              f"{np.round(accuracies, 3)}, test accuracy {results[path]['test']:.3f}")
    if not {"plain", "package"} <= set(results):
        return
    plain = results["plain"]
    print(f"speed-up (plain / package): {plain['cpu'] / results['package']['cpu']:.2f}× in CPU time, "
          f"{plain['wall'] / results['package']['wall']:.2f}× in wall time")
    for path in [p for p in ("control", "package") if p in results]:
        other = results[path]
        identical = np.array_equal(plain["losses"], other["losses"]) and np.array_equal(plain["probabilities"],
                                                                                        other["probabilities"])
        print(f"{path} vs plain: {'bit for bit identical' if identical else 'not identical'}; largest training-loss "
              f"difference {np.abs(plain['losses'] - other['losses']).max():.1e}; test predictions equal for "
              f"{(plain['probabilities'].argmax(1) == other['probabilities'].argmax(1)).mean():.1%} of "
              f"{len(parts[2])}; test accuracy {plain['test']:.3f} vs {other['test']:.3f}")


if __name__ == "__main__":
    main()
