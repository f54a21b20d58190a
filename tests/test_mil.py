"""Cell encoder with feature cache (leukutils.features), LSTM / attention MIL models (leukutils.models.mil),
training on series (leukutils.train.SeriesStep) and the patient-level protocol (leukutils.patients)."""
import numpy as np
import pandas as pd
import pytest
import torch

from leukutils import features, metrics, patients
from leukutils.data import bags
from leukutils.models import mil
from leukutils.inference import cell_blast_probability, predict_bags, predict_series
from leukutils.train import SeriesStep, fit


pytestmark = pytest.mark.usefixtures("one_thread_torch")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 255, (6, 40, 40, 3), dtype=np.uint8)


def test_encoder_caches_features_by_image(images, tmp_path):
    torch.manual_seed(0)
    enc = features.CellEncoder("alexnet", weights=None, input_size=64, layer="pool", cache_dir=tmp_path)
    first = enc(images)
    assert first.shape == (6, 256) and enc.computed == 6
    again = enc(images[[2, 0, 2]])  # all seen before: nothing recomputed, rows follow the request
    assert enc.computed == 6
    torch.testing.assert_close(again, first[[2, 0, 2]])
    # cached features equal a fresh forward pass
    torch.testing.assert_close(enc.compute(images[:2]), first[:2], rtol=1e-4, atol=1e-5)
    path = enc.save()
    assert path.exists() and enc.key in path.name
    # a new encoder with the same weights reads the disk cache and computes nothing
    torch.manual_seed(0)
    enc2 = features.CellEncoder("alexnet", weights=None, input_size=64, layer="pool", cache_dir=tmp_path)
    assert enc2.key == enc.key
    torch.testing.assert_close(enc2(images), first)
    assert enc2.computed == 0
    # different weights -> different key, so stale features are never reused
    torch.manual_seed(1)
    assert features.CellEncoder("alexnet", weights=None, input_size=64, layer="pool").key != enc.key


@pytest.mark.parametrize("name,size,dim", [("alexnet", 64, 4096), ("resnet50", 32, 2048), ("vit_b_16", 32, 768)])
def test_extractors_give_one_vector_per_image_and_are_frozen(name, size, dim):
    model = mil.build_extractor(name, weights=None, input_size=size)
    x = features.to_input(np.zeros((2, 20, 20, 3), np.uint8), size)
    assert x.shape == (2, 3, size, size)
    assert model(x).shape == (2, dim)
    assert not any(p.requires_grad for p in model.parameters())


def test_extractor_rejects_bad_sizes():
    with pytest.raises(ValueError, match="at least 75"):
        mil.build_extractor("inception_v3", weights=None, input_size=64)
    with pytest.raises(ValueError, match="multiple of 16"):
        mil.build_extractor("vit_b_16", weights=None, input_size=40)
    with pytest.raises(ValueError, match="unknown"):
        mil.build_extractor("lenet", weights=None)


def test_feature_bank_gathers_blanks_and_views():
    feats = torch.arange(3 * 2 * 4, dtype=torch.float32).reshape(3, 2, 4)
    bank = features.FeatureBank(feats, torch.full((4,), -1.0))
    out = bank.gather(np.array([[0, bags.BLANK, 2]]))
    torch.testing.assert_close(out[0, 0], feats[0, 0])
    torch.testing.assert_close(out[0, 1], torch.full((4,), -1.0))
    g = torch.Generator().manual_seed(0)
    views = bank.gather(np.zeros((50, 1), np.int64), g)[:, 0]
    seen = {tuple(v.tolist()) for v in views}
    assert seen == {tuple(feats[0, 0].tolist()), tuple(feats[0, 1].tolist())}
    with pytest.raises(IndexError):
        bank.gather(np.array([[3]]))


def _toy_bank(n=60, d=8, seed=0):
    """Cells whose first feature says blast (+2) or normal (-2)."""
    rng = np.random.default_rng(seed)
    is_blast = np.arange(n) < n // 3
    feats = rng.normal(0, 1, (n, 2, d)).astype(np.float32)
    feats[:, :, 0] += np.where(is_blast, 2.0, -2.0)[:, None]
    return features.FeatureBank(torch.from_numpy(feats), torch.zeros(d)), is_blast


