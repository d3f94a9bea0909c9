"""A small publish/subscribe hub for the kiosk's server-sent events.

Each browser page opens one ``EventSource``; it gets its own queue here. Events carry no
personal data and no secret: the state of the card visit (named by a hash of its token,
never the token), the printer's state, and such.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

#: The kiosk has one screen; a few more streams cover a page being replaced by the next.
MAX_SUBSCRIBERS = 8
#: How often an idle stream sends a comment, so a closed page frees its server thread.
KEEPALIVE_S = 5.0


@dataclass(frozen=True)
class Event:
    """One server-sent event: a name and a JSON-able payload."""

    name: str
    data: dict

    def encode(self) -> bytes:
        """The event in the ``text/event-stream`` wire format."""
        body = json.dumps(self.data, separators=(",", ":"))
        return f"event: {self.name}\ndata: {body}\n\n".encode()


class _Closed:
    pass


_CLOSED = _Closed()


class EventBus:
    """Fans events out to every open stream; the oldest stream is dropped past the limit."""

    def __init__(self, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._lock = threading.Lock()
        self._queues: list[queue.SimpleQueue] = []
        self._max = max_subscribers
        self._closed = False

    def publish(self, name: str, **data: object) -> None:
        """Send ``name`` with ``data`` to every open stream."""
        event = Event(name, dict(data))
        with self._lock:
            targets = list(self._queues)
        for target in targets:
            target.put(event)

    def subscribers(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._queues)

    def stream(self, first: list[Event], keepalive_s: float = KEEPALIVE_S) -> Iterator[bytes]:
        """The bytes of one stream: ``first`` (the current state), then every event published.

        Ends when the bus closes or drops this stream for a newer one; the WSGI server ends
        it too when the browser has gone (a write fails on the next keepalive).
        """
        own: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            if self._closed:  # a page reconnecting while the server stops: end at once
                return
            self._queues.append(own)
            while len(self._queues) > self._max:
                self._queues.pop(0).put(_CLOSED)
        try:
            yield b"retry: 500\n\n"
            for event in first:
                yield event.encode()
            while True:
                try:
                    item = own.get(timeout=keepalive_s)
                except queue.Empty:
                    if self._closed:
                        return
                    yield b": keepalive\n\n"
                    continue
                if item is _CLOSED:
                    return
                yield item.encode()
        finally:
            with self._lock:
                if own in self._queues:
                    self._queues.remove(own)

    def close(self) -> None:
        """End every stream, and any opened later (the server is stopping)."""
        with self._lock:
            self._closed = True
            targets, self._queues = self._queues, []
        for target in targets:
            target.put(_CLOSED)
