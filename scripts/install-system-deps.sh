#!/bin/sh
# Installs the Debian packages the demo and the tests need, only those that are missing.
# Runs apt-get as root (or through sudo when available).
set -eu

PACKAGES="mosquitto mosquitto-clients pcscd pcsc-tools vsmartcard-vpcd opensc swig \
libpcsclite-dev postgresql chromium fonts-thai-tlwg fonts-noto-core build-essential \
python3-dev python3-venv nftables espeak-ng prometheus cage xwayland zbar-tools"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

# Node runs MicroPython (WebAssembly) for the watchdog firmware tests; any recent Node will do.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -z "$missing" ]; then
    exit 0
fi

echo "installing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: need root (or sudo) to install:$missing" >&2
    exit 1
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
# The distribution starts these as system services; ours start their own on free ports.
# prometheus is installed for promtool (tests/test_ops_pack.py checks docs/ops/ with it).
for service in mosquitto pcscd.socket pcscd postgresql prometheus prometheus-node-exporter; do
    $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
done
