"""Reaching the world: sending the outbox, door controllers, and alerts to the manager.

Modules (nothing is imported here, so importing one stays cheap):

- ``transport``: secrets from the environment, a small JSON-over-HTTP client, :class:`DeliveryError`.
- ``email`` / ``sms``: the SMTP and HTTP-gateway senders.
- ``outbox``: the outbox rows' life (claim, sent, retry, failed, reconcile, opt-outs).
- ``pacing``: drip rate, daily cap and quiet hours per channel.
- ``sender``: :class:`OutboxSender`, which drains the outbox.
- ``door``: the door-controller adapter and the drift check.
- ``alerts``: :class:`AlertNotifier`, one-line alerts on failed runs and waiting approvals.
- ``service``: :class:`DeliveryService`, the event-bus subscriber that ties them to the engine.
"""
