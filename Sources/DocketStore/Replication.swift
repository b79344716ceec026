import CLMDB
public import DocketCore
import Foundation
import Synchronization

// Replication in the store: a leader reads its records as stored, with the dictionaries they
// name and the chain hash of the last one; a follower checks them against its own chain and
// stores them byte for byte, rebuilding its indexes from what the records say
// (Schemas/storage.md §14). Both use the record format's own functions (`RecordFormat`,
// `RecordDecoder`), so nothing here depends on the record or envelope layout.

/// A dictionary as a leader stores it: its version, its exact bytes (what the chain hashes) and
/// its `dict.N.info` text.
public struct ReplicatedDictionary: Sendable, Hashable {
    public var version: UInt16
    public var bytes: [UInt8]
    /// The `dict.N.info` JSON text, if the leader has one.
    public var info: String?

    public init(version: UInt16, bytes: [UInt8], info: String?) {
        self.version = version
        self.bytes = bytes
        self.info = info
    }
}

/// Consecutive records exactly as a leader stores them, the dictionaries a follower may lack,
/// and the leader's chain hash of the last record.
public struct ReplicationBatch: Sendable, Hashable {
    /// The sequence of the first record (for an empty batch: the sequence the next one will have).
    public var first: UInt64
    /// The records, back to back.
    public var bytes: [UInt8]
    /// Where each record ends in `bytes`.
    public var ends: [Int]
    /// Dictionaries to install before the records, in ascending version.
    public var dictionaries: [ReplicatedDictionary]
    /// h(last) on the leader: h(first − 1) for an empty batch.
    public var lastHash: ChainHash

    public init(first: UInt64, bytes: [UInt8], ends: [Int], dictionaries: [ReplicatedDictionary], lastHash: ChainHash) {
        self.first = first
        self.bytes = bytes
        self.ends = ends
        self.dictionaries = dictionaries
        self.lastHash = lastHash
    }

    public var count: Int { ends.count }
    /// The sequence of the last record (first − 1 when empty).
    public var last: UInt64 { first + UInt64(ends.count) - 1 }

    /// The stored bytes of record `i`.
    public func record(_ i: Int) -> ArraySlice<UInt8> { bytes[(i == 0 ? 0 : ends[i - 1])..<ends[i]] }
}

// MARK: - Leader side

