"""gunicorn's arbiter kills a worker whose current request has run too long, and never an
idle worker, however long the instance stood still.

gunicorn's own `timeout` counts from a worker's last heartbeat, and an idle sync worker
beats only every timeout/2. Billed by request (cpu_idle), Cloud Run throttles an idle
instance's CPU to almost nothing, arbiter and workers alike; after minutes of that, the
arbiter may run before a worker's next beat and kill it, failing the request that woke
the instance (docs/deploy.md, "Billed by request"). So config/gunicorn.py turns that
timeout off (`timeout = 0`: gunicorn 27.0.1's `Arbiter.murder_workers` then kills nobody)
and this counts from each request's start instead, with gunicorn's server hooks only
(https://gunicorn.org/reference/settings/#server-hooks):

- `pre_fork` (arbiter) gives the worker about to be forked a free slot of memory the
  arbiter shares with its children (an anonymous shared mmap); `post_fork` (the worker)
  writes its pid there; `child_exit` (arbiter) frees the slot of a worker that exited.
- `pre_request` writes the request's start, `post_request` clears it (the sync worker
  calls it in a `finally`). time.monotonic() is CLOCK_MONOTONIC: one clock for every
  process of a Linux machine, so the arbiter can compare it with its own.
- `when_ready` (arbiter) starts a thread that checks the slots every second and, as
  gunicorn does with a stale heartbeat, logs `WORKER TIMEOUT`, sends SIGABRT (the worker
  exits) and, if the worker is still there at a later check, SIGKILL. The arbiter reaps
  the worker and forks another, as for any worker that exits.
- A request's time is counted by those checks, each adding the time since the one
  before but at most two intervals: time the instance stood still (the checks stopped
  with everything else) does not count. So a request that was under way when the CPU
  was taken away (or a start its worker had not yet cleared after answering) is not
  judged by the freeze, while one that is stuck still adds a second a second.

The arbiter forks with that thread alive; a worker inherits no lock of it that it needs
(the thread holds none but logging's, which logging re-makes in a forked child).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import mmap
import os
import signal
import threading
import time
from typing import Any

CHECK_INTERVAL_SECONDS = 1.0  # as often as gunicorn's arbiter checks heartbeats
# Slots for the workers alive at once: `workers`, twice that while a reload (SIGHUP)
# starts the new ones before stopping the old, more after SIGTTIN.
CAPACITY = 64


def seconds_from_environment(variable: str, default: float) -> float:
    """The number of seconds in the environment variable `variable`, else `default`."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{variable} must be a number of seconds above 0, not {text!r}")
    return seconds


class RequestTimeout:
    """The hooks, for config/gunicorn.py, of a guard that kills a worker whose request
    has run more than `seconds`. Made in the arbiter before it forks a worker."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        memory = mmap.mmap(-1, CAPACITY * 16)  # anonymous and MAP_SHARED: forked workers write into it
        # Each a single aligned 8-byte store or load: a reader never sees half of a value.
        self._pids = (ctypes.c_int64 * CAPACITY).from_buffer(memory)
        self._starts = (ctypes.c_double * CAPACITY).from_buffer(memory, CAPACITY * 8)  # 0: no request
        self._free = list(range(CAPACITY))  # the arbiter's
        self._aborted: set[int] = set()  # pids sent SIGABRT, by the arbiter's check
        # The check thread's: per slot, the request start it has seen and the seconds it
        # has counted of it; and when it last checked.
        self._counted: dict[int, tuple[float, float]] = {}
        self._last_check = time.monotonic()

    # In the arbiter.

    def pre_fork(self, server: Any, worker: Any) -> None:
        if not self._free:
            raise RuntimeError(f"more than {CAPACITY} gunicorn workers at once; config/request_timeout.py "
                               f"has a slot for {CAPACITY}")
        worker.request_slot = self._free.pop()
        self._pids[worker.request_slot] = 0
        self._starts[worker.request_slot] = 0.0

    def child_exit(self, server: Any, worker: Any) -> None:
        self._pids[worker.request_slot] = 0
        self._starts[worker.request_slot] = 0.0
        self._aborted.discard(worker.pid)
        self._free.append(worker.request_slot)

    def when_ready(self, server: Any) -> None:
        threading.Thread(target=self._check_forever, args=(server.log,), name="request-timeout",
                         daemon=True).start()

    def _check_forever(self, log: Any) -> None:
        while True:
            time.sleep(CHECK_INTERVAL_SECONDS)
            self.check(log)

    def check(self, log: Any) -> None:
        """Abort, then kill, each worker whose request has run more than `seconds` of
        the time the instance ran (see the module's docstring)."""
        now = time.monotonic()
        # The time since the last check, but a freeze counted as no more than two intervals.
        elapsed = min(now - self._last_check, 2 * CHECK_INTERVAL_SECONDS)
        self._last_check = now
        for slot in range(CAPACITY):
            pid = self._pids[slot]
            started = self._starts[slot]
            # pid 0: the slot is free or its worker has not started (os.kill(0) would signal us all).
            if pid <= 0 or not started:
                self._counted.pop(slot, None)
                continue
            seen, counted = self._counted.get(slot, (0.0, 0.0))
            counted = counted + elapsed if seen == started else 0.0  # a request first seen counts from 0
            self._counted[slot] = (started, counted)
            if counted <= self.seconds:
                continue
            if pid in self._aborted:
                sig = signal.SIGKILL
            else:
                log.critical("WORKER TIMEOUT (pid:%s): its request ran more than %ss", pid, self.seconds)
                self._aborted.add(pid)
                sig = signal.SIGABRT
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile; the arbiter reaps it
                os.kill(pid, sig)

    # In the worker.

    def post_fork(self, server: Any, worker: Any) -> None:
        self._pids[worker.request_slot] = worker.pid

    def pre_request(self, worker: Any, req: Any) -> None:
        self._starts[worker.request_slot] = time.monotonic()

    def post_request(self, worker: Any, req: Any, environ: Any, resp: Any) -> None:
        self._starts[worker.request_slot] = 0.0

