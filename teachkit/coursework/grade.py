"""Grade a folder of submissions with otter-grader, one isolated child process per notebook, into a CSV.

`grade(SUBMISSIONS_DIR, out_csv)` grades SUBMISSIONS_DIR/<student>/<exercise>.ipynb against the
autograder zips that `assign` wrote (or a fresh `assign` of notebooks/exercises into a temporary folder).
Every notebook is graded by teachkit.coursework.sandbox in its own scratch folder, from in-memory
copies of the zip and the submission taken before the batch started, under a wall-clock timeout
and memory / file-size limits (see isolation.py). A crash, hang, huge output, deleted or rewritten
file is recorded as that submission's status; the batch always finishes and always writes the CSV
(columns student, exercise, question, points, max, status, message) and a markdown summary beside it.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

from .isolation import Snapshot, kill_token_processes, limits_preexec, namespace_works

__all__ = ["grade", "load_autograders", "COLUMNS"]

COLUMNS = ("student", "exercise", "question", "points", "max", "status", "message")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding teachkit/ (the checkout when editable)


def load_autograders(autograder_dir: Path) -> dict[str, dict]:
    """{exercise: {"zip": bytes, "questions": {name: max points}}} from DIR/<exercise>.zip (written by assign)."""
    from otter.test_files.exception_test import ExceptionTestFile

    autograders = {}
    for path in sorted(Path(autograder_dir).glob("*.zip")):
        data = path.read_bytes()
        questions = {}
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in sorted(n for n in zf.namelist() if n.startswith("tests/") and n.endswith(".py")):
                # otter's own parser of its exception-based test files (the instructor's code, trusted)
                test = ExceptionTestFile.from_string(zf.read(name).decode(), path=name)
                questions[test.name] = float(sum(tc.points or 0 for tc in test.test_cases))
        autograders[path.stem] = {"zip": data, "questions": questions}
    if not autograders:
        raise FileNotFoundError(f"no autograder zips (*.zip) in {autograder_dir}: run `python -m teachkit assign --out DIR` "
                                "and pass --autograder DIR/autograder")
    return autograders


def _child_env(job: Path, token: str) -> dict[str, str]:
    """The child's environment: ours (PATH, PYTHONPATH) with home, temp and Jupyter folders inside its scratch folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER_", "IPYTHON"))}
    home = job / "home"
    home.mkdir()
    env.update(HOME=str(home), TMPDIR=str(job / "tmp"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_DATA_DIR=str(home / "data"), IPYTHONDIR=str(home / "ipython"), MPLCONFIGDIR=str(home / "mpl"),
               MPLBACKEND="Agg", TEACHKIT_GRADING_TOKEN=token, OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
               PYTHONDONTWRITEBYTECODE="1")
    (job / "tmp").mkdir()
    return env


def _run_child(job: Path, timeout: float, memory_mb: int, file_mb: int, read_only: list[str] | None) -> dict:
    """Start the sandbox on one job folder; returns its result dict (or one describing how it failed)."""
    token = uuid.uuid4().hex
    read_fd, write_fd = os.pipe()
    log = open(job / "log.txt", "wb")
    start = time.monotonic()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "teachkit.coursework.sandbox", str(job), str(write_fd)],
                                cwd=job, env=_child_env(job, token), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                pass_fds=(write_fd,), start_new_session=True,
                                preexec_fn=limits_preexec(memory_mb, file_mb, read_only))
    finally:
        os.close(write_fd)
        log.close()
    reader = os.fdopen(read_fd, "r")
    try:
        proc.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        kill_token_processes(token)  # the kernel too, whichever session it started
        proc.kill()
        proc.wait()
    seconds = time.monotonic() - start
    text = reader.read()
    reader.close()
    if timed_out:
        return {"status": "timeout", "questions": [],
                "message": f"stopped after {timeout:g} s (the time limit): an endless loop, or far more work than the exercise needs"}
    try:
        result = json.loads(text)
    except json.JSONDecodeError:
        tail = (job / "log.txt").read_bytes()[-300:].decode(errors="replace").strip().splitlines()
        why = "killed by a signal" if proc.returncode < 0 else f"exit status {proc.returncode}"
        result = {"status": "crashed", "questions": [],
                  "message": f"the grader process ended without a result ({why}); last log line: {tail[-1] if tail else ''}"}
    result["seconds"] = round(seconds, 1)
    return result


def _rows(student: str, exercise: str, questions: dict[str, float], result: dict) -> list[dict]:
    """One CSV row per question of the exercise, whatever happened to the submission."""
    got = {q["question"]: q for q in result.get("questions", [])}
    rows = []
    for name, maximum in questions.items():
        q = got.get(name)
        if result["status"] == "graded" and q is not None:
            failed = [c for c in q["cases"] if not c["passed"]]
            status = "passed" if not failed else ("partial" if q["points"] > 0 else "failed")
            rows.append(dict(student=student, exercise=exercise, question=name, points=q["points"], max=maximum,
                             status=status, message=failed[0]["message"] if failed else ""))
        else:
            status = result["status"] if result["status"] != "graded" else "error"
            message = result.get("message") or f"no result for question {name}"
            rows.append(dict(student=student, exercise=exercise, question=name, points=0.0, max=maximum,
                             status=status, message=message))
    return rows


