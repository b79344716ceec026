@testable import DocketCore
import DocketTestSupport
import Foundation
import Testing

// Business time (BusinessCalendar) and zone rules (ZoneRules: fixed offsets, TZif files, footer
// rules). Expected instants were worked out by hand from the tz rules and cross-checked with
// GNU `date`.

private func at(_ text: String) -> Timestamp { try! Timestamp(rfc3339: text) }
private func seconds(_ text: String) -> Int64 { at(text).microseconds / 1_000_000 }
private func date(_ text: String) -> CivilDate { try! CivilDate(text) }

/// The system tz database, which tests may read (DocketCore itself never does IO).
enum Zoneinfo {
    static let directory = "/usr/share/zoneinfo"
    static let available = ["Europe/Berlin", "America/New_York"].allSatisfy {
        FileManager.default.fileExists(atPath: directory + "/" + $0)
    }

    struct Missing: Error {}

    static func rules(_ identifier: String) throws -> ZoneRules {
        guard let data = FileManager.default.contents(atPath: directory + "/" + identifier) else { throw Missing() }
        return try ZoneRules(identifier: identifier, tzif: [UInt8](data))
    }
}

/// Builds TZif files (RFC 8536) for tests: one version-1 block, and for version 2+ the 64-bit
/// block and a footer.
private func tzif(
    version: UInt8 = UInt8(ascii: "2"), times: [Int64] = [], typeIndices: [UInt8] = [], offsets: [Int32], footer: String = "",
    leapCount: Int = 0
) -> [UInt8] {
    func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    let chars = Array("ZZZ\0".utf8)
    func block(timeSize: Int) -> [UInt8] {
        var out = Array("TZif".utf8) + [version] + [UInt8](repeating: 0, count: 15)
        for count in [0, 0, leapCount, times.count, offsets.count, chars.count] { out += be(Int32(count)) }
        for t in times { out += timeSize == 8 ? be(t) : be(Int32(truncatingIfNeeded: t)) }
        out += typeIndices
        for o in offsets { out += be(o) + [0, 0] }
        out += chars
        out += [UInt8](repeating: 0, count: leapCount * (timeSize + 4))
        return out
    }
    var bytes = block(timeSize: 4)
    if version != 0 { bytes += block(timeSize: 8) + Array("\n\(footer)\n".utf8) }
    return bytes
}

@Suite("Business calendar")
struct BusinessCalendarTests {
    static let fiveBusinessDays = PolicyDuration.businessDays(5).countedMicroseconds
    static let hour: Int64 = 3_600_000_000

    @Test("a deadline on a day off moves to the same local time on the next work day: across a change of offset and past a holiday; one at local midnight is the end of the day before")
    func onWorkday() throws {
        // New York's clocks go back from EDT to EST at 2026-11-01T06:00:00Z.
        let newYork = try ZoneRules(identifier: "America/New_York", initialUTCOffsetSeconds: -4 * 3600, transitions: [.init(at: seconds("2026-11-01T06:00:00Z"), utcOffsetSeconds: -5 * 3600)])
        let calendar = BusinessCalendar(zone: newYork)
        // Saturday 10-31 00:30 EDT: Monday 00:30, by then EST (not 24-hour steps, which would
        // land on Sunday 23:30 and then Monday 23:30).
        #expect(calendar.onWorkday(at("2026-10-31T04:30:00Z")) == at("2026-11-02T05:30:00Z"))
        // A work day's stays.
        #expect(calendar.onWorkday(at("2026-10-30T16:00:00Z")) == at("2026-10-30T16:00:00Z"))
        // Saturday 00:00 is Friday's end (where 5 business days from a Saturday end): it stays.
        #expect(calendar.onWorkday(at("2026-10-31T04:00:00Z")) == at("2026-10-31T04:00:00Z"))
        // Sunday 00:00 is Saturday's end: Monday's end, Tuesday 00:00 EST.
        #expect(calendar.onWorkday(at("2026-11-01T04:00:00Z")) == at("2026-11-03T05:00:00Z"))
        // A workweek of Mondays, one of them a holiday: two weeks on.
        let mondays = BusinessCalendar(workweek: [.monday], holidays: [date("2026-11-09")])
        #expect(mondays.onWorkday(at("2026-11-03T12:00:00Z")) == at("2026-11-16T12:00:00Z"))
        // No work day at all: nowhere to move it to.
        #expect(BusinessCalendar(workweek: []).onWorkday(at("2026-11-01T12:00:00Z")) == at("2026-11-01T12:00:00Z"))
    }

