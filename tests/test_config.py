import ast
import re
import warnings

import nbformat
import numpy as np
import pytest
import torch

from leukutils import config


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


def test_run_folder_is_profile_and_stamp_under_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    assert config.run_folder("real", stamp="20250101-120000") == tmp_path / "runs" / "real-20250101-120000"
    assert config.run_folder("paper", tmp_path / "elsewhere").parent == tmp_path / "elsewhere"
    assert re.fullmatch(r"synthetic-\d{8}-\d{6}", config.run_folder("synthetic").name)


def _toy_compendium(root, used_source="def f():\n    return 1\n"):
    """A package ``leukutils`` under ``root`` whose notebook imports ``used`` (which imports ``sub.deep``)."""
    for name, code in {"__init__.py": "", "used.py": "from .sub import deep\n" + used_source, "unused.py": "x = 1\n",
                       "sub/__init__.py": "", "sub/deep.py": "y = 2\n"}.items():
        (root / "leukutils" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "leukutils" / name).write_text(code)
    (root / "notebooks").mkdir(exist_ok=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%matplotlib inline\nfrom leukutils import used")])
    nbformat.write(notebook, root / "notebooks" / "01_toy.ipynb")


def test_module_dependencies_follow_the_imports_of_the_notebook(tmp_path):
    _toy_compendium(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in config.module_dependencies("01_toy", tmp_path)]
    assert found == ["leukutils/__init__.py", "leukutils/sub/__init__.py", "leukutils/sub/deep.py", "leukutils/used.py"]


def test_run_key_changes_when_the_code_the_notebook_imports_changes(tmp_path, monkeypatch):
    first, second = tmp_path / "here", tmp_path / "there"
    _toy_compendium(first)
    _toy_compendium(second)
    monkeypatch.setattr(config, "ROOT", first)
    key = config.run_key({"epochs": 2, "device": "cpu"}, "01_toy")
    assert len(key) == 10 and config.run_key({"epochs": 2, "device": "cuda"}, "01_toy") == key  # where it ran: no
    assert config.run_key({"epochs": 3}, "01_toy") != key
    assert config.code_hash("01_toy", second) == config.code_hash("01_toy", first)  # the same code elsewhere
    (first / "leukutils" / "unused.py").write_text("x = 2\n")  # not imported: the same key
    assert config.run_key({"epochs": 2}, "01_toy") == key
    (first / "leukutils" / "sub" / "deep.py").write_text("y = 3\n")  # imported by a module the notebook imports
    changed = config.run_key({"epochs": 2}, "01_toy")
    assert changed != key
    (first / "leukutils" / "used.py").write_text("from .sub import deep\ndef f():\n    return 2\n")
    assert config.run_key({"epochs": 2}, "01_toy") not in (key, changed)


def test_run_key_of_a_notebook_hashes_its_package_modules():
    assert config.PACKAGE_DIR / "train.py" in config.module_dependencies("01_dual_cam")
    assert re.fullmatch(r"[0-9a-f]{10}", config.run_key({"seed": 0}, "01_dual_cam"))


def test_the_set_up_says_each_missing_set_of_weights_once():
    """config imports no model code: it finds the models' warnings by their first words. Every
    PretrainedWeightsUnavailable the models raise begins with them."""
    from leukutils.models.weights import PretrainedWeightsUnavailable

    starts = []
    for path in sorted((config.PACKAGE_DIR / "models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "warn" and \
                    any(getattr(a, "id", None) == "PretrainedWeightsUnavailable" for a in node.args[1:]):
                message = node.args[0]
                starts.append(message.values[0].value if isinstance(message, ast.JoinedStr) else message.value)
    assert len(starts) >= 3
    for start in starts:
        assert re.match(config.PRETRAINED_WEIGHTS_WARNING, start), start
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("once", message=config.PRETRAINED_WEIGHTS_WARNING, category=UserWarning)
        for _ in range(2):
            warnings.warn("ImageNet weights X for alexnet could not be loaded", PretrainedWeightsUnavailable)
            warnings.warn("another warning", UserWarning)
    assert [str(w.message) for w in caught].count("another warning") == 2 and len(caught) == 3
