"""Google's limits that the constructs check at synth time, each with its source.

Kept in one place so a change in Google's documentation is a one-line change here.
Where Google's pages disagree, the comment says which one is followed and why.
"Provider" means hashicorp/terraform-provider-google, both lines the constructs run
on: v6.50.0, which cdktf's bindings (cdktf-cdktf-provider-google 16.12.1) wrap, and
8.x, which cdktn's (cdktn-provider-google 21.x) wrap; each behaviour cited below is the
same in the 8.0 source (the major release's merge, 7fcbe29aa0) and the 8.7.0 schema
(docs/engines.md lists what differs between the lines).
"""

from __future__ import annotations

import re

# --- Cloud Tasks queues ------------------------------------------------------------------
# https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues
# retryConfig.maxAttempts "must be >= -1" (-1: unlimited); no upper bound is documented.
UNLIMITED_ATTEMPTS = -1
MAX_DISPATCHES_PER_SECOND = 500  # rateLimits.maxDispatchesPerSecond (queue.proto)
MAX_CONCURRENT_DISPATCHES = 5000  # rateLimits.maxConcurrentDispatches (queue.proto)
# RetryConfig: minBackoff, maxBackoff and maxRetryDuration "will be truncated to the
# nearest second". The provider compares durations exactly (DurationDiffSuppress), so a
# fraction would show as a change on every plan: whole seconds only (options.RetryPolicy).
# RetryConfig defaults ("If unspecified when the queue is created, Cloud Tasks will pick
# the default"; the values are queue.yaml's): maxDoublings 16.
QUEUE_DEFAULT_MAX_DOUBLINGS = 16
# Provider (cloudtasks/resource_cloud_tasks_queue.go): expandCloudTasksQueueRetryConfig
# and ...StackdriverLoggingConfig drop every zero value (tpgresource.IsEmptyValue), so
# `max_doublings = 0` and `sampling_ratio = 0.0` never reach the API.

# --- Cloud Scheduler jobs ----------------------------------------------------------------
# https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs
SCHEDULER_NAME = re.compile(r"[A-Za-z0-9_-]{1,500}")  # "letters, numbers, hyphens, underscores"; 500 max
SCHEDULER_NAME_RULE = "1-500 letters, digits, hyphens or underscores"
SCHEDULER_MIN_ATTEMPT_DEADLINE = 15  # seconds, HTTP targets: "between 15 seconds and 30 minutes"
SCHEDULER_MAX_ATTEMPT_DEADLINE = 30 * 60
SCHEDULER_MAX_RETRY_COUNT = 5  # retryConfig.retryCount: "> 5 and negative values are not allowed"
SCHEDULER_DESCRIPTION_MAX = 500  # "can be up to 500 characters"
# retryConfig.maxDoublings default is 5. The provider (cloudscheduler/
# resource_cloud_scheduler_job.go, expandCloudSchedulerJobRetryConfig) drops a zero.
SCHEDULER_DEFAULT_MAX_DOUBLINGS = 5
# Schedules: https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules
# (unix-cron fields and special characters; "Cloud Scheduler does not support L"; the
# "alternative job format" is the App Engine cron syntax,
# https://cloud.google.com/appengine/docs/standard/scheduling-jobs-with-cron-yaml, whose
# grammar is Groc.g in GoogleCloudPlatform/appengine-java-standard). See schedules.py.
# timeZone: "must be a time zone name from the tz database" (default Etc/UTC). The
# names come from the tzdata package, not the host, so every host gives the same answer.

