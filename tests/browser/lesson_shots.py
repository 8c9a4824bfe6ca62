"""Open a lesson in JupyterLab as a student would, run it, try each widget (frame slider, Play, scale), screenshot it.

    python tests/browser/lesson_shots.py notebooks/02_ddpm_2d.ipynb [more lessons] --out /tmp/shots

Writes <lesson>-<k>-<step>.png per widget: as first shown, after Play, after one scale step (where it has one).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.browser.lab import chromium_page, jupyter_lab, open_and_run_all  # noqa: E402


def shoot(lesson: Path, out: Path, width: int = 1280) -> list[Path]:
    root = Path(tempfile.mkdtemp(prefix="teachkit-shots-"))
    (root / "notebooks").mkdir()
    shutil.copy(lesson, root / "notebooks" / lesson.name)
    shots = []
    with jupyter_lab(root) as (base, token, log), chromium_page(viewport=(width, 1000)) as page:
        open_and_run_all(page, base, token, f"notebooks/{lesson.name}", timeout_ms=900_000)
        # every cell has run when the last prompt shows a number, not [*]
        page.wait_for_function("() => { const p = [...document.querySelectorAll('.jp-InputPrompt')];"
                               " return p.length && p.every(e => !e.innerText.includes('*'));}", timeout=900_000)
        page.wait_for_timeout(2000)
        for k, widget in enumerate(page.locator(".tk-root").all()):
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(p := out / f"{lesson.stem}-{k}-shown.png"))
            shots.append(p)
            play = widget.locator(".tk-play")
            if play.count():
                play.click()
                page.wait_for_function("el => el.querySelector('.tk-play').getAttribute('aria-pressed') !== 'true'",
                                       arg=widget.element_handle(), timeout=120_000)
                widget.screenshot(path=str(p := out / f"{lesson.stem}-{k}-played.png"))
                shots.append(p)
            scale = widget.locator(".tk-scale-input")
            if scale.count() and scale.is_visible() and scale.is_enabled():
                scale.focus()
                page.keyboard.press("ArrowRight")
                page.wait_for_timeout(300)
                page.wait_for_function("el => { const p = el.querySelector('.tk-progress'); return !p || p.hidden; }",
                                       arg=widget.element_handle(), timeout=300_000)
                widget.screenshot(path=str(p := out / f"{lesson.stem}-{k}-scale.png"))
                shots.append(p)
        page.screenshot(path=str(p := out / f"{lesson.stem}-page.png"))
        shots.append(p)
    return shots


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "teachkit-shots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for lesson in args.lessons:
        for path in shoot(lesson.resolve(), args.out):
            print(path)
