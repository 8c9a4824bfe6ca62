"""Coursework: instructor notebooks pass, student copies fail only where answers are missing, checks teach, markers validate."""
import ast
import math
import os
import traceback
from pathlib import Path

import matplotlib
import pytest
import torch

import teachkit
from teachkit import checks
from teachkit.assign import STUB, MarkerError, assign, main, make_student, strip_source

nbformat = pytest.importorskip("nbformat")

EXERCISES = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
NOTEBOOKS = sorted(EXERCISES.glob("*.ipynb"))
ALLOWED_ERRORS = (NotImplementedError, AssertionError)


def run_in_process(nb) -> list:
    """Execute the code cells in one fresh namespace, continuing after errors; returns [(index, exception)]."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns: dict = {"__name__": "__main__"}
    errors, threads = [], torch.get_num_threads()  # notebooks may set threads; give them back afterwards
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        src = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        try:
            exec(compile(src, f"<cell {i}>", "exec"), ns)
        except Exception as err:  # noqa: BLE001 - the student copy is expected to raise; we classify below
            errors.append((i, err))
        finally:
            plt.close("all")
    torch.set_num_threads(threads)
    return errors


def answer_names(nb) -> set[str]:
    """Names of the functions whose bodies are solutions (defined in cells with a solution region)."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            src = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
            names |= {n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)}
    return names


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_there_are_exercises():
    assert len(NOTEBOOKS) >= 2, f"expected instructor notebooks in {EXERCISES}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_instructor_notebook_is_committed_executed(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name}: re-run notebook_tools --execute"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} has stored errors: {[e.ename for e in errors]}"
    text = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert " s)" not in text and "seconds" not in text, "no timings in stored outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_instructor_notebook_passes(path):
    # in-process for speed; CI's nbval run executes the same notebooks in a real kernel
    errors = run_in_process(nbformat.read(path, as_version=4))
    assert not errors, f"{path.name}: " + "; ".join(f"cell {i}: {type(e).__name__}: {e}" for i, e in errors)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_fails_only_where_answers_are_missing(path):
    instructor = nbformat.read(path, as_version=4)
    student, counts = make_student(instructor, name=path.name)
    assert counts["SOLUTION"] >= 1
    names = answer_names(instructor)
    graded = {i for i, c in enumerate(student.cells) if nbgrader_meta(c).get("grade")}
    solution_cells = {i for i, c in enumerate(student.cells) if nbgrader_meta(c).get("solution")}
    depends = {i for i, c in enumerate(student.cells)
               if c.cell_type == "code" and any(n in c.source for n in names)}
    errors = run_in_process(student)
    for i, err in errors:
        where = f"{path.name}, cell {i}: {type(err).__name__}: {err}"
        assert isinstance(err, ALLOWED_ERRORS), f"only missing answers may fail; {where}"
        assert i in depends | graded, f"a cell that does not use an answer failed; {where}"
        frames = traceback.extract_tb(err.__traceback__)
        if isinstance(err, NotImplementedError):
            origin = frames[-1].filename
            assert origin.startswith("<cell ") and int(origin[6:-1]) in solution_cells, \
                f"NotImplementedError should come from a stub in a solution cell; {where}"
        else:
            assert frames[-1].filename.endswith("checks.py"), f"AssertionError not from teachkit.checks; {where}"
    failed = {i for i, _ in errors}
    assert graded <= failed, f"{path.name}: graded test cells {sorted(graded - failed)} pass without answers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_has_no_answers(path):
    instructor = nbformat.read(path, as_version=4)
    student, counts = make_student(instructor, name=path.name)
    assert len(student.cells) == len(instructor.cells)  # nbgrader matches cells by grade_id; keep them all
    text = "\n".join(c.source for c in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in text
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert code.count(STUB[1]) == counts["SOLUTION"]
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in student.cells if c.cell_type == "code")
    assert [nbgrader_meta(c) for c in student.cells] == [nbgrader_meta(c) for c in instructor.cells]
    assert counts["notes"] == [], "instructor notebooks must carry nbgrader cell metadata"
    assert "torch.cumprod" not in code and ".chunk(2)\n" not in code  # lines from the solutions


