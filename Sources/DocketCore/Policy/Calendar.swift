// Time zones and business time for policy clocks: pure functions of their inputs, exact to the
// microsecond. The tz database itself is read elsewhere (IO); this file only decodes TZif bytes
// handed to it, so replaying a log gives the same deadlines on every machine.

/// A day of the week, numbered as ISO 8601 numbers them: Monday = 1 … Sunday = 7 (`rawValue`).
public enum Weekday: Int, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case monday = 1
    case tuesday
    case wednesday
    case thursday
    case friday
    case saturday
    case sunday

    /// Monday through Friday, the default workweek.
    public static let mondayToFriday: [Weekday] = [.monday, .tuesday, .wednesday, .thursday, .friday]

    /// The ISO 8601 weekday number, 1 (Monday) … 7 (Sunday).
    public var isoNumber: Int { rawValue }

    /// The weekday with ISO 8601 number `isoNumber` (1 = Monday … 7 = Sunday).
    public init?(isoNumber: Int) { self.init(rawValue: isoNumber) }

    /// The weekday of a day counted from 1970-01-01, which was a Thursday.
    public init(daysSinceEpoch days: Int64) {
        let (_, r) = (days + 3).floorDivided(by: 7)
        self.init(rawValue: Int(r) + 1)!
    }

    /// The lowercase three-letter name policy files use: `mon` … `sun`.
    public var abbreviation: String {
        switch self {
        case .monday: "mon"
        case .tuesday: "tue"
        case .wednesday: "wed"
        case .thursday: "thu"
        case .friday: "fri"
        case .saturday: "sat"
        case .sunday: "sun"
        }
    }

    /// The weekday named by its three-letter abbreviation (`mon` … `sun`, lowercase).
    public init?(abbreviation: String) {
        guard let day = Weekday.allCases.first(where: { $0.abbreviation == abbreviation }) else { return nil }
        self = day
    }

    public var description: String { abbreviation }

    public static func < (a: Weekday, b: Weekday) -> Bool { a.rawValue < b.rawValue }
}