    @Test("where a change of offset skips local midnight, a day's first instant (01:00) is the end of the day before; where it repeats midnight, the second is inside the new day")
    func onWorkdayAtChangedMidnights() throws {
        // Cairo works Sunday–Thursday; summer time begins at Friday 2026-04-24 00:00 EET, which
        // becomes 01:00 EEST (2026-04-23T22:00:00Z).
        let cairo = try ZoneRules(identifier: "Africa/Cairo", initialUTCOffsetSeconds: 2 * 3600, transitions: [.init(at: seconds("2026-04-23T22:00:00Z"), utcOffsetSeconds: 3 * 3600)])
        let sundayToThursday: [Weekday] = [.sunday, .monday, .tuesday, .wednesday, .thursday]
        let egypt = BusinessCalendar(zone: cairo, workweek: sundayToThursday)
        // Friday 01:00 EEST, Friday's first instant: Thursday's end, which stays (as 5 business
        // days from a Saturday end there).
        #expect(egypt.onWorkday(at("2026-04-23T22:00:00Z")) == at("2026-04-23T22:00:00Z"))
        #expect(egypt.advance(at("2026-04-18T10:00:00Z"), by: Self.fiveBusinessDays, unit: .businessDays) == at("2026-04-23T22:00:00Z"))
        // Friday noon: Sunday noon.
        #expect(egypt.onWorkday(at("2026-04-24T09:00:00Z")) == at("2026-04-26T09:00:00Z"))
        // With Thursday a holiday, Thursday's end moves to Sunday's: Monday 00:00 EEST.
        let holiday = BusinessCalendar(zone: cairo, workweek: sundayToThursday, holidays: [date("2026-04-23")])
        #expect(holiday.onWorkday(at("2026-04-23T22:00:00Z")) == at("2026-04-26T21:00:00Z"))
        // Havana works Monday–Saturday; summer time ends at Sunday 2026-11-01 01:00 CDT, which
        // becomes 00:00 CST (05:00Z): midnight twice.
        let havana = try ZoneRules(identifier: "America/Havana", initialUTCOffsetSeconds: -4 * 3600, transitions: [.init(at: seconds("2026-11-01T05:00:00Z"), utcOffsetSeconds: -5 * 3600)])
        let cuba = BusinessCalendar(zone: havana, workweek: [.monday, .tuesday, .wednesday, .thursday, .friday, .saturday])
        // The first midnight is Saturday's end: it stays.
        #expect(cuba.onWorkday(at("2026-11-01T04:00:00Z")) == at("2026-11-01T04:00:00Z"))
        // The second is an hour into Sunday. Its wall time on Monday, 00:00, would be Monday's
        // first instant, which is Sunday's end, a day off: Monday's end instead, Tuesday 00:00
        // CST (which stays where it is). Half an hour later: Monday 00:30.
        #expect(cuba.onWorkday(at("2026-11-01T05:00:00Z")) == at("2026-11-03T05:00:00Z"))
        #expect(cuba.onWorkday(at("2026-11-03T05:00:00Z")) == at("2026-11-03T05:00:00Z"))
        #expect(cuba.onWorkday(at("2026-11-01T05:30:00Z")) == at("2026-11-02T05:30:00Z"))
        // A wall time that falls in the gap at the start of the work day: Thursday 04-23 00:30
        // EET, where only Fridays are worked, moves to Friday 00:30, which does not exist (the
        // clocks go from 00:00 EET to 01:00 EEST): the later side, 01:30 EEST, inside Friday.
        let fridays = BusinessCalendar(zone: cairo, workweek: [.friday])
        #expect(fridays.onWorkday(at("2026-04-22T22:30:00Z")) == at("2026-04-23T22:30:00Z"))
    }

