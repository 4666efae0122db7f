#!/usr/bin/env bash
# Installs what the test suite needs from outside npm, when missing: Debian's Chromium for the browser tests.
# Needs root and apt-get; without them the browser tests skip with a message (they never pass silently).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-tools: ${missing[*]} missing and cannot install (needs root and apt-get); those tests will skip" >&2
  exit 0
fi
echo "install-test-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
