"""Making text from the network safe to show.

Everything in a report that a remote party chose -- a certificate's issuer, a
``Server:`` header, a proxy's reason phrase, a resolver's answer, or a whole
report file someone handed us -- can carry terminal escape sequences (which
can retitle a window, move the cursor or hide lines), control characters, or
text long enough to bury the rest of the output. Every renderer passes such
text through :func:`clean` (one line) or :func:`clean_block` (keeps line
breaks) before formatting it; format-specific escaping (markdown, CSV, HTML)
happens after, in the renderer.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_MAX = 300
ELLIPSIS = "\u2026"

# ECMA-48 sequences, 7-bit (ESC ...) and 8-bit (C1) forms. String sequences
# (OSC, DCS, SOS, PM, APC) run to BEL or ST, or to the end of an unterminated
# string; CSI runs to its final byte; any other ESC takes one more character.
_ESCAPES = re.compile(
    r"""
      (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c|$)   # string sequences
    | (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?                                   # CSI
    | \x1b [ -/]* [0-~]?                                                     # other ESC
    """,
    re.VERBOSE | re.DOTALL,
)
# C0 and C1 controls and DEL, then the Unicode bidi overrides/isolates that
# reorder what is displayed ("Trojan Source", CVE-2021-42574).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\t\v\f\x85\u2028\u2029]")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def truncate(text: str, max_len: int | None = DEFAULT_MAX) -> str:
    """``text`` cut to ``max_len`` characters, the last one an ellipsis."""
    if max_len is None or len(text) <= max_len:
        return text
    return text[: max(max_len - 1, 0)] + ELLIPSIS


def clean(value: Any, max_len: int | None = DEFAULT_MAX) -> str:
    """One safe line: escapes removed, line breaks and tabs made spaces,
    every other control character dropped, truncated to ``max_len``."""
    text = _ESCAPES.sub("", _text(value))
    text = _LINE_BREAKS.sub(" ", text)
    return truncate(_CONTROLS.sub("", text), max_len)


def clean_block(value: Any, max_len: int | None = None) -> str:
    """Like :func:`clean`, but line breaks survive (normalised to ``\\n``)."""
    text = _ESCAPES.sub("", _text(value))
    lines = _LINE_BREAKS.sub(lambda m: "\n" if m.group() not in "\t\v\f" else " ", text)
    return truncate("\n".join(_CONTROLS.sub("", line) for line in lines.split("\n")), max_len)


def is_clean(text: str) -> bool:
    """True when ``text`` holds no escape or control character (for tests and asserts)."""
    return not _CONTROLS.search(_LINE_BREAKS.sub("", text))
