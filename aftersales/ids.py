"""IDs that stay unique without a shared counter.

A ticket ID is 12 characters of Crockford base32 (60 random bits from the OS): two clones
that create tickets in the same second draw independent IDs, and a collision would need
about a billion tickets in one shop to become likely. People type a prefix (7 characters
by default, as git abbreviates hashes); a prefix that is not unique is refused with the
candidates. `aftersales check` reports two tickets with one ID, should it ever happen.
Crockford's alphabet leaves out I, L, O and U, so an ID reads unambiguously over the phone,
and decoding forgives lower case and the look-alikes (O->0, I/L->1).
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
SHORT = 7
_FIX = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_id(length: int = LENGTH) -> str:
    n = secrets.randbits(5 * length)
    out = []
    for _ in range(length):
        out.append(ALPHABET[n & 31])
        n >>= 5
    return "".join(out)


def normalize(text: str) -> str:
    """Canonical form of a typed ID: upper case, look-alikes fixed, separators dropped."""
    return text.strip().upper().replace("-", "").replace(" ", "").translate(_FIX)


def is_valid(text: str) -> bool:
    return bool(text) and all(c in ALPHABET for c in text)


def short(ticket_id: str) -> str:
    return ticket_id[:SHORT]
