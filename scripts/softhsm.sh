#!/usr/bin/env bash
# Installs what the HSM tests need (issue 27, "The store key in an HSM"):
# Debian's SoftHSM2 (`softhsm2`: the PKCS#11 module and softhsm2-util) and
# OpenSC (`opensc`: pkcs11-tool, which creates the AES key in the token),
# and prints the path of SoftHSM2's PKCS#11 module. scripts/test.sh sets
# SECRETFILL_SOFTHSM to it. Safe to run again: it installs only what is
# missing. The tests never use the system's token folder: each one writes
# its own SOFTHSM2_CONF in a temporary folder.
set -euo pipefail
MODULE=/usr/lib/softhsm/libsofthsm2.so
if ! [ -f "$MODULE" ] || ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2 opensc >/dev/null
fi
[ -f "$MODULE" ] || { echo "softhsm: $MODULE is missing after installing softhsm2" >&2; exit 1; }
command -v pkcs11-tool >/dev/null || { echo "softhsm: pkcs11-tool is missing after installing opensc" >&2; exit 1; }
echo "$MODULE"
