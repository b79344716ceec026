#!/usr/bin/env python3
"""Check a Docket receipt without Docket (Schemas/forensics.md section 3).

Usage: receipt-verify.py RECEIPT PUBKEY [--require-proof]

PUBKEY is the node's Ed25519 public key as 64 hex digits, or a file holding them. The hashes use
Python's standard library only; the Ed25519 signatures are checked with the `openssl` command-line
tool (OpenSSL 3: `openssl pkeyutl -verify -rawin`). It makes the same checks as
`docket receipt verify` and prints one line per check:

    ok     receipt signature
    ok     checkpoint signature
    ok     inclusion proof

Exit status: 0 every check passed, 3 a check failed or the file is not a receipt, 1 bad usage or
openssl missing.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
# A receipt's hashes, keys and signatures are written in lowercase hex, as docket reads them.
LOWER64 = re.compile(r"^[0-9a-f]{64}$")
LOWER128 = re.compile(r"^[0-9a-f]{128}$")
# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 raw key bytes follow it.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def ed25519_verify(public_key, message, signature):
    with tempfile.TemporaryDirectory() as d:
        paths = {name: os.path.join(d, name) for name in ("key.der", "message", "signature")}
        for name, data in (("key.der", ED25519_SPKI_PREFIX + public_key), ("message", message), ("signature", signature)):
            with open(paths[name], "wb") as f:
                f.write(data)
        r = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", paths["key.der"], "-rawin",
             "-in", paths["message"], "-sigfile", paths["signature"]],
            capture_output=True)
        return r.returncode == 0


def hash_children(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf_hash, proof):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise ValueError("leaf index %d is not below the tree size %d" % (index, size))
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the path")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is shorter than the path")
    return r


def field(obj, name, kind, where="receipt"):
    v = obj.get(name) if isinstance(obj, dict) else None
    ok = {
        "str": isinstance(v, str) and v != "",
        "uint": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "hash": isinstance(v, str) and LOWER64.match(v or ""),
        "sig": isinstance(v, str) and LOWER128.match(v or ""),
    }[kind]
    if not ok:
        raise ValueError("%s.%s is missing or malformed" % (where, name))
    return bytes.fromhex(v) if kind in ("hash", "sig") else v


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    require_proof = "--require-proof" in argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    receipt_path, key_arg = args
    key_text = open(key_arg).read().strip() if os.path.isfile(key_arg) else key_arg.strip()
    if not HEX64.match(key_text):
        print("receipt-verify: PUBKEY must be 64 hex digits (or a file holding them)", file=sys.stderr)
        return 1
    public_key = bytes.fromhex(key_text)
    try:
        with open(receipt_path) as f:
            r = json.load(f)
        if r.get("format") != "docket-receipt/1":
            raise ValueError('"format" is not "docket-receipt/1"')
        ledger, seq = field(r, "ledger", "str"), field(r, "seq", "uint")
        stream, version = field(r, "stream", "str"), field(r, "version", "uint")
        event_id, event_type, recorded_at = field(r, "id", "str"), field(r, "type", "str"), field(r, "recorded_at", "str")
        leaf_hash, chain_hash = field(r, "leaf_hash", "hash"), field(r, "chain_hash", "hash")
        receipt_key, signature = field(r, "public_key", "hash"), field(r, "signature", "sig")
        inclusion = r.get("inclusion")
        if inclusion is not None:
            c = inclusion.get("checkpoint") if isinstance(inclusion, dict) else None
            checkpoint = {
                "seq": field(c, "seq", "uint", "inclusion.checkpoint"), "size": field(c, "size", "uint", "inclusion.checkpoint"),
                "root": field(c, "root", "hash", "inclusion.checkpoint"), "signed_at": field(c, "signed_at", "str", "inclusion.checkpoint"),
                "public_key": field(c, "public_key", "hash", "inclusion.checkpoint"),
                "signature": field(c, "signature", "sig", "inclusion.checkpoint"),
            }
            if checkpoint["size"] >= checkpoint["seq"]:
                raise ValueError("inclusion.checkpoint covers %d records but is itself record %d" % (checkpoint["size"], checkpoint["seq"]))
            if field(inclusion, "leaf_index", "uint", "inclusion") + 1 != seq:
                raise ValueError("inclusion.leaf_index is not seq - 1")
            path = inclusion.get("audit_path")
            if not isinstance(path, list) or not all(isinstance(h, str) and LOWER64.match(h) for h in path):
                raise ValueError("inclusion.audit_path is not a list of 64-hex-digit hashes")
            audit_path = [bytes.fromhex(h) for h in path]
    except (OSError, ValueError) as e:
        print("receipt-verify: not a receipt: %s" % e, file=sys.stderr)
        return 3

    checks = []
    message = ("docket-receipt/1\n%s\n%d\n%s\n%d\n%s\n%s\n%s\n%s\n%s\n" % (
        ledger, seq, stream, version, event_id, event_type, recorded_at, leaf_hash.hex(), chain_hash.hex())).encode()
    checks.append(("receipt signature", receipt_key == public_key and ed25519_verify(public_key, message, signature)))
    if inclusion is not None:
        c = checkpoint
        signed = ("docket-checkpoint/1\n%s\n%d\n%s\n%s\n" % (ledger, c["size"], c["root"].hex(), c["signed_at"])).encode()
        checks.append(("checkpoint signature", c["public_key"] == public_key and ed25519_verify(public_key, signed, c["signature"])))
        try:
            ok = 1 <= seq <= c["size"] and root_from_inclusion(seq - 1, c["size"], leaf_hash, audit_path) == c["root"]
        except ValueError:
            ok = False
        checks.append(("inclusion proof", ok))
    elif require_proof:
        checks.append(("inclusion proof", False))
    for name, ok in checks:
        print("%s %s" % ("ok    " if ok else "FAILED", name))
    return 0 if all(ok for _, ok in checks) else 3


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except FileNotFoundError as e:
        print("receipt-verify: %s (is openssl installed?)" % e, file=sys.stderr)
        sys.exit(1)
