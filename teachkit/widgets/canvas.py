"""The browser-drawn widget base: an anywidget whose JavaScript (shipped in teachkit/widgets/static) draws on a canvas.

anywidget (https://anywidget.dev) runs the same ES module in JupyterLab, Notebook 7, VS Code and
Colab; ipywidgets carries the synced traits and binary buffers. Without a front end (nbval,
nbconvert, a static site) the output still carries a PNG that matplotlib renders in the kernel.
"""
from __future__ import annotations

import base64
import html
import io
import threading
import traceback
from pathlib import Path

import anywidget
import numpy as np
import traitlets as T
from matplotlib.figure import Figure

__all__ = ["CanvasWidget", "figure_png", "f16", "u8_images"]

STATIC = Path(__file__).with_name("static")


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes with the Agg renderer (works for any canvas)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


def f16(x) -> bytes:
    """Little-endian float16 bytes of an array (half the bytes of float32; ~3 digits, plenty for drawing)."""
    return np.ascontiguousarray(x, dtype="<f2").tobytes()


def u8_images(x, value_range=(-1.0, 1.0)) -> bytes:
    """Images in `value_range` as uint8 grey levels 0..255 (clipped, as viz.make_grid shows them)."""
    lo, hi = value_range
    scaled = np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return np.ascontiguousarray(np.rint(scaled * 255.0), dtype=np.uint8).tobytes()


class CanvasWidget(anywidget.AnyWidget):
    """Shared traits: what to draw (`kind`), a status line, an error box, busy/progress; a static PNG fallback."""

    _esm = STATIC / "widgets.js"
    _css = STATIC / "widgets.css"

    kind = T.Unicode("").tag(sync=True)
    status = T.Unicode("").tag(sync=True)
    error = T.Unicode("").tag(sync=True)
    busy = T.Bool(False).tag(sync=True)
    progress = T.Float(0.0).tag(sync=True)  # share of the running re-sample done, 0..1
    prefetching = T.Bool(False).tag(sync=True)  # the background prefetch is computing a neighbouring setting

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lock = threading.RLock()  # trait updates come from the kernel thread and the sampling thread
        self.last_error: BaseException | None = None
        self.front_end = False  # set once a browser view said it is ready
        self.sent: list[tuple[dict, int]] = []  # (message, number of buffers) of recent custom messages, for tests
        self.on_msg(self._on_front_end_msg)

    # ---- messages -----------------------------------------------------------------------------
    def set_state(self, sync_data) -> None:
        with self._lock:  # a control change from the browser is applied under the same lock as our updates
            super().set_state(sync_data)

    def _on_front_end_msg(self, widget, content, buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ready":
            self.front_end = True
            self._front_end_ready()
        elif kind == "cancel":
            self._cancel_request()

    def _set_prefetching(self, busy: bool) -> None:
        """Called by the prefetch thread (SampleRunner.on_prefetch); shown as data-prefetching on the widget."""
        with self._lock:
            if self.prefetching != busy:
                self.prefetching = busy

    def _front_end_ready(self) -> None:
        """Subclass hook: a browser shows the widget (start prefetching)."""

    def _cancel_request(self) -> None:
        """Subclass hook: the student pressed cancel."""

    def emit(self, content: dict, buffers: list[bytes]) -> None:
        """Send a custom message (e.g. a streamed frame) with binary buffers to every view."""
        self.sent.append((content, len(buffers)))
        del self.sent[:-64]
        self.send(content, buffers)

    # ---- status and errors --------------------------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        """Display an exception (message and a collapsed traceback) inside the widget."""
        self.last_error = exc
        tb = html.escape("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:])
        self.error = (f"<div class='tk-error-msg'><b>{type(exc).__name__}</b>: {html.escape(str(exc))}</div>"
                      f"<details><summary>traceback</summary><pre>{tb}</pre></details>")
        self.status = "error: see below"

    def clear_error(self) -> None:
        """Hide the error box after a successful update."""
        self.last_error = None
        if self.error:
            self.error = ""

    # ---- static fallback ----------------------------------------------------------------------
    def figure(self) -> Figure:
        """Subclass hook: a matplotlib figure of what the widget shows now."""
        raise NotImplementedError

    def png(self) -> bytes:
        """What the widget shows now, as PNG bytes (the fallback where no front end runs the widget)."""
        return figure_png(self.figure())

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data)
        data["image/png"] = base64.b64encode(self.png()).decode("ascii")
        return data, meta
