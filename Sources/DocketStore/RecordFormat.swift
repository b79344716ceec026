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
    public var description: String { Hex.encode(bytes) }

    /// The first 8 bytes, as stored in each record's header.
    var tag: UInt64 { w0 }

    func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        var words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return Swift.withUnsafeBytes(of: &words) { body($0) }
    }
}

/// The stored form of one log record (the LMDB value under its sequence):
///
/// ```
/// offset  size  field
/// 0       1     record format (2; format 1 records of `docket-store 1` stay readable)
/// 1       2     dictionary version, big-endian (0 = compressed without a dictionary)
/// 3       8     chain tag: the first 8 bytes of h(n)
/// 11      1–10  format 2: stream version, varint (LEB128)
/// …       1–10  format 2: recorded-at minus occurred-at in µs, zigzag varint
/// …       …     one standard zstd frame holding the envelope (Schemas/envelope.md)
/// ```
///
/// Format 2 keeps the two fields the ledger assigns at commit outside the compressed frame, so
/// the frame can be made before the writer takes the event (off its thread, in parallel).
/// Format 1 had no varints: the frame started at 11 and the envelope held both fields.
enum RecordFormat {
    /// The format this build writes.
    static let version: UInt8 = 2
    static let legacyVersion: UInt8 = 1
    /// Bytes before the varints: format, dictionary version, tag.
    static let fixedHeaderSize = 11
    static let tagOffset = 3

    struct Header {
        let format: UInt8
        let dictionary: UInt16
        let tag: UInt64
        /// The ledger fields of a format 2 record (nil for format 1, whose envelope holds them).
        let ledger: EnvelopeCodec.LedgerFields?
        /// Offset of the zstd frame.
        let frameOffset: Int
    }

    static func header(of record: UnsafeRawBufferPointer, sequence: UInt64) throws(StoreError) -> Header {
        guard record.count > fixedHeaderSize else {
            throw StoreError(.corruptRecord, "record \(sequence) is \(record.count) bytes, shorter than its header", sequence: sequence)
        }
        let format = record[0]
        let dictionary = record.loadBigEndianUInt16(at: 1)
        let tag = record.loadBigEndianUInt64(at: tagOffset)
        switch format {
        case version:
            var r = BinaryReader(UnsafeRawBufferPointer(rebasing: record[fixedHeaderSize...]))
            let ledger: EnvelopeCodec.LedgerFields
            do throws(CoreError) {
                ledger = EnvelopeCodec.LedgerFields(streamVersion: try r.readVarint(), recordedDelta: try r.readZigzag())
            } catch {
                throw StoreError(.corruptRecord, "record \(sequence) has a damaged header: \(error.message)", sequence: sequence)
            }
            let frameOffset = fixedHeaderSize + r.offset
            guard frameOffset < record.count else {
                throw StoreError(.corruptRecord, "record \(sequence) is \(record.count) bytes, shorter than its header", sequence: sequence)
            }
            return Header(format: format, dictionary: dictionary, tag: tag, ledger: ledger, frameOffset: frameOffset)
        case legacyVersion:
            return Header(format: format, dictionary: dictionary, tag: tag, ledger: nil, frameOffset: fixedHeaderSize)
        default:
            throw StoreError(
                .corruptRecord, "record \(sequence) has record format \(format); this build reads formats \(legacyVersion) and \(version)",
                sequence: sequence)
        }
    }

    /// Writes a format 2 record header with a zero tag (set once the chain hash is known) to `out`.
    static func writeHeader(dictionary: UInt16, ledger: EnvelopeCodec.LedgerFields, to out: inout [UInt8]) {
        out.append(version)
        out.append(UInt8(truncatingIfNeeded: dictionary >> 8))
        out.append(UInt8(truncatingIfNeeded: dictionary))
        out.append(contentsOf: repeatElement(0, count: 8))
        var v = ledger.streamVersion
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        var d = UInt64(bitPattern: (ledger.recordedDelta << 1) ^ (ledger.recordedDelta >> 63))
        while d >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: d) | 0x80)
            d >>= 7
        }
        out.append(UInt8(d))
    }

    /// The chain value of a record, given its predecessor's and, when the record names a
    /// dictionary, that dictionary's SHA-256: a frame decodes only with its dictionary, so the
    /// dictionary is part of what the chain protects (altering a stored dictionary would
    /// otherwise change what records say without changing a chained byte). Every byte of the
    /// record but the tag is hashed, the format 2 varints included.
    static func chain(
        previous: ChainHash, sequence: UInt64, record: UnsafeRawBufferPointer, dictionaryDigest: ChainHash?
    ) -> ChainHash {
        var h = SHA256()
        previous.withUnsafeBytes { h.update(bufferPointer: $0) }
        withUnsafeBytes(of: sequence.bigEndian) { h.update(bufferPointer: $0) }
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[0..<tagOffset]))
        dictionaryDigest?.withUnsafeBytes { h.update(bufferPointer: $0) }
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[fixedHeaderSize...]))
        return h.finalize().withUnsafeBytes { ChainHash(raw: $0)! }
    }
}
