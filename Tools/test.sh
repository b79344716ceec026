#!/usr/bin/env bash
# Installs what is missing, builds Docket and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build --build-tests
swift test --skip-build "$@"
