"""The 2-D explorer in a real JupyterLab and Notebook 7 + Chromium: frame slider, Play, scale, steps, sampler, class."""
from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager

import pytest

from tests.browser.lab import FRONT_ENDS, HERE, chromium_path, chromium_page, jupyter_lab, open_and_run_all

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CANVAS = ".tk-2d .tk-canvas"
PIXELS_JS = "sel => document.querySelector(sel).toDataURL()"
CHANGED_JS = """async ([sel, before, ms]) => {
  // resolve with the first canvas image that differs from `before`; null after `ms`
  const c = document.querySelector(sel), deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const now = c.toDataURL();
    if (now !== before) return now;
    await new Promise(r => setTimeout(r, 15));
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


class Comms:
    """Count the comm messages the page sends to the kernel (widget state changes, custom messages)."""

    def __init__(self, page) -> None:
        self.sent: list[str] = []
        page.on("websocket", lambda ws: ws.on("framesent", self._frame))

    def _frame(self, payload) -> None:
        text = payload if isinstance(payload, str) else payload[:4096].decode("utf-8", "replace")
        if "comm_msg" in text:
            self.sent.append(text)


def _known_front_end_error(exc) -> bool:
    """Notebook 7.6's shortcuts plugin throws at start-up on a plugin it has no schema for (with or without
    any widget: a notebook holding only `1+1` shows it too); nothing of ours is on that stack."""
    stack = getattr(exc, "stack", "") or ""
    return "reading 'schema'" in str(exc) and "static/notebook/notebook_core" in stack


@contextmanager
def _notebook_page(tmp_path, app: str, notebook: str):
    """`app` serving a copy of tests/browser/`notebook`, and a Chromium page that collects console errors.

    Yields (page, console, run): `run()` opens the notebook and runs all its cells. On a failure the
    page's screenshot, the server's log and the last console errors are printed.
    """
    _require_browser()
    shutil.copy(HERE / notebook, tmp_path)
    console: list[str] = []
    with jupyter_lab(tmp_path, app=app) as (base, token, log), chromium_page() as page:
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda exc: None if _known_front_end_error(exc) else console.append(f"pageerror: {exc}"))
        try:
            yield page, console, lambda: open_and_run_all(page, base, token, notebook, app=app)
        except BaseException:
            shot = tmp_path / f"failure-{app}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}\n{app} log: {log}\n{log.read_text()[-4000:]}")
            print(json.dumps(console[-20:], indent=1))
            raise


def _title(page) -> str:
    return page.locator(".tk-2d .tk-title").first.inner_text()


def _wait_idle(page) -> None:
    """The re-sample finished: no progress bar, and the status line reports it."""
    page.wait_for_function("() => { const p = document.querySelector('.tk-2d .tk-progress'); return p && p.hidden; }")
    page.locator(".tk-2d .tk-status", has_text=re.compile(r"done in|from the cache")).first.wait_for()


def _wait_title(page, *texts: str) -> None:
    """Wait until the figure's title shows every one of `texts` (the new trajectory arrived), then for idle."""
    page.wait_for_function("texts => { const t = document.querySelector('.tk-2d .tk-title').innerText;"
                           " return texts.every(x => t.includes(x)); }", arg=list(texts))
    _wait_idle(page)


def _changed(page, before: str, what: str, ms: int = 30_000) -> str:
    after = page.evaluate(CHANGED_JS, [CANVAS, before, ms])
    assert after is not None, f"the canvas did not change within {ms} ms of {what}"
    return after


