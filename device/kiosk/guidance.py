"""Spoken guidance: the screen's heading and main instruction, read aloud on request.

An unattended terminal must not rely on sight alone (EN 301 549, 5.1.3 and 8.2): every
kiosk screen has a "Listen" control, and the page sends what it shows as its heading and
main instruction here, in the screen's language. espeak-ng says it through the station's
audio out (the headphone jack, so a lobby does not hear a resident's data), one utterance at
a time: a new one cuts the last one short. The text goes on stdin, never on a command line,
and is never logged. With ``wav_dir`` the speech is written into numbered WAV files instead
(a station without audio out, and the tests that check the sound is made).
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

from device.kiosk import speech

#: Longest text spoken at once: a heading and a few sentences of instruction.
MAX_CHARS = 600
LANGUAGES = tuple(speech.VOICES)


def tidy(text: str) -> str:
    """One line of plain text, at most :data:`MAX_CHARS` (on a word boundary)."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= MAX_CHARS:
        return text
    return text[:MAX_CHARS].rsplit(" ", 1)[0]


class Guide:
    """Says one text at a time through espeak-ng (or into WAV files under ``wav_dir``)."""

    def __init__(self, *, enabled: bool = True, wav_dir: Path | None = None) -> None:
        self.enabled = enabled
        self.wav_dir = wav_dir
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._count = 0
        #: The WAV file the last utterance is being written to (``wav_dir`` only).
        self.last_wav: Path | None = None

    @property
    def available(self) -> bool:
        """Whether a "Listen" tap can be answered (enabled, and espeak-ng is installed)."""
        return self.enabled and speech.available()

    def say(self, text: str, language: str) -> bool:
        """Start saying ``text`` in ``language``; ``False`` if there is nothing to say or no
        voice. Returns at once: the speech runs in its own process."""
        text = tidy(text)
        if not text or language not in LANGUAGES or not self.available:
            return False
        with self._lock:
            self._stop_locked()
            wav = None
            if self.wav_dir is not None:
                self._count += 1
                self.wav_dir.mkdir(parents=True, exist_ok=True)
                wav = self.wav_dir / f"guidance-{self._count:04d}-{language}.wav"
            self.last_wav = wav
            process = subprocess.Popen(
                speech.speak_command(language, wav),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert process.stdin is not None
            process.stdin.write(text.encode())
            process.stdin.close()
            self._process = process
        return True

    def wait(self, timeout_s: float = 60.0) -> int | None:
        """Wait for the current utterance to end; its exit code (``None``: nothing said)."""
        with self._lock:
            process = self._process
        return None if process is None else process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """Cut the current utterance short (the resident left, the kiosk stops)."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
