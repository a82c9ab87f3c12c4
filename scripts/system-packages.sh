#!/usr/bin/env bash
# The system programs the tests run for real, installed from Debian's packages when
# missing: PostgreSQL's server binaries (the tests start their own server, as the
# `postgres` user when run as root), Chromium with its WebDriver (the browser tests),
# iproute2 (`ip`, for network namespaces) and faketime (a worker's clock skewed).
# Installs only as root on a machine with apt-get; otherwise says what to install, and
# the tests that need it fail naming it. Does nothing when all is there.
set -euo pipefail

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
[ -x "${CHROMEDRIVER:-/usr/bin/chromedriver}" ] || missing+=(chromium-driver)
# `ip`, for the test that puts another host in a network namespace (tests/local_run).
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || missing+=(iproute2)
# `faketime` (libfaketime), for the test that runs a worker with its clock skewed.
command -v faketime >/dev/null || missing+=(faketime)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "The tests need these packages, which are missing: ${missing[*]} (Debian names); install them." >&2
  exit 0
fi
echo "Installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# Debian's postgresql may create and start a cluster of its own on port 5432; the tests
# leave it alone and start theirs on a free port.
apt-get install -y "${missing[@]}"
