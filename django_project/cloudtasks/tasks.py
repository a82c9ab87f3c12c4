import logging

from django.tasks import task
from django.utils import timezone

logger = logging.getLogger(__name__)


@task
def heartbeat() -> None:
    """Run every minute by the stack's schedule (`run_task --task cloudtasks.tasks.heartbeat`).

    Today it proves that scheduled job executions run. It is the slot where the
    transactional outbox will re-send the tasks still pending after their commit.
    """
    # key=value, like django.tasks' own log lines, so log queries can match on fields.
    logger.info("Heartbeat at=%s", timezone.now().isoformat())
