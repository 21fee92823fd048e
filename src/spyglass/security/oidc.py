"""OIDC/JWT bearer tokens, verified against the identity provider's JWKS (a file or an http(s) URL).

What is checked, in order: the token's header names RS256 or ES256 (``none`` and the HMAC family are
refused before anything else: with a public JWKS, accepting HS256 would let anyone sign with the
public key); a key of the JWKS with that ``kid`` (or, without a ``kid``, any key of the right type)
verifies the signature; ``iss`` equals ``--query.auth.oidc.issuer``; ``aud`` contains
``--query.auth.oidc.audience``; ``exp`` is present and not past, ``nbf``/``iat`` not in the future,
each with ``LEEWAY_S`` of clock skew allowed.

The JWKS is cached: a file is re-read when it changes, a URL is fetched again every
``refresh_s`` and at once (at most every ``MIN_REFETCH_S``) when a token names a ``kid`` the cached
set lacks, which is how an identity provider's key rotation looks. A fetch that fails keeps the
keys already known. Only asymmetric keys (RSA, EC P-256) are ever taken from the set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK

from spyglass.security.filecache import ReloadingFile
from spyglass.security.principal import READ, ROLES, Principal

log = logging.getLogger(__name__)

ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}  # the only algorithms accepted, and their key type
LEEWAY_S = 30
MIN_REFETCH_S = 30.0
MAX_JWKS_BYTES = 1 << 20
CACHE_TTL_S = 60.0  # a verified token is trusted again without a signature check this long, until
CACHE_SIZE = 4096  # its expiry or a change of the JWKS (a removed key stops its tokens at once)
FETCH_TIMEOUT_S = 5.0


class InvalidToken(Exception):
    """The token is not accepted; ``str()`` is a short reason that is safe to log (no token)."""


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str | None
    kty: str
    key: Any


def parse_jwks(text: str) -> list[_Key]:
    """The usable RSA and EC P-256 keys of a JWKS document; ``ValueError`` when it is not one."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError('not a JWKS document (no "keys" list)')
    keys: list[_Key] = []
    for item in doc["keys"]:
        if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC"):
            continue  # symmetric ("oct") and unknown keys are never used
        if item.get("use", "sig") != "sig" or (item["kty"] == "EC" and item.get("crv") != "P-256"):
            continue
        alg = item.get("alg")
        if alg is not None and alg not in ALGORITHMS:
            continue
        try:
            jwk = PyJWK(item, algorithm="RS256" if item["kty"] == "RSA" else "ES256")
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        keys.append(_Key(item.get("kid"), item["kty"], jwk.key))
    return keys


class JwksSource:
    """The keys of a JWKS file (re-read on change) or URL (fetched and cached)."""

    def __init__(self, location: str, refresh_s: float = 300.0) -> None:
        self.location = location
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._keys: list[_Key] = []
        self._fetched = float("-inf")
        self._file: ReloadingFile[list[_Key]] | None = None
        self._url_generation = 0
        if location.startswith(("http://", "https://")):
            self._url = location
        else:
            self._url = ""
            self._file = ReloadingFile(location, parse_jwks)

    def _fetch(self) -> None:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 (http(s) only)
                body = response.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
            keys = parse_jwks(body.decode("utf-8"))
            if [(k.kid, k.kty) for k in keys] != [(k.kid, k.kty) for k in self._keys]:
                self._url_generation += 1
            self._keys = keys
        except (OSError, ValueError, urllib.error.URLError) as exc:
            log.error("JWKS %s: %s; keeping %d known key(s)", self._url, exc, len(self._keys))

    @property
    def generation(self) -> int:
        """Changes whenever the set of keys does (verified tokens cached before are checked again)."""
        return self._file.generation if self._file is not None else self._url_generation

    def keys(self, want_kid: str | None = None) -> list[_Key]:
        """The current keys; a URL is fetched when stale, or when ``want_kid`` is unknown (rotation)."""
        if self._file is not None:
            return self._file.get()
        now = time.monotonic()
        with self._lock:
            stale = now - self._fetched >= self.refresh_s
            unknown = want_kid is not None and all(k.kid != want_kid for k in self._keys)
            if stale or (unknown and now - self._fetched >= MIN_REFETCH_S):
                self._fetched = now
                self._fetch()
            return self._keys


def _claim_roles(value: Any) -> frozenset[str]:
    """Roles from a claim: a list or a space/comma-separated string; names that are not Spyglass
    roles are ignored (identity providers put many groups in one claim)."""
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, list):
        items = value
    else:
        return frozenset()
    return frozenset(str(v).lower() for v in items if isinstance(v, str)) & ROLES


class OidcVerifier:
    """Turns a JWT into a ``Principal``: subject as name, tenant and roles from claims."""

    def __init__(self, jwks: JwksSource, issuer: str, audience: str, tenant_claim: str = "tenant",
                 roles_claim: str = "roles", default_roles: frozenset[str] = frozenset({READ})) -> None:
        if not issuer or not audience:
            raise ValueError("an issuer and an audience are both required")
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.tenant_claim = tenant_claim
        self.roles_claim = roles_claim
        self.default_roles = default_roles
        self._cache: OrderedDict[bytes, tuple[float, Principal, float, int]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def cached(self, token: str) -> tuple[Principal, float] | None:
        """A token verified less than ``CACHE_TTL_S`` ago and not expired since: its principal and
        expiry without a signature check (the cost of an RS256 verification on every request of a
        UI page is the point). None otherwise, which is not a refusal: ``verify``."""
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is None:
            return None
        until, principal, expires, generation = hit
        now = time.monotonic()
        if until <= now or expires + LEEWAY_S <= time.time() or generation != self.jwks.generation:
            with self._cache_lock:
                self._cache.pop(key, None)
            return None
        return principal, expires

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        with self._cache_lock:
            self._cache[key] = (time.monotonic() + CACHE_TTL_S, principal, expires, self.jwks.generation)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def verify(self, token: str) -> tuple[Principal, float]:
        """The principal and the token's expiry (Unix seconds); ``InvalidToken`` otherwise.
        Blocking (a JWKS fetch): call it from a thread."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {str(alg)[:16]!r} is not accepted (RS256, ES256)")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        candidates = [k for k in self.jwks.keys(kid) if k.kty == ALGORITHMS[alg] and (kid is None or k.kid == kid)]
        if not candidates:
            raise InvalidToken("no key of the JWKS matches the token")
        claims: dict[str, Any] | None = None
        reason = "bad signature"
        for key in candidates:
            try:
                claims = jwt.decode(
                    token, key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                    leeway=LEEWAY_S, options={"require": ["exp", "iss", "aud", "sub"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise InvalidToken("token expired") from None
            except jwt.ImmatureSignatureError:
                raise InvalidToken("token not valid yet") from None
            except jwt.InvalidIssuerError:
                raise InvalidToken("wrong issuer") from None
            except jwt.InvalidAudienceError:
                raise InvalidToken("wrong audience") from None
            except jwt.MissingRequiredClaimError as exc:
                raise InvalidToken(f"claim {exc.claim!r} missing") from None
            except jwt.PyJWTError as exc:
                reason = type(exc).__name__
        if claims is None:
            raise InvalidToken(reason)
        tenant = claims.get(self.tenant_claim)
        roles = _claim_roles(claims[self.roles_claim]) if self.roles_claim in claims else self.default_roles
        principal = Principal(str(claims["sub"]), tenant if isinstance(tenant, str) and tenant else None, roles)
        self._remember(token, principal, float(claims["exp"]))
        return principal, float(claims["exp"])
