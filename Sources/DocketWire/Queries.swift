public import DocketCore

/// A view query (`docket state|timers|hall-of-fame|metrics|history|policy show`), as the CLI asks it locally
/// and as a QUERY frame carries it.
public enum ViewQuery: Hashable, Sendable {
    /// Whether it is `replay`: every view at once.
    public var isReplay: Bool {
        if case .replay = self { return true }
        return false
    }

    case state(project: String?, state: ReportState?, severity: CVSSSeverity?, assignee: String?, report: String?)
    case timers(project: String?, report: String?, dueWithin: Duration?, late: Bool, all: Bool)
    case hallOfFame(project: String, year: Int64?)
    case metrics(project: String, window: Duration)
    case history(report: String)
    /// The policies a project has adopted, each with its text, and which one a report submitted
    /// now is held to: `docket policy show`.
    case policy(project: String)
    /// Every view at once (advisory state, every clock, and each project's hall of fame and
    /// metrics over `window`): `docket replay`, normally with an `asOf`.
    case replay(window: Duration)

    public var name: String {
        switch self {
        case .state: "state"
        case .timers: "timers"
        case .hallOfFame: "hall-of-fame"
        case .metrics: "metrics"
        case .history: "history"
        case .policy: "policy"
        case .replay: "replay"
        }
    }
}

/// `--as-of` on the wire: `{"time": RFC 3339}`, `{"recorded": RFC 3339}` (`--known-at`) or
/// `{"seq": N}`; absent means now.
public enum AsOfSpec: Hashable, Sendable {
    case now
    case time(Timestamp)
    case sequence(UInt64)
    /// What the ledger had recorded by then (`AsOf.recorded`).
    case recorded(Timestamp)

    public var wireValue: Value {
        switch self {
        case .now: .null
        case .time(let t): .object([("time", .string(t.rfc3339))])
        case .sequence(let n): .object([("seq", .int(Int64(bitPattern: n)))])
        case .recorded(let t): .object([("recorded", .string(t.rfc3339))])
        }
    }

    public init(wire value: Value?) throws(MessageError) {
        guard let value, value != .null else {
            self = .now
            return
        }
        let b = try Body(value, "asOf")
        let given = ["time", "recorded", "seq"].filter { value[$0] != nil && value[$0] != .null }
        guard given.count <= 1 else { throw MessageError("asOf: give one of \"time\", \"recorded\" and \"seq\", not \(given.joined(separator: " and "))") }
        if let t = try b.optionalTime("time") {
            self = .time(t)
        } else if let t = try b.optionalTime("recorded") {
            self = .recorded(t)
        } else if let n = try b.optionalInt("seq"), n >= 0 {
            self = .sequence(UInt64(n))
        } else {
            throw MessageError("asOf: give \"time\", \"recorded\" or \"seq\"")
        }
    }

    public func resolve(now: Timestamp) -> AsOf {
        switch self {
        case .now: .latest(now: now)
        case .time(let t): .instant(t)
        case .sequence(let n): .sequence(n, now: now)
        case .recorded(let t): .recorded(t)
        }
    }
}

extension ViewQuery {
    public var wireValue: Value {
        var b = PayloadBuilder()
        b.set("view", name)
        switch self {
        case .state(let project, let state, let severity, let assignee, let report):
            b.set("project", project)
            b.set("state", state)
            b.set("severity", severity)
            b.set("assignee", assignee)
            b.set("report", report)
        case .timers(let project, let report, let dueWithin, let late, let all):
            b.set("project", project)
            b.set("report", report)
            b.set("dueWithinSeconds", dueWithin.map { $0.microseconds / 1_000_000 })
            b.set("late", late)
            b.set("all", all)
        case .hallOfFame(let project, let year):
            b.set("project", project)
            b.set("year", year)
        case .metrics(let project, let window):
            b.set("project", project)
            b.set("windowSeconds", window.microseconds / 1_000_000)
        case .history(let report):
            b.set("report", report)
        case .policy(let project):
            b.set("project", project)
        case .replay(let window):
            b.set("windowSeconds", window.microseconds / 1_000_000)
        }
        return b.value
    }

