#!/usr/bin/env bash
# Installs what secretfill needs to build and test on a machine that has only
# Swift: libyaml (headers and pkg-config file) and, for the tests, the real
# consumers of our output (python-dotenv, PyYAML, ruamel.yaml, dash).
# Safe to run again: it installs only what is missing.
set -euo pipefail

need_apt=()
pkg-config --exists yaml-0.1 2>/dev/null || need_apt+=(libyaml-dev pkg-config)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ "${1:-}" = "--tests" ]; then
  command -v dash >/dev/null 2>&1 || need_apt+=(dash)
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
  # The team-server tests: a real PostgreSQL (scripts/postgres.sh), pg_dump, curl.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
  # The metrics tests: promtool checks a scrape, a real Prometheus (started by
  # the test on a loopback port with its own config; never its system service) scrapes.
  { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need_apt+=(prometheus)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ "${1:-}" = "--tests" ]; then
  if ! python3 -c 'import dotenv, yaml, ruamel.yaml' 2>/dev/null; then
    python3 -m pip install -q python-dotenv pyyaml ruamel.yaml 2>/dev/null \
      || python3 -m pip install -q --break-system-packages python-dotenv pyyaml ruamel.yaml 2>/dev/null \
      || { SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"; $SUDO apt-get update -qq;
           DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-dotenv python3-yaml python3-ruamel.yaml >/dev/null; }
  fi
  python3 -c 'import dotenv, yaml, ruamel.yaml' || { echo "setup: python3 lacks python-dotenv, PyYAML or ruamel.yaml" >&2; exit 1; }
fi
