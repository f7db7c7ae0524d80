"""Airflow connections given in the environment (``AIRFLOW_CONN_<ID>``), read without
importing Airflow, as Airflow reads them: Airflow's JSON form or its URI form.

``scribeflow run``, ``doctor`` and the object-storage check read connections before (or
instead of) starting Airflow; this is the one place that knows both forms, so a connection
the tasks accept is one the CLI accepts too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from scribeflow.core.errors import ConfigError

if TYPE_CHECKING:
    from scribeflow.core.endpoints import LLMSettings, TranscriptionSettings

#: The query key of a URI whose whole extra is one JSON object (Airflow's ``EXTRA_KEY``).
EXTRA_KEY = "__extra__"


@dataclass(frozen=True)
class Connection:
    """An Airflow connection's fields as the tasks see them, and where it was read
    (``origin``: the variable's name, ``connection <id>`` for the metadata database)."""

    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], origin: str = "") -> Connection:
        """From Airflow's field names: its JSON form, or a row of ``airflow connections get
        --output json`` (whose ``extra_dejson`` is used when present). ``extra`` may be a JSON
        string or an object. Raises ValueError with the cause."""
        extra = fields.get("extra_dejson") or fields.get("extra") or {}
        if isinstance(extra, str):
            extra = _json_object(extra, "its extra is ")
        port = fields.get("port")
        try:
            port = int(port) if port else port
        except ValueError:
            raise ValueError("its port is not a number") from None
        return cls(conn_type=_conn_type(fields.get("conn_type")), host=fields.get("host"),
                   schema=fields.get("schema"), login=fields.get("login"),
                   password=fields.get("password"), port=port, extra=extra, origin=origin)


    def postgres_dsn(self) -> str:
        """The libpq URI of a Postgres connection, the one way Scribeflow writes it: login and
        password percent-encoded, ``localhost`` when no host is given, the extra's plain
        values (``sslmode``, ``connect_timeout``, …) as its query."""
        from urllib.parse import quote, urlencode

        auth = quote(self.login or "", safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        port = f":{self.port}" if self.port else ""
        options = {k: v for k, v in self.extra.items() if isinstance(v, str | int | float)
                   and not isinstance(v, bool)}
        query = f"?{urlencode(options)}" if options else ""
        return (f"postgresql://{auth + '@' if auth else ''}{self.host or 'localhost'}{port}"
                f"/{quote(self.schema or '', safe='')}{query}")


#: The connection of the pgvector store.
PGVECTOR_CONN_ID = "scribeflow_pgvector"


def pgvector_dsn(conn: Connection | None, fallback: str | None) -> str | None:
    """The pgvector store's DSN: connection ``scribeflow_pgvector`` when there is one (from the
    environment, the metadata database or an Airflow hook: its fields), else ``fallback``
    (``SCRIBEFLOW_PGVECTOR_DSN``). Every reader of the store's connection goes through here,
    so the CLI, doctor, reuse and the tasks build one DSN from one connection."""
    return conn.postgres_dsn() if conn is not None else (fallback or None)


def variable(conn_id: str) -> str:
    """The environment variable that holds connection ``conn_id``."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def from_env(conn_id: str, env: Mapping[str, str]) -> Connection | None:
    """Connection ``conn_id`` from ``AIRFLOW_CONN_<ID>``, its origin the variable's name;
    None when the variable is unset or empty. Raises :class:`ConfigError` naming the variable
    when it is neither form."""
    name = variable(conn_id)
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        conn = from_json(raw) if raw.startswith("{") else from_uri(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a connection ({exc}): write it as JSON "
                          '({"conn_type": ..., "host": ..., "extra": {...}}) or as a URI '
                          "(type://login:password@host:port/schema?key=value)") from None
    return dataclasses.replace(conn, origin=name)


def resolve(conn_id: str, env: Mapping[str, str],
            stored: Callable[[str], Connection | None] | None = None) -> Connection | None:
    """Connection ``conn_id`` where the tasks find it, in their order: ``AIRFLOW_CONN_<ID>``
    first, then the metadata database (read by ``stored``: Airflow's CLI for ``doctor``,
    the SQLite file for ``scribeflow run``'s reuse lookup). The one resolver outside
    Airflow's hooks; None when neither has it."""
    found = from_env(conn_id, env)
    if found is None and stored is not None:
        found = stored(conn_id)
    return found


#: The LLM endpoint's connection, and the transcription endpoint's default one.
LLM_CONN_ID = "openai_default"
TRANSCRIPTION_CONN_ID = "openai_transcription"


def llm_settings(env: Mapping[str, str],
                 stored: Callable[[str], Connection | None] | None = None
                 ) -> tuple[LLMSettings, str]:
    """The LLM settings the tasks would use and where they came from: the connection
    ``openai_default`` (:func:`resolve`), else the ``OPENAI_*`` variables."""
    from scribeflow.core.endpoints import LLMSettings, llm_settings_from_connection

    conn = resolve(LLM_CONN_ID, env, stored)
    if conn is None:
        return LLMSettings.from_env(), "OPENAI_* variables"
    return llm_settings_from_connection(conn.host, conn.password, conn.extra, conn.schema,
                                        conn.port), conn.origin


def transcription_settings(env: Mapping[str, str],
                           stored: Callable[[str], Connection | None] | None = None
                           ) -> tuple[TranscriptionSettings, str]:
    """The transcription endpoint the tasks would use (``transcriber=endpoint``) and where it
    came from: the connection ``$SCRIBEFLOW_TRANSCRIPTION_CONN_ID`` (default
    ``openai_transcription``), else the ``SCRIBEFLOW_TRANSCRIPTION_*`` variables. A connection
    the variable names must exist: its absence is a :class:`ConfigError`."""
    from scribeflow.core.config import DeploymentSettings
    from scribeflow.core.endpoints import (
        TranscriptionSettings,
        transcription_settings_from_connection,
    )

    named = DeploymentSettings.from_env(env).transcription_conn_id
    conn = resolve(named or TRANSCRIPTION_CONN_ID, env, stored)
    if conn is None:
        if named:
            raise ConfigError(f"transcription connection {named!r} "
                              "(SCRIBEFLOW_TRANSCRIPTION_CONN_ID) not found")
        return TranscriptionSettings.from_env(), "SCRIBEFLOW_TRANSCRIPTION_* variables"
    return transcription_settings_from_connection(
        conn.host, conn.password, conn.extra, conn.schema, conn.port), conn.origin


def from_json(raw: str) -> Connection:
    """Airflow's JSON form of a connection."""
    return Connection.from_fields(_json_object(raw))


def from_uri(uri: str) -> Connection:
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
    return Connection(conn_type=_conn_type(conn_type), host=host,
                      schema=unquote(parts.path[1:]) if parts.path[1:] else parts.path[1:],
                      login=unquote(parts.username) if parts.username else parts.username,
                      password=unquote(parts.password) if parts.password else parts.password,
                      port=port, extra=extra)


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
