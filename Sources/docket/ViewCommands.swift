import ArgumentParser
import DocketCore
import DocketStore
import Foundation
import DocketClient
import DocketServer
import DocketWire

/// `--as-of` and `--json`, shared by every view command.
struct ViewOptions: ParsableArguments {
    // Values taken as given even when they begin with a dash (-5d, -1), so that they are told
    // what is wrong with them rather than "Missing value". (So are the spans and years below.)
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Show the view as it stood then: an RFC 3339 time or date (events that happened by then; clocks evaluated then) or a global sequence number (seq:N where N could be read as a year or a date; for a maintainer, one of their project's events, whose recording time the clocks are evaluated at).",
        valueName: "time|seq"))
    var asOf: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Show the view as the ledger knew it then: the events recorded by that RFC 3339 time or date, whatever time they give (an entry backdated later is left out); clocks evaluated then.",
        valueName: "time"))
    var knownAt: String?

    @Flag(help: "Print JSON instead of a table: each row one object on a line of its own (JSON Lines, so no rows print nothing); metrics print one object.")
    var json = false

    func validate() throws {
        if asOf != nil, knownAt != nil { throw ValidationError("give --as-of or --known-at, not both") }
    }

    func resolve() throws -> AsOfSpec { try Self.resolve(asOf, knownAt: knownAt) }

    /// `--as-of` given as `text` (digits alone, or after `seq:`, are a sequence; anything else a
    /// time), or `--known-at` as `knownAt`; neither: now. Digits that read as well as a year
    /// (1990–2100) or a date written without dashes (20261204) are refused unless `seq:` says
    /// which: on a log that long, they would show another moment than the one meant, silently.
    static func resolve(_ text: String?, knownAt: String? = nil) throws -> AsOfSpec {
        if let knownAt { return .recorded(try parseTime(knownAt, what: "--known-at")) }
        guard let text else { return .now }
        func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
        if text.hasPrefix("seq:") {
            guard isDigits(text.dropFirst(4)), let n = UInt64(text.dropFirst(4)) else {
                throw CLIError("--as-of: \"\(text)\" is not a sequence; write seq: and its number, like seq:2026", exitCode: ExitCode.validationFailure.rawValue)
            }
            return .sequence(n)
        }
        if isDigits(text[...]), let n = UInt64(text) {
            let looksLikeADate = text.count == 8 && (try? Timestamp(rfc3339: "\(text.prefix(4))-\(text.dropFirst(4).prefix(2))-\(text.suffix(2))T00:00:00Z")) != nil
                && (1990...2100).contains(n / 10_000)
            if (1990...2100).contains(n) || looksLikeADate {
                let date = looksLikeADate ? "\(text.prefix(4))-\(text.dropFirst(4).prefix(2))-\(text.suffix(2))" : "\(n)-01-01"
                throw CLIError(
                    "--as-of \(text) could be a date or a sequence: write \(date) for the date, or seq:\(n) for the sequence",
                    exitCode: ExitCode.validationFailure.rawValue)
            }
            return .sequence(n)
        }
        return .time(try parseTime(text, what: "--as-of"))
    }
}

/// One line on standard output, in order with `Output` and `printTable` (which write past
/// `print`'s buffer).
func printLine(_ s: String) {
    var out = Output()
    out.line(s)
    out.flush()
}

/// Parses `72h`, `3d`, `2w` into a duration, at most 100 years (what the node accepts), and more
/// than zero unless `allowZero`. A malformed one is bad usage (exit 64).
func parseSpan(_ text: String, what: String, allowZero: Bool = true) throws -> Duration {
    let units: [(String, Int64)] = [("h", 3600), ("d", 86_400), ("w", 604_800)]
    for (suffix, seconds) in units where text.hasSuffix(suffix) {
        if let n = Int64(text.dropLast(suffix.count)), n >= (allowZero ? 0 : 1), n <= 100 * 366 * 86_400 / seconds { return .seconds(n * seconds) }
    }
    throw CLIError(
        "\(what) \"\(text)\" must be a\(allowZero ? "" : " positive") number followed by h, d or w (like 72h, 90d or 2w), up to 100 years",
        exitCode: ExitCode.validationFailure.rawValue)
}

