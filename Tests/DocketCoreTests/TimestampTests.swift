@testable import DocketCore
import DocketTestSupport
import Testing

// RFC 3339 parsing and formatting of `Timestamp` (microseconds since the Unix epoch, UTC).
// Expected epoch seconds below were cross-checked with GNU `date -u -d … +%s`.

@Suite("Timestamp")
struct TimestampTests {

    struct Instant: Sendable, CustomTestStringConvertible {
        let text: String
        let microseconds: Int64
        var testDescription: String { text }
        init(_ text: String, seconds: Int64, micros: Int64 = 0) {
            self.text = text
            self.microseconds = seconds * 1_000_000 + micros
        }
    }

    /// Canonical texts: parsing gives the instant, formatting gives the text back.
    static let canonical: [Instant] = [
        Instant("1970-01-01T00:00:00Z", seconds: 0),
        Instant("1970-01-01T00:00:00.000001Z", seconds: 0, micros: 1),
        Instant("1969-12-31T23:59:59.999999Z", seconds: 0, micros: -1),
        Instant("1969-12-31T23:59:59.5Z", seconds: 0, micros: -500_000),
        Instant("2026-11-21T09:30:00Z", seconds: 1_795_253_400),
        Instant("2026-11-21T09:30:00.25Z", seconds: 1_795_253_400, micros: 250_000),
        Instant("2026-11-21T09:30:00.123456Z", seconds: 1_795_253_400, micros: 123_456),
        Instant("2000-01-01T00:00:00Z", seconds: 946_684_800),
        Instant("2000-02-29T00:00:00Z", seconds: 951_782_400),
        Instant("2024-02-29T00:00:00Z", seconds: 1_709_164_800),
        Instant("1900-01-01T00:00:00Z", seconds: -2_208_988_800),
        Instant("2100-03-01T00:00:00Z", seconds: 4_107_542_400),
        Instant("2038-01-19T03:14:08Z", seconds: 2_147_483_648),
        Instant("1600-02-29T00:00:00Z", seconds: -11_670_998_400),
        Instant("0001-01-01T00:00:00Z", seconds: -62_135_596_800),
        Instant("9999-12-31T23:59:59.999999Z", seconds: 253_402_300_799, micros: 999_999),
    ]

    @Test("canonical RFC 3339 texts parse to the instant and format back unchanged", arguments: canonical)
    func canonicalRoundTrip(_ i: Instant) throws {
        let t = try Timestamp(rfc3339: i.text)
        #expect(t.microseconds == i.microseconds)
        #expect(t.rfc3339 == i.text)
        #expect(t.description == i.text)
        #expect(Timestamp(microseconds: i.microseconds).rfc3339 == i.text)
    }

    @Test("any instant of the range formats to a canonical text that parses back to it")
    func formattedInstantsParseBack() throws {
        var random = SplitMix64(seed: 3339)
        let span = UInt64(Timestamp.maximum.microseconds - Timestamp.minimum.microseconds)
        for i in 0..<20_000 {
            var us = Timestamp.minimum.microseconds + Int64(random.next() % span)
            if i % 3 == 0 { us -= us % 1_000_000 }  // whole seconds, and
            if i % 3 == 1 { us -= us % 1_000 }  // whole milliseconds, whose fractions are trimmed
            let text = Timestamp(microseconds: us).rfc3339
            #expect(text == Timestamp(microseconds: us).rfc3339Padded)
            #expect(try Timestamp(rfc3339: text).microseconds == us, "\(text)")
            let fraction = text.dropFirst(19).dropLast()
            #expect(text.count <= 27 && text.hasSuffix("Z") && !fraction.hasSuffix("0") && (fraction.isEmpty || fraction.hasPrefix(".")), "\(text)")
        }
    }

