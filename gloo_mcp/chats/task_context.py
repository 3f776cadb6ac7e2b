"""What a tool call running as a Task tells its run: the answer so far, and that Gloo has answered.

A tool call does not know it runs as a Task (tasks.py): it runs exactly as a synchronous call
would. The run sets itself here for the call's duration, and two places report to it: the
progress reporter (progress.py) hands it what it would have sent as progress notifications,
and a backend says the moment Gloo's answer has arrived. From that moment a ``tasks/cancel``
no longer stops the call, so a turn Gloo recorded is also recorded by gloo-mcp and returned.

It imports nothing of gloo-mcp, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

__all__ = ["TaskProgress", "current_task", "gloo_answered", "running_as"]


class TaskProgress(Protocol):
    def text(self, piece: str) -> None:
        """A new piece of the streamed answer."""
        ...

    def waiting(self, seconds: int) -> None:
        """Still waiting for Gloo's first words, ``seconds`` into the call."""
        ...

    def answered(self) -> None:
        """Gloo's answer has arrived: what follows only records and returns it."""
        ...


_CURRENT: ContextVar[TaskProgress | None] = ContextVar("gloo_mcp_task", default=None)


def current_task() -> TaskProgress | None:
    """The task this call runs for, or None for a synchronous call."""
    return _CURRENT.get()


def gloo_answered() -> None:
    """Tell the task this call runs for (if any) that Gloo has answered."""
    task = _CURRENT.get()
    if task is not None:
        task.answered()


@contextmanager
def running_as(task: TaskProgress) -> Iterator[None]:
    """Make ``task`` the current one for the block (and the tasks it starts)."""
    token = _CURRENT.set(task)
    try:
        yield
    finally:
        _CURRENT.reset(token)
