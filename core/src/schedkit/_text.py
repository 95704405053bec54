"""Untrusted text (a file's name, its keys and values) made safe to show: one line of
printable characters, every other character written as its escape (``\\n``, ``\\x1b``,
``\\u202e``, ``\\udc80``), so that nothing read from a file can start a line of its own in
a written setup, or reach a terminal as a control sequence, or fail to encode."""

from __future__ import annotations

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(c: str) -> str:
    """One character's escape: ``\\n``, ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``."""
    if c in _SHORT:
        return _SHORT[c]
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def escape(text: str) -> str:
    """``text`` with every character that is not printable (controls, line and paragraph
    separators, format characters such as bidirectional overrides, lone surrogates,
    private-use and unassigned code points) replaced by its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else escape_char(c) for c in text)


def escape_lines(text: str) -> str:
    """``text`` with each of its lines escaped (:func:`escape`), its line breaks kept: a
    message of several lines made of untrusted text, printed as it is laid out."""
    return "\n".join(escape(line) for line in text.split("\n"))
