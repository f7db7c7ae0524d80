"""A real model host (:class:`scribeflow.hosts.model_host.ModelHost`) serving on a thread of
the test's process, on a Unix socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scribeflow.hosts.model_host import ModelHost


@contextmanager
def served(address: Path, max_models: int = 2) -> Iterator[ModelHost]:
    """A model host at ``address`` serving on a daemon thread once it is ready; stopped at
    the end, its thread ended and its socket removed."""
    host = ModelHost(address, max_models=max_models)
    ready = threading.Event()
    thread = threading.Thread(target=host.serve, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield host
    finally:
        host.stop()
        thread.join(10)
    assert not thread.is_alive() and not Path(host.address).exists()
