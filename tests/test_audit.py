"""The audit of a model of one's own (:mod:`leukutils.audit`): a clean model and one trained with a planted
corner cue, saved by the compendium and exported to TorchScript, audited on class-named folders."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from leukutils import audit, claims, config, model_cards, shortcuts
from leukutils import train as train_mod
from leukutils.data import readers, splits
from leukutils.data.sources import open_dataset
from leukutils.data.torch_datasets import TensorImageDataset, binary_labels
from leukutils.models.classifiers import build_classifier

pytestmark = pytest.mark.usefixtures("one_thread_torch")

CLASSES = ["hem", "ALL"]
SIZE = 32


def _write_folder(root, images, labels):
    for k, (image, label) in enumerate(zip(images, labels)):
        target = root / CLASSES[label] / f"cell{k:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A clean Standard_CNN and one trained with a corner mark on every image of its class, both saved with
    the compendium's card; test cells as class folders, as given and with the mark."""
    root = tmp_path_factory.mktemp("audit")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_thread_torch, which is per test: the same numbers on any machine
    records = open_dataset("cnmc", n_subjects=8, cells_per_subject=50, size=SIZE, difficulty=0.3, seed=0)
    images = np.stack([readers.load_image(r.path) for r in records])
    labels = binary_labels([r.label for r in records], ["all"])
    train, val, test = splits.holdout_split(labels, groups=[r.subject for r in records], fractions=(0.5, 0.25, 0.25), seed=0)

    def fit(data):  # the compendium's Standard_CNN, as notebook 01 builds and trains it
        config.seed_everything(0)
        model = build_classifier("standard_cnn", 2, weights=None)
        x = claims.image_batch(data)
        train_mod.fit_classifier(model, TensorImageDataset(x[train], labels[train]), TensorImageDataset(x[val], labels[val]),
                                 epochs=8, lr=3e-3, batch_size=16, one_cycle=True, seed=0, progress=False)
        return model.eval()

    _, cued = shortcuts.cued_conditions(images, labels, "corner", 1.0, seed=0)
    card = {"architecture": "standard_cnn", "classes": CLASSES, "parameters": {"resize": SIZE, "zoom": 1.0, "image_size": SIZE}}
    paths = {}
    for name, data in (("clean", images), ("shortcut", cued["as in training"])):
        paths[name] = model_cards.save_model(fit(data), root / f"{name}.pt", card=card)
    test = test[splits.first_per_class(labels[test], 20)]
    folders = {"plain": _write_folder(root / "plain", images[test], labels[test]),
               "marked": _write_folder(root / "marked", cued["as in training"][test], labels[test])}
    torch.set_num_threads(threads)
    return paths, folders, root


def _audit(model, folder, cam_images=12):
    """The audit's steps, as the notebook runs them, on at most ``cam_images`` CAM images."""
    paths, images, labels, skipped = audit.audit_images([folder], model.classes)
    inputs = audit.network_inputs(model, images)
    accuracy = audit.accuracy_table(audit.predict(model, inputs), labels, n_boot=200)
    probes, what = audit.probe_inputs(inputs)
    probe_rows, _ = audit.probe_table(model, probes, labels, n_boot=200)
    cam_rows = audit.stratified_cap(labels, cam_images)
    maps = audit.cam_agreement(model, inputs[cam_rows])
    randomised = audit.randomisation_table(model, inputs[cam_rows], maps, n_boot=200)
    cells = audit.segment.cell_masks(inputs[cam_rows], 2)
    located = audit.localisation_table(maps, cells, "cells (handcrafted segmentation)", n_boot=200)
    ok = np.isfinite(maps["mr_ssim"])
    from leukutils import metrics

    agreement = (*metrics.mean_ci(maps["mr_ssim"][ok], n_boot=200), int(ok.sum()))
    verdicts = audit.verdict_table("model", accuracy, probe_rows, what, agreement, randomised, located)
    return dict(accuracy=accuracy, probes=probe_rows, maps=maps, randomised=randomised, verdicts=verdicts,
                skipped=skipped, labels=labels)


def _flagged(verdicts: pd.DataFrame) -> set[str]:
    """The corner and mark probes whose verdict says the model leans on what they remove (the planted cue is a
    corner mark; the tint probe asks another question, and on these synthetic cells, whose glass is black, the
    background it equalises includes the cytoplasm beyond the dilated nuclei)."""
    rows = verdicts[verdicts["test"].str.contains("corner inpainted|mark inpainted") & (verdicts["verdict"] == "does not hold")]
    return set(rows["test"])


