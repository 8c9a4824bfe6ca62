"""The benchmark results as a markdown page: environment, headline claims, then one table per section."""
from __future__ import annotations

__all__ = ["markdown"]


def _f(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _find(sweep: dict, sampler: str, steps: int) -> dict | None:
    return next((r for r in sweep["rows"] if r["sampler"] == sampler and r["steps"] == steps), None)


def _headline(sweep: dict, key: str, label: str) -> list[str]:
    """The seed's claim (DDIM-50 ~ DDPM-1000 at 20x) and DDIM Table 1's shape (DDIM ahead at few steps)."""
    out = []
    ddim50, ddpm1000 = _find(sweep, "DDIM", 50), _find(sweep, "DDPM", 1000)
    if ddim50 and ddpm1000:
        floor = sweep.get("data_floor", {})
        sd = f" +- {_f(floor[key + '_sd'], 2)}" if key + "_sd" in floor else ""
        out.append(f"- **{sweep['task']}**: {label} DDIM-50 = {_f(ddim50[key])}, DDPM-1000 = {_f(ddpm1000[key])}"
                   f" (real data: {_f(floor.get(key))}{sd}); wall time DDPM-1000 / DDIM-50 = "
                   f"{ddpm1000['seconds'] / ddim50['seconds']:.1f}x (NFE {ddpm1000['nfe']} vs {ddim50['nfe']}).")
    distilled = [r for r in sweep["rows"] if r["sampler"].startswith("Distilled")]
    if distilled:
        cells = ", ".join(f"{r['nfe']} NFE: {_f(r[key], 3)}" for r in distilled)
        if "(scale" in distilled[0]["sampler"]:
            # distilled at another guidance scale than the sweep's: its rows do not compare with the others
            tail = " (at its own guidance scale: compare with the guidance sweep's row at that scale, not with this sweep)"
        else:
            few = [r for r in (_find(sweep, "DDIM", 5), _find(sweep, "DPM-Solver++(2M)", 5)) if r]
            tail = "".join(f"; {r['sampler']}-5: {_f(r[key], 3)}" for r in few)
        out.append(f"  - {distilled[0]['sampler']}, {label}: {cells}{tail}.")
    for other in ("DDPM", "DDPM (large var)"):
        pairs = [(s, _find(sweep, "DDIM", s), _find(sweep, other, s)) for s in (10, 20, 50, 100)]
        pairs = [(s, a, b) for s, a, b in pairs if a and b]
        if pairs:
            cells = ", ".join(f"{s}: {_f(a[key], 3)} vs {_f(b[key], 3)}" for s, a, b in pairs)
            out.append(f"  - same step count, {label} DDIM vs {other}: {cells}.")
    return out


def _floor_cells(sweep: dict, cols: list[tuple[str, str]]) -> list:
    """The real-data row; classifier-FID as mean +- sd over the floor's random draws, where recorded."""
    floor = sweep.get("data_floor", {})
    cells = [floor.get(k) for k, _ in cols]
    if "cfid_sd" in floor and any(k == "cfid" for k, _ in cols):
        i = [k for k, _ in cols].index("cfid")
        cells[i] = f"{_f(floor['cfid'])} +- {_f(floor['cfid_sd'], 2)}"
    return cells


def _draws(sweep: dict) -> str:
    draws = sweep.get("data_floor", {}).get("draws")
    return f" ({draws} draws, same labels)" if draws else ""


def _with_gap(rows: list[dict]) -> list[dict]:
    """Add log_p_gap = mean log p(samples) - mean log p(data): 0 is right, > 0 too concentrated, < 0 too spread."""
    return [{**r, "log_p_gap": r["log_likelihood"] - r["log_likelihood_reference"]} if "log_likelihood" in r else r
            for r in rows]


def _nfe_section(sweep: dict, cols: list[tuple[str, str]]) -> str:
    sweep = {**sweep, "rows": _with_gap(sweep["rows"])}
    header = ["sampler", "steps", "NFE"] + [label for _, label in cols] + ["seconds"]
    rows = [[r["sampler"], r["steps"], r["nfe"]] + [r.get(k) for k, _ in cols] + [r["seconds"]] for r in sweep["rows"]]
    rows.append(["real data" + _draws(sweep), "-", "-"] + _floor_cells(sweep, cols) + [None])
    return f"### {sweep['task']} (n = {sweep['n']}, seed {sweep['seed']})\n\n" + _table(header, rows)


def _guidance_section(sweep: dict, cols: list[tuple[str, str]]) -> str:
    sweep = {**sweep, "rows": _with_gap(sweep["rows"])}
    header = ["scale", "NFE"] + [label for _, label in cols] + ["seconds"]
    rows = [[r["scale"], r["nfe"]] + [r.get(k) for k, _ in cols] + [r["seconds"]] for r in sweep["rows"]]
    if "data_floor" in sweep:
        rows.append(["real data" + _draws(sweep), "-"] + _floor_cells(sweep, cols) + [None])
    seed = f", seed {sweep['seed']}" if "seed" in sweep else ""
    return f"### {sweep['task']}, {sweep['sampler']} (n = {sweep['n']}{seed})\n\n" + _table(header, rows)


def _verdict(value: float, target: float) -> str:
    return f"{value:.3f} (target <= {target:.2f}: {'met' if value <= target else 'NOT met'})"


def _speed_headline(speed: dict, where: str) -> list[str]:
    """One line per speed target, with its verdict."""
    out = []
    sb = speed.get("sampler_vs_bare")
    if sb:
        out.append(f"- **speed ({where})**: {sb['sampler']} / the same bare forwards, batch {sb['batch']}: median "
                   f"{_verdict(sb['ratio']['median'], 1.10)}.")
    for vs in speed.get("teachkit_vs_diffusers", []):
        cells = []
        for name, c in vs.items():
            if name == "batch":
                continue
            limit = (c.get("ratio_bare_over_diffusers") or {}).get("median")
            cells.append(f"{name} {_verdict(c['ratio_teachkit_over_diffusers']['median'], 0.90)}"
                         + (f", limit {limit:.3f}" if limit is not None else ""))
        out.append(f"  - teachkit / diffusers at batch {vs['batch']}: " + "; ".join(cells) + ".")
    so = speed.get("step_overhead")
    if so:
        out.append(f"  - the samplers' own time per {so['sampler']} step (near-free network, batch {so['batch']}): teachkit "
                   f"{so['us_per_step']['teachkit']:.0f} us, diffusers {so['us_per_step']['diffusers']:.0f} us.")
    for gv in speed.get("guided_vs_unguided", []):
        out.append(f"  - {gv['model'].split(' (')[0]}, batch {gv['batch']}: guided / unguided "
                   f"{gv['ratio_guided_over_unguided']['median']:.2f}, batched CFG / two separate passes "
                   f"{gv['ratio_batched_over_two_passes']['median']:.2f}.")
    return out


def _speed_section(speed: dict) -> str:
    parts = []
    sb = speed.get("sampler_vs_bare")
    if sb:
        t = sb["times"]
        parts.append(f"**{sb['sampler']} vs the same number of bare forwards** ({speed['model']}, batch {sb['batch']}):\n\n"
                     + _table(["", "median s", "min s", "rounds"],
                              [[k, v["median_s"], v["min_s"], v.get("rounds")] for k, v in t.items()])
                     + f"\n\nratio sampler / bare forwards: median {sb['ratio']['median']:.3f}, min {sb['ratio']['min']:.3f}"
                     f" (record=True: {sb['ratio_record']['median']:.3f}); target <= 1.10.")
    for vs in speed.get("teachkit_vs_diffusers", []):
        rows = [[name, c["times"]["teachkit"]["median_s"], c["times"]["diffusers"]["median_s"],
                 c["ratio_teachkit_over_diffusers"]["median"], c["ratio_teachkit_over_diffusers"]["min"],
                 (c.get("ratio_bare_over_diffusers") or {}).get("median")]
                for name, c in vs.items() if name != "batch"]
        parts.append(f"**teachkit vs diffusers schedulers driving the same model** ({speed['model']}, batch {vs['batch']};"
                     " target ratio <= 0.90; \"limit\" is the bare network forwards alone over diffusers' time, the"
                     " lowest ratio any sampler could reach):\n\n"
                     + _table(["sampler", "teachkit s", "diffusers s", "ratio (median)", "ratio (min)", "limit"], rows))
    so = speed.get("step_overhead")
    if so:
        us = so["us_per_step"]
        parts.append(f"**The samplers' own time per step** ({so['sampler']}, batch {so['batch']}, a stand-in network"
                     " that returns 0.1 x, so almost all of the time is the loop and the update): teachkit"
                     f" {us['teachkit']:.1f} us, diffusers' DDIMScheduler {us['diffusers']:.1f} us per step.")
    for gv in speed.get("guided_vs_unguided", []):
        rows = [[k, v["median_s"], v["per_step_ms"]] for k, v in gv["times"].items()]
        parts.append(f"**Guided (scale {gv['scale']}) vs unguided {gv['sampler']}** ({gv['model']}, batch {gv['batch']}):\n\n"
                     + _table(["", "median s", "ms / step"], rows)
                     + f"\n\nguided / unguided = {gv['ratio_guided_over_unguided']['median']:.2f}; batched CFG / two"
                     f" separate passes = {gv['ratio_batched_over_two_passes']['median']:.2f}.")
    return "\n\n".join(parts)


def markdown(results: dict) -> str:
    """The whole results page."""
    lines = ["# teachkit benchmark results", "", "Each section records the command and machine state it ran with:", ""]
    for section, env in results.get("runs", {}).items():
        lines.append(f"- **{section}**: `{env['command']}` ({env['profile']} profile), {env['date']}, {env['wall_s']:.0f} s;"
                     f" {env['device']}, torch {env['torch']} with {env['threads']} intra-op thread(s), diffusers"
                     f" {env['diffusers']}; load average {env['load_start']} at start, {env['load_end']} at the end.")
    total = results.get("total")
    if total:
        lines += ["", f"**Whole run**: `{total['command']}` ran every section in {total['wall_s'] / 60:.1f} min"
                  f" ({total['date']}, {total['threads']} thread(s), load average {total['load_start']} at start)."]
    lines += [
        "",
        "Times are wall-clock seconds for the whole batch on a shared machine (see the load averages); ratios come",
        "from one run, interleaved: rounds in turn (at least 3, more until each case has run 2 s in all; the\n"
        "median is reported). Compare ratios, not absolute times across sections.",
        "",
        "Quality rows are drawn and scored by `teachkit.evaluation.scoring`, as `python -m teachkit evaluate` scores one",
        "setting (noise from the seed, reference data at seed + 1000, the data floor at seed + 2000, 512 sliced-W2",
        "projections): a row here with the model, sampler, steps, scale, n and seed of a row in the README's quality",
        "table is that row's measurement (tests/test_evaluation.py compares them). The toy sweeps are such rows",
        "(n = 2000, seed 0; the nfe sweep is unconditional, i.e. scale 0); the MNIST sweeps use other settings than the",
        "recorded quality (n = 100 at scale 1, and DDIM-20 at n = 200; the records: DDIM-50, n = 200), so their numbers",
        "are other measurements, not other values of the same one.",
        "",
        "## Headline claims",
        "",
    ]
    for sweep in results.get("toy_nfe", []):
        lines += _headline(sweep, "sliced_w2", "sliced W2")
        if "log_likelihood" in sweep["rows"][0]:
            lines += _headline({**sweep, "rows": _with_gap(sweep["rows"]), "data_floor": {"log_p_gap": 0.0}},
                               "log_p_gap", "log p gap (0 = data)")
    for sweep in results.get("mnist_nfe", []):
        lines += _headline(sweep, "cfid", "classifier-FID")
        lines += _headline(sweep, "accuracy", "accuracy")
    for key, where in (("speed", "CPU"), ("cuda", "CUDA")):
        if isinstance(results.get(key), dict) and "model" in results[key]:
            lines += _speed_headline(results[key], where + (f", {results[key]['gpu']}" if "gpu" in results[key] else ""))
    toy_cols = [("sliced_w2", "sliced W2"), ("energy", "energy dist."), ("mmd", "MMD^2"), ("log_likelihood", "mean log p"),
                ("log_p_gap", "log p gap")]
    mnist_cols = [("cfid", "cFID"), ("accuracy", "accuracy"), ("diversity", "diversity"), ("saturation", "saturated")]
    sections = [
        ("## 1. Quality vs network evaluations (2-D)", results.get("toy_nfe", []), _nfe_section, toy_cols),
        ("## 1b. Quality vs network evaluations (MNIST)", results.get("mnist_nfe", []), _nfe_section, mnist_cols),
        ("## 2. Guidance sweep (MNIST)", results.get("mnist_guidance", []), _guidance_section, mnist_cols),
        ("## 2b. Guidance sweep (2-D)", results.get("toy_guidance", []),
         _guidance_section, toy_cols[:1] + toy_cols[3:] + [("adherence", "adherence")]),
    ]
    for title, sweeps, fn, cols in sections:
        lines += ["", title, ""]
        lines += [fn(s, cols) + "\n" for s in sweeps] or ["(not run: " + results.get("skipped", {}).get(title, "see log") + ")"]
    for key, title in (("speed", "## 3. Speed (CPU)"), ("cuda", "## 4. Speed (CUDA)")):
        lines += ["", title, ""]
        sec = results.get(key)
        lines.append(_speed_section(sec) if isinstance(sec, dict) and "model" in sec else f"(not run: {sec})")
    for sweep in results.get("mnist_nfe", []) + results.get("mnist_guidance", []):
        mem = [r.get("memorization") for r in sweep["rows"] if r.get("memorization")]
        if mem:
            where = sweep.get("sampler") or "quality vs NFE"
            # old result files carry the pre-issue-15 probe (train cut to the held-out size): say so, do not reread it
            if "pixels" not in mem[0]:
                lines += ["", f"Memorization probe ({sweep['task']}, {where}): recorded with the old probe, which could not"
                          " detect copies (issue 15); rerun the benchmark for the rebuilt one."]
                continue
            worst = max(mem, key=lambda m: m["pixels"]["copies"]["k"])["pixels"]["copies"]
            lines += ["", f"Memorization probe ({sweep['task']}, {where}): near-copies of one of all"
                      f" {mem[0]['reference_size']} training digits (d_1 / mean d_1..d_{mem[0]['k']} <"
                      f" {mem[0]['copy_ratio']:.2f}, pixels): at most {worst['k']}/{worst['n']} per setting (95 % CI up to"
                      f" {worst['ci_high']:.3f}); held-out digits flagged: {mem[0]['pixels']['heldout_flagged']['k']}/"
                      f"{mem[0]['pixels']['heldout_flagged']['n']}."]
    return "\n".join(lines) + "\n"
