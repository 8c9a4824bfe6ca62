"""The 2-D explorer in a real JupyterLab + Chromium: run the notebook, drag the guidance slider, press Play."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.browser.lab import HERE, chromium_path, chromium_page, jupyter_lab, open_and_run_all

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CANVAS = ".teachkit-explorer .jupyter-matplotlib-canvas-div canvas"
STABLE_CANVAS_JS = """async ([sel, before]) => {
  // resolve with the canvas image once it differs from `before` and has stopped changing for 300 ms;
  // null after 60 s (page.evaluate has no timeout of its own)
  const c = document.querySelector(sel);
  if (!c) return null;
  let last = c.toDataURL(), since = performance.now();
  const deadline = performance.now() + 60000;
  while (performance.now() < deadline) {
    await new Promise(r => setTimeout(r, 50));
    const now = c.toDataURL();
    if (now !== last) { last = now; since = performance.now(); }
    else if (now !== before && performance.now() - since > 300) return now;
  }
  return null;
}"""
CHANGED_CANVAS_JS = """async ([sel, before]) => {
  // resolve with the first canvas image that differs from `before` (while Play runs, frames keep coming); null after 60 s
  const c = document.querySelector(sel);
  const deadline = performance.now() + 60000;
  while (c && performance.now() < deadline) {
    const now = c.toDataURL();
    if (now !== before) return now;
    await new Promise(r => setTimeout(r, 20));
  }
  return null;
}"""


def _require_browser() -> None:
    if chromium_path() is None:
        message = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + ": in CI the browser test must run, not skip")
        pytest.skip(message)
    pytest.importorskip("playwright.sync_api")


def _readout(page, cls: str) -> str:
    return page.locator(f".{cls} .widget-readout").first.inner_text().strip()


def test_explorer_in_jupyterlab(tmp_path):
    _require_browser()
    shutil.copy(HERE / "explorer_2d.ipynb", tmp_path)
    with jupyter_lab(tmp_path) as (base, token, log), chromium_page() as page:
        try:
            open_and_run_all(page, base, token, "explorer_2d.ipynb")
            page.locator(".teachkit-status", has_text="done").first.wait_for()
            page.locator(CANVAS).first.wait_for()
            first = page.evaluate(STABLE_CANVAS_JS, [CANVAS, ""])
            assert first and first.startswith("data:image/png")

            # drag the guidance slider to the right (continuous_update=False: one update on release)
            handle = page.locator(".teachkit-scale .noUi-handle").first
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 80, y, steps=8)
            page.mouse.up()
            scale = _readout(page, "teachkit-scale")
            assert float(scale) > 3.0, f"the drag did not move the scale slider (readout {scale})"
            page.locator(".teachkit-status", has_text=f"scale {float(scale):g}").first.wait_for()
            dragged = page.evaluate(STABLE_CANVAS_JS, [CANVAS, first])
            assert dragged is not None, "the figure did not change within 60 s of the guidance slider moving"

            # Play (jslinked to the frame slider in the browser) restarts at frame 0 and animates to the end;
            # the last frame looks like `dragged` again, so look for any change on the way
            page.locator(".teachkit-play button").first.click()
            page.wait_for_function(
                "sel => { const r = document.querySelector(sel); return r && r.textContent.trim() !== '20'; }",
                arg=".teachkit-frame .widget-readout")
            played = page.evaluate(CHANGED_CANVAS_JS, [CANVAS, dragged])
            assert played is not None, "the figure did not change within 60 s of pressing Play"
            page.wait_for_function(
                "sel => document.querySelector(sel).textContent.trim() === '20'", arg=".teachkit-frame .widget-readout")

            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            assert page.get_by_text("Error displaying widget").count() == 0
            assert page.locator(".teachkit-error").first.inner_text().strip() == ""
        except BaseException:
            shot = tmp_path / "failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}\nJupyterLab log: {log}\n{log.read_text()[-4000:]}")
            raise
