"""setuptools hook (the project's metadata is in pyproject.toml): the wheel carries the shipped data.

A built wheel holds data/checkpoints/*.{safetensors,json} and data/mnist/*.gz as teachkit/_data/..., where
teachkit.resources.data_dir() finds them, so a plain `pip install .` or `pip install git+URL` can load every
shipped model and the MNIST subset. An editable install (`pip install -e .`) copies nothing: it reads data/.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# data/<folder>/<pattern> -> teachkit/_data/<folder>/ in the wheel
SHIPPED = {"checkpoints": ("*.safetensors", "*.json"), "mnist": ("*.gz",)}


def shipped_files(root: Path = Path(__file__).resolve().parent / "data") -> list[Path]:
    """Every shipped data file, relative to data/ (what the wheel carries)."""
    return sorted(p.relative_to(root) for folder, patterns in SHIPPED.items()
                  for pattern in patterns for p in (root / folder).glob(pattern))


class BuildPyWithData(build_py):
    """build_py that also copies the shipped data into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        src_root = Path(__file__).resolve().parent / "data"
        files = shipped_files(src_root)
        if not any(f.parts[0] == "checkpoints" for f in files):
            raise RuntimeError(f"no shipped checkpoints found in {src_root / 'checkpoints'}: build from a full checkout")
        for rel in files:
            dst = Path(self.build_lib) / "teachkit" / "_data" / rel
            self.mkpath(str(dst.parent))
            self.copy_file(str(src_root / rel), str(dst))


setup(cmdclass={"build_py": BuildPyWithData})
