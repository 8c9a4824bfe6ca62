"""`python -m teachkit bench`: run every benchmark, write JSON + markdown + plots (profiles: full, --quick)."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..runtime import seeded
from ..viz import bench_figures as plots
from . import quality, speed, tables
from .quality import DISTILLED
from .tasks import mixture_task, mnist_task, pretrained_toy_task

__all__ = ["main", "PROFILES"]

SCALES = [0, 1, 2, 3, 5, 7.5, 10, 15, 20, 30]
# keys are teachkit.SAMPLERS names (or quality.VARIANTS rows); Heun's steps give NFE 2 * steps - 1 = 5, 11, 19, 35, 51
FULL_LADDER = {"DDPM": [10, 20, 50, 100, 250, 1000], "DDIM": [5, 10, 20, 50, 100], "DPM-Solver++(2M)": [5, 10, 15, 20],
               "Heun": [3, 6, 10, 18, 26], DISTILLED: [1, 2, 4, 8]}
PROFILES = {
    "full": dict(toy_n=2000, toy_ladder={**FULL_LADDER, "DDPM (large var)": [10, 20, 50, 100]},
                 toy_scales=SCALES, toy_guidance_steps=50,
                 mnist_n=100, mnist_guidance_n=200, mnist_train_n=None, mnist_heldout_n=None, mnist_ladder=FULL_LADDER,
                 mnist_scale=1.0, mnist_scales=SCALES, mnist_guidance_steps=20,
                 speed_batch=10_000, speed_steps=50, repeats=3, speed_min_seconds=2.0, vs_diffusers_batches=(2_000, 64),
                 vs_diffusers_steps=(50, 100, 20), guided_batch=2_000, unet_batch=16, unet_steps=4),
    "quick": dict(toy_n=200, toy_ladder={"DDPM": [10, 20], "DDIM": [5, 10], "DPM-Solver++(2M)": [5], "Heun": [3], DISTILLED: [1, 2]},
                  toy_scales=[0, 1, 3], toy_guidance_steps=5, mnist_n=20, mnist_guidance_n=20, mnist_train_n=200,
                  mnist_heldout_n=100,
                  mnist_ladder={"DDPM": [3], "DDIM": [3], "DPM-Solver++(2M)": [3], DISTILLED: [1]}, mnist_scale=1.0,
                  mnist_scales=[0, 3], mnist_guidance_steps=3, speed_batch=500, speed_steps=5, repeats=2, speed_min_seconds=0.0,
                  vs_diffusers_batches=(500, 32), vs_diffusers_steps=(5, 10, 5), guided_batch=500, unet_batch=4,
                  unet_steps=2),
}
SECTIONS = ("toy", "speed", "mnist-guidance", "mnist-nfe", "cuda")  # in the order they run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m teachkit bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="seconds-long smoke test (CI); writes to a temp dir by default")
    p.add_argument("--out", type=Path, default=None, help="results directory (default benchmarks/results)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run only these sections")
    # the benchmarks run alone and use every core torch picks; on a machine shared with other busy processes
    # pass --threads 1 (two busy 2-thread processes on 2 cores slow each other many-fold)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default 0 = torch's choice, "
                                                          "all physical cores; use 1 on a busy shared machine)")
    p.add_argument("--mnist-n", type=int, default=None, help="MNIST samples per sampler setting (overrides the profile)")
    p.add_argument("--guidance-n", type=int, default=None, help="MNIST samples per guidance scale (overrides the profile)")
    p.add_argument("--report-only", action="store_true", help="only rewrite RESULTS.md and the plots from bench.json")
    p.add_argument("--fresh", action="store_true", help="discard earlier results in --out instead of keeping other sections")
    p.add_argument("--seed", type=int, default=0)
    return p


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _speed_section(prof: dict, device: torch.device) -> dict:
    """The three speed ratios on the 2-D MLP (and guided vs unguided on the MNIST UNet)."""
    from ..models import SmallUNet, ToyMLP

    toy = pretrained_toy_task()
    with seeded(0):  # a random-init stand-in, without reseeding the caller's RNG
        mlp = toy.model if toy is not None else ToyMLP(hidden=128, layers=3, num_classes=2)
    schedule = toy.schedule if toy is not None else mixture_task().schedule
    n_params = sum(p.numel() for p in mlp.parameters())
    out = {"model": f"ToyMLP {n_params:,} params ({'toy-2d-cfg' if toy else 'random init'}), device {device}"}
    rounds = dict(min_seconds=prof["speed_min_seconds"])
    out["sampler_vs_bare"] = speed.sampler_vs_bare(mlp, schedule, prof["speed_batch"], prof["speed_steps"],
                                                   prof["repeats"], device, **rounds)
    try:
        out["teachkit_vs_diffusers"] = [
            speed.teachkit_vs_diffusers(mlp, schedule, b, prof["repeats"], device, *prof["vs_diffusers_steps"], **rounds)
            for b in prof["vs_diffusers_batches"]
        ]
        out["step_overhead"] = speed.step_overhead(schedule, 64, prof["speed_steps"], prof["repeats"], device, **rounds)
    except ImportError as err:
        out["teachkit_vs_diffusers"] = []
        out["diffusers_missing"] = str(err)
    gv = speed.guided_vs_unguided(mlp, schedule, prof["guided_batch"], prof["speed_steps"], prof["repeats"], device,
                                  **rounds)
    gv["model"] = out["model"]
    unet = SmallUNet(channels=(32, 64, 64), num_classes=10)  # mnist-cfg's architecture; speed needs no weights
    gu = speed.guided_vs_unguided(unet, schedule, prof["unet_batch"], prof["unet_steps"], prof["repeats"], device,
                                  **rounds)
    gu["model"] = f"SmallUNet {sum(p.numel() for p in unet.parameters()):,} params (mnist-cfg architecture), device {device}"
    out["guided_vs_unguided"] = [gv, gu]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write bench.json, RESULTS.md and the plots; returns 0."""
    args = _parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    profile = "quick" if args.quick else "full"
    prof = dict(PROFILES[profile])
    for flag, key in (("mnist_n", "mnist_n"), ("guidance_n", "mnist_guidance_n")):
        value = getattr(args, flag)
        if value is not None:
            if value < 10:
                raise ValueError(f"--{flag.replace('_', '-')}={value}: need at least 10 samples (one per digit)")
            prof[key] = value
    threads_before = torch.get_num_threads()
    if args.threads < 0:
        raise ValueError(f"--threads={args.threads}: give a positive thread count, or 0 for torch's default")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, profile, prof)
    finally:
        torch.set_num_threads(threads_before)


