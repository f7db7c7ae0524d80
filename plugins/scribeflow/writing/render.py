"""Rendered outputs: HTML with markdown-it-py and Jinja2 autoescaping, PDF with WeasyPrint.

Every text that came from a video or a model reaches HTML escaped: Markdown is rendered
with raw HTML disabled, and templates autoescape. The quiz page is self-contained (inline
CSS and JS, the questions as JSON in the page) so it works offline from disk.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scribeflow.core.files import write_bytes_atomic
from scribeflow.writing.quiz import LETTERS, QuizQuestion

TEMPLATES = Path(__file__).parents[1] / "web"


@functools.cache
def _env() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.StrictUndefined)


def template(name: str) -> Any:
    """A template of ``web/``, autoescaped."""
    return _env().get_template(name)


def markdown_html(text: str) -> str:
    """Markdown to HTML; raw HTML in the source is shown as text, never passed through.
    Headings get the anchors the Markdown's own links use (GitHub's:
    :func:`scribeflow.writing.overview.unique_slug`)."""
    return _markdown().render(text)


@functools.cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    from scribeflow.writing.overview import unique_slug

    def heading_ids(state: Any) -> None:
        seen: dict[str, int] = {}
        for n, token in enumerate(state.tokens):
            if token.type == "heading_open":
                token.attrSet("id", unique_slug(state.tokens[n + 1].content, seen))

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("heading_ids", heading_ids)
    return md


#: A paragraph that opens with its speaker (``Speaker 2:``, ``Speaker 2 (the host):``, bold
#: or not), in rendered (escaped) HTML.
_TURN = re.compile(r"<p>(?:<strong>)?(Speaker (\d+)(?: \([^)<]*\))?)(?::</strong>|</strong>:|:)\s*")


def speaker_turns(html: str) -> str:
    """Each turn's speaker set apart: ``<p class="turn"><span class="speaker s2">Speaker 2:
    </span> …`` (``s1``…``s6``, then again, give each speaker a colour of their own)."""
    return _TURN.sub(lambda m: f'<p class="turn"><span class="speaker s{(int(m[2]) - 1) % 6 + 1}"'
                               f'>{m[1]}:</span> ', html)


def document_page(title: str, markdown: str) -> str:
    """``document.html``: ``document.md`` rendered, in its order (title, facts, summary,
    chapters, text), with each speaker's turns set apart."""
    import markupsafe

    body = markupsafe.Markup(speaker_turns(markdown_html(markdown)))
    return _env().get_template("document.html.j2").render(title=title, body=body)


_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_json(value: Any) -> str:
    """JSON to embed in a ``<script>`` element: ``<``, ``>`` and ``&`` (and the JavaScript
    line separators) as ``\\uXXXX``, so no string can end the element, open a comment or
    CDATA section in it, or spell an entity; ``JSON.parse`` reads the same values."""
    return json.dumps(value, ensure_ascii=False).translate(_SCRIPT_SAFE)


def quiz_page(title: str, questions: Sequence[QuizQuestion], quality: int | None) -> str:
    import markupsafe

    safe = markupsafe.Markup(script_json([q.to_dict() for q in questions]))
    return _env().get_template("quiz.html.j2").render(title=title, data=safe, quality=quality,
                                                      count=len(questions))


def quiz_print_page(title: str, questions: Sequence[QuizQuestion]) -> str:
    return _env().get_template("quiz_print.html.j2").render(title=title, questions=questions,
                                                            letters=LETTERS)


def write_pdf(html: str, target: Path) -> Path:
    from scribeflow.core.timings import phase

    with phase("imports"):
        import weasyprint

    return write_bytes_atomic(target, weasyprint.HTML(string=html).write_pdf())
