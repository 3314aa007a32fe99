#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt uses (the first non-security URI of
# /etc/apt/sources.list.d/debian.sources, else of /etc/apt/sources.list), for debootstrap
# (tests/integration/lib_boot.sh, .ci/run-release). EC2NC_BOOT_MIRROR overrides it.
set -euo pipefail
if [ -n "${EC2NC_BOOT_MIRROR:-}" ]; then echo "$EC2NC_BOOT_MIRROR"; exit 0; fi
m=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  m=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
  m=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
fi
echo "${m:-http://deb.debian.org/debian}"
