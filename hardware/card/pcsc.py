"""The ``real`` backend: pyscard's thin PC/SC layer (``smartcard.scard``) talking to pcscd.

The low-level calls are used rather than pyscard's ``CardMonitor`` because the monitor has to
outlive pcscd: when the daemon stops, every context it handed out is dead, and this module
drops its context and establishes a new one once the daemon is back. Each link has its own
context, so a read never waits behind the monitor's blocking ``SCardGetStatusChange``.

Every PC/SC failure is translated here, at the boundary, into the hardware exception tree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import ModuleType

from hardware.card.transport import CardLink, CardTransport, ReaderState
from hardware.exc import (
    BackendUnavailableError,
    CardError,
    CardRemovedError,
    NoCardError,
    ReaderUnavailableError,
)

log = logging.getLogger(__name__)

#: PC/SC's pseudo-reader whose state changes when a reader is plugged or unplugged.
PNP_NOTIFICATION = "\\\\?PnP?\\Notification"


def _load_scard() -> ModuleType:
    try:
        from smartcard import scard
    except ImportError as exc:  # pragma: no cover - pyscard is a project dependency
        raise BackendUnavailableError(f"pyscard is not installed: {exc}") from exc
    return scard


def _hr(rv: int) -> int:
    return rv & 0xFFFFFFFF


class _Codes:
    """The PC/SC return codes this module tells apart, read once from pyscard."""

    def __init__(self, scard: ModuleType) -> None:
        self.service = {
            _hr(scard.SCARD_E_NO_SERVICE),
            _hr(scard.SCARD_E_SERVICE_STOPPED),
            _hr(scard.SCARD_E_INVALID_HANDLE),  # a context from a pcscd that has since restarted
        }
        self.no_readers = _hr(scard.SCARD_E_NO_READERS_AVAILABLE)
        self.reader_gone = {
            _hr(scard.SCARD_E_UNKNOWN_READER),
            _hr(scard.SCARD_E_READER_UNAVAILABLE),
        }
        self.no_card = {_hr(scard.SCARD_E_NO_SMARTCARD), _hr(scard.SCARD_W_REMOVED_CARD)}
        self.card_lost = {
            _hr(scard.SCARD_W_REMOVED_CARD),
            _hr(scard.SCARD_E_NO_SMARTCARD),
            _hr(scard.SCARD_W_UNPOWERED_CARD),
            _hr(scard.SCARD_W_RESET_CARD),
            _hr(scard.SCARD_E_NOT_TRANSACTED),
            _hr(scard.SCARD_F_COMM_ERROR),
            _hr(scard.SCARD_E_COMM_DATA_LOST),
        }
        self.unresponsive = _hr(scard.SCARD_W_UNRESPONSIVE_CARD)
        self.timeout = _hr(scard.SCARD_E_TIMEOUT)
        self.cancelled = _hr(scard.SCARD_E_CANCELLED)


class PcscTransport(CardTransport):
    """Readers and cards through pcscd."""

    name = "real"

    def __init__(self) -> None:
        self._monitor_ctx: int | None = None
        self._ctx_lock = threading.Lock()
        self._scard = _load_scard()
        self._codes = _Codes(self._scard)

    # --- contexts --------------------------------------------------------------------------

    def _message(self, rv: int) -> str:
        return f"{self._scard.SCardGetErrorMessage(rv).strip()} (0x{_hr(rv):08X})"

    def _establish(self) -> int:
        rv, ctx = self._scard.SCardEstablishContext(self._scard.SCARD_SCOPE_USER)
        if rv != 0:
            raise ReaderUnavailableError(f"PC/SC service unavailable: {self._message(rv)}")
        return ctx

    def _release(self, ctx: int | None) -> None:
        if ctx is not None:
            self._scard.SCardReleaseContext(ctx)

    def _monitor_context(self) -> int:
        with self._ctx_lock:
            if self._monitor_ctx is None:
                self._monitor_ctx = self._establish()
            return self._monitor_ctx

    def _drop_monitor_context(self) -> None:
        with self._ctx_lock:
            ctx, self._monitor_ctx = self._monitor_ctx, None
        self._release(ctx)

    def _list(self, ctx: int) -> list[str]:
        rv, readers = self._scard.SCardListReaders(ctx, [])
        if _hr(rv) == self._codes.no_readers:
            return []
        if rv != 0:
            raise ReaderUnavailableError(f"cannot list readers: {self._message(rv)}")
        return list(readers)

    # --- reader states ---------------------------------------------------------------------

    def _state(self, name: str, event_state: int, atr: list[int]) -> ReaderState | None:
        scard = self._scard
        if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            return None  # the reader went away between listing and asking
        present = bool(event_state & scard.SCARD_STATE_PRESENT)
        return ReaderState(
            name=name,
            present=present,
            atr=bytes(atr) if present else b"",
            counter=(event_state >> 16) & 0xFFFF,
            raw=event_state & ~scard.SCARD_STATE_CHANGED,
        )

    def _query(self, ctx: int, states: list[tuple[str, int]], timeout_ms: int) -> list | None:
        """``SCardGetStatusChange``; None on timeout/cancel; raises if the service is gone."""
        rv, out = self._scard.SCardGetStatusChange(ctx, timeout_ms, states)
        code = _hr(rv)
        if code in (self._codes.timeout, self._codes.cancelled):
            return None
        if code in self._codes.reader_gone:
            return []  # a reader vanished while we waited: the caller lists again
        if rv != 0:
            raise ReaderUnavailableError(f"PC/SC wait failed: {self._message(rv)}")
        return out

    def snapshot(self) -> dict[str, ReaderState]:
        """Every reader now (a context of its own, so it can run beside the monitor)."""
        ctx = self._establish()
        try:
            names = self._list(ctx)
            if not names:
                return {}
            out = self._query(ctx, [(n, self._scard.SCARD_STATE_UNAWARE) for n in names], 0)
        finally:
            self._release(ctx)
        return {s.name: s for s in (self._state(*row) for row in out or []) if s is not None}

    def wait_for_change(
        self, known: Mapping[str, ReaderState], timeout_s: float
    ) -> dict[str, ReaderState]:
        """Block in ``SCardGetStatusChange`` on every reader and on PnP notifications."""
        unaware = self._scard.SCARD_STATE_UNAWARE
        try:
            ctx = self._monitor_context()
            names = self._list(ctx)
            if names and set(names) == set(known):
                states = [(n, known[n].raw) for n in names]
                states.append((PNP_NOTIFICATION, len(names) << 16))
                out = self._query(ctx, states, max(0, int(timeout_s * 1000)))
                if out is None:
                    return dict(known)  # timed out or cancelled: nothing changed
                if out:
                    out = [row for row in out if row[0] != PNP_NOTIFICATION]
                names = self._list(ctx)  # a reader may have come or gone meanwhile
                if set(names) == {row[0] for row in out}:
                    return self._collect(out)
            elif not names and not known:
                # No reader at all: wait for one to be plugged in.
                out = self._query(ctx, [(PNP_NOTIFICATION, 0)], max(0, int(timeout_s * 1000)))
                names = self._list(ctx)
            out = self._query(ctx, [(n, unaware) for n in names], 0) if names else []
        except ReaderUnavailableError:
            self._drop_monitor_context()  # dead with the daemon; a new one once it is back
            raise
        return self._collect(out or [])

    def _collect(self, out: list) -> dict[str, ReaderState]:
        result = {}
        for row in out:
            if row[0] == PNP_NOTIFICATION:
                continue
            state = self._state(*row)
            if state is not None:
                result[state.name] = state
        return result

    def cancel(self) -> None:
        """Wake the monitor's ``SCardGetStatusChange``."""
        with self._ctx_lock:
            if self._monitor_ctx is not None:
                self._scard.SCardCancel(self._monitor_ctx)

    def connect(self, reader: str) -> CardLink:
        """A SHARED link to the card in ``reader``."""
        return PcscLink(self._scard, self._codes, self._establish(), reader)

    def close(self) -> None:
        """Release the monitor's context; safe twice."""
        self._drop_monitor_context()


