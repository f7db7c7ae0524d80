"""A real local HTTP server that speaks the OpenAI chat-completions API with scripted answers.

Tests point the real ``openai`` client at it (``base_url``): nothing in the client is
patched. A *responder* turns each request into a :class:`Reply`; :class:`EditorScript` is
the scripted editor the end-to-end tests use: it follows the three document stages, opens
some answers with preambles, refuses one topic on the primary model, and answers 429 and
500 now and then.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.http import send_json


@dataclass(frozen=True)
class Request:
    number: int
    model: str
    prompt: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Request], Reply]


class ScriptedOpenAI:
    """``with ScriptedOpenAI(responder) as server: server.base_url``; ``server.requests``."""

    def __init__(self, responder: Responder, delay_s: float = 0.0,
                 models: tuple[str, ...] = ("primary-model", "fallback-model", "main", "m"),
                 schemas: str = "json_schema"):
        self.responder = responder
        self.delay_s = delay_s
        self.models = models  # what GET /v1/models lists
        #: a request's ``response_format``: passed to the responder ("json_schema"), answered
        #: with a 400 ("reject", as servers without the parameter do) or dropped ("ignore")
        self.schemas = schemas
        self.rejected_formats = 0
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedOpenAI:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if not self.path.rstrip("/").endswith("/models"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                self._send(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "test"}
                    for m in owner.models]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if "response_format" in body and owner.schemas == "reject":
                    with owner._lock:
                        owner.rejected_formats += 1
                    return self._send(400, {"error": {
                        "message": "Unrecognized request argument supplied: response_format",
                        "type": "invalid_request_error", "code": None}})
                if owner.schemas == "ignore":
                    body.pop("response_format", None)
                with owner._lock:
                    request = Request(number=len(owner.requests) + 1, model=body.get("model", ""),
                                      prompt=_last_user_message(body), body=body)
                    owner.requests.append(request)
                reply = owner.responder(request)
                with owner._lock:
                    owner.replies.append(reply)
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                if reply.status != 200:
                    error = {"error": {"message": reply.text or "scripted error",
                                       "type": "scripted", "code": reply.status}}
                    return self._send(reply.status, error, reply.headers)
                self._send(200, _completion(request, reply.text))

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                send_json(self, status, payload, headers)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedOpenAI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _last_user_message(body: dict) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _completion(request: Request, text: str) -> dict:
    words = len(request.prompt.split())
    return {
        "id": f"chatcmpl-{request.number}", "object": "chat.completion", "created": 0,
        "model": request.model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": words, "completion_tokens": len(text.split()),
                  "total_tokens": words + len(text.split())},
    }


def tagged(prompt: str, tag: str) -> str:
    match = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", prompt, re.DOTALL)
    return match.group(1).strip() if match else ""


def stage_of(prompt: str) -> str:
    for start, stage in (("Task: rewrite raw speech", "polish_sentences"),
                         ("Task: format", "format_markdown"),
                         ("Task: clean up", "cleanup_markdown"),
                         ("Task: write ONE multiple-choice", "quiz_question"),
                         ("Task: divide a transcript", "chapters"),
                         ("Task: rate how well", "quality_score"),
                         ("Task: summarise a video", "summary"),
                         ("Task: answer a question", "answer"),
                         ("Task: translate numbered subtitle lines", "translate_lines"),
                         ("Task: translate a passage", "translate_text")):
        if prompt.startswith(start):
            return stage
    return "unknown"


QUIZ_SHAPES = ("answer-line", "bold", "check", "correct-paren", "malformed")
DISTRACTORS = ("The passage never mentions this.", "It happens only at night.",
               "Nobody knows how it works.", "It was invented last year.")


def structured(request: Request) -> bool:
    """The request asks for an answer that fits a JSON Schema."""
    return bool((request.body.get("response_format") or {}).get("json_schema"))


def quiz_answer(prompt: str, number: int, as_json: bool = False) -> str:
    """One question about the passage, in one of several shapes (or as JSON); every fifth is
    malformed (three options) unless the prompt says a previous answer could not be read."""
    passage = tagged(prompt, "passage")
    letter = re.search(r"Put the correct answer at option ([A-D])", prompt).group(1)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", re.sub(r"#+ [^\n]*\n", "", passage))
                 if len(s.split()) > 3]
    fact = sentences[number % len(sentences)] if sentences else "The passage is short."
    options = list(DISTRACTORS[:3])
    options.insert("ABCD".index(letter), fact)
    shape = QUIZ_SHAPES[number % len(QUIZ_SHAPES)]
    if as_json:
        broken = shape == "malformed" and "could not be read" not in prompt
        return json.dumps({"question": "Which statement is made in the passage?",
                           "options": options[:3] if broken else options, "answer": letter,
                           "explanation": "The passage says so."})
    if shape == "malformed" and "could not be read" not in prompt:
        return "Which statement is in the passage?\n" + "\n".join(
            f"{'ABC'[i]}) {o}" for i, o in enumerate(options[:3])) + "\nAnswer: A"
    lines = [f"**Question {number}:** Which statement is made in the passage?", ""]
    for i, option in enumerate(options):
        mark = "ABCD"[i]
        correct = mark == letter
        if shape == "bold" and correct:
            lines.append(f"**{mark}) {option}**")
        elif shape == "check" and correct:
            lines.append(f"({mark}) {option} ✅")
        elif shape == "correct-paren":
            lines.append(f"{mark.lower()}) {option}")
        else:
            lines.append(f"{mark}) {option}")
    if shape == "answer-line":
        lines += ["", f"Answer: {letter}", "Explanation: the passage says so."]
    elif shape == "correct-paren":
        lines += ["", f"Correct answer: ({letter.lower()})"]
    return "\n".join(lines)


def summary_answer(prompt: str, as_json: bool = False, number: int = 0) -> str:
    """A summary of the transcript: an abstract made of its first sentences' words, and a
    key point per sentence (at most five, spread over the talk) quoting it. JSON where asked
    (fenced every other time), else the text form with a preamble and bold points."""
    transcript = tagged(prompt, "transcript")
    said = [s.strip() for s in re.split(r"(?<=[.!?])\s+", transcript) if len(s.split()) > 2]
    if not said:
        return "Abstract: Nothing is said.\nKey points:"
    step = max(1, len(said) // 5)
    picked = said[::step][:5]
    first = " ".join(said[0].split()[:12]).rstrip(".!?")
    abstract = f"The talk opens: {first}. It then covers {len(picked)} points in turn."
    points = [(f"It says: {' '.join(s.split()[:5]).rstrip('.,!?')}.", s) for s in picked]
    if as_json:
        body = json.dumps({"abstract": abstract,
                           "key_points": [{"point": p, "quote": q} for p, q in points]})
        return f"```json\n{body}\n```" if number % 2 else body
    return ("Sure! Here is the summary you asked for.\n\nAbstract: " + abstract
            + "\n\nKey points:\n" + "\n".join(f'- **{p}** | "{q}"' for p, q in points))


STOP = frozenset("what which when where does about there their this that with from have into "
                 "they them than then were will would could should your".split())


def answer_reply(prompt: str, as_json: bool = False) -> str:
    """An answer from the passages: the passage that shares the most words (of four letters
    or more, by their first five) with the question, its sentence that shares the most, cited
    after its full stop; "not in the library" when no passage shares a word with it."""
    question = {w[:5] for w in re.findall(r"[a-z]{4,}", tagged(prompt, "question").lower())
                if w not in STOP}
    passages = re.findall(r"^\[(\d+)\] [^:\n]*\(\d\d:\d\d(?::\d\d)?\): (.*)$",
                          tagged(prompt, "passages"), re.M)

    def shared(text: str) -> int:
        return len(question & {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower())})

    best = max(passages, key=lambda p: shared(p[1]), default=None)
    if best is None or shared(best[1]) < 1:
        return json.dumps({"found": False, "answer": ""}) if as_json else (
            "NOT IN LIBRARY - none of the passages mention this.")
    sentences = [x for x in re.split(r"(?<=[.!?])\s+", best[1]) if x.strip()]
    sentence = max(sentences, key=shared).rstrip(".!?")
    answer = f"The talk says: {sentence}. [{best[0]}]"
    return json.dumps({"found": True, "answer": answer}) if as_json else answer


CHAPTER_STARTS = (("welcome", "Introduction"), ("next we talk", "Volcanoes"),
                  ("now let us look", "Baking bread"), ("our fourth topic", "Jupiter"),
                  ("finally", "Practising the piano"))


def chapters_answer(prompt: str, as_json: bool = False) -> str:
    passage = re.sub(r"#+ [^\n]*\n", "", tagged(prompt, "passage"))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", passage) if s.strip()]
    found = [{"title": title, "start": sentence} for sentence in sentences
             for key, title in CHAPTER_STARTS if sentence.lower().startswith(key)]
    if as_json:
        return json.dumps({"chapters": found})
    return "Here are the chapters:\n```json\n" + json.dumps(found) + "\n```"


PREAMBLES = (
    "Certainly! Here's a refined version of the text:\n\n",
    "Here is the formatted Markdown:\n\n",
    "Sure! Here's the cleaned-up text, ensuring consistency in formatting:\n\n---\n",
)
POSTAMBLE = "\n\nLet me know if you need any further changes!"


def translation(request: Request, first: bool = False) -> str:
    """A scripted translator's answer (:mod:`support.translator`); ``first``: the script's
    first translation request, whose numbered lines come back one short."""
    from support.translator import translate_answer

    target = re.search(r" into ([A-Z][a-z]+)", request.prompt)[1]
    lines = stage_of(request.prompt) == "translate_lines"
    return translate_answer(request.number, target,
                            tagged(request.prompt, "lines" if lines else "text"), lines, first)


def sentence_case(text: str) -> str:
    """A deterministic 'polish': capitalised sentences that end with a full stop."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    fixed = [s[0].upper() + s[1:] for s in sentences]
    joined = " ".join(fixed)
    return joined if joined.endswith((".", "!", "?")) else joined + "."