/// A date in the proleptic Gregorian calendar, without a time or a zone (a holiday, say).
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// 1–9999 for dates made from text or parts; any year for `init(daysSinceEpoch:)`.
    public let year: Int
    /// 1–12.
    public let month: Int
    /// 1–31, within the month's length.
    public let day: Int

    /// A date in years 0001–9999; anything else (February 30, month 13) is refused.
    public init(year: Int, month: Int, day: Int) throws(CoreError) {
        guard (1...9999).contains(year), (1...12).contains(month),
            day >= 1, day <= Int(Timestamp.daysIn(month: Int64(month), year: Int64(year)))
        else {
            throw CoreError(.invalidValue, "no such date: year \(year), month \(month), day \(day)")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The date `days` days after 1970-01-01 (negative: before it).
    public init(daysSinceEpoch days: Int64) {
        let (y, m, d) = Timestamp.civil(fromDays: days)
        year = Int(y)
        month = Int(m)
        day = Int(d)
    }

    /// Parses `YYYY-MM-DD` (ISO 8601 / RFC 3339 full-date), years 0001–9999.
    public init(_ text: String) throws(CoreError) {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            var v = 0
            for i in range {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            let y = number(0..<4), let m = number(5..<7), let d = number(8..<10)
        else {
            throw CoreError(.invalidValue, "\"\(text)\" is not a date; write YYYY-MM-DD, e.g. 2026-12-24")
        }
        do {
            try self.init(year: y, month: m, day: d)
        } catch {
            throw CoreError(.invalidValue, "\"\(text)\" is not a date in the calendar")
        }
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int64 { Timestamp.days(fromCivil: Int64(year), Int64(month), Int64(day)) }

    /// The day of the week the date falls on.
    public var weekday: Weekday { Weekday(daysSinceEpoch: daysSinceEpoch) }

    /// `YYYY-MM-DD`.
    public var description: String {
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }
}

// MARK: - Zone rules

/// A time zone as the data that matters for clocks: its UTC offset at every instant.
///
/// The offset is `initialUTCOffsetSeconds` before the first transition and the offset of the
/// latest transition at or before an instant afterwards. Nothing else (abbreviations, DST flags)
/// is kept, so the rules can be stored in an event payload and restored exactly with
/// `init(identifier:initialUTCOffsetSeconds:transitions:)`.
///
/// **Horizon.** After the last transition its offset applies forever. Debian's tz files are
/// "fat" and list transitions through 2037; a "slim" file's footer rule (RFC 8536 §3.3) is
/// expanded here through 2037 too, so both give the same rules. Daylight saving time after 2037
/// is therefore not modelled: deadlines that late use the offset in force at the end of 2037.
public struct ZoneRules: Hashable, Sendable, CustomStringConvertible {
    /// From `at` (seconds since 1970-01-01T00:00:00Z) on, local time is UTC + `utcOffsetSeconds`.
    public struct Transition: Hashable, Sendable {
        /// Seconds since 1970-01-01T00:00:00Z.
        public var at: Int64
        /// Seconds east of UTC from `at` on.
        public var utcOffsetSeconds: Int

        public init(at: Int64, utcOffsetSeconds: Int) {
            self.at = at
            self.utcOffsetSeconds = utcOffsetSeconds
        }
    }

    /// The name the rules were loaded under: `UTC`, `+05:30` or an IANA id such as `Europe/Berlin`.
    public let identifier: String
    /// The offset before the first transition (all the time for a fixed offset).
    public let initialUTCOffsetSeconds: Int
    /// Offset changes, strictly increasing in `at`.
    public let transitions: [Transition]

    /// Offsets are bounded as RFC 8536 bounds them (−25:59:59 … +25:59:59).
    static let offsetRange = -93_599...93_599
    /// Transition times must convert to microseconds without overflow.
    static let transitionRange: ClosedRange<Int64> = -9_223_372_036_854...9_223_372_036_854
    /// 2038-01-01T00:00:00Z: footer rules are expanded up to here (see "Horizon" above).
    static let horizon: Int64 = 2_145_916_800

    private init(unchecked identifier: String, initial: Int, transitions: [Transition]) {
        self.identifier = identifier
        self.initialUTCOffsetSeconds = initial
        self.transitions = transitions
    }

    /// Coordinated Universal Time: offset zero, no transitions.
    public static let utc = ZoneRules(unchecked: "UTC", initial: 0, transitions: [])

    /// Restores rules from their parts (as stored in an event), checking that the transitions are
    /// strictly increasing and every offset is within ±25:59:59.
    public init(identifier: String, initialUTCOffsetSeconds: Int, transitions: [Transition]) throws(CoreError) {
        guard Self.offsetRange.contains(initialUTCOffsetSeconds) else {
            throw CoreError(.invalidValue, "time zone \(identifier): UTC offset \(initialUTCOffsetSeconds) s is out of range")
        }
        for (i, t) in transitions.enumerated() {
            guard Self.offsetRange.contains(t.utcOffsetSeconds), Self.transitionRange.contains(t.at) else {
                throw CoreError(.invalidValue, "time zone \(identifier): transition \(i) (at \(t.at), offset \(t.utcOffsetSeconds)) is out of range")
            }
            guard i == 0 || transitions[i - 1].at < t.at else {
                throw CoreError(.invalidValue, "time zone \(identifier): transitions are not in increasing order at \(i)")
            }
        }
        self.init(unchecked: identifier, initial: initialUTCOffsetSeconds, transitions: transitions)
    }

    /// A fixed offset written `+HH:MM` or `-HH:MM` (at most ±18:00); the identifier is the text.
    public init(fixedOffset text: String) throws(CoreError) {
        guard let seconds = Self.fixedOffsetSeconds(text) else {
            throw CoreError(.invalidValue, "\"\(text)\" is not a UTC offset; write +HH:MM or -HH:MM, at most ±18:00 (e.g. +05:30)")
        }
        self.init(unchecked: text, initial: seconds, transitions: [])
    }

    /// The rules for the time zones that need no tz database: `UTC` and fixed offsets
    /// (`+05:30`). An IANA id returns nil; load its TZif file and use `init(identifier:tzif:)`.
    public static func builtIn(_ timeZone: String) -> ZoneRules? {
        if timeZone == "UTC" { return .utc }
        return try? ZoneRules(fixedOffset: timeZone)
    }

    /// Whether `text` is a time zone a policy may name: `UTC`, a fixed offset (`+05:30`), or
    /// something shaped like an IANA id (`Europe/Berlin`, `America/Argentina/Buenos_Aires`,
    /// `Etc/GMT+5`). Whether the id exists is only known once the tz database is consulted.
    public static func isValidTimeZone(_ text: String) -> Bool {
        text == "UTC" || fixedOffsetSeconds(text) != nil || isIANAIdentifierShaped(text)
    }

    /// Why `text`, a file a tz database directory holds, is not a zone a policy adopted now can
    /// name, if it is one of those: a policy must mean the same deadlines on every machine that
    /// reads it. (One adopted before this was checked is read as it was recorded, with its rules.)
    public static func notAPlace(_ text: String) -> String? {
        switch text {
        case "localtime": "the zone of whichever machine reads the policy (a link to its /etc/localtime)"
        case "posixrules": "the rules the tz database applies to POSIX TZ strings, not a place"
        case "Factory": "a placeholder with no place and no offset (\"-00\")"
        default: nil
        }
    }

    /// The offset, in seconds east of UTC, in force at `instant`.
    public func utcOffsetSeconds(at instant: Timestamp) -> Int {
        let (seconds, _) = instant.microseconds.floorDivided(by: 1_000_000)
        guard let i = lastTransitionIndex(atOrBefore: seconds) else { return initialUTCOffsetSeconds }
        return transitions[i].utcOffsetSeconds
    }

    public var description: String { identifier }

    /// The first instant from `since` on (by default 1970-01-01T00:00:00Z) at which `other`
    /// gives another offset than these rules, with both offsets; nil if they agree from then on.
    /// (Before 1970 a tz database's "slim" and "fat" files may differ, and tzdata releases correct
    /// old history: where no deadline can fall, that does not matter.)
    public func firstDifference(from other: ZoneRules, since: Timestamp = Timestamp(microseconds: 0)) -> (at: Timestamp, mine: Int, theirs: Int)? {
        // Offsets change only at transitions (whole seconds): compare at `since` and at each after it.
        let start = since.microseconds.floorDivided(by: 1_000_000).quotient
        let changes = Set((transitions + other.transitions).map(\.at).filter { $0 > start }).sorted()
        for t in [since] + changes.map({ Timestamp(microseconds: $0 * 1_000_000) }) {
            let (mine, theirs) = (utcOffsetSeconds(at: t), other.utcOffsetSeconds(at: t))
            if mine != theirs { return (t, mine, theirs) }
        }
        return nil
    }

    /// The index of the latest transition at or before `seconds`, or nil if there is none.
    func lastTransitionIndex(atOrBefore seconds: Int64) -> Int? {
        var lo = 0
        var hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if transitions[mid].at <= seconds { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }

    static func fixedOffsetSeconds(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard b.count == 6, b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-"), b[3] == UInt8(ascii: ":"),
            [1, 2, 4, 5].allSatisfy({ b[$0] >= 48 && b[$0] <= 57 })
        else { return nil }
        let hours = Int(b[1] - 48) * 10 + Int(b[2] - 48)
        let minutes = Int(b[4] - 48) * 10 + Int(b[5] - 48)
        guard minutes < 60, hours * 60 + minutes <= 18 * 60 else { return nil }
        return (b[0] == UInt8(ascii: "-") ? -1 : 1) * (hours * 3600 + minutes * 60)
    }

    /// The tz database's naming rules (its `theory.html`): `/`-separated components of at most
    /// 14 characters from `A–Z a–z 0–9 . _ - +`, each starting with a letter.
    static func isIANAIdentifierShaped(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 255 else { return false }
        for component in text.split(separator: "/", omittingEmptySubsequences: false) {
            let b = Array(component.utf8)
            guard (1...14).contains(b.count), isLetter(b[0]) else { return false }
            for c in b where !(isLetter(c) || (c >= 48 && c <= 57) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_")
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "+"))
            {
                return false
            }
        }
        return true
    }

    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
}

// MARK: - TZif (RFC 8536)

extension ZoneRules {
    /// Decodes a TZif file (RFC 8536, versions 1–4), using the 64-bit data of version 2 and later.
    ///
    /// Only UTC offsets are kept; consecutive transitions that do not change the offset are
    /// dropped. A version 2+ footer rule extends a "slim" file's transitions through 2037 (see
    /// the type's "Horizon" note). Files with leap-second records (`right/…`) are refused: their
    /// times are not POSIX seconds.
    public init(identifier: String, tzif bytes: [UInt8]) throws(CoreError) {
        func fail(_ why: String) -> CoreError { CoreError(.invalidValue, "time zone \(identifier): \(why)") }
        var reader = TZifReader(bytes: bytes)
        let first = try reader.header(fail)
        var header = first
        var timeSize = 4
        if first.version >= 2 {
            // Skip the 32-bit block; the 64-bit one that follows is exact beyond 2038.
            try reader.skip(first.dataBlockSize(timeSize: 4), fail)
            header = try reader.header(fail)
            timeSize = 8
        }
        guard header.leapCount == 0 else { throw fail("leap-second (\"right/\") zone files are not supported") }
        guard header.typeCount >= 1, header.charCount >= 1 else { throw fail("a TZif file needs at least one local time type") }
        guard header.isStdCount == 0 || header.isStdCount == header.typeCount,
            header.isUTCount == 0 || header.isUTCount == header.typeCount
        else { throw fail("inconsistent TZif indicator counts") }

        var times: [Int64] = []
        times.reserveCapacity(header.timeCount)
        for _ in 0..<header.timeCount {
            let t = timeSize == 8 ? try reader.int64(fail) : Int64(try reader.int32(fail))
            guard times.last.map({ $0 < t }) ?? true else { throw fail("TZif transition times are not increasing") }
            times.append(t)
        }
        var typeIndices: [Int] = []
        for _ in 0..<header.timeCount {
            let index = Int(try reader.uint8(fail))
            guard index < header.typeCount else { throw fail("TZif transition names local time type \(index) of \(header.typeCount)") }
            typeIndices.append(index)
        }
        var offsets: [Int] = []
        for _ in 0..<header.typeCount {
            let offset = Int(try reader.int32(fail))
            _ = try reader.uint8(fail)  // is-DST
            let designation = try reader.uint8(fail)
            guard Self.offsetRange.contains(offset) else { throw fail("UTC offset \(offset) s is out of range") }
            guard Int(designation) < header.charCount else { throw fail("TZif designation index out of range") }
            offsets.append(offset)
        }
        try reader.skip(header.charCount + header.isStdCount + header.isUTCount, fail)

        // Time type 0 applies before the first transition (RFC 8536 §3.2). Transitions before any
        // representable instant (zic's "big bang" at −2^59 s) only set that starting offset.
        var initial = offsets[0]
        var kept: [Transition] = []
        for (t, type) in zip(times, typeIndices) {
            let offset = offsets[type]
            if t < Self.transitionRange.lowerBound {
                initial = offset
                continue
            }
            guard t <= Self.transitionRange.upperBound else { break }
            if offset != (kept.last?.utcOffsetSeconds ?? initial) { kept.append(Transition(at: t, utcOffsetSeconds: offset)) }
        }

        if first.version >= 2 {
            let footer = try reader.footer(fail)
            if !footer.isEmpty {
                guard let rule = PosixTZ(footer) else { throw fail("unreadable TZif footer \"\(footer)\"") }
                let last = times.last ?? Self.transitionRange.lowerBound
                var offset = kept.last?.utcOffsetSeconds ?? initial
                for t in rule.transitions(after: last, before: Self.horizon) where t.utcOffsetSeconds != offset {
                    if kept.last?.at == t.at { kept.removeLast() }
                    kept.append(t)
                    offset = t.utcOffsetSeconds
                }
            }
        }
        self.init(unchecked: identifier, initial: initial, transitions: kept)
    }
}

/// Bounds-checked big-endian reads over a TZif file.
private struct TZifReader {
    struct Header {
        var version: Int
        var isUTCount, isStdCount, leapCount, timeCount, typeCount, charCount: Int

        func dataBlockSize(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + charCount + leapCount * (timeSize + 4) + isStdCount + isUTCount
        }
    }

    let bytes: [UInt8]
    var position = 0

    mutating func take(_ n: Int, _ fail: (String) -> CoreError) throws(CoreError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - position else { throw fail("TZif data ends early") }
        defer { position += n }
        return bytes[position..<position + n]
    }

    mutating func skip(_ n: Int, _ fail: (String) -> CoreError) throws(CoreError) { _ = try take(n, fail) }

    mutating func uint8(_ fail: (String) -> CoreError) throws(CoreError) -> UInt8 { try take(1, fail).first! }

    mutating func int32(_ fail: (String) -> CoreError) throws(CoreError) -> Int32 {
        Int32(bitPattern: try take(4, fail).reduce(0) { $0 << 8 | UInt32($1) })
    }

    mutating func int64(_ fail: (String) -> CoreError) throws(CoreError) -> Int64 {
        Int64(bitPattern: try take(8, fail).reduce(0) { $0 << 8 | UInt64($1) })
    }

    mutating func header(_ fail: (String) -> CoreError) throws(CoreError) -> Header {
        guard Array(try take(4, fail)) == Array("TZif".utf8) else { throw fail("not a TZif file (no \"TZif\" magic)") }
        let v = try uint8(fail)
        let version: Int
        switch v {
        case 0: version = 1
        case UInt8(ascii: "2")...UInt8(ascii: "9"): version = Int(v - 48)
        default: throw fail("unknown TZif version byte \(v)")
        }
        try skip(15, fail)
        var counts: [Int] = []
        for _ in 0..<6 {
            let c = try int32(fail)
            // A count this large cannot be honest for a tz file; refuse before allocating.
            guard c >= 0, c <= 1_000_000 else { throw fail("TZif count \(c) out of range") }
            counts.append(Int(c))
        }
        return Header(
            version: version, isUTCount: counts[0], isStdCount: counts[1], leapCount: counts[2],
            timeCount: counts[3], typeCount: counts[4], charCount: counts[5])
    }

    /// The footer's TZ string, between two newlines (RFC 8536 §3.3).
    mutating func footer(_ fail: (String) -> CoreError) throws(CoreError) -> String {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\n") else { throw fail("TZif footer missing") }
        let start = position + 1
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { throw fail("TZif footer not terminated") }
        position = end + 1
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

/// A POSIX TZ string as TZif footers use it (POSIX.1-2017 §8.3 with RFC 8536 §3.3.1's
/// extensions): `std offset [dst [offset] ,start[/time],end[/time]]`, e.g.
/// `CET-1CEST,M3.5.0,M10.5.0/3` or `EST5EDT,M3.2.0,M11.1.0`. Offsets count west of Greenwich.
struct PosixTZ {
    enum DateRule {
        /// `Jn`: day 1…365, February 29 never counted.
        case julian(Int)
        /// `n`: day 0…365 counting February 29.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday d (0 = Sunday) of week w (5 = last) of month m.
        case monthWeek(month: Int, week: Int, weekday: Int)
    }

    struct Switch {
        var date: DateRule
        var secondsAfterLocalMidnight: Int
    }

    var standardOffset: Int  // seconds east of UTC
    var daylight: (offset: Int, start: Switch, end: Switch)?

    init?(_ text: String) {
        var p = Parser(b: Array(text.utf8))
        guard p.name(), let std = p.offset(maxHours: 24) else { return nil }
        standardOffset = -std
        if p.atEnd {
            daylight = nil
            return
        }
        guard p.name() else { return nil }
        var dst = standardOffset + 3600
        if !p.peek(",") {
            guard let o = p.offset(maxHours: 24) else { return nil }
            dst = -o
        }
        // A DST name without a rule leaves the rule to the implementation; zic never writes one.
        guard p.eat(","), let start = p.switchRule(), p.eat(","), let end = p.switchRule(), p.atEnd else { return nil }
        daylight = (dst, start, end)
    }

    /// The offset changes the rule makes in (after, before), in order, covering whole years.
    func transitions(after: Int64, before: Int64) -> [ZoneRules.Transition] {
        guard let daylight else { return [] }
        // Without earlier transitions the rule is expanded from 1970 (zic never writes such a file).
        let from = after == ZoneRules.transitionRange.lowerBound ? 0 : max(after, Timestamp.minimum.microseconds / 1_000_000)
        let firstYear = max(Timestamp.civil(fromDays: from.floorDivided(by: 86_400).quotient).year - 1, 1)
        let lastYear = Timestamp.civil(fromDays: before.floorDivided(by: 86_400).quotient).year
        guard firstYear <= lastYear else { return [] }
        var result: [ZoneRules.Transition] = []
        for year in firstYear...lastYear {
            // The start is given in standard local time, the end in daylight local time.
            let start = Self.day(daylight.start.date, year) * 86_400 + Int64(daylight.start.secondsAfterLocalMidnight - standardOffset)
            let end = Self.day(daylight.end.date, year) * 86_400 + Int64(daylight.end.secondsAfterLocalMidnight - daylight.offset)
            var pair = [
                ZoneRules.Transition(at: start, utcOffsetSeconds: daylight.offset),
                ZoneRules.Transition(at: end, utcOffsetSeconds: standardOffset),
            ]
            if end < start { pair.reverse() }  // southern hemisphere
            result += pair.filter { $0.at > after && $0.at < before }
        }
        return result
    }

    /// Days since the epoch of the rule's date in `year`.
    static func day(_ rule: DateRule, _ year: Int64) -> Int64 {
        let january1 = Timestamp.days(fromCivil: year, 1, 1)
        let leap = Timestamp.daysIn(month: 2, year: year) == 29
        switch rule {
        case .julian(let n): return january1 + Int64(n - 1) + (leap && n >= 60 ? 1 : 0)
        case .zeroBased(let n): return january1 + Int64(n)
        case .monthWeek(let month, let week, let weekday):
            let first = Timestamp.days(fromCivil: year, Int64(month), 1)
            let firstWeekday = (first + 4).floorDivided(by: 7).remainder  // 0 = Sunday; 1970-01-01 was a Thursday
            var day = 1 + (Int64(weekday) - firstWeekday + 7) % 7 + Int64(week - 1) * 7
            while day > Timestamp.daysIn(month: Int64(month), year: year) { day -= 7 }
            return first + day - 1
        }
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0

        var atEnd: Bool { i == b.count }

        func peek(_ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue! }

        mutating func eat(_ c: Character) -> Bool {
            guard peek(c) else { return false }
            i += 1
            return true
        }

        /// `<...>` (alphanumerics, `+`, `-`) or three or more letters.
        mutating func name() -> Bool {
            if eat("<") {
                let start = i
                while i < b.count, b[i] != UInt8(ascii: ">") { i += 1 }
                guard i - start >= 3, eat(">") else { return false }
                return true
            }
            let start = i
            while i < b.count, (b[i] | 0x20) >= UInt8(ascii: "a"), (b[i] | 0x20) <= UInt8(ascii: "z") { i += 1 }
            return i - start >= 3
        }

        mutating func number(maxDigits: Int) -> Int? {
            var v = 0
            var n = 0
            while i < b.count, b[i] >= 48, b[i] <= 57, n < maxDigits {
                v = v * 10 + Int(b[i] - 48)
                i += 1
                n += 1
            }
            return n == 0 ? nil : v
        }

        /// `[+-]hh[:mm[:ss]]` in seconds.
        mutating func offset(maxHours: Int) -> Int? {
            let sign = eat("-") ? -1 : 1
            if sign == 1 { _ = eat("+") }
            guard let h = number(maxDigits: 3), h <= maxHours else { return nil }
            var total = h * 3600
            if eat(":") {
                guard let m = number(maxDigits: 2), m < 60 else { return nil }
                total += m * 60
                if eat(":") {
                    guard let s = number(maxDigits: 2), s < 60 else { return nil }
                    total += s
                }
            }
            return sign * total
        }

        mutating func switchRule() -> Switch? {
            let date: DateRule
            if eat("J") {
                guard let n = number(maxDigits: 3), (1...365).contains(n) else { return nil }
                date = .julian(n)
            } else if eat("M") {
                guard let m = number(maxDigits: 2), (1...12).contains(m), eat("."),
                    let w = number(maxDigits: 1), (1...5).contains(w), eat("."),
                    let d = number(maxDigits: 1), d <= 6
                else { return nil }
                date = .monthWeek(month: m, week: w, weekday: d)
            } else {
                guard let n = number(maxDigits: 3), n <= 365 else { return nil }
                date = .zeroBased(n)
            }
            var time = 7200
            if eat("/") {
                guard let t = offset(maxHours: 167) else { return nil }
                time = t
            }
            return Switch(date: date, secondsAfterLocalMidnight: time)
        }
    }
}

// MARK: - Business time

/// Counts policy time in a zone: all of it for hours and days, and for business days only the
/// time that falls on local workweek days that are not holidays.
///
/// A business day counts as 24 hours of counted time; a local day shortened or lengthened by a
/// daylight-saving change counts as its real length (23 h or 25 h). "Days" (`d`) are spans of
/// 24 hours of elapsed time, not local calendar days. All arithmetic is in microseconds and
/// exact; instants are clamped to `Timestamp.minimum`…`Timestamp.maximum`.
public struct BusinessCalendar: Sendable {
    /// The zone whose local dates decide which instants fall on business days.
    public var zone: ZoneRules { storage.zone }
    /// The days that count; empty means business-day clocks never advance.
    public var workweek: [Weekday] { storage.workweek }
    /// Local dates that do not count even on a workweek day.
    public var holidays: [CivilDate] { storage.holidays }
    /// Bit n set: ISO weekday n is a workweek day.
    private let workdayMask: UInt8
    /// The zone, the days and the holidays, in one box: every clock of every report works with
    /// its policy's calendar, and a copy of them field by field would retain each of them.
    private let storage: Storage

    private final class Storage: Sendable {
        let zone: ZoneRules
        let workweek: [Weekday]
        let holidays: [CivilDate]
        /// Days since the epoch of holidays that fall on workweek days, sorted, without repeats.
        let holidayDays: [Int64]

        init(zone: ZoneRules, workweek: [Weekday], holidays: [CivilDate], holidayDays: [Int64]) {
            self.zone = zone
            self.workweek = workweek
            self.holidays = holidays
            self.holidayDays = holidayDays
        }
    }

    private static let day: Int64 = 86_400_000_000

    /// A calendar in `zone` (UTC by default) counting `workweek` days (Monday–Friday by default)
    /// except `holidays`.
    public init(zone: ZoneRules = .utc, workweek: [Weekday] = Weekday.mondayToFriday, holidays: [CivilDate] = []) {
        let mask = workweek.reduce(UInt8(0)) { $0 | 1 << UInt8($1.isoNumber) }
        workdayMask = mask
        let days = holidays.filter { mask & 1 << UInt8($0.weekday.isoNumber) != 0 }.map(\.daysSinceEpoch)
        storage = Storage(zone: zone, workweek: workweek, holidays: holidays, holidayDays: Array(Set(days)).sorted())
    }

    /// The calendar a policy defines (its workweek and holidays) in the policy's zone, which the
    /// caller resolves (`ZoneRules.builtIn` or a TZif file) because that may need the tz database.
    public init(policy: Policy, zone: ZoneRules) {
        self.init(zone: zone, workweek: policy.workweek, holidays: policy.holidays)
    }

    /// Whether `date` is a workweek day and not a holiday.
    public func isBusinessDay(_ date: CivilDate) -> Bool { isBusinessDay(date.daysSinceEpoch) }

    /// The local date, in `zone`, of `instant`.
    public func localDate(of instant: Timestamp) -> CivilDate {
        let t = Self.clamp(instant.microseconds)
        let local = t + Int64(storage.zone.utcOffsetSeconds(at: Timestamp(microseconds: t))) * 1_000_000
        return CivilDate(daysSinceEpoch: local.floorDivided(by: Self.day).quotient)
    }

    /// `instant`, or if it falls on a day off (outside the workweek, or a holiday) the same local
    /// time of day on the first work day after it: a deadline "moved to the next normal work day".
    /// A deadline at the first instant of a local day is the end of the day before it (as
    /// `advance` ends business days: 5 business days from a Saturday end at the next Saturday
    /// 00:00, Friday's end, which stays); moved, it is the end of the work day it moves to. The
    /// first instant is midnight, or where a change of offset skips midnight, the instant after
    /// it (01:00 in Cairo the day summer time begins). `instant` itself with an empty workweek.
    public func onWorkday(_ instant: Timestamp) -> Timestamp {
        guard workdayMask != 0 else { return instant }
        let t = Self.clamp(instant.microseconds)
        func offset(_ u: Int64) -> Int64 { Int64(storage.zone.utcOffsetSeconds(at: Timestamp(microseconds: Self.clamp(u)))) * 1_000_000 }
        func localDay(_ u: Int64) -> Int64 { (u + offset(u)).floorDivided(by: Self.day).quotient }
        let local = t + offset(t)
        // The day the microsecond before falls on, if earlier: `t` ends it. (Where a change of
        // offset repeats an hour across midnight, `t` can fall on an earlier day than the instant
        // before it: the day it falls on.)
        let before = localDay(t - 1), at = local.floorDivided(by: Self.day).quotient
        let endsDay = before < at
        let day = min(before, at)
        guard !isBusinessDay(day) else { return instant }
        // Every 7 days hold a work day of the week; each holiday can take one of them away.
        let last = day + 7 * Int64(storage.holidays.count + 1)
        var next = day + 1
        while next < last && !isBusinessDay(next) { next += 1 }
        guard isBusinessDay(next) else { return instant }
        // Back to UTC with the offset in force then (in a gap of a change of offset, the later side).
        func utc(_ wall: Int64) -> Int64 {
            let guess = wall - offset(wall - offset(t))
            return wall - offset(guess)
        }
        let end = utc((next + 1) * Self.day)
        // The end of that work day (the next day's first instant), or the same wall time on it,
        // unless that is not inside it: its first instant (a second midnight), which is the end
        // of the day before, a day off; or past it (a wall time in a gap late in the day, a date
        // a zone skipped): then its end too.
        guard !endsDay else { return Timestamp(microseconds: Self.clamp(end)) }
        let moved = utc(local + (next - day) * Self.day)
        return Timestamp(microseconds: Self.clamp(localDay(moved - 1) == next && localDay(moved) == next ? moved : end))
    }

    /// Microseconds of counted time a policy duration stands for: 1 h = 3,600 s; 1 d and 1 bd = 86,400 s.
    public func span(of duration: PolicyDuration) -> Int64 { duration.countedMicroseconds }

    /// Microseconds of counted time in [a, b); zero when b <= a.
    public func measure(from a: Timestamp, to b: Timestamp, unit: ClockUnit) -> Int64 {
        let a = Self.clamp(a.microseconds)
        let b = Self.clamp(b.microseconds)
        guard b > a else { return 0 }
        switch unit {
        case .hours, .days: return b - a
        case .businessDays: return businessTime(from: a, to: b)
        }
    }

    /// The earliest instant t >= `start` with `measure(from: start, to: t, unit:) == amount`.
    ///
    /// For business days, time on non-business days is not counted, so from a Saturday the count
    /// begins at Monday's local midnight and 5 business days end at the next Saturday 00:00 local
    /// time (the end of Friday). Returns `Timestamp.maximum` when the amount is never reached
    /// (an empty workweek) or only after year 9999. `amount` must not be negative.
    public func advance(_ start: Timestamp, by amount: Int64, unit: ClockUnit) -> Timestamp {
        precondition(amount >= 0, "advance by a negative amount")
        let s = Self.clamp(start.microseconds)
        let maximum = Timestamp.maximum.microseconds
        switch unit {
        case .hours, .days:
            return Timestamp(microseconds: amount > maximum - s ? maximum : s + amount)
        case .businessDays:
            guard amount > 0 else { return Timestamp(microseconds: s) }
            guard workdayMask != 0 else { return .maximum }
            // Counted time grows by at most one microsecond per microsecond, so from an instant t
            // with `counted < amount` no instant before t + (amount − counted) reaches the amount.
            // Stepping by that shortfall climbs, from below, towards the earliest instant that
            // does, passing one stretch of uncounted time (a weekend, a holiday) per step: a few
            // steps for most clocks, each measuring only the new stretch.
            var t = s
            var counted: Int64 = 0
            for _ in 0..<8 where counted < amount {
                if t == maximum { return .maximum }
                let shortfall = amount - counted
                let next = shortfall > maximum - t ? maximum : t + shortfall
                counted += businessTime(from: t, to: next)
                t = next
            }
            if counted == amount { return Timestamp(microseconds: t) }
            // A small shortfall crosses a long uncounted stretch in small steps: bisect instead
            // for the earliest instant after t that counts the rest.
            let rest = amount - counted
            var step = rest
            var hi = t
            repeat {
                if hi == maximum { return .maximum }
                hi = step > maximum - t ? maximum : t + step
                if businessTime(from: t, to: hi) >= rest { break }
                step = step > Int64.max / 2 ? Int64.max : step * 2
            } while true
            var lo = t  // businessTime(t, lo) < rest
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2
                if businessTime(from: t, to: mid) >= rest { hi = mid } else { lo = mid }
            }
            return Timestamp(microseconds: hi)
        }
    }

    // MARK: Internals

    private static func clamp(_ t: Int64) -> Int64 {
        min(max(t, Timestamp.minimum.microseconds), Timestamp.maximum.microseconds)
    }

    private func isBusinessDay(_ day: Int64) -> Bool {
        workdayMask & 1 << UInt8(Weekday(daysSinceEpoch: day).isoNumber) != 0 && !storage.holidayDays.binarySearchContains(day)
    }

    /// Business time in [a, b), a < b: walk the stretches of constant UTC offset, and in each
    /// count the local-day pieces that are business days.
    private func businessTime(from a: Int64, to b: Int64) -> Int64 {
        var total: Int64 = 0
        var from = a
        let zone = storage.zone
        let transitions = zone.transitions
        var next = zone.lastTransitionIndex(atOrBefore: a.floorDivided(by: 1_000_000).quotient).map { $0 + 1 } ?? 0
        var offset = Int64(next == 0 ? zone.initialUTCOffsetSeconds : transitions[next - 1].utcOffsetSeconds) * 1_000_000
        while from < b {
            var to = b
            if next < transitions.count, transitions[next].at * 1_000_000 < b {
                to = transitions[next].at * 1_000_000
            }
            total += localBusinessTime(from: from + offset, to: to + offset)
            from = to
            if next < transitions.count {
                offset = Int64(transitions[next].utcOffsetSeconds) * 1_000_000
                next += 1
            }
        }
        return total
    }

    /// Business time in the local-time interval [l0, l1) (microseconds of local wall time).
    private func localBusinessTime(from l0: Int64, to l1: Int64) -> Int64 {
        guard l1 > l0 else { return 0 }
        let d0 = l0.floorDivided(by: Self.day).quotient
        let d1 = l1.floorDivided(by: Self.day).quotient
        if d0 == d1 { return isBusinessDay(d0) ? l1 - l0 : 0 }
        var total = isBusinessDay(d0) ? (d0 + 1) * Self.day - l0 : 0
        total += businessDayCount(from: d0 + 1, to: d1) * Self.day
        if isBusinessDay(d1) { total += l1 - d1 * Self.day }
        return total
    }

    /// How many of the days in [x, y) are business days.
    private func businessDayCount(from x: Int64, to y: Int64) -> Int64 {
        guard y > x else { return 0 }
        let weeks = (y - x) / 7
        var count = weeks * Int64(workdayMask.nonzeroBitCount)
        var d = x + weeks * 7
        while d < y {
            if workdayMask & 1 << UInt8(Weekday(daysSinceEpoch: d).isoNumber) != 0 { count += 1 }
            d += 1
        }
        let holidayDays = storage.holidayDays
        return count - Int64(holidayDays.lowerBound(of: y) - holidayDays.lowerBound(of: x))
    }
}

extension [Int64] {
    /// The index of the first element >= `value` in a sorted array.
    fileprivate func lowerBound(of value: Int64) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if self[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    fileprivate func binarySearchContains(_ value: Int64) -> Bool {
        let i = lowerBound(of: value)
        return i < count && self[i] == value
    }
}
