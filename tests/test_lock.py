"""The lock agrees with pyproject.toml, is fully pinned and hashed, and (in a `make test` venv) is what is installed."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK, NO_DEPS = ROOT / "requirements" / "lock.txt", ROOT / "requirements" / "no-deps.txt"

_spec = importlib.util.spec_from_file_location("lockfile", ROOT / "requirements" / "lockfile.py")
lockfile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lockfile)

# the platform the lock is for (requirements/lockfile.PLATFORM): markers are evaluated there, not here
LOCK_ENV = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython"}
REGENERATE = "pyproject.toml and the lock disagree: regenerate it with `make lock` (see the README's 'Installs')"


@pytest.mark.parametrize("which,path", [("lock", LOCK), ("no-deps", NO_DEPS)])
def test_lock_was_made_from_the_current_inputs(which, path):
    declared = lockfile.declared_fingerprint(path)
    assert declared is not None, f"{path.name} has no inputs-sha256 header: {REGENERATE}"
    assert declared == lockfile.fingerprint(ROOT, which), (
        f"{path.name} was made from other requirements than today's "
        f"({'pyproject.toml, requirements/lock.in, constraints.txt' if which == 'lock' else 'requirements/no-deps.in'}): "
        f"{REGENERATE}")


def test_every_pin_is_exact_and_hashed():
    for path in (LOCK, NO_DEPS):
        pins = lockfile.parse_lock(path)
        assert pins, f"{path} is empty"
        unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
        assert not unhashed, f"{path.name}: entries without --hash: {unhashed}"


def test_pins_satisfy_pyproject_ranges():
    pins = lockfile.parse_lock(LOCK)
    problems = []
    for line in lockfile.inputs(ROOT, "lock"):
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(LOCK_ENV):
            continue
        name = lockfile.canonical(req.name)
        if name not in pins:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{req}: the lock has {pins[name][0]}")
    assert not problems, "; ".join(problems) + f". {REGENERATE}"


def test_no_deps_peers_are_locked_at_their_pins():
    pins = lockfile.parse_lock(NO_DEPS)
    wanted = {lockfile.canonical(Requirement(r).name): r for r in lockfile.inputs(ROOT, "no-deps")}
    assert sorted(pins) == sorted(wanted), REGENERATE
    for name, req in wanted.items():
        assert Requirement(req).specifier.contains(pins[name][0]), f"{req}: no-deps.txt has {pins[name][0]}"
    overlap = sorted(set(pins) & set(lockfile.parse_lock(LOCK)))
    assert not overlap, f"{overlap} are in both locks: a no-deps peer must not be a locked dependency too"


def test_torch_is_the_cpu_wheel():
    version, hashes = lockfile.parse_lock(LOCK)["torch"]
    assert version.endswith("+cpu"), f"the lock's torch is {version}, not the CPU wheel"
    assert len(hashes) == 1


def test_parse_lock_refuses_a_range(tmp_path):
    bad = tmp_path / "lock.txt"
    bad.write_text(LOCK.read_text().replace("\nnumpy==", "\nnumpy>=", 1))
    with pytest.raises(ValueError, match="not an exact pin"):
        lockfile.parse_lock(bad)


def test_fingerprint_changes_with_a_range(tmp_path):
    (tmp_path / "requirements").mkdir()
    for rel in ("pyproject.toml", "constraints.txt", "requirements/lock.in"):
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    before = lockfile.fingerprint(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('"numpy>=', '"numpy>=0.1,!=0.2,>=', 1))
    assert lockfile.fingerprint(tmp_path) != before


@pytest.mark.skipif(os.environ.get("TEACHKIT_LOCKED") != "1",
                    reason="checks a venv that `make test` made from the lock (TEACHKIT_LOCKED=1)")
def test_installed_packages_equal_the_lock():
    """pip freeze in the `make test` venv lists exactly the locked versions (teachkit itself is editable)."""
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout.splitlines()
    installed = {}
    for line in freeze:
        name, _, version = line.partition("==")
        installed[lockfile.canonical(name)] = version
    locked = {name: version for path in (LOCK, NO_DEPS) for name, (version, _) in lockfile.parse_lock(path).items()}
    extra = sorted(f"{n}=={v}" for n, v in installed.items() if n not in locked)
    missing = sorted(f"{n}=={v}" for n, v in locked.items() if n not in installed)
    differ = sorted(f"{n}: {installed[n]} installed, {v} locked" for n, v in locked.items()
                    if n in installed and installed[n] != v)
    assert not (extra or missing or differ), (
        f"not installed: {missing}; not in the lock: {extra}; other versions: {differ} "
        "(a venv made before the lock changed: `rm -rf .venv && make test`)")


def test_colab_constraints_are_the_locks_versions_without_torch():
    colab = lockfile.parse_lock(ROOT / "requirements" / "colab.txt")
    locked = lockfile.parse_lock(LOCK)
    assert "torch" not in colab and "sympy" not in colab, "Colab keeps its own torch: regenerate with `make lock`"
    differ = sorted(f"{n}: colab {v}, lock {locked[n][0] if n in locked else 'absent'}"
                    for n, (v, _) in colab.items() if n not in locked or locked[n][0] != v)
    assert not differ, f"requirements/colab.txt is not the lock's versions: {differ}. {REGENERATE}"
    assert {"numpy", "matplotlib", "safetensors", "otter-grader"} <= set(colab)
    assert lockfile.declared_fingerprint(ROOT / "requirements" / "colab.txt") == lockfile.fingerprint(ROOT, "lock")
