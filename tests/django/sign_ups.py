"""Signing people up over real HTTP, as a browser does: the form's page first (its CSRF
cookie and token), then the POST, following the redirect."""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.request
from urllib.parse import urlencode

PASSWORD = "f1rst-program!"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TIMEOUT_SECONDS = 60


def sign_up(base_url: str, username: str) -> tuple[str, float]:
    """Sign `username` up (mail to USERNAME@example.com); the URL the browser ends on,
    and the seconds the POST took, redirect included."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = browser.open(f"{base_url}/accounts/signup/", timeout=TIMEOUT_SECONDS).read().decode()
    [token] = CSRF_FIELD.findall(page)
    form = {
        "username": username, "email": f"{username}@example.com", "password1": PASSWORD, "password2": PASSWORD,
        "csrfmiddlewaretoken": token,
    }
    started = time.monotonic()
    with browser.open(f"{base_url}/accounts/signup/", data=urlencode(form).encode(), timeout=TIMEOUT_SECONDS) as done:
        return done.url, time.monotonic() - started
