"""Replacing a file whole: what a reader, or a power cut, sees is the old file or the new one.

A leaf module (the standard library only): the config, the health report and the updater all
write through it without importing one another.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a reader (or a power cut) sees old or new whole.

    ``durable=False`` skips the fsyncs, for what is rewritten every second and worthless
    after a reboot (the health report): an SD card is spared a write a second.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(partial, path)
    if not durable:
        return
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
