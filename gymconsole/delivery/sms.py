"""SMS through an HTTP gateway: one JSON POST per message, with an Idempotency-Key.

The request is ``POST <url>`` with ``Authorization: Bearer <token>``,
``Idempotency-Key: <digest of the outbox effect key>`` and the body
``{"to": ..., "body": ..., "from": ..., "reference": "outbox-<id>"}``.  Any
2xx is taken as accepted.  408/429/5xx and network failures are retried; other
4xx answers fail the message.  A gateway that honours the Idempotency-Key
accepts a resend after a crash without texting the person twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from gymconsole.config import SmsGatewayConfig
from gymconsole.delivery.transport import http_json, secret, stable_key

PEER = "the SMS gateway"


def idempotency_key(effect_key: str) -> str:
    """The Idempotency-Key of an outbox message: the same for every attempt at sending it."""
    return f"gymconsole-{stable_key(effect_key)}"


@dataclass(frozen=True)
class Text:
    """One text message to send."""

    to: str
    body: str
    idempotency_key: str
    reference: str


class SmsGatewaySender:
    """Sends :class:`Text` messages through the configured gateway."""

    def __init__(self, gateway: SmsGatewayConfig) -> None:
        self.gateway = gateway

    async def send(self, text: Text) -> None:
        """Send one text; failures raise :class:`~gymconsole.delivery.transport.DeliveryError`."""
        payload = {"to": text.to, "body": text.body, "reference": text.reference}
        if self.gateway.from_number:
            payload["from"] = self.gateway.from_number
        await http_json("POST", self.gateway.url, payload, peer=PEER, token=secret(self.gateway.token_env),
                        headers={"Idempotency-Key": text.idempotency_key}, timeout=self.gateway.timeout_seconds)
