#!/usr/bin/env bash
# Installs what Docket needs on a fresh Debian/Ubuntu machine, only when it is missing, and puts
# Swift on PATH. Sourced by run.sh and test.sh; safe to run again.
set -euo pipefail

need=()
pkg-config --exists lmdb 2>/dev/null || need+=(liblmdb-dev)
pkg-config --exists libzstd 2>/dev/null || need+=(libzstd-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# The forensic tests read a data directory with these alone (Schemas/storage.md).
command -v mdb_dump >/dev/null 2>&1 || need+=(lmdb-utils)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Time-zone rules for business-day clocks, and certificates for the TLS test.
[[ -e /usr/share/zoneinfo/Europe/Berlin ]] || need+=(tzdata)
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if ((${#need[@]})); then
    echo "docket setup: installing ${need[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        if [[ -x $candidate/swift ]]; then export PATH="$candidate:$PATH"; break; fi
    done
fi
command -v swift >/dev/null 2>&1 || { echo "docket setup: no Swift toolchain found (looked on PATH and in /opt/swift)" >&2; exit 1; }