@pytest.mark.parametrize("kind", ["lstm", "abmil"])
def test_two_stage_training_learns_the_any_blast_rule(kind):
    bank, is_blast = _toy_bank()
    normal, blast = np.flatnonzero(~is_blast), np.flatnonzero(is_blast)
    torch.manual_seed(0)
    model = mil.build_mil(kind, bank.dim, cell_dim=32, **({"hidden": 32} if kind == "lstm" else {}))
    hist = patients.fit_two_stage(model, bank, normal, blast, dict(n_series=128, epochs=3, lr=5e-3),
                             dict(n_series=192, length=4, epochs=5, lr=5e-3), seed=0)
    assert set(hist) == {"stage1", "stage2"}
    assert list(hist["stage2"].columns) == ["epoch", "train_loss", "train_accuracy", "lr", "seconds"]
    assert hist["stage1"]["epoch"].tolist() == [1, 2, 3] and len(hist["stage2"]) == 5
    test, labels = bags.make_series(normal, blast, 200, 4, seed=99)
    accuracy = ((predict_series(model, bank, test) >= 0.5) == labels).mean()
    assert accuracy > 0.85


def test_series_training_resumes_and_reads_random_views(tmp_path):
    bank, is_blast = _toy_bank()
    series, labels = bags.make_series(np.flatnonzero(~is_blast), np.flatnonzero(is_blast), 64, 3, seed=1)

    def run(epochs, checkpoint=None, augment=True):
        torch.manual_seed(0)
        model = mil.build_mil("lstm", bank.dim, cell_dim=16, hidden=16)
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
        return fit(model, SeriesStep(bank, series, labels, batch_size=16, augment=augment), epochs=epochs,
                   optimizer=optimizer, seed=3, checkpoint_path=checkpoint, progress=False)

    straight = run(3)
    run(1, tmp_path / "series.pt")
    resumed = run(3, tmp_path / "series.pt")  # the order and view generator carry on from the checkpoint
    columns = ["epoch", "train_loss", "train_accuracy", "lr"]
    np.testing.assert_allclose(resumed[columns].to_numpy(), straight[columns].to_numpy(), rtol=1e-6)
    assert not np.allclose(run(3, augment=False)["train_loss"], straight["train_loss"])


def test_predict_bags_handles_any_length_and_empty_bags():
    torch.manual_seed(0)
    model = mil.LSTMClassifier(5, cell_dim=8, hidden=8, patient_dim=4)
    bags_ = [torch.randn(7, 5), torch.zeros(0, 5), torch.randn(1, 5)]
    probs = predict_bags(model, bags_)
    assert probs.shape == (3,) and np.isnan(probs[1]) and np.isfinite(probs[[0, 2]]).all()
    # packing: a bag alone and the same bag batched with a longer one give the same answer
    alone = predict_bags(model, [bags_[2]])
    np.testing.assert_allclose(alone, probs[2], rtol=1e-5)


def test_attention_mil_is_order_invariant_and_lstm_is_not():
    torch.manual_seed(0)
    x = torch.randn(1, 9, 6)
    perm = torch.randperm(9)
    abmil = mil.AttentionMIL(6, cell_dim=8, attention_dim=4, patient_dim=4).eval()
    torch.testing.assert_close(abmil(x), abmil(x[:, perm]), rtol=1e-5, atol=1e-6)
    lstm = mil.LSTMClassifier(6, cell_dim=8, hidden=8, patient_dim=4).eval()
    assert not torch.allclose(lstm(x), lstm(x[:, perm]))
    weights = abmil.attention(torch.randn(2, 5, 6), lengths=torch.tensor([5, 2]))
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    assert (weights[1, 2:] == 0).all()


def test_cell_blast_probability_is_the_length_one_series():
    torch.manual_seed(0)
    model = mil.LSTMClassifier(5, cell_dim=8, hidden=8, patient_dim=4)
    bag = torch.randn(3, 5)
    probs = cell_blast_probability(model, [bag, torch.zeros(0, 5)])
    assert len(probs[1]) == 0
    np.testing.assert_allclose(probs[0], predict_bags(model, [bag[i:i + 1] for i in range(3)]), rtol=1e-6)


def test_count_perceptron_separates_by_blast_count():
    probs = [np.array([0.9, 0.1, 0.2]), np.array([0.1, 0.2]), np.array([0.8, 0.7]), np.array([0.3])]
    counts = patients.count_features(probs)
    np.testing.assert_array_equal(counts, [[2, 1], [2, 0], [0, 2], [1, 0]])
    model = patients.fit_count_perceptron(counts, np.array([1, 0, 1, 0]))
    np.testing.assert_array_equal(patients.predict_count_perceptron(model, counts), [1, 0, 1, 0])


def test_count_perceptron_is_not_constant_on_overlapping_counts():
    """Counts that no line separates (as real partitions are): sklearn's plain Perceptron returned its
    last iterate, for some seeds "ALL" for every bag; the averaged perceptron on standardised counts must,
    for every seed, do as well as the best threshold on the blast count (within 2 points)."""
    labels = np.repeat([0, 1], 90)
    for data_seed in range(4):
        blasts = np.random.default_rng(data_seed).poisson(np.where(labels == 1, 3.0, 0.7))
        counts = np.c_[32 - blasts, blasts].astype(float)
        best = max(((blasts >= k) == labels).mean() for k in range(1, 6))
        for seed in range(5):
            pred = patients.predict_count_perceptron(patients.fit_count_perceptron(counts, labels, seed=seed), counts)
            assert 0.1 < pred.mean() < 0.9 and (pred == labels).mean() >= best - 0.02, (data_seed, seed)


