"""Who may call the push handler: verification of the OIDC token Cloud Tasks attaches.

Cloud Tasks calls the handler with `Authorization: Bearer <ID token>` minted by Google
for the invoker service account. A request is let in only if the token is signed by a
trusted key, is unexpired, was issued by a trusted issuer for our audience, and names
the invoker by a verified email.

Production and local runs share this code and differ only in settings: production
trusts Google's published keys and issuers, local runs trust the key of
`cloudtasks.local_auth` (a file that scripts/dev.sh writes), and its issuer.

Settings, in `CLOUD_TASKS_AUTH`:
    AUDIENCE       the `aud` the token must carry, as the enqueuing side requests it
    INVOKER_EMAILS the service accounts Cloud Tasks calls as (each queue has its own)
    ISSUERS        accepted `iss` values; default Google's
    JWKS_URL       where the signing keys are published; default Google's. Fetched
                   keys are cached and kept through failed refreshes
                   (cloudtasks.signing_keys).
    LOCAL_SIGNER   path of the local signing key: trust only it instead (local runs,
                   DEBUG on; see cloudtasks.local_auth)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from cloudtasks.signing_keys import CachedSigningKeys

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"

JWKS_FETCH_TIMEOUT_SECONDS = 5
# Tolerated clock difference between Google and this server.
CLOCK_SKEW_SECONDS = 30


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
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no trusted signing key has kid {kid!r}")


@dataclass(frozen=True)
class TokenVerifier:
    keys: SigningKeys
    issuers: Sequence[str]
    audience: str
    invoker_emails: frozenset[str]

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """Return the claims of the bearer token in an Authorization header value.

        Raises InvalidToken, WrongIdentity or KeysUnavailable.
        """
        token = _bearer_token(authorization)
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
    """The verifier `CLOUD_TASKS_AUTH` describes; one per process, so fetched keys are reused."""
    return verifier_for(settings.CLOUD_TASKS_AUTH)


def verifier_for(config: Mapping[str, Any]) -> TokenVerifier:
    """The verifier a `CLOUD_TASKS_AUTH`-shaped mapping describes."""
    keys: SigningKeys
    if config.get("LOCAL_SIGNER"):
        from cloudtasks.local_auth import configured_signer  # it uses this module

        signer = configured_signer()
        keys, issuers = StaticSigningKeys(signer.jwks()), (signer.issuer,)
    else:
        keys = CachedSigningKeys(config.get("JWKS_URL", GOOGLE_JWKS_URL), timeout=JWKS_FETCH_TIMEOUT_SECONDS)
        issuers = tuple(config.get("ISSUERS", GOOGLE_ISSUERS))
    return TokenVerifier(
        keys=keys,
        issuers=issuers,
        audience=config["AUDIENCE"],
        invoker_emails=frozenset(config["INVOKER_EMAILS"]),
    )


@receiver(setting_changed)
def _forget_verifier(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CLOUD_TASKS_AUTH", "DEBUG"):
        configured_verifier.cache_clear()
