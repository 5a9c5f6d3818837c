"""Email through SMTP: STARTTLS or implicit TLS, optional login, a stable Message-ID per outbox row.

``smtplib`` is blocking, so a batch of messages is one SMTP session in a
worker thread: connect, EHLO, TLS and login once, then each message with
MAIL, RCPT and DATA sent in one write where the server offers PIPELINING.  The Message-ID is derived from the outbox row's effect key, so a
message sent again after a crash carries the same Message-ID and a receiving
system that de-duplicates by Message-ID shows it once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from gymconsole.config import Config, GymConfig, SmtpConfig
from gymconsole.delivery.transport import DeliveryError, scrub, secret, stable_key
from gymconsole.present.sanitize import header_safe
from gymconsole.tools.messages import email_from

PEER = "the mail server"


def message_id(effect_key: str, from_address: str) -> str:
    """The Message-ID of an outbox message: the same for every attempt at sending it."""
    domain = from_address.rpartition("@")[2] or "gymconsole.invalid"
    return f"<{stable_key(effect_key)}@{domain}>"


@dataclass(frozen=True)
class Email:
    """One email to send."""

    to: str
    subject: str
    body: str
    message_id: str
    date: datetime


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpSender:
    """Sends :class:`Email` objects through the configured SMTP server."""

    def __init__(self, smtp: SmtpConfig, base_dir: Path | None = None, gym: GymConfig | None = None) -> None:
        self.smtp = smtp
        self._base_dir = base_dir
        self.gym = gym or GymConfig()
        self._headers: dict[str, Any] = {}
        """Headers every message of this sender shares, parsed once (see :meth:`_sender_header`)."""
        self._date: tuple[datetime, Any] | None = None

    @classmethod
    def from_config(cls, config: Config) -> SmtpSender:
        return cls(config.delivery.smtp, config.source_path.parent if config.source_path else None, config.gym)

    def message_id_for(self, effect_key: str) -> str:
        return message_id(effect_key, self.smtp.from_address)

    def build(self, email: Email) -> EmailMessage:
        """The message as it goes on the wire (CRLF line ends: ``as_bytes()`` needs no other policy)."""
        message = EmailMessage(policy=SMTP)
        message["From"] = self._sender_header("From")
        if self.gym.reply_to:
            message["Reply-To"] = self._sender_header("Reply-To")
        message["To"] = header_safe(email.to, 320)
        message["Subject"] = header_safe(email.subject or "A message from the front desk", 300)
        message["Date"] = self._date_header(email.date)
        message["Message-ID"] = email.message_id
        message.set_content(email.body)
        return message

    def _sender_header(self, name: str) -> Any:
        """From and Reply-To, parsed once: the same for every message, and the email package parses each header it
        is given (building a header class each time), about a tenth of a millisecond a header here."""
        header = self._headers.get(name)
        if header is None:
            value = email_from(self.smtp, self.gym) if name == "From" else self.gym.reply_to or ""
            header = self._headers[name] = SMTP.header_factory(name, value)
        return header

    def _date_header(self, moment: datetime) -> Any:
        """The Date header, parsed once per moment (a batch is stamped with one)."""
        if self._date is None or self._date[0] != moment:
            self._date = (moment, SMTP.header_factory("Date", format_datetime(moment)))
        return self._date[1]

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.smtp.ca_file:
            path = Path(self.smtp.ca_file).expanduser()
            if not path.is_absolute() and self._base_dir is not None:
                path = self._base_dir / path
            try:
                context.load_verify_locations(cafile=str(path))
            except (OSError, ssl.SSLError) as exc:
                raise DeliveryError(f"delivery.smtp.ca_file: cannot load {path.name}: {exc}", retryable=True) from None
        return context

    async def send(self, email: Email) -> None:
        """Send one email; any failure raises :class:`DeliveryError` (retryable unless the server said 5xx)."""
        result = (await self.send_batch([email]))[0]
        if isinstance(result, DeliveryError):
            raise result

    async def send_batch(self, emails: Sequence[Email], progress: BatchProgress | None = None,
                         stop: Callable[[], bool] | None = None) -> list[Result]:
        """Send several emails in one SMTP session; one result per email, in order.

        A result is None (the server took it; ``progress.taken(index)`` was called the moment it said so), a
        :class:`DeliveryError` (this email was refused, or the session broke while sending it) or
        :data:`NOT_TRIED` (the session broke, or ``stop()`` said so, before its turn: nothing of it was sent).
        """
        return await asyncio.to_thread(self._send_batch_blocking, list(emails), progress or _NoProgress(),
                                       stop or (lambda: False))

    def _send_batch_blocking(self, emails: list[Email], progress: BatchProgress,
                             stop: Callable[[], bool]) -> list[Result]:
        s = self.smtp
        user, password = secret(s.user_env), secret(s.password_env)
        results: list[Result] = [NOT_TRIED] * len(emails)
        if not emails:
            return results
        if user and s.security == "none" and not _is_loopback(s.host):
            refusal = DeliveryError("refusing to send the SMTP password without TLS (delivery.smtp.security = \"none\")",
                                    retryable=False)
            return [refusal] * len(emails)
        index = 0
        try:
            client = self._open(user, password)
            try:
                pipelining = client.has_extn("pipelining")
                for index, email in enumerate(emails):
                    if index and stop():
                        break
                    progress.trying(index)
                    try:
                        _transfer(client, self.build(email), self.smtp.from_address, email.to, pipelining)
                    except _Refused as refused:
                        results[index] = _coded(refused.what, refused.code, refused.text, password)
                        client.rset()
                        continue
                    results[index] = None
                    progress.taken(index)
            finally:
                _close(client)
        except (smtplib.SMTPException, OSError, DeliveryError) as exc:  # the session broke: the rest were not tried
            if results[index] is NOT_TRIED:  # this email's fate is unknown: it is tried again (same Message-ID)
                results[index] = _session_error(exc, s, user, password)
        return results

    def _open(self, user: str | None, password: str | None) -> smtplib.SMTP:
        """Connect, say EHLO, upgrade to TLS and log in as configured."""
        s = self.smtp
        if s.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds,
                                                    context=self._tls_context())
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            if user:
                client.login(user, password or "")
        except BaseException:
            _close(client)
            raise
        return client


class BatchProgress(Protocol):
    """Told as each message of a batch is offered to the peer and the moment the peer takes it."""

    def trying(self, index: int) -> None: ...

    def taken(self, index: int) -> None: ...


class _NoProgress:
    def trying(self, index: int) -> None:
        pass

    def taken(self, index: int) -> None:
        pass


class _NotTried:
    def __repr__(self) -> str:
        return "NOT_TRIED"


NOT_TRIED = _NotTried()
"""A batch result: the session ended before this email's turn."""
Result = DeliveryError | _NotTried | None