class EditorScript:
    """The scripted editor of the end-to-end tests (thread-safe, deterministic per prompt).

    - polish: sentence case; every second request opens with a preamble;
    - format: a ``##`` heading from the first words, some answers end with an offer to help;
    - cleanup: unchanged text, some with a preamble and separator;
    - the primary model refuses any prompt containing ``refuse_word``; others answer it;
    - request 1 gets a 429 (unless ``rate_limit_first`` is off) and request ``error_at`` a
      500 (never when 0), which the client must retry.
    """

    def __init__(self, refuse_word: str | None = "magma", primary: str = "primary-model",
                 error_at: int = 5, rate_limit_first: bool = True):
        self.refuse_word = refuse_word
        self.primary = primary
        self.error_at = error_at
        self.rate_limit_first = rate_limit_first
        self.preambles_sent = 0
        self.refusals_sent = 0
        self.translations = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        if request.number == 1 and self.rate_limit_first:
            return Reply("rate limited", status=429, headers={"Retry-After": "0"})
        if request.number == self.error_at:
            return Reply("upstream exploded", status=500)
        stage = stage_of(request.prompt)
        if stage == "quiz_question":
            return Reply(quiz_answer(request.prompt, request.number, structured(request)))
        if stage == "chapters":
            return Reply(chapters_answer(request.prompt, structured(request)))
        if stage == "summary":
            return Reply(summary_answer(request.prompt, structured(request), request.number))
        if stage == "answer":
            return Reply(answer_reply(request.prompt, structured(request)))
        if stage == "quality_score":
            return Reply('{"score": 87}' if structured(request) else "I'd rate it 87 out of 100.")
        if stage.startswith("translate_"):
            with self._lock:
                self.translations += 1
                first = self.translations == 1
            return Reply(translation(request, first))
        text = tagged(request.prompt, "transcript") or tagged(request.prompt, "text")
        if (self.refuse_word and request.model == self.primary
                and stage == "cleanup_markdown" and self.refuse_word in text.lower()):
            with self._lock:
                self.refusals_sent += 1
            return Reply("I'm sorry, but I can't help with that request.")
        if stage == "polish_sentences":
            answer = sentence_case(text)
        elif stage == "format_markdown":
            heading = " ".join(re.sub(r"[^\w\s]", "", text).split()[:3]).title()
            answer = f"## {heading}\n\n{text}"
        else:
            answer = text
        preamble = PREAMBLES[(request.number + len(text)) % len(PREAMBLES)]
        if request.number % 2 == 0:
            with self._lock:
                self.preambles_sent += 1
            answer = preamble + answer
            if stage == "format_markdown":
                answer += POSTAMBLE
        return Reply(answer)


