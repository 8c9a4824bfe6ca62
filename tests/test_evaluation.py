"""One evaluation path (issue 18 item 2): `teachkit.evaluate`, the recorded quality, the READMEs and RESULTS.md.

The finding reproduced: the README's sliced W2 used 512 projections and its own reference draw, RESULTS.md 256
projections and another draw, so the two pages quoted different numbers for the same model, sampler and steps.
"""
import json
import math
import re
from pathlib import Path

import pytest
import torch

import teachkit
from teachkit.__main__ import main
from teachkit.bench import quality as bench
from teachkit.bench.tasks import mnist_task, pretrained_toy_task
from teachkit.evaluation import QUALITY, evaluate, quality_rows, quality_tables, shipped_records, update_readmes
from teachkit.metrics.reports import TOY_METRICS, toy_report

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def test_evaluate_a_toy_model_at_one_setting():
    r = teachkit.evaluate("toy-2d-cfg", sampler="DDIM", steps=10, scale=1.0, n=300)
    assert (r["model"], r["sampler"], r["steps"], r["guidance_scale"], r["n"], r["nfe"]) == \
        ("toy-2d-cfg", "DDIM", 10, 1.0, 300, 10)
    assert r["adherence"] > 0.95 and 0 < r["sliced_w2"] < 0.5 and r["data_floor"]["sliced_w2"] < r["sliced_w2"]
    # the default for a class-conditional model is scale 3; scale 0 is the unconditional model (adherence ~ chance)
    assert evaluate("toy-2d-cfg", steps=10, n=300)["guidance_scale"] == 3.0
    assert abs(evaluate("toy-2d-cfg", steps=10, n=300, scale=0.0)["adherence"] - 0.5) < 0.1


def test_a_student_is_sampled_on_its_grid_at_its_baked_in_scale():
    r = evaluate("toy-2d-distilled", steps=2, n=200)
    assert (r["sampler"], r["nfe"], r["guidance_scale"]) == ("Distilled", 2, 1.0) and r["sliced_w2"] < 0.3
    with pytest.raises(ValueError, match="baked in"):
        evaluate("toy-2d-distilled", steps=2, n=200, scale=3.0)
    with pytest.raises(ValueError, match="its samplers are: Distilled"):
        evaluate("toy-2d-distilled", sampler="DDIM")


def test_evaluate_mnist_and_the_classifier():
    r = evaluate("mnist-cfg", sampler="DDIM", steps=3, scale=3.0, n=20)
    assert r["n"] == 20 and r["nfe"] == 6 and 0 <= r["accuracy"] <= 1 and sum(r["predicted_counts"]) == 20
    assert r["cfid"] > 0 and r["data_floor"]["draws"] == 5 and "memorization" in r
    flow = evaluate("mnist-flow", steps=2, n=20)
    assert flow["sampler"] == "Flow (Euler)" and flow["nfe"] == 4
    clf = evaluate("mnist-classifier")
    assert clf["held_out_accuracy"] >= 0.97 and clf["n_test"] == 500
    with pytest.raises(ValueError, match="not a generative model"):
        evaluate("mnist-classifier", steps=5)


@pytest.mark.parametrize("bad, error, match", [
    (dict(n=5), ValueError, "at least 10 samples"), (dict(steps=0), ValueError, "positive whole number"),
    (dict(sampler="Flow (Euler)"), ValueError, "its samplers are"),
])
def test_bad_settings_teach(bad, error, match):
    with pytest.raises(error, match=match):
        evaluate("toy-2d-cfg", **bad)


def test_a_model_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(TypeError, match="shipped name"):
        evaluate(42)
    with pytest.raises(FileNotFoundError, match="neither a shipped model"):
        evaluate(str(tmp_path / "nothing"))


