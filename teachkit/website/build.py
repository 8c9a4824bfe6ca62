"""Build the lessons into a static website: one page per lesson, in order, with its stored outputs.

nbconvert renders each page (SiteExporter: JupyterLab's look, math as MathML); every explorer becomes its
to_animation() player (players.py); the other widgets show their stored static form; the lesson map's names and
links to other lessons point at their pages; a link to a markdown file of the repository gets a page too.
Nothing on a page loads from outside the site, and a link that points nowhere stops the build.
"""
from __future__ import annotations

import copy
import html
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

from teachkit.resources import checkout_root

from .exporter import SiteExporter
from .players import _is_explorer_output, explorer_players, player_classes

__all__ = ["build_site", "lessons", "check_site"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC = Path(__file__).resolve().parent / "static"
# matplotlib's JS player links Font Awesome from a CDN for its button icons; site.css draws them instead
_FONT_AWESOME = re.compile(r'<link[^>]*href="https?://[^"]*font-awesome[^"]*"[^>]*>\s*', re.I)
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def lessons(root: Path) -> list[Path]:
    """The lessons in reading order: notebooks/NN_*.ipynb (the exercises are not pages)."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return re.sub(r"[`*_]", "", match.group(1)).strip()
    return fallback


class _Links:
    """Rewrites a lesson's markdown links for the site and collects the repository pages they need."""

    def __init__(self, root: Path, stems: list[str]) -> None:
        self.root, self.stems, self.pages = root, set(stems), set()

    def target(self, url: str, where: str) -> str:
        parts = urlsplit(url)
        if parts.scheme or url.startswith("#") or not parts.path:
            return url
        path = unquote(parts.path)
        anchor = f"#{parts.fragment}" if parts.fragment else ""
        stem = Path(path).stem
        if path.endswith(".ipynb") and stem in self.stems:
            return f"{stem}.html{anchor}"
        source = (self.root / "notebooks" / path).resolve()
        if path.endswith(".md") and source.is_file() and source.is_relative_to(self.root):
            rel = source.relative_to(self.root).with_suffix(".html")
            self.pages.add(source)
            # not files/: nbconvert strips that prefix from links (the Jupyter server's files/ route)
            return f"pages/{rel.as_posix()}{anchor}"
        raise ValueError(f"{where}: the link {url!r} has no page on the site (a lesson, or a markdown file "
                         "of the repository)")

    def rewrite(self, source: str, where: str) -> str:
        source = _LINK.sub(lambda m: m.group(1) + self.target(m.group(2), where) + m.group(3), source)
        # the lesson map names lessons as `NN_name`: on the site each name links to its page
        return re.sub(r"(?<![\[\w])`(\d\d_[A-Za-z0-9_]+)`(?!\])",
                      lambda m: f"[`{m.group(1)}`]({m.group(1)}.html)" if m.group(1) in self.stems else m.group(0),
                      source)


def site_notebook(nb: nbformat.NotebookNode, players: dict[int, list], links: _Links, where: str,
                  classes: list[str]) -> nbformat.NotebookNode:
    """The page's notebook: explorers replaced by their players, dead widget views dropped, links rewritten."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = links.rewrite(cell.source, f"{where} cell {i}")
            continue
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if i in players and _is_explorer_output(out, classes):
                for player in players.pop(i):
                    player = copy.deepcopy(player)
                    player.data["text/html"] = _FONT_AWESOME.sub("", "".join(player.data["text/html"]))
                    outputs.append(player)
                continue
            data = out.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if set(data) <= {"text/plain"}:
                    continue  # a widget with no static form (a progress bar): its repr would mislead
            if data is not None and "text/markdown" in data:
                data["text/markdown"] = links.rewrite("".join(data["text/markdown"]), f"{where} cell {i}")
            outputs.append(out)
        cell.outputs = outputs
    return nb


def _nav(prev: tuple[str, str] | None, nxt: tuple[str, str] | None, home: str = "index.html") -> str:
    items = [f'<a href="{home}">All lessons</a>']
    if prev:
        items.append(f'<a rel="prev" href="{prev[0]}">&larr; {html.escape(prev[1])}</a>')
    if nxt:
        items.append(f'<a rel="next" href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>')
    return f'<nav class="tk-nav" aria-label="lessons">{" ".join(items)}</nav>'


def _write_page(exporter: SiteExporter, nb: nbformat.NotebookNode, out: Path, title: str, nav: str,
                css: str = "site.css") -> None:
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"teachkit_site": {"nav": nav},
                                                         "metadata": {"name": title}})
    if css != "site.css":
        body = body.replace('href="site.css"', f'href="{css}"', 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")


def build_site(out: str | Path = "build/site", root: Path | None = None, players: bool = True,
               timeout: int = 600, cache: Path | None = None, only: list[str] | None = None, log=print) -> list[Path]:
    """Write the website into `out` (replaced); returns the lesson pages in reading order.

    players=False keeps each explorer's stored static figure (nothing runs); `cache` keeps the players between
    builds (see players.explorer_players); `only` limits the site to the named lessons (stems).
    """
    root = checkout_root("the site build") if root is None else Path(root)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(STATIC / "site.css", out / "site.css")
    paths = lessons(root)
    if only:
        unknown = sorted(set(only) - {p.stem for p in paths})
        if unknown:
            raise ValueError(f"no lessons named {unknown}; the lessons are {[p.stem for p in paths]}")
        paths = [p for p in paths if p.stem in only]
    if not paths:
        raise FileNotFoundError(f"no lessons (notebooks/NN_*.ipynb) in {root}")
    stems = [p.stem for p in paths]
    notebooks = [nbformat.read(p, as_version=4) for p in paths]
    titles = [_title(nb, p.stem) for nb, p in zip(notebooks, paths)]
    links, exporter, classes = _Links(root, stems), SiteExporter(), player_classes()
    pages = []
    for k, (path, nb) in enumerate(zip(paths, notebooks)):
        start = time.perf_counter()
        found = explorer_players(nb, path, timeout=timeout, classes=classes, cache=cache) if players else {}
        n_players = len(found)
        page_nb = site_notebook(nb, found, links, path.name, classes)
        prev = (f"{stems[k - 1]}.html", titles[k - 1]) if k > 0 else None
        nxt = (f"{stems[k + 1]}.html", titles[k + 1]) if k + 1 < len(paths) else None
        page = out / f"{path.stem}.html"
        _write_page(exporter, page_nb, page, titles[k], _nav(prev, nxt))
        pages.append(page)
        log(f"{page.name}: {n_players} explorer player(s), {time.perf_counter() - start:.1f} s")
    for source in sorted(links.pages):
        rel = source.relative_to(root)
        doc = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source.read_text(encoding="utf-8"))])
        depth = len(rel.parts)  # pages/<rel> sits this many folders below the site root
        up = "../" * depth
        _write_page(exporter, doc, out / "pages" / rel.with_suffix(".html"), rel.as_posix(),
                    _nav(None, None, home=f"{up}index.html"), css=f"{up}site.css")
    index = [f"# {html.escape('teachkit: the lessons')}", "",
             "Each lesson as a page, with the outputs it stores: the figures, the numbers and, for each "
             "explorer, an animation of its trajectory (press play). To run a lesson and drag its sliders, "
             "open the notebook in JupyterLab (`make lab`) or in Colab.", ""]
    index += [f"{k + 1}. [{html.escape(t)}]({s}.html) (`{s}`)" for k, (s, t) in enumerate(zip(stems, titles))]
    doc = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("\n".join(index))])
    _write_page(exporter, doc, out / "index.html", "teachkit lessons", _nav(None, (pages[0].name, titles[0])))
    check_site(out)
    return pages


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value:
                self.refs.append((tag, key, value))


def check_site(out: Path) -> None:
    """Every link and image of every page points into the site, and nothing loads from outside it."""
    problems = []
    for page in sorted(Path(out).rglob("*.html")):
        parser = _Refs()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, key, url in parser.refs:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https"):
                if tag != "a":
                    problems.append(f"{page.name}: <{tag} {key}={url!r}> loads from outside the site")
                continue
            if parts.scheme or url.startswith("#"):
                continue  # data: images, mailto:, in-page anchors
            if not (page.parent / unquote(parts.path)).resolve().is_file():
                problems.append(f"{page.relative_to(out)}: <{tag} {key}={url!r}> points to no file")
    if problems:
        raise ValueError("broken site:\n" + "\n".join(problems))
