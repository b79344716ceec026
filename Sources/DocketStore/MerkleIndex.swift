import CLMDB
import DocketCore
import Foundation
import Synchronization

/// Hashes of the complete subtrees of the RFC 6962 tree over the log's stored records, kept so
/// that roots and audit paths cost O(log n) lookups instead of a pass over the log.
///
/// It is derived data in an LMDB environment of its own (`DATA_DIR/merkle/`, Schemas/storage.md
/// §13), never in the ledger environment: the `log` values replicas copy byte for byte are not
/// touched, and deleting the directory only costs a rebuild. Only nodes at level
/// `MerkleIndex.baseLevel` (16 leaves) and above are stored; the few hashes below it that a proof
/// needs are computed from the records themselves. The index catches up on demand (when a root or
/// a proof is asked for), in transactions of at most 65,536 leaves, and checks on its first use in
/// a process that it still describes this log (same ledger id, and its last leaf still hashes the
/// stored record it names); otherwise it is rebuilt from the log.
///
/// A data directory that cannot be written (a read-only copy) gets an index in a temporary
/// directory, removed when the index is released.
public final class MerkleIndex: Sendable {
    /// Lowest level of stored nodes: a node at level L covers 2^L leaves.
    public static let baseLevel = 4
    static let leavesPerCommit: UInt64 = 65_536
    static let format = "docket-merkle 1"

    let store: EventStore
    let environment: LMDBEnvironment
    let nodes: MDB_dbi
    let meta: MDB_dbi
    /// The environment's directory.
    public let path: String
    /// True when the index lives in a temporary directory (the data directory is read-only).
    public let isTemporary: Bool
    private let catchUpLock = Mutex<Void>(())
    private let validated = Atomic<Bool>(false)
    public let hasher = SHA256MerkleHasher()

    private enum MetaKey {
        static let format = "format"
        static let ledgerID = "ledger-id"
        /// u64be: leaves (records 1…size) the stored nodes cover.
        static let size = "size"
        /// The leaf hash of record `size`, to recognise a log that was replaced or rolled back.
        static let lastLeaf = "last-leaf"
    }

    /// Opens (creating) the index of `store` in `dataDirectory/merkle`, or in a temporary directory
    /// when there is no data directory, it cannot be written, or it is a copy being examined.
    public static func open(dataDirectory: String?, store: EventStore) throws(StoreError) -> MerkleIndex {
        // A ledger read without locks (a copy being examined, see `LMDBEnvironment`) is not
        // changed: its index is made elsewhere, as for a copy that cannot be written.
        if let dataDirectory, !store.environment.withoutLocks {
            let path = dataDirectory + "/merkle"
            if let index = try? MerkleIndex(path: path, store: store, temporary: false) { return index }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-merkle-\(UUID().uuidString)").path
        return try MerkleIndex(path: path, store: store, temporary: true)
    }

    private init(path: String, store: EventStore, temporary: Bool) throws(StoreError) {
        // Owner-only, as the ledger's own directory is.
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw StoreError(.io, "cannot create \(path): \(error.localizedDescription)")
        }
        do {
            let env = try LMDBEnvironment(path: path, mapSize: 1 << 32, maxDatabases: 4, readOnly: false)
            environment = env
            (nodes, meta) = try env.write { (txn) throws(LMDBError) in
                let nodes = try env.openDatabase("nodes", in: txn, create: true)
                let meta = try env.openDatabase("meta", in: txn, create: true)
                if try txn.get(meta, Array(MetaKey.format.utf8)) == nil {
                    try txn.put(meta, Array(MetaKey.format.utf8), Array(Self.format.utf8))
                    try txn.put(meta, Array(MetaKey.ledgerID.utf8), Array(store.ledgerID.utf8))
                }
                return (nodes, meta)
            }
        } catch {
            if temporary { try? FileManager.default.removeItem(atPath: path) }
            if error.isNoSpace {
                throw StoreError(.diskFull, "cannot open the Merkle index at \(path): the disk is full (\(error)); free space and retry")
            }
            throw StoreError(.io, "cannot open the Merkle index at \(path): \(error)")
        }
        self.path = path
        self.store = store
        self.isTemporary = temporary
    }