def test_summary_over_seeds_has_the_columns_of_the_ablation_tables():
    """metrics.summarise(over="seeds") gives P2-A1/A2/T2/F7 their columns (what patients.over_seeds gave)."""
    runs = pd.DataFrame({"arm": ["a", "a", "a", "b", "b", "b"], "seed": [0, 1, 2] * 2, "acc": [0.8, 0.9, 1.0, 0.5, 0.5, 0.5],
                         "f1": [0.7, 0.8, 0.9, 0.4, 0.5, 0.6]})
    table = metrics.summarise(runs, "arm", ["acc", "f1"], over="seeds", interval=["acc"])
    assert table.columns.tolist() == ["arm", "acc", "acc sd", "acc low", "acc high", "f1", "f1 sd", "seeds"]
    table = table.set_index("arm")
    assert table.loc["a", "acc"] == pytest.approx(0.9) and table.loc["a", "acc sd"] == pytest.approx(0.1)
    assert table.loc["a", "acc low"] == pytest.approx(0.9 - 4.302653 * 0.1 / np.sqrt(3), rel=1e-5)
    assert table.loc["b", "acc low"] == table.loc["b", "acc high"] == 0.5 and (table["seeds"] == 3).all()
    paired = metrics.summarise(runs, "arm", ["acc"], over="seeds", reference="a").set_index("arm")
    assert paired.loc["b", "acc minus a"] == pytest.approx(-0.4) and paired.loc["a", "acc minus a sd"] == 0


