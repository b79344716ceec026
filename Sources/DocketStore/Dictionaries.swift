import DocketCore
import Foundation
import Synchronization

/// Dictionaries by version, loaded from the `dicts` database on first use and kept: they are
/// immutable once stored, and few (one per retraining).
final class DictionaryCache: Sendable {
    private let loaded = Mutex<[UInt16: ZstdDictionary]>([:])
    private let environment: LMDBEnvironment
    private let databases: Databases
    private let level: Int32

    init(environment: LMDBEnvironment, databases: Databases, level: Int32) {
        self.environment = environment
        self.databases = databases
        self.level = level
    }

    /// The dictionary `version`, reading it within `txn` if it is not loaded yet.
    func dictionary(_ version: UInt16, txn: borrowing Transaction) throws(StoreError) -> ZstdDictionary? {
        if version == 0 { return nil }
        if let d = loaded.withLock({ $0[version] }) { return d }
        let raw: UnsafeRawBufferPointer?
        do { raw = try txn.get(databases.dicts, bigEndianBytes(version)) } catch { throw error.storeError }
        guard let raw else { return nil }
        let d: ZstdDictionary
        do { d = try ZstdDictionary(version: version, bytes: Array(raw), level: level) } catch {
            // Stored, it was one zstd loaded: the bytes changed since.
            throw StoreError(
                .corruptRecord,
                "the stored compression dictionary version \(version) no longer loads in zstd (\(error.message)): it was damaged or altered, and the records compressed with it cannot be read; compare it with an intact copy's (`docket dict export`)")
        }
        loaded.withLock { $0[version] = d }
        return d
    }

    func insert(_ d: ZstdDictionary) {
        loaded.withLock { $0[d.version] = d }
    }
}

/// Information kept about each dictionary, stored as JSON text in metadata.
public struct DictionaryInfo: Hashable, Sendable {
    public var version: UInt16
    public var bytes: Int
    /// The log's head when the samples were taken.
    public var trainedAtSequence: UInt64
    public var samples: Int
    /// Uncompressed ÷ compressed size of the samples with this dictionary.
    public var ratio: Double

    var json: String {
        "{\"version\":\(version),\"bytes\":\(bytes),\"trained_at_seq\":\(trainedAtSequence),\"samples\":\(samples),\"ratio\":\(ratio)}"
    }

    init(version: UInt16, bytes: Int, trainedAtSequence: UInt64, samples: Int, ratio: Double) {
        self.version = version
        self.bytes = bytes
        self.trainedAtSequence = trainedAtSequence
        self.samples = samples
        self.ratio = ratio
    }

    init?(json text: String) {
        guard let v = try? JSON.parse(text), let version = v["version"]?.intValue, let bytes = v["bytes"]?.intValue,
            let at = v["trained_at_seq"]?.intValue, let samples = v["samples"]?.intValue,
            // Out of range is malformed too (a follower reads what a leader sent), never a trap.
            let version = UInt16(exactly: version), let at = UInt64(exactly: at), bytes >= 0, samples >= 0
        else { return nil }
        let ratio: Double
        switch v["ratio"] {
        case .double(let d): ratio = d
        case .int(let i): ratio = Double(i)
        default: return nil
        }
        self.init(version: version, bytes: Int(bytes), trainedAtSequence: at, samples: Int(samples), ratio: ratio)
    }
}

/// Turns stored records back into events. Holds a decompression context, so it is used by one
/// thread at a time (each read or scan makes its own).
final class RecordDecoder {
    let dictionaries: DictionaryCache
    let decompressor = ZstdDecompressor()
    let interner = StringInterner()
    /// The dictionary of the previous record: consecutive records nearly always share one.
    private var last: ZstdDictionary? {
        didSet { lastDDict = last.map { ($0.version, $0.d) } }
    }
    /// `last`'s version and digested dictionary (valid while `last` holds it), which `decompress`
    /// uses without counting a reference to `last`: every thread of a partitioned scan reads with
    /// the same dictionary, and each count would be a write to memory another core is writing.
    private var lastDDict: (version: UInt16, ddict: OpaquePointer)?
    /// Dictionaries not stored yet, consulted before the store: a follower decodes the records
    /// a leader sends together with the dictionaries they name (Replication.swift).
    var pending: [UInt16: ZstdDictionary] = [:]

