"""Every message a member or prospect receives, in the gym's words (``[gym]`` and ``[messages]`` in config).

A message is built whole when it is planned, so what a person approves is the
text as it will be sent: the template filled for that person, the campaign
footer, and the STOP line of a text message.  Execution builds it again from
current data and sends nothing that differs from what was approved.
"""

from __future__ import annotations

import re
from email.utils import formataddr
from typing import Any

from gymconsole.config import MESSAGE_PLACEHOLDERS, Config, GymConfig, SmtpConfig
from gymconsole.plan_text import sender_line
from gymconsole.present.sanitize import header_safe
from gymconsole.present.words import money

_PLACEHOLDER = re.compile(r"\{(" + "|".join(MESSAGE_PLACEHOLDERS) + r")\}")
NOTICE_KINDS = ("reminder", "final_notice")
EXAMPLE_PERSON = {"first_name": "Jane", "last_name": "Wright", "balance_cents": 248_000}
"""Who the config screen shows the messages to."""


def render(template: str, person: dict[str, Any], gym: GymConfig | None = None) -> str:
    """Fill ``{first_name}``-style placeholders; anything else (other braces, format specs) stays as written.

    Plain substitution, not ``str.format``: a template from the model can
    neither raise nor expand (``{first_name:>999999999}`` stays literal).
    """
    gym = gym or GymConfig()
    values = {
        "first_name": str(person.get("first_name", "")),
        "last_name": str(person.get("last_name", "")),
        "amount_due": money((person.get("balance_cents") or 0) / 100),
        "gym_name": gym.name,
        "sign_off": gym.sign_off,
        "gym_phone": gym.phone,
        "reply_to": gym.reply_to,
    }
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def email_from(smtp: SmtpConfig, gym: GymConfig) -> str:
    """The ``From`` header of every email to a member or prospect (the sender builds it; approvals show it)."""
    return formataddr((header_safe(smtp.from_name or gym.name, 80), smtp.from_address))


def email_headers(config: Config) -> dict[str, str]:
    """The sender's headers an email gets, as a person approving it is shown them."""
    smtp = config.delivery.smtp
    headers = {"from": email_from(smtp, config.gym) if smtp.from_address
               else f"{header_safe(smtp.from_name or config.gym.name, 80)} (no sending address set yet)"}
    if config.gym.reply_to:
        headers["reply_to"] = config.gym.reply_to
    return headers


def _for_channel(config: Config, text: str, channel: str) -> str:
    stop = config.messages.sms_stop.strip()
    if channel == "sms" and stop:
        return f"{text.rstrip()}\n{render(stop, {}, config.gym)}"
    return text


def notice_text(config: Config, kind: str, channel: str, member: dict[str, Any]) -> str:
    """A past-due reminder or final notice exactly as ``member`` gets it."""
    template = config.messages.reminder if kind == "reminder" else config.messages.final_notice
    return _for_channel(config, render(template, member, config.gym), channel)


def notice_subject(config: Config) -> str:
    return render(config.messages.notice_subject, {}, config.gym)


def campaign_text(config: Config, template: str, channel: str, person: dict[str, Any]) -> str:
    """A campaign message exactly as ``person`` gets it: the model's text, the gym's footer, the STOP line."""
    text = render(template, person, config.gym).rstrip()
    footer = render(config.messages.campaign_footer, person, config.gym).strip()
    if footer:
        text = f"{text}\n\n{footer}"
    return _for_channel(config, text, channel)


def examples(config: Config) -> list[tuple[str, str]]:
    """``(what, text as sent)`` of every message kind, to an example member, for the config screen."""
    person = EXAMPLE_PERSON
    campaign = "Hi {first_name}, your first week of classes is on us."
    sender = sender_line(email_headers(config))
    notice_head = f"{sender}\nSubject: {notice_subject(config)}"
    return [
        ("reminder by email", f"{notice_head}\n{notice_text(config, 'reminder', 'email', person)}"),
        ("final notice by email", f"{notice_head}\n{notice_text(config, 'final_notice', 'email', person)}"),
        ("reminder by text message", notice_text(config, "reminder", "sms", person)),
        ("campaign by email", f"{sender}\n{campaign_text(config, campaign, 'email', person)}"),
        ("campaign by text message", campaign_text(config, campaign, "sms", person)),
    ]