    @Test("5 business days from Friday 15:00 UTC end the next Friday 15:00")
    func fridayAfternoon() {
        let calendar = BusinessCalendar()
        let due = calendar.advance(at("2026-11-20T15:00:00Z"), by: Self.fiveBusinessDays, unit: .businessDays)
        #expect(due == at("2026-11-27T15:00:00Z"))
        #expect(calendar.measure(from: at("2026-11-20T15:00:00Z"), to: due, unit: .businessDays) == Self.fiveBusinessDays)
    }

    @Test("a holiday on Thursday moves the deadline to Monday")
    func holiday() {
        let calendar = BusinessCalendar(holidays: [date("2026-11-26")])
        #expect(calendar.advance(at("2026-11-20T15:00:00Z"), by: Self.fiveBusinessDays, unit: .businessDays) == at("2026-11-30T15:00:00Z"))
        #expect(!calendar.isBusinessDay(date("2026-11-26")))
        #expect(calendar.isBusinessDay(date("2026-11-27")))
        #expect(!calendar.isBusinessDay(date("2026-11-28")))
    }

    @Test("from a Saturday the count starts Monday 00:00 and 5 business days end at Saturday 00:00")
    func saturdayStart() {
        let calendar = BusinessCalendar()
        #expect(calendar.advance(at("2026-11-21T10:00:00Z"), by: Self.fiveBusinessDays, unit: .businessDays) == at("2026-11-28T00:00:00Z"))
        #expect(calendar.measure(from: at("2026-11-21T10:00:00Z"), to: at("2026-11-23T00:00:00Z"), unit: .businessDays) == 0)
        #expect(calendar.advance(at("2026-11-21T10:00:00Z"), by: 1, unit: .businessDays) == at("2026-11-23T00:00:00.000001Z"))
        #expect(calendar.advance(at("2026-11-21T10:00:00Z"), by: 0, unit: .businessDays) == at("2026-11-21T10:00:00Z"))
    }

    @Test("a few microseconds left on Friday night carry over the weekend and a holiday, exactly")
    func smallShortfallOverUncountedTime() {
        // 10 µs count on Friday; the last microsecond falls after the weekend and Monday's holiday.
        let calendar = BusinessCalendar(holidays: [date("2026-11-23")])
        #expect(calendar.advance(at("2026-11-20T23:59:59.99999Z"), by: 11, unit: .businessDays) == at("2026-11-24T00:00:00.000001Z"))
        #expect(calendar.advance(at("2026-11-20T23:59:59.99999Z"), by: 10, unit: .businessDays) == at("2026-11-21T00:00:00Z"))
    }

    @Test("hours and days count all elapsed time; business days skip the weekend")
    func measureUnits() {
        let calendar = BusinessCalendar()
        let friday = at("2026-11-20T15:00:00Z")
        let monday = at("2026-11-23T15:00:00Z")
        #expect(calendar.measure(from: friday, to: monday, unit: .hours) == 72 * Self.hour)
        #expect(calendar.measure(from: friday, to: monday, unit: .days) == 72 * Self.hour)
        #expect(calendar.measure(from: friday, to: monday, unit: .businessDays) == 24 * Self.hour)
        #expect(calendar.measure(from: monday, to: friday, unit: .businessDays) == 0)
        #expect(calendar.advance(friday, by: 48 * Self.hour, unit: .hours) == at("2026-11-22T15:00:00Z"))
        #expect(calendar.span(of: .days(7)) == 7 * 24 * Self.hour)
    }

    @Test("an empty workweek never reaches a business-day amount")
    func emptyWorkweek() {
        let calendar = BusinessCalendar(workweek: [])
        #expect(calendar.advance(at("2026-11-20T15:00:00Z"), by: 1, unit: .businessDays) == .maximum)
        #expect(calendar.measure(from: at("2026-11-20T15:00:00Z"), to: at("2027-11-20T15:00:00Z"), unit: .businessDays) == 0)
    }

