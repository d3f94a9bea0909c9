"""``dcs-release``: build and sign release artifacts for the stations (a build-machine tool).

It lives under devtools/ because it runs on the build machine, never on a station or the
server: no product module imports it (tests/test_layers.py). What both sides must agree on —
the manifest, its canonical bytes, the signature — is in contract/release.py; the station's
side of it is device/update/.
"""