@pytest.mark.parametrize("app", FRONT_ENDS)
def test_explorer_in_browser(tmp_path, app):
    with _notebook_page(tmp_path, app, "explorer_2d.ipynb") as (page, console, run):
        comms = Comms(page)
        run()
        page.locator(CANVAS).first.wait_for()
        _wait_idle(page)
        assert "DDIM 20 steps, mixed, scale 3, NFE 40" in _title(page) and "frame 20/20 (clean)" in _title(page)

        # every control has an accessible name
        for role, name in (("slider", "frame"), ("slider", "scale"), ("slider", "steps"), ("slider", "eta"),
                           ("button", "play"), ("combobox", "sampler"), ("combobox", "class")):
            assert page.get_by_role(role, name=name, exact=True).count() == 1, f"no {role} named {name!r}"
        frame = page.get_by_role("slider", name="frame", exact=True)

        # frame slider with the keyboard: drawn in the browser, no kernel message per frame
        before = page.evaluate(PIXELS_JS, CANVAS)
        n_sent = len(comms.sent)
        frame.focus()
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
        assert "frame 15/20" in _title(page)
        before = _changed(page, before, "moving the frame slider")

        # Play: from frame 15 to the clean frame, every frame drawn, no kernel message while it plays
        page.wait_for_timeout(800)  # the resting frame (15) reaches the kernel once, 250 ms after the last key
        draws = page.evaluate("() => window.__teachkitDraws")
        sent = len(comms.sent)
        page.get_by_role("button", name="play", exact=True).click()
        page.wait_for_function("() => document.querySelector('.tk-2d .tk-title').innerText.includes('frame 20/20')")
        assert page.evaluate("() => window.__teachkitDraws") - draws >= 5
        assert len(comms.sent) == sent, "Play sent messages to the kernel"
        before = page.evaluate(PIXELS_JS, CANVAS)
        # a second press plays the whole trajectory again, from x_T (frame 0) to the clean frame
        draws = page.evaluate("() => window.__teachkitDraws")
        page.get_by_role("button", name="play", exact=True).click()
        page.wait_for_function("() => document.querySelector('.tk-2d .tk-title').innerText.includes('frame 20/20')")
        assert page.evaluate("() => window.__teachkitDraws") - draws >= 21
        assert len(comms.sent) == sent, "Play sent messages to the kernel"
        page.wait_for_timeout(400)
        assert len(comms.sent) - n_sent <= 2  # only the resting frame value, debounced

        # guidance scale, steps, sampler, class: each re-samples (streamed) and redraws
        page.get_by_role("slider", name="scale", exact=True).focus()
        page.keyboard.press("ArrowRight")
        before = _changed(page, before, "raising the guidance scale")
        _wait_title(page, "scale 3.5")
        page.get_by_role("slider", name="steps", exact=True).focus()
        page.keyboard.press("ArrowRight")
        _wait_title(page, "DDIM 25 steps", "frame 25/25")
        before = _changed(page, before, "more steps")
        page.get_by_role("combobox", name="sampler", exact=True).select_option(label="DDPM")
        _wait_title(page, "DDPM 25 steps")
        before = _changed(page, before, "switching the sampler")
        page.get_by_role("combobox", name="class", exact=True).select_option(label="class 2")
        _wait_title(page, "class 2, scale 3.5")
        before = _changed(page, before, "switching the class")

        # bursts on the scale slider: the figure ends on the last setting, never a stale one
        page.get_by_role("combobox", name="sampler", exact=True).select_option(label="DDIM")
        _wait_title(page, "DDIM 25 steps")
        scale = page.get_by_role("slider", name="scale", exact=True)
        scale.focus()
        for key in ["ArrowRight"] * 4 + ["ArrowLeft"] * 4 + ["ArrowRight"] * 3:
            page.keyboard.press(key)
        readout = page.locator(".tk-2d .tk-scale output").inner_text()
        assert readout == "5.0", readout
        _wait_title(page, "scale 5,")
        page.wait_for_timeout(1000)
        assert "scale 5," in _title(page) and "scale 5:" in page.locator(".tk-2d .tk-status").inner_text()

        # the widget fits a narrow output area: no horizontal overflow
        page.set_viewport_size({"width": 700, "height": 1000})
        page.wait_for_timeout(500)
        overflow = page.evaluate("""() => { const r = document.querySelector('.tk-2d');
            return [r.scrollWidth, r.clientWidth, document.querySelector('.tk-2d .tk-canvas').getBoundingClientRect().width]; }""")
        assert overflow[0] <= overflow[1] + 1, f"the widget overflows its output area: {overflow}"

        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        assert page.get_by_text("Error displaying widget").count() == 0
        assert page.locator(".tk-2d .tk-error").first.inner_text().strip() == ""
        assert not console, "\n".join(console)


