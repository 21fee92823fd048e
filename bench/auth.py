"""What authentication costs per request, next to the work of the request itself.

Each credential kind is checked the way the middleware checks it (``Authenticator.authenticate`` on
the event loop, bcrypt and JWT verification on a thread), many times over; the reference, measured in
the same run, is decoding one 100-span OTLP protobuf request (what a receiver does with every
request it accepts). Prints µs per check (wall time: bcrypt and JWTs go through a thread) and the
ratio to the reference.

    flock /work/bench.lock .venv/bin/python bench/auth.py
"""

from __future__ import annotations

import asyncio
import base64
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import make_spans  # noqa: E402
from security.creds import AUDIENCE, ISSUER, PASSWORDS, READ_TOKEN, Keys, write_htpasswd, write_tokens  # noqa: E402

from spyglass.codecs import otlp_proto  # noqa: E402
from spyglass.security.authenticator import build_authenticator  # noqa: E402


def per_call_us(fn, n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


async def async_per_call_us(coro_fn, n: int) -> float:
    await coro_fn()
    start = time.perf_counter()
    for _ in range(n):
        await coro_fn()
    return (time.perf_counter() - start) / n * 1e6


async def main() -> None:
    payload = otlp_proto.encode_export_request(make_spans(100))
    reference = per_call_us(lambda: otlp_proto.decode_export_request(payload), 300)
    keys = Keys()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        common = {"flag": "query.auth", "default_roles": frozenset({"read"})}
        basic = build_authenticator("basic", htpasswd_file=str(write_htpasswd(tmp / "h")), **common)
        bearer = build_authenticator("bearer", tokens_file=str(write_tokens(tmp / "t")), **common)
        oidc = build_authenticator("oidc", jwks=str(keys.write_jwks(tmp / "j")), issuer=ISSUER, audience=AUDIENCE, **common)
        basic_ok = "Basic " + base64.b64encode(f"alice:{PASSWORDS['alice']}".encode()).decode()
        basic_bad = "Basic " + base64.b64encode(b"alice:wrong-password").decode()
        rs256, es256 = "Bearer " + keys.token("RS256"), "Bearer " + keys.token("ES256")

        def fresh(auth):  # every check a signature check: no cache
            async def check():
                auth.verifier._cache.clear()
                await auth.authenticate(rs256 if fresh.alg == "RS256" else es256)
            return check
        rows = [
            ("bearer token (lookup + compare_digest)", await async_per_call_us(lambda: bearer.authenticate("Bearer " + READ_TOKEN), 20_000)),
            ("bearer token, wrong", await async_per_call_us(lambda: _refused(bearer, "Bearer " + "x" * 30), 20_000)),
            ("basic, verified password (cached)", await async_per_call_us(lambda: basic.authenticate(basic_ok), 2_000)),
            ("basic, wrong password (bcrypt cost 4 here)", await async_per_call_us(lambda: _refused(basic, basic_bad), 300)),
            ("oidc JWT, verified before (cached)", await async_per_call_us(lambda: oidc.authenticate(rs256), 20_000)),
        ]
        for alg in ("RS256", "ES256"):
            fresh.alg = alg
            rows.append((f"oidc JWT {alg}, signature checked", await async_per_call_us(fresh(oidc), 1_000)))
        rows += [
        ]
    print(f"{platform.python_version()} {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"reference: decode one 100-span OTLP protobuf request: {reference:.1f} µs")
    print(f"{'check':45s} {'µs':>9s} {'x reference':>12s}")
    for name, us in rows:
        print(f"{name:45s} {us:9.1f} {us / reference:12.3f}")


async def _refused(auth, value: str) -> None:
    try:
        await auth.authenticate(value)
    except Exception:
        pass


if __name__ == "__main__":
    asyncio.run(main())