/// A plain-text table with aligned columns; the cells of the columns named in `cut` (free text
/// from outside: titles, names) shown to `tableCellLimit` characters.
func printTable(_ header: [String], _ rows: [[String]], cut: Set<String> = freeTextColumns) {
    // Cells hold what people wrote (titles, names): shown, not obeyed, by the terminal.
    let cutting = header.map { cut.contains($0) }
    let rows = rows.map { row in row.enumerated().map { tableCell($0.element, limit: cutting[$0.offset] ? tableCellLimit : nil) } }
    // Widths in characters (Foundation's `padding` counted UTF-16 units, cut cells holding an emoji
    // short, and was most of the time a table of 100,000 reports took to print). A character a
    // terminal shows two columns wide (CJK, an emoji) still pushes the rest of its row along by one.
    let counts = rows.map { $0.map(\.count) }
    var widths = header.map(\.count)
    for r in counts { for (i, n) in r.enumerated() { widths[i] = max(widths[i], n) } }
    func line(_ cells: [String], _ lengths: [Int]) -> String {
        var text = ""
        for (i, c) in cells.enumerated() {
            text += c
            if i < cells.count - 1 { text += String(repeating: " ", count: widths[i] - lengths[i] + 2) }
        }
        return text
    }
    var out = Output()
    out.line(line(header, header.map(\.count)))
    for (r, lengths) in zip(rows, counts) { out.line(line(r, lengths)) }
    out.flush()
}

/// `text` as a table shows it: each run of white space or of blank characters (a Braille blank,
/// a Hangul filler) one space, cut to `limit` characters with "…", and escaped
/// (`UntrustedText.displayable`, after the cut, so that no escape is cut in two). A title padded
/// out with spaces or dots would otherwise wrap on the terminal, and what follows in it could
/// line up as a row of its own, under the report's. (JSON gives the text as it is.)
func tableCell(_ text: String, limit: Int? = nil) -> String {
    let limit = limit ?? .max
    // Nearly every cell: printable ASCII, short, no two spaces in a row.
    var previous: UInt8 = 0
    let plain = text.utf8.count <= limit && text.utf8.allSatisfy { byte in
        defer { previous = byte }
        return byte >= 0x20 && byte < 0x7F && !(byte == 0x20 && previous == 0x20)
    }
    if plain { return text }
    var out: [Character] = []
    var inSpace = false
    for c in text {
        let blank = c.isWhitespace || (!c.isASCII && UntrustedText.isBlank(String(c)))
        if blank && inSpace { continue }
        out.append(blank ? " " : c)
        inSpace = blank
        if out.count > limit { break }
    }
    return UntrustedText.displayable(out.count > limit ? String(out.prefix(limit - 1)) + "…" : String(out))
}

/// The most characters a table shows of a title or a name: the whole text is in `--json`.
let tableCellLimit = 100

/// The columns of Docket's tables that hold free text from outside, cut to `tableCellLimit`.
let freeTextColumns: Set<String> = ["ASSIGNEE", "TITLE", "NAME"]

/// A malformed report id names no report in any ledger: bad usage, found before the node is asked.
func checkReportID(_ id: String) throws {
    do throws(DomainError) { try DomainStreams.validateIdentifier(id, what: "report id") } catch {
        throw CLIError("\(error.code): \(error.message)", exitCode: ExitCode.validationFailure.rawValue)
    }
}

/// Runs a view query locally or on --server.
func runQuery(_ query: ViewQuery, _ store: StoreOptions, _ remote: RemoteOptions, _ view: ViewOptions) async throws -> Value {
    try await runQuery(query, store, remote, asOf: view.resolve())
}

