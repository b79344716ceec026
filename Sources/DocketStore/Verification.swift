import DocketCore
import Foundation

/// What `verify` found.
public struct VerificationReport: Sendable {
    /// Records checked, from sequence 1.
    public var records: UInt64
    /// Chain anchors (full hashes kept every 1024 records) that matched.
    public var anchorsChecked: Int
    /// The recomputed chain hash of the last record.
    public var headHash: ChainHash
    /// The first problem, if any. Verification stops there: later records cannot be trusted
    /// to chain from a bad one.
    public var failure: Failure?

    public struct Failure: Sendable, CustomStringConvertible {
        /// The first sequence at which the log does not hold: a record that fails its checks, the
        /// first missing one, or — when the head in metadata disagrees with an intact chain —
        /// the first record past the recorded head (or the last record, if only the hash
        /// differs). 0 when the damage is in an index rather than at a record.
        public var sequence: UInt64
        public var reason: String
        public var description: String { "sequence \(sequence): \(reason)" }
    }

    public var isIntact: Bool { failure == nil }
}

extension EventStore {
    /// Walks the whole log: contiguous sequences from 1, every record's header, chain tag and
    /// envelope, the full-hash anchors, the stream and id indexes, and the head in metadata.
    ///
    /// Reads only; safe on a read-only copy of a data directory. `progress` is called every
    /// 65,536 records with the sequence reached.
    public func verify(progress: ((UInt64) -> Void)? = nil) throws(StoreError) -> VerificationReport {
        var report = VerificationReport(records: 0, anchorsChecked: 0, headHash: .genesis, failure: nil)
        var previous = ChainHash.genesis
        var expected: UInt64 = 1
        let decoder = RecordDecoder(dictionaries: dictionaries)
        var done = false
        // One consistent view of what the walk checks against (a running node keeps appending
        // and moving stream entries into `streams` while the walk's short transactions go by):
        // the recorded head, the last record, how far `streams` is complete, the index sizes.
        let snapshot = try read { (txn) throws(StoreError) -> (head: Head, last: UInt64, indexedThrough: UInt64, streams: Int, ids: Int) in
            var head = Head(sequence: 0, hash: .genesis)
            if let v = try Meta.get(Meta.head, in: txn, databases) {
                guard v.count == 40 else { throw StoreError(.corruptRecord, "the head record in metadata is \(v.count) bytes, not 40") }
                head = Head(sequence: v.withUnsafeBytes { $0.loadBigEndianUInt64() }, hash: ChainHash(bytes: Array(v[8..<40])))
            }
            let indexedThrough = try Meta.indexedThrough(in: txn, databases, head: head.sequence)
            do throws(LMDBError) {
                let last = try txn.withCursor(databases.log) { (c) throws(LMDBError) in try c.get(.last)?.key }.get()
                return (
                    head, last.map { $0.count == 8 ? $0.loadBigEndianUInt64() : .max } ?? 0, indexedThrough,
                    try txn.entryCount(databases.streams), try txn.entryCount(databases.ids)
                )
            } catch { throw error.storeError }
        }
        let storedHead = snapshot.head
        // `streams` is complete through here; later records are indexed in memory (StreamMemtable).
        let indexedThrough = snapshot.indexedThrough
        func fail(_ seq: UInt64, _ why: String) {
            report.failure = .init(sequence: seq, reason: why)
            done = true
        }
        while !done {
            var count = 0
            try read { (txn) throws(StoreError) in
                try LogIndex.forEachRecord(in: txn, databases, from: expected, limit: 8192, contiguous: false) { (seq, value) throws(StoreError) in
                    // Records appended since the snapshot are the next verification's.
                    guard seq <= snapshot.last else { return false }
                    count += 1
                    guard seq == expected else {
                        fail(expected, "missing: the log jumps from \(expected - 1) to \(seq)")
                        return false
                    }
                    let hash: ChainHash
                    switch try chained(seq, value, after: previous, txn: txn) {
                    case .failure(let why):
                        fail(seq, why.reason)
                        return false
                    case .success(let (h, anchored)):
                        hash = h
                        if anchored { report.anchorsChecked += 1 }
                    }
                    let event: RecordedEvent
                    do throws(StoreError) { event = try decoder.decode(value, sequence: seq, txn: txn) } catch {
                        fail(seq, error.message)
                        return false
                    }
                    // Decoding already checked the payload's structure (EnvelopeCodec.decode).
                    // The indexes must point back at this record.
                    let key = Key.sequence(seq)
                    let byID: UnsafeRawBufferPointer?
                    let byStream: UnsafeRawBufferPointer?
                    do throws(LMDBError) {
                        byID = try txn.get(databases.ids, Key.id(event.id))
                        byStream = try txn.get(databases.streams, Key.stream(event.stream, version: event.streamVersion))
                    } catch { throw error.storeError }
                    guard let byID, byID.elementsEqual(key) else {
                        fail(seq, "the event-id index does not point at this record (id \(event.id))")
                        return false
                    }
                    if seq <= indexedThrough {
                        guard let byStream, byStream.elementsEqual(key) else {
                            fail(seq, "the stream index does not point at this record (stream \(event.stream) version \(event.streamVersion))")
                            return false
                        }
                    } else if let byStream, !byStream.elementsEqual(key) {
                        // (An entry pointing here was written since the snapshot: a running node flushing.)
                        fail(seq, "the stream index holds an entry (stream \(event.stream) version \(event.streamVersion)) past streams.indexed-through \(indexedThrough) that points elsewhere")
                        return false
                    }
                    previous = hash
                    report.records = seq
                    expected = seq + 1
                    if seq % 65536 == 0 { progress?(seq) }
                    return true
                }
            }
            if count == 0 || expected > snapshot.last { break }
        }
        report.headHash = previous
        if report.failure == nil {
            let stored = storedHead
            if stored.sequence != report.records || stored.hash != previous {
                let at =
                    stored.sequence < report.records
                    ? stored.sequence + 1 : stored.sequence > report.records ? report.records + 1 : report.records
                report.failure = .init(
                    sequence: at,
                    reason: "the recorded head (sequence \(stored.sequence), hash \(stored.hash.description.prefix(16))…) does not match the log (sequence \(report.records), hash \(previous.description.prefix(16))…): records were removed or appended outside Docket"
                )
            }
        }
        if report.failure == nil {
            // Every record's index entries point back at it (checked above); an index holding
            // more entries than there are records has entries no record accounts for.
            let counts = (streams: snapshot.streams, ids: snapshot.ids)
            for (name, count, records) in [("stream", counts.streams, indexedThrough), ("event-id", counts.ids, report.records)]
            where UInt64(count) != records {
                report.failure = .init(
                    sequence: 0,
                    reason: "the \(name) index holds \(count) entries for \(records) records: entries were added or removed outside Docket")
                break
            }
        }
        return report
    }
}

