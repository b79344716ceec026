// A project's security policy as data: the clocks a disclosure programme promises to keep.
// The human-editable form is a TOML subset (Schemas/policy.md, PolicyParser.swift);
// `encodeCanonical()` prints the one text per policy that is stored in the log.

/// What a policy clock counts.
public enum ClockUnit: String, Sendable, Hashable, CaseIterable {
    /// Elapsed hours.
    case hours
    /// Elapsed 24-hour days (not local calendar days).
    case days
    /// Time on local workweek days that are not holidays (see `BusinessCalendar`).
    case businessDays
}

/// A length of policy time: `48h`, `7d`, `2w` (read as `14d`) or `5bd` (business days).
public struct PolicyDuration: Hashable, Sendable, CustomStringConvertible {
    /// How many units; 1…`maximumAmount` in a valid policy.
    public var amount: Int
    /// Weeks are stored as days: `2w` is `14d`.
    public var unit: ClockUnit

    /// The largest amount a policy may write (in days, for weeks after conversion).
    public static let maximumAmount = 99_999

    public init(_ amount: Int, _ unit: ClockUnit) {
        self.amount = amount
        self.unit = unit
    }

    /// `n` hours (`nh`).
    public static func hours(_ n: Int) -> PolicyDuration { PolicyDuration(n, .hours) }
    /// `n` days of 24 hours (`nd`).
    public static func days(_ n: Int) -> PolicyDuration { PolicyDuration(n, .days) }
    /// `n` business days (`nbd`).
    public static func businessDays(_ n: Int) -> PolicyDuration { PolicyDuration(n, .businessDays) }

    /// The forms a duration may take, for error messages.
    static let allowedForms =
        "a whole number from 1 followed by h (hours), d (days), w (weeks of 7 days) or bd (business days), e.g. \"48h\", \"7d\", \"2w\", \"5bd\""

    /// Parses `<n>h`, `<n>d`, `<n>w` or `<n>bd`, n a whole number from 1 without leading zeros
    /// (weeks become days; at most 99,999 of the resulting unit).
    public init(_ text: String) throws(CoreError) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let suffix = text[digits.endIndex...]
        let unit: ClockUnit
        var factor = 1
        switch suffix {
        case "h": unit = .hours
        case "d": unit = .days
        case "w": (unit, factor) = (.days, 7)
        case "bd": unit = .businessDays
        default: throw CoreError(.invalidValue, "\"\(text)\" is not a duration; write \(Self.allowedForms)")
        }
        guard !digits.isEmpty, digits.first != "0", digits.count <= 6, let n = Int(digits), n * factor <= Self.maximumAmount else {
            throw CoreError(
                .invalidValue, "\"\(text)\" is not a duration; the number must be a whole number from 1 to \(Self.maximumAmount / factor)")
        }
        self.init(n * factor, unit)
    }

    /// The canonical text: `48h`, `14d`, `5bd`.
    public var description: String {
        switch unit {
        case .hours: "\(amount)h"
        case .days: "\(amount)d"
        case .businessDays: "\(amount)bd"
        }
    }

    /// Microseconds of counted time: 1 h = 3,600 s; 1 d and 1 bd = 86,400 s.
    public var countedMicroseconds: Int64 {
        Int64(amount) * (unit == .hours ? 3_600_000_000 : 86_400_000_000)
    }

    /// Whether `self` is certainly longer than `other`: nil when one counts business days and the
    /// other calendar time, because then the answer depends on the calendar.
    func isLonger(than other: PolicyDuration) -> Bool? {
        guard (unit == .businessDays) == (other.unit == .businessDays) else { return nil }
        return countedMicroseconds > other.countedMicroseconds
    }
}

/// The fix target for one severity.
public enum FixTarget: Hashable, Sendable, CustomStringConvertible {
    /// Fixed within this long of the fix clock's start.
    case within(PolicyDuration)
    /// Fixed in the next scheduled release: a target with no fixed length, counted as longer
    /// than any duration when targets are compared.
    case nextRelease
    /// No target.
    case none

    /// Parses a duration, `next-release` or `none`.
    public init(_ text: String) throws(CoreError) {
        switch text {
        case "next-release": self = .nextRelease
        case "none": self = .none
        default:
            do {
                self = .within(try PolicyDuration(text))
            } catch {
                throw CoreError(
                    .invalidValue, "\"\(text)\" is not a fix target; write a duration (\(PolicyDuration.allowedForms)), \"next-release\" or \"none\"")
            }
        }
    }

    public var description: String {
        switch self {
        case .within(let d): d.description
        case .nextRelease: "next-release"
        case .none: "none"
        }
    }

