"""One entry point from an ``Authorization`` value to a ``Principal``, whatever the mode.

``build_authenticator(mode, ...)`` makes a ``NoAuth`` (everyone passes, no principal), ``BasicAuth``
(htpasswd), ``BearerAuth`` (tokens file) or ``OidcAuth`` (JWT). The HTTP middleware, the gRPC
interceptor and the UI's sign-in all call the same object, so every route family refuses the same
credentials for the same reasons. Verification that may block (bcrypt, a JWKS fetch) runs on a
thread.

Refusals are ``Unauthenticated`` (401 / UNAUTHENTICATED: no or bad credentials) and ``Forbidden``
(403 / PERMISSION_DENIED: a role is missing). Their ``reason`` is for the log and the
``spyglass_auth_refused`` metric; the answer to the client never says more than "unauthorized" or
"forbidden", so it cannot tell an unknown user from a wrong password, or probe token validity.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from spyglass.security.htpasswd import Htpasswd
from spyglass.security.oidc import InvalidToken, JwksSource, OidcVerifier
from spyglass.security.principal import Principal
from spyglass.security.throttle import FailureThrottle
from spyglass.security.tokens import TokenFile

REALM = "spyglass"
MODES = ("none", "basic", "bearer", "oidc")
MAX_CREDENTIAL_CHARS = 16 * 1024  # a JWT with many claims fits; anything longer is refused unparsed


class Unauthenticated(Exception):
    """No credentials, or credentials that are not accepted (HTTP 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Throttled(Unauthenticated):
    """Too many wrong passwords from this address lately (HTTP 429, ``Retry-After``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed attempts from this address")
        self.retry_after = retry_after


class Forbidden(Exception):
    """The caller is known but lacks the role the route needs (HTTP 403)."""

    def __init__(self, principal: Principal, role: str) -> None:
        super().__init__(f"{principal.name} lacks role {role}")
        self.principal = principal
        self.role = role


@dataclass(frozen=True, slots=True)
class Credential:
    """An accepted credential: who, until when (Unix seconds; None: while the file lists it), and
    ``ref``, what the UI session re-checks the credential by (a user name or a token's digest,
    never a password or a token)."""

    principal: Principal
    expires: float | None
    ref: bytes


class AuthMetrics:
    """``spyglass_auth_refused_total{server, reason}``: requests refused, by listener and why
    (``missing``, ``invalid``, ``forbidden``, ``throttled``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter("spyglass_auth_refused", "Requests refused by authentication or authorization",
                               ["server", "reason"], registry=registry)

    def count(self, server: str, exc: Exception) -> None:
        if isinstance(exc, Forbidden):
            reason = "forbidden"
        elif isinstance(exc, Throttled):
            reason = "throttled"
        else:
            reason = "missing" if isinstance(exc, Unauthenticated) and exc.reason == "no credentials" else "invalid"
        self.refused.labels(server, reason).inc()


def split_authorization(value: str | None) -> tuple[str, str]:
    """``(scheme lower-cased, credentials)``; ``Unauthenticated`` when absent or malformed."""
    if not value:
        raise Unauthenticated("no credentials")
    if len(value) > MAX_CREDENTIAL_CHARS:
        raise Unauthenticated("credentials too long")
    scheme, _, rest = value.strip().partition(" ")
    rest = rest.strip()
    if not rest:
        raise Unauthenticated("malformed Authorization value")
    return scheme.lower(), rest


def authorize(principal: Principal | None, role: str) -> None:
    """``Forbidden`` unless ``principal`` has ``role`` (no principal: authentication is off)."""
    if principal is not None and not principal.has(role):
        raise Forbidden(principal, role)


class Authenticator:
    """The ``none`` mode: every request passes without a principal."""

    mode = "none"
    scheme = ""
    enabled = False

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        return f'{self.scheme} realm="{REALM}"'

    async def authenticate(self, authorization: str | None, peer: str = "") -> Credential | None:
        """The credential of an ``Authorization`` value; None when authentication is off. ``peer``
        (the client's address) is what failed password checks are throttled by."""
        return None

    async def login(self, user: str, secret: str, peer: str = "") -> Credential:
        """The UI's sign-in form: a user and password (basic) or a token (bearer, oidc; ``user``
        is ignored)."""
        raise Unauthenticated("sign-in is not used without authentication")

    def still_valid(self, credential: Credential) -> bool:
        """Whether a UI session opened with ``credential`` may go on."""
        return credential.expires is None or credential.expires > time.time()


class BasicAuth(Authenticator):
    mode = "basic"
    scheme = "Basic"
    enabled = True

    def __init__(self, htpasswd: Htpasswd, throttle: FailureThrottle | None = None) -> None:
        self.htpasswd = htpasswd
        self.throttle = throttle  # None: wrong passwords are not throttled

    async def authenticate(self, authorization: str | None, peer: str = "") -> Credential:
        scheme, rest = split_authorization(authorization)
        if scheme != "basic":
            raise Unauthenticated("not the Basic scheme")
        try:
            user, sep, password = base64.b64decode(rest, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise Unauthenticated("malformed Basic credentials") from None
        if not sep:
            raise Unauthenticated("malformed Basic credentials")
        return await self.login(user, password, peer)

    async def login(self, user: str, secret: str, peer: str = "") -> Credential:
        principal = self.htpasswd.cached(user, secret)
        if principal is None:
            wait = self.throttle.retry_after(peer) if peer and self.throttle else 0
            if wait:
                raise Throttled(wait)
            principal = await asyncio.to_thread(self.htpasswd.verify, user, secret)
        if principal is None:
            if peer and self.throttle:
                self.throttle.failed(peer)
            raise Unauthenticated("unknown user or wrong password")
        return Credential(principal, None, user.encode())

    def still_valid(self, credential: Credential) -> bool:
        return self.htpasswd.still_valid(credential.ref.decode(), credential.principal)


class _BearerScheme(Authenticator):
    """``Authorization: Bearer <secret>``, checked by the subclass's ``login``."""

    scheme = "Bearer"

    async def authenticate(self, authorization: str | None, peer: str = "") -> Credential:
        scheme, rest = split_authorization(authorization)
        if scheme != "bearer":
            raise Unauthenticated("not the Bearer scheme")
        return await self.login("", rest)


class BearerAuth(_BearerScheme):
    mode = "bearer"
    enabled = True

    def __init__(self, tokens: TokenFile) -> None:
        self.tokens = tokens

    async def login(self, user: str, secret: str, peer: str = "") -> Credential:
        principal = self.tokens.lookup(secret)
        if principal is None:
            raise Unauthenticated("unknown token")
        return Credential(principal, None, hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest())

    def still_valid(self, credential: Credential) -> bool:
        return self.tokens.lookup_digest(credential.ref) == credential.principal


class OidcAuth(_BearerScheme):
    mode = "oidc"
    enabled = True

    def __init__(self, verifier: OidcVerifier) -> None:
        self.verifier = verifier

    async def login(self, user: str, secret: str, peer: str = "") -> Credential:
        known = self.verifier.cached(secret)
        if known is not None:
            return Credential(known[0], known[1], b"")
        try:
            principal, expires = await asyncio.to_thread(self.verifier.verify, secret)
        except InvalidToken as exc:
            raise Unauthenticated(str(exc)) from None
        return Credential(principal, expires, b"")


def build_authenticator(
    mode: str,
    *,
    flag: str,
    default_roles: frozenset[str],
    htpasswd_file: str = "",
    tokens_file: str = "",
    jwks: str = "",
    jwks_refresh_s: float = 300.0,
    issuer: str = "",
    audience: str = "",
    tenant_claim: str = "tenant",
    roles_claim: str = "roles",
    max_failures: int = 10,
) -> Authenticator:
    """The authenticator of ``--<flag> mode``; ``ValueError`` naming the flag when a file it needs
    is not given or cannot be read."""
    mode = (mode or "none").strip().lower()
    try:
        if mode == "none":
            return Authenticator()
        if mode == "basic":
            if not htpasswd_file:
                raise ValueError(f"--{flag}=basic needs --{flag}.htpasswd-file")
            throttle = FailureThrottle(max_failures) if max_failures > 0 else None
            return BasicAuth(Htpasswd(htpasswd_file, default_roles), throttle)
        if mode == "bearer":
            if not tokens_file:
                raise ValueError(f"--{flag}=bearer needs --{flag}.tokens-file")
            return BearerAuth(TokenFile(tokens_file, default_roles))
        if mode == "oidc":
            if not jwks or not issuer or not audience:
                raise ValueError(f"--{flag}=oidc needs --{flag}.oidc.jwks, --{flag}.oidc.issuer and --{flag}.oidc.audience")
            return OidcAuth(OidcVerifier(JwksSource(jwks, jwks_refresh_s), issuer, audience, tenant_claim,
                                         roles_claim, default_roles))
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message if message.startswith("--") else f"--{flag}: {message}") from None
    raise ValueError(f"--{flag}: unknown mode {mode!r}; known: {', '.join(MODES)}")
