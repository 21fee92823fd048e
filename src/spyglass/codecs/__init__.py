"""Codecs: one module per wire format, both directions, translating to and from
``spyglass.model``. Nothing outside this package knows a wire format."""
