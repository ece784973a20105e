"""A worker thread for a big twin's side work, so it runs on a second core beside the tick.

numpy releases the GIL while it draws random numbers and runs array loops, so work handed to a thread
(the next tick's latency jitter) overlaps the main thread's. Only from THREADED_FROM services: below
that a thread's hand-offs cost more than they save. Nothing drawn depends on the thread: a job draws
from its own stream, in tick order. (Drawing a tick's log lines there while the observer drew the
noise was tried: both are many short array passes, and at 100,000 services it saved nothing.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

THREADED_FROM = 20_000  # services


def worker(services: int, name: str) -> ThreadPoolExecutor | None:
    """One worker thread for a twin of `services` services, or None (do the work inline) below THREADED_FROM."""
    return ThreadPoolExecutor(1, thread_name_prefix=f"opstwin-{name}") if services >= THREADED_FROM else None