extension EventStore {
    /// Records from `sequence` on, as stored, for a follower whose last record hashes to
    /// `previous` and who holds dictionaries up to version `knownDictionaries`: at most
    /// `maxRecords` records and (past the first) `maxBytes` bytes, read in one transaction, with
    /// every stored dictionary newer than `knownDictionaries` (named by these records or not, so
    /// a follower ends up with all of them), and h(last) as this node stored it.
    ///
    /// h(last) comes from the head in metadata or a chain anchor (every 1024 records) of the same
    /// transaction: a batch that would end between anchors, short of the head, ends at the last
    /// anchor in it instead. Only a batch holding no anchor and not reaching the head has its
    /// chain recomputed (from `previous`). The follower recomputes every record's chain anyway.
    public func readReplication(
        from sequence: UInt64, previous: ChainHash, knownDictionaries: UInt16, maxRecords: Int, maxBytes: Int
    ) throws(StoreError) -> ReplicationBatch {
        try read { (txn) throws(StoreError) -> ReplicationBatch in
            var batch = ReplicationBatch(first: sequence, bytes: [], ends: [], dictionaries: [], lastHash: previous)
            var size = 0
            do throws(LMDBError) {
                try txn.withCursor(databases.dicts) { (cursor) throws(LMDBError) in
                    var entry = try cursor.get(.setRange, key: bigEndianBytes(knownDictionaries &+ 1))
                    while let (k, v) = entry, k.count == 2, knownDictionaries < .max {
                        let version = k.loadBigEndianUInt16()
                        if version > knownDictionaries {
                            let info = try txn.get(databases.meta, Array(Meta.dictionaryInfo(version).utf8)).map { String(decoding: $0, as: UTF8.self) }
                            batch.dictionaries.append(ReplicatedDictionary(version: version, bytes: Array(v), info: info))
                            size += v.count
                        }
                        entry = try cursor.get(.next)
                    }
                }.get()
            } catch { throw error.storeError }
            var expected = sequence
            try LogIndex.forEachRecord(in: txn, databases, from: sequence, limit: maxRecords) { (seq, value) throws(StoreError) in
                guard seq == expected else {
                    throw StoreError(.corruptRecord, "this node's log jumps from \(expected - 1) to \(seq); run docket verify", sequence: expected)
                }
                if !batch.ends.isEmpty && size + value.count > maxBytes { return false }
                batch.bytes.append(contentsOf: value)
                batch.ends.append(batch.bytes.count)
                size += value.count
                expected = seq + 1
                return true
            }
            guard !batch.ends.isEmpty else { return batch }
            let head = try Self.committedHead(in: txn, databases)
            var last = batch.last
            if last != head.sequence {
                let anchor = last / Databases.anchorInterval * Databases.anchorInterval
                if anchor >= sequence {
                    // End at the anchor, whose full hash is stored.
                    let keep = Int(anchor - sequence) + 1
                    batch.ends.removeLast(batch.ends.count - keep)
                    batch.bytes.removeLast(batch.bytes.count - batch.ends[keep - 1])
                    last = anchor
                }
            }
            if last == head.sequence {
                batch.lastHash = head.hash
            } else if last % Databases.anchorInterval == 0 {
                let raw: UnsafeRawBufferPointer?
                do throws(LMDBError) { raw = try txn.get(databases.chain, Key.sequence(last)) } catch { throw error.storeError }
                guard let raw, let stored = ChainHash(raw: raw) else {
                    throw StoreError(.corruptRecord, "the chain anchor at \(last) is missing; run docket verify", sequence: last)
                }
                batch.lastHash = stored
            } else {
                batch.lastHash = try rechain(batch, from: previous, txn: txn)
            }
            return batch
        }
    }

    /// The head recorded in metadata, as of `txn`.
    fileprivate static func committedHead(in txn: borrowing Transaction, _ dbs: Databases) throws(StoreError) -> Head {
        guard let v = try Meta.get(Meta.head, in: txn, dbs) else { return Head(sequence: 0, hash: .genesis) }
        guard v.count == 40 else { throw StoreError(.corruptRecord, "the head record in metadata is \(v.count) bytes, not 40") }
        return Head(sequence: v.withUnsafeBytes { $0.loadBigEndianUInt64() }, hash: ChainHash(bytes: Array(v[8..<40])))
    }

    /// h(last) of `batch`, computed from h(first − 1) = `previous`.
    private func rechain(_ batch: ReplicationBatch, from previous: ChainHash, txn: borrowing Transaction) throws(StoreError) -> ChainHash {
        var hash = previous
        var start = 0
        for (i, end) in batch.ends.enumerated() {
            let seq = batch.first + UInt64(i)
            let r = batch.bytes.withUnsafeBytes { raw in
                Result { () throws(StoreError) -> ChainHash in
                    let record = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    let header = try RecordFormat.header(of: record, sequence: seq)
                    let digest = try dictionaryDigest(header.dictionary, sequence: seq, pending: [:], txn: txn)
                    return RecordFormat.chain(previous: hash, sequence: seq, record: record, dictionaryDigest: digest)
                }
            }
            hash = try r.get()
            start = end
        }
        return hash
    }

    /// The chain tags (the first 8 bytes of h(n), stored in each record's header) at `sequences`;
    /// nil for a sequence the log does not hold. Two logs whose tags agree at n agree on every
    /// record up to n, so comparing tags finds where two copies part.
    public func chainTags(at sequences: [UInt64]) throws(StoreError) -> [UInt64?] {
        try read { (txn) throws(StoreError) -> [UInt64?] in
            var out: [UInt64?] = []
            out.reserveCapacity(sequences.count)
            for seq in sequences {
                guard seq > 0, let value = try LogIndex.record(at: seq, in: txn, databases) else {
                    out.append(seq == 0 ? 0 : nil)
                    continue
                }
                out.append(try RecordFormat.header(of: value, sequence: seq).tag)
            }
            return out
        }
    }

