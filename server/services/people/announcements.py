"""Announcements: an admin's message, pushed live to everyone's screens or to one team's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.models import Team, User
from protocol import team_topic, user_topic
from server.hub.publish import Publisher, TopicChange
from server.services.errors import NotFound


class AnnouncementsService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher) -> None:
        self.sessions = sessions
        self.publisher = publisher

    async def announce(
        self, title: str, text: str, severity: str, url: str | None, team: str | None
    ) -> tuple[str, int]:
        """Publish the ``announcement`` event; returns the audience and how many topics carried it.

        A team's announcement goes to its topic; an organisation-wide one to every active user's own
        topic (PROTOCOL.md §13), in one pipelined publish."""
        data: dict[str, Any] = {"title": title, "text": text, "severity": severity}
        if url is not None:
            data["url"] = url
        event = ("announcement", data)
        async with self.sessions() as session:
            if team is not None:
                found = await session.scalar(select(Team.id).where(Team.slug == team))
                if found is None:
                    raise NotFound.named(f"team {team!r}")
                topics = [team_topic(team)]
            else:
                users = await session.scalars(select(User.id).where(User.disabled_at.is_(None)))
                topics = [user_topic(str(user_id)) for user_id in users]
        await self.publisher.publish(TopicChange(topic, events=[event]) for topic in topics)
        return ("everyone" if team is None else f"team:{team}"), len(topics)
