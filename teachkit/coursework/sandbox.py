"""One submission, graded by otter-grader in a child process: `python -m teachkit.coursework.sandbox JOB_DIR RESULT_FD`.

The parent (teachkit.coursework.grade) lays out JOB_DIR with job.json, the autograder zip and the
submitted notebook, starts this module with time, memory and file-size limits, and reads one JSON
result from the pipe RESULT_FD (the student's kernel does not inherit it). Grading itself is otter's:
its autograder runs the notebook in a fresh kernel and then runs the tests from the zip. Afterwards
the tests otter used are compared with the zip's, so a submission that rewrote them is reported
as tampered instead of graded.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path

__all__ = ["grade_one", "exception_message"]


def exception_message(message: str) -> str:
    """The exception line(s) of an otter test-case failure, without otter's 'Error at line N' preamble."""
    lines = message.strip().splitlines()
    if lines and lines[0].startswith("❌"):
        lines = lines[1:]
    if lines and lines[0].startswith("Error at line"):
        # otter prints the failing line of the test (indented) before the exception
        lines = lines[1:]
        while lines and lines[0].startswith("  "):
            lines = lines[1:]
    return "\n".join(lines).strip()


def _test_files(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        return {n: zf.read(n) for n in zf.namelist() if n.startswith("tests/") and n.endswith(".py")}


def grade_one(job_dir: Path) -> dict:
    """Grade job_dir/submission/<exercise>.ipynb with job_dir/autograder.zip; returns the result as a dict."""
    from otter.run.run_autograder import main as run_autograder

    from .kernels import use_ipc_kernels

    job = json.loads((job_dir / "job.json").read_text())
    zip_bytes = (job_dir / "autograder.zip").read_bytes()  # read before any student code runs
    tests = _test_files(zip_bytes)
    use_ipc_kernels()
    ag = job_dir / "autograder"
    for sub in ("source", "submission", "results"):
        (ag / sub).mkdir(parents=True, exist_ok=True)
    (ag / "submission_metadata.json").write_text("{}")
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        zf.extractall(ag / "source")
    notebook = job_dir / "submission" / f"{job['exercise']}.ipynb"
    (ag / "submission" / notebook.name).write_bytes(notebook.read_bytes())
    # otter's own autograder: runs the notebook in a fresh kernel (cwd = the submission folder), then the tests
    with contextlib.redirect_stdout(sys.stderr):
        run_autograder(str(ag), otter_run=True, logo=False, print_summary=False, print_score=False, debug=False)
    import dill

    with open(ag / "results" / "results.pkl", "rb") as f:
        results = dill.load(f)
    changed = sorted(name for name, data in tests.items()
                     for copy in (ag / "source" / name, ag / "submission" / name)
                     if not copy.is_file() or copy.read_bytes() != data)
    questions = []
    for name, r in results.results.items():
        cases = [{"name": tc.test_case.name, "points": float(tc.test_case.points or 0), "passed": bool(tc.passed),
                  "hidden": bool(tc.test_case.hidden), "message": exception_message(tc.message) if not tc.passed else ""}
                 for tc in r.test_case_results]
        questions.append({"question": name, "points": float(r.score), "max": float(r.possible), "cases": cases})
    return {"status": "tampered" if changed else "graded", "questions": questions,
            "message": f"the submission rewrote the grader's tests: {', '.join(sorted(set(changed)))}" if changed else ""}


def main(argv: list[str]) -> int:
    job_dir, fd = Path(argv[0]), int(argv[1])
    try:
        result = grade_one(job_dir)
    except BaseException as err:  # noqa: BLE001 - any failure is the submission's result, reported to the parent
        kind = type(err).__name__
        if kind == "DeadKernelError":
            result = {"status": "crashed", "message": "the kernel died while running the submission "
                      "(os._exit, a crash, or the memory limit)", "questions": []}
        else:
            result = {"status": "error", "message": f"{kind}: {err}".strip(), "questions": []}
    with os.fdopen(fd, "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
