import Crypto
import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// The domain commands end to end against real data directories: lifecycle verbs, policies,
/// every view with --as-of and --json, and bad input that must leave the log unchanged.
@Suite("docket report, policy and views")
struct DomainCommandTests {
    static let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas/policies")

    struct CLI {
        let dir: String
        @discardableResult
        func callAsFunction(_ args: String...) async throws -> DocketProcess.Output { try await callAsFunction(args) }
        @discardableResult
        func callAsFunction(_ args: [String]) async throws -> DocketProcess.Output {
            try await DocketProcess.run(args + ["--data-dir", dir], environment: ["DOCKET_ACTOR": "maria"])
        }
        func ok(_ args: String...) async throws -> DocketProcess.Output { try await ok(args) }
        func ok(_ args: [String]) async throws -> DocketProcess.Output {
            let out = try await DocketProcess.run(args + ["--data-dir", dir], environment: ["DOCKET_ACTOR": "maria"])
            #expect(out.status == 0, "docket \(args.joined(separator: " ")): \(out.stderr)")
            return out
        }
        func events() async throws -> Int { try await DocketProcess.run(["read", "--data-dir", dir]).lines.count }
        /// Adopts the AumOS policy (credit named by default) for `project`, dated 2025-01-01: a
        /// project takes reports once it has a policy.
        func adopt(_ project: String) async throws {
            _ = try await ok("policy", "adopt", "--project", project, DomainCommandTests.policies.appendingPathComponent("aumos.toml").path, "--at", "2025-01-01T00:00:00Z")
        }
    }

