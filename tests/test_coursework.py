"""Coursework: otter assign makes every exercise; instructor versions pass otter's tests, student versions fail only
where answers are missing; the checks teach; answers that call teachkit's reference score nothing.

Notebooks run in-process here (fast); tests/test_grading.py grades real submissions in kernels, and CI's
nbval run executes the instructor notebooks in a real kernel.
"""
import ast
import io
import math
import zipfile
from pathlib import Path

import matplotlib
import pytest
import torch

import teachkit
from teachkit import checks
from teachkit.coursework import EXERCISES, assign, exercise_notebooks

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("otter")

NOTEBOOKS = exercise_notebooks()
SYLLABUS_TOPICS = ("q_sample", "ddpm", "ddim_loop", "guided", "dpm", "flow", "frechet")


@pytest.fixture(scope="module")
def assigned(tmp_path_factory):
    """otter assign on every exercise, without otter's kernel run of the tests (the tests below do that in-process)."""
    out = tmp_path_factory.mktemp("assigned")
    return out, assign(out, run_tests=False, log=lambda *a: None)


def run_in_process(nb, cwd: Path) -> tuple[dict, list]:
    """Execute the code cells in one namespace (magics and grader lines skipped), continuing after errors."""
    import os

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns: dict = {"__name__": "__main__"}
    errors, threads, here = [], torch.get_num_threads(), os.getcwd()
    os.chdir(cwd)
    try:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            lines = [ln for ln in cell.source.splitlines()
                     if not ln.lstrip().startswith(("%", "grader")) and "otter" not in ln]
            src = "\n".join(ln if ln.strip() else "" for ln in lines)
            src = src.replace("if importlib.util.find_spec(\"teachkit\") is None or importlib.util.find_spec(\"otter\") is None:", "")
            try:
                exec(compile(src, f"<cell {i}>", "exec"), ns)
            except Exception as err:  # noqa: BLE001 - the student copy is expected to raise; classified by the caller
                errors.append((i, err))
            finally:
                plt.close("all")
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    return ns, errors


def zip_tests(zip_path: Path) -> list:
    """otter's own test files from an autograder zip, parsed by otter."""
    from otter.test_files.exception_test import ExceptionTestFile

    with zipfile.ZipFile(zip_path) as zf:
        return [ExceptionTestFile.from_string(zf.read(n).decode(), path=n)
                for n in sorted(zf.namelist()) if n.startswith("tests/") and n.endswith(".py")]


