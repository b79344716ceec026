#!/usr/bin/env python3
"""Decode a Docket data directory with nothing but `mdb_dump` and `zstd`.

Forensic independence (DESIGN.md §4, Schemas/storage.md): this script does not link LMDB,
zstd or any Docket code. It reads the whole environment with ONE `mdb_dump -a` (one read
transaction, so the log, indexes and metadata it sees are one consistent snapshot), rebuilds
every record from its header and its standard zstd frame with the `zstd` command-line tool,
decodes the envelope (Schemas/envelope.md) and prints each event as the JSON line
`docket read` prints, byte for byte. It recomputes the SHA-256 chain and checks what
`docket verify` checks, and reports the first bad sequence.

Usage:
  forensic-decode.py DATA_DIR [--dict-dir DIR] [--dict [N=]FILE ...] [options]

Dictionaries (files written by `docket dict export --out FILE [--version N]`):
  --dict N=FILE     dictionary version N is FILE
  --dict FILE       the version is the last number in the file name (dict-v2.zdict -> 2)
  --dict-dir DIR    every regular file of DIR, versions taken from the names as above
  Versions not supplied are taken from the data directory's own `dicts` database (as dumped
  by mdb_dump) unless --no-stored-dicts is given. The chain check always uses the stored
  dictionaries, as `docket verify` does (a record that names dictionary N chains the SHA-256
  of its bytes, Schemas/storage.md §6), so a stored dictionary that was altered fails the chain
  at the first record that names it. A supplied dictionary that differs from the stored one (or
  is not stored at all) is a "problem"; the report then says which of the two the chain
  confirms at that dictionary's first record.

Output:
  stdout   one JSON line per record, exactly as `docket read --limit <all>` prints them
           (omitted with --check-only)
           Records that cannot be decoded (a malformed payload included: `docket read`
           stops there) are left out and named on stderr.
  stderr   one JSON line: the chain report, shaped like `docket verify --json`
           ({"intact":..,"records":..,"anchors_checked":..,"head_hash":..[,"first_bad_sequence":..,"reason":..]},
           with the same checks in the same order, so the same first bad sequence), plus
           "dictionaries" (version, source, size, SHA-256 of each one used) and "problems":
           findings `docket verify` does not make (a supplied dictionary that differs from the
           stored one, and which of the two the chain confirms; the first index entry no record
           points back to, where `docket verify` only counts them; anchors past the head or not
           at a multiple of 1024);
           with --report FILE the line goes to FILE instead.
  exit     0 intact, 3 damage or tampering found (what `docket verify` finds, or a "problem"
           such as a supplied dictionary that differs from the stored one), 1 could not run.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

# --- Constants of the format (Sources/DocketStore, Sources/DocketCore) -----------------------

STORE_FORMATS = (b"docket-store 1", b"docket-store 2")  # meta "format" (EventStore.storageFormat = 2)
RECORD_FORMATS = (1, 2)  # RecordFormat.legacyVersion, .version
HEADER_SIZE = 11  # RecordFormat.fixedHeaderSize: format, dictionary version, chain tag
TAG_OFFSET = 3  # RecordFormat.tagOffset
ENVELOPE_FORMATS = (1, 2)  # EnvelopeCodec.legacyFormatVersion, .formatVersion
MAX_ENVELOPE = 64 * 1024  # EnvelopeCodec.maximumEncodedSize
ANCHOR_INTERVAL = 1024  # Databases.anchorInterval
MAX_DEPTH = 64  # Value.maximumDepth
GENESIS = bytes(32)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DATABASES = ("log", "streams", "ids", "meta", "dicts", "chain")
INT64_MASK = (1 << 64) - 1


class Corrupt(Exception):
    """A record that does not decode; the message says why."""


# --- mdb_dump --------------------------------------------------------------------------------


def run_mdb_dump(mdb_dump, ledger):
    """All named databases of the environment at `ledger`, read in one transaction."""
    proc = subprocess.run([mdb_dump, "-a", ledger], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        # A read-only copy (no lock.mdb possible): dump a private copy of the data file instead.
        with tempfile.TemporaryDirectory(prefix="docket-forensic-") as tmp:
            shutil.copyfile(os.path.join(ledger, "data.mdb"), os.path.join(tmp, "data.mdb"))
            retry = subprocess.run([mdb_dump, "-a", tmp], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if retry.returncode != 0:
            raise SystemExit(
                "forensic-decode: mdb_dump failed: " + proc.stderr.decode("utf-8", "replace").strip()
            )
        proc = retry
    return parse_mdb_dump(proc.stdout)


def _unprint(text):
    """Decodes one line of mdb_dump's `-p` (print) format: `\\\\` and `\\xx` escapes."""
    out = bytearray()
    i = 0
    raw = text.encode("latin-1")
    while i < len(raw):
        c = raw[i]
        if c == 0x5C:  # backslash
            if raw[i + 1 : i + 2] == b"\\":
                out.append(0x5C)
                i += 2
            else:
                out.append(int(raw[i + 1 : i + 3], 16))
                i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def parse_mdb_dump(data):
    """{database name: [(key bytes, value bytes), ...]} from `mdb_dump -a` output."""
    dbs = {}
    lines = data.decode("latin-1").split("\n")
    i = 0
    n = len(lines)
    while i < n:
        if not lines[i].startswith("VERSION="):
            i += 1
            continue
        header = {}
        i += 1
        while i < n and lines[i] != "HEADER=END":
            if "=" in lines[i]:
                k, v = lines[i].split("=", 1)
                header[k] = v
            i += 1
        i += 1
        printable = header.get("format") == "print"
        pairs = []
        pending = None
        while i < n and lines[i] != "DATA=END":
            line = lines[i]
            i += 1
            if not line.startswith(" "):
                continue
            b = _unprint(line[1:]) if printable else bytes.fromhex(line[1:])
            if pending is None:
                pending = b
            else:
                pairs.append((pending, b))
                pending = None
        i += 1
        dbs[header.get("database", "")] = pairs
    return dbs


