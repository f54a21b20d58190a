"""leukutils.site: the results site renders the committed notebooks and its index links resolve."""
import nbformat

from leukutils import site


def test_heading_anchor_is_the_id_nbconvert_gives(tmp_path):
    heading = "2. Do the CAMs find the blasts? (`X-T1`, `X-F1`)"
    notebook = tmp_path / "99_toy.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# Toy\n\nMakes X-T1.\n\n## {heading}\n\ntext")])
    nbformat.write(nb, notebook)
    page = site.render_notebook(notebook, tmp_path / "toy.html").read_text()
    assert f'id="{site.heading_anchor(heading)}"' in page
    assert site.artefact_sections(notebook) == {"X-T1": (heading, site.heading_anchor(heading)),
                                                 "X-F1": (heading, site.heading_anchor(heading))}


def test_site_index_links_every_artefact_and_every_link_resolves(tmp_path):
    index = site.build_site(tmp_path / "site", results=tmp_path / "no-results")
    assert site.broken_links(index) == []
    text = index.read_text()
    committed = site.outputs_of(site.config.ROOT)
    assert committed and all(f"<th id='{artefact}'>" in text for artefact in committed)
    assert "04_claims_tested.html#" in text and "<img src=" in text
    (index.parent / "default" / "00_data.html").unlink()
    assert site.broken_links(index), "a missing page is reported"
