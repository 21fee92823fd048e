"""Bearer tokens from a file: one ``TOKEN TENANT [ROLES]`` a line.

``TENANT`` is the tenant every request made with the token is bound to (``-`` or ``*``: bound to
none); ``ROLES`` is a comma-separated subset of read, write, admin, defaulting to read for the
query APIs' file and to write for the collector's. ``#`` comments and blank lines are skipped.

A presented token is looked up by its SHA-256 digest, then compared with ``hmac.compare_digest``,
so neither the lookup nor the comparison takes a time that depends on how much of a guess is right.
Principals are named ``token:<first 8 hex digits of the digest>``, which is safe to log and lets an
operator tell tokens apart (``sha256sum`` of the token shows the same digits).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from spyglass.security.filecache import ReloadingFile
from spyglass.security.principal import Principal, parse_roles

_UNBOUND = ("-", "*")
MIN_TOKEN_LENGTH = 16  # shorter tokens are refused when the file is read: too easy to guess


@dataclass(frozen=True, slots=True)
class TokenEntry:
    token: bytes
    principal: Principal


def fingerprint(token: bytes) -> str:
    """The name a token's principal goes by: 8 hex digits of its SHA-256."""
    return "token:" + hashlib.sha256(token).hexdigest()[:8]


def parse_tokens(text: str, default_roles: frozenset[str]) -> dict[bytes, TokenEntry]:
    """Entries keyed by the SHA-256 of the token; ``ValueError`` naming the line (never the token)."""
    entries: dict[bytes, TokenEntry] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) not in (2, 3):
            raise ValueError(f"line {number}: expected TOKEN TENANT [ROLES]")
        token = fields[0].encode()
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"line {number}: token shorter than {MIN_TOKEN_LENGTH} characters")
        try:
            roles = parse_roles(fields[2] if len(fields) == 3 else "", default_roles)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        tenant = None if fields[1] in _UNBOUND else fields[1]
        digest = hashlib.sha256(token).digest()
        if digest in entries:
            raise ValueError(f"line {number}: the same token is listed twice")
        entries[digest] = TokenEntry(token, Principal(fingerprint(token), tenant, roles))
    return entries


class TokenFile:
    """The tokens of ``path`` (re-read on change)."""

    def __init__(self, path: str, default_roles: frozenset[str]) -> None:
        self._file = ReloadingFile(path, lambda text: parse_tokens(text, default_roles))

    def lookup(self, token: str) -> Principal | None:
        """The principal ``token`` stands for, or None."""
        presented = token.encode("utf-8", errors="surrogateescape")
        entry = self._file.get().get(hashlib.sha256(presented).digest())
        if entry is None or not hmac.compare_digest(entry.token, presented):
            return None
        return entry.principal

    def lookup_digest(self, digest: bytes) -> Principal | None:
        """The principal of the token with SHA-256 ``digest`` while the file still lists it (a UI
        session re-checks its token this way without keeping the token)."""
        entry = self._file.get().get(digest)
        return None if entry is None else entry.principal
