"""The lessons' static website (`make site`) in Debian's Chromium: every page loads, nothing is broken.

The site is built once (the lessons with explorers run once, for their players), served on localhost and
opened page by page: no failed request, no console error, no broken image, equations drawn as MathML on the
lessons that have TeX (no raw $$ left), the lesson map's links lead to the lessons, and each explorer's player advances when Play is pressed.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import nbformat
import pytest

from teachkit.website import build_site, lessons
from teachkit.website.players import explorer_cells
from tests.browser.lab import chromium_page
from tests.test_browser import _require_browser

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.browser, pytest.mark.slow]

BROKEN_IMAGES_JS = """() => [...document.images]
  .filter(img => !img.complete || img.naturalWidth === 0)
  .map(img => (img.id || '') + ' ' + (img.getAttribute('src') || '').slice(0, 60))"""
# the page's players: matplotlib's HTML animation (an <img>, a range slider, a Play button) per explorer
PLAYERS_JS = "() => [...document.querySelectorAll('input.anim-slider')].map(s => s.id)"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The whole site, built fresh (TEACHKIT_SITE_CACHE=folder reuses players across runs, for development)."""
    out = tmp_path_factory.mktemp("site") / "site"
    pages = build_site(out, root=ROOT, cache=os.environ.get("TEACHKIT_SITE_CACHE"), log=lambda *a: None)
    return out, pages


@pytest.fixture(scope="module")
def server(site):
    out, _ = site
    handler = functools.partial(_QuietHandler, directory=str(out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_every_lesson_has_a_page_in_order(site):
    out, pages = site
    assert [p.stem for p in pages] == [p.stem for p in lessons(ROOT)]
    index = (out / "index.html").read_text()
    positions = [index.index(f'href="{p.name}"') for p in pages]
    assert positions == sorted(positions), "index.html lists the lessons out of order"


def test_explorers_became_players(site):
    out, pages = site
    for page in pages:
        nb = nbformat.read(ROOT / "notebooks" / f"{page.stem}.ipynb", as_version=4)
        text = page.read_text()
        assert text.count('class="anim-slider"') == len(explorer_cells(nb)), page.name
        assert "application/vnd.jupyter.widget-view+json" not in text, f"{page.name} has a dead widget view"


def test_pages_in_chromium(site, server):
    _require_browser()
    out, pages = site
    urls = ["index.html"] + [p.name for p in pages] + sorted(p.relative_to(out).as_posix()
                                                            for p in (out / "pages").rglob("*.html"))
    problems, played = [], 0
    # the lessons whose markdown holds TeX math: their pages must draw it
    has_math = {p.name for p in pages if "$" in "".join(
        c.source for c in nbformat.read(ROOT / "notebooks" / f"{p.stem}.ipynb", as_version=4).cells
        if c.cell_type == "markdown")}
    assert len(has_math) >= 3, f"only {sorted(has_math)} have math: the math check would test nothing"
    with chromium_page() as page:
        page.set_default_timeout(30_000)
        current = {"url": ""}
        page.on("console", lambda m: m.type == "error" and problems.append(f"{current['url']}: console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"{current['url']}: script error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"{current['url']}: request failed: {r.url[:100]}"))
        for url in urls:
            current["url"] = url
            response = page.goto(f"{server}/{url}", wait_until="load")
            assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
            broken = page.evaluate(BROKEN_IMAGES_JS)
            if broken:
                problems.append(f"{url}: broken images {broken}")
            markdown = "\n".join(page.locator(".jp-RenderedMarkdown").all_inner_texts())
            if "$$" in markdown or re.search(r"\$\\[A-Za-z]", markdown):
                problems.append(f"{url}: raw TeX left in the text")
            if url in has_math:
                maths = page.locator("math")
                if maths.count() == 0 or maths.first.bounding_box()["height"] <= 0:
                    problems.append(f"{url}: no equation drawn")
            for slider_id in page.evaluate(PLAYERS_JS):
                player = page.locator(f".animation:has(#{slider_id})")
                image = player.locator("img").first
                before = (page.locator(f"#{slider_id}").input_value(), image.get_attribute("src"))
                player.get_by_role("button", name="Play", exact=True).click()
                page.wait_for_function("([id, v]) => document.getElementById(id).value !== v",
                                       arg=[slider_id, before[0]])
                assert image.get_attribute("src") != before[1], f"{url}: {slider_id} moved but its frame did not"
                played += 1
    assert not problems, "\n".join(problems)
    assert played == sum(len(explorer_cells(nbformat.read(ROOT / "notebooks" / f"{p.stem}.ipynb", as_version=4)))
                         for p in pages)


def test_lesson_map_links_lead_to_the_lessons(site, server):
    _require_browser()
    _, pages = site
    first = pages[0]
    nb = nbformat.read(ROOT / "notebooks" / f"{first.stem}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    named = [p for p in pages[1:] if f"`{p.stem}`" in text or f"{p.stem}.ipynb" in text]
    assert len(named) >= 2, f"{first.name}: its lesson map names no lessons"
    with chromium_page() as page:
        page.goto(f"{server}/{first.name}", wait_until="load")
        for target in named:
            link = page.locator(f'.jp-RenderedMarkdown a[href="{target.name}"]').first
            assert link.count() == 1, f"{first.name}'s lesson map names {target.stem} but does not link it"
        page.locator(f'.jp-RenderedMarkdown a[href="{named[0].name}"]').first.click()
        page.wait_for_url(f"**/{named[0].name}")
        assert page.locator("h1").first.inner_text().strip()
        nxt = pages[pages.index(named[0]) + 1]
        page.get_by_role("link", name=re.compile("→")).first.click()
        page.wait_for_url(f"**/{nxt.name}")
