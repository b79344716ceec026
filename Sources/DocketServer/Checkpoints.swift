import Crypto
public import DocketCore
public import DocketStore
import Foundation
import Synchronization

/// The node's Ed25519 signing key, in a file of the data directory (`node.key`, mode 0600, the
/// raw private key in hex). Its public key is what `docket verify --pubkey` checks against.
public struct NodeKey: Sendable {
    let key: Curve25519.Signing.PrivateKey

    public var publicKeyHex: String { Hex.encode(Array(key.publicKey.rawRepresentation)) }

    /// An Ed25519 signature of `message`.
    func sign(_ message: [UInt8]) throws -> [UInt8] { Array(try key.signature(for: message)) }

    /// Makes a new key and writes it to `path`, refusing to overwrite an existing one.
    public static func create(at path: String) throws -> NodeKey {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ServerError("\(path) already exists; a node keeps its key (delete it deliberately to rotate)")
        }
        let key = Curve25519.Signing.PrivateKey()
        let hex = Hex.encode(Array(key.rawRepresentation)) + "\n"
        // Created 0600 (never readable by others, even for a moment) and synced: a node key lost
        // in a crash after its public key was handed out would leave checkpoints nobody can extend.
        do { try writeFileAtomically(Array(hex.utf8), to: path, mode: 0o600, durable: true) } catch { throw ServerError("cannot write \(path): \(error.message)") }
        return NodeKey(key: key)
    }

    public static func load(from path: String) throws -> NodeKey {
        // A key the process may not read (made by root in a service user's directory, say) is
        // named as that, not as something that is no key: recreating it is the wrong fix.
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ServerError(
                "no file at \(path) (the node key): check the path; `docket key create` makes a new key, which would not sign as an earlier one did")
        }
        if isDirectory.boolValue { throw ServerError("\(path) is a directory, not a node key file") }
        if access(path, R_OK) != 0, errno == EACCES || errno == EPERM {
            let why = errno
            let owned = EventStore.ownership(of: path).map { ", owned by \($0.owner), mode \($0.mode)" } ?? ""
            throw ServerError(
                "cannot read \(path) (\(String(cString: strerror(why)))\(owned)): the node key must be readable by the user the node runs as; "
                    + "give it to that user (chown), do not make a new one, which would not sign as the old did")
        }
        guard let data = FileManager.default.contents(atPath: path),
            let bytes = Hex.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
        else { throw ServerError("\(path) is not a Docket node key (create one with `docket key create`)") }
        return NodeKey(key: key)
    }
}

/// Signed Merkle checkpoints: the RFC 6962 tree hash over the stored records `1...size`, signed
/// with the node key and recorded in the log itself (stream `system/checkpoints`), so that anyone
/// holding a copy and the public key can check that the first `size` records are exactly those
/// the node signed for (Schemas/forensics.md §2).
///
/// The signed message is the UTF-8 text
/// `docket-checkpoint/1\n<ledger id>\n<size>\n<root, lowercase hex>\n<signed at, RFC 3339>\n`.
/// Each checkpoint after the first also records the sequence of the checkpoint it extends and
/// the RFC 9162 consistency proof from that one's tree to its own; the node checks that proof
/// before it signs, and `verify` checks it again.
public enum Checkpoints {
    public static let stream = try! StreamName("system/checkpoints")
    public static let eventType = try! EventType("CheckpointSigned")

    public struct Checkpoint: Sendable, Hashable {
        /// Where the checkpoint event is in the log.
        public var sequence: UInt64
        public var size: UInt64
        public var root: [UInt8]
        public var signedAt: Timestamp
        public var publicKey: [UInt8]
        public var signature: [UInt8]
        /// The sequence of the checkpoint this one extends, and the consistency proof from that
        /// checkpoint's tree to this one's (absent on the first checkpoint).
        public var previous: UInt64?
        public var consistency: [[UInt8]]?

        public init(
            sequence: UInt64, size: UInt64, root: [UInt8], signedAt: Timestamp, publicKey: [UInt8], signature: [UInt8],
            previous: UInt64? = nil, consistency: [[UInt8]]? = nil
        ) {
            self.sequence = sequence
            self.size = size
            self.root = root
            self.signedAt = signedAt
            self.publicKey = publicKey
            self.signature = signature
            self.previous = previous
            self.consistency = consistency
        }

        /// Whether the event parsed as a checkpoint at all.
        public var isWellFormed: Bool { size > 0 && root.count == 32 && publicKey.count == 32 && signature.count == 64 }

        /// The message the node signed, for a checkpoint of `ledger`.
        public func message(ledger: String) -> [UInt8] { Checkpoints.message(ledger: ledger, size: size, root: root, signedAt: signedAt) }