# --- zstd frames -----------------------------------------------------------------------------


def frame_info(frame):
    """(content size, frame length) of the standard zstd frame at the start of `frame`.

    Walks the frame header and block headers (RFC 8878 §3.1.1) without decompressing, so a
    record holding anything but exactly one frame with a declared content size is caught
    before the bytes go to `zstd`.
    """
    if frame[:4] != ZSTD_MAGIC:
        raise Corrupt("the record does not hold a zstd frame (bad magic number)")
    if len(frame) < 5:
        raise Corrupt("the zstd frame header is truncated")
    fhd = frame[4]
    fcs_flag = fhd >> 6
    single_segment = (fhd >> 5) & 1
    if (fhd >> 3) & 1:
        raise Corrupt("the zstd frame header has its reserved bit set")
    checksum = (fhd >> 2) & 1
    dict_id_size = (0, 1, 2, 4)[fhd & 3]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    pos = 5 + (0 if single_segment else 1) + dict_id_size
    if len(frame) < pos + fcs_size:
        raise Corrupt("the zstd frame header is truncated")
    if fcs_size == 0:
        raise Corrupt("record is not a zstd frame with a known content size")
    content = int.from_bytes(frame[pos : pos + fcs_size], "little")
    if fcs_size == 2:
        content += 256
    pos += fcs_size
    while True:
        if len(frame) < pos + 3:
            raise Corrupt("the zstd frame is truncated (block header)")
        bh = int.from_bytes(frame[pos : pos + 3], "little")
        pos += 3
        last = bh & 1
        btype = (bh >> 1) & 3
        bsize = bh >> 3
        if btype == 3:
            raise Corrupt("the zstd frame holds a reserved block type")
        pos += 1 if btype == 1 else bsize
        if pos > len(frame):
            raise Corrupt("the zstd frame is truncated (block data)")
        if last:
            break
    if checksum:
        pos += 4
        if pos > len(frame):
            raise Corrupt("the zstd frame is truncated (checksum)")
    return content, pos


def zstd_decompress(zstd, data, dictionary_path):
    cmd = [zstd, "-d", "-q", "-c", "--no-progress"]
    if dictionary_path is not None:
        cmd += ["-D", dictionary_path]
    proc = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise Corrupt("zstd: " + proc.stderr.decode("utf-8", "replace").strip().replace("\n", "; "))
    return proc.stdout


