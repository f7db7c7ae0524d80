"""Prompt templates: one versioned file per stage in ``include/prompts/``, rendered strictly.

A template file starts with a front-matter block::

    ---
    version: 2
    ---
    Prompt text with {{ variables }}.

Rendering raises :class:`PromptError` when a variable is missing or a name is unknown, so
a typo never reaches the model. ``(name, version)`` is part of an LLM output's cache key.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.core.config import default_prompts_dir
from scribeflow.core.errors import ScribeflowError


class PromptError(ScribeflowError):
    pass


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    body: str

    def render(self, **variables: Any) -> str:
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                                 autoescape=False)
        try:
            return env.from_string(self.body).render(**variables).strip()
        except jinja2.UndefinedError as exc:
            raise PromptError(f"prompt {self.name} v{self.version}: {exc}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"prompt {self.name} v{self.version} line {exc.lineno}: {exc}") from None


_FRONT = re.compile(r"\A---\s*\n(?P<head>.*?)\n---\s*\n(?P<body>.*)\Z", re.DOTALL)


def parse_prompt(name: str, text: str) -> Prompt:
    match = _FRONT.match(text)
    if not match:
        raise PromptError(f"prompt {name} has no front matter with a version")
    head = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in match["head"].splitlines())
        if key.strip()
    )
    if not head.get("version"):
        raise PromptError(f"prompt {name} has no version in its front matter")
    return Prompt(name=name, version=head["version"], body=match["body"])


@functools.cache
def _load_cached(path: Path, mtime_ns: int) -> Prompt:
    return parse_prompt(path.stem, path.read_text(encoding="utf-8"))


def load_prompt(name: str, prompts_dir: Path | None = None) -> Prompt:
    path = Path(prompts_dir or default_prompts_dir()) / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"prompt template not found: {path}")
    return _load_cached(path, path.stat().st_mtime_ns)
