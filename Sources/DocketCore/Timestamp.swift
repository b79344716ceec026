#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An instant in UTC with microsecond precision: microseconds since 1970-01-01T00:00:00Z.
///
/// Written and read as RFC 3339 (`2026-11-21T09:30:00Z`, `2026-11-21T10:30:00.25+01:00`); stored as
/// an integer so that ordering, arithmetic and encoding are exact.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public init(seconds: Int64) { self.microseconds = seconds * 1_000_000 }

    /// The system's wall-clock time.
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    /// Years 0001–9999 only: RFC 3339 cannot say more.
    public static let minimum = Timestamp(microseconds: -62_135_596_800_000_000)
    public static let maximum = Timestamp(microseconds: 253_402_300_799_999_999)

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    public static func + (t: Timestamp, d: Duration) -> Timestamp {
        Timestamp(microseconds: t.microseconds + d.microseconds)
    }

    public static func - (a: Timestamp, b: Timestamp) -> Duration {
        .microseconds(a.microseconds - b.microseconds)
    }

    /// The RFC 3339 form in UTC, with fractional seconds only when there are any.
    public var description: String { rfc3339 }

    /// Year, month, day, second of the day and microseconds of the second, in UTC.
    private var fields: (y: Int64, m: Int64, d: Int64, secondOfDay: Int64, fraction: Int64) {
        let (days, micros) = microseconds.floorDivided(by: 86_400_000_000)
        let (y, m, d) = Self.civil(fromDays: days)
        return (y, m, d, micros / 1_000_000, micros % 1_000_000)
    }

    public var rfc3339: String {
        let (y, m, d, secondOfDay, fraction) = fields
        if (0...9999).contains(y) {
            // Written byte by byte into one string: views render several times a row.
            return String(unsafeUninitializedCapacity: 27) { out in
                var n = 0
                func put(_ v: Int64, _ width: Int) {
                    var v = v
                    for i in stride(from: width - 1, through: 0, by: -1) {
                        out[n + i] = UInt8(truncatingIfNeeded: 48 + v % 10)
                        v /= 10
                    }
                    n += width
                }
                func put(_ c: Unicode.Scalar) {
                    out[n] = UInt8(ascii: c)
                    n += 1
                }
                put(y, 4); put("-"); put(m, 2); put("-"); put(d, 2); put("T")
                put(secondOfDay / 3600, 2); put(":"); put(secondOfDay / 60 % 60, 2); put(":"); put(secondOfDay % 60, 2)
                if fraction != 0 {
                    put(".")
                    var (f, width) = (fraction, 6)
                    while f % 10 == 0 { (f, width) = (f / 10, width - 1) }
                    put(f, width)
                }
                put("Z")
                return n
            }
        }
        return rfc3339Padded
    }

    /// The same text, made of padded numbers (beyond year 9999, or to check the above against).
    var rfc3339Padded: String {
        let (y, m, d, secondOfDay, fraction) = fields
        var s = Self.pad(y, 4) + "-" + Self.pad(m, 2) + "-" + Self.pad(d, 2) + "T"
        s += Self.pad(secondOfDay / 3600, 2) + ":" + Self.pad(secondOfDay / 60 % 60, 2) + ":" + Self.pad(secondOfDay % 60, 2)
        if fraction != 0 {
            var f = Self.pad(fraction, 6)
            while f.hasSuffix("0") { f.removeLast() }
            s += "." + f
        }
        return s + "Z"
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`); a lowercase `t`/`z` or a space
    /// separator is accepted, as RFC 3339 §5.6 allows.
    public init(rfc3339 text: String) throws(CoreError) {
        var text = text
        self = try text.withUTF8 { utf8 in
            Result { () throws(CoreError) in try Timestamp(rfc3339UTF8: UnsafeRawBufferPointer(utf8)) }
        }.get()
    }

    /// Parses RFC 3339 from its UTF-8 bytes (as `init(rfc3339:)`), without making a `String`.
    public init(rfc3339UTF8 b: UnsafeRawBufferPointer) throws(CoreError) {
        func fail(_ why: String) -> CoreError {
            CoreError(.invalidTimestamp, "invalid time \"\(String(decoding: b, as: UTF8.self))\": \(why) (expected RFC 3339, e.g. 2026-11-21T09:30:00Z)")
        }
        func digits(_ at: Int, _ n: Int) throws(CoreError) -> Int64 {
            guard at + n <= b.count else { throw fail("too short") }
            var v: Int64 = 0
            for i in at..<at + n {
                guard b[i] >= 48 && b[i] <= 57 else { throw fail("expected a digit at position \(i + 1)") }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        func char(_ at: Int, _ allowed: String) throws(CoreError) {
            guard at < b.count, allowed.utf8.contains(b[at]) else { throw fail("expected '\(allowed.prefix(1))' at position \(at + 1)") }
        }
        let year = try digits(0, 4)
        try char(4, "-")
        let month = try digits(5, 2)
        try char(7, "-")
        let day = try digits(8, 2)
        try char(10, "Tt ")
        let hour = try digits(11, 2)
        try char(13, ":")
        let minute = try digits(14, 2)
        try char(16, ":")
        let second = try digits(17, 2)
        var i = 19
        var fraction: Int64 = 0
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count && b[i] >= 48 && b[i] <= 57 {
                if n < 6 { fraction = fraction * 10 + Int64(b[i] - 48) }
                n += 1
                i += 1
            }
            guard n > 0 else { throw fail("expected digits after '.'") }
            if n < 6 { for _ in n..<6 { fraction *= 10 } }
        }
        guard i < b.count else { throw fail("missing time zone offset (use Z for UTC)") }
        var offsetMinutes: Int64 = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            let oh = try digits(i + 1, 2)
            try char(i + 3, ":")
            let om = try digits(i + 4, 2)
            guard oh < 24 && om < 60 else { throw fail("offset out of range") }
            offsetMinutes = sign * (oh * 60 + om)
            i += 6
        } else {
            throw fail("expected Z or an offset like +01:00 at position \(i + 1)")
        }
        guard i == b.count else { throw fail("unexpected characters at position \(i + 1)") }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year) else {
            throw fail("no such date")
        }
        // Leap seconds (60) are folded into the next second's start, as most systems do; only a
        // leap second's place takes one (23:59:60 UTC on the last day of June or December, the
        // only ones ever used), or a slip would move a deadline to the next day without a word.
        guard hour < 24, minute < 60, second <= 60 else { throw fail("time of day out of range") }
        let days = Self.days(fromCivil: year, month, day)
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        if second == 60 {
            // The leap second follows 23:59:59 UTC, one second before `secs` (the next day's start).
            let (utcDay, utcSecond) = (secs - 1).floorDivided(by: 86_400)
            let date = Self.civil(fromDays: utcDay)
            guard utcSecond == 86_399, date.month == 6 || date.month == 12, date.day == Self.daysIn(month: date.month, year: date.year) else {
                throw fail("second 60 is only a leap second's, at 23:59:60 UTC on the last day of June or December")
            }
        }
        let micros = secs * 1_000_000 + fraction
        guard micros >= Self.minimum.microseconds && micros <= Self.maximum.microseconds else {
            throw fail("the offset moves it outside years 0001–9999 UTC")
        }
        self.microseconds = micros
    }

    // Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar.
    public static func days(fromCivil y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civil(fromDays z: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    public static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

extension Int64 {
    /// Floor division and the matching non-negative remainder.
    @inlinable func floorDivided(by d: Int64) -> (quotient: Int64, remainder: Int64) {
        let q = self / d
        let r = self % d
        return r < 0 ? (q - 1, r + d) : (q, r)
    }
}

extension Duration {
    /// Whole microseconds, rounding toward zero (Docket never stores finer than that).
    public var microseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000 + atto / 1_000_000_000_000
    }
}
