import ArgumentParser
import DocketCore
import DocketStore
import Foundation

/// `--as-of` and `--json`, shared by every view command.
struct ViewOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Show the view as it stood then: an RFC 3339 time or date (events that happened by then; clocks evaluated then) or a global sequence number.",
        valueName: "time|seq"))
    var asOf: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func resolve() throws -> AsOf {
        guard let asOf else { return .latest(now: .now()) }
        if let n = UInt64(asOf) { return .sequence(n, now: .now()) }
        return .instant(try parseTime(asOf, what: "--as-of"))
    }
}

/// Parses `72h`, `3d`, `2w` into a duration.
func parseSpan(_ text: String, what: String) throws -> Duration {
    let units: [(String, Int64)] = [("h", 3600), ("d", 86_400), ("w", 604_800), ("m", 60)]
    for (suffix, seconds) in units where text.hasSuffix(suffix) {
        if let n = Int64(text.dropLast(suffix.count)), n >= 0, n < 1_000_000 { return .seconds(n * seconds) }
    }
    throw CLIError("\(what) \"\(text)\" must be a number followed by m, h, d or w (like 72h or 90d)")
}

/// A plain-text table with aligned columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    var out = Output()
    out.line(line(header))
    for r in rows { out.line(line(r)) }
    out.flush()
}

private func withProjection(_ options: StoreOptions, _ view: ViewOptions, _ body: (Projection, Timestamp) throws -> Void) throws {
    let store = try options.openStore(readOnly: true)
    defer { store.close() }
    let asOf = try view.resolve()
    let projection = try LocalLedger(store: store).projection(asOf: asOf, checkpoints: ViewCheckpoints(dataDir: options.dataDir))
    try body(projection, projection.evaluationTime(asOf))
}

func reportJSON(_ r: Report, includeContact: Bool = true) -> Value {
    var b: [(key: String, value: Value)] = [
        ("id", .string(r.id)), ("project", .string(r.project)), ("title", .string(r.title)), ("state", .string(r.state.rawValue)),
    ]
    func add(_ k: String, _ v: Value?) { if let v { b.append((k, v)) } }
    add("severity", r.severity.map { .string($0.rawValue) })
    add("cvss31", r.cvss31.map { v in .object([("vector", .string(v)), ("score", (try? CVSS.score(v)).map { .double($0.baseScore) } ?? .null)]) })
    add("cvss40", r.cvss40.map { v in .object([("vector", .string(v)), ("score", (try? CVSS.score(v)).map { .double($0.baseScore) } ?? .null)]) })
    add("cwes", r.cwes.isEmpty ? nil : .array(r.cwes.map { .string($0) }))
    add("component", r.component.map { .string($0) })
    add("assignee", r.assignee.map { .string($0) })
    add("affected", r.affected.isEmpty ? nil : .array(r.affected.map { .string($0) }))
    add("fixedVersions", r.fixedVersions.isEmpty ? nil : .array(r.fixedVersions.map { .string($0) }))
    add("cve", r.cve.map { .string($0) })
    add("ghsa", r.ghsa.map { .string($0) })
    add("url", r.advisoryURL.map { .string($0) })
    add("resolution", r.resolution.map { .string($0.rawValue) })
    add("duplicateOf", r.duplicateOf.map { .string($0) })
    add("submittedAt", .string(r.submittedAt.rfc3339))
    add("acknowledgedAt", r.acknowledgedAt.map { .string($0.rfc3339) })
    add("acceptedAt", r.acceptedAt.map { .string($0.rfc3339) })
    add("fixReleasedAt", r.fixReleasedAt.map { .string($0.rfc3339) })
    add("scheduledDisclosure", r.scheduledDisclosure.map { .string($0.rfc3339) })
    add("embargoUntil", r.embargoExtensions.last.map { .string($0.until.rfc3339) })
    add("disclosedAt", r.disclosedAt.map { .string($0.rfc3339) })
    add("exploitedAt", r.exploitedAt.map { .string($0.rfc3339) })
    var reporter: [(key: String, value: Value)] = [("handle", .string(r.reporter.handle)), ("credit", .string(r.reporter.credit.rawValue))]
    if let n = r.reporter.name { reporter.append(("name", .string(n))) }
    if includeContact, let c = r.reporter.contact { reporter.append(("contact", .string(c))) }
    b.append(("reporter", .object(reporter)))
    return .object(b)
}