private func runQuery(_ query: ViewQuery, _ store: StoreOptions, _ remote: RemoteOptions, asOf: AsOfSpec) async throws -> Value {
    let result = try await namingAsOfOption(asOf) { try await store.node(remote, actor: "cli", readOnly: true).using { try await $0.query(query, asOf: asOf) } }
    // On standard error, so that the rows on standard output stay as they are.
    if let n = result["undecodable"]?.intValue, n > 0 { writeStandardError("warning: \(Ledger.undecodableNote(Int(n)))\n") }
    warnIfFollowerLags(result)
    return result
}

/// `body`, a view's query, with a refusal of its instant, which the node names by the protocol's
/// field (`asOf: …`), said of the option that gave it: `--as-of`, `--known-at`, or for a sequence
/// `sequenceOption` (`replay --at-seq`, whose refusal needs no word on how times are written).
func namingAsOfOption<T>(_ spec: AsOfSpec, sequenceOption: String = "--as-of", _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        let refusal: ErrorBody?
        if case DocketClientError.server(let fromNode) = error { refusal = fromNode } else { refusal = ErrorBody(refusal: error) }
        guard let refusal, refusal.message.hasPrefix("asOf: ") else { throw error }
        let option: String
        switch spec {
        case .recorded: option = "--known-at"
        case .sequence: option = sequenceOption
        case .time, .now: option = "--as-of"
        }
        var message = String(refusal.message.dropFirst("asOf: ".count))
        if option == "--at-seq", let hint = message.range(of: " (a time is given in RFC 3339") { message = String(message[..<hint.lowerBound]) }
        throw CLIError("\(refusal.code): \(option): \(message)", exitCode: 1)
    }
}

/// On standard error (rows and JSON on standard output stay as they are): a view answered by a
/// follower that is not following its leader, or read from a follower's data directory, may
/// lack what the leader has recorded since (protocol.md §8.6).
func warnIfFollowerLags(_ result: Value) {
    guard let replication = result["replication"], let state = replication["state"]?.stringValue else { return }
    let lag = replication["lag"]?.intValue ?? 0
    writeStandardError(
        "warning: these views come from a follower that may not be following its leader now (\(UntrustedText.displayable(state))\(lag > 0 ? ", \(lag) events behind it when last told" : "")): they may lack what the leader has recorded since, and a clock shown running or breached may have ended there; `docket status` on the node says why, or ask the leader\n")
}

private func printRows(_ rows: [Value]) {
    var out = Output()
    for r in rows { out.line(JSON.serialize(r)) }
    out.flush()
}

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "The advisory state of reports, filtered.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var view: ViewOptions
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only reports in this state.") var state: ReportState?
    @Option(help: "Only this severity.") var severity: CVSSSeverity?
    @Option(help: "Only reports assigned to this handle (compared as handles are: case, surrounding spaces and an @ in front aside).") var assignee: String?
    @Option(help: "Only this report.") var report: String?

    func validate() throws {
        if let assignee, assignee.allSatisfy(\.isWhitespace) {
            throw ValidationError("--assignee must name a handle (leave it out for every report)")
        }
    }

    func run() async throws {
        try await reporting {
            if let report { try checkReportID(report) }
            let result = try await runQuery(.state(project: project, state: state, severity: severity, assignee: assignee, report: report), store, remote, view)
            let rows = result["rows"]?.arrayValue ?? []
            if view.json { return printRows(rows) }
            // One report: all of it, which a row of the table has no room for; waiting on its
            // reporter, what they were asked (from its history, as of the same instant).
            if let report, rows.count == 1 {
                var asked: Value?
                if rows[0]["state"]?.stringValue == ReportState.needsInfo.rawValue {
                    let history = try await runQuery(.history(report: report), store, remote, view)
                    asked = history["rows"]?.arrayValue?.last { $0["type"]?.stringValue == InfoRequested.eventType }
                }
                return printLine(Self.details(of: rows[0], asked: asked))
            }
            printTable(
                ["REPORT", "PROJECT", "STATE", "SEVERITY", "ASSIGNEE", "SUBMITTED (UTC)", "CVE", "TITLE"],
                rows.map { r in
                    [r["id"]?.stringValue ?? "", r["project"]?.stringValue ?? "", r["state"]?.stringValue ?? "", r["severity"]?.stringValue ?? "-",
                     r["assignee"]?.stringValue ?? "-", String((r["submittedAt"]?.stringValue ?? "").prefix(10)), r["cve"]?.stringValue ?? "-",
                     r["title"]?.stringValue ?? ""]
                })
        }
    }
}

