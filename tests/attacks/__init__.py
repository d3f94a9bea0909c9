"""Attacks on the server by a stolen kiosk or a forged client: each test plays the attacker.

The attacker holds a station's certificate (or speaks the kiosk services protocol with any
MQTT client the broker lets in) and their own card and phone; they try to get more than
their own visitor's data: another account's password, another petition's history, an
officer's password.
"""
