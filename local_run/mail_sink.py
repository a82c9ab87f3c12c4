"""A mail server on loopback that delivers nowhere: each message is printed instead.

The app sends through its real SMTP backend (DJANGO_EMAIL_URL=smtp://127.0.0.1:PORT),
so a local run exercises the same mail path as production, and the message, headers
and text, shows in the local run's output.
"""

from __future__ import annotations

import email
from collections.abc import Callable
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

SHOWN_HEADERS = ("From", "To", "Subject")


class MailSink:
    def __init__(self, port: int, say: Callable[[str], None]) -> None:
        self.url = f"smtp://127.0.0.1:{port}"
        self._say = say
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        for header in SHOWN_HEADERS:
            self._say(f"{header}: {message[header]}")
        body = message.get_body(preferencelist=("plain",))
        for line in (body.get_content() if body else "").splitlines():
            self._say(f"  {line}")
        self._say("-" * 40)
        return "250 Message accepted for delivery"
