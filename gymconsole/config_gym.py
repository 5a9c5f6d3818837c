"""Configuration sections about the gym as members know it: its name and the words of every message.

Part of :mod:`gymconsole.config` (which re-exports them), written the same way: plain sections whose
annotations stay strings until a configuration is validated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from gymconsole.config_base import ConfigSection, check

if TYPE_CHECKING:
    from pydantic import Field, ValidationInfo


MESSAGE_PLACEHOLDERS = {
    "first_name": "the person's first name",
    "last_name": "the person's last name",
    "amount_due": "the member's balance, written like $2,480.00",
    "gym_name": "gym.name",
    "sign_off": "gym.sign_off",
    "gym_phone": "gym.phone",
    "reply_to": "gym.reply_to",
}
"""What a message template may say in braces; each is filled for every person (plain substitution)."""

_BRACED = re.compile(r"\{([^{}\n]*)\}")


def _template_problem(template: str) -> str | None:
    """An unknown ``{placeholder}`` would reach members as written: it is a configuration error."""
    for match in _BRACED.finditer(template):
        if match.group(1) not in MESSAGE_PLACEHOLDERS:
            return f"unknown placeholder {{{match.group(1)}}} (known: {', '.join(MESSAGE_PLACEHOLDERS)})"
    return None


def _one_line_text(value: str, what: str) -> str:
    if not value.isprintable():
        raise ValueError(f"{what} must be one line of printable characters")
    return value.strip()


class GymConfig(ConfigSection):
    """The gym as members and prospects know it: who their messages come from."""

    name: Annotated[str, Field(min_length=1, max_length=80)] = "the gym"
    """The gym's name in messages (`{gym_name}`) and as the email sender's name."""
    sign_off: Annotated[str, Field(max_length=120)] = "The front desk"
    """How messages are signed (`{sign_off}`), e.g. `Sam and the front desk team`."""
    reply_to: Annotated[str, Field(max_length=254)] = ""
    """Where replies to emails go (the `Reply-To` header, `{reply_to}`); empty: to the sender address."""
    phone: Annotated[str, Field(max_length=40)] = ""
    """The gym's phone number for messages (`{gym_phone}`); empty: none."""

    @check("name", "sign_off", "phone")
    def _printable(cls, value: str, info: ValidationInfo) -> str:
        return _one_line_text(value, info.field_name or "value")

    @check("reply_to")
    def _address(cls, value: str) -> str:
        value = _one_line_text(value, "reply_to")
        if value and not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+", value):
            raise ValueError(f"expected an email address such as front-desk@yourgym.com, got {value!r}")
        return value


class MessageTemplates(ConfigSection):
    """The words of every message the console sends; `{placeholders}` are filled for each person."""

    reminder: Annotated[str, Field(min_length=1, max_length=1000)] = (
        "Hi {first_name}, a friendly reminder that your account at {gym_name} has {amount_due} past due. "
        "Please pay at the front desk or online.\n{sign_off}")
    """A friendly past-due reminder."""
    final_notice: Annotated[str, Field(min_length=1, max_length=1000)] = (
        "Hi {first_name}, this is a final notice: {amount_due} is past due on your account at {gym_name}. "
        "Without payment, door access will be paused and the account may go to collections.\n{sign_off}")
    """The final notice before door access is paused and the account goes to collections."""
    notice_subject: Annotated[str, Field(min_length=1, max_length=120)] = "Your account at {gym_name} is past due"
    """The email subject of reminders and final notices."""
    campaign_footer: Annotated[str, Field(max_length=300)] = "{sign_off}, {gym_name}"
    """Added below every campaign message (the model writes the rest); empty: none."""
    sms_stop: Annotated[str, Field(max_length=160)] = "Reply STOP to opt out."
    """The last line of every text message (SMS); empty: none."""

    @check("*")
    def _known_placeholders(cls, value: str) -> str:
        if problem := _template_problem(value):
            raise ValueError(problem)
        return value

    @check("notice_subject")
    def _subject_one_line(cls, value: str) -> str:
        return _one_line_text(value, "notice_subject")
