"""The HTTP search API and its page, as a FastAPI app.

``create_app`` takes what differs between where it runs: inside Airflow's API server (the
plugin adds Airflow's authentication as a dependency and the pgvector DSN from a connection)
or on its own (``scribeflow serve``, bound to 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scribeflow.config import PipelineSettings
from scribeflow.errors import BadInputError, ConfigError
from scribeflow.records import SearchFilters

PAGE = Path(__file__).parent / "web" / "search.html"


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
) -> Any:
    from fastapi import FastAPI, HTTPException, Query
    from fastapi.responses import HTMLResponse

    from scribeflow.search import search
    from scribeflow.store.base import StoreMismatch

    app = FastAPI(title="Scribeflow search", dependencies=list(dependencies),
                  docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/search")
    def api_search(
        q: str = Query("", description="words to search for"),
        k: int = Query(10, description="number of hits"),
        video: str | None = None,
        channel: str | None = None,
        date_from: str | None = Query(None, description="upload date from, YYYY-MM-DD"),
        date_to: str | None = Query(None, description="upload date to, YYYY-MM-DD"),
        language: str | None = None,
        store: str | None = Query(None, description="parquet or pgvector"),
    ) -> dict[str, Any]:
        """Hybrid (vector + keyword) search; each hit has a deep link to its moment."""
        from scribeflow.store.pgvector import StoreUnavailable

        try:
            run_settings = settings({"store": store} if store else None)
            filters = SearchFilters(video_id=video, channel=channel, date_from=date_from,
                                    date_to=date_to, language=language)
            hits = search(q, run_settings, k, filters=filters, dsn=dsn())
        except StoreMismatch as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        except (BadInputError, ConfigError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except StoreUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return {"query": q, "hits": [h.to_dict() for h in hits]}

    return app
