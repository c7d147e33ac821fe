"""What `tasks.compat.taskiq` relies on in taskiq, checked against the installed version: its worker
CLI's programmatic entry (`WorkerArgs`, `run_worker`) and the receiver's loop handing every message to
`Receiver.callback`, on a real Redis stream. A failure names the taskiq version and what changed."""

from __future__ import annotations

import asyncio
import uuid

from taskiq import AckableMessage, BrokerMessage
from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import run_worker
from taskiq.receiver import Receiver

from tasks.broker import ReliableStreamBroker
from tasks.compat.taskiq import GatedReceiver
from tests.compat.contract import Contract

TASKIQ = Contract("taskiq", "tasks/compat/taskiq.py")


def test_the_worker_cli_takes_what_gamif_worker_gives_it() -> None:
    TASKIQ.takes(run_worker, "args")
    TASKIQ.takes(
        WorkerArgs,
        "broker",
        "modules",
        "workers",
        "log_level",
        "configure_logging",
        "wait_tasks_timeout",
        "shutdown_timeout",
        "max_async_tasks",
        "ack_type",
        "receiver",
    )


def test_the_receiver_callback_is_there() -> None:
    TASKIQ.is_coroutine_function(Receiver.callback)
    TASKIQ.takes(Receiver.callback, "message", "raise_err")
    TASKIQ.takes(Receiver.__init__, "broker")


async def test_the_receivers_loop_hands_every_message_to_the_callback(
    redis_server: str, redis_prefix: str
) -> None:
    broker = ReliableStreamBroker(redis_server, queue_name=f"{redis_prefix}queue")
    seen: asyncio.Queue[bytes] = asyncio.Queue()

    class Probe(GatedReceiver):
        async def turned_away(self, message: AckableMessage) -> bool:
            seen.put_nowait(message.data)
            await message.ack()
            return True

    for data in (b"first", b"second"):
        await broker.kick(BrokerMessage(task_id=uuid.uuid4().hex, task_name="none", message=data, labels={}))
    receiver = Probe(broker)
    TASKIQ.check(receiver.broker is broker, "keeps its broker in Receiver.broker")
    finish = asyncio.Event()
    listening = asyncio.create_task(receiver.listen(finish))
    try:
        async with asyncio.timeout(10):
            got = [await seen.get(), await seen.get()]
        TASKIQ.check(got == [b"first", b"second"], "hands each message, with its ack, to Receiver.callback")
    finally:
        finish.set()  # how taskiq's worker process stops its receiver
        async with asyncio.timeout(10):
            await listening
        await broker.shutdown()