def test_cli_and_bench_score_a_row_with_the_same_settings(capsys):
    # one metric setting: bench/quality.py states none of its own, and a bench row equals evaluate() at that setting
    source = Path(bench.__file__).read_text()
    assert "n_projections" not in source and "max_pairwise" not in source
    assert toy_report.__kwdefaults__["n_projections"] == TOY_METRICS["n_projections"]
    task = pretrained_toy_task()
    guided = bench.toy_guidance_sweep(task, [1.0], "DDIM", 5, 200)["rows"][0]
    uncond = bench.toy_nfe_sweep(task, {"DDIM": [5]}, 200)["rows"][0]
    capsys.readouterr()  # the sweeps' log lines
    assert main(["evaluate", "toy-2d-cfg", "--sampler", "DDIM", "--steps", "5", "--scale", "1", "--n", "200",
                 "--threads", "1"]) == 0
    cli = json.loads(capsys.readouterr().out)
    for key in ("sliced_w2", "energy", "mmd", "log_likelihood", "adherence"):
        assert cli[key] == guided[key], key
    zero = evaluate("toy-2d-cfg", sampler="DDIM", steps=5, scale=0.0, n=200)
    assert all(zero[k] == uncond[k] for k in ("sliced_w2", "energy", "log_likelihood"))
    mtask = mnist_task()
    row = bench.mnist_nfe_sweep(mtask, {"DDIM": [2]}, 20, 3.0)["rows"][0]
    mine = evaluate("mnist-cfg", sampler="DDIM", steps=2, scale=3.0, n=20)
    assert all(mine[k] == row[k] for k in ("cfid", "accuracy", "diversity", "saturation", "predicted_counts"))


def test_the_records_hold_the_recorded_settings_and_are_current():
    records = shipped_records()
    for name, settings in QUALITY.items():
        rows = quality_rows(records[name])
        assert len(rows) == len(settings), name
        for row, setting in zip(rows, settings):
            assert row.get("steps") == setting.get("steps") and row.get("sampler", None) in (setting.get("sampler"), "Distilled", None)
    # the stored number is what evaluate() measures today (toy-2d-cfg, DDIM-50 at scale 1: 2,000 points, seconds)
    stored = next(r for r in quality_rows(records["toy-2d-cfg"]) if r["guidance_scale"] == 1.0)
    now = evaluate("toy-2d-cfg", sampler="DDIM", steps=50, scale=1.0)
    assert math.isclose(stored["sliced_w2"], now["sliced_w2"], rel_tol=1e-5) and stored["adherence"] == now["adherence"]


def test_readme_tables_are_the_records():
    assert update_readmes(ROOT, check=True) == []  # README.md and data/README.md: the generated block is current
    assert main(["evaluate", "--table", "--check", "--threads", "1"]) == 0