def answer_names(nb) -> set[str]:
    """Names of the functions whose bodies are solutions."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
            src = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith("%"))
            names |= {n.name for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)}
    return names


def test_an_exercise_for_every_syllabus_row():
    text = "\n".join(p.read_text() for p in NOTEBOOKS)
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]
    missing = [t for t in SYLLABUS_TOPICS if t not in text]
    assert not missing, f"no exercise mentions {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_instructor_notebook_is_an_executed_otter_master(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("# ASSIGNMENT CONFIG")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name}: re-run notebooks --execute"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} has stored errors: {[e.ename for e in errors]}"
    text = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert " s)" not in text and "seconds" not in text, "no timings in stored outputs"
    assert "TCP without encryption" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_instructor_version_passes_every_otter_test(path, assigned, tmp_path):
    out, written = assigned
    ns, errors = run_in_process(nbformat.read(path, as_version=4), tmp_path)
    assert not errors, f"{path.name}: " + "; ".join(f"cell {i}: {type(e).__name__}: {e}" for i, e in errors)
    tests = zip_tests(written[path.stem]["autograder"])
    assert tests and all(tc.hidden for t in tests for tc in t.test_cases) is False
    for test in tests:
        test.run(ns)
        failed = [r.message for r in test.test_case_results if not r.passed]
        assert not failed, f"{path.stem}/{test.name}: {failed}"
        assert any(tc.hidden for tc in test.test_cases), f"{path.stem}/{test.name} has no hidden test"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_version_fails_only_where_answers_are_missing(path, assigned, tmp_path):
    out, written = assigned
    student = nbformat.read(written[path.stem]["student"], as_version=4)
    text = "\n".join(c.source for c in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN TESTS", "BEGIN PROMPT", "ASSIGNMENT CONFIG", "refusing"):
        assert marker not in text, f"{marker!r} left in the student version of {path.name}"
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    names = answer_names(nbformat.read(path, as_version=4))
    depends = {i for i, c in enumerate(student.cells) if c.cell_type == "code" and any(n in c.source for n in names)}
    ns, errors = run_in_process(student, tmp_path)
    for i, err in errors:
        where = f"{path.name}, cell {i}: {type(err).__name__}: {err}"
        assert isinstance(err, NotImplementedError) and i in depends, f"only missing answers may fail; {where}"
    for test in zip_tests(written[path.stem]["autograder"]):
        test.run(ns)
        passed = [r.test_case.name for r in test.test_case_results if r.passed]
        assert not passed, f"{path.stem}/{test.name}: test cases {passed} pass without an answer"
    checks_ = [c.source for c in student.cells if c.cell_type == "code" and c.source.startswith("grader.check(")]
    assert len(checks_) == len(zip_tests(written[path.stem]["autograder"])), "one grader.check cell per question"


def test_assign_writes_the_contract_layout(assigned):
    out, written = assigned
    assert sorted(p.name for p in (out / "student").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert sorted(p.name for p in (out / "autograder").glob("*.zip")) == [p.stem + ".zip" for p in NOTEBOOKS]
    nb = nbformat.read(out / "student" / NOTEBOOKS[0].name, as_version=4)
    assert "otter.Notebook(" in nb.cells[1].source and "pip install" in nb.cells[1].source  # Colab install cell


def test_assign_refuses_to_write_next_to_the_instructor_notebooks():
    with pytest.raises(ValueError, match="inside the instructor notebooks' folder"):
        assign(EXERCISES / "student", [NOTEBOOKS[0]], run_tests=False)


def test_assign_names_a_notebook_that_is_not_an_otter_master(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "ex9_plain.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(1)")]), path)
    with pytest.raises(ValueError, match="ex9_plain.ipynb: not an otter master notebook"):
        assign(tmp_path / "out", [path], run_tests=False)


def test_assign_fills_in_the_install_url(tmp_path):
    paths = assign(tmp_path, [NOTEBOOKS[0]], run_tests=False, install_url="git+https://example.org/teachkit",
                   log=lambda *a: None)[NOTEBOOKS[0].stem]
    text = paths["student"].read_text()
    assert "git+https://example.org/teachkit" in text and "YOUR-ORG" not in text


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
        x, _ = ddim_step(x, eps, schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev))
        xs.append(x)
    return xs


def ddim_step(x_t, eps, ab_t, ab_prev, eta=0.0, noise=None):
    """The name _loop calls, as a student's loop calls their own step; checks put a correct one in its place."""
    return _ddim_step(x_t, eps, ab_t, ab_prev, eta, noise)


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
        x, _ = teachkit.ddim_step(x, cfg_combine(eps_u, eps_c, scale), schedule.alpha_bar_at(t),
                                  schedule.alpha_bar_at(prev))
    return x


def _q_sample(x0, t, noise, ab, square_roots=True, broadcast=True, cast=True):
    a = ab[t].reshape(-1, *[1] * (x0.ndim - 1)) if broadcast else ab[t]
    a = a.to(x0.dtype) if cast else a
    return a.sqrt() * x0 + (1 - a).sqrt() * noise if square_roots else a * x0 + (1 - a) * noise


def _drop(y, null, p, g):
    return torch.where(torch.rand(y.shape, generator=g) < p, torch.full_like(y, null), y)


