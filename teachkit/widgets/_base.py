"""Shared widget plumbing: figure hosting (ipympl or static PNG), a bounded cache, busy/error status."""
from __future__ import annotations

import base64
import functools
import html
import io
import time
import traceback
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Hashable

import ipywidgets as W
import matplotlib
from matplotlib.figure import Figure

from .. import viz

__all__ = ["ipympl_active", "FigureHost", "BoundedCache", "StatusBar", "guarded", "figure_png"]


def ipympl_active() -> bool:
    """True when matplotlib's backend is ipympl (`%matplotlib widget`), so canvases are live widgets."""
    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend == "widget"


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes with the Agg renderer (works for any canvas)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


class FigureHost:
    """One figure shown either live on an ipympl canvas or, without ipympl, as a PNG in an Image widget."""

    def __init__(self, figsize: tuple[float, float], live: bool | None = None, dpi: int = 80) -> None:
        self.live = ipympl_active() if live is None else bool(live)
        self.renders = 0  # how many times the figure was (re)drawn, for tests
        if self.live:
            import matplotlib.pyplot as plt

            with plt.ioff():  # the canvas is shown inside our layout, not on its own
                self.fig = plt.figure(figsize=figsize, dpi=dpi, layout="constrained")
            canvas = self.fig.canvas
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.resizable = False
            canvas.toolbar_visible = False
            self.widget = canvas
        else:
            self.fig = viz.new_figure(figsize, dpi)
            self.widget = W.Image(format="png", layout=W.Layout(width=f"{figsize[0] * dpi:.0f}px"))

    def refresh(self) -> None:
        """Show the artists' new state: draw_idle on ipympl, otherwise re-render the PNG in place."""
        self.renders += 1
        if self.live:
            self.fig.canvas.draw_idle()
        else:
            self.widget.value = figure_png(self.fig)

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        return figure_png(self.fig)

    def close(self) -> None:
        """Release the figure (and its canvas widget)."""
        if self.live:
            import matplotlib.pyplot as plt

            plt.close(self.fig)
        else:
            self.widget.close()


class BoundedCache:
    """A least-recently-used dict bounded by entry count and (via `sizeof`) by total bytes, with hit/miss counters."""

    def __init__(self, maxsize: int = 8, max_bytes: int | None = None,
                 sizeof: Callable[[Any], int] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"cache maxsize must be >= 1, got {maxsize}")
        self.maxsize, self.max_bytes = maxsize, max_bytes
        self.sizeof = sizeof or (lambda value: 0)
        self.hits = 0
        self.misses = 0
        self.nbytes = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the cached value for `key`, computing (and storing) it on a miss."""
        if key in self._data:
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key]
        self.misses += 1
        value = compute()
        self._data[key] = value
        self.nbytes += self.sizeof(value)
        # evict the least recently used entries, but always keep the newest one
        while len(self._data) > 1 and (len(self._data) > self.maxsize or
                                       (self.max_bytes is not None and self.nbytes > self.max_bytes)):
            _, old = self._data.popitem(last=False)
            self.nbytes -= self.sizeof(old)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Forget every entry (counters are kept)."""
        self._data.clear()
        self.nbytes = 0


class StatusBar:
    """A status line (busy / timing) and an error box that shows exceptions raised in callbacks."""

    def __init__(self) -> None:
        self.status = W.HTML("", layout=W.Layout(min_height="1.5em"))
        self.status.add_class("teachkit-status")
        self.error = W.HTML("", layout=W.Layout(display="none"))
        self.error.add_class("teachkit-error")
        self.last_error: BaseException | None = None
        self.widget = W.VBox([self.status, self.error])

    def set(self, text: str) -> None:
        """Show a plain status message."""
        self.status.value = f"<span style='font-size:90%'>{html.escape(text)}</span>"

    @contextmanager
    def busy(self, text: str):
        """Show a busy indicator for the duration of the block, then the elapsed time."""
        self.status.value = f"<span style='color:#a60'>&#x23F3; {html.escape(text)}</span>"
        start = time.perf_counter()
        yield
        self.set(f"{text}: done in {time.perf_counter() - start:.2f} s")

    def show_error(self, exc: BaseException) -> None:
        """Display an exception (message and a collapsed traceback) inside the widget."""
        self.last_error = exc
        tb = html.escape("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:])
        self.error.value = (
            f"<div style='color:#b00;white-space:pre-wrap'><b>{type(exc).__name__}</b>: "
            f"{html.escape(str(exc))}</div><details><summary>traceback</summary><pre>{tb}</pre></details>"
        )
        self.error.layout.display = "block"
        self.set("error: see below")

    def clear_error(self) -> None:
        """Hide the error box after a successful update."""
        if self.last_error is not None or self.error.value:
            self.last_error = None
            self.error.value = ""
            self.error.layout.display = "none"


def guarded(method: Callable) -> Callable:
    """Decorate a widget callback so exceptions land in self.bar (the widget's error box), not in a log."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the student, kept in bar.last_error
            self.bar.show_error(exc)
            return None
        self.bar.clear_error()
        return result

    return wrapper


def png_bundle(widget_bundle: dict, png: bytes) -> dict:
    """Add a static image/png to a widget's mime bundle, for viewers without a live kernel."""
    bundle = dict(widget_bundle)
    bundle["image/png"] = base64.b64encode(png).decode("ascii")
    return bundle
