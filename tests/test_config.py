from pathlib import Path

import numpy as np
import pytest
import torch

from leukutils import config


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    (tmp_path / "99.toml").write_text('[common]\nepochs = 5\nwidth = 8\n[smoke]\nepochs = 1\n[real]\n[paper]\nepochs = 50\n')
    monkeypatch.setattr(config, "PROFILE_DIR", tmp_path)
    return tmp_path


def test_profile_overrides_common(profiles):
    assert config.profile_defaults("99", "smoke") == {"epochs": 1, "width": 8}
    assert config.profile_defaults("99", "real") == {"epochs": 5, "width": 8}
    assert config.profile_defaults("99", "paper")["epochs"] == 50


def test_given_values_win_and_none_means_default(profiles):
    params = config.notebook_params("99", "smoke", epochs=None, width=16)
    assert params["epochs"] == 1 and params["width"] == 16 and params["profile"] == "smoke"


def test_unknown_parameter_and_profile_are_errors(profiles):
    with pytest.raises(KeyError, match="widht"):
        config.notebook_params("99", "smoke", widht=3)
    with pytest.raises(ValueError, match="unknown profile"):
        config.profile_defaults("99", "fast")
    with pytest.raises(FileNotFoundError):
        config.profile_defaults("98", "smoke")


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


def test_every_committed_profile_file_has_the_three_profiles():
    files = sorted(config.PROFILE_DIR.glob("*.toml"))
    for path in files:
        for profile in config.PROFILES:
            assert isinstance(config.profile_defaults(path.stem, profile), dict), path


def test_environment_yml_carries_the_lock_file_pins():
    from leukutils.environment import conda_environment

    assert (config.ROOT / "environment.yml").read_text() == conda_environment(), \
        "environment.yml is stale: run `python -m leukutils.environment > environment.yml`"