extension StateCommand {
    /// A report's row (`ViewRenderer.reportValue`) as lines of `label  value`, each value escaped
    /// as a table cell is; what the row leaves out (not yet happened, or not the reader's to see)
    /// is left out.
    /// `asked`: the information request a report in needs-info waits on (its event, as `history`
    /// gives it).
    static func details(of r: Value, asked: Value? = nil) -> String {
        var lines: [(String, String)] = []
        func add(_ label: String, _ value: String?) { if let value, !value.isEmpty { lines.append((label, tableCell(value))) } }
        func text(_ key: String) -> String? { r[key]?.stringValue }
        func list(_ key: String) -> String? { r[key]?.arrayValue.map { $0.compactMap(\.stringValue).joined(separator: ", ") } }
        func scored(_ key: String) -> String? {
            guard let vector = r[key]?["vector"]?.stringValue else { return nil }
            switch r[key]?["score"] {
            case .double(let score)?: return "\(vector) (\(score))"
            case .int(let score)?: return "\(vector) (\(score).0)"
            default: return vector
            }
        }
        add("project", text("project"))
        add("state", text("state").map { $0 + (text("resolution").map { " (\($0))" } ?? "") })
        if let asked {
            add("asked", asked["occurredAt"]?.stringValue)
            add("question", asked["data"]?["question"]?.stringValue ?? "(none recorded with the request)")
        }
        add("severity", text("severity").map { $0 + (text("claimedSeverity").map { " (the reporter's estimate: \($0))" } ?? "") } ?? text("claimedSeverity").map { "not rated (the reporter's estimate: \($0))" })
        add("CVSS 3.1", scored("cvss31"))
        add("CVSS 4.0", scored("cvss40"))
        add("CWE", list("cwes"))
        add("component", text("component"))
        add("affected", list("affected"))
        add("fixed in", list("fixedVersions"))
        add("assignee", text("assignee"))
        add("duplicate of", text("duplicateOf"))
        add("CVE", text("cve"))
        add("GHSA", text("ghsa"))
        add("advisory", text("url"))
        // A date the advisory came out before is history, not a plan: said so.
        let disclosed = text("disclosedAt").flatMap { try? Timestamp(rfc3339: $0) }
        for (label, key) in [
            ("submitted", "submittedAt"), ("acknowledged", "acknowledgedAt"), ("accepted", "acceptedAt"), ("fix released", "fixReleasedAt"),
            ("exploited", "exploitedAt"), ("disclosure scheduled", "scheduledDisclosure"), ("embargo until", "embargoUntil"),
            ("disclosed", "disclosedAt"), ("closed", "closedAt"),
        ] {
            let planned = key == "scheduledDisclosure" || key == "embargoUntil"
            let early = planned && text(key).flatMap { try? Timestamp(rfc3339: $0) }.map { date in disclosed.map { $0 < date } ?? false } == true
            add(label, text(key).map { $0 + (early ? " (disclosed before it)" : "") })
        }
        if let reporter = r["reporter"] {
            let who = [reporter["handle"]?.stringValue, reporter["name"]?.stringValue.map { "(\($0))" }].compactMap { $0 }.joined(separator: " ")
            add("reporter", who + (reporter["credit"]?.stringValue.map { ", credit: \($0)" } ?? ""))
            add("contact", reporter["contact"]?.stringValue)
        }
        let width = lines.map(\.0.count).max() ?? 0
        return ([tableCell(text("id") ?? "") + ": " + tableCell(text("title") ?? "")] + lines.map { label, value in
            "  " + label + String(repeating: " ", count: width - label.count + 2) + value
        }).joined(separator: "\n")
    }
}

