"""Where teachkit finds its shipped files: inside the installed package, in a checkout, or where $TEACHKIT_DATA says.

A wheel (`pip install .`, `pip install git+...`) carries the shipped checkpoints and the MNIST subset as
package data in teachkit/_data (setup.py copies data/checkpoints and data/mnist there at build time); an
editable install or a plain checkout reads the repository's data/ folder itself. importlib.resources
(standard library) locates the package; the lessons themselves (notebooks/) exist only in a checkout.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = ["data_dir", "checkout_root", "installed_data_dir"]

# what a usable data folder holds: the shipped checkpoints and the MNIST subset
_SHIPPED = ("checkpoints", "mnist")


def installed_data_dir() -> Path:
    """teachkit/_data inside the installed package (present in a wheel install, absent in a checkout)."""
    return Path(str(files("teachkit") / "_data"))


def _checkout() -> Path:
    # the folder that holds teachkit/: the repository root when teachkit runs from a checkout or an editable install
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The shipped data: $TEACHKIT_DATA if set, else the installed package's _data, else the checkout's data/."""
    env = os.environ.get("TEACHKIT_DATA")
    if env:
        return Path(env)
    candidates = (installed_data_dir(), _checkout() / "data")
    for folder in candidates:
        if all((folder / sub).is_dir() for sub in _SHIPPED):
            return folder
    raise FileNotFoundError(
        "teachkit's shipped data (checkpoints/ and mnist/) is in none of "
        f"{', '.join(str(c) for c in candidates)}: reinstall teachkit from a wheel or a checkout of the "
        "repository (`pip install .`), or point TEACHKIT_DATA at a folder holding checkpoints/ and mnist/")


def checkout_root(what: str = "this command") -> Path:
    """The repository checkout teachkit runs from (it holds notebooks/); a clear error for a wheel install."""
    root = _checkout()
    if not (root / "notebooks").is_dir():
        raise FileNotFoundError(
            f"{what} needs the lessons (notebooks/), which only a checkout of the repository has; "
            f"teachkit here is installed at {root / 'teachkit'}. Clone the repository and run it there "
            "(`pip install -e .` in the clone)")
    return root
