"""Thin HTTP handlers: each parses nothing itself and calls one service."""

from . import admin, auth, health, me, metrics, rules, teams

__all__ = ["admin", "auth", "health", "me", "metrics", "rules", "teams"]
