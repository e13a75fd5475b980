"""Reasons a client may read: one line, no server paths, no SQL, no driver boilerplate.

Dependency errors (a database that is down, an index file that is missing) carry file names,
connection strings and statements; the server log keeps those, the client gets the gist.
"""

from __future__ import annotations

import re

# An absolute filesystem path: a "/" that starts a token and at least one more "/" inside it.
_ABSOLUTE_PATH = re.compile(r"(?<![\w/:.~-])/(?:[^\s/'\"(),;:]+/)+([^\s/'\"(),;:]*)")
_BOILERPLATE = re.compile(r"\s*\(Background on this error at: [^)]*\)")
_MAX_LEN = 300


def without_paths(text: str) -> str:
    """``/srv/var/indexes/shop/v3/index.faiss`` -> ``index.faiss``: the file's name, not the disk's layout."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "(server path)", text)


def public_reason(exc: BaseException) -> str:
    """``OperationalError: connection refused``: the exception's kind and the first line of its message."""
    detail = getattr(exc, "detail", None)
    text = detail if isinstance(detail, str) else str(exc)
    line = _BOILERPLATE.sub("", text).strip().splitlines()[0] if text.strip() else ""
    line = without_paths(line)[:_MAX_LEN]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


__all__ = ["public_reason", "without_paths"]
