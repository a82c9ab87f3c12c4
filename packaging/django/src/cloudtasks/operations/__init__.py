"""Operations: what keeps the records and Cloud Tasks in step over time.

The flush re-sends what the outbox still holds and what Cloud Tasks gave up on (flush,
repairing rows it cannot read: repair); a person re-drives a failed task (redrive); the
prune deletes old finished records (prune); the admin and `list_tasks` count up to a cap
(counting).
"""
