"""taskiq-redis's stream broker: the only place that touches its internals (checked by
``tests/compat/test_taskiq_redis_contract.py``).

`tasks.broker.ReliableStreamBroker` reads the stream itself (to claim, renew and trim), so it relies
on more of `RedisStreamBroker` than its constructor: the field its ``kick`` writes a message under,
the settings it keeps as attributes, and its private consumer-group declaration. `StreamBroker` gives
those plain names; `queue_name`, `consumer_group_name`, `consumer_name` and `connection_pool` are
the constructor's own, kept as they are.
"""

from __future__ import annotations

from typing import Any

from taskiq_redis import RedisStreamBroker

MESSAGE_FIELD = b"data"
"""The field of a stream entry under which `RedisStreamBroker.kick` writes the message."""


class StreamBroker(RedisStreamBroker):
    """taskiq-redis's `RedisStreamBroker`, for a subclass that reads the stream itself."""

    def __init__(
        self,
        url: str,
        *,
        queue_name: str,
        consumer_group_name: str,
        start_id: str,
        read_block_ms: int,
        claim_idle_ms: int,
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=consumer_group_name,
            consumer_id=start_id,
            xread_block=read_block_ms,
            idle_timeout=claim_idle_ms,
            **connection_kwargs,
        )

    @property
    def read_block_ms(self) -> int:
        """How long one XREADGROUP waits for new messages."""
        return self.block

    @property
    def read_count(self) -> int | None:
        """How many messages one XREADGROUP takes at most."""
        return self.count

    @property
    def claim_idle_ms(self) -> int:
        """How long a message stays unacknowledged before another consumer may claim it."""
        return self.idle_timeout

    async def declare_consumer_group(self) -> None:
        """Create the stream and its consumer group (reading from the ``start_id`` given), unless they
        exist (what `startup` does)."""
        await self._declare_consumer_group()
