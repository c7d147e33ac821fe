"""The `gamif` command line. Each subcommand is a thin shell over a service or the engine."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import (
    backup_commands,
    engine_commands,
    leaderboard_commands,
    plugins,
    queue_commands,
    serve_commands,
    worker_commands,
)
from .common import positive_int
from .worker_commands import WORKER_CONCURRENCY


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gamif",
        description="gamif: a real-time gamification backend. Rules are data; every award is explained.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, text in (
        ("run", "run gamif on its embedded defaults: the demo organisation, served (same as demo)"),
        ("demo", "seed a demo organisation (teams, people, recent history) once, then serve"),
        ("serve", "serve the HTTP API (uvicorn)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--host", help="interface to listen on (default: GAMIF_HOST, 127.0.0.1)")
        command.add_argument("--port", type=positive_int, help="port (default: GAMIF_PORT, 8000)")
        _log_level(command)
        if name == "demo":
            command.add_argument(
                "--seed-only",
                action="store_true",
                help="seed (once), print the logins and exit, without serving (for several hubs)",
            )
        command.set_defaults(handler=serve_commands.serve if name == "serve" else serve_commands.demo)

    work = commands.add_parser("worker", help="score queued metric events (taskiq workers; needs Redis)")
    work.add_argument("--workers", type=positive_int, default=2, help="worker processes (default: 2)")
    work.add_argument(
        "--concurrency",
        type=positive_int,
        default=WORKER_CONCURRENCY,
        help="queued batches one process holds at once, scored together in groups (default: "
        f"{WORKER_CONCURRENCY}; per-event arrivals need many to make large groups)",
    )
    _log_level(work)
    work.set_defaults(handler=worker_commands.worker)
    queue_commands.add_parser(commands)

    admin = commands.add_parser(
        "create-admin", help="create an admin account (password from GAMIF_ADMIN_PASSWORD)"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--handle", required=True)
    admin.add_argument("--name", help="display name (default: the handle)")
    admin.set_defaults(handler=serve_commands.create_admin)

    boards = commands.add_parser("leaderboards", help="manage the Redis leaderboards (needs Redis)")
    board_commands = boards.add_subparsers(dest="leaderboards_command", required=True, metavar="ACTION")
    rebuild = board_commands.add_parser(
        "rebuild", help="recompute every leaderboard from the database (pause the workers first)"
    )
    rebuild.set_defaults(handler=leaderboard_commands.rebuild)

    rules = commands.add_parser("rules", help="check or print rule sets")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_commands.add_parser(
        "check", help="validate a rules file: exit 0 with a summary, 1 with every error"
    )
    check.add_argument("file", help="a rules file (YAML)")
    check.set_defaults(handler=engine_commands.rules_check)
    show = rules_commands.add_parser("default", help="print the embedded default rules (a starting point)")
    show.set_defaults(handler=engine_commands.rules_default)

    simulate = commands.add_parser("simulate", help="score an events file and explain every award")
    _rules_and_events(simulate)
    simulate.add_argument("--user", action="append", help="only this user (repeatable)")
    simulate.add_argument("--summary", action="store_true", help="per-user results only, no awards")
    simulate.add_argument("--json", action="store_true", help="machine-readable output")
    simulate.set_defaults(handler=engine_commands.simulate)

    backtest = commands.add_parser(
        "backtest", help="what a draft rule set would change, per user and in total"
    )
    _rules_and_events(backtest)
    backtest.add_argument("--draft", required=True, help="the draft rules file (YAML)")
    backtest.add_argument("--all", action="store_true", help="list unchanged users too")
    backtest.add_argument("--json", action="store_true", help="machine-readable output")
    backtest.set_defaults(handler=engine_commands.backtest)

    from . import db_commands

    migrate = commands.add_parser("migrate", help="create or update the database schema (Alembic migrations)")
    migrate.add_argument(
        "--database-url",
        help="database URL (default: $GAMIF_DATABASE_URL, else SQLite in $GAMIF_DATA_DIR or ./gamif-data)",
    )
    migrate.add_argument("--revision", default="head", help="the revision to migrate to (default: head)")
    migrate.set_defaults(handler=db_commands.migrate)
    backup_commands.add_parser(commands)

    # Commands of other installed packages (the load kit's `load` and `bench`): `main` hands them their
    # words before parsing; they are listed here for --help.
    for name, entry in sorted(plugins.commands().items()):
        commands.add_parser(name, help=plugins.summary(entry))
    return parser


def _rules_and_events(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", help="rules file (default: the embedded default rules)")
    parser.add_argument("--events", help="events, one JSON object a line (default: the shipped sample)")
    parser.add_argument("--users", help="JSON object of user id -> timezone (default: UTC, or the sample's)")


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=("debug", "info", "warning", "error"),
        help="the same as GAMIF_LOG_LEVEL (wins over it): gamif's, uvicorn's and taskiq's log level",
    )


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    plugin = plugins.commands().get(words[0]) if words else None
    args = None if plugin is not None else build_parser().parse_args(words)
    log_level: str | None = getattr(args, "log_level", None)
    if log_level:
        # An alias of the setting, put where every part of this process and its children (the
        # worker processes) read it, and where the settings see it.
        os.environ["GAMIF_LOG_LEVEL"] = log_level
    if not _configure_logging():
        return 1
    try:
        if plugin is not None:
            code = plugins.run(plugin, words[1:])
        else:
            assert args is not None
            code = args.handler(args)
    except BrokenPipeError:  # `gamif simulate | head` is fine
        sys.stderr.close()
        return 0
    return code


def _configure_logging() -> bool:
    """Configure this process's logging from GAMIF_LOG_LEVEL and GAMIF_LOG_FORMAT, before any command
    runs (whether it reads the other settings or not); False after reporting an invalid one."""
    from server import logs
    from server.config import ConfigError, load_log_settings

    try:
        settings = load_log_settings()
    except ConfigError as error:
        print(f"gamif: invalid settings:\n{error}", file=sys.stderr)
        return False
    logs.configure(settings.log_level, settings.log_format)
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
