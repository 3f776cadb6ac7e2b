"""Stop signals for a server that drains: the first asks for a drain, a second ends the process at once.

Handlers run on the server's asyncio loop (``loop.add_signal_handler``), so the callback may
start tasks. A second stop signal while the first is being handled exits at once with
``128 + its number`` (143 for SIGTERM, 130 for SIGINT), as a process ended by that signal
would, cutting whatever is still in flight: the operator asked twice.

Installed only in the main thread of a POSIX process; elsewhere (Windows, a server on a
background thread) :meth:`StopSignals.installed` installs nothing and says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

__all__ = ["STOP_SIGNALS", "StopSignals"]

logger = logging.getLogger(__name__)

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Calls ``on_stop(signal)`` for the first of ``signals``; exits the process on the next one."""

    def __init__(
        self, on_stop: Callable[[signal.Signals], None], signals: Sequence[signal.Signals] = STOP_SIGNALS
    ) -> None:
        self._on_stop = on_stop
        self._signals = tuple(signals)
        self.received: signal.Signals | None = None
        """The first stop signal received, if any."""

    @contextmanager
    def installed(self) -> Iterator[bool]:
        """Handle the signals on the running loop for the duration of the block; yields whether they are handled."""
        if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
            yield False
            return
        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.add_signal_handler(number, self._received, number)
        try:
            yield True
        finally:
            for number in self._signals:
                loop.remove_signal_handler(number)

    def _received(self, number: signal.Signals) -> None:
        if self.received is not None:
            logger.warning("%s received while stopping: exiting now, without waiting for calls in flight", number.name)
            for stream in (sys.stderr, sys.stdout):
                if stream is not None:
                    stream.flush()
            os._exit(128 + number)
        self.received = number
        self._on_stop(number)
