"""Explorers as their kernel-free players: a lesson is run once with each explorer shown by its to_animation().

A stored notebook keeps an explorer as a widget view (dead without a kernel) plus a static PNG. For the site,
the lesson runs in a fresh kernel (nbclient, as nbval and `python -m teachkit notebooks` run it) with one display
hook registered: every teachkit.widgets class that has `to_animation()` is shown as that JS player (matplotlib's
HTML animation). Only the cells up to the last explorer run; every other cell keeps its stored outputs.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path

import nbformat

__all__ = ["player_classes", "explorer_cells", "explorer_players", "players_key", "PLAYER_KEY"]

PLAYER_KEY = "teachkit_site_player"  # output metadata that marks a player made here

# run in the kernel before the lesson: registered printers win over _repr_mimebundle_ (IPython's formatter)
_HOOK = f"""
def _teachkit_site_hook():
    from IPython import get_ipython
    import teachkit.widgets as widgets

    def player(obj):
        return {{"text/html": obj.to_animation().data}}, {{{PLAYER_KEY!r}: type(obj).__name__}}

    formatter = get_ipython().display_formatter.mimebundle_formatter
    for name in widgets.__all__:
        cls = getattr(widgets, name)
        if isinstance(cls, type) and callable(getattr(cls, "to_animation", None)):
            formatter.for_type(cls, player)
_teachkit_site_hook()
del _teachkit_site_hook
"""


def player_classes() -> list[str]:
    """Names of the teachkit.widgets classes that export a player (`to_animation()`)."""
    import teachkit.widgets as widgets

    return sorted(n for n in widgets.__all__ if isinstance(getattr(widgets, n), type)
                  and callable(getattr(getattr(widgets, n), "to_animation", None)))


def _is_explorer_output(output: dict, classes: list[str]) -> bool:
    data = output.get("data", {})
    if "application/vnd.jupyter.widget-view+json" not in data:
        return False
    text = "".join(data.get("text/plain", ""))
    # ipywidgets' repr "TrajectoryExplorer2D(children=..." or the default "<...TrajectoryExplorer2D object at ...>"
    return any(re.search(rf"(^|[.<]){re.escape(c)}(\(| object)", text) for c in classes)


def explorer_cells(nb: nbformat.NotebookNode, classes: list[str] | None = None) -> list[int]:
    """Indices of the code cells whose stored outputs show an explorer that has a player."""
    classes = player_classes() if classes is None else classes
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any(_is_explorer_output(o, classes) for o in cell.get("outputs", []))]


def players_key(nb: nbformat.NotebookNode, cells: list[int]) -> str:
    """What the players depend on: the code that runs (up to the last explorer) and teachkit's own sources."""
    h = hashlib.sha256()
    for cell in nb.cells[: cells[-1] + 1]:
        if cell.cell_type == "code":
            h.update(cell.source.encode() + b"\0")
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".js", ".css"):
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def explorer_players(nb: nbformat.NotebookNode, path: Path, timeout: int = 600,
                     classes: list[str] | None = None, cache: Path | None = None) -> dict[int, list]:
    """{cell index: the players that cell displays}, from running the lesson up to its last explorer cell.

    With `cache` (a folder), players are kept under a key of the code that ran and of teachkit's sources, so
    a rebuild after a text edit does not run the lesson again.
    """
    from nbclient import NotebookClient

    classes = player_classes() if classes is None else classes
    cells = explorer_cells(nb, classes)
    if not cells:
        return {}
    cached = None
    if cache is not None:
        cached = Path(cache) / f"{Path(path).stem}-{players_key(nb, cells)[:20]}.json"
        if cached.is_file():
            return {int(k): [nbformat.from_dict(o) for o in v] for k, v in json.loads(cached.read_text()).items()}
    run = copy.deepcopy(nb)
    run.cells = [nbformat.v4.new_code_cell(_HOOK)] + run.cells[: cells[-1] + 1]
    env_before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"  # as python -m teachkit notebooks runs the lessons
    try:
        NotebookClient(run, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = env_before
    players = {}
    for i in cells:
        found = [o for o in run.cells[i + 1].get("outputs", []) if PLAYER_KEY in o.get("metadata", {})]
        if not found:
            raise RuntimeError(f"{path}: cell {i} showed an explorer when stored, but no player when run")
        players[i] = found
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob(f"{Path(path).stem}-*.json"):
            old.unlink()
        cached.write_text(json.dumps({str(k): v for k, v in players.items()}))
    return players
