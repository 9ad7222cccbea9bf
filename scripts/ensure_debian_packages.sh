#!/usr/bin/env bash
# Debian programs the tests use: chromium (browser tests), redis-server (shared throttling),
# pgbouncer (transaction pooling); the tests start their own servers on free ports. And the
# libraries and a font that WeasyPrint (PDF receipts) loads at run time: Pango with its
# FreeType backend and HarfBuzz's subsetter. Installs the missing ones (as root, with apt);
# otherwise says in one sentence how to get them.
set -euo pipefail
needed=(/usr/bin/chromium:chromium /usr/bin/redis-server:redis-server /usr/sbin/pgbouncer:pgbouncer
    /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core)
libraries=(libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0
    libharfbuzz-subset.so.0:libharfbuzz-subset0)

missing() {
    for pair in "${needed[@]}"; do
        [ -e "${pair%%:*}" ] || echo "${pair##*:}"
    done
    local known
    known=$(/sbin/ldconfig -p)
    for pair in "${libraries[@]}"; do
        grep -qF "${pair%%:*} " <<<"$known" || echo "${pair##*:}"
    done
}

packages=$(missing)
[ -z "$packages" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's" $packages "for the tests..."
    # shellcheck disable=SC2086
    apt-get install -y $packages >/dev/null 2>&1 || {
        apt-get update >/dev/null 2>&1 && apt-get install -y $packages >/dev/null 2>&1
    }
fi
packages=$(missing)
[ -z "$packages" ] && exit 0
echo "The tests need" $packages": install them with 'apt-get install -y" $packages"' and run make test again." >&2
exit 1
