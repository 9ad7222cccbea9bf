#!/usr/bin/env bash
# The browser tests drive Debian's Chromium at /usr/bin/chromium. Install it when missing
# (as root with apt); otherwise say in one sentence how to get it.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get install -y chromium >/dev/null 2>&1 || {
        apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1
    }
fi
[ -x /usr/bin/chromium ] && exit 0
echo "The browser tests need /usr/bin/chromium: install it with 'apt-get install -y chromium' and run make test again." >&2
exit 1
