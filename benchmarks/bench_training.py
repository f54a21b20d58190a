"""Training speed of notebook 01's default profile: the package's path against a plain eager PyTorch loop.

Run: ``python benchmarks/bench_training.py [--model mobilenet_v2] [--epochs N] [--threads N] [--repeats 3]
[--paths plain,control,cached,package] [--profile]``. The paths train the same model from the same
initial weights on the notebook's data (the default profile's parameters, read from the notebook's
parameters cell: C-NMC twin, split, input size, epochs, batch size, learning rate and schedule), visit the
images in the same order and validate after every epoch:

* plain: the loop written out in eager PyTorch, on an ``ImageDataset`` that reads and resizes every image
  again each epoch (no cache), in the default (NCHW) memory format;
* control: ``train.fit_classifier`` with every option off on the same ``ImageDataset``: the package's loop
  doing exactly what the plain loop does, which must give the plain loop's numbers bit for bit, and its
  time within the run-to-run spread (a check of the benchmark itself);
* cached: the control on a ``TensorImageDataset`` of the images read and resized once (that one-time
  step is counted in its time): what the cache alone gains;
* package: ``train.fit_classifier(..., channels_last=True, fused=True)`` on the cached tensors — what the
  notebook runs.

Fairness: before any timing every path runs once on a few batches (thread pools, allocator, the image
files in the page cache), then the paths run ``--repeats`` times in turn, the order rotated every repeat
so that no path always runs first or last. Printed per path: the median training images per second
(training images × epochs / seconds) of wall and of CPU time with its spread (min–max over repeats), and
the median of the per-repeat ratios plain / path. The results are compared as before: the control equals
the plain loop exactly; the package computes the same function with other float rounding (channels-last
convolutions and the fused Adam update sum in another order), so its trained model ends close to the
plain one's, not equal to it.

``--profile`` also times one epoch of the package's work phase by phase (drawing a batch, forward,
backward, optimiser step, validation) and lists the operators that take the most CPU time
(``torch.profiler``): where an epoch's time goes.
"""
from __future__ import annotations

import argparse
import math
import statistics
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


