/// An event's payload in its stored binary form (the `Value` encoding of `Schemas/envelope.md`).
///
/// Events keep their payload encoded: replaying the log copies one buffer per event instead of
/// building a tree of values, and typed decoders read the bytes directly. Equality is byte
/// equality, which for this deterministic encoding is value equality.
public struct Payload: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(_ value: Value) {
        var w = BinaryWriter(capacity: 128)
        value.encode(into: &w)
        bytes = w.bytes
    }

    /// Wraps bytes already known to hold one encoded value (read back from the ledger).
    init(uncheckedBytes: [UInt8]) {
        bytes = uncheckedBytes
    }

    /// Checks that `bytes` hold exactly one well-formed value.
    public init(validating bytes: [UInt8]) throws(CoreError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(CoreError) in try Payload.validate(raw) } }.get()
        self.bytes = bytes
    }

    /// How deep a payload appended over the network may nest: the node sends it back inside an
    /// EVENTS or `history` body, at depth 3 (body → `events` → event → `data`), and a body's
    /// values must stay under `Value.maximumDepth` (Schemas/protocol.md §12). At most 60
    /// containers around a scalar (61 if the innermost is empty), where the stored format allows
    /// 63: every path that appends holds new payloads to this (APPEND by its body's limit,
    /// APPEND_EVENTS and `docket append` by this one); what is stored is read to the format's.
    public static let maximumNetworkDepth = Value.maximumDepth - 3

    /// Checks that `raw` holds exactly one well-formed value, without decoding it, every value
    /// of it at a depth under `depthLimit`.
    public static func validate(_ raw: UnsafeRawBufferPointer, depthLimit: Int = Value.maximumDepth) throws(CoreError) {
        var r = BinaryReader(raw)
        try Value.skip(from: &r, limit: depthLimit)
        guard r.isAtEnd else {
            throw CoreError(.invalidValue, "\(r.remaining) byte\(r.remaining == 1 ? "" : "s") after the payload value")
        }
    }

    /// The payload as a `Value`.
    public var value: Value {
        // Payloads are validated when they are appended and chain-checked when read, so a
        // failure here is a broken invariant, not bad input.
        (try? Payload.decode(bytes)) ?? .null
    }

    static func decode(_ bytes: [UInt8]) throws(CoreError) -> Value {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(CoreError) -> Value in
                var r = BinaryReader(raw)
                let v = try Value.decode(from: &r)
                guard r.isAtEnd else { throw CoreError(.invalidValue, "\(r.remaining) bytes after the payload value") }
                return v
            }
        }.get()
    }
}

/// Reuses the `String`s that recur across events (types, actors, streams) while decoding a log,
/// so a replay does not allocate the same text over and over. One per decoding thread.
public final class StringInterner {
    private var slots: [(hash: UInt64, string: String)?]
    private let mask: Int

    /// `capacity` is rounded up to a power of two; a colliding string evicts the older one.
    public init(capacity: Int = 256) {
        var n = 1
        while n < capacity { n <<= 1 }
        slots = Array(repeating: nil, count: n)
        mask = n - 1
    }

    /// The string for these UTF-8 bytes; nil if they are not valid UTF-8.
    public func string(_ raw: UnsafeRawBufferPointer) -> String? {
        let h = Self.hash(raw)
        let i = Int(truncatingIfNeeded: h) & mask
        if let slot = slots[i], slot.hash == h, utf8Equal(slot.string, raw) { return slot.string }
        guard let s = utf8String(raw) else { return nil }
        slots[i] = (h, s)
        return s
    }

    /// Eight bytes at a time (these strings are 10–60 bytes): a multiply-rotate mix.
    @inline(__always)
    static func hash(_ raw: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
        var i = 0
        let n = raw.count
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h = (h << 29) | (h >> 35)
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(raw.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 32)
    }
}
