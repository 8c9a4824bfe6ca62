"""The recorded quality of each shipped model: a list of `evaluate()` rows at fixed settings, and the tables
README.md and data/README.md quote, rendered from those records (so a page cannot quote another number).

`python -m teachkit evaluate NAME --write` stores `measure_quality(NAME)` in NAME.json (the `quality` field,
outside the record seal); `python -m teachkit evaluate --table` prints the tables, `--table --write` puts them
between the markers in the two READMEs.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from .core import evaluate, load_model

__all__ = ["QUALITY", "measure_quality", "quality_rows", "quality_tables", "shipped_records", "update_readmes",
           "README_FILES", "BEGIN", "END"]

TEACHER = "teacher"  # a setting measured on the student's teacher, at the student's baked-in guidance scale

# name -> the settings its recorded quality is measured at (evaluate()'s keywords; n and seed are its defaults)
QUALITY: dict[str, list[dict]] = {
    "toy-2d-cfg": [dict(sampler="DDIM", steps=50, scale=w) for w in (0.0, 1.0, 3.0)],
    "mnist-cfg": [dict(sampler="DDIM", steps=50, scale=w) for w in (3.0, 0.0)],
    "mnist-classifier": [{}],
    "toy-2d-distilled": [dict(steps=k) for k in (1, 2, 4, 8)]
    + [dict(model=TEACHER, sampler="DDIM", steps=k) for k in (1, 2, 4, 8, 50)],
    "mnist-distilled": [dict(steps=k) for k in (1, 2, 4, 8)] + [dict(model=TEACHER, sampler="DDIM", steps=k)
                                                                 for k in (1, 2, 4, 8)],
    "toy-2d-flow": [dict(sampler="Flow (Euler)", steps=50, scale=w) for w in (0.0, 1.0, 3.0)],
    # each at most 20 network evaluations per sample (a guided step costs 2), then the plain conditional model
    "mnist-flow": [dict(sampler="Flow (Euler)", steps=10, scale=2.0), dict(sampler="Flow (Euler)", steps=10, scale=3.0),
                   dict(sampler="Flow (midpoint)", steps=5, scale=3.0), dict(sampler="Flow (Heun)", steps=5, scale=3.0),
                   dict(sampler="Flow (Euler)", steps=20, scale=0.0), dict(sampler="Flow (Euler)", steps=20, scale=1.0)],
}


def _tidy(value):
    """Floats to 6 significant digits (the JSON stays readable; every table prints fewer)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def measure_quality(name: str, checkpoints: str | Path | None = None, device=None, settings: list[dict] | None = None,
                    progress=None) -> dict:
    """The quality record of NAME (shipped, or NAME.* in `checkpoints`): evaluate() at each of QUALITY[NAME]
    (or at `settings`); `progress(line)` is called after each row."""
    if name not in QUALITY and settings is None:
        raise ValueError(f"no recorded settings for {name!r}; choose one of {', '.join(QUALITY)}")
    model, schedule, info, where = load_model(name, checkpoints)
    t0, rows = time.perf_counter(), []
    for setting in settings if settings is not None else QUALITY[name]:
        kw = dict(setting)
        if kw.pop("model", None) == TEACHER:
            teacher = info["teacher"]
            # the teacher it was distilled from: --teacher PATH, else NAME in the same directory, else the shipped one
            inside = where is not None and (where / f"{teacher['name']}.json").exists()
            t_model, t_schedule, t_info, _ = load_model(teacher.get("path") or teacher["name"], where if inside else None)
            row = evaluate(t_model, schedule=t_schedule, info=t_info, checkpoints=where, device=device,
                           scale=info["guidance_scale"], **kw)
            row["model"] = teacher["name"]
        else:
            row = evaluate(model, schedule=schedule, info=info, checkpoints=where, device=device, **kw)
            row["model"] = name
        rows.append(_tidy(row))
        if progress:
            progress(f"{name}: {_label(row)} ({row.get('seconds', 0):.1f} s)")
    return {"measured_by": f"teachkit.evaluate at teachkit.evaluation.QUALITY[{name!r}]", "rows": rows,
            "evaluation_seconds": round(time.perf_counter() - t0, 1)}


