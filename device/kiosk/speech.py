"""Reading a temporary password aloud through the headphone jack with espeak-ng.

The text goes to espeak-ng on stdin, never on its command line (which any user of the
machine can read in the process list) and never into a log or a file — except the WAV a
test asks for with ``wav``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: espeak-ng voices by screen language.
VOICES = {"th": "th", "vi": "vi", "en": "en"}


def available() -> bool:
    """Whether espeak-ng is installed."""
    return shutil.which("espeak-ng") is not None


def spell(secret: str) -> str:
    """One character at a time, with a pause between them and a longer one between the
    groups a password is shown in (``K7Q-XM4`` is "K, 7, Q. X, M, 4"); the dashes are not
    said."""
    groups = [group for group in secret.replace(" ", "-").split("-") if group]
    return ". ".join(", ".join(group) for group in groups)


def speak_command(language: str, wav: Path | None = None) -> list[str]:
    """espeak-ng's arguments (no text in them)."""
    espeak = shutil.which("espeak-ng") or "espeak-ng"
    command = [espeak, "-v", VOICES.get(language, "en"), "-s", "120", "--stdin"]
    if wav is not None:
        command += ["-w", str(wav)]
    return command


def speak(text: str, language: str, *, wav: Path | None = None, timeout_s: float = 60) -> bool:
    """Say ``text`` (to the sound card, or into ``wav``); ``False`` if espeak-ng failed."""
    if not available():
        return False
    completed = subprocess.run(
        speak_command(language, wav),
        input=text.encode(),
        capture_output=True,
        check=False,
        timeout=timeout_s,
    )
    return completed.returncode == 0
