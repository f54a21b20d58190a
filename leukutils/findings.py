"""What each notebook's run shows, as sentences computed from the run's tables.

One function per notebook, ``<notebook>_findings(tables...) -> list[str]``: it looks values up by column
name and row key (never by position), states a paper's claim as holding or not from the numbers it is
given, and names what was tested. The notebooks print the sentences in their closing "What this run
shows" cell; the unit tests feed each function a small table where the paper's result holds and one
where it does not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from . import claims, metrics
from .report import learned, method_name, paper_values, rows_with_ci, with_ci


def row_of(table: pd.DataFrame, **key) -> pd.Series:
    """The one row of ``table`` whose columns equal ``key`` (``row_of(t1, model="densenet121",
    metric="accuracy")``); a ``KeyError`` naming the key and the table's columns when there is none or
    more than one."""
    match = np.ones(len(table), dtype=bool)
    for column, value in key.items():
        if column not in table:
            raise KeyError(f"row_of: no column {column!r} (columns: {list(table.columns)})")
        match &= (table[column] == value).to_numpy()
    if match.sum() != 1:
        raise KeyError(f"row_of: {int(match.sum())} rows with {key}, need exactly one")
    return table[match].iloc[0]


def estimate(row: pd.Series, column: str, digits: int = 3) -> str:
    """``"0.912 [0.880, 0.940]"``: ``row[column]`` with its interval ``<column> low``/``<column> high``."""
    return with_ci(row[column], row[f"{column} low"], row[f"{column} high"], digits)


def model_learned(table: pd.DataFrame | None, column: str, baseline: str = "majority baseline", **key) -> bool:
    """Whether the model of the rows of ``table`` whose columns equal ``key`` learned: for every such row,
    :func:`leukutils.report.learned` of its ``<column> low`` against its ``baseline``
    (``model_learned(t5, "test accuracy", model="Segmented Mish Medium")``).

    True where ``table`` is None, or lacks the interval or the baseline (nothing to compare); a ``KeyError``
    naming the key when no row matches it.
    """
    if table is None:
        return True
    match = np.ones(len(table), dtype=bool)
    for name, value in key.items():
        if name not in table:
            raise KeyError(f"model_learned: no column {name!r} (columns: {list(table.columns)})")
        match &= (table[name] == value).to_numpy()
    if not match.any():
        raise KeyError(f"model_learned: no row with {key}")
    rows = table[match]
    lows, baselines = (rows[c] if c in rows else pd.Series(np.nan, index=rows.index) for c in (f"{column} low", baseline))
    return all(learned(low, base) for low, base in zip(lows, baselines))


def not_learned(table: pd.DataFrame | None, column: str, models, baseline: str = "majority baseline") -> list[str]:
    """The ``models`` whose rows of ``table`` (by ``model``) say they did not learn (:func:`model_learned`)."""
    return [model for model in dict.fromkeys(models) if not model_learned(table, column, baseline, model=model)]


def unless_not_learned(verdict: str, models: list[str]) -> str:
    """``verdict``, or :data:`leukutils.claims.NOT_LEARNED` naming ``models`` where it rests on models that did
    not learn (``models`` from :func:`not_learned`)."""
    return f"{claims.NOT_LEARNED} ({', '.join(models)})" if models else verdict


# --------------------------------------------------------------------------------------------------
# Notebook 00: the data
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Notebook 01: paper 1, six CNNs, Grad-CAM and Score-CAM, MR-SSIM
# --------------------------------------------------------------------------------------------------

#: Paper 1's result, as tested here: a trained CNN tells ALL blasts from normal cells (test accuracy at
#: least ``ACCURATE`` with the interval's low end above ``ABOVE_CHANCE``), and Grad-CAM and Score-CAM agree
#: closely (MR-SSIM at least ``AGREEING``; the paper reports 0.888–0.948).
ACCURATE, ABOVE_CHANCE, AGREEING = 0.85, 0.75, 0.85


def dual_cam_findings(t1: pd.DataFrame, t2: pd.DataFrame, spread: pd.DataFrame, histories: dict,
                      predictions: dict, tint: pd.DataFrame | None = None, *, epochs: int, not_trained=(),
                      map_size: dict | None = None, cam_seconds: dict | None = None, test_images: int = 0,
                      model: str = "mobilenet_v2") -> list[str]:
    """The sentences of notebook 01's "What this run shows", one per artefact, from its tables.

    Parameters
    ----------
    t1 : ``P1-T1`` (rows by ``model`` and ``metric``): ``this run`` with ``this run low``/``high``, ``n``,
        ``paper``.
    t2 : ``P1-T2`` (rows by ``model`` and ``class``): ``mr_ssim`` with its interval, ``n``, ``paper``.
    spread : the heatmap check (rows by ``model`` and ``method``: ``n``, ``constant``, ``distinct``,
        ``mean_difference``, :func:`leukutils.explain.heatmap_spread`).
    histories : model name → its training history (``epoch``, ``train_accuracy``, ``val_accuracy``).
    predictions : model name → ``(probabilities (n, 2), y_true (n,))`` on the test set.
    tint : ``P1-X1`` (one row per model and shortcut probe, :func:`probe_sentence`), or None when the
        probes did not run.
    epochs, not_trained : the epochs trained; the paper's models not trained here.
    map_size : model → (rows, columns) of its CAM target map; cam_seconds : model → CPU seconds per image
        of both CAMs; test_images : the test set's size (to say what MR-SSIM over all of it would cost).
    model : the model of the training curves and confusion matrix (``P1-F3``…``P1-F5``).

    Returns
    -------
    One sentence per artefact; those on the paper's claims say whether the claim holds here. The verdicts
    on the models' maps (``P1-T2``) and on their reading of the tint (``P1-X1``) read
    :data:`leukutils.claims.NOT_LEARNED`, naming the model, where its accuracy interval (``t1``, ``tint``)
    reaches its majority baseline; ``P1-T1``'s verdict is on the accuracy itself.
    """
    accuracy = t1[t1["metric"] == "accuracy"]
    accurate = accuracy[(accuracy["this run"] >= ACCURATE) & (accuracy["this run low"] >= ABOVE_CHANCE)]
    missed = sorted(set(accuracy["model"]) - set(accurate["model"]))
    verdict = ("holds for every one" if not missed else f"does not hold for {', '.join(missed)}")
    out = [f"P1-T1: {len(accurate)} of the {len(accuracy)} trained models reach accuracy ≥ {ACCURATE} with an interval "
           f"above {ABOVE_CHANCE} on {int(accuracy['n'].max())} test images{_baseline(accuracy, 2)} after {epochs} epoch(s): the paper's result "
           f"that the CNNs tell ALL blasts from normal cells {verdict}. "
           f"{rows_with_ci(accuracy, 'this run', 'model', digits=2)}. Not trained here: {', '.join(not_trained) or 'none'}."]
    if model in histories and model in predictions:
        history = histories[model]
        last = history.loc[history["epoch"].idxmax()]
        probabilities, y_true = predictions[model]
        predicted = np.asarray(probabilities).argmax(1)
        out.append(f"P1-F3–F5: {model} ends at training / validation accuracy {last['train_accuracy']:.3f} / "
                   f"{last['val_accuracy']:.3f}; it misses {int((predicted < y_true).sum())} of {int(np.sum(y_true))} ALL "
                   f"test images and calls {int((predicted > y_true).sum())} of {int(np.sum(y_true == 0))} normal ones ALL.")
    depends = bool((spread["distinct"] == spread["n"]).all() and (spread["constant"] == 0).all())
    out.append(f"P1-F6–F9: target maps (rows, columns) {map_size}; {int(spread['distinct'].sum())} distinct heatmaps of "
               f"{int(spread['n'].sum())}, {int(spread['constant'].sum())} constant; mean difference between two images' "
               f"maps ≥ {spread['mean_difference'].min():.2f}: the heatmaps "
               f"{'depend on the image' if depends else 'do not all depend on the image'}.")
    out.append(_mr_ssim_sentence(t2, cam_seconds or {}, test_images, accuracy))
    if tint is not None:
        out.append(probe_sentence(tint, "P1-X1"))
    return out


def _mr_ssim_sentence(t2: pd.DataFrame, cam_seconds: dict, test_images: int, accuracy: pd.DataFrame | None = None) -> str:
    """P1-T2's sentence: MR-SSIM per model and class, whether it is as high as the paper's (a verdict on the
    models' maps, so it needs models that learned: ``accuracy``, P1-T1's accuracy rows), and its cost."""
    agree = t2[t2["mr_ssim"] >= AGREEING]
    verdict = unless_not_learned("holds for both models and classes" if len(agree) == len(t2) else
                                 f"holds for none of the {len(t2)} model–class pairs" if agree.empty else
                                 f"holds for {len(agree)} of the {len(t2)} model–class pairs only",
                                 not_learned(accuracy, "this run", t2["model"]))
    per_class = {name: int(n) for name, n in t2.groupby("model", sort=False)["n"].min().items()}
    cost = ""
    if cam_seconds:
        cost = (" Grad-CAM and Score-CAM cost " + ", ".join(f"{name} {s:.1f}" for name, s in cam_seconds.items())
                + f" CPU s per image, so MR-SSIM over every test image of both models would take "
                f"{sum(cam_seconds.values()) * test_images / 60:.0f} CPU min.")
    return (f"P1-T2: MR-SSIM {rows_with_ci(t2, 'mr_ssim', ['model', 'class'])}, over {per_class} test images per class: "
            f"the paper's close agreement of Grad-CAM and Score-CAM (MR-SSIM ≥ {AGREEING}) {verdict}.{cost}")


def probe_sentence(probes: pd.DataFrame, artefact: str) -> str:
    """The sentence of a shortcut-probe table (``P1-X1``, the Aria half of ``X-T4``;
    :func:`leukutils.claims.probe_table` rows with the masses of :func:`leukutils.claims.cam_masses`): per
    model its accuracy as given and under each probe (paired difference), where its Grad-CAM lies, and
    which models lose accuracy beyond the interval under which probe. A model whose accuracy as given
    reaches its majority baseline is named apart: nothing can be told of it."""
    given = probes[probes["test cue"] == "as given"]
    unlearned = not_learned(given, "accuracy", given["model"])
    parts, losses = [], []
    for model, rows in probes.groupby("model", sort=False):
        first = row_of(rows, **{"test cue": "as given"})
        shifted = rows[rows["test cue"] != "as given"]
        parts.append(f"{model}: as given {estimate(first, 'accuracy')}, " + ", ".join(
            f"{r['test cue']} {r['accuracy']:.3f} ({estimate(r, 'accuracy minus as given')})" for _, r in shifted.iterrows())
            + (f"; Grad-CAM mass on cells {first['Grad-CAM mass on cells']:.2f} (their area {first['cell area share']:.2f}), "
               f"on the scale-bar corner {first['Grad-CAM mass on the scale-bar corner']:.3f} (its area {first['mark area share']:.3f})"
               if "Grad-CAM mass on cells" in rows and np.isfinite(first["Grad-CAM mass on cells"]) else ""))
        if model not in unlearned:
            losses += [f"{model} ({r['test cue']})" for _, r in shifted.iterrows() if r["accuracy minus as given high"] < 0]
    verdict = (f"accuracy falls beyond its interval for {', '.join(losses)}: those models read the glass or the mark"
               if losses else "no model that learned loses accuracy beyond its interval under any probe")
    if unlearned:
        verdict += f"; {unless_not_learned('', unlearned)}"
    return f"{artefact}: " + "; ".join(parts) + f" (majority baseline {given['majority baseline'].iloc[0]:.3f}). {verdict[0].upper()}{verdict[1:]}."


def _baseline(table: pd.DataFrame, digits: int = 3) -> str:
    """`` (majority baseline 0.50)``: the table's ``majority baseline`` (the accuracy of always calling the
    larger class of its test set), or ``""`` where the table has none."""
    if "majority baseline" not in table or table["majority baseline"].isna().all():
        return ""
    return f" (majority baseline {table['majority baseline'].max():.{digits}f})"


# --------------------------------------------------------------------------------------------------
# Notebook 02: paper 2, detector, frozen features, LSTM over a patient's cells
# --------------------------------------------------------------------------------------------------

def mil_findings(detectors: pd.DataFrame, t0: pd.DataFrame, t0_seeds: pd.DataFrame, f5: pd.DataFrame,
                 f6: pd.DataFrame, a1: pd.DataFrame, a2: pd.DataFrame, f7: pd.DataFrame, t2: pd.DataFrame,
                 x1: pd.DataFrame, x2: pd.DataFrame, overlap: float | None = None) -> list[str]:
    """The sentences of notebook 02's "What this run shows", one per artefact, from its tables.

    Parameters
    ----------
    detectors : ``P2-M1`` (row ``detector="WBC (one class)"``: ``mAP@0.5`` with its interval, ``test
        images``, ``paper mAP``).
    t0 : ``P2-T0`` (rows by ``metric``: ``this run`` with its interval, ``patients``, ``paper (ALL-IDB1)``, and
        where present ``majority baseline``, said beside the accuracy);
        ``t0_seeds``: one row per model seed of the main schedule with ``recall`` and ``specificity``
        (:func:`leukutils.patients.seed_scores` with all cells).
    f5 : ``P2-F5`` (rows by ``size``, ``"all"`` included), or its one-row ``note`` where the data have no
        cell-level labels (the real profile): then the removal test is reported as not run.
    f6, f7 : ``P2-F6`` (by ``size``), ``P2-F7`` (by ``length``), ``accuracy``.
    a1 : ``P2-A1`` (row ``size="mean"``: ``difference`` with ``sd``, interval, ``seeds``, ``paper difference``).
    a2 : ``P2-A2`` (row ``stage 1="without"``: ``accuracy minus with`` with ``sd`` and interval, ``seeds``,
        ``paper accuracy difference``).
    t2 : ``P2-T2`` (``extractor``, ``mean accuracy``, ``paper mean accuracy``).
    x1, x2 : ``P2-X1`` (rows by ``model`` and ``size``), ``P2-X2`` (rows by ``model``: ``patients flipped``,
        ``patients``) for the models ``"LSTM (paper)"`` and ``"attention MIL"``.
    overlap : share of the test patients' detected cells that overlap an annotated white cell; None
        where the fields carry no boxes.

    Returns
    -------
    One sentence per artefact; those on the paper's claims say whether the claim holds here, and
    :data:`leukutils.claims.NOT_LEARNED` where the patient-level model's accuracy interval (``P2-T0``)
    reaches its majority baseline (``P2-F5``, ``P2-F6``, ``P2-A1`` and ``P2-A2`` rest on that model).
    """
    wbc = row_of(detectors, detector="WBC (one class)")
    checked = (f"{overlap:.1%} of the detected cells of the test patients overlap an annotated white cell"
               if overlap is not None else "the test patients' fields carry no white-cell boxes to check the detections against")
    out = [f"P2-M1: WBC detector mAP@0.5 {estimate(wbc, 'mAP@0.5', 2)} on {int(wbc['test images'])} test images "
           f"(paper {wbc['paper mAP']:.2f}); {checked}."]
    sensitivity, specificity = row_of(t0, metric="sensitivity"), row_of(t0, metric="specificity")
    accuracy = row_of(t0, metric="accuracy")
    learned = model_learned(t0, "this run", metric="accuracy")
    said = f"accuracy {estimate(accuracy, 'this run', 2)}{_baseline(t0, 2)}, " if "majority baseline" in t0 else ""
    out.append(f"P2-T0: {int(accuracy['patients'])} test patients; {said}sensitivity "
               f"{estimate(sensitivity, 'this run', 2)}, specificity {estimate(specificity, 'this run', 2)} (paper "
               f"{sensitivity['paper (ALL-IDB1)']:.2f} / {specificity['paper (ALL-IDB1)']:.2f}); the {len(t0_seeds)} model "
               f"seeds of the main schedule: sensitivity {t0_seeds['recall'].min():.2f}–{t0_seeds['recall'].max():.2f}, "
               f"specificity {t0_seeds['specificity'].min():.2f}–{t0_seeds['specificity'].max():.2f}.")
    out.append(_removal_sentence(f5, learned))
    smallest, largest = row_of(f6, size=f6["size"].min()), row_of(f6, size=f6["size"].max())
    grows = (claims.NOT_LEARNED if not learned else
             "it grows with the cells per patient, as in the paper" if largest["accuracy"] > smallest["accuracy"] else
             "it does not grow with the cells per patient, unlike the paper")
    out.append(f"P2-F6: accuracy {smallest['accuracy']:.2f} at {int(smallest['size'])} cells per patient, "
               f"{largest['accuracy']:.2f} at {int(largest['size'])}: {grows}.")
    mean = row_of(a1, size="mean")
    a1_verdict = (claims.NOT_LEARNED if not learned else
                  "the LSTM beats the ideal perceptron, as in the paper" if mean["difference low"] > 0 else
                  "the LSTM does worse than the ideal perceptron, unlike the paper" if mean["difference high"] < 0 else
                  "the LSTM does no better than the ideal perceptron (interval spans 0), unlike the paper")
    out.append(f"P2-A1: LSTM minus ideal perceptron {mean['difference']:+.3f} ± {mean['difference sd']:.3f} "
               f"[{mean['difference low']:.2f}, {mean['difference high']:.2f}] over {int(mean['seeds'])} seeds (paper "
               f"{mean['paper difference']:+.3f}): {a1_verdict}.")
    out.append(_pretraining_sentence(row_of(a2, **{"stage 1": "without"}), learned))
    first, last = row_of(f7, length=f7["length"].min()), row_of(f7, length=f7["length"].max())
    best = f7.loc[f7["accuracy"].idxmax()]
    out.append(f"P2-F7: accuracy {first['accuracy']:.2f} at length {int(first['length'])}, best {best['accuracy']:.2f} at "
               f"length {int(best['length'])}, {last['accuracy']:.2f} at {int(last['length'])}.")
    low, high = t2.loc[t2["mean accuracy"].idxmin()], t2.loc[t2["mean accuracy"].idxmax()]
    paper = t2.loc[t2["paper mean accuracy"].idxmax()]
    out.append(f"P2-T2: mean accuracy from {low['mean accuracy']:.2f} ({low['extractor']}) to {high['mean accuracy']:.2f} "
               f"({high['extractor']}); paper best on average: {paper['extractor']}.")
    lstm, abmil = row_of(x2, model="LSTM (paper)"), row_of(x2, model="attention MIL")
    out.append(f"P2-X1/X2: with all cells attention MIL {row_of(x1, model='attention MIL', size='all')['accuracy']:.2f}, "
               f"LSTM {row_of(x1, model='LSTM (paper)', size='all')['accuracy']:.2f}; reordering the cells flips the LSTM's "
               f"diagnosis for {int(lstm['patients flipped'])} of {int(lstm['patients'])} patients, attention MIL's for "
               f"{int(abmil['patients flipped'])}.")
    return out


def _removal_sentence(f5: pd.DataFrame, learned: bool = True) -> str:
    """P2-F5's sentence: recall under blast removal against the matched random removal (its verdict
    :data:`leukutils.claims.NOT_LEARNED` where the model did not ``learn``), or the note."""
    if "none" not in f5:
        return f"P2-F5: {row_of(f5, size='all')['note']}."
    every = row_of(f5, size="all")
    paper = paper_values("P2-F5", "recall", ["none", "blast removal"])
    verdict = (claims.NOT_LEARNED if not learned else
               "the diagnosis hinges on blasts, as the paper says" if every["excess drop low"] > 0 else
               "removing the blasts lowers recall no more than removing as many random cells: the paper's claim does not hold here")
    return (f"P2-F5: recall with all cells {every['none']:.2f}; blasts removed {every['blast removal']:.2f}, as many random "
            f"cells removed {every['random removal']:.2f}: excess drop {estimate(every, 'excess drop', 2)}, smallest over "
            f"sizes {f5['excess drop'].min():.2f} (paper, no control: {paper[0]:.2f} -> {paper[1]:.2f}): {verdict}.")


def _pretraining_sentence(without: pd.Series, learned: bool = True) -> str:
    """P2-A2's sentence: the paired difference without minus with stage 1 over seeds, and its sign
    (:data:`leukutils.claims.NOT_LEARNED` where the model did not ``learn``)."""
    difference = "accuracy minus with"
    if not learned:
        verdict = claims.NOT_LEARNED
    elif without["seeds"] < 2:
        verdict = "not resolved (one seed: no interval)"
    elif without[f"{difference} low"] < 0 < without[f"{difference} high"]:
        verdict = "not resolved (interval spans 0)"
    else:
        verdict = ("pre-training helps, as in the paper" if without[difference] < 0 else
                   "pre-training hurts, unlike the paper")
    return (f"P2-A2: without minus with stage 1 {without[difference]:+.3f} ± {without[f'{difference} sd']:.3f} "
            f"[{without[f'{difference} low']:.2f}, {without[f'{difference} high']:.2f}] over {int(without['seeds'])} seeds "
            f"(paper {without['paper accuracy difference']:+.3f}): {verdict}.")



# --------------------------------------------------------------------------------------------------
# Notebook 03: paper 3, nucleus segmentation as hard attention
# --------------------------------------------------------------------------------------------------

def _as_in_paper(holds: bool, unlearned: tuple[str, ...] | list[str] = ()) -> str:
    """``as in the paper`` / ``unlike the paper``, or :data:`leukutils.claims.NOT_LEARNED` naming the
    models it rests on that did not learn (:func:`unless_not_learned`)."""
    return unless_not_learned("as in the paper" if holds else "unlike the paper", list(unlearned))


def _segmented(table: pd.DataFrame) -> np.ndarray:
    """(n,) bool: the rows of a paper-3 table whose ``model`` is a segmented-input variant."""
    return table["model"].str.startswith("Segmented").to_numpy()


def _test_images(t5: pd.DataFrame) -> int:
    """The number of test images of Table 5 (``n``; the real profile's first tables name it ``test images``)."""
    return int(t5["n" if "n" in t5 else "test images"].iloc[0])


def attention_verdict(attention: pd.DataFrame) -> str:
    """The verdict on paper 3's attention claim taken over every CAM method of ``attention``
    (:func:`leukutils.segmented_classifiers.attention_table`): ``holds`` when every method's paired interval
    of segmented minus raw lies above 0, ``does not hold`` when every one lies below, otherwise ``cannot be
    told here`` naming how many methods hold (one method alone can reverse a point estimate)."""
    verdicts = [claims.verdict(r["segmented minus raw low"], r["segmented minus raw high"]) for _, r in attention.iterrows()]
    if len(set(verdicts)) == 1 and verdicts[0] != "cannot be told here":
        return f"{verdicts[0]} with every method"
    held = [m for m, v in zip(attention["method"], verdicts) if v == "holds"]
    return (f"cannot be told here: it holds with {len(held)} of {len(verdicts)} methods"
            f"{' (' + ', '.join(held) + ')' if held else ''}")


def segmentation_findings(t2: pd.DataFrame, t5: pd.DataFrame, x1: pd.DataFrame, t7: pd.DataFrame, t8: pd.DataFrame,
                          ta3: pd.DataFrame, attention: pd.DataFrame,
                          segmented_model: str = "Segmented Mish Medium",
                          raw_model: str = "NoSegmented ReLU Linear") -> list[str]:
    """What notebook 03's run shows about paper 3's claims, one sentence per artefact.

    Parameters
    ----------
    t2 : ``P3-T2``: rows ``method`` = ``handcrafted``, ``deep (U-Net)``, ``ensemble`` with ``dice`` (and
        its ``low``/``high``), ``ensemble dice minus this`` (with its interval) and ``paper dice (JTSC)``.
    t5 : ``P3-T5``: one row per ``model`` with ``val accuracy``, ``test accuracy`` (and its interval), ``n``
        (test images) and, where present, ``majority baseline`` (said beside chance).
    x1 : ``P3-X1`` (:func:`leukutils.segmented_classifiers.segmented_minus_raw`): one row per ``segmented``
        variant and its ``raw`` twin with ``segmented minus raw`` (and its paired interval) on the same test images.
    t7 : ``P3-T7``: ``model``, ``accuracy change`` under noise.
    t8 : ``P3-T8``: ``model``, ``dist/sd ratio`` and one ``sd <class>`` column per class.
    ta3 : ``P3-TA3``: one row per test image correct by all the models of its columns (``image``, ``class``,
        one column per model, ``seeds``, ``interval``).
    attention : :func:`leukutils.segmented_classifiers.attention_table` of ``segmented_model`` against
        ``raw_model``: one row per CAM ``method`` with ``segmented``, ``raw`` (share of each model's map on
        the nucleus), ``segmented minus raw`` (and its paired interval), ``nucleus share of the image``,
        ``constant maps, segmented`` and ``n``.
    segmented_model, raw_model : the two models whose attention is compared (``P3-F8``).

    Returns
    -------
    Five sentences (``P3-T2``; ``P3-T5``/``P3-X1``; ``P3-T7``/``P3-T8``; ``P3-F8``/``P3-F9``; ``P3-TA3``), each
    saying whether the run goes the paper's way: the ensemble beats both its parts (both paired differences'
    intervals above 0); the best segmented variant of ``x1`` (by validation accuracy) is more accurate on
    the test images than its raw twin, the verdict of :func:`leukutils.claims.verdict` on the paired interval
    of ``x1``; segmented models lose less accuracy under noise and separate the
    classes better (mean Dist/SD ratio); the segmented model's maps lie more on the nucleus, by every CAM
    method of ``attention`` (:func:`attention_verdict`). A verdict
    on models reads :data:`leukutils.claims.NOT_LEARNED` where one of them has a test-accuracy interval in
    ``t5`` that reaches its majority baseline: ``P3-T5`` rests on the two models it compares, ``P3-T7``/``P3-T8``
    on every model of ``t7`` and ``t8``, ``P3-F8`` on ``segmented_model`` and ``raw_model``.
    """
    gain = "ensemble dice minus this"
    hand, unet, ensemble = (row_of(t2, method=m) for m in ("handcrafted", "deep (U-Net)", "ensemble"))
    beats = min(hand[f"{gain} low"], unet[f"{gain} low"]) > 0
    n_test, n_classes = _test_images(t5), sum(c.startswith("sd ") and c != "sd total" for c in t8.columns)
    by_validation = t5.sort_values("val accuracy", ascending=False, kind="stable")
    seg = by_validation[by_validation["model"].isin(x1["segmented"])].iloc[0]  # the best with its raw twin trained
    paired = row_of(x1, segmented=seg["model"])
    raw = row_of(t5, model=paired["raw"])
    unlearned = {"P3-T5": not_learned(t5, "test accuracy", [seg["model"], raw["model"]]),
                 "P3-T7": not_learned(t5, "test accuracy", t7["model"]), "P3-T8": not_learned(t5, "test accuracy", t8["model"]),
                 "P3-F8": not_learned(t5, "test accuracy", [segmented_model, raw_model])}
    noise = [t7.loc[_segmented(t7) == s, "accuracy change"].mean() for s in (True, False)]
    ratio = [t8.loc[_segmented(t8) == s, "dist/sd ratio"].mean() for s in (True, False)]
    ranked = t8.sort_values("dist/sd ratio", ascending=False, kind="stable")["model"].tolist()
    gradcam = row_of(attention, method="Grad-CAM")
    baseline = f", majority baseline {t5['majority baseline'].max():.3f}" if "majority baseline" in t5 else ""
    claim = unless_not_learned(claims.verdict(paired["segmented minus raw low"], paired["segmented minus raw high"]),
                               unlearned["P3-T5"])
    ta3_models = [c for c in ta3.columns if c not in ("image", "class", "seeds", "interval")]
    ta3_words = ("all four Mish models" if len(ta3_models) == 4 and all(" Mish " in m for m in ta3_models)
                 else f"all of {', '.join(ta3_models)}")
    return [
        f"P3-T2, P3-F4: Dice of the U-Net {estimate(unet, 'dice')}, the handcrafted method {estimate(hand, 'dice')}, "
        f"the AND ensemble {estimate(ensemble, 'dice')} (paper, JTSC: {ensemble['paper dice (JTSC)']:.3f}); ensemble "
        f"minus handcrafted {estimate(hand, gain)}, minus U-Net {estimate(unet, gain)}: the ensemble "
        f"{'beats' if beats else 'does not beat'} both parts, {_as_in_paper(beats)}.",
        f"P3-T5, P3-X1: the best segmented variant by validation accuracy, {seg['model']}, {estimate(seg, 'test accuracy')} "
        f"and its raw twin {raw['model']} {estimate(raw, 'test accuracy')} test accuracy on {n_test} images (chance "
        f"{1 / n_classes:.2f}{baseline}); segmented minus raw on the same images {estimate(paired, 'segmented minus raw')} "
        f"(paired bootstrap): paper 3's claim that the segmented input is more accurate {claim}.",
        f"P3-T7, P3-T8, P3-F7, segmented against raw: mean accuracy change under noise {noise[0]:+.3f} against "
        f"{noise[1]:+.3f}, {_as_in_paper(noise[0] > noise[1], unlearned['P3-T7'])}; mean Dist/SD ratio {ratio[0]:.2f} against "
        f"{ratio[1]:.2f}, {_as_in_paper(ratio[0] > ratio[1], unlearned['P3-T8'])} (highest {ranked[0]}, lowest {ranked[-1]}).",
        f"P3-F8, P3-F9, {segmented_model} against {raw_model}: {int(gradcam['constant maps, segmented'])} of the segmented "
        f"model's {n_test} Grad-CAMs are constant; on the nucleus lie {gradcam['segmented']:.2f} of its Grad-CAM, "
        f"{gradcam['raw']:.2f} of the raw model's and {gradcam['nucleus share of the image']:.2f} of an even spread; "
        f"segmented minus raw, paired by image, " + ", ".join(f"{r['method']} {estimate(r, 'segmented minus raw', 3)}"
                                                              for _, r in attention.iterrows()) +
        f": paper 3's claim that segmentation directs the maps to the nucleus "
        f"{unless_not_learned(attention_verdict(attention), unlearned['P3-F8'])}.",
        f"P3-TA3: {len(ta3)} of {n_test} test images are correct by {ta3_words}.",
    ]


# --------------------------------------------------------------------------------------------------
# Notebook 04: the claims tested
# --------------------------------------------------------------------------------------------------

#: The claims notebook 04 tests, in the papers' words, by the ``paper`` column of ``X-T0``.
CLAIM_WORDS = {
    "paper 1": "High values of MR-SSIM make it reasonable to assume that the highlighted portions of the images are indeed of interest",
    "all three": "(implicit) a random split of the images into train, validation and test measures how well the model diagnoses new cases",
    "paper 3": "segmented models have demonstrated the capability to direct greater attention to the Region of Interest (ROI)",
    "paper 2": "demonstrates the significance of blast cells in our model's decision-making process",
    "all three (shortcut)": "(implicit) a classifier's accuracy on smear images comes from the cells",
    "all three (Aria)": "(implicit) a classifier's accuracy on smear images comes from the cells",
}

#: Paper 1's two CAM methods, by the names of :data:`leukutils.explain.CAM_METHODS` that compute them.
PAPER_1_METHODS = ("gradcam", "scorecam", "fast_scorecam")


def _select(table: pd.DataFrame, key: dict) -> pd.DataFrame:
    return table[np.logical_and.reduce([(table[c] == v).to_numpy() for c, v in key.items()])]


def _paired(table: pd.DataFrame, a: dict, b: dict, column: str, on: str, n_boot: int, seed: int
            ) -> tuple[float, float, float]:
    """Mean ``column`` of the rows ``a`` minus that of the rows ``b`` (column → value), paired on ``on``."""
    rows = [_select(table, key) for key in (a, b)]
    if len(rows[0]) == 0 or not np.array_equal(rows[0][on].to_numpy(), rows[1][on].to_numpy()):
        raise KeyError(f"claims_verdicts: the rows {a} and {b} do not hold the same {on}s")
    return metrics.paired_difference_ci(rows[0][column].to_numpy(), rows[1][column].to_numpy(), n_boot=n_boot, seed=seed)


def _classifier_learned(x1: pd.DataFrame | None, data: str) -> bool:
    """Whether the classifier whose CAMs ``X-T1`` scores on ``data`` learned (:func:`model_learned` of its
    ``classifier accuracy`` against its ``classifier majority baseline``)."""
    return model_learned(x1, "classifier accuracy", "classifier majority baseline", data=data)


def _cue_model_learned(x4: pd.DataFrame | None, cue: str, model: str) -> bool:
    """Whether ``model``, trained on synthetic fields with ``cue``, learned: :func:`model_learned` of its
    ``X-T4`` accuracy with the cue as in training."""
    return model_learned(x4, "accuracy", data="synthetic fields", cue=cue, model=model, **{"test cue": "as in training"})


def _localisation_tests(x1_images: pd.DataFrame, ci: dict, x1: pd.DataFrame | None = None) -> list[tuple]:
    """Paper 1's CAMs against a centred Gaussian, per data set of ``X-T1``, metric and paper-1 method; each
    rests on the classifier of its data set (``x1``)."""
    tests = []
    for data in x1_images["data"].unique():
        rows = x1_images[x1_images["data"] == data]
        first = rows.iloc[0]
        learned = _classifier_learned(x1, data)
        for method in [m for m in rows["method"].unique() if m in PAPER_1_METHODS]:
            for metric in ("relevance mass", "pointing game"):
                value = _paired(rows, {"method": method}, {"method": "centred Gaussian"}, metric, "image", **ci)
                tests.append(("paper 1", f"X-T1 ({data}, {first['model']}): {method_name(method)}'s {metric} on the "
                                         f"{first['evidence']} minus a centred Gaussian map's, same test images",
                              f"{metric} difference", 1, value, {}, learned))
    return tests


def _probe_tests(fields: pd.DataFrame, ci: dict, x4: pd.DataFrame | None = None) -> list[tuple]:
    """Each shortcut probe of each model: accuracy with the cue absent / reversed minus as in training; each
    rests on its model (``x4``)."""
    tests = []
    for (cue, model), rows in fields.groupby(["cue", "model"], sort=False):
        learned = _cue_model_learned(x4, cue, model)
        for probe in ("absent", "reversed"):
            value = _paired(rows, {"test cue": probe}, {"test cue": "as in training"}, "accuracy", "field", **ci)
            tests.append(("all three (shortcut)", f"X-T4 ({cue}): accuracy of {'' if model.startswith('paper') else 'the '}{model} with the {cue} {probe} minus as "
                                                  "in training, same test fields; holds when the loss is surely under 0.05",
                          "accuracy difference", 1, value, {"holds_if_above": -0.05}, learned))
    return tests


def claims_verdicts(x1_images: pd.DataFrame, x2_rows: pd.DataFrame, x3: pd.DataFrame, x4_fields: pd.DataFrame,
                    x4_cams: pd.DataFrame, marked: pd.DataFrame, outside_cue: str, inside_cue: str,
                    n_boot: int = 1000, seed: int = 0, *, x1: pd.DataFrame | None = None,
                    x4: pd.DataFrame | None = None) -> pd.DataFrame:
    """Notebook 04's ``X-T0``: one verdict per test, each from an effect with its 95 % interval, each
    naming the model and the pipeline it tested, and :data:`leukutils.claims.NOT_LEARNED` where a model it
    rests on has an accuracy interval that reaches its majority baseline (:func:`leukutils.report.learned`).

    Parameters
    ----------
    x1_images : per-image ``X-T1`` scores (:func:`leukutils.claims.per_image_localisation`): ``data``,
        ``model``, ``evidence``, ``method`` (CAM methods and ``centred Gaussian``), ``image``,
        ``relevance mass``, ``pointing game``.
    x2_rows : the per-field rows of ``X-T2`` (:func:`leukutils.claims.sanity_check_rows`): ``stage``,
        ``MR-SSIM``, ``Grad-CAM relevance mass``; stages ``trained``, ``random to …`` (the last: every
        layer random) and ``trained, class healthy``.
    x3 : ``X-T3`` (rows by ``split``): ``accuracy minus subject-level`` with its interval, ``seeds``.
    x4_fields : the per-field rows of ``X-T4`` (:class:`leukutils.claims.CueRun` ``fields``): ``data``,
        ``cue``, ``model``, ``test cue``, ``field``, ``accuracy`` (0/1); rows of ``data="Aria"`` (``test
        cue`` ``as given``, ``tint equalised``, …) add the real rows.
    x4_cams : per marked ALL test field and CNN (:class:`leukutils.claims.CueRun` ``cams``): ``cue``,
        ``model``, ``field``, ``Grad-CAM mass on nuclei`` and ``… on cytoplasm``.
    marked : one row per marked ALL test field: ``shortcut MR-SSIM`` and ``clean MR-SSIM``
        (:func:`leukutils.claims.mr_ssim_of_models`).
    outside_cue, inside_cue : the ``cue`` of ``x4_fields`` drawn outside the cells (the segmentation
        drops it) and the one drawn inside them (:data:`leukutils.shortcuts.NUCLEUS_MARK`, kept).
    n_boot, seed : the bootstraps over fields (paired where two measures share the fields).
    x1 : ``X-T1`` (rows by ``data``: ``classifier accuracy`` with its interval, ``classifier majority
        baseline``): the classifier the ``X-T1`` and ``X-T2`` rows rest on, also the clean model of the
        MR-SSIM warning row. None: not checked.
    x4 : ``X-T4`` (rows by ``data``, ``cue``, ``model``, ``test cue``: ``accuracy`` with its interval,
        ``majority baseline``): each ``X-T4`` row rests on its models' accuracy with the cue as in training
        (the Aria rows on the accuracy as given). None: not checked. ``X-T3`` rests on the image-level
        split's accuracy, where ``x3`` has a ``majority baseline`` column.

    Returns
    -------
    One row per test: ``paper``, ``claim`` (:data:`CLAIM_WORDS`), ``test``, ``effect``, ``seeds``,
    ``value``, ``value low``, ``value high`` and ``verdict`` (:func:`leukutils.claims.verdict`).
    """
    clean = _classifier_learned(x1, "synthetic fields")
    ci = dict(n_boot=n_boot, seed=seed)
    ranked = x2_rows[x2_rows.stage != "trained, class healthy"].dropna(subset=["MR-SSIM", "Grad-CAM relevance mass"])
    agreement = metrics.bootstrap_ci(lambda a, b: spearmanr(a, b)[0], ranked["MR-SSIM"].to_numpy(),
                                     ranked["Grad-CAM relevance mass"].to_numpy(), **ci)
    random_stages = [s for s in x2_rows["stage"].unique() if s.startswith("random to")]
    per_stage = {s: x2_rows.loc[x2_rows.stage == s, "MR-SSIM"].to_numpy() for s in ("trained", random_stages[-1])}
    random_floor = metrics.paired_difference_ci(per_stage["trained"], per_stage[random_stages[-1]], **ci)
    both = marked[["shortcut MR-SSIM", "clean MR-SSIM"]].dropna()
    warned = metrics.paired_difference_ci(both["shortcut MR-SSIM"].to_numpy(), both["clean MR-SSIM"].to_numpy(), **ci)
    leak = row_of(x3, split="image-level")
    inflation = tuple(leak[c] for c in ("accuracy minus subject-level", "accuracy minus subject-level low",
                                        "accuracy minus subject-level high"))
    synthetic = x4_fields[x4_fields["data"] == "synthetic fields"]
    outside, inside = (synthetic[synthetic["cue"] == c] for c in (outside_cue, inside_cue))
    reversed_cue = {"test cue": "reversed"}
    end_to_end = {"model": "end-to-end CNN", **reversed_cue}
    segmented_gain = _paired(outside, {"model": "segmented-input CNN", **reversed_cue}, end_to_end, "accuracy", "field", **ci)
    pipeline = [m for m in outside["model"].unique() if m.startswith("paper 2's pipeline")]
    crop = [m for m in outside["model"].unique() if m.startswith("cell-crop")]
    kept = {cue: f"{x4_cams.loc[x4_cams['cue'] == cue, 'mark kept by segmentation'].mean():.0%} of its pixels kept by the "
                 "segmentation" for cue in (outside_cue, inside_cue)}
    cams = x4_cams.assign(cells=x4_cams["Grad-CAM mass on nuclei"] + x4_cams["Grad-CAM mass on cytoplasm"])
    on_cells = {cue: _paired(cams[cams["cue"] == cue], {"model": "segmented-input CNN"}, {"model": "end-to-end CNN"},
                             "cells", "field", **ci) for cue in (outside_cue, inside_cue)}
    inside_loss = _paired(inside, {"model": "segmented-input CNN", **reversed_cue},
                          {"model": "segmented-input CNN", "test cue": "as in training"}, "accuracy", "field", **ci)
    both_learned = {cue: all(_cue_model_learned(x4, cue, m) for m in ("end-to-end CNN", "segmented-input CNN"))
                    for cue in (outside_cue, inside_cue)}
    tests = [  # paper, test, effect, seeds, (value, low, high), verdict options, whether the models it rests on learned
        ("paper 1", "X-T2 (synthetic fields, Standard_CNN/2): Spearman correlation, over ALL test fields and randomisation "
                    "stages, of MR-SSIM with the share of Grad-CAM on the blast nuclei", "Spearman r", 1, agreement, {}, clean),
        ("paper 1", "X-T2 (synthetic fields, Standard_CNN/2): MR-SSIM of the trained model minus that of the same network "
                    "with every layer random, on the same fields", "MR-SSIM difference", 1, random_floor, {}, clean),
        ("paper 1", f"X-T4 ({outside_cue}): MR-SSIM of the end-to-end CNN trained with the shortcut minus that of the one "
                    "trained without it, on the same ALL test fields with the mark; holds when agreement drops for the shortcut",
         "MR-SSIM difference", 1, warned, {"claim_direction": -1}, clean and _cue_model_learned(x4, outside_cue, "end-to-end CNN")),
        *_localisation_tests(x1_images, ci, x1),
        ("all three", "X-T3 (synthetic C-NMC twin, Standard_CNN/2): accuracy with an image-level minus a subject-level "
                      "split (stain batch per subject)", "accuracy inflation", int(leak["seeds"]), inflation, {"claim_direction": -1},
         model_learned(x3, "accuracy", split="image-level")),
        ("paper 3", f"X-T4 ({outside_cue}, {kept[outside_cue]}): accuracy with the cue reversed, segmented-input CNN minus "
                    "end-to-end CNN: shows that segmentation removes a cue it does not keep, not where the model looks",
         "accuracy difference", 1, segmented_gain, {}, both_learned[outside_cue]),
        *[("paper 3", f"X-T4 ({cue}, {where}): share of Grad-CAM on the cells (nuclei and cytoplasm), "
                      "segmented-input CNN minus end-to-end CNN, on the same marked ALL test fields, each map on the input "
                      "its model saw", "Grad-CAM mass difference", 1, on_cells[cue], {}, both_learned[cue])
          for cue, where in kept.items()],
        ("paper 3", f"X-T4 ({inside_cue}, {kept[inside_cue]}): accuracy of the segmented-input CNN with the cue reversed minus "
                    "as in training: looking at the cell protects from a cue there only if this loss is surely under 0.05",
         "accuracy difference", 1, inside_loss, {"holds_if_above": -0.05}, _cue_model_learned(x4, inside_cue, "segmented-input CNN")),
        *[("paper 2", f"X-T4 ({outside_cue}): accuracy with the cue reversed, {model} minus end-to-end CNN",
           "accuracy difference", 1, _paired(outside, {"model": model, **reversed_cue}, end_to_end, "accuracy", "field", **ci), {},
           _cue_model_learned(x4, outside_cue, model) and _cue_model_learned(x4, outside_cue, "end-to-end CNN"))
          for model in pipeline + crop],
        *_probe_tests(synthetic, ci, x4),
    ]
    aria = x4_fields[x4_fields["data"] == "Aria"]
    for probe in [p for p in aria["test cue"].unique() if p != "as given"]:
        model = aria["model"].iloc[0]
        value = _paired(aria, {"test cue": probe}, {"test cue": "as given"}, "accuracy", "field", **ci)
        tests.append(("all three (Aria)", f"Aria (real), {model}: accuracy with the {probe} minus as given, same test "
                                          "fields; holds when the loss is surely under 0.05",
                      "accuracy difference", 1, value, {"holds_if_above": -0.05},
                      model_learned(x4, "accuracy", data="Aria", model=model, **{"test cue": "as given"})))
    return pd.DataFrame([{"paper": paper, "claim": CLAIM_WORDS[paper], "test": test, "effect": effect, "seeds": seeds,
                          "value": value, "value low": low, "value high": high,
                          "verdict": claims.verdict(low, high, **options, model_learned=learned)}
                         for paper, test, effect, seeds, (value, low, high), options, learned in tests])


def _spread(table: pd.DataFrame, column: str) -> str:
    return f"{table[column].min():.2f}–{table[column].max():.2f}"


def claims_findings(x0: pd.DataFrame, x1: pd.DataFrame, x2: pd.DataFrame, x3: pd.DataFrame,
                    x4: pd.DataFrame) -> list[str]:
    """The sentences of notebook 04's "What this run shows", one per table, from its tables.

    Parameters
    ----------
    x0 : ``X-T0`` (:func:`claims_verdicts`), rows by ``paper`` and ``effect``.
    x1 : ``X-T1``: rows by ``data`` and ``method``; CAM methods and the baselines ``random`` and ``centred
        Gaussian``; ``relevance mass``, ``pointing game``, ``n``, ``evidence share of the image``,
        ``classifier accuracy`` with its interval.
    x2 : ``X-T2``: rows by ``stage`` (``trained``, ``random to classifier``, …, ``random to block 1``,
        ``trained, class healthy``), ``MR-SSIM`` with its interval, ``Grad-CAM relevance mass``.
    x3 : ``X-T3``: rows by ``split``, ``accuracy``, ``seeds``.
    x4 : ``X-T4``: rows by ``data``, ``model`` and ``test cue``; ``accuracy``, ``Grad-CAM mass on the
        mark``, ``Grad-CAM peak near the mark``, ``mark area share``, ``Grad-CAM fields``; Aria rows add
        ``accuracy minus as given`` and the masses on cells and on the scale-bar corner.

    Returns
    -------
    One sentence per table (and per real half that ran); the last lists each claim's verdict.
    """
    baselines = ["random", "centred Gaussian"]
    out = []
    for data in x1["data"].unique():
        rows = x1[x1["data"] == data]
        cams = rows[~rows["method"].isin(baselines)]
        best = cams.loc[cams["relevance mass"].idxmax(), "method"]
        gaussian, first = row_of(rows, method="centred Gaussian"), row_of(rows, method=best)
        out.append(f"X-T1 ({data}): on {int(first['n'])} test images the CAMs put {_spread(cams, 'relevance mass')} of their "
                   f"mass on the {first['evidence']} (best {best}), against {rows[rows['method'].isin(baselines)]['relevance mass'].max():.2f} "
                   f"for the better baseline (centred Gaussian {gaussian['relevance mass']:.2f}) and "
                   f"{first['evidence share of the image']:.2f} for an even spread; pointing game {_spread(cams, 'pointing game')} "
                   f"against {gaussian['pointing game']:.2f}. The classifier they explain: test accuracy "
                   f"{estimate(first, 'classifier accuracy')} (majority baseline {first['classifier majority baseline']:.2f}). Against a "
                   "centred Gaussian, same images: " + "; ".join(
                       f"{r['test'].split(': ')[1].split(' on the ')[0]} {estimate(r, 'value')} ({r['verdict']})"
                       for _, r in x0[x0["test"].str.startswith(f"X-T1 ({data},")].iterrows()) + ".")
    trained, healthy = row_of(x2, stage="trained"), row_of(x2, stage="trained, class healthy")
    randomised = x2[x2["stage"].str.startswith("random to")]
    every_layer = row_of(x2, stage=list(randomised["stage"])[-1])  # the last stage of the cascade: every layer random
    agreement = row_of(x0, paper="paper 1", effect="Spearman r")
    floor = x0[x0["test"].str.contains("MR-SSIM of the trained model minus")].iloc[0]
    out.append(f"X-T2: MR-SSIM {estimate(trained, 'MR-SSIM')} for the trained model, "
               f"{row_of(x2, stage='random to classifier')['MR-SSIM']:.2f} with its classifier re-initialised and "
               f"{_spread(randomised, 'MR-SSIM')} over the randomisation stages; Grad-CAM's mass on the blasts falls from "
               f"{trained['Grad-CAM relevance mass']:.2f} to {every_layer['Grad-CAM relevance mass']:.2f} with every layer "
               f"random, and the map of the wrong class puts {healthy['Grad-CAM relevance mass']:.2f} there. MR-SSIM and "
               f"localisation: Spearman r {estimate(agreement, 'value')} ({agreement['verdict']}); MR-SSIM of the trained "
               f"model minus the fully random network's {estimate(floor, 'value')}.")
    inflation = row_of(x0, paper="all three")
    out.append(f"X-T3: the image-level split scores {row_of(x3, split='image-level')['accuracy']:.3f} against "
               f"{row_of(x3, split='subject-level')['accuracy']:.3f} with the subject-level split: inflation "
               f"{estimate(inflation, 'value')} over {int(inflation['seeds'])} seeds.")
    synthetic = x4[x4["data"] == "synthetic fields"]
    for cue, rows in synthetic.groupby("cue", sort=False):
        accuracy = {(r["model"], r["test cue"]): r["accuracy"] for _, r in rows.iterrows()}
        models = list(dict.fromkeys(rows["model"]))
        end, seg = (row_of(rows, model=m, **{"test cue": "as in training"}) for m in ("end-to-end CNN", "segmented-input CNN"))
        out.append(f"X-T4 ({cue}): accuracy with the cue as in training / absent / reversed: " + "; ".join(
            f"{m} {accuracy[m, 'as in training']:.2f} / {accuracy[m, 'absent']:.2f} / {accuracy[m, 'reversed']:.2f}" for m in models)
            + f" (majority baseline {end['majority baseline']:.2f}). The segmented input keeps {seg['mark kept by segmentation']:.0%} "
            f"of the mark's pixels. Grad-CAM mass on the mark ({end['mark area share']:.1%} of the field), end-to-end / segmented: "
            f"{end['Grad-CAM mass on the mark']:.3f} / {seg['Grad-CAM mass on the mark']:.3f}, its peak near the mark on "
            f"{end['Grad-CAM peak near the mark']:.0%} / {seg['Grad-CAM peak near the mark']:.0%} of {int(end['Grad-CAM fields'])} "
            f"fields; on nuclei {end['Grad-CAM mass on nuclei']:.2f} / {seg['Grad-CAM mass on nuclei']:.2f} (their area "
            f"{end['nuclei area share']:.2f}), cytoplasm {end['Grad-CAM mass on cytoplasm']:.2f} / {seg['Grad-CAM mass on cytoplasm']:.2f}, "
            f"background {end['Grad-CAM mass on background']:.2f} / {seg['Grad-CAM mass on background']:.2f}.")
    warned = x0[x0["test"].str.contains("MR-SSIM of the end-to-end CNN trained with the shortcut")].iloc[0]
    warning = (f"; whether MR-SSIM would have warned of the shortcut {claims.NOT_LEARNED}" if warned["verdict"] == claims.NOT_LEARNED
               else f", so MR-SSIM {'would have' if warned['value high'] < 0 else 'would not have'} warned of the shortcut")
    out.append(f"X-T4: MR-SSIM of the shortcut model minus the clean model's on the marked fields {estimate(warned, 'value')}"
               f"{warning}.")
    aria = x4[x4["data"] == "Aria"]
    if len(aria):
        out.append(probe_sentence(aria, "X-T4, Aria"))
    counts = x0.groupby("paper", sort=False)["verdict"].value_counts()
    out.append("X-T0: " + "; ".join(f"{paper}: " + ", ".join(f"{n} {v}" for v, n in counts[paper].items())
                                    for paper in x0["paper"].unique()) + " (one row per test, each naming its model).")
    return out