def quality_rows(info_or_quality: dict) -> list[dict]:
    """The rows of a record's quality (pass the info of load_pretrained or its `quality`); [] when unmeasured."""
    quality = info_or_quality.get("quality", info_or_quality) if "rows" not in info_or_quality else info_or_quality
    return list((quality or {}).get("rows", []))


def _label(row: dict) -> str:
    if "sampler" not in row:
        return "held-out accuracy"
    scale = "" if row.get("guidance_scale") is None else f", scale {row['guidance_scale']:g}"
    return f"{row['sampler']}-{row['steps']}{scale}"


def _g(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _scale(row: dict) -> str:
    w = row.get("guidance_scale")
    return "-" if w is None else f"{w:g}" + (" (baked in)" if row["sampler"] == "Distilled" else "")


def quality_tables(records: dict[str, dict]) -> str:
    """Markdown: the 2-D rows, the MNIST rows and the classifier, each model's rows in its record's order."""
    toy, mnist, clf = [], [], []
    for name, quality in records.items():
        for r in quality_rows(quality):
            if "held_out_accuracy" in r:
                k = round(r["held_out_accuracy"] * r["n_test"])
                clf.append(f"| `{name}` | {100 * r['held_out_accuracy']:.1f} % ({k}/{r['n_test']}) | "
                           f"{100 * r['train_accuracy']:.1f} % |")
            elif r.get("data") == "moons":
                toy.append(f"| `{name}` | `{r['model']}` | {r['sampler']} | {r['steps']} | {_scale(r)} | {r['nfe']} | "
                           f"{r['n']} | {_g(r['sliced_w2'])} | {_g(r['energy'])} | {_g(r['log_likelihood'], 2)} | "
                           f"{_g(r.get('adherence'))} | {_g(r['data_floor']['sliced_w2'])} |")
            else:
                # accuracy is NaN for an unconditional model: nothing was requested
                hits = f"{round(r['accuracy'] * r['n'])}/{r['n']}" if r["accuracy"] == r["accuracy"] else "-"
                mnist.append(f"| `{name}` | `{r['model']}` | {r['sampler']} | {r['steps']} | {_scale(r)} | {r['nfe']} | "
                             f"{r['n']} | {hits} | {r['digits_present']} | "
                             f"{r['cfid']:.1f} | {r['diversity']:.1f} | {r['data_floor']['cfid']:.1f} |")
    parts = []
    if toy:
        parts.append("| record | model | sampler | steps | scale | NFE | n | sliced W2 | energy | mean log p | adherence | "
                     "data vs data (sliced W2) |\n" + "|---" * 12 + "|\n" + "\n".join(toy))
    if mnist:
        parts.append("| record | model | sampler | steps | scale | NFE | n | requested digit recognized | digits present | "
                     "classifier-FID | diversity | real digits (classifier-FID) |\n" + "|---" * 12 + "|\n" + "\n".join(mnist))
    if clf:
        parts.append("| record | held-out accuracy | training accuracy |\n|---|---|---|\n" + "\n".join(clf))
    return "\n\n".join(parts) + "\n"


BEGIN = "<!-- quality tables: generated by `python -m teachkit evaluate --table --write` from data/checkpoints/*.json -->"
END = "<!-- end of the generated quality tables -->"
README_FILES = ("README.md", "data/README.md")


def shipped_records() -> dict[str, dict]:
    """name -> the quality stored in each shipped checkpoint's JSON, in QUALITY's order."""
    import json

    from teachkit.checkpoints import checkpoint_dir

    return {name: json.loads((checkpoint_dir() / f"{name}.json").read_text()).get("quality") or {} for name in QUALITY}


def _splice(text: str, block: str, where: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"{where} has no generated-table markers ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN, 1)
    return head + BEGIN + "\n\n" + block + "\n" + END + rest.split(END, 1)[1]


def update_readmes(root: str | Path, records: dict[str, dict] | None = None, *, check: bool = False) -> list[Path]:
    """Write the tables between the markers of README.md and data/README.md under `root` (a checkout); with
    check=True write nothing and return the files whose tables differ from the records."""
    block = quality_tables(shipped_records() if records is None else records)
    changed = []
    for rel in README_FILES:
        path = Path(root) / rel
        text = path.read_text()
        new = _splice(text, block, str(path))
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new)
    return changed