def decompress_all(zstd, items, dict_paths, no_stored=False):
    """items: [(seq, dict version, frame, content size)] → {seq: envelope bytes or Corrupt}.

    Frames that share a dictionary are concatenated and given to one `zstd -d` (a zstd stream
    may hold any number of frames; the output is their contents back to back, split again by
    each frame's declared content size). If a group fails, its frames are retried one by one
    so that only the bad record is lost.
    """
    out = {}
    groups = {}
    for seq, version, frame, size in items:
        if version != 0 and version not in dict_paths:
            out[seq] = Corrupt(
                "record %d names dictionary %d, which is %s"
                % (seq, version, "not supplied (--no-stored-dicts)" if no_stored else "neither supplied nor stored in the data directory")
            )
            continue
        groups.setdefault(version, []).append((seq, frame, size))
    chunk = 4096
    for version, members in sorted(groups.items()):
        path = dict_paths.get(version)
        for start in range(0, len(members), chunk):
            part = members[start : start + chunk]
            try:
                blob = zstd_decompress(zstd, b"".join(f for _, f, _ in part), path)
                if len(blob) != sum(s for _, _, s in part):
                    raise Corrupt("decompressed size differs from the frames' content sizes")
                pos = 0
                for seq, _, size in part:
                    out[seq] = blob[pos : pos + size]
                    pos += size
            except Corrupt:
                for seq, frame, size in part:
                    try:
                        env = zstd_decompress(zstd, frame, path)
                        if len(env) != size:
                            raise Corrupt("record decompressed to %d bytes, header said %d" % (len(env), size))
                        out[seq] = env
                    except Corrupt as e:
                        out[seq] = Corrupt("record %d: %s" % (seq, e))
    return out


# --- Envelope and value decoding (Schemas/envelope.md) ---------------------------------------


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    @property
    def remaining(self):
        return len(self.data) - self.pos

    def byte(self):
        if self.pos >= len(self.data):
            raise Corrupt("input ends early at byte %d" % self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self):
        result = 0
        shift = 0
        while True:
            b = self.byte()
            if shift == 63 and b > 1:
                raise Corrupt("varint overflows 64 bits at byte %d" % (self.pos - 1))
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def zigzag(self):
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def count(self):
        n = self.varint()
        if n > self.remaining:
            raise Corrupt("count %d exceeds the %d bytes that remain at byte %d" % (n, self.remaining, self.pos))
        return n

    def bytes(self, n):
        if n > self.remaining:
            raise Corrupt("input ends early at byte %d" % self.pos)
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def string(self):
        raw = self.bytes(self.count())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Corrupt("string ending at byte %d is not valid UTF-8" % self.pos)


NULL = object()  # JSON null, distinct from Python None in the tree below


def decode_value(r, depth=0):
    """One `Value` (tags 0–7). Doubles are kept as ('d', float), ints as int."""
    if depth >= MAX_DEPTH:
        raise Corrupt("payload nests deeper than %d levels" % MAX_DEPTH)
    tag = r.byte()
    if tag == 0:
        return NULL
    if tag == 1:
        return False
    if tag == 2:
        return True
    if tag == 3:
        v = r.zigzag()
        return v
    if tag == 4:
        return ("d", struct.unpack("<d", r.bytes(8))[0])
    if tag == 5:
        return r.string()
    if tag == 6:
        return [decode_value(r, depth + 1) for _ in range(r.count())]
    if tag == 7:
        members = []
        for _ in range(r.count()):
            k = r.string()
            members.append((k, decode_value(r, depth + 1)))
        return ("o", members)
    raise Corrupt("unknown value tag %d at byte %d" % (tag, r.pos - 1))


def decode_payload(data):
    r = Reader(data)
    v = decode_value(r)
    if r.remaining:
        raise Corrupt("%d byte%s after the payload value" % (r.remaining, "" if r.remaining == 1 else "s"))
    return v


def uuid_text(b, upper):
    h = b.hex()
    s = "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
    return s.upper() if upper else s


