"""Go json.Unmarshal into map[string]string: results and Go's error texts."""

from __future__ import annotations

import pytest

from spyglass.query.gojsonmap import GoJSONError, unmarshal_string_map


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ('{"http.status_code":"500","error":"true"}', {"http.status_code": "500", "error": "true"}),
        (' { "a" : "b" } ', {"a": "b"}),
        ("{}", {}),
        ("null", {}),
        ('{"a":null}', {"a": ""}),
        ('{"a":"1","a":"2"}', {"a": "2"}),
        ('{"k":"v\\u00e9\\n"}', {"k": "vé\n"}),
    ],
)
def test_valid(text: str, result: dict[str, str]) -> None:
    assert unmarshal_string_map(text) == result


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"x":123}', "json: cannot unmarshal number into Go value of type string"),
        ('{"x":true}', "json: cannot unmarshal bool into Go value of type string"),
        ('{"x":[]}', "json: cannot unmarshal array into Go value of type string"),
        ('{"x":{}}', "json: cannot unmarshal object into Go value of type string"),
        ('{"x":1,"y":[]}', "json: cannot unmarshal number into Go value of type string"),
        ("[]", "json: cannot unmarshal array into Go value of type map[string]string"),
        ('"s"', "json: cannot unmarshal string into Go value of type map[string]string"),
        ("1", "json: cannot unmarshal number into Go value of type map[string]string"),
        ("", "unexpected end of JSON input"),
        ('{"a":"b"', "unexpected end of JSON input"),
        ("x", "invalid character 'x' looking for beginning of value"),
        ("{a:1}", "invalid character 'a' looking for beginning of object key string"),
        ('{"a" "b"}', "invalid character '\"' after object key"),
        ('{"a":"b" "c"}', "invalid character '\"' after object key:value pair"),
        ('{"a":"b",}', "invalid character '}' looking for beginning of object key string"),
        ('{"a":"b"}x', "invalid character 'x' after top-level value"),
        ('{"a":nul}', "invalid character '}' in literal null (expecting 'l')"),
        ('{"a":"\t"}', "invalid character '\\t' in string literal"),
        ('{"a":"\\x"}', "invalid character 'x' in string escape code"),
        ('{"a":01}', "invalid character '1' after object key:value pair"),
        ('{"a":-x}', "invalid character 'x' in numeric literal"),
        ("{'a':'b'}", "invalid character '\\'' looking for beginning of object key string"),
        ('[1 2]', "invalid character '2' after array element"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(GoJSONError) as info:
        unmarshal_string_map(text)
    assert str(info.value) == message


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    """Go decodes a ``\\ud800`` that is not half of a pair as U+FFFD; a lone surrogate kept in
    a Python str cannot be encoded as UTF-8 (storage, the answer), found by bench/fuzz.py."""
    out = unmarshal_string_map('{"a\\ud800":"x\\udc00y","e":"\\ud83d\\ude00"}')
    assert out == {"a\ufffd": "x\ufffdy", "e": "\U0001F600"}
    for key, value in out.items():
        (key + value).encode("utf-8")


def test_number_past_python_int_digit_limit() -> None:
    with pytest.raises(GoJSONError, match="cannot unmarshal number into Go value of type string"):
        unmarshal_string_map('{"a":' + "1" * 5000 + "}")