    /// The highest dictionary version stored (0 when there is none).
    public func highestDictionaryVersion() throws(StoreError) -> UInt16 {
        try read { (txn) throws(StoreError) -> UInt16 in
            do throws(LMDBError) {
                return try txn.withCursor(databases.dicts) { (cursor) throws(LMDBError) -> UInt16 in
                    guard let (k, _) = try cursor.get(.last), k.count == 2 else { return 0 }
                    return k.loadBigEndianUInt16()
                }.get()
            } catch { throw error.storeError }
        }
    }

    /// The SHA-256 of dictionary `version` (nil for 0), from `pending` or the store.
    fileprivate func dictionaryDigest(
        _ version: UInt16, sequence: UInt64, pending: [UInt16: ZstdDictionary], txn: borrowing Transaction
    ) throws(StoreError) -> ChainHash? {
        guard version != 0 else { return nil }
        if let d = pending[version] { return d.digest }
        guard let d = try dictionaries.dictionary(version, txn: txn) else {
            throw StoreError(
                .corruptRecord, "record \(sequence) names dictionary \(version), which this node does not hold", sequence: sequence)
        }
        return d.digest
    }
}

// MARK: - Follower side

/// A leader's batch, checked against a follower's chain and decoded into index keys, ready for
/// the writer thread. Checking and decoding happen on the caller's thread, so the writer only
/// puts; a follower can prepare the next batch while the writer commits this one.
public struct PreparedReplication: Sendable {
    /// The follower's head the batch was checked against, and the head it leads to.
    public let previous: EventStore.Head
    public let head: EventStore.Head
    let first: UInt64
    let batch: ReplicationBatch
    /// Per record: the `ids` key, back to back in `keys`; its stream and version.
    let keys: [UInt8]
    let keyEnds: [Int]
    let streams: [(stream: StreamName, version: UInt64)]
    /// The last record's recorded-at (recorded times never go backwards along the log).
    let lastRecordedAt: Timestamp?
    let newStreams: UInt64
    let envelopeBytes: UInt64
    /// Chain anchors (every `Databases.anchorInterval` records) and their full hashes.
    let anchors: [(UInt64, ChainHash)]
    let dictionaries: [(ZstdDictionary, ReplicatedDictionary)]

    public var count: Int { batch.count }
}

/// What a follower carries from one batch of a replication stream to the next: the dictionaries
/// of batches prepared but maybe not yet durable (the next batch, prepared while the writer still
/// commits the earlier one, may name them), and the record decoder (its zstd context and string
/// interner are worth keeping when batches are small). One per stream, used by one task at a time.
public struct PendingDictionaries: Sendable {
    var byVersion: [UInt16: ZstdDictionary] = [:]
    let reused = ReusedDecoder()
    public init() {}
}

/// A record decoder kept across the batches of one replication stream.
final class ReusedDecoder: @unchecked Sendable {
    // @unchecked: only the task preparing the stream's batches (one at a time) touches it.
    var decoder: RecordDecoder?
}

extension EventStore.Head: CustomStringConvertible {
    public var description: String { "sequence \(sequence) (hash \(hash.description.prefix(16))…)" }
}

extension EventStore {
    /// The last committed head, as a value a follower carries from batch to batch.
    public var committedHead: Head { committed.value.withLock { $0 } }

