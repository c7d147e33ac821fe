"""A service's own background task (a clock, a listener, a pulse): started once, cancelled and awaited
on close, so that shutting a process down leaves nothing running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Background:
    """Base of a service that runs one task of its own: `start` it, `aclose` it."""

    _task: asyncio.Task[None] | None = None
    task_name = "background"

    def _main(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._main(), name=self.task_name)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