@pytest.mark.parametrize("app", FRONT_ENDS)
def test_digits_schedule_and_sweep_in_browser(tmp_path, app):
    """The image explorer, the schedule explorer and the guidance sweep draw, and answer their controls."""
    with _notebook_page(tmp_path, app, "widgets_all.ipynb") as (page, console, run):
        run()
        digits, sched, sweep = ".tk-images", ".tk-schedule", ".tk-sweep"
        for root in (digits, sched, sweep):
            page.locator(f"{root} .tk-canvas").first.wait_for()
        page.wait_for_timeout(500)

        # digits: x_t beside x0_hat; the frame slider and Play run in the browser
        canvas = f"{digits} .tk-canvas"
        first_digits = page.locator(digits).first
        title = first_digits.locator(".tk-title")
        assert "frame 10/10 (clean)" in title.inner_text()
        before = page.evaluate(PIXELS_JS, canvas)
        first_digits.locator(".tk-frame-input").focus()
        page.keyboard.press("Home")
        assert "frame 0/10 (t=999)" in title.inner_text()
        assert page.evaluate(CHANGED_JS, [canvas, before, 5000]) is not None
        first_digits.locator(".tk-play").click()
        page.wait_for_function("sel => document.querySelector(sel).innerText.includes('frame 10/10')", arg=f"{digits} .tk-title")
        first_digits.locator(".tk-sampler-input").select_option(label="DPM-Solver++(2M)")
        page.wait_for_function("sel => document.querySelector(sel).innerText.includes('DPM-Solver++(2M) 10 steps')",
                               arg=f"{digits} .tk-title")

        # schedule: t and the schedule menu redraw without the kernel's help
        canvas = f"{sched} .tk-canvas"
        before = page.evaluate(PIXELS_JS, canvas)
        page.get_by_role("slider", name="t", exact=True).focus()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        assert "t=210" in page.locator(f"{sched} .tk-title").inner_text()
        before = page.evaluate(CHANGED_JS, [canvas, before, 5000])
        assert before is not None
        page.get_by_role("combobox", name="schedule", exact=True).select_option(label="cosine")
        assert page.locator(f"{sched} .tk-title").inner_text().startswith("cosine: t=210")
        assert page.evaluate(CHANGED_JS, [canvas, before, 5000]) is not None

        # sweep: one step of the scale slider re-samples every class
        canvas = f"{sweep} .tk-canvas"
        before = page.evaluate(PIXELS_JS, canvas)
        page.locator(f"{sweep} .tk-scale-input").focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("sel => document.querySelector(sel).innerText.includes('scale 3.5')", arg=f"{sweep} .tk-title")
        assert page.evaluate(CHANGED_JS, [canvas, before, 5000]) is not None

        # a long re-sample (DDPM, 1000 steps at 10 ms a step) shows its progress and can be cancelled
        slow = page.locator(".tk-images").nth(1)
        slow.locator(".tk-steps-input").focus()
        page.keyboard.press("End")
        slow.locator(".tk-progress").wait_for(state="visible")
        page.wait_for_function("el => el.querySelector('.tk-progress').value > 0.05", arg=slow.element_handle())
        assert "sampling: step" in slow.locator(".tk-title").inner_text()  # streamed frames while it runs
        slow.get_by_role("button", name="cancel", exact=True).click()
        slow.locator(".tk-status", has_text="cancelled: showing DDPM, 10 steps").wait_for()
        assert slow.locator(".tk-steps output").inner_text() == "10" and "DDPM 10 steps" in slow.locator(".tk-title").inner_text()

        page.set_viewport_size({"width": 640, "height": 1000})
        page.wait_for_timeout(500)
        for root in (digits, sched, sweep):
            w = page.evaluate("sel => { const r = document.querySelector(sel); return [r.scrollWidth, r.clientWidth]; }", root)
            assert w[0] <= w[1] + 1, f"{root} overflows its output area: {w}"
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        assert not console, "\n".join(console)
