from __future__ import annotations

from django.tasks.exceptions import InvalidTask


class InvalidTaskArguments(InvalidTask, TypeError):
    """Arguments JSON cannot carry unchanged. A TypeError too, as Django's own backends
    raise for arguments that are not JSON."""
