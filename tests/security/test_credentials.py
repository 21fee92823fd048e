"""Reading the credentials files and the JWKS: what is accepted, what stops the start (one line
naming the flag and the line, never the secret), and reloading."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import bcrypt
import pytest

from security.creds import READ_TOKEN, Keys, write_htpasswd, write_tokens
from spyglass.security.htpasswd import Htpasswd, parse_htpasswd
from spyglass.security.oidc import parse_jwks
from spyglass.security.tokens import TokenFile, parse_tokens

R = frozenset({"read"})


def test_htpasswd_lines():
    h = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    users = parse_htpasswd(f"# c\n\na:{h}\nb:{h}:read,admin\nc:{h}::t1\n")
    assert users["a"].roles == R and users["a"].tenant is None
    assert users["b"].roles == {"read", "admin"} and users["c"].tenant == "t1"
    for bad, message in [
        ("a:$apr1$xyz$abc", "line 1: user 'a' has no bcrypt hash"),
        ("a:{SHA}abc=", "no bcrypt hash"),
        (f"a:{h}:root", "unknown role"),
        ("nocolon", "expected user:bcrypt-hash"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            parse_htpasswd(bad)
        assert h not in str(info.value)


def test_htpasswd_verify_and_cache(tmp_path):
    path = write_htpasswd(tmp_path / "h")
    users = Htpasswd(str(path))
    assert users.verify("alice", "alice-secret-pw").name == "alice"
    assert users.verify("alice", "alice-secret-pw").tenant == "acme"  # second time from the cache
    assert users.verify("alice", "Alice-secret-pw") is None
    assert users.verify("mallory", "alice-secret-pw") is None
    # the $2y$ prefix Apache's htpasswd -B writes
    y = bcrypt.hashpw(b"why-pw", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)
    path.write_text(path.read_text() + f"yann:{y}\n")
    time.sleep(1.1)
    assert users.verify("yann", "why-pw").name == "yann"


def test_tokens_lines():
    entries = parse_tokens(f"# c\n{READ_TOKEN} acme\n{'b' * 20} - write,admin\n", R)
    principals = {e.principal.tenant: e.principal for e in entries.values()}
    assert principals["acme"].roles == R and principals[None].roles == {"write", "admin"}
    assert READ_TOKEN not in principals["acme"].name
    for bad, message in [
        ("short acme", "line 1: token shorter than 16"),
        (f"{READ_TOKEN}", "expected TOKEN TENANT"),
        (f"{READ_TOKEN} a b c", "expected TOKEN TENANT"),
        (f"{READ_TOKEN} acme superuser", "unknown role"),
        (f"{READ_TOKEN} a\n{READ_TOKEN} b", "line 2: the same token is listed twice"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            parse_tokens(bad, R)
        assert READ_TOKEN not in str(info.value)


def test_a_broken_file_keeps_the_last_good_contents(tmp_path):
    path = write_tokens(tmp_path / "t")
    tokens = TokenFile(str(path), R)
    assert tokens.lookup(READ_TOKEN) is not None
    path.write_text("this line is not a token line at all\n")
    time.sleep(1.1)  # past the re-check interval
    assert tokens.lookup(READ_TOKEN) is not None  # not everyone locked out by a typo
    path.write_text(f"{'z' * 20} acme\n")
    time.sleep(1.1)
    assert tokens.lookup(READ_TOKEN) is None and tokens.lookup("z" * 20) is not None


def test_jwks_takes_only_asymmetric_signing_keys():
    keys = Keys().jwks()["keys"]
    doc = {"keys": [*keys, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                    {**keys[0], "kid": "enc", "use": "enc"}, {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}]}
    parsed = parse_jwks(json.dumps(doc))
    assert sorted(k.kid for k in parsed) == ["ec1", "rsa1"]
    with pytest.raises(ValueError):
        parse_jwks("[]")


@pytest.mark.parametrize("args, message", [
    (["--query.auth", "basic"], "--query.auth=basic needs --query.auth.htpasswd-file"),
    (["--query.auth", "oidc", "--query.auth.oidc.jwks", "http://127.0.0.1:1/jwks"], "needs --query.auth.oidc.jwks, --query.auth.oidc.issuer and --query.auth.oidc.audience"),
    (["--query.auth", "kerberos"], "--query.auth: unknown mode 'kerberos'"),
    (["--collector.auth", "bearer"], "--collector.auth=bearer needs --collector.auth.tokens-file"),
])
def test_bad_auth_flags_are_one_line_errors(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "spyglass.cli", "all-in-one", "--storage", "memory", *args],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