def test_assign_writes_copies(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert "solutions stubbed" in capsys.readouterr().out


@pytest.mark.slow
def test_student_copy_in_a_real_kernel(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    root = str(EXERCISES.parent.parent)  # the kernel imports this checkout's teachkit, installed or not
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    path = assign([EXERCISES / "ex02_ddim_step.ipynb"], tmp_path)[0]
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    enames = {i: o.ename for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"}
    assert enames and set(enames.values()) == {"NotImplementedError"}, enames


# --- the checks teach: right answers pass, typical wrong answers get a message naming the mistake


def _ddim_step(x_t, eps, ab_t, ab_prev, eta=0.0, noise=None, renoise_with_t=False, ignore_eta=False):
    x0_hat = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    sigma = 0.0 if ignore_eta else eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
    direction = math.sqrt((1 - ab_t if renoise_with_t else 1 - ab_prev) - sigma**2)
    x_prev = math.sqrt(ab_prev) * x0_hat + direction * eps
    return (x_prev + sigma * noise if sigma > 0 else x_prev), x0_hat


def _loop(model, schedule, x_T, steps, ts=None, last_prev=-1):
    ts = ts or teachkit.timesteps(schedule.T, steps).tolist()
    xs, x = [x_T], x_T
    for t, prev in zip(ts, ts[1:] + [last_prev]):
        eps = model(x, torch.full((x.shape[0],), t))
        x, _ = teachkit.ddim_step(x, eps, schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev))
        xs.append(x)
    return xs


def _guided(model, schedule, x_T, y, scale, steps, two_calls=False, swap=False):
    ts, x = teachkit.timesteps(schedule.T, steps).tolist(), x_T
    null = torch.full_like(y, model.null_label)
    for t, prev in zip(ts, ts[1:] + [-1]):
        tb = torch.full((x.shape[0],), t)
        if two_calls:
            eps_c, eps_u = model(x, tb, y), model(x, tb, null)
        else:
            eps_c, eps_u = model(torch.cat([x, x]), torch.cat([tb, tb]), torch.cat([y, null])).chunk(2)
        if swap:
            eps_c, eps_u = eps_u, eps_c
        x, _ = teachkit.ddim_step(x, teachkit.cfg_combine(eps_u, eps_c, scale), schedule.alpha_bar_at(t),
                                  schedule.alpha_bar_at(prev))
    return x


def _q_sample(x0, t, noise, ab, square_roots=True, broadcast=True, cast=True):
    a = ab[t].reshape(-1, *[1] * (x0.ndim - 1)) if broadcast else ab[t]
    a = a.to(x0.dtype) if cast else a
    return a.sqrt() * x0 + (1 - a).sqrt() * noise if square_roots else a * x0 + (1 - a) * noise


RIGHT = [
    (checks.check_alpha_bar, lambda betas: torch.cumprod(1 - betas, 0)),
    (checks.check_q_sample, _q_sample),
    (checks.check_ddim_step, teachkit.ddim_step),
    (checks.check_ddim_loop, lambda m, s, x, n: list(teachkit.ddim_sample(m, s, x, n).xs)),
    (checks.check_ddim_loop, _loop),
    (checks.check_cfg_combine, teachkit.cfg_combine),
    (checks.check_guided_sampler, lambda m, s, x, y, sc, n: teachkit.ddim_sample(m, s, x, n, y=y, guidance_scale=sc).sample),
    (checks.check_guided_sampler, _guided),
]


@pytest.mark.parametrize("check, answer", RIGHT, ids=lambda v: getattr(v, "__name__", ""))
def test_checks_accept_right_answers(check, answer, capsys):
    check(answer)
    assert "ok" in capsys.readouterr().out


WRONG = {
    "alpha_bar: returns alphas": (checks.check_alpha_bar, lambda b: 1 - b, ["alpha_bar[1]", "torch.cumprod"]),
    "alpha_bar: product of betas": (checks.check_alpha_bar, lambda b: torch.cumprod(b, 0), ["product of alpha = 1 - beta"]),
    "q_sample: no square roots": (checks.check_q_sample, lambda *a: _q_sample(*a, square_roots=False), ["square roots"]),
    "q_sample: no broadcast": (checks.check_q_sample, lambda *a: _q_sample(*a, broadcast=False), ["(B, 1, ...)"]),
    "q_sample: float64 out": (checks.check_q_sample, lambda *a: _q_sample(*a, cast=False), ["torch.float64", "x0.dtype"]),
    "ddim_step: re-noise with alpha_bar_t": (checks.check_ddim_step, lambda *a, **k: _ddim_step(*a, **k, renoise_with_t=True),
                                             ["t=420 -> prev=400", "expected x_prev=", "sqrt(1 - alpha_bar_prev)"]),
    "ddim_step: ignores eta": (checks.check_ddim_step, lambda *a, **k: _ddim_step(*a, **k, ignore_eta=True),
                               ["t=980 -> prev=960 (eta=1)", "you ignored eta"]),
    "ddim_step: returns one tensor": (checks.check_ddim_step, lambda *a, **k: teachkit.ddim_step(*a, **k)[0],
                                      ["(x_prev, x0_hat)"]),
    "ddim_loop: fixed stride": (checks.check_ddim_loop, lambda m, s, x, n: _loop(m, s, x, n, ts=[999, 666, 333][:n]),
                                ["t=[999, 666, 333]", "[999, 666, 332]", "never a fixed stride"]),
    "ddim_loop: never reaches clean": (checks.check_ddim_loop, lambda m, s, x, n: _loop(m, s, x, n, last_prev=0),
                                       ["after step 3 (t=332 -> prev=-1)", "alpha_bar_prev"]),
    "cfg: paper's w": (checks.check_cfg_combine, lambda u, c, s: (1 + s) * c - s * u, ["scale=7.5", "paper's w"]),
    "cfg: swapped": (checks.check_cfg_combine, lambda u, c, s: c + s * (u - c), ["swapped"]),
    "guided: two forwards per step": (checks.check_guided_sampler, lambda *a: _guided(*a, two_calls=True),
                                      ["20 forward calls (2 per step)", "ONE batched call"]),
    "guided: halves swapped": (checks.check_guided_sampler, lambda *a: _guided(*a, swap=True), ["halves are swapped"]),
}


@pytest.mark.parametrize("name", WRONG)
def test_checks_explain_wrong_answers(name):
    check, answer, phrases = WRONG[name]
    with pytest.raises(AssertionError) as info:
        check(answer)
    for phrase in phrases:
        assert phrase in str(info.value), f"{phrase!r} missing from: {info.value}"


def test_checks_let_not_implemented_through():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_alpha_bar, checks.check_ddim_step, checks.check_cfg_combine, checks.check_guided_sampler):
        with pytest.raises(NotImplementedError):
            check(stub)


def test_reference_step_in_check_message():
    # numbers.md: linear schedule, x_t = 0.5, eps = 0.1, 980 -> 960, eta = 0: x_prev = 0.586725
    with pytest.raises(AssertionError, match=r"t=980 -> prev=960 \(eta=0\): expected x_prev=0\.5867, got 0\.0000"):
        checks.check_ddim_step(lambda x_t, eps, *a, **k: (torch.zeros_like(x_t), teachkit.ddim_step(x_t, eps, *a)[1]))


def test_gaussian_mixture_eps_is_exact_per_class(linear):
    mixture = checks.GaussianMixtureEps(linear)
    x, t = torch.randn(9, 2), torch.tensor([0, 10, 100, 300, 500, 700, 900, 990, 999])
    y = torch.arange(9) % 3

    def single(x, t, k):
        # closed form for one Gaussian N(mu_k, s^2 I): eps = sqrt(1 - ab) (x - sqrt(ab) mu_k) / (ab s^2 + 1 - ab)
        ab = linear.alpha_bar[t][:, None]
        eps = (1 - ab).sqrt() * (x.double() - ab.sqrt() * mixture.means[k]) / (ab * 0.3**2 + 1 - ab)
        return eps.float()

    torch.testing.assert_close(mixture(x, t, y), single(x, t, y))
    # the null label mixes the classes: far from the data it is the single Gaussian of the nearest component
    torch.testing.assert_close(mixture(torch.tensor([[40.0, 0.0]]), t[:1], torch.tensor([3])),
                               single(torch.tensor([[40.0, 0.0]]), t[:1], torch.tensor([0])))
    assert mixture.sample(5, y=2)[1].tolist() == [2] * 5


# --- assign's marker validation


def test_strip_source_stubs_solutions_keeping_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nprint(1)"
    out, counts = strip_source(src)
    assert out == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(1)"
    assert counts == {"SOLUTION": 1, "HIDDEN TESTS": 0}


def test_strip_source_drops_hidden_tests_and_stubs_markdown():
    out, counts = strip_source("check(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS")
    assert out == "check(f)" and counts["HIDDEN TESTS"] == 1
    assert strip_source("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", markdown=True)[0] == "Why?\nYOUR ANSWER HERE"


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1", "line 1: '### BEGIN SOLUTION' is never closed"),
    ("x = 1\n### END SOLUTION", "line 2: '### END SOLUTION' without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION", "line 2: '### BEGIN SOLUTION' inside"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION", "cannot nest"),
    ("### BEGIN HIDDEN TESTS\nassert 1\n### END SOLUTION", "closes the HIDDEN TESTS region opened at line 1"),
    ("x = 1  # BEGIN SOLUTION", "looks like a marker"),
    ("### Begin Solution\nx = 1\n### End Solution", "looks like a marker"),
])
def test_strip_source_rejects_bad_markers(src, message):
    with pytest.raises(MarkerError, match="ex9.ipynb, cell 4") as info:
        strip_source(src, where="ex9.ipynb, cell 4")
    assert message in str(info.value)


