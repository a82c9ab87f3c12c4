"""Names of the environment variables a producer needs to enqueue onto a QueueWorker.

`QueueWorker.producer_environment` maps these names to values; stacks set them on
whatever enqueues (a web service, the worker itself). The consuming application reads
the same names; a test in this repository checks that both sides agree.
"""

QUEUE_PATH = "CLOUD_TASKS_QUEUE_PATH"  # projects/P/locations/L/queues/Q
INVOKER_EMAIL = "CLOUD_TASKS_INVOKER_EMAIL"  # the identity Cloud Tasks calls with
JOB_PATH = "CLOUD_RUN_JOB_PATH"  # projects/P/locations/L/jobs/J, the job tasks start

ALL = (QUEUE_PATH, INVOKER_EMAIL, JOB_PATH)
