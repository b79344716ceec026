/// A client-chosen event id: the idempotency key of an append.
///
/// 1–128 bytes of `A–Z a–z 0–9 . _ : -`. UUIDs are the usual choice and are stored in 16 bytes.
public struct EventID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let rawValue: String
    public static let maximumLength = 128

    public init(_ rawValue: String) throws(CoreError) {
        let utf8 = rawValue.utf8
        guard !utf8.isEmpty, utf8.count <= Self.maximumLength else {
            throw CoreError(.invalidValue, "event id must be 1–\(Self.maximumLength) bytes, got \(utf8.count)")
        }
        for c in utf8 where !Self.isAllowed(c) {
            throw CoreError(
                .invalidValue,
                "event id \"\(rawValue)\" contains '\(Character(Unicode.Scalar(c)))'; allowed are A–Z a–z 0–9 . _ : -")
        }
        self.rawValue = rawValue
    }

    /// A new random (version 4) UUID id, lowercase.
    public static func random() -> EventID {
        var g = SystemRandomNumberGenerator()
        return EventID(uuidBytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }, uppercase: false, setVersion: true)
    }

    init(uuidBytes b: [UInt8], uppercase: Bool, setVersion: Bool = false) {
        var b = b
        if setVersion {
            b[6] = (b[6] & 0x0F) | 0x40
            b[8] = (b[8] & 0x3F) | 0x80
        }
        let digits: [UInt8] = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        rawValue = String(decoding: out, as: UTF8.self)
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
    var uuidForm: (bytes: [UInt8], uppercase: Bool)? {
        let u = Array(rawValue.utf8)
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

    public var description: String { rawValue }
    public static func < (a: StreamName, b: StreamName) -> Bool { a.rawValue < b.rawValue }
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

    public var description: String { rawValue }
}
