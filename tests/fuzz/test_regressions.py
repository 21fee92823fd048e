"""Every input that ever made a decoder or parameter parser fail (a crash, a hang, an
answer the rest of Spyglass could not handle) is kept in ``corpus/<target>/`` and must now
decode or be refused with the target's documented error, within the time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.fuzz_harness import CORPUS, load

fz = load()
TARGETS = fz.build_targets()
CASES = sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def test_corpus_names_known_targets() -> None:
    """A corpus folder whose target was renamed would silently stop being replayed."""
    assert CASES, "the regression corpus is empty"
    unknown = sorted({p.parent.name for p in CASES} - set(TARGETS))
    assert not unknown, f"corpus folders without a target in bench/fuzz.py: {unknown}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.name[:20]}")
def test_regression_input(path: Path) -> None:
    target = TARGETS[path.parent.name]
    result = fz.fuzz_random(target, 1, corpus=[path.read_bytes()], timeout=10.0, save_root=None)
    assert result.inputs == 1
    assert result.ok, "\n".join(result.failures)


def test_checker_catches_a_crash() -> None:
    """The replay is not vacuous: a target raising something undocumented is reported."""
    def broken(data: bytes) -> object:
        return data.decode("ascii")  # UnicodeDecodeError is not the documented error
    t = fz.Target("broken", broken, (KeyError,), lambda: [b"ok"], "test")
    assert fz.check(t, b"ok") is None
    assert isinstance(fz.check(t, b"\xff"), UnicodeDecodeError)
    assert isinstance(fz.check(fz.Target("s", lambda d: ["\ud800"], (), list, "t"), b""), fz.BadOutput)
