"""Airflow's own task supervisor loop, on a real child process that closes its output and
then takes a while to exit (as a task process that is still being torn down): with the exit
watch the loop wakes when the process exits; without it, it waits out a heartbeat interval."""

from __future__ import annotations

import selectors
import subprocess
import sys
import time
import weakref

import psutil
from airflow.sdk.execution_time import supervisor

from scribeflow_airflow.supervision import wake_on_task_exit, watched

#: The child closes its stdout at once, then exits after this long.
CHILD = "import os, time; os.close(1); time.sleep(0.3)"


class CountingSelector(selectors.DefaultSelector):
    """Counts the waits that ended with nothing ready (a timeout)."""

    timeouts = 0

    def select(self, timeout=None):
        events = super().select(timeout)
        if not events:
            self.timeouts += 1
        return events


def monitored_child(monkeypatch) -> tuple[supervisor.ActivitySubprocess, CountingSelector]:
    """An ``ActivitySubprocess`` as Airflow's supervisor holds it, made without an API server:
    a real child, its stdout in the selector, a heartbeat just sent."""
    # Airflow's default is 5 s; a shorter interval keeps the test short and changes nothing
    # in what it checks (whether a wait ran out)
    monkeypatch.setattr(supervisor, "MIN_HEARTBEAT_INTERVAL", 2)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE)
    proc = object.__new__(supervisor.ActivitySubprocess)
    selector = CountingSelector()
    now = time.monotonic()
    for name, value in {"pid": child.pid, "_process": supervisor.PsutilTracker(
            psutil.Process(child.pid)), "_exit_code": None, "_process_exit_monotonic": None,
            "_open_sockets": weakref.WeakKeyDictionary(), "selector": selector,
            "_terminal_state": None, "_task_end_time_monotonic": None,
            "_last_successful_heartbeat": now, "_last_heartbeat_attempt": now}.items():
        object.__setattr__(proc, name, value)
    stdout = child.stdout
    proc._open_sockets[stdout] = "stdout"
    selector.register(stdout, selectors.EVENT_READ,
                      (lambda f: bool(f.read1(4096)), proc._on_socket_closed))
    return proc, selector


def test_the_supervisor_wakes_when_the_task_process_exits(monkeypatch):
    proc, selector = monitored_child(monkeypatch)
    watched(supervisor.ActivitySubprocess._monitor_subprocess)(proc)
    assert proc._exit_code == 0
    assert selector.timeouts == 0  # woken by the stdout's end, then by the exit
    assert selector.get_map() is None or not selector.get_map()  # nothing left registered


def test_without_the_watch_the_supervisor_waits_out_an_interval(monkeypatch):
    """What the watch mends, on Airflow's loop as it is."""
    monkeypatch.setattr(supervisor.ActivitySubprocess, "_monitor_subprocess",
                        getattr(supervisor.ActivitySubprocess._monitor_subprocess,
                                "__wrapped__", supervisor.ActivitySubprocess._monitor_subprocess))
    proc, selector = monitored_child(monkeypatch)
    proc._monitor_subprocess()
    assert proc._exit_code == 0 and selector.timeouts >= 1


def test_the_watch_is_given_once(monkeypatch):
    monkeypatch.setattr(supervisor.ActivitySubprocess, "_monitor_subprocess",
                        supervisor.ActivitySubprocess._monitor_subprocess)
    assert wake_on_task_exit() and wake_on_task_exit()
    monitor = supervisor.ActivitySubprocess._monitor_subprocess
    assert monitor.watches_exit and not getattr(monitor.__wrapped__, "watches_exit", False)


def test_a_process_gone_already_is_supervised_as_before():
    calls = []
    proc = object.__new__(supervisor.ActivitySubprocess)
    object.__setattr__(proc, "pid", 2 ** 22 + 7)  # above Linux's largest pid: no pidfd
    watched(lambda self: calls.append(self))(proc)
    assert calls == [proc]
