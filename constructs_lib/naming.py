"""Names derived from a prefix that must still fit Google's length limits.

A derived name that is too long is cut and given a short hash of the full name,
so it always fits, is stable from one synth to the next, and two long prefixes that
share their start still get different names.
"""

from __future__ import annotations

import hashlib
import re

HASH_LENGTH = 6
SERVICE_ACCOUNT_ID_MAX = 30


def fit(base: str, suffix: str, max_length: int) -> str:
    """`base-suffix` if it fits in max_length, else `base[:k]-<hash>-suffix`."""
    full = f"{base}-{suffix}" if suffix else base
    if len(full) <= max_length:
        return full
    tail = f"-{digest(full)}-{suffix}" if suffix else f"-{digest(full)}"
    # A cut may leave a trailing "-", which no Google name may have before our "-".
    head = base[: max_length - len(tail)].rstrip("-_")
    return head + tail


def digest(text: str) -> str:
    """A short hash of `text`: the same for the same text, in every synth."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def slug(text: str) -> str:
    """Lowercase letters, digits and single hyphens: safe in every Google name we derive."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def service_account_id(base: str, suffix: str) -> str:
    """A service account id (6-30 characters, lowercase, starting with a letter) from any name."""
    head = slug(base)
    if not head[:1].isalpha():
        head = f"sa-{head}".rstrip("-")
    return fit(head, suffix, SERVICE_ACCOUNT_ID_MAX)
