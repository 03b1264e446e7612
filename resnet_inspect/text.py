"""Text that came from a file or a user, made safe to print.

A name in a weights file, a path, a spec's label can hold control characters: an escape sequence that
clears the screen or colours a fake verdict, a window-title sequence, a NUL, a bidirectional override
that reorders what follows. `visible` writes each of them as an escape (``\\x1b``, ``\\u202e``), so
what reaches a terminal, a report or the page is exactly what the file holds, and inert."""

from __future__ import annotations

import unicodedata

# Control (Cc), format (Cf: bidirectional overrides, zero-width characters), line and paragraph
# separators (Zl, Zp), surrogates (Cs) and unassigned or private code points (Cn, Co).
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co"}


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every control or invisible formatting character written as an escape; newlines
    (and tabs) are kept only where ``keep_newlines`` asks for several lines."""
    value = str(text)
    if value.isprintable() and value.isascii():
        return value
    kept = "\n\t" if keep_newlines else ""
    return "".join(
        char if char in kept or unicodedata.category(char) not in _HIDDEN else _escaped(char) for char in value
    )


_MARKDOWN = set("\\`*_[]()<>#!|~$")  # links, images, emphasis, code, HTML, headings, tables, formulas


def markdown_literal(text: object) -> str:
    """``text`` made visible and shown as written where Markdown is rendered (the page's messages):
    a crafted name cannot become a link, an image to fetch, a heading or a formula."""
    return "".join("\\" + char if char in _MARKDOWN else char for char in visible(text))