def profile_epoch(model, train_set, val_set, p: dict) -> None:
    """One epoch of the package's work (channels-last model and batches, fused Adam, the same batches),
    timed phase by phase, then the operators with the most CPU time under ``torch.profiler``."""
    import torch
    from torch.nn import functional as F
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.data import DataLoader

    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"], fused=True)
    loader = DataLoader(train_set, batch_size=p["batch_size"], shuffle=True,
                        generator=torch.Generator().manual_seed(p["seed"] + 1))
    phases = dict.fromkeys(("draw a batch", "forward", "backward", "optimiser step", "validation"), 0.0)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        model.train()
        batches = iter(loader)
        while True:
            t0 = time.perf_counter()
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            images = images.contiguous(memory_format=torch.channels_last)
            t1 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images), labels)
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            optimizer.step()
            t4 = time.perf_counter()
            for name, seconds in zip(list(phases)[:4], (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[name] += seconds
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            for images, labels in DataLoader(val_set, batch_size=p["batch_size"]):
                model(images.contiguous(memory_format=torch.channels_last))
        phases["validation"] = time.perf_counter() - t0
    total = sum(phases.values())
    print(f"one epoch of the package's work, {total:.1f} s: " +
          ", ".join(f"{name} {seconds:.1f} s ({seconds / total:.0%})" for name, seconds in phases.items()))
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def spread(values: list[float]) -> str:
    """``median [min, max]`` of a path's repeats."""
    return f"{statistics.median(values):7.1f} [{min(values):.1f}, {max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2", help="a model of notebook 01 (default mobilenet_v2)")
    parser.add_argument("--epochs", type=int, help="default: the notebook's")
    parser.add_argument("--threads", type=int, help="torch CPU threads for every path (default: the notebook's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path, in rotating order (default 3)")
    parser.add_argument("--paths", default="plain,control,cached,package", help="which paths to run (default: all four)")
    parser.add_argument("--profile", action="store_true", help="also profile one epoch of the package's work")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give at least 1")
    paths = args.paths.split(",")
    unknown = sorted(set(paths) - {"plain", "control", "cached", "package"})
    if unknown:
        parser.error(f"--paths: unknown path(s) {unknown}; choose from plain, control, cached, package")

    import numpy as np
    import torch

    from leukutils import config, inference, preprocess, train
    from leukutils.parameters import notebook_defaults
    from leukutils.data import splits
    from leukutils.data.sources import open_dataset
    from leukutils.data.torch_datasets import ImageDataset, TensorImageDataset, binary_labels, stack_images, undersample
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

    def image_set(indices):
        return ImageDataset([records[i] for i in indices], labels[indices], transform=transform)

    def run(path: str, parts_of_run, params: dict):
        """Train ``path`` from the seeded initial weights; returns (model, test set, losses, accuracies)."""
        config.seed_everything(params["seed"])
        model = build_classifier(args.model, n_classes=2, weights=None)
        train_set, val_set, test_set = (image_set(indices) for indices in parts_of_run)
        if path == "plain":
            losses, accuracies = plain_loop(model, train_set, val_set, params)
        else:
            if path in ("cached", "package"):
                train_set, val_set, test_set = (TensorImageDataset(*stack_images(d)) for d in (train_set, val_set, test_set))
            fast = path == "package"
            history = train.fit_classifier(model, train_set, val_set, epochs=params["epochs"], lr=params["lr"],
                                           batch_size=params["batch_size"], seed=params["seed"],
                                           one_cycle=params["one_cycle"], channels_last=fast, fused=fast, progress=False)
            losses, accuracies = list(history["train_loss"]), list(history["val_accuracy"])
        return model, test_set, losses, accuracies

    print(f"{args.model}, {len(parts[0])} training images, {p['epochs']} epoch(s), {p['image_size']} px, batch "
          f"{p['batch_size']}, {torch.get_num_threads()} thread(s), {args.repeats} repeat(s) in rotating order")
    for index in range(len(records)):  # warm-up: every image file read once (page cache) ...
        image_set([index])[0]
    few = [np.asarray(part[:2 * p["batch_size"]]) for part in parts]
    for path in paths:  # ... and every path on two batches (thread pools, allocator)
        run(path, few, {**p, "epochs": 1})

    timings = {path: {"wall": [], "cpu": []} for path in paths}
    results = {}
    for repeat in range(args.repeats):
        for path in paths[repeat % len(paths):] + paths[:repeat % len(paths)]:
            wall, cpu = time.perf_counter(), time.process_time()
            model, test_set, losses, accuracies = run(path, parts, p)
            timings[path]["wall"].append(time.perf_counter() - wall)
            timings[path]["cpu"].append(time.process_time() - cpu)
            probabilities = inference.classify(model, test_set)[1]
            results[path] = dict(losses=np.array(losses), accuracies=np.array(accuracies), probabilities=probabilities,
                                 test=(probabilities.argmax(1) == labels[parts[2]]).mean())
    seen = len(parts[0]) * p["epochs"]
    for path in paths:
        wall, cpu = (timings[path][k] for k in ("wall", "cpu"))
        line = (f"{path:8s} images/s of wall time {spread([seen / t for t in wall])}, of CPU time "
                f"{spread([seen / t for t in cpu])}; training loss per epoch {np.round(results[path]['losses'], 4)}, "
                f"validation accuracy {np.round(results[path]['accuracies'], 3)}, test accuracy {results[path]['test']:.3f}")
        if "plain" in timings and path != "plain":
            ratios = [a / b for a, b in zip(timings["plain"]["wall"], wall)]
            line += f"; plain / {path} in wall time: median {statistics.median(ratios):.2f}× [{min(ratios):.2f}, {max(ratios):.2f}]"
        print(line)
    if "plain" in results:
        plain = results["plain"]
        for path in [q for q in ("control", "cached", "package") if q in results]:
            other = results[path]
            identical = np.array_equal(plain["losses"], other["losses"]) and np.array_equal(plain["probabilities"],
                                                                                            other["probabilities"])
            print(f"{path} vs plain: {'bit for bit identical' if identical else 'not identical'}; largest training-loss "
                  f"difference {np.abs(plain['losses'] - other['losses']).max():.1e}; test predictions equal for "
                  f"{(plain['probabilities'].argmax(1) == other['probabilities'].argmax(1)).mean():.1%} of "
                  f"{len(parts[2])}; test accuracy {plain['test']:.3f} vs {other['test']:.3f}")
    if args.profile:
        config.seed_everything(p["seed"])
        train_set, val_set = (TensorImageDataset(*stack_images(image_set(indices))) for indices in parts[:2])
        profile_epoch(build_classifier(args.model, n_classes=2, weights=None), train_set, val_set, p)


if __name__ == "__main__":
    main()
