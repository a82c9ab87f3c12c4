"""`manage.py flush_outbox`: what the every-minute schedule runs, by hand.

Sends the tasks still pending in the outbox, and again those Cloud Tasks gave up on
before they started (cloudtasks.operations.flush). Safe to run while another flush runs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cloudtasks.operations.flush import TIME_LIMIT_SECONDS, flush


class Command(BaseCommand):
    help = "Send the tasks the outbox still holds, and again those Cloud Tasks gave up on before they started."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--time-limit", type=float, default=TIME_LIMIT_SECONDS,
            help=f"stop after this many seconds (default {TIME_LIMIT_SECONDS:g}); the next flush goes on",
        )

    def handle(self, *, time_limit: float, **options: Any) -> None:
        self.stdout.write(f"flushed: {flush(time_limit=time_limit)}")
