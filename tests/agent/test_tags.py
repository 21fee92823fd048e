"""``--agent.tags`` in Jaeger's syntax."""

import pytest

from spyglass.agent.tags import parse_agent_tags
from spyglass.model import KeyValue


def test_plain_env_and_default_values() -> None:
    env = {"ZONE": "z1", "EMPTY": ""}
    tags = parse_agent_tags(" dc = eu , zone=${ZONE}, rack=${NOPE:r7}, e=${EMPTY:fallback}, n=${NOPE},, ", env)
    assert tags == [KeyValue("dc", "eu"), KeyValue("zone", "z1"), KeyValue("rack", "r7"),
                    KeyValue("e", "fallback"), KeyValue("n", "")]


@pytest.mark.parametrize("text", ["novalue", "=v", "a=1,b"])
def test_malformed_pairs_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_agent_tags(text, {})