class PcscLink(CardLink):
    """One SHARED connection, owning its own PC/SC context."""

    def __init__(self, scard: ModuleType, codes: _Codes, ctx: int, reader: str) -> None:
        # Handles first, so close() works whatever raises below.
        self._ctx: int | None = ctx
        self._handle: int | None = None
        self._in_transaction = False
        self._scard = scard
        self._codes = codes
        self.reader = reader
        self.atr = b""
        try:
            rv, handle, protocol = scard.SCardConnect(
                ctx,
                reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if rv != 0:
                raise self._error(rv, "connect")
            self._handle = handle
            self._protocol = protocol
            rv, _, _, _, atr = scard.SCardStatus(handle)
            if rv != 0:
                raise self._error(rv, "status")
            self.atr = bytes(atr)
        except BaseException:
            self.close()
            raise

    def _error(self, rv: int, what: str) -> CardError:
        code = _hr(rv)
        text = self._scard.SCardGetErrorMessage(rv).strip()
        message = f"{what} on {self.reader!r}: {text} (0x{code:08X})"
        if code in self._codes.service or code in self._codes.reader_gone:
            return ReaderUnavailableError(message)
        if what == "connect" and code in self._codes.no_card:
            return NoCardError(message)
        if code == self._codes.unresponsive:
            return CardError(f"card does not answer (inserted the wrong way round?): {message}")
        if code in self._codes.card_lost:
            return CardRemovedError(message)
        return CardError(message)

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send one APDU; an empty answer means the card went away mid-command."""
        if self._handle is None:
            raise CardRemovedError("link is closed")
        rv, response = self._scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        if rv != 0:
            raise self._error(rv, "transmit")
        if len(response) < 2:
            # vpcd (and some readers) report a card lost mid-command as an empty answer.
            raise CardRemovedError(f"card in {self.reader!r} returned no response")
        return bytes(response[:-2]), response[-2], response[-1]

    def begin(self) -> None:
        """``SCardBeginTransaction``."""
        if self._handle is None:
            raise CardRemovedError("link is closed")
        rv = self._scard.SCardBeginTransaction(self._handle)
        if rv != 0:
            raise self._error(rv, "begin transaction")
        self._in_transaction = True

    def end(self) -> None:
        """``SCardEndTransaction`` (errors ignored: the card may be gone)."""
        if self._handle is not None and self._in_transaction:
            self._in_transaction = False
            self._scard.SCardEndTransaction(self._handle, self._scard.SCARD_LEAVE_CARD)

    def close(self) -> None:
        """Disconnect leaving the card as it is, release the context; safe twice."""
        handle, self._handle = self._handle, None
        ctx, self._ctx = self._ctx, None
        if handle is not None:
            self._scard.SCardDisconnect(handle, self._scard.SCARD_LEAVE_CARD)
        if ctx is not None:
            self._scard.SCardReleaseContext(ctx)