extension EventStore {
    /// Why record `seq` does not chain from `previous` (its header, the dictionary it names, its
    /// chain tag, and every `Databases.anchorInterval` records the full-hash anchor), or its chain
    /// hash and whether an anchor was checked.
    fileprivate func chained(
        _ seq: UInt64, _ value: UnsafeRawBufferPointer, after previous: ChainHash, txn: borrowing Transaction
    ) throws(StoreError) -> Result<(ChainHash, anchored: Bool), ChainBreak> {
        let header: RecordFormat.Header
        do throws(StoreError) { header = try RecordFormat.header(of: value, sequence: seq) } catch { return .failure(ChainBreak(error.message)) }
        let dictionary: ZstdDictionary?
        do throws(StoreError) { dictionary = try dictionaries.dictionary(header.dictionary, txn: txn) } catch { return .failure(ChainBreak(error.message)) }
        if header.dictionary != 0 && dictionary == nil {
            return .failure(ChainBreak("the record names dictionary \(header.dictionary), which the store does not hold"))
        }
        let hash = RecordFormat.chain(previous: previous, sequence: seq, record: value, dictionaryDigest: dictionary?.digest)
        guard hash.tag == header.tag else {
            return .failure(ChainBreak("chain hash mismatch: the record or the dictionary it names was altered, or a record before it was removed or reordered"))
        }
        guard seq % Databases.anchorInterval == 0 else { return .success((hash, false)) }
        let anchor: UnsafeRawBufferPointer?
        do throws(LMDBError) { anchor = try txn.get(databases.chain, Key.sequence(seq)) } catch { throw error.storeError }
        guard let anchor, let stored = ChainHash(raw: anchor), stored == hash else {
            return .failure(ChainBreak("the chain anchor at \(seq) is missing or does not match the recomputed hash"))
        }
        return .success((hash, true))
    }