    /// Checks `batch` against a log whose head is `after`: it must start right after it, every
    /// record must chain (with the dictionaries it names, stored or in the batch) and decode, and
    /// the last must hash to the leader's `lastHash`. A dictionary the follower already holds
    /// must be byte for byte the leader's. Throws naming the first bad sequence; writes nothing.
    public func prepareReplicated(
        _ batch: ReplicationBatch, after: Head, pending: inout PendingDictionaries
    ) throws(StoreError) -> PreparedReplication {
        guard batch.first == after.sequence + 1 else {
            throw StoreError(
                .corruptRecord,
                "the leader sent records from sequence \(batch.first), but this node's next sequence is \(after.sequence + 1); nothing was written",
                sequence: after.sequence + 1)
        }
        guard batch.ends.last ?? 0 == batch.bytes.count, zip(batch.ends, batch.ends.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw StoreError(.corruptRecord, "the leader's batch from \(batch.first) is malformed; nothing was written", sequence: batch.first)
        }
        let decoder = pending.reused.decoder ?? RecordDecoder(dictionaries: dictionaries)
        pending.reused.decoder = decoder
        decoder.pending = pending.byVersion
        let (fresh, decoded) = try read { (txn) throws(StoreError) -> ([(ZstdDictionary, ReplicatedDictionary)], DecodedBatch) in
            let fresh = try checkDictionaries(batch, decoder: decoder, txn: txn)
            return (fresh, try decodeRecords(batch, after: after, decoder: decoder, txn: txn))
        }
        guard decoded.hash == batch.lastHash else {
            throw StoreError(
                .corruptRecord,
                "the leader's chain hash of record \(batch.last) is not the one its records give (\(decoded.hash.description.prefix(16))…); nothing of this batch was written",
                sequence: batch.last)
        }
        for (z, _) in fresh { pending.byVersion[z.version] = z }
        return PreparedReplication(
            previous: after, head: Head(sequence: batch.last, hash: decoded.hash), first: batch.first, batch: batch, keys: decoded.keys,
            keyEnds: decoded.keyEnds, streams: decoded.streams, lastRecordedAt: decoded.lastRecordedAt, newStreams: decoded.newStreams, envelopeBytes: decoded.envelopeBytes, anchors: decoded.anchors,
            dictionaries: fresh)
    }

    /// The batch's dictionaries this node lacks (a stored one must be the same bytes), made
    /// available to `decoder`.
    private func checkDictionaries(
        _ batch: ReplicationBatch, decoder: RecordDecoder, txn: borrowing Transaction
    ) throws(StoreError) -> [(ZstdDictionary, ReplicatedDictionary)] {
        var fresh: [(ZstdDictionary, ReplicatedDictionary)] = []
        for d in batch.dictionaries {
            guard d.version != 0 else { throw StoreError(.corruptRecord, "the leader sent a dictionary with version 0") }
            if let earlier = decoder.pending[d.version] {
                // Sent with a batch still on its way to the disk.
                guard earlier.bytes == d.bytes else {
                    throw StoreError(.diverged, "the leader sent two different dictionaries \(d.version); nothing was written")
                }
                continue
            }
            let stored: UnsafeRawBufferPointer?
            do throws(LMDBError) { stored = try txn.get(databases.dicts, bigEndianBytes(d.version)) } catch { throw error.storeError }
            if let stored {
                guard stored.elementsEqual(d.bytes) else {
                    throw StoreError(
                        .diverged,
                        "dictionary \(d.version) on this node differs from the leader's: the two copies of the ledger diverged; nothing was written")
                }
                continue
            }
            let z = try ZstdDictionary(version: d.version, bytes: d.bytes, level: configuration.compressionLevel)
            decoder.pending[d.version] = z
            fresh.append((z, d))
        }
        return fresh
    }

    /// Chains and decodes every record of `batch` from `after`.
    private func decodeRecords(
        _ batch: ReplicationBatch, after: Head, decoder: RecordDecoder, txn: borrowing Transaction
    ) throws(StoreError) -> DecodedBatch {
        var out = DecodedBatch(hash: after.hash)
        out.keys.reserveCapacity(batch.count * 17)
        out.keyEnds.reserveCapacity(batch.count)
        out.streams.reserveCapacity(batch.count)
        // Consecutive records nearly always name the same dictionary: look its digest up once.
        var digest = (version: UInt16(0), value: ChainHash?.none)
        var start = 0
        for (i, end) in batch.ends.enumerated() {
            let seq = batch.first + UInt64(i)
            let result = batch.bytes.withUnsafeBytes { raw in
                decodeRecord(UnsafeRawBufferPointer(rebasing: raw[start..<end]), sequence: seq, into: &out, digest: &digest, decoder: decoder, txn: txn)
            }
            try result.get()
            start = end
        }
        return out
    }

