"""Configuration sections about what lies outside gymconsole: the mail server, the SMS gateway, the door
controller, alerts to the manager and the membership system's exports.

Part of :mod:`gymconsole.config` (which re-exports them), written the same way: plain sections whose
annotations stay strings until a configuration is validated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from gymconsole.config_base import ConfigSection, check, check_after, spec

if TYPE_CHECKING:
    from pydantic import Field


class SmtpConfig(ConfigSection):
    """The mail server that sends email (used when `delivery.email = "smtp"` and for email alerts)."""

    host: str = ""
    """SMTP server host name; empty means no mail server is configured."""
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    """SMTP port: 587 for STARTTLS, 465 for implicit TLS, 25 for a local relay."""
    security: Literal["starttls", "tls", "none"] = "starttls"
    """`starttls` (upgrade after connecting), `tls` (implicit TLS) or `none` (a relay on this machine only)."""
    from_address: str = ""
    """Sender address of every email, e.g. `front-desk@yourgym.com` (also the Message-ID domain)."""
    from_name: str = ""
    """Sender display name; empty: `gym.name`."""
    user_env: str = "GYMCONSOLE_SMTP_USER"
    """Environment (or `.env`) variable holding the SMTP user name; unset means no login."""
    password_env: str = "GYMCONSOLE_SMTP_PASSWORD"
    """Environment (or `.env`) variable holding the SMTP password."""
    ca_file: str = ""
    """Extra CA certificate (PEM) to trust for this server, e.g. a self-signed relay; relative to the config file."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    """Timeout of one SMTP conversation step."""


class SmsGatewayConfig(ConfigSection):
    """An HTTP SMS gateway taking one JSON POST per message."""

    url: str = ""
    """The gateway's JSON endpoint (https://...); empty means no gateway is configured."""
    token_env: str = "GYMCONSOLE_SMS_TOKEN"
    """Environment (or `.env`) variable holding the gateway's bearer token."""
    from_number: str = ""
    """Sender number or ID passed to the gateway as `from` (empty: the gateway's default)."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 15.0
    """Timeout of one gateway request."""


class ChannelPacing(ConfigSection):
    """How fast one channel may send."""

    per_hour: Annotated[int, Field(ge=1)]
    """Most messages sent in any 60 minutes (the drip rate)."""
    per_day: Annotated[int, Field(ge=1)]
    """Most messages sent in one local day (the daily cap)."""


class DeliveryConfig(ConfigSection):
    """How queued messages leave the outbox."""

    email: Literal["outbox", "smtp"] = "outbox"
    """`outbox`: emails stay in the outbox table, nothing is sent; `smtp`: sent through `delivery.smtp`."""
    sms: Literal["outbox", "gateway"] = "outbox"
    """`outbox`: texts stay in the outbox table; `gateway`: sent through `delivery.sms_gateway`."""
    email_pacing: ChannelPacing = spec(factory=lambda: ChannelPacing(per_hour=200, per_day=1000))
    """Drip rate and daily cap of email."""
    sms_pacing: ChannelPacing = spec(factory=lambda: ChannelPacing(per_hour=60, per_day=300))
    """Drip rate and daily cap of SMS."""
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 5
    """Attempts per message before it is marked failed."""
    retry_base_seconds: Annotated[float, Field(gt=0)] = 60.0
    """Wait before the first retry; doubles after each failed attempt."""
    retry_max_seconds: Annotated[float, Field(gt=0)] = 3600.0
    """Longest wait between two attempts."""
    stale_claim_seconds: Annotated[float, Field(gt=0)] = 900.0
    """A message left `sending` this long by a process that cannot be checked is sent again."""
    smtp: SmtpConfig = spec(factory=SmtpConfig)
    """The mail server."""
    sms_gateway: SmsGatewayConfig = spec(factory=SmsGatewayConfig)
    """The SMS gateway."""

    @check_after
    def _channels_configured(self) -> None:
        if self.email == "smtp" and not (self.smtp.host and self.smtp.from_address):
            raise ValueError('email = "smtp" needs delivery.smtp.host and delivery.smtp.from_address')
        if self.sms == "gateway" and not self.sms_gateway.url:
            raise ValueError('sms = "gateway" needs delivery.sms_gateway.url')
        if self.sms_gateway.url and not self.sms_gateway.url.startswith(("https://", "http://")):
            raise ValueError("sms_gateway.url must start with https:// or http://")


class DoorControllerConfig(ConfigSection):
    """Where door access state lives."""

    kind: Literal["database", "http"] = "database"
    """`database`: the gym's access system reads `door_credentials`; `http`: a controller's REST API confirms each change."""
    base_url: str = ""
    """The controller's REST API root (https://...), for `kind = "http"`."""
    token_env: str = "GYMCONSOLE_DOOR_TOKEN"
    """Environment (or `.env`) variable holding the controller's bearer token."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    """Timeout of one controller request (a door change waits for it)."""

    @check_after
    def _url_given(self) -> None:
        if self.kind == "http" and not self.base_url.startswith(("https://", "http://")):
            raise ValueError('kind = "http" needs base_url starting with https:// or http://')


class AlertsConfig(ConfigSection):
    """Notes to the manager when something needs attention."""

    on_failure: bool = True
    """Alert when a run ends `failed` or `budget_exhausted`."""
    approval_wait_minutes: Annotated[float, Field(ge=0)] = 60.0
    """Alert when an approval has waited this long (0: never)."""
    slack_webhook_env: str = "GYMCONSOLE_SLACK_WEBHOOK"
    """Environment (or `.env`) variable holding a Slack-compatible incoming webhook URL; unset means no webhook."""
    email_to: list[str] = spec(factory=list)
    """Addresses alerted by email through `delivery.smtp` (empty: no email alerts)."""
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    """Timeout of one alert request."""


WATCH_PATTERNS = {"members": "members*.csv", "prospects": "prospects*.csv", "invoices": "invoices*.csv",
                  "payments": "payments*.csv", "referrals": "referrals*.csv", "training_clients": "training*.csv",
                  "door_credentials": "door*.csv"}


class ImportMapping(ConfigSection):
    """How one system's export of one table is read."""

    columns: dict[str, str] = spec(factory=dict)
    """CSV header -> field name of `gymconsole import --template TABLE` (or "ignore")."""
    values: dict[str, dict[str, str]] = spec(factory=dict)
    """Per field, words in the export -> the schema's value (e.g. `status = { "OK" = "active" }`)."""
    date_order: Literal["mdy", "dmy"] | None = None
    """Ambiguous dates like 03/04/2026: month first (`mdy`) or day first (`dmy`); empty uses `import.date_order`."""