    @Test("the documented range is 0001-01-01 through 9999-12-31")
    func range() {
        for t in [Timestamp.minimum, .maximum, Timestamp(microseconds: 0), Timestamp(microseconds: -1), Timestamp(microseconds: 50)] {
            #expect(t.rfc3339 == t.rfc3339Padded)
        }
        #expect(Timestamp(microseconds: 50).rfc3339 == "1970-01-01T00:00:00.00005Z")
        #expect(Timestamp.minimum.rfc3339 == "0001-01-01T00:00:00Z")
        #expect(Timestamp.maximum.rfc3339 == "9999-12-31T23:59:59.999999Z")
        #expect(Timestamp.minimum < Timestamp.maximum)
    }

    /// Accepted spellings and the canonical UTC text they format to.
    static let spellings: [(String, String)] = [
        ("2026-11-21T10:30:00+01:00", "2026-11-21T09:30:00Z"),
        ("2026-11-21T11:30:00+02:00", "2026-11-21T09:30:00Z"),
        ("2026-11-21T04:00:00-05:30", "2026-11-21T09:30:00Z"),
        ("2026-11-21T15:00:00+05:30", "2026-11-21T09:30:00Z"),
        ("2026-11-21T09:30:00+00:00", "2026-11-21T09:30:00Z"),
        ("2026-11-21T09:30:00-00:00", "2026-11-21T09:30:00Z"),
        ("2026-11-21T09:30:00z", "2026-11-21T09:30:00Z"),
        ("2026-11-21t09:30:00Z", "2026-11-21T09:30:00Z"),
        ("2026-11-21 09:30:00Z", "2026-11-21T09:30:00Z"),
        ("2026-11-21t09:30:00.5z", "2026-11-21T09:30:00.5Z"),
        ("2026-11-21T09:30:00+23:59", "2026-11-20T09:31:00Z"),
        ("2026-11-21T09:30:00-23:59", "2026-11-22T09:29:00Z"),
        // Offsets that cross day, month, year and leap-day boundaries.
        ("2026-01-01T01:00:00+02:00", "2025-12-31T23:00:00Z"),
        ("2025-12-31T20:00:00-05:00", "2026-01-01T01:00:00Z"),
        ("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z"),
        ("2023-03-01T00:30:00+01:00", "2023-02-28T23:30:00Z"),
        ("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00Z"),
        ("1970-01-01T00:30:00+01:00", "1969-12-31T23:30:00Z"),
        // Fractions: trailing zeros dropped; beyond microseconds truncated, never rounded.
        ("2026-11-21T09:30:00.250000Z", "2026-11-21T09:30:00.25Z"),
        ("2026-11-21T09:30:00.000000Z", "2026-11-21T09:30:00Z"),
        ("2026-11-21T09:30:00.1Z", "2026-11-21T09:30:00.1Z"),
        ("2026-11-21T09:30:00.1234567Z", "2026-11-21T09:30:00.123456Z"),
        ("2026-11-21T09:30:00.9999999Z", "2026-11-21T09:30:00.999999Z"),
        ("2026-11-21T09:30:00.000000999999Z", "2026-11-21T09:30:00Z"),
        ("2026-11-21T10:30:00.123+01:00", "2026-11-21T09:30:00.123Z"),
        // A leap second is folded into the start of the next second.
        ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z"),
        ("2015-06-30T23:59:60Z", "2015-07-01T00:00:00Z"),
        ("2017-01-01T00:59:60+01:00", "2017-01-01T00:00:00Z"),
    ]

    @Test("offsets, lowercase letters, fractions and leap seconds normalise to UTC", arguments: spellings)
    func spelling(_ text: String, _ canonical: String) throws {
        let t = try Timestamp(rfc3339: text)
        #expect(t.rfc3339 == canonical)
        #expect(try Timestamp(rfc3339: canonical) == t)
    }

    @Test(
        "fractional seconds are formatted with up to six digits, trailing zeros dropped",
        arguments: [
            (Int64(1), ".000001"), (10, ".00001"), (100, ".0001"), (120, ".00012"), (1_000, ".001"),
            (500_000, ".5"), (999_999, ".999999"), (123_400, ".1234"), (0, ""),
        ] as [(Int64, String)])
    func fractionFormatting(_ micros: Int64, _ suffix: String) throws {
        let base = try Timestamp(rfc3339: "2026-11-21T09:30:00Z")
        let t = Timestamp(microseconds: base.microseconds + micros)
        #expect(t.rfc3339 == "2026-11-21T09:30:00" + suffix + "Z")
        #expect(try Timestamp(rfc3339: t.rfc3339) == t)
    }

