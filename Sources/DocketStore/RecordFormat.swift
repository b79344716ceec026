import Crypto
import DocketCore

/// A SHA-256 chain value: `h(n) = SHA-256(h(n-1) ‖ u64be(n) ‖ record(n) without its tag)`, with
/// `h(0)` = 32 zero bytes. Specified in `Schemas/storage.md`.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    // Four big-endian words rather than an array: the writer makes one per record.
    private let w0, w1, w2, w3: UInt64

    public static let genesis = ChainHash(words: 0, 0, 0, 0)

    private init(words w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a chain hash is 32 bytes")
        self = bytes.withUnsafeBytes { ChainHash(raw: $0)! }
    }

    init?(raw: UnsafeRawBufferPointer) {
        guard raw.count == 32 else { return nil }
        self.init(
            words: raw.loadBigEndianUInt64(at: 0), raw.loadBigEndianUInt64(at: 8), raw.loadBigEndianUInt64(at: 16),
            raw.loadBigEndianUInt64(at: 24))
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] { Swift.withUnsafeBytes(of: w.bigEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// Lowercase hex.
    public var description: String { hex(bytes) }

    /// The first 8 bytes, as stored in each record's header.
    var tag: UInt64 { w0 }

    func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        var words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return Swift.withUnsafeBytes(of: &words) { body($0) }
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The stored form of one log record (the LMDB value under its sequence):
///
/// ```
/// offset  size  field
/// 0       1     record format (1)
/// 1       2     dictionary version, big-endian (0 = compressed without a dictionary)
/// 3       8     chain tag: the first 8 bytes of h(n)
/// 11      …     one standard zstd frame holding the envelope (Schemas/envelope.md)
/// ```
enum RecordFormat {
    static let version: UInt8 = 1
    static let headerSize = 11
    static let tagOffset = 3

    struct Header {
        let dictionary: UInt16
        let tag: UInt64
    }

    static func header(of record: UnsafeRawBufferPointer, sequence: UInt64) throws(StoreError) -> Header {
        guard record.count > headerSize else {
            throw StoreError(.corruptRecord, "record \(sequence) is \(record.count) bytes, shorter than its header", sequence: sequence)
        }
        guard record[0] == version else {
            throw StoreError(.corruptRecord, "record \(sequence) has record format \(record[0]); this build reads format \(version)", sequence: sequence)
        }
        return Header(dictionary: record.loadBigEndianUInt16(at: 1), tag: record.loadBigEndianUInt64(at: tagOffset))
    }

    /// The chain value of a record, given its predecessor's and, when the record names a
    /// dictionary, that dictionary's SHA-256: a frame decodes only with its dictionary, so the
    /// dictionary is part of what the chain protects (altering a stored dictionary would
    /// otherwise change what records say without changing a chained byte).
    static func chain(
        previous: ChainHash, sequence: UInt64, record: UnsafeRawBufferPointer, dictionaryDigest: ChainHash?
    ) -> ChainHash {
        var h = SHA256()
        previous.withUnsafeBytes { h.update(bufferPointer: $0) }
        withUnsafeBytes(of: sequence.bigEndian) { h.update(bufferPointer: $0) }
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[0..<tagOffset]))
        dictionaryDigest?.withUnsafeBytes { h.update(bufferPointer: $0) }
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[headerSize...]))
        return h.finalize().withUnsafeBytes { ChainHash(raw: $0)! }
    }
}
