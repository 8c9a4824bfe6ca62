"""`python -m teachkit train NAME`: a shipped model's recipe (teachkit.training.recipes.RECIPES) with the flags applied, trained once.

The recipe's TrainConfig with --steps/--batch-size/--seed/--device/--threads/--checkpoint-every replaced
(dataclasses.replace, so TrainConfig checks each value once) is the whole run; it is stored whole in the
checkpoint JSON under "train_config". argparse does the parsing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["add_train_arguments", "cmd_train", "train_help"]

# flag -> the TrainConfig field it sets
FLAGS = {"--steps": "steps", "--batch-size": "batch_size", "--seed": "seed", "--device": "device",
         "--threads": "threads", "--checkpoint-every": "checkpoint_every"}


def _machine(threads: int) -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "python": platform.python_version(),
            # other jobs shared these cores while it ran: the 1-minute load average at the end says how busy
            "load_average_1min": round(os.getloadavg()[0], 1)}


def _check_train_flags(args: argparse.Namespace, config):
    """The recipe's config with each given flag applied; one clear line (exit 2) naming the flag TrainConfig refuses."""
    for flag, field in FLAGS.items():
        value = getattr(args, field)
        if value is None:
            continue
        try:
            config = dataclasses.replace(config, **{field: value})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{flag} {value}: {err}") from None
    return config


def _load_teacher(name: str, path: str | None):
    """A distilled student's teacher: the shipped one, or the checkpoint at --teacher PATH (an eps-model of the same class)."""
    from teachkit.checkpoints import load_checkpoint, load_pretrained

    shipped = load_pretrained(name)
    if path is None:
        return shipped
    teacher, schedule, info = load_checkpoint(path)
    if info.get("model_class") != shipped[2]["model_class"] or getattr(teacher, "prediction", "eps") != "eps" \
            or getattr(teacher, "grid", None) is not None:
        raise ValueError(f"--teacher {path} is a {info.get('model_class')} predicting {getattr(teacher, 'prediction', 'eps')!r}; "
                         f"this recipe distills an eps-model {shipped[2]['model_class']} like the shipped {name}")
    return teacher, schedule, info


def _train_out(args: argparse.Namespace) -> Path:
    """Where NAME.safetensors/.json go: --out (default runs/), or the shipped directory with --replace-shipped only."""
    from teachkit.checkpoints import checkpoint_dir

    shipped = checkpoint_dir().resolve()
    if args.replace_shipped:
        if args.out is not None and Path(args.out).resolve() != shipped:
            raise ValueError(f"--replace-shipped writes to {shipped}; drop --out {args.out} (or drop --replace-shipped)")
        return shipped
    out = Path(args.out if args.out is not None else "runs")
    if out.resolve() == shipped:
        raise ValueError(f"--out {out} is the shipped checkpoint directory: training there would replace the shipped "
                         f"{args.name}. Pass --replace-shipped to do that on purpose (git checkout -- "
                         f"data/checkpoints/{args.name}.* undoes it), or write elsewhere (default: runs/)")
    return out


def _fit_recipe(recipe, model, x, y, config, args, state: dict):
    """Train by the recipe's kind; (trained model, losses, the record fields that kind adds)."""
    from teachkit.records import schedule_from_spec, schedule_spec

    progress = not args.quiet
    if recipe.kind == "classifier":
        from teachkit.training.classifier import train_classifier

        return train_classifier(model, x, y, config=config, progress=progress, **state), {}
    if recipe.kind == "distilled":
        from teachkit.training.distill import distill

        teacher, schedule, teacher_info = _load_teacher(recipe.teacher, args.teacher)
        print(f"teacher: {args.teacher or 'the shipped ' + recipe.teacher} "
              f"(weights sha256 {teacher_info['weights_sha256'][:12]}...)")
        result = distill(teacher, schedule, x, y, config=config, progress=progress, **state)
        # what load_checkpoint and distilled_sample need: the output is v, the guidance scale is baked in
        return result, {"prediction": result.ema_model.prediction, "guidance_scale": config.guidance_scale,
                        "teacher": {"name": recipe.teacher, "weights_sha256": teacher_info["weights_sha256"],
                                    **({"path": str(args.teacher)} if args.teacher else {})}}
    if recipe.kind == "flow":
        from teachkit.flow import flow_path_from_spec
        from teachkit.training.flow_matching import train_flow

        result = train_flow(model, flow_path_from_spec(recipe.path), x, y, config=config, progress=progress, **state)
        # what load_checkpoint and flow_sample need: the output is a velocity on this path, t is continuous
        return result, {"prediction": result.ema_model.prediction, "path": dict(recipe.path)}
    from teachkit.training import train

    return train(model, schedule_from_spec(schedule_spec(**recipe.schedule)), x, y, config=config,
                 progress=progress, **state), {}