    @Test("fixed offsets: local midnight is the business-day boundary, and holidays are local dates")
    func fixedOffsets() throws {
        let india = BusinessCalendar(zone: try ZoneRules(fixedOffset: "+05:30"))
        // Saturday 00:00 local; Monday counts from 2026-11-22T18:30Z.
        #expect(india.advance(at("2026-11-20T18:30:00Z"), by: PolicyDuration.businessDays(1).countedMicroseconds, unit: .businessDays)
            == at("2026-11-23T18:30:00Z"))
        #expect(india.localDate(of: at("2026-11-20T18:30:00Z")) == date("2026-11-21"))

        let pacific = BusinessCalendar(zone: try ZoneRules(fixedOffset: "-08:00"))
        #expect(pacific.advance(at("2026-11-20T23:00:00Z"), by: Self.fiveBusinessDays, unit: .businessDays) == at("2026-11-27T23:00:00Z"))
        let pacificHoliday = BusinessCalendar(zone: try ZoneRules(fixedOffset: "-08:00"), holidays: [date("2026-11-27")])
        #expect(pacificHoliday.advance(at("2026-11-20T23:00:00Z"), by: Self.fiveBusinessDays, unit: .businessDays)
            == at("2026-11-30T23:00:00Z"))
    }

    @Test("advance is the exact inverse of measure, for random starts and amounts")
    func inverseProperty() throws {
        var calendars = [
            BusinessCalendar(),
            BusinessCalendar(zone: try ZoneRules(fixedOffset: "+05:30"), holidays: [date("2026-01-26"), date("2026-08-15")]),
            BusinessCalendar(zone: try ZoneRules(fixedOffset: "-08:00"), workweek: [.sunday, .monday, .tuesday, .wednesday, .thursday]),
        ]
        if Zoneinfo.available {
            calendars.append(BusinessCalendar(zone: try Zoneinfo.rules("Europe/Berlin"), holidays: [date("2026-12-25"), date("2026-12-26")]))
            calendars.append(BusinessCalendar(zone: try Zoneinfo.rules("America/New_York"), workweek: [.saturday, .sunday]))
        }
        var g = SplitMix64(seed: 0xD0C_4E7)
        let base = at("2020-01-01T00:00:00Z").microseconds
        for i in 0..<400 {
            let calendar = calendars[i % calendars.count]
            let unit = ClockUnit.allCases[Int(g.next() % 3)]
            let start = Timestamp(microseconds: base + Int64(g.next() % UInt64(10 * 365 * 24 * Self.hour)))
            let amount = Int64(g.next() % UInt64(20 * 24 * Self.hour))
            let due = calendar.advance(start, by: amount, unit: unit)
            #expect(calendar.measure(from: start, to: due, unit: unit) == amount, "\(start) + \(amount) \(unit) in \(calendar.zone)")
            if due > start {
                // The earliest such instant: one microsecond less is one microsecond short.
                #expect(calendar.measure(from: start, to: Timestamp(microseconds: due.microseconds - 1), unit: unit) == amount - 1)
                let middle = Timestamp(microseconds: start.microseconds + Int64(g.next() % UInt64(due.microseconds - start.microseconds)))
                #expect(calendar.measure(from: start, to: middle, unit: unit) + calendar.measure(from: middle, to: due, unit: unit) == amount)
            }
        }
    }

    @Test("business time matches a half-hour-by-half-hour count of local dates")
    func bruteForce() throws {
        var calendars = [
            BusinessCalendar(zone: try ZoneRules(fixedOffset: "+05:30"), holidays: [date("2024-03-01")]),
            BusinessCalendar(zone: try ZoneRules(fixedOffset: "-08:00"), workweek: [.friday, .saturday]),
        ]
        if Zoneinfo.available {
            calendars.append(BusinessCalendar(zone: try Zoneinfo.rules("Europe/Berlin"), workweek: [.sunday, .monday]))
            calendars.append(BusinessCalendar(zone: try Zoneinfo.rules("America/New_York"), holidays: [date("2024-11-05")]))
        }
        // Offsets here are whole half-hours, so a half-hour step never straddles a local midnight.
        let halfHour = Self.hour / 2
        var g = SplitMix64(seed: 42)
        let base = at("2024-01-01T00:00:00Z").microseconds
        for i in 0..<80 {
            let calendar = calendars[i % calendars.count]
            let a = base + Int64(g.next() % (2 * 365 * 48)) * halfHour
            let steps = Int64(g.next() % (40 * 48))
            var expected: Int64 = 0
            for k in 0..<steps where calendar.isBusinessDay(calendar.localDate(of: Timestamp(microseconds: a + k * halfHour))) {
                expected += halfHour
            }
            let measured = calendar.measure(from: Timestamp(microseconds: a), to: Timestamp(microseconds: a + steps * halfHour), unit: .businessDays)
            #expect(measured == expected, "\(Timestamp(microseconds: a)) + \(steps) half-hours in \(calendar.zone)")
        }
    }
}

