"""The tour and its CAM explorer in a real browser: JupyterLab on a free local port, headless Chromium
driven by Playwright, the tour run from the Run menu, the explorer's method and image changed, and the
displayed figure checked to change each time. A screenshot of the explorer is written beside the test's
files; with ``LEUKUTILS_UPDATE_SCREENSHOT=1`` it replaces the README's (``docs/explorer.png``).

Skips, saying why, only where no Chromium is installed (``bash .ci/run`` installs Debian's ``chromium``
when it can: as root, with apt).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from leukutils import config

TOUR = config.NOTEBOOKS_DIR / "05_tour.ipynb"
SCREENSHOT = config.ROOT / "docs" / "explorer.png"
#: The tour's parameters in the browser run: the same cells on fewer, smaller steps (the browser path is
#: tested here; the science is checked by nbval on the committed run).
QUICK = {"cells_per_subject": 12, "epochs": 2, "mr_ssim_cells": 4, "sanity_images": 2, "explorer_cells": 4, "n_boot": 50}

pytestmark = pytest.mark.slow


def chromium() -> str | None:
    """Path of an installed Chromium (Debian's ``chromium``, or ``chromium-browser``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quick_copy(folder: Path) -> Path:
    """The tour with :data:`QUICK`'s values in its parameters cell, written into ``folder``."""
    nb = json.loads(TOUR.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    lines = []
    for line in "".join(cell["source"]).splitlines(True):
        name = line.split("=")[0].strip()
        lines.append(f"{name} = {QUICK[name]!r}\n" if name in QUICK and "=" in line else line)
    assert sum(line.split("=")[0].strip() in QUICK for line in lines) == len(QUICK), "a QUICK name is not a tour parameter"
    cell["source"] = lines
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
    path = folder / TOUR.name
    path.write_text(json.dumps(nb, indent=1))
    return path


def write_lab_settings(folder: Path) -> None:
    """JupyterLab user settings that attach every cell to the page (``windowingMode: none``). With the
    default (``contentVisibility``) the browser skips laying out cells scrolled out of view, so the
    explorer's controls count as invisible once "Run All" has scrolled past them."""
    tracker = folder / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port over a folder holding a copy of the tour; yields its URL and
    the folder. Figures and tables the tour writes go to a scratch folder, never the committed ones."""
    work = tmp_path / "lab"
    work.mkdir()
    quick_copy(work)
    port, token = free_port(), secrets.token_hex(16)
    settings = tmp_path / "lab-settings"
    write_lab_settings(settings)
    env = {**os.environ, config.OUTPUT_ENV: str(tmp_path / "outputs"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.open_browser=False"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"JupyterLab stopped: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            raise RuntimeError(f"JupyterLab did not answer within 60 s: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        yield url, token, work
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _explorer_cell(page):
    """The notebook cell that holds the explorer's dropdowns."""
    return page.locator(".jp-Cell", has=page.locator(".widget-dropdown")).first


def _figure_of(page):
    """The ``src`` of the explorer's figure: the image output of the cell that holds its dropdowns."""
    return _explorer_cell(page).locator(".jp-OutputArea-output img").first.get_attribute("src")


def _wait_for_change(page, before: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = _figure_of(page)
        if now and now != before:
            return now
        page.wait_for_timeout(500)
    raise AssertionError(f"the explorer's figure did not change within {timeout_s:.0f} s")


def test_the_tour_runs_in_a_browser_and_its_explorer_answers(lab, tmp_path):
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium installed (apt-get install chromium; bash .ci/run installs it as root)")
    from playwright.sync_api import sync_playwright

    url, token, _ = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/lab/tree/{TOUR.name}?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        page.locator(".jp-Notebook").first.click()  # the notebook has the focus: the Run menu acts on it
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        # the last cell's output (its source, shown in the editor, holds the same words)
        page.locator(".jp-OutputArea-output", has_text="The tour ran in").wait_for(timeout=300_000)
        explorer_cell = _explorer_cell(page)
        explorer_cell.scroll_into_view_if_needed(timeout=30_000)  # waits for the cell to be attached
        page.wait_for_selector(".widget-dropdown select", timeout=30_000)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Error")
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        first = _figure_of(page)
        assert first and first.startswith("data:image/png"), "the explorer shows no figure"

        method = page.locator(".widget-dropdown", has=page.locator("label", has_text="CAM")).locator("select")
        method.select_option(label="HiResCAM")
        second = _wait_for_change(page, first)
        image = page.locator(".widget-dropdown", has=page.locator("label", has_text="image")).locator("select")
        image.select_option(index=1)
        third = _wait_for_change(page, second)
        assert len({first, second, third}) == 3

        explorer_cell.scroll_into_view_if_needed()
        shot = tmp_path / "explorer.png"
        explorer_cell.screenshot(path=str(shot))
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("LEUKUTILS_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_the_quick_copy_changes_only_the_named_parameters(tmp_path):
    path = quick_copy(tmp_path)
    nb = json.loads(path.read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(cell["source"])
    for name, value in QUICK.items():
        assert f"\n{name} = {value!r}\n" in f"\n{source}"
    assert "profile = \"synthetic\"" in source and all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
