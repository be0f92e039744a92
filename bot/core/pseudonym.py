"""Stand-ins for people's ids once their identity must go (retention, erasure)."""

from __future__ import annotations

from bot.core.crypto import Cipher

PREFIX = "pseudonym:"


def pseudonym(cipher: Cipher, person_id: str) -> str:
    """The same stand-in for the same id (under the same key), so counts of distinct people
    still add up; nobody can go back to the id without the key."""
    if not person_id or person_id.startswith(PREFIX):
        return person_id
    return PREFIX + cipher.lookup_hash(f"person {person_id}")[:24]
