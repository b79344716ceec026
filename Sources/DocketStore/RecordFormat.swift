import Crypto
import DocketCore

/// A SHA-256 chain value: `h(n) = SHA-256(h(n-1) ‖ u64be(n) ‖ record(n) without its tag)`, with
/// `h(0)` = 32 zero bytes. Specified in `Schemas/storage.md`.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public static let genesis = ChainHash(bytes: [UInt8](repeating: 0, count: 32))

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a chain hash is 32 bytes")
        self.bytes = bytes
    }

    init?(raw: UnsafeRawBufferPointer) {
        guard raw.count == 32 else { return nil }
        bytes = Array(raw)
    }

    /// Lowercase hex.
    public var description: String { hex(bytes) }

    /// The first 8 bytes, as stored in each record's header.
    var tag: UInt64 { bytes.withUnsafeBytes { $0.loadBigEndianUInt64() } }
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

    /// The chain value of a record, given its predecessor's.
    static func chain(previous: ChainHash, sequence: UInt64, record: UnsafeRawBufferPointer) -> ChainHash {
        var h = SHA256()
        previous.bytes.withUnsafeBytes { h.update(bufferPointer: $0) }
        withUnsafeBytes(of: sequence.bigEndian) { h.update(bufferPointer: $0) }
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[0..<tagOffset]))
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: record[headerSize...]))
        return ChainHash(bytes: Array(h.finalize()))
    }
}
