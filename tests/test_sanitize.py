"""sanitize: the one place network text is made safe for terminals and files."""

from __future__ import annotations

from netcheck.sanitize import ELLIPSIS, clean, clean_block, is_clean, truncate


def test_ansi_csi_and_osc_sequences_are_removed() -> None:
    # Given text with a colour (CSI), a window-title (OSC, BEL- and ST-terminated)
    # and an 8-bit CSI
    text = "\x1b[31mred\x1b[0m \x1b]0;title\x07a \x1b]8;;http://x\x1b\\b \x9b2Jc"
    # Then only the visible characters remain
    assert clean(text) == "red a b c"


def test_unterminated_osc_swallows_the_rest() -> None:
    # An unterminated string sequence would swallow the terminal's later output too
    assert clean("ok\x1b]0;never ends") == "ok"


def test_control_characters_and_bidi_overrides_are_dropped() -> None:
    assert clean("nul\x00bs\x08del\x7fc1\x85x") == "nulbsdelc1 x"
    assert clean("abc\u202edef\u2066") == "abcdef"


def test_line_breaks_become_spaces_in_one_line_text() -> None:
    assert clean("a\nb\r\nc\td") == "a b c d"
    assert clean_block("a\nb\r\nc\td\x1b[1m") == "a\nb\nc d"


def test_long_text_is_truncated_with_an_ellipsis() -> None:
    assert clean("x" * 500, 10) == "x" * 9 + ELLIPSIS
    assert len(clean("y" * 5000)) == 300
    assert truncate("short", 10) == "short"
    assert clean("z" * 5000, None) == "z" * 5000


def test_none_and_non_strings() -> None:
    assert clean(None) == ""
    assert clean(403) == "403"


def test_unicode_text_is_kept() -> None:
    assert clean("Zürich 日本 café") == "Zürich 日本 café"


def test_is_clean() -> None:
    assert is_clean("plain text\nwith lines")
    assert not is_clean("bad\x1b[31m")