func clockJSON(_ c: Clock) -> Value {
    var b: [(key: String, value: Value)] = [
        ("report", .string(c.report)), ("project", .string(c.project)), ("clock", .string(c.kind.rawValue)), ("state", .string(c.state.rawValue)),
    ]
    if let t = c.target { b.append(("target", .string(t))) }
    if let t = c.startedAt { b.append(("startedAt", .string(t.rfc3339))) }
    if let t = c.dueAt { b.append(("dueAt", .string(t.rfc3339))) }
    if let t = c.endedAt { b.append(("endedAt", .string(t.rfc3339))) }
    if let m = c.margin { b.append(("marginSeconds", .int(m.microseconds / 1_000_000))) }
    if let n = c.note { b.append(("note", .string(n))) }
    return .object(b)
}

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "The advisory state of reports, filtered.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var view: ViewOptions
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only reports in this state.") var state: ReportState?
    @Option(help: "Only this severity.") var severity: CVSSSeverity?
    @Option(help: "Only this assignee.") var assignee: String?
    @Option(help: "Only this report.") var report: String?

    func run() async throws {
        try await reporting {
            try withProjection(store, view) { projection, _ in
                let rows = projection.reports.values
                    .filter { r in
                        (project == nil || r.project == project) && (state == nil || r.state == state)
                            && (severity == nil || r.severity == severity) && (assignee == nil || r.assignee == assignee)
                            && (report == nil || r.id == report)
                    }
                    .sorted { ($0.submittedAt, $0.id) < ($1.submittedAt, $1.id) }
                if let report, rows.isEmpty { throw CLIError("unknown-report: no report \(report) as of \(try view.resolve())") }
                if view.json {
                    var out = Output()
                    for r in rows { out.line(JSON.serialize(reportJSON(r))) }
                    out.flush()
                } else {
                    printTable(
                        ["REPORT", "PROJECT", "STATE", "SEVERITY", "ASSIGNEE", "SUBMITTED", "CVE", "TITLE"],
                        rows.map { r in
                            [r.id, r.project, r.state.rawValue, r.severity?.rawValue ?? "-", r.assignee ?? "-",
                             String(r.submittedAt.rfc3339.prefix(10)), r.cve ?? "-", r.title]
                        })
                }
            }
        }
    }
}

struct TimersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timers", abstract: "Every disclosure clock of every open report: running, met, breached, paused or not applicable.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var view: ViewOptions
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only this report (all its clocks, closed reports included).") var report: String?
    @Option(help: ArgumentHelp("Only clocks due within this span from now (like 72h).", valueName: "span")) var dueWithin: String?
    @Flag(help: "Only clocks that are past due and not done.") var late = false
    @Flag(help: "Include clocks that are not applicable or already ended.") var all = false

    func run() async throws {
        try await reporting {
            let window = try dueWithin.map { try parseSpan($0, what: "--due-within") }
            try withProjection(store, view) { projection, now in
                var clocks: [Clock] = []
                let reports = projection.reports.values
                    .filter { (project == nil || $0.project == project) && (report == nil || $0.id == report) }
                    .sorted { ($0.submittedAt, $0.id) < ($1.submittedAt, $1.id) }
                if let report, reports.isEmpty { throw CLIError("unknown-report: no report \(report)") }
                for r in reports {
                    for c in Timers.clocks(for: r, policy: projection.policy(for: r), now: now) {
                        if late { if c.isLate { clocks.append(c) }; continue }
                        if let window {
                            if let due = c.dueAt, c.endedAt == nil, c.state == .running || c.state == .paused, due >= now, due <= now + window { clocks.append(c) }
                            continue
                        }
                        if all || report != nil || (c.state != .notApplicable && c.endedAt == nil) { clocks.append(c) }
                    }
                }
                if view.json {
                    var out = Output()
                    for c in clocks { out.line(JSON.serialize(clockJSON(c))) }
                    out.flush()
                    return
                }
                printTable(
                    ["REPORT", "CLOCK", "STATE", "TARGET", "DUE", "ENDED", "MARGIN", "NOTE"],
                    clocks.map { c in
                        [c.report, c.kind.rawValue, c.state.rawValue, c.target ?? "-", c.dueAt?.rfc3339 ?? "-", c.endedAt?.rfc3339 ?? "-",
                         c.margin.map { m in m < .zero ? "\(Clock.format(.zero - m)) late" : "\(Clock.format(m)) \(c.endedAt == nil ? "left" : "early")" } ?? "-",
                         c.note ?? ""]
                    })
            }
        }
    }
}

