import Crypto
public import DocketCore
public import DocketStore
import DocketWire
import Foundation
import Synchronization

/// The node's forensic state: its signing key (`DATA_DIR/node.key`, loaded on first use), its
/// Merkle index (`DATA_DIR/merkle/`, opened on first use) and the lock that keeps checkpoints in
/// order. One per `Ledger`; the local CLI and the server use it alike.
public final class Notary: Sendable {
    let store: EventStore
    let dataDir: String?
    private let index = Mutex<MerkleIndex?>(nil)
    private let key = Mutex<NodeKey?>(nil)
    private let writing = AsyncLock()

    init(store: EventStore, dataDir: String?) {
        self.store = store
        self.dataDir = dataDir
    }

    /// Where the node key lives; nil without a data directory.
    public var keyPath: String? { dataDir.map { $0 + "/node.key" } }

    /// The node key, loaded once. `no-node-key` when the data directory has none.
    public func nodeKey() throws -> NodeKey {
        if let k = key.withLock({ $0 }) { return k }
        guard let keyPath, FileManager.default.fileExists(atPath: keyPath) else {
            // Not the key's path: this message reaches remote clients, reporters asking for receipts included.
            throw ForensicError(.noNodeKey, "this node has no signing key; create one with `docket key create` on its data directory")
        }
        let loaded = try NodeKey.load(from: keyPath)
        key.withLock { $0 = loaded }
        return loaded
    }

    /// The Merkle index of the log, opened once.
    public func merkleIndex() throws -> MerkleIndex {
        try index.withLock { (i: inout MerkleIndex?) throws -> MerkleIndex in
            if let i { return i }
            let opened = try MerkleIndex.open(dataDirectory: dataDir, store: store)
            i = opened
            return opened
        }
    }

    /// The Merkle index, caught up to the log's head on a thread of its own. Catching up hashes
    /// every record the index does not cover yet: the whole log on its first use, or after
    /// `DATA_DIR/merkle` was deleted, which takes seconds on a large log and would hold one of
    /// the few threads Swift's concurrency shares among every connection for as long.
    /// Catching up is done by one thread at a time, for every caller waiting then.
    public func caughtUpIndex() async throws -> MerkleIndex {
        let index = try merkleIndex()
        if try index.covers(store.head.sequence) { return index }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let start = catchingUp.withLock { r -> Bool in
                r.waiters.append(c)
                defer { r.running = true }
                return !r.running
            }
            if start { Thread.detachNewThread { [self] in catchUp(index) } }
        }
        return index
    }

    /// Callers waiting for the index to catch up, and whether a thread is doing it.
    private let catchingUp = Mutex<(running: Bool, waiters: [CheckedContinuation<Void, any Error>])>((false, []))

    /// On a thread of its own: catches the index up to the head for the callers waiting, again
    /// while more came meanwhile, then ends.
    private func catchUp(_ index: MerkleIndex) {
        while true {
            let waiters = catchingUp.withLock { r -> [CheckedContinuation<Void, any Error>] in
                if r.waiters.isEmpty { r.running = false }
                defer { r.waiters.removeAll() }
                return r.waiters
            }
            if waiters.isEmpty { return }
            // The head now is at or past the one each of them saw: one catch-up does for all.
            let result = Result { () throws(StoreError) in try index.catchUp(to: store.head.sequence) }.mapError { $0 as any Error }
            for w in waiters { w.resume(with: result) }
        }
    }

    /// Runs `body`, blocking work over the whole log, on a thread of its own (see `caughtUpIndex`).
    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            Thread.detachNewThread { c.resume(with: Result { try body() }) }
        }
    }

    /// Signs and records a checkpoint over every record now in the log; one at a time, so each
    /// extends the one before.
    public func checkpoint(actor: String) async throws -> Checkpoints.Checkpoint {
        // A follower signs nothing of its own: say so before asking for a key it does not need.
        if let refusal = store.writeRefusal { throw refusal }
        let key = try nodeKey()
        let index = try await caughtUpIndex()
        return try await writing.run { try await Checkpoints.write(store: store, key: key, actor: actor, index: index) }
    }

    /// The latest checkpoint signed by the node's key (by any key, when the node has none: a
    /// copy of a data directory without its key).
    public func latestCheckpoint() throws -> Checkpoints.Checkpoint? {
        let publicKey = (try? nodeKey()).map { Array($0.key.publicKey.rawRepresentation) }
        return try Checkpoints.latest(in: store, signedBy: publicKey)
    }
}

