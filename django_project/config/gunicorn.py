"""gunicorn's settings for the web service (the Dockerfile's CMD loads this module).

Timeouts, from the outside in (tests/test_timeouts.py holds them to these relations):

- Cloud Tasks waits DISPATCH_DEADLINE (600 s, cloudtasks.options) for an HTTP task's
  answer, then counts the attempt as failed and retries it.
- Cloud Run's request timeout for the service is the same 600 s (stacks/app_stack.py).
  Cloud Run answers 504 at its timeout but does not stop the code that still runs.
- So the code is stopped here, first: a sync worker serves one request at a time, and
  the arbiter kills a worker whose request has run `timeout` (540 s). The 60 s between
  this and the deadline cover the wait for an instance to start. An HTTP task therefore
  never runs while Cloud Tasks retries it: it has answered, or its worker is gone.
  (A threaded worker would not do: its arbiter heartbeat comes from the main thread,
  which keeps beating while a request thread is stuck.)
- When Cloud Run stops an instance it sends SIGTERM, and SIGKILL 10 s later. Workers get
  `graceful_timeout` (8 s) to finish their requests; a task still running then is killed
  with its worker, its push fails, and Cloud Tasks runs it again later: handed back.

Cloud Run's proxy buffers requests and responses, so sync workers are not held up by
slow clients. The service sends an instance at most `workers` requests at a time
(max_instance_request_concurrency in the stack), and starts more instances for more.
"""

# gunicorn binds 0.0.0.0:$PORT by itself when PORT is set, as Cloud Run (and the image) set it.
worker_class = "sync"
workers = 4  # one request at a time each; about 80 MB each (measured), within the service's 512 MiB
timeout = 540
graceful_timeout = 8
