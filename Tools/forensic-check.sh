#!/bin/sh
# Cross-checks Tools/forensic-decode.py (mdb_dump + zstd only) against Docket itself:
#   1. exports every dictionary with `docket dict export --out FILE --version N`,
#   2. decodes DATA_DIR with the forensic decoder and only those files (--no-stored-dicts),
#   3. compares its chain report with `docket verify --json` and its JSON lines with `docket read`.
#
# Usage: Tools/forensic-check.sh DATA_DIR [TRUSTED_DICT_DIR]
#   TRUSTED_DICT_DIR: dictionaries exported earlier (dict-v1.zdict, ...) to decode with instead of
#   fresh exports. The chain report still uses the stored dictionaries, as `docket verify` does
#   (each record chains the SHA-256 of the dictionary it names, Schemas/storage.md §6), so an
#   altered stored dictionary fails at the first record naming it; a trusted file that differs
#   from the stored one is reported with which of the two the chain confirms.
# The docket binary is $DOCKET, else `docket` on PATH, else .build/debug/docket of this package.
# Exit status: 0 identical records and an intact chain; 1 the decoder and docket disagree, or a
#              tool failed; 3 the decoder and `docket verify` agree that the log is damaged (or the
#              decoder found a problem docket does not report, e.g. a trusted dictionary that
#              differs from the stored one); the first bad sequence is printed.
set -eu

if [ $# -ne 1 ] && [ $# -ne 2 ]; then
    echo "usage: $0 DATA_DIR [TRUSTED_DICT_DIR]" >&2
    exit 64
fi
data=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${DOCKET:-}" ]; then
    docket=$DOCKET
elif command -v docket >/dev/null 2>&1; then
    docket=$(command -v docket)
else
    docket=$here/../.build/debug/docket
fi
[ -x "$docket" ] || { echo "forensic-check: no docket executable (set DOCKET=...)" >&2; exit 1; }
for tool in mdb_dump zstd python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "forensic-check: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/docket-forensic-check.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/dicts"

# 1. Every dictionary the ledger holds, as `docket dict export` writes it.
"$docket" stats --json --data-dir "$data" >"$work/stats.json"
versions=$(python3 -c 'import json,sys; print(" ".join(str(d["version"]) for d in json.load(open(sys.argv[1]))["dictionaries"]))' "$work/stats.json")
for v in $versions; do
    "$docket" dict export --data-dir "$data" --version "$v" --out "$work/dicts/dict-v$v.zdict" >/dev/null
done
if [ $# -eq 2 ]; then
    cp "$2"/* "$work/dicts/"
fi

# 2. The independent decoder, and docket's own view.
set +e
python3 "$here/forensic-decode.py" "$data" --dict-dir "$work/dicts" --no-stored-dicts \
    --report "$work/report.json" >"$work/decoded.jsonl"
decode_status=$?
"$docket" read --data-dir "$data" >"$work/read.jsonl" 2>"$work/read.err"
read_status=$?
"$docket" verify --json --data-dir "$data" >"$work/verify.json" 2>"$work/verify.err"
set -e
if [ $decode_status -ne 0 ] && [ $decode_status -ne 3 ]; then
    echo "forensic-check: the decoder failed (exit $decode_status)" >&2
    exit 1
fi

# 3a. The chain report must say what `docket verify --json` says.
python3 -c '
import json, sys
# Reasons from the header and decoding checks come from different decoders (the decoder'"'"'s own
# and the zstd tool); the others (chain, anchors, dictionaries, indexes, head) must match exactly.
def reason_comparable(reason):
    return reason is not None and not reason.startswith("record ")
mine = json.load(open(sys.argv[1]))
try:
    theirs = json.load(open(sys.argv[2]))
except ValueError:
    sys.exit("forensic-check: `docket verify --json` printed no report")
# The decoder checks the records (the chain_intact of docket verify); its intact also covers the
# signed checkpoints and views.checkpoint, which the decoder does not read.
theirs.setdefault("chain_intact", theirs.get("intact"))
diffs = [k for k in ("intact", "records", "anchors_checked", "head_hash", "first_bad_sequence", "reason")
         if mine.get(k) != theirs.get("chain_intact" if k == "intact" else k) and not (k == "reason" and not reason_comparable(theirs.get(k)))]
for k in diffs:
    print("forensic-check: %s: decoder %r, docket verify %r" % (k, mine.get(k), theirs.get("chain_intact" if k == "intact" else k)), file=sys.stderr)
sys.exit(1 if diffs else 0)
' "$work/report.json" "$work/verify.json" || exit 1

summary=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
parts = ["%s=%s" % (k, r[k]) for k in ("intact", "records", "anchors_checked", "head_hash", "first_bad_sequence", "reason") if k in r]
print("; ".join(parts + r.get("problems", [])))
' "$work/report.json")

# 3b. The records must be byte-identical to `docket read` (when docket can read them at all).
lines=$(wc -l <"$work/read.jsonl" | tr -d ' ')
if cmp -s "$work/decoded.jsonl" "$work/read.jsonl"; then
    if [ $decode_status -eq 0 ]; then
        echo "forensic-check: OK: $lines records identical to docket read; $summary"
        exit 0
    fi
    echo "forensic-check: DAMAGE OR TAMPERING: $summary (records identical to docket read)"
    exit 3
fi
if [ $decode_status -eq 3 ]; then
    if [ $read_status -ne 0 ]; then
        # docket read prints what it read before the damaged record: the decoder must agree on it.
        if head -n "$lines" "$work/decoded.jsonl" | cmp -s - "$work/read.jsonl"; then
            prefix="the $lines records docket read printed before failing are identical"
        else
            prefix="the records docket read printed before failing DIFFER from the decoder's"
        fi
        echo "forensic-check: DAMAGE OR TAMPERING: $summary (docket read fails: $(head -c 200 "$work/read.err" | tr '\n' ' '); $prefix)"
    else
        changed=$(diff "$work/read.jsonl" "$work/decoded.jsonl" | grep -c '^>' || true)
        echo "forensic-check: DAMAGE OR TAMPERING: $summary ($changed records decode differently from docket read)"
        diff "$work/read.jsonl" "$work/decoded.jsonl" | head -n 4 || true
    fi
    exit 3
fi
echo "forensic-check: the decoder's records differ from docket read (docket read exit $read_status):" >&2
diff "$work/read.jsonl" "$work/decoded.jsonl" | head -n 20 >&2 || true
exit 1