/// Mutual exclusion across suspension points (an actor would let a second checkpoint start while
/// the first awaits its append). Waiters are served in order.
final class AsyncLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func run<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                if s.held {
                    s.waiters.append(c)
                    return false
                }
                s.held = true
                return true
            }
            if acquired { c.resume() }
        }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if s.waiters.isEmpty {
                    s.held = false
                    return nil
                }
                return s.waiters.removeFirst()  // the lock passes to it, still held
            }
            next?.resume()
        }
        return try await body()
    }
}

// MARK: - The forensic requests, with their permissions

extension Ledger {
    /// ADMIN actions served by the notary (Schemas/protocol.md §8.8).
    public static let forensicActions: Set<String> = ["checkpoint", "receipt", "proof", "node-key"]

    /// Runs one forensic ADMIN action as `principal`; the value is the ADMIN_RESULT body.
    public func forensic(_ action: String, _ body: Value, as principal: Principal) async throws -> Value {
        let b = try Body(body, "ADMIN \(action)")
        switch action {
        case "node-key":
            return .object([("ledger", .string(store.ledgerID)), ("publicKey", .string(try notary.nodeKey().publicKeyHex))])
        case "checkpoint":
            return try await checkpoint(as: principal).wireValue
        case "receipt":
            return try receipt(sequence: try sequenceArgument(b), as: principal).wireValue
        case "proof":
            let leafHash = try b.optionalString("leafHash").map { text throws(MessageError) -> [UInt8] in
                guard let h = Hex.decode(text), h.count == 32 else { throw MessageError("ADMIN proof: \"leafHash\" must be 64 hex digits") }
                return h
            }
            let sequence = try sequenceArgument(b)
            let from = try b.optionalInt("consistencyFrom")
            if let from, from < 1 { throw MessageError("ADMIN proof: \"consistencyFrom\" must be a checkpoint size from 1") }
            let fromRoot = try b.optionalString("consistencyRoot").map { text throws(MessageError) -> [UInt8] in
                guard let h = Hex.decode(text), h.count == 32 else { throw MessageError("ADMIN proof: \"consistencyRoot\" must be 64 hex digits") }
                return h
            }
            if fromRoot != nil && from == nil { throw MessageError("ADMIN proof: \"consistencyRoot\" goes with \"consistencyFrom\"") }
            let (checkpoint, path) = try await inclusion(
                sequence: sequence, leafHash: leafHash, ledger: try b.optionalString("ledger"),
                extending: from.map { (UInt64($0), fromRoot) }, newCheckpoint: try b.optionalBool("newCheckpoint") ?? false, as: principal)
            var answer: [(key: String, value: Value)] = [
                ("seq", .int(Int64(sequence))), ("checkpoint", checkpoint.wireValue),
                ("auditPath", .array(path.map { .string(Hex.encode($0)) })),
            ]
            if let from {
                let proof = try consistency(from: UInt64(from), to: checkpoint)
                answer.append(("consistency", .array(proof.map { .string(Hex.encode($0)) })))
            }
            return .object(answer)
        default:
            throw MessageError("ADMIN: unknown action \"\(action)\"")
        }
    }

    private func sequenceArgument(_ b: Body) throws -> UInt64 {
        let n = try b.int("seq")
        guard n >= 1 else { throw MessageError("ADMIN: \"seq\" must be a sequence number from 1") }
        return UInt64(n)
    }

    /// Signs a checkpoint now (admins only).
    public func checkpoint(as principal: Principal) async throws -> Checkpoints.Checkpoint {
        guard principal.role == .admin else { throw Forbidden("only an admin can have the node sign a checkpoint") }
        return try await notary.checkpoint(actor: principal.subject)
    }

    /// A signed receipt for the record at `sequence`, if the principal may see it.
    public func receipt(sequence: UInt64, as principal: Principal) throws -> Receipt {
        let key = try notary.nodeKey()
        _ = try visibleRecord(sequence, as: principal)
        return try Receipt.issue(store: store, key: key, sequence: sequence)
    }

