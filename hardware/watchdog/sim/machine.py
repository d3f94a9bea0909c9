"""Stand-in for MicroPython's ``machine`` module, which the WebAssembly port lacks.

Only what the firmware touches: ``Pin`` with its mode constants and ``value()``. Every level
written is recorded with the simulated time, so the tests can measure reset pulses exactly.
"""

# Returns the simulated milliseconds since the run started; set by the harness.
sim_now = None
# Every Pin made, in order, for the harness to inspect.
pins = []


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2

    def __init__(self, id, mode=-1, value=None):
        self.id = id
        self.mode = mode
        self.level = None
        self.history = []
        pins.append(self)
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        self.history.append((sim_now() if sim_now else 0, self.level))
        return None
