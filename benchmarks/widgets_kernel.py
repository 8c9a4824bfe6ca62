"""Kernel-side widget speed: frame scrub, re-sample (2-D, MNIST). Run alone: python benchmarks/widgets_kernel.py."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from teachkit.schedules import linear_schedule  # noqa: E402


def load(name: str):
    """The shipped model if its checkpoint exists, else the same architecture untrained (same cost per step)."""
    from teachkit import checkpoints
    from teachkit.models import SmallUNet, ToyMLP

    if name in checkpoints.available_pretrained():
        model, schedule, _ = checkpoints.load_pretrained(name)
        return model, schedule, "pretrained"
    model = ToyMLP(hidden=128, layers=3, num_classes=2) if name == "toy-2d-cfg" else \
        SmallUNet(channels=(32, 64, 64), num_classes=10)
    return model.eval(), linear_schedule(1000), "untrained, same architecture"


def timed(fn, repeat: int) -> list[tuple[float, float]]:
    """(wall, process CPU) times in ms of `repeat` calls; CPU time is what an idle machine's wall time would be."""
    out = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append(((time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3))
    return out


def summary(times: list[tuple[float, float]], per: int = 1) -> dict:
    wall, cpu = [w / per for w, _ in times], [c / per for _, c in times]
    return {"median_ms": round(statistics.median(wall), 2), "min_ms": round(min(wall), 2),
            "max_ms": round(max(wall), 2), "median_cpu_ms": round(statistics.median(cpu), 2), "n": len(times)}


def main() -> dict:
    from teachkit.widgets import ImageTrajectoryExplorer, TrajectoryExplorer2D

    threads = int(os.environ.get("TEACHKIT_THREADS", "1"))
    torch.set_num_threads(threads)
    res = {"threads": threads, "python": platform.python_version(), "torch": torch.__version__,
           "loadavg_before": [round(v, 2) for v in os.getloadavg()],
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=REPO).stdout.strip()}
    from teachkit import viz

    empty = viz.new_figure((5.0, 5.0), dpi=80)
    empty.add_subplot()
    viz.freeze_layout(empty)
    # calibration: an empty axes' Agg draw (about 10-20 ms on an idle core; scales with machine load)
    res["calibration_empty_axes_agg_draw"] = summary(timed(empty.canvas.draw, 20))
    model, schedule, kind = load("toy-2d-cfg")
    res["toy_model"] = kind
    plt.switch_backend("module://ipympl.backend_nbagg")  # the live path (%matplotlib widget)
    e = TrajectoryExplorer2D(model, schedule, n=1000, steps=50, scale=3.0, cls=0)
    frames = list(range(51))

    def scrub():
        for k in frames:
            e.frame.value = k

    res["scrub_2d_callback_per_frame"] = summary(timed(scrub, 5), per=len(frames))
    res["scrub_2d_agg_render"] = summary(timed(e.host.fig.canvas.draw, 20))  # what ipympl renders per frame

    def resample():
        e.cache.clear()
        e.scale.value = 5.0 if e.scale.value != 5.0 else 3.0

    res["resample_2d_ddim50_cfg_1000pts_total"] = summary(timed(resample, 7))
    res["resample_2d_ddim50_cfg_1000pts_sampler_only"] = summary(
        timed(lambda: e.sample(("DDIM", 50, 0.0, 3.0, 0, 0)), 7))
    plt.switch_backend("agg")
    s = TrajectoryExplorer2D(model, schedule, n=1000, steps=50, scale=3.0, cls=0, live=False)
    res["scrub_2d_static_png_per_frame"] = summary(timed(lambda: setattr(s.frame, "value", (s.frame.value + 1) % 51), 20))

    model, schedule, kind = load("mnist-cfg")
    res["mnist_model"] = kind
    m = ImageTrajectoryExplorer(model, schedule, n=16, steps=25, scale=3.0, live=False)
    res["resample_mnist_ddim25_cfg_16img_sampler_only"] = summary(
        timed(lambda: m.sample(("DDIM", 25, 0.0, 3.0, "mixed", 0)), 2))
    res["scrub_mnist_static_png_per_frame"] = summary(timed(lambda: setattr(m.frame, "value", (m.frame.value + 1) % 26), 10))
    res["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    return res


if __name__ == "__main__":
    result = main()
    out = REPO / "benchmarks" / "results" / "widgets_kernel.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
