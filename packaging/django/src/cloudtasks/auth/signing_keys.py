"""Google's signing keys, fetched from its JWKS URL and kept usable when fetching fails.

Google publishes a new signing key well before it signs with it, so the keys fetched
last keep verifying tokens while a refresh fails: an outage of the key endpoint does not
become an outage of the push handler. To keep a key endpoint that is down or slow, and
tokens that name keys nobody published, from costing every push a fetch:

- keys are refreshed REFRESH_AFTER after the last good fetch, or when a token names a
  key the set lacks (a rotation);
- one fetch at a time: while one request fetches, others go on with the keys there are
  (or, with none yet, are refused at once: 503, and Cloud Tasks retries), so a fetch
  that hangs holds up only the request that makes it, for at most the fetch timeout;
- after a fetch, good or failed, the next comes no sooner than MIN_FETCH_INTERVAL;
- keys not refreshed for KEEP_AT_MOST are no longer trusted (a key Google withdrew
  could otherwise be trusted for ever while its endpoint is unreachable).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable

import jwt

REFRESH_AFTER = 300.0  # seconds
MIN_FETCH_INTERVAL = 5.0
KEEP_AT_MOST = 24 * 3600.0


class CachedSigningKeys:
    def __init__(self, url: str, *, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=timeout)
        self._clock = clock
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = 0.0  # of the keys held
        self._tried_at: float | None = None  # the last fetch, good or failed
        self._last_failure = "not fetched yet"
        self._fetching = threading.Lock()

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        """The key `token` names. PyJWKClientConnectionError if no keys can be trusted
        now (the endpoint is unreachable); PyJWKClientError if the keys lack it."""
        kid = key_id(token)
        key = self._find(kid)
        if key is None or self._age() >= REFRESH_AFTER:
            self._refresh_if_allowed()
            key = self._find(kid)
        if self._keys is None or self._age() >= KEEP_AT_MOST:
            raise jwt.PyJWKClientConnectionError(f"no signing keys to trust: {self._last_failure}")
        if key is None:
            raise jwt.PyJWKClientError(f"no trusted signing key has kid {kid!r}")
        return key

    def _find(self, kid: object) -> jwt.PyJWK | None:
        keys = self._keys
        return next((key for key in keys.keys if key.key_id == kid), None) if keys else None

    def _age(self) -> float:
        return self._clock() - self._fetched_at

    def _refresh_if_allowed(self) -> None:
        if self._tried_at is not None and self._clock() - self._tried_at < MIN_FETCH_INTERVAL:
            return
        if not self._fetching.acquire(blocking=False):
            return  # another request is fetching: do not wait for it
        try:
            keys = self._client.get_jwk_set(refresh=True)
        except (jwt.PyJWKClientError, jwt.PyJWKSetError) as error:
            self._last_failure = f"fetching {self._client.uri} failed: {error}"
        else:
            self._keys, self._fetched_at = keys, self._clock()
        finally:
            self._tried_at = self._clock()
            self._fetching.release()


def key_id(token: str) -> object:
    """The `kid` a token's header names, the key it says it was signed with: its header
    alone decoded (PyJWT's get_unverified_header decodes the whole token, which jwt.decode
    then decodes and checks again). DecodeError if the header is not a JSON object."""
    header = token.partition(".")[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        return decoded.get("kid")
    except (ValueError, AttributeError) as error:  # not base64 (binascii.Error), not JSON, not an object
        raise jwt.DecodeError(f"Invalid header: {error}") from error
