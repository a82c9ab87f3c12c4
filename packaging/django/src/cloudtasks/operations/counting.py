"""Counting records up to a cap, not across the whole table.

PostgreSQL keeps no row count: COUNT(*) reads every row it counts, which took the admin's
list 1.33 s at a million records. A count with a LIMIT reads at most CAP + 1 index
entries, and says "more than CAP" beyond that; a person narrows the list down with its
filters rather than reads a thousand pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import QuerySet

CAP = 1000


@dataclass(frozen=True)
class CappedCount:
    value: int  # exact up to the cap, else the cap
    more: bool  # there are more than `value`

    def __str__(self) -> str:
        return f"more than {self.value}" if self.more else str(self.value)


def capped_count(queryset: QuerySet, cap: int = CAP) -> CappedCount:
    """How many rows `queryset` has, counting at most `cap` + 1. It keeps its ordering,
    so that an index that serves the order serves the count too."""
    counted = queryset[: cap + 1].count()
    return CappedCount(min(counted, cap), counted > cap)


class CappedPaginator(Paginator):
    """A paginator over at most CAP rows: the pages past them are not offered."""

    @cached_property
    def capped(self) -> CappedCount:
        return capped_count(self.object_list)

    @cached_property
    def count(self) -> int:
        return self.capped.value
