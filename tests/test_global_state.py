"""Importing teachkit changes no global state, and library code does not reseed the global RNGs (issue 18 item 4).

A fresh interpreter sets matplotlib's backend, Python's, NumPy's and torch's global random states to
known values, imports every module of the package one by one and reports each module after whose
import one of them changed (or pyplot got imported). The source scan finds global reseeding or
backend switching anywhere in the library, except the two places meant for it: teachkit.setup()
(a lesson's first cell seeds on purpose) and runtime.seeded (seeds inside a block, then restores).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import importlib, json, pkgutil, random, sys
import matplotlib
import numpy as np
import torch

matplotlib.use("svg")  # not what a library would pick, so any switch shows
random.seed(11); np.random.seed(12); torch.manual_seed(13); torch.rand(3)

def state():
    return {"backend": dict.__getitem__(matplotlib.rcParams, "backend"),
            "pyplot": "matplotlib.pyplot" in sys.modules,
            "python_rng": hash(random.getstate()),
            "numpy_rng": np.random.get_state()[1].tobytes().hex()[:64] + str(np.random.get_state()[2]),
            "torch_rng": torch.get_rng_state().numpy().tobytes().hex(),
            "torch_threads": torch.get_num_threads()}

import teachkit
names = sorted(m.name for m in pkgutil.walk_packages(teachkit.__path__, "teachkit."))
before, changed = state(), {}
for name in names:
    importlib.import_module(name)
    now = state()
    diff = sorted(k for k in now if now[k] != before[k])
    if diff:
        changed[name] = diff
        before = now
print("STATE " + json.dumps({"modules": names, "changed": changed}))
"""


def test_importing_every_teachkit_module_changes_no_global_state():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": ""}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("STATE "))[len("STATE "):])
    # the probe saw the whole package (these moved in issue 18), and nothing changed on import
    assert {"teachkit.viz.bench_figures", "teachkit.datasets.toy2d", "teachkit.coursework.checks.ddim",
            "teachkit.widgets.sampled", "teachkit.bench.cli"} <= set(out["modules"])
    assert out["changed"] == {}, f"importing these changed global state: {out['changed']}"


# seeding or switching the backend globally: only teachkit.setup() and runtime.seeded may
GLOBAL = re.compile(r"\b(torch\.manual_seed|torch\.cuda\.manual_seed(_all)?|np\.random\.seed|numpy\.random\.seed"
                    r"|(?<![\w.])random\.seed|matplotlib\.use|torch\.set_rng_state|np\.random\.set_state)\(")
ALLOWED = {("teachkit/runtime.py", "setup"), ("teachkit/runtime.py", "seeded"),
           # restores the global CPU RNG a resumed run saved (the run's own dropout stream), on --resume only
           ("teachkit/training/state.py", "load_state")}


def _enclosing_function(lines: list[str], index: int) -> str:
    """The name of the def that holds line `index` (the nearest one above it that is indented less)."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        m = re.match(r"(\s*)def (\w+)", line)
        if m and len(m.group(1)) < indent:
            return m.group(2)
    return "<module>"


def test_library_code_does_not_reseed_the_global_rng_or_pick_a_backend():
    found = []
    for path in sorted((ROOT / "teachkit").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            code = line.split("#", 1)[0]
            if GLOBAL.search(code) and (rel, _enclosing_function(lines, i)) not in ALLOWED:
                found.append(f"{rel}:{i + 1}: {line.strip()}")
    assert not found, "take a torch.Generator or use runtime.seeded instead:\n" + "\n".join(found)
