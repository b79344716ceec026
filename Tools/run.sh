#!/usr/bin/env bash
# Installs what is missing, builds Docket and runs a node on ./docket-data (or $DOCKET_DATA_DIR).
# Extra arguments go to `docket serve`. A leader's first run writes an admin token to
# DATA_DIR/admin.token (0600): store it elsewhere, then delete the file.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build -c release --product docket
data="${DOCKET_DATA_DIR:-docket-data}"
bootstrap=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --data-dir) data="${args[i + 1]:-$data}" ;;
        --data-dir=*) data="${args[i]#--data-dir=}" ;;
        --replica-of | --replica-of=* | --admin-token-file | --admin-token-file=*) bootstrap=0 ;;
    esac
done
if [ "$bootstrap" = 1 ]; then
    exec .build/release/docket serve --admin-token-file "$data/admin.token" "$@"
fi
exec .build/release/docket serve "$@"
