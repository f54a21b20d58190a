"""A parameter value a notebook cannot run with (of the wrong type, out of its range, a list it cannot use)
stops it in its first code cells when papermill alone runs it, before any data is read or any model
trained, with an error naming the parameter and what it needs."""
import pytest

from leukutils import config, run

NOTEBOOKS = config.ROOT / "notebooks"

CASES = [
    ("00_data.ipynb", {"realism_images": "many", "seed": -1},
     ["realism_images = 'many': must be an integer (its default is 24)", "seed = -1: must be an integer ≥ 0"]),
    ("01_dual_cam.ipynb", {"models": ["standard_cnn", "densenet121", "resnet50"]},
     ["mr_ssim_images names 'mobilenet_v2', which is none of ['densenet121', 'resnet50', 'standard_cnn']"]),
    ("02_mil_pipeline.ipynb", {"extractors": ["alexnet", "resnet50", "swin_t"], "partition_sizes": [], "cells_per_smear": [9, 4],
                               "extractor_sizes": {"alexnet": 64}},
     ["partition_sizes is empty", "cells_per_smear = [9, 4] is not a [low, high] pair", "extractors names 'swin_t'",
      "extractor_sizes has no entry for 'resnet50', 'swin_t'"]),
    ("04_claims_tested.ipynb", {"real_sets": ["JTSC"], "cam_methods": []},
     ["real_sets names 'JTSC', which is none of ['aria', 'jtsc']", "cam_methods is empty"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("notebook, parameters, messages", CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_parameter_stops_before_training(notebook, parameters, messages, tmp_path):
    with pytest.raises(run.NotebookFailed) as failure:
        run.execute(NOTEBOOKS / notebook, tmp_path / notebook, {**parameters, "output_dir": str(tmp_path)},
                    tmp_path / "log.txt", timeout=300)
    detail = str(failure.value)
    assert "ValueError" in detail
    for message in messages:
        assert message in detail
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())  # nothing trained
