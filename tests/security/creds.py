"""Credentials made by the tests: htpasswd files (bcrypt, low cost), tokens files, RSA and EC keys
with their JWKS, and JWTs signed with them (PyJWT)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bcrypt
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test"
AUDIENCE = "spyglass"

READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
WRONG_TOKEN = "wrong-token-0123456789abcdef"

PASSWORDS = {"alice": "alice-secret-pw", "bob": "bob-secret-pw", "root": "root-secret-pw"}


def write_htpasswd(path: Path) -> Path:
    """alice: read (tenant acme); bob: write only; root: read and admin."""
    def h(pw: str) -> str:
        return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()

    path.write_text(
        "# users of the tests\n\n"
        f"alice:{h(PASSWORDS['alice'])}::acme\n"
        f"bob:{h(PASSWORDS['bob'])}:write\n"
        f"root:{h(PASSWORDS['root'])}:read,admin\n"
    )
    return path


def write_tokens(path: Path, default_role_tokens: bool = True) -> Path:
    path.write_text(
        "# TOKEN TENANT [ROLES]\n"
        f"{READ_TOKEN} acme\n"
        f"{WRITE_TOKEN} acme write\n"
        f"\n{ADMIN_TOKEN} - read,admin\n"
    )
    return path


class Keys:
    """An RSA and an EC P-256 key pair (kids ``rsa1``, ``ec1``) and a stranger's RSA key."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        rsa_jwk.update(kid="rsa1", use="sig", alg="RS256")
        ec_jwk.update(kid="ec1", use="sig", alg="ES256")
        return {"keys": [rsa_jwk, ec_jwk]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def token(self, alg: str = "RS256", kid: str | None = None, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "exp": now + 600, "iat": now,
                "tenant": "acme", "roles": ["read"]}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        if key is None:
            key = self.rsa if alg == "RS256" else self.ec
        kid = kid if kid is not None else ("rsa1" if alg == "RS256" else "ec1")
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def unsigned_token(**claims: Any) -> str:
    """A JWT with ``alg: none`` (no signature), the classic forgery."""
    import base64

    def b64(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 600, "roles": ["read", "admin"], **claims}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(body)}."


def hs256_with_public_key(keys: Keys) -> str:
    """A JWT signed HS256 with the RSA public key as the secret (algorithm confusion)."""
    import hashlib
    import hmac
    import base64

    from cryptography.hazmat.primitives import serialization

    pem = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 600,
                           "roles": ["read", "admin"]}).encode())
    sig = b64(hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{sig}"


def basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer(token: str) -> str:
    return "Bearer " + token
