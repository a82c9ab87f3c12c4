"""`manage.py prune_tasks`: what the hourly schedule runs, by hand.

    prune_tasks                  delete finished records older than their backend's RETENTION
    prune_tasks --dry-run        say how many it would delete, and delete nothing
    prune_tasks --time-limit 600 go on longer than a scheduled run (default 120 s)

Only SUCCESSFUL and FAILED records are deleted (cloudtasks.operations.prune). Safe to run while
another prune runs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from cloudtasks.operations.prune import TIME_LIMIT_SECONDS, cutoffs, due, prune


class Command(BaseCommand):
    help = "Delete the records of tasks that finished longer ago than their backend's RETENTION."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
        parser.add_argument(
            "--time-limit", type=float, default=TIME_LIMIT_SECONDS,
            help=f"stop after this many seconds (default {TIME_LIMIT_SECONDS:g}); the next prune goes on",
        )

    def handle(self, *, dry_run: bool, time_limit: float, **options: Any) -> None:
        if not dry_run:
            self.stdout.write(f"pruned: {prune(time_limit=time_limit)}")
            return
        would = [
            f"{alias}={due(alias, cutoff).count()} (finished before {cutoff.isoformat()})"
            for alias, cutoff in sorted(cutoffs(timezone.now()).items())
        ]
        self.stdout.write(f"would prune: {' '.join(would) or 'nothing to prune'}")
