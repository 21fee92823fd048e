import pytest

from spyglass.model import KeyValue, attr_as_string, find_attr


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (True, "true"),
        (False, "false"),
        (123, "123"),
        (-5, "-5"),
        (72.5, "72.5"),
        (1e21, "1e+21"),
        (b"\x00\x01\xff", "0001ff"),
        ([1, "a"], '[1,"a"]'),
        ({"k": b"\x01"}, '{"k":"AQ=="}'),
        (None, ""),
    ],
)
def test_string_form_matches_jaeger(value: object, text: str) -> None:
    assert attr_as_string(value) == text  # type: ignore[arg-type]


def test_find_attr_returns_first_match() -> None:
    attrs = [KeyValue("a", 1), KeyValue("a", 2), KeyValue("b", 3)]
    assert find_attr(attrs, "a") == 1
    assert find_attr(attrs, "zz") is None
