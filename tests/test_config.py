from pathlib import Path

import numpy as np
import pytest
import torch

from leukutils import config


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "99_toy.yaml").write_text("epochs: 5\nwidth: [8, 16]\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "99_toy.yaml").write_text("# nothing differs\n")
    monkeypatch.setattr(config, "PROFILE_DIR", tmp_path)
    return tmp_path


def test_profiles_are_the_default_and_one_per_folder(profiles):
    assert config.profiles() == [config.DEFAULT_PROFILE, "empty", "real"]


def test_profile_parameters_read_the_yaml_file(profiles):
    assert config.profile_parameters("99_toy", "real") == {"epochs": 5, "width": [8, 16]}
    assert config.profile_parameters("notebooks/99_toy.ipynb", "empty") == {}
    assert config.profile_parameters("99_toy", config.DEFAULT_PROFILE) == {}


def test_unknown_profile_and_missing_file_are_errors(profiles):
    with pytest.raises(ValueError, match="unknown profile 'fast'.*real"):
        config.profile_parameters("99_toy", "fast")
    with pytest.raises(FileNotFoundError, match="98_other.yaml"):
        config.profile_parameters("98_other", "real")
    (profiles / "real" / "97_list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        config.profile_parameters("97_list", "real")


def test_seed_everything_repeats_draws():
    config.seed_everything(7)
    a = (np.random.rand(3), torch.rand(3))
    config.seed_everything(7)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_choose_device():
    assert config.choose_device("cpu").type == "cpu"
    assert config.choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            config.choose_device("cuda")


def test_output_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv(config.OUTPUT_ENV, raising=False)
    assert config.output_dirs(None).figures == config.FIGURES_DIR
    dirs = config.output_dirs(tmp_path / "run")
    assert dirs.tables == tmp_path / "run" / "tables" and dirs.tables.is_dir()
    monkeypatch.setenv(config.OUTPUT_ENV, str(tmp_path / "scratch"))
    assert config.output_dirs(None).figures == tmp_path / "scratch" / "figures"


def test_every_key_of_every_profile_file_is_a_parameter_of_its_notebook():
    from leukutils import run

    notebooks = {p.stem: p for p in run.list_notebooks()}
    files = sorted(config.PROFILE_DIR.glob("*/*.yaml"))
    assert files, "no profile files found"
    for path in files:
        assert path.stem in notebooks, f"{path} names no notebook; notebooks are {sorted(notebooks)}"
        names = set(run.notebook_parameter_names(notebooks[path.stem]))
        unknown = set(config.profile_parameters(path.stem, path.parent.name)) - names
        assert not unknown, f"{path}: {sorted(unknown)} are not parameters of {path.stem}"
    for profile in config.profiles()[1:]:  # every profile covers every notebook
        assert {p.stem for p in (config.PROFILE_DIR / profile).glob("*.yaml")} == set(notebooks), profile


def test_notebook_parameters_reads_the_parameters_cell_names_from_a_namespace():
    namespace = {"profile": "synthetic", "seed": 3, "device": "cpu", "data_dir": None, "output_dir": None,
                 "examples_per_class": 2, "side_by_side": 6, "realism_images": 24, "recovery_images": 24,
                 "cnmc_subjects": 8, "cnmc_cells": 40, "np": np}
    values = config.notebook_parameters("00_data", namespace)
    assert values["seed"] == 3 and "np" not in values and len(values) == 11
    del namespace["cnmc_cells"]
    with pytest.raises(NameError, match="cnmc_cells"):
        config.notebook_parameters("00_data", namespace)


def test_environment_yml_carries_the_lock_file_pins():
    from leukutils.environment import conda_environment

    assert (config.ROOT / "environment.yml").read_text() == conda_environment(), \
        "environment.yml is stale: run `python -m leukutils.environment > environment.yml`"


def test_notebook_warnings_name_no_machine_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(config.MIRROR_ENV, str(tmp_path / "mirror"))
    message = (f"first skipped: {config.cache_dir() / 'synth' / 'x.xml'}; {tmp_path / 'mirror' / 'bccd' / 'a.jpg'}; "
               f"{config.ROOT / 'notebooks' / 'n.ipynb'}")
    shown = config._short_warning(UserWarning(message), UserWarning, "f.py", 1)
    assert shown == ("UserWarning: first skipped: $LEUKUTILS_DATA_CACHE/synth/x.xml; $LEUKUTILS_DATA_MIRROR/bccd/a.jpg; "
                     "notebooks/n.ipynb\n")