        /// Whether `publicKey` (32 bytes of Ed25519) signed this checkpoint of `ledger`.
        public func isSigned(by publicKey: [UInt8], ledger: String) -> Bool {
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
            return key.isValidSignature(signature, for: message(ledger: ledger))
        }

        /// The wire form (ADMIN results): camelCase, hashes in lowercase hex.
        public var wireValue: Value {
            var members: [(key: String, value: Value)] = [
                ("seq", .int(Int64(sequence))), ("size", .int(Int64(size))), ("root", .string(Hex.encode(root))),
                ("signedAt", .string(signedAt.rfc3339)), ("publicKey", .string(Hex.encode(publicKey))), ("signature", .string(Hex.encode(signature))),
            ]
            if let previous { members.append(("previous", .int(Int64(previous)))) }
            return .object(members)
        }

        public init(wire v: Value) throws {
            guard let seq = v["seq"]?.intValue, seq > 0, let size = v["size"]?.intValue, size > 0,
                let root = v["root"]?.stringValue.flatMap(Hex.decode), root.count == 32,
                let signedAt = v["signedAt"]?.stringValue.flatMap({ try? Timestamp(rfc3339: $0) }),
                let publicKey = v["publicKey"]?.stringValue.flatMap(Hex.decode), publicKey.count == 32,
                let signature = v["signature"]?.stringValue.flatMap(Hex.decode), signature.count == 64
            else { throw ForensicError(.invalidReceipt, "the node sent a malformed checkpoint") }
            // (A negative `previous` would trap converting it: whoever checks a receipt must not
            // be crashed by the node that sent it.)
            let previous = v["previous"]?.intValue
            guard previous.map({ $0 > 0 }) ?? true else { throw ForensicError(.invalidReceipt, "the node sent a malformed checkpoint") }
            self.init(
                sequence: UInt64(seq), size: UInt64(size), root: root, signedAt: signedAt, publicKey: publicKey, signature: signature,
                previous: previous.map { UInt64($0) })
        }
    }

    static func message(ledger: String, size: UInt64, root: [UInt8], signedAt: Timestamp) -> [UInt8] {
        Array("docket-checkpoint/1\n\(ledger)\n\(size)\n\(Hex.encode(root))\n\(signedAt.rfc3339)\n".utf8)
    }

    /// Signs the tree of every record now in the log and records the checkpoint, after checking
    /// that it extends the latest checkpoint this key signed (a consistency proof between their
    /// roots). `index` keeps the work proportional to the records since the last checkpoint; without
    /// one, a temporary index hashes the whole log.
    ///
    /// Records appended by others while it signs land before the checkpoint's own record and are
    /// not covered by it (`size` says what is); the next checkpoint covers them.
    public static func write(store: EventStore, key: NodeKey, actor: String, index: MerkleIndex? = nil) async throws -> Checkpoint {
        // Hashing the records since the last checkpoint (all of them, for a first one) on a thread
        // of its own, not on one of the few every connection's requests need.
        let (event, unsequenced) = try await Notary.onOwnThread { try signed(store: store, key: key, actor: actor, index: index) }
        let result = try await store.append(to: stream, events: [event])
        var checkpoint = unsequenced
        checkpoint.sequence = result.lastSequence
        return checkpoint
    }

