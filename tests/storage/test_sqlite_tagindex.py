"""The tag index's words (``storage.sqlite.tagindex``): the hashes the tokenizer remembers
per ``KeyValue`` object are the ones a query computes from the pair's text, whatever the
objects share."""

from __future__ import annotations

from spyglass.model import Event, KeyValue, Resource, Span
from spyglass.storage.api import TraceQuery
from spyglass.storage.sqlite.tagindex import Tokenizer, document, query_words


def words_of(tokenizer: Tokenizer, span: Span) -> set[str]:
    tokenizer.new_batch()
    out: set[int] = set()
    tokenizer.span_words(span, out)
    return set(document(out).split())


def span_with(*attributes: KeyValue) -> Span:
    return Span(1, 2, "op", 10, 5, Resource("svc", [KeyValue("host", "h1")]), attributes=list(attributes),
                events=[Event(11, "retry", [attributes[0]])] if attributes else [])


def query(key: str, text: str) -> str:
    return query_words(TraceQuery(service_name="svc", attributes={key: text}))[0]


def test_equal_pairs_of_different_types_get_their_own_words() -> None:
    """("retry", True) == ("retry", 1) as tuples; their words are "true" and "1"."""
    tokenizer = Tokenizer()
    flag, one, ratio = KeyValue("retry", True), KeyValue("retry", 1), KeyValue("retry", 1.0)
    for _ in range(2):  # the second time from what the tokenizer remembers
        assert query("retry", "true") in words_of(tokenizer, span_with(flag))
        assert query("retry", "1") in words_of(tokenizer, span_with(one))
        words = words_of(tokenizer, span_with(ratio))
        assert query("retry", "1") in words and query("retry", "true") not in words


def test_a_shared_pair_and_a_fresh_equal_one_give_the_same_words() -> None:
    tokenizer = Tokenizer()
    shared = KeyValue("http.method", "GET")
    first = words_of(tokenizer, span_with(shared, KeyValue("code", 200)))
    again = words_of(tokenizer, span_with(shared, KeyValue("code", 200)))
    fresh = words_of(Tokenizer(), span_with(KeyValue("http.method", "GET"), KeyValue("code", 200)))
    assert first == again == fresh
    assert {query("http.method", "GET"), query("code", "200"), query("host", "h1")} <= first


def test_a_list_value_changed_in_place_is_hashed_again() -> None:
    tokenizer = Tokenizer()
    values = ["a"]
    kv = KeyValue("tags", values)
    before = words_of(tokenizer, span_with(kv))
    values.append("b")
    after = words_of(tokenizer, span_with(kv))
    assert before != after and after == words_of(Tokenizer(), span_with(KeyValue("tags", ["a", "b"])))


def test_remembered_pairs_are_bounded() -> None:
    from spyglass.storage.sqlite import tagindex

    tokenizer = Tokenizer()
    for i in range(tagindex._PAIR_LIMIT + 10):
        tokenizer._add([KeyValue("user.id", i)], set())
    tokenizer.new_batch()
    assert len(tokenizer._pairs) == 0
