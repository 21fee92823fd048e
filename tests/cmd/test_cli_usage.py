"""What a user sees: one-line errors with exit status 2, each command's own flags in its
help, and a start-up that says where the UI and the data are."""

from __future__ import annotations

import re
import pytest

from spyglass.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return int(exit_.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "env", "needles"),
    [
        (["--sampling.strategies-file", "/nonexistent.json"], {}, ["--sampling.strategies-file", "/nonexistent.json", "No such file"]),
        (["--query.http-port", "99999"], {}, ["--query.http-port", "99999", "0-65535"]),
        ([], {"SPYGLASS_QUERY_HTTP_PORT": "abc"}, ["--query.http-port", "SPYGLASS_QUERY_HTTP_PORT", "not an integer"]),
        (["--admin.port", "-1"], {}, ["--admin.port", "0-65535"]),
        (["--sqlite.retention", "3 days"], {}, ["--sqlite.retention", "duration"]),
        ([], {"SPYGLASS_SAMPLING_STRATEGIES_RELOAD_INTERVAL": "soon"}, ["SPYGLASS_SAMPLING_STRATEGIES_RELOAD_INTERVAL", "duration"]),
        (["--archive.enabled", "maybe"], {}, ["--archive.enabled", "not a boolean"]),
        ([], {"SPYGLASS_ARCHIVE_ENABLED": "maybe"}, ["SPYGLASS_ARCHIVE_ENABLED", "not a boolean"]),
        (["--sampling.default-sampling-probability", "2"], {}, ["--sampling.default-sampling-probability", "probability"]),
        (["--collector.queue-size", "0"], {}, ["--collector.queue-size", "at least 1"]),
        (["--log-level", "loud"], {}, ["--log-level", "not a log level"]),
    ],
)
def test_bad_settings_are_one_line_naming_the_flag(argv, env, needles, capsys, monkeypatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, err = run(["all-in-one", *argv], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_a_broken_strategies_file_is_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "s.json"
    bad.write_text("{not json")
    assert main(["all-in-one", "--storage", "memory", "--sampling.strategies-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--sampling.strategies-file" in err and str(bad) in err, err


def test_each_command_lists_only_its_own_flags(capsys) -> None:
    helps = {}
    for command in ("all-in-one", "collector", "query"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = capsys.readouterr().out
    flags = {c: set(re.findall(r"--[a-z][a-z0-9.-]+", h)) for c, h in helps.items()}
    assert "--query.http-port" in flags["query"] and "--data-dir" in flags["query"]
    assert not {f for f in flags["query"] if f.startswith(("--collector.", "--agent.", "--sampling."))}
    assert "--collector.http-port" in flags["collector"] and "--agent.jaeger-compact-port" in flags["collector"]
    assert not {f for f in flags["collector"] if f.startswith("--query.")}
    assert flags["all-in-one"] >= flags["collector"] | flags["query"]
    assert "--admin.port" in flags["query"] and "default 16687" in helps["query"]


def test_a_flag_of_another_command_is_refused(capsys) -> None:
    code, err = run(["query", "--collector.http-port", "1"], capsys)
    assert code == 2 and "--collector.http-port" in err