    /// Whether `self` is certainly longer than `other` (nil: not comparable, or a `none`).
    func isLonger(than other: FixTarget) -> Bool? {
        switch (self, other) {
        case (.none, _), (_, .none): nil
        case (.nextRelease, .nextRelease): false
        case (.nextRelease, .within): true
        case (.within, .nextRelease): false
        case (.within(let a), .within(let b)): a.isLonger(than: b)
        }
    }
}

/// What the disclosure deadline counts from.
public enum DisclosureAnchor: String, Sendable, Hashable {
    /// The report's submission (e.g. 90 days after the report).
    case report
    /// The release of the fix (e.g. 7–14 days after it).
    case fixRelease = "fix-release"
}

/// When the fix clock starts.
public enum FixClockStart: String, Sendable, Hashable {
    /// At submission.
    case report
    /// When the report is accepted as valid ("confirmation" in many policies).
    case acceptance
}

/// A first-response clock (acknowledge, triage): due `within` of the report.
public struct ResponseClock: Hashable, Sendable {
    /// How long after submission the clock is due.
    public var within: PolicyDuration
    /// Whether the clock stops while the programme waits on the reporter (needs-info).
    public var pausedWhileWaiting: Bool

    public init(within: PolicyDuration, pausedWhileWaiting: Bool = false) {
        self.within = within
        self.pausedWhileWaiting = pausedWhileWaiting
    }
}

/// Fix targets by severity.
///
/// A severity without an entry has the target `.none`, and equality treats the two alike, so
/// `[.low: .none]` and `[:]` are the same policy.
public struct FixPolicy: Hashable, Sendable {
    /// Targets by severity; only critical, high, medium and low appear in policy files.
    public var targets: [CVSSSeverity: FixTarget]
    /// When the fix clock starts.
    public var from: FixClockStart
    /// Whether the clock stops while the programme waits on the reporter.
    public var pausedWhileWaiting: Bool
    /// Whether an advisory published before any fix release meets the target, as a release does
    /// (AiSOC's "ship a fix, advisory, or a clear timeline"). Off, the clock runs on after such an
    /// advisory until a fix release is recorded.
    public var metByAdvisory: Bool

    /// The severities a policy file gives targets for, most severe first.
    public static let severities: [CVSSSeverity] = [.critical, .high, .medium, .low]

    public init(targets: [CVSSSeverity: FixTarget], from: FixClockStart = .report, pausedWhileWaiting: Bool = false, metByAdvisory: Bool = false) {
        self.targets = targets
        self.from = from
        self.pausedWhileWaiting = pausedWhileWaiting
        self.metByAdvisory = metByAdvisory
    }

    /// The target for `severity`; `.none` when none is set.
    public func target(for severity: CVSSSeverity) -> FixTarget { targets[severity] ?? .none }

    /// A severity whose target every severity shares (`.critical`'s, then), when the policy sets
    /// one target for all of them: the fix clock then runs before triage has assessed the report.
    public var uniformTargetSeverity: CVSSSeverity? {
        let first = target(for: .critical)
        guard first != .none, Self.severities.allSatisfy({ target(for: $0) == first }) else { return nil }
        return .critical
    }