def test_the_planted_shortcut_is_flagged_and_the_clean_model_is_not(trained):
    paths, folders, _ = trained
    clean = _audit(audit.load_audited_model(paths["clean"]), folders["marked"])
    cheat = _audit(audit.load_audited_model(paths["shortcut"]), folders["marked"])
    assert clean["accuracy"].set_index("measure").loc["accuracy", "value"] > 0.7
    assert not _flagged(clean["verdicts"]), clean["verdicts"][["test", "value", "verdict"]].to_string()
    flagged = _flagged(cheat["verdicts"])
    assert flagged, cheat["verdicts"][["test", "value", "verdict"]].to_string()
    assert set(cheat["verdicts"]["verdict"]) <= {"holds", "does not hold", "cannot be told here", claims.NOT_LEARNED}


def test_the_torchscript_export_gets_the_same_audit(trained, tmp_path):
    paths, folders, _ = trained
    model = audit.load_audited_model(paths["clean"])
    scripted = tmp_path / "clean_ts.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(model.network).save(str(scripted))
    audit.write_card(scripted, CLASSES, SIZE, model.layer, normalisation={"mean": [0, 0, 0], "std": [1, 1, 1]})
    exported = audit.load_audited_model(scripted)  # the normalisation step is the identity here
    assert exported.scripted and exported.layer == model.layer
    eager, script = _audit(model, folders["plain"]), _audit(exported, folders["plain"])
    pd.testing.assert_frame_equal(eager["accuracy"], script["accuracy"])
    np.testing.assert_allclose(script["maps"]["gradcam"], eager["maps"]["gradcam"], atol=1e-3)
    np.testing.assert_allclose(script["randomised"]["SSIM to trained Grad-CAM"], eager["randomised"]["SSIM to trained Grad-CAM"],
                               atol=1e-3)
    assert list(script["verdicts"]["verdict"]) == list(eager["verdicts"]["verdict"])


def test_a_model_it_cannot_explain_stops_before_any_image(tmp_path):
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    path = tmp_path / "mlp.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(mlp).save(str(path))
    audit.write_card(path, CLASSES, 16, "1")
    with pytest.raises(audit.AuditError, match="no 2-D convolution"):
        audit.load_audited_model(path)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=8), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(cnn).save(str(path))
    audit.write_card(path, CLASSES, 16, "1")  # the pooled 1 × 1 output
    with pytest.raises(audit.AuditError, match="at least 2 × 2"):
        audit.load_audited_model(path)
    (tmp_path / "mlp.json").write_text('{"format": "torchscript", "classes": ["a", "b"]}')
    with pytest.raises(audit.AuditError, match="lacks input_size, layer"):
        audit.load_audited_model(path)


def test_a_chain_that_does_not_compute_the_model_is_refused(tmp_path):
    class Skip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2))

        def forward(self, x):
            return self.head(x + self.conv(x))  # a residual: not the chain conv → head

    path = tmp_path / "skip.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(Skip()).save(str(path))
    audit.write_card(path, CLASSES, 16, "conv")
    with pytest.raises(audit.AuditError, match="does not compute the model's output"):
        audit.load_audited_model(path)


def test_the_cap_keeps_the_classes_shares_and_unreadable_files_are_listed(tmp_path):
    groups = np.array([0] * 60 + [1] * 30 + [-1] * 10)
    kept = audit.stratified_cap(groups, 20, seed=1)
    assert len(kept) == 20 and np.bincount(groups[kept] + 1).tolist() == [2, 12, 6]
    assert audit.stratified_cap(groups, 0).tolist() == list(range(100))
    folder = _write_folder(tmp_path / "cells", [np.full((8, 8, 3), 100, np.uint8)] * 2, [0, 1])
    (folder / "ALL" / "broken.png").write_bytes(b"not an image")
    paths, images, labels, skipped = audit.audit_images([folder], CLASSES)
    assert len(images) == 2 and sorted(labels.tolist()) == [0, 1]
    assert skipped["path"].str.endswith("broken.png").all() and len(skipped) == 1
    assert audit.folder_labels(["Benign", "ALL"], {"Early": "ALL"}) == {"benign": 0, "all": 1, "early": 1}
    with pytest.raises(audit.AuditError, match="not one of the model's classes"):
        audit.folder_labels(["Benign", "ALL"], {"Early": "L1"})


def test_leukutils_audit_writes_the_notebook_and_its_verdicts(trained, tmp_path, capsys):
    from leukutils import cli

    paths, folders, _ = trained
    assert cli.main(["audit", str(paths["clean"]), str(tmp_path / "nowhere")]) == 2
    assert "no such image" in capsys.readouterr().err
    out = tmp_path / "audit"
    assert cli.main(["audit", str(paths["shortcut"]), str(folders["marked"]), "--out", str(out), "--cam-images", "6",
                     "--n-boot", "100", "--max-images", "20", "--device", "cpu"]) == 0
    verdicts = pd.read_csv(next((out / "tables").glob("A-T0_*.csv")))
    assert (verdicts["verdict"] == "does not hold").any() and len(verdicts) >= 10
    assert (out / "audit.ipynb").is_file() and list((out / "figures").glob("A-F2_*.png"))
    assert "It leans on what these probes remove" in (out / "audit.ipynb").read_text()
