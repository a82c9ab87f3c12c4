"""The most connections the app can hold to PostgreSQL at once, checked at synth against the
database's max_connections: the stack's declared concurrency fits by construction.

What holds connections, and how many (docs/deploy.md explains each):

- each process that runs tasks holds at most CONNECTIONS_PER_PROCESS: its own (a gunicorn
  sync worker serves one request at a time, a job execution runs one task), and one for
  renewing the lease of the task it runs (cloudtasks/run/lease.py: one per process, however
  many renewals);
- the web service: its most instances x gunicorn workers, each such a process;
- each queue's job: at most its `max_running` executions use the database at once (the
  slots of cloudtasks/run/slots.py; the schedules that run on the queue's job take its slots
  too, the outbox flush among them); each such a process;
- the migrate job: one;
- job executions waiting for a slot: each connects for a few milliseconds a poll, a
  handful at once at most, so POLL_HEADROOM of them (one that finds the server full
  waits and polls again, cloudtasks/run/refusals.py);
- PostgreSQL keeps `superuser_reserved_connections` (3 by default) for superusers, which
  the app's role is not (Cloud SQL's users are not superusers either).

Raising a number here (more web instances, more running executions) needs a database
that allows more: the check refuses the stack, naming every part, before anything is
deployed that could be refused at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CONNECTIONS_PER_PROCESS = 2  # its own, and its lease renewal's
MIGRATE_CONNECTIONS = 1
POLL_HEADROOM = 2
# https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-SUPERUSER-RESERVED-CONNECTIONS
SUPERUSER_RESERVED_CONNECTIONS = 3
# PostgreSQL's own ceiling for max_connections (MAX_BACKENDS, src/include/postmaster/postmaster.h).
MAX_CONNECTIONS_CEILING = 262143


class ConnectionBudgetExceeded(ValueError):
    pass


class InvalidConnectionLimit(ValueError):
    """The database's max_connections is not given, or is not one PostgreSQL can have."""


@dataclass(frozen=True)
class ConnectionBudget:
    web_instances: int  # the web service's max_instance_count
    web_workers: int  # gunicorn workers per instance
    max_running: Mapping[str, int]  # running job executions, by queue name

    def parts(self) -> list[tuple[str, int]]:
        """What holds connections, and how many, in words."""
        per = CONNECTIONS_PER_PROCESS
        return [
            (f"web service {self.web_instances} instances x {self.web_workers} gunicorn workers x {per}",
             self.web_instances * self.web_workers * per),
            *((f"queue {name!r} {running} running job executions x {per}", running * per)
              for name, running in self.max_running.items()),
            ("migrate job", MIGRATE_CONNECTIONS),
            ("job executions polling for a slot", POLL_HEADROOM),
            ("superuser_reserved_connections", SUPERUSER_RESERVED_CONNECTIONS),
        ]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.parts())

    @property
    def app_connections(self) -> int:
        """The most the app's own processes hold at once: the total, less what PostgreSQL
        keeps for superusers (the connections alert compares the database's count with it)."""
        return self.total - SUPERUSER_RESERVED_CONNECTIONS

    def check_fits(self, max_connections: int, *, limit: str, raise_it: str) -> None:
        """ConnectionBudgetExceeded unless the total fits `max_connections`; `limit` says
        where that number comes from, `raise_it` how to raise it."""
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or not (
            1 <= max_connections <= MAX_CONNECTIONS_CEILING
        ):
            raise InvalidConnectionLimit(
                f"max_connections is {max_connections!r} ({limit}); it must be a whole number from 1 to "
                f"{MAX_CONNECTIONS_CEILING}"
            )
        if self.total <= max_connections:
            return
        itemized = "; ".join(f"{what}: {count}" for what, count in self.parts())
        raise ConnectionBudgetExceeded(
            f"The app may hold {self.total} connections to PostgreSQL at once, but the database allows "
            f"{max_connections} ({limit}). They are: {itemized}. Lower max_running of a queue (QUEUES) or "
            f"WEB_MAX_INSTANCES in stacks/app_stack.py, or {raise_it} (docs/deploy.md, Database connections)."
        )
