"""`python -m teachkit grade` on one batch of real and hostile submissions (issue 14's fixtures), in real kernels.

One exercise (ex01, the quickest to run) and one batch: the right score for a correct, an unanswered
and a partly wrong submission, and each attack reported as such while the batch completes; the
instructor's and the other students' files byte-identical afterwards.
"""
import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("otter")

from teachkit.coursework import EXERCISES, assign, grade  # noqa: E402

EX = "ex01_forward_process"
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def digests(*roots: Path) -> dict[str, str]:
    # .OTTER_LOG: otter's log of a notebook's checks, written whenever someone runs a notebook there (nbval)
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(Path(root).rglob("*")) if p.is_file() and p.name != ".OTTER_LOG"}


def with_cells(nb, index: int, *sources: str):
    nb = nbformat.reads(nbformat.writes(nb), 4)
    for k, s in enumerate(sources):
        nb.cells.insert(index + k, nbformat.v4.new_code_cell(s))
    return nb


def answer(student, solved, name: str, source: str | None = None):
    """Put an answer into the student notebook: the solved cell defining `name`, or `source`."""
    nb = nbformat.reads(nbformat.writes(student), 4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.lstrip().startswith(f"def {name}("):
            good = next(c.source for c in solved.cells if c.cell_type == "code" and c.source.lstrip().startswith(f"def {name}("))
            cell.source = source if source is not None else good
    return nb


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    out = tmp / "assigned"
    assign(out, [EXERCISES / f"{EX}.ipynb"], run_tests=False, log=lambda *a: None)
    instructor = tmp / "instructor"  # a copy of the instructor's files for submissions to attack
    instructor.mkdir()
    shutil.copy(EXERCISES / f"{EX}.ipynb", instructor)
    solved = nbformat.read(out / "solutions" / f"{EX}.ipynb", as_version=4)
    student = nbformat.read(out / "student" / f"{EX}.ipynb", as_version=4)
    subs = tmp / "submissions"
    first = 2  # after the setup cell
    test_cell_killer = ("import glob\n"
                        "for f in glob.glob('tests/*.py') + glob.glob('../source/tests/*.py'):\n"
                        "    src = open(f).read()\n"
                        "    open(f, 'w').write(src.replace('def test_', 'def _gone_').replace('OK_FORMAT = False', "
                        "'OK_FORMAT = False\\n@test_case(points=5)\\ndef test_free(): pass'))")
    no_checks = nbformat.reads(nbformat.writes(answer(student, solved, "alpha_bar_from_betas")), 4)
    no_checks.cells = [c for c in no_checks.cells if not c.source.startswith("grader.check")]  # "deletes test cells"
    fixtures = {
        "correct": solved,
        "unanswered": student,
        "partial": no_checks,
        "wrong_hint": answer(student, solved, "alpha_bar_from_betas",
                             "def alpha_bar_from_betas(betas):\n    return 1.0 - betas"),
        "crash": with_cells(solved, first, "import os\nos._exit(1)"),
        "endless": with_cells(solved, first, "while True:\n    pass"),
        "huge_print": with_cells(solved, first, "print('x' * 50_000_000)"),
        "vandal": with_cells(solved, first, "\n".join([
            "import os, glob",
            f"open({str(instructor / (EX + '.ipynb'))!r}, 'w').write('{{}}')",
            f"for z in glob.glob({str(out / 'autograder' / '*.zip')!r}):\n    open(z, 'wb').write(b'PK')",
            f"os.remove({str(subs / 'correct' / (EX + '.ipynb'))!r})",
            f"open({str(subs / 'zed.ipynb')!r}, 'w').write('{{}}')",
        ])),
        "test_editor": with_cells(student, first, test_cell_killer),
        "custom_exc": with_cells(student, first, "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"),
        "reference": answer(answer(student, solved, "alpha_bar_from_betas",
                                   "def alpha_bar_from_betas(betas):\n    return teachkit.NoiseSchedule(betas).alpha_bar"),
                            solved, "q_sample",
                            "def q_sample(x0, t, noise, alpha_bar):\n"
                            "    return teachkit.linear_schedule().q_sample(x0, t, noise)"),
    }
    for name, nb in fixtures.items():
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / f"{EX}.ipynb")
    (subs / "nobody").mkdir()  # a student who handed nothing in
    before = digests(instructor, out / "autograder", subs, EXERCISES)
    csv_path = tmp / "grades.csv"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-m", "teachkit", "grade", str(subs), "--autograder", str(out / "autograder"),
                          "--out", str(csv_path), "--timeout", "90", "--protect", str(instructor)],
                         env=env, capture_output=True, text=True, timeout=1800)
    rows = list(csv.DictReader(open(csv_path))) if csv_path.exists() else []
    by = {}
    for r in rows:
        by.setdefault(r["student"], {})[r["question"]] = r
    return dict(run=run, rows=rows, by=by, before=before, after=digests(instructor, out / "autograder", subs, EXERCISES),
                csv=csv_path)


