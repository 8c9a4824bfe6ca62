"""The explorers' latency in a real JupyterLab + Chromium: from the trusted input event to the canvas pixels changing.

Run alone (needs Debian's chromium), on this checkout or on an older one (the same probe before and after):

    python benchmarks/widgets_browser.py                          # -> results/widgets_browser_after.json
    python benchmarks/widgets_browser.py --before /tmp/before      # an ipympl-era checkout -> ..._before.json

The page polls a 160x160 downscaled copy of the explorer's canvas (drawImage + getImageData, ~0.3 ms)
every few ms after the key press; "first" is the first changed copy, "final" is the first one drawn with
the new setting (the title names it; an ipympl figure draws only once, so there first = final).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402

from tests.browser.lab import chromium_page, jupyter_lab, open_and_run_all  # noqa: E402

N, STEPS, MNIST_N, MNIST_STEPS = 1000, 50, 16, 25
PROBE_JS = """() => {
  const off = document.createElement('canvas'); off.width = off.height = 160;
  const octx = off.getContext('2d', { willReadFrequently: true });
  const sum = (c) => { octx.clearRect(0, 0, 160, 160); octx.drawImage(c, 0, 0, 160, 160);
    const d = octx.getImageData(0, 0, 160, 160).data; let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (Math.imul(h, 31) + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) | 0; return h; };
  window.__tkSum = sum;
  window.__tkArm = (canvasSel, index, titleSel, want) => {
    const c = document.querySelectorAll(canvasSel)[index], title = titleSel ? document.querySelectorAll(titleSel)[index] : null;
    const base = sum(c), res = window.__tkRes = { t0: null, first: null, final: null, done: false };
    const onkey = (e) => { if (res.t0 === null) res.t0 = e.timeStamp; };
    window.addEventListener('keydown', onkey, true);
    const deadline = performance.now() + 120000;
    const loop = () => {
      const now = performance.now();
      if (res.t0 !== null) {
        const changed = sum(c) !== base;
        if (res.first === null && changed) res.first = now - res.t0;
        if (changed && (!want || title.innerText.split('\\n')[0].includes(want))) res.final = now - res.t0;
        if (res.final !== null) { res.done = true; window.removeEventListener('keydown', onkey, true); return; }
      }
      if (now > deadline) { res.done = true; return; }
      setTimeout(loop, 0);
    };
    loop();
  };
  window.__tkPlay = async (canvasSel, index, quietMs) => {
    // count the distinct pictures the canvas shows while Play runs, until it is quiet for quietMs
    const c = document.querySelectorAll(canvasSel)[index];
    let last = sum(c), changes = [], start = performance.now();
    while (true) {
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now(), s = sum(c);
      if (s !== last) { changes.push(now); last = s; }
      const since = changes.length ? now - changes[changes.length - 1] : now - start;
      if (since > quietMs) break;
    }
    return changes;
  };
}"""


def notebook(path: Path, before: bool, threads: int) -> None:
    """Three explorers: 2-D without prefetch, 2-D with prefetch (after only), MNIST."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    head = "%matplotlib widget\n" if before else ""
    off = "" if before else ", prefetch=False"
    cells = [head + f"import torch\ntorch.set_num_threads({threads})\nfrom benchmarks.widgets_kernel import load\n"
                    "from teachkit.widgets import ImageTrajectoryExplorer, TrajectoryExplorer2D\n"
                    "model, schedule, kind = load('toy-2d-cfg')\nmnist, mnist_schedule, mnist_kind = load('mnist-cfg')",
             f"e2d = TrajectoryExplorer2D(model, schedule, n={N}, steps={STEPS}, scale=3.0, cls=0{off})\ne2d",
             f"mn = ImageTrajectoryExplorer(mnist, mnist_schedule, n={MNIST_N}, steps={MNIST_STEPS}, scale=3.0{off})\nmn"]
    if not before:
        cells.append(f"pf = TrajectoryExplorer2D(model, schedule, n={N}, steps={STEPS}, scale=3.0, cls=0)\npf")
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def stats(values: list) -> dict:
    ok = [v for v in values if v is not None]
    return {"median_ms": round(statistics.median(ok), 1) if ok else None,
            "min_ms": round(min(ok), 1) if ok else None, "max_ms": round(max(ok), 1) if ok else None,
            "n": len(ok), "timeouts": len(values) - len(ok), "samples_ms": [None if v is None else round(v, 1) for v in values]}


class Probe:
    def __init__(self, page, before: bool) -> None:
        self.page, self.before = page, before
        self.canvas = ".jupyter-matplotlib-canvas-div > canvas:first-of-type" if before else ".tk-canvas"
        self.title = None if before else ".tk-title"

    def handle(self, control: str, index: int):
        sel = f".teachkit-{control} .noUi-handle" if self.before else f".tk-{control}-input"
        return self.page.locator(sel).nth(index)

    def press(self, control: str, index: int, key: str, want: str | None = None, canvas_index: int | None = None):
        ci = index if canvas_index is None else canvas_index
        self.page.evaluate("([c, i, t, w]) => window.__tkArm(c, i, t, w)",
                           [self.canvas, ci, None if self.before else self.title, None if self.before else want])
        self.handle(control, index).focus()
        self.page.keyboard.press(key)
        self.page.wait_for_function("() => window.__tkRes.done", timeout=130_000)
        return self.page.evaluate("() => window.__tkRes")

    def idle(self, index: int, prefetch: bool = False) -> None:
        if self.before:
            self.page.wait_for_timeout(1500)
            return
        if prefetch:  # the prefetch of the new neighbours starts right after a trajectory is shown
            self.page.wait_for_timeout(500)
        self.page.wait_for_function(
            "([i, pf]) => { const s = document.querySelectorAll('.tk-status')[i];"
            " return s && document.querySelectorAll('.tk-progress')[i].hidden && (!pf || s.dataset.prefetching === '0'); }",
            arg=[index, prefetch], timeout=300_000)