def test_a_stale_readme_table_is_found(tmp_path):
    for rel in ("README.md", "data/README.md"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    records = shipped_records()
    records["toy-2d-cfg"] = {"rows": [{**quality_rows(records["toy-2d-cfg"])[0], "sliced_w2": 9.0}]}
    assert update_readmes(tmp_path, records, check=True) == [tmp_path / "README.md", tmp_path / "data/README.md"]
    update_readmes(tmp_path, records)
    assert "9.000" in (tmp_path / "README.md").read_text() and update_readmes(tmp_path, records, check=True) == []


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Heading (or the table's header line) -> its rows, each a list of cells."""
    out, heading, rows = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        elif line.startswith("|"):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if rows is None:
                rows = out.setdefault(heading if heading not in out else line, [])
                rows.append(cells)
            elif not set("".join(cells)) <= set("-"):
                rows.append(cells)
        else:
            rows = None
    return out


def _agree(shown: str, measured: str) -> bool:
    """Two printouts of one number: equal within the rounding of the coarser one."""
    a, b = float(shown), float(measured)
    digits = len(shown.split(".")[1]) if "." in shown else 0
    ulp_b = 10 ** (math.floor(math.log10(abs(b))) - 3) if b else 0  # RESULTS.md prints 4 significant digits
    return abs(a - b) <= 0.5 * 10 ** -digits + 0.5 * ulp_b + 1e-12


def test_readme_and_results_quote_the_same_number_for_the_same_measurement():
    readme = _tables((ROOT / "README.md").read_text())
    results = (ROOT / "benchmarks/results/RESULTS.md").read_text()
    toy = next(rows for rows in readme.values() if rows[0][:3] == ["record", "model", "sampler"] and "sliced W2" in rows[0])
    head = toy[0]
    mine = {(r[1], r[2], int(r[3]), float(r[4])): dict(zip(head, r)) for r in toy[1:] if r[0] == "toy-2d-cfg"}
    m = re.search(r"### toy-2d-cfg \(moons\) \(n = (\d+), seed (\d+)\)", results)
    g = re.search(r"### toy-2d-cfg \(moons\), DDIM-50 \(n = (\d+), seed (\d+)\)", results)
    assert m and g, "RESULTS.md has no toy-2d-cfg sections with n and seed"
    record = quality_rows(shipped_records()["toy-2d-cfg"])
    # the same measurement: the records' n and seed are those of the benchmark rows
    assert {(r["n"], r["seed"]) for r in record} == {(int(m[1]), int(m[2]))} == {(int(g[1]), int(g[2]))}
    bench_tables = _tables(results)
    nfe = {(r[0], r[1]): dict(zip(bench_tables[m[0].lstrip("# ")][0], r)) for r in bench_tables[m[0].lstrip("# ")][1:]}
    sweep = {r[0]: dict(zip(bench_tables[g[0].lstrip("# ")][0], r)) for r in bench_tables[g[0].lstrip("# ")][1:]}
    checked = 0
    uncond = mine["toy-2d-cfg", "DDIM", 50, 0.0]
    for mine_key, theirs_key, row in (("sliced W2", "sliced W2", nfe["DDIM", "50"]), ("energy", "energy dist.", nfe["DDIM", "50"]),
                                      ("mean log p", "mean log p", nfe["DDIM", "50"]),
                                      ("data vs data (sliced W2)", "sliced W2", nfe["real data", "-"])):
        assert _agree(uncond[mine_key], row[theirs_key]), (mine_key, uncond[mine_key], row[theirs_key])
        checked += 1
    for w in (0.0, 1.0, 3.0):
        ours, theirs = mine["toy-2d-cfg", "DDIM", 50, w], sweep[f"{w:g}"]
        for key in ("sliced W2", "mean log p", "adherence"):
            assert _agree(ours[key], theirs[key]), (w, key, ours[key], theirs[key])
            checked += 1
    assert checked == 13


def test_a_students_record_measures_its_teacher_where_it_is(tmp_path, capsys):
    # a student in runs/ without its teacher there: the teacher rows use the shipped teacher at the student's scale
    import shutil

    from teachkit.checkpoints import checkpoint_dir
    from teachkit.evaluation import measure_quality

    for ext in ("json", "safetensors"):
        shutil.copy(checkpoint_dir() / f"toy-2d-distilled.{ext}", tmp_path)
    q = measure_quality("toy-2d-distilled", tmp_path, settings=[dict(steps=1, n=50),
                                                               dict(model="teacher", sampler="DDIM", steps=2, n=50)])
    student, teacher = q["rows"]
    assert (student["model"], student["sampler"], student["nfe"]) == ("toy-2d-distilled", "Distilled", 1)
    assert (teacher["model"], teacher["sampler"], teacher["guidance_scale"], teacher["nfe"]) == ("toy-2d-cfg", "DDIM", 1.0, 2)
    with pytest.raises(SystemExit):
        main(["evaluate", "toy-2d-cfg", "--out", str(tmp_path)])  # NAME is not in --out: one clear line, exit 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["evaluate"], "name the model"),
    (["evaluate", "toy-2d-cfg", "--steps", "5", "--write"], "--write stores the recorded settings"),
    (["evaluate", "toy-2d-cfg", "--table"], "drop the NAME"),
    (["evaluate", "toy-2d-cfg", "--check"], "--check goes with --table"),
    (["evaluate", "mnist-classifier", "--steps", "5"], "not a generative model"),
])
def test_evaluate_command_line_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        main(argv + ["--threads", "1"])
    assert err.value.code == 2 and message in capsys.readouterr().err
