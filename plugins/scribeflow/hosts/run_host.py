"""A warm runner: one process that has imported Airflow and forks a child for each in-process
run (``scribeflow run``, ``ingest``, ``evaluate``).

Every ``scribeflow run`` used to start ``python -m scribeflow_airflow.runner`` afresh, and
before its first task that process spent about 2.5 s of CPU importing Airflow and the
execution API it serves itself (P14). ``scribeflow runs serve`` pays that once: it imports
them, then waits on a Unix socket (mode 0600). For each request it forks; the child takes
the request's environment, working folder and output file, and runs the same
:func:`scribeflow_airflow.runner.main` a new process would. A fork starts from the imports
and from nothing else: the host opens no database connection and starts no thread. It
imports the modules the tasks are made of (:mod:`scribeflow_airflow.preload`); each child
reads the DAG file and the settings, so an edited DAG or setting is seen by the next run,
and a change to Scribeflow's code once the host is restarted.

Airflow reads its configuration when it is imported, so the host serves only requests whose
Airflow settings (``AIRFLOW_HOME``, ``AIRFLOW__*``, ``PYTHONPATH``) are the ones it was
started with; any other request is refused with the differing names, and the CLI then starts
a runner process of its own, as it does when no host is configured or it is not running:
the results are the same either way, only slower.

Protocol: one request per connection, ``multiprocessing.connection`` framing, JSON only (no
pickles): ``{"argv", "env", "cwd"}`` with the output's file descriptor passed alongside
(``SCM_RIGHTS``); the answer is ``{"code"}`` once the run's process has exited, or
``{"refused"}``. A client that goes away (^C) has its run's process group terminated.
``{"status": true, "env"}`` asks, without running anything, for the host's process id, its
runs now, and the settings that would make it refuse a run from ``env`` (``scribeflow
doctor``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path

from scribeflow.core.errors import ScribeflowError

#: The first bytes of a request, sent with its output's file descriptor.
HELLO = b"SFR1"


def airflow_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a run host must share with its requests (Airflow reads it at import)."""
    return {k: v for k, v in env.items()
            if k.startswith("AIRFLOW__") or k in ("AIRFLOW_HOME", "AIRFLOW_CONFIG", "PYTHONPATH")}


def differences(host: Mapping[str, str], request: Mapping[str, str]) -> list[str]:
    """The Airflow settings that differ between the host's environment and a request's."""
    ours, theirs = airflow_settings(host), airflow_settings(request)
    return sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))


class RunHostUnavailable(Exception):
    """The host did not take the run (not running, refused): run it in a process of its own."""


def host_status(address: str | Path, env: Mapping[str, str]) -> dict:
    """``{"pid", "running", "differs"}`` of the run host at ``address``: its process, how many
    runs it has now, and the Airflow settings of ``env`` it would refuse a run for. Raises
    :class:`RunHostUnavailable` with a one-line cause when it does not answer."""
    with open(os.devnull, "w") as nowhere:
        try:
            answer = _ask(address, {"status": True, "env": dict(env)}, nowhere.fileno())
        except ScribeflowError:
            raise RunHostUnavailable(f"the run host at {address} closed the connection "
                                     "without answering") from None
    if "status" not in answer:
        raise RunHostUnavailable(f"the run host at {address} did not answer: "
                                 f"{answer.get('refused') or answer}")
    return answer["status"]


def run_on_host(address: str | Path, argv: list[str], env: Mapping[str, str], output: int,
                cwd: str | None = None) -> int:
    """Run ``scribeflow_airflow.runner`` with ``argv`` on the run host at ``address``, its
    output going to the file descriptor ``output``; the run's exit code.

    Raises :class:`RunHostUnavailable` with a one-line cause when the host is not there or
    refuses the request (nothing has run then), and :class:`ScribeflowError` when it goes
    away after taking it (the run was stopped with it: not to be run again unasked)."""
    answer = _ask(address, {"argv": argv, "env": dict(env), "cwd": cwd or os.getcwd()}, output)
    if "refused" in answer:
        raise RunHostUnavailable(f"the run host at {address} refused the run: {answer['refused']}")
    return int(answer["code"])


def _ask(address: str | Path, message: dict, output: int) -> dict:
    """Send ``message`` with ``output`` to the host at ``address``; its one answer."""
    from multiprocessing.connection import Connection

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(address))
        socket.send_fds(sock, [HELLO], [output])
    except OSError as exc:
        sock.close()
        raise RunHostUnavailable(f"no run host at {address}: {exc.strerror or exc}") from None
    request = json.dumps(message).encode()
    conn = Connection(sock.detach())
    try:
        try:
            conn.send_bytes(request)
        except OSError as exc:  # it never read the request
            raise RunHostUnavailable(f"the run host at {address} went away: {exc}") from None
        try:
            answer = json.loads(conn.recv_bytes())
        except (EOFError, OSError) as exc:
            raise ScribeflowError(f"the run host at {address} went away during the run: "
                                  f"{exc or 'connection closed'}") from None
    finally:
        conn.close()
    return answer