def main(before_repo: Path | None, threads: int, repeats: int) -> dict:
    before = before_repo is not None
    root = Path(tempfile.mkdtemp(prefix="teachkit-bench-"))
    notebook(root / "bench.ipynb", before, threads)
    load_start = os.getloadavg()
    with jupyter_lab(root, repo=before_repo) as (base, token, _), chromium_page(viewport=(1400, 1100)) as page:
        version = page.context.browser.version
        open_and_run_all(page, base, token, "bench.ipynb", timeout_ms=300_000)
        probe = Probe(page, before)
        page.wait_for_function("([c, n]) => document.querySelectorAll(c).length >= n", arg=[probe.canvas, 2 if before else 3],
                               timeout=300_000)
        page.wait_for_timeout(3000)
        if not before:  # the prefetching explorer's first neighbours must not compete with the measurements
            probe.idle(2, prefetch=True)
        page.evaluate(PROBE_JS)
        out: dict = {}
        # 1. frame slider, 2-D explorer (index 0)
        frame = [probe.press("frame", 0, "ArrowLeft")["first"] for _ in range(2 * repeats)]
        out["frame_slider_to_new_frame"] = stats(frame)
        # 2. Play from frame 0 to the clean frame
        fps = []
        for _ in range(3):
            probe.handle("frame", 0).focus()
            page.keyboard.press("Home")
            page.wait_for_timeout(400)
            button = page.locator(".teachkit-play button").first if before else page.locator(".tk-play").first
            button.click()
            changes = page.evaluate("([c, i]) => window.__tkPlay(c, i, 1500)", [probe.canvas, 0])
            if len(changes) > 1:
                fps.append((len(changes) - 1) / ((changes[-1] - changes[0]) / 1000))
            page.wait_for_timeout(500)
        out["play_frames_drawn_per_s"] = {"median": round(statistics.median(fps), 1) if fps else None,
                                          "samples": [round(v, 1) for v in fps], "frames": STEPS + 1}
        # 3. 2-D guidance change, not prefetched: scale 3.5, 4.0, ... ; 4. MNIST, 16 digits, DDIM-25 guided (index 1)
        for name, index, times in (("guidance_2d", 0, repeats), ("mnist_guided", 1, max(3, repeats))):
            first, final = [], []
            for k in range(times):
                r = probe.press("scale", index, "ArrowRight", f"scale {3.0 + 0.5 * (k + 1):g},")
                first.append(r["first"])
                final.append(r["final"])
                probe.idle(index)
                page.wait_for_timeout(300)
            out[f"{name}_first_frame"] = stats(first)
            out[f"{name}_final_frame"] = stats(final)
        # 5. 2-D guidance change to a prefetched value (after only: index 2, prefetch on)
        if not before:
            pf = []
            probe.idle(2, prefetch=True)
            for k in range(repeats):
                want = f"scale {3.0 + 0.5 * (k + 1):g},"
                pf.append(probe.press("scale", 2, "ArrowRight", want)["final"])
                probe.idle(2, prefetch=True)
                page.wait_for_timeout(300)
            out["guidance_2d_prefetched"] = stats(pf)
        page.screenshot(path=str(root / "bench.png"), full_page=True)
    return {
        "setup": (f"TrajectoryExplorer2D n={N}, DDIM-{STEPS}, scale 3, class 0 (toy-2d-cfg); ImageTrajectoryExplorer "
                  f"n={MNIST_N}, DDIM-{MNIST_STEPS}, scale 3, mixed (mnist-cfg); JupyterLab + headless chromium; "
                  + ("ipympl (%matplotlib widget)" if before else "anywidget canvas")),
        "code": "before" if before else "after", "checkout": str(before_repo or REPO),
        "torch_threads": threads, "chromium": version,
        "loadavg_start": [round(v, 2) for v in load_start], "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **out, "screenshot": str(root / "bench.png"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=None, help="an older checkout to measure instead of this one")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the kernel")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = main(args.before.resolve() if args.before else None, args.threads, args.repeats)
    name = f"widgets_browser_{'before' if args.before else 'after'}{'' if args.threads == 1 else f'_t{args.threads}'}.json"
    out = args.out or REPO / "benchmarks" / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict) or "median_ms" not in v}, indent=1))
    for k, v in result.items():
        if isinstance(v, dict) and "median_ms" in v:
            print(f"{k}: median {v['median_ms']} ms, range {v['min_ms']}-{v['max_ms']} (n={v['n']}, timeouts {v['timeouts']})")
