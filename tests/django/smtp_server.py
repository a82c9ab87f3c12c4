"""An SMTP server on loopback (aiosmtpd) that keeps what it receives, for tests to read.

The application sends through its real SMTP backend (`url` is a DJANGO_EMAIL_URL), so a
test sees the message as a mail server would: headers, envelope and body.
"""

from __future__ import annotations

import email
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from tests.django.loopback import free_port


@dataclass
class Received:
    """What the server has received so far; `wait_for` blocks until enough has arrived."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelope_recipients: list[list[str]] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        with self._arrived:
            self.messages.append(message)
            self.envelope_recipients.append(list(envelope.rcpt_tos))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.messages)} of {count} messages arrived within {timeout}s")
                self._arrived.wait(left)
            return list(self.messages)

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()
            self.envelope_recipients.clear()


class SmtpServer:
    def __init__(self) -> None:
        self.received = Received()
        self.port = free_port()
        self._controller = Controller(self.received, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """The DJANGO_EMAIL_URL that sends here (plain SMTP: it is loopback)."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