    init(dictionaries: DictionaryCache) {
        self.dictionaries = dictionaries
    }

    /// The size of the envelope the last `decode` decompressed (a follower counts raw bytes).
    private(set) var lastEnvelopeSize = 0

    func decode(_ record: UnsafeRawBufferPointer, sequence: UInt64, txn: borrowing Transaction) throws(StoreError) -> RecordedEvent {
        let interner = self.interner
        return try withEnvelope(record, sequence: sequence, txn: txn) { (bytes, header) throws(CoreError) in
            lastEnvelopeSize = bytes.count
            return try EnvelopeCodec.decode(bytes, sequence: sequence, ledger: header.ledger, interner: interner)
        }
    }

    /// Decompresses the record's envelope and lends its bytes, and the record's header, to `body`.
    func withEnvelope<T>(
        _ record: UnsafeRawBufferPointer, sequence: UInt64, txn: borrowing Transaction,
        _ body: (UnsafeRawBufferPointer, RecordFormat.Header) throws(CoreError) -> T
    ) throws(StoreError) -> T {
        let (header, frame, dictionary) = try frame(of: record, sequence: sequence, txn: txn)
        do {
            return try decompressor.decompress(frame, dictionary: dictionary, limit: EnvelopeCodec.maximumEncodedSize) { (bytes) throws(CoreError) in
                try body(bytes, header)
            }
        } catch {
            throw Self.naming(sequence, error)
        }
    }

    /// Decompresses the record's envelope into the memory `destination` gives for its size: the
    /// record's header and the envelope's size. A failure names the record.
    func decompress(
        _ record: UnsafeRawBufferPointer, sequence: UInt64, txn: borrowing Transaction, into destination: (Int) -> UnsafeMutableRawPointer
    ) throws(StoreError) -> (header: RecordFormat.Header, count: Int) {
        let header: RecordFormat.Header
        let frame: UnsafeRawBufferPointer
        let ddict: OpaquePointer?
        if let (version, d) = lastDDict, let h = try? RecordFormat.header(of: record, sequence: sequence), h.dictionary == version {
            (header, frame, ddict) = (h, UnsafeRawBufferPointer(rebasing: record[h.frameOffset...]), d)
        } else {
            let dictionary: ZstdDictionary?
            (header, frame, dictionary) = try self.frame(of: record, sequence: sequence, txn: txn)
            ddict = dictionary?.d
        }
        do throws(StoreError) {
            return (header, try decompressor.decompress(frame, ddict: ddict, limit: EnvelopeCodec.maximumEncodedSize, into: destination))
        } catch {
            throw Self.naming(sequence, error)
        }
    }

    /// The record's header, its zstd frame and the dictionary the frame needs (nil: none).
    func frame(of record: UnsafeRawBufferPointer, sequence: UInt64, txn: borrowing Transaction) throws(StoreError)
        -> (header: RecordFormat.Header, frame: UnsafeRawBufferPointer, dictionary: ZstdDictionary?)
    {
        let header = try RecordFormat.header(of: record, sequence: sequence)
        let dictionary: ZstdDictionary?
        if header.dictionary == 0 {
            dictionary = nil
        } else if let last, last.version == header.dictionary {
            dictionary = last
        } else if let d = pending[header.dictionary] {
            dictionary = d
            last = d
        } else {
            dictionary = try dictionaries.dictionary(header.dictionary, txn: txn)
            last = dictionary
        }
        if header.dictionary != 0 && dictionary == nil {
            throw StoreError(
                .corruptRecord, "record \(sequence) names dictionary \(header.dictionary), which the store does not hold",
                sequence: sequence)
        }
        return (header, UnsafeRawBufferPointer(rebasing: record[header.frameOffset...]), dictionary)
    }

    /// The result of decoding the envelope of record `sequence`, or the store's error naming it.
    static func decoding<T>(_ sequence: UInt64, _ decode: () throws(CoreError) -> T) throws(StoreError) -> T {
        do throws(CoreError) {
            return try decode()
        } catch {
            throw StoreError(.corruptRecord, "record \(sequence): \(error.message)", sequence: sequence)
        }
    }

    /// A decompression error, saying which record it is about.
    static func naming(_ sequence: UInt64, _ error: StoreError) -> StoreError {
        var e = error
        e.message = "record \(sequence): \(e.message)"
        e.sequence = sequence
        return e
    }
}
