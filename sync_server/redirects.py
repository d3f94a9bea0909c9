"""Where a page may send the browser next: only back into this site.

A ``next`` parameter is attacker-controlled (a link in a phishing mail). Browsers read
``//evil.example``, ``/\\evil.example`` and ``/<tab>/evil.example`` as another host, so the
only targets kept are plain paths: one leading ``/``, no backslash, no control character,
no scheme and no host.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def is_local_path(target: str | None) -> bool:
    """True when ``target`` is a path on this site that no browser reads as another host."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    # Browsers treat "\" as "/" and drop tabs and newlines inside URLs.
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def local_path_or(target: str | None, fallback: str) -> str:
    """``target`` when it is a local path (:func:`is_local_path`), else ``fallback``."""
    return target if target is not None and is_local_path(target) else fallback
