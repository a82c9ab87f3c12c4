"""Who may call the push handler: verification of the OIDC token Cloud Tasks attaches.

Cloud Tasks calls the handler with `Authorization: Bearer <ID token>` minted by Google
for the queue's invoker service account. A request is let in only if the token is
signed by a trusted key, is unexpired, was issued by a trusted issuer for our audience,
and names an invoker by a verified email.

Production and local runs share this code and differ only in settings: production
trusts Google's published keys and issuers, local runs trust the key of
`cloudtasks.local_auth` (a file the emulator command writes), and its issuer, and
require each token to be bound to the very task it arrives with.

What the handler accepts follows from TASKS (`push_auth`): the invoker emails are the
SERVICE_ACCOUNT_EMAIL of every queue with the HTTP target, the audiences their AUDIENCE
(by default the handler's URL), the local signing key the backends' LOCAL_SIGNING_KEY.
The optional setting `CLOUD_TASKS_AUTH` overrides any of them; a key left out (or empty)
is derived:
    AUDIENCE       the `aud` the token must carry, as the enqueuing side requests it
    INVOKER_EMAILS the service accounts Cloud Tasks calls as
    ISSUERS        accepted `iss` values; default Google's
    JWKS_URL       where the signing keys are published; default Google's. Fetched
                   keys are cached and kept through failed refreshes
                   (cloudtasks.signing_keys).
    LOCAL_SIGNER   path of the local signing key: trust only it instead (local runs,
                   DEBUG on; see cloudtasks.local_auth)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from cloudtasks.options import BackendOptions, HttpTarget
from cloudtasks.signing_keys import CachedSigningKeys, key_id

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
SETTING = "CLOUD_TASKS_AUTH"
SETTING_KEYS = ("AUDIENCE", "INVOKER_EMAILS", "ISSUERS", "JWKS_URL", "LOCAL_SIGNER")

JWKS_FETCH_TIMEOUT_SECONDS = 5
# Tolerated clock difference between Google and this server.
CLOCK_SKEW_SECONDS = 30
# Tokens that passed, kept so that the same token is not verified again (an RS256
# signature and PyJWT's parsing, about 0.1 ms here): at most this many, each for at most
# KEPT_FOR_AT_MOST seconds and never past its expiry, so that a key withdrawn from the
# published set stops being trusted as soon through a kept token as through a new one
# (signing keys are refreshed every 5 minutes, cloudtasks.signing_keys).
KEPT_TOKENS = 1024
KEPT_FOR_AT_MOST = 300.0


class InvalidToken(Exception):
    """No token, or one that is not genuine, current and meant for us (HTTP 401)."""


class WrongIdentity(Exception):
    """A genuine token for someone other than the invoker (HTTP 403)."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched, so no token can be judged (HTTP 503)."""


class SigningKeys(Protocol):
    """Finds the public key a token says it was signed with (its `kid` header)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


class StaticSigningKeys:
    """A fixed key set held in memory, as a JWKS document."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = jwt.PyJWKSet.from_dict(dict(jwks))

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = key_id(token)
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no trusted signing key has kid {kid!r}")


@dataclass(frozen=True)
class TokenVerifier:
    keys: SigningKeys
    issuers: Sequence[str]
    audience: str | frozenset[str]  # a token must carry one of them
    invoker_emails: frozenset[str]
    # Tokens that passed: the time (time.time()) until which each is trusted, and its claims.
    _passed: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict, init=False, repr=False,
                                                              compare=False)

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """Return the claims of the bearer token in an Authorization header value.

        Raises InvalidToken, WrongIdentity or KeysUnavailable.
        """
        token = _bearer_token(authorization)
        now = time.time()
        passed = self._passed.get(token)
        if passed is not None and now < passed[0]:
            return dict(passed[1])
        claims = self._verified(token)
        if len(self._passed) >= KEPT_TOKENS:
            self._passed.clear()  # tokens come and go by the hour: no need to choose which to keep
        self._passed[token] = (min(claims["exp"] + CLOCK_SKEW_SECONDS, now + KEPT_FOR_AT_MOST), claims)
        return dict(claims)

    def _verified(self, token: str) -> dict[str, Any]:
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],  # the only algorithm Google signs ID tokens with
                audience=self.audience,
                issuer=list(self.issuers),
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise KeysUnavailable(str(error)) from error
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
            raise InvalidToken(str(error)) from error
        if claims.get("email") not in self.invoker_emails:
            raise WrongIdentity(f"token is for {claims.get('email')!r}, not an invoker of a queue")
        # A token can name an email its holder has not proven to own.
        if claims.get("email_verified") is not True:
            raise WrongIdentity(f"token's email {claims['email']!r} is not verified")
        return claims


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("no bearer token in the Authorization header")
    return token.strip()


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


def cloud_tasks_options() -> dict[str, BackendOptions]:
    """The options of each Cloud Tasks backend in TASKS whose options are valid, by alias
    (`manage.py check` reports the others)."""
    from cloudtasks.backend import CloudTasksBackend  # it imports what imports this module

    valid = {}
    for backend in task_backends.all():
        if isinstance(backend, CloudTasksBackend):
            try:
                valid[backend.alias] = backend.backend_options
            except InvalidTaskBackend:
                continue
    return valid


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


@functools.cache
def configured_verifier() -> TokenVerifier:
    """The verifier `push_auth` describes; one per process, so fetched keys are reused."""
    return verifier_for(push_auth())


def verifier_for(accepted: PushAuth) -> TokenVerifier:
    """The verifier of tokens `accepted` describes."""
    keys: SigningKeys
    if accepted.local_signer:
        from cloudtasks.local_auth import configured_signer  # it uses this module

        signer = configured_signer()
        keys, issuers = StaticSigningKeys(signer.jwks()), (signer.issuer,)
    else:
        keys = CachedSigningKeys(accepted.jwks_url, timeout=JWKS_FETCH_TIMEOUT_SECONDS)
        issuers = accepted.issuers
    return TokenVerifier(keys=keys, issuers=issuers, audience=accepted.audiences,
                         invoker_emails=accepted.invoker_emails)


def verify_push(request: HttpRequest) -> dict[str, Any]:
    """The claims of the token a push carries, if the handler may run it.

    Raises InvalidToken, WrongIdentity or KeysUnavailable. Locally, the token must also
    have been minted for this very task and body (cloudtasks.local_auth).
    """
    # From META: request.headers builds a mapping of every header first.
    claims = configured_verifier().verify(request.META.get("HTTP_AUTHORIZATION"))
    if push_auth().local_signer:
        from cloudtasks.local_auth import require_bound  # it uses this module

        require_bound(claims, request)
    return claims


@receiver(setting_changed)
def _forget_verifier(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING, "DEBUG", "TASKS"):
        push_auth.cache_clear()
        configured_verifier.cache_clear()