struct HallOfFameCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hall-of-fame", abstract: "The people credited on a project's disclosed reports.")
    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("Show it as it stood then (RFC 3339 time or date, or a sequence).", valueName: "time|seq")) var asOf: String?
    @Option(help: "The project.") var project: String
    @Option(help: "Only reports disclosed in this year.") var year: Int64?
    @Option(help: "markdown (a CREDITS.md section) or json.") var format: Format = .markdown
    @Flag(help: "Same as --format json.") var json = false

    enum Format: String, ExpressibleByArgument { case markdown, json }

    func run() async throws {
        try await reporting {
            let view = try ViewOptions.parse(asOf.map { ["--as-of", $0] } ?? [])
            try withProjection(store, view) { projection, now in
                guard projection.projects[project] != nil || projection.reports.values.contains(where: { $0.project == project }) else {
                    throw CLIError("unknown-project: no project \(project) in this ledger")
                }
                let hall = HallOfFame(projection: projection, project: project, year: year, now: now)
                if json || format == .json { print(JSON.serialize(hall.json)) } else { print(hall.markdown, terminator: "") }
            }
        }
    }
}

struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "Median times to each milestone and the share of targets met, over a trailing window.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var view: ViewOptions
    @Option(help: "The project.") var project: String
    @Option(help: ArgumentHelp("The trailing window (reports submitted in it).", valueName: "span")) var window: String = "90d"

    func run() async throws {
        try await reporting {
            let span = try parseSpan(window, what: "--window")
            try withProjection(store, view) { projection, now in
                let m = ProgrammeMetrics(projection: projection, project: project, window: span, now: now)
                if view.json {
                    printJSON([
                        ("project", .string(project)), ("from", .string(m.from.rfc3339)), ("to", .string(m.to.rfc3339)), ("reports", .int(Int64(m.reports))),
                        ("milestones", .array(m.milestones.map { s in
                            .object([("name", .string(s.name)), ("count", .int(Int64(s.count))), ("medianSeconds", s.median.map { .int($0.microseconds / 1_000_000) } ?? .null)])
                        })),
                        ("targets", .array(m.targets.map { t in
                            .object([("clock", .string(t.clock.rawValue)), ("met", .int(Int64(t.met))), ("breached", .int(Int64(t.breached))),
                                     ("open", .int(Int64(t.open))), ("share", t.share.map { .double(round2($0)) } ?? .null)])
                        })),
                    ])
                    return
                }
                print("\(project): \(m.reports) report\(m.reports == 1 ? "" : "s") submitted \(m.from.rfc3339.prefix(10)) – \(m.to.rfc3339.prefix(10))")
                printTable(["MILESTONE", "REACHED", "MEDIAN"], m.milestones.map { [$0.name, String($0.count), $0.median.map(Clock.format) ?? "-"] })
                print("")
                printTable(["CLOCK", "MET", "BREACHED", "OPEN", "MET %"], m.targets.map { t in
                    [t.clock.rawValue, String(t.met), String(t.breached), String(t.open), t.share.map { String(Int(($0 * 100).rounded())) + "%" } ?? "-"]
                })
            }
        }
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Every event of one report, in order.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var view: ViewOptions
    @Argument(help: "The report id.") var report: String

    func run() async throws {
        try await reporting {
            let asOf = try view.resolve()
            let store = try self.store.openStore(readOnly: true)
            defer { store.close() }
            let events = try store.read(stream: try DomainStreams.report(report)).filter { Projection.includes($0, asOf: asOf) }
            guard !events.isEmpty else { throw CLIError("unknown-report: no report \(report)") }
            var out = Output()
            defer { out.flush() }
            for e in events {
                if view.json {
                    out.line(e.json)
                } else {
                    let payload = JSON.serialize(e.data)
                    out.line("\(e.streamVersion)\t\(e.occurredAt.rfc3339)\t\(e.actor)\t\(e.type)\t\(payload == "{}" ? "" : payload)")
                }
            }
        }
    }
}

struct CVSSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cvss", abstract: "The base score and severity of a CVSS 3.1 or 4.0 vector.")
    @Argument(help: "The vector, like CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H.") var vector: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reporting {
            let s: CVSSScore
            do { s = try CVSS.score(vector) } catch let error as CoreError { throw CLIError("invalid-cvss: \(error.message)") }
            if json {
                printJSON([
                    ("version", .string(s.version.rawValue)), ("vector", .string(s.vector)), ("baseScore", .double(s.baseScore)),
                    ("severity", .string(s.severity.rawValue)),
                ])
            } else {
                print("\(s.baseScore) \(s.severity) (CVSS \(s.version.rawValue))")
            }
        }
    }
}
