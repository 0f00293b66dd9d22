"""A task that ``serve`` repeats on a daemon thread every so many seconds, stopped at
shutdown; a failed run is logged and the next one still comes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ostiary.web.logs import get_logger

log = get_logger("ostiary.periodic")


class Periodic:
    def __init__(
        self,
        name: str,
        every: float,
        run: Callable[[], None],
        wake: threading.Event | None = None,
    ) -> None:
        """``wake``, when given: setting it runs the task now rather than at its turn."""
        self._name = name
        self._every = every
        self._run_once = run
        self._stop = threading.Event()
        self._wake = wake if wake is not None else self._stop
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._every)
            if self._stop.is_set():
                return
            if self._wake is not self._stop:
                self._wake.clear()
            try:
                self._run_once()
            except Exception as exc:  # a failed pass must not end the thread
                log.warning("periodic.failed", task=self._name, error=type(exc).__name__)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name=f"ostiary-{self._name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)
