"""A progress bar with the rate, on stderr: shown on a terminal, or when asked for."""

import sys
import time

REDRAW = 0.2
"""Seconds between two drawings of the bar: drawing it for every event would cost more than the event."""


class Progress:
    def __init__(self, total: int, label: str, enabled: bool | None = None):
        self.total, self.label, self.done = max(total, 1), label, 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = self.drawn = time.monotonic()
        self.shown = False

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled and (not self.shown or time.monotonic() - self.drawn >= REDRAW or self.done >= self.total):
            self._draw()

    def reach(self, done: int) -> None:
        """Say how far it is, rather than how much more was done."""
        self.advance(done - self.done)

    def _draw(self) -> None:
        self.drawn, self.shown = time.monotonic(), True
        share = min(self.done / self.total, 1.0)
        rate = self.done / max(self.drawn - self.started, 1e-9)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {self.done:,}/{self.total:,} {rate:,.0f}/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()
