/// A client-chosen event id: the idempotency key of an append.
///
/// 1–128 bytes of `A–Z a–z 0–9 . _ : -`. UUIDs are the usual choice and are stored in 16 bytes.
public struct EventID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// UUIDs (the common case) are kept as 16 bytes so that decoding a log allocates nothing
    /// for them; anything else as its text. The forms never overlap: a UUID-shaped text in one
    /// case is always stored as `.uuid`.
    @usableFromInline
    enum Storage: Hashable, Sendable {
        case text(String)
        case uuid(high: UInt64, low: UInt64, uppercase: Bool)
    }

    @usableFromInline
    let storage: Storage
    public static let maximumLength = 128

    /// The id as text.
    public var rawValue: String {
        switch storage {
        case .text(let s): return s
        case .uuid(let high, let low, let uppercase):
            var bytes = [UInt8](repeating: 0, count: 16)
            for i in 0..<8 {
                bytes[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
                bytes[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i)))
            }
            return Self.uuidText(bytes, uppercase: uppercase)
        }
    }

    public init(_ rawValue: String) throws(CoreError) {
        let utf8 = rawValue.utf8
        guard !utf8.isEmpty, utf8.count <= Self.maximumLength else {
            throw CoreError(.invalidValue, "event id must be 1–\(Self.maximumLength) bytes, got \(utf8.count)")
        }
        for scalar in rawValue.unicodeScalars where !(scalar.isASCII && Self.isAllowed(UInt8(scalar.value))) {
            throw CoreError(
                .invalidValue, "event id \"\(rawValue)\" contains '\(scalar)'; allowed are A–Z a–z 0–9 . _ : -")
        }
        if let uuid = Self.parseUUID(rawValue) {
            self.init(uuidBytes: uuid.bytes, uppercase: uuid.uppercase)
        } else {
            self.init(uncheckedText: rawValue)
        }
    }

    /// A new time-ordered UUID (version 7, RFC 9562 §5.7), lowercase.
    ///
    /// Time order matters for the ledger: ids generated this way land at the right edge of the
    /// event-id index, so a commit dirties a few index pages instead of one per event. Any other
    /// id (a UUIDv4, a ticket number) works too, only with more random index writes.
    public static func random() -> EventID {
        var g = SystemRandomNumberGenerator()
        return random(at: .now(), using: &g)
    }

    /// A UUIDv7 for `time`: 48 bits of Unix milliseconds, 12 bits of sub-millisecond time
    /// (RFC 9562 method 3, so ids from one process sort by time), 62 random bits.
    public static func random(at time: Timestamp, using g: inout some RandomNumberGenerator) -> EventID {
        let ms = UInt64(max(time.microseconds, 0) / 1000)
        let subMillisecond = UInt64(max(time.microseconds, 0) % 1000) * 4096 / 1000
        let r = g.next()
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
        b[6] = 0x70 | UInt8(subMillisecond >> 8)
        b[7] = UInt8(truncatingIfNeeded: subMillisecond)
        for i in 8..<16 { b[i] = UInt8(truncatingIfNeeded: r >> (8 * UInt64(i - 8))) }
        b[8] = (b[8] & 0x3F) | 0x80
        return EventID(uuidBytes: b, uppercase: false)
    }

    /// From the 16 bytes of a stored UUID (the envelope and index forms).
    init(uuidBytes raw: UnsafeRawBufferPointer, uppercase: Bool) {
        storage = .uuid(
            high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)), uppercase: uppercase)
    }

    init(uuidBytes b: some Collection<UInt8>, uppercase: Bool) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, byte) in b.enumerated() {
            if i < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        storage = .uuid(high: high, low: low, uppercase: uppercase)
    }

    /// Lends `indexKey` to `body` without allocating it for UUIDs (the writer makes one per event).
    @inlinable
    public func withIndexKey<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .uuid(let high, let low, let uppercase):
            var packed: (UInt64, UInt64, UInt64) = (0, 0, 0)
            return try withUnsafeMutableBytes(of: &packed) { (out) throws(E) -> R in
                out[0] = uppercase ? 2 : 1
                out.storeBytes(of: high.bigEndian, toByteOffset: 1, as: UInt64.self)
                out.storeBytes(of: low.bigEndian, toByteOffset: 9, as: UInt64.self)
                return try body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<17]))
            }
        case .text(let text):
            var key: [UInt8] = [0]
            key.append(contentsOf: text.utf8)
            let r = key.withUnsafeBytes { raw in Result { () throws(E) -> R in try body(raw) } }
            return try r.get()
        }
    }

    /// A compact, unambiguous byte form for index keys: `0x01`/`0x02` and the 16 bytes of a
    /// lowercase/uppercase UUID, or `0x00` and the UTF-8 text.
    public var indexKey: [UInt8] {
        switch storage {
        case .uuid(let high, let low, let uppercase):
            var k = [UInt8](repeating: 0, count: 17)
            k[0] = uppercase ? 2 : 1
            for i in 0..<8 {
                k[1 + i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
                k[9 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i)))
            }
            return k
        case .text(let s):
            return [0] + Array(s.utf8)
        }
    }

    /// Text read back from the ledger's own records, already validated when it was appended.
    init(uncheckedText: String) {
        storage = .text(uncheckedText)
    }

    static func uuidText(_ b: [UInt8], uppercase: Bool) -> String {
        let digits: [UInt8] = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { rawValue }
    public static func < (a: EventID, b: EventID) -> Bool { a.rawValue < b.rawValue }

    static func isAllowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
            UInt8(ascii: "-"):
            return true
        default: return false
        }
    }

    /// If the id is a canonical UUID in one case, its 16 bytes and whether it was uppercase.
    static func parseUUID(_ text: String) -> (bytes: [UInt8], uppercase: Bool)? {
        let u = Array(text.utf8)
        guard u.count == 36 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var sawLower = false
        var sawUpper = false
        var i = 0
        while i < 36 {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard u[i] == UInt8(ascii: "-") else { return nil }
                i += 1
                continue
            }
            guard let hi = Self.hexValue(u[i], &sawLower, &sawUpper),
                let lo = Self.hexValue(u[i + 1], &sawLower, &sawUpper)
            else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        if sawLower && sawUpper { return nil }
        return (bytes, sawUpper)
    }

    private static func hexValue(_ c: UInt8, _ lower: inout Bool, _ upper: inout Bool) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"):
            lower = true
            return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"):
            upper = true
            return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The name of an event stream (for a report, `report-<id>`); the unit of optimistic concurrency.
