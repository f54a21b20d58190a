"""README.md: its table "What each notebook reproduces" names exactly the artefacts each notebook writes.

The notebooks are read when the test runs: an artefact a notebook gains or loses must be named in, or
taken out of, its row of the table.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from leukutils import config

README = config.ROOT / "README.md"
ID = re.compile(r"\b(P[123]-(?:T|F|M|A|TA|X)\d+|D-[FT]\d+|X-[TF]\d+)\b")  # as in tests/test_notebooks.py
WRITERS = ("publish_table", "save_table", "save_figure")  # leukutils.report: (table or figure, artefact id, slug, folder)
SECTION = "## What each notebook reproduces"


def readme_rows(text: str) -> dict[str, set[str]]:
    """Notebook file name → the artefact ids its row of the README's table names (second column)."""
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\d\d_\w+\.ipynb)`", cells[0]) if len(cells) >= 2 else None
        if name:
            rows[name.group(1)] = set(ID.findall(cells[1]))
    return rows


def _code(source: str) -> str:
    """A code cell's source without IPython's magics and shell lines, which are not Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def written_ids(sources: list[str]) -> set[str]:
    """Artefact ids that code cells write: the id argument of each ``report.publish_table``,
    ``save_table`` and ``save_figure`` call, a string, or a name bound by the ``for`` loop around the call
    (then every id among the loop's string literals). Raises ``ValueError`` for an id it cannot read."""
    ids: set[str] = set()
    for source in sources:
        tree = ast.parse(_code(source))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and getattr(call.func, "attr", getattr(call.func, "id", None)) in WRITERS):
                continue
            given = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "artefact_id"), None)
            if isinstance(given, ast.Constant) and isinstance(given.value, str) and ID.fullmatch(given.value):
                ids.add(given.value)
                continue
            loop = call
            while loop in parents and not isinstance(loop, ast.For):
                loop = parents[loop]
            bound = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)} if isinstance(loop, ast.For) else set()
            looped = {c.value for c in ast.walk(loop.iter) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                      and ID.fullmatch(c.value)} if isinstance(loop, ast.For) else set()
            if not (isinstance(given, ast.Name) and given.id in bound and looped):
                raise ValueError(f"cannot tell which artefact this call writes: {ast.get_source_segment(_code(source), call)}")
            ids |= looped
    return ids


def notebook_ids(path: Path) -> set[str]:
    notebook = nbformat.read(path, as_version=4)
    return written_ids([cell.source for cell in notebook.cells if cell.cell_type == "code"])


NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_the_table_has_one_row_per_notebook():
    rows = readme_rows(README.read_text(encoding="utf-8"))
    assert sorted(rows) == [p.name for p in NOTEBOOKS], (
        f"README rows {sorted(rows)} against notebooks {[p.name for p in NOTEBOOKS]}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_table_names_every_artefact_the_notebook_writes(path):
    named = readme_rows(README.read_text(encoding="utf-8")).get(path.name, set())
    written = notebook_ids(path)
    missing, extra = sorted(written - named), sorted(named - written)
    assert not missing and not extra, (
        f"README's row of {path.name}: " + "; ".join(
            [f"missing {', '.join(missing)} (the notebook writes them)"] * bool(missing)
            + [f"extra {', '.join(extra)} (the notebook does not write them)"] * bool(extra)))


def test_the_reading_of_ids_can_fail():
    cells = ['%matplotlib inline\nreport.save_figure(plots.curve(f, mean="a"), "P2-F7", "series length", dirs.figures)',
             'for artefact, q in (("P1-F3", "accuracy"), ("P1-F4", "loss")):\n    report.save_figure(fig, artefact, q, d)',
             'print(report.publish_table(t0, "P2-T0", "patient level metrics", dirs.tables))',
             'report.save_table(t1, artefact_id="P1-T1", slug="x", out_dir=d)']
    assert written_ids(cells) == {"P2-F7", "P1-F3", "P1-F4", "P2-T0", "P1-T1"}
    with pytest.raises(ValueError, match="cannot tell"):
        written_ids(["report.save_figure(fig, name_of(x), 'slug', d)"])
    table = f"{SECTION}\n\n| notebook | reproduces | data |\n|---|---|---|\n| `01_x.ipynb` | `P1-T1`, `P1-F3` | C-NMC |\n\n## Data\n`P1-T9`"
    assert readme_rows(table) == {"01_x.ipynb": {"P1-T1", "P1-F3"}}
