public import ArgumentParser
public import DocketCore
import DocketStore
import Foundation
import DocketClient
import DocketServer
import DocketWire

/// Who and when, shared by every command that records an event.
struct EventOptions: ParsableArguments {
    @Option(help: "Who did it (a maintainer or reporter handle).")
    var actor: String = ProcessInfo.processInfo.environment["DOCKET_ACTOR"] ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"

    @Option(help: ArgumentHelp("When it happened (RFC 3339); now by default. For importing and scripting histories.", valueName: "time"))
    var at: String?

    @Option(name: .customLong("id"), help: ArgumentHelp("The event id, to make a retry idempotent; random by default.", valueName: "event-id"))
    var eventID: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Also write the node's signed receipt for the recorded event to this file (see `docket receipt`).", valueName: "file"))
    var receipt: String?

    func occurredAt() throws -> Timestamp? { try at.map { try parseTime($0, what: "--at") } }
    func id() throws -> EventID? { try parseEventID(eventID) }

    func validate() throws {
        do throws(CoreError) { try ProposedEvent.validate(actor: actor) } catch { throw ValidationError("--actor: \(error.message)") }
    }
}

/// The event id given with `--id`, if any. A malformed one is bad usage (exit 64).
func parseEventID(_ text: String?) throws -> EventID? {
    guard let text else { return nil }
    do throws(CoreError) { return try EventID(text) } catch {
        throw CLIError("--id: \(error.message)", exitCode: ExitCode.validationFailure.rawValue)
    }
}

/// Parses an RFC 3339 instant, or a calendar date meaning its midnight UTC. A malformed one is
/// bad usage (exit 64).
func parseTime(_ text: String, what: String) throws -> Timestamp {
    // A date alone (2026-11-21) is its midnight UTC; anything else is parsed as given, so that a
    // message about it quotes what was typed.
    let b = Array(text.utf8)
    let isDate = b.count == 10 && b[4] == UInt8(ascii: "-") && b[7] == UInt8(ascii: "-")
    do { return try Timestamp(rfc3339: isDate ? text + "T00:00:00Z" : text) } catch {
        let hint = !text.isEmpty && text.allSatisfy({ $0.isASCII && $0.isNumber }) ? "; a number is not a time (a Unix time, say): write a date like 2026-01-01 or an RFC 3339 time" : ""
        throw CLIError(
            "\(what): \(error.message)\(hint); a date alone, like 2026-11-21, means its midnight UTC",
            exitCode: ExitCode.validationFailure.rawValue)
    }
}

extension CVSSSeverity: ExpressibleByArgument {}
extension CreditPreference: ExpressibleByArgument {}
extension Resolution: ExpressibleByArgument {}
extension ReportState: ExpressibleByArgument {}

extension CreditType: ExpressibleByArgument {
    public init?(argument: String) {
        let normalized = argument.uppercased().replacingOccurrences(of: "-", with: "_")
        self.init(rawValue: normalized)
    }

    /// As the help and the views write them (finder, remediation-developer); OSV's upper-case
    /// names (FINDER, REMEDIATION_DEVELOPER) are taken too.
    public static var allValueStrings: [String] { allCases.map { $0.rawValue.lowercased().replacingOccurrences(of: "_", with: "-") } }
}

/// `docket report <verb> REPORT …`: one lifecycle command each.
struct ReportGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Record what happens to a report (each verb decides against its lifecycle state).",
        discussion: """
            An event that is not legal in the report's state is refused, naming the state and the allowed events; nothing is appended.

            With a reporter's token: submit (as yourself), respond (with your answer, --summary), and credit --accept or --decline \
            for yourself, on your own reports; `docket state --report R`, `docket timers --report R` and `docket history R` show \
            them, and `docket policy show --project P` what the project promises.
            """,
        subcommands: [
            Submit.self, Ack.self, Triage.self, RequestInfo.self, Respond.self, Assign.self, StatusUpdate.self,
            FixStart.self, FixMerge.self, Release.self, CVE.self, Publish.self, ExtendEmbargo.self, Exploited.self,
            Credit.self, Close.self, Reopen.self, Withdraw.self, Note.self,
        ])
}

