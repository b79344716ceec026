import ArgumentParser
import DocketCore
import DocketStore
import Foundation
import DocketClient
import DocketServer
import DocketWire

struct PolicyGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Disclosure policies (format: Schemas/policy.md).", subcommands: [Validate.self, Adopt.self, Show.self])

    /// Reads and parses a policy file, printing every problem as `file:line: field: message`;
    /// also what to warn of: its holidays running out within a year.
    static func load(_ path: String) throws -> (Policy, ZoneRules, warning: String?) {
        let data = try readInputFile(path, what: "policy file")
        guard let text = String(data: data, encoding: .utf8) else {
            throw invalid([PolicyIssue(file: path, line: 1, field: "-", message: "not UTF-8 text (a policy file is TOML, Schemas/policy.md)")])
        }
        let policy: Policy
        // An unknown zone is one of the file's problems, told with the others.
        let zoneProblem = { (id: String) -> String? in
            if case .problem(let problem) = zone(id) { return problem }
            return nil
        }
        do throws(PolicyError) { policy = try Policy.parse(text, file: path, adopting: true, zoneProblem: zoneProblem) } catch {
            throw invalid(error.issues)
        }
        let rules: ZoneRules
        switch zone(policy.timeZone) {
        case .rules(let found): rules = found
        case .problem(let problem):  // (gone since the parse looked: a tz database changing under it)
            throw invalid([PolicyIssue(file: path, line: line(of: "time-zone", in: text) ?? 1, field: "time-zone", message: problem)])
        }
        try checkRecordable(policy, zone: rules, path: path, text: text)
        // Today where the policy's days are reckoned.
        let warning = policy.holidaysRunningOut(today: BusinessCalendar(zone: rules).localDate(of: .now())).map {
            "warning: \(UntrustedText.displayable(path))\(line(of: "holidays", in: text).map { ":\($0)" } ?? ""): \($0)\n"
        }
        return (policy, rules, warning)
    }

    /// Refuses a policy too large to adopt: it is recorded whole, with its zone's rules, in one
    /// event, so `validate` says so rather than pass a file `adopt` would refuse.
    static func checkRecordable(_ policy: Policy, zone: ZoneRules, path: String, text: String) throws {
        let event = try DomainEvent.policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: zone))
            .proposed(id: .random(), actor: "validate", occurredAt: Timestamp(microseconds: 0))
        var envelope = BinaryWriter(capacity: 1024)
        EnvelopeCodec.encode(event, stream: try DomainStreams.project("p"), occurredAt: Timestamp(microseconds: 0), into: &envelope)
        let size = envelope.bytes.count + 256  // room for the actor's name and the project's
        guard size > EnvelopeCodec.maximumEncodedSize else { return }
        let many = policy.holidays.count > 100 ? " It lists \(policy.holidays.count) holidays: list the next few years' and adopt a new version as they run out." : ""
        let field = policy.holidays.count > 100 ? "holidays" : "name"
        throw invalid([PolicyIssue(
            file: path, line: line(of: field, in: text) ?? 1, field: field,
            message: "the policy is too large to adopt: recorded, it takes about \(size) bytes, over the \(EnvelopeCodec.maximumEncodedSize)-byte limit of an event.\(many)")])
    }

    /// A policy file's problems, as `validate` and `adopt` report them (code `invalid-policy`):
    /// one per line of the message, and under `--json` each an object of `details.problems`.
    static func invalid(_ issues: [PolicyIssue]) -> CLIError {
        let problems = issues.map { issue -> Value in
            .object([("file", .string(issue.file)), ("line", .int(Int64(issue.line))), ("field", .string(issue.field)), ("message", .string(issue.message))])
        }
        return CLIError("invalid-policy: " + PolicyError(issues: issues).description, details: .object([("problems", .array(problems))]))
    }

    /// The line of `text` that sets the top-level `key` (the policy's errors name file, line and
    /// field), if it is found.
    static func line(of key: String, in text: String) -> Int? {
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("[") { break }  // tables follow the top-level keys
            let rest = line.drop(while: { $0 == " " || $0 == "\t" })
            if rest.hasPrefix(key), rest.dropFirst(key.count).drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("=") { return n + 1 }
        }
        return nil
    }

    /// A policy's time zone looked up: its rules, or what is wrong with it.
    enum ZoneLookup {
        case rules(ZoneRules)
        case problem(String)
    }

    /// The rules of a policy's time zone: fixed offsets directly, IANA ids from the system's tz database.
    static func zone(_ id: String) -> ZoneLookup {
        if id.hasPrefix("+") || id.hasPrefix("-") {
            do { return .rules(try ZoneRules(fixedOffset: id)) } catch { return .problem(error.message) }
        }
        do { return .rules(try TimeZoneDatabase.rules(id)) } catch {
            switch error {
            case .unknown(let root):
                return .problem("unknown time zone \"\(id)\" (no zone file \(root)/\(id); install tzdata or use an offset like +01:00)")
            case .unreadable(let path, let message):
                return .problem("\(path): \(message)")
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a policy file; every problem names file, line and field.")
        @Argument(help: "The policy file.") var file: String
        @Flag(help: "Print the result as JSON (a policy that does not validate is the usual JSON error, code invalid-policy, its problems one per line of the message and each an object of details.problems: file, line, field, message).") var json = false
        func run() async throws {
            try await reporting {
                let (policy, _, warning) = try PolicyGroup.load(file)
                if json {
                    // A warning when there is one, left out otherwise, as other answers leave out what they lack.
                    var fields: [(String, Value)] = [("file", .string(file)), ("valid", true), ("name", .string(policy.name)), ("version", .int(Int64(policy.version)))]
                    if let warning { fields.append(("warning", .string(warning.trimmingCharacters(in: .whitespacesAndNewlines)))) }
                    return printJSON(fields)
                }
                // The file's name as given, escaped: a contributor's file name must not rewrite a CI log.
                print("\(UntrustedText.displayable(file)): valid policy \"\(UntrustedText.displayable(policy.name))\" version \(policy.version)")
                if let warning { writeStandardError(warning) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The policies a project has adopted, and the text of the one a report submitted now is held to.",
            discussion: """
                Every token but a replica's may read it, a reporter's included: what a project promises (its deadlines, \
                its scope, how it credits) is public, as its SECURITY.md is. A report is held to the policy in force when \
                it was submitted; --as-of shows the policies as they stood then (for maintainers, auditors and admins, as \
                every view of the past). The text is the policy's canonical TOML (Schemas/policy.md), as read from its adoption.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var view: ViewOptions
        @Option(help: "The project.") var project: String
        @Option(help: "Print this version's text rather than the one in force.") var version: Int?

        func run() async throws {
            try await reporting {
                let result = try await runQuery(.policy(project: project), store, remote, view)
                if view.json { return print(JSON.serialize(result)) }
                let policies = result["policies"]?.arrayValue ?? []
                guard !policies.isEmpty else {
                    return printLine("\(UntrustedText.displayable(project)) has adopted no policy: its reports have no clocks")
                }
                let shown: Value
                if let version {
                    guard let found = policies.last(where: { $0["version"]?.intValue == Int64(version) }) else {
                        let versions = policies.compactMap { $0["version"]?.intValue }.map(String.init).joined(separator: ", ")
                        throw CLIError("not-found: \(UntrustedText.displayable(project)) has adopted no version \(version) of a policy (versions: \(versions))")
                    }
                    shown = found
                } else {
                    guard let inForce = policies.first(where: { $0["inForce"] == .bool(true) }) else { return }
                    shown = inForce
                }
                printTable(
                    ["VERSION", "NAME", "ADOPTED", "SEQ", "IN FORCE"],
                    policies.map { p in
                        [
                            String(p["version"]?.intValue ?? 0), p["name"]?.stringValue ?? "", p["adoptedAt"]?.stringValue ?? "",
                            String(p["seq"]?.intValue ?? 0), p["inForce"] == .bool(true) ? "yes" : "",
                        ]
                    })
                printLine("")
                // Canonical TOML (the node encodes it from the adoption): its strings are the policy author's.
                writeStandardOutput(Array(UntrustedText.displayableLines(shown["text"]?.stringValue ?? "").utf8))
            }
        }
    }

    struct Adopt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that a project adopts a policy (its clocks apply to reports submitted from now on).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var event: EventOptions
        @Option(help: "The project.") var project: String
        @Argument(help: "The policy file.") var file: String

        func validate() throws {
            // Options every recording command shares that an adoption has no use for: refused,
            // not dropped (a retry is safe anyway: re-adopting the policy in force is refused).
            if event.eventID != nil { throw ValidationError("policy adopt takes no --id: adopting the policy in force again is refused, so a retry records nothing twice") }
            if event.receipt != nil { throw ValidationError("policy adopt takes no --receipt: issue one for its sequence with `docket receipt issue SEQ`") }
        }

        func run() async throws {
            try await reporting {
                let at = try event.occurredAt()
                let (policy, zone, warning) = try PolicyGroup.load(file)
                let answer = try await store.node(remote, actor: event.actor).using { node -> Value in
                    switch node {
                    case .local(let ledger, let actor):
                        let adopted = DomainEvent.policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: zone))
                        let r = try await ledger.appendProjectEvent(adopted, project: project, as: .local(actor: actor), at: at)
                        return .object([("project", .string(project)), ("policy", .string(policy.name)), ("version", .int(Int64(policy.version))), ("seq", .int(Int64(r.lastSequence)))])
                    case .remote(let client):
                        return try await client.admin("policy-adopt", [
                            ("project", .string(project)), ("policy", .string(policy.encodeCanonical())), ("file", .string(file)),
                            ("zone", .string(zone.identifier)), ("zoneTransitions", .array(zone.encodedTransitions.map { .string($0) })),
                            ("at", at.map { .string($0.rfc3339) } ?? .null),
                        ])
                    }
                }
                if event.json {
                    print(JSON.serialize(answer))
                } else {
                    print("\(project) adopted policy \"\(policy.name)\" version \(policy.version) (seq \(answer["seq"]?.intValue ?? 0))")
                }
                // Once adopted (a refused adoption needs no advice on its next version), and not
                // for one dated over a day ago, a history being imported.
                if let warning, at.map({ Timestamp.now() - $0 < .seconds(86_400) }) ?? true { writeStandardError(warning) }
            }
        }
    }
}
