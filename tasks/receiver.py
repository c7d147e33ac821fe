"""The workers' receiver: taskiq's, except that a message it cannot run is dead-lettered, not dropped.

taskiq's `Receiver` acknowledges, and so deletes, a message that does not decode or names a task the
worker does not know (a foreign writer, or an API process newer than its workers), with a warning. Here
such a message goes to the dead-letter stream first (`tasks.broker.ReliableStreamBroker.dead_letter`),
where `gamif queue` shows it and can replay it once a worker knows its task.
"""

from __future__ import annotations

import logging

from taskiq import AckableMessage
from taskiq.utils import maybe_awaitable

from .broker import ReliableStreamBroker
from .compat.taskiq import GatedReceiver

log = logging.getLogger("gamif.tasks")


class DeadLetteringReceiver(GatedReceiver):
    async def turned_away(self, message: AckableMessage) -> bool:
        broker = self.broker
        if not isinstance(broker, ReliableStreamBroker):
            return False
        reason = self._cannot_run(message.data)
        if reason is None:
            return False
        entry = await broker.dead_letter(message.data, reason=reason, attempts=1, events=0)
        log.error(
            "task queue: a message %s: moved to the dead-letter stream %s as %s",
            reason,
            broker.dead_letter_name,
            entry,
        )
        await maybe_awaitable(message.ack())
        return True

    def _cannot_run(self, data: bytes) -> str | None:
        """Why this worker cannot run the message, or None (it decodes, and its task is known)."""
        try:
            parsed = self.broker.formatter.loads(message=data)
        except Exception as error:  # whatever the serializer raises: the message is not one of ours
            return f"does not decode ({type(error).__name__}: {error})".splitlines()[0]
        if self.broker.find_task(parsed.task_name) is None:
            return f"names a task this worker does not know ({parsed.task_name!r})"
        return None
