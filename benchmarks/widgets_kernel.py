"""Kernel-side widget cost: publishing a trajectory, a streamed re-sample (2-D, MNIST), the static PNG. Run alone:\npython benchmarks/widgets_kernel.py  (-> results/widgets_kernel.json)."""
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
    model, schedule, kind = load("toy-2d-cfg")
    res["toy_model"] = kind
    e = TrajectoryExplorer2D(model, schedule, n=1000, steps=50, scale=3.0, cls=0, prefetch=False)
    key = e.shown
    # what a cache hit costs in the kernel: encode the trajectory (float16) and set the synced traits
    res["publish_2d_1000pts_51frames"] = summary(timed(lambda: e._publish(key, e.frames, e._gen), 20))
    res["payload_2d_bytes"] = len(e.xs) + len(e.x0_hats) + len(e.labels)

    def resample():  # a cache miss in the background thread, streamed, until the trajectory is published
        e.cache.clear()
        e.scale = 5.0 if e.scale != 5.0 else 3.0
        e.wait()

    res["resample_2d_ddim50_cfg_1000pts_streamed_total"] = summary(timed(resample, 7))
    res["resample_2d_ddim50_cfg_1000pts_sampler_only"] = summary(timed(lambda: e.sample(key), 7))
    res["static_png_2d"] = summary(timed(e.png, 5))
    e.close()

    model, schedule, kind = load("mnist-cfg")
    res["mnist_model"] = kind
    m = ImageTrajectoryExplorer(model, schedule, n=16, steps=25, scale=3.0, prefetch=False)
    res["resample_mnist_ddim25_cfg_16img_sampler_only"] = summary(timed(lambda: m.sample(m.shown), 2))
    res["payload_mnist_bytes"] = len(m.xs) + len(m.x0_hats)
    res["static_png_mnist"] = summary(timed(m.png, 5))
    m.close()
    res["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    return res


if __name__ == "__main__":
    result = main()
    out = REPO / "benchmarks" / "results" / "widgets_kernel.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