def test_evaluate_partitions_and_removal():
    bank, is_blast = _toy_bank()
    normal, blast = np.flatnonzero(~is_blast), np.flatnonzero(is_blast)
    torch.manual_seed(0)
    model = mil.LSTMClassifier(bank.dim, cell_dim=16, hidden=16, patient_dim=8)
    patients.fit_two_stage(model, bank, normal, blast, dict(n_series=256, epochs=4, lr=5e-3),
                      dict(n_series=384, length=4, epochs=8, lr=5e-3))
    series, series_labels = bags.make_series(normal, blast, 200, 4, seed=5)
    assert ((predict_series(model, bank, series) >= 0.5) == series_labels).mean() > 0.85
    feats = bank.features[:, 0]
    cells_of = [np.r_[blast[:1], normal[:3]], normal[6:10], np.r_[blast[2:3], normal[14:17]]]
    bag_features = [feats[p] for p in cells_of]
    cell_labels = [is_blast[p].astype(int) for p in cells_of]
    labels = [1, 0, 1]
    table = patients.evaluate_partitions(model, bag_features, labels, sizes=[None, 3], n_draws=2, cell_labels=cell_labels)
    assert len(table) == 3 * 2 * 2 and set(table["size"]) == {-1, 3}
    assert (table.loc[table["size"] == 3, "n_cells"] == 3).all()
    no_blasts = patients.evaluate_partitions(model, bag_features, labels, cell_labels=cell_labels, remove="blast")
    assert no_blasts.loc[no_blasts.label == 1, "pred"].sum() == 0  # without blasts, no ALL found
    full = patients.partition_scores(patients.evaluate_partitions(model, bag_features, labels))
    assert full["recall"].iloc[0] == 1.0
    only_blasts = patients.evaluate_partitions(model, bag_features, labels, cell_labels=cell_labels, remove="normal")
    assert only_blasts.loc[1, "n_cells"] == 0 and np.isnan(only_blasts.loc[1, "prob"])
    with pytest.raises(ValueError):
        patients.evaluate_partitions(model, bag_features, labels, remove="blast")
    assert table.loc[table["size"] == -1, "blasts"].tolist() == [1, 1, 0, 0, 1, 1]  # patient by patient, 2 draws each

    rows = patients.removal_rows(model, bag_features, labels, cell_labels, [None], n_draws=4, seed=0)
    assert set(rows["removal"]) == set(patients.REMOVALS)
    random = rows[rows["removal"] == "random removal"]
    np.testing.assert_array_equal(random["n_cells"], random["blasts"].rsub(4))  # as many cells as blasts removed
    table = patients.removal_table(rows, n_boot=50, seed=0).iloc[0]
    assert table["blast removal"] == 0.0 and table["ALL patients"] == 2 and table["partitions"] == 8
    assert table["excess drop"] == pytest.approx(table["random removal"] - table["blast removal"])
    assert table["excess drop low"] <= table["excess drop"] <= table["excess drop high"] and table["size"] == "all"
    assert all(table[f"{name} low"] <= table[name] <= table[f"{name} high"] for name in patients.REMOVALS)
    scores = patients.partition_scores(rows[rows["removal"] == "none"], n_boot=50)
    assert scores.columns.tolist()[:4] == ["size", "accuracy", "accuracy low", "accuracy high"]
    assert scores["accuracy low"].iloc[0] <= scores["accuracy"].iloc[0] <= scores["accuracy high"].iloc[0]
    diagnosis = patients.diagnosis_table(rows[(rows["removal"] == "none") & (rows["draw"] == 0)], n_boot=50,
                                         estimate="this run").set_index("metric")
    assert diagnosis.loc["sensitivity", "this run"] == 1.0 and diagnosis.loc["sensitivity", "this run low"] < 1.0
    assert diagnosis.loc["f1", "interval"] == "bootstrap" and diagnosis["patients"].iloc[0] == 3
    a1 = patients.lstm_vs_count_perceptron(model, bag_features, labels, sizes=[2, 4], n_draws=3)
    assert a1["size"].tolist() == ["2", "4", "mean"] and a1[["LSTM accuracy", "perceptron accuracy"]].stack().between(0, 1).all()
    assert a1["difference"].iloc[-1] == pytest.approx(a1["difference"].iloc[:2].mean())
    order = patients.order_summary(patients.order_sensitivity({"lstm": model}, bag_features, labels, 4)).iloc[0]
    assert order["patients"] == 3 and order["share flipped"] == order["patients flipped"] / 3
    assert order["share flipped low"] - 1e-12 <= order["share flipped"] <= order["share flipped high"]
    x1 = patients.compare_models({"lstm": model, "same": model}, bag_features, labels, [None, 2], n_draws=2, n_boot=20)
    assert x1[["model", "size"]].values.tolist() == [["lstm", "all"], ["lstm", "2"], ["same", "all"], ["same", "2"]]
    assert x1["accuracy"].tolist()[:2] == x1["accuracy"].tolist()[2:] and (x1["seeds"] == 1).all()
    per_seed = patients.seed_scores({0: model, 1: model}, bag_features, labels, [None, 2], n_draws=2)
    assert per_seed["seed"].tolist() == [0, 1] and per_seed["accuracy"].iloc[0] == pytest.approx(
        patients.score_partitions(model, bag_features, labels, [None, 2], 2)["accuracy"].mean())
    report = patients.bad_input_report(lambda images: [{"boxes": np.zeros((0, 4))}], model, bag_features[0], (96, 96), 16)
    assert report[0].endswith("no cells found") and "bags of 0, 1 and 4 cells: [nan" in report[1]
    assert "kept=[True, False]" in report[2]


def test_compare_extractor_gives_one_row_per_model_seed():
    rng = np.random.default_rng(0)
    views = rng.integers(0, 255, (12, 1, 64, 64, 3), dtype=np.uint8)
    crops = [rng.integers(0, 255, (3, 64, 64, 3), dtype=np.uint8) for _ in range(4)]
    rows = patients.compare_extractor("alexnet", 64, views, np.arange(12) < 4, crops, [1, 0, 1, 0], seeds=[0, 1],
                                      stage1=dict(n_series=8, epochs=1), stage2=dict(n_series=8, length=3, epochs=1),
                                      sizes=[2], weights=None)
    assert rows["seed"].tolist() == [0, 1] and (rows["features"] == 256).all()
    assert rows[["mean accuracy", "max accuracy", "mean F1"]].stack().between(0, 1).all()
    both = patients.compare_extractors(["alexnet", "alexnet"], {"alexnet": 64}, views, np.arange(12) < 4, crops, [1, 0, 1, 0],
                                       pool_cells=8, pool_views=1, cells_per_patient=2, sizes=[1, 2], seeds=[0],
                                       stage1=dict(n_series=8, epochs=1), stage2=dict(n_series=8, length=3, epochs=1), weights=None)
    assert len(both) == 2 and both["mean accuracy"].iloc[0] == both["mean accuracy"].iloc[1]
    with pytest.raises(ValueError, match="at most t2_cells_per_patient"):  # size 4 would be the 2 cells again
        patients.compare_extractors(["alexnet"], {"alexnet": 64}, views, np.arange(12) < 4, crops, [1, 0, 1, 0],
                                    pool_cells=8, pool_views=1, cells_per_patient=2, sizes=[2, 4], seeds=[0],
                                    stage1=dict(n_series=8, epochs=1), stage2=dict(n_series=8, length=3, epochs=1))