    /// The latest signed checkpoint that covers record `sequence` (after signing a new one first,
    /// when asked, as an admin) and the record's audit path to its root. When `leafHash` or
    /// `ledger` are given (from a receipt) they must be this node's, else `receipt-mismatch`.
    ///
    /// `extending` is the size and root of the checkpoint a receipt already holds: a log that is
    /// shorter, or whose first `size` records hash to another root, is `receipt-mismatch` before
    /// anything is signed (the client checks the consistency proof itself all the same).
    public func inclusion(
        sequence: UInt64, leafHash: [UInt8]?, ledger: String?, extending earlier: (size: UInt64, root: [UInt8]?)? = nil, newCheckpoint: Bool,
        as principal: Principal
    ) async throws -> (Checkpoints.Checkpoint, [[UInt8]]) {
        if let ledger, ledger != store.ledgerID {
            throw ForensicError(.receiptMismatch, "the receipt is for ledger \(ledger); this node holds ledger \(store.ledgerID)")
        }
        _ = try visibleRecord(sequence, as: principal)
        let index = try await notary.caughtUpIndex()
        if let leafHash {
            let held = try index.leafHash(sequence: sequence)
            guard held == leafHash else {
                throw ForensicError(
                    .receiptMismatch,
                    "this node's record \(sequence) has leaf hash \(Hex.encode(held)), not the receipt's \(Hex.encode(leafHash)): the receipt does not describe this node's log")
            }
        }
        if let earlier {
            if principal.role == .reporter {
                // Not told the head (STATUS leaves it out for them), nor able to probe for it here:
                // what they prove against is bounded by the latest checkpoint, which they are shown.
                let signed = try notary.latestCheckpoint()?.size ?? 0
                guard earlier.size <= signed else {
                    throw ForensicError(
                        .noCheckpoint,
                        "the receipt was proven against a checkpoint of records 1–\(earlier.size), and this node's latest signed checkpoint covers \(signed == 0 ? "none" : "only 1–\(signed)"): wait for its next checkpoint, or ask an admin to sign one, and prove again")
                }
            }
            guard earlier.size <= store.head.sequence else { throw Self.olderThan(earlier.size, head: store.head.sequence) }
            if let root = earlier.root, try index.root(size: earlier.size) != root {
                // The index is derived data: for an admin, whose request may cost a pass over the
                // log, the records themselves say whether it is the index that is wrong.
                if principal.role == .admin, try await Notary.onOwnThread({ try index.root(size: earlier.size, trustingNodesThrough: 0) }) == root {
                    throw ForensicError(
                        .inconsistentLog,
                        "this node's Merkle index is damaged (its records 1–\(earlier.size) do hash to the receipt's checkpoint root, its index does not): stop the node, delete DATA_DIR/merkle (derived data, rebuilt from the log) and prove again")
                }
                throw ForensicError(
                    .receiptMismatch,
                    "the receipt was proven against a checkpoint of records 1–\(earlier.size) (root \(Hex.encode(root).prefix(16))…), and this node's records 1–\(earlier.size) hash to another root: its log does not extend that checkpoint (it was rewritten since, or is another fork\(principal.role == .admin ? "" : "; or the node's Merkle index is damaged, which an admin's proof would tell")\(newCheckpoint ? "; nothing was signed" : "")")
            }
        }
        if newCheckpoint { _ = try await checkpoint(as: principal) }
        guard let checkpoint = try notary.latestCheckpoint() else {
            throw ForensicError(.noCheckpoint, "this node has signed no checkpoint yet; an admin can run `docket checkpoint`")
        }
        guard checkpoint.size >= sequence else {
            throw ForensicError(
                .noCheckpoint,
                "no signed checkpoint covers record \(sequence) yet (the latest, at sequence \(checkpoint.sequence), covers records 1–\(checkpoint.size)); wait for the node's next checkpoint or ask an admin to run `docket checkpoint`")
        }
        let path = try index.inclusionProof(sequence: sequence, size: checkpoint.size)
        try await checkPath(path, sequence: sequence, checkpoint: checkpoint, index: index, as: principal)
        return (checkpoint, path)
    }