    @Test("a clock that ended late by less than a second shows its due and end times whole in the table, which would otherwise read the same")
    func subSecondLateness() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "x", "--at", "2026-03-28T11:00:00Z")
            _ = try await docket.ok("report", "ack", "R-1", "--assignee", "m", "--at", "2026-03-30T11:00:00.000001Z")  // due 11:00:00
            let table = try await docket.ok("timers", "--report", "R-1", "--all").lines
            let row = table.first { $0.hasPrefix("R-1 ") && $0.contains(" acknowledge ") } ?? ""
            #expect(row.contains("breached") && row.contains("2026-03-30T11:00:00Z  2026-03-30T11:00:00.000001Z") && row.contains("<1m late"), "\(row)")
            // Other rows keep to the second.
            let triage = table.first { $0.hasPrefix("R-1 ") && $0.contains(" triage ") } ?? ""
            #expect(!triage.isEmpty && !triage.contains(".0000"), "\(triage)")
        }
    }

    @Test("policy show lists a project's adoptions and prints the text of the one in force, or of a version asked for; --as-of shows them as they stood")
    func policyShow() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")  // AumOS version 1, dated 2025-01-01
            let file = DomainCommandTests.policies.appendingPathComponent("aumos.toml").path
            let next = dir + "/v2.toml"
            try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "version = 1\n", with: "version = 2\n")
                .replacingOccurrences(of: "critical = \"7d\"", with: "critical = \"5d\"").write(toFile: next, atomically: true, encoding: .utf8)
            _ = try await docket.ok("policy", "adopt", "--project", "p", next, "--at", "2026-01-01T00:00:00Z")
            let shown = try await docket.ok("policy", "show", "--project", "p")
            let lines = shown.lines
            #expect(lines.first == "VERSION  NAME   ADOPTED               SEQ  IN FORCE", "\(shown.stdout)")
            #expect(lines.count > 3 && lines[1].hasPrefix("1        AumOS  2025-01-01T00:00:00Z  1") && !lines[1].hasSuffix("yes"), "\(shown.stdout)")
            #expect(lines[2].hasPrefix("2        AumOS  2026-01-01T00:00:00Z  2") && lines[2].hasSuffix("yes"), "\(shown.stdout)")
            // The text in force, as recorded: it parses back into the policy adopted.
            let text = lines.dropFirst(3).joined(separator: "\n")  // (`lines` leaves out the blank line before it)
            #expect(text.contains("version = 2") && text.contains("critical = \"5d\""), "\(shown.stdout)")
            #expect(try Policy.parse(text, file: "shown") == (try Policy.parse(String(contentsOfFile: next, encoding: .utf8), file: next)))
            let first = try await docket.ok("policy", "show", "--project", "p", "--version", "1")
            #expect(first.stdout.contains("version = 1\n") && first.stdout.contains("critical = \"7d\""), "\(first.stdout)")
            let then = try await docket.ok("policy", "show", "--project", "p", "--as-of", "2025-06-01")
            #expect(then.lines.count > 2 && then.lines[1].hasSuffix("yes") && !then.stdout.contains("2026-01-01") && then.stdout.contains("critical = \"7d\""), "\(then.stdout)")
            let json = try JSON.parse(try await docket.ok("policy", "show", "--project", "p", "--json").stdout)
            #expect(json["policies"]?.arrayValue?.map { $0["inForce"] } == [false, true] && json["policies"]?.arrayValue?.first?["models"] == "001_cccf3bfcab00222a.txt", "\(json)")
            let missing = try await docket("policy", "show", "--project", "p", "--version", "3")
            #expect(missing.status == 1 && missing.stderr.contains("p has adopted no version 3 of a policy (versions: 1, 2)") && missing.stdout.isEmpty, "\(missing.stderr)")
            let unknown = try await docket("policy", "show", "--project", "q")
            #expect(unknown.status == 1 && unknown.stderr.contains("unknown-project"), "\(unknown.stderr)")
        }
    }

    @Test("state --report shows every field of the one report, labelled, and only what has happened, with the question a report in needs-info waits on; --json gives its row")
    func stateDetails() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")
            _ = try await docket.ok(
                "report", "submit", "--project", "p", "--report", "R-1", "--title", "RLS bypass", "--reporter", "ada", "--reporter-name", "Ada L",
                "--claimed-severity", "critical", "--component", "api", "--at", "2026-03-02T09:00:00Z")
            _ = try await docket.ok("report", "ack", "R-1", "--assignee", "maria", "--at", "2026-03-02T10:00:00Z")
            _ = try await docket.ok(
                "report", "triage", "R-1", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--cwe", "CWE-284", "--affected", "<1.2", "--affected", ">=2.0 <2.1",
                "--at", "2026-03-03T09:00:00Z")
            let shown = try await docket.ok("state", "--report", "R-1").stdout
            #expect(shown == """
                R-1: RLS bypass
                  project       p
                  state         accepted
                  severity      critical (the reporter's estimate: critical)
                  CVSS 3.1      CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H (9.8)
                  CWE           CWE-284
                  component     api
                  affected      <1.2, >=2.0 <2.1
                  assignee      maria
                  submitted     2026-03-02T09:00:00Z
                  acknowledged  2026-03-02T10:00:00Z
                  accepted      2026-03-03T09:00:00Z
                  reporter      ada (Ada L), credit: named

                """, "\(shown)")
            _ = try await docket.ok("report", "publish", "R-1", "--schedule", "2026-04-01T00:00:00Z", "--at", "2026-03-04T09:00:00Z")
            _ = try await docket.ok("report", "release", "R-1", "--version", "1.2.0", "--at", "2026-03-05T09:00:00Z")
            _ = try await docket.ok("report", "publish", "R-1", "--cve", "CVE-2026-1234", "--at", "2026-03-06T09:00:00Z")
            // (Labels and values, the labels' padding aside: it follows the longest label shown.)
            let later = try await docket.ok("state", "--report", "R-1").lines.map { $0.split(separator: " ").joined(separator: " ") }
            #expect(later.contains("fixed in 1.2.0") && later.contains("CVE CVE-2026-1234") && later.contains("disclosed 2026-03-06T09:00:00Z"), "\(later)")
            #expect(later.contains { $0.hasPrefix("fix released") } && later[2] == "state disclosed", "\(later)")
            // Out before the date it was scheduled for: that date is said to be past its use.
            #expect(later.contains("disclosure scheduled 2026-04-01T00:00:00Z (disclosed before it)"), "\(later)")
            let json = try await docket.ok("state", "--report", "R-1", "--json")
            #expect(try json.lines.count == 1 && JSON.parse(json.stdout)["id"] == "R-1")
            // Waiting on its reporter: what they were asked, and when (the latest request).
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "R-2", "--title", "t", "--reporter", "bob", "--at", "2026-03-02T09:00:00Z")
            _ = try await docket.ok("report", "ack", "R-2", "--assignee", "maria", "--at", "2026-03-02T10:00:00Z")
            _ = try await docket.ok("report", "request-info", "R-2", "--question", "Which version?", "--at", "2026-03-02T11:00:00Z")
            _ = try await docket.ok("report", "respond", "R-2", "--summary", "2.0", "--at", "2026-03-02T12:00:00Z")
            _ = try await docket.ok("report", "request-info", "R-2", "--question", "And the\nconfig?", "--at", "2026-03-03T11:00:00Z")
            let waiting = try await docket.ok("state", "--report", "R-2").lines
            #expect(waiting.contains("  state         needs-info") && waiting.contains("  asked         2026-03-03T11:00:00Z") && waiting.contains("  question      And the config?"), "\(waiting)")
            // As of before the second request, the first, answered since: not waiting then.
            #expect(try await !docket.ok("state", "--report", "R-2", "--as-of", "2026-03-02T11:30:00Z").lines.contains("  question      And the config?"))
            #expect(try await docket.ok("state", "--report", "R-2", "--as-of", "2026-03-02T11:30:00Z").lines.contains("  question      Which version?"))
        }
    }

    @Test("timers --late lists the clocks past due and not done, and only those: not one due later, nor one that ended late")
    func lateClocks() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")  // AumOS: acknowledge within 48 hours
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "L-1", "--title", "t", "--reporter", "x", "--at", "2025-03-03T09:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "L-2", "--title", "t", "--reporter", "y", "--at", "2025-03-04T09:00:00Z")
            func late(asOf: String) async throws -> [Value] {
                try await docket.ok("timers", "--late", "--json", "--as-of", asOf).lines.map { try JSON.parse($0) }
            }
            // Before either acknowledgement is due: nothing late, and the table is its header alone.
            #expect(try await late(asOf: "2025-03-05T08:59:59Z").isEmpty)
            let header = try await docket.ok("timers", "--late", "--as-of", "2025-03-05T08:59:59Z").lines
            #expect(header.count == 1 && header[0].hasPrefix("REPORT") && header[0].contains("MARGIN"), "\(header)")
            // L-1's is a day overdue; L-2's is due in an hour, so not late yet.
            let overdue = try await late(asOf: "2025-03-06T08:00:00Z")
            #expect(overdue.count == 1, "\(overdue)")
            #expect(overdue.first?["report"] == "L-1" && overdue.first?["clock"] == "acknowledge" && overdue.first?["state"] == "breached")
            #expect(overdue.first?["dueAt"] == "2025-03-05T09:00:00Z" && overdue.first?["marginSeconds"] == .int(-23 * 3600))
            let table = try await docket.ok("timers", "--late", "--as-of", "2025-03-06T08:00:00Z").lines
            #expect(table.count == 2 && table[1].hasPrefix("L-1 ") && table[1].contains("breached") && table[1].contains("23h late"), "\(table)")
            // Acknowledged late, L-1's clock has ended (breached, not late any more); L-2's is now overdue.
            _ = try await docket.ok("report", "ack", "L-1", "--assignee", "m", "--at", "2025-03-06T10:00:00Z")
            let after = try await late(asOf: "2025-03-06T12:00:00Z")
            #expect(after.map { "\($0["report"]?.stringValue ?? "?") \($0["clock"]?.stringValue ?? "?")" } == ["L-2 acknowledge"], "\(after)")
            let ended = try await docket.ok("timers", "--report", "L-1", "--json", "--as-of", "2025-03-06T12:00:00Z").lines.map { try JSON.parse($0) }
            #expect(ended.first { $0["clock"] == "acknowledge" }?["state"] == "breached")
        }
    }

    @Test("a duplicate names an original, not a report itself closed as a duplicate; a report whose fix is out is not closed at all; what is due includes what is overdue; a submission retried with --id is the same report")
    func duplicatesAndRetries() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")
            for id in ["A", "B", "C"] {
                _ = try await docket.ok("report", "submit", "--project", "p", "--report", id, "--title", "t", "--reporter", "ada")
            }
            _ = try await docket.ok("report", "close", "A", "--resolution", "duplicate", "--duplicate-of", "B")
            let before = try await docket.events()
            for (args, says) in [
                (["report", "close", "B", "--resolution", "duplicate", "--duplicate-of", "A"], "report A is closed as a duplicate of B: one of the two must stay the original"),
                (["report", "close", "C", "--resolution", "duplicate", "--duplicate-of", "A"], "report A is itself closed as a duplicate; its original is B: name that (--duplicate-of B)"),
            ] {
                let out = try await docket(args)
                #expect(out.status == 1 && out.stderr.contains(says), "\(args): \(out.stderr)")
            }
            #expect(try await docket.events() == before)
            _ = try await docket.ok("report", "close", "C", "--resolution", "duplicate", "--duplicate-of", "B")
            // A chain made in order (D of E, then E of F) is followed to its original; a retry of
            // the first closing is still answered as it was, its original a duplicate since.
            for id in ["D", "E", "F", "G"] {
                _ = try await docket.ok("report", "submit", "--project", "p", "--report", id, "--title", "t", "--reporter", "ada")
            }
            _ = try await docket.ok("report", "close", "D", "--resolution", "duplicate", "--duplicate-of", "E", "--id", "close-d")
            _ = try await docket.ok("report", "close", "E", "--resolution", "duplicate", "--duplicate-of", "F")
            let retried = try await docket.ok("report", "close", "D", "--resolution", "duplicate", "--duplicate-of", "E", "--id", "close-d", "--json")
            #expect(try JSON.parse(retried.stdout)["duplicate"] == true, "\(retried.stdout)")
            let chained = try await docket("report", "close", "G", "--resolution", "duplicate", "--duplicate-of", "D")
            #expect(chained.status == 1 && chained.stderr.contains("report D is itself closed as a duplicate; its original is F"), "\(chained.stderr)")
            // The chain D → E → F ends at F: F closed as a duplicate of D would be a cycle, and
            // is told so (not "name F").
            let cycle = try await docket("report", "close", "F", "--resolution", "duplicate", "--duplicate-of", "D")
            #expect(cycle.status == 1 && cycle.stderr.contains("report D is closed as a duplicate of a chain that ends at F, which is the original of them all"), "\(cycle.stderr)")
            // F closed otherwise: closing it again is refused as that, not with a word on the chain.
            _ = try await docket.ok("report", "close", "F", "--resolution", "informative")
            let again = try await docket("report", "close", "F", "--resolution", "duplicate", "--duplicate-of", "D")
            #expect(again.status == 1 && again.stderr.contains("illegal-transition") && !again.stderr.contains("chain"), "\(again.stderr)")

            // Released and published: no resolution is left, and the refusal says what is allowed.
            _ = try await docket.ok("report", "ack", "B", "--assignee", "m")
            // An assessment says the severity it came to (here derived from the vector's metrics).
            let triaged = try await docket.ok("report", "triage", "B", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U")
            #expect(triaged.stdout.hasPrefix("B: ReportTriaged → accepted, severity high (seq "), "\(triaged.stdout)")
            _ = try await docket.ok("report", "release", "B", "--version", "1.0")
            _ = try await docket.ok("report", "publish", "B")
            for resolution in ["wont-fix", "informative"] {
                let out = try await docket("report", "close", "B", "--resolution", resolution, "--json")
                let error = (try? JSON.parse(out.stderr))?["error"]
                #expect(out.status == 1 && error?["code"] == "illegal-transition" && error?["details"]?["state"] == "disclosed", "\(out.stderr)")
            }

            // Times in tables are to the second (these events were dated by the clock, to the
            // microsecond, which --json keeps).
            let table = try await docket.ok("timers", "--report", "B").stdout
            #expect(table.contains("Z ") && table.range(of: #":\d\d\.\d+Z"#, options: .regularExpression) == nil, "\(table)")
            #expect(try await docket.ok("timers", "--report", "B", "--json").stdout.range(of: #":\d\d\.\d+Z"#, options: .regularExpression) != nil)

            // What is due within a span includes what is already overdue and not done.
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "L", "--title", "t", "--reporter", "ada", "--at", "2026-01-05T10:00:00Z")
            for (asOf, expected) in [("2026-01-06T00:00:00Z", "running"), ("2026-01-08T00:00:00Z", "breached")] {
                let due = try await docket.ok("timers", "--report", "L", "--due-within", "72h", "--as-of", asOf, "--json").lines.map { try JSON.parse($0) }
                #expect(due.map { $0["clock"] } == ["acknowledge"] && due.first?["state"]?.stringValue == expected, "\(due)")
            }

            // Without --report, a submission retried with the same --id names the same report.
            let first = try await docket.ok("report", "submit", "--project", "p", "--title", "again", "--reporter", "ada", "--id", "intake-77", "--json")
            let retry = try await docket.ok("report", "submit", "--project", "p", "--title", "again", "--reporter", "ada", "--id", "intake-77", "--json")
            let (a, b) = (try JSON.parse(first.stdout), try JSON.parse(retry.stdout))
            #expect(a["report"] == b["report"] && a["report"]?.stringValue?.hasPrefix("p-") == true && b["duplicate"] == true, "\(first.stdout) \(retry.stdout)")
        }
    }

    @Test("options a verb would drop, and empty text, are refused before anything is appended")
    func droppedOptions() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("aumos")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "R1", "--title", "t", "--reporter", "ada")
            _ = try await docket.ok("report", "ack", "R1", "--assignee", "maria")
            let before = try await docket.events()
            for (args, says) in [
                (["report", "triage", "R1", "--start", "--severity", "high"], "--start only records that triage began"),
                (["report", "publish", "R1", "--schedule", "2027-01-01", "--url", "https://x.org/a"], "--schedule only sets the disclosure date"),
                (["report", "credit", "R1", "--person", "ada", "--decline", "--name", "Ada"], "--name and --preference go with --accept"),
                (["report", "credit", "R1", "--person", "ada", "--accept", "--type", "analyst"], "--type goes with --offer"),
            ] {
                let out = try await DocketProcess.run(args + ["--data-dir", dir])
                #expect(out.status == 64 && out.stderr.contains(says), "\(args): \(out.status) \(out.stderr)")
            }
            let blank = try await docket("report", "exploited", "R1", "--source", " ")
            #expect(blank.status == 64 && blank.stderr.contains("error: invalid-command: source must not be empty (leave it out instead)"), "\(blank.stderr)")
            // Arguments wrong whatever the report's state are bad usage too (exit 64), as malformed
            // option values are; a command the report's state refuses is not (exit 1).
            for (args, says) in [
                (["report", "publish", "R1", "--ghsa", "GHSA-nope"], "is not a GHSA id"),
                (["report", "cve", "R1", "--assign", "CVE-26-1"], "is not a CVE id"),
                (["report", "cve", "R1", "--assign", "CVE-2026-1234", "--cna", "mitre"], "--cna goes with --request"),
                (["report", "triage", "R1", "--severity", "high", "--cwe", "79"], "is not a CWE id"),
                (["report", "submit", "--project", "p q", "--title", "t", "--reporter", "r"], "project \"p q\" must be"),
                (["report", "triage", "R1", "--cvss", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"], "--cvss: CVSS vector \"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\" has unsupported version prefix \"CVSS:3.0\""),
                (["report", "triage", "R1", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:L"], "--cvss: give one CVSS:3.1/… and/or one CVSS:4.0/… vector"),
                // A re-assessment's reason is text like any other, whether or not the report is assessed yet.
                (["report", "triage", "R1", "--severity", "high", "--reason", "a\u{1B}[31mred"], "reason"),
                (["report", "note", "R1", "hi", "--actor", "\u{200B}"], "--actor: actor must not be empty (it holds only invisible characters)"),
                (["report", "note", "R1", "hi", "--actor", String(repeating: "a", count: 201)], "--actor: actor must be at most 200 bytes"),
                // A one-line field over its limit is told so, however large it makes the event.
                (["report", "submit", "--project", "aumos", "--report", "R9", "--title", String(repeating: "t", count: 100_000), "--reporter", "ada"],
                 "title is 100000 characters long; it may hold at most 1000 (longer text belongs in a note)"),
            ] {
                let out = try await DocketProcess.run(args + ["--data-dir", dir])
                #expect(out.status == 64 && out.stderr.contains(says), "\(args): \(out.status) \(out.stderr)")
            }
            // Too large for the log: the store's refusal, not a malformed argument.
            let large = try await docket("report", "note", "R1", String(repeating: "x", count: 70_000))
            #expect(large.status == 1 && large.stderr.contains("event-too-large"), "\(large.stderr)")
            let state = try await docket("report", "release", "R1", "--version", "1.0")
            #expect(state.status == 1 && state.stderr.contains("illegal-transition"), "\(state.stderr)")
            // Under --json the error is a JSON object, with the details a script needs.
            let json = try await docket("report", "release", "R1", "--version", "1.0", "--json")
            let error = try JSON.parse(json.stderr)["error"]
            #expect(json.status == 1 && error?["code"] == "illegal-transition" && error?["details"]?["state"] == "acknowledged", "\(json.stderr)")
            #expect(error?["details"]?["allowed"]?.arrayValue?.contains("ReportTriaged") == true && error?["message"]?.stringValue?.hasPrefix("FixReleased is not allowed") == true)
            let usage = try await docket("report", "publish", "R1", "--ghsa", "GHSA-nope", "--json")
            #expect(usage.status == 64 && (try? JSON.parse(usage.stderr))?["error"]?["code"] == "invalid-command", "\(usage.stderr)")
            // Bad usage the CLI finds itself has a code of its own, the message naming the option.
            for args in [["metrics", "--project", "aumos", "--window", "nope", "--json"], ["report", "note", "R1", "hi", "--at", "yesterday", "--json"]] {
                let bad = try await DocketProcess.run(args + ["--data-dir", dir])
                let body = (try? JSON.parse(bad.stderr))?["error"]
                #expect(bad.status == 64 && body?["code"] == "usage" && body?["message"]?.stringValue?.hasPrefix(args[args.count - 3]) == true, "\(bad.stderr)")
            }
            // So is what the argument parser finds (an unknown option, a missing argument, a value
            // that does not parse): under --json, a JSON object too, naming what is wrong.
            for (args, named) in [
                (["state", "--bogus", "--json"], "--bogus"), (["history", "--json"], "<report>"),
                (["timers", "--due-within", "soon", "--json"], "--due-within"),
            ] {
                let bad = try await DocketProcess.run(args + ["--data-dir", dir])
                let body = (try? JSON.parse(bad.stderr))?["error"]
                #expect(bad.status == 64 && body?["code"] == "usage" && body?["message"]?.stringValue?.contains(named) == true, "\(bad.stderr)")
            }
            // Without --json, each is one line with the same code: no usage dump, the command's
            // --help named instead; the parser's list of allowed values on that line too.
            for (args, line) in [
                (["state", "--bogus"], "error: usage: Unknown option '--bogus' (see `docket state --help`)\n"),
                (["state", "--state", "bogus"], "error: usage: The value 'bogus' is invalid for '--state <state>'. Please provide one of the following: submitted, acknowledged, "),
                (["report", "note", "R1", "hi", "--at", "yesterday"], "error: usage: --at: invalid time \"yesterday\""),
                (["history"], "error: usage: Missing expected argument '<report>' (see `docket history --help`)\n"),
            ] {
                let bad = try await DocketProcess.run(args + ["--data-dir", dir])
                #expect(bad.status == 64 && bad.stderr.hasPrefix(line) && bad.stderr.filter({ $0 == "\n" }).count == 1, "\(bad.stderr)")
            }
            // A file that cannot be read says why, with a code for each reason.
            for (path, code) in [(dir + "/no-such.toml", "not-found"), (dir, "unreadable")] {
                let bad = try await DocketProcess.run(["policy", "adopt", "--project", "aumos", path, "--json", "--data-dir", dir])
                let body = (try? JSON.parse(bad.stderr))?["error"]
                #expect(bad.status == 1 && body?["code"]?.stringValue == code && body?["message"]?.stringValue?.contains("policy file") == true, "\(bad.stderr)")
            }
            let beyond = try await docket("state", "--as-of", "999", "--json")
            #expect(beyond.status == 1 && (try? JSON.parse(beyond.stderr))?["error"]?["code"] == "bad-request", "\(beyond.stderr)")
            let unknown = try await docket("hall-of-fame", "--project", "nope", "--format", "json")
            #expect(unknown.status == 1 && (try? JSON.parse(unknown.stderr))?["error"]?["code"] == "unknown-project", "\(unknown.stderr)")
            #expect(try await docket.events() == before)
        }
    }

    @Test("a fix released after the advisory: recorded, the report stays disclosed, and the fix clock ends at the release")
    func releaseAfterAdvisory() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("aumos")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "R1", "--title", "t", "--reporter", "ada", "--at", "2026-03-02T09:00:00Z")
            _ = try await docket.ok("report", "ack", "R1", "--assignee", "maria", "--at", "2026-03-02T10:00:00Z")
            // A reason is for a re-assessment: refused on the first, taken on the next.
            let first = try await docket("report", "triage", "R1", "--severity", "medium", "--reason", "why", "--at", "2026-03-03T08:00:00Z")
            #expect(first.status != 0 && first.stderr.contains("a reason is for a re-assessment"), "\(first.stderr)")
            _ = try await docket.ok("report", "triage", "R1", "--severity", "medium", "--at", "2026-03-03T08:00:00Z")
            _ = try await docket.ok("report", "triage", "R1", "--severity", "high", "--reason", "reachable without login", "--at", "2026-03-03T09:00:00Z")
            _ = try await docket.ok("report", "publish", "R1", "--at", "2026-03-20T00:00:00Z")
            let owed = try await docket.ok("timers", "--report", "R1", "--as-of", "2026-03-25T00:00:00Z", "--json")
            #expect(owed.stdout.contains(#""clock":"fix","state":"running""#) && owed.stdout.contains("the fix is still due"), "\(owed.stdout)")
            _ = try await docket.ok("report", "release", "R1", "--version", "2.4.1", "--at", "2026-04-01T09:00:00Z")
            let state = try await docket.ok("state", "--json")
            #expect(state.stdout.contains(#""state":"disclosed""#) && state.stdout.contains("2.4.1"), "\(state.stdout)")
            let timers = try await docket.ok("timers", "--report", "R1", "--json")
            #expect(timers.stdout.contains(#""clock":"fix","state":"met""#) && timers.stdout.contains("released after the advisory"), "\(timers.stdout)")
        }
    }

    @Test("an embargo extension the disclosure clock would not count is refused: exploitation holds the deadline, or the policy's cap is reached; a late one is recorded")
    func extensionsThatMoveNothing() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            // Project Zero's policy with its grace periods automatic (the format's default); as
            // published, they are granted on request, which the end of this test shows. Both with
            // its deadlines where their days end: the dates below fall on weekends too, and the
            // move off them (`workday-deadlines`) is TimerScenarioTests' `projectZeroWorkdays`.
            let projectZero = try String(contentsOf: Self.policies.appendingPathComponent("project-zero.toml"), encoding: .utf8)
                .replacingOccurrences(of: "workday-deadlines = true\n", with: "")
            // (Beside the data directory, which takes no foreign file before its ledger exists.)
            let automatic = dir + ".pz-automatic.toml"
            let onRequest = dir + ".pz-on-request.toml"
            defer { for file in [automatic, onRequest] { try? FileManager.default.removeItem(atPath: file) } }
            try projectZero.replacingOccurrences(of: "grace-on-request = true\n", with: "").write(toFile: automatic, atomically: true, encoding: .utf8)
            try projectZero.write(toFile: onRequest, atomically: true, encoding: .utf8)
            _ = try await docket.ok("policy", "adopt", "--project", "pz", automatic, "--at", "2025-01-01T00:00:00Z")
            let capped = dir + "/capped.toml"
            try "name = \"Capped\"\nversion = 1\n[disclosure]\nfrom = \"report\"\nwithin = \"90d\"\nmax-extension = \"30d\"\n".write(toFile: capped, atomically: true, encoding: .utf8)
            _ = try await docket.ok("policy", "adopt", "--project", "cap", capped, "--at", "2025-01-01T00:00:00Z")
            for (id, project) in [("Z", "pz"), ("Y", "cap")] {
                _ = try await docket.ok("report", "submit", "--project", project, "--report", id, "--title", "t", "--reporter", "ada", "--at", "2025-03-03T10:00:00Z")
                _ = try await docket.ok("report", "ack", id, "--assignee", "maria", "--at", "2025-03-03T11:00:00Z")
            }
            // Exploited on day 10: due 7 days later (03-20), with 3 days' grace. An extension to a
            // date past it, dated before it or in its grace, would be shown as the embargo's end
            // and counted by no clock.
            _ = try await docket.ok("report", "exploited", "Z", "--at", "2025-03-13T10:00:00Z")
            let before = try await docket.events()
            for at in ["2025-03-14T10:00:00Z", "2025-03-21T10:00:00Z"] {
                let out = try await docket("report", "extend-embargo", "Z", "--until", "2025-04-15T10:00:00Z", "--reason", "patch slipped", "--reporter-agreed", "--at", at)
                #expect(out.status == 1 && out.stderr.contains(
                    "report Z's disclosure is due 2025-03-20T10:00:00Z: exploitation in the wild was observed 2025-03-13T10:00:00Z, and under the policy's exploited = \"7d\" no embargo extension moves that deadline later"),
                    "\(at): \(out.stderr)")
            }
            // Up to the cap (30 days past the 90-day deadline of 06-01), then no further.
            let first = try await docket.ok("report", "extend-embargo", "Y", "--until", "2025-08-15T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-14T10:00:00Z")
            #expect(first.stdout.contains("note: report Y's disclosure is due 2025-07-01T10:00:00Z, not 2025-08-15T10:00:00Z"), "\(first.stdout)")
            let beyond = try await docket("report", "extend-embargo", "Y", "--until", "2025-08-20T10:00:00Z", "--reason", "r", "--at", "2025-03-15T10:00:00Z")
            #expect(beyond.status == 1 && beyond.stderr.contains(
                "report Y's disclosure is due 2025-07-01T10:00:00Z, and an extension to 2025-08-20T10:00:00Z would not move it: the policy's max-extension of 30d allows no later deadline"),
                "\(beyond.stderr)")
            #expect(try await docket.events() == before + 1)
            // Fixed early, the deadline is the after-fix date; exploitation then holds it there.
            _ = try await docket.ok("report", "submit", "--project", "pz", "--report", "F", "--title", "t", "--reporter", "ada", "--at", "2025-03-03T10:00:00Z")
            _ = try await docket.ok("report", "ack", "F", "--assignee", "maria", "--at", "2025-03-03T11:00:00Z")
            _ = try await docket.ok("report", "triage", "F", "--severity", "high", "--at", "2025-03-04T10:00:00Z")
            _ = try await docket.ok("report", "release", "F", "--version", "1.0.1", "--at", "2025-03-05T10:00:00Z")
            _ = try await docket.ok("report", "exploited", "F", "--at", "2025-03-10T10:00:00Z")
            let fixedBefore = try await docket.events()
            let afterFix = try await docket("report", "extend-embargo", "F", "--until", "2025-05-01T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-12T10:00:00Z")
            #expect(afterFix.status == 1 && afterFix.stderr.contains(
                "report F's disclosure is due 2025-04-04T10:00:00Z, the after-fix date of the policy's after-fix = \"30d\": exploitation in the wild was observed 2025-03-10T10:00:00Z, so under the policy's exploited = \"7d\" no embargo extension moves it later"),
                "\(afterFix.stderr)")
            #expect(try await docket.events() == fixedBefore)
            // Fixed early and extended, then exploited late: exploitation's own date (7 days after
            // it) is past the after-fix date, and it is the one named.
            _ = try await docket.ok("report", "submit", "--project", "pz", "--report", "G", "--title", "t", "--reporter", "ada", "--at", "2025-03-03T10:00:00Z")
            _ = try await docket.ok("report", "ack", "G", "--assignee", "maria", "--at", "2025-03-03T11:00:00Z")
            _ = try await docket.ok("report", "triage", "G", "--severity", "high", "--at", "2025-03-04T10:00:00Z")
            _ = try await docket.ok("report", "release", "G", "--version", "1.0.2", "--at", "2025-03-05T10:00:00Z")
            _ = try await docket.ok("report", "extend-embargo", "G", "--until", "2025-05-01T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-06T10:00:00Z")
            _ = try await docket.ok("report", "exploited", "G", "--at", "2025-03-30T10:00:00Z")
            let exploitedLate = try await docket("report", "extend-embargo", "G", "--until", "2025-05-15T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-31T10:00:00Z")
            #expect(exploitedLate.status == 1 && exploitedLate.stderr.contains(
                "report G's disclosure is due 2025-04-06T10:00:00Z: exploitation in the wild was observed 2025-03-30T10:00:00Z, and under the policy's exploited = \"7d\" no embargo extension moves that deadline later"),
                "\(exploitedLate.stderr)")
            // Once the deadline and its grace have passed, one to before it is refused as ever; an
            // agreement to a later date is still a fact: recorded, and the clock stays breached.
            let earlier = try await docket("report", "extend-embargo", "Z", "--until", "2025-03-19T10:00:00Z", "--reason", "r", "--at", "2025-03-25T10:00:00Z")
            #expect(earlier.status == 1 && earlier.stderr.contains("report Z's disclosure deadline is already 2025-03-20T10:00:00Z"), "\(earlier.stderr)")
            let late = try await docket.ok("report", "extend-embargo", "Z", "--until", "2025-04-15T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-25T10:00:00Z")
            #expect(late.stdout.contains("note: report Z's disclosure is due 2025-03-20T10:00:00Z (passed)"), "\(late.stdout)")
            let timers = try await docket.ok("timers", "--report", "Z", "--as-of", "2025-03-26T00:00:00Z", "--json")
            #expect(timers.stdout.contains(#""clock":"disclosure","state":"breached""#), "\(timers.stdout)")
            // As published, the grace is asked for: the first extension recorded by the deadline
            // exploitation holds is that request, taken, and the clock runs on into its 3 days;
            // one more is refused as before.
            _ = try await docket.ok("policy", "adopt", "--project", "pz0", onRequest, "--at", "2025-01-01T00:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "pz0", "--report", "R", "--title", "t", "--reporter", "ada", "--at", "2025-03-03T10:00:00Z")
            _ = try await docket.ok("report", "ack", "R", "--assignee", "maria", "--at", "2025-03-03T11:00:00Z")
            _ = try await docket.ok("report", "exploited", "R", "--at", "2025-03-13T10:00:00Z")
            let request = try await docket.ok(
                "report", "extend-embargo", "R", "--until", "2025-03-23T10:00:00Z", "--reason", "grace period: patch expected 03-22", "--reporter-agreed", "--at", "2025-03-14T10:00:00Z")
            #expect(request.stdout.contains("note: report R's disclosure is due 2025-03-20T10:00:00Z, not 2025-03-23T10:00:00Z"), "\(request.stdout)")
            let inGrace = try await docket.ok("timers", "--report", "R", "--as-of", "2025-03-22T00:00:00Z", "--json")
            #expect(inGrace.stdout.contains(#""clock":"disclosure","state":"running""#) && inGrace.stdout.contains("in the grace period until 2025-03-23T10:00:00Z"), "\(inGrace.stdout)")
            let again = try await docket("report", "extend-embargo", "R", "--until", "2025-04-15T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-15T10:00:00Z")
            #expect(again.status == 1 && again.stderr.contains("no embargo extension moves that deadline later"), "\(again.stderr)")
            // A grace asked for in part (to 03-21), then the rest (to 03-23): both taken.
            _ = try await docket.ok("report", "submit", "--project", "pz0", "--report", "Q", "--title", "t", "--reporter", "ada", "--at", "2025-03-03T10:00:00Z")
            _ = try await docket.ok("report", "ack", "Q", "--assignee", "maria", "--at", "2025-03-03T11:00:00Z")
            _ = try await docket.ok("report", "exploited", "Q", "--at", "2025-03-13T10:00:00Z")
            _ = try await docket.ok("report", "extend-embargo", "Q", "--until", "2025-03-21T10:00:00Z", "--reason", "one day", "--reporter-agreed", "--at", "2025-03-14T10:00:00Z")
            _ = try await docket.ok("report", "extend-embargo", "Q", "--until", "2025-03-23T10:00:00Z", "--reason", "the rest", "--reporter-agreed", "--at", "2025-03-15T10:00:00Z")
            let rest = try await docket.ok("timers", "--report", "Q", "--as-of", "2025-03-22T00:00:00Z", "--json")
            #expect(rest.stdout.contains(#""clock":"disclosure","state":"running""#) && rest.stdout.contains("in the grace period until 2025-03-23T10:00:00Z"), "\(rest.stdout)")
            // Fixed early, then exploited: the after-fix date has no grace to ask for, so an
            // extension moves nothing and is refused, as under an automatic grace.
            _ = try await docket.ok("report", "submit", "--project", "pz0", "--report", "S", "--title", "t", "--reporter", "ada", "--at", "2025-03-03T10:00:00Z")
            _ = try await docket.ok("report", "ack", "S", "--assignee", "maria", "--at", "2025-03-03T11:00:00Z")
            _ = try await docket.ok("report", "triage", "S", "--severity", "high", "--at", "2025-03-04T10:00:00Z")
            _ = try await docket.ok("report", "release", "S", "--version", "1.0.1", "--at", "2025-03-05T10:00:00Z")
            _ = try await docket.ok("report", "exploited", "S", "--at", "2025-03-10T10:00:00Z")
            let noGrace = try await docket("report", "extend-embargo", "S", "--until", "2025-05-01T10:00:00Z", "--reason", "r", "--reporter-agreed", "--at", "2025-03-12T10:00:00Z")
            #expect(noGrace.status == 1 && noGrace.stderr.contains("the after-fix date of the policy's after-fix = \"30d\""), "\(noGrace.stderr)")
        }
    }

    @Test("the readable table aligns its columns by character and shows every cell whole, whatever the script")
    func tableAlignment() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("aumos")
            // One character each, but "🔥" is two UTF-16 units and "e\u{301}" two scalars: a width
            // counted in either would cut a cell short or push the next column along.
            let assignees = ["🔥 triage", "Zoe\u{301}", "bob"]
            for (i, assignee) in assignees.enumerated() {
                _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "R\(i)", "--title", "t\(i)", "--reporter", "ada", "--at", "2026-01-0\(i + 1)T10:00:00Z")
                _ = try await docket.ok("report", "ack", "R\(i)", "--assignee", assignee, "--at", "2026-01-0\(i + 1)T11:00:00Z")
            }
            let lines = try await docket.ok("state").stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 4)
            let column = try #require(lines.first?.firstRange(of: "SUBMITTED")).lowerBound
            let at = lines[0].distance(from: lines[0].startIndex, to: column)
            for (i, assignee) in assignees.enumerated() {
                let row = try #require(lines.first { $0.hasPrefix("R\(i) ") })
                #expect(row.contains(assignee + " "), "\(row)")
                #expect(row.dropFirst(at).hasPrefix("2026-01-0\(i + 1)"), "\(lines.joined(separator: "\n"))")
            }
        }
    }

    @Test("docket --version prints the version; a subcommand's own --version option is the only one its help lists")
    func version() async throws {
        let out = try await DocketProcess.run(["--version"])
        #expect(out.status == 0 && out.stdout == "\(DocketVersion.current)\n", "\(out.stdout)")
        let help = try await DocketProcess.run(["report", "release", "--help"])
        #expect(help.stdout.components(separatedBy: "--version").count == 2 && help.stdout.contains("A released version with the fix"), "\(help.stdout)")
    }

    @Test("a report's whole life through the CLI, with every view, --as-of and --json")
    func lifecycle() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            _ = try await docket.ok("policy", "adopt", "--project", "aumos", Self.policies.appendingPathComponent("aumos.toml").path, "--at", "2025-01-01T00:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "AUM-1", "--title", "RLS bypass", "--reporter", "ada",
                              "--reporter-name", "Ada Lovelace", "--contact", "ada@example.org", "--at", "2025-11-21T15:00:00Z")
            _ = try await docket.ok("report", "ack", "AUM-1", "--assignee", "maria", "--at", "2025-11-22T10:00:00Z")
            let triage = try await docket.ok("report", "triage", "AUM-1", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--cwe", "CWE-284",
                                       "--at", "2025-11-25T10:00:00Z", "--json")
            let t = try JSON.parse(triage.stdout)
            #expect(t["state"] == "accepted" && t["events"] == ["ReportTriaged"])
            _ = try await docket.ok("report", "fix-start", "AUM-1", "--at", "2025-11-26T10:00:00Z")
            _ = try await docket.ok("report", "fix-merge", "AUM-1", "--commit", "9f2c1e7", "--at", "2025-11-27T10:00:00Z")
            _ = try await docket.ok("report", "release", "AUM-1", "--version", "2.1.1", "--at", "2025-11-29T10:00:00Z")
            _ = try await docket.ok("report", "cve", "AUM-1", "--assign", "CVE-2026-41234", "--at", "2025-11-30T10:00:00Z")
            _ = try await docket.ok("report", "credit", "AUM-1", "--person", "bob", "--offer", "--type", "remediation-reviewer", "--at", "2025-11-30T11:00:00Z")
            _ = try await docket.ok("report", "credit", "AUM-1", "--person", "bob", "--accept", "--preference", "handle", "--at", "2025-11-30T12:00:00Z")
            _ = try await docket.ok("report", "publish", "AUM-1", "--ghsa", "GHSA-2c4m-59x8-xvhw", "--at", "2025-12-02T10:00:00Z")
            _ = try await docket.ok("report", "note", "AUM-1", "advisory out", "--at", "2025-12-02T11:00:00Z")

            // Advisory state now, and as it stood on 11-25 (by time) and at sequence 3 (by sequence).
            let now = try JSON.parse(try await docket.ok("state", "--json").stdout)
            #expect(now["state"] == "disclosed" && now["cve"] == "CVE-2026-41234" && now["severity"] == "critical")
            #expect(now["cvss31"]?["score"] == 9.8)
            let then = try JSON.parse(try await docket.ok("state", "--json", "--as-of", "2025-11-26T00:00:00Z").stdout)
            #expect(then["state"] == "accepted" && then["cve"] == nil)
            let atSeq = try JSON.parse(try await docket.ok("state", "--json", "--as-of", "3").stdout)
            #expect(atSeq["state"] == "acknowledged")
            // What the ledger knew on 11-26: nothing, for this history was recorded a year later.
            #expect(try await docket.ok("state", "--json", "--known-at", "2025-11-26T00:00:00Z").stdout.isEmpty)
            #expect(try await docket.ok("replay", "--known-at", "2025-11-26").stdout.hasPrefix("# Docket as of what was recorded by 2025-11-26T00:00:00Z: "))
            #expect(try await docket.ok("state", "--state", "fixing").lines.count == 1)  // the header only
            #expect(try await docket.ok("state", "--severity", "critical", "--project", "aumos").stdout.contains("AUM-1"))

            // Timers as of 11-25: triage met, fix running (critical: 7 days from acceptance).
            let clocks = try await docket.ok("timers", "--report", "AUM-1", "--json", "--as-of", "2025-11-26T00:00:00Z").lines.map { try JSON.parse($0) }
            let fix = try #require(clocks.first { $0["clock"] == "fix" })
            #expect(fix["state"] == "running" && fix["dueAt"] == "2025-12-02T10:00:00Z")
            #expect(clocks.first { $0["clock"] == "triage" }?["state"] == "met")
            // This history was imported a year after it happened: the clocks its milestones end say so.
            let triaged = clocks.first { $0["clock"] == "triage" }?["note"]?.stringValue ?? ""
            #expect(triaged.hasPrefix("ReportTriaged recorded ") && triaged.hasSuffix("after the time it gives"), "\(triaged)")
            let due = try await docket.ok("timers", "--due-within", "72h", "--as-of", "2025-11-27T12:00:00Z", "--json").lines.map { try JSON.parse($0) }
            #expect(due.map { $0["clock"] } == ["status-update"])
            #expect(try await docket.ok("timers", "--late", "--as-of", "2025-11-26T00:00:00Z").lines.count == 1)
            // Readable table by default.
            #expect(try await docket.ok("timers", "--report", "AUM-1").stdout.hasPrefix("REPORT"))

            // Hall of fame: the reporter by name, bob by handle; never the contact.
            let hall = try await docket.ok("hall-of-fame", "--project", "aumos")
            let md = hall.stdout
            #expect(md.contains("Ada Lovelace (@\u{2060}ada)") && md.contains("@\u{2060}bob") && !md.contains("example.org"))
            #expect(hall.stderr.isEmpty, "\(hall.stderr)")
            let hof = try JSON.parse(try await docket.ok("hall-of-fame", "--project", "aumos", "--year", "2025", "--format", "json").stdout)
            #expect(hof["credited"]?.arrayValue?.count == 2 && hof["anonymous"] == 0)
            #expect(try JSON.parse(try await docket.ok("hall-of-fame", "--project", "aumos", "--json", "--as-of", "2025-12-01").stdout)["credited"] == [])
            #expect(try JSON.parse(try await docket.ok("hall-of-fame", "--project", "aumos", "--year", "2024", "--json").stdout)["disclosedReports"] == 0)
            #expect(try await docket.ok("hall-of-fame", "--project", "aumos", "--year", "2024").stdout.hasSuffix("_No credited reports in 2024._\n"))

            let metrics = try JSON.parse(try await docket.ok("metrics", "--project", "aumos", "--window", "365d", "--json", "--as-of", "2025-12-03").stdout)
            #expect(metrics["reports"] == 1)
            #expect(metrics["milestones"]?.arrayValue?.first?["medianSeconds"] == 68400)  // 19 h to first response
            // The table, through a pipe: its heading first.
            let table = try await docket.ok("metrics", "--project", "aumos", "--window", "365d", "--as-of", "2025-12-03").lines
            #expect(table.first == "aumos: 1 report submitted after 2024-12-03T00:00:00Z through 2025-12-03T00:00:00Z" && table.dropFirst().first?.hasPrefix("MILESTONE") == true, "\(table)")

            let history = try await docket.ok("history", "AUM-1").lines
            #expect(history.count == 11 && history[0].contains("ReportSubmitted") && history[10].contains("NoteAdded"))
            // Imported long after: each line gives both times.
            #expect(history.allSatisfy { $0.contains("\t(recorded 20") } && history[0].hasPrefix("1\t2025-11-21T15:00:00Z\tmaria\tReportSubmitted\t"), "\(history)")
            #expect(try await docket.ok("history", "AUM-1", "--as-of", "2025-11-23").lines.count == 2)
            #expect(try await DocketProcess.run(["cvss", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"]).stdout == "9.3 Critical (CVSS 4.0, CVSS-B)\n")
            // The score a triage derives the severity from comes first, named; the others after it.
            let adjusted = try await DocketProcess.run(["cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U/CR:L/IR:L/AR:L"])
            #expect(adjusted.stdout == "6.4 Medium (CVSS 3.1 environmental score; base 9.8 Critical, temporal 7.8 High)\n", "\(adjusted.stdout)")
            let threat = try await DocketProcess.run(["cvss", "--json", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U"])
            #expect(threat.stdout.contains("\"score\":8.1") && threat.stdout.contains("\"severity\":\"high\"") && threat.stdout.contains("\"nomenclature\":\"CVSS-BT\"") && threat.stdout.contains("\"baseScore\":9.3"), "\(threat.stdout)")
            #expect(try await DocketProcess.run(["cvss", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U"]).stdout == "8.1 High (CVSS 4.0, CVSS-BT; base metrics alone 9.3 Critical)\n")
            #expect(try await docket.ok("verify").status == 0)
        }
    }

    @Test("a hall of fame that would show an e-mail address warns, saying how to record a name; once recorded, the address is not shown; --actor is a handle")
    func hallOfFameAddressWarning() async throws {
        try await withTemporaryDirectory { dir in
            let cli = CLI(dir: dir)
            try await cli.adopt("p")
            _ = try await cli.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "ada@example.org", "--credit", "handle", "--at", "2026-01-05T00:00:00Z")
            for step in [["ack", "R-1", "--assignee", "m"], ["triage", "R-1", "--severity", "low"], ["fix-start", "R-1"], ["release", "R-1", "--version", "1.0.1"], ["publish", "R-1"]] {
                _ = try await cli.ok(["report"] + step)
            }
            let warned = try await cli.ok("hall-of-fame", "--project", "p")
            #expect(warned.stdout.contains("- @\u{2060}ada\\@\u{2060}example\\.org — finder"), "\(warned.stdout)")
            #expect(warned.stderr == "warning: the credit on R-1 shows an e-mail address (ada@example.org): ask the person how to be named, and record it (docket report credit R-1 --accept --person ada@example.org --name \"…\" --preference named; a preference a reporter gave, such as credit by handle, is theirs or an admin's to change), before publishing this\n", "\(warned.stderr)")
            _ = try await cli.ok("report", "credit", "R-1", "--accept", "--person", "ada@example.org", "--name", "Ada L", "--preference", "named")
            let named = try await cli.ok("hall-of-fame", "--project", "p")
            #expect(named.stdout.contains("- Ada L — finder\n") && !named.stdout.contains("example") && named.stderr.isEmpty, "\(named.stdout)\(named.stderr)")
            let json = try JSON.parse(try await cli.ok("hall-of-fame", "--project", "p", "--json").stdout)
            let credited = json["credited"]?.arrayValue?.first
            #expect(credited?["name"] == "Ada L" && credited?["handle"] == nil, "\(json)")
            // An actor is a handle too: "@m" would pass for m.
            let actor = try await cli("report", "note", "R-1", "x", "--actor", "@m")
            #expect(actor.status == 64 && actor.stderr.contains(#"--actor "@m" begins with @"#), "\(actor.stderr)")
        }
    }

    @Test("a table shows a run of white space or blanks in a cell as one space, and at most 100 characters of it: a title cannot pad itself out to wrap into a row of its own; JSON keeps the text")
    func tableCellsCannotForgeRows() async throws {
        try await withTemporaryDirectory { dir in
            let cli = CLI(dir: dir)
            try await cli.adopt("p")
            let spaced = "real bug" + String(repeating: " ", count: 400) + "R-0  2026-01-01  closed  critical" + String(repeating: "\u{2003}", count: 50)
                + String(repeating: "\u{2800}", count: 50) + "x"
            let dotted = String(repeating: ".", count: 150) + "R-0 2026-01-01 closed critical"
            _ = try await cli.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", spaced, "--reporter", "eve")
            _ = try await cli.ok("report", "submit", "--project", "p", "--report", "R-2", "--title", dotted, "--reporter", "eve")
            let table = try await cli.ok("state")
            let row = try #require(table.lines.first { $0.hasPrefix("R-1") }, "\(table)")
            #expect(row.hasSuffix("real bug R-0 2026-01-01 closed critical x"), "\(row)")
            let cut = try #require(table.lines.first { $0.hasPrefix("R-2") }, "\(table)")
            #expect(cut.hasSuffix(String(repeating: ".", count: 99) + "…") && !cut.contains("closed"), "\(cut)")
            let rows = try await cli.ok("state", "--json").lines.map { try JSON.parse($0) }
            #expect(rows.map { $0["title"] } == [.string(spaced), .string(dotted)])
        }
    }

    @Test("text that begins with a dash is text: an option's value is taken as given, a note after `--` is recorded, and one without it is refused with how to write it, never read as a request for help")
    func dashLedText() async throws {
        try await withTemporaryDirectory { dir in
            let cli = CLI(dir: dir)
            try await cli.adopt("p")
            _ = try await cli.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "-the bug", "--reporter", "eve")
            _ = try await cli.ok("report", "ack", "R-1", "--assignee", "m")
            _ = try await cli.ok("report", "request-info", "R-1", "--question", "-h")
            let before = try await cli.events()
            // The parser would take "-this" for options, an h among them for help: that printed the
            // help, recorded nothing and exited 0.
            for text in ["-this", "-abc", "-1"] {
                let out = try await cli("report", "note", "R-1", text)
                #expect(out.status == 64 && out.stdout.isEmpty, "\(text): \(out.stdout)")
                #expect(out.stderr.contains("\"\(text)\" was read as an option: an argument that begins with a dash goes after `--`, at the end of the command line (… -- \"\(text)\")"), "\(out.stderr)")
            }
            // The value of an option that is not free text is named with its option.
            let credit = try await cli("report", "submit", "--project", "p", "--report", "R-2", "--title", "t", "--reporter", "eve", "--credit", "-named")
            #expect(credit.status == 64 && credit.stderr.contains(#""-named" was read as an option, not as the value of --credit: write --credit="-named""#), "\(credit.stderr)")
            // A free-text option does not take the option after it for its text.
            let swallowed = try await cli("report", "status-update", "R-1", "--summary", "--json")
            #expect(swallowed.status == 64 && swallowed.stderr.contains("--summary"), "\(swallowed.stderr)")
            #expect(try await cli.events() == before)
            let note = try await DocketProcess.run(["report", "note", "--data-dir", dir, "R-1", "--", "-this"], environment: ["DOCKET_ACTOR": "maria"])
            #expect(note.status == 0, "\(note.stderr)")
            let recorded = try await cli.ok("read").lines.map { try JSON.parse(String($0)) }
            #expect(recorded.last?["data"]?["text"] == "-this")
            #expect(recorded.contains { $0["data"]?["title"] == "-the bug" } && recorded.contains { $0["data"]?["question"] == "-h" })
            // Bytes that are not UTF-8 would be recorded as replacement characters: refused.
            let shell = try SpawnedChild(
                path: "/bin/sh", arguments: ["-c", #"exec "$0" report note --data-dir "$1" R-1 "$(printf '\377\376 bad')""#, try #require(DocketProcess.executable).path, dir],
                stdout: .discard)
            let ended = await offPool { shell.finish() }
            let refusal = String(decoding: ended.stderr, as: UTF8.self)
            #expect(ended.status == 64 && refusal.contains("argument 6 (") && refusal.contains("is not valid UTF-8"), "\(refusal)")
            #expect(try await cli.events() == before + 1)
            // `-h` alone still asks for help, after a flag too (a note of just "-h" goes after `--`).
            let help = try await DocketProcess.run(["report", "note", "-h"])
            #expect(help.status == 0 && help.stdout.contains("USAGE: docket report note"), "\(help.stderr)")
            let flagged = try await cli("timers", "--late", "-h")
            #expect(flagged.status == 0 && flagged.stdout.contains("USAGE: docket timers"), "\(flagged.stderr)")
        }
    }

    @Test("an embargo end or disclosure date already past at the time it is recorded is refused, with how to record an earlier agreement (--at)")
    func datesAlreadyPassed() async throws {
        try await withTemporaryDirectory { dir in
            let cli = CLI(dir: dir)
            try await cli.adopt("p")
            // Submitted 2025-06-01: disclosure due 90 days later, 2025-08-30.
            _ = try await cli.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "eve", "--at", "2025-06-01T10:00:00Z")
            _ = try await cli.ok("report", "ack", "R-1", "--assignee", "m", "--at", "2025-06-02T10:00:00Z")
            _ = try await cli.ok("report", "triage", "R-1", "--severity", "high", "--at", "2025-06-03T10:00:00Z")
            let before = try await cli.events()
            for args in [["extend-embargo", "R-1", "--until", "2025-10-01", "--reason", "agreed by mail"], ["publish", "R-1", "--schedule", "2025-09-01"]] {
                let out = try await cli(["report"] + args)
                #expect(out.status == 1 && out.stderr.contains("is not after the time it is recorded as") && out.stderr.contains("give the time it was agreed with --at"), "\(out.stderr)")
            }
            // Dated as it was agreed, before the deadline: recorded, and the deadline moves.
            let at = ["--at", "2025-08-01T10:00:00Z"]
            _ = try await cli.ok("report", "extend-embargo", "R-1", "--until", "2025-10-01", "--reason", "agreed by mail", "--reporter-agreed", at[0], at[1])
            _ = try await cli.ok("report", "publish", "R-1", "--schedule", "2025-09-30", at[0], at[1])
            #expect(try await cli.events() == before + 2)
            let timers = try await cli.ok("timers", "--report", "R-1", "--as-of", "2025-08-02T00:00:00Z", "--json").lines.map { try JSON.parse($0) }
            let disclosure = timers.first { $0["clock"] == "disclosure" }
            #expect(disclosure?["dueAt"] == "2025-10-01T00:00:00Z", "\(timers)")
        }
    }

    @Test("a malformed option value is bad usage (exit 64) and appends nothing; a view of a project the ledger does not know is refused, not shown empty")
    func usageAndUnknownProjects() async throws {
        try await withTemporaryDirectory { dir in
            let cli = CLI(dir: dir)
            try await cli.adopt("p")
            _ = try await cli.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "eve")
            let before = try await cli.events()
            let usage: [([String], String)] = [
                (["report", "ack", "R-1", "--assignee", "m", "--at", "yesterday"], "--at: "),
                // The parser would keep the last: a report filed in the project named second.
                (["report", "submit", "--project", "p", "--project", "q", "--title", "t", "--reporter", "x"], "--project is given more than once; give it once"),
                (["report", "ack", "R-1", "--assignee=m", "--assignee", "n"], "--assignee is given more than once"),
                (["report", "ack", "R-1", "--assignee", "m", "--id", ""], "--id: "),
                (["append", "--stream", "s", "--type", "T", "--data", "{}", "--at", "2026-02-30"], "--at: "),
                (["state", "--as-of", "2026-13-01"], "--as-of: "),
                (["hall-of-fame", "--project", "p", "--as-of=-5"], "--as-of: "),
                (["timers", "--known-at", "soon"], "--known-at: "),
                (["hall-of-fame", "--project", "p", "--json", "--format", "markdown"], "--json and --format markdown contradict each other"),
                (["state", "--as-of", "1", "--known-at", "2026-01-01"], "give --as-of or --known-at, not both"),
                (["replay", "--as-of", "2026-01-01", "--known-at", "2026-01-01"], "give exactly one of --as-of TIME, --known-at TIME and --at-seq N"),
                (["state", "--assignee", " "], "--assignee must name a handle"),
                (["replay", "--as-of", "seq:15"], "replay takes a time with --as-of and a sequence with --at-seq (--at-seq 15)"),
                (["replay", "--as-of", "15"], "(--at-seq 15)"),
                (["replay", "--as-of", "2026"], "--as-of 2026 could be a date or a sequence: write 2026-01-01 for the date, or --at-seq 2026 for the sequence"),
                (["history", "R-1", "--as-of", "+2"], "--as-of: "),
                (["timers", "--due-within", "72"], "--due-within \"72\" must be a number followed by h, d or w"),
                (["metrics", "--project", "p", "--window", "-3d"], "--window"),
                (["token", "create", "--role", "admin", "--name", "a", "--expires", "0d"], "--expires \"0d\" must be a positive number"),
                (["policy", "adopt", "--project", "p", Self.policies.appendingPathComponent("aumos.toml").path, "--id", "x1"], "policy adopt takes no --id"),
                (["policy", "adopt", "--project", "p", Self.policies.appendingPathComponent("aumos.toml").path, "--receipt", dir + "/r"], "policy adopt takes no --receipt"),
                (["verify", "--pubkey", "abc"], "--pubkey must be an Ed25519 public key"),
            ]
            func docket(_ args: [String]) async throws -> DocketProcess.Output { try await DocketProcess.run(args + ["--data-dir", dir]) }
            for (args, message) in usage {
                let out = try await docket(args)
                #expect(out.status == 64, "\(args): \(out.status) \(out.stderr)")
                #expect(out.stderr.contains(message), "\(args): \(out.stderr)")
            }
            #expect(try await cli.events() == before)
            for view in [["state"], ["timers"], ["timers", "--late"], ["metrics"], ["hall-of-fame"]] {
                let out = try await docket(view + ["--project", "q"])
                #expect(out.status == 1 && out.stderr.contains("unknown-project: no project q in this ledger (projects: p)"), "\(view): \(out.stderr)")
            }
            let early = try await docket(["timers", "--project", "p", "--as-of", "2024-01-01"])
            #expect(early.status == 1 && early.stderr.contains("no project p in this ledger as of 2024-01-01T00:00:00Z"), "\(early.stderr)")
            // So is a view as of the future, which would show clocks running today as breached.
            for view in [["state"], ["timers", "--project", "p"], ["metrics", "--project", "p"], ["history", "R-1"], ["replay"]] {
                for option in ["--as-of", "--known-at"] {
                    let out = try await docket(view + [option, "2030-01-01"])
                    // Named by the option given, not by the protocol's field.
                    #expect(
                        out.status == 1 && out.stderr.contains("bad-request: \(option): 2030-01-01T00:00:00Z is in the future (this node's clock says ")
                            && out.stderr.contains("docket timers --due-within"), "\(view) \(option): \(out.stderr)")
                }
            }
            let replayed = try await docket(["replay", "--at-seq", "2026"])
            #expect(replayed.status == 1 && replayed.stderr.hasSuffix("--at-seq: the log ends at sequence \(before); there is no sequence 2026\n"), "\(replayed.stderr)")
            // A sequence past the end of the log is refused (not shown as the present); so is a
            // history of no report, or of one not yet submitted then.
            for view in [["state"], ["hall-of-fame", "--project", "p"], ["history", "R-1"]] {
                let out = try await docket(view + ["--as-of", "seq:2026"])
                #expect(out.status == 1 && out.stderr.contains("--as-of: the log ends at sequence \(before); there is no sequence 2026"), "\(view): \(out.stderr)")
                // Digits that read as a year or a date are not taken for a sequence unless told.
                for (text, says) in [("2026", "write 2026-01-01 for the date, or seq:2026 for the sequence"), ("20261204", "write 2026-12-04 for the date, or seq:20261204")] {
                    let ambiguous = try await docket(view + ["--as-of", text])
                    #expect(ambiguous.status == 64 && ambiguous.stderr.contains("--as-of \(text) could be a date or a sequence: \(says)"), "\(view): \(ambiguous.stderr)")
                }
            }
            // A malformed report id is bad usage, for a view and a command alike.
            for args in [["history", ""], ["history", "R/1"], ["report", "ack", "R/1", "--assignee", "m"], ["timers", "--report", "bad id"], ["state", "--report", "bad id"]] {
                let malformed = try await docket(args)
                let id = args[0] == "history" ? args[1] : args[2]
                #expect(malformed.status == 64 && malformed.stderr.contains("error: invalid-command: report id \"\(id)\" must be"), "\(malformed.stderr)")
            }
            let unborn = try await docket(["history", "R-1", "--as-of", "1"])
            #expect(unborn.status == 1 && unborn.stderr.contains("unknown-report: no report R-1 as of sequence 1"), "\(unborn.stderr)")
            // A report the other filters leave out is not said to be missing.
            let filtered = try await docket(["state", "--report", "R-1", "--state", "withdrawn", "--severity", "low"])
            #expect(filtered.status == 1 && filtered.stderr.contains("unknown-report: no report R-1 with state withdrawn, severity low as of now"), "\(filtered.stderr)")
            let nowhere = try await docket(["timers", "--report", "R-9"])
            #expect(nowhere.status == 1 && nowhere.stderr.contains("unknown-report: no report R-9 as of now (") && nowhere.stderr.contains("ids are case-sensitive"), "\(nowhere.stderr)")
            let misspelled = try await docket(["history", "r-1"])
            #expect(misspelled.status == 1 && misspelled.stderr.contains("unknown-report: no report r-1: check the id against the reports `docket state` lists"), "\(misspelled.stderr)")
            #expect(try await cli.ok("timers", "--project", "p").stdout.contains("R-1"))

            // A policy too large to record in one event: validate says so, as adopt would.
            let aumos = try String(contentsOf: Self.policies.appendingPathComponent("aumos.toml"), encoding: .utf8)
            let start = try CivilDate("2000-01-01")
            let days = (0..<6000).map { "\"\(CivilDate(daysSinceEpoch: start.daysSinceEpoch + Int64($0)))\"" }
            let section = try #require(aumos.range(of: "\n[acknowledge]"))
            let big = dir + "/big.toml"
            try (aumos[..<section.lowerBound] + "\nholidays = [" + days.joined(separator: ", ") + "]\n" + aumos[section.lowerBound...])
                .write(toFile: big, atomically: true, encoding: .utf8)
            for command in [["policy", "validate", big], ["policy", "adopt", "--project", "p", big, "--data-dir", dir]] {
                let out = try await DocketProcess.run(command)
                #expect(out.status == 1 && out.stderr.contains("the policy is too large to adopt") && out.stderr.contains("6000 holidays"), "\(out.stderr)")
            }
            #expect(try await cli.events() == before + 0)
        }
    }

    @Test("illegal transitions, unknown reports, malformed vectors, declined credit and bad policies are refused with nothing appended")
    func badInput() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "eve", "--credit", "none")
            let before = try await docket.events()
            let aumosPath = Self.policies.appendingPathComponent("aumos.toml").path
            let v2 = dir + "/aumos-v2.toml"
            try (try String(contentsOfFile: aumosPath, encoding: .utf8)).replacingOccurrences(of: "\nversion = 1\n", with: "\nversion = 2\n")
                .write(toFile: v2, atomically: true, encoding: .utf8)
            let cases: [([String], String)] = [
                (["report", "release", "R-1", "--version", "1.0"], "illegal-transition: FixReleased is not allowed on report R-1 in state submitted; allowed: ReportAcknowledged"),
                // …and the commands that record what is allowed.
                (["report", "release", "R-1", "--version", "1.0"], "(the commands: report ack, report assign, report exploited, report credit --accept, report credit --decline, report close, report note)"),
                (["report", "ack", "R-1", "--assignee", "m", "--at", "1776000000"],
                 "--at: invalid time \"1776000000\": expected '-' at position 5 (expected RFC 3339, e.g. 2026-11-21T09:30:00Z); a number is not a time (a Unix time, say): write a date like 2026-01-01 or an RFC 3339 time"),
                (["report", "ack", "R-1", "--assignee", "m", "--at", "2026-03-01T23:59:60Z"], "second 60 is only a leap second's"),
                // A slip of the year would stand in the log for good.
                (["report", "submit", "--project", "p", "--report", "R-3", "--title", "t", "--reporter", "x", "--at", "0001-01-01"],
                 "the event time 0001-01-01T00:00:00Z is before 1990-01-01: check the year"),
                (["policy", "adopt", "--project", "q", aumosPath, "--at", "1969-12-31T23:59:59Z"], "is before 1990-01-01: check the year"),
                (["report", "ack", "R-404", "--assignee", "m"], "unknown-report: no report R-404"),
                (["report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "x"], "report-exists"),
                // Taken, whatever time the submission gives (not "before the report's latest event").
                (["report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "x", "--at", "2025-06-01T00:00:00Z"], "report-exists: report R-1 already exists"),
                (["report", "credit", "R-1", "--person", "eve", "--offer"], "credit-declined: eve reported R-1 to be credited with nothing"),
                (["report", "ack", "R-1", "--assignee", "m", "--at", "2026-13-01T00:00:00Z"], "--at"),
                (["report", "submit", "--project", "bad project", "--title", "t", "--reporter", "x"], "project \"bad project\""),
                (["report", "submit", "--project", "pp", "--report", "R-2", "--title", "t", "--reporter", "x"], "unknown-project: project pp has no policy"),
                (["state", "--as-of", "yesterday"], "--as-of"),
                (["report", "ack", "R-1", "--assignee", "m", "--at", "2099-01-01T00:00:00Z"], "is in the future"),
                (["report", "ack", "R-1", "--assignee", "m", "--at", "2001-01-01T00:00:00Z"], "is before report R-1's latest event"),
                (["timers", "--due-within", "soon"], "--due-within"),
                (["metrics", "--project", "p", "--window", "0d"], "--window \"0d\" must be a positive number"),
                // A value that begins with a dash is still a value, told what is wrong with it.
                (["metrics", "--project", "p", "--window", "-5d"], "--window \"-5d\""),
                (["timers", "--due-within", "-1h"], "--due-within \"-1h\""),
                (["state", "--as-of", "-5"], "--as-of: invalid time \"-5\""),
                (["hall-of-fame", "--project", "p", "--year", "-1"], "--year must be a year from 1970 to 9999"),
                (["replay", "--as-of", "2026-01-01", "--window", "0h"], "--window \"0h\" must be a positive number"),
                (["hall-of-fame", "--project", "p", "--year", "26"], "--year must be a year from 1970 to 9999"),
                (["hall-of-fame", "--project", "p", "--year", "1800"], "--year must be a year from 1970 to 9999"),
                (["hall-of-fame", "--project", "p", "--format", "md"], "Please provide one of 'markdown' and 'json'"),
                (["report", "close", "R-1", "--resolution", "duplicate", "--duplicate-of", "NOPE-9"], "no report NOPE-9 to be a duplicate of"),
                // A policy dated before a report already held to another would move its deadlines after the fact.
                (["policy", "adopt", "--project", "p", v2, "--at", "2025-06-01T00:00:00Z"],
                 "a policy adopted as of 2025-06-01T00:00:00Z would hold 1 report(s) of project p already in the ledger"),
                // A policy's version names its text within the project.
                (["policy", "adopt", "--project", "p", aumosPath], "project p already has this policy (AumOS version 1"),
                (["policy", "adopt", "--project", "p", Self.policies.appendingPathComponent("cert-cc.toml").path],
                 "a new policy needs a higher version than that, not 1"),
                (["policy", "adopt", "--project", "p", v2, "--at", "2024-06-01T00:00:00Z"], "a policy dated before it needs a lower version than that, not 2"),
                // Raw appends to the streams the node writes itself: the lifecycle and schemas are not skipped.
                (["append", "--stream", "report/R-1", "--type", "AdvisoryPublished", "--data", "{}"], "stream report/R-1 is written only by report commands"),
                (["append", "--stream", "project/p", "--type", "PolicyAdopted", "--data", "{}"], "written only by policy commands"),
                (["append", "--stream", "system/tokens", "--type", "TokenRevoked", "--data", "{}"], "written only by the node itself"),
            ]
            // A report id given as a stream: nothing, and a hint at its stream's name.
            let bare = try await DocketProcess.run(["read", "--stream", "R-1", "--data-dir", dir])
            #expect(bare.status == 0 && bare.stdout.isEmpty && bare.stderr.contains("a report's events are in stream report/R-1"), "\(bare.stderr)")
            for (args, message) in cases {
                let out = try await DocketProcess.run(args + ["--data-dir", dir])
                #expect(out.status != 0, "\(args)")
                #expect(out.stderr.contains(message), "\(args): \(out.stderr)")
            }
            _ = try await docket.ok("report", "ack", "R-1", "--assignee", "m")
            // An "extension" to before the 90-day deadline the policy already sets.
            let shorter = try await docket("report", "extend-embargo", "R-1", "--until", (Timestamp.now() + .seconds(30 * 86_400)).rfc3339, "--reason", "x")
            #expect(shorter.status == 1 && shorter.stderr.contains("report R-1's disclosure deadline is already") && shorter.stderr.contains("90d from the report"), "\(shorter.stderr)")
            _ = try await docket.ok("report", "extend-embargo", "R-1", "--until", (Timestamp.now() + .seconds(120 * 86_400)).rfc3339, "--reason", "x", "--reporter-agreed")
            let vector = try await docket("report", "triage", "R-1", "--cvss", "CVSS:3.1/AV:N/AC:L")
            #expect(vector.status == 64 && vector.stderr.contains("malformed CVSS vector"))
            #expect(try await docket.events() == before + 2)

            // A policy with a missing field and a contradiction: every problem, by file, line and field.
            let bad = dir + "/bad.toml"
            try "version = 1\n[fix]\ncritical = \"30d\"\nhigh = \"7d\"\n".write(toFile: bad, atomically: true, encoding: .utf8)
            let malformed = try await DocketProcess.run(["cvss", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"])
            #expect(malformed.status == 64 && malformed.stderr.contains("invalid-cvss"), "\(malformed.stderr)")
            let v = try await DocketProcess.run(["policy", "validate", bad])
            #expect(v.status == 1 && v.stderr.hasPrefix("error: invalid-policy: \(bad):"), "\(v.stderr)")
            let badJSON = try await DocketProcess.run(["policy", "validate", bad, "--json"])
            let badCode = try JSON.parse(badJSON.stderr)["error"]?["code"]
            #expect(badJSON.status == 1 && badJSON.stdout.isEmpty && badCode == "invalid-policy", "\(badJSON.stderr)")
            // Each problem also as an object, for a script (or an editor) to point at.
            let problems = try JSON.parse(badJSON.stderr)["error"]?["details"]?["problems"]?.arrayValue ?? []
            #expect(problems.count >= 2 && problems.allSatisfy { $0["file"] == .string(bad) && ($0["line"]?.intValue ?? 0) >= 1 }, "\(badJSON.stderr)")
            #expect(problems.contains { $0["field"] == "fix.critical" } && problems.contains { $0["field"] == "name" }, "\(badJSON.stderr)")
            let good = try JSON.parse(try await DocketProcess.run(["policy", "validate", Self.policies.appendingPathComponent("aumos.toml").path, "--json"]).stdout)
            #expect(good["valid"] == true && good["name"] == "AumOS" && good["version"] == 1, "\(good)")
            #expect(good["warning"] == nil, "\(good)")
            // A file name (a contributor's, in a CI job) reaches the terminal escaped.
            let escaped = dir + "/f\u{1B}[31mRED.toml"
            try FileManager.default.copyItem(atPath: Self.policies.appendingPathComponent("aumos.toml").path, toPath: escaped)
            let named = try await DocketProcess.run(["policy", "validate", escaped])
            #expect(named.status == 0 && !named.stdout.contains("\u{1B}") && named.stdout.contains(#"f\u{1B}[31mRED.toml: valid policy "AumOS" version 1"#), "\(named.stdout)")
            let adopted = try await docket("policy", "adopt", "--project", "p", bad, "--json")
            let code = try JSON.parse(adopted.stderr)["error"]?["code"]
            #expect(adopted.status == 1 && code == "invalid-policy", "\(adopted.stderr)")
            #expect(v.stderr.contains("bad.toml:") && v.stderr.contains("name") && v.stderr.contains("fix.critical"), "\(v.stderr)")
            // A time zone that does not exist: the file and the line that names it.
            let mars = dir + "/tz.toml"
            let aumos = try String(contentsOf: Self.policies.appendingPathComponent("aumos.toml"), encoding: .utf8)
            let lines = aumos.split(separator: "\n", omittingEmptySubsequences: false)
            let versionLine = try #require(lines.firstIndex { $0.hasPrefix("version") })
            try (lines[...versionLine] + ["time-zone = \"Mars/Olympus\""] + lines[(versionLine + 1)...]).joined(separator: "\n")
                .write(toFile: mars, atomically: true, encoding: .utf8)
            let tz = try await DocketProcess.run(["policy", "validate", mars])
            #expect(tz.status == 1 && tz.stderr.contains("tz.toml:\(versionLine + 2): time-zone: unknown time zone \"Mars/Olympus\""), "\(tz.stderr)")
            // Told with the file's other problems, in one run, not once they are fixed.
            let both = dir + "/tz-and-version.toml"
            try (lines[..<versionLine] + ["version = 0", "time-zone = \"Mars/Olympus\""] + lines[(versionLine + 1)...]).joined(separator: "\n")
                .write(toFile: both, atomically: true, encoding: .utf8)
            let twice = try await DocketProcess.run(["policy", "validate", both])
            #expect(twice.status == 1 && twice.stderr.contains("tz-and-version.toml:\(versionLine + 1): version: must be 1 to"), "\(twice.stderr)")
            #expect(twice.stderr.contains("tz-and-version.toml:\(versionLine + 2): time-zone: unknown time zone \"Mars/Olympus\""), "\(twice.stderr)")
            // Holidays that have run out: valid, with a warning naming the line.
            let stale = dir + "/stale.toml"
            try (lines[...versionLine] + ["holidays = [\"2020-12-25\"]"] + lines[(versionLine + 1)...]).joined(separator: "\n")
                .write(toFile: stale, atomically: true, encoding: .utf8)
            let old = try await DocketProcess.run(["policy", "validate", stale])
            #expect(old.status == 0 && old.stderr.hasPrefix("warning: \(stale):\(versionLine + 2): holidays: the last one listed is 2020-12-25, past: business days after it are counted"), "\(old.stderr)")
            let adopt = try await docket("policy", "adopt", "--project", "p", bad)
            #expect(adopt.status == 1)
            #expect(try await docket.events() == before + 2)
            // A duplicate names a report that had come in by the time of the closing (a history
            // imported out of order must not point back at a later report).
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "X-1", "--title", "t", "--reporter", "x", "--at", "2026-01-01T00:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "X-2", "--title", "t", "--reporter", "y", "--at", "2026-02-01T00:00:00Z")
            let early = try await docket("report", "close", "X-1", "--resolution", "duplicate", "--duplicate-of", "X-2", "--at", "2026-01-15T00:00:00Z")
            #expect(early.status == 1 && early.stderr.contains("report X-2 was submitted at 2026-02-01T00:00:00Z, after this closing"), "\(early.stderr)")
            _ = try await docket.ok("report", "close", "X-2", "--resolution", "duplicate", "--duplicate-of", "X-1", "--at", "2026-02-02T00:00:00Z")
        }
    }

    @Test("a retried command with the same --id appends nothing; a different command reusing it is refused")
    func idempotentRetry() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")
            _ = try await docket.ok("report", "submit", "--project", "p", "--report", "R-1", "--title", "t", "--reporter", "x", "--id", "intake-1")
            _ = try await docket.ok("report", "ack", "R-1", "--assignee", "m", "--id", "ack-1")
            let again = try JSON.parse(try await docket.ok("report", "ack", "R-1", "--assignee", "m", "--id", "ack-1", "--json").stdout)
            #expect(again["duplicate"] == true && again["seq"] == 3)
            let other = try await docket("report", "ack", "R-1", "--assignee", "someone-else", "--id", "ack-1")
            #expect(other.status == 1 && other.stderr.contains("event-id-reused"))
            #expect(try await docket.events() == 3)
        }
    }

    @Test("a submission without --credit gets the project policy's credit-default")
    func creditDefaultFromPolicy() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            _ = try await docket.ok("policy", "adopt", "--project", "aisoc", Self.policies.appendingPathComponent("aisoc.toml").path, "--at", "2025-01-01T00:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "aisoc", "--report", "A1", "--title", "t", "--reporter", "ann")
            _ = try await docket.ok("report", "submit", "--project", "aisoc", "--report", "A2", "--title", "t", "--reporter", "bea", "--credit", "handle")
            try await docket.adopt("other")
            _ = try await docket.ok("report", "submit", "--project", "other", "--report", "O1", "--title", "t", "--reporter", "cy")
            let rows = try await docket.ok("state", "--json").lines.map { try JSON.parse($0) }
            let credit = Dictionary(uniqueKeysWithValues: rows.map { ($0["id"]!.stringValue!, $0["reporter"]?["credit"]?.stringValue ?? "") })
            #expect(credit == ["A1": "none", "A2": "handle", "O1": "named"])
        }
    }

    @Test("anonymous reporters are counted in the hall of fame but never named; undisclosed reports do not count")
    func hallOfFamePrivacy() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("p")
            for (id, handle, credit) in [("A", "ann", "anonymous"), ("B", "bea", "named"), ("C", "cat", "named")] {
                _ = try await docket.ok("report", "submit", "--project", "p", "--report", id, "--title", "t", "--reporter", handle, "--reporter-name", "Secret \(handle)", "--credit", credit, "--at", "2026-02-01T00:00:00Z")
                _ = try await docket.ok("report", "ack", id, "--assignee", "m", "--at", "2026-02-02T00:00:00Z")
                _ = try await docket.ok("report", "triage", id, "--severity", "high", "--at", "2026-02-03T00:00:00Z")
                if id != "C" { _ = try await docket.ok("report", "publish", id, "--at", "2026-03-01T00:00:00Z") }
            }
            let md = try await docket.ok("hall-of-fame", "--project", "p").stdout
            #expect(md.contains("Secret bea (@\u{2060}bea)"))
            #expect(!md.contains("ann") && !md.contains("cat"))
            #expect(md.contains("- and 1 credit to researchers who remain anonymous\n"), "\(md)")
        }
    }

    @Test("a report event that does not decode against its schema is in no view, and the views say so on standard error")
    func undecodableEvents() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            try await docket.adopt("aumos")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "R1", "--title", "t", "--reporter", "ada")
            let clean = try await docket.ok("state", "--json")
            #expect(clean.lines.count == 1 && clean.stderr.isEmpty, "\(clean.stderr)")
            // A submission without a project or a reporter, appended under the lifecycle's nose
            // (the CLI refuses raw appends to report streams; a damaged record reads the same).
            do {
                let store = try EventStore.open(directory: dir)
                defer { store.close() }
                let bad = try ProposedEvent(type: try EventType("ReportSubmitted"), actor: "x", data: .object([("title", .string("no project"))]))
                _ = try await store.append(to: try DomainStreams.report("R2"), events: [bad])
            }
            let warning = "warning: 1 event of report or project streams in this log does not decode against its event schema and is in no view"
            for view in [["state", "--json"], ["timers", "--all"], ["state", "--as-of", "seq:3"]] {
                let out = try await DocketProcess.run(view + ["--data-dir", dir])
                #expect(out.status == 0 && out.stderr.hasPrefix(warning) && !out.stdout.contains("R2"), "\(view): \(out.stderr)")
            }
            let history = try await docket("history", "R2")
            #expect(history.status == 1 && history.stderr.contains("no report R2") && history.stderr.contains("does not decode"), "\(history.stderr)")
        }
    }

    @Test("views resume from a checkpoint that matches the log, and ignore one that does not")
    func checkpoints() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(dir: dir)
            // A few thousand events of synthetic report histories under a policy.
            _ = try await DocketProcess.run(["bench", "views", "--events", "3000", "--passes", "1", "--data-dir", dir])
            let checkpoint = dir + "/views.checkpoint"
            #expect(!FileManager.default.fileExists(atPath: checkpoint))
            let first = try await docket.ok("state", "--json").stdout
            #expect(FileManager.default.fileExists(atPath: checkpoint))
            // It holds every report's title and reporter: readable by the node's user alone.
            #expect((try FileManager.default.attributesOfItem(atPath: checkpoint)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            // As of the last sequence: clocks evaluated at its time, the same in every run.
            let head = String(try await docket.events())
            let timers = try await docket.ok("timers", "--json", "--all", "--as-of", head).stdout
            // Resumed from the checkpoint: the same views.
            #expect(try await docket.ok("state", "--json").stdout == first)
            #expect(try await docket.ok("timers", "--json", "--all", "--as-of", head).stdout == timers)
            // A new event after the checkpoint is folded in on top of it.
            _ = try await docket.ok("report", "submit", "--project", "aisoc", "--report", "NEW-1", "--title", "t", "--reporter", "x")
            let after = try await docket.ok("state", "--json").lines
            #expect(after.count == first.split(separator: "\n").count + 1 && after.last?.contains("NEW-1") == true)
            let resumed = try await docket.ok("state", "--json").stdout
            // verify folds the log again through the checkpoint's sequence: it holds what the log says.
            let verified = try JSON.parse(try await DocketProcess.run(["verify", "--json", "--data-dir", dir]).stdout)
            #expect(verified["intact"] == true && (verified["views_checkpoint_sequence"]?.intValue ?? 0) > 0, "\(verified)")
            // Damaged (a title's bytes changed, and nothing else): it no longer matches its digest,
            // so the views are rebuilt from the log, and the file replaced.
            let good = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
            let title = Data("Authorization bypass in aisoc endpoint 0".utf8)
            let at = try #require(good.range(of: title))
            var damaged = good
            damaged.replaceSubrange(at, with: Data("Typo in the documentation of endpoint 0!".utf8))
            try damaged.write(to: URL(fileURLWithPath: checkpoint))
            #expect(try await docket.ok("state", "--json").stdout == resumed)
            #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) != damaged)
            // Edited, its digest made to match (anyone who can write the file can): the views of
            // this directory resume from it and show the edit, so verify says so; replay folds the
            // log alone, shows the title the log holds, and leaves the checkpoint as it found it.
            var edited = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
            let n = edited[4..<8].reduce(0) { $0 << 8 | Int($1) }
            let payloadStart = 8 + n + SHA256.byteCount
            edited.replaceSubrange(try #require(edited.range(of: title)), with: Data("Typo in the documentation of endpoint 0!".utf8))
            edited.replaceSubrange((8 + n)..<payloadStart, with: Data(SHA256.hash(data: edited[payloadStart...])))
            try edited.write(to: URL(fileURLWithPath: checkpoint))
            #expect(try await docket.ok("state", "--json").stdout.contains("Typo in the documentation"))
            let altered = try await DocketProcess.run(["verify", "--data-dir", dir])
            #expect(altered.status == 3 && altered.stdout.hasPrefix("chain intact: ") && altered.stdout.contains("VIEWS CHECKPOINT ALTERED: views.checkpoint"), "\(altered.stdout)")
            let alteredJSON = try JSON.parse(try await DocketProcess.run(["verify", "--json", "--data-dir", dir]).stdout)
            #expect(alteredJSON["intact"] == false && alteredJSON["chain_intact"] == true && alteredJSON["bad_views_checkpoint_sequence"] != nil, "\(alteredJSON)")
            let replay = try await docket.ok("replay", "--at-seq", head, "--json").stdout
            #expect(!replay.contains("Typo in the documentation") && replay.contains("Authorization bypass in aisoc endpoint 0"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) == edited)
            // A damaged checkpoint is ignored and the views are rebuilt from the log.
            try Data("DKVC garbage".utf8).write(to: URL(fileURLWithPath: checkpoint))
            #expect(try await docket.ok("state", "--json").stdout == resumed)
        }
    }
}

@Suite("docket key, checkpoint and verify --pubkey")
struct CheckpointCommandTests {
    @Test("signed checkpoints verify with the node's public key and fail with another")
    func checkpoints() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/node"
            func docket(_ args: String...) async throws -> DocketProcess.Output { try await DocketProcess.run(args + ["--data-dir", data]) }
            // The private key's own file for the public key: refused.
            let same = try await docket("key", "create", "--pubkey-out", data + "/node.key")
            #expect(same.status == 64 && same.stderr.contains("names the private key's own file"), "\(same.stderr)")
            // Nowhere to put the public key: refused before a key is made.
            let nowhere = try await docket("key", "create", "--pubkey-out", dir + "/missing/pub.hex")
            #expect(nowhere.status == 1 && nowhere.stderr.contains("no key was made"), "\(nowhere.stderr)")
            #expect(!FileManager.default.fileExists(atPath: data + "/node.key"))
            let key = try await docket("key", "create", "--pubkey-out", dir + "/pub.hex")
            #expect(key.status == 0)
            let pub = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(pub.count == 64)
            let mode = try FileManager.default.attributesOfItem(atPath: data + "/node.key")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(try await docket("key", "create").stderr.contains("already exists"))
            for i in 0..<5 { _ = try await docket("append", "--stream", "s", "--type", "T", "--data", "{\"i\":\(i)}") }
            // No checkpoint yet: the key has nothing to vouch for, so verify does not pass on it.
            let unsigned = try await docket("verify", "--pubkey", dir + "/pub.hex")
            #expect(unsigned.status == 3 && unsigned.stdout.contains("NO SIGNED CHECKPOINT"), "\(unsigned.stdout)")
            let c1 = try JSON.parse(try await docket("checkpoint").stdout)
            #expect(c1["size"] == 5 && c1["seq"] == 6)
            _ = try await docket("append", "--stream", "s", "--type", "T", "--data", "{}")
            #expect(try await docket("checkpoint").status == 0)
            let ok = try await docket("verify", "--pubkey", dir + "/pub.hex", "--json")
            #expect(ok.status == 0)
            #expect(try JSON.parse(ok.stdout)["checkpoints_checked"] == 2)
            // Another key: refused, naming the first checkpoint.
            let other = try await DocketProcess.run(["key", "create", "--out", dir + "/other.key", "--data-dir", data]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let bad = try await docket("verify", "--pubkey", other)
            #expect(bad.status == 3 && bad.stdout.contains("checkpoint at sequence 6"))
            #expect(try await docket("verify", "--pubkey", "not-hex").status == 64)
        }
    }

    @Test("a ledger signed by two nodes' keys (a failover): verify and receipt verify trust every key given, and only those")
    func twoKeys() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/node"
            func docket(_ args: String...) async throws -> DocketProcess.Output { try await DocketProcess.run(args + ["--data-dir", data]) }
            let first = try await docket("key", "create").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for i in 0..<3 { _ = try await docket("append", "--stream", "s", "--type", "T", "--data", "{\"i\":\(i)}") }
            #expect(try await docket("checkpoint").status == 0)
            #expect(try await docket("receipt", "issue", "2", "--out", dir + "/r2.json").status == 0)
            // The node that takes over signs with its own key.
            try FileManager.default.removeItem(atPath: data + "/node.key")
            let second = try await docket("key", "create").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try await docket("append", "--stream", "s", "--type", "T", "--data", "{}")
            #expect(try await docket("checkpoint").status == 0)
            let one = try await docket("verify", "--pubkey", first)
            #expect(one.status == 3 && one.stdout.contains("than the one given"), "\(one.stdout)")
            let both = try await docket("verify", "--pubkey", first, "--pubkey", second, "--json")
            #expect(both.status == 0, "\(both.stdout)")
            #expect(try JSON.parse(both.stdout)["checkpoints_checked"] == 2)
            // The receipt (signed by the first node) proved against the second node's checkpoint.
            #expect(try await docket("receipt", "prove", dir + "/r2.json").status == 0)
            let firstOnly = try await DocketProcess.run(["receipt", "verify", dir + "/r2.json", "--pubkey", first])
            #expect(firstOnly.status == 3 && firstOnly.stdout.contains("ok     receipt signature") && firstOnly.stdout.contains("FAILED checkpoint signature"), "\(firstOnly.stdout)")
            let trusted = try await DocketProcess.run(["receipt", "verify", dir + "/r2.json", "--pubkey", first, "--pubkey", second])
            #expect(trusted.status == 0, "\(trusted.stdout)")
            // A key given twice, in capitals, is the one key; a key file that is not there is bad usage.
            let repeated = try await docket("verify", "--pubkey", first.uppercased(), "--pubkey", first)
            #expect(repeated.status == 3 && repeated.stdout.contains("than the one given"), "\(repeated.stdout)")
            let noFile = try await docket("verify", "--pubkey", dir + "/missing.pub")
            #expect(noFile.status == 64 && noFile.stderr.contains("--pubkey: no file"), "\(noFile.stderr)")
            let none = try await DocketProcess.run(["receipt", "verify", dir + "/r2.json"])
            #expect(none.status == 64 && none.stderr.contains("--pubkey"), "\(none.stderr)")
        }
    }
}
