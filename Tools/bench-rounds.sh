#!/usr/bin/env bash
# The figures of README "Performance": ROUNDS rounds of the baselines (../shared/baselines/run.sh)
# followed by every Docket benchmark, so that each Docket figure has a baseline minutes away.
# One JSON line per measurement in OUT/round-N.jsonl. Report medians of the rounds.
# Usage: Tools/bench-rounds.sh [ROUNDS] [OUT]   (builds the release binary first)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
out=${2:-"$here/.build/bench-rounds"}
baselines="$here/../shared/baselines/run.sh"
cd "$here"
source Tools/setup.sh   # the C libraries and Swift on PATH; the Redis line also needs redis-server
swift build -c release --product docket >/dev/null
docket="$here/.build/release/docket"
views="$out/views-data"   # the views log is generated once and reused by every round
mkdir -p "$out"
for r in $(seq "$rounds"); do
  f="$out/round-$r.jsonl"; : > "$f"
  echo "# round $r $(date -u +%FT%TZ)" >> "$f"
  bash "$baselines" 2>/dev/null >> "$f"
  "$docket" bench append --events 1000000 --batch 1000 2>/dev/null >> "$f"
  "$docket" bench append --events 1000000 --batch 1000 --concurrency 2 2>/dev/null >> "$f"
  "$docket" bench append --events 250000 --batch 64 2>/dev/null >> "$f"
  "$docket" bench append --events 20000 --batch 1 2>/dev/null >> "$f"
  "$docket" bench append --events 100000 --batch 1 --concurrency 64 2>/dev/null >> "$f"
  "$docket" bench replay --events 1000000 2>/dev/null >> "$f"
  "$docket" bench views --events 1000000 --data-dir "$views" 2>/dev/null >> "$f"
  "$docket" bench views --events 1000000 --data-dir "$views" --partitions 1 2>/dev/null >> "$f"
  for engine in client raw; do
    "$docket" bench net --connections 64 --batch 1 --seconds 10 --engine $engine 2>/dev/null >> "$f"
    "$docket" bench net --connections 4 --batch 1000 --seconds 10 --engine $engine 2>/dev/null >> "$f"
    "$docket" bench net --connections 1 --batch 1 --seconds 10 --engine $engine 2>/dev/null >> "$f"
  done
  "$docket" bench replication 2>/dev/null | tail -1 >> "$f"
  echo "# end of round $r $(date -u +%FT%TZ)" >> "$f"
done
echo "$out"