///
/// 1–200 bytes of UTF-8 without control characters.
public struct StreamName: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let rawValue: String
    public static let maximumLength = 200

    public init(_ rawValue: String) throws(CoreError) {
        let n = rawValue.utf8.count
        guard n >= 1, n <= Self.maximumLength else {
            throw CoreError(.invalidValue, "stream name must be 1–\(Self.maximumLength) bytes, got \(n)")
        }
        guard !rawValue.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw CoreError(.invalidValue, "stream name must not contain control characters")
        }
        self.rawValue = rawValue
    }

    /// A name read back from the ledger's own records, already validated when it was appended.
    init(unchecked rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    // Told apart, hashed and ordered by their UTF-8 bytes, as the log's stream index keys them. As
    // `String`s, two spellings of one canonical form ("é" as one code point, or "e" and an
    // accent) are equal: the index on disk held two streams while the entries waiting in memory
    // (`StreamMemtable`) took them for one, and an append to the one was checked against the
    // other's version.
    public static func == (a: StreamName, b: StreamName) -> Bool {
        var (x, y) = (a.rawValue, b.rawValue)
        return x.utf8.count == y.utf8.count && x.withUTF8 { x in y.withUTF8 { y in bytesEqual(UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(y)) } }
    }

    public func hash(into hasher: inout Hasher) {
        var s = rawValue
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public static func < (a: StreamName, b: StreamName) -> Bool { a.rawValue.utf8.lexicographicallyPrecedes(b.rawValue.utf8) }
}

/// The name of an event type, e.g. `ReportSubmitted`: a letter, then up to 63 of
/// `A–Z a–z 0–9 . _ -`.
public struct EventType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public static let maximumLength = 64

    public init(_ rawValue: String) throws(CoreError) {
        let u = Array(rawValue.utf8)
        guard let first = u.first, u.count <= Self.maximumLength,
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            u.allSatisfy({ EventID.isAllowed($0) && $0 != UInt8(ascii: ":") })
        else {
            throw CoreError(
                .invalidValue,
                "event type \"\(rawValue)\" must start with a letter and have at most \(Self.maximumLength) of A–Z a–z 0–9 . _ -")
        }
        self.rawValue = rawValue
    }

    /// A name read back from the ledger's own records, already validated when it was appended.
    init(unchecked rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
}
