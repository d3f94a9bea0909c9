"""The fleet: the stations as the server last heard of them, and who enrolled each."""
