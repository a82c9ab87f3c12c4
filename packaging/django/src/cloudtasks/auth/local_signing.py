"""Google's part in authenticating pushes, played locally, for the tasks this system made.

In production Google mints an OIDC token for the invoker service account and Cloud
Tasks attaches it to every push. Locally the emulator attaches nothing, and anything on
the machine (a proxy, an SSH tunnel, another user's process, a task someone created in
the emulator) can reach the handler from loopback. So a local run vouches for tasks
where they are made, not where they arrive:

- `manage.py cloudtasks_emulator` writes an RSA key to a file only its user can read
  (the backend option LOCAL_SIGNING_KEY names it); every process of the local system
  loads it.
- The enqueue path, talking to the emulator, adds to each task it creates an
  `Authorization` header with a Google-shaped ID token minted with that key and bound to
  that task: its name and the SHA-256 of its body (`VouchForCreatedTasks`, a gRPC
  interceptor on the emulator channel only). The emulator pushes the task's headers.
- The handler verifies the token with the production code (cloudtasks.auth.verify,
  trusting this key and `LOCAL_ISSUER` instead of Google's), and refuses a token pushed
  with any other task or body (its `require_bound`).

A request crafted without the key has no valid token; a token copied from a task
(ListTasks shows headers) runs only that same task again, as a redelivery would.
Local signing needs DEBUG on, and the options refuse a signing key without an emulator
(whose address must be on loopback). Tokens carry
`LOCAL_ISSUER`: a production verifier, trusting only Google's keys and issuers,
rejects every token minted here.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.cloud import tasks_v2

from cloudtasks.auth.accepted import push_auth

# `.invalid` can never resolve (RFC 2606), so no real issuer can have this name.
LOCAL_ISSUER = "https://local-signer.invalid"
TOKEN_LIFETIME = timedelta(hours=1)  # what Google gives ID tokens
# The claim that binds a token to one task: {"name": <task id>, "body_sha256": <hex>}.
TASK_CLAIM = "cloudtasks_task"
# The header the emulator (like Cloud Tasks) sends with the last part of a task's name.
TASK_NAME_HEADER = "X-CloudTasks-TaskName"
CREATE_TASK_METHOD = "/google.cloud.tasks.v2.CloudTasks/CreateTask"


class LocalSigningRefused(ImproperlyConfigured):
    """Local signing was asked for where it must not happen."""


class LocalSigner:
    """An RSA key that mints ID tokens shaped like Google's."""

    def __init__(self, issuer: str = LOCAL_ISSUER, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.issuer = issuer
        self._private_key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # The same in every process that loads the key, as a JWKS kid must be.
        self.key_id = hashlib.sha256(public).hexdigest()[:32]

    @classmethod
    def from_key_file(cls, path: str | Path) -> LocalSigner:
        """The signer whose key `write_key_file` wrote; refused if others may read the file."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            pem = path.read_bytes()
        except OSError as error:
            raise LocalSigningRefused(
                f"cannot read the local signing key {path}: {error}. `manage.py cloudtasks_emulator` writes it"
            ) from error
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise LocalSigningRefused(
                f"the local signing key {path} may be read by others (mode {stat.filemode(mode)}); "
                f"it must be private to its owner (chmod 600)"
            )
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise LocalSigningRefused(f"{path} does not hold an RSA private key")
        return cls(private_key=key)

    def write_key_file(self, path: str | Path) -> None:
        """Write the private key to a new file that only its owner can read."""
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Created with its final mode, so that no one can open it in between.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)

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
        task: Mapping[str, str] | None = None,
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
            **({TASK_CLAIM: dict(task)} if task is not None else {}),
        }
        return jwt.encode(
            claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id}
        )


def task_binding(task_name: str, body: bytes) -> dict[str, str]:
    """What a token for the task called `task_name` (its last part), pushing `body`, carries."""
    return {"name": task_name.rsplit("/", 1)[-1], "body_sha256": hashlib.sha256(body).hexdigest()}


def bound_to(claims: Mapping[str, Any], *, task_name: str, body: bytes) -> bool:
    """Whether verified `claims` were minted for this task name and exactly this body."""
    bound = claims.get(TASK_CLAIM)
    if not isinstance(bound, dict):
        return False
    expected = task_binding(task_name, body)
    return all(hmac.compare_digest(str(bound.get(key, "")), value) for key, value in expected.items())


def configured_signer() -> LocalSigner:
    """This system's signer: the key file the settings name (LOCAL_SIGNING_KEY in a
    backend's OPTIONS, or CLOUD_TASKS_AUTH["LOCAL_SIGNER"]).

    LocalSigningRefused unless DEBUG is on and the settings name a key file: a deployed
    process never mints nor trusts a local token, whatever else its settings say.
    """
    key_file = push_auth().local_signer
    if not settings.DEBUG:
        raise LocalSigningRefused("local signing is for local runs only, and DEBUG is off")
    if not key_file:
        raise LocalSigningRefused("the settings name no local signing key (OPTIONS['LOCAL_SIGNING_KEY'])")
    return _signer_from(key_file)


@functools.cache
def _signer_from(key_file: str) -> LocalSigner:
    return LocalSigner.from_key_file(key_file)


def vouch(request: tasks_v2.CreateTaskRequest, signer: LocalSigner) -> tasks_v2.CreateTaskRequest:
    """A copy of `request` whose HTTP task carries a token bound to it."""
    vouched = type(request).deserialize(type(request).serialize(request))
    http = vouched.task.http_request
    identity = http.oidc_token if "oidc_token" in http else http.oauth_token
    # An OAuth token has no audience; locally, the URL called (jobs:run) stands in for it.
    audience = getattr(identity, "audience", "") or http.url
    token = signer.mint(
        audience=audience, email=identity.service_account_email, task=task_binding(vouched.task.name, http.body)
    )
    http.headers["Authorization"] = f"Bearer {token}"
    return vouched


class VouchForCreatedTasks(grpc.UnaryUnaryClientInterceptor):
    """On the emulator channel: each task this process creates carries a token bound to it.

    Only when the settings configure local signing; otherwise a task goes unsigned, and
    its push is refused (fail closed).
    """

    def intercept_unary_unary(self, continuation: Callable, client_call_details: Any, request: Any) -> Any:
        if client_call_details.method == CREATE_TASK_METHOD and push_auth().local_signer:
            request = vouch(request, configured_signer())
        return continuation(client_call_details, request)