class JudgingEditor:
    """An editor whose work depends on the prompt's wording, with a judge that measures it.

    The document stages answer as :class:`EditorScript` does (without its errors), except
    that a polish prompt asking to be concise keeps only the first half of each passage's
    sentences. The quality score is the share of the transcript's words (of four letters or
    more) that the document keeps, so a prompt that drops content scores lower, as a real
    judge would rate it.
    """

    def __init__(self) -> None:
        self.by_stage: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        stage = stage_of(request.prompt)
        with self._lock:
            self.by_stage[stage] = self.by_stage.get(stage, 0) + 1
        if stage == "quality_score":
            transcript = set(re.findall(r"[a-z]{4,}", tagged(request.prompt, "transcript").lower()))
            document = set(re.findall(r"[a-z]{4,}", tagged(request.prompt, "document").lower()))
            score = round(100 * len(transcript & document) / max(len(transcript), 1))
            return Reply(json.dumps({"score": score}) if structured(request) else str(score))
        if stage == "summary":
            return Reply(summary_answer(request.prompt, structured(request)))
        text = tagged(request.prompt, "transcript") or tagged(request.prompt, "text")
        if stage == "polish_sentences":
            if re.search(r"as\s+concisely\s+as\s+possible", request.prompt):
                sentences = re.split(r"(?<=[.!?])\s+", text.strip())
                text = " ".join(sentences[:(len(sentences) + 1) // 2])
            return Reply(sentence_case(text))
        if stage == "format_markdown":
            heading = " ".join(re.sub(r"[^\w\s]", "", text).split()[:3]).title()
            return Reply(f"## {heading}\n\n{text}")
        return Reply(text)