@Suite("Civil dates and weekdays")
struct CivilDateTests {
    @Test("ISO weekday numbers, abbreviations and the epoch's Thursday")
    func weekdays() {
        #expect(Weekday(daysSinceEpoch: 0) == .thursday)
        #expect(Weekday(daysSinceEpoch: -1) == .wednesday)
        #expect(date("2026-11-20").weekday == .friday)
        #expect(Weekday.allCases.map(\.isoNumber) == Array(1...7))
        #expect(Weekday(isoNumber: 7) == .sunday)
        #expect(Weekday(isoNumber: 0) == nil)
        #expect(Weekday(abbreviation: "mon") == .monday)
        #expect(Weekday(abbreviation: "Mon") == nil)
    }

    @Test("dates parse from YYYY-MM-DD, print back and count days from the epoch")
    func dates() throws {
        #expect(date("1970-01-01").daysSinceEpoch == 0)
        #expect(date("2024-02-29").description == "2024-02-29")
        #expect(CivilDate(daysSinceEpoch: date("2026-12-25").daysSinceEpoch) == date("2026-12-25"))
        #expect(date("2026-01-01") < date("2026-12-31"))
        for bad in ["2026-02-29", "2026-13-01", "2026-00-10", "0000-01-01", "2026-1-01", "2026/01/01", "2026-01-01T00:00:00Z", ""] {
            #expect(throws: CoreError.self, "\(bad)") { try CivilDate(bad) }
        }
    }
}

@Suite("Zone rules")
struct ZoneRulesTests {
    @Test("fixed offsets: ±HH:MM up to ±18:00")
    func fixedOffsets() throws {
        #expect(try ZoneRules(fixedOffset: "+05:30").utcOffsetSeconds(at: at("2026-06-01T00:00:00Z")) == 19_800)
        #expect(try ZoneRules(fixedOffset: "-08:00").utcOffsetSeconds(at: at("1900-06-01T00:00:00Z")) == -28_800)
        #expect(try ZoneRules(fixedOffset: "+18:00").initialUTCOffsetSeconds == 64_800)
        for bad in ["+5:30", "05:30", "+18:01", "+05:60", "UTC", "+0530", "+05:30 ", "−05:00"] {
            #expect(throws: CoreError.self, "\(bad)") { try ZoneRules(fixedOffset: bad) }
        }
        #expect(ZoneRules.builtIn("UTC") == .utc)
        #expect(ZoneRules.builtIn("-03:00")?.initialUTCOffsetSeconds == -10_800)
        #expect(ZoneRules.builtIn("Europe/Berlin") == nil)
    }

