"""1 vs 2 torch threads for a lesson's work, on the machine as found and beside a competing busy process.

What teachkit.setup()'s default thread count rests on (issue 15, item 7). Two workloads a lesson runs:
lesson 02's training loop (ToyMLP, batch 256) and lesson 03's sampling (SmallUNet, DDIM on 20 digits).
Each timing runs in a fresh subprocess with the thread count set before any work; the two counts
alternate so drifting load hits both alike. "loaded" adds one competing process that keeps 2 threads
busy (a student's second notebook, a training run). Results: benchmarks/results/threads.json and .md.

    python benchmarks/threads.py            # about 5 minutes on 2 cores
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from teachkit.models import SmallUNet, ToyMLP
from teachkit.schedules import linear_schedule
from teachkit.training import train
from teachkit.samplers import ddim_sample
from teachkit.datasets import toy
torch.manual_seed(0)
what = sys.argv[2]
if what == "train-2d":
    x, _ = toy("moons", 20000, seed=0)
    t0 = time.perf_counter()
    train(ToyMLP(hidden=128, layers=3, num_classes=None), linear_schedule(), x, steps=300, batch_size=256, progress=False)
else:
    model = SmallUNet(channels=(32, 64, 64), num_classes=10).eval()
    x_T = torch.randn(20, 1, 28, 28)
    t0 = time.perf_counter()
    ddim_sample(model, linear_schedule(), x_T, 10, y=torch.arange(20) % 10, guidance_scale=3.0, record=False)
print(time.perf_counter() - t0)
"""

LOAD = "import torch; torch.set_num_threads(2); a = torch.randn(600, 600)\nwhile True: a @ a"


def once(threads: int, what: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", WORK, str(threads), what], capture_output=True, text=True, env=env,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(condition: str, repeats: int) -> dict:
    rows = {}
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    for what in ("train-2d", "sample-unet"):
        times = {1: [], 2: []}
        for _ in range(repeats):
            for threads in (1, 2):
                times[threads].append(once(threads, what))
        rows[what] = {str(t): {"median_s": round(statistics.median(v), 2), "min_s": round(min(v), 2),
                               "max_s": round(max(v), 2), "runs": [round(x, 2) for x in v]} for t, v in times.items()}
        rows[what]["ratio_2_over_1"] = round(rows[what]["2"]["median_s"] / rows[what]["1"]["median_s"], 2)
    return {"condition": condition, "loadavg_start": load_start,
            "loadavg_end": Path("/proc/loadavg").read_text().split()[:3], "workloads": rows}


def main(repeats: int = 3) -> None:
    out_dir = Path(__file__).resolve().parent / "results"
    results = {"cpu_count": os.cpu_count(), "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
               "conditions": [measure("as found", repeats)]}
    load = subprocess.Popen([sys.executable, "-c", LOAD], env={**os.environ, "OMP_NUM_THREADS": "2"})
    try:
        time.sleep(2.0)
        results["conditions"].append(measure("plus one busy 2-thread process", repeats))
    finally:
        load.kill()
        load.wait()
    (out_dir / "threads.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# 1 vs 2 torch threads ({results['started_utc']} UTC, {results['cpu_count']} cores, "
             f"`python benchmarks/threads.py`)", "",
             "| condition | load avg (start / end) | workload | 1 thread, median (range) s | 2 threads, median (range) s | 2 / 1 |",
             "|---|---|---|---|---|---|"]
    for c in results["conditions"]:
        for what, r in c["workloads"].items():
            one, two = r["1"], r["2"]
            lines.append(f"| {c['condition']} | {' '.join(c['loadavg_start'])} / {' '.join(c['loadavg_end'])} | {what} | "
                         f"{one['median_s']} ({one['min_s']}-{one['max_s']}) | {two['median_s']} ({two['min_s']}-{two['max_s']}) "
                         f"| {r['ratio_2_over_1']} |")
    (out_dir / "threads.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
