"""The verifier as deployed: Google's issuers, signing keys fetched from a JWKS URL and cached.

A local HTTP server stands in for https://www.googleapis.com/oauth2/v3/certs, serving the
public key of a signer that issues tokens as https://accounts.google.com does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudtasks.auth import verify
from cloudtasks.auth.local_signing import LocalSigner
from cloudtasks.config import env
from tests.django.project_settings import load_settings
from tests.django.backend_settings import invoker, queues_variable
from tests.django.jwks_server import JwksServer
from tests.django.pushes import AUDIENCE, INVOKER

QUEUE = "projects/example-project/locations/europe-west1/queues/default"


@pytest.fixture(scope="module")
def google() -> LocalSigner:
    """Signs as Google does: issuer https://accounts.google.com."""
    return LocalSigner(issuer="https://accounts.google.com")


@pytest.fixture(scope="module")
def local() -> LocalSigner:
    """Signs as a local run does: issuer local_auth.LOCAL_ISSUER."""
    return LocalSigner()


@pytest.fixture
def jwks(google, local) -> Iterator[JwksServer]:
    # The local signer's key is published too, so only the issuer can tell its tokens apart.
    server = JwksServer(google, local)
    yield server
    server.close()


@pytest.fixture
def verifier(settings, jwks) -> verify.TokenVerifier:
    """The verifier as deployed settings configure it, but for where the keys are fetched."""
    deployed = load_settings(**{
        env.EMULATOR_HOST: "", env.LOCAL_KEY_FILE: "", env.HANDLER_URL: AUDIENCE,
        env.QUEUES: queues_variable({"default": QUEUE, "long": QUEUE}),
    })
    settings.TASKS = deployed["TASKS"]
    settings.CLOUD_TASKS_AUTH = {"JWKS_URL": jwks.url}
    return verify.configured_verifier()


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_production_configuration_trusts_google_issuers_by_default(verifier):
    assert set(verifier.issuers) == {"https://accounts.google.com", "accounts.google.com"}


def test_token_signed_by_a_key_from_the_jwks_url_is_accepted(verifier, google):
    claims = verifier.verify(bearer(google.mint(audience=AUDIENCE, email=INVOKER)))

    assert claims["email"] == INVOKER


def test_keys_are_fetched_once_and_reused_across_pushes(verifier, google, jwks):
    for _ in range(3):
        verifier.verify(bearer(google.mint(audience=AUDIENCE, email=INVOKER)))

    assert jwks.fetches == 1


def test_deployed_settings_accept_the_invoker_of_each_queue_and_the_handlers_audience(verifier):
    assert (verifier.invoker_emails, verifier.audience) == ({INVOKER, invoker("long")}, {AUDIENCE})


def test_settings_change_builds_a_new_verifier(verifier, settings):
    settings.CLOUD_TASKS_AUTH = {**settings.CLOUD_TASKS_AUTH, "INVOKER_EMAILS": ["other@example.com"]}

    assert verify.configured_verifier() is not verifier
    assert verify.configured_verifier().invoker_emails == {"other@example.com"}


def test_locally_minted_token_is_rejected_by_the_production_configuration(verifier, local):
    # Even with its key published, a local token does not carry a Google issuer.
    token = local.mint(audience=AUDIENCE, email=INVOKER)

    with pytest.raises(verify.InvalidToken, match="issuer"):
        verifier.verify(bearer(token))


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Bearer", "Bearer  "])
def test_authorization_header_without_a_bearer_token_is_invalid(verifier, header):
    with pytest.raises(verify.InvalidToken, match="no bearer token"):
        verifier.verify(header)
