"""The one error every decoder raises for input it cannot read."""


class DecodeError(ValueError):
    """The payload is not valid for the format (truncated, garbage, wrong types, ...).

    The message is safe to send back to the client that sent the payload.
    """
