#!/usr/bin/env bash
# The browser test drives Debian's chromium (Playwright cannot download its own browsers here).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "ensure-chromium: chromium is missing and I cannot install it (not root); the browser test will skip" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
