"""A static results site: ``make site`` (``python -m leukutils.site``).

Renders the committed executed notebooks (the default run, and the published runs under
``results/<profile>/``) to HTML with nbconvert, and writes ``site/index.html``: one row per artefact id,
its figure or table from the default run and from each published run, the papers' values for it, and a
link to the notebook section that made it. Nothing is executed: the site shows what is committed.
"""
from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path

import pandas as pd

from . import config, report
from .publish import RESULTS_DIR

SITE_DIR = config.ROOT / "site"
ARTEFACT = re.compile(r"^((?:P[123]|D|X)-[A-Z]+\d+)_")


def render_notebook(notebook: Path, out: Path) -> Path:
    """``notebook`` as a standalone HTML page (nbconvert's lab template, inputs and outputs)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(notebook, as_version=4))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def heading_anchor(text: str) -> str:
    """The id nbconvert gives a Markdown heading: its text with spaces as hyphens (inline code marks
    removed)."""
    return re.sub(r"\s+", "-", text.replace("`", "").strip())


def artefact_sections(notebook: Path) -> dict[str, tuple[str, str]]:
    """Artefact id → (heading text, anchor) of the section that makes it in ``notebook``: the first
    heading that names the id, else the section (below the title) where the id is first mentioned."""
    import nbformat

    named: dict[str, tuple[str, str]] = {}
    mentioned: dict[str, tuple[str, str]] = {}
    heading, ids = None, re.compile(r"\b((?:P[123]|D|X)-[A-Z]+\d+)\b")
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^(#{1,3})\s+(.*)", line)
            if match:
                heading = (match.group(2), heading_anchor(match.group(2))) if len(match.group(1)) > 1 else None
                for artefact in ids.findall(line):
                    named.setdefault(artefact, (match.group(2), heading_anchor(match.group(2))))
            elif heading:
                for artefact in ids.findall(line):
                    mentioned.setdefault(artefact, heading)
    return mentioned | named


def outputs_of(folder: Path) -> dict[str, dict[str, Path]]:
    """Artefact id → {"table": csv, "figure": png} found in ``folder``'s tables/ and figures/."""
    found: dict[str, dict[str, Path]] = {}
    for kind, sub, pattern in (("table", "tables", "*.csv"), ("figure", "figures", "*.png")):
        for path in sorted((folder / sub).glob(pattern)):
            match = ARTEFACT.match(path.name)
            if match:
                found.setdefault(match.group(1), {})[kind] = path
    return found


def _cell(outputs: dict[str, Path] | None, site: Path, copy_to: Path) -> str:
    if not outputs:
        return "<td class='none'>—</td>"
    parts = []
    for kind, path in outputs.items():
        target = copy_to / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        link = target.relative_to(site).as_posix()
        if kind == "figure":
            parts.append(f"<a href='{link}'><img src='{link}' alt='{html.escape(path.stem)}'></a>")
        else:
            table = report.format_table(pd.read_csv(path))
            parts.append(f"<details><summary><a href='{link}'>{html.escape(path.name)}</a> ({len(table)} rows)</summary>"
                         f"{table.to_html(index=False, border=0, na_rep='')}</details>")
    return "<td>" + "".join(parts) + "</td>"


def _paper_cell(artefact: str, values: pd.DataFrame) -> str:
    rows = values[values["artefact"] == artefact]
    if rows.empty:
        return "<td class='none'>—</td>"
    items = "".join(f"<li>{html.escape(str(r.key))}, {html.escape(str(r.column))}: {r.value:g}</li>" for r in rows.itertuples())
    return f"<td><ul>{items}</ul></td>"


def build_site(site: str | os.PathLike = SITE_DIR, results: str | os.PathLike = RESULTS_DIR) -> Path:
    """Render every committed notebook and write ``site/index.html``. Returns the index path."""
    site, results = Path(site), Path(results)
    if site.exists():
        shutil.rmtree(site)
    runs = {"default run": config.ROOT} | {f"{p.name} run": p for p in sorted(results.glob("*")) if (p / "tables").is_dir()}
    sections: dict[str, tuple[str, str]] = {}
    pages: dict[str, str] = {}
    for label, folder in runs.items():
        slug = re.sub(r"\W+", "-", label.split()[0])
        for notebook in sorted((folder / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            page = render_notebook(notebook, site / slug / f"{notebook.stem}.html").relative_to(site).as_posix()
            if label == "default run":
                for artefact, section in artefact_sections(notebook).items():
                    sections[artefact], pages[artefact] = section, page
    outputs = {label: outputs_of(folder) for label, folder in runs.items()}
    artefacts = sorted(set().union(*outputs.values()), key=lambda a: ({"D": 0, "P": 1, "X": 2}[a[0]], a))
    values = report._paper_table()
    rows = []
    for artefact in artefacts:
        heading, anchor = sections.get(artefact, ("", ""))
        link = (f"<a href='{pages[artefact]}#{html.escape(anchor)}'>{html.escape(heading.replace('`', ''))}</a>" if artefact in pages
                else "")
        cells = "".join(_cell(outputs[label].get(artefact), site, site / "outputs" / re.sub(r"\W+", "-", label.split()[0]))
                        for label in runs)
        rows.append(f"<tr><th id='{artefact}'>{artefact}</th><td>{link}</td>{_paper_cell(artefact, values)}{cells}</tr>")
    notebooks = "".join(f"<li><a href='{p.relative_to(site).as_posix()}'>{p.parent.name}/{p.name}</a></li>"
                        for p in sorted(site.glob("*/*.html")))
    head = "".join(f"<th>{html.escape(label)}</th>" for label in runs)
    index = site / "index.html"
    index.write_text(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>leukemia-xai-compendium: results</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:4px;vertical-align:top;font-size:13px}} img{{max-width:320px}} .none{{color:#999}} details table{{font-size:11px}}</style>
</head><body>
<h1>leukemia-xai-compendium: every artefact</h1>
<p>Each row is an artefact id of REPRODUCTION.md: the notebook section that makes it, the papers' values, and its
figure or table in the committed default (synthetic) run and in each published run (<code>results/</code>).</p>
<h2>Notebooks</h2><ul>{notebooks}</ul>
<h2>Artefacts</h2>
<table><tr><th>id</th><th>made in</th><th>papers' values</th>{head}</tr>
{''.join(rows)}
</table></body></html>
""", encoding="utf-8")
    return index


def broken_links(index: str | os.PathLike) -> list[str]:
    """Every ``href``/``src`` of ``index`` (an HTML file) that does not resolve to a file beside it."""
    index = Path(index)
    targets = re.findall(r"(?:href|src)='([^']+)'", index.read_text(encoding="utf-8"))
    return [t for t in targets if not (index.parent / t.split("#")[0]).is_file()]


if __name__ == "__main__":
    built = build_site()
    missing = broken_links(built)
    print(f"site written to {built.relative_to(config.ROOT)}; {'every link resolves' if not missing else f'broken: {missing}'}")
    raise SystemExit(1 if missing else 0)
