"""The wheel works on its own: built from the sources, installed into a fresh venv outside the repository.

The fresh venv gets the wheel with --no-deps; its dependencies (torch, numpy, ...) come from the environment
running this test through a .pth line placed after the venv's own site-packages, so nothing is downloaded and
the checkout's teachkit (editable or on PYTHONPATH) is not what the checks import. The checks run from an
empty temporary folder with PYTHONPATH and TEACHKIT_DATA removed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from teachkit.checkpoints import PRETRAINED

ROOT = Path(__file__).resolve().parent.parent
# the registered models whose files this checkout ships (a name still being trained has none yet)
SHIPPED = [n for n in PRETRAINED if (ROOT / "data" / "checkpoints" / f"{n}.json").exists()]
pytestmark = pytest.mark.slow

# what a wheel build reads: the project files, the package, the shipped data (not notebooks, .venv, build/)
_BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "teachkit",
                 "data/checkpoints", "data/mnist")

CHECKS = r"""
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import teachkit
from teachkit import resources
from teachkit.datasets import mnist

out = {"teachkit": teachkit.__file__, "data_dir": str(resources.data_dir()), "models": {}}
for name in teachkit.available_pretrained():
    model, schedule, info = teachkit.load_pretrained(name)
    out["models"][name] = {"params": sum(p.numel() for p in model.parameters()), "schedule": schedule is not None}
images, labels = mnist("train")
out["mnist_train"] = list(images.shape)
out["mnist_test"] = list(mnist("test")[0].shape)

model, schedule, _ = teachkit.load_pretrained("toy-2d-cfg")
x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
traj = teachkit.ddim_sample(model, schedule, x_T, steps=4, y=torch.arange(8) % 2, guidance_scale=2.0)
out["sample"] = {"shape": list(traj.sample.shape), "nfe": traj.nfe, "finite": bool(torch.isfinite(traj.sample).all())}

from teachkit.widgets import TrajectoryExplorer2D
w = TrajectoryExplorer2D(model, schedule, n=32, sampler="DDIM", steps=4, seed=0)
bundle = w._repr_mimebundle_()
data = bundle[0] if isinstance(bundle, tuple) else bundle
out["widget"] = {"class": type(w).__name__, "mimetypes": sorted(data)}
w.close()
print("CHECKS " + json.dumps(out))
"""


def _copy_build_inputs(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.lock", "*.pending", "*.egg-info")
    for rel in _BUILD_INPUTS:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dst / rel, ignore=ignore)
        else:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def _isolated_env() -> dict:
    # no way back to the checkout: PYTHONPATH (the developers' convention) and TEACHKIT_DATA removed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TEACHKIT_DATA", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", TEACHKIT_THREADS="1", MPLBACKEND="Agg")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """teachkit's wheel, built from a copy of the sources (no stale build/ folder) with this env's setuptools."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist = tmp / "src", tmp / "dist"
    _copy_build_inputs(src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(dist), str(src)], check=True, cwd=tmp)
    (path,) = dist.glob("teachkit-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; its dependencies are found, read-only, in this test's environment."""
    tmp = tmp_path_factory.mktemp("venv")
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, cwd=tmp, env=_isolated_env())
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # after the venv's own site-packages: torch, numpy, ... of this environment (a path line, so its .pth
    # files, the editable teachkit's among them, are not run)
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return env_dir


def _run_isolated(venv: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=_isolated_env(),
                          capture_output=True, text=True, timeout=300)


def test_wheel_carries_the_shipped_data_and_package_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert SHIPPED, "no shipped checkpoints found in data/checkpoints"
    for name in SHIPPED:
        for suffix in (".safetensors", ".json"):
            assert f"teachkit/_data/checkpoints/{name}{suffix}" in names, f"{name}{suffix} not in the wheel"
    for f in sorted((ROOT / "data" / "mnist").glob("*.gz")):
        assert f"teachkit/_data/mnist/{f.name}" in names
    # every file of the package that is not Python (the widgets' browser code, ...) is in the wheel too
    package_files = [p.relative_to(ROOT).as_posix() for p in (ROOT / "teachkit").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    missing = [p for p in package_files if p not in names]
    assert not missing, f"package files missing from the wheel (add them to package-data): {missing}"


def test_installed_wheel_loads_every_model_outside_the_repository(venv, tmp_path):
    proc = _run_isolated(venv, CHECKS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("CHECKS "))
    out = json.loads(line[len("CHECKS "):])
    # the wheel's teachkit and its package data, not the checkout's
    assert Path(out["teachkit"]).is_relative_to(venv), out["teachkit"]
    assert Path(out["data_dir"]) == Path(out["teachkit"]).parent / "_data"
    assert not Path(out["data_dir"]).is_relative_to(ROOT)
    assert sorted(out["models"]) == sorted(SHIPPED)
    assert all(m["params"] > 0 for m in out["models"].values())
    assert out["mnist_train"] == [4500, 28, 28] and out["mnist_test"] == [500, 28, 28]
    assert out["sample"] == {"shape": [8, 2], "nfe": 8, "finite": True}
    assert out["widget"]["class"] == "TrajectoryExplorer2D" and "image/png" in out["widget"]["mimetypes"]


def test_installed_wheel_says_where_the_lessons_are(venv, tmp_path):
    proc = _run_isolated(venv, "from teachkit.lesson_runner import find_notebooks; find_notebooks()", tmp_path)
    assert proc.returncode != 0
    assert "only a checkout of the repository has" in proc.stderr


def test_installed_wheel_with_a_missing_data_folder_says_how_to_fix_it(venv, tmp_path):
    code = ("import shutil, teachkit.resources as r; shutil.rmtree(r.installed_data_dir()); "
            "import teachkit; teachkit.load_pretrained('toy-2d-cfg')")
    proc = _run_isolated(venv, code, tmp_path)
    assert proc.returncode != 0 and "TEACHKIT_DATA" in proc.stderr and "pip install ." in proc.stderr