    /// The first record of 1…`last` that does not chain (`verify`'s check of the hash chain alone:
    /// no decoding, no indexes), or nil: what a forensic view checks before it shows the log.
    public func firstChainBreak(through last: UInt64) throws(StoreError) -> VerificationReport.Failure? {
        var previous = ChainHash.genesis
        var expected: UInt64 = 1
        var failure: VerificationReport.Failure?
        while failure == nil && expected <= last {
            var count = 0
            try read { (txn) throws(StoreError) in
                try LogIndex.forEachRecord(in: txn, databases, from: expected, limit: 8192, contiguous: false) { (seq, value) throws(StoreError) in
                    // (A gap is one even where the next record is past `last`.)
                    guard seq == expected else {
                        failure = .init(sequence: expected, reason: "missing: the log jumps from \(expected - 1) to \(seq)")
                        return false
                    }
                    guard seq <= last else { return false }
                    count += 1
                    switch try chained(seq, value, after: previous, txn: txn) {
                    case .failure(let why):
                        failure = .init(sequence: seq, reason: why.reason)
                        return false
                    case .success(let (hash, _)):
                        previous = hash
                        expected = seq + 1
                        return true
                    }
                }
            }
            if count == 0 && failure == nil && expected <= last {
                failure = .init(sequence: expected, reason: "missing: the log ends at \(expected - 1)")
            }
        }
        return failure
    }
}

/// Why a record does not chain.
struct ChainBreak: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Sizes and counts, for `docket stats`.
public struct StoreStatistics: Sendable {
    public var events: UInt64
    public var streams: UInt64
    /// Size of the LMDB data file, and the part of it in use.
    public var fileBytes: Int
    public var usedBytes: Int
    /// Sum of stored record values (header + zstd frame), and of envelopes before compression.
    public var recordBytes: UInt64
    public var rawBytes: UInt64
    public var dictionaries: [DictionaryInfo]
    public var currentDictionary: UInt16?
    public var mapSize: Int

    public var recordBytesPerEvent: Double { events == 0 ? 0 : Double(recordBytes) / Double(events) }
    public var usedBytesPerEvent: Double { events == 0 ? 0 : Double(usedBytes) / Double(events) }
    /// Envelope bytes ÷ stored frame bytes.
    public var compressionRatio: Double {
        // Headers are 11 bytes and two varints of usually one byte each. (Counters that say
        // otherwise, from a damaged meta table, give no ratio rather than a trap.)
        let (headers, overflow) = events.multipliedReportingOverflow(by: UInt64(RecordFormat.fixedHeaderSize + 2))
        guard !overflow, recordBytes > headers else { return 0 }
        return Double(rawBytes) / Double(recordBytes - headers)
    }
}

extension EventStore {
    public func statistics() throws(StoreError) -> StoreStatistics {
        let head = self.head
        let (streams, raw, stored, infos, current) = try read { (txn) throws(StoreError) in
            var infos: [DictionaryInfo] = []
            var version: UInt16 = 1
            while let info = try Meta.get(Meta.dictionaryInfo(version), in: txn, databases) {
                if let i = DictionaryInfo(json: String(decoding: info, as: UTF8.self)) { infos.append(i) }
                version += 1
            }
            let current = try Meta.get(Meta.currentDictionary, in: txn, databases).flatMap { v in v.count == 2 ? v.withUnsafeBytes { $0.loadBigEndianUInt16() } : nil }
            return (
                try Meta.getUInt64(Meta.streamCount, in: txn, databases), try Meta.getUInt64(Meta.rawBytes, in: txn, databases),
                try Meta.getUInt64(Meta.recordBytes, in: txn, databases), infos, current
            )
        }
        let file = directory + "/ledger/data.mdb"
        let size = ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.intValue ?? 0
        return StoreStatistics(
            events: head.sequence, streams: streams, fileBytes: size, usedBytes: environment.usedBytes(), recordBytes: stored,
            rawBytes: raw, dictionaries: infos, currentDictionary: current, mapSize: environment.mapSize)
    }

    /// The bytes of dictionary `version` (a standard zstd dictionary: `zstd -d -D FILE`).
    public func dictionary(version: UInt16) throws(StoreError) -> [UInt8] {
        try read { (txn) throws(StoreError) in
            guard version != 0, let d = try dictionaries.dictionary(version, txn: txn) else {
                throw StoreError(.notFound, "there is no dictionary version \(version)")
            }
            return d.bytes
        }
    }
}