SECTION_KEYS = {"toy": ("toy_nfe", "toy_guidance"), "mnist-guidance": ("mnist_guidance",), "mnist-nfe": ("mnist_nfe",),
                "speed": ("speed",), "cuda": ("cuda",)}


def _environment(args: argparse.Namespace, profile: str, load_start: str, t_start: float) -> dict:
    return {
        "command": "python -m teachkit bench " + " ".join(args.argv),
        "profile": profile, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": f"CPU: {_cpu_name()} ({os.cpu_count()} logical cores)", "threads": torch.get_num_threads(),
        "torch": torch.__version__, "diffusers": _version("diffusers"), "python": platform.python_version(),
        "load_start": load_start, "load_end": _load(), "wall_s": time.perf_counter() - t_start,
    }


def _run(args: argparse.Namespace, profile: str, prof: dict) -> int:
    out = args.out or (Path(tempfile.mkdtemp(prefix="teachkit-bench-")) if args.quick else Path("benchmarks/results"))
    out.mkdir(parents=True, exist_ok=True)
    # sections run earlier (and not re-run now) are kept, each with the environment it ran in
    results: dict = {"runs": {}, "skipped": {}}
    if (out / "bench.json").exists() and not args.fresh:
        results = json.loads((out / "bench.json").read_text())
    if args.report_only:
        if not (out / "bench.json").exists():
            raise FileNotFoundError(f"--report-only rewrites RESULTS.md from {out / 'bench.json'}, which does not exist; "
                                    "run the benchmarks first (without --report-only), or pass the --out that holds it")
        _write(out, results, {})
        return 0
    t_total, load_total = time.perf_counter(), _load()
    for section in [s for s in SECTIONS if s in args.only]:
        t_start, load_start = time.perf_counter(), _load()
        grids: dict = {}
        fresh = _run_section(section, args, prof, grids)
        for key in SECTION_KEYS[section]:
            results.pop(key, None)
        results.update(fresh)
        results["runs"][section] = {**_environment(args, profile, load_start, t_start),
                                    "parameters": prof}
        _write(out, results, grids)  # after every section, so an interrupted run keeps what finished
    if all(section in args.only for section in SECTIONS):
        # the whole run in one command: its wall time is what "regenerates everything in ~15 min" is judged by
        env = _environment(args, profile, load_total, t_total)
        results["total"] = {k: env[k] for k in ("command", "date", "threads", "load_start", "load_end", "wall_s")}
        _write(out, results, {})
    print(f"[bench] wrote {out}/bench.json, RESULTS.md and plots in {time.perf_counter() - t_total:.0f} s")
    return 0


