"""The published real-data results (results/real/) agree with what the code computes now.

Recomputes the cheap, deterministic part of a published run (notebook 00's Otsu nucleus recovery on
real JTSC, `D-T2`) with the parameters its provenance card records, and compares it with the
published table. Needs the JTSC copy (registry cache or LEUKUTILS_DATA_MIRROR) and a published run.
"""
import json

import numpy as np
import pandas as pd
import pytest

from leukutils import publish
from leukutils.data import readers, registry
from leukutils.data.sources import open_dataset, sample_records
from leukutils.data.synth import realism

REAL = publish.RESULTS_DIR / "real"


@pytest.mark.realdata
def test_published_jtsc_nucleus_recovery_is_what_the_code_computes():
    card_path, tables = REAL / "provenance" / "00_data.json", sorted((REAL / "tables").glob("D-T2_*.csv"))
    if not card_path.exists() or not tables:
        pytest.skip("notebook 00's real run is not published (leukutils reproduce --profile real --only 00 --publish)")
    if registry.locate("jtsc") is None:
        pytest.skip("JTSC not found: run `leukutils data fetch jtsc` or set LEUKUTILS_DATA_MIRROR")
    card = json.loads(card_path.read_text())
    published = pd.read_csv(tables[0]).set_index("set").loc["JTSC real"]
    picked = sample_records(open_dataset("jtsc", "real"), card["parameters"]["recovery_images"], card["parameters"]["seed"])
    now = realism.nucleus_recovery([readers.load_image(r.path) for r in picked],
                                   [readers.load_mask(r.mask_path) == 255 for r in picked])
    assert int(published["n"] if "n" in published else published["n_images"]) == len(picked)
    np.testing.assert_allclose([now[k] for k in ("mean_iou", "median_iou", "recovered")],
                               published[["mean_iou", "median_iou", "recovered"]].to_numpy(float), atol=5e-5)