def score(by, student):
    return sum(float(r["points"]) for r in by[student].values())


def test_the_batch_completes_and_writes_the_csv_and_summary(batch):
    assert batch["run"].returncode == 0, batch["run"].stderr[-3000:]
    assert list(batch["rows"][0]) == ["student", "exercise", "question", "points", "max", "status", "message"]
    assert len(batch["by"]) == 12 and all(set(q) == {"alpha_bar", "q_sample"} for q in batch["by"].values())
    summary = batch["csv"].with_suffix(".md").read_text()
    assert "| correct | 5 / 5 | 5 / 5 |" in summary and "endless" in summary
    assert "TCP without encryption" not in batch["run"].stdout + batch["run"].stderr


def test_correct_unanswered_and_partial_scores(batch):
    by = batch["by"]
    assert score(by, "correct") == 5 and {r["status"] for r in by["correct"].values()} == {"passed"}
    assert score(by, "unanswered") == 0 and by["unanswered"]["q_sample"]["status"] == "failed"
    assert "NotImplementedError: q_sample: write your answer here" in by["unanswered"]["q_sample"]["message"]
    # alpha_bar answered, q_sample not, and every grader.check cell deleted: the tests still run
    assert (float(by["partial"]["alpha_bar"]["points"]), float(by["partial"]["q_sample"]["points"])) == (2, 0)
    assert by["nobody"]["alpha_bar"]["status"] == "missing"


def test_the_whole_hint_reaches_the_csv(batch):
    # issue 14: --grade cut every hint at 100 characters
    message = batch["by"]["wrong_hint"]["alpha_bar"]["message"]
    assert message.startswith("AssertionError: your alpha_bar is off for betas=[0.1, 0.2, 0.5]")
    assert message.endswith("that is alpha_t = 1 - beta_t itself; alpha_bar_t multiplies all of them up to t (torch.cumprod)")
    assert len(message) > 100


def test_crash_hang_and_huge_output_are_recorded_as_such(batch):
    by = batch["by"]
    assert {r["status"] for r in by["crash"].values()} == {"crashed"} and score(by, "crash") == 0
    assert {r["status"] for r in by["endless"].values()} == {"timeout"} and "90 s" in by["endless"]["q_sample"]["message"]
    assert score(by, "huge_print") == 5


def test_no_submission_changes_anyone_elses_grade_or_files(batch):
    by = batch["by"]
    assert batch["after"] == batch["before"], "instructor, autograder or submission files changed"
    assert score(by, "correct") == 5  # its notebook was deleted by 'vandal', graded first from memory anyway
    assert "zed" not in by
    assert score(by, "vandal") in (0, 5)  # its own grade: 5 if the writes failed (read-only), 0 if caught and undone


def test_easy_tricks_score_nothing(batch):
    by = batch["by"]
    assert {r["status"] for r in by["test_editor"].values()} == {"tampered"} and score(by, "test_editor") == 0
    assert score(by, "custom_exc") == 0 and by["custom_exc"]["q_sample"]["status"] == "failed"
    assert score(by, "reference") == 0
    assert all("teachkit's own implementation" in r["message"] for r in by["reference"].values())


def test_without_the_read_only_namespace_tampering_is_undone_and_reported(tmp_path):
    # the before/after check alone (what a non-root instructor gets): a vandal is caught and the files restored
    out = tmp_path / "assigned"
    assign(out, [EXERCISES / f"{EX}.ipynb"], run_tests=False, log=lambda *a: None)
    solved = nbformat.read(out / "solutions" / f"{EX}.ipynb", as_version=4)
    subs = tmp_path / "subs"
    for name in ("a_vandal", "b_victim"):
        (subs / name).mkdir(parents=True)
    victim = subs / "b_victim" / f"{EX}.ipynb"
    nbformat.write(solved, victim)
    nbformat.write(with_cells(solved, 2, f"open({str(victim)!r}, 'w').write('{{}}')"), subs / "a_vandal" / f"{EX}.ipynb")
    before = digests(subs, out / "autograder")
    rows = grade(subs, tmp_path / "g.csv", out / "autograder", timeout=120, read_only=False, log=lambda *a: None)
    got = {(r["student"], r["question"]): (float(r["points"]), r["status"]) for r in rows}
    assert got[("a_vandal", "alpha_bar")] == (0.0, "tampered")
    assert got[("b_victim", "alpha_bar")] == (2.0, "passed") and got[("b_victim", "q_sample")] == (3.0, "passed")
    assert digests(subs, out / "autograder") == before
