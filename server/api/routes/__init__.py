"""Thin HTTP handlers: each parses nothing itself and calls one service."""

from . import admin, auth, badges, challenges, health, leaderboards, me, metrics, rules, teams

__all__ = [
    "admin",
    "auth",
    "badges",
    "challenges",
    "health",
    "leaderboards",
    "me",
    "metrics",
    "rules",
    "teams",
]
