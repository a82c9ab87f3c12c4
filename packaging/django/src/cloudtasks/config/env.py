"""The environment variables Django reads, named once.

The infrastructure stack sets these on the web service and the worker jobs; a test
checks that the names the stack sets are exactly these.
"""

# Set by the stack: every Cloud Tasks queue, as one JSON object by django.tasks queue
# name. Its format is cloudtasks.queue_env's.
QUEUES = "CLOUD_TASKS_QUEUES"

# Set by the stack for tasks pushed over HTTP to the web service.
HANDLER_URL = "CLOUD_TASKS_HANDLER_URL"  # https://.../tasks/run/
OIDC_AUDIENCE = "CLOUD_TASKS_OIDC_AUDIENCE"

# Local runs only.
EMULATOR_HOST = "CLOUD_TASKS_EMULATOR_HOST"  # host:port of gcloud-tasks-emulator
LOCAL_KEY_FILE = "CLOUD_TASKS_LOCAL_KEY_FILE"  # the local signing key (cloudtasks.auth.local_signing)

# Set by Cloud Run itself on job executions: retries of this task so far, from 0; the
# execution, and this task's index within it.
TASK_ATTEMPT = "CLOUD_RUN_TASK_ATTEMPT"
EXECUTION = "CLOUD_RUN_EXECUTION"
TASK_INDEX = "CLOUD_RUN_TASK_INDEX"

# Django itself.
SECRET_KEY = "DJANGO_SECRET_KEY"
DEBUG = "DJANGO_DEBUG"
ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"
DATABASE_URL = "DATABASE_URL"
EMAIL_URL = "DJANGO_EMAIL_URL"  # smtp+starttls://user:password@host:587 (config/mail.py)
DEFAULT_FROM_EMAIL = "DJANGO_DEFAULT_FROM_EMAIL"

# Logs: "text" (the default: local runs, tests) or "json", one JSON object a line for
# Cloud Logging, which the stack sets on Cloud Run; its traces are the project's.
LOG_FORMAT = "DJANGO_LOG_FORMAT"
PROJECT = "GOOGLE_CLOUD_PROJECT"

# Every name the stack may set; the contract test compares against this.
STACK_SET = frozenset(
    {
        QUEUES, HANDLER_URL, OIDC_AUDIENCE, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, EMAIL_URL, DEFAULT_FROM_EMAIL,
        LOG_FORMAT, PROJECT,
    }
)
