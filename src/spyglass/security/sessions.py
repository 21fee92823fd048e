"""The UI's sign-in sessions: random ids in an HttpOnly cookie, the state kept server-side.

The cookie holds 32 random bytes and nothing else, so it can be neither forged nor read for
anything; the table is keyed by the id's SHA-256 (a dict lookup on the id itself would take a time
that depends on the id). Sessions end at ``ttl_s`` after sign-in, at the credential's own expiry
(a JWT's ``exp``), at sign-out, or when the credential stops being valid (the user or the token
is removed from its file): every use re-checks. The table is bounded: when full, the oldest session
is dropped, so a flood of sign-ins costs memory only up to ``max_sessions``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from spyglass.security.authenticator import Credential

COOKIE = "spyglass_session"
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Session:
    credential: Credential
    expires: float  # Unix seconds


class SessionStore:
    def __init__(self, ttl_s: float, still_valid: Callable[[Credential], bool],
                 max_sessions: int = MAX_SESSIONS, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._still_valid = still_valid
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    @staticmethod
    def _key(session_id: str) -> bytes:
        return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).digest()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, credential: Credential) -> tuple[str, Session]:
        """A new session for ``credential``: its id (for the cookie) and its state."""
        now = self._clock()
        expires = now + self.ttl_s
        if credential.expires is not None:
            expires = min(expires, credential.expires)
        session_id = secrets.token_urlsafe(32)
        session = Session(credential, expires)
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[key]
            self._sessions[self._key(session_id)] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> Credential | None:
        """The credential of a live session, or None (unknown, expired or revoked; such a
        session is forgotten)."""
        if not session_id or len(session_id) > 128:
            return None
        key = self._key(session_id)
        with self._lock:
            session = self._sessions.get(key)
        if session is None:
            return None
        if session.expires <= self._clock() or not self._still_valid(session.credential):
            self.delete(session_id)
            return None
        return session.credential

    def delete(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(self._key(session_id), None)
