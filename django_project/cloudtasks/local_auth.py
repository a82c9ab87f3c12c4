"""Google's part in authenticating pushes, played locally.

In production Google mints an OIDC token for the invoker service account and Cloud
Tasks attaches it to every push. Locally neither exists: the emulator pushes without a
token. So a local run generates an RSA key pair in memory, mints Google-shaped tokens
with it (`SignEmulatorPushes` attaches them to the emulator's pushes), and with
`CLOUD_TASKS_AUTH["LOCAL_SIGNER"]` tells `cloudtasks.auth` to trust that key and the
local issuer: the handler verifies these tokens with exactly the production code.

The key never leaves the process, and tokens carry `LOCAL_ISSUER`: a production
verifier, trusting only Google's keys and issuers, rejects every token minted here.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.http import HttpRequest, HttpResponse

# `.invalid` can never resolve (RFC 2606), so no real issuer can have this name.
LOCAL_ISSUER = "https://local-signer.invalid"
TOKEN_LIFETIME = timedelta(hours=1)  # what Google gives ID tokens


class LocalSigner:
    """An RSA key pair that mints ID tokens shaped like Google's."""

    def __init__(self, issuer: str = LOCAL_ISSUER) -> None:
        self.issuer = issuer
        self.key_id = uuid.uuid4().hex
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        """The public half, as the JWKS document Google publishes for its own keys."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "RS256"}]}

    def mint(
        self,
        *,
        audience: str,
        email: str,
        email_verified: bool = True,
        issued_at: datetime | None = None,
        lifetime: timedelta = TOKEN_LIFETIME,
    ) -> str:
        issued_at = issued_at or datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "sub": email,
            "email": email,
            "email_verified": email_verified,
            "iat": issued_at,
            "exp": issued_at + lifetime,
        }
        return jwt.encode(
            claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id}
        )


_signer_made = threading.Lock()


def local_signer() -> LocalSigner:
    """The signer of this process; settings trust its key when running locally."""
    # One, even when the first pushes arrive on several threads at once: a second key
    # would sign tokens the verifier, built with the first, refuses.
    with _signer_made:
        return _signer()


@functools.cache
def _signer() -> LocalSigner:
    return LocalSigner()


class SignEmulatorPushes:
    """Middleware that attaches the token Cloud Tasks would have attached.

    Installed by the settings only for a local run. It acts only on pushes (requests
    carrying the X-CloudTasks-QueueName header the emulator sets) that have no
    Authorization header and come from this machine (where the emulator runs), and
    mints for the audience of `CLOUD_TASKS_AUTH` and the first of its invokers (the
    emulator does not say which queue's invoker a task names); the handler then
    verifies the token like any other.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # META, not request.headers: that is built once, and the view must see the token.
        meta = request.META
        if "HTTP_X_CLOUDTASKS_QUEUENAME" in meta and "HTTP_AUTHORIZATION" not in meta and _from_loopback(meta):
            config = settings.CLOUD_TASKS_AUTH
            token = local_signer().mint(
                audience=config["AUDIENCE"], email=min(config["INVOKER_EMAILS"], default="")
            )
            meta["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return self.get_response(request)


def _from_loopback(meta: dict[str, Any]) -> bool:
    # Defence in depth: were this middleware ever installed on a reachable server, a
    # request from elsewhere must still bring a token of its own.
    try:
        return ipaddress.ip_address(meta.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
