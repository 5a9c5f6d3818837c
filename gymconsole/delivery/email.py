"""Email through SMTP: STARTTLS or implicit TLS, optional login, a stable Message-ID per outbox row.

``smtplib`` is blocking, so each message is one SMTP conversation in a worker
thread.  The Message-ID is derived from the outbox row's effect key, so a
message sent again after a crash carries the same Message-ID and a receiving
system that de-duplicates by Message-ID shows it once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from gymconsole.config import Config, SmtpConfig
from gymconsole.delivery.transport import DeliveryError, scrub, secret, stable_key
from gymconsole.present.sanitize import header_safe

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

    def __init__(self, smtp: SmtpConfig, base_dir: Path | None = None) -> None:
        self.smtp = smtp
        self._base_dir = base_dir

    @classmethod
    def from_config(cls, config: Config) -> SmtpSender:
        return cls(config.delivery.smtp, config.source_path.parent if config.source_path else None)

    def message_id_for(self, effect_key: str) -> str:
        return message_id(effect_key, self.smtp.from_address)

    def build(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self.smtp.from_name, self.smtp.from_address))
        message["To"] = header_safe(email.to, 320)
        message["Subject"] = header_safe(email.subject or "A message from the front desk", 300)
        message["Date"] = format_datetime(email.date)
        message["Message-ID"] = email.message_id
        message.set_content(email.body)
        return message

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
        await asyncio.to_thread(self._send_blocking, email)

    def _send_blocking(self, email: Email) -> None:
        s = self.smtp
        user, password = secret(s.user_env), secret(s.password_env)
        if user and s.security == "none" and not _is_loopback(s.host):
            raise DeliveryError("refusing to send the SMTP password without TLS (delivery.smtp.security = \"none\")",
                                retryable=False)
        message = self.build(email)
        try:
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
                refused = client.send_message(message)
            finally:
                _close(client)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b""))
            raise _coded("refused the recipient", code, text, password) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(scrub(f"{PEER} refused the login ({exc.smtp_code})", password, user),
                                retryable=True) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(scrub(f"{PEER} does not support this: {exc}", password), retryable=True) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _coded("refused the message", exc.smtp_code, exc.smtp_error, password) from None
        except smtplib.SMTPResponseException as exc:
            raise _coded("answered", exc.smtp_code, exc.smtp_error, password) from None
        except (TimeoutError, socket.timeout):
            raise DeliveryError(f"{PEER} did not answer within {s.timeout_seconds:g} s", retryable=True) from None
        except smtplib.SMTPServerDisconnected as exc:
            if "timed out" in str(exc):  # smtplib wraps a read timeout this way
                raise DeliveryError(f"{PEER} did not answer within {s.timeout_seconds:g} s", retryable=True) from None
            raise DeliveryError(f"{PEER} closed the connection", retryable=True) from None
        except ssl.SSLError as exc:
            raise DeliveryError(scrub(f"TLS with {PEER} failed: {exc.reason or exc}", password),
                                retryable=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            text = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc) or type(exc).__name__
            raise DeliveryError(scrub(f"cannot reach {PEER}: {text}", password), retryable=True) from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _coded("refused the recipient", code, text, password)


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