def _notebook(tmp_path, name, sources):
    from nbformat.v4 import new_code_cell, new_notebook

    path = tmp_path / name
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def test_assign_names_notebook_and_cell_and_writes_nothing(tmp_path, capsys):
    good = _notebook(tmp_path, "good.ipynb", ["def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"])
    bad = _notebook(tmp_path, "bad.ipynb", ["import torch", "### BEGIN SOLUTION\nx = 1"])
    out = tmp_path / "student"
    assert main([str(good), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.ipynb, cell 1 (code), line 1" in err and "never closed" in err
    assert not out.exists()  # validated before anything is written
    assert main([str(good), "--out", str(out)]) == 0  # bare cells work, with a note for nbgrader users
    assert "good.ipynb, cell 0 (code): a solution region in a cell without nbgrader metadata" in capsys.readouterr().err


def test_assign_never_overwrites_the_instructor_notebook(tmp_path, capsys):
    path = _notebook(tmp_path, "ex.ipynb", ["def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"])
    before = path.read_text()
    assert main([str(path), "--out", str(tmp_path)]) == 2
    assert "would overwrite the instructor notebook" in capsys.readouterr().err
    assert path.read_text() == before


def test_assign_rejects_a_notebook_without_answers(tmp_path):
    with pytest.raises(MarkerError, match="none.ipynb: no '### BEGIN SOLUTION'"):
        assign([_notebook(tmp_path, "none.ipynb", ["print(1)"])], tmp_path / "out")


@pytest.mark.slow
def test_grade_puts_hidden_tests_back_and_counts_points(tmp_path, monkeypatch, capsys):
    pytest.importorskip("nbclient")
    root = str(EXERCISES.parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    instructor = nbformat.read(EXERCISES / "ex03_guidance.ipynb", as_version=4)
    student = nbformat.read(assign([EXERCISES / "ex03_guidance.ipynb"], tmp_path)[0], as_version=4)
    for i, cell in enumerate(student.cells):
        meta = nbgrader_meta(cell)
        if meta.get("grade_id") == "cfg_combine":  # the student answered the first part only ...
            cell.source = instructor.cells[i].source
        if meta.get("grade_id") == "test_guided_sampler":  # ... and "fixed" a test by deleting it
            cell.source = "pass"
    nbformat.write(student, tmp_path / "ex03_guidance.ipynb")
    assert main(["--grade", str(tmp_path / "ex03_guidance.ipynb")]) == 0
    out = capsys.readouterr().out
    assert "2 / 5 points" in out and "NotImplementedError" in out
