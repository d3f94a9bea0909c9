"""The virtual card's side of vsmartcard's vpcd socket protocol.

A card is a TCP client of vpcd (the pcscd driver); connecting is inserting the card and
closing the socket is pulling it. Every frame both ways is a 2-byte big-endian length and a
payload. A 1-byte payload from vpcd is a control code (0 power off, 1 power on, 2 reset: no
reply; 4: reply with the ATR); anything longer is a command APDU, answered with the response
APDU.

Latency: the Debian vpcd (3.3) writes each frame's length and payload with two ``send``
calls, so with Nagle's algorithm on its side the payload waits for our ACK of the length,
which Linux delays by up to 40 ms. Re-arming ``TCP_QUICKACK`` before every read ACKs at once
and takes a round trip from about 44 ms to about 0.1 ms. ``quickack=False`` keeps the
stock behaviour, to measure what it costs.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable

from hardware.card.virtual.applet import VirtualThaiIdCard

CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4


class VpcdClosed(ConnectionError):
    """vpcd closed the connection (pcscd stopped, or the reader was torn down)."""


class CardHangs(Exception):
    """The card was told to stop answering here (the test then kills its process)."""


class VpcdCard:
    """One virtual card connected to one vpcd slot.

    ``fail_after_apdus``: after answering that many APDUs the card closes the socket instead
    of answering the next (pulled mid-read). ``hang_after_apdus``: it stops answering
    instead. ``on_event`` receives short progress lines (never card contents).
    """

    def __init__(
        self,
        card: VirtualThaiIdCard,
        host: str = "127.0.0.1",
        port: int = 35963,
        *,
        quickack: bool = True,
        fail_after_apdus: int | None = None,
        hang_after_apdus: int | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.sock: socket.socket | None = None
        self.card = card
        self.host = host
        self.port = port
        self.quickack = quickack
        self.fail_after_apdus = fail_after_apdus
        self.hang_after_apdus = hang_after_apdus
        self.apdus = 0
        self._on_event = on_event or (lambda line: None)
        self._lock = threading.Lock()

    def connect(self, timeout_s: float = 5.0) -> None:
        """Open the socket: the card is in the reader once pcscd next polls the slot."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout_s)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.sock = sock
        self._on_event(f"connected port={self.port}")

    def close(self) -> None:
        """Close the socket (pull the card); safe twice and from another thread."""
        with self._lock:
            sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):  # already reset by the peer
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _recv_exact(self, sock: socket.socket, size: int) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            if self.quickack:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = sock.recv(size - len(buf))
            if not chunk:
                raise VpcdClosed("vpcd closed the connection")
            buf += chunk
        return bytes(buf)

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        # One send for length and payload: no Nagle stall on our side either.
        sock.sendall(struct.pack(">H", len(payload)) + payload)

    def serve(self) -> None:
        """Answer vpcd until it closes the socket (:class:`VpcdClosed`), the card is told to
        fail (returns after closing the socket) or to hang (:class:`CardHangs`)."""
        sock = self.sock
        if sock is None:
            raise VpcdClosed("not connected")
        try:
            while True:
                (length,) = struct.unpack(">H", self._recv_exact(sock, 2))
                payload = self._recv_exact(sock, length)
                if length == 1:
                    code = payload[0]
                    if code == CTRL_ATR:
                        self._send(sock, self.card.atr)
                    elif code in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                        self.card.reset()
                    continue
                if self.fail_after_apdus is not None and self.apdus >= self.fail_after_apdus:
                    self._on_event(f"pulled after apdus={self.apdus}")
                    self.close()
                    return
                if self.hang_after_apdus is not None and self.apdus >= self.hang_after_apdus:
                    self._on_event(f"hanging after apdus={self.apdus}")
                    raise CardHangs
                self._send(sock, self.card.process(payload))
                self.apdus += 1
        except OSError as exc:
            if self.sock is None:  # closed by close() from another thread
                return
            if isinstance(exc, VpcdClosed):
                raise
            raise VpcdClosed(str(exc)) from exc
