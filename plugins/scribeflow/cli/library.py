"""Commands over the whole library: ``ask`` (an answer with citations) and ``digest`` (what
was stored in a window)."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError


def add_commands(sub: argparse._SubParsersAction) -> None:
    from scribeflow.core.config import STORES

    ask = sub.add_parser("ask", help="answer a question from the stored transcripts, citing "
                                     "the videos and seconds it comes from")
    ask.add_argument("question")
    ask.add_argument("--channel", help="only this channel")
    ask.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="uploaded on or after")
    ask.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="uploaded on or before")
    ask.add_argument("--language", help="only this language code")
    ask.add_argument("--store", choices=STORES)
    ask.add_argument("--data-dir", dest="data_dir")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    ask.set_defaults(func=cmd_ask)

    digest = sub.add_parser("digest", help="print the digest of the videos stored in a window "
                                           "(the digest DAG writes each period's files)")
    digest.add_argument("--since", metavar="YYYY-MM-DD", help="stored after (default: ever)")
    digest.add_argument("--until", metavar="YYYY-MM-DD", help="stored up to the end of this day "
                                                            "(default: now)")
    digest.add_argument("--base-url", dest="base_url", default="http://localhost:8080/scribeflow",
                        help="the app's address the links start with")
    digest.add_argument("--data-dir", dest="data_dir")
    digest.set_defaults(func=cmd_digest)


def cmd_ask(args: argparse.Namespace) -> int:
    from scribeflow.cli.doctor import llm_settings_from_env
    from scribeflow.core.records import SearchFilters
    from scribeflow.library.ask import ask

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    filters = SearchFilters(channel=args.channel, date_from=args.date_from,
                            date_to=args.date_to, language=args.language)
    answer = ask(args.question, settings, llm_settings_from_env()[0], filters)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(answer.text)
    if answer.citations:
        print()
    for c in answer.citations:
        print(f"[{c.number}] {c.title} @ {c.clock}  {c.url}")
    return 0


def _day(text: str | None, option: str, end: bool = False) -> dt.datetime | None:
    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{option} must be a date, YYYY-MM-DD, not {text!r}") from None
    moment = dt.datetime.combine(day, dt.time(), dt.UTC)
    return moment + dt.timedelta(days=1) if end else moment


def cmd_digest(args: argparse.Namespace) -> int:
    from scribeflow.core.files import DataPaths
    from scribeflow.library.digest import window_digest

    settings = PipelineSettings.from_env({"data_dir": args.data_dir})
    until = _day(args.until, "--until", end=True) or dt.datetime.now(dt.UTC)
    _, markdown = window_digest(DataPaths(settings.data_dir), _day(args.since, "--since"),
                                until, args.base_url)
    print(markdown, end="")
    return 0
