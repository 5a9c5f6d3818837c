"""The outbox floor: plain ``smtplib`` on one connection, the same messages, no database.

What the simplest possible sender would do: build each message the way the
outbox does (``email.message.EmailMessage``) and ``send_message`` it on one
open connection.  ``make bench`` divides the outbox's rate by this one.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Sequence
from email.message import EmailMessage


def send_plain(host: str, port: int, recipients: Sequence[str], sender: str = "desk@gym.test") -> float:
    """Send one short message to each recipient; returns messages per second."""
    started = time.perf_counter()
    with smtplib.SMTP(host, port, timeout=30) as client:
        for number, to in enumerate(recipients):
            message = EmailMessage()
            message["From"] = sender
            message["To"] = to
            message["Subject"] = "Your account"
            message["Message-ID"] = f"<floor-{number}@gym.test>"
            message.set_content("Hi, a note from the gym.")
            client.send_message(message)
    return len(recipients) / (time.perf_counter() - started)