    @Test("microsecond precision survives every digit position")
    func microsecondPrecision() throws {
        let base = try Timestamp(rfc3339: "1999-12-31T23:59:59Z").microseconds
        for micros in stride(from: Int64(0), to: 2_000_000, by: 7_919) {
            let t = Timestamp(microseconds: base + micros)
            #expect(try Timestamp(rfc3339: t.rfc3339) == t)
        }
    }

    // MARK: Calendar

    @Test("February 29 exists exactly in leap years", arguments: [4, 1600, 1996, 2000, 2004, 2024, 2028, 2400, 9996])
    func leapYear(_ year: Int) throws {
        let t = try Timestamp(rfc3339: "\(pad4(year))-02-29T12:00:00Z")
        #expect(t.rfc3339 == "\(pad4(year))-02-29T12:00:00Z")
        let next = t + .seconds(86_400)
        #expect(next.rfc3339 == "\(pad4(year))-03-01T12:00:00Z")
    }

    @Test("February 29 is refused in common years", arguments: [1, 1700, 1800, 1900, 2023, 2025, 2100, 2200, 2300, 9999])
    func commonYear(_ year: Int) {
        expectCoreError(.invalidTimestamp, "no such date") {
            _ = try Timestamp(rfc3339: "\(pad4(year))-02-29T00:00:00Z")
        }
    }

    @Test("every month ends on the right day", arguments: 1...12)
    func monthLengths(_ month: Int) throws {
        for year in [2023, 2024] {
            let leap = year == 2024
            let last = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
            let mm = month < 10 ? "0\(month)" : "\(month)"
            #expect(Timestamp.daysIn(month: Int64(month), year: Int64(year)) == Int64(last))
            let t = try Timestamp(rfc3339: "\(year)-\(mm)-\(last)T23:59:59Z")
            let nextDay = (t + .seconds(1)).rfc3339
            let expectedNext = month == 12 ? "\(year + 1)-01-01T00:00:00Z" : "\(year)-\(month < 9 ? "0" : "")\(month + 1)-01T00:00:00Z"
            #expect(nextDay == expectedNext)
            expectCoreError(.invalidTimestamp, "no such date") {
                _ = try Timestamp(rfc3339: "\(year)-\(mm)-\(last + 1)T00:00:00Z")
            }
        }
    }

    @Test("civil dates and day numbers agree day by day")
    func civilDays() {
        #expect(Timestamp.days(fromCivil: 1970, 1, 1) == 0)
        #expect(Timestamp.civil(fromDays: 0) == (1970, 1, 1))
        #expect(Timestamp.days(fromCivil: 1, 1, 1) == -719_162)
        #expect(Timestamp.days(fromCivil: 9999, 12, 31) == 2_932_896)

        // Every day from 1899-12-01 to 2101-01-31: consecutive and calendar-correct.
        var day = Timestamp.days(fromCivil: 1899, 12, 1)
        var (y, m, d) = (Int64(1899), Int64(12), Int64(1))
        while y < 2101 || m < 2 {
            let civil = Timestamp.civil(fromDays: day)
            if civil != (y, m, d) {
                Issue.record("day \(day) is \(civil), expected \((y, m, d))")
                return
            }
            day += 1
            d += 1
            if d > Timestamp.daysIn(month: m, year: y) {
                d = 1
                m += 1
                if m > 12 {
                    m = 1
                    y += 1
                }
            }
        }
        // And a sample across the whole range, both ways.
        for day in stride(from: Int64(-719_162), through: 2_932_896, by: 997) {
            let c = Timestamp.civil(fromDays: day)
            #expect(Timestamp.days(fromCivil: c.year, c.month, c.day) == day)
        }
    }

    // MARK: Invalid input

