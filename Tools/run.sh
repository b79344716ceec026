#!/usr/bin/env bash
# Installs what is missing, builds Docket and runs a node on ./docket-data (or $DOCKET_DATA_DIR).
# Extra arguments go to `docket serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build -c release --product docket
exec .build/release/docket serve "$@"
