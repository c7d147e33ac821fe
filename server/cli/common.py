"""What the commands share: the settings, read once and reported plainly when they are wrong."""

from __future__ import annotations

import argparse
import sys

from server.config import ConfigError, Settings, load_settings


def settings_or_report(args: argparse.Namespace | None = None) -> Settings | None:
    """The settings, or None after printing every problem with them. Command-line ``--host`` and
    ``--port`` win over ``GAMIF_HOST`` and ``GAMIF_PORT``."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"gamif: invalid settings:\n{error}", file=sys.stderr)
        return None
    overrides = {name: getattr(args, name) for name in ("host", "port") if getattr(args, name, None)}
    return settings.model_copy(update=overrides) if overrides else settings


def redis_settings_or_report(command: str, why: str) -> Settings | None:
    """The settings of a command that needs Redis, or None after saying why it does."""
    settings = settings_or_report()
    if settings is not None and settings.redis_url is None:
        print(f"gamif {command}: set GAMIF_REDIS_URL: {why}", file=sys.stderr)
        return None
    return settings


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--port``, ``--workers``, the benchmarks' sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