def _summary(rows: list[dict], seconds: dict) -> str:
    """A markdown summary: points per student and exercise, and every submission that was not graded normally."""
    students = sorted({r["student"] for r in rows})
    exercises = sorted({r["exercise"] for r in rows})
    lines = ["# Grades", "", "| student | " + " | ".join(exercises) + " | total |",
             "|---|" + "---|" * (len(exercises) + 1)]
    for s in students:
        cells, total, maximum = [], 0.0, 0.0
        for e in exercises:
            sub = [r for r in rows if r["student"] == s and r["exercise"] == e]
            p, m = sum(r["points"] for r in sub), sum(r["max"] for r in sub)
            total, maximum = total + p, maximum + m
            cells.append(f"{p:g} / {m:g}")
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {total:g} / {maximum:g} |")
    odd = {}
    for r in rows:
        if r["status"] not in ("passed", "partial", "failed"):
            odd.setdefault((r["student"], r["exercise"]), (r["status"], r["message"]))
    if odd:
        lines += ["", "## Not graded normally", "", "| student | exercise | status | message |", "|---|---|---|---|"]
        lines += [f"| {s} | {e} | {st} | {m.replace('|', '/')} |" for (s, e), (st, m) in sorted(odd.items())]
    if seconds:
        lines += ["", f"{len(seconds)} notebooks graded in {sum(seconds.values()):.0f} s "
                      f"(longest {max(seconds.values()):.0f} s)."]
    return "\n".join(lines) + "\n"


def grade(submissions: Path, out_csv: Path, autograder_dir: Path | None = None, *, timeout: float = 300.0,
          memory_mb: int = 4096, file_mb: int = 256, protect: list[Path] | None = None,
          read_only: bool | None = None, log=print) -> list[dict]:
    """Grade every SUBMISSIONS/<student>/<exercise>.ipynb; write out_csv and out_csv.with_suffix('.md'); return the rows.

    protect: more folders whose files no submission may change (the exercises folder is always included).
    read_only: use the read-only mount namespace (default: when it works here, i.e. Linux as root).
    """
    from .assign import EXERCISES, assign

    submissions, out_csv = Path(submissions).resolve(), Path(out_csv).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions}: no such folder (expected SUBMISSIONS/<student>/<exercise>.ipynb)")
    if timeout <= 0 or memory_mb < 512:
        raise ValueError(f"timeout must be positive and memory at least 512 MB, got {timeout} s and {memory_mb} MB")
    scratch_root = Path(tempfile.mkdtemp(prefix="teachkit-grade-"))
    try:
        if autograder_dir is None:  # a fresh set from the instructor notebooks, never the notebooks themselves
            log("grade: no --autograder given; making a fresh one from the exercises (python -m teachkit assign)")
            assign(scratch_root / "assigned", run_tests=False, log=lambda *a: None)
            autograder_dir = scratch_root / "assigned" / "autograder"
        autograder_dir = Path(autograder_dir).resolve()
        autograders = load_autograders(autograder_dir)
        protected = [submissions, autograder_dir, EXERCISES, *(protect or [])]
        snapshot = Snapshot(protected + [PACKAGE_ROOT / "teachkit"])
        # everything a child reads is copied now, before any submission runs
        jobs = []
        for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
            for exercise in autograders:
                nb = student_dir / f"{exercise}.ipynb"
                jobs.append((student_dir.name, exercise, nb.read_bytes() if nb.is_file() else None))
        ro_paths = sorted({str(Path(p).resolve()) for p in protected + [PACKAGE_ROOT, Path(sys.prefix), Path(sys.base_prefix)]
                           if Path(p).exists() and Path(scratch_root).resolve() not in [Path(p).resolve(), *Path(scratch_root).resolve().parents]})
        use_ns = namespace_works(ro_paths) if read_only is None else read_only
        log(f"grade: {len(jobs)} notebooks ({len({j[0] for j in jobs})} students x {len(autograders)} exercises), "
            f"timeout {timeout:g} s, memory {memory_mb} MB, "
            f"{'read-only mount namespace' if use_ns else 'before/after file check only (not root on Linux)'}")
        rows, seconds = [], {}
        for student, exercise, data in jobs:
            questions = autograders[exercise]["questions"]
            if data is None:
                rows += _rows(student, exercise, questions, {"status": "missing", "questions": [],
                                                             "message": f"no {exercise}.ipynb in {student}/"})
                continue
            job = scratch_root / f"{student}-{exercise}"
            (job / "submission").mkdir(parents=True)
            (job / "submission" / f"{exercise}.ipynb").write_bytes(data)
            (job / "autograder.zip").write_bytes(autograders[exercise]["zip"])
            (job / "job.json").write_text(json.dumps({"student": student, "exercise": exercise}))
            result = _run_child(job, timeout, memory_mb, file_mb, ro_paths if use_ns else None)
            if use_ns:
                # the child could not write there: a change is someone else's (an instructor saving a file), not
                # this submission's; say so and leave it
                changed, outside = [], snapshot.changes()
                if outside:
                    log(f"grade: note: {len(outside)} protected files changed during the batch, not by a submission "
                        f"(they were read-only to it): {', '.join(outside[:3])}")
                    snapshot = Snapshot(protected + [PACKAGE_ROOT / "teachkit"])
            else:
                changed = snapshot.restore(remove_new_under=[submissions, autograder_dir])
            if changed:
                result = {"status": "tampered", "questions": [],
                          "message": "changed files outside its folder (restored): " + ", ".join(changed[:5])}
            seconds[(student, exercise)] = result.get("seconds", 0.0)
            rows += _rows(student, exercise, questions, result)
            earned = sum(r["points"] for r in rows[-len(questions):])
            log(f"  {student}/{exercise}: {result['status']}, {earned:g} / {sum(questions.values()):g} points "
                f"({result.get('seconds', 0):.0f} s)")
            shutil.rmtree(job, ignore_errors=True)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    out_csv.with_suffix(".md").write_text(_summary(rows, {f"{s}/{e}": v for (s, e), v in seconds.items()}))
    log(f"grade: wrote {out_csv} and {out_csv.with_suffix('.md')}")
    return rows
