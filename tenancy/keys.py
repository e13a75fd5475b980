"""API keys: 256 random bits, shown once, kept as SHA-256 (a fast hash suits random secrets).

A key reads ``lk_<prefix>_<secret>``; the prefix is public (it names the key in lists and logs),
the secret never leaves the response that created it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

KEY_PATTERN = re.compile(r"^lk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, slots=True)
class NewKey:
    prefix: str
    secret: str
    """The whole key, to show once."""
    key_hash: str


def new_key() -> NewKey:
    prefix = secrets.token_hex(6)
    secret = f"lk_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(prefix, secret, hash_key(secret))


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(secret: str) -> bool:
    return KEY_PATTERN.match(secret) is not None
