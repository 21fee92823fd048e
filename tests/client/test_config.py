"""``Config`` as a drop-in for ``jaeger_client.Config``: the same config dicts, the same
validation, the ``JAEGER_*`` environment, and ``initialize_tracer``."""

from __future__ import annotations

import logging

import jaeger_client
import opentracing
import pytest
from opentracing import Format

from spyglass.client import (
    CompositeReporter,
    Config,
    ConstSampler,
    NullReporter,
    ProbabilisticSampler,
    RateLimitingSampler,
    RemoteControlledSampler,
    RemoteReporter,
    SnowflakeIdGenerator,
)
from spyglass.client.propagation import B3Propagator, CompositePropagator
from spyglass.client.reporting.senders import HTTPSender, OTLPHTTPSender, UDPSender

FULL = {
    "sampler": {"type": "probabilistic", "param": 0.25},
    "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": 6999, "sampling_port": 5999},
    "logging": True,
    "reporter_batch_size": 7,
    "reporter_queue_size": 77,
    "reporter_flush_interval": 0.5,
    "sampling_refresh_interval": 30,
    "propagation": "b3",
    "trace_id_header": "my-trace-id",
    "baggage_header_prefix": "my-baggage-",
    "generate_128bit_trace_id": True,
    "tags": {"team": "payments"},
    "max_tag_value_length": 256,
    "max_traceback_length": 1000,
    "service_name": "orders",
    "enabled": True,
    "throttler": None,
}


def test_same_dict_as_jaeger_client_gives_same_settings():
    theirs = jaeger_client.Config(dict(FULL), validate=True)
    ours = Config(dict(FULL), validate=True, environ={})
    for prop in ("service_name", "reporter_batch_size", "reporter_queue_size", "reporter_flush_interval",
                 "sampling_refresh_interval", "trace_id_header", "baggage_header_prefix", "generate_128bit_trace_id",
                 "max_tag_value_length", "max_traceback_length", "local_agent_reporting_host",
                 "local_agent_reporting_port", "local_agent_sampling_port", "logging", "enabled"):
        assert getattr(ours, prop) == getattr(theirs, prop), prop
    tracer = ours.new_tracer()
    try:
        assert isinstance(tracer.sampler, ProbabilisticSampler) and tracer.sampler.rate == 0.25
        assert isinstance(tracer.reporter, CompositeReporter)
        remote = tracer.reporter.reporters[0]
        assert isinstance(remote, RemoteReporter) and (remote.queue_size, remote.batch_size, remote.flush_interval) == (77, 7, 0.5)
        assert isinstance(remote.sender, UDPSender) and (remote.sender.host, remote.sender.port) == ("127.0.0.1", 6999)
        assert isinstance(tracer.codecs[Format.HTTP_HEADERS], B3Propagator)
        assert tracer.tags["team"] == "payments" and tracer.max_tag_value_length == 256
    finally:
        tracer.close()


def test_unexpected_keys_rejected_like_jaeger_client():
    with pytest.raises(ValueError, match="Unexpected keys found in config:bogus"):
        Config({"bogus": 1}, service_name="x", validate=True)
    with pytest.raises(ValueError, match="service_name required"):
        Config({}, environ={})


@pytest.mark.parametrize(
    "conf, cls",
    [({"type": "const", "param": "true"}, ConstSampler), ({"type": "ratelimiting", "param": 2}, RateLimitingSampler),
     ({"type": "rate_limiting", "param": 2}, RateLimitingSampler), ({}, RemoteControlledSampler),
     ({"type": "remote", "param": 0.3}, RemoteControlledSampler)],
)
def test_sampler_types(conf, cls):
    tracer = Config({"sampler": conf, "local_agent": {"sampling_port": 1}}, service_name="x", environ={}).new_tracer()
    try:
        assert isinstance(tracer.sampler, cls)
        if conf.get("type") == "remote":
            assert tracer.sampler.sampler.rate == 0.3 and tracer.sampler.fetcher.url == "http://localhost:1/sampling"
    finally:
        tracer.close()
    with pytest.raises(ValueError, match="Unknown sampler type"):
        Config({"sampler": {"type": "sometimes"}}, service_name="x").sampler


def test_environment_variables():
    environ = {
        "JAEGER_SERVICE_NAME": "from-env",
        "JAEGER_AGENT_HOST": "10.1.2.3",
        "JAEGER_AGENT_PORT": "6111",
        "JAEGER_SAMPLER_TYPE": "const",
        "JAEGER_SAMPLER_PARAM": "1",
        "JAEGER_TAGS": "region=eu, pod=${POD_NAME:unknown},bad",
        "JAEGER_PROPAGATION": "w3c,jaeger",
        "JAEGER_REPORTER_MAX_QUEUE_SIZE": "500",
        "JAEGER_REPORTER_FLUSH_INTERVAL": "250ms",
        "JAEGER_TRACEID_128BIT": "true",
        "JAEGER_SAMPLER_MANAGER_HOST_PORT": "agent:5778",
    }
    c = Config({"tags": {"region": "us", "team": "a"}}, environ=environ)
    assert c.service_name == "from-env"
    assert (c.local_agent_reporting_host, c.local_agent_reporting_port) == ("10.1.2.3", 6111)
    assert isinstance(c.sampler, ConstSampler) and c.sampler.decision is True
    assert c.tags == {"region": "eu", "team": "a", "pod": "unknown"}
    assert c.propagation == ["w3c", "jaeger"]
    assert (c.reporter_queue_size, c.reporter_flush_interval, c.generate_128bit_trace_id) == (500, 0.25, True)
    assert c.sampling_server_url == "http://agent:5778/sampling"
    # an explicit config value wins over the environment
    c2 = Config({"local_agent": {"reporting_port": 7000}, "reporter_queue_size": 5, "service_name": "cfg"}, environ=environ)
    assert (c2.service_name, c2.local_agent_reporting_port, c2.reporter_queue_size) == ("cfg", 7000, 5)
    tracer = c.new_tracer()
    try:
        assert isinstance(tracer.codecs[Format.HTTP_HEADERS], CompositePropagator)
    finally:
        tracer.close()


def test_senders_and_disabled():
    c = Config({"sender": {"type": "otlp_http", "endpoint": "http://c:4318/v1/traces"}}, service_name="x", environ={})
    assert isinstance(c.sender(), OTLPHTTPSender)
    c = Config({}, service_name="x", environ={"JAEGER_ENDPOINT": "http://c:14268/api/traces", "JAEGER_AUTH_TOKEN": "t"})
    sender = c.sender()
    assert isinstance(sender, HTTPSender) and sender._poster.headers["Authorization"] == "Bearer t"
    tracer = Config({}, service_name="x", environ={"JAEGER_DISABLED": "true"}).new_tracer()
    assert isinstance(tracer.reporter, NullReporter) and not tracer.start_span("a").sampled
    gen = Config({"id_generator": "snowflake"}, service_name="x").id_generator()
    assert isinstance(gen, SnowflakeIdGenerator)


def test_initialize_tracer_sets_global_once(caplog, monkeypatch):
    monkeypatch.setattr(Config, "_initialized", False)
    monkeypatch.setattr(opentracing, "tracer", opentracing.Tracer())
    conf = {"sampler": {"type": "const", "param": 0}, "local_agent": {"reporting_port": 9}}
    tracer = Config(conf, service_name="x").initialize_tracer()
    try:
        assert opentracing.global_tracer() is tracer and Config.initialized()
        with caplog.at_level(logging.WARNING):
            assert Config(conf, service_name="y").initialize_tracer() is None
        assert "already initialized" in caplog.text
    finally:
        tracer.close()