    @Test("time zone names: UTC, offsets and IANA-shaped ids")
    func names() {
        for good in ["UTC", "+01:00", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST5EDT", "America/Port-au-Prince"] {
            #expect(ZoneRules.isValidTimeZone(good), "\(good)")
        }
        for bad in ["", "Europe Berlin", "/Europe", "Europe/", "Europe//Berlin", "1Europe/X", "America/AVeryLongComponent", "Europe/../etc"] {
            #expect(!ZoneRules.isValidTimeZone(bad), "\(bad)")
        }
        // Files of a tz database directory that name no place: a policy would mean different
        // deadlines on different machines, or none.
        for notAPlace in ["localtime", "posixrules", "Factory"] {
            #expect(ZoneRules.notAPlace(notAPlace) != nil, "\(notAPlace)")
            let text = "name = \"X\"\nversion = 1\ntime-zone = \"\(notAPlace)\"\n[acknowledge]\nwithin = \"48h\"\n"
            #expect { try Policy.parse(text, file: "x.toml", adopting: true) } throws: { error in
                "\(error)".contains("x.toml:3: time-zone: \"\(notAPlace)\" is ") && "\(error)".contains("name the zone, like \"Europe/Berlin\"")
            }
            // One already in a log is read as it was recorded: its adoption stays in every view.
            #expect((try? Policy.parse(text, file: "PolicyAdopted@1"))?.timeZone == notAPlace)
        }
    }

    @Test("rules restored from their transitions are equal; disordered transitions are refused")
    func restore() throws {
        let transitions = [
            ZoneRules.Transition(at: 100, utcOffsetSeconds: 3600), ZoneRules.Transition(at: 200, utcOffsetSeconds: 7200),
        ]
        let rules = try ZoneRules(identifier: "Test/Zone", initialUTCOffsetSeconds: 0, transitions: transitions)
        #expect(try ZoneRules(identifier: rules.identifier, initialUTCOffsetSeconds: rules.initialUTCOffsetSeconds, transitions: rules.transitions) == rules)
        #expect(rules.utcOffsetSeconds(at: Timestamp(seconds: 99)) == 0)
        #expect(rules.utcOffsetSeconds(at: Timestamp(microseconds: 99_999_999)) == 0)
        #expect(rules.utcOffsetSeconds(at: Timestamp(seconds: 100)) == 3600)
        #expect(rules.utcOffsetSeconds(at: Timestamp(seconds: 200)) == 7200)
        #expect(throws: CoreError.self) {
            try ZoneRules(identifier: "Bad", initialUTCOffsetSeconds: 0, transitions: transitions.reversed())
        }
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "Bad", initialUTCOffsetSeconds: 100_000, transitions: []) }
    }

    @Test("a slim TZif file's footer rule is expanded through 2037")
    func slimFile() throws {
        let bytes = tzif(times: [seconds("2000-01-01T00:00:00Z")], typeIndices: [0], offsets: [3600, 7200], footer: "CET-1CEST,M3.5.0,M10.5.0/3")
        let rules = try ZoneRules(identifier: "Test/Slim", tzif: bytes)
        #expect(rules.utcOffsetSeconds(at: at("2026-03-29T00:59:59Z")) == 3600)
        #expect(rules.utcOffsetSeconds(at: at("2026-03-29T01:00:00Z")) == 7200)
        #expect(rules.utcOffsetSeconds(at: at("2026-10-25T00:59:59Z")) == 7200)
        #expect(rules.utcOffsetSeconds(at: at("2026-10-25T01:00:00Z")) == 3600)
        // 2000 through 2037, two changes a year; the 2000-01-01 transition changes nothing.
        #expect(rules.transitions.count == 76)
        #expect(rules.transitions.last == ZoneRules.Transition(at: seconds("2037-10-25T01:00:00Z"), utcOffsetSeconds: 3600))
        // Beyond the horizon the last offset stays.
        #expect(rules.utcOffsetSeconds(at: at("2040-07-01T00:00:00Z")) == 3600)
    }

    @Test("footer rules: southern hemisphere, hours past 24 and quoted names")
    func footerRules() throws {
        let sydney = try ZoneRules(identifier: "Test/Sydney", tzif: tzif(offsets: [36_000], footer: "AEST-10AEDT,M10.1.0,M4.1.0/3"))
        #expect(sydney.utcOffsetSeconds(at: at("2026-01-15T00:00:00Z")) == 39_600)
        #expect(sydney.utcOffsetSeconds(at: at("2026-04-04T15:59:59Z")) == 39_600)
        #expect(sydney.utcOffsetSeconds(at: at("2026-04-04T16:00:00Z")) == 36_000)
        #expect(sydney.utcOffsetSeconds(at: at("2026-10-03T16:00:00Z")) == 39_600)

        // Israel: the Friday before the last Sunday of March, written as Thursday 26:00.
        let israel = try ZoneRules(identifier: "Test/Israel", tzif: tzif(offsets: [7200], footer: "IST-2IDT,M3.4.4/26,M10.5.0"))
        #expect(israel.utcOffsetSeconds(at: at("2026-03-26T23:59:59Z")) == 7200)
        #expect(israel.utcOffsetSeconds(at: at("2026-03-27T00:00:00Z")) == 10_800)
        #expect(israel.utcOffsetSeconds(at: at("2026-10-24T23:00:00Z")) == 7200)

        let fixed = try ZoneRules(identifier: "Test/Fixed", tzif: tzif(offsets: [-10_800], footer: "<-03>3"))
        #expect(fixed.transitions.isEmpty)
        #expect(fixed.utcOffsetSeconds(at: at("2026-01-01T00:00:00Z")) == -10_800)
        #expect(PosixTZ("<+0545>-5:45")?.standardOffset == 20_700)
        for bad in ["", "C", "CET", "CET-1CEST", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0", "EST5EDT,J366,J1", "EST5EDT,M3.2.0/200,M11.1.0"] {
            #expect(PosixTZ(bad) == nil, "\(bad)")
        }
    }

    @Test("version 1 files, and files that are not TZif, truncated or with leap seconds")
    func tzifVariants() throws {
        let v1 = try ZoneRules(
            identifier: "Test/V1", tzif: tzif(version: 0, times: [0, 1000], typeIndices: [1, 0], offsets: [3600, 7200]))
        #expect(v1.initialUTCOffsetSeconds == 3600)
        #expect(v1.transitions == [.init(at: 0, utcOffsetSeconds: 7200), .init(at: 1000, utcOffsetSeconds: 3600)])
        let good = tzif(offsets: [0], footer: "UTC0")
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "x", tzif: Array("TZjf".utf8) + good.dropFirst(4)) }
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "x", tzif: Array(good.prefix(60))) }
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "x", tzif: tzif(offsets: [0], footer: "UTC0", leapCount: 1)) }
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "x", tzif: tzif(times: [5, 1], typeIndices: [0, 0], offsets: [0])) }
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "x", tzif: tzif(times: [5], typeIndices: [3], offsets: [0])) }
        #expect(throws: CoreError.self) { try ZoneRules(identifier: "x", tzif: tzif(offsets: [0], footer: "not a rule")) }
    }
}

