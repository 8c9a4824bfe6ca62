"""Student copies of the instructor notebooks: nbgrader's solution and hidden-test markers, without nbgrader."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["MarkerError", "strip_source", "make_student", "assign", "grade", "add_arguments", "cmd_assign", "main",
           "STUB", "EXERCISES"]

EXERCISES = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"
# nbgrader's default stubs: code_stub {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}, text_stub
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"
# a marker line: '### BEGIN SOLUTION', '### END HIDDEN TESTS', ... (nbgrader's delimiters)
_MARKER = re.compile(r"^(?P<indent>\s*)#+\s*(?P<edge>BEGIN|END)\s+(?P<kind>SOLUTION|HIDDEN TESTS)\s*$")
# nbgrader treats any line containing a delimiter as a marker; so do we, and reject the ones we cannot read
_NEAR_MISS = re.compile(r"(BEGIN|END)\s*(SOLUTION|HIDDEN\s*TESTS?)", re.IGNORECASE)


class MarkerError(ValueError):
    """Unbalanced, nested or malformed solution / hidden-test markers."""


def strip_source(source: str, where: str = "cell", markdown: bool = False) -> tuple[str, dict]:
    """Replace solution regions by the stub and drop hidden-test regions; returns (new source, counts)."""
    out: list[str] = []
    open_kind, open_line = None, 0
    counts = {"SOLUTION": 0, "HIDDEN TESTS": 0}
    for n, line in enumerate(source.splitlines(), start=1):
        m = _MARKER.match(line)
        if m is None and _NEAR_MISS.search(line):
            raise MarkerError(f"{where}, line {n}: {line.strip()!r} looks like a marker but is not a marker line "
                              "(nbgrader would treat it as one); "
                              "write exactly '### BEGIN SOLUTION', '### END SOLUTION', "
                              "'### BEGIN HIDDEN TESTS' or '### END HIDDEN TESTS'")
        if m is None:
            if open_kind is None:
                out.append(line)
            continue
        edge, kind = m["edge"], m["kind"]
        if edge == "BEGIN":
            if open_kind is not None:
                raise MarkerError(f"{where}, line {n}: '### BEGIN {kind}' inside the {open_kind} region opened at "
                                  f"line {open_line}; regions cannot nest (close it with '### END {open_kind}' first)")
            open_kind, open_line = kind, n
            counts[kind] += 1
            if kind == "SOLUTION":
                out.extend([TEXT_STUB] if markdown else [m["indent"] + s for s in STUB])
        else:
            if open_kind is None:
                raise MarkerError(f"{where}, line {n}: '### END {kind}' without a matching '### BEGIN {kind}'")
            if open_kind != kind:
                raise MarkerError(f"{where}, line {n}: '### END {kind}' closes the {open_kind} region opened at "
                                  f"line {open_line}; expected '### END {open_kind}'")
            open_kind = None
    if open_kind is not None:
        raise MarkerError(f"{where}, line {open_line}: '### BEGIN {open_kind}' is never closed in this cell "
                          f"(add '### END {open_kind}'; a region cannot span cells)")
    return "\n".join(out), counts


def make_student(nb, name: str = "notebook"):
    """A student copy of an nbformat notebook: stubs for answers, no hidden tests, no outputs; returns (nb, counts).

    counts["notes"] lists cells that nbgrader (whose enforce_metadata is on by default) would reject.
    """
    import copy

    student = copy.deepcopy(nb)
    total = {"SOLUTION": 0, "HIDDEN TESTS": 0, "notes": []}
    for i, cell in enumerate(student.cells):
        where = f"{name}, cell {i} ({cell.cell_type})"
        if cell.cell_type in ("code", "markdown"):
            cell.source, counts = strip_source(cell.source, where, markdown=cell.cell_type == "markdown")
            for k, v in counts.items():
                total[k] += v
            meta = cell.metadata.get("nbgrader", {})
            if counts["SOLUTION"] and not meta.get("solution"):
                total["notes"].append(f"{where}: a solution region in a cell without nbgrader metadata solution: true")
            if counts["HIDDEN TESTS"] and not meta.get("grade"):
                total["notes"].append(f"{where}: hidden tests in a cell without nbgrader metadata grade: true")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)  # timestamps of the instructor's run
    student.metadata.pop("widgets", None)
    return student, total


def assign(sources: list[Path] | None = None, out: Path | None = None) -> list[Path]:
    """Write a student copy of each instructor notebook into `out` (default notebooks/exercises/student)."""
    import nbformat

    sources = [Path(p) for p in sources] if sources else sorted(EXERCISES.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no instructor notebooks (*.ipynb) found in {EXERCISES}")
    out = Path(out) if out is not None else EXERCISES / "student"
    students = []
    for src in sources:  # validate everything before writing anything
        if not src.exists():
            raise FileNotFoundError(f"{src}: no such notebook")
        if (out / src.name).resolve() == src.resolve():
            raise ValueError(f"--out {out} would overwrite the instructor notebook {src}; write the copies elsewhere")
        student, counts = make_student(nbformat.read(src, as_version=4), name=src.name)
        if counts["SOLUTION"] == 0:
            raise MarkerError(f"{src.name}: no '### BEGIN SOLUTION' region; an exercise needs at least one answer to remove")
        students.append((src, student, counts))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src, student, counts in students:
        path = out / src.name
        nbformat.write(student, path)
        print(f"{path}: {counts['SOLUTION']} solutions stubbed, {counts['HIDDEN TESTS']} hidden-test regions removed")
        for note in counts["notes"]:
            print(f"assign: note: {note} (fine here, but nbgrader would reject the cell)", file=sys.stderr)
        written.append(path)
    return written


def grade(submission: Path, instructor: Path | None = None, timeout: int = 600) -> list[dict]:
    """Run a submission with the instructor's test cells put back (hidden tests included); one result per test cell."""
    import copy

    import nbformat
    from nbclient import NotebookClient

    submission = Path(submission)
    instructor = Path(instructor) if instructor is not None else EXERCISES / submission.name
    for p in (submission, instructor):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such notebook")
    nb, source = nbformat.read(submission, as_version=4), nbformat.read(instructor, as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")}
    found = {}
    for i, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests:  # the instructor's version: hidden tests back in, student edits to tests undone
            nb.cells[i] = copy.deepcopy(tests[gid])
            found[gid] = i
    if set(tests) - set(found):
        raise MarkerError(f"{submission.name} lacks the test cell(s) {sorted(set(tests) - set(found))} of "
                          f"{instructor.name}: was it made from this notebook, with its cells kept?")
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(submission.parent)}}).execute()
    results = []
    for gid, i in found.items():
        errors = [o for o in nb.cells[i].outputs if o.output_type == "error"]
        points = float(tests[gid].metadata["nbgrader"].get("points", 0))
        results.append({"grade_id": gid, "points": points, "earned": 0.0 if errors else points,
                        "error": f"{errors[0].ename}: {errors[0].evalue}" if errors else ""})
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `assign` subcommand's arguments (for `python -m teachkit assign`)."""
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="instructor notebooks (default: notebooks/exercises/*.ipynb); with --grade, submissions")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the student copies go (default: notebooks/exercises/student)")
    parser.add_argument("--grade", action="store_true",
                        help="grade the given submissions against the instructor notebooks of the same name")
    parser.add_argument("--instructor", type=Path, default=EXERCISES,
                        help="with --grade: the folder of instructor notebooks (default: notebooks/exercises)")


def cmd_assign(args: argparse.Namespace) -> int:
    """Run `assign` (or `assign --grade`) from parsed arguments; exit status 2 on bad markers, paths or files."""
    try:
        if not args.grade:
            assign(args.notebooks, args.out)
            return 0
        if not args.notebooks:
            raise FileNotFoundError("--grade needs the submitted notebooks to grade")
        for sub in args.notebooks:
            results = grade(sub, Path(args.instructor) / Path(sub).name)
            earned, total = sum(r["earned"] for r in results), sum(r["points"] for r in results)
            print(f"{sub}: {earned:g} / {total:g} points")
            for r in results:
                print(f"  {r['grade_id']:24s} {r['earned']:g} / {r['points']:g}  {r['error'][:100]}")
    except (ValueError, FileNotFoundError) as err:  # MarkerError is a ValueError
        print(f"assign: error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m teachkit assign [NOTEBOOKS...] [--out DIR] [--grade]`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m teachkit assign", description=__doc__)
    add_arguments(parser)
    return cmd_assign(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
