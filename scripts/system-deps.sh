#!/usr/bin/env bash
# Installs the Debian packages the test suite drives (OSTIARY_SYSTEM_PACKAGES, set by the
# Makefile), only when they are missing: chromium for the Playwright browser tests.
set -euo pipefail
need=()
for pkg in ${OSTIARY_SYSTEM_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
