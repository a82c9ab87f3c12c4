"""The mailer, from one URL (DJANGO_EMAIL_URL), the way DATABASE_URL gives the database.

    smtp+starttls://USER:PASSWORD@HOST[:587]   SMTP submission, upgraded with STARTTLS
    smtps://USER:PASSWORD@HOST[:465]           SMTP over TLS from the first byte
    smtp://HOST[:25]                           plain SMTP: a relay on loopback or your own network
    console:                                   print mail to stdout (local runs only)

User and password are percent-encoded where they hold reserved characters (`@` as %40).
`?timeout=SECONDS` bounds each SMTP operation (default 10: a hung mail server must not
hold a request or a task until its deadline). Cloud Run blocks outgoing port 25 to the
internet: use a provider's submission port (587 or 465). Any provider that speaks SMTP
works (SendGrid, Mailgun, Postmark, Amazon SES, Google Workspace's relay).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_TIMEOUT_SECONDS = 10
# scheme: (use_tls, use_ssl, default port)
SMTP_SCHEMES = {"smtp": (False, False, 25), "smtp+starttls": (True, False, 587), "smtps": (False, True, 465)}
SCHEMES = (*SMTP_SCHEMES, "console")


def mailer(url: str, *, variable: str) -> dict[str, Any]:
    """The MAILERS entry `url` describes; ImproperlyConfigured names `variable` if it is wrong."""
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"BACKEND": CONSOLE_BACKEND}
    if parts.scheme not in SMTP_SCHEMES:
        raise _wrong(variable, f"its scheme is {parts.scheme!r}")
    if not parts.hostname:
        raise _wrong(variable, "it names no host")
    try:
        port = parts.port
    except ValueError:
        raise _wrong(variable, "its port is not a number from 0 to 65535") from None
    use_tls, use_ssl, default_port = SMTP_SCHEMES[parts.scheme]
    options: dict[str, Any] = {
        "host": parts.hostname,
        "port": port or default_port,
        "use_tls": use_tls,
        "use_ssl": use_ssl,
        "timeout": _timeout(parts.query, variable),
    }
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password or "")
    return {"BACKEND": SMTP_BACKEND, "OPTIONS": options}


def _timeout(query: str, variable: str) -> float:
    values = parse_qs(query).get("timeout", [str(DEFAULT_TIMEOUT_SECONDS)])
    try:
        timeout = float(values[-1])
    except ValueError:
        timeout = 0
    if timeout <= 0:
        raise _wrong(variable, f"its timeout is {values[-1]!r}, not a number of seconds above 0")
    return timeout


def _wrong(variable: str, problem: str) -> ImproperlyConfigured:
    # The URL itself is not repeated: it may hold a password.
    return ImproperlyConfigured(
        f"{variable} is not a usable mail URL: {problem}. Give smtp+starttls://USER:PASSWORD@HOST:587, "
        f"smtps://USER:PASSWORD@HOST:465, smtp://HOST:25 or console: (schemes: {', '.join(SCHEMES)})"
    )
