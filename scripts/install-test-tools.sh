#!/usr/bin/env bash
# Installs what the test suite needs from outside npm, when missing: Debian's Chromium for the browser tests,
# PostgreSQL's server binaries (the tests start their own throwaway server with initdb/pg_ctl; no systemd, no service)
# and OpenStack Swift with memcached, the S3-compatible server of the storage tests (test/services/s3.ts starts it).
# Needs root and apt-get; without them those tests skip with a message (they never pass silently).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ! -x /usr/bin/swift-proxy-server ] || [ ! -x /usr/bin/memcached ]; then
  missing+=(swift swift-proxy swift-account swift-container swift-object python3-swift memcached)
fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-tools: ${missing[*]} missing and cannot install (needs root and apt-get); those tests will skip" >&2
  exit 0
fi
echo "install-test-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# The packages' own clusters and services (PostgreSQL, Swift, memcached) are not used: policy-rc.d keeps apt from starting them.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq "${missing[@]}" >/dev/null
rm -f /usr/sbin/policy-rc.d
