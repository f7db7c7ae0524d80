"""The HTTP search API and its page, as a FastAPI app.

``create_app`` takes what differs between where it runs: inside Airflow's API server (the
plugin adds Airflow's authentication as a dependency and the pgvector DSN from a connection)
or on its own (``scribeflow serve``, bound to 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# at module level: the route signatures' annotations are resolved here
from fastapi import Request

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import BadInputError, ConfigError
from scribeflow.core.records import SearchFilters

PAGE = Path(__file__).parents[1] / "web" / "search.html"
ASSETS = {p.name: p for p in (Path(__file__).parents[1] / "web" / "assets").iterdir()}
SWAGGER_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def token_guard(token: str) -> Any:
    """A dependency that admits requests carrying ``Authorization: Bearer <token>``."""
    import hmac

    from fastapi import Header, HTTPException

    def check(authorization: str | None = Header(None)) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
            raise HTTPException(status_code=401, detail="missing or wrong API token",
                                headers={"WWW-Authenticate": "Bearer"})

    return check


def create_app(
    dependencies: Sequence[Any] = (),
    dsn: Callable[[], str | None] = lambda: None,
    settings: Callable[..., PipelineSettings] = PipelineSettings.from_env,
    preload: bool = True,
    storage: Callable[[PipelineSettings], Any] | None = None,
    llm: Callable[[], LLMSettings] = LLMSettings.from_env,
) -> Any:
    """The app. With ``preload`` its start (Airflow's API server enters a mounted app's
    lifespan, and so does uvicorn) loads the search model in the background. ``storage``
    opens the data folder on object storage (the plugin: with the ``scribeflow_data``
    connection; by default the one this process opened, else the provider's environment).
    ``llm`` gives the LLM that answers questions (``/api/ask``)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException, Query
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse

    from scribeflow.core.files import DataPaths
    from scribeflow.index.search import ModelWarmup, search
    from scribeflow.index.store.base import StoreMismatch
    from scribeflow.serve import player
    from scribeflow.serve.queries import query_vectors, warm
    from scribeflow.serve.results import VideoFiles, results_page

    warmup = ModelWarmup(warm)

    @asynccontextmanager
    async def lifespan(app: Any):
        if preload:
            warmup.start(settings)
        yield

    app = FastAPI(title="Scribeflow search", dependencies=list(dependencies), lifespan=lifespan,
                  docs_url=None, openapi_url="/api/openapi.json")
    app.state.warmup = warmup

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Any:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail=f"no asset {name!r}")
        return FileResponse(ASSETS[name], media_type=ASSET_TYPES[Path(name).suffix])

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> Any:
        # Swagger UI's assets come from a package (fastapi-offline's copy of Swagger UI 5, which
        # reads OpenAPI 3.1), not a CDN, so the docs work offline
        return get_swagger_ui_html(openapi_url="openapi.json", title="Scribeflow search API",
                                   swagger_js_url="docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="docs-assets/swagger-ui.css",
                                   swagger_favicon_url="docs-assets/favicon.png")

    @app.get("/api/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Any:
        import fastapi_offline

        if name not in SWAGGER_ASSETS:
            raise HTTPException(status_code=404, detail=f"no asset {name!r}")
        return FileResponse(Path(fastapi_offline.__file__).parent / "static" / name,
                            media_type=ASSET_TYPES[Path(name).suffix])

    @app.get("/api/status")
    def api_status() -> dict[str, Any]:
        """Whether the search model is loaded (``idle``: it loads with the first search), and
        how concurrent searches were batched: the queries and the model calls that embedded
        them, the Parquet searches and the matrix products that answered them."""
        from scribeflow.index.embedding import query_batching
        from scribeflow.index.store.parquet import similarity_batching

        return {"search_model": warmup.to_dict(),
                "batching": {"query_embedding": query_batching(),
                             "parquet_similarity": similarity_batching()}}

    @app.get("/api/search")
    def api_search(
        request: Request,
        q: str = Query("", description="words to search for"),
        k: int = Query(10, description="number of hits"),
        video: str | None = None,
        channel: str | None = None,
        date_from: str | None = Query(None, description="upload date from, YYYY-MM-DD"),
        date_to: str | None = Query(None, description="upload date to, YYYY-MM-DD"),
        language: str | None = None,
        speaker: str | None = Query(None, description="only where this speaker is heard: "
                                    "2 or 'Speaker 2', a video's own numbering"),
        store: str | None = Query(None, description="parquet or pgvector"),
    ) -> dict[str, Any]:
        """Hybrid (vector + keyword) search. Each hit links to its moment: a web video's own
        link, or this app's player for a local file; ``similarity`` is the cosine of the
        query and the hit (the fused ``score`` only orders hits)."""
        from scribeflow.index.store.pg_schema import StoreUnavailable

        try:
            run_settings = settings({"store": store} if store else None)
            filters = SearchFilters(video_id=video, channel=channel, date_from=date_from,
                                    date_to=date_to, language=language, speaker=speaker)
            hits = search(q, run_settings, k, filters=filters, dsn=dsn(),
                          query_vector=query_vectors(run_settings))
        except StoreMismatch as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except (BadInputError, ConfigError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except StoreUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        root = request.scope.get("root_path", "").rstrip("/")
        return {"query": q, "hits": player.to_watch_links([h.to_dict() for h in hits], root)}

    def bucket(current: PipelineSettings) -> Any:
        """The data folder's bucket, or None when the data is a local folder."""
        if not current.data_url:
            return None
        from scribeflow.core.objects import open_storage

        return storage(current) if storage else open_storage(current.data_url)

    from scribeflow.serve import library

    library.add_routes(app, settings, dsn, llm, bucket)

    def playable(video_id: str) -> player.Playable:
        current = settings()
        try:
            return player.playable(DataPaths(current.data_dir), video_id, bucket(current))
        except player.NotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except ConfigError as exc:  # the bucket refused or could not be reached
            raise HTTPException(status_code=503, detail=str(exc)) from None

    @app.get("/media/{video_id}", include_in_schema=False)
    def media(video_id: str, request: Request) -> Any:
        """The video's media, with HTTP range requests (the player seeks with them)."""
        from fastapi.responses import Response, StreamingResponse

        item = playable(video_id)
        if item.storage is None:
            return FileResponse(item.path, media_type=item.media_type)
        try:
            asked = player.byte_range(request.headers.get("range"), item.size)
        except ValueError:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{item.size}"})
        start, end = asked or (0, item.size - 1)
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
        if asked:
            headers["Content-Range"] = f"bytes {start}-{end}/{item.size}"
        return StreamingResponse(player.read_ranges(item, start, end), status_code=206 if asked
                                 else 200, media_type=item.media_type, headers=headers)

    def stored(video_id: str) -> VideoFiles:
        current = settings()
        return VideoFiles(DataPaths(current.data_dir), video_id, bucket(current))

    @app.get("/videos/{video_id}", response_class=HTMLResponse, include_in_schema=False)
    def video_results(video_id: str, run: str | None = Query(None, description="the run")) -> str:
        """One video's results: the document, quiz, PDFs, subtitles, the player and the run
        that made it (the run's note links here)."""
        try:
            try:
                can_play = bool(playable(video_id))
            except HTTPException:
                can_play = False
            return results_page(stored(video_id), run, can_play)
        except player.NotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except ConfigError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None

    @app.get("/videos/{video_id}/files/{name}", include_in_schema=False)
    def video_file(video_id: str, name: str) -> Any:
        from fastapi.responses import Response

        try:
            data, media_type = stored(video_id).artifact(name)
        except player.NotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except ConfigError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return Response(data, media_type=media_type)

    @app.get("/watch/{video_id}", response_class=HTMLResponse, include_in_schema=False)
    def watch(video_id: str, t: float = Query(0, ge=0, description="second to start at")) -> str:
        """A player page that starts the video at second ``t``."""
        return player.player_page(playable(video_id), t)

    return app
