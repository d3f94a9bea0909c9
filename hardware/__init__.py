"""Device drivers behind small interfaces (card reader, printer, GPIO, watchdog link).

Nothing here imports Flask, MQTT or the station applications.
"""
