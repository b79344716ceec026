import Crypto
public import DocketCore
public import DocketStore
import Foundation

/// A signed receipt for one record of the log (DESIGN §7): the node's word, under its Ed25519 key,
/// that the record at `sequence` of ledger `ledger` has these hashes and was recorded then. It can
/// be checked offline with the node's public key alone, and can carry the audit path of the record
/// in the Merkle tree of a later signed checkpoint, which proves the record is part of the log the
/// node signed for. The file format is specified in Schemas/forensics.md §3.
public struct Receipt: Sendable, Hashable {
    public static let format = "docket-receipt/1"

    public var ledger: String
    public var sequence: UInt64
    public var stream: String
    public var streamVersion: UInt64
    public var eventID: String
    public var type: String
    public var recordedAt: Timestamp
    /// RFC 6962 leaf hash of the stored record: SHA-256(0x00 ‖ record bytes).
    public var leafHash: [UInt8]
    /// The record's chain hash h(sequence) (Schemas/storage.md §6).
    public var chainHash: [UInt8]
    public var publicKey: [UInt8]
    public var signature: [UInt8]
    /// Added by `docket receipt prove`: a later checkpoint and the audit path to its root.
    public var inclusion: Inclusion?

    public struct Inclusion: Sendable, Hashable {
        public var checkpoint: Checkpoints.Checkpoint
        public var auditPath: [[UInt8]]

        public init(checkpoint: Checkpoints.Checkpoint, auditPath: [[UInt8]]) {
            self.checkpoint = checkpoint
            self.auditPath = auditPath
        }
    }

    /// The exact bytes the node signs.
    public var signedMessage: [UInt8] {
        Array(
            "\(Self.format)\n\(ledger)\n\(sequence)\n\(stream)\n\(streamVersion)\n\(eventID)\n\(type)\n\(recordedAt.rfc3339)\n\(Hex.encode(leafHash))\n\(Hex.encode(chainHash))\n"
                .utf8)
    }

    /// Makes and signs the receipt of the record at `sequence`.
    public static func issue(store: EventStore, key: NodeKey, sequence: UInt64) throws -> Receipt {
        guard sequence >= 1, let event = try store.event(at: sequence), let record = try store.rawRecord(at: sequence) else {
            throw ForensicError(.notHeld, "this node holds no record \(sequence): its log ends at \(store.head.sequence)")
        }
        var r = Receipt(
            ledger: store.ledgerID, sequence: sequence, stream: event.stream.rawValue, streamVersion: event.streamVersion,
            eventID: event.id.rawValue, type: event.type.rawValue, recordedAt: event.recordedAt,
            leafHash: SHA256MerkleHasher().hashLeaf(record), chainHash: try store.chainHash(at: sequence).bytes,
            publicKey: Array(key.key.publicKey.rawRepresentation), signature: [], inclusion: nil)
        r.signature = try key.sign(r.signedMessage)
        return r
    }

    // MARK: Verification (offline)

    /// One check of `verify`, for people and scripts.
    public struct Check: Sendable, Hashable {
        public var name: String
        public var passed: Bool
        public var detail: String

        public init(name: String, passed: Bool, detail: String) {
            self.name = name
            self.passed = passed
            self.detail = detail
        }
    }

    /// Checks the receipt with `publicKey` and nothing else: its signature, and when it carries an
    /// inclusion proof, the checkpoint's signature, that the checkpoint covers the record, and
    /// that the audit path leads from the receipt's leaf hash to the checkpoint's root. Every check
    /// that applies is run and reported; any failure means the receipt must not be trusted.
    public func verify(publicKey: [UInt8]) -> [Check] { verify(publicKeys: [publicKey]) }

