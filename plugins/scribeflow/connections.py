"""Airflow connections given in the environment (``AIRFLOW_CONN_<ID>``), read without
importing Airflow, as Airflow reads them: Airflow's JSON form or its URI form.

``scribeflow run``, ``doctor`` and the object-storage check read connections before (or
instead of) starting Airflow; this is the one place that knows both forms, so a connection
the tasks accept is one the CLI accepts too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from scribeflow.errors import ConfigError

#: The query key of a URI whose whole extra is one JSON object (Airflow's ``EXTRA_KEY``).
EXTRA_KEY = "__extra__"


def variable(conn_id: str) -> str:
    """The environment variable that holds connection ``conn_id``."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def from_env(conn_id: str, env: Mapping[str, str]) -> dict[str, Any] | None:
    """Connection ``conn_id`` from ``AIRFLOW_CONN_<ID>``: ``conn_type``, ``host``,
    ``schema``, ``login``, ``password``, ``port`` and ``extra`` (a mapping); None when the
    variable is unset or empty. Raises :class:`ConfigError` naming the variable when it is
    neither form."""
    name = variable(conn_id)
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        return from_json(raw) if raw.startswith("{") else from_uri(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a connection ({exc}): write it as JSON "
                          '({"conn_type": ..., "host": ..., "extra": {...}}) or as a URI '
                          "(type://login:password@host:port/schema?key=value)") from None


def from_json(raw: str) -> dict[str, Any]:
    """Airflow's JSON form of a connection; ``extra`` may be a JSON string or an object."""
    conn = _json_object(raw)
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = _json_object(extra, "its extra is ")
    port = conn.get("port")
    try:
        port = int(port) if port else port
    except ValueError:
        raise ValueError("its port is not a number") from None
    return {"conn_type": _conn_type(conn.get("conn_type")), "host": conn.get("host"),
            "schema": conn.get("schema"), "login": conn.get("login"),
            "password": conn.get("password"), "port": port, "extra": extra}


def from_uri(uri: str) -> dict[str, Any]:
    """Airflow's URI form, parsed as ``airflow.models.Connection(uri=...)`` parses it: the
    host URL-encoded when it is a URL (``openai://:key@https%3A%2F%2Fapi.example.com%2Fv1``),
    or with a scheme of its own when there is no login or password
    (``openai://https://api.example.com/v1``, whose path is then the schema); the query is
    the extra (its values JSON where they parse), or the JSON of its ``__extra__`` key."""
    schemes = uri.count("://")
    if schemes == 0 or schemes > 2:
        raise ValueError("not a URI")
    conn_type = urlsplit(uri).scheme
    host_with_protocol = schemes == 2
    rest = uri.replace(f"{conn_type}://", "" if host_with_protocol else "//")
    if host_with_protocol and any(c in rest.split("://", 1)[0] for c in "@:"):
        raise ValueError("a host with a scheme of its own takes no login or password: "
                         "URL-encode the host")
    parts = urlsplit(rest)
    try:
        port = parts.port
    except ValueError:
        raise ValueError("its port is not a number") from None
    host = _hostname(parts)
    if host and host_with_protocol:
        host = f"{parts.scheme}://{host}"
    extra: dict[str, Any] = {}
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if EXTRA_KEY in query:
            extra = _json_object(query[EXTRA_KEY], "its extra is ")
        else:
            extra = {key: _json_or_text(value) for key, value in query.items()}
    return {"conn_type": _conn_type(conn_type), "host": host,
            "schema": unquote(parts.path[1:]) if parts.path[1:] else parts.path[1:],
            "login": unquote(parts.username) if parts.username else parts.username,
            "password": unquote(parts.password) if parts.password else parts.password,
            "port": port, "extra": extra}


def _conn_type(name: str | None) -> str | None:
    """Airflow's spelling of a connection type."""
    return "postgres" if name == "postgresql" else name.replace("-", "_") if name else name


def _hostname(parts: SplitResult) -> str:
    """The host as written: ``hostname`` lower-cases it and loses an encoded path."""
    hostname = unquote(parts.hostname or "")
    if "/" in hostname:
        hostname = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        hostname = unquote(hostname)
    return hostname


def _json_object(text: str, whose: str = "") -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        raise ValueError(f"{whose}not JSON") from None
    if not isinstance(found, dict):
        raise ValueError(f"{whose}not a JSON object")
    return found


def _json_or_text(value: str) -> Any:
    if not value:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