    /// Checks one record's chain tag and decodes its envelope into the batch's index keys.
    private func decodeRecord(
        _ record: UnsafeRawBufferPointer, sequence seq: UInt64, into out: inout DecodedBatch, digest: inout (version: UInt16, value: ChainHash?),
        decoder: RecordDecoder, txn: borrowing Transaction
    ) -> Result<Void, StoreError> {
        do throws(StoreError) {
            let header = try RecordFormat.header(of: record, sequence: seq)
            if header.dictionary != digest.version {
                digest = (header.dictionary, try dictionaryDigest(header.dictionary, sequence: seq, pending: decoder.pending, txn: txn))
            }
            let hash = RecordFormat.chain(previous: out.hash, sequence: seq, record: record, dictionaryDigest: digest.value)
            guard hash.tag == header.tag else {
                throw StoreError(
                    .corruptRecord,
                    "record \(seq) from the leader does not chain onto this node's log: it was altered on the way or the leader's copy is damaged; nothing of this batch was written",
                    sequence: seq)
            }
            // The store's own decoder, whatever the record and envelope formats are.
            let event = try decoder.decode(record, sequence: seq, txn: txn)
            out.hash = hash
            out.streams.append((event.stream, event.streamVersion))
            out.keys.append(contentsOf: Key.id(event.id))
            out.keyEnds.append(out.keys.count)
            out.lastRecordedAt = event.recordedAt
            if event.streamVersion == 1 { out.newStreams += 1 }
            out.envelopeBytes += UInt64(decoder.lastEnvelopeSize)
            if seq % Databases.anchorInterval == 0 { out.anchors.append((seq, hash)) }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Hands a prepared batch to the writer thread; `completion` runs there once it is durable
    /// (or failed, having written nothing). Batches are written in the order they are submitted.
    public func submitReplicated(
        _ prepared: PreparedReplication, completion: @escaping @Sendable (Result<Head, StoreError>) -> Void
    ) {
        guard let writer else {
            completion(.failure(StoreError(.readOnly, "the store at \(directory) is open read-only")))
            return
        }
        writer.submit(ReplicationJob(prepared: prepared, completion: completion))
    }

    /// Checks `batch` against the committed head and stores it; returns the new head once durable.
    @discardableResult
    public func appendReplicated(_ batch: ReplicationBatch) async throws(StoreError) -> Head {
        var pending = PendingDictionaries()
        let prepared = try prepareReplicated(batch, after: committedHead, pending: &pending)
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Head, StoreError>, Never>) in
            submitReplicated(prepared) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }
}

/// What decoding a batch gives the writer.
struct DecodedBatch {
    var hash: ChainHash
    /// The `ids` key of every record, back to back in `keys`.
    var keys: [UInt8] = []
    var keyEnds: [Int] = []
    /// Every record's stream and version, for the writer's stream index.
    var streams: [(stream: StreamName, version: UInt64)] = []
    var lastRecordedAt: Timestamp?
    var newStreams: UInt64 = 0
    var envelopeBytes: UInt64 = 0
    var anchors: [(UInt64, ChainHash)] = []
}

/// The writer thread's state that replicated records change (LogWriter copies it in and out).
struct ReplicaWriterState {
    var head: EventStore.Head
    var streamCount: UInt64
    var rawBytes: UInt64
    var recordBytes: UInt64
    var dictionary: ZstdDictionary?
    var installed: [ZstdDictionary] = []
    var installedInfo: DictionaryInfo?
    /// Stream-index entries of the records written, in sequence order, for the writer's memtable.
    var streamEntries: [(stream: StreamName, entry: StreamMemtable.Entry)] = []
}

/// One prepared batch on its way through the writer.
final class ReplicationJob: Sendable {
    let prepared: PreparedReplication
    private let completion: @Sendable (Result<EventStore.Head, StoreError>) -> Void

    init(prepared: PreparedReplication, completion: @escaping @Sendable (Result<EventStore.Head, StoreError>) -> Void) {
        self.prepared = prepared
        self.completion = completion
    }

    func complete(_ result: Result<EventStore.Head, StoreError>) { completion(result) }

    static func indexConflict(_ seq: UInt64) -> StoreError {
        StoreError(
            .corruptRecord,
            "record \(seq) from the leader repeats an event id already recorded: the leader's log is inconsistent (run docket verify there); nothing was written",
            sequence: seq)
    }