    struct Bad: Sendable, CustomTestStringConvertible {
        let text: String
        let why: String
        var testDescription: String { text.debugDescription }
        init(_ text: String, _ why: String) {
            self.text = text
            self.why = why
        }
    }

    static let invalid: [Bad] = [
        Bad("2026-02-30T00:00:00Z", "no such date"),
        Bad("2026-02-29T00:00:00Z", "no such date"),
        Bad("2026-04-31T00:00:00Z", "no such date"),
        Bad("2026-13-01T00:00:00Z", "no such date"),
        Bad("2026-00-10T00:00:00Z", "no such date"),
        Bad("2026-01-00T00:00:00Z", "no such date"),
        Bad("2026-01-32T00:00:00Z", "no such date"),
        Bad("0000-01-01T00:00:00Z", "no such date"),
        Bad("2026-01-01T24:00:00Z", "time of day out of range"),
        Bad("2026-01-01T99:00:00Z", "time of day out of range"),
        Bad("2026-01-01T23:60:00Z", "time of day out of range"),
        Bad("2026-01-01T23:59:61Z", "time of day out of range"),
        // Not a leap second's place: a slip, which would move the time to the next day.
        Bad("2026-03-01T23:59:60Z", "second 60 is only a leap second's, at 23:59:60 UTC on the last day of June or December"),
        Bad("2016-12-31T12:30:60Z", "second 60 is only a leap second's, at 23:59:60 UTC on the last day of June or December"),
        Bad("2016-12-31T23:59:60+01:00", "second 60 is only a leap second's, at 23:59:60 UTC on the last day of June or December"),
        Bad("2026-01-01T00:00:00", "missing time zone offset (use Z for UTC)"),
        Bad("2026-01-01T00:00:00.5", "missing time zone offset (use Z for UTC)"),
        Bad("2026-01-01", "expected 'T' at position 11"),
        Bad("", "too short"),
        Bad("2026-01-01T00:00Z", "expected ':' at position 17"),
        Bad("2026-1-01T00:00:00Z", "expected a digit at position 7"),
        Bad("2026/01/01T00:00:00Z", "expected '-' at position 5"),
        Bad("2026-01-01X00:00:00Z", "expected 'T' at position 11"),
        Bad("2026-01-01T00-00:00Z", "expected ':' at position 14"),
        Bad(" 2026-01-01T00:00:00Z", "expected a digit at position 1"),
        Bad("+12026-01-01T00:00:00Z", "expected a digit at position 1"),
        Bad("２０２６-01-01T00:00:00Z", "expected a digit at position 1"),  // full-width digits
        Bad("2026-01-01T00:00:00.Z", "expected digits after '.'"),
        Bad("2026-01-01T00:00:00,5Z", "expected Z or an offset like +01:00 at position 20"),
        Bad("2026-01-01T00:00:00UTC", "expected Z or an offset like +01:00 at position 20"),
        Bad("2026-01-01T00:00:00+24:00", "offset out of range"),
        Bad("2026-01-01T00:00:00+01:60", "offset out of range"),
        Bad("2026-01-01T00:00:00+0100", "expected ':' at position 23"),
        Bad("2026-01-01T00:00:00+01", "expected ':' at position 23"),
        Bad("2026-01-01T00:00:00+1:00", "expected a digit at position 22"),
        Bad("2026-01-01T00:00:00+01:0", "too short"),
        Bad("2026-01-01T00:00:00Z ", "unexpected characters at position 21"),
        Bad("2026-01-01T00:00:00ZZ", "unexpected characters at position 21"),
        Bad("2026-01-01T00:00:00+01:00:00", "unexpected characters at position 26"),
        Bad("2026-01-01T00:00:00Z\n", "unexpected characters at position 21"),
    ]

    @Test("invalid dates, times and offsets are refused with the reason and an example", arguments: invalid)
    func invalidTimestamp(_ b: Bad) {
        let error = expectCoreError(.invalidTimestamp, b.why) { _ = try Timestamp(rfc3339: b.text) }
        #expect(error?.message.hasPrefix("invalid time \"\(b.text)\": ") == true)
        #expect(error?.message.hasSuffix("(expected RFC 3339, e.g. 2026-11-21T09:30:00Z)") == true)
    }