    deinit {
        if isTemporary { try? FileManager.default.removeItem(atPath: path) }
    }

    // MARK: Queries

    /// The leaves the index covers now.
    public var size: UInt64 {
        get throws(StoreError) { try environment.read { (txn) throws(StoreError) in try storedSize(txn) }.get() }
    }

    /// The RFC 6962 leaf hash of the record at `sequence`: SHA-256(0x00 ‖ stored record bytes).
    public func leafHash(sequence: UInt64) throws(StoreError) -> [UInt8] {
        guard let record = try store.rawRecord(at: sequence) else {
            throw StoreError(.notFound, "the log holds no record \(sequence) (its head is \(store.head.sequence))")
        }
        return hasher.hashLeaf(record)
    }

    /// The tree hash of records 1…`size`.
    public func root(size: UInt64) throws(StoreError) -> [UInt8] {
        guard size > 0 else { throw StoreError(.notFound, "the empty log has no Merkle root") }
        try catchUp(to: size)
        return try run { try MerkleAuditPath.root(size: size, source: Source(index: self)) }
    }

    /// The audit path of record `sequence` (leaf `sequence − 1`) in the tree of records 1…`size`.
    public func inclusionProof(sequence: UInt64, size: UInt64) throws(StoreError) -> [[UInt8]] {
        guard sequence >= 1, sequence <= size else {
            throw StoreError(.notFound, "record \(sequence) is not among records 1–\(size)")
        }
        try catchUp(to: size)
        return try run { try MerkleAuditPath.inclusion(index: sequence - 1, size: size, source: Source(index: self)) }
    }

    /// The consistency proof from the tree of records 1…`oldSize` to the tree of 1…`newSize`.
    public func consistencyProof(from oldSize: UInt64, to newSize: UInt64) throws(StoreError) -> [[UInt8]] {
        guard oldSize >= 1, oldSize <= newSize else {
            throw StoreError(.notFound, "no consistency proof from \(oldSize) to \(newSize) records")
        }
        try catchUp(to: newSize)
        return try run { try MerkleAuditPath.consistency(oldSize: oldSize, newSize: newSize, source: Source(index: self)) }
    }

    /// The tree hash of records 1…`size`, taking from the index only subtrees wholly within
    /// records 1…`prefix` and hashing the records after them afresh: what the root of the index
    /// should be, checked against the records wherever no earlier check (a signed checkpoint of
    /// `prefix` records and a consistency proof to it) vouches for the stored nodes. Costs a read
    /// of the records after `prefix`.
    public func root(size: UInt64, trustingNodesThrough prefix: UInt64) throws(StoreError) -> [UInt8] {
        guard size > 0 else { throw StoreError(.notFound, "the empty log has no Merkle root") }
        if prefix > 0 { try catchUp(to: min(prefix, size)) }
        return try run { try MerkleAuditPath.root(size: size, source: PrefixSource(stored: Source(index: self), prefix: prefix)) }
    }

    /// Stored subtrees within the first `prefix` leaves; every other subtree hashed from the records.
    struct PrefixSource: MerkleSubtreeSource {
        let stored: Source
        let prefix: UInt64
        var hasher: SHA256MerkleHasher { stored.hasher }

        func completeSubtree(level: Int, index position: UInt64) throws -> [UInt8] {
            let width = UInt64(1) << UInt64(level)
            let start = position * width
            if start + width <= prefix { return try stored.completeSubtree(level: level, index: position) }
            // Wholly after the prefix (or small): from the records.
            if start >= prefix || level < MerkleIndex.baseLevel { return try stored.index.subtreeFromRecords(level: level, index: position) }
            // Across the prefix's end: its halves, one side of which is stored.
            return hasher.hashChildren(
                try completeSubtree(level: level - 1, index: position * 2), try completeSubtree(level: level - 1, index: position * 2 + 1))
        }
    }