    /// Writes the batch in the writer's transaction. A batch prepared against another head (an
    /// earlier one failed) writes nothing; an index key that already exists fails the whole
    /// transaction (thrown), since its records are already in it.
    func apply(txn: borrowing Transaction, databases: Databases, state: inout ReplicaWriterState) throws -> Result<EventStore.Head, StoreError> {
        let p = prepared
        guard p.previous.sequence == state.head.sequence, p.previous.hash == state.head.hash else {
            return .failure(
                StoreError(
                    .corruptRecord,
                    "records from the leader follow \(p.previous.description), but this node's head is \(state.head.description); nothing of them was written",
                    sequence: state.head.sequence + 1))
        }
        for (z, d) in p.dictionaries {
            try txn.put(
                databases.dicts, key: bigEndianBytes(d.version)[...], value: d.bytes[...], flags: MDB_NOOVERWRITE,
                orElse: StoreError(.diverged, "dictionary \(d.version) appeared on this node while following; nothing was written"))
            if let info = d.info { try Meta.put(Meta.dictionaryInfo(d.version), Array(info.utf8), in: txn, databases) }
            if d.version > state.dictionary?.version ?? 0 {
                try Meta.put(Meta.currentDictionary, bigEndianBytes(d.version), in: txn, databases)
                state.dictionary = z
                state.installedInfo = d.info.flatMap(DictionaryInfo.init(json:))
            }
            state.installed.append(z)
        }
        guard p.count > 0 else { return .success(state.head) }
        let raw = p.batch.bytes
        var start = 0
        for i in 0..<p.count {
            let seq = p.first + UInt64(i)
            let key = Key.sequence(seq)[...]
            let end = p.batch.ends[i]
            try txn.put(
                databases.log, key: key, value: raw[start..<end], flags: MDB_APPEND,
                orElse: StoreError(.corruptRecord, "record \(seq) from the leader is not past this node's last record; nothing was written", sequence: seq))
            try txn.put(
                databases.ids, key: p.keys[(i == 0 ? 0 : p.keyEnds[i - 1])..<p.keyEnds[i]], value: key, flags: MDB_NOOVERWRITE,
                orElse: Self.indexConflict(seq))
            // The writer indexes streams itself (its memtable, flushed to `streams` in bulk).
            state.streamEntries.append((p.streams[i].stream, StreamMemtable.Entry(version: p.streams[i].version, sequence: seq)))
            start = end
        }
        for (seq, hash) in p.anchors { try txn.put(databases.chain, Key.sequence(seq), hash.bytes) }
        state.streamCount += p.newStreams
        state.rawBytes += p.envelopeBytes
        state.recordBytes += UInt64(raw.count)
        state.head = p.head
        return .success(p.head)
    }
}

extension Transaction {
    /// Puts, throwing `conflict` (a `StoreError`) when the key exists and LMDB's error otherwise.
    fileprivate func put(
        _ dbi: MDB_dbi, key: ArraySlice<UInt8>, value: ArraySlice<UInt8>, flags: Int32, orElse conflict: @autoclosure () -> StoreError
    ) throws {
        let r = key.withUnsafeBytes { k in value.withUnsafeBytes { v in Result { () throws(LMDBError) in try put(dbi, k, v, flags: flags) } } }
        switch r {
        case .success: return
        case .failure(let e) where e.code == MDB_KEYEXIST: throw conflict()
        case .failure(let e): throw e
        }
    }
}

// MARK: - The node's role

/// What a node is in its ledger's replication, kept in `DATA_DIR/replication.json`
/// (Schemas/storage.md §14): the leader (the file is absent for a ledger's first node), a
/// follower of a leader, or a leader deposed by a higher epoch. Followers and deposed leaders
/// refuse writes however the directory is opened, and never train dictionaries.
public struct NodeState: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        case leader, follower, fenced
    }

    public var role: Role
    /// This node's id (random, made when the file is first written): epochs name the node that
    /// started them.
    public var node: String?
    /// A follower's leader; for a deposed leader, the new leader when known. `HOST:PORT`.
    public var leader: String?
    /// For a deposed leader: the epoch that deposed it.
    public var epoch: UInt64?
    /// For a leader promoted over a previous one: the epoch (its own) that the previous leader has
    /// answered it knows of (`EventStore.recordPreviousLeaderTold`). Until then a node that cannot
    /// tell it says so as it starts; after, it need not.
    public var told: UInt64?

    public init(role: Role, node: String? = nil, leader: String? = nil, epoch: UInt64? = nil, told: UInt64? = nil) {
        self.role = role
        self.node = node
        self.leader = leader
        self.epoch = epoch
        self.told = told
    }

    static let fileName = "replication.json"

    /// The state in `directory` (a leader's when there is no file).
    public static func load(directory: String) throws(StoreError) -> NodeState {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return NodeState(role: .leader) }
        func refuse(_ why: String) -> StoreError {
            StoreError(.notADataDirectory, "\(path) is not a replication state Docket wrote (\(why)); fix or remove it")
        }
        guard let v = try? JSON.parse(String(decoding: data, as: UTF8.self)), case .object = v else { throw refuse("not a JSON object") }
        guard let role = v["role"]?.stringValue.flatMap(Role.init(rawValue:)) else {
            throw refuse("\"role\" must be \"leader\", \"follower\" or \"fenced\"")
        }
        // A member of the wrong type is refused rather than read as absent: an epoch read as none
        // would let a deposed leader name no epoch, a leader read as none would follow no one.
        func string(_ key: String) throws(StoreError) -> String? {
            guard let member = v[key] else { return nil }
            guard let s = member.stringValue, !s.isEmpty else { throw refuse("\"\(key)\" must be a non-empty string") }
            return s
        }
        func number(_ key: String) throws(StoreError) -> UInt64? {
            switch v[key] {
            case nil: return nil
            case .int(let n)? where n >= 0: return UInt64(n)
            default: throw refuse("\"\(key)\" must be a whole number, 0 or more")
            }
        }
        return NodeState(role: role, node: try string("node"), leader: try string("leader"), epoch: try number("epoch"), told: try number("told"))
    }

    var json: String {
        var members: [(key: String, value: Value)] = [("role", .string(role.rawValue))]
        if let node { members.append(("node", .string(node))) }
        if let leader { members.append(("leader", .string(leader))) }
        if let epoch { members.append(("epoch", .int(Int64(epoch)))) }
        if let told { members.append(("told", .int(Int64(told)))) }
        return JSON.serialize(.object(members)) + "\n"
    }

    /// Writes the file durably (a temporary file, fsync, rename, fsync of the directory).
    func save(directory: String) throws(StoreError) {
        try writeFileAtomically(Array(json.utf8), to: directory + "/" + Self.fileName, mode: 0o600, durable: true)
    }

    /// What a write on a node in this state is answered with; nil for a leader.
    public var refusal: StoreError? {
        switch role {
        case .leader:
            return nil
        case .follower:
            return StoreError(
                .notLeader,
                "this node follows \(leader ?? "a leader") and takes no writes of its own; send writes to the leader", leader: leader)
        case .fenced:
            return StoreError(
                .fenced,
                "this node was the leader until epoch \(epoch ?? 0) began\(leader.map { " at \($0)" } ?? " on another node"); it takes no more writes — send them to the new leader",
                leader: leader, epoch: epoch)
        }
    }
}

