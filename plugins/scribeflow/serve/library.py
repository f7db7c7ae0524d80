"""The library's pages and API: answers with citations (``/api/ask``) and the channel
digests the ``digest`` DAG writes (``/digests/``: each period's pages, and the Atom feeds to
subscribe to), read from the data folder or its bucket."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# at module level: the route signatures' annotations are resolved here
from fastapi import Request

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import DataPaths

_PERIOD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(\.\d{1,6})?Z$")
_FILE = re.compile(r"^[a-z0-9-]+\.(md|html|atom)$")
_FEED = re.compile(r"^feed(-[a-z0-9-]+)?\.atom$")
MEDIA_TYPES = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
               "atom": "application/atom+xml"}


def _period_end(name: str) -> str:
    """A period folder's end, comparable as text (``…T07-38-08Z`` sorts after
    ``…T07-38-08.5Z`` by name alone)."""
    stamp = name.removesuffix("Z")
    return stamp if "." in stamp else stamp + ".000000"


class DigestFiles:
    """The digests' files, local or in the bucket (``storage``)."""

    def __init__(self, data: DataPaths, storage: Any = None):
        self.data, self.storage = data, storage

    def read(self, rel: str) -> bytes | None:
        if self.storage is not None:
            return self.storage.read_bytes(f"digests/{rel}")
        path = self.data.root / "digests" / rel
        return path.read_bytes() if path.is_file() else None

    def periods(self) -> list[tuple[str, list[str]]]:
        """Each period's folder and its pages, newest first."""
        if self.storage is not None:
            names = [rel.removeprefix("digests/") for rel in self.storage.files("digests")]
        else:
            root = self.data.root / "digests"
            names = [p.relative_to(root).as_posix() for p in root.rglob("*.html")] \
                if root.is_dir() else []
        found: dict[str, list[str]] = {}
        for name in names:
            period, _, page = name.partition("/")
            if _PERIOD.match(period) and page.endswith(".html") and "/" not in page:
                found.setdefault(period, []).append(page)
        return [(p, sorted(found[p], key=lambda n: (n != "digest.html", n)))
                for p in sorted(found, key=_period_end, reverse=True)]


def add_routes(app: Any, settings: Callable[..., PipelineSettings],
               dsn: Callable[[], str | None], llm: Callable[[], LLMSettings],
               bucket: Callable[[PipelineSettings], Any]) -> None:
    from fastapi import HTTPException, Query
    from fastapi.responses import HTMLResponse, Response

    from scribeflow.core.errors import BadInputError, ConfigError
    from scribeflow.core.records import SearchFilters
    from scribeflow.index.store.pg_schema import StoreUnavailable
    from scribeflow.library.ask import AnswerFailed, ask
    from scribeflow.serve import player

    @app.get("/api/ask")
    def api_ask(
        request: Request,
        q: str = Query("", description="the question"),
        channel: str | None = None,
        date_from: str | None = Query(None, description="upload date from, YYYY-MM-DD"),
        date_to: str | None = Query(None, description="upload date to, YYYY-MM-DD"),
        language: str | None = None,
        store: str | None = Query(None, description="parquet or pgvector"),
    ) -> dict[str, Any]:
        """An answer written by the LLM from the passages the hybrid search finds, each
        ``[n]`` a citation: a video, a second and a link (this app's player for a local
        file). ``found`` is false, and the model is not asked, when nothing relevant is
        stored."""
        try:
            current = settings({"store": store} if store else None)
            filters = SearchFilters(channel=channel, date_from=date_from, date_to=date_to,
                                    language=language)
            answer = ask(q, current, llm(), filters, dsn=dsn())
        except BadInputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except (ConfigError, StoreUnavailable) as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        except AnswerFailed as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from None
        root = request.scope.get("root_path", "").rstrip("/")
        body = answer.to_dict()
        body["citations"] = player.to_watch_links(body["citations"], root)
        return body

    def files() -> DigestFiles:
        current = settings()
        return DigestFiles(DataPaths(current.data_dir), bucket(current))

    @app.get("/digests/", response_class=HTMLResponse, include_in_schema=False)
    def digests() -> str:
        """Every digest, newest first, and the feeds to subscribe to."""
        from scribeflow.writing.render import template

        return template("digests.html.j2").render(periods=files().periods())

    @app.get("/digests/{name}", include_in_schema=False)
    def feed(name: str) -> Any:
        if not _FEED.match(name) or (data := files().read(name)) is None:
            raise HTTPException(status_code=404, detail=f"no feed {name!r}")
        return Response(data, media_type=MEDIA_TYPES["atom"])

    @app.get("/digests/{period}/{name}", include_in_schema=False)
    def digest_file(period: str, name: str) -> Any:
        if not (_PERIOD.match(period) and _FILE.match(name)) or \
                (data := files().read(f"{period}/{name}")) is None:
            raise HTTPException(status_code=404, detail=f"no digest {period}/{name}")
        return Response(data, media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]])