    @Test(
        "instants the offset pushes outside years 0001–9999 are refused",
        arguments: ["9999-12-31T23:59:59-00:01", "9999-12-31T23:30:00-05:00", "0001-01-01T00:00:00+00:01"])
    func outOfRangeViaOffset(_ text: String) {
        expectCoreError(.invalidTimestamp, "outside years 0001–9999 UTC") { _ = try Timestamp(rfc3339: text) }
    }

    // MARK: Order and arithmetic

    @Test("instants order by time, whatever offset wrote them")
    func ordering() throws {
        let ordered = [
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00.000001Z",
            "2026-11-21T10:29:59.999999+01:00",
            "2026-11-21T09:30:00Z",
            "2026-11-21T04:00:00.000001-05:30",
            "2026-11-21T09:30:01+00:00",
            "9999-12-31T23:59:59.999999Z",
        ]
        let stamps = try ordered.map { (s: String) throws(CoreError) in try Timestamp(rfc3339: s) }
        #expect(stamps == stamps.sorted())
        for (a, b) in zip(stamps, stamps.dropFirst()) {
            #expect(a < b, "\(a) < \(b)")
            #expect(!(b < a))
            #expect(a != b)
        }
        // Shuffled deterministically, sorting recovers the order.
        var rng = SplitMix64(seed: 7)
        #expect(stamps.shuffled(using: &rng).sorted() == stamps)
    }

    @Test("the same instant written with different offsets is one value")
    func sameInstant() throws {
        let spellings = [
            "2026-11-21T09:30:00Z", "2026-11-21T10:30:00+01:00", "2026-11-21T04:00:00-05:30", "2026-11-21t09:30:00z",
        ]
        let stamps = Set(try spellings.map { (s: String) throws(CoreError) in try Timestamp(rfc3339: s) })
        #expect(stamps.count == 1)
    }

    @Test("arithmetic with Duration is exact to the microsecond")
    func arithmetic() throws {
        let t = try Timestamp(rfc3339: "2024-02-28T23:59:59.5Z")
        #expect((t + .milliseconds(500)).rfc3339 == "2024-02-29T00:00:00Z")
        #expect((t + .seconds(86_400)).rfc3339 == "2024-02-29T23:59:59.5Z")
        #expect((t + .seconds(-86_400)).rfc3339 == "2024-02-27T23:59:59.5Z")
        #expect((t + .microseconds(1)).rfc3339 == "2024-02-28T23:59:59.500001Z")
        let u = try Timestamp(rfc3339: "2024-03-01T00:00:00Z")
        #expect(u - t == .microseconds(86_400_500_000))
        #expect(t - u == .microseconds(-86_400_500_000))
        #expect(Timestamp(seconds: 60) - Timestamp(seconds: 0) == .seconds(60))
        #expect(Timestamp(seconds: -1).microseconds == -1_000_000)
    }

    static let durations: [(Duration, Int64)] = [
        (.seconds(2), 2_000_000), (.milliseconds(-3), -3_000), (.nanoseconds(1_500), 1),
        (.nanoseconds(999), 0), (.nanoseconds(-1_500), -1), (.nanoseconds(-999), 0),
        (Duration.seconds(-1) - Duration.nanoseconds(500), -1_000_000), (.zero, 0),
    ]

    @Test("Duration.microseconds rounds toward zero", arguments: durations)
    func durationMicroseconds(_ d: Duration, _ micros: Int64) {
        #expect(d.microseconds == micros)
    }

    @Test("now() is a plausible present")
    func now() throws {
        let a = Timestamp.now()
        let b = Timestamp.now()
        #expect(a <= b)
        #expect(a > (try Timestamp(rfc3339: "2020-01-01T00:00:00Z")))
        #expect(a < Timestamp.maximum)
        #expect(try Timestamp(rfc3339: a.rfc3339) == a)
    }

    private func pad4(_ year: Int) -> String {
        let s = String(year)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}
