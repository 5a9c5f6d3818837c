"""The one sanitiser every untrusted text passes before a person sees it.

Names, notes, the model's words, API errors and network replies can hold
control characters (``ESC[2J`` clears a terminal, ``ESC]0;...`` retitles the
window, ``ESC]52`` writes the clipboard, a carriage return overwrites a line),
bidirectional overrides (``U+202E`` shows ``cod.exe`` as ``exe.doc``) and
zero-width characters (two names that look the same).  Nothing is stripped
silently: each such character is shown as a visible mark, so the manager sees
that something is odd.

- C0 controls and DEL become their Unicode control pictures (``␛[2J``).
- C1 controls, bidi controls, zero-width and other invisible format
  characters become ``⟨U+202E⟩``.
- In ``multiline`` text newlines and tabs stay; ``\\r\\n`` reads as a newline.
  In one-line text (names, headers, table cells) a newline shows as ``␤``.

Markup is a separate concern: Rich/Textual text built from this is still
wrapped in ``Text``/``Content`` (never parsed as markup).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_INVISIBLE = (
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark
    "\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f"  # zero-width space/non-joiner/joiner, LRM, RLM
    "\u2028\u2029"  # line/paragraph separators
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates
    "\u3164\ufeff\uffa0"
    "\ufff9-\ufffb"  # interlinear annotation
    "\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f"  # tag characters
)
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"


@cache
def _unsafe(multiline: bool) -> re.Pattern[str]:
    """The characters to make visible; compiled at first use (two such classes cost every command's start-up)."""
    return re.compile(f"[{_CONTROL}{_INVISIBLE}]" if multiline else f"[{_CONTROL}\n\t{_INVISIBLE}]")


_NEWLINE_PICTURE = "␤"


def _picture(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ .. ␟ (ESC is ␛)
    if code == 0x7F:
        return "␡"
    if char == "\n":
        return _NEWLINE_PICTURE
    return f"⟨U+{code:04X}⟩"


def _replace(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\n":
        return _NEWLINE_PICTURE
    if char == "\t":
        return " "
    return _picture(char)


def visible(value: object, *, multiline: bool = False) -> str:
    """``value`` as text that is safe to show: every control or invisible character made visible."""
    text = "" if value is None else str(value)
    if multiline:
        text = text.replace("\r\n", "\n")
    pattern = _unsafe(multiline)
    return pattern.sub(_replace, text) if pattern.search(text) else text


def is_clean(text: str) -> bool:
    """True when ``text`` has no control or invisible character (newlines and tabs allowed)."""
    return _unsafe(True).search(text) is None


def header_safe(value: object, limit: int = 200) -> str:
    """For email headers and one-line alerts: one visible line, shortened to ``limit`` characters."""
    text = " ".join(visible(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deep_visible(value: object) -> object:
    """Every string inside a JSON-like value made visible (for pretty-printed detail panes)."""
    if isinstance(value, str):
        return visible(value, multiline=True)
    if isinstance(value, dict):
        return {visible(k): deep_visible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [deep_visible(v) for v in value]
    return value


def category_is_invisible(char: str) -> bool:
    """Whether a character is a format or control character (for tests over the whole Unicode range)."""
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