    /// The audit path the index gave leads from the record to the checkpoint's root, or the node
    /// says why it does not, rather than hand out a proof that fails as if the log were forged:
    /// for an admin, the records themselves tell a damaged index (derived data, rebuilt once
    /// deleted) from a log that no longer holds what the checkpoint signed.
    private func checkPath(
        _ path: [[UInt8]], sequence: UInt64, checkpoint: Checkpoints.Checkpoint, index: MerkleIndex, as principal: Principal
    ) async throws {
        let leaf = try index.leafHash(sequence: sequence)
        do throws(MerkleError) {
            try MerkleProof.verifyInclusion(
                index: sequence - 1, size: checkpoint.size, leafHash: leaf, proof: path, root: checkpoint.root, hasher: SHA256MerkleHasher())
            return
        } catch {}
        guard principal.role == .admin else {
            throw ForensicError(
                .inconsistentLog,
                "this node's proof of record \(sequence) does not lead to its checkpoint's root: its Merkle index is damaged, or its log no longer holds what the checkpoint signed; an admin's proof, or docket verify, tells which")
        }
        if try await Notary.onOwnThread({ try index.root(size: checkpoint.size, trustingNodesThrough: 0) }) == checkpoint.root {
            throw ForensicError(
                .inconsistentLog,
                "this node's Merkle index is damaged (its records 1–\(checkpoint.size) do hash to the checkpoint's root, its index does not): stop the node, delete DATA_DIR/merkle (derived data, rebuilt from the log) and prove again")
        }
        throw ForensicError(
            .inconsistentLog,
            "this node's records 1–\(checkpoint.size) no longer hash to the root its checkpoint at sequence \(checkpoint.sequence) signed: its log was changed; run docket verify, and restore it from a replica or a copy")
    }

    /// The consistency proof from the tree of the first `size` records (a checkpoint a receipt was
    /// proven against before) to `checkpoint`'s: what shows that this node's log extends the one
    /// that earlier checkpoint signed. A log now shorter than that (rolled back, or a copy taken
    /// before it) cannot: `receipt-mismatch`.
    public func consistency(from size: UInt64, to checkpoint: Checkpoints.Checkpoint) throws -> [[UInt8]] {
        guard size <= store.head.sequence else { throw Self.olderThan(size, head: store.head.sequence) }
        guard size <= checkpoint.size else {
            // (A checkpoint signed by another node's key, after a failover, or one this node has
            // not signed yet: its log holds the records, its own checkpoint does not cover them.)
            throw ForensicError(
                .noCheckpoint,
                "the receipt was proven against a checkpoint of records 1–\(size), and this node's latest covers only 1–\(checkpoint.size) (its log holds 1–\(store.head.sequence)): have it sign a new checkpoint (--new-checkpoint) and prove again")
        }
        return size == checkpoint.size ? [] : try notary.merkleIndex().consistencyProof(from: size, to: checkpoint.size)
    }

    /// A log of `head` records, asked to extend a checkpoint of `size` > `head`.
    private static func olderThan(_ size: UInt64, head: UInt64) -> ForensicError {
        ForensicError(
            .receiptMismatch,
            "the receipt was proven against a checkpoint of records 1–\(size), and this node's log holds only 1–\(head): it is older than that checkpoint, or was rolled back since")
    }

    /// The event at `sequence` if `principal` may have a receipt or proof for it: anything for
    /// admins, auditors and replicas (they read the raw log); a maintainer's project's events; for
    /// a reporter, the events of their own reports that they recorded or that their history shows
    /// (an acknowledgement, an extension, the advisory: what the project did, which they may want
    /// to prove). Others are answered as if the node did not hold the record, so neither
    /// existence nor volume leaks. (A receipt names the event's type, stream, version and id,
    /// which that history shows, and hashes of the stored record: compressed with the node's
    /// dictionary, which a reporter does not hold, it confirms no guess of a field their history
    /// leaves out, such as the assignee.)
    func visibleRecord(_ sequence: UInt64, as principal: Principal) throws -> RecordedEvent {
        let readsLog = [.admin, .auditor, .replica].contains(principal.role)
        let hidden = ForensicError(
            .notHeld,
            readsLog
                ? "this node holds no record \(sequence): its log ends at \(store.head.sequence)"
                : "this node holds no record \(sequence) that this token may see")
        guard sequence >= 1, let event = try store.event(at: sequence) else { throw hidden }
        if readsLog { return event }
        let stream = event.stream.rawValue
        if let id = DomainStreams.key(of: stream, after: DomainStreams.reportPrefix) {
            // From its submission, not its whole history: refused as quickly as a record not held.
            guard let report = try submission(of: id), principal.canSee(report) else { throw hidden }
            if principal.role == .reporter, event.actor != principal.subject, !ViewRenderer.reporterSees(event, subject: principal.subject) { throw hidden }
            return event
        }
        if let name = DomainStreams.key(of: stream, after: DomainStreams.projectPrefix), principal.role == .maintainer, principal.maintains(name) {
            return event
        }
        throw hidden
    }
}
