import argparse

from spyglass.config import Settings, add_arguments, env_name, settings_from_args


def parse(argv: list[str], environ: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser, environ)
    return settings_from_args(parser.parse_args(argv))


def test_env_names_follow_flag_names() -> None:
    assert env_name("memory.max-traces") == "SPYGLASS_MEMORY_MAX_TRACES"
    assert env_name("listen-host") == "SPYGLASS_LISTEN_HOST"


def test_flag_beats_environment_beats_default() -> None:
    assert parse([], {}).collector_otlp_grpc_port == 4317
    assert parse([], {"SPYGLASS_COLLECTOR_OTLP_GRPC_PORT": "5000"}).collector_otlp_grpc_port == 5000
    got = parse(["--collector.otlp-grpc-port", "6000"], {"SPYGLASS_COLLECTOR_OTLP_GRPC_PORT": "5000"})
    assert got.collector_otlp_grpc_port == 6000


def test_defaults_are_jaegers() -> None:
    s = Settings()
    assert (s.agent_jaeger_compact_port, s.agent_jaeger_binary_port, s.agent_zipkin_compact_port) == (6831, 6832, 5775)
    assert (s.collector_http_port, s.collector_grpc_port, s.admin_port) == (14268, 14250, 14269)
    assert (s.query_http_port, s.query_grpc_port, s.listen_host) == (16686, 16685, "127.0.0.1")
    assert s.memory_max_traces == 100_000
    assert s.storage == "sqlite"  # persistent by default, unlike Jaeger's all-in-one


def test_from_env_with_overrides() -> None:
    s = Settings.from_env({"SPYGLASS_MEMORY_MAX_TRACES": "7", "SPYGLASS_STORAGE": "memory"}, listen_host="0.0.0.0")
    assert (s.memory_max_traces, s.storage, s.listen_host) == (7, "memory", "0.0.0.0")


def test_boolean_flags() -> None:
    assert parse([], {}).archive_enabled is False
    assert parse(["--archive.enabled"], {}).archive_enabled is True
    assert parse(["--archive.enabled", "false"], {"SPYGLASS_ARCHIVE_ENABLED": "true"}).archive_enabled is False
    assert parse([], {"SPYGLASS_ARCHIVE_ENABLED": "1"}).archive_enabled is True
