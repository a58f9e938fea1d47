#!/usr/bin/env bash
# Installs what the web UI's browser tests need: Debian's chromium and
# chromium-driver, and selenium from PyPI for the python3 on PATH. Safe to
# run again: it installs only what is missing.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  python3 -m pip install -q selenium 2>/dev/null \
    || python3 -m pip install -q --break-system-packages selenium
fi
python3 -c 'import selenium' || { echo "browser: python3 lacks selenium" >&2; exit 1; }
