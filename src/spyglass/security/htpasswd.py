"""Users and bcrypt password hashes from an htpasswd file (``htpasswd -B``), for basic auth.

Each line is ``user:hash``, where ``hash`` is a bcrypt hash (``$2y$``, ``$2b$`` or ``$2a$``, as
``htpasswd -B`` or ``python -c 'import bcrypt; ...'`` write them). Spyglass reads two optional
fields after the hash, which Apache's tools leave alone: ``user:hash:ROLES:TENANT`` with ROLES a
comma-separated subset of read, write, admin (default: read) and TENANT the tenant the user is
bound to (default: none). ``#`` comments and blank lines are skipped. Other hash schemes (MD5
``$apr1$``, SHA1, crypt) are refused when the file is read: they are too cheap to brute-force.

bcrypt is slow on purpose (tens of milliseconds), so a verified password is remembered for a while
under an HMAC of user and password with a random per-process key (never the password itself), and
checks run on a thread so the event loop keeps serving. A missing user still costs one bcrypt check
so response times do not tell which users exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import bcrypt

from spyglass.security.filecache import ReloadingFile
from spyglass.security.principal import READ, Principal, parse_roles

_BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    """A hash to compare against when the user is unknown, at the file's cost, so that answer takes
    as long as a wrong password (made on first use: importing this module costs nothing)."""
    return bcrypt.hashpw(b"spyglass-no-such-user", bcrypt.gensalt(min(max(cost, 4), 31)))


def _cost(hashed: bytes) -> int:
    try:
        return int(hashed.split(b"$")[2])
    except (IndexError, ValueError):
        return 10
_CACHE_SIZE = 1024
_CACHE_TTL = 300.0  # seconds a verified password is remembered


@dataclass(frozen=True, slots=True)
class HtpasswdUser:
    name: str
    hash: bytes
    roles: frozenset[str]
    tenant: str | None


def parse_htpasswd(text: str, default_roles: frozenset[str] = frozenset({READ})) -> dict[str, HtpasswdUser]:
    """The users of an htpasswd file; ``ValueError`` naming the line for a bad one (never quoting
    the hash)."""
    users: dict[str, HtpasswdUser] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) < 2 or not fields[0] or len(fields) > 4:
            raise ValueError(f"line {number}: expected user:bcrypt-hash[:roles[:tenant]]")
        name, hashed = fields[0], fields[1]
        if not hashed.startswith(_BCRYPT_PREFIXES):
            raise ValueError(f"line {number}: user {name!r} has no bcrypt hash (make one with htpasswd -B)")
        try:
            roles = parse_roles(fields[2] if len(fields) > 2 else "", default_roles)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        tenant = fields[3].strip() if len(fields) > 3 and fields[3].strip() else None
        users[name] = HtpasswdUser(name, hashed.encode(), roles, tenant)
    return users


class Htpasswd:
    """Verifies user name and password pairs against the file at ``path`` (re-read on change)."""

    def __init__(self, path: str, default_roles: frozenset[str] = frozenset({READ})) -> None:
        self._file = ReloadingFile(path, lambda text: parse_htpasswd(text, default_roles))
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, float] = OrderedDict()  # key -> until (monotonic)
        self._lock = threading.Lock()

    def _cache_key(self, user: str, password: str, hashed: bytes) -> bytes:
        return hmac.new(self._key, b"\0".join([user.encode(), password.encode(), hashed]), hashlib.sha256).digest()

    def cached(self, user: str, password: str) -> Principal | None:
        """The principal when this password was verified in the last few minutes (no bcrypt, so
        it may run on the event loop); None when unknown, which is not a refusal: ``verify``."""
        entry = self._file.get().get(user)
        if entry is None:
            return None
        key = self._cache_key(user, password, entry.hash)
        with self._lock:
            until = self._verified.get(key)
        if until is not None and until > time.monotonic():
            return Principal(entry.name, entry.tenant, entry.roles)
        return None

    def verify(self, user: str, password: str) -> Principal | None:
        """The user's principal when ``password`` is theirs, else None. Blocking (bcrypt): call it
        from a thread."""
        users = self._file.get()
        entry = users.get(user)
        if entry is None:
            cost = _cost(next(iter(users.values())).hash) if users else 10
            bcrypt.checkpw(password.encode(), _dummy_hash(cost))
            return None
        key = self._cache_key(user, password, entry.hash)
        now = time.monotonic()
        with self._lock:
            seen = self._verified.get(key)
            if seen is not None and seen > now:
                return Principal(entry.name, entry.tenant, entry.roles)
        try:
            ok = bcrypt.checkpw(password.encode(), entry.hash)
        except ValueError:  # a malformed hash in the file: nobody gets in with it
            ok = False
        if not ok:
            return None
        with self._lock:
            self._verified[key] = now + _CACHE_TTL
            while len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return Principal(entry.name, entry.tenant, entry.roles)

    def still_valid(self, user: str, principal: Principal) -> bool:
        """Whether a session opened as ``user`` may go on: the user is still in the file with the
        same roles and tenant (a removed user, or a changed role, ends their sessions)."""
        entry = self._file.get().get(user)
        return entry is not None and entry.roles == principal.roles and entry.tenant == principal.tenant
