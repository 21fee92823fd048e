"""Senders: one transport each (UDP Thrift compact, HTTP Thrift, OTLP/HTTP)."""

from spyglass.client.reporting.senders.base import Sender, SenderError
from spyglass.client.reporting.senders.http_thrift import HTTPSender
from spyglass.client.reporting.senders.otlp_http import OTLPHTTPSender
from spyglass.client.reporting.senders.udp import UDPSender

__all__ = ["HTTPSender", "OTLPHTTPSender", "Sender", "SenderError", "UDPSender"]