class _Refused(Exception):
    """The server refused one email (its sender, recipient or content); the session goes on."""

    def __init__(self, what: str, code: int, text: bytes | str) -> None:
        super().__init__(what)
        self.what, self.code, self.text = what, code, text


def _transfer(client: smtplib.SMTP, message: EmailMessage, sender: str, to: str, pipelining: bool) -> None:
    """One email over an open session: MAIL, RCPT and DATA in one write when the server offers PIPELINING."""
    if not (sender.isascii() and to.isascii()):
        try:
            refused = client.send_message(message)  # SMTPUTF8 and friends: smtplib's own path
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _Refused("refused the message", exc.smtp_code, exc.smtp_error) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _Refused("refused the recipient", code, text)
        return
    if pipelining:  # RFC 2920: the replies come back in order
        client.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{to}>\r\nDATA\r\n")
        mail, rcpt, data = client.getreply(), client.getreply(), client.getreply()
    else:
        mail = client.docmd("MAIL", f"FROM:<{sender}>")
        rcpt = client.docmd("RCPT", f"TO:<{to}>") if mail[0] == 250 else (503, b"")
        data = client.docmd("DATA") if rcpt[0] in (250, 251) else (503, b"")
    if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
        client.send(b".\r\n")  # a server that took DATA with no valid recipient gets an empty message ended at once
        client.getreply()
    if mail[0] != 250:
        raise _Refused("refused the message", *mail)
    if rcpt[0] not in (250, 251):
        raise _Refused("refused the recipient", *rcpt)
    if data[0] != 354:
        raise _Refused("refused the message", *data)
    client.send(_dot_stuffed(message.as_bytes()))
    code, text = client.getreply()
    if code != 250:
        raise _Refused("refused the message", code, text)


def _dot_stuffed(raw: bytes) -> bytes:
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _session_error(exc: Exception, s: SmtpConfig, user: str | None, password: str | None) -> DeliveryError:
    """A broken or refused session as one line (retryable unless the server said 5xx)."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (550, b""))
        return _coded("refused the recipient", code, text, password)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(scrub(f"{PEER} refused the login ({exc.smtp_code})", password, user), retryable=True)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(scrub(f"{PEER} does not support this: {exc}", password), retryable=True)
    if isinstance(exc, (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
        return _coded("refused the message", exc.smtp_code, exc.smtp_error, password)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _coded("answered", exc.smtp_code, exc.smtp_error, password)
    if isinstance(exc, (TimeoutError, socket.timeout)) or (
            isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc)):
        return DeliveryError(f"{PEER} did not answer within {s.timeout_seconds:g} s", retryable=True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"{PEER} closed the connection", retryable=True)
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(scrub(f"TLS with {PEER} failed: {exc.reason or exc}", password), retryable=True)
    text = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc) or type(exc).__name__
    return DeliveryError(scrub(f"cannot reach {PEER}: {text}", password), retryable=True)


SETUP_CODES = frozenset({530, 534, 535, 538})
"""5xx answers about the connection (TLS or login required), not the message: retried, the setup can be fixed."""


def _coded(what: str, code: int, text: bytes | str, password: str | None) -> DeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    retryable = not 500 <= code < 600 or code in SETUP_CODES
    return DeliveryError(scrub(f"{PEER} {what}: {code} {detail}", password), retryable=retryable)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
