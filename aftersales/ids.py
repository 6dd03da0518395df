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


def resolve(typed: str, known, what: str, listed_by: str, min_length: int = 1, show: bool = False) -> str:
    """The one ID among `known` (an iterable of full IDs) that the typed ID or prefix names.

    ValueError (the message names the fix) when none or several match: `what` names the
    kind of record ("ticket", "incident"), `listed_by` the command that lists them. With
    `show`, an ambiguous prefix lists the candidates.
    """
    prefix = normalize(typed)
    if len(prefix) < min_length or (min_length > 1 and not is_valid(prefix)):
        raise ValueError(f"'{typed}' is not a {what} ID; IDs are letters and digits, type at least {min_length} of them")
    found = {k for k in known if prefix and k.startswith(prefix)}
    if not found:
        raise ValueError(f"unknown {what} '{typed}'; `{listed_by}` lists {'tickets' if what == 'ticket' else 'them'}")
    if len(found) > 1:
        if show:
            shown = ", ".join(sorted(f[: len(prefix) + 2] for f in found)[:5])
            raise ValueError(f"{what} '{typed}' is ambiguous ({len(found)} {what}s start so: {shown}); type more characters")
        raise ValueError(f"{what} '{typed}' is ambiguous ({len(found)} match); type more characters")
    return found.pop()
