"""The numbered notebooks: their structure, and that executing each one (default profile, through the
runner) writes every artefact its first cell names. Their outputs are compared with the committed ones
by nbval (``make test``)."""
import os
import re
from pathlib import Path

import nbformat
import pytest

from leukutils import config, run
from leukutils.parameters import STANDARD_PARAMETERS

NOTEBOOKS = run.list_notebooks() if list(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")) else []
ID = re.compile(r"\b(P[123]-(?:T|F|M|A|TA|X)\d+|D-[FT]\d+|X-[TF]\d+)\b")
MACHINE_PATH = re.compile(r"(/work/|/home/|/tmp/|/root/|PosixPath\()")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown", "first cell should say what the notebook regenerates"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    source = tagged[0].source
    for name in STANDARD_PARAMETERS:
        assert re.search(rf"^{name}\s*=", source, re.M), f"parameters cell lacks {name}"
    assert not re.search(r"^\w+\s*=\s*None\s*(#.*)?$", source.split("output_dir")[-1], re.M), \
        "parameters hold the default profile's values as literals, not None"
    others = [c.source for c in nb.cells if c.cell_type == "code" and c is not tagged[0]]
    assert not any("os.environ" in s for s in others), "only the parameters cell may read the environment"
    assert not any("matplotlib.use" in s for s in others), "figures must show in the notebook"
    headings = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"^## ", c.source, re.M)]
    assert len(headings) >= 3, "a notebook has section headings"


#: The most code lines the numbered notebooks may hold outside their parameters cells, together: the
#: library work lives in the package, a notebook cell does one step.
NOTEBOOK_CODE_LINES = 700
DEFINITION = re.compile(r"^\s*(async\s+)?(def|class)\s|\blambda\b", re.M)


def code_lines_outside_parameters(path) -> int:
    """Lines (blank ones included) of a notebook's code cells other than the tagged parameters cell."""
    nb = nbformat.read(path, as_version=4)
    return sum(len(c.source.splitlines()) for c in nb.cells
               if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_cells_define_no_function_or_class(path):
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: {m.group(0).strip()!r}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
             for m in DEFINITION.finditer(c.source)]
    assert not found, f"{path.name} defines code in its cells (move it into leukutils/): {found}"


def test_the_notebooks_hold_little_code():
    lines = {p.name: code_lines_outside_parameters(p) for p in NOTEBOOKS if p.name[:2] in {"00", "01", "02", "03", "04"}}
    assert sum(lines.values()) <= NOTEBOOK_CODE_LINES, f"code lines outside the parameters cells: {lines}"


def test_the_definition_check_can_fail():
    assert DEFINITION.search("x = 1\ndef f():\n    pass") and DEFINITION.search("key = lambda r: r")
    assert not DEFINITION.search("defaults = 1  # classes, lambdas_ are names")


PUBLISHED = sorted((config.ROOT / "results").glob("*/notebooks/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS + PUBLISHED, ids=lambda p: str(p.relative_to(config.ROOT)))
def test_committed_notebook_shows_no_machine_path(path):
    nb = nbformat.read(path, as_version=4)
    assert not MACHINE_PATH.search("".join(c.source for c in nb.cells)), "a cell's source names a folder of the machine"
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not MACHINE_PATH.search(text), f"cell {index} prints a path of the machine: {text[:200]!r}"
            assert "TqdmWarning" not in text, f"cell {index}: {text[:200]!r}"
    assert not MACHINE_PATH.search(str(nb.metadata.get("papermill", {})))


def _written_by_nbval(request) -> set[str] | None:
    """Artefact ids the notebooks executed by nbval in this session wrote (``make test`` points their
    output at a scratch folder, ``$LEUKUTILS_OUTPUT_DIR``), or None when nbval ran none of them."""
    scratch = os.environ.get(config.OUTPUT_ENV)
    executed = {Path(str(item.fspath)).name for item in request.session.items if str(item.fspath).endswith(".ipynb")}
    if not scratch or executed != {p.name for p in NOTEBOOKS}:
        return None
    return {f.name.split("_")[0] for d in ("figures", "tables") for f in (Path(scratch) / d).glob("*_*.*")}


@pytest.mark.slow
def test_each_notebook_writes_the_artefacts_it_names(request, tmp_path):
    """Every artefact id a notebook's first cell names is written when the notebook runs (default
    profile), into the run's output folder and not into the committed ones. Under ``make test`` this
    reads what nbval's execution of the notebooks wrote (this test is ordered after them); alone, it
    executes the notebooks through the runner into a scratch folder."""
    written = _written_by_nbval(request)
    if written is None:
        summary = run.reproduce(output_root=tmp_path, progress=False)
        assert list(summary["status"]) == ["ok"] * len(NOTEBOOKS)
        (run_dir,) = tmp_path.iterdir()
        written = {f.name.split("_")[0] for d in ("figures", "tables") for f in (run_dir / d).glob("*_*.*")}
    for path in NOTEBOOKS:
        named = set(ID.findall(nbformat.read(path, as_version=4).cells[0].source))
        assert named, f"{path.name}: the first cell names no artefact id"
        missing = sorted(named - written)
        assert not missing, f"{path.name} names {missing} but its run wrote none of them"


#: The notebooks that re-implement a paper or test its claims: each explains its methods before using them.
METHOD_NOTEBOOKS = ("01", "02", "03", "04")
INTRO_LINES = 45  # the most lines of a method notebook's introduction: the detail lives where it is used


def explanation_problems(nb) -> list[str]:
    """What keeps a notebook from reading as a methods section: no "How it works" paragraph, one placed after
    the last code cell of its section (explained after it was used), an introduction longer than
    :data:`INTRO_LINES`, or deviations that are not the introduction's last paragraph."""
    problems = []
    intro = nb.cells[0].source
    if len(intro.splitlines()) > INTRO_LINES:
        problems.append(f"the introduction has {len(intro.splitlines())} lines (at most {INTRO_LINES})")
    paragraphs = [p for p in intro.split("\n\n") if p.strip()]
    deviations = [i for i, p in enumerate(paragraphs) if re.match(r"\*\*(Deviations|Choices)\b", p)]
    if deviations and deviations[-1] != len(paragraphs) - 1:
        problems.append("the deviations are not the introduction's last paragraph")
    sections = [[]]  # the cells of each "## " section, in order
    for cell in nb.cells[1:]:
        if cell.cell_type == "markdown" and re.search(r"^## ", cell.source, re.M):
            sections.append([])
        sections[-1].append(cell)
    explained = 0
    for section in sections:
        for i, cell in enumerate(section):
            if cell.cell_type == "markdown" and "**How it works.**" in cell.source:
                explained += 1
                if not any(c.cell_type == "code" for c in section[i + 1:]):
                    problems.append(f"a 'How it works' paragraph follows its section's code: {cell.source[:60]!r}")
    if not explained:
        problems.append("no 'How it works' paragraph")
    return problems


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in METHOD_NOTEBOOKS], ids=lambda p: p.name)
def test_methods_are_explained_before_they_are_used(path):
    problems = explanation_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_the_explanation_check_can_fail():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[md("# T\n\n**Deviations.** x\n\nMore."), md("## 1. A"), code("x = 1"),
                                         md("**How it works.** late")])
    problems = explanation_problems(nb)
    assert any("last paragraph" in p for p in problems) and any("follows its section's code" in p for p in problems)
    nb.cells = [md("# T\n\n**Deviations.** x"), md("## 1. A\n\n**How it works.** first"), code("x = 1")]
    assert explanation_problems(nb) == []
