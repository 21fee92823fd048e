"""Service dependency links (parent service calls child service)."""

from __future__ import annotations

from typing import NamedTuple


class DependencyLink(NamedTuple):
    parent: str
    child: str
    call_count: int
    source: str = ""
