"""Signing keys that stay usable: the last good keys outlive failed refreshes, one fetch
runs at a time, a failed fetch is not repeated at once, and a fetch that hangs holds up
no other request.

The keys are served over HTTP on loopback (tests/django/jwks_server.py); the cache's
clock is a test's, so that minutes pass at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import jwt
import pytest

from cloudtasks.auth.local_signing import LocalSigner
from cloudtasks.auth.signing_keys import KEEP_AT_MOST, MIN_FETCH_INTERVAL, REFRESH_AFTER, CachedSigningKeys
from tests.django.jwks_server import FAIL, HANG, JwksServer
from tests.django.loopback import free_port

SIGNER = LocalSigner(issuer="https://accounts.google.com")
FETCH_TIMEOUT = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[JwksServer]:
    started = JwksServer(SIGNER)
    yield started
    started.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(server, clock) -> CachedSigningKeys:
    return CachedSigningKeys(server.url, timeout=FETCH_TIMEOUT, clock=clock)


def token(signer: LocalSigner = SIGNER) -> str:
    return signer.mint(audience="https://web.example.test", email="invoker@example.com")


def test_keys_are_fetched_once_and_reused(keys, server):
    for _ in range(5):
        keys.get_signing_key_from_jwt(token())

    assert server.fetches == 1


def test_keys_are_refreshed_after_a_while(keys, server, clock):
    keys.get_signing_key_from_jwt(token())
    clock.now += REFRESH_AFTER

    keys.get_signing_key_from_jwt(token())

    assert server.fetches == 2


def test_the_last_good_keys_stay_in_use_when_a_refresh_fails(keys, server, clock):
    keys.get_signing_key_from_jwt(token())
    server.mode = FAIL
    clock.now += REFRESH_AFTER * 10

    assert keys.get_signing_key_from_jwt(token()).key_id == SIGNER.key_id
    assert server.fetches == 2


def test_keys_not_refreshed_for_a_day_are_no_longer_trusted(keys, server, clock):
    keys.get_signing_key_from_jwt(token())
    server.mode = FAIL
    clock.now += KEEP_AT_MOST

    with pytest.raises(jwt.PyJWKClientConnectionError, match="no signing keys to trust: fetching .* failed"):
        keys.get_signing_key_from_jwt(token())


def test_a_failed_fetch_is_not_repeated_before_the_interval(keys, server, clock):
    server.mode = FAIL
    for _ in range(20):
        with pytest.raises(jwt.PyJWKClientConnectionError):
            keys.get_signing_key_from_jwt(token())
    assert server.fetches == 1

    clock.now += MIN_FETCH_INTERVAL
    server.mode = "serve"

    assert keys.get_signing_key_from_jwt(token()).key_id == SIGNER.key_id
    assert server.fetches == 2


def test_tokens_naming_unpublished_keys_cost_at_most_one_fetch_per_interval(keys, server, clock):
    keys.get_signing_key_from_jwt(token())
    stranger = LocalSigner(issuer="https://accounts.google.com")

    for _ in range(20):
        with pytest.raises(jwt.PyJWKClientError, match="no trusted signing key has kid"):
            keys.get_signing_key_from_jwt(token(stranger))

    assert server.fetches == 1  # the first fetch was just now
    clock.now += MIN_FETCH_INTERVAL
    with pytest.raises(jwt.PyJWKClientError):
        keys.get_signing_key_from_jwt(token(stranger))
    assert server.fetches == 2


def test_a_key_endpoint_that_is_down_makes_keys_unavailable():
    keys = CachedSigningKeys(f"http://127.0.0.1:{free_port()}/certs", timeout=FETCH_TIMEOUT)

    with pytest.raises(jwt.PyJWKClientConnectionError, match="Connection refused"):
        keys.get_signing_key_from_jwt(token())


def verify_in_thread(keys: CachedSigningKeys) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def verify() -> None:
        try:
            outcome.append(keys.get_signing_key_from_jwt(token()).key_id)
        except jwt.PyJWKClientError as error:
            outcome.append(error)

    thread = threading.Thread(target=verify)
    thread.start()
    return thread, outcome


def test_a_fetch_that_hangs_does_not_hold_up_requests_that_have_keys(keys, server, clock):
    keys.get_signing_key_from_jwt(token())
    server.mode = HANG
    clock.now += REFRESH_AFTER
    fetching, _ = verify_in_thread(keys)
    while server.fetches < 2:
        time.sleep(0.01)

    started = time.monotonic()
    key = keys.get_signing_key_from_jwt(token())

    assert time.monotonic() - started < 0.5
    assert key.key_id == SIGNER.key_id
    server.release()
    fetching.join()
    assert server.fetches == 2  # one fetch at a time


def test_a_fetch_that_hangs_does_not_hold_up_requests_without_keys_either(keys, server):
    server.mode = HANG
    fetching, first = verify_in_thread(keys)
    while server.fetches < 1:
        time.sleep(0.01)

    started = time.monotonic()
    with pytest.raises(jwt.PyJWKClientConnectionError, match="not fetched yet"):
        keys.get_signing_key_from_jwt(token())

    assert time.monotonic() - started < 0.5  # refused at once: Cloud Tasks retries it
    server.release()
    fetching.join()
    assert first == [SIGNER.key_id]
    assert server.fetches == 1
