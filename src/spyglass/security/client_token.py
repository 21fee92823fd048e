"""The bearer token a Spyglass client (the agent's forwarder) sends to an authenticating collector.

From ``--reporter.grpc.auth.token-file`` (the first non-blank line; re-read when the file changes,
so a rotated token is picked up without a restart) or ``--reporter.grpc.auth.token`` (best given
through ``SPYGLASS_REPORTER_GRPC_AUTH_TOKEN``: flags show in ``ps``).
"""

from __future__ import annotations

from collections.abc import Callable

from spyglass.security.filecache import ReloadingFile

Metadata = tuple[tuple[str, str], ...]


def _first_line(text: str) -> str:
    token = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not token:
        raise ValueError("no token in the file")
    if any(c.isspace() for c in token):
        raise ValueError("the token has spaces in it")
    return token


def bearer_metadata(token: str = "", token_file: str = "") -> Callable[[], Metadata]:
    """A function giving the gRPC call metadata to send (empty without a token)."""
    if token_file:
        try:
            source = ReloadingFile(token_file, _first_line)
        except ValueError as exc:
            raise ValueError(f"--reporter.grpc.auth.token-file: {exc}") from None
        return lambda: (("authorization", "Bearer " + source.get()),)
    if token:
        fixed: Metadata = (("authorization", "Bearer " + token.strip()),)
        return lambda: fixed
    return lambda: ()