def _run_section(section: str, args: argparse.Namespace, prof: dict, grids: dict) -> dict:
    """Run one section; returns its result keys (see SECTION_KEYS) and fills `grids` with sample images."""
    if section == "toy":
        tasks = [t for t in (mixture_task(), pretrained_toy_task()) if t is not None]
        return {"toy_nfe": [quality.toy_nfe_sweep(t, prof["toy_ladder"], prof["toy_n"], args.seed) for t in tasks],
                "toy_guidance": [quality.toy_guidance_sweep(t, prof["toy_scales"], "DDIM", prof["toy_guidance_steps"],
                                                            prof["toy_n"], args.seed) for t in tasks]}
    if section.startswith("mnist"):
        task = mnist_task(quick=args.quick, n_train=prof["mnist_train_n"], n_heldout=prof["mnist_heldout_n"])
        if task is None:
            return {SECTION_KEYS[section][0]: []}
        grids[section] = {}
        if section == "mnist-guidance":
            return {"mnist_guidance": [quality.mnist_guidance_sweep(
                task, prof["mnist_scales"], "DDIM", prof["mnist_guidance_steps"], prof["mnist_guidance_n"], args.seed,
                keep=grids[section])]}
        return {"mnist_nfe": [quality.mnist_nfe_sweep(task, prof["mnist_ladder"], prof["mnist_n"], prof["mnist_scale"],
                                                      args.seed, keep=grids[section])]}
    if section == "speed":
        return {"speed": _speed_section(prof, torch.device("cpu"))}
    if not torch.cuda.is_available():
        return {"cuda": "no CUDA device on this machine"}
    dev = torch.device("cuda")
    return {"cuda": {**_speed_section(prof, dev), "gpu": torch.cuda.get_device_name(dev)}}


def _version(name: str) -> str:
    try:
        return __import__(name).__version__
    except ImportError:
        return "not installed"


def _write(out: Path, results: dict, grids: dict) -> None:
    (out / "bench.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    (out / "RESULTS.md").write_text(tables.markdown(results))
    if results.get("toy_nfe"):
        plots.plot_nfe(results["toy_nfe"], [("sliced_w2", "sliced W2 to data"), ("log_likelihood", "mean log p(x)")],
                       out / "quality_vs_nfe_2d.png", "2-D: quality vs network evaluations")
        plots.plot_guidance(results["toy_guidance"], [("sliced_w2", "sliced W2", "log"), ("adherence", "class adherence"),
                                                      ("log_likelihood", "mean log p(x)", "symlog")],
                            out / "guidance_2d.png", "2-D: guidance sweep")
    if results.get("mnist_nfe"):
        plots.plot_nfe(results["mnist_nfe"], [("cfid", "classifier-FID"), ("accuracy", "accuracy on requested digit")],
                       out / "quality_vs_nfe_mnist.png", "MNIST: quality vs network evaluations")
    if results.get("mnist_guidance"):
        plots.plot_guidance(results["mnist_guidance"], [("accuracy", "accuracy"), ("diversity", "within-class diversity"),
                                                        ("cfid", "classifier-FID", "log"), ("saturation", "saturated pixels")],
                            out / "guidance_mnist.png", "MNIST: guidance sweep")
    if grids.get("mnist-nfe"):
        plots.plot_grid(grids["mnist-nfe"], out / "mnist_samples_by_sampler.png", "MNIST samples (same x_T) by sampler")
    if grids.get("mnist-guidance"):
        plots.plot_grid({f"scale {k}": v for k, v in grids["mnist-guidance"].items()}, out / "mnist_samples_by_scale.png",
                        "MNIST samples (same x_T) by guidance scale")
