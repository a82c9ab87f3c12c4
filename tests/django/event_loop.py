"""Running a coroutine from a test, as an ASGI server would run the code that awaits it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Await `coroutine` in a new event loop; then close the database connections its
    sync code opened (Django's `a...` methods run it in asgiref's thread-sensitive
    thread), as Django does when a request finishes. A connection left open there
    would outlive the test database."""

    async def run() -> T:
        try:
            return await coroutine
        finally:
            await sync_to_async(connections.close_all, thread_sensitive=True)()

    return asyncio.run(run())