@Suite("Zone rules from /usr/share/zoneinfo", .enabled(if: Zoneinfo.available, "needs the tz database in /usr/share/zoneinfo (Debian: tzdata)"))
struct SystemZoneTests {
    @Test("Europe/Berlin: CET/CEST changes at 01:00 UTC on the last Sundays of March and October")
    func berlinOffsets() throws {
        let berlin = try Zoneinfo.rules("Europe/Berlin")
        #expect(berlin.utcOffsetSeconds(at: at("2026-03-29T00:59:59.999999Z")) == 3600)
        #expect(berlin.utcOffsetSeconds(at: at("2026-03-29T01:00:00Z")) == 7200)
        #expect(berlin.utcOffsetSeconds(at: at("2026-10-25T00:59:59Z")) == 7200)
        #expect(berlin.utcOffsetSeconds(at: at("2026-10-25T01:00:00Z")) == 3600)
        #expect(berlin.initialUTCOffsetSeconds == 3208)  // local mean time, +0:53:28
        #expect(berlin.utcOffsetSeconds(at: at("1850-01-01T00:00:00Z")) == 3208)
        let restored = try ZoneRules(identifier: berlin.identifier, initialUTCOffsetSeconds: berlin.initialUTCOffsetSeconds, transitions: berlin.transitions)
        #expect(restored == berlin)
        // Rules that differ only before 1970 agree; from 1970 on, the first change that differs
        // is named with both offsets (here: a tzdata where Germany kept summer time in 2027).
        #expect(berlin.firstDifference(from: try ZoneRules(identifier: "Europe/Berlin", initialUTCOffsetSeconds: 0, transitions: berlin.transitions)) == nil)
        let autumn2027 = try #require(berlin.transitions.firstIndex { $0.at == at("2027-10-31T01:00:00Z").microseconds / 1_000_000 })
        var kept = berlin.transitions
        kept.remove(at: autumn2027)
        let changed = try ZoneRules(identifier: "Europe/Berlin", initialUTCOffsetSeconds: berlin.initialUTCOffsetSeconds, transitions: kept)
        let difference = try #require(berlin.firstDifference(from: changed))
        #expect(difference.at == at("2027-10-31T01:00:00Z") && difference.mine == 3600 && difference.theirs == 7200)
        #expect(changed.firstDifference(from: berlin)?.at == difference.at)
        // Compared from an adoption after that change, they agree; from one inside the summer
        // that never ended, they differ at once.
        #expect(berlin.firstDifference(from: changed, since: at("2028-04-01T00:00:00Z")) == nil)
        #expect(berlin.firstDifference(from: changed, since: at("2027-12-01T00:00:00Z"))?.at == at("2027-12-01T00:00:00Z"))
    }

