import Crypto
public import DocketCore
public import DocketStore
import Foundation

/// The node's Ed25519 signing key, in a file of the data directory (`node.key`, mode 0600, the
/// raw private key in hex). Its public key is what `docket verify --pubkey` checks against.
public struct NodeKey: Sendable {
    let key: Curve25519.Signing.PrivateKey

    public var publicKeyHex: String { Tokens.hex(Array(key.publicKey.rawRepresentation)) }

    /// An Ed25519 signature of `message`.
    func sign(_ message: [UInt8]) throws -> [UInt8] { Array(try key.signature(for: message)) }

    /// Makes a new key and writes it to `path`, refusing to overwrite an existing one.
    public static func create(at path: String) throws -> NodeKey {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ServerError("\(path) already exists; a node keeps its key (delete it deliberately to rotate)")
        }
        let key = Curve25519.Signing.PrivateKey()
        let hex = Tokens.hex(Array(key.rawRepresentation)) + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ServerError("cannot write \(path)")
        }
        return NodeKey(key: key)
    }

    public static func load(from path: String) throws -> NodeKey {
        guard let data = FileManager.default.contents(atPath: path),
            let bytes = Tokens.unhex(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
        else { throw ServerError("\(path) is not a Docket node key (create one with `docket key create`)") }
        return NodeKey(key: key)
    }
}

/// Signed Merkle checkpoints: the RFC 6962 tree hash over the stored records `1...size`, signed
/// with the node key and recorded in the log itself (stream `system/checkpoints`), so that anyone
/// holding a copy and the public key can check that the first `size` records are exactly those
/// the node signed for.
///
/// The signed message is the UTF-8 text
/// `docket-checkpoint/1\n<ledger id>\n<size>\n<root, lowercase hex>\n<signed at, RFC 3339>\n`.
public enum Checkpoints {
    public static let stream = try! StreamName("system/checkpoints")

    public struct Checkpoint: Sendable, Hashable {
        /// Where the checkpoint event is in the log.
        public var sequence: UInt64
        public var size: UInt64
        public var root: [UInt8]
        public var signedAt: Timestamp
        public var publicKey: [UInt8]
        public var signature: [UInt8]
    }

    static func message(ledger: String, size: UInt64, root: [UInt8], signedAt: Timestamp) -> [UInt8] {
        Array("docket-checkpoint/1\n\(ledger)\n\(size)\n\(Tokens.hex(root))\n\(signedAt.rfc3339)\n".utf8)
    }

    /// Signs the tree of every record now in the log and records the checkpoint.
    public static func write(store: EventStore, key: NodeKey, actor: String) async throws -> Checkpoint {
        let size = store.head.sequence
        guard let root = try store.merkleRoot(size: size) else { throw ServerError("the log is empty: nothing to checkpoint") }
        let signedAt = Timestamp.now()
        let signature = try key.sign(message(ledger: store.ledgerID, size: size, root: root, signedAt: signedAt))
        let publicKey = Array(key.key.publicKey.rawRepresentation)
        let data: Value = .object([
            ("size", .int(Int64(size))), ("root", .string(Tokens.hex(root))), ("signedAt", .string(signedAt.rfc3339)),
            ("publicKey", .string(Tokens.hex(publicKey))), ("signature", .string(Tokens.hex(signature))),
        ])
        let event = try ProposedEvent(type: try EventType("CheckpointSigned"), actor: actor, occurredAt: signedAt, data: data)
        let result = try await store.append(to: stream, events: [event])
        return Checkpoint(sequence: result.lastSequence, size: size, root: root, signedAt: signedAt, publicKey: publicKey, signature: signature)
    }

    /// Every checkpoint recorded in the log.
    public static func all(in store: EventStore) throws -> [Checkpoint] {
        try store.read(stream: stream).compactMap { e in
            let d = e.data
            guard let size = d["size"]?.intValue, size > 0, let root = d["root"]?.stringValue.flatMap(Tokens.unhex),
                let signedAt = d["signedAt"]?.stringValue.flatMap({ try? Timestamp(rfc3339: $0) }),
                let publicKey = d["publicKey"]?.stringValue.flatMap(Tokens.unhex), let signature = d["signature"]?.stringValue.flatMap(Tokens.unhex)
            else { return Checkpoint(sequence: e.sequence, size: 0, root: [], signedAt: e.occurredAt, publicKey: [], signature: []) }
            return Checkpoint(sequence: e.sequence, size: UInt64(size), root: root, signedAt: signedAt, publicKey: publicKey, signature: signature)
        }
    }

    public struct Report: Sendable {
        public var checked: Int
        /// The first checkpoint (by its own sequence) that failed, and why.
        public var failure: (sequence: UInt64, reason: String)?
    }

    /// Checks every checkpoint: signed by `publicKey` over this ledger, and its root equal to the
    /// tree hash of the records it covers (one pass over the log).
    public static func verify(store: EventStore, publicKey: [UInt8]) throws -> Report {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else {
            throw ServerError("the public key must be 32 bytes of Ed25519 (64 hex digits)")
        }
        let checkpoints = try all(in: store)
        var failures: [(UInt64, String)] = []
        for c in checkpoints {
            if c.size == 0 { failures.append((c.sequence, "malformed checkpoint event")); continue }
            if c.size >= c.sequence { failures.append((c.sequence, "covers \(c.size) records but is itself record \(c.sequence)")); continue }
            if !key.isValidSignature(c.signature, for: message(ledger: store.ledgerID, size: c.size, root: c.root, signedAt: c.signedAt)) {
                failures.append((c.sequence, "its signature does not verify with the given public key (another key, another ledger, or altered)"))
            }
        }
        let sizes = Dictionary(grouping: checkpoints.filter { $0.size > 0 }, by: \.size)
        let hasher = SHA256MerkleHasher()
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
        return Report(checked: checkpoints.count, failure: first.map { (sequence: $0.0, reason: $0.1) })
    }
}