def decode_envelope(data, seq, ledger=None):
    """Envelope format 2 takes its stream version and recorded-at delta from the record header
    (`ledger`); format 1 holds them itself."""
    r = Reader(data)

    def text():
        raw = r.bytes(r.count())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Corrupt("event at sequence %d holds text that is not UTF-8" % seq)

    fmt = r.byte()
    if fmt not in ENVELOPE_FORMATS:
        raise Corrupt("event at sequence %d has envelope format %d; this build reads formats 1 and 2" % (seq, fmt))
    if (fmt == 2) != (ledger is not None):
        if fmt == 2:
            raise Corrupt("event at sequence %d has envelope format 2, whose stream version and recorded time are in the record header" % seq)
        raise Corrupt("event at sequence %d has envelope format 1 inside a record that carries its own ledger fields" % seq)
    form = r.byte()
    if form == 0:
        eid = text()
        id_key = b"\x00" + eid.encode("utf-8")
    elif form in (1, 2):
        raw = r.bytes(16)
        eid = uuid_text(raw, form == 2)
        id_key = bytes([form]) + raw
    else:
        raise Corrupt("event at sequence %d has unknown id form %d" % (seq, form))
    stream = text()
    version = ledger[0] if ledger is not None else r.varint()
    etype = text()
    schema = r.varint()
    if not 1 <= schema <= 0xFFFF:
        raise Corrupt("event at sequence %d has schema version %d" % (seq, schema))
    actor = text()
    occurred = r.zigzag()
    delta = ledger[1] if ledger is not None else r.zigzag()
    if r.remaining <= 0:
        raise Corrupt("event at sequence %d has no payload" % seq)
    payload = data[r.pos :]
    recorded = occurred + delta  # Int64 wrapping addition (&+), as the Swift decoder does
    recorded = ((recorded + (1 << 63)) & INT64_MASK) - (1 << 63)
    return {
        "seq": seq,
        "stream": stream,
        "version": version,
        "id": eid,
        "id_key": id_key,
        "type": etype,
        "schema": schema,
        "actor": actor,
        "occurred": occurred,
        "recorded": recorded,
        "payload": payload,
    }


# --- JSON exactly as Sources/DocketCore/JSON.swift writes it ---------------------------------


def json_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20 or 0x7F <= c <= 0x9F or c in (0x2028, 0x2029) or 0x202A <= c <= 0x202E or 0x2066 <= c <= 0x2069:
            # As docket writes them: whatever would disrupt a terminal (envelope.md, "Strings").
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


TWO_53 = float(1 << 53)


def swift_double(d):
    """Swift's `String(Double)` (shortest round-trip digits), then JSON.swift's ".0" rule.

    Python's repr has the same digits and agrees on the form everywhere except that Swift
    switches to exponent notation above 2^53 while repr waits for 1e16.
    """
    if d != d or d in (float("inf"), float("-inf")):
        return "null"
    s = repr(d)
    if TWO_53 < abs(d) < 1e16 and "e" not in s:
        sign = "-" if s.startswith("-") else ""
        digits = s.lstrip("-").split(".")[0]  # an integer of 16 digits (.0 fraction)
        exponent = len(digits) - 1
        mantissa = digits.rstrip("0")
        s = sign + mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "") + "e+%02d" % exponent
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def json_value(v):
    if v is NULL:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json_string(v)
    if isinstance(v, list):
        return "[" + ",".join(json_value(x) for x in v) + "]"
    kind, body = v
    if kind == "d":
        return swift_double(body)
    return "{" + ",".join(json_string(k) + ":" + json_value(x) for k, x in body) + "}"


def _pad(v, width):
    s = str(v)
    return s if len(s) >= width else "0" * (width - len(s)) + s