/// The refusal every write gets while the node must not write on its own.
final class WriteFence: Sendable {
    private struct State {
        var node = NodeState(role: .leader)
        var refusal: StoreError?
        /// While a promotion claims the lead: the one stream it writes (its epoch's record, the
        /// new epoch's first write); every other write waits for it to be recorded.
        var onlyStream: StreamName?
    }
    private let state = Mutex(State())
    static let promoting = StoreError(.notLeader, "this node is becoming the leader right now; retry in a moment")
    var refusal: StoreError? { state.withLock { $0.onlyStream != nil ? Self.promoting : $0.refusal } }
    /// The refusal an append to `stream` gets.
    func refusal(for stream: StreamName) -> StoreError? {
        state.withLock { s in s.onlyStream.map { $0 == stream ? s.refusal : Self.promoting } ?? s.refusal }
    }
    var nodeState: NodeState { state.withLock { $0.node } }
    func set(_ s: NodeState) {
        state.withLock {
            $0.node = s
            $0.refusal = s.refusal
        }
    }
    /// Claims the lead for appends to `stream` alone; false while another claim holds it.
    func claim(_ stream: StreamName) -> Bool {
        state.withLock { s in
            guard s.onlyStream == nil else { return false }
            s.onlyStream = stream
            return true
        }
    }
    func release() { state.withLock { $0.onlyStream = nil } }

