"""From the registry's options (``Settings`` fields named ``clickhouse_*``) to a factory."""

from __future__ import annotations

from typing import Any

from spyglass.storage.clickhouse.config import ClickHouseConfig


def config_from_options(options: dict[str, Any]) -> ClickHouseConfig:
    defaults = ClickHouseConfig()
    values = {name: options.get(f"clickhouse_{name}", getattr(defaults, name)) for name in ClickHouseConfig.__slots__}
    return ClickHouseConfig(**values)


def factory_from_options(options: dict[str, Any]) -> Any:
    from spyglass.storage.clickhouse.factory import ClickHouseFactory

    # Not connected yet: the command opens it through the health ability before listening,
    # so a server that is down ends start-up with one clear line.
    return ClickHouseFactory(config_from_options(options), connect=False)
