"""gunicorn's settings for the web service (the Dockerfile's CMD loads this module).

Timeouts, from the outside in (tests/test_timeouts.py holds them to these relations):

- Cloud Tasks waits DISPATCH_DEADLINE (600 s, cloudtasks.config.options) for an HTTP task's
  answer, then counts the attempt as failed and retries it.
- Cloud Run's request timeout for the service is the same 600 s (stacks/app_stack.py).
  Cloud Run answers 504 at its timeout but does not stop the code that still runs.
- So the code is stopped here, first: a sync worker serves one request at a time, and
  the arbiter kills a worker whose request has run REQUEST_TIMEOUT (540 s;
  `WEB_REQUEST_TIMEOUT` overrides it, for tests). The 60 s between this and the deadline
  cover the wait for an instance to start. An HTTP task therefore never runs while Cloud
  Tasks retries it: it has answered, or its worker is gone. The clock is the request's,
  not gunicorn's heartbeat `timeout` (turned off): an instance billed by request idles
  with its CPU throttled, and a heartbeat clock would kill the idle workers of an instance
  frozen that long, failing the request that wakes it (config/request_timeout.py).
  (A threaded worker would not do: one worker's requests share its slot, and SIGABRT
  reaches its main thread, not the stuck request's.)
- When Cloud Run stops an instance it sends SIGTERM, and SIGKILL 10 s later. Workers get
  `graceful_timeout` (8 s) to finish their requests. A task still running 1.5 s before
  that is interrupted (`post_worker_init` below, cloudtasks/run/shutdown.py): its
  transaction rolls back, it gives its lease back and answers 503, and Cloud Tasks runs
  it again at once: handed back. One that cannot be interrupted is killed with its
  worker, and taken over once its lease expires.

Cloud Run's proxy buffers requests and responses, so sync workers are not held up by
slow clients. The service sends an instance at most `workers` requests at a time
(max_instance_request_concurrency in the stack), and starts more instances for more.

Why sync workers, four of them, preloaded (benchmarks/throughput.py, docs/performance.md):

- A request costs a sync worker the least CPU: 0.61 ms of gunicorn and Django for an
  empty answer, against 0.76 ms under gthread (2 workers x 4 threads) and 3.45 ms under
  gunicorn's ASGI worker (an event loop, and a thread hop to the sync view). A push is
  CPU and waits on the database; it does not wait on clients (above), which is what
  threads and event loops are for. And threads would lose what the timeouts above stand
  on: the arbiter's kill of a stuck request, and SIGALRM reaching the task (main thread).
- Four per 1-vCPU instance: enough processes to fill the CPU while the others wait on the
  database. On 2 CPUs with PostgreSQL on loopback, 1 to 2 workers per CPU drained tasks
  fastest; a task in production also waits for the network (Cloud SQL), so more
  workers per CPU are needed to keep it busy. Each worker holds at most two database
  connections: the stack's budget counts instances x workers x 2 (stacks/connection_budget.py).
- `preload_app`: the arbiter imports Django, the app and its URLconf (config/wsgi.py)
  once, and workers fork ready (shared memory pages, no import per worker): a new instance, or a worker that replaces
  a killed one, serves at once. Nothing connects or starts a thread at import (database
  connections, the Cloud Tasks client and the lease thread come with first use, in the
  worker; cloudtasks/lease.py forgets its thread at fork).
"""

import signal
from typing import Any

from config.request_timeout import RequestTimeout, seconds_from_environment

REQUEST_TIMEOUT_VARIABLE = "WEB_REQUEST_TIMEOUT"
REQUEST_TIMEOUT = seconds_from_environment(REQUEST_TIMEOUT_VARIABLE, default=540)

# gunicorn binds 0.0.0.0:$PORT by itself when PORT is set, as Cloud Run (and the image) set it.
worker_class = "sync"
workers = 4  # one request at a time each; about 80 MB each (measured), within the service's 512 MiB
timeout = 0  # no heartbeat timeout: the request timeout below stands in for it (see the docstring)
graceful_timeout = 8
preload_app = True  # see the docstring

_request_timeout = RequestTimeout(REQUEST_TIMEOUT)
when_ready = _request_timeout.when_ready
pre_fork = _request_timeout.pre_fork
post_fork = _request_timeout.post_fork
child_exit = _request_timeout.child_exit
pre_request = _request_timeout.pre_request
post_request = _request_timeout.post_request


def post_worker_init(worker: Any) -> None:
    """On SIGTERM, interrupt a task still running 1.5 s before the worker is killed, so
    that it gives its lease back (cloudtasks.run.shutdown); gunicorn's own handler still runs."""
    from cloudtasks.run import shutdown

    grace = max(worker.cfg.graceful_timeout - shutdown.HAND_BACK_SECONDS, 0.5)
    shutdown.on_sigterm(grace=grace, then=signal.getsignal(signal.SIGTERM))