    /// Held while the state is written to its file and applied (`EventStore.saveNodeState`,
    /// `recordPreviousLeaderTold`): one change at a time, each reading the state the last one left,
    /// without holding up the appends that read the fence meanwhile.
    let saving = Mutex(())
}

extension EventStore {
    /// This node's role in replication (from `DATA_DIR/replication.json`).
    public var nodeState: NodeState { writeFence.nodeState }

    /// Runs `body` (a promotion: checking the role, recording it, then appending its epoch's
    /// record to `stream`) with every append to another stream refused, so that the record is
    /// the new epoch's first write and the head it names is the old epoch's last. One claim at a
    /// time: nil, and `body` not run, while another holds it (two promotions at once).
    public func claimingLeadership<T>(writingOnly stream: StreamName, _ body: () async throws -> T) async rethrows -> T? {
        guard writeFence.claim(stream) else { return nil }
        defer { writeFence.release() }
        return try await body()
    }

    /// Records the node's role durably, then applies it: followers and deposed leaders refuse
    /// writes and stop training dictionaries; a leader takes writes again.
    public func saveNodeState(_ state: NodeState) throws(StoreError) {
        try writeFence.saving.withLock { _ throws(StoreError) in try save(state) }
    }

    private func save(_ state: NodeState) throws(StoreError) {
        var state = state
        if state.node == nil {
            var g = SystemRandomNumberGenerator()
            state.node = Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255, using: &g) })
        }
        // (Only a leader's record says whether its previous leader knows of its epoch.)
        if state.role != .leader { state.told = nil }
        // Taking fewer writes (following, or deposed) holds in memory even if it cannot be
        // recorded; taking them (leading) only once it is recorded.
        if state.role != .leader { try applyNodeState(state) }
        try state.save(directory: directory)
        if state.role == .leader { try applyNodeState(state) }
    }

    /// Records that the previous leader has heard of `epoch`, which this node, promoted over it,
    /// leads (it answered a fence, or had rejoined as a follower). Nothing on a node that no
    /// longer leads: read and written under the lock every change of the state takes, so a node
    /// deposed meanwhile is never written back as a leader.
    public func recordPreviousLeaderTold(epoch: UInt64) throws(StoreError) {
        try writeFence.saving.withLock { _ throws(StoreError) in
            var state = nodeState
            guard state.role == .leader, state.told != epoch else { return }
            state.told = epoch
            try save(state)
        }
    }

    func applyNodeState(_ state: NodeState) throws(StoreError) {
        writeFence.set(state)
        writer?.replicaMode.store(state.role != .leader, ordering: .releasing)
    }
}

/// Whoever wants to hear of commits as they happen (a leader's replication streams).
final class CommitObservers: Sendable {
    private let observers = Mutex<[@Sendable (EventStore.Head) -> Void]>([])
    func add(_ body: @escaping @Sendable (EventStore.Head) -> Void) { observers.withLock { $0.append(body) } }
    func notify(_ head: EventStore.Head) {
        for o in observers.withLock({ $0 }) { o(head) }
    }
}

extension EventStore {
    /// Calls `body` with the new head after every durable commit, on the writer thread and before
    /// the appends in it resume: it must be quick and must not block (a leader uses it to wake
    /// its replication streams without waiting for the appending tasks to run).
    public func observeCommits(_ body: @escaping @Sendable (Head) -> Void) {
        commitObservers.add(body)
    }

    /// Whether `text` is a ledger id (32 lowercase hex digits).
    public static func isLedgerID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
