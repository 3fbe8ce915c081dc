#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test (test/api/dashboard.browser.test.ts)
# when none is on PATH. Playwright's own browser download cannot work here; playwright-core drives
# this one through `executablePath`. Needs root (CI runs as root); elsewhere it only says what to do.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "setup-chromium: no chromium on PATH and not root: the dashboard's browser test will be skipped (apt-get install -y chromium)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium
