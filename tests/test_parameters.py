"""leukutils.parameters: reading a notebook's parameters cell, the profiles, ``-p`` values, the type and
range checks, the list checks, and where a run with changed values writes."""
import ast
import re

import pytest

from leukutils import cli, config, parameters, run

from conftest import write_toy_notebook

NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


# ----------------------------------------------------------------------------------- the parameters cell


def test_notebook_defaults_are_the_literals_papermill_reads_too():
    import papermill as pm

    assert NOTEBOOKS
    for path in NOTEBOOKS:
        ours = parameters.notebook_defaults(path)
        theirs = {name: ast.literal_eval(spec["default"]) for name, spec in pm.inspect_notebook(str(path)).items()}
        assert list(ours) == list(theirs) and ours == theirs, path.name
        assert parameters.notebook_defaults(path.stem) == ours  # a stem is looked up in notebooks/


def test_standard_parameters_are_in_every_notebook():
    for path in NOTEBOOKS:
        assert set(parameters.STANDARD_PARAMETERS) <= set(parameters.notebook_defaults(path)), path.name


def test_a_parameter_that_is_not_a_literal_is_named(tmp_path):
    write_toy_notebook(tmp_path / "01_toy.ipynb", "x = 1", 'seed = 0\nsize = len("abc")')
    with pytest.raises(ValueError, match=r"01_toy.ipynb: parameter size = len\('abc'\) is not a literal"):
        parameters.notebook_defaults(tmp_path / "01_toy.ipynb")


def test_notebook_parameters_reads_the_parameters_cell_names_from_a_namespace(monkeypatch):
    monkeypatch.delenv(config.OUTPUT_ENV, raising=False)
    namespace = {**parameters.notebook_defaults("00_data"), "np": object()}
    values = parameters.notebook_parameters("00_data", namespace)
    assert values == parameters.notebook_defaults("00_data") and "np" not in values
    del namespace["cnmc_cells"]
    with pytest.raises(NameError, match="cnmc_cells"):
        parameters.notebook_parameters("00_data", namespace)