struct TimersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timers", abstract: "The disclosure clocks still counting: running, paused or breached and not done (--all adds those met or not applicable).")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var view: ViewOptions
    @Option(help: "Only this project.") var project: String?
    @Option(help: "Only this report (all its clocks, closed reports included).") var report: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Only clocks not done that are due within this span from now (like 72h), those already past due included.", valueName: "span")) var dueWithin: String?
    @Flag(help: "Only clocks that are past due and not done.") var late = false
    @Flag(help: "Include clocks that are not applicable or already ended.") var all = false

    func run() async throws {
        try await reporting {
            if let report { try checkReportID(report) }
            let window = try dueWithin.map { try parseSpan($0, what: "--due-within") }
            let result = try await runQuery(.timers(project: project, report: report, dueWithin: window, late: late, all: all), store, remote, view)
            let rows = result["rows"]?.arrayValue ?? []
            if view.json { return printRows(rows) }
            printTable(clockTableHeader, rows.map(clockTableRow))
        }
    }
}

struct HallOfFameCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hall-of-fame", abstract: "The people credited on a project's disclosed reports.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @Option(parsing: .unconditional, help: ArgumentHelp("Show it as it stood then (RFC 3339 time or date, or a sequence: seq:N where N could be read as a year or a date).", valueName: "time|seq")) var asOf: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Show it as the ledger knew it then: the events recorded by that time.", valueName: "time")) var knownAt: String?
    @Option(help: "The project.") var project: String
    @Option(parsing: .unconditional, help: "Only reports disclosed in this year, told in the project policy's time zone (UTC without a policy).") var year: Int64?
    @Option(help: "markdown (a CREDITS.md section, the default) or json.") var format: Format?
    @Flag(help: "Same as --format json.") var json = false

    enum Format: String, CaseIterable, ExpressibleByArgument { case markdown, json }

    func validate() throws {
        if let year, !(1970...9999).contains(year) { throw ValidationError("--year must be a year from 1970 to 9999, like 2026") }
        if asOf != nil, knownAt != nil { throw ValidationError("give --as-of or --known-at, not both") }
        if json, format == .markdown { throw ValidationError("--json and --format markdown contradict each other: give one") }
    }

    func run() async throws {
        try await reporting {
            let result = try await runQuery(.hallOfFame(project: project, year: year), store, remote, asOf: ViewOptions.resolve(asOf, knownAt: knownAt))
            // Written at once, so a warning below follows it on a terminal.
            let text = json || format == .json ? JSON.serialize(result["json"] ?? .null) + "\n" : result["markdown"]?.stringValue ?? ""
            writeStandardOutput(Array(text.utf8))
            // An entry shown by an e-mail address (a report filed under its sender's address, with
            // no name given): the hall would publish a contact. Said before it is pasted anywhere.
            let addressed = (result["json"]?["credited"]?.arrayValue ?? []).filter { entry in
                entry["name"]?.stringValue.map(HallOfFame.isEmailAddress) ?? false
            }
            for entry in addressed {
                let reports = (entry["reports"]?.arrayValue ?? []).compactMap(\.stringValue)
                let address = UntrustedText.displayable(entry["name"]?.stringValue ?? "")
                // The person is their handle (the name shown, when it is the handle).
                let person = UntrustedText.displayable(entry["handle"]?.stringValue ?? entry["name"]?.stringValue ?? "")
                writeStandardError(
                    ("warning: the credit on \(UntrustedText.displayable(reports.joined(separator: ", "))) shows an e-mail address (\(address)): ask the person how to be named, "
                        + "and record it (docket report credit \(UntrustedText.displayable(reports.first ?? "REPORT")) --accept --person \(person) --name \"…\" --preference named; "
                        + "a preference a reporter gave, such as credit by handle, is theirs or an admin's to change), before publishing this\n"))
            }
        }
    }
}

struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "Median times to each milestone and the share of targets met, over a trailing window.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var view: ViewOptions
    @Option(help: "The project.") var project: String
    @Option(parsing: .unconditional, help: ArgumentHelp("The trailing window (reports submitted in it).", valueName: "span")) var window: String = "90d"

    func run() async throws {
        try await reporting {
            let span = try parseSpan(window, what: "--window", allowZero: false)
            let m = try await runQuery(.metrics(project: project, window: span), store, remote, view)
            if view.json { return print(JSON.serialize(m)) }
            let reports = m["reports"]?.intValue ?? 0
            // The window leaves out its first instant: windows laid end to end count a report once.
            printLine("\(project): \(reports) report\(reports == 1 ? "" : "s") submitted after \(m["from"]?.stringValue ?? "?") through \(m["to"]?.stringValue ?? "?")")
            printTable(MetricsTables.milestoneHeader, MetricsTables.milestoneRows(m))
            printLine("")
            printTable(MetricsTables.targetHeader, MetricsTables.targetRows(m))
        }
    }
}

/// The two tables of a project's metrics view (`metrics`, `replay`): milestones and targets.
enum MetricsTables {
    static let milestoneHeader = ["MILESTONE", "REACHED", "MEDIAN"]
    static let targetHeader = ["CLOCK", "MET", "BREACHED", "OPEN", "MET %"]

    static func milestoneRows(_ m: Value) -> [[String]] {
        (m["milestones"]?.arrayValue ?? []).map { s in
            [s["name"]?.stringValue ?? "", String(s["count"]?.intValue ?? 0), s["medianSeconds"]?.intValue.map { Clock.format(seconds: $0) } ?? "-"]
        }
    }

    static func targetRows(_ m: Value) -> [[String]] {
        (m["targets"]?.arrayValue ?? []).map { t in
            let share: String
            if case .double(let d)? = t["share"], (0...1).contains(d) { share = String(Int((d * 100).rounded())) + "%" } else { share = "-" }
            return [t["clock"]?.stringValue ?? "", String(t["met"]?.intValue ?? 0), String(t["breached"]?.intValue ?? 0), String(t["open"]?.intValue ?? 0), share]
        }
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Every event of one report, in order.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var view: ViewOptions
    @Argument(help: "The report id.") var report: String

    func run() async throws {
        try await reporting {
            try checkReportID(report)
            let rows = try await runQuery(.history(report: report), store, remote, view)["rows"]?.arrayValue ?? []
            var out = Output()
            defer { out.flush() }
            for e in rows {
                let event = try? RecordedEvent(wire: e)
                if view.json {
                    // The same JSON lines as `docket read`.
                    out.line(event?.json ?? JSON.serialize(e))
                } else {
                    // Escaped as tables are: text in events recorded before the rules on it (an
                    // actor's, a payload's C1 or bidirectional characters) cannot rewrite the screen.
                    let payload = UntrustedText.displayable(JSON.serialize(e["data"] ?? .null))
                    // An event recorded well after the time it gives (imported, entered late or
                    // backdated) says when it was recorded too, as the clocks it ended do: last,
                    // so that the columns before keep their places.
                    let late = event.flatMap { LateEntry.isLate($0.occurredAt, recordedAt: $0.recordedAt) ? "\t(recorded \($0.recordedAt.rfc3339))" : nil } ?? ""
                    out.line("\(e["version"]?.intValue ?? 0)\t\(e["occurredAt"]?.stringValue ?? "")\t\(UntrustedText.displayable(e["actor"]?.stringValue ?? ""))\t\(UntrustedText.displayable(e["type"]?.stringValue ?? ""))\t\(payload == "{}" ? "" : payload)\(late)")
                }
            }
        }
    }
}

struct CVSSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cvss",
        abstract: "The score and severity of a CVSS 3.1 or 4.0 vector.",
        discussion: """
            The score first is the one a triage derives its severity from: for 3.1 the environmental \
            score where the vector gives environmental metrics, else the temporal score where it gives \
            temporal ones, else the base score (the others follow it); for 4.0 its one score, named as \
            FIRST names it (CVSS-B, CVSS-BT, CVSS-BE or CVSS-BTE), with the base metrics' alone after it \
            when threat or environmental metrics change it.
            """)
    @Argument(help: "The vector, like CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H.") var vector: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reporting {
            let s: CVSSScore
            do { s = try CVSS.score(vector) } catch let error as CoreError { throw CLIError("invalid-cvss: \(error.message)", exitCode: ExitCode.validationFailure.rawValue) }
            func tenths(_ t: Int) -> String { "\(t / 10).\(t % 10) \(CVSSSeverity(scoreTenths: t))" }
            if json {
                var members: [(key: String, value: Value)] = [
                    ("version", .string(s.version.rawValue)), ("vector", .string(s.vector)), ("score", .double(s.ratedScore)),
                    ("severity", .string(s.ratedSeverity.rawValue)),
                ]
                switch s.version {
                case .v3_1:
                    members.append(("baseScore", .double(s.baseScore)))
                    if let t = s.temporalScore { members.append(("temporalScore", .double(t))) }
                    if let e = s.environmentalScore { members.append(("environmentalScore", .double(e))) }
                case .v4_0:
                    members.append(("nomenclature", .string(s.nomenclature ?? "CVSS-B")))
                    members.append(("baseScore", .double(Double(s.baseMetricsScoreTenths ?? s.baseScoreTenths) / 10)))
                }
                printJSON(members)
            } else {
                var others: [String] = []
                let name: String
                switch s.version {
                case .v3_1:
                    name = "3.1 \(s.ratedScoreName) score"
                    if s.ratedScoreName != "base" { others.append("base \(tenths(s.baseScoreTenths))") }
                    if s.ratedScoreName == "environmental", let t = s.temporalScoreTenths, t != s.baseScoreTenths { others.append("temporal \(tenths(t))") }
                case .v4_0:
                    name = "4.0, " + (s.nomenclature ?? "CVSS-B")
                    if let b = s.baseMetricsScoreTenths, b != s.baseScoreTenths { others.append("base metrics alone \(tenths(b))") }
                }
                print("\(tenths(s.ratedScoreTenths)) (CVSS \(name)\(others.isEmpty ? "" : "; " + others.joined(separator: ", ")))")
            }
        }
    }
}