def _civil(z):
    # Howard Hinnant's civil_from_days with Swift's truncating division, as Timestamp.swift.
    def tdiv(a, b):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q

    z += 719468
    era = tdiv(z if z >= 0 else z - 146096, 146097)
    doe = z - era * 146097
    yoe = tdiv(doe - tdiv(doe, 1460) + tdiv(doe, 36524) - tdiv(doe, 146096), 365)
    y = yoe + era * 400
    doy = doe - (365 * yoe + tdiv(yoe, 4) - tdiv(yoe, 100))
    mp = tdiv(5 * doy + 2, 153)
    d = doy - tdiv(153 * mp + 2, 5) + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def rfc3339(us):
    days, micros = divmod(us, 86_400_000_000)  # floor division, non-negative remainder
    y, m, d = _civil(days)
    sod = micros // 1_000_000
    fraction = micros % 1_000_000
    s = "%s-%s-%sT%s:%s:%s" % (
        _pad(y, 4), _pad(m, 2), _pad(d, 2), _pad(sod // 3600, 2), _pad(sod // 60 % 60, 2), _pad(sod % 60, 2))
    if fraction:
        s += "." + _pad(fraction, 6).rstrip("0")
    return s + "Z"


def event_json(e, data):
    return (
        '{"seq":%d,"stream":%s,"version":%d,"id":%s,"type":%s,"schema":%d,"actor":%s,'
        '"occurred_at":"%s","recorded_at":"%s","data":%s}'
        % (
            e["seq"], json_string(e["stream"]), e["version"], json_string(e["id"]), json_string(e["type"]),
            e["schema"], json_string(e["actor"]), rfc3339(e["occurred"]), rfc3339(e["recorded"]), data,
        )
    )


# --- Dictionaries ----------------------------------------------------------------------------


def version_from_name(path):
    numbers = re.findall(r"\d+", os.path.basename(path))
    if not numbers:
        raise SystemExit(
            "forensic-decode: cannot tell the dictionary version of %s; name it like dict-v1.zdict or pass --dict N=%s"
            % (path, path)
        )
    return int(numbers[-1])


def supplied_dictionaries(args):
    found = {}
    paths = []
    if args.dict_dir:
        for name in sorted(os.listdir(args.dict_dir)):
            p = os.path.join(args.dict_dir, name)
            if os.path.isfile(p) and not name.startswith("."):
                paths.append((None, p))
    for spec in args.dict or []:
        m = re.match(r"^(\d+)=(.*)$", spec)
        paths.append((int(m.group(1)), m.group(2)) if m else (None, spec))
    for version, p in paths:
        v = version if version is not None else version_from_name(p)
        if not 1 <= v <= 0xFFFF:
            raise SystemExit("forensic-decode: dictionary version %d of %s is out of range 1–65535" % (v, p))
        with open(p, "rb") as f:
            found[v] = (p, f.read())
    return found


# --- The walk --------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", help="a Docket data directory (holding ledger/data.mdb), or its ledger/ directory")
    ap.add_argument("--dict", action="append", metavar="[N=]FILE", help="a dictionary from `docket dict export`")
    ap.add_argument("--dict-dir", metavar="DIR", help="a directory of exported dictionaries")
    ap.add_argument("--no-stored-dicts", action="store_true", help="use only the dictionaries supplied")
    ap.add_argument("--check-only", action="store_true", help="print no records, only the report")
    ap.add_argument("--report", metavar="FILE", help="write the JSON report here instead of stderr")
    ap.add_argument("--mdb-dump", default=os.environ.get("MDB_DUMP", "mdb_dump"))
    ap.add_argument("--zstd", default=os.environ.get("ZSTD", "zstd"))
    args = ap.parse_args()

    for tool in (args.mdb_dump, args.zstd):
        if shutil.which(tool) is None:
            raise SystemExit("forensic-decode: %s is not installed (apt-get install lmdb-utils zstd)" % tool)
    ledger = args.data_dir
    if not os.path.isfile(os.path.join(ledger, "data.mdb")):
        ledger = os.path.join(args.data_dir, "ledger")
    if not os.path.isfile(os.path.join(ledger, "data.mdb")):
        raise SystemExit("forensic-decode: %s is not a Docket data directory: no ledger/data.mdb" % args.data_dir)

    dbs = run_mdb_dump(args.mdb_dump, ledger)
    missing = [name for name in DATABASES if name not in dbs]
    if missing:
        raise SystemExit("forensic-decode: %s is not a Docket data directory: no '%s' database" % (ledger, missing[0]))
    meta = dict(dbs["meta"])
    fmt = meta.get(b"format")
    if fmt not in STORE_FORMATS:
        raise SystemExit(
            "forensic-decode: the data directory holds format %r; this decoder reads %s"
            % ((fmt or b"(none)").decode("utf-8", "replace"), " and ".join(repr(f.decode()) for f in STORE_FORMATS))
        )

    problems = []
    stored_dicts = {}
    for k, v in dbs["dicts"]:
        if len(k) == 2:
            stored_dicts[int.from_bytes(k, "big")] = v
        else:
            problems.append("a key of %d bytes in the dicts database" % len(k))
    supplied = supplied_dictionaries(args)
    tmp = tempfile.TemporaryDirectory(prefix="docket-forensic-")
    dict_paths = {}
    dict_report = []
    # The chain names each dictionary by the SHA-256 of its bytes (Schemas/storage.md §6). The
    # chain check uses the stored ones, as `docket verify` does; decoding uses `dict_paths`.
    stored_digest = {v: hashlib.sha256(d).digest() for v, d in stored_dicts.items()}
    used_digest = {}
    doubtful = {}  # version -> path of a supplied dictionary that is not the stored one
    for v in sorted(set(supplied) | (set() if args.no_stored_dicts else set(stored_dicts))):
        if v in supplied:
            path, data = supplied[v]
            source = "supplied"
            if stored_dicts.get(v) != data:
                doubtful[v] = path
        else:
            data = stored_dicts[v]
            path = os.path.join(tmp.name, "dict-v%d.zdict" % v)
            with open(path, "wb") as f:
                f.write(data)
            source = "stored"
        dict_paths[v] = path
        used_digest[v] = hashlib.sha256(data).digest()
        dict_report.append({"version": v, "source": source, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    chain = {int.from_bytes(k, "big"): v for k, v in dbs["chain"] if len(k) == 8}
    ids = dict(dbs["ids"])
    streams = dict(dbs["streams"])
    # `streams` is complete through `streams.indexed-through` (format 2); later records' entries
    # are still only in the node's memory (StreamMemtable). Format 1: complete through the head.
    head_meta = meta.get(b"head")
    head_seq_meta = int.from_bytes(head_meta[:8], "big") if head_meta and len(head_meta) == 40 else 0
    through_meta = meta.get(b"streams.indexed-through")
    indexed_through = int.from_bytes(through_meta, "big") if through_meta and len(through_meta) == 8 else head_seq_meta

    # Pass 1: headers, frames, chain, anchors (cheap, in Python).
    report = {"intact": True, "records": 0, "anchors_checked": 0, "head_hash": GENESIS.hex()}
    failure = [None]

    def fail(seq, reason):
        # `docket verify` stops at the first record that fails any check, so the lowest
        # sequence wins; for one record, the check made first (in verify's order) wins.
        if failure[0] is None or seq < failure[0][0]:
            failure[0] = (seq, reason)

    previous = GENESIS  # the chain as `docket verify` computes it: stored dictionaries
    decoding = GENESIS  # the chain with the dictionaries used for decoding (differs only when
    decoding_ok = True  # a supplied dictionary is not the stored one); and whether it held
    first_use = {}  # doubtful version -> (seq, chain confirms supplied, confirms stored, chain held before)
    expected = 1
    items = []
    ledger_fields = {}  # seq -> (stream version, recorded-at delta) from a format 2 header
    anchors_ok = []
    verified_hash = {}
    header_error = {}
    for key, rec in dbs["log"]:
        if len(key) != 8:
            fail(expected, "log key of %d bytes" % len(key))
            break
        seq = int.from_bytes(key, "big")
        chain_ok = failure[0] is None
        if chain_ok and seq != expected:
            fail(expected, "missing: the log jumps from %d to %d" % (expected - 1, seq))
            chain_ok = False
        expected = seq + 1
        try:
            if len(rec) <= HEADER_SIZE:
                raise Corrupt("record %d is %d bytes, shorter than its header" % (seq, len(rec)))
            if rec[0] not in RECORD_FORMATS:
                raise Corrupt("record %d has record format %d; this build reads formats 1 and 2" % (seq, rec[0]))
            frame_at = HEADER_SIZE
            if rec[0] == 2:
                # Format 2: the stream version (varint) and recorded-at minus occurred-at
                # (zigzag varint) follow the fixed header, before the frame.
                r = Reader(rec[HEADER_SIZE:])
                try:
                    ledger_fields[seq] = (r.varint(), r.zigzag())
                except Corrupt as e:
                    raise Corrupt("record %d has a damaged header: %s" % (seq, e))
                frame_at = HEADER_SIZE + r.pos
                if frame_at >= len(rec):
                    raise Corrupt("record %d is %d bytes, shorter than its header" % (seq, len(rec)))
        except Corrupt as e:
            header_error[seq] = e
            if chain_ok:
                fail(seq, str(e))
            continue
        version = int.from_bytes(rec[1:3], "big")
        frame = rec[frame_at:]
        hashed = rec[HEADER_SIZE:]  # everything after the tag: the varints and the frame
        tag = rec[TAG_OFFSET:HEADER_SIZE]
        if chain_ok and version != 0 and version not in stored_digest:
            fail(seq, "the record names dictionary %d, which the store does not hold" % version)
            chain_ok = False
        # h(n) = SHA-256(h(n-1) ‖ u64be(n) ‖ record[0..<3] ‖ D ‖ record[11...]), D = SHA-256 of
        # the dictionary the record names, empty for version 0.
        head = struct.pack(">Q", seq) + rec[:TAG_OFFSET]
        d_stored = b"" if version == 0 else stored_digest.get(version, used_digest.get(version, b""))
        d_used = b"" if version == 0 else used_digest.get(version, d_stored)
        h = hashlib.sha256(previous + head + d_stored + hashed).digest()
        if decoding == previous and d_used == d_stored:
            h_used = h
        else:
            h_used = hashlib.sha256(decoding + head + d_used + hashed).digest()
        if version in doubtful and version not in first_use:
            confirms_stored = version in stored_digest and (
                hashlib.sha256(decoding + head + stored_digest[version] + hashed).digest()[:8] == tag)
            first_use[version] = (seq, h_used[:8] == tag, confirms_stored, decoding_ok)
        if h_used[:8] != tag:
            decoding_ok = False
        decoding = h_used
        if chain_ok:
            if h[:8] != tag:
                fail(seq, "chain hash mismatch: the record or the dictionary it names was altered, "
                     "or a record before it was removed or reordered")
            elif seq % ANCHOR_INTERVAL == 0:
                if chain.get(seq) != h:
                    fail(seq, "the chain anchor at %d is missing or does not match the recomputed hash" % seq)
                else:
                    anchors_ok.append(seq)
            if failure[0] is None:
                verified_hash[seq] = h
        previous = h
        try:
            size, length = frame_info(frame)
            if length != len(frame):
                raise Corrupt("%d bytes follow the zstd frame" % (len(frame) - length))
            if size > MAX_ENVELOPE:
                raise Corrupt("record claims %d bytes, over the %d-byte limit" % (size, MAX_ENVELOPE))
        except Corrupt as e:
            header_error[seq] = Corrupt("record %d: %s" % (seq, e))
            continue
        items.append((seq, version, frame, size))
    # Supplied dictionaries that are not the stored ones: the chain says which is authentic.
    for v, path in sorted(doubtful.items()):
        if v in stored_dicts:
            what = "dictionary v%d supplied in %s differs from the one stored in the data directory" % (v, path)
        else:
            what = "dictionary v%d supplied in %s is not stored in the data directory" % (v, path)
        if v not in first_use:
            problems.append(what + "; no record names it, so the chain cannot tell which is authentic")
            continue
        seq, supplied_ok, stored_ok, held = first_use[v]
        if not held:
            verdict = "the chain already fails before sequence %d, its first record, so it cannot tell which is authentic" % seq
        elif supplied_ok:
            verdict = "the chain at sequence %d, its first record, confirms the supplied one%s" % (
                seq, ": the stored dictionary was altered" if v in stored_dicts else "")
        elif stored_ok:
            verdict = "the chain at sequence %d, its first record, confirms the stored one: the supplied file is not this log's dictionary v%d" % (seq, v)
        else:
            verdict = "the chain at sequence %d, its first record, confirms neither" % seq
        problems.append(what + "; " + verdict)
    for seq in chain:
        if seq % ANCHOR_INTERVAL != 0:
            problems.append("an anchor at %d, which is not a multiple of %d" % (seq, ANCHOR_INTERVAL))

    # Pass 2: decompress (zstd CLI), decode, print, and check decoding and indexes in order.
    envelopes = decompress_all(args.zstd, items, dict_paths, args.no_stored_dicts)
    out = sys.stdout.buffer
    undecodable = [0]
    seen_ids = set()
    seen_streams = set()

    def complain(message):
        # Records that cannot be decoded are skipped (not printed); name the first few.
        undecodable[0] += 1
        if undecodable[0] <= 10:
            print("forensic-decode: " + message, file=sys.stderr)

    for key, _ in dbs["log"]:
        if len(key) != 8:
            break
        seq = int.from_bytes(key, "big")
        checking = seq in verified_hash and (failure[0] is None or seq < failure[0][0])
        env = header_error.get(seq) or envelopes.get(seq)
        if isinstance(env, Corrupt) or env is None:
            if checking:
                fail(seq, str(env))
            complain(str(env))
            continue
        try:
            e = decode_envelope(env, seq, ledger_fields.get(seq))
        except Corrupt as err:
            if checking:
                fail(seq, "record %d: %s" % (seq, err))
            complain("record %d: %s" % (seq, err))
            continue
        try:
            data = json_value(decode_payload(e["payload"]))
        except (Corrupt, RecursionError) as err:
            # The envelope decoder refuses a malformed payload: `docket read` stops at this
            # record and `docket verify` reports it with this text.
            message = "record %d: event at sequence %d has a malformed payload: %s" % (seq, seq, err)
            if checking:
                fail(seq, message)
            complain(message)
            continue
        skey = bytes([len(e["stream"].encode("utf-8")) & 0xFF]) + e["stream"].encode("utf-8") + struct.pack(">Q", e["version"])
        seen_ids.add(e["id_key"])
        seen_streams.add(skey)
        if checking and (failure[0] is None or seq < failure[0][0]):
            if ids.get(e["id_key"]) != key:
                fail(seq, "the event-id index does not point at this record (id %s)" % e["id"])
            elif seq <= indexed_through and streams.get(skey) != key:
                fail(seq, "the stream index does not point at this record (stream %s version %d)" % (e["stream"], e["version"]))
            elif seq > indexed_through and skey in streams and streams[skey] != key:
                fail(seq, "the stream index holds an entry (stream %s version %d) past streams.indexed-through %d that points elsewhere"
                     % (e["stream"], e["version"], indexed_through))
        if not args.check_only:
            out.write(event_json(e, data).encode("utf-8") + b"\n")
    out.flush()

    # Beyond `docket verify`: which index entries no record accounts for (verify only compares
    # the number of entries with the number of records, below), and stray anchors.
    if undecodable[0] == 0:
        for name, index, seen in (("ids", ids, seen_ids), ("streams", streams, seen_streams)):
            extra = [k for k in index if k not in seen]
            if extra:
                problems.append(
                    "the %s index holds %d entr%s that no record points back to (first: key %s -> value %s)"
                    % (name, len(extra), "y" if len(extra) == 1 else "ies", extra[0].hex(), index[extra[0]].hex())
                )
    beyond = [a for a in chain if a >= expected]
    if beyond:
        problems.append("%d chain anchor(s) past the last record (first: %d)" % (len(beyond), min(beyond)))

    # Records verified: those before the first failure, or the whole log.
    last_good = failure[0][0] - 1 if failure[0] is not None else expected - 1
    if failure[0] is None:
        head = meta.get(b"head")
        if head is None:
            head_seq, head_hash = 0, GENESIS
        elif len(head) != 40:
            head_seq, head_hash = None, None
            fail(0, "the head record in metadata is %d bytes, not 40" % len(head))
        else:
            head_seq, head_hash = int.from_bytes(head[:8], "big"), head[8:]
        if head_seq is not None and (head_seq != last_good or head_hash != verified_hash.get(last_good, GENESIS)):
            # Recorded head short of the log: the first record past it; beyond the log: the first
            # missing record; same sequence but another hash: the last record.
            if head_seq < last_good:
                at = head_seq + 1
            elif head_seq > last_good:
                at = last_good + 1
            else:
                at = last_good
            fail(
                at,
                "the recorded head (sequence %d, hash %s…) does not match the log (sequence %d, hash %s…): "
                "records were removed or appended outside Docket"
                % (head_seq, head_hash.hex()[:16], last_good, verified_hash.get(last_good, GENESIS).hex()[:16]),
            )
    if failure[0] is None:
        # Each record's entries point back at it (checked above), so an index holding another
        # number of entries than there are records has entries no record accounts for.
        for name, index, records in (("stream", dbs["streams"], indexed_through), ("event-id", dbs["ids"], last_good)):
            if len(index) != records:
                fail(
                    0,
                    "the %s index holds %d entries for %d records: entries were added or removed outside Docket"
                    % (name, len(index), records),
                )
                break
    report["records"] = last_good
    report["anchors_checked"] = sum(1 for a in anchors_ok if a <= last_good)
    report["head_hash"] = verified_hash.get(last_good, GENESIS).hex()
    if failure[0] is not None:
        report["intact"] = False
        report["first_bad_sequence"] = failure[0][0]
        report["reason"] = failure[0][1]
    if undecodable[0]:
        problems.append("%d record(s) could not be decoded in full" % undecodable[0])
    report["dictionaries"] = dict_report
    report["problems"] = problems
    text = json.dumps(report, ensure_ascii=False, separators=(",", ":"))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text, file=sys.stderr)
    tmp.cleanup()
    return 0 if report["intact"] and not problems else 3


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    sys.exit(main())
