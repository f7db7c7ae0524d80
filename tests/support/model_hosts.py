"""A real model host (:class:`scribeflow.hosts.model_host.ModelHost`) serving on a thread of
the test's process, on a Unix socket."""

from __future__ import annotations

import threading

from scribeflow.hosts.model_host import ModelHost


def serve_in_thread(host: ModelHost) -> threading.Thread:
    """``host`` serving on a daemon thread, returned once it is ready."""
    ready = threading.Event()
    thread = threading.Thread(target=host.serve, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(30)
    return thread
