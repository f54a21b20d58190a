"""Structure of the committed notebooks: a tagged parameters cell, the artefact ids named at the top,
and every named artefact present in figures/ or tables/. (Their outputs are checked by nbval.)"""
import re

import nbformat
import pytest

from leukutils import config, run

NOTEBOOKS = run.list_notebooks() if list(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")) else []
ID = re.compile(r"\b(P[123]-(?:T|F|M|A|TA|X)\d+|D-[FT]\d+)\b")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown", "first cell should say what the notebook regenerates"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    source = tagged[0].source
    for name in run.STANDARD_PARAMETERS:
        assert re.search(rf"^{name}\s*=", source, re.M), f"parameters cell lacks {name}"
    others = [c.source for c in nb.cells if c.cell_type == "code" and c is not tagged[0]]
    assert not any("os.environ" in s for s in others), "only the parameters cell may read the environment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_named_artefacts_are_regenerated(path):
    nb = nbformat.read(path, as_version=4)
    named = set(ID.findall(nb.cells[0].source))
    assert named, "the first cell names no artefact id"
    written = {f.name.split("_")[0] for d in (config.FIGURES_DIR, config.TABLES_DIR) for f in d.glob("*_*.*")}
    missing = sorted(named - written)
    assert not missing, f"{path.name} names {missing} but figures/ and tables/ hold none of them"