class ImportConfig(ConfigSection):
    """Bringing in the membership system's exports (`gymconsole import`, the watch folder)."""

    date_order: Literal["mdy", "dmy"] = "mdy"
    """Ambiguous dates like 03/04/2026: month first (`mdy`, US) or day first (`dmy`)."""
    watch_folder: str = ""
    """Folder the scheduler imports new exports from (relative to the config file); empty: no watch folder."""
    watch_mapping: str = ""
    """The mapping watched files are read with; empty: the default headers and synonyms."""
    files: dict[str, str] = spec(factory=lambda: dict(WATCH_PATTERNS))
    """Per table, the file-name pattern of its exports in the watch folder (tables left out keep the default)."""
    mappings: dict[str, dict[str, ImportMapping]] = spec(factory=dict)
    """Named mappings (`[import.mappings.NAME.members]`) for `--mapping NAME`."""

    @check("files")
    def _default_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        return {**WATCH_PATTERNS, **value}

    @check_after
    def _known_tables(self) -> None:
        tables = ("members", "prospects", "invoices", "payments", "referrals", "training_clients", "door_credentials")
        for name, mapping in self.mappings.items():
            for table in mapping:
                if table not in tables:
                    raise ValueError(f"mappings.{name}: unknown table {table!r} (tables: {', '.join(tables)})")
        for table in self.files:
            if table not in tables:
                raise ValueError(f"files: unknown table {table!r}")
        if self.watch_mapping and self.watch_mapping not in self.mappings:
            raise ValueError(f"watch_mapping: no mapping named {self.watch_mapping!r}")