RIGHT = [
    (checks.check_alpha_bar, lambda betas: torch.cumprod(1 - betas, 0)),
    (checks.check_q_sample, _q_sample),
    (checks.check_ddim_step, _ddim_step),
    (checks.check_ddim_loop, _loop),
    (checks.check_cfg_combine, lambda u, c, s: u + s * (c - u)),
    (checks.check_guided_sampler, _guided),
    (checks.check_drop_labels, _drop),
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
    "ddim_step: returns one tensor": (checks.check_ddim_step, lambda *a, **k: _ddim_step(*a, **k)[0],
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

    for check in (checks.check_alpha_bar, checks.check_q_sample, checks.check_ddim_step, checks.check_ddim_loop,
                  checks.check_cfg_combine, checks.check_guided_sampler, checks.check_drop_labels):
        with pytest.raises(NotImplementedError):
            check(stub)


def test_reference_step_in_check_message():
    # numbers.md: linear schedule, x_t = 0.5, eps = 0.1, 980 -> 960, eta = 0: x_prev = 0.586725
    with pytest.raises(AssertionError, match=r"t=980 -> prev=960 \(eta=0\): expected x_prev=0\.5867, got 0\.0000"):
        checks.check_ddim_step(lambda x_t, eps, *a, **k: (torch.zeros_like(x_t), _ddim_step(x_t, eps, *a)[1]))


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


def cfg_combine(u, c, s):
    """The name _guided calls, as a student's sampler calls their own combine."""
    return u + s * (c - u)


# --- answers that call teachkit's reference score nothing (issue 14: teachkit.ddim_step scored full marks)

REFERENCE_ANSWERS = {
    "alpha_bar via NoiseSchedule": (checks.check_alpha_bar, lambda b: teachkit.NoiseSchedule(b).alpha_bar, "NoiseSchedule"),
    "q_sample via the schedule": (checks.check_q_sample,
                                  lambda x0, t, n, ab: teachkit.linear_schedule().q_sample(x0, t, n), "q_sample"),
    "ddim_step": (checks.check_ddim_step, teachkit.ddim_step, "teachkit.ddim_step"),
    "ddim_step, imported under another name": (checks.check_ddim_step, lambda *a, **k: _alias(*a, **k), "teachkit.ddim_step"),
    "ddim_loop via ddim_sample": (checks.check_ddim_loop, lambda m, s, x, n: list(teachkit.ddim_sample(m, s, x, n).xs),
                                  "teachkit.ddim_sample"),
    "ddim_loop via dpm_solver_sample(order=1)": (checks.check_ddim_loop,
                                                 lambda m, s, x, n: list(teachkit.dpm_solver_sample(m, s, x, n, order=1).xs),
                                                 "teachkit.dpm_solver_sample"),
    "cfg_combine": (checks.check_cfg_combine, teachkit.cfg_combine, "teachkit.cfg_combine"),
    "guided sampler via ddim_sample": (checks.check_guided_sampler,
                                       lambda m, s, x, y, sc, n: teachkit.ddim_sample(m, s, x, n, y=y, guidance_scale=sc).sample,
                                       "teachkit.ddim_sample"),
    "drop_labels": (checks.check_drop_labels, __import__("teachkit.training").training.drop_labels, "drop_labels"),
}
from teachkit import ddim_step as _alias  # noqa: E402 - an alias made before any check runs


@pytest.mark.parametrize("name", REFERENCE_ANSWERS)
def test_answers_that_call_the_reference_score_nothing(name):
    check, answer, refused = REFERENCE_ANSWERS[name]
    with pytest.raises(AssertionError, match="teachkit's own implementation") as info:
        check(answer)
    assert refused in str(info.value)
    # and the reference works again afterwards (the refusal is undone)
    assert teachkit.ddim_step(torch.ones(1), torch.ones(1), 0.5, 0.9)[0].shape == (1,)
    assert teachkit.NoiseSchedule(torch.tensor([0.1, 0.2])).alpha_bar.shape == (2,)


def test_a_loop_is_graded_with_a_correct_step_in_place_of_the_students_own():
    # issue 14: a correct ddim_loop with a wrong ddim_step lost the loop's points too
    namespace = {}
    exec(compile("""
import torch, teachkit
def ddim_step(x_t, eps, ab_t, ab_prev, eta=0.0, noise=None):
    return x_t * 0, x_t * 0      # wrong on purpose
def ddim_loop(model, schedule, x_T, steps):
    ts = teachkit.timesteps(schedule.T, steps).tolist()
    xs, x = [x_T], x_T
    for t, prev in zip(ts, ts[1:] + [-1]):
        x, _ = ddim_step(x, model(x, torch.full((x.shape[0],), t)), schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev))
        xs.append(x)
    return xs
""", "<student>", "exec"), namespace)
    with pytest.raises(AssertionError, match="ddim_step is off"):
        checks.check_ddim_step(namespace["ddim_step"])
    checks.check_ddim_loop(namespace["ddim_loop"])  # passes: graded with a correct step
    assert namespace["ddim_step"](torch.ones(1), torch.ones(1), 0.5, 0.9)[0].item() == 0  # the student's step is back


def test_refusing_restores_the_function_even_when_the_answer_raises():
    before = teachkit.ddim_step.__code__
    with pytest.raises(ZeroDivisionError):
        with checks.refusing(teachkit.ddim_step):
            1 / 0
    assert teachkit.ddim_step.__code__ is before


# --- the exercises added for the other syllabus rows: right answers pass, wrong ones are named, references refused

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402


def posterior_mean(x_t, x0, ab_t, ab_prev):
    beta = 1 - ab_t / ab_prev
    return math.sqrt(ab_prev) * beta / (1 - ab_t) * x0 + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t) * x_t


def _ddpm_step(x_t, eps, ab_t, ab_prev, variance="small", noise=None, swap=False):
    x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    mean = posterior_mean(x_t, x0, ab_t, ab_prev)
    if ab_prev >= 1:
        return mean, x0
    beta = 1 - ab_t / ab_prev
    small = (variance == "small") != swap
    return mean + math.sqrt((1 - ab_prev) / (1 - ab_t) * beta if small else beta) * noise, x0


def _dpmpp(x_t, x0, ab_t, ab_prev, last=None, h_last=None, first_order=False):
    lam = lambda a: 0.5 * math.log(a / (1 - a))  # noqa: E731
    if ab_prev >= 1:
        return x0, None
    h = lam(ab_prev) - lam(ab_t)
    d = x0 if last is None or first_order else (1 + 0.5 * h / h_last) * x0 - 0.5 * h / h_last * last
    return math.sqrt(1 - ab_prev) / math.sqrt(1 - ab_t) * x_t - math.sqrt(ab_prev) * math.expm1(-h) * d, h


def _pair(x0, eps, t, flip=False):
    tt = t.reshape(-1, *[1] * (x0.ndim - 1))
    return (1 - tt) * x0 + tt * eps, (x0 - eps) if flip else (eps - x0)


def _euler(v, x1, n, sign=-1):
    xs, x = [x1], x1
    for i in range(n):
        x = x + sign * (1 / n) * v(x, torch.full((x.shape[0],), 1 - i / n))
        xs.append(x)
    return xs


def _fd(m1, s1, m2, s2, two=2.0):
    return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - two * np.trace(np.real(scipy.linalg.sqrtm(s1 @ s2))))


