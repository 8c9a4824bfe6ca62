"""Browser slider-to-new-frame latency of the 2-D explorer in JupyterLab + Chromium. Run alone:
python benchmarks/widgets_browser.py  (needs Debian's chromium; writes benchmarks/results/widgets_browser.json)."""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402

from tests.browser.lab import chromium_page, jupyter_lab, open_and_run_all  # noqa: E402

N, STEPS, REPEATS = 1000, 50, 20
CANVAS = ".teachkit-explorer .jupyter-matplotlib-canvas-div canvas"
# record when ipympl paints a new image onto the figure canvas (it calls drawImage on each new frame)
HOOK_JS = """sel => {
  const target = document.querySelector(sel);
  const proto = CanvasRenderingContext2D.prototype, orig = proto.drawImage;
  window.__tkDraw = 0;
  proto.drawImage = function (...a) { if (this.canvas === target) window.__tkDraw = performance.now(); return orig.apply(this, a); };
  window.addEventListener('keydown', () => { window.__tkKey = performance.now(); }, true);
}"""
WAIT_JS = """async timeout => {
  const t0 = performance.now();
  while (!(window.__tkDraw > window.__tkKey)) {
    if (performance.now() - t0 > timeout) return null;
    await new Promise(r => setTimeout(r, 2));
  }
  return window.__tkDraw - window.__tkKey;
}"""


def notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "%matplotlib widget\nimport torch\ntorch.set_num_threads(1)\n"
        "from benchmarks.widgets_kernel import load\nfrom teachkit.widgets import TrajectoryExplorer2D\n"
        f"model, schedule, kind = load('toy-2d-cfg')\n"
        f"explorer = TrajectoryExplorer2D(model, schedule, n={N}, steps={STEPS}, scale=3.0, cls=0)\nexplorer")]
    nbformat.write(nb, path)


def press_and_wait(page, selector: str, key: str, timeout_ms: float) -> float | None:
    page.locator(selector).first.focus()
    page.keyboard.press(key)
    return page.evaluate(WAIT_JS, timeout_ms)


def main() -> dict:
    root = Path(tempfile.mkdtemp(prefix="teachkit-bench-"))
    notebook(root / "bench.ipynb")
    with jupyter_lab(root) as (base, token, _), chromium_page() as page:
        open_and_run_all(page, base, token, "bench.ipynb")
        page.locator(".teachkit-status", has_text="done").first.wait_for()
        page.locator(CANVAS).first.wait_for()
        page.wait_for_timeout(2000)
        page.evaluate(HOOK_JS, CANVAS)
        frame, scale = [], []
        for _ in range(REPEATS):  # frame slider: index the cached trajectory, draw, ship the PNG
            frame.append(press_and_wait(page, ".teachkit-frame .noUi-handle", "ArrowLeft", 10_000))
            page.wait_for_timeout(150)
        for key in ["ArrowRight"] * 6:  # scale 3.5, 4.0, ...: each a cache miss, a DDIM-50 guided re-sample, a draw
            scale.append(press_and_wait(page, ".teachkit-scale .noUi-handle", key, 30_000))
            page.wait_for_timeout(300)
        page.screenshot(path=str(root / "bench.png"))
    ok = [v for v in frame if v is not None]
    ok_scale = [v for v in scale if v is not None]
    return {
        "setup": f"TrajectoryExplorer2D n={N}, DDIM-{STEPS}, scale 3, ipympl, JupyterLab + headless chromium",
        "threads": 1, "loadavg": [round(v, 2) for v in os.getloadavg()],
        "frame_slider_to_new_frame_ms": {"median": round(statistics.median(ok), 1) if ok else None,
                                         "samples": [None if v is None else round(v, 1) for v in frame]},
        "scale_slider_to_new_frame_ms": {"median": round(statistics.median(ok_scale), 1) if ok_scale else None,
                                         "samples": [None if v is None else round(v, 1) for v in scale]},
        "screenshot": str(root / "bench.png"),
    }


if __name__ == "__main__":
    result = main()
    (REPO / "benchmarks" / "results" / "widgets_browser.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
