"""Go strconv parsing: accepted forms and Go's exact error texts."""

from __future__ import annotations

import pytest

from spyglass.query.gostrconv import GoSyntaxError, parse_bool, parse_float, parse_int, parse_uint, quote


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("-12", -12), ("+7", 7), ("0012", 12), ("9223372036854775807", (1 << 63) - 1)])
def test_parse_int(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize(
    ("text", "bits", "message"),
    [
        ("string", 64, 'strconv.ParseInt: parsing "string": invalid syntax'),
        ("", 64, 'strconv.ParseInt: parsing "": invalid syntax'),
        ("1.5", 64, 'strconv.ParseInt: parsing "1.5": invalid syntax'),
        ("1_000", 64, 'strconv.ParseInt: parsing "1_000": invalid syntax'),
        (" 1", 64, 'strconv.ParseInt: parsing " 1": invalid syntax'),
        ("-", 64, 'strconv.ParseInt: parsing "-": invalid syntax'),
        ("9223372036854775808", 64, 'strconv.ParseInt: parsing "9223372036854775808": value out of range'),
        ("2147483648", 32, 'strconv.ParseInt: parsing "2147483648": value out of range'),
        ("-2147483649", 32, 'strconv.ParseInt: parsing "-2147483649": value out of range'),
        ("a\nb", 64, 'strconv.ParseInt: parsing "a\\nb": invalid syntax'),
    ],
)
def test_parse_int_errors(text: str, bits: int, message: str) -> None:
    with pytest.raises(GoSyntaxError) as info:
        parse_int(text, bits)
    assert str(info.value) == message


def test_parse_uint_hex() -> None:
    assert parse_uint("ffffffffffffffff", 16) == (1 << 64) - 1
    assert parse_uint("1E00", 16) == 0x1E00
    for bad, msg in [("x200", "invalid syntax"), ("", "invalid syntax"), ("+1", "invalid syntax"), ("0x1", "invalid syntax")]:
        with pytest.raises(GoSyntaxError) as info:
            parse_uint(bad, 16)
        assert str(info.value) == f"strconv.ParseUint: parsing {quote(bad)}: {msg}"
    with pytest.raises(GoSyntaxError, match="value out of range"):
        parse_uint("4294967296", 10, 32)


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_parse_bool_true(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_parse_bool_false(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["yes", "tRUE", "", "2", "foobar"])
def test_parse_bool_errors(text: str) -> None:
    with pytest.raises(GoSyntaxError) as info:
        parse_bool(text)
    assert str(info.value) == f"strconv.ParseBool: parsing {quote(text)}: invalid syntax"


def test_parse_float() -> None:
    assert parse_float("0.95") == 0.95
    assert parse_float("1e3") == 1000.0
    assert parse_float(".5") == 0.5
    assert parse_float("5.") == 5.0
    with pytest.raises(GoSyntaxError) as info:
        parse_float("foo")
    assert str(info.value) == 'strconv.ParseFloat: parsing "foo": invalid syntax'
    with pytest.raises(GoSyntaxError, match="value out of range"):
        parse_float("1e400")


def test_quote() -> None:
    assert quote("abc") == '"abc"'
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("\t\n\x01\x7f") == '"\\t\\n\\x01\\x7f"'
    assert quote("héllo µ") == '"héllo µ"'
    assert quote("\u00a0") == '"\\u00a0"'


def test_numbers_past_python_int_digit_limit() -> None:
    """Found while fuzzing: int() refuses more than 4,300 digits with its own ValueError;
    Go answers "value out of range" (and leading zeros do not count)."""
    for parse in (parse_int, parse_uint):
        with pytest.raises(GoSyntaxError, match="value out of range"):
            parse("1" * 5000)
    assert parse_int("-" + "0" * 5000 + "12") == -12
    assert parse_uint("0" * 5000 + "ff", 16) == 255
