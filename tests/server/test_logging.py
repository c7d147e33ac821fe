"""Logging is configured once for every gamif process: GAMIF_LOG_LEVEL reaches gamif's own loggers
(and uvicorn's and taskiq's), in one line format, or one JSON object a line with GAMIF_LOG_FORMAT=json.
Real `gamif serve` and `gamif worker` processes; the formatter itself on records."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.cli import main
from server.logs import JsonLinesFormatter, TextFormatter
from tests.hub.cluster import Worker
from tests.services import free_port

GAMIF = str(Path(sys.executable).parent / "gamif")
STARTED = "Uvicorn running on"


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[list[str]]:
    """`gamif serve` on embedded defaults; yields the lines it printed up to uvicorn's start-up line
    (reading its own output: no guessing how long start-up takes), then stops it."""
    process = subprocess.Popen(
        [GAMIF, "serve", "--port", str(free_port()), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:
            seen.append(line)
            if STARTED in line:
                break
        else:
            raise AssertionError("gamif serve exited before serving:\n" + "".join(seen))
        yield seen
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_info_level_shows_gamifs_own_start_up_lines_in_one_format(tmp_path: Path) -> None:
    env = {"GAMIF_DATA_DIR": str(tmp_path), "GAMIF_LOG_LEVEL": "info"}
    with serving(env) as lines:
        ours = [line for line in lines if " gamif.serve: " in line]
        assert ours, "".join(lines)
        assert any("serving the HTTP API and the WebSocket hub on 127.0.0.1:" in line for line in ours)
        assert any(f"embedded SQLite: sqlite+aiosqlite:///{tmp_path}" in line for line in ours)
        # uvicorn's lines go through the same handler and format: level, time, logger, message.
        for line in lines:
            level, stamp, logger, _ = line.split(maxsplit=3)
            assert level == "INFO:", line
            assert stamp.endswith("Z"), line
            assert logger.startswith(("gamif.", "uvicorn.")), line


def test_json_format_gives_one_object_a_line(tmp_path: Path) -> None:
    env = {"GAMIF_DATA_DIR": str(tmp_path), "GAMIF_LOG_LEVEL": "INFO", "GAMIF_LOG_FORMAT": "json"}
    with serving(env) as lines:
        entries = [json.loads(line) for line in lines]  # every line: not one left in text
    assert all(set(entry) >= {"time", "level", "logger", "message"} for entry in entries)
    loggers = {entry["logger"] for entry in entries}
    assert {"gamif.serve", "uvicorn.error"} <= loggers
    assert any(entry["message"].startswith("gamif 0.1.0: serving") for entry in entries)
    assert all("color_message" not in entry for entry in entries)  # uvicorn's coloured copy stays out


def test_log_level_option_wins_over_the_setting(tmp_path: Path) -> None:
    env = {"GAMIF_DATA_DIR": str(tmp_path), "GAMIF_LOG_LEVEL": "error"}
    with serving(env, "--log-level", "info") as lines:
        assert any(line.startswith("INFO: ") and " gamif.serve: " in line for line in lines), "".join(lines)


@pytest.fixture
def migrated_postgres(_postgresql_database_url: str) -> str:
    """A migrated PostgreSQL database of the test's own (a worker refuses one that is not)."""
    return _postgresql_database_url


@pytest.mark.postgresql
async def test_worker_processes_log_json_lines(
    migrated_postgres: str, redis_server: str, redis_prefix: str, tmp_path: Path
) -> None:
    """`gamif worker`: its own lines and taskiq's, from the supervisor and the forked worker, in JSON."""
    worker = Worker(
        {
            "GAMIF_DATABASE_URL": migrated_postgres,
            "GAMIF_REDIS_URL": redis_server,
            "GAMIF_REDIS_PREFIX": redis_prefix,
            "GAMIF_DATA_DIR": str(tmp_path),
            "GAMIF_LOG_LEVEL": "info",
            "GAMIF_LOG_FORMAT": "json",
        }
    )
    await worker.start()
    try:
        entries = [json.loads(line) for line in worker.output]
    finally:
        await worker.kill(signal.SIGTERM)
    loggers = {entry["logger"] for entry in entries}
    assert "gamif.worker" in loggers
    assert any(logger.startswith("taskiq.") for logger in loggers), loggers


def test_an_invalid_logging_setting_is_refused_by_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAMIF_LOG_FORMAT", "xml")
    assert main(["rules", "default"]) == 1  # a command that reads no other setting
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "GAMIF_LOG_FORMAT: Input should be 'text' or 'json' (got 'xml')" in captured.err


def _record(**extra: object) -> logging.LogRecord:
    record = logging.getLogger("gamif.test").makeRecord(
        "gamif.test", logging.WARNING, __file__, 1, "scored %d events", (3,), None, extra=extra
    )
    record.created = 1_700_000_000.25
    return record


def test_a_json_line_carries_extras_and_a_traceback_on_one_line() -> None:
    try:
        raise ValueError("bad\nbatch")
    except ValueError:
        exc_info = sys.exc_info()
    record = _record(batch="b-1", color_message="\x1b[1mscored\x1b[0m")
    record.exc_info = exc_info
    line = JsonLinesFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["time"] == "2023-11-14T22:13:20.250Z"
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "gamif.test", "scored 3 events")
    assert entry["batch"] == "b-1"
    assert "color_message" not in entry
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: bad\nbatch" in entry["exception"]


def test_a_text_line_reads_level_time_logger_message() -> None:
    line = TextFormatter().format(_record())
    # The level padded as uvicorn pads it ("INFO:     ..."), so that its columns line up.
    assert line == "WARNING:  2023-11-14T22:13:20.250Z gamif.test: scored 3 events"