# --- Cloud Run jobs ----------------------------------------------------------------------
# https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs
# Job ids: Google's pages give a format for the v2 job id only through the API's error
# text (RFC 1035: lowercase letters, digits, hyphens; a letter first; no hyphen last) and
# no length for jobs anywhere we could find; services are refused from 50 characters
# (CreateServiceRequest.service_id: "must be less than 50 characters"). We keep the
# RFC 1035 label length, 63, which job names of that length created through the v2 API
# confirm (prefect-gcp names jobs "<30-character slug>-<32 hex digits>", 63 characters,
# and documents 63 as "the limit for Cloud Run job names"). The same name is the queue's,
# whose own rule (1-100 letters, digits, hyphens) is looser.
JOB_NAME_MAX = 63
JOB_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,%d}[a-z0-9])?" % (JOB_NAME_MAX - 2))
JOB_NAME_RULE = (
    f"1-{JOB_NAME_MAX} lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen"
)
# run/docs/create-jobs: task timeout up to 168 hours ("above 24 hours is Preview").
JOB_TASK_TIMEOUT_SECONDS = 168 * 3600
JOB_MAX_RETRIES = 10  # run/quotas: "Maximum number of retries per task: 10"
JOB_MAX_TASK_COUNT = 10_000  # run/docs/create-jobs: "up to 10,000 tasks"
# run/quotas: "Maximum number of running Job executions: 1000 per project and region".
MAX_RUNNING_EXECUTIONS_PER_REGION = 1000
# vCPUs a job may have and the memory each allows, in MiB.
# run/docs/configuring/jobs/cpu: 1, 2, 4, 6 or 8 vCPU; "4 vCPU: 2 to 16 GiB, 6 vCPU: 4 to
# 24 GiB, 8 vCPU: 4 to 32 GiB". The pages disagree on the floor for 1 and 2 vCPU: the
# cpu page's table says "128 MiB to 4 GiB" / "128 MiB to 8 GiB", while
# run/docs/configuring/jobs/memory-limits says "The minimum amount of memory you can
# configure in the second generation execution environment is 512 MiB", and jobs "only
# use the second generation execution environment" (run/docs/about-execution-environments).
# We follow 512 MiB: 128 MiB is the first generation's floor, which jobs cannot use.
# The cpu page also lists fractional vCPU (0.08-1) with requirements that only exist on
# services (concurrency 1, request-based billing); the jobs cpu page states "You must
# set a minimum of 1 CPU for a Cloud Run job", so fractions are refused.
JOB_CPU_MEMORY_MIB = {
    1: (512, 4 * 1024),
    2: (512, 8 * 1024),
    4: (2 * 1024, 16 * 1024),
    6: (4 * 1024, 24 * 1024),
    8: (4 * 1024, 32 * 1024),
}
# run/docs/configuring/jobs/environment-variables: "a maximum of 1000 environment
# variables per container". EnvVar.value: "the maximum length is 32768 bytes"; EnvVar.name:
# "Must not exceed 32768 characters" (v2 reference, EnvVar). The same limits hold for
# the env of a `jobs:run` override (Overrides.ContainerOverride.env is an EnvVar list).
MAX_ENV_VARS = 1000
MAX_ENV_VALUE_BYTES = 32_768
MAX_ENV_NAME_LENGTH = 32_768
# run/docs/configuring/jobs/containers: "a maximum of 1000 arguments per container".
MAX_ARGS = 1000
# Linux: one argv or envp string is at most MAX_ARG_STRLEN = 32 pages = 131,072 bytes
# including its terminating NUL (include/uapi/linux/binfmts.h), and no string can
# contain a NUL byte (execve(2)). An argument over that cannot reach the process.
MAX_ARG_BYTES = 131_072 - 1
# The container runtime contract (run/docs/container-contract#jobs-env-vars) sets these on
# every job task; a container variable of the same name is refused.
RESERVED_ENV = frozenset(
    {"CLOUD_RUN_JOB", "CLOUD_RUN_EXECUTION", "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_ATTEMPT", "CLOUD_RUN_TASK_COUNT"}
)

