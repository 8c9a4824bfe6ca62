"""The lesson pages' HTML exporter: nbconvert's (JupyterLab look), with the math turned into MathML at build time.

nbconvert (Jupyter's own converter) renders the cells and their stored outputs; latex2mathml turns each $...$ and
$$...$$ of the markdown into MathML, which browsers draw natively, so a page needs no MathJax from a CDN and shows
its equations offline, from file://, and with scripts off.
"""
from __future__ import annotations

import re
from pathlib import Path

from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

try:
    from jinja2 import pass_context
except ImportError:  # jinja2 < 3
    from jinja2 import contextfilter as pass_context

__all__ = ["SiteExporter", "mathml", "TEMPLATES"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def mathml(tex: str, display: str = "inline") -> str:
    """LaTeX math as a MathML element; a formula latex2mathml cannot read is a build error naming it."""
    try:
        out = latex_to_mathml(tex.strip(), display=display)
    except Exception as exc:  # latex2mathml raises its own exception types for malformed input
        raise ValueError(f"cannot turn this math into MathML ({type(exc).__name__}: {exc}): {tex!r}") from exc
    # latex2mathml keeps a command it does not know as text (<mi>\foo</mi>): on the page that is raw TeX
    unknown = re.findall(r">(\\[A-Za-z]+)<", out)
    if unknown:
        raise ValueError(f"latex2mathml does not know {', '.join(sorted(set(unknown)))} in {tex!r}")
    return out


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer with math rendered to MathML instead of left for MathJax."""

    def block_math(self, body: str) -> str:
        return mathml(body, display="block")

    def inline_math(self, body: str) -> str:
        return mathml(body, display="inline")

    def latex_environment(self, name: str, body: str) -> str:
        return mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display="block")


class SiteExporter(HTMLExporter):
    """HTMLExporter with the `teachkit` template (lab look, no outside scripts) and MathML math."""

    def __init__(self, **kw) -> None:
        super().__init__(template_name="teachkit", extra_template_basedirs=[str(TEMPLATES)], **kw)

    @pass_context
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)