    /// The checkpoint event over every record now in the log, signed and checked as `write`
    /// describes, and the checkpoint it will be once appended (its `sequence` still 0).
    static func signed(store: EventStore, key: NodeKey, actor: String, index: MerkleIndex? = nil) throws -> (ProposedEvent, Checkpoint) {
        let size = store.head.sequence
        guard size > 0 else { throw ForensicError(.noCheckpoint, "the log is empty: nothing to checkpoint") }
        let index = try index ?? MerkleIndex.open(dataDirectory: nil, store: store)
        let root = try index.root(size: size)
        let publicKey = Array(key.key.publicKey.rawRepresentation)
        var data: [(key: String, value: Value)] = []
        let signedAt = Timestamp.now()
        let signature = try key.sign(message(ledger: store.ledgerID, size: size, root: root, signedAt: signedAt))
        data = [
            ("size", .int(Int64(size))), ("root", .string(Hex.encode(root))), ("signedAt", .string(signedAt.rfc3339)),
            ("publicKey", .string(Hex.encode(publicKey))), ("signature", .string(Hex.encode(signature))),
        ]
        var previous: Checkpoint?
        var proof: [[UInt8]]?
        let last = try latest(in: store, signedBy: publicKey)
        // The index is derived data, not evidence. The consistency proof below checks its nodes
        // within the last checkpoint; the rest are checked here against the records since.
        if !index.isTemporary, try index.root(size: size, trustingNodesThrough: min(last?.size ?? 0, size)) != root {
            throw damagedIndex(index)
        }
        if let last {
            guard last.size <= size else {
                throw ForensicError(.inconsistentLog, "refusing to sign: checkpoint \(last.sequence) covers \(last.size) records but the log now holds \(size); run docket verify")
            }
            let p = try index.consistencyProof(from: last.size, to: size)
            do throws(MerkleError) {
                try MerkleProof.verifyConsistency(size1: last.size, size2: size, root1: last.root, root2: root, proof: p, hasher: SHA256MerkleHasher())
            } catch {
                // The stored index is derived data, and damage to it looks like a changed log from
                // here. The records themselves tell the two apart: whether records 1–N of the log
                // still hash to the checkpoint's root (a pass over them, done once per checkpoint a
                // log fails to extend, not on every attempt to sign).
                if !index.isTemporary, try recordsHold(last, store: store, index: index) { throw damagedIndex(index) }
                throw ForensicError(
                    .inconsistentLog,
                    "refusing to sign: the log is not an extension of checkpoint \(last.sequence) (records 1–\(last.size)): \(error.message); run docket verify")
            }
            previous = last
            proof = p
            data.append(("previous", .int(Int64(last.sequence))))
            data.append(("consistency", .array(p.map { .string(Hex.encode($0)) })))
        }
        let event = try ProposedEvent(type: eventType, actor: actor, occurredAt: signedAt, data: .object(data))
        return (event, Checkpoint(
            sequence: 0, size: size, root: root, signedAt: signedAt, publicKey: publicKey, signature: signature,
            previous: previous?.sequence, consistency: proof))
    }

    /// Whether the log's first `checkpoint.size` records hash to its root, from the records alone.
    /// A `false` stands for as long as the log does (its records do not change), so it is kept.
    private static func recordsHold(_ checkpoint: Checkpoint, store: EventStore, index: MerkleIndex) throws -> Bool {
        let key = "\(store.ledgerID)/\(checkpoint.sequence)/\(Hex.encode(checkpoint.root))"
        if changedLogs.withLock({ $0.contains(key) }) { return false }
        let holds = try index.root(size: checkpoint.size, trustingNodesThrough: 0) == checkpoint.root
        if !holds { changedLogs.withLock { _ = $0.insert(key) } }
        return holds
    }

    /// Checkpoints found not to hold for the log's records (`recordsHold`).
    private static let changedLogs = Mutex<Set<String>>([])

    /// Refusing to sign because the Merkle index disagrees with the records it was made from.
    static func damagedIndex(_ index: MerkleIndex) -> ForensicError {
        ForensicError(
            .inconsistentLog,
            "refusing to sign: the Merkle index at \(index.path) is damaged (its hashes are not those of the records); "
                + "stop the node, delete that directory (it holds only hashes derived from the log, and is rebuilt from it) and sign again")
    }

    /// A checkpoint event's fields; a malformed event gives a checkpoint that is not `isWellFormed`.
    static func parse(_ e: RecordedEvent) -> Checkpoint {
        let d = e.data
        guard let size = d["size"]?.intValue, size > 0, let root = d["root"]?.stringValue.flatMap(Hex.decode), root.count == 32,
            let signedAt = d["signedAt"]?.stringValue.flatMap({ try? Timestamp(rfc3339: $0) }),
            let publicKey = d["publicKey"]?.stringValue.flatMap(Hex.decode), publicKey.count == 32,
            let signature = d["signature"]?.stringValue.flatMap(Hex.decode), signature.count == 64
        else { return Checkpoint(sequence: e.sequence, size: 0, root: [], signedAt: e.occurredAt, publicKey: [], signature: []) }
        var consistency: [[UInt8]]?
        if let list = d["consistency"]?.arrayValue {
            let hashes = list.compactMap { $0.stringValue.flatMap(Hex.decode) }
            consistency = hashes.count == list.count ? hashes : [[]]  // an unreadable proof fails verification
        }
        return Checkpoint(
            sequence: e.sequence, size: UInt64(size), root: root, signedAt: signedAt, publicKey: publicKey, signature: signature,
            previous: d["previous"]?.intValue.map { UInt64(max($0, 0)) }, consistency: consistency)
    }

    /// Every checkpoint recorded in the log.
    public static func all(in store: EventStore) throws -> [Checkpoint] {
        try store.read(stream: stream).map(parse)
    }

