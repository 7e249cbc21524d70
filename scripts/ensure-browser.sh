#!/usr/bin/env bash
# The browser tests (tests/e2e/web) drive Debian's chromium: install it with apt when missing
# (Playwright's own browser download does not run here).
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0
echo "installing chromium (apt)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium did not install" >&2; exit 1; }
