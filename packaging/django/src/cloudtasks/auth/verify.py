"""Who may call the push handler: verification of the OIDC token Cloud Tasks attaches.

Cloud Tasks calls the handler with `Authorization: Bearer <ID token>` minted by Google
for the queue's invoker service account. A request is let in only if the token is
signed by a trusted key, is unexpired, was issued by a trusted issuer for our audience,
and names an invoker by a verified email; what is trusted is what the settings give or
imply (cloudtasks.auth.accepted). Fetched keys are cached and kept through failed
refreshes (cloudtasks.auth.signing_keys).

Production and local runs share this code and differ only in settings: production
trusts Google's published keys and issuers, local runs trust the key of
`cloudtasks.auth.local_signing` (a file the emulator command writes), and its issuer, and
require each token to be bound to the very task it arrives with (`require_bound`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from django.core.exceptions import RequestDataTooBig
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from cloudtasks.auth.accepted import SETTING, PushAuth, push_auth
from cloudtasks.auth.local_signing import TASK_NAME_HEADER, bound_to, configured_signer
from cloudtasks.auth.signing_keys import CachedSigningKeys, key_id

logger = logging.getLogger(__name__)

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


@functools.cache
def configured_verifier() -> TokenVerifier:
    """The verifier `push_auth` describes; one per process, so fetched keys are reused."""
    return verifier_for(push_auth())


def verifier_for(accepted: PushAuth) -> TokenVerifier:
    """The verifier of tokens `accepted` describes."""
    keys: SigningKeys
    if accepted.local_signer:
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
    have been minted for this very task and body (`require_bound`).
    """
    # From META: request.headers builds a mapping of every header first.
    claims = configured_verifier().verify(request.META.get("HTTP_AUTHORIZATION"))
    if push_auth().local_signer:
        require_bound(claims, request)
    return claims


def require_bound(claims: Mapping[str, Any], request: HttpRequest) -> None:
    """A local run's push runs only with a token minted for that very task and body:
    InvalidToken otherwise. `claims` are the token's, already verified."""
    task_name = request.headers.get(TASK_NAME_HEADER, "")
    try:
        body = request.body
    except RequestDataTooBig:
        body = None  # larger than any task: no token was minted for it
    if body is None or not bound_to(claims, task_name=task_name, body=body):
        logger.warning("Refused task push: its token was not minted for task %r and this body", task_name)
        raise InvalidToken(f"the token was not minted for task {task_name!r} and this body")


@receiver(setting_changed)
def _forget_verifier(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING, "DEBUG", "TASKS"):
        configured_verifier.cache_clear()