/// The columns of a table of clocks (`timers`, `replay`).
let clockTableHeader = ["REPORT", "CLOCK", "STATE", "TARGET", "DUE", "ENDED", "MARGIN", "NOTE"]

/// A clock's row in a table of clocks.
func clockTableRow(_ c: Value) -> [String] {
    let margin = c["marginSeconds"]?.intValue.map { m -> String in
        m < 0 ? "\(Clock.format(seconds: m).dropFirst()) late" : "\(Clock.format(seconds: m)) \(c["endedAt"] == nil ? "left" : "early")"
    }
    var (due, ended) = (tableTime(c["dueAt"]), tableTime(c["endedAt"]))
    // Within the same second, the fractions are what tell a clock ended late from one on time.
    if due == ended, c["dueAt"] != c["endedAt"] { (due, ended) = (c["dueAt"]?.stringValue ?? due, c["endedAt"]?.stringValue ?? ended) }
    return [c["report"]?.stringValue ?? "", c["clock"]?.stringValue ?? "", c["state"]?.stringValue ?? "", c["target"]?.stringValue ?? "-",
            due, ended, margin ?? "-", c["note"]?.stringValue ?? ""]
}

/// A time as a table shows it: to the second (RFC 3339, UTC), or "-". Times of events recorded
/// without `--at` carry microseconds, which would make a column of some times longer than the
/// others for nothing a reader needs; `--json` keeps them whole.
func tableTime(_ value: Value?) -> String {
    guard let text = value?.stringValue else { return "-" }
    guard text.hasSuffix("Z"), let dot = text.firstIndex(of: ".") else { return text }
    return String(text[..<dot]) + "Z"
}
