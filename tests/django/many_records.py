"""Many task records at once, written by PostgreSQL itself (generate_series: a million in
seconds, where the ORM takes minutes), shaped like a production table's.

Over the last 60 days, newest last: 98% finished (1 in 17 FAILED, with a traceback; the
rest SUCCESSFUL, with a return value), the newest 2% READY or RUNNING; eight task paths,
three of them under `accounts.tasks.`; one in five on the "long" queue, one in ten on the
"jobs" backend. Each has one attempt. Record number n has the id md5(n).
"""

from __future__ import annotations

from datetime import datetime
from hashlib import md5

TASK_PATHS = (
    "accounts.tasks.send_welcome_email", "accounts.tasks.send_password_reset", "accounts.tasks.close_account",
    "billing.tasks.charge", "billing.tasks.send_invoice", "reports.tasks.rebuild_report",
    "webhooks.tasks.deliver", "search.tasks.reindex",
)

_FILL = """
INSERT INTO cloudtasks_taskrecord (
    id, task_path, backend, queue_name, priority, run_after, args, kwargs, enqueued_at, status,
    generation, sent_at, check_after, send_failures, send_error, started_at, last_attempted_at,
    finished_at, attempts, return_value, lease_token, lease_expires_at
)
SELECT
    md5(n::text), (%(paths)s::text[])[1 + n %% 8], CASE WHEN n %% 10 = 0 THEN 'jobs' ELSE 'default' END,
    CASE WHEN n %% 5 = 0 THEN 'long' ELSE 'default' END, 0, NULL,
    jsonb_build_array(n), jsonb_build_object('locale', 'en'), enqueued, status,
    0, enqueued + interval '50 milliseconds', enqueued + interval '5 minutes', 0, '', started, started,
    CASE WHEN finished THEN started + interval '500 milliseconds' END,
    jsonb_build_array(jsonb_build_object(
        'worker_id', 'web-' || (n %% 16), 'started_at', started,
        'finished_at', CASE WHEN finished THEN started + interval '500 milliseconds' END,
        'error', CASE WHEN status = 'FAILED' THEN jsonb_build_object(
            'exception_class_path', 'billing.errors.CardDeclined',
            'traceback', 'Traceback (most recent call last):' || repeat(
                E'\\n  File "/app/billing/tasks.py", line 42, in charge\\n    gateway.charge(order)', 12
            ) || E'\\nbilling.errors.CardDeclined: the card was declined'
        ) END
    )),
    CASE WHEN status = 'SUCCESSFUL' THEN to_jsonb('Hello user ' || n) END,
    CASE WHEN status = 'RUNNING' THEN md5('lease' || n) ELSE '' END,
    CASE WHEN status = 'RUNNING' THEN %(now)s + interval '30 seconds' END
FROM (
    SELECT n, enqueued, enqueued + interval '100 milliseconds' AS started, status,
           status IN ('SUCCESSFUL', 'FAILED') AS finished
    FROM (
        SELECT n, %(now)s - (%(count)s - n) * (interval '60 days' / %(count)s) AS enqueued,
               CASE WHEN n > %(count)s * 0.98 THEN CASE WHEN n %% 2 = 0 THEN 'READY' ELSE 'RUNNING' END
                    WHEN n %% 17 = 0 THEN 'FAILED' ELSE 'SUCCESSFUL' END AS status
        FROM generate_series(1, %(count)s) AS n
    ) AS numbered
) AS timed
"""


def fill(cursor, count: int, now: datetime) -> None:
    """Add `count` records (on PostgreSQL) through `cursor`, the newest enqueued at `now`;
    then ANALYZE, so that the planner knows the table as it is."""
    cursor.execute(_FILL, {"paths": list(TASK_PATHS), "count": count, "now": now})
    cursor.execute("ANALYZE cloudtasks_taskrecord")


def record_id(n: int) -> str:
    """The id of record number `n` (from 1)."""
    return md5(str(n).encode()).hexdigest()
