"""Google's documented limits that the constructs check at synth time, each with its source.

Kept in one place so a change in Google's documentation is a one-line change here.
"""

from __future__ import annotations

import re

# --- Cloud Tasks (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues)
# retryConfig.maxAttempts "must be >= -1" (-1: unlimited); no upper bound is documented,
# and neither is one for maxDoublings. Durations have no documented bounds either.
UNLIMITED_ATTEMPTS = -1
MAX_DISPATCHES_PER_SECOND = 500  # rateLimits.maxDispatchesPerSecond (queue.proto)
MAX_CONCURRENT_DISPATCHES = 5000  # rateLimits.maxConcurrentDispatches (queue.proto)

# --- Cloud Run v2 jobs (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs)
# The v2 API documents no rule for job ids; this is the rule the API enforces (v1
# error text). The same name is the queue's, whose own rule (1-100 letters, digits,
# hyphens) is looser.
JOB_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
JOB_NAME_RULE = "1-63 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen"
JOB_TASK_TIMEOUT_SECONDS = 168 * 3600  # per attempt; above 24h is Preview
JOB_MAX_RETRIES = 10  # run/docs/quotas: "max task retries 10"
JOB_MAX_TASK_COUNT = 10_000
# CPU values a job may have (run/docs/configuring/jobs/cpu) and the memory range each
# allows in MiB (run/docs/configuring/jobs/memory-limits: 512Mi at least on gen2).
JOB_CPU_MEMORY_MIB = {
    "1": (512, 4 * 1024),
    "2": (512, 8 * 1024),
    "4": (2 * 1024, 16 * 1024),
    "6": (4 * 1024, 24 * 1024),
    "8": (4 * 1024, 32 * 1024),
}

# --- Cloud Scheduler (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs)
SCHEDULER_NAME = re.compile(r"[A-Za-z0-9_-]{1,500}")
SCHEDULER_NAME_RULE = "1-500 letters, digits, hyphens or underscores"
SCHEDULER_MIN_ATTEMPT_DEADLINE = 15  # seconds, HTTP targets
SCHEDULER_MAX_ATTEMPT_DEADLINE = 30 * 60
SCHEDULER_MAX_RETRY_COUNT = 5  # retryConfig.retryCount: "> 5 and negative values are not allowed"
SCHEDULER_DESCRIPTION_MAX = 500

# --- IAM service accounts: ids are 6-30 characters, `[a-z]([-a-z0-9]*[a-z0-9])`.
SERVICE_ACCOUNT_ID = re.compile(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])")

# --- Cloud Logging sampling for Cloud Tasks
SAMPLING_RATIO_RANGE = (0.0, 1.0)