    public init(wire value: Value) throws(MessageError) {
        let b = try Body(value, "query")
        switch try b.string("view") {
        case "state":
            self = .state(
                project: try b.optionalString("project"), state: try b.optionalEnumeration("state", ReportState.self),
                severity: try b.optionalEnumeration("severity", CVSSSeverity.self), assignee: try b.optionalString("assignee"),
                report: try b.optionalString("report"))
        case "timers":
            var dueWithin: Duration?
            if let seconds = try b.optionalInt("dueWithinSeconds") { dueWithin = .seconds(try Self.span(seconds, "dueWithinSeconds")) }
            self = .timers(
                project: try b.optionalString("project"), report: try b.optionalString("report"),
                dueWithin: dueWithin, late: try b.optionalBool("late") ?? false,
                all: try b.optionalBool("all") ?? false)
        case "hall-of-fame":
            let year = try b.optionalInt("year")
            // Years as the views print them (RFC 3339's 0001–9999).
            if let year, !(1...9999).contains(year) { throw MessageError("query: \"year\" must be a year 1–9999, not \(year)") }
            self = .hallOfFame(project: try b.string("project"), year: year)
        case "metrics": self = .metrics(project: try b.string("project"), window: .seconds(try Self.span(try b.int("windowSeconds"), "windowSeconds")))
        case "history": self = .history(report: try b.string("report"))
        case "policy": self = .policy(project: try b.string("project"))
        case "replay":
            self = .replay(window: .seconds(try Self.span(try b.optionalInt("windowSeconds") ?? 90 * 86_400, "windowSeconds")))
        case let other: throw MessageError("query: unknown view \"\(other)\"")
        }
    }

    /// Spans are 0 to 100 years of seconds: enough for any policy, far from overflowing.
    static let maximumSpanSeconds: Int64 = 100 * 366 * 86_400

    static func span(_ seconds: Int64, _ field: String) throws(MessageError) -> Int64 {
        guard (0...maximumSpanSeconds).contains(seconds) else {
            throw MessageError("query: \"\(field)\" must be 0–\(maximumSpanSeconds) seconds")
        }
        return seconds
    }
}

/// A page of the `state` or `timers` view: at most `limit` reports (their rows, or their clocks),
/// those that come after report `after` in the view's order (oldest submission first, ties by
/// id). The answer names the last report of the page as `next` when more follow, a `version` of
/// the whole view (a digest of what its rows are made from), so that a reader of several pages
/// can tell whether it changed between them, and the instant `at` its clocks were evaluated at,
/// which a later page of the views as they are now may ask for again (`at`).
public struct ViewPage: Hashable, Sendable {
    public var limit: Int
    public var after: String?
    /// Evaluate the views as they are now at this instant (a moment ago: an earlier page's `at`).
    public var at: Timestamp?

    /// How far back `at` may be: it is for the pages of one read, not a view of the past.
    public static let maximumAtAge: Duration = .seconds(600)

    /// The error code of a page that no longer follows from the one before: its `after` names no
    /// report the view shows, or its `at` is no longer taken. The view is to be read again from
    /// its first page.
    public static let expired = "page-expired"

    /// The most reports one page may ask for.
    public static let maximumLimit = 100_000

    public init(limit: Int, after: String? = nil, at: Timestamp? = nil) {
        self.limit = limit
        self.after = after
        self.at = at
    }

    /// The page a QUERY body asks for (`limit`, `after`), if it asks for one.
    public init?(wire value: Value) throws(MessageError) {
        let b = try Body(value, "query")
        let limit = try b.optionalInt("limit")
        let after = try b.optionalString("after")
        let at = try b.optionalTime("at")
        guard let limit else {
            if after != nil || at != nil { throw MessageError("query: \"after\" and \"at\" go with \"limit\"") }
            return nil
        }
        guard (1...Int64(Self.maximumLimit)).contains(limit) else {
            throw MessageError("query: \"limit\" must be 1–\(Self.maximumLimit) reports, not \(limit)")
        }
        self.init(limit: Int(limit), after: after, at: at)
    }

    /// Adds the page's fields to a query's body.
    public func adding(to body: Value) -> Value {
        guard case .object(var m) = body else { return body }
        m.append(("limit", .int(Int64(limit))))
        if let after { m.append(("after", .string(after))) }
        if let at { m.append(("at", .string(at.rfc3339))) }
        return .object(m)
    }

    /// Whether `query` is a view read in pages.
    public static func pages(_ query: ViewQuery) -> Bool {
        switch query {
        case .state, .timers: true
        default: false
        }
    }
}
