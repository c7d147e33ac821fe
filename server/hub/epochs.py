"""New epochs for every topic of a deployment, when the truth behind the documents was replaced (a
database restored from a backup): its topic histories and stored documents describe states the database
no longer has, and a user topic's versions may even run ahead of the restored ones.

`restart_epochs` forgets each topic's history and stored document (`Streams.drop`: the next use starts a
new epoch at offset 1), then publishes an empty change on it. Every hub process watching the topic gets
that delta of a new epoch, which sends each of its sessions a fresh snapshot (`server.hub.session`: a
delta of another epoch resynchronises, and ``since`` with the old epoch answers a snapshot), computed from
the restored database; a client that reconnects later with its old offsets gets one too (PROTOCOL.md §12).

Only keys of this deployment's prefix are touched. Presence topics are left alone: presence is the hub's
own live state, not derived from the database.
"""

from __future__ import annotations

from collections.abc import Callable

from .publish import TopicChange, encode_change
from .redis import RedisStreams

_BATCH = 500


def _glob_escaped(text: str) -> str:
    for special in ("\\", "*", "?", "[", "]"):
        text = text.replace(special, "\\" + special)
    return text


async def known_topics(streams: RedisStreams) -> list[str]:
    """Every topic with a stream position under the streams' prefix (SCAN: no blocking of Redis)."""
    start, end = f"{streams.names.prefix}hub:{{", "}:meta"
    topics = set()
    async for key in streams.redis.scan_iter(
        match=f"{_glob_escaped(start)}*{_glob_escaped(end)}", count=1000
    ):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.startswith(start) and name.endswith(end):
            topics.add(name[len(start) : -len(end)])
    return sorted(topics)


async def restart_epochs(
    streams: RedisStreams, *, keep: Callable[[str], bool] = lambda topic: topic.startswith("presence:")
) -> list[str]:
    """Start a new epoch on every known topic but those `keep` says, and tell every live session: the
    topics restarted."""
    topics = [topic for topic in await known_topics(streams) if not keep(topic)]
    for start in range(0, len(topics), _BATCH):
        chunk = topics[start : start + _BATCH]
        await streams.redis.delete(*(key for topic in chunk for key in streams.topic_keys(topic)))
    empty = {topic: encode_change(TopicChange(topic)) for topic in topics}
    for start in range(0, len(topics), _BATCH):
        await streams.publish_many([(topic, empty[topic]) for topic in topics[start : start + _BATCH]])
    return topics


__all__ = ["known_topics", "restart_epochs"]