def cmd_train(args: argparse.Namespace) -> int:
    """Train a shipped model by name with its recorded recipe and write OUT/NAME.safetensors + .json (never the shipped files unless --replace-shipped)."""
    import torch

    import teachkit
    from teachkit.atomic import check_writable, file_lock
    from teachkit.checkpoints import save_checkpoint, schedule_spec
    from teachkit.training.recipes import RECIPES, build
    from teachkit.runtime import pick_device
    from teachkit.training.config import RUN_ONLY

    recipe = RECIPES[args.name]
    config = _check_train_flags(args, recipe.config)
    device = pick_device(config.device)
    config = dataclasses.replace(config, device=str(device))  # the record names the device it ran on
    out = check_writable(_train_out(args), "--out")
    run_dir = check_writable(Path(args.run_dir), "--run-dir")
    if args.resume and not (run_dir / args.name / "last.safetensors").exists():
        raise FileNotFoundError(f"--resume: there is no training state at {run_dir / args.name / 'last.safetensors'}; "
                                "drop --resume to start, or pass the --run-dir of the run to continue")
    torch.set_num_threads(config.threads)  # the whole command (and its evaluation) runs on these threads
    with file_lock(out / args.name, what=f"the output {out / args.name}"):
        t0 = time.perf_counter()
        # seeded inside the build, so the initial weights (and so every weight after) follow --seed
        model, x, y = build(args.name, config.seed)
        result, extra = _fit_recipe(recipe, model, x, y, config, args,
                                    dict(checkpoint_dir=run_dir / args.name, resume=args.resume))
        trained, wall, tail = result.ema_model, time.perf_counter() - t0, result.losses[-100:]
        final_loss = round(sum(tail) / len(tail), 5)
        if final_loss != final_loss or abs(final_loss) == float("inf"):
            raise ValueError(f"training ended with a non-finite loss ({final_loss}); nothing was written")
        info = {
            "name": args.name, "command": "python -m teachkit " + shlex.join(args.argv), "seed": config.seed,
            # the short summary: what this run sets beyond its objective's defaults; train_config holds all of it
            "hyperparameters": {k: v for k, v in config.changed().items() if k not in (*RUN_ONLY, "seed")},
            "train_config": config.to_dict(),
            "parameters": sum(p.numel() for p in trained.parameters()), "data": recipe.data,
            "data_sha256": recipe.data_sha256, "teachkit_version": teachkit.__version__,
            "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "wall_time_s": round(wall, 1),
            "device": str(device), "machine": _machine(torch.get_num_threads()), "final_loss": final_loss,
            "quality": None, **extra,
        }
        old_json = out / f"{args.name}.json"
        previous = json.loads(old_json.read_text()) if args.replace_shipped and old_json.exists() else None
        spec = schedule_spec(**recipe.schedule) if recipe.schedule else None
        path = save_checkpoint(out / args.name, trained.cpu(), spec, info, dtype=recipe.dtype)
    print(f"wrote {path} and {path.with_suffix('.json')} ({wall:.0f} s, final loss {info['final_loss']})")
    if args.replace_shipped:
        was = ("a new shipped model" if previous is None else
               f"it was weights sha256 {str(previous.get('weights_sha256'))[:12]}..., trained {previous.get('trained_at')} "
               f"with {previous.get('hyperparameters', {}).get('steps')} steps, final loss {previous.get('final_loss')}")
        print(f"replaced the shipped {args.name} in {out} ({was}); `git checkout -- data/checkpoints/{args.name}.*` "
              "restores the committed one")
    if not args.no_eval:
        from teachkit.__main__ import build_parser

        # evaluate's own parser fills in its defaults, so new evaluate flags never break this call
        eval_argv = ["evaluate", args.name, "--out", str(out), "--write"] + (["--device", args.device] if args.device else [])
        eval_args = build_parser().parse_args(eval_argv)
        eval_args.threads = None  # keep train's --threads
        return eval_args.func(eval_args)
    return 0


def train_help() -> str:
    """The TrainConfig defaults of each objective and what each recipe sets beyond them (train --help's epilog)."""
    from teachkit.training.recipes import RECIPES
    from teachkit.training.config import OBJECTIVES, default_config

    def line(head: str, d: dict) -> str:
        return textwrap.fill(f"{head}: " + " ".join(f"{k}={v}" for k, v in d.items() if k != "objective"),
                             width=110, initial_indent="  ", subsequent_indent="      ")

    lines = ["TrainConfig defaults per objective (teachkit.training.config.default_config):"]
    lines += [line(o, default_config(o).to_dict()) for o in OBJECTIVES]
    lines += ["", "each recipe's TrainConfig is its objective's defaults plus these fields (the flags replace them):"]
    lines += [line(f"{name} ({r.config.objective})", r.config.changed()) for name, r in RECIPES.items()]
    return "\n".join(lines)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The train subcommand's flags (each one sets a TrainConfig field or says where files go)."""
    from teachkit.checkpoints import PRETRAINED, checkpoint_dir

    p.add_argument("name", choices=PRETRAINED)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=None, help="examples per step (default: the recipe's)")
    p.add_argument("--seed", type=int, default=None, help="seeds the model's initialization and every draw after it "
                   "(default: the recipe's, 0)")
    p.add_argument("--out", default=None, help="where NAME.safetensors/.json go (default: runs/; the shipped "
                   "directory is refused without --replace-shipped)")
    p.add_argument("--replace-shipped", action="store_true", help="write over the shipped checkpoint in "
                   f"{checkpoint_dir()} (prints what it replaced; git checkout restores it)")
    p.add_argument("--run-dir", default="runs", help="training state for --resume (RUN_DIR/NAME/last.safetensors)")
    p.add_argument("--teacher", default=None, help="distilled students only: the teacher checkpoint to distill "
                   "(PATH of a .safetensors/.json pair; default: the shipped teacher)")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="save the training state every N steps (default: the recipe's, 250)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/NAME/last.* (same flags, bit-identical)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--no-eval", action="store_true", help="skip the quality measurement")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
