"""Small HTTP helpers for tests that talk to servers they started on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def json_request(url: str, token: str | None = None, data: dict | None = None,
                 timeout: float = 60) -> tuple[int, dict]:
    """(status, JSON body) of a GET, or a POST when ``data`` is given; errors are returned."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def send_json(handler: Any, status: int, payload: dict, headers: dict | None = None) -> None:
    """Answer the request ``handler`` (a ``BaseHTTPRequestHandler``) holds with JSON."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def settled_search_model(client: Any, wait_s: float = 60.0) -> dict:
    """The search API's ``search_model`` status (``client``: a FastAPI ``TestClient``) once
    its warm-up thread has said how it went: a search can be answered before that thread
    records it."""
    import time

    deadline = time.monotonic() + wait_s
    while (status := client.get("/api/status").json()["search_model"])["state"] == "loading":
        assert time.monotonic() < deadline, f"the search model still loading after {wait_s} s"
        time.sleep(0.05)
    return status