# Container images: the reference grammar of distribution/reference (regexp.go), which
# Docker and Cloud Run read: [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST], the path's components
# lowercase letters and digits joined by ".", "_", "__" or "-"s; a tag of up to 128
# word characters, "." and "-"; a digest ALGORITHM:HEX.
_IMAGE_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(
    rf"{_IMAGE_DOMAIN}?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*(?::\w[\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
IMAGE_RULE = (
    'a container image reference, REGISTRY/PATH[:TAG][@sha256:DIGEST] (e.g. '
    '"europe-west1-docker.pkg.dev/my-project/app/app:1"), its path in lowercase'
)

# --- Regions ----------------------------------------------------------------------------
# https://cloud.google.com/compute/docs/regions-zones: region names are
# <continent-or-country>-<area><number> ("us-central1", "europe-west10",
# "northamerica-northeast1"); a zone adds "-<letter>" and is not a region.
REGION = re.compile(r"[a-z]+(?:-[a-z]+)+[1-9][0-9]*")
REGION_RULE = 'a region such as "europe-west1" or "us-central1" (not a zone such as "europe-west1-b")'

# --- Secret Manager ---------------------------------------------------------------------
# secret-manager/docs/reference/rest/v1/projects.secrets/create: "A secret ID is a string
# with a maximum length of 255 characters and can contain uppercase and lowercase
# letters, numerals, and the hyphen (-) and underscore (_) characters."
SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
SECRET_PATH = re.compile(r"projects/([^/]+)/secrets/([A-Za-z0-9_-]{1,255})")
SECRET_RULE = 'a secret id (1-255 letters, digits, "-" or "_") or "projects/PROJECT/secrets/ID"'
# Cloud Run SecretKeySelector.version: "'latest' for the latest version, an integer for a
# specific version, or a version alias". Aliases (secret-manager/docs/
# assign-alias-to-secret-version): "must start with a letter, can be up to 63 characters
# long, and can contain letters, numbers, hyphens (-), and underscores (_)", and cannot
# be "Latest" or "New" in any case. Versions are numbered from 1.
SECRET_VERSION = re.compile(r"latest|[1-9][0-9]*|[A-Za-z][A-Za-z0-9_-]{0,62}")
SECRET_VERSION_RULE = '"latest", a version number (1, 2, ...) or a version alias (a letter, then up to 62 letters, digits, "-" or "_")'
SECRET_RESERVED_ALIASES = frozenset({"new"})  # "latest" is the keyword itself

# --- Labels -----------------------------------------------------------------------------
# https://cloud.google.com/resource-manager/docs/labels-overview#requirements: at most 64
# labels; keys and values at most 63 characters of lowercase letters, numeric characters,
# underscores and dashes ("international characters are allowed"); keys start with a
# lowercase letter or international character and are not empty.
MAX_LABELS = 64
MAX_LABEL_LENGTH = 63

# --- IAM --------------------------------------------------------------------------------
# iam/docs/service-accounts-create: account ids are 6-30 characters, [a-z]([-a-z0-9]*[a-z0-9]).
SERVICE_ACCOUNT_ID = re.compile(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])")
# Emails of service accounts, as the provider accepts them (verify/validation.go,
# PossibleServiceAccountNames): user-managed ...@PROJECT.iam.gserviceaccount.com, and
# Google-managed ones, all under gserviceaccount.com.
SERVICE_ACCOUNT_EMAIL = re.compile(r"[a-z0-9][a-z0-9-]*@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com")
SERVICE_ACCOUNT_EMAIL_RULE = 'a service account email, such as "worker@my-project.iam.gserviceaccount.com"'
# iam/docs/principal-identifiers: one identity is "user:EMAIL", "serviceAccount:EMAIL" or
# "principal://..." (one Google account, or one workforce or workload identity, ending in
# "/subject/SUBJECT"); "group:", "domain:" and "principalSet://" stand for many, and
# "allUsers" / "allAuthenticatedUsers" for anyone.
ONE_IDENTITY_MEMBER = re.compile(
    r"(?:user|serviceAccount):[^@\s:]+@[^@\s]+\.[^@\s.]+|principal://[^\s]+/subject/[^\s]+"
)
MANY_IDENTITIES_MEMBER = re.compile(r"(?:group:[^@\s:]+@[^@\s]+\.[^@\s.]+|domain:[^@\s:]+\.[^@\s.]+|principalSet://[^\s]+)")

# --- Cloud Logging sampling for Cloud Tasks ---------------------------------------------
SAMPLING_RATIO_RANGE = (0.0, 1.0)  # stackdriverLoggingConfig.samplingRatio: "0.0 to 1.0 inclusive"

# --- Cloud Monitoring alert policies ------------------------------------------------------
# https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies
# MetricThreshold.duration: "only values that are a multiple of a minute--e.g., 0, 60, 120,
# or 300 seconds--are supported". Aggregation.alignmentPeriod: "must be at least 60
# seconds"; "The maximum value ... is 104 weeks (2 years) for charts, and 90,000 seconds
# (25 hours) for alerting policies". AlertPolicy.notificationChannels: "projects/[PROJECT_ID_OR_NUMBER]/
# notificationChannels/[CHANNEL_ID]".
ALERT_DURATION_STEP = 60
ALERT_MIN_ALIGNMENT_PERIOD = 60
ALERT_MAX_ALIGNMENT_PERIOD = 90_000
NOTIFICATION_CHANNEL = re.compile(r"projects/[^/]+/notificationChannels/[^/]+")
NOTIFICATION_CHANNEL_RULE = 'a notification channel\'s name, "projects/PROJECT/notificationChannels/ID"'
