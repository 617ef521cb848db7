"""``Encoding.ASCII``, exactly as .NET does it.

Mirrors System.Text.ASCIIEncoding: ``get_string`` turns every byte above 0x7F
into ``?`` (not U+FFFD), one character per byte, so a character count equals
a byte count; ``get_bytes`` turns every character above U+007F into ``?``.
"""
from __future__ import annotations

__all__ = ["ascii_get_string", "ascii_get_bytes"]

_TO_ASCII = bytes(range(128)) + b"?" * 128


def ascii_get_string(buffer, offset: int = 0, count: int | None = None) -> str:
    """``buffer`` is bytes or a bytearray (a receive buffer)."""
    end = len(buffer) if count is None else offset + count
    data = buffer[offset:end]
    if not data.isascii():  # the rare case pays for the translation; plain text is decoded as is
        data = data.translate(_TO_ASCII)
    return data.decode("ascii")


def ascii_get_bytes(text: str) -> bytes:
    return text.encode("ascii", "replace")