    @Test("America/New_York: EST/EDT changes at 02:00 local on the second Sunday of March and first of November")
    func newYorkOffsets() throws {
        let newYork = try Zoneinfo.rules("America/New_York")
        #expect(newYork.utcOffsetSeconds(at: at("2026-03-08T06:59:59Z")) == -18_000)
        #expect(newYork.utcOffsetSeconds(at: at("2026-03-08T07:00:00Z")) == -14_400)
        #expect(newYork.utcOffsetSeconds(at: at("2026-11-01T05:59:59Z")) == -14_400)
        #expect(newYork.utcOffsetSeconds(at: at("2026-11-01T06:00:00Z")) == -18_000)
        // The documented horizon: after the last transition (November 2037) the offset stays EST.
        #expect(newYork.utcOffsetSeconds(at: at("2037-07-01T00:00:00Z")) == -14_400)
        #expect(newYork.utcOffsetSeconds(at: at("2040-07-01T00:00:00Z")) == -18_000)
    }

    @Test("expanding the footer rule reproduces the transitions a fat file lists")
    func footerMatchesFatFile() throws {
        for (identifier, rule, since) in [
            ("America/New_York", "EST5EDT,M3.2.0,M11.1.0", "2008-01-01T00:00:00Z"),
            ("Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3", "1997-01-01T00:00:00Z"),
        ] {
            let fat = try Zoneinfo.rules(identifier).transitions.filter { $0.at >= seconds(since) }
            let expanded = try #require(PosixTZ(rule)).transitions(after: seconds(since) - 1, before: ZoneRules.horizon)
            #expect(expanded == fat, "\(identifier)")
        }
    }

    @Test("business days across DST keep the local wall-clock time (Berlin, New York)")
    func businessDaysAcrossDST() throws {
        let five = PolicyDuration.businessDays(5).countedMicroseconds
        let berlin = BusinessCalendar(zone: try Zoneinfo.rules("Europe/Berlin"))
        // Friday 15:00 CET → Friday 15:00 CEST.
        #expect(berlin.advance(at("2026-03-27T14:00:00Z"), by: five, unit: .businessDays) == at("2026-04-03T13:00:00Z"))
        let newYork = BusinessCalendar(zone: try Zoneinfo.rules("America/New_York"))
        // Friday 17:00 EDT → Friday 17:00 EST.
        #expect(newYork.advance(at("2026-10-30T21:00:00Z"), by: five, unit: .businessDays) == at("2026-11-06T22:00:00Z"))
        #expect(newYork.localDate(of: at("2026-11-01T03:59:59Z")) == date("2026-10-31"))
        #expect(newYork.localDate(of: at("2026-11-01T04:00:00Z")) == date("2026-11-01"))
    }

    @Test("a 23-hour or 25-hour local day counts as its real length")
    func shortAndLongDays() throws {
        let hour: Int64 = 3_600_000_000
        let sundays = BusinessCalendar(zone: try Zoneinfo.rules("Europe/Berlin"), workweek: [.sunday])
        #expect(sundays.measure(from: at("2026-03-23T00:00:00Z"), to: at("2026-03-30T12:00:00Z"), unit: .businessDays) == 23 * hour)
        #expect(sundays.measure(from: at("2026-10-19T00:00:00Z"), to: at("2026-10-26T12:00:00Z"), unit: .businessDays) == 25 * hour)
        // One business day from Saturday: the 23 hours of Sunday 29 March, then one more hour on 5 April.
        #expect(sundays.advance(at("2026-03-28T12:00:00Z"), by: 24 * hour, unit: .businessDays) == at("2026-04-04T23:00:00Z"))
    }
}