    private func run<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch let e as StoreError { throw e } catch let e as MerkleError {
            throw StoreError(.corruptRecord, "Merkle index: \(e.message)")
        } catch { throw StoreError(.io, "Merkle index: \(error)") }
    }

    /// Complete subtrees: stored nodes at `baseLevel` and above, computed from records below it.
    struct Source: MerkleSubtreeSource {
        let index: MerkleIndex
        var hasher: SHA256MerkleHasher { index.hasher }

        func completeSubtree(level: Int, index position: UInt64) throws -> [UInt8] {
            if level >= MerkleIndex.baseLevel {
                let key = MerkleIndex.key(level: level, index: position)
                let found = try index.environment.read { (txn) throws(LMDBError) -> [UInt8]? in
                    try txn.get(index.nodes, key).map { Array($0) }
                }
                guard let hash = try found.get(), hash.count == 32 else {
                    throw StoreError(.corruptRecord, "the Merkle index lacks node \(level)/\(position); delete \(index.path) to rebuild it")
                }
                return hash
            }
            return try index.subtreeFromRecords(level: level, index: position)
        }
    }

    /// The hash of a complete subtree computed from the records themselves, in one pass that keeps
    /// only the subtree's right edge (a hash per level), however wide it is.
    func subtreeFromRecords(level: Int, index position: UInt64) throws(StoreError) -> [UInt8] {
        let width = UInt64(1) << UInt64(level)
        let start = position * width
        let hasher = self.hasher
        var frontier = Frontier(hasher: hasher)
        var next = start + 1
        try store.scanRaw(from: start + 1, through: start + width) { (seq, value) throws(StoreError) in
            guard seq == next else { throw StoreError(.corruptRecord, "the log jumps from \(next - 1) to \(seq)", sequence: next) }
            frontier.append(leafHash: hasher.hashLeaf(Array(value)), index: seq - 1 - start) { _, _, _ in }
            next += 1
            return true
        }
        guard next == start + width + 1, frontier.stack.count == 1, let root = frontier.stack.first else {
            throw StoreError(.notFound, "the log holds fewer than \(start + width) records")
        }
        return root.hash
    }

    static func key(level: Int, index: UInt64) -> [UInt8] {
        [UInt8(level)] + bigEndianBytes(index)
    }

    // MARK: Catching up

    /// Whether the stored nodes already cover records 1…`target`, checked against this log: a
    /// `catchUp(to: target)` would have nothing to do.
    public func covers(_ target: UInt64) throws(StoreError) -> Bool {
        guard target > 0 else { return true }
        guard validated.load(ordering: .acquiring) else { return false }
        return try size >= target
    }

    /// Makes the stored nodes cover at least records 1…`target` (which the log must hold).
    public func catchUp(to target: UInt64) throws(StoreError) {
        guard target > 0 else { return }
        if try covers(target) { return }
        let head = store.head.sequence
        guard target <= head else {
            throw StoreError(.notFound, "the log holds \(head) records, not \(target)")
        }
        try catchUpLock.withLock { (_: inout Void) throws(StoreError) in
            while try !catchUpStep(target: target) {}
        }
    }

    private func storedSize(_ txn: borrowing Transaction) throws(StoreError) -> UInt64 {
        let v: [UInt8]?
        do { v = try txn.get(meta, Array(MetaKey.size.utf8)).map { Array($0) } } catch { throw error.storeError }
        guard let v, v.count == 8 else { return 0 }
        return v.withUnsafeBytes { $0.loadBigEndianUInt64() }
    }

    /// One transaction's worth of catching up; true when the index covers `target`.
    private func catchUpStep(target: UInt64) throws(StoreError) -> Bool {
        let txn = try beginWrite()
        var committed = false
        defer { if !committed { txn.abort() } }
        var size = try storedSize(txn)
        if !validated.load(ordering: .acquiring), size > 0, try !describesLog(size: size, txn) {
            size = 0  // rebuilt from the start; stale nodes are overwritten before they are read again
        }
        if size >= target {
            validated.store(true, ordering: .releasing)
            return true
        }
        // The frontier at `size`: one stored node per set bit at or above the base level, then the
        // leaves of the partial tile below it, re-hashed from the log.
        var frontier = Frontier(hasher: hasher)
        var offset: UInt64 = 0
        for level in stride(from: 63, through: Self.baseLevel, by: -1) where size & (UInt64(1) << UInt64(level)) != 0 {
            let stored: [UInt8]?
            do { stored = try txn.get(nodes, Self.key(level: level, index: offset >> UInt64(level))).map { Array($0) } } catch {
                throw error.storeError
            }
            guard let stored, stored.count == 32 else {
                // A node is missing: start over from the first record.
                frontier = Frontier(hasher: hasher)
                offset = 0
                size = 0
                break
            }
            frontier.push(level: level, index: offset >> UInt64(level), hash: stored)
            offset += UInt64(1) << UInt64(level)
        }
        // (After the frontier: a missing node starts over from the first record, and one
        // transaction still takes at most `leavesPerCommit` leaves.)
        let end = min(target, size + Self.leavesPerCommit)
        var formed: [(level: Int, index: UInt64, hash: [UInt8])] = []
        var lastLeaf: [UInt8] = []
        var next = offset + 1
        let hasher = self.hasher
        try store.scanRaw(from: next, through: end) { (seq, value) throws(StoreError) in
            guard seq == next else { throw StoreError(.corruptRecord, "the log jumps from \(next - 1) to \(seq)", sequence: next) }
            lastLeaf = hasher.hashLeaf(Array(value))
            frontier.append(leafHash: lastLeaf, index: seq - 1) { level, index, hash in
                if level >= Self.baseLevel { formed.append((level, index, hash)) }
            }
            next = seq + 1
            return true
        }
        guard next == end + 1 else {
            throw StoreError(.notFound, "the log holds \(next - 1) records, not \(end)")
        }
        do throws(LMDBError) {
            for node in formed { try txn.put(nodes, Self.key(level: node.level, index: node.index), node.hash) }
            try txn.put(meta, Array(MetaKey.size.utf8), bigEndianBytes(end))
            try txn.put(meta, Array(MetaKey.lastLeaf.utf8), lastLeaf)
            try txn.put(meta, Array(MetaKey.ledgerID.utf8), Array(store.ledgerID.utf8))
            committed = true  // mdb_txn_commit frees the transaction whether or not it succeeds
            try txn.commit()
        } catch {
            if error.isMapFull {
                if !committed { txn.abort(); committed = true }
                do { try environment.growMap(to: environment.mapSize * 2) } catch { throw error.storeError }
                return false
            }
            throw error.storeError
        }
        validated.store(true, ordering: .releasing)
        return end >= target
    }

    private func beginWrite() throws(StoreError) -> Transaction {
        do { return try environment.beginWrite() } catch { throw error.storeError }
    }

    /// Whether the stored index is this log's: same ledger, and record `size` still has the leaf
    /// hash recorded for it (a log rolled back or replaced by another copy has not).
    private func describesLog(size: UInt64, _ txn: borrowing Transaction) throws(StoreError) -> Bool {
        let ledger: [UInt8]?
        let last: [UInt8]?
        do {
            ledger = try txn.get(meta, Array(MetaKey.ledgerID.utf8)).map { Array($0) }
            last = try txn.get(meta, Array(MetaKey.lastLeaf.utf8)).map { Array($0) }
        } catch { throw error.storeError }
        guard ledger == Array(store.ledgerID.utf8), let last else { return false }
        guard let record = try store.rawRecord(at: size) else { return false }
        return hasher.hashLeaf(record) == last
    }
}

/// The right edge of a Merkle tree being built leaf by leaf: the roots of its complete subtrees,
/// largest first, each with its level and index, reporting every node it completes.
struct Frontier {
    let hasher: SHA256MerkleHasher
    private(set) var stack: [(level: Int, index: UInt64, hash: [UInt8])] = []

    init(hasher: SHA256MerkleHasher) { self.hasher = hasher }

    mutating func push(level: Int, index: UInt64, hash: [UInt8]) {
        stack.append((level, index, hash))
    }

    mutating func append(leafHash: [UInt8], index: UInt64, formed: (Int, UInt64, [UInt8]) -> Void) {
        var node = (level: 0, index: index, hash: leafHash)
        while let last = stack.last, last.level == node.level {
            stack.removeLast()
            node = (last.level + 1, last.index >> 1, hasher.hashChildren(last.hash, node.hash))
            formed(node.level, node.index, node.hash)
        }
        stack.append(node)
    }
}
