"""What the push handler accepts, as the settings give or imply it.

It follows from TASKS (`push_auth`): the invoker emails are the SERVICE_ACCOUNT_EMAIL of
every queue with the HTTP target, the audiences their AUDIENCE (by default the handler's
URL), the local signing key the backends' LOCAL_SIGNING_KEY. The optional setting
`CLOUD_TASKS_AUTH` overrides any of them; a key left out (or empty) is derived:
    AUDIENCE       the `aud` the token must carry, as the enqueuing side requests it
    INVOKER_EMAILS the service accounts Cloud Tasks calls as
    ISSUERS        accepted `iss` values; default Google's
    JWKS_URL       where the signing keys are published; default Google's
                   (cloudtasks.auth.signing_keys fetches and caches them)
    LOCAL_SIGNER   path of the local signing key: trust only it instead (local runs,
                   DEBUG on; see cloudtasks.auth.local_signing)
Verifying a token against it: cloudtasks.auth.verify.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from cloudtasks.config.backends import cloud_tasks_options
from cloudtasks.config.options import BackendOptions, HttpTarget

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
SETTING = "CLOUD_TASKS_AUTH"
SETTING_KEYS = ("AUDIENCE", "INVOKER_EMAILS", "ISSUERS", "JWKS_URL", "LOCAL_SIGNER")


@dataclass(frozen=True)
class PushAuth:
    """What the push handler accepts, as the settings give or imply it."""

    audiences: frozenset[str]
    invoker_emails: frozenset[str]
    issuers: tuple[str, ...] = GOOGLE_ISSUERS
    jwks_url: str = GOOGLE_JWKS_URL
    local_signer: str = ""  # the local signing key's file; "": trust Google's keys


@dataclass(frozen=True)
class HttpQueue:
    """A queue that pushes to the handler: what its tokens carry, and where TASKS says so."""

    alias: str
    queue_name: str
    audience: str
    invoker_email: str


def http_queues(backends: Mapping[str, BackendOptions]) -> list[HttpQueue]:
    """Every queue of `backends` (options by alias) whose tasks the handler runs."""
    return [
        HttpQueue(alias, name, route.target.audience, route.target.service_account_email)
        for alias, options in backends.items()
        for name, route in options.queues.items()
        if isinstance(route.target, HttpTarget)
    ]


def local_signing_keys(backends: Mapping[str, BackendOptions]) -> set[str]:
    """The LOCAL_SIGNING_KEY of every backend that names one."""
    return {options.local_signing_key for options in backends.values() if options.local_signing_key}


def given_auth() -> dict[str, Any]:
    """The keys CLOUD_TASKS_AUTH gives a value; an empty one counts as not given, so that
    settings can pass an unset environment variable through."""
    return {key: value for key, value in getattr(settings, SETTING, {}).items() if value not in ("", None, [], ())}


@functools.cache
def push_auth() -> PushAuth:
    """What the handler accepts: CLOUD_TASKS_AUTH where it gives a value, TASKS elsewhere."""
    return accepted_by(given_auth(), cloud_tasks_options())


def accepted_by(given: Mapping[str, Any], backends: Mapping[str, BackendOptions]) -> PushAuth:
    """What the handler accepts when CLOUD_TASKS_AUTH gives `given` (its non-empty keys)
    and TASKS has the Cloud Tasks `backends` (options by alias)."""
    queues = http_queues(backends)
    audience = given.get("AUDIENCE")
    local_signers = sorted(local_signing_keys(backends))
    return PushAuth(
        audiences=frozenset([audience] if audience else {queue.audience for queue in queues}),
        invoker_emails=frozenset(given.get("INVOKER_EMAILS") or {queue.invoker_email for queue in queues}),
        issuers=tuple(given.get("ISSUERS", GOOGLE_ISSUERS)),
        jwks_url=given.get("JWKS_URL", GOOGLE_JWKS_URL),
        # Several keys are refused by `manage.py check` (checks.handler_auth_errors).
        local_signer=str(given.get("LOCAL_SIGNER") or (local_signers[0] if local_signers else "")),
    )


@receiver(setting_changed)
def _forget_accepted(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING, "DEBUG", "TASKS"):
        push_auth.cache_clear()