def frechet_distance(*args):
    raise RuntimeError("a student's broken frechet_distance: checks put a correct one in its place")


def _ff(a, b, ddof=1):
    return frechet_distance(a.mean(0), np.atleast_2d(np.cov(a, rowvar=False, ddof=ddof)),
                            b.mean(0), np.atleast_2d(np.cov(b, rowvar=False, ddof=ddof)))


NEW_RIGHT = [(checks.check_posterior_mean, posterior_mean), (checks.check_ddpm_step, _ddpm_step),
             (checks.check_dpmpp_step, _dpmpp), (checks.check_flow_pair, _pair), (checks.check_flow_euler, _euler),
             (checks.check_frechet_distance, _fd), (checks.check_frechet_from_features, _ff)]


@pytest.mark.parametrize("check, answer", NEW_RIGHT, ids=lambda v: getattr(v, "__name__", ""))
def test_new_checks_accept_right_answers(check, answer, capsys):
    check(answer)
    assert "ok" in capsys.readouterr().out


NEW_WRONG = {
    "posterior mean: sqrt(alpha_bar_t)": (checks.check_posterior_mean, lambda x, x0, a, b: posterior_mean(x, x0, a, b) * 0
                                          + math.sqrt(b) * (1 - a / b) / (1 - a) * x0 + math.sqrt(a) * (1 - b) / (1 - a) * x,
                                          ["t=999 -> prev=998", "sqrt(alpha_t) = sqrt(1 - beta_t)"]),
    "ddpm: variances swapped": (checks.check_ddpm_step, lambda *a: _ddpm_step(*a, swap=True), ["you swapped them"]),
    "dpm: first order only": (checks.check_dpmpp_step, lambda *a: _dpmpp(*a, first_order=True),
                              ["second order", "you took the first-order step"]),
    "flow: velocity sign": (checks.check_flow_pair, lambda *a: _pair(*a, flip=True), ["the sign is flipped"]),
    "flow: wrong direction": (checks.check_flow_euler, lambda v, x, n: _euler(v, x, n, sign=1), ["wrong direction"]),
    "frechet: no factor 2": (checks.check_frechet_distance, lambda *a: _fd(*a, two=1.0), ["factor 2"]),
    "frechet: biased covariance": (checks.check_frechet_from_features, lambda a, b: _ff(a, b, ddof=0), ["divided by N"]),
}


