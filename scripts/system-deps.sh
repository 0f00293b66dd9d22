#!/usr/bin/env bash
# Installs the Debian packages the test suite drives, only when they are missing.
# The list comes from OSTIARY_SYSTEM_PACKAGES (set by the Makefile's system-deps target);
# `apt-get update` runs only when something is missing, so a ready machine does no I/O.
set -euo pipefail
need=()
for pkg in ${OSTIARY_SYSTEM_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  # env passes DEBIAN_FRONTEND through sudo: slapd's debconf must not prompt.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi
