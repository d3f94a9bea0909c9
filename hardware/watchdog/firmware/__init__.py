"""The watchdog board's MicroPython firmware (main.py + watchdog_logic.py).

This file only lets CPython import ``watchdog_logic`` for the ``virtual`` backend; it is not
copied to the board. ``main.py`` is for the board alone (it imports ``machine``).
"""
