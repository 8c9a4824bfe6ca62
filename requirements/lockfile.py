"""The lock's bookkeeping: what it is made from, its header, and reading it back (uv does the resolving).

`make lock` runs `uv pip compile` (its exact command is in the Makefile and in each lock's header), then
`python requirements/lockfile.py header LOCK --command "..." --inputs ...` writes the header: which platform the
lock is for, how to regenerate it, and `inputs-sha256`, a digest of the requirement lists it was made from.
tests/test_lock.py recomputes that digest and checks the pins against pyproject.toml's ranges.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = "Linux x86_64, CPU, CPython 3.11"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it (Jinja2, jupyter_server -> jinja2, jupyter-server)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(root: Path = ROOT, extra: str = "test") -> list[str]:
    """pyproject's [project.dependencies] plus `extra` and every teachkit[...] extra it pulls in."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    reqs, todo, seen = list(project.get("dependencies", [])), [extra], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in extras.get(name, []):
            own = re.match(rf"^{project['name']}\[([^\]]+)\]", req.replace(" ", ""))
            if own:
                todo.extend(e.strip() for e in own.group(1).split(","))
            else:
                reqs.append(req)
    return reqs


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements-style input file (comments and blanks dropped)."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def inputs(root: Path = ROOT, which: str = "lock") -> list[str]:
    """Every requirement string a lock is made from, sorted (what inputs-sha256 digests)."""
    if which == "lock":
        reqs = (project_requirements(root) + requirement_lines(root / "requirements" / "lock.in")
                + requirement_lines(root / "constraints.txt"))
    elif which == "no-deps":
        reqs = requirement_lines(root / "requirements" / "no-deps.in")
    else:
        raise ValueError(f"unknown lock {which!r}; choose 'lock' or 'no-deps'")
    return sorted(" ".join(r.split()) for r in reqs)


def fingerprint(root: Path = ROOT, which: str = "lock") -> str:
    """sha256 of the sorted input requirements: changes when a range, a package or a pin is edited."""
    return hashlib.sha256("\n".join(inputs(root, which)).encode()).hexdigest()


def parse_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """A lock file as {canonical name: (version, sha256 hashes)}; every entry must be an exact == pin."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match:
            current = canonical(match.group(1))  # (colab.txt has pins without hashes)
            pins[current] = (match.group(2), [])
        elif line.startswith("--hash=") and current is not None:
            pass
        else:
            raise ValueError(f"{path}: not an exact pin: {raw!r}")
        if current is not None:
            pins[current][1].extend(_HASH.findall(line))
    return pins


def declared_fingerprint(path: Path) -> str | None:
    """The inputs-sha256 written in a lock's header."""
    match = re.search(r"^# inputs-sha256: ([0-9a-f]{64})$", path.read_text(), re.M)
    return match.group(1) if match else None


def write_header(path: Path, command: str, which: str, tool: str = "uv", root: Path = ROOT) -> None:
    """Put teachkit's header on a lock uv wrote with --no-header (any previous header is replaced)."""
    body = path.read_text().splitlines()
    while body and (body[0].startswith("#") or not body[0].strip()):
        body.pop(0)
    if which == "colab":
        header = [
            f"# {path.relative_to(root).as_posix()}: the lock's versions of teachkit's dependencies (with the [coursework]",
            "# extra) minus torch and what only torch needs, for Colab (Linux x86_64, Python 3.12), which keeps its own",
            f"# torch: constraints for the lessons' first cell. Regenerate with `make lock`, which runs ({tool}):",
            f"#   {command}",
            f"# inputs-sha256: {fingerprint(root, 'lock')}",
        ]
    else:
        what = {"lock": "every package `make lab` / `make test` install (pyproject.toml's dependencies and [test] "
                        "extra, requirements/lock.in, constraints.txt)",
                "no-deps": "the test peers that `make` installs with --no-deps (requirements/no-deps.in)"}[which]
        header = [
            f"# {path.relative_to(root).as_posix()}: {what},",
            f"# pinned with sha256 hashes, for {PLATFORM}. Regenerate with `make lock`, which runs ({tool}):",
            f"#   {command}",
            "# then writes this header (requirements/lockfile.py). Install with",
            "#   pip install --require-hashes --no-deps -r requirements/lock.txt -r requirements/no-deps.txt",
            f"# inputs-sha256: {fingerprint(root, which)}",
        ]
    path.write_text("\n".join(header + body) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    head = sub.add_parser("header", help="write the header onto a lock uv wrote with --no-header")
    head.add_argument("lock", type=Path)
    head.add_argument("--command", required=True, help="the uv command that made it")
    head.add_argument("--which", choices=("lock", "no-deps", "colab"), default="lock")
    head.add_argument("--tool", default="uv", help="the resolver and its version, e.g. 'uv 0.13.8'")
    sub.add_parser("inputs", help="print the requirements the lock is made from")
    args = parser.parse_args(argv)
    if args.cmd == "header":
        write_header(args.lock.resolve(), args.command, args.which, args.tool)
    else:
        print("\n".join(inputs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