    /// The checks of `verify(publicKey:)`, trusting any of `publicKeys`: the nodes of a ledger
    /// each sign with their own key, so after a failover a receipt issued by one node may carry
    /// the proof against a checkpoint another signed.
    public func verify(publicKeys: [[UInt8]]) -> [Check] {
        var checks: [Check] = []
        let given = publicKeys.count == 1 ? "the one given (\(Hex.encode(publicKeys[0])))" : "any of the \(publicKeys.count) given"
        let keyHex = Hex.encode(publicKey)
        if !publicKeys.contains(publicKey) {
            checks.append(Check(
                name: "receipt signature", passed: false,
                detail: "the receipt names public key \(keyHex), not \(given): issued by another node or key"))
        } else if let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey), key.isValidSignature(signature, for: signedMessage) {
            checks.append(Check(name: "receipt signature", passed: true, detail: "signed by \(keyHex) over ledger \(ledger), sequence \(sequence)"))
        } else {
            checks.append(Check(
                name: "receipt signature", passed: false,
                detail: "the signature does not verify: a field of the receipt was altered after it was signed"))
        }
        guard let inclusion else { return checks }
        let c = inclusion.checkpoint
        if !publicKeys.contains(c.publicKey) {
            checks.append(Check(
                name: "checkpoint signature", passed: false,
                detail: "checkpoint \(c.sequence) names public key \(Hex.encode(c.publicKey)), not \(given)"))
        } else if c.isSigned(by: c.publicKey, ledger: ledger) {
            checks.append(Check(
                name: "checkpoint signature", passed: true,
                detail: "checkpoint \(c.sequence) (records 1–\(c.size), signed \(c.signedAt)) signed by \(Hex.encode(c.publicKey))"))
        } else {
            checks.append(Check(
                name: "checkpoint signature", passed: false,
                detail: "the signature of checkpoint \(c.sequence) does not verify over ledger \(ledger): the checkpoint was altered or is another ledger's"))
        }
        // A checkpoint is recorded after the records it covers.
        guard c.sequence > c.size else {
            checks.append(Check(
                name: "inclusion proof", passed: false,
                detail: "checkpoint \(c.sequence) claims to cover records 1–\(c.size), which would include itself: the receipt's checkpoint was altered"))
            return checks
        }
        guard sequence >= 1, sequence <= c.size else {
            checks.append(Check(
                name: "inclusion proof", passed: false,
                detail: "checkpoint \(c.sequence) covers records 1–\(c.size), which do not include \(sequence)"))
            return checks
        }
        do throws(MerkleError) {
            try MerkleProof.verifyInclusion(
                index: sequence - 1, size: c.size, leafHash: leafHash, proof: inclusion.auditPath, root: c.root, hasher: SHA256MerkleHasher())
            checks.append(Check(
                name: "inclusion proof", passed: true,
                detail: "record \(sequence) is leaf \(sequence - 1) of the \(c.size)-record tree with root \(Hex.encode(c.root)) (\(inclusion.auditPath.count) hashes)"))
        } catch {
            checks.append(Check(name: "inclusion proof", passed: false, detail: "the audit path does not lead to the checkpoint's root: \(error.message)"))
        }
        return checks
    }

    // MARK: Forms

    /// The file form: one JSON object, a member per line (Schemas/forensics.md §3).
    public var fileText: String {
        var members: [(String, Value)] = [
            ("format", .string(Self.format)), ("ledger", .string(ledger)), ("seq", .int(Int64(sequence))), ("stream", .string(stream)),
            ("version", .int(Int64(streamVersion))), ("id", .string(eventID)), ("type", .string(type)),
            ("recorded_at", .string(recordedAt.rfc3339)), ("leaf_hash", .string(Hex.encode(leafHash))),
            ("chain_hash", .string(Hex.encode(chainHash))), ("public_key", .string(Hex.encode(publicKey))),
            ("signature", .string(Hex.encode(signature))),
        ]
        if let inclusion {
            let c = inclusion.checkpoint
            members.append((
                "inclusion",
                .object([
                    ("checkpoint", .object([
                        ("seq", .int(Int64(c.sequence))), ("size", .int(Int64(c.size))), ("root", .string(Hex.encode(c.root))),
                        ("signed_at", .string(c.signedAt.rfc3339)), ("public_key", .string(Hex.encode(c.publicKey))),
                        ("signature", .string(Hex.encode(c.signature))),
                    ])),
                    ("leaf_index", .int(Int64(sequence - 1))),
                    ("audit_path", .array(inclusion.auditPath.map { .string(Hex.encode($0)) })),
                ])
            ))
        }
        return "{\n" + members.map { "  \(JSON.serialize(.string($0.0))): \(JSON.serialize($0.1))" }.joined(separator: ",\n") + "\n}\n"
    }

    /// Parses a receipt file; anything that is not a well-formed receipt is `invalid-receipt`,
    /// naming the first problem.
    public init(fileText text: String) throws(ForensicError) {
        let v: Value
        do { v = try JSON.parse(text) } catch { throw ForensicError(.invalidReceipt, "not a receipt: not JSON (\(error.message))") }
        let f = Fields(v, "receipt")
        guard try f.string("format") == Self.format else {
            throw ForensicError(.invalidReceipt, "not a receipt: \"format\" is not \"\(Self.format)\"")
        }
        self.init(
            ledger: try f.string("ledger"), sequence: try f.unsigned("seq"), stream: try f.string("stream"), streamVersion: try f.unsigned("version"),
            eventID: try f.string("id"), type: try f.string("type"), recordedAt: try f.time("recorded_at"), leafHash: try f.hash("leaf_hash"),
            chainHash: try f.hash("chain_hash"), publicKey: try f.hash("public_key"), signature: try f.hex("signature", bytes: 64), inclusion: nil)
        if let i = v["inclusion"], i != .null {
            let fi = Fields(i, "inclusion")
            guard let cv = i["checkpoint"] else { throw ForensicError(.invalidReceipt, "not a receipt: inclusion has no \"checkpoint\"") }
            let fc = Fields(cv, "inclusion.checkpoint")
            let checkpoint = Checkpoints.Checkpoint(
                sequence: try fc.unsigned("seq"), size: try fc.unsigned("size"), root: try fc.hash("root"), signedAt: try fc.time("signed_at"),
                publicKey: try fc.hash("public_key"), signature: try fc.hex("signature", bytes: 64))
            guard try fi.unsigned("leaf_index") + 1 == sequence else {
                throw ForensicError(.invalidReceipt, "not a receipt: inclusion.leaf_index is not seq − 1")
            }
            guard let path = i["audit_path"]?.arrayValue else { throw ForensicError(.invalidReceipt, "not a receipt: inclusion has no \"audit_path\" array") }
            var hashes: [[UInt8]] = []
            for (n, h) in path.enumerated() {
                guard let bytes = h.stringValue.flatMap(Hex.decode), bytes.count == 32 else {
                    throw ForensicError(.invalidReceipt, "not a receipt: inclusion.audit_path[\(n)] is not 64 hex digits")
                }
                hashes.append(bytes)
            }
            inclusion = Inclusion(checkpoint: checkpoint, auditPath: hashes)
        }
    }

    public init(
        ledger: String, sequence: UInt64, stream: String, streamVersion: UInt64, eventID: String, type: String, recordedAt: Timestamp,
        leafHash: [UInt8], chainHash: [UInt8], publicKey: [UInt8], signature: [UInt8], inclusion: Inclusion?
    ) {
        self.ledger = ledger
        self.sequence = sequence
        self.stream = stream
        self.streamVersion = streamVersion
        self.eventID = eventID
        self.type = type
        self.recordedAt = recordedAt
        self.leafHash = leafHash
        self.chainHash = chainHash
        self.publicKey = publicKey
        self.signature = signature
        self.inclusion = inclusion
    }

    /// The wire form in ADMIN results (camelCase, no inclusion: proofs travel on their own).
    public var wireValue: Value {
        .object([
            ("ledger", .string(ledger)), ("seq", .int(Int64(sequence))), ("stream", .string(stream)), ("version", .int(Int64(streamVersion))),
            ("id", .string(eventID)), ("type", .string(type)), ("recordedAt", .string(recordedAt.rfc3339)),
            ("leafHash", .string(Hex.encode(leafHash))), ("chainHash", .string(Hex.encode(chainHash))),
            ("publicKey", .string(Hex.encode(publicKey))), ("signature", .string(Hex.encode(signature))),
        ])
    }

    public init(wire v: Value) throws(ForensicError) {
        let f = Fields(v, "receipt")
        self.init(
            ledger: try f.string("ledger"), sequence: try f.unsigned("seq"), stream: try f.string("stream"), streamVersion: try f.unsigned("version"),
            eventID: try f.string("id"), type: try f.string("type"), recordedAt: try f.time("recordedAt"), leafHash: try f.hash("leafHash"),
            chainHash: try f.hash("chainHash"), publicKey: try f.hash("publicKey"), signature: try f.hex("signature", bytes: 64), inclusion: nil)
    }

    /// Typed access to a parsed object, with errors that name the field.
    private struct Fields {
        let value: Value
        let context: String
        init(_ value: Value, _ context: String) {
            self.value = value
            self.context = context
        }

        func fail(_ field: String, _ what: String) -> ForensicError {
            ForensicError(.invalidReceipt, "not a receipt: \(context == "receipt" ? "" : context + ".")\(field) \(what)")
        }

        func string(_ field: String) throws(ForensicError) -> String {
            guard let s = value[field]?.stringValue, !s.isEmpty else { throw fail(field, "is missing or not a string") }
            return s
        }

        func unsigned(_ field: String) throws(ForensicError) -> UInt64 {
            guard let n = value[field]?.intValue, n >= 0 else { throw fail(field, "is missing or not a non-negative integer") }
            return UInt64(n)
        }

        func time(_ field: String) throws(ForensicError) -> Timestamp {
            guard let text = value[field]?.stringValue, let t = try? Timestamp(rfc3339: text) else {
                throw fail(field, "is missing or not an RFC 3339 time")
            }
            // The signature covers the text as Docket writes it; another spelling of the same
            // instant would verify here but not with independent tools.
            guard t.rfc3339 == text else { throw fail(field, "is not in Docket's canonical form (\(t.rfc3339))") }
            return t
        }

        func hex(_ field: String, bytes: Int) throws(ForensicError) -> [UInt8] {
            guard let b = value[field]?.stringValue.flatMap(Hex.decode), b.count == bytes else {
                throw fail(field, "is missing or not \(bytes * 2) hex digits")
            }
            return b
        }

        func hash(_ field: String) throws(ForensicError) -> [UInt8] { try hex(field, bytes: 32) }
    }
}