    /// The latest well-formed checkpoint with a valid signature by `publicKey` (any key when nil),
    /// reading the checkpoint stream backwards.
    public static func latest(in store: EventStore, signedBy publicKey: [UInt8]? = nil) throws -> Checkpoint? {
        var version = try store.version(of: stream)
        while version > 0 {
            let from = version > 64 ? version - 63 : 1
            for e in try store.read(stream: stream, fromVersion: from, limit: Int(version - from + 1)).reversed() {
                let c = parse(e)
                if c.isWellFormed && c.isSigned(by: publicKey ?? c.publicKey, ledger: store.ledgerID) { return c }
            }
            version = from - 1
        }
        return nil
    }

    public struct Report: Sendable {
        public var checked: Int
        /// Whether signatures were checked against a given key, or only against the key each
        /// checkpoint names (which proves nothing about who signed).
        public var keyGiven: Bool
        /// The latest checkpoint that passed (its sequence and size).
        public var latest: (sequence: UInt64, size: UInt64)?
        /// The first checkpoint (by its own sequence) that failed, and why.
        public var failure: (sequence: UInt64, reason: String)?
    }

    /// Checks every checkpoint: signed by `publicKey` (or, without one, by the key it names) over
    /// this ledger; its root equal to the tree hash of the records it covers (one pass over the
    /// log, trusting no index); and its recorded consistency proof, if any, linking it to the
    /// checkpoint it names as its predecessor.
    public static func verify(store: EventStore, publicKey: [UInt8]?) throws -> Report {
        try verify(store: store, publicKeys: publicKey.map { [$0] } ?? [])
    }

    /// `verify(store:publicKey:)` trusting any of `publicKeys` (none given: only the key each
    /// checkpoint names): each node of a ledger signs with its own key, so after a failover the
    /// log holds checkpoints by more than one.
    public static func verify(store: EventStore, publicKeys: [[UInt8]]) throws -> Report {
        for publicKey in publicKeys where (try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)) == nil {
            throw ServerError("the public key must be 32 bytes of Ed25519 (64 hex digits)")
        }
        let checkpoints = try all(in: store)
        let bySequence = Dictionary(checkpoints.map { ($0.sequence, $0) }, uniquingKeysWith: { a, _ in a })
        let hasher = SHA256MerkleHasher()
        var failures: [(UInt64, String)] = []
        for c in checkpoints {
            if !c.isWellFormed { failures.append((c.sequence, "malformed checkpoint event")); continue }
            if c.size >= c.sequence { failures.append((c.sequence, "covers \(c.size) records but is itself record \(c.sequence)")); continue }
            if !publicKeys.isEmpty, !publicKeys.contains(c.publicKey) {
                let given = publicKeys.count == 1 ? "the one given" : "any of the \(publicKeys.count) given"
                failures.append((c.sequence, "it names another public key (\(Hex.encode(c.publicKey).prefix(16))…) than \(given): signed with another key"))
                continue
            }
            if !c.isSigned(by: c.publicKey, ledger: store.ledgerID) {
                failures.append((c.sequence, "its signature does not verify with \(publicKeys.isEmpty ? "the key it names" : "the given public key") (another key, another ledger, or altered)"))
                continue
            }
            if let previous = c.previous {
                guard let p = bySequence[previous], p.isWellFormed, previous < c.sequence else {
                    failures.append((c.sequence, "it names checkpoint \(previous) as its predecessor, which the log does not hold"))
                    continue
                }
                do throws(MerkleError) {
                    try MerkleProof.verifyConsistency(size1: p.size, size2: c.size, root1: p.root, root2: c.root, proof: c.consistency ?? [], hasher: hasher)
                } catch {
                    failures.append((c.sequence, "its consistency proof from checkpoint \(previous) does not verify: \(error.message)"))
                }
            }
        }
        let sizes = Dictionary(grouping: checkpoints.filter(\.isWellFormed), by: \.size)
        var tree = MerkleTreeBuilder(hasher: hasher)
        if let largest = sizes.keys.max() {
            try store.scanRaw(from: 1, through: largest) { (seq, value) throws(StoreError) in
                tree.append(leafHash: hasher.hashLeaf(Array(value)))
                for c in sizes[seq] ?? [] where tree.root != c.root {
                    failures.append((c.sequence, "the records 1–\(c.size) no longer hash to the signed root"))
                }
                return true
            }
        }
        for (size, covering) in sizes where size > tree.count {
            for c in covering { failures.append((c.sequence, "covers \(size) records but the log holds only \(tree.count)")) }
        }
        let first = failures.min { $0.0 < $1.0 }
        let passed = checkpoints.filter { c in c.isWellFormed && !failures.contains { $0.0 == c.sequence } }.max { $0.sequence < $1.sequence }
        return Report(
            checked: checkpoints.count, keyGiven: !publicKeys.isEmpty, latest: passed.map { ($0.sequence, $0.size) },
            failure: first.map { (sequence: $0.0, reason: $0.1) })
    }
}
