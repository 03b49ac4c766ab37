"""The live progress line: rate, latency percentiles and errors over the last seconds."""

from __future__ import annotations

import collections
import sys
import threading
import time
from typing import TextIO

from .stats import percentile

_WINDOW = 2.0  # seconds the rate and percentiles are computed over


class ProgressLine:
    """Thread-safe counters fed by an engine; :meth:`line` renders them."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ok = 0
        self.errors = 0
        self._recent: collections.deque[tuple[float, int, list[float]]] = collections.deque()
        self._lock = threading.Lock()

    def add(self, ok: int, errors: int, latencies: list[float]) -> None:
        now = time.monotonic()
        with self._lock:
            self.ok += ok
            self.errors += errors
            self._recent.append((now, ok, latencies))
            while self._recent and self._recent[0][0] < now - _WINDOW:
                self._recent.popleft()

    def line(self) -> str:
        now = time.monotonic()
        with self._lock:
            recent = [item for item in self._recent if item[0] >= now - _WINDOW]
            ok, errors = self.ok, self.errors
        window = min(_WINDOW, max(now - self.started, 1e-3))
        rate = sum(item[1] for item in recent) / window
        latencies = sorted(v for item in recent for v in item[2])
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        lat = f"p50 {p50:.1f} ms  p95 {p95:.1f} ms" if latencies else "p50 - ms  p95 - ms"
        return (f"[{now - self.started:6.1f} s] {ok} ok  {errors} errors  "
                f"{rate:.0f}/s  {lat}")


class LivePrinter:
    """Prints the line every second until stopped: in place on a terminal, else one a line."""

    def __init__(self, progress: ProgressLine, stream: TextIO | None = None,
                 interval: float = 1.0) -> None:
        self.progress = progress
        self.stream = stream or sys.stderr
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def _loop(self) -> None:
        tty = self.stream.isatty()
        while not self._stop.wait(self.interval):
            text = self.progress.line()
            self.stream.write(f"\r{text}\033[K" if tty else text + "\n")
            self.stream.flush()
        if tty:
            self.stream.write("\n")

    def __enter__(self) -> LivePrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
