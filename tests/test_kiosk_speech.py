"""The temporary password read aloud by the real espeak-ng: in every kiosk language, the
text on stdin only (never in the command line another user could read)."""

from __future__ import annotations

import wave

import pytest

from device.kiosk import speech


def test_espeak_ng_is_installed_by_make_setup():
    assert speech.available()


@pytest.mark.parametrize("language", ["th", "vi", "en"])
def test_the_password_is_spoken_from_stdin(tmp_path, language):
    secret = "Kx7pQ2mZ"
    wav = tmp_path / f"{language}.wav"
    assert speech.speak(speech.spell(secret), language, wav=wav)
    with wave.open(str(wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds > 2.0  # eight characters spelled one by one, with pauses
    command = speech.speak_command(language, wav)
    assert secret not in " ".join(command) and "K, x, 7" not in " ".join(command)
    assert command[command.index("-v") + 1] == language


def test_spelling_puts_a_pause_between_characters():
    assert speech.spell("ab3") == "a, b, 3"


def test_spelling_pauses_longer_between_groups_and_does_not_say_the_dashes():
    assert speech.spell("K7Q-XM4-PAR") == "K, 7, Q. X, M, 4. P, A, R"