    public static func == (a: FixPolicy, b: FixPolicy) -> Bool {
        a.from == b.from && a.pausedWhileWaiting == b.pausedWhileWaiting && a.metByAdvisory == b.metByAdvisory
            && CVSSSeverity.allCases.allSatisfy { a.target(for: $0) == b.target(for: $0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(from)
        hasher.combine(pausedWhileWaiting)
        hasher.combine(metByAdvisory)
        for severity in CVSSSeverity.allCases { hasher.combine(target(for: severity)) }
    }
}

/// When a report is disclosed, and what moves that date.
public struct DisclosurePolicy: Hashable, Sendable {
    /// What the deadline counts from.
    public var anchor: DisclosureAnchor
    /// The deadline after the anchor (90 days from the report; 14 days after the fix release).
    public var within: PolicyDuration
    /// Not before this long after the anchor ("7–14 days after the fix": earliest 7 days).
    public var earliest: PolicyDuration?
    /// When the fix is released by the deadline in force (the exploited one, if earlier),
    /// disclosure is due this long after the release instead (Project Zero's "90+30"); released in
    /// the grace period, this long after the deadline. Only with the `report` anchor.
    public var afterFix: PolicyDuration?
    /// A missed deadline is only breached after this grace period (an after-fix date has none).
    public var grace: PolicyDuration?
    /// When exploitation in the wild is observed, due = min(due, observed + exploited), but not
    /// before an after-fix date.
    public var exploited: PolicyDuration?
    /// The grace period of the exploited deadline, when it is the one in force (Project Zero's
    /// three days); nil: `grace`.
    public var exploitedGrace: PolicyDuration?
    /// The grace the exploited deadline has when it is the one in force: `exploitedGrace`, else `grace`.
    public var exploitedDeadlineGrace: PolicyDuration? { exploitedGrace ?? grace }
    /// Embargo extensions may move the deadline at most this far beyond the original; nil: no limit.
    public var maxExtension: PolicyDuration?
    /// The grace periods are granted only when asked for (Project Zero's): a deadline has its
    /// grace once an embargo extension recorded by that deadline moves past it. False: every
    /// missed deadline has its grace.
    public var graceOnRequest: Bool
    /// A date the disclosure policy sets that falls on a day off (outside the workweek, or a
    /// holiday, in the policy's zone) moves to the same local time on the next work day
    /// (`BusinessCalendar.onWorkday`; Project Zero's "moved to the next normal work day"). False:
    /// a deadline is where its duration ends.
    public var workdayDeadlines: Bool

    public init(
        anchor: DisclosureAnchor, within: PolicyDuration, earliest: PolicyDuration? = nil, afterFix: PolicyDuration? = nil,
        grace: PolicyDuration? = nil, exploited: PolicyDuration? = nil, exploitedGrace: PolicyDuration? = nil, maxExtension: PolicyDuration? = nil,
        graceOnRequest: Bool = false, workdayDeadlines: Bool = false
    ) {
        self.anchor = anchor
        self.within = within
        self.earliest = earliest
        self.afterFix = afterFix
        self.grace = grace
        self.exploited = exploited
        self.exploitedGrace = exploitedGrace
        self.maxExtension = maxExtension
        self.graceOnRequest = graceOnRequest
        self.workdayDeadlines = workdayDeadlines
    }

    /// What in the rule contradicts itself (policy.md §4), as `(field, message)`. Without
    /// `checkingWithin`, the rules that compare with `within` are left out: the parser asks so
    /// when `within` itself did not parse, so that the section's other problems are told with it.
    func contradictions(checkingWithin: Bool = true) -> [(field: String, message: String)] {
        var found: [(field: String, message: String)] = []
        if checkingWithin, let earliest, earliest.isLonger(than: within) == true {
            found.append(("disclosure.earliest", "\(earliest) is later than the deadline (within = \(within))"))
        }
        if anchor == .fixRelease, afterFix != nil {
            found.append(("disclosure.after-fix", "after-fix only applies when the deadline counts from the report (from = \"report\"), not from the fix release"))
        }
        // A fix in the grace period is due `after-fix` after the deadline: a grace longer than
        // that would make a fix released late in it due before its own release.
        if let afterFix, let grace, grace.isLonger(than: afterFix) == true {
            found.append(("disclosure.grace", "\(grace) is longer than after-fix (\(afterFix)): a fix released late in the grace period would be due before it was released"))
        }
        if graceOnRequest, grace == nil, exploitedGrace == nil {
            found.append(("disclosure.grace-on-request", "there is no grace period to ask for; add one (grace = \"14d\") or remove this"))
        }
        if let exploitedGrace {
            if exploited == nil {
                found.append(("disclosure.exploited-grace", "there is no exploited deadline to give a grace to; add one (exploited = \"7d\") or remove this"))
            }
            if let afterFix, exploitedGrace.isLonger(than: afterFix) == true {
                found.append((
                    "disclosure.exploited-grace",
                    "\(exploitedGrace) is longer than after-fix (\(afterFix)): a fix released late in the grace period would be due before it was released"
                ))
            }
        }
        return found
    }
}

/// The credit a reporter gets when they have not said what they prefer.
public enum CreditDefault: String, Sendable, Hashable {
    /// Credited by display name.
    case named
    /// Credited by handle only.
    case handle
    /// Counted, never named.
    case anonymous
    /// Not credited.
    case none
}

/// A disclosure policy: one version of the promises a project makes to reporters.
///
/// Values are checked by `Policy.parse(_:file:)`; a policy built in code is valid when its
/// canonical text parses.
public struct Policy: Hashable, Sendable {
    /// 1–200 characters.
    public var name: String
    /// 1 to `maximumVersion`; adopting a new version is an event.
    public var version: Int
    /// The highest version a policy adopted now may give (room for dates, 2026031501): one at
    /// `Int.max` would leave no higher one for the next adoption.
    public static let maximumVersion = Int(Int32.max)
    /// The seed file this policy models, e.g. `001_cccf3bfcab00222a.txt`.
    public var models: String?
    /// `UTC`, a fixed offset (`+05:30`) or an IANA id (`Europe/Berlin`).
    public var timeZone: String
    /// The days business-day clocks count; Monday–Friday by default.
    public var workweek: [Weekday]
    /// Local dates business-day clocks skip.
    public var holidays: [CivilDate]
    /// First response.
    public var acknowledge: ResponseClock?
    /// Triage, or "initial assessment".
    public var triage: ResponseClock?
    /// The reporter hears from the programme at least this often.
    public var statusUpdateEvery: PolicyDuration?
    /// Fix targets by severity.
    public var fix: FixPolicy?
    /// The disclosure deadline and what moves it.
    public var disclosure: DisclosurePolicy?
    /// A report waiting on the reporter this long may be closed.
    public var needsInfoAutoClose: PolicyDuration?
    /// The credit a reporter gets without a stated preference; `.named` by default.
    public var creditDefault: CreditDefault
    /// In-scope components or issue kinds, free text.
    public var scopeIn: [String]
    /// Out-of-scope components or issue kinds, free text.
    public var scopeOut: [String]
    /// How long a release receives (critical) fixes; informational.
    public var supportWindow: PolicyDuration?

    /// A policy with the format's defaults for everything not given (UTC, Monday–Friday, no
    /// holidays, no clocks, named credit, empty scope).
    public init(
        name: String, version: Int, models: String? = nil, timeZone: String = "UTC",
        workweek: [Weekday] = Weekday.mondayToFriday, holidays: [CivilDate] = [],
        acknowledge: ResponseClock? = nil, triage: ResponseClock? = nil, statusUpdateEvery: PolicyDuration? = nil,
        fix: FixPolicy? = nil, disclosure: DisclosurePolicy? = nil, needsInfoAutoClose: PolicyDuration? = nil,
        creditDefault: CreditDefault = .named, scopeIn: [String] = [], scopeOut: [String] = [],
        supportWindow: PolicyDuration? = nil
    ) {
        self.name = name
        self.version = version
        self.models = models
        self.timeZone = timeZone
        self.workweek = workweek
        self.holidays = holidays
        self.acknowledge = acknowledge
        self.triage = triage
        self.statusUpdateEvery = statusUpdateEvery
        self.fix = fix
        self.disclosure = disclosure
        self.needsInfoAutoClose = needsInfoAutoClose
        self.creditDefault = creditDefault
        self.scopeIn = scopeIn
        self.scopeOut = scopeOut
        self.supportWindow = supportWindow
    }

    /// Every duration the policy sets, with its field name as policy files spell it.
    var durations: [(field: String, duration: PolicyDuration)] {
        var all: [(String, PolicyDuration?)] = [
            ("acknowledge.within", acknowledge?.within), ("triage.within", triage?.within),
            ("status-update.every", statusUpdateEvery),
        ]
        for severity in FixPolicy.severities {
            if case .within(let d) = fix?.target(for: severity) { all.append(("fix.\(severity.rawValue)", d)) }
        }
        all += [
            ("disclosure.within", disclosure?.within), ("disclosure.earliest", disclosure?.earliest),
            ("disclosure.after-fix", disclosure?.afterFix), ("disclosure.grace", disclosure?.grace),
            ("disclosure.exploited", disclosure?.exploited), ("disclosure.exploited-grace", disclosure?.exploitedGrace),
            ("disclosure.max-extension", disclosure?.maxExtension),
            ("needs-info.auto-close", needsInfoAutoClose), ("support.window", supportWindow),
        ]
        return all.compactMap { field, d in d.map { (field, $0) } }
    }

    /// What to tell whoever validates or adopts the policy on `today` when its holidays run out
    /// within a year: a business day after the last one listed is any workweek day, so a
    /// deadline set then skips no holiday, and nothing else would say so. Nil when the policy
    /// lists none, or counts no business days and moves no date off days off.
    public func holidaysRunningOut(today: CivilDate) -> String? {
        guard let last = holidays.max(), durations.contains(where: { $0.duration.unit == .businessDays }) || disclosure?.workdayDeadlines == true,
            last.daysSinceEpoch < today.daysSinceEpoch + 365
        else { return nil }
        let lapsed = last < today
        return "holidays: the last one listed is \(last), \(lapsed ? "past" : "less than a year away"): business days after it \(lapsed ? "are" : "will be") counted, and days off moved past, as if there were no holidays: "
            + "list \(lapsed ? "this year's and the next year's" : "the next year's"), and adopt the policy as a new version"
    }

    /// Rules between fields that no single value can break, as (field, message) pairs.
    func contradictions() -> [(field: String, message: String)] {
        var found: [(field: String, message: String)] = []
        if let ack = acknowledge?.within, let triage = triage?.within, ack.isLonger(than: triage) == true {
            found.append(("acknowledge.within", "\(ack) is longer than triage within (\(triage)); a report is acknowledged before it is triaged"))
        }
        if let fix {
            // A more severe report must not get more time: critical <= high <= medium <= low.
            // Each severity is reported once, against the first less severe target it exceeds.
            for (i, higher) in FixPolicy.severities.enumerated() {
                let target = fix.target(for: higher)
                if let lower = FixPolicy.severities[(i + 1)...].first(where: { target.isLonger(than: fix.target(for: $0)) == true }) {
                    found.append((
                        "fix.\(higher.rawValue)",
                        "\(target) is longer than the \(lower.rawValue) target (\(fix.target(for: lower))); a more severe report must not get more time"
                    ))
                }
            }
        }
        if let disclosure { found += disclosure.contradictions() }
        if workweek.isEmpty {
            for (field, d) in durations where d.unit == .businessDays {
                found.append((field, "\(d) counts business days, but the workweek is empty"))
            }
            if disclosure?.workdayDeadlines == true {
                found.append(("disclosure.workday-deadlines", "deadlines move to the next work day, but the workweek is empty"))
            }
        }
        return found
    }
}

// MARK: - Canonical text

extension Policy {
    /// The policy in the file format with every field, in schema order, without comments: the
    /// text stored in the log. For a valid policy, `Policy.parse(p.encodeCanonical(), file:)`
    /// returns `p`.
    public func encodeCanonical() -> String {
        var out = ""
        func line(_ key: String, _ value: String) { out += key + " = " + value + "\n" }
        func section(_ name: String) { out += "\n[" + name + "]\n" }
        func quoted(_ s: some CustomStringConvertible) -> String { PolicyText.quote(s.description) }
        func array(_ items: [String]) -> String { "[" + items.map(PolicyText.quote).joined(separator: ", ") + "]" }

        line("name", quoted(name))
        line("version", String(version))
        if let models { line("models", quoted(models)) }
        line("time-zone", quoted(timeZone))
        line("workweek", array(workweek.map(\.abbreviation)))
        line("holidays", array(holidays.map(\.description)))
        line("credit-default", quoted(creditDefault.rawValue))
        for (name, clock) in [("acknowledge", acknowledge), ("triage", triage)] {
            guard let clock else { continue }
            section(name)
            line("within", quoted(clock.within))
            line("pause-while-waiting", String(clock.pausedWhileWaiting))
        }
        if let statusUpdateEvery {
            section("status-update")
            line("every", quoted(statusUpdateEvery))
        }
        if let fix {
            section("fix")
            line("from", quoted(fix.from.rawValue))
            line("pause-while-waiting", String(fix.pausedWhileWaiting))
            // Only when set: the canonical text of every policy adopted before the key existed stays as it was.
            if fix.metByAdvisory { line("met-by-advisory", "true") }
            for severity in FixPolicy.severities { line(severity.rawValue, quoted(fix.target(for: severity))) }
        }
        if let disclosure {
            section("disclosure")
            line("from", quoted(disclosure.anchor.rawValue))
            line("within", quoted(disclosure.within))
            let optional: [(String, PolicyDuration?)] = [
                ("earliest", disclosure.earliest), ("after-fix", disclosure.afterFix), ("grace", disclosure.grace),
                ("exploited", disclosure.exploited), ("exploited-grace", disclosure.exploitedGrace), ("max-extension", disclosure.maxExtension),
            ]
            for case (let key, let d?) in optional { line(key, quoted(d)) }
            // Only when set, as `met-by-advisory`.
            if disclosure.graceOnRequest { line("grace-on-request", "true") }
            if disclosure.workdayDeadlines { line("workday-deadlines", "true") }
        }
        if let needsInfoAutoClose {
            section("needs-info")
            line("auto-close", quoted(needsInfoAutoClose))
        }
        section("scope")
        line("in", array(scopeIn))
        line("out", array(scopeOut))
        if let supportWindow {
            section("support")
            line("window", quoted(supportWindow))
        }
        return out
    }
}

/// Text helpers shared by the parser and the canonical encoder.
enum PolicyText {
    /// A TOML basic string: `"` and `\` escaped, control characters as escapes.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\u{0C}": out += "\\f"
            case "\r": out += "\\r"
            case "\u{00}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