/// The handle a reporter's token (`--server`) holds, for the option `instead` it stands in for:
/// a reporter acts as themselves only. Without one, the option is missing (bad usage).
private func tokenReporterHandle(_ store: StoreOptions, _ remote: RemoteOptions, instead option: String) async throws -> String {
    let missing = "\(option) is missing: give the handle (a reporter's token, with --server, stands for its own)"
    guard let client = try store.client(remote) else { throw CLIError(missing, exitCode: ExitCode.validationFailure.rawValue) }
    let principal = try await client.using { c in
        try await c.connect()
        return c.principal
    }
    guard principal?["role"]?.stringValue == Role.reporter.rawValue, let subject = principal?["subject"]?.stringValue else {
        throw CLIError(missing, exitCode: ExitCode.validationFailure.rawValue)
    }
    return subject
}

/// Runs `command` against report `id` (locally, or on --server) and prints the outcome.
private func perform(_ command: ReportCommand, report id: String, store options: StoreOptions, remote: RemoteOptions, event: EventOptions, creditFromPolicy: Bool = false) async throws {
    // Bad usage is refused before the data directory is opened (an empty one would take a ledger),
    // as bad usage (exit 64): a malformed value, empty or overlong text, contradictory options.
    // The event id is chosen here when none is given, so that an answer asking for a retry with
    // the same id (a synchronous follower that did not confirm in time) can name it.
    let (at, eventID) = (try event.occurredAt(), try event.id() ?? .random())
    do {
        try DomainStreams.validateIdentifier(id, what: "report id")
        try Lifecycle.checkArguments(command, reportID: id)
    } catch {
        throw CLIError("\(error.code): \(error.message)", exitCode: ExitCode.validationFailure.rawValue)
    }
    let outcome: Value
    do {
        outcome = try await options.node(remote, actor: event.actor).using { node in
            // A receipt that cannot be signed is refused before anything is appended.
            if let path = event.receipt { try await node.prepareReceipt(path: path) }
            let outcome = try await node.execute(command, report: id, at: at, eventID: eventID, creditFromPolicy: creditFromPolicy)
            if let path = event.receipt {
                guard let seq = outcome["seq"]?.intValue.flatMap(UInt64.init(exactly:)), seq > 0 else {
                    throw CLIError("the node's answer gives no sequence for the event, so no receipt was written (the command's outcome: \(UntrustedText.displayable(JSON.serialize(outcome))))", exitCode: 1)
                }
                try await node.writeReceipt(sequence: seq, to: path)
            }
            return outcome
        }
    } catch DocketClientError.server(let body) where body.code == "replication-timeout" {
        // A submission's report id was made up too (run anew, it would get another).
        let submission = if case .submit = command { true } else { false }
        throw retryableTimeout(
            body, retry: [("--id", eventID.rawValue)] + (submission ? [("--report", id)] : []),
            details: [("id", .string(eventID.rawValue)), ("report", .string(id))])
    }
    if event.json {
        print(JSON.serialize(outcome))
    } else {
        let types = (outcome["events"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
        let again = outcome["duplicate"] == .bool(true) ? " (already recorded; nothing appended)" : ""
        let severity = outcome["severity"]?.stringValue.map { ", severity \($0)" } ?? ""
        // What the node says is shown escaped: a notice can repeat text from the log (a policy's).
        let seq = outcome["seq"]?.intValue.map { "\($0)" } ?? "?"
        print(UntrustedText.displayable("\(id): \(types) → \(outcome["state"]?.stringValue ?? "?")\(severity) (seq \(seq))\(again)"))
        for notice in outcome["notices"]?.arrayValue?.compactMap(\.stringValue) ?? [] { print("note: \(UntrustedText.displayableLines(notice))") }
    }
}

extension ReportGroup {
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a newly received report.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Option(help: "The report id (A–Z a–z 0–9 . _ -); by default <project>-<8 hex digits>, random, or with --id derived from it (so that a retry submits the same report).") var report: String?
        @Option(help: "The project it is about.") var project: String
        @Option(help: "A short title (kept private until disclosure).") var title: String
        @Option(help: "The reporter's handle (with a reporter's token, its own by default).") var reporter: String?
        @Option(help: "The reporter's display name.") var reporterName: String?
        @Option(help: "How to reach the reporter (personal data; never shown in public views).") var contact: String?
        @Option(help: "How the reporter wants credit: named, handle, anonymous, none; the project policy's credit-default by default.") var credit: CreditPreference?
        @Option(help: "The affected component.") var component: String?
        @Option(help: "An affected version range (repeatable).") var affected: [String] = []
        @Option(help: "The severity the reporter claims.") var claimedSeverity: CVSSSeverity?

        /// A report id for a submission that gives none: `<project>-` and 8 hex digits, random,
        /// or with an event id a hash of it (FNV-1a, 32 bits), so that a retry with the same
        /// `--id` names the same report and is answered as the original.
        static func reportID(project: String, eventID: String?) -> String {
            var h: UInt32
            if let eventID {
                h = 2_166_136_261
                for byte in "\(project)\n\(eventID)".utf8 { h = (h ^ UInt32(byte)) &* 16_777_619 }
            } else {
                var g = SystemRandomNumberGenerator()
                h = g.next()
            }
            let hex = String(h, radix: 16)
            return "\(project)-\(String(repeating: "0", count: 8 - hex.count))\(hex)"
        }

        func run() async throws {
            try await reporting {
                do throws(DomainError) { try DomainStreams.validateIdentifier(project, what: "project") } catch {
                    throw CLIError("\(error.code): \(error.message)", exitCode: ExitCode.validationFailure.rawValue)
                }
                let reporter = if let given = self.reporter { given } else { try await tokenReporterHandle(store, remote, instead: "--reporter") }
                let id = report ?? Self.reportID(project: project, eventID: event.eventID)
                // Without --credit, the node applies the project policy's credit-default.
                let credit = self.credit ?? .named
                let submitted = ReportSubmitted(
                    project: project, title: title,
                    reporter: Reporter(handle: reporter, name: reporterName, contact: contact, credit: credit),
                    component: component, affected: affected.isEmpty ? nil : affected, claimedSeverity: claimedSeverity)
                try await perform(.submit(submitted), report: id, store: store, remote: remote, event: event, creditFromPolicy: self.credit == nil)
            }
        }
    }

    struct Ack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Acknowledge receipt and assign the primary contact.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The maintainer who becomes the primary contact.") var assignee: String
        func run() async throws {
            try await reporting { try await perform(.acknowledge(assignee: assignee), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Triage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start triage (--start), accept the report with an assessment, or re-assess an accepted report.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Flag(help: "Only record that triage has started.") var start = false
        @Option(help: "critical, high, medium, low or none; by default the CVSS vector's, by every metric it gives, as `docket cvss` scores it (the 4.0 vector's when both are given; a 3.1 vector added alone beside a 4.0 vector on record keeps the severity in force if a vector scores it). One of the vectors, given or on record, must score it.") var severity: CVSSSeverity?
        @Option(help: "A CVSS 3.1 or 4.0 vector (repeatable: one of each). A re-assessment keeps the vector on record of a version it gives none of.") var cvss: [String] = []
        @Option(help: "A CWE id, like CWE-79 (repeatable).") var cwe: [String] = []
        @Option(help: "The affected component.") var component: String?
        @Option(help: "An affected version range (repeatable).") var affected: [String] = []
        @Option(help: "Why the severity changed (re-assessment). The reporter reads it in their report's history: internal remarks go in a note.") var reason: String?

        func validate() throws {
            // An assessment given with --start would be dropped without a word.
            if start, severity != nil || !cvss.isEmpty || !cwe.isEmpty || component != nil || !affected.isEmpty || reason != nil {
                throw ValidationError("--start only records that triage began; give the assessment (--severity, --cvss, --cwe, --component, --affected, --reason) in a later `docket report triage` without --start")
            }
        }

        func run() async throws {
            try await reporting {
                if start {
                    try await perform(.startTriage, report: report, store: store, remote: remote, event: event)
                    return
                }
                var v31: String?
                var v40: String?
                for v in cvss {
                    if v.hasPrefix(CVSSVersion.v3_1.prefix), v31 == nil { v31 = v }
                    else if v.hasPrefix(CVSSVersion.v4_0.prefix), v40 == nil { v40 = v }
                    else {
                        // What is wrong with the vector itself, as `docket cvss` says it (a 3.0
                        // prefix, lowercase, a character that is not ASCII), else that it repeats a version.
                        var why = "give one CVSS:3.1/… and/or one CVSS:4.0/… vector"
                        do throws(CoreError) { _ = try CVSS.score(v) } catch { why = error.message }
                        throw CLIError("invalid-command: --cvss: \(why)", exitCode: ExitCode.validationFailure.rawValue)
                    }
                }
                try await perform(
                    .triage(severity: severity, cvss31: v31, cvss40: v40, cwes: cwe, component: component, affected: affected, reason: reason),
                    report: report, store: store, remote: remote, event: event)
            }
        }
    }

    struct RequestInfo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the reporter for more information (the report waits on them).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "What was asked.") var question: String?
        func run() async throws {
            try await reporting { try await perform(.requestInfo(question: question), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Respond: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the reporter's answer (triage resumes).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The answer, or a summary of it (required from a reporter's token: it is how the answer reaches the maintainers).") var summary: String?
        func run() async throws {
            try await reporting { try await perform(.respond(summary: summary), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the assignee.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The new assignee.") var assignee: String
        func run() async throws {
            try await reporting { try await perform(.assign(assignee: assignee), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct StatusUpdate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status-update", abstract: "Record a status update sent to the reporter.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "What was said.") var summary: String?
        func run() async throws {
            try await reporting { try await perform(.statusUpdate(summary: summary), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct FixStart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fix-start", abstract: "Record that work on a fix has started.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The (private) branch.") var branch: String?
        func run() async throws {
            try await reporting { try await perform(.startFix(branch: branch), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct FixMerge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fix-merge", abstract: "Record a merged fix commit.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The commit.") var commit: String
        func run() async throws {
            try await reporting { try await perform(.mergeFix(commit: commit), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the release that ships the fix.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(name: .customLong("version"), help: "A released version with the fix (repeatable).") var versions: [String] = []
        func run() async throws {
            try await reporting { try await perform(.release(versions: versions), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct CVE: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cve", abstract: "Record a CVE request (--request) or the assigned id (--assign).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Flag(help: "A CVE was requested.") var request = false
        @Option(help: "The CNA asked.") var cna: String?
        @Option(help: "The CVE id assigned, like CVE-2026-12345.") var assign: String?
        func validate() throws {
            guard request != (assign != nil) else { throw ValidationError("give exactly one of --request or --assign CVE-ID") }
            // Not dropped without a word: the assignment records the id alone.
            if assign != nil, cna != nil { throw ValidationError("--cna goes with --request (the CNA asked), not with --assign") }
        }
        func run() async throws {
            try await reporting {
                try await perform(assign.map { .assignCVE($0) } ?? .requestCVE(cna: cna), report: report, store: store, remote: remote, event: event)
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish the advisory (the report is disclosed), or --schedule the disclosure date.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The GHSA id.") var ghsa: String?
        @Option(help: "The CVE id.") var cve: String?
        @Option(help: "The advisory URL.") var url: String?
        @Option(help: ArgumentHelp("Only schedule disclosure for this date (RFC 3339, or YYYY-MM-DD for 00:00 UTC that day: give a time with its offset, like 2026-07-10T09:00:00-04:00, for another instant).", valueName: "time")) var schedule: String?
        func validate() throws {
            if schedule != nil, ghsa != nil || cve != nil || url != nil {
                throw ValidationError("--schedule only sets the disclosure date; give --ghsa, --cve and --url when you publish the advisory (without --schedule)")
            }
        }
        func run() async throws {
            try await reporting {
                if let schedule {
                    try await perform(.scheduleDisclosure(try parseTime(schedule, what: "--schedule")), report: report, store: store, remote: remote, event: event)
                } else {
                    try await perform(.publish(ghsa: ghsa, cve: cve, url: url), report: report, store: store, remote: remote, event: event)
                }
            }
        }
    }

    struct ExtendEmbargo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "extend-embargo", abstract: "Move the disclosure deadline later.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: ArgumentHelp("The new embargo end (RFC 3339, or YYYY-MM-DD for 00:00 UTC that day: give a time with its offset, like 2026-07-10T23:59:59+02:00, for another instant).", valueName: "time")) var until: String
        @Option(help: "Why. The reporter reads it in their report's history: internal remarks go in a note.") var reason: String
        @Flag(help: "The reporter agreed to the extension.") var reporterAgreed = false
        func run() async throws {
            try await reporting {
                try await perform(
                    .extendEmbargo(until: try parseTime(until, what: "--until"), reason: reason, reporterAgreed: reporterAgreed),
                    report: report, store: store, remote: remote, event: event)
            }
        }
    }

    struct Exploited: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record exploitation observed in the wild (policies may shorten deadlines).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "Where it was seen.") var source: String?
        func run() async throws {
            try await reporting { try await perform(.exploited(source: source), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Credit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Offer credit (--offer), or record that a person accepted (--accept) or declined (--decline) it.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The person's handle (with a reporter's token, its own by default).") var person: String?
        @Flag(help: "Offer credit.") var offer = false
        @Flag(help: "The person accepted.") var accept = false
        @Flag(help: "The person declined.") var decline = false
        @Option(help: "The credit type, as OSV names them (with --offer; finder by default).") var type: CreditType?
        @Option(help: "The name to credit (with --accept).") var name: String?
        @Option(help: "named, handle or anonymous (with --accept; none is what --decline records); the reporter's own submitted preference for the reporter, named for others, by default.") var preference: CreditPreference?
        func validate() throws {
            guard [offer, accept, decline].filter({ $0 }).count == 1 else { throw ValidationError("give exactly one of --offer, --accept, --decline") }
            if !accept, name != nil || preference != nil { throw ValidationError("--name and --preference go with --accept") }
            if !offer, type != nil { throw ValidationError("--type goes with --offer") }
        }
        func run() async throws {
            try await reporting {
                let person = if let given = self.person { given } else { try await tokenReporterHandle(store, remote, instead: "--person") }
                let command: ReportCommand =
                    offer ? .offerCredit(person: person, type: type ?? .finder)
                    : accept ? .acceptCredit(person: person, displayName: name, preference: preference) : .declineCredit(person: person)
                try await perform(command, report: report, store: store, remote: remote, event: event)
            }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close without a fix: duplicate, informative, not-applicable, out-of-scope, spam, wont-fix.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "The resolution.") var resolution: Resolution
        @Option(help: "The report this duplicates.") var duplicateOf: String?
        @Option(help: "Why. The reporter reads it in their report's history (their view leaves out which report a duplicate duplicates: a reason naming it, or its reporter, is refused): internal remarks go in a note.") var reason: String?
        func run() async throws {
            try await reporting { try await perform(.close(resolution, duplicateOf: duplicateOf, reason: reason), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Reopen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a closed report (back into triage, or to submitted if it was closed before it was acknowledged; a disclosed one closed as wont-fix stays disclosed).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "Why. The reporter reads it in their report's history: internal remarks go in a note.") var reason: String?
        func run() async throws {
            try await reporting { try await perform(.reopen(reason: reason), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a published advisory.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Option(help: "Why. The reporter reads it in their report's history: internal remarks go in a note.") var reason: String
        func run() async throws {
            try await reporting { try await perform(.withdraw(reason: reason), report: report, store: store, remote: remote, event: event) }
        }
    }

    struct Note: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an internal note (never shown to reporters).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Argument(help: "The report id.") var report: String
        @Argument(help: "The note (after `--` if it begins with a dash: `docket report note R -- \"-1 fixed it\"`).") var text: String
        func run() async throws {
            try await reporting { try await perform(.note(text), report: report, store: store, remote: remote, event: event) }
        }
    }
}
