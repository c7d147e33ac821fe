"""taskiq's worker machinery: the only place that touches its internals (checked by
``tests/compat/test_taskiq_contract.py``).

`gamif worker` starts taskiq's worker processes from its own CLI, not taskiq's, and turns away the
messages its workers cannot run before taskiq's receiver drops them. Neither is taskiq's documented
API: its worker CLI's `WorkerArgs` and `run_worker`, and `Receiver.callback`, the method the
receiver's loop hands each message to.
"""

from __future__ import annotations

from typing import Any

from taskiq import AckableMessage
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver


class GatedReceiver(Receiver):
    """taskiq's receiver, with a gate before each message that can be acknowledged: a subclass's
    `turned_away` deals with the messages that must not reach taskiq."""

    async def callback(self, message: bytes | AckableMessage, raise_err: bool = False) -> None:
        if isinstance(message, AckableMessage) and await self.turned_away(message):
            return
        await super().callback(message, raise_err)

    async def turned_away(self, message: AckableMessage) -> bool:
        """Whether this message was dealt with (and acknowledged) here: taskiq does not see it then."""
        return False


def run_worker_processes(
    *,
    broker: str,
    workers: int,
    log_level: str,
    configure_logging: bool,
    wait_tasks_timeout: float,
    shutdown_timeout: float,
    max_async_tasks: int,
    ack_type: AcknowledgeType,
    receiver: str,
) -> int | None:
    """Run taskiq's supervisor and its worker processes (``taskiq worker``, without its command line)
    until they stop: None once it has asked its workers to stop, -1 when they kept dying at start.

    `broker` and `receiver` are ``module:attribute`` paths, imported in each worker process."""
    # Imported here: the command line's other commands need none of taskiq's worker machinery.
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker

    level: Any = log_level  # taskiq types it as a Literal of its level names
    return run_worker(
        WorkerArgs(
            broker=broker,
            modules=[],
            workers=workers,
            log_level=level,
            configure_logging=configure_logging,
            wait_tasks_timeout=wait_tasks_timeout,
            shutdown_timeout=shutdown_timeout,
            max_async_tasks=max_async_tasks,
            ack_type=ack_type,
            receiver=receiver,
        )
    )