@pytest.mark.parametrize("name", NEW_WRONG)
def test_new_checks_explain_wrong_answers(name):
    check, answer, phrases = NEW_WRONG[name]
    with pytest.raises(AssertionError) as info:
        check(answer)
    for phrase in phrases:
        assert phrase in str(info.value), f"{phrase!r} missing from: {info.value}"


NEW_REFERENCE = {
    "ddpm_step": (checks.check_ddpm_step, lambda x, e, a, b, v, n: teachkit.ddpm_step(x, e, a, b, variance=v, noise=n)),
    "dpm via dpm_solver_sample": (checks.check_dpmpp_step, lambda *a: (teachkit.dpm_solver_sample, None)[0](None, None, None)),
    "frechet": (checks.check_frechet_distance, __import__("teachkit.metrics.frechet").metrics.frechet.frechet_distance),
    "frechet from features": (checks.check_frechet_from_features,
                              __import__("teachkit.metrics.frechet").metrics.frechet.frechet_distance_from_features),
}


@pytest.mark.parametrize("name", NEW_REFERENCE)
def test_new_checks_refuse_the_reference(name):
    check, answer = NEW_REFERENCE[name]
    with pytest.raises(AssertionError, match="teachkit's own implementation"):
        check(answer)


def test_the_instructions_name_the_environment():
    # issue 14: the README's bare `python -m teachkit assign` failed with ModuleNotFoundError: torch outside .venv
    readme = (ROOT_README := Path(__file__).resolve().parent.parent / "README.md").read_text()
    notes = (EXERCISES / "README.md").read_text()
    assert "make assign" in notes and ".venv/bin/python -m teachkit assign" in notes and "make grade" in notes
    assert ". .venv/bin/activate" in readme and "make assign" in readme, ROOT_README


def test_students_grader_check_shows_the_teaching_message(assigned, tmp_path, monkeypatch):
    import otter

    out, written = assigned
    student = written["ex01_forward_process"]["student"]
    assert "reference_values" not in student.read_text(), "hidden tests must not ship in the handout"
    monkeypatch.chdir(student.parent)
    grader = otter.Notebook(student.name)
    wrong = grader.check("alpha_bar", global_env={"alpha_bar_from_betas": lambda betas: 1.0 - betas})
    text = repr(wrong)
    assert "expected alpha_bar[1]=0.7200, got 0.8000; that is alpha_t = 1 - beta_t itself" in text
    right = grader.check("alpha_bar", global_env={"alpha_bar_from_betas": lambda betas: torch.cumprod(1 - betas, 0)})
    assert "passed" in repr(right).lower() and "failed" not in repr(right).lower()


def test_assign_leaves_jupyters_kernel_transport_as_it_was():
    # found by a fresh-clone CI: after assign ran in-process, every later nbclient kernel (the site build, the
    # widgets' static-figure test) used IPC sockets relative to another folder and never answered
    from jupyter_client.manager import KernelManager

    from teachkit.coursework.kernels import ipc_kernels

    trait = KernelManager.class_traits()["transport"]
    before = trait.default_value
    with ipc_kernels():
        assert trait.default_value == "ipc"
    assert trait.default_value == before == "tcp"
