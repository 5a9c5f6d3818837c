"""Cell values as exports write them, parsed into what the schema stores.

Each parser takes the cell's text (already stripped) and returns the stored
value, or raises :class:`BadValue` with a short reason that names what was
expected.  An empty cell is handled by the caller (a default, or "missing").
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

DateOrder = Literal["mdy", "dmy"]

EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_SERIAL_RANGE = (1, 200_000)  # 1900-01-01 .. 2447: any larger number is not a date
_MONEY_JUNK = re.compile(r"[\s$€£¥,]|USD|EUR|GBP|CAD|AUD", re.IGNORECASE)
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_SLASHED = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?")
_EUROPEAN = re.compile(r"[-\s$€£]*\d{1,3}(?:\.\d{3})*,\d{2}\s*(?:€|EUR)?\s*-?", re.IGNORECASE)
_SERIAL = re.compile(r"\d{1,6}(?:\.\d+)?")


class BadValue(ValueError):
    """A cell that cannot be read as what its column holds."""


_PLAIN_NUMBER = re.compile(r"-?\d{1,13}(?:\.\d{1,2})?")
_US_AMOUNT = re.compile(r"\$?(\d{1,3}(?:,\d{3}){1,3}|\d{1,13})(?:\.(\d{1,2}))?")


def money_cents(text: str) -> int:
    """``$1,234.56``, ``1234.56``, ``(12.00)``, ``-12.00``, ``12.00-``, ``1.234,56`` -> integer cents."""
    if _PLAIN_NUMBER.fullmatch(text):  # the common case, exactly: no float rounding, no Decimal
        whole, _, fraction = text.partition(".")
        cents = abs(int(whole)) * 100 + int((fraction + "00")[:2])
        return -cents if text.startswith("-") else cents
    if match := _US_AMOUNT.fullmatch(text):  # the next most common: $1,234.56
        whole, fraction = match.groups()
        return int(whole.replace(",", "")) * 100 + int(((fraction or "") + "00")[:2])
    raw = text
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    text = _MONEY_JUNK.sub("", text) if not _is_european(text) else _european(text)
    if text.endswith("-"):
        negative, text = not negative, text[:-1]
    if text.startswith("-"):
        negative, text = not negative, text[1:]
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"{raw!r} is not an amount of money") from None
    if not amount.is_finite() or abs(amount) >= 10**13:
        raise BadValue(f"{raw!r} is not an amount of money")
    cents = int((amount * 100).quantize(Decimal(1)))
    return -cents if negative else cents


def _is_european(text: str) -> bool:
    """``1.234,56`` or ``12,50``: a decimal comma with two digits, dots (if any) as thousands separators."""
    return bool(_EUROPEAN.fullmatch(text.strip()))


def _european(text: str) -> str:
    text = re.sub(r"[\s$€£¥]|EUR", "", text, flags=re.IGNORECASE)
    return text.replace(".", "").replace(",", ".")


def parse_date(text: str, order: DateOrder) -> str:
    """A calendar date as ``YYYY-MM-DD``; a time of day, if any, is dropped."""
    if len(text) == 10:
        if text[4] == "-" and text[7] == "-":
            try:
                date.fromisoformat(text)  # the common case: ISO already (validated, returned as it is)
                return text
            except ValueError:
                pass
        elif text[2] == text[5] and text[2] in "/.-" and text[:2].isdecimal() and text[3:5].isdecimal() \
                and text[6:].isdecimal():  # MM/DD/YYYY, DD.MM.YYYY: the same rules as _slashed, without a regex
            a, b, year = int(text[:2]), int(text[3:5]), int(text[6:])
            if text[2] == "." or a > 12:
                day, month = a, b
            elif b > 12 or order == "mdy":
                month, day = a, b
            else:
                day, month = a, b
            try:
                return date(year, month, day).isoformat()
            except ValueError as exc:
                raise BadValue(f"{text!r} is not a date ({exc})") from None
    return parse_moment(text, order)[:10]


def parse_moment(text: str, order: DateOrder) -> str:
    """A date or a date and time: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SS``.

    ISO dates, ``MM/DD/YYYY`` or ``DD/MM/YYYY`` (``order`` decides when both
    parts could be the month), ``DD.MM.YYYY`` (always day first), two-digit
    years, and Excel serial day numbers (``45231`` is 2023-11-01).
    """
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text).isoformat()  # the common case: ISO already
        except ValueError:
            pass
    try:
        if match := _ISO.fullmatch(text):
            year, month, day, hour, minute, second, _zone = match.groups()
            return _stamp(int(year), int(month), int(day), hour, minute, second)
        if match := _SLASHED.fullmatch(text):
            return _slashed(match, order)
        if _SERIAL.fullmatch(text):
            return _excel(text)
    except ValueError as exc:
        raise BadValue(f"{text!r} is not a date ({exc})") from None
    raise BadValue(f"{text!r} is not a date (expected YYYY-MM-DD, MM/DD/YYYY, DD.MM.YYYY or an Excel date)")


def _slashed(match: re.Match[str], order: DateOrder) -> str:
    first, separator, second, year_text, hour, minute, sec, half = match.groups()
    a, b = int(first), int(second)
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if year < 70 else 1900
    if separator == "." or a > 12:
        day, month = a, b
    elif b > 12:
        month, day = a, b
    else:
        month, day = (a, b) if order == "mdy" else (b, a)
    if half and hour is not None:
        hour_number = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
        hour = str(hour_number)
    return _stamp(year, month, day, hour, minute, sec)


def _excel(text: str) -> str:
    serial = float(text)
    if not EXCEL_SERIAL_RANGE[0] <= serial <= EXCEL_SERIAL_RANGE[1]:
        raise ValueError("out of range for an Excel date")
    moment = datetime.combine(EXCEL_EPOCH, datetime.min.time()) + timedelta(days=serial)
    if serial == int(serial):
        return moment.date().isoformat()
    return moment.replace(microsecond=0).isoformat()


def _stamp(year: int, month: int, day: int, hour: str | None, minute: str | None, second: str | None) -> str:
    day_value = date(year, month, day)
    if hour is None:
        return day_value.isoformat()
    moment = datetime(year, month, day, int(hour), int(minute or 0), int(second or 0))
    return moment.isoformat()


TRUE_WORDS = frozenset({"1", "y", "yes", "true", "t", "x", "on", "opted out", "opt out", "unsubscribed"})
FALSE_WORDS = frozenset({"0", "n", "no", "false", "f", "off", "", "opted in", "subscribed"})


def parse_flag(text: str) -> int:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return 1
    if word in FALSE_WORDS:
        return 0
    raise BadValue(f"{text!r} is not yes or no")


def parse_count(text: str) -> int:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise BadValue(f"{text!r} is not a whole number") from None
    if not value.is_finite() or value != value.to_integral_value() or not 0 <= value < 10**9:
        raise BadValue(f"{text!r} is not a whole number")
    return int(value)


def word_key(text: str) -> str:
    """How headers and status words are compared: case, spaces, dashes, underscores and dots do not matter."""
    return re.sub(r"[\s_\-./#]+", "", text.casefold())


def parse_choice(text: str, choices: dict[str, str], what: str) -> str:
    """A status word mapped to the schema's value; ``choices`` keys are already :func:`word_key`-ed."""
    value = choices.get(text) or choices.get(word_key(text))
    if value is None:
        known = sorted({v for v in choices.values()})
        raise BadValue(f"unknown {what} {text!r} (expected one of: {', '.join(known)}, or map it in the config)")
    return value