# -------------------------------------------------------------------------------------------- profiles


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "99_toy.yaml").write_text("epochs: 5\nwidth: [8, 16]\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "99_toy.yaml").write_text("# nothing differs\n")
    monkeypatch.setattr(config, "PROFILE_DIR", tmp_path)
    return tmp_path


def test_profiles_are_the_default_and_one_per_folder(profiles):
    assert parameters.profiles() == [config.DEFAULT_PROFILE, "empty", "real"]


def test_profile_parameters_read_the_yaml_file(profiles):
    assert parameters.profile_parameters("99_toy", "real") == {"epochs": 5, "width": [8, 16]}
    assert parameters.profile_parameters("notebooks/99_toy.ipynb", "empty") == {}
    assert parameters.profile_parameters("99_toy", config.DEFAULT_PROFILE) == {}


def test_unknown_profile_and_missing_file_are_errors(profiles):
    with pytest.raises(ValueError, match="unknown profile 'fast'.*real"):
        parameters.profile_parameters("99_toy", "fast")
    with pytest.raises(FileNotFoundError, match="98_other.yaml"):
        parameters.profile_parameters("98_other", "real")
    (profiles / "real" / "97_list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        parameters.profile_parameters("97_list", "real")


def test_every_key_of_every_profile_file_is_a_parameter_of_its_notebook():
    notebooks = {p.stem: p for p in run.list_notebooks()}
    files = sorted(config.PROFILE_DIR.glob("*/*.yaml"))
    assert files, "no profile files found"
    for path in files:
        assert path.stem in notebooks, f"{path} names no notebook; notebooks are {sorted(notebooks)}"
        names = set(parameters.notebook_defaults(notebooks[path.stem]))
        unknown = set(parameters.profile_parameters(path.stem, path.parent.name)) - names
        assert not unknown, f"{path}: {sorted(unknown)} are not parameters of {path.stem}"
    for profile in parameters.profiles()[1:]:  # every profile covers every notebook
        assert {p.stem for p in (config.PROFILE_DIR / profile).glob("*.yaml")} == set(notebooks), profile


PROFILE_FILES = sorted(config.PROFILE_DIR.glob("*/*.yaml"))
@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_profile_value_passes_the_checks(path):
    defaults = parameters.notebook_defaults(path.stem)
    assert parameters.value_problems(parameters.profile_parameters(path.stem, path.parent.name), defaults) == {}


def test_parse_value():
    assert parameters.parse_value("3") == 3 and parameters.parse_value("None") is None
    assert parameters.parse_value("resnet") == "resnet" and parameters.parse_value("[1, 2]") == [1, 2]
    assert parameters.parse_value("-1") == -1 and parameters.parse_value("abc") == "abc"


def test_standard_parameters_hold_only_what_differs(tmp_path):
    assert parameters.standard_parameters(config.DEFAULT_PROFILE) == {}
    given = parameters.standard_parameters("real", "cpu", str(tmp_path), tmp_path / "run")
    assert given == {"profile": "real", "device": "cpu", "data_dir": str(tmp_path), "output_dir": str(tmp_path / "run")}


# ------------------------------------------------------------------------------------ types and ranges


@pytest.mark.parametrize("name, value, default, message", [
    ("epochs", "abc", 4, "epochs = 'abc': must be an integer (its default is 4)"),
    ("epochs", -1, 4, "epochs = -1: must be a positive integer"),
    ("epochs", 0, 4, "epochs = 0: must be a positive integer"),
    ("epochs", 2.0, 4, "epochs = 2.0: must be an integer (its default is 4)"),
    ("epochs", True, 4, "epochs = True: must be an integer (its default is 4)"),  # a bool is not an int here
    ("seed", -1, 0, "seed = -1: must be an integer ≥ 0"),
    ("lr", "fast", 0.001, "lr = 'fast': must be a number (its default is 0.001)"),
    ("lr", -0.1, 0.001, "lr = -0.1: must be a positive number"),
    ("cue_rate", 1.5, 0.95, "cue_rate = 1.5: must be a number in [0, 1]"),
    ("test_fraction", float("nan"), 0.25, "test_fraction = nan: must be a number in [0, 1]"),
    ("zoom", 0.0, 0.6, "zoom = 0.0: must be a number in (0, 1]"),
    ("seg_k", 1, 2, "seg_k = 1: must be an integer ≥ 2"),
    ("n_boot", 0, 200, "n_boot = 0: must be a positive integer"),
    ("one_cycle", 1, True, "one_cycle = 1: must be True or False (its default is True)"),
    ("split", 3, "image", "split = 3: must be a string (its default is 'image')"),
    ("models", "resnet50", ["standard_cnn"], "models = 'resnet50': must be a list (its default is ['standard_cnn'])"),
    ("models", ("a",), ["standard_cnn"], "must be a list"),
    ("fab_options", [1], {"size": [1, 2]}, "fab_options = [1]: must be a dict (its default is {'size': [1, 2]})"),
    ("cells_per_smear", [0, 9], [4, 9], "cells_per_smear = [0, 9]: each item must be a positive integer"),
    ("cells_per_smear", [4.5, 9], [4, 9], "each item must be a positive integer"),
    ("blast_fraction", [0.1, 1.5], [0.1, 0.5], "blast_fraction = [0.1, 1.5]: each item must be a number in [0, 1]"),
    ("extractor_sizes", {"alexnet": 0}, {"alexnet": 64}, "each value must be a positive integer"),
    ("dilation", "x", "auto", "dilation = 'x': must be 'auto' or an integer ≥ 0 (its default is 'auto')"),
    ("dilation", -2, "auto", "must be 'auto' or an integer ≥ 0"),
])
def test_a_bad_value_names_the_parameter_the_value_and_what_it_must_be(name, value, default, message):
    problem = parameters.value_problem(name, value, default)
    assert problem is not None and message in problem
    with pytest.raises(ValueError, match=re.escape(message)):
        parameters.check_values({name: value}, {name: default})


@pytest.mark.parametrize("name, value, default", [
    ("epochs", 3, 4), ("lr", 1, 0.001), ("lr", 0.5, 0.001), ("cue_rate", 0, 0.95), ("cue_rate", 1.0, 0.95),
    ("data_dir", "/some/folder", None), ("data_dir", 3, None), ("max_per_class", 0, 0), ("threads", 0, 2),
    ("dilation", "auto", "auto"), ("dilation", 0, "auto"), ("dilation", 3, "auto"), ("models", [], ["a"]),
    ("blast_fraction", [0, 1], [0.1, 0.5]), ("mr_ssim_images", {"mobilenet_v2": 0}, {"mobilenet_v2": 50}),
    ("size", -5, 3),  # a name without a declared range: its type only
])
def test_a_good_value_passes(name, value, default):
    assert parameters.value_problem(name, value, default) is None


def test_every_bad_value_is_named_at_once():
    with pytest.raises(ValueError) as error:
        parameters.check_values({"epochs": "abc", "seed": -1, "lr": 0.1}, {"epochs": 4, "seed": 0, "lr": 0.01})
    assert "epochs = 'abc'" in str(error.value) and "seed = -1" in str(error.value) and "lr" not in str(error.value)


def test_every_declared_range_names_a_parameter_and_every_default_passes():
    defaults = [parameters.notebook_defaults(path) for path in NOTEBOOKS]
    names = set().union(*defaults)
    assert not set(parameters.RANGES) - names, "RANGES names parameters no notebook has"
    for values in defaults:
        assert parameters.value_problems(values, values) == {}


def test_injected_parameters_name_the_notebook_and_the_profile_file(folders, tmp_path):
    write_toy_notebook(folders / "01_toy.ipynb", "x = 1")
    assert parameters.injected_parameters(folders / "01_toy.ipynb", config.DEFAULT_PROFILE, {"size": 5}) == {"size": 5}
    with pytest.raises(parameters.UnknownParameter, match="01_toy.ipynb has no parameter 'sise'.*size"):
        parameters.injected_parameters(folders / "01_toy.ipynb", config.DEFAULT_PROFILE, {"sise": 5})
    with pytest.raises(ValueError, match=r"01_toy.ipynb: size = 'big': must be an integer \(its default is 3\)"):
        parameters.injected_parameters(folders / "01_toy.ipynb", config.DEFAULT_PROFILE, {"size": "big"})
    (tmp_path / "profiles" / "real" / "01_toy.yaml").write_text("size: 7\nseed: -3\n")
    assert parameters.injected_parameters(folders / "01_toy.ipynb", "real", {"seed": 2}) == {"size": 7, "seed": 2}
    with pytest.raises(ValueError, match=r"seed = -3: must be an integer ≥ 0 \(set in profile file .*01_toy.yaml\)"):
        parameters.injected_parameters(folders / "01_toy.ipynb", "real")


def test_overrides_are_the_values_that_differ():
    defaults = {"seed": 0, "lr": 1.0, "size": 1, "models": ["a"], "data_dir": None}
    assert parameters.overrides(defaults, defaults) == {}
    assert parameters.overrides({"seed": 0, "lr": 1}, defaults) == {}  # 1 for 1.0 is no change
    assert parameters.overrides({"seed": 1, "size": True, "models": ["a", "b"], "data_dir": "x"}, defaults) == {
        "seed": 1, "size": True, "models": ["a", "b"], "data_dir": "x"}


# ------------------------------------------------------------------------- where a changed run writes


def test_a_changed_value_without_output_dir_writes_under_runs(folders, tmp_path, monkeypatch, capsys):
    """What the notebook's set-up does when papermill alone injects ``-p seed 1``."""
    notebook = folders / "01_toy.ipynb"
    write_toy_notebook(notebook, "x = 1")
    namespace = parameters.notebook_defaults(notebook)
    assert parameters.notebook_parameters(notebook, namespace)["output_dir"] is None  # the default run
    assert capsys.readouterr().out == ""
    values = parameters.notebook_parameters(notebook, {**namespace, "seed": 1})
    folder = values["output_dir"]
    assert folder.startswith(str(tmp_path / "runs" / "synthetic-")), folder
    said = capsys.readouterr().out
    assert "seed differs from the notebook's defaults: this run writes under" in said and folder in said
    given = str(tmp_path / "elsewhere")
    assert parameters.notebook_parameters(notebook, {**namespace, "seed": 1, "output_dir": given})["output_dir"] == given
    monkeypatch.setenv(config.OUTPUT_ENV, str(tmp_path / "scratch"))  # the notebook tests' scratch folder
    assert parameters.notebook_parameters(notebook, {**namespace, "seed": 1})["output_dir"] is None
    with pytest.raises(ValueError, match="seed = -1: must be an integer ≥ 0"):
        parameters.notebook_parameters(notebook, {**namespace, "seed": -1})


# ------------------------------------------------------------------------------------------ the runner


@pytest.mark.parametrize("value, message", [("abc", "epochs = 'abc': must be an integer (its default is"),
                                            ("-1", "epochs = -1: must be a positive integer")])
def test_reproduce_with_a_bad_value_stops_before_any_kernel_starts(value, message, tmp_path, monkeypatch, capsys):
    """``leukutils reproduce --only 04 -p epochs abc`` (and ``-1``) on the real notebook."""
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(config, "FIGURES_DIR", tmp_path / "figures")
    monkeypatch.setattr(config, "TABLES_DIR", tmp_path / "tables")

    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel started")

    monkeypatch.setattr(run, "execute", no_kernel)
    assert cli.main(["reproduce", "--quiet", "--only", "04", "-p", "epochs", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 04_claims_tested.ipynb: ") and message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir()), "nothing is written"


# ------------------------------------------------------------------------------------------ list checks

GOOD = {"sizes": [8, 16], "seeds": [0], "span": [0.1, 0.5], "shape": [96, 128], "methods": ["gradcam"],
        "extractors": ["alexnet"], "extractor_sizes": {"alexnet": 64, "vgg16": 32}}
RULES = dict(nonempty=["sizes", "seeds"], ranges=["span"], shapes=["shape"], choices={"methods": {"gradcam", "hirescam"}},
             keyed={"extractors": "extractor_sizes"})


def test_a_good_set_of_lists_has_no_problem():
    assert parameters.list_problems(GOOD, **RULES) == []
    parameters.check_list_parameters(GOOD, **RULES)  # raises nothing


@pytest.mark.parametrize("change, message", [
    ({"sizes": []}, "sizes is empty"),
    ({"span": [0.5, 0.1]}, "span = [0.5, 0.1] is not a [low, high] pair"),
    ({"span": [0.5]}, "span = [0.5] is not a [low, high] pair"),
    ({"shape": [96, 0]}, "shape = [96, 0] is not [height, width] in px"),
    ({"methods": ["gradcam", "GradCAM"]}, "methods names 'GradCAM', which is none of ['gradcam', 'hirescam']"),
    ({"methods": "GradCAM"}, "methods names 'GradCAM', which is none of ['gradcam', 'hirescam']"),  # one string: itself
    ({"extractors": ["alexnet", "resnet50"]}, "extractor_sizes has no entry for 'resnet50' of extractors"),
])
def test_each_list_problem_is_named(change, message):
    problems = parameters.list_problems({**GOOD, **change}, **RULES)
    assert len(problems) == 1 and message in problems[0]


def test_every_list_problem_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        parameters.check_list_parameters({**GOOD, "sizes": [], "seeds": [], "span": [1, 0]}, **RULES)
    assert str(error.value).count(";") == 2


# --------------------------------------------------------------------------------------------- imports


def _package_imports(module: str) -> set[str]:
    """The package modules a module of leukutils imports (``from . import a`` → ``a``; ``from .data import
    registry`` → ``data.registry``)."""
    path = config.PACKAGE_DIR.joinpath(*module.split(".")).with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {f"{node.module}.{a.name}" if node.module and config.module_file(f"leukutils.{node.module}.{a.name}")
                      else node.module or a.name for a in node.names}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.startswith("leukutils") for n in names), f"{module}: import the package relatively"
    return found


def test_the_parameters_runner_and_publishing_import_down_the_layers_only():
    assert _package_imports("config") == set()
    assert _package_imports("parameters") == {"config"}
    assert _package_imports("run") <= {"config", "parameters", "publish"}
    assert _package_imports("publish") <= {"config", "parameters", "data.registry", "report"}
    importers = {path.stem for path in config.PACKAGE_DIR.glob("*.py") if "run" in _package_imports(path.stem)}
    assert importers <= {"cli", "grid"}
