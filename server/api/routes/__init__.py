"""Thin HTTP handlers: each parses nothing itself and calls one service."""

from . import admin, auth, challenges, health, me, metrics, rules, teams

__all__ = ["admin", "auth", "challenges", "health", "me", "metrics", "rules", "teams"]
