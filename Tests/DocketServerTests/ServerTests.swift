import DocketClient
import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import DocketWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The node over real loopback sockets: every operation, roles, bad frames, limits, shutdown.
@Suite("Server", .serialized)
struct ServerTests {
    static let aumos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas/policies/aumos.toml")

    @Test("status, append, read, command, query, subscribe and admin actions over a real socket")
    func everyOperation() async throws {
        let node = try await TestNode()
        let client = node.client()
        do {
            let status = try await client.status()
            #expect(status["lastSequence"] == 1 && status["principal"] == "admin" && status["connections"] == 1)

            // Raw append (admin), retried idempotently by event id.
            let e = try ProposedEvent(id: try EventID("raw-1"), type: try EventType("Note"), actor: "ignored", data: ["x": 1])
            let a = try await client.append(to: try StreamName("misc"), expecting: .noStream, events: [e])
            #expect(a.streamVersion == 1 && !a.duplicate)
            #expect(try await client.append(to: try StreamName("misc"), events: [e]).duplicate)
            let conflict = await #expect(throws: DocketClientError.self) {
                try await client.append(to: try StreamName("misc"), expecting: .noStream, events: [try ProposedEvent(type: try EventType("Note"), actor: "a", data: [:])])
            }
            #expect(conflict?.code == "wrong-expected-version")
            let read = try await client.read(from: 1, limit: 10)
            #expect(read.count == 2 && read[1].actor == "root")  // the server records the token's holder

            // Policy, commands and views.
            let text = try String(contentsOf: Self.aumos, encoding: .utf8)
            let policy = try Policy.parse(text, file: "aumos.toml")
            _ = try await client.admin("policy-adopt", [
                ("project", "aumos"), ("policy", .string(policy.encodeCanonical())), ("zone", "UTC"), ("zoneTransitions", [":0"]),
                ("at", "2025-01-01T00:00:00Z"),
            ])
            // Zone rules that are not the policy's own are refused.
            let mismatch = await #expect(throws: DocketClientError.self) {
                try await client.admin("policy-adopt", [("project", "aumos"), ("policy", .string(policy.encodeCanonical())), ("zone", "+05:30"), ("zoneTransitions", [":19800"])])
            }
            #expect(mismatch?.code == "bad-request")
            // Rules for the policy's zone that this node's tz database contradicts (stale tzdata
            // on the client, or rules of another zone under its name) are refused: recorded, they
            // would set the deadlines of every report held to the policy for good.
            let berlin = try Policy.parse("name = \"B\"\nversion = 1\ntime-zone = \"Europe/Berlin\"\n[acknowledge]\nwithin = \"1bd\"\n", file: "b.toml")
            let tokyo = try TimeZoneDatabase.rules("Asia/Tokyo")
            let forged = try ZoneRules(identifier: "Europe/Berlin", initialUTCOffsetSeconds: tokyo.initialUTCOffsetSeconds, transitions: tokyo.transitions)
            func adoptBerlin(_ rules: ZoneRules) async throws -> Value {
                try await client.admin("policy-adopt", [
                    ("project", "berlin"), ("policy", .string(berlin.encodeCanonical())), ("zone", "Europe/Berlin"),
                    ("zoneTransitions", .array(rules.encodedTransitions.map { .string($0) })),
                ])
            }
            let stale = await #expect(throws: DocketClientError.self) { try await adoptBerlin(forged) }
            #expect(
                stale?.code == "invalid-command" && stale?.description.contains("the rules of time zone Europe/Berlin sent with the policy differ from this node's tz database") == true
                    && stale?.description.contains(" the policy's say UTC+09:00, the node's UTC+0") == true, "\(String(describing: stale))")
            #expect(try await adoptBerlin(try TimeZoneDatabase.rules("Europe/Berlin"))["version"] == 1)
            // Only an admin dates a project event (to import a history): a maintainer's adoption
            // takes effect when it is recorded, so it cannot be slipped in under the reports
            // already held to a policy. Nobody dates one ahead.
            let maria = node.client(try await node.token(.maintainer, project: "aumos", name: "maria"))
            func adopt(_ by: DocketClient, at: String?) async throws -> Value {
                try await by.admin("policy-adopt", [
                    ("project", "aumos"), ("policy", .string(policy.encodeCanonical())), ("zone", "UTC"), ("zoneTransitions", [":0"]),
                ] + (at.map { [("at", Value.string($0))] } ?? []))
            }
            let backdated = await #expect(throws: DocketClientError.self) { try await adopt(maria, at: "2024-06-01T00:00:00Z") }
            #expect(backdated?.code == "forbidden" && backdated?.description.contains("only an admin can set the time") == true)
            let ahead = await #expect(throws: DocketClientError.self) { try await adopt(client, at: "2099-01-01T00:00:00Z") }
            #expect(ahead?.code == "invalid-command" && ahead?.description.contains("in the future") == true)
            await maria.close()
            // Who may adopt is checked before the policy is read, and a file of nothing but errors
            // gets the first hundred of them, not an answer many times its size.
            let garbage = String(repeating: "=\n", count: 5000)
            let eve = node.client(try await node.token(.reporter, name: "eve"))
            let notTheirs = await #expect(throws: DocketClientError.self) {
                try await eve.admin("policy-adopt", [("project", "aumos"), ("policy", .string(garbage)), ("zone", "UTC"), ("zoneTransitions", [":0"])])
            }
            #expect(notTheirs?.code == "forbidden")
            await eve.close()
            let long = await #expect(throws: DocketClientError.self) {
                try await client.admin("policy-adopt", [("project", "aumos"), ("policy", .string(garbage)), ("zone", "UTC"), ("zoneTransitions", [":0"])])
            }
            #expect(long?.code == "policy" && (long?.description.split(separator: "\n").count ?? 0) <= 101 && long?.description.contains("more") == true, "\(String(describing: long?.description.prefix(300)))")
            // Over the wire too, a submission may take its credit preference from the policy.
            let aisoc = try Policy.parse(try String(contentsOf: Self.aumos.deletingLastPathComponent().appendingPathComponent("aisoc.toml"), encoding: .utf8), file: "aisoc.toml")
            _ = try await client.admin("policy-adopt", [("project", "aisoc"), ("policy", .string(aisoc.encodeCanonical())), ("zone", "UTC"), ("zoneTransitions", [":0"])])
            _ = try await client.command(.submit(ReportSubmitted(project: "aisoc", title: "x", reporter: Reporter(handle: "eve"), claimedSeverity: .critical)), report: "R0", creditFromPolicy: true)
            let r0 = try await client.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "R0"))
            #expect(r0["rows"]?.arrayValue?.first?["reporter"]?["credit"] == "none")  // aisoc: credit-default = "none"
            // The severity the reporter claimed is shown, before any triage.
            #expect(r0["rows"]?.arrayValue?.first?["claimedSeverity"] == "critical" && r0["rows"]?.arrayValue?.first?["severity"] == nil)
            let submitted = try await client.command(.submit(ReportSubmitted(project: "aumos", title: "RLS", reporter: Reporter(handle: "ada"))), report: "R1", at: try Timestamp(rfc3339: "2025-11-21T15:00:00Z"))
            #expect(submitted["state"] == "submitted")
            _ = try await client.command(.acknowledge(assignee: "maria"), report: "R1", at: try Timestamp(rfc3339: "2025-11-22T10:00:00Z"))
            let illegal = await #expect(throws: DocketClientError.self) { try await client.command(.release(versions: ["1"]), report: "R1") }
            if case .server(let body)? = illegal {
                #expect(body.code == "illegal-transition" && body.details?["state"] == "acknowledged")
            } else { Issue.record("expected a server error") }
            let state = try await client.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "R1"))
            #expect(state["rows"]?.arrayValue?.first?["state"] == "acknowledged")
            let timers = try await client.query(.timers(project: nil, report: "R1", dueWithin: nil, late: false, all: true), asOf: .time(try Timestamp(rfc3339: "2025-11-23T00:00:00Z")))
            #expect(timers["rows"]?.arrayValue?.first { $0["clock"] == "acknowledge" }?["state"] == "met")
            #expect(try await client.query(.history(report: "R1"))["rows"]?.arrayValue?.count == 2)

            // Subscribe: catch up, then tail a live append.
            var iterator = client.subscribe(from: 1, window: 2).makeAsyncIterator()
            var seen: [UInt64] = []
            for _ in 0..<10 { if let e = try await iterator.next() { seen.append(e.sequence) } }
            #expect(seen == Array(1...10))
            let writer = node.client()
            _ = try await writer.command(.note("live"), report: "R1")
            let live = try await iterator.next()
            #expect(live?.type.rawValue == "NoteAdded")
            await writer.close()

            // Tokens over the wire; the secret is never stored.
            let created = try await client.admin("token-create", [("role", "auditor"), ("name", "audit")])
            let secret = try #require(created["token"]?.stringValue)
            let raw = try node.store.read(stream: Tokens.stream).map { JSON.serialize($0.data) }.joined()
            #expect(!raw.contains(String(secret.split(separator: "_")[2])))
        } catch {
            Issue.record("\(error)")
        }
        await client.close()
        await node.stop()
    }

    @Test("roles: reporters see and touch only their own reports; maintainers only their project; replicas and auditors do not write")
    func roles() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha", "beta")
        let admin = node.client()
        for (id, project, reporter) in [("A1", "alpha", "ann"), ("A2", "alpha", "bob"), ("B1", "beta", "ann")] {
            _ = try await admin.command(.submit(ReportSubmitted(project: project, title: "secret \(id)", reporter: Reporter(handle: reporter, contact: "\(reporter)@x"))), report: id)
        }
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        let rows = try await ann.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        #expect(Set(rows.compactMap { $0["id"]?.stringValue }) == ["A1", "B1"])
        let other = await #expect(throws: DocketClientError.self) { try await ann.query(.history(report: "A2")) }
        #expect(other?.code == "unknown-report")
        let respond = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: "x"), report: "A2") }
        #expect(respond?.code == "unknown-report")
        let ack = await #expect(throws: DocketClientError.self) { try await ann.command(.acknowledge(assignee: "ann"), report: "A1") }
        #expect(ack?.code == "forbidden")
        let impersonate = await #expect(throws: DocketClientError.self) {
            try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "bob"))), report: "A9")
        }
        #expect(impersonate?.code == "forbidden")
        _ = try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "mine", reporter: Reporter(handle: "ann"))), report: "A3")
        let backdated = await #expect(throws: DocketClientError.self) {
            try await ann.command(.respond(summary: "x"), report: "A3", at: try Timestamp(rfc3339: "2020-01-01T00:00:00Z"))
        }
        #expect(backdated?.code == "forbidden")
        // Her response is her answer: asked for one, she is refused without it; not asked, she is
        // told so first (the lifecycle's refusal); on another's report, as any command is, as no report.
        let unasked = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: nil), report: "A3") }
        #expect(unasked?.code == "illegal-transition", "\(String(describing: unasked))")
        _ = try await admin.command(.acknowledge(assignee: "m"), report: "A3")
        _ = try await admin.command(.requestInfo(question: "which version?"), report: "A3")
        let empty = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: nil), report: "A3") }
        #expect(empty?.code == "invalid-command" && empty?.description.contains("must carry the answer (--summary TEXT)") == true, "\(String(describing: empty))")
        let emptyOther = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: nil), report: "A2") }
        #expect(emptyOther?.code == "unknown-report")
        _ = try await ann.command(.respond(summary: "2.1"), report: "A3")
        let past = await #expect(throws: DocketClientError.self) {
            try await ann.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .sequence(1))
        }
        #expect(past?.code == "forbidden")
        let raw = await #expect(throws: DocketClientError.self) { try await ann.read(from: 1) }
        #expect(raw?.code == "forbidden")
        // Nor may she follow the raw log: a subscription carries every report, contacts included.
        var annFeed = ann.subscribe(from: 1).makeAsyncIterator()
        let annSubscribed = await #expect(throws: DocketClientError.self) { _ = try await annFeed.next() }
        #expect(annSubscribed?.code == "forbidden")

        let maintainer = node.client(try await node.token(.maintainer, project: "alpha", name: "maria"))
        let seen = try await maintainer.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        #expect(Set(seen.compactMap { $0["project"]?.stringValue }) == ["alpha"])
        let acknowledged = try #require(try await maintainer.command(.acknowledge(assignee: "maria"), report: "A1")["seq"]?.intValue)
        let head = node.store.head.sequence
        // As of a sequence, views are evaluated when that event was recorded: of her project's
        // events, not another's (which would tell her when each of beta's records was made).
        let asOfOwn = try await maintainer.query(.replay(window: .seconds(86_400)), asOf: .sequence(UInt64(acknowledged)))
        let ownRecordedAt = try node.store.event(at: UInt64(acknowledged))?.recordedAt
        #expect(asOfOwn["evaluatedAt"]?.stringValue == ownRecordedAt?.rfc3339)
        let betaSubmitted = try #require(try node.store.read(stream: try DomainStreams.report("B1")).first?.sequence)
        for n in [betaSubmitted, 1] {  // beta's report, and the log's first event (unless it is alpha's)
            guard try node.store.event(at: n)?.stream.rawValue != "project/alpha" else { continue }
            let other = await #expect(throws: DocketClientError.self) {
                try await maintainer.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .sequence(n))
            }
            #expect(other?.code == "forbidden" && other?.description.contains("is not an event of project alpha's") == true, "\(String(describing: other))")
        }
        #expect(try await admin.query(.replay(window: .seconds(86_400)), asOf: .sequence(betaSubmitted))["evaluatedAt"] != nil)
        // Nor is she told the head, which, polled, would show when beta's records are made: not by
        // STATUS, nor by the refusal of a sequence past it.
        let maintainerStatus = try await maintainer.status()
        #expect(maintainerStatus["principal"] == "maintainer" && maintainerStatus["lastSequence"] == nil && maintainerStatus["appendRate"] == nil)
        #expect(try await admin.status()["lastSequence"] != nil)
        let pastHead = await #expect(throws: DocketClientError.self) {
            try await maintainer.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .sequence(head + 100))
        }
        #expect(pastHead?.code == "forbidden" && pastHead?.description.contains("the log ends at") == false, "\(String(describing: pastHead))")
        // Another project's report is one she cannot tell from a report that does not exist.
        let otherProject = await #expect(throws: DocketClientError.self) { try await maintainer.command(.acknowledge(assignee: "maria"), report: "B1") }
        #expect(otherProject?.code == "unknown-report")
        #expect(node.store.head.sequence == head)
        // The raw log holds every project's reports: not hers to read or follow.
        let maintainerRead = await #expect(throws: DocketClientError.self) { try await maintainer.read(from: 1) }
        #expect(maintainerRead?.code == "forbidden")
        var maintainerFeed = maintainer.subscribe(from: 1).makeAsyncIterator()
        let maintainerSubscribed = await #expect(throws: DocketClientError.self) { _ = try await maintainerFeed.next() }
        #expect(maintainerSubscribed?.code == "forbidden")
        // Programme metrics are the project's own: its maintainers', not another project's, nor reporters'.
        let quarter = Duration.seconds(90 * 86_400)
        #expect(try await maintainer.query(.metrics(project: "alpha", window: quarter))["reports"] == 3)  // A1, A2 and A3
        for (who, client) in [("maintainer of alpha", maintainer), ("reporter", ann)] {
            let refused = await #expect(throws: DocketClientError.self) { try await client.query(.metrics(project: "beta", window: quarter)) }
            #expect(refused?.code == "forbidden", "\(who)")
        }
        let ownProject = await #expect(throws: DocketClientError.self) { try await ann.query(.metrics(project: "alpha", window: quarter)) }
        #expect(ownProject?.code == "forbidden")
        // Who a report is assigned to is the project's business: the reporter's row does not say,
        // nor does filtering on it tell her (her history hides the assignments too).
        let assigned = try await maintainer.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "A1"))["rows"]?.arrayValue
        #expect(assigned?.first?["assignee"] == "maria")
        let annRow = try await ann.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "A1"))["rows"]?.arrayValue
        #expect(annRow?.count == 1 && annRow?.first?["assignee"] == nil && annRow?.first?["state"] == "acknowledged")
        let byAssignee = await #expect(throws: DocketClientError.self) {
            try await ann.query(.state(project: nil, state: nil, severity: nil, assignee: "maria", report: nil))
        }
        #expect(byAssignee?.code == "forbidden")

        let replica = node.client(try await node.token(.replica, name: "r1"))
        #expect(try await replica.read(from: 1).count > 0)
        let append = await #expect(throws: DocketClientError.self) {
            try await replica.append(to: try StreamName("x"), events: [try ProposedEvent(type: try EventType("T"), actor: "a", data: [:])])
        }
        #expect(append?.code == "forbidden")
        let auditor = node.client(try await node.token(.auditor, name: "aud"))
        let audited = try await auditor.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        #expect(audited.count == 4)
        // Contacts are personal data: not for auditors, in state or in history.
        #expect(audited.allSatisfy { $0["reporter"]?["contact"] == nil })
        let auditedHistory = try await auditor.query(.history(report: "A1"))["rows"]?.arrayValue ?? []
        #expect(!auditedHistory.isEmpty && !JSON.serialize(.array(auditedHistory)).contains("ann@x"))
        // Nor in the raw log: READ or a subscription.
        let auditedLog = try await auditor.read(from: 1)
        #expect(auditedLog.contains { $0.type.rawValue == "ReportSubmitted" } && !auditedLog.contains { $0.data["reporter"]?["contact"] != nil })
        var subscription = auditor.subscribe(from: 1, window: 64).makeAsyncIterator()
        var streamed: [RecordedEvent] = []
        while streamed.count < auditedLog.count, let e = try await subscription.next() { streamed.append(e) }
        #expect(streamed.count == auditedLog.count && !streamed.contains { $0.data["reporter"]?["contact"] != nil })
        #expect(try await admin.read(from: 1).contains { $0.data["reporter"]?["contact"] == "ann@x" })
        // Reporters see what happened to their report, not internal notes or other people's credit.
        _ = try await admin.command(.note("internal: suspect a duplicate"), report: "A1")
        _ = try await admin.command(.offerCredit(person: "zed", type: .analyst), report: "A1")
        _ = try await admin.command(.exploited(source: "a customer's incident report"), report: "A1")
        // Raw appends to a report's stream are refused, even an admin's …
        let memo = try ProposedEvent(type: try EventType("TriageMemo"), actor: "admin", data: ["text": "internal"])
        let rawRefused = await #expect(throws: DocketClientError.self) { try await admin.append(to: try DomainStreams.report("A1"), events: [memo]) }
        #expect(rawRefused?.code == "forbidden" && rawRefused?.description.contains("written only by report commands") == true, "\(String(describing: rawRefused))")
        // … a combining mark after the slash included: joined to it, "/" and the mark are one
        // `Character`, which `hasPrefix("report/")` does not match, but the views read the stream
        // as a report's, by its bytes. So for a project's and the node's own streams.
        for stream in ["report/\u{301}A1", "project/\u{301}p", "system/\u{301}tokens"] {
            let refused = await #expect(throws: DocketClientError.self) { try await admin.append(to: try StreamName(stream), events: [memo]) }
            #expect(refused?.code == "forbidden" && refused?.description.contains("written only by") == true, "\(stream): \(String(describing: refused))")
        }
        // … but a log may hold an event of a type she is not shown (written by another version, say):
        // it is not a lifecycle event she is shown.
        _ = try await node.store.append(to: try DomainStreams.report("A1"), events: [memo])
        let annHistory = try await ann.query(.history(report: "A1"))["rows"]?.arrayValue ?? []
        let types = annHistory.compactMap { $0["type"]?.stringValue }
        #expect(types.contains("ReportSubmitted") && !types.contains("NoteAdded") && !types.contains("CreditOffered") && !types.contains("TriageMemo"))
        // Exploitation moves her deadline, so she sees it; not where word of it came from.
        #expect(types.contains("ExploitationObserved") && !JSON.serialize(.array(annHistory)).contains("incident report"))
        #expect(JSON.serialize(.array(try await admin.query(.history(report: "A1"))["rows"]?.arrayValue ?? [])).contains("incident report"))
        #expect(JSON.serialize(.array(annHistory)).contains("ann@x"))  // her own contact
        let annAck = annHistory.first { $0["type"] == "ReportAcknowledged" }
        #expect(annAck != nil && annAck?["data"]?["assignee"] == nil)
        let auditorRefused = await #expect(throws: DocketClientError.self) { try await auditor.command(.note("x"), report: "A1") }
        #expect(auditorRefused?.code == "forbidden" && auditorRefused?.description.contains("an auditor token cannot change reports") == true)

        for c in [admin, ann, maintainer, replica, auditor] { await c.close() }
        await node.stop()
    }

    @Test("the policy view: every token but a replica's reads what a project promises, each version with its text and which one a report submitted now is held to")
    func policyView() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha", "beta")
        let policy = try Policy.parse(SyntheticReports.policyText, file: "synthetic")
        var next = policy
        next.version += 1
        _ = try await node.ledger.appendProjectEvent(
            .policyAdopted(PolicyAdopted(policyText: next.encodeCanonical(), zone: .utc)), project: "alpha", as: .local(actor: "test"), at: nil)
        let readers = [
            node.client(try await node.token(.reporter, name: "ann")), node.client(try await node.token(.maintainer, project: "beta", name: "mo")),
            node.client(try await node.token(.auditor, name: "aud")), node.client(),
        ]
        for reader in readers {
            let answer = try await reader.query(.policy(project: "alpha"))
            let policies = answer["policies"]?.arrayValue ?? []
            #expect(answer["project"] == "alpha" && policies.map { $0["version"]?.intValue } == [Int64(policy.version), Int64(next.version)], "\(answer)")
            #expect(policies.map { $0["inForce"] } == [false, true] && policies.map { $0["text"]?.stringValue } == [policy.encodeCanonical(), next.encodeCanonical()])
            #expect(policies.allSatisfy { $0["name"]?.stringValue == policy.name && $0["seq"]?.intValue != nil && $0["adoptedAt"]?.stringValue != nil })
            let unknown = await #expect(throws: DocketClientError.self) { try await reader.query(.policy(project: "gamma")) }
            #expect(unknown?.code == "unknown-project")
            await reader.close()
        }
        // As of the first adoption, the first version alone, in force then.
        let admin = node.client()
        let first = try #require(try await admin.query(.policy(project: "alpha"))["policies"]?.arrayValue?.first?["seq"]?.intValue)
        let then = try await admin.query(.policy(project: "alpha"), asOf: .sequence(UInt64(first)))["policies"]?.arrayValue ?? []
        #expect(then.count == 1 && then.first?["inForce"] == true && then.first?["version"]?.intValue == Int64(policy.version), "\(then)")
        // An adoption dated a little ahead of the node's clock is listed, not yet in force; the
        // replay's policy for the project is the one in force too, not the last adopted.
        var ahead = policy
        ahead.version += 2
        _ = try await node.ledger.appendProjectEvent(
            .policyAdopted(PolicyAdopted(policyText: ahead.encodeCanonical(), zone: .utc)), project: "beta", as: .local(actor: "test"),
            at: Timestamp.now() + .seconds(120))
        let beta = try await admin.query(.policy(project: "beta"))["policies"]?.arrayValue ?? []
        #expect(beta.map { $0["version"]?.intValue } == [Int64(policy.version), Int64(ahead.version)] && beta.map { $0["inForce"] } == [true, false], "\(beta)")
        let replayed = try await admin.query(.replay(window: .seconds(86_400)))["projects"]?.arrayValue ?? []
        let betaPolicy = replayed.first { $0["project"] == "beta" }?["policy"]
        #expect(betaPolicy?["version"]?.intValue == Int64(policy.version), "\(String(describing: betaPolicy))")
        await admin.close()
        let replica = node.client(try await node.token(.replica, name: "r"))
        let refused = await #expect(throws: DocketClientError.self) { try await replica.query(.policy(project: "alpha")) }
        #expect(refused?.code == "forbidden")
        await replica.close()
        await node.stop()
    }

    @Test("a reporter's illegal transition lists only what a reporter may record in that state: not whether a fix was started after the advisory")
    func reporterAllowedList() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))), report: "A1")
        _ = try await admin.command(.acknowledge(assignee: "m"), report: "A1")
        _ = try await admin.command(.triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: "A1")
        _ = try await admin.command(.publish(ghsa: nil, cve: nil, url: nil), report: "A1")
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        var seen: [String] = []
        for step in 0..<2 {
            // The second time a fix was started after the advisory: the answer is the same.
            if step == 1 { _ = try await admin.command(.startFix(branch: "private/fix"), report: "A1") }
            let refused = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: "more"), report: "A1") }
            guard case .server(let body)? = refused else { Issue.record("expected a server error"); continue }
            #expect(body.code == "illegal-transition" && body.details?["allowed"] == ["CreditAccepted", "CreditDeclined"], "\(body)")
            #expect(!body.message.contains("Fix") && body.message.hasSuffix("allowed: CreditAccepted, CreditDeclined"), "\(body.message)")
            seen.append(body.message)
        }
        #expect(seen.count == 2 && seen[0] == seen[1])
        // Once she declined credit, all she may record there is that she accepts it after all.
        _ = try await ann.command(.declineCredit(person: "ann"), report: "A1")
        let none = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: "more"), report: "A1") }
        guard case .server(let declined)? = none else { Issue.record("expected a server error, got \(String(describing: none))"); return }
        #expect(declined.details?["allowed"] == ["CreditAccepted"] && declined.message.hasSuffix("allowed: CreditAccepted"), "\(declined)")
        // The maintainers' answer lists what the report accepts.
        let theirs = await #expect(throws: DocketClientError.self) { try await admin.command(.startFix(branch: nil), report: "A1") }
        guard case .server(let body)? = theirs else { Issue.record("expected a server error, got \(String(describing: theirs))"); return }
        #expect(body.details?["allowed"]?.arrayValue?.contains("FixStarted") == false && body.details?["allowed"]?.arrayValue?.contains("FixReleased") == true, "\(body)")
        for c in [admin, ann] { await c.close() }
        await node.stop()
    }

    @Test("a duplicate names its original only to those who may see it: not another reporter's report, in state or history")
    func duplicateLinks() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        for (id, reporter) in [("BOB-1", "bob"), ("ANN-1", "ann"), ("ANN-2", "ann")] {
            _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t \(id)", reporter: Reporter(handle: reporter))), report: id)
        }
        // (In this order: a report closed as a duplicate is no original to name.)
        _ = try await admin.command(.close(.duplicate, duplicateOf: "ANN-1", reason: nil), report: "ANN-2")
        _ = try await admin.command(.close(.duplicate, duplicateOf: "BOB-1", reason: "known issue"), report: "ANN-1")
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        let rows = try await ann.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        let byID = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r["id"]?.stringValue.map { ($0, r) } })
        // Closed as a duplicate, with the reason, but not of which report: BOB-1 is not hers.
        #expect(byID["ANN-1"]?["resolution"] == "duplicate" && byID["ANN-1"]?["duplicateOf"] == nil, "\(rows)")
        #expect(byID["ANN-2"]?["duplicateOf"] == "ANN-1", "\(rows)")
        // When each was closed; an open report has no such field.
        #expect(byID["ANN-1"]?["closedAt"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) } != nil && byID["ANN-2"]?["closedAt"] != nil, "\(rows)")
        let open = try await admin.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "BOB-1"))["rows"]?.arrayValue ?? []
        #expect(open.count == 1 && open.first?["closedAt"] == nil, "\(open)")
        let history = JSON.serialize(.array(try await ann.query(.history(report: "ANN-1"))["rows"]?.arrayValue ?? []))
        #expect(history.contains("ReportClosed") && history.contains("known issue") && !history.contains("BOB-1"), "\(history)")
        #expect(JSON.serialize(.array(try await ann.query(.history(report: "ANN-2"))["rows"]?.arrayValue ?? [])).contains("ANN-1"))
        // Those who may see the original see the link.
        let maria = node.client(try await node.token(.maintainer, project: "alpha", name: "maria"))
        let seen = try await maria.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "ANN-1"))["rows"]?.arrayValue ?? []
        #expect(seen.first?["duplicateOf"] == "BOB-1")
        #expect(JSON.serialize(.array(try await maria.query(.history(report: "ANN-1"))["rows"]?.arrayValue ?? [])).contains("BOB-1"))
        for c in [admin, ann, maria] { await c.close() }
        await node.stop()
    }

    @Test("a reporter who asked for no credit is offered none and declines nothing; they or an admin can record that they opt in, a maintainer cannot")
    func noCreditIsTheirsToLift() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        for (id, handle) in [("N1", "nia"), ("N2", "ned")] {
            _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: handle, name: handle.uppercased(), credit: .none))), report: id)
            _ = try await admin.command(.acknowledge(assignee: "maria"), report: id)
        }
        let maria = node.client(try await node.token(.maintainer, project: "alpha", name: "maria"))
        let before = node.store.head.sequence
        let offered = await #expect(throws: DocketClientError.self) { try await maria.command(.offerCredit(person: "nia", type: .finder), report: "N1") }
        #expect(offered?.code == "credit-declined")
        let declined = await #expect(throws: DocketClientError.self) { try await maria.command(.declineCredit(person: "nia"), report: "N1") }
        #expect(declined?.code == "credit-declined" && declined?.description.contains("nothing to decline") == true)
        let optedIn = await #expect(throws: DocketClientError.self) {
            try await maria.command(.acceptCredit(person: "nia", displayName: nil, preference: .named), report: "N1")
        }
        #expect(optedIn?.code == "forbidden" && optedIn?.description.contains("only an admin, or the reporter with their own token") == true)
        #expect(node.store.head.sequence == before)
        // Nia opts in herself; an admin records Ned's (who wrote by mail).
        let nia = node.client(try await node.token(.reporter, name: "nia"))
        _ = try await nia.command(.acceptCredit(person: "nia", displayName: "Nia N.", preference: .named), report: "N1")
        _ = try await admin.command(.acceptCredit(person: "ned", displayName: nil, preference: .handle), report: "N2")
        let rows = try await admin.query(.state(project: "alpha", state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        #expect(rows.map { $0["reporter"]?["credit"]?.stringValue ?? "?" } == ["named", "handle"], "\(rows)")
        await nia.close()
        await maria.close()
        await admin.close()
        await node.stop()
    }

    @Test("someone who declined credit is offered none again; they or an admin can record that they changed their mind, a maintainer cannot")
    func declinedCreditIsTheirsToTakeBack() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann", name: "Ann"))), report: "A1")
        _ = try await admin.command(.acknowledge(assignee: "maria"), report: "A1")
        _ = try await admin.command(.offerCredit(person: "zed", type: .analyst), report: "A1")
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        _ = try await ann.command(.declineCredit(person: "ann"), report: "A1")
        _ = try await admin.command(.declineCredit(person: "zed"), report: "A1")
        let maria = node.client(try await node.token(.maintainer, project: "alpha", name: "maria"))
        let before = node.store.head.sequence
        for person in ["ann", "zed"] {
            let offered = await #expect(throws: DocketClientError.self) { try await maria.command(.offerCredit(person: person, type: .finder), report: "A1") }
            #expect(offered?.code == "credit-declined", "\(person)")
            let accepted = await #expect(throws: DocketClientError.self) {
                try await maria.command(.acceptCredit(person: person, displayName: nil, preference: .anonymous), report: "A1")
            }
            #expect(accepted?.code == "forbidden" && accepted?.description.contains("only an admin") == true, "\(String(describing: accepted))")
        }
        // Without saying how, even she is refused: her decline stands until she says how to credit her.
        let unsaid = await #expect(throws: DocketClientError.self) { try await ann.command(.acceptCredit(person: "ann", displayName: nil, preference: nil), report: "A1") }
        #expect(unsaid?.code == "credit-declined" && unsaid?.description.contains("--preference") == true, "\(String(describing: unsaid))")
        #expect(node.store.head.sequence == before)
        // Her refusal lists accepting as what she may still record.
        let refused = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: "more"), report: "A1") }
        guard case .server(let body)? = refused else { Issue.record("expected a server error, got \(String(describing: refused))"); return }
        #expect(body.details?["allowed"] == ["CreditAccepted"], "\(body)")
        // She changes her mind herself; an admin records Zed's, who wrote by mail.
        _ = try await ann.command(.acceptCredit(person: "ann", displayName: nil, preference: .handle), report: "A1")
        _ = try await admin.command(.acceptCredit(person: "zed", displayName: "Zed", preference: .named), report: "A1")
        let rows = try await admin.query(.state(project: "alpha", state: nil, severity: nil, assignee: nil, report: "A1"))["rows"]?.arrayValue ?? []
        #expect(rows.first?["reporter"]?["credit"] == "handle", "\(rows)")
        _ = try await admin.command(.triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: "A1")
        _ = try await admin.command(.publish(ghsa: nil, cve: nil, url: nil), report: "A1")
        let hall = try await admin.query(.hallOfFame(project: "alpha", year: nil))["json"]?["credited"]?.arrayValue ?? []
        #expect(hall.map { $0["name"]?.stringValue ?? "?" }.sorted() == ["Zed", "ann"], "\(hall)")
        for c in [admin, ann, maria] { await c.close() }
        await node.stop()
    }

    @Test("a maintainer cannot have named someone who asked to stay anonymous, or by name someone credited by handle; they themself or an admin can")
    func anonymityIsTheirsToLift() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        _ = try await admin.command(
            .submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann", name: "Ann", credit: .anonymous))), report: "A1")
        _ = try await admin.command(
            .submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "bob", name: "Bob", credit: .anonymous))), report: "B1")
        for report in ["A1", "B1"] {
            _ = try await admin.command(.acknowledge(assignee: "maria"), report: report)
            _ = try await admin.command(
                .triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: report)
        }
        _ = try await admin.command(.offerCredit(person: "zed", type: .analyst), report: "A1")
        let maria = node.client(try await node.token(.maintainer, project: "alpha", name: "maria"))
        // Credits that keep the person unnamed are the maintainers' to record, as is a first answer.
        _ = try await maria.command(.acceptCredit(person: "ann", displayName: nil, preference: nil), report: "A1")
        _ = try await maria.command(.acceptCredit(person: "zed", displayName: nil, preference: .anonymous), report: "A1")
        for (person, report, preference) in [
            ("ann", "A1", CreditPreference.named), ("ANN", "A1", .handle), ("zed", "A1", .named), ("bob", "B1", .handle),
        ] {
            let refused = await #expect(throws: DocketClientError.self) {
                try await maria.command(.acceptCredit(person: person, displayName: "Shown", preference: preference), report: report)
            }
            #expect(refused?.code == "forbidden")
            #expect(refused?.description.contains("only an admin, or the reporter with their own token, can have them named") == true)
        }
        func hall() async throws -> Value { try await admin.query(.hallOfFame(project: "alpha", year: nil))["json"] ?? .null }
        _ = try await admin.command(.publish(ghsa: nil, cve: "CVE-2026-1111", url: nil), report: "A1")
        _ = try await admin.command(.publish(ghsa: nil, cve: "CVE-2026-2222", url: nil), report: "B1")
        let before = try await hall()
        #expect(before["credited"]?.arrayValue?.isEmpty == true)
        #expect(before["anonymous"] == 3)
        // Ann changes her mind herself; an admin records Bob's (who wrote by mail).
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        _ = try await ann.command(.acceptCredit(person: "ann", displayName: "Ann", preference: .named), report: "A1")
        _ = try await admin.command(.acceptCredit(person: "bob", displayName: nil, preference: .handle), report: "B1")
        let credited = try await hall()["credited"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(credited.sorted() == ["Ann", "bob"])
        // Bob is now to be credited by handle: a maintainer cannot put his name there instead.
        let byName = await #expect(throws: DocketClientError.self) {
            try await maria.command(.acceptCredit(person: "bob", displayName: "Bob B", preference: .named), report: "B1")
        }
        #expect(byName?.code == "forbidden" && byName?.description.contains("to be credited by handle only") == true, "\(String(describing: byName))")
        _ = try await maria.command(.acceptCredit(person: "bob", displayName: nil, preference: .anonymous), report: "B1")
        _ = try await admin.command(.acceptCredit(person: "bob", displayName: nil, preference: .handle), report: "B1")
        // The state view says how they now ask to be credited, as the hall of fame does.
        let alpha = try await admin.query(.state(project: "alpha", state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        #expect(alpha.map { $0["reporter"]?["credit"]?.stringValue ?? "?" } == ["named", "handle"], "\(alpha)")
        // And once named, a maintainer may keep them named (a new display name, say). If Ann then
        // asks to stay anonymous after all, that acceptance retried (same event id) is still the
        // one recorded, not refused.
        let retried = EventID.random()
        let first = try await maria.command(.acceptCredit(person: "ann", displayName: "Ann L.", preference: .named), report: "A1", eventID: retried)
        _ = try await ann.command(.acceptCredit(person: "ann", displayName: nil, preference: .anonymous), report: "A1")
        let again = try await maria.command(.acceptCredit(person: "ann", displayName: "Ann L.", preference: .named), report: "A1", eventID: retried)
        #expect(again["duplicate"] == true && again["seq"] == first["seq"])
        let renamed = await #expect(throws: DocketClientError.self) {
            try await maria.command(.acceptCredit(person: "ann", displayName: "Ann L.", preference: .named), report: "A1")
        }
        #expect(renamed?.code == "forbidden" && renamed?.description.contains("ann is to stay anonymous") == true, "\(String(describing: renamed))")
        #expect(try await hall()["credited"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["bob"])
        // A reporter who did not say, in a project whose policy credits anonymously by default, is
        // to stay anonymous as well.
        let anonymousByDefault = try Policy.parse(
            SyntheticReports.policyText.replacingOccurrences(of: "version = 1\n", with: "version = 1\ncredit-default = \"anonymous\"\n"), file: "gamma.toml")
        #expect(anonymousByDefault.creditDefault == .anonymous)
        _ = try await admin.admin("policy-adopt", [
            ("project", "gamma"), ("policy", .string(anonymousByDefault.encodeCanonical())), ("zone", "UTC"), ("zoneTransitions", [":0"]),
        ])
        let gina = node.client(try await node.token(.maintainer, project: "gamma", name: "gina"))
        _ = try await gina.command(.submit(ReportSubmitted(project: "gamma", title: "t", reporter: Reporter(handle: "cy"))), report: "G1", creditFromPolicy: true)
        let unsaid = await #expect(throws: DocketClientError.self) {
            try await gina.command(.acceptCredit(person: "cy", displayName: "Cy", preference: .named), report: "G1")
        }
        #expect(unsaid?.code == "forbidden")
        // The default is that of the policy the report is held to, the one in force when it was
        // submitted: an imported report from before a later policy keeps the older default.
        for (version, preference, adopted) in [(1, "anonymous", "2025-01-01T00:00:00Z"), (2, "named", "2026-03-01T00:00:00Z")] {
            let text = SyntheticReports.policyText.replacingOccurrences(of: "version = 1\n", with: "version = \(version)\ncredit-default = \"\(preference)\"\n")
            _ = try await admin.admin("policy-adopt", [
                ("project", "delta"), ("policy", .string(try Policy.parse(text, file: "delta.toml").encodeCanonical())), ("zone", "UTC"),
                ("zoneTransitions", [":0"]), ("at", .string(adopted)),
            ])
        }
        for (id, at) in [("D1", "2025-06-01T00:00:00Z"), ("D2", "2026-06-01T00:00:00Z")] {
            _ = try await admin.command(
                .submit(ReportSubmitted(project: "delta", title: "t", reporter: Reporter(handle: "di"))), report: id, at: try Timestamp(rfc3339: at),
                creditFromPolicy: true)
        }
        let rows = try await admin.query(.state(project: "delta", state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue ?? []
        let credits = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r["id"]?.stringValue.map { ($0, r["reporter"]?["credit"]?.stringValue ?? "?") } })
        #expect(credits == ["D1": "anonymous", "D2": "named"], "\(rows)")
        for c in [gina] { await c.close() }
        for c in [admin, maria, ann] { await c.close() }
        await node.stop()
    }

    @Test("a report the sender may not see is refused as quickly as an id that names none, however long its history: commands, a submission under its id, a duplicate naming it, a receipt for one of its records")
    func refusalsTakeNoLongerForHiddenReports() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha", "beta")
        let admin = Principal.local(actor: "admin")
        _ = try await node.ledger.execute(
            .submit(ReportSubmitted(project: "alpha", title: "secret", reporter: Reporter(handle: "bob"))), report: "BOB-1", as: admin, at: nil, eventID: nil)
        _ = try await node.ledger.execute(
            .submit(ReportSubmitted(project: "beta", title: "mine", reporter: Reporter(handle: "ann"))), report: "ANN-1", as: admin, at: nil, eventID: nil)
        // A long history, written in one go (each note through the lifecycle would take a commit).
        let notes = try (0..<3000).map { try DomainEvent.noteAdded(NoteAdded(text: "note \($0) " + String(repeating: "x", count: 200))).proposed(actor: "m", occurredAt: nil) }
        let written = try await node.store.append(to: try DomainStreams.report("BOB-1"), expecting: .exact(1), events: notes)
        let ann = Principal(role: .reporter, project: nil, subject: "ann", tokenID: "t-ann")
        let maria = Principal(role: .maintainer, project: "beta", subject: "maria", tokenID: "t-maria")
        // The fastest of several tries of each: what the work takes, without the machine's noise.
        func fastest(_ body: () async throws -> Void) async -> Duration {
            var best = Duration.seconds(3600)
            for _ in 0..<15 {
                let t0 = ContinuousClock.now
                try? await body()
                best = min(best, ContinuousClock.now - t0)
            }
            return best
        }
        // What reading the hidden report's history takes, in this build on this machine: a refusal
        // that read it would take at least that.
        let fold = await fastest { _ = try node.ledger.load(report: "BOB-1") }
        // Each with the refusal it gets, the same as for an id that names nothing.
        let refusals: [(String, String, () async throws -> Void)] = [
            ("a reporter's command", "unknown-report", { _ = try await node.ledger.execute(.respond(summary: "x"), report: "BOB-1", as: ann, at: nil, eventID: nil) }),
            ("a maintainer's of another project", "unknown-report", { _ = try await node.ledger.execute(.note("x"), report: "BOB-1", as: maria, at: nil, eventID: nil) }),
            ("a submission under its id", "report-exists", {
                _ = try await node.ledger.execute(.submit(ReportSubmitted(project: "beta", title: "t", reporter: Reporter(handle: "x"))), report: "BOB-1", as: maria, at: nil, eventID: nil)
            }),
            ("a duplicate naming it", "invalid-command", {
                _ = try await node.ledger.execute(.close(.duplicate, duplicateOf: "BOB-1", reason: nil), report: "ANN-1", as: maria, at: nil, eventID: nil)
            }),
            ("a receipt for its record", "not-held", { _ = try node.ledger.visibleRecord(written.lastSequence, as: ann) }),
        ]
        for (what, code, refusal) in refusals {
            do {
                try await refusal()
                Issue.record("\(what): not refused")
            } catch {
                let body = ErrorBody(refusal: error)
                #expect(body?.code == code, "\(what): \(error)")
                #expect(body?.message.contains("no report BOB-1") == (code != "report-exists" && code != "not-held"), "\(what): \(error)")
            }
            let took = await fastest(refusal)
            #expect(took * 5 < fold, "\(what): \(took), against \(fold) to read the report")
        }
        #expect(try node.store.read(stream: try DomainStreams.report("ANN-1")).count == 1)
        await node.stop()
    }

    @Test("a duplicate's reason may not name the original, nor its reporter, when the duplicate's reporter may not see it: they read the reason")
    func duplicateReasonNamesNoHiddenOriginal() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = Principal.local(actor: "admin")
        for (id, handle) in [("BOB-1", "bob"), ("ANN-1", "ann"), ("ANN-2", "ann"), ("ANN-3", "ann")] {
            _ = try await node.ledger.execute(
                .submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: handle))), report: id, as: admin, at: nil, eventID: nil)
        }
        let maria = Principal(role: .maintainer, project: "alpha", subject: "maria", tokenID: "t-maria")
        for (reason, named) in [("Same as bob-1, reported earlier.", "report BOB-1"), ("Bob reported this first", "its reporter's handle bob")] {
            let refused = await #expect(throws: DomainError.self) {
                _ = try await node.ledger.execute(.close(.duplicate, duplicateOf: "BOB-1", reason: reason), report: "ANN-1", as: maria, at: nil, eventID: nil)
            }
            #expect(refused?.message.hasPrefix("the reason names \(named), and ANN-1's reporter reads the reason") == true, "\(String(describing: refused))")
        }
        // Said without naming it, or of a report of the same reporter's, it is recorded.
        _ = try await node.ledger.execute(.close(.duplicate, duplicateOf: "BOB-1", reason: "reported before, same root cause"), report: "ANN-1", as: maria, at: nil, eventID: nil)
        _ = try await node.ledger.execute(.close(.duplicate, duplicateOf: "ANN-3", reason: "same as ANN-3"), report: "ANN-2", as: maria, at: nil, eventID: nil)
        await node.stop()
    }

    @Test("a report whose stream does not open with its submission is judged as its views judge it: its reporter's command meets the lifecycle, another's meets no report")
    func streamNotOpeningWithSubmission() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        // As a damaged record or a raw append from before those were refused could leave it.
        let note = try DomainEvent.noteAdded(NoteAdded(text: "before")).proposed(actor: "m", occurredAt: nil)
        let submitted = try DomainEvent.reportSubmitted(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))).proposed(actor: "ann", occurredAt: nil)
        _ = try await node.store.append(to: try DomainStreams.report("ODD-1"), expecting: .noStream, events: [note, submitted])
        let ann = Principal(role: .reporter, project: nil, subject: "ann", tokenID: "t-ann")
        let own = await #expect(throws: DomainError.self) { try await node.ledger.execute(.respond(summary: "x"), report: "ODD-1", as: ann, at: nil, eventID: nil) }
        #expect(own?.code == .illegalTransition, "\(String(describing: own))")
        let bob = Principal(role: .reporter, project: nil, subject: "bob", tokenID: "t-bob")
        let other = await #expect(throws: DomainError.self) { try await node.ledger.execute(.respond(summary: "x"), report: "ODD-1", as: bob, at: nil, eventID: nil) }
        #expect(other?.code == .unknownReport, "\(String(describing: other))")
        await node.stop()
    }

    @Test("no error tells a reporter of a report they may not see: not an unknown report's message, not a reused event id's")
    func errorsDoNotLeak() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha", "beta")
        let admin = node.client()
        let bobsEvent = EventID.random()
        _ = try await admin.command(
            .submit(ReportSubmitted(project: "alpha", title: "secret", reporter: Reporter(handle: "bob"))), report: "BOB-1", eventID: bobsEvent)
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        _ = try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "mine", reporter: Reporter(handle: "ann"))), report: "ANN-1")
        // Bob's report and a report that does not exist get the same answer, word for word.
        func refusal(_ report: String) async -> String? {
            let error = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: "x"), report: report) }
            guard case .server(let body)? = error else { return nil }
            #expect(body.code == "unknown-report")
            return body.message.replacingOccurrences(of: report, with: "ID")
        }
        let hidden = await refusal("BOB-1")
        let missing = await refusal("NOBODY-1")
        #expect(hidden != nil && hidden == missing)
        // Nor does any other refusal: a verb a reporter may not use, or a maintainer's command
        // with a bad argument or time, gets the same answer on a hidden report as on a missing one.
        let maria = node.client(try await node.token(.maintainer, project: "beta", name: "maria"))
        var answers: [String: [String]] = [:]
        for report in ["BOB-1", "NOBODY-1"] {
            let refusals: [DocketClientError?] = [
                await #expect(throws: DocketClientError.self) { try await ann.command(.triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: report) },
                await #expect(throws: DocketClientError.self) { try await maria.command(.triage(severity: nil, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: report) },
                await #expect(throws: DocketClientError.self) { try await maria.command(.acknowledge(assignee: "m"), report: report, at: Timestamp.now() + .seconds(86_400)) },
            ]
            answers[report] = refusals.map { error in
                guard case .server(let body)? = error else { return "\(String(describing: error))" }
                return body.code + ": " + body.message.replacingOccurrences(of: report, with: "ID")
            }
        }
        #expect(answers["BOB-1"] == answers["NOBODY-1"] && answers["BOB-1"]?.allSatisfy { $0.hasPrefix("unknown-report: ") } == true, "\(answers)")
        // Ids are one namespace, so a submission under Bob's id fails; but only one that would have
        // been recorded under a free id learns that: a blank title, a date, or another reporter's
        // handle is refused the same whether the id is taken or not, and writes nothing.
        // Nor are the store's own refusals: an event id used elsewhere, an event over the size limit.
        // (The free id is as long as Bob's, so that sizes in messages are the same.)
        var submissions: [String: [String]] = [:]
        // Over the event size limit in lines each short enough to pass as text.
        let huge = (0..<70).map { "\($0 + 100) " + String(repeating: "x", count: 990) }
        let bigEvent = EventID.random()
        for report in ["BOB-1", "NOB-2"] {
            let refusals: [DocketClientError?] = [
                await #expect(throws: DocketClientError.self) { try await ann.command(.submit(ReportSubmitted(project: "alpha", title: " ", reporter: Reporter(handle: "ann"))), report: report) },
                await #expect(throws: DocketClientError.self) {
                    try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))), report: report, eventID: bobsEvent)
                },
                await #expect(throws: DocketClientError.self) {
                    try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"), affected: huge)), report: report, eventID: bigEvent)
                },
                // A maintainer of another project: the project is checked first, taken id or not.
                await #expect(throws: DocketClientError.self) { try await maria.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "m"))), report: report) },
                await #expect(throws: DocketClientError.self) {
                    try await maria.command(.submit(ReportSubmitted(project: "beta", title: "t", reporter: Reporter(handle: "m"))), report: report, at: try Timestamp(rfc3339: "2099-01-01T00:00:00Z"))
                },
                await #expect(throws: DocketClientError.self) {
                    try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))), report: report, at: Timestamp.now())
                },
                await #expect(throws: DocketClientError.self) { try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "bob"))), report: report) },
                await #expect(throws: DocketClientError.self) {
                    try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "bob"))), report: report, at: Timestamp.now())
                },
            ]
            submissions[report] = refusals.map { error in
                guard case .server(let body)? = error else { return "\(String(describing: error))" }
                // (Without the node's clock reading, which a refusal of a future time gives.)
                return body.code + ": " + body.message.replacingOccurrences(of: report, with: "ID").components(separatedBy: " (this node's clock says")[0]
            }
        }
        #expect(
            submissions["BOB-1"] == submissions["NOB-2"]
                && submissions["BOB-1"]?.map { $0.prefix(while: { $0 != ":" }) }
                    == ["invalid-command", "event-id-reused", "event-too-large", "forbidden", "invalid-command", "forbidden", "forbidden", "forbidden"], "\(submissions)")
        #expect(try node.store.read(stream: try DomainStreams.report("NOB-2")).isEmpty)
        // A maintainer's submission under an id taken in another project, with all else in order.
        // A duplicate of a report the maintainer may not see is one of no report, as a missing one is.
        let mariasOwn = "M-1"
        _ = try await maria.command(.submit(ReportSubmitted(project: "beta", title: "t", reporter: Reporter(handle: "m"))), report: mariasOwn)
        var duplicates: [String] = []
        for original in ["BOB-1", "NOB-9"] {
            let refused = await #expect(throws: DocketClientError.self) {
                try await maria.command(.close(.duplicate, duplicateOf: original, reason: nil), report: mariasOwn)
            }
            duplicates.append((refused?.description ?? "").replacingOccurrences(of: original, with: "ID"))
        }
        #expect(duplicates[0] == duplicates[1] && duplicates[0].contains("no report ID to be a duplicate of"), "\(duplicates)")
        // Nor can the maintainer learn which hidden report an admin closed theirs as a duplicate
        // of by resending the closing's event id with guesses: a right guess is refused as a wrong one is.
        let closing = EventID.random()
        _ = try await admin.command(.close(.duplicate, duplicateOf: "BOB-1", reason: nil), report: mariasOwn, eventID: closing)
        var guesses: [String] = []
        for original in ["BOB-1", "NOB-9"] {
            let refused = await #expect(throws: DocketClientError.self) {
                try await maria.command(.close(.duplicate, duplicateOf: original, reason: nil), report: mariasOwn, eventID: closing)
            }
            guesses.append((refused?.description ?? "").replacingOccurrences(of: original, with: "ID"))
        }
        #expect(guesses[0] == guesses[1] && guesses[0].contains("no report ID to be a duplicate of"), "\(guesses)")
        // Nor from naming that closed report as an original: it is a duplicate of one she may not see.
        _ = try await maria.command(.submit(ReportSubmitted(project: "beta", title: "t", reporter: Reporter(handle: "m"))), report: "M-2")
        let chained = await #expect(throws: DocketClientError.self) {
            try await maria.command(.close(.duplicate, duplicateOf: mariasOwn, reason: nil), report: "M-2")
        }
        #expect(chained?.description.contains("of a report you may not see") == true && chained?.description.contains("BOB-1") == false, "\(String(describing: chained))")
        let takenByMaintainer = await #expect(throws: DocketClientError.self) {
            try await maria.command(.submit(ReportSubmitted(project: "beta", title: "t", reporter: Reporter(handle: "m"))), report: "BOB-1")
        }
        #expect(takenByMaintainer?.code == "report-exists")
        let taken = await #expect(throws: DocketClientError.self) {
            try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))), report: "BOB-1")
        }
        #expect(taken?.code == "report-exists" && taken?.description.contains("secret") == false)
        #expect(try node.store.read(stream: try DomainStreams.report("BOB-1")).count == 1)
        await maria.close()
        // Reusing the id of an event on Bob's report fails, without naming his report, its event or where it is.
        let reused = await #expect(throws: DocketClientError.self) {
            try await ann.command(.submit(ReportSubmitted(project: "alpha", title: "two", reporter: Reporter(handle: "ann"))), report: "ANN-2", eventID: bobsEvent)
        }
        guard case .server(let body)? = reused else { Issue.record("\(String(describing: reused))"); return }
        #expect(body.code == "event-id-reused")
        for secret in ["BOB-1", "report/", "ReportSubmitted", "sequence"] { #expect(!body.message.contains(secret), "\(body.message)") }
        // Nor, resending a command with the id of an event on her own report that she does not
        // see (a maintainer's note), does she learn its type or where it is.
        let note = EventID.random()
        _ = try await admin.command(.note("internal"), report: "ANN-1", eventID: note)
        let guessed = await #expect(throws: DocketClientError.self) { try await ann.command(.respond(summary: "x"), report: "ANN-1", eventID: note) }
        guard case .server(let again)? = guessed else { Issue.record("\(String(describing: guessed))"); return }
        #expect(again.code == "event-id-reused")
        for secret in ["NoteAdded", "sequence"] { #expect(!again.message.contains(secret), "\(again.message)") }
        // An admin is told where the id is used.
        let told = await #expect(throws: DocketClientError.self) { try await admin.command(.acknowledge(assignee: "m"), report: "ANN-1", eventID: bobsEvent) }
        #expect(told.map { "\($0)" }?.contains("report/BOB-1") == true)
        for c in [admin, ann] { await c.close() }
        await node.stop()
    }

    @Test("--server lists the node to use, then the other nodes a redirect may go to; nothing else is a redirect target")
    func clientNodeList() throws {
        let c = try DocketClient.Configuration(address: "a.example:7411,[::1]:7412,b.example:7413", token: "t")
        #expect(c.host == "a.example" && c.port == 7411 && c.nodes == ["[::1]:7412", "b.example:7413"])
        #expect(c.mayRedirect(to: "::1", 7412) && c.mayRedirect(to: "b.example", 7413) && c.mayRedirect(to: "a.example", 7411))
        #expect(!c.mayRedirect(to: "b.example", 7414) && !c.mayRedirect(to: "evil.example", 7413))
        #expect(try DocketClient.Configuration(address: "a.example:7411", token: "t").nodes.isEmpty)
        for bad in ["a.example:7411,", "a.example:7411,b.example", ",a.example:7411"] {
            #expect(throws: DocketClientError.self, "\(bad)") { try DocketClient.Configuration(address: bad, token: "t") }
        }
    }

    @Test("an unauthenticated connection can only handshake; unknown, revoked and expired tokens are refused")
    func authentication() async throws {
        let node = try await TestNode()
        let before = node.store.head.sequence
        // A request before HELLO, and before AUTH.
        let s1 = try RawSocket(port: node.port)
        s1.send(Frame(.status, requestID: 9))
        var r = await offPool { s1.readUntilClosed() }
        #expect(r.closed && r.frames.first?.type == .error && r.frames.first?.body["code"] == "handshake-required")
        let s2 = try RawSocket(port: node.port)
        s2.send(Frame(.hello, requestID: 1, body: ["versions": [1]]))
        #expect(try await s2.nextFrame()?.type == .welcome)
        s2.send(Frame(.read, requestID: 2))
        r = await offPool { s2.readUntilClosed() }
        #expect(r.closed && r.frames.first?.body["code"] == "not-authenticated")
        // Wrong protocol version.
        let s3 = try RawSocket(port: node.port)
        s3.send(Frame(.hello, requestID: 1, body: ["versions": [99]]))
        r = await offPool { s3.readUntilClosed() }
        #expect(r.closed && r.frames.first?.body["code"] == "unsupported-version")

        let revoked = try await node.token(.auditor, name: "gone")
        let revokedID = String(revoked.split(separator: "_")[1])
        try await Tokens(ledger: node.ledger).revoke(id: revokedID, by: .local(actor: "t"))
        // A token cannot be made already expired (it could never be used); one that expires
        // soon can, and then has.
        let late = await #expect(throws: DomainError.self) { try await node.token(.auditor, name: "late", expiresAt: Timestamp.now() + .seconds(-1)) }
        #expect(late?.message.contains("has passed") == true)
        // (Soon, but not so soon that making it on a loaded machine takes longer.)
        let expiry = Timestamp.now() + .seconds(2)
        let expired = try await node.token(.auditor, name: "old", expiresAt: expiry)
        while Timestamp.now() <= expiry { try await Task.sleep(for: .milliseconds(50)) }
        for (token, code) in [(revoked, "token-revoked"), (expired, "token-expired"), ("dkt_0123456789ab_" + String(repeating: "0", count: 64), "unknown-token"), ("nope", "bad-token")] {
            let c = node.client(token)
            let e = await #expect(throws: DocketClientError.self) { try await c.status() }
            #expect(e?.code == code, "\(token.prefix(8))")
            await c.close()
        }
        // Only the revocation and the two tokens were written.
        #expect(node.store.head.sequence == before + 3)
        await node.stop()
    }

    @Test("a connection ends when its token is revoked (from another connection) or expires, its subscription with it; others carry on")
    func tokenEndsItsConnections() async throws {
        let node = try await TestNode { $0.tokenCheckInterval = .milliseconds(100) }
        let leaving = try await node.token(.auditor, name: "leaver")
        let expiring = try await node.token(.auditor, name: "temp", expiresAt: Timestamp.now() + .seconds(3))
        let staying = try await node.token(.auditor, name: "stays")
        let a = try #require(try await RawSocket.authenticated(port: node.port, token: leaving))
        let b = try #require(try await RawSocket.authenticated(port: node.port, token: expiring))
        // a follows the log.
        a.send(Frame(.subscribe, requestID: 7, body: ["from": 1, "credit": 100]))
        #expect(try await a.nextFrame()?.type == .subscribed)
        let c = node.client(staying)
        #expect(try await c.status()["role"] == "leader")
        let admin = node.client()
        _ = try await admin.admin("token-revoke", [("id", .string(String(leaving.split(separator: "_")[1])))])
        let ra = await offPool { a.readUntilClosed() }
        let last = try #require(ra.frames.last)
        #expect(ra.closed && last.type == .error && last.requestID == 0 && last.body["code"] == "token-revoked", "\(ra.frames.map(\.type))")
        #expect(last.body["message"]?.stringValue?.hasSuffix("this connection is closed") == true)
        // b's token expires three seconds after it was made.
        let rb = await offPool { b.readUntilClosed() }
        #expect(rb.closed && rb.frames.last?.body["code"] == "token-expired")
        // And neither can come back; the others are served throughout.
        for token in [leaving, expiring] {
            let again = node.client(token)
            await #expect(throws: DocketClientError.self) { try await again.status() }
            await again.close()
        }
        #expect(try await c.status()["role"] == "leader")
        await c.close()
        await admin.close()
        await node.stop()
    }

    @Test("views that replay the log run on the node's view threads: live views and other requests are answered meanwhile")
    func viewQueriesOffTheSharedPool() async throws {
        let node = try await TestNode { $0.viewThreads = 1 }
        try await node.adopt("alpha")
        let admin = node.client()
        _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))), report: "A1")
        let head = node.store.head.sequence
        // The first query of the live views folds them, on a view thread; after it they are warm.
        #expect(!node.ledger.liveViewsAreWarm)
        #expect(try await admin.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue?.count == 1)
        #expect(node.ledger.liveViewsAreWarm)
        // The one view thread held until `gate` opens; a view as of a sequence waits behind it.
        let (gate, holds) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        defer { gate.signal() }  // a failure below must not leave the node's shutdown waiting on it
        let holding = Task {
            try await node.server.offload {
                holds.signal()
                gate.wait()
            }
        }
        await offPool { holds.wait() }
        let replayed = Atomic<Bool>(false)
        let replay = Task {
            defer { replayed.store(true, ordering: .relaxed) }
            return try await admin.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .sequence(head))
        }
        // Meanwhile, on another connection: STATUS, the live views, and reporters' refusals.
        let other = node.client()
        #expect(try await other.status()["lastSequence"]?.intValue == Int64(head))
        #expect(try await other.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"]?.arrayValue?.count == 1)
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        let refused = await #expect(throws: DocketClientError.self) {
            try await ann.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .sequence(head))
        }
        #expect(refused?.code == "forbidden")
        let replayRefused = await #expect(throws: DocketClientError.self) { try await ann.query(.replay(window: .seconds(86_400))) }
        #expect(replayRefused?.code == "forbidden")
        try await Task.sleep(for: .milliseconds(100))
        let doneEarly = replayed.load(ordering: .relaxed)
        #expect(!doneEarly)
        gate.signal()
        try await holding.value
        #expect(try await replay.value["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["A1"])
        for c in [admin, other, ann] { await c.close() }
        await node.stop()
    }

    @Test("once shutdown has stopped the views' folds, a view that replays the log is answered shutting-down")
    func stoppedFoldsAnswerShuttingDown() async throws {
        let node = try await TestNode()
        let admin = node.client()
        node.ledger.stopFolds()
        let refused = await #expect(throws: DocketClientError.self) {
            try await admin.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .sequence(1))
        }
        #expect(refused?.code == "shutting-down", "\(String(describing: refused))")
        await admin.close()
        await node.stop()
    }

    /// A node with 1000 events of about 150 bytes, so that a READ of `limit` has a large answer.
    static func nodeWithBigLog(_ configure: @escaping (inout ServerConfiguration) -> Void) async throws -> TestNode {
        let node = try await TestNode(configure: configure)
        let filler = String(repeating: "x", count: 100)
        for batch in 0..<4 {
            _ = try await node.store.append(to: try StreamName("big"), events: try (0..<250).map {
                try ProposedEvent(type: EventType("Note"), actor: "a", data: ["n": .int(Int64(batch * 250 + $0)), "text": .string(filler)])
            })
        }
        return node
    }

    /// A node with a big log and a 128 KiB output limit, and a client of it (with a 32 KiB receive
    /// buffer) that sends `requests` (each answered with far more than the limit in all) and reads
    /// nothing: the most the node holds for it once its answers have filled the limit's lower
    /// mark, and 800 ms after (a bound checked before the node had written that much would hold
    /// vacuously). Another client is served meanwhile.
    /// With `ledger`, each request's `ledger` field is set to the node's ledger id.
    static func unreadClient(_ requests: [Frame], ledger: Bool = false) async throws -> (node: TestNode, socket: RawSocket, held: Int) {
        let node = try await Self.nodeWithBigLog { $0.outboundBufferLimit = 128 << 10 }
        let socket = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken, receiveBuffer: 32 << 10))
        for var frame in requests {
            if ledger, case .object(var members) = frame.body {
                members = members.map { $0.key == "ledger" ? ($0.key, .string(node.store.ledgerID)) : $0 }
                frame = Frame(frame.type, requestID: frame.requestID, body: .object(members))
            }
            socket.send(frame)
        }
        try await eventually("the node holds the output limit's lower mark for the client", timeout: .seconds(30)) {
            (await node.server.outboundBuffered().max() ?? 0) >= 64 << 10
        }
        try await Task.sleep(for: .milliseconds(800))
        let held = await node.server.outboundBuffered().max() ?? 0
        let other = node.client()
        #expect(try await other.status()["role"] == "leader")
        await other.close()
        return (node, socket, held)
    }

    @Test("a client that does not read its answers stops being read: the node holds a bounded amount for it, keeps serving others, and resumes when it reads")
    func clientThatDoesNotRead() async throws {
        // 250 READs of 300 events (about 45 KB each, 11 MB in all) at once, so that the node reads
        // them all before any answer is written; none read.
        let reads = 250
        let (node, socket, held) = try await Self.unreadClient((0..<reads).map { Frame(.read, requestID: UInt32(100 + $0), body: ["from": 1, "limit": 300]) })
        // The limit and an answer; without it, every answer the kernel's socket buffers do not hold.
        #expect(held < 1 << 20, "the node holds \(held) bytes for a client that does not read")
        // Once it reads, every answer arrives, in order.
        let answers = await offPool { () -> [UInt32] in
            var ids: [UInt32] = []
            socket.receiveFrames { f in
                if f.type == .events { ids.append(f.requestID) }
                return ids.count < reads
            }
            return ids
        }
        #expect(answers == (0..<reads).map { UInt32(100 + $0) })
        await node.stop()
    }

    @Test("requests queued behind a slow one hold about one largest frame of a connection's bytes: then it is not read until they drain, and every request is still answered, in order")
    func queuedRequestBytesBounded() async throws {
        // An append waits for a synchronous replica that never comes: a slow request with no
        // output, so the connection stays writable throughout.
        let node = try await TestNode {
            $0.maximumFrameLength = 256 << 10
            $0.replication.syncReplicas = 1
            $0.replication.syncTimeout = .seconds(3)
        }
        let socket = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        socket.send(Frame(.append, requestID: 99, body: ["stream": "s", "events": [["type": "Note", "data": ["n": 1]]]]))
        // Behind it, 40 STATUS requests of 200 KB each (8 MB), which a node reading on would hold
        // decoded, several times over.
        let padding = Value.array((0..<18_000).map { _ in .string("0123456789") })
        let statuses = 40
        // (Sent from a thread of its own: the sends block once the node stops reading.)
        let sender = Task {
            await offPool { for i in 0..<statuses { socket.send(Frame(.status, requestID: UInt32(500 + i), body: ["padding": padding])) } }
        }
        try await Task.sleep(for: .milliseconds(1000))
        let held = node.server.requestBytesHeld().max() ?? 0
        // The requests running and queued when it stopped reading: at most the limit and the frame
        // that passed it (and those already read from the socket with it).
        #expect(held > 0 && held < 3 * (256 << 10), "the node holds \(held) bytes of requests for one connection")
        // Others are served meanwhile.
        let other = node.client()
        #expect(try await other.status()["role"] == "leader")
        await other.close()
        // Once the append gives up waiting, every request is answered, in order.
        let answers = await offPool { () -> [(UInt32, FrameType)] in
            var got: [(UInt32, FrameType)] = []
            socket.receiveFrames { f in
                if f.requestID == 99 || (500..<500 + UInt32(statuses)).contains(f.requestID) { got.append((f.requestID, f.type)) }
                return got.count < 1 + statuses
            }
            return got
        }
        await sender.value
        let expected: [UInt32] = [99] + (0..<UInt32(statuses)).map { 500 + $0 }
        #expect(answers.map(\.0) == expected)
        #expect(answers.dropFirst().allSatisfy { $0.1 == .statusResult })
        // (Each request's bytes are let go once its answer is written, just after it is sent.)
        try await eventually("the node holds no request of it", timeout: .seconds(10)) { (node.server.requestBytesHeld().max() ?? 0) == 0 }
        await node.stop()
    }

    @Test("the client's subscription is paced by what its consumer takes, and unsubscribed when the consumer stops: the connection carries on")
    func clientSubscriptionEnds() async throws {
        let node = try await TestNode()
        for n in 0..<50 {
            _ = try await node.store.append(to: try StreamName("s"), events: [try ProposedEvent(type: EventType("Note"), actor: "a", data: ["n": .int(Int64(n))])])
        }
        let client = node.client()
        var taken: [UInt64] = []
        do {
            // A window of 4, and 10 events taken: credit came from what was taken.
            var events = client.subscribe(from: 1, window: 4).makeAsyncIterator()
            for _ in 0..<10 { if let e = try await events.next() { taken.append(e.sequence) } }
            #expect(node.server.liveSubscriptions() == [1])
        }
        #expect(taken == Array(1...10))
        // Its consumer gone, the subscription ends on the node too.
        try await eventually("the node ends the subscription", timeout: .seconds(10)) { node.server.liveSubscriptions() == [0] }
        #expect(try await client.status()["role"] == "leader")
        await client.close()
        await node.stop()
    }

    @Test("a view larger than a frame is refused as answer-too-large, saying how to narrow it; a client that does not read its views costs the node one answer beyond the limit")
    func largeViews() async throws {
        let node = try await TestNode {
            $0.outboundBufferLimit = 128 << 10
            $0.maximumFrameLength = 1 << 20
        }
        try await node.adopt("alpha")
        let token = try await node.token(.reporter, name: "rey")
        let rey = node.client(token)
        // A reporter's own reports, each near the event limit: about 50 KB of affected versions.
        let affected = (0..<55).map { "\($0)-" + String(repeating: "x", count: 900) }
        func submit(_ ids: Range<Int>) async throws {
            for i in ids {
                _ = try await rey.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "rey"), affected: affected)), report: "REY-\(i)")
            }
        }
        // About 600 KB of state: one frame. Ten asked at once on a connection that reads none.
        try await submit(0..<12)
        let socket = try #require(try await RawSocket.authenticated(port: node.port, token: token, receiveBuffer: 32 << 10))
        for i in 0..<10 { socket.send(Frame(.query, requestID: UInt32(50 + i), body: ["view": "state"])) }
        try await Task.sleep(for: .milliseconds(800))
        let held = await node.server.outboundBuffered().max() ?? 0
        // The limit and one answer (the kernel's socket buffers hold some more).
        #expect(held < (128 << 10) + 700_000, "the node holds \(held) bytes for a client that does not read")
        let other = node.client()
        #expect(try await other.status()["role"] == "leader")
        let answers = await offPool { () -> [UInt32] in
            var ids: [UInt32] = []
            socket.receiveFrames { f in
                if f.type == .queryResult { ids.append(f.requestID) }
                return ids.count < 10
            }
            return ids
        }
        #expect(answers == (0..<10).map { UInt32(50 + $0) })
        // Twice as many: over the frame limit, asked whole, it is refused, saying how to page or
        // narrow it; one report is not.
        try await submit(12..<24)
        let whole = ViewQuery.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil)
        let error = await #expect(throws: DocketClientError.self) { try await rey.queryPage(whole, nil) }
        guard case .server(let body)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(body.code == "answer-too-large" && body.message.contains("over the 1048576-byte frame limit: read it in smaller pages"), "\(body)")
        let one = try await rey.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "REY-3"))
        #expect(one["rows"]?.arrayValue?.count == 1)
        // The client reads it in pages, smaller until each fits a frame: every report, once.
        let paged = try await rey.query(whole)
        let ids = paged["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        #expect(ids.count == 24 && Set(ids) == Set((0..<24).map { "REY-\($0)" }), "\(ids)")
        for c in [rey, other] { await c.close() }
        await node.stop()
    }

    @Test("state and timers are read in pages: each names the next, in the view's order, and a cursor tells nothing of other people's reports")
    func viewPages() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        let token = try await node.token(.reporter, name: "rey")
        let rey = node.client(token)
        for i in 0..<7 {
            let reporter = i.isMultiple(of: 2) ? rey : admin
            _ = try await reporter.command(.submit(ReportSubmitted(project: "alpha", title: "t\(i)", reporter: Reporter(handle: i.isMultiple(of: 2) ? "rey" : "ada"))), report: "P-\(i)")
        }
        let state = ViewQuery.state(project: "alpha", state: nil, severity: nil, assignee: nil, report: nil)
        let timers0 = ViewQuery.timers(project: "alpha", report: nil, dueWithin: nil, late: false, all: true)
        let whole = try await admin.queryPage(state, nil)["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(whole == (0..<7).map { "P-\($0)" })
        // Pages of three: P-0…P-2, P-3…P-5, then P-6 and no next; every page says where the views were.
        var pages: [[String]] = []
        var versions: Set<String> = []
        var after: String?
        repeat {
            let answer = try await admin.queryPage(state, ViewPage(limit: 3, after: after))
            pages.append(answer["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [])
            versions.insert(answer["version"]?.stringValue ?? "")
            after = answer["next"]?.stringValue
        } while after != nil && pages.count < 5
        #expect(pages == [["P-0", "P-1", "P-2"], ["P-3", "P-4", "P-5"], ["P-6"]])
        // One version for the whole view, whatever the page; it moves when a report of the view
        // changes, not for the rest of the ledger.
        #expect(versions.count == 1 && versions.first?.isEmpty == false)
        let before = try await admin.queryPage(state, ViewPage(limit: 3))["version"]
        try await node.adopt("beta")
        #expect(try await admin.queryPage(state, ViewPage(limit: 3))["version"] == before)
        _ = try await admin.command(.acknowledge(assignee: "maria"), report: "P-0")
        #expect(try await admin.queryPage(state, ViewPage(limit: 3))["version"] != before)
        // A later page may ask for the first page's instant; only a recent one, and only now.
        let firstPage = try await admin.queryPage(timers0, ViewPage(limit: 2))
        let at = try #require(firstPage["at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) })
        let again = try await admin.queryPage(timers0, ViewPage(limit: 2, at: at))
        #expect(again["at"] == firstPage["at"] && again["rows"] == firstPage["rows"])
        for bad in [at + .seconds(3600), Timestamp(microseconds: at.microseconds - 3_600_000_000)] {
            let expired = await #expect(throws: DocketClientError.self) { try await admin.queryPage(timers0, ViewPage(limit: 2, at: bad)) }
            #expect(expired?.code == "page-expired", "\(String(describing: expired))")
        }
        await #expect(throws: DocketClientError.self) { try await admin.queryPage(timers0, asOf: .sequence(3), ViewPage(limit: 2, at: at)) }
        // A cursor need not match the filters; the page holds what does.
        let submitted = try await admin.queryPage(
            .state(project: nil, state: .submitted, severity: nil, assignee: nil, report: nil), ViewPage(limit: 2, after: "P-4"))
        #expect(submitted["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["P-5", "P-6"] && submitted["next"] == nil)
        // Timers: a page is of reports, with all their clocks.
        let timers = ViewQuery.timers(project: "alpha", report: nil, dueWithin: nil, late: false, all: true)
        let clockPage = try await admin.queryPage(timers, ViewPage(limit: 2))
        #expect(Set(clockPage["rows"]?.arrayValue?.compactMap { $0["report"]?.stringValue } ?? []) == ["P-0", "P-1"])
        #expect(clockPage["next"] == "P-1")
        #expect(try await admin.query(timers)["rows"] == (try await admin.queryPage(timers, nil))["rows"])
        // A reporter pages through their own; another reporter's report as a cursor is refused
        // as one that does not exist is.
        let own = try await rey.queryPage(state, ViewPage(limit: 3))
        #expect(own["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["P-0", "P-2", "P-4"] && own["next"] == "P-4")
        // The order kept between pages is each principal's own: the maintainers' read at the same
        // instant does not lend the reporter theirs.
        let keptBefore = node.ledger.pageOrders.count
        let theirs = try await admin.queryPage(state, ViewPage(limit: 3))
        let sameInstant = try #require(theirs["at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) })
        let ownThen = try await rey.queryPage(state, ViewPage(limit: 3, at: sameInstant))
        #expect(ownThen["rows"] == own["rows"] && ownThen["version"] == own["version"] && ownThen["version"] != theirs["version"])
        #expect(node.ledger.pageOrders.count == keptBefore + 2, "each read's order is kept")
        let theirsAgain = try await admin.queryPage(state, ViewPage(limit: 3, after: "P-2", at: sameInstant))
        #expect(theirsAgain["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["P-3", "P-4", "P-5"] && theirsAgain["version"] == theirs["version"])
        #expect(node.ledger.pageOrders.count == keptBefore + 2, "a later page of a read uses the order kept for it")
        // Their view's version says no more than their view: an internal note on their report
        // moves the maintainers' version, not theirs.
        let adminVersion = try await admin.queryPage(state, ViewPage(limit: 3))["version"]
        _ = try await admin.command(.note("internal: looks like a duplicate of an old bug"), report: "P-2")
        #expect(try await rey.queryPage(state, ViewPage(limit: 3))["version"] == own["version"])
        #expect(try await admin.queryPage(state, ViewPage(limit: 3))["version"] != adminVersion)
        var refusals: [String] = []
        for cursor in ["P-1", "NOPE"] {
            let error = await #expect(throws: DocketClientError.self) { try await rey.queryPage(state, ViewPage(limit: 3, after: cursor)) }
            if case .server(let body)? = error { refusals.append("\(body.code): \(body.message)") }
        }
        #expect(refusals.count == 2 && refusals[0] == refusals[1] && refusals[0].contains("\"after\" names no report of this view"), "\(refusals)")
        #expect(refusals.first?.hasPrefix("page-expired: ") == true, "\(refusals)")
        // A commit between two pages of one read: the next page is of the views as they are now,
        // and its version says so (the order kept for the first is not reused).
        let first = try await admin.queryPage(state, ViewPage(limit: 3))
        let firstAt = try #require(first["at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) })
        _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t7", reporter: Reporter(handle: "ada"))), report: "P-7")
        let second = try await admin.queryPage(state, ViewPage(limit: 10, after: first["next"]?.stringValue, at: firstAt))
        #expect(second["version"] != first["version"] && second["rows"]?.arrayValue?.last?["id"] == "P-7", "\(second)")
        // Only those two views have pages, and a page has a size.
        await #expect(throws: DocketClientError.self) { try await admin.queryPage(.hallOfFame(project: "alpha", year: nil), ViewPage(limit: 3)) }
        await #expect(throws: DocketClientError.self) { try await admin.queryPage(state, ViewPage(limit: 0)) }
        for c in [admin, rey] { await c.close() }
        await node.stop()
    }

    @Test("a row's CVSS score is its vector's, whether worked out or kept from an earlier row")
    func rowScores() throws {
        var vectors: [String] = []
        for av in "NALP" { for ac in "LH" { for pr in "NLH" { for ui in "NR" { for scope in "UC" { for c in "HLN" { for i in "HLN" { for a in "HLN" {
            vectors.append("CVSS:3.1/AV:\(av)/AC:\(ac)/PR:\(pr)/UI:\(ui)/S:\(scope)/C:\(c)/I:\(i)/A:\(a)")
        } } } } } } } }
        vectors.append("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
        for _ in 0..<2 {
            for v in vectors { #expect(ViewRenderer.ratedScore(v) == (try CVSS.score(v)).ratedScore, "\(v)") }
        }
        #expect(ViewRenderer.ratedScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8)
        #expect(ViewRenderer.ratedScore("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") == 9.3)
        // A v3.1 vector with temporal and environmental metrics: its environmental score, as its severity.
        #expect(ViewRenderer.ratedScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U/CR:L/IR:L/AR:L") == 6.4)
        #expect(ViewRenderer.ratedScore("CVSS:3.1/AV:X") == nil && ViewRenderer.ratedScore("CVSS:4.0/AV:N/AC:L") == nil)
    }

    @Test("the order of a view read in pages is kept for its next pages: per projection, instant, principal and query; the few most recent, none for long")
    func pageOrdersAreKept() async throws {
        let orders = PageOrders(capacity: 2)
        let at = Timestamp(microseconds: 1_000_000)
        let admin = Principal(role: .admin, project: nil, subject: "root")
        let state = ViewQuery.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil)
        func key(_ sequence: UInt64, _ principal: Principal = admin, _ query: ViewQuery = state, at t: Timestamp = at) -> PageOrders.Key {
            PageOrders.Key(sequence: sequence, at: t, principal: principal, query: query)
        }
        func order(_ version: String) -> PageOrders.Order { PageOrders.Order(places: [PageOrders.Place(at: 1, id: "R-1")], version: version) }
        orders[key(1)] = order("v1")
        #expect(orders[key(1)]?.version == "v1" && orders[key(1)]?.places.first?.id == "R-1")
        // Another projection, instant, principal or query is another view.
        #expect(orders[key(2)] == nil && orders[key(1, at: at + .seconds(1))] == nil)
        #expect(orders[key(1, Principal(role: .reporter, project: nil, subject: "rey"))] == nil)
        #expect(orders[key(1, admin, .timers(project: nil, report: nil, dueWithin: nil, late: false, all: false))] == nil)
        // The least recently used goes first.
        orders[key(2)] = order("v2")
        _ = orders[key(1)]
        orders[key(3)] = order("v3")
        #expect(orders.count == 2 && orders[key(2)] == nil && orders[key(1)]?.version == "v1" && orders[key(3)]?.version == "v3")
        // None is kept past its age, read or not: storing another drops it too.
        let brief = PageOrders(capacity: 4, maximumAge: .milliseconds(50))
        brief[key(1)] = order("v1")
        brief[key(2)] = order("v2")
        try await Task.sleep(for: .milliseconds(120))
        brief[key(3)] = order("v3")
        #expect(brief.count == 1 && brief[key(1)] == nil && brief[key(3)]?.version == "v3")
    }

    @Test("events in no view are counted with the state and timers an admin or auditor reads, every page kept by the client; maintainers and reporters are not told of the log's health")
    func undecodableInViews() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        for i in 0..<3 {
            _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t\(i)", reporter: Reporter(handle: "rey"))), report: "U-\(i)")
        }
        // A submission without its required fields, as a damaged record would read.
        let bad = try ProposedEvent(type: try EventType("ReportSubmitted"), actor: "x", data: .object([("title", .string("no project"))]))
        _ = try await node.store.append(to: try DomainStreams.report("U-9"), events: [bad])
        let state = ViewQuery.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil)
        let timers = ViewQuery.timers(project: nil, report: nil, dueWithin: nil, late: false, all: true)
        let auditor = node.client(try await node.token(.auditor, name: "audit"))
        for client in [admin, auditor] {
            // In pages of one report: the count is the last page's, kept with the rows.
            let paged = try await client.query(state, pageSize: 1)
            #expect(paged["undecodable"] == 1 && paged["rows"]?.arrayValue?.count == 3, "\(paged)")
            #expect(try await client.query(timers)["undecodable"] == 1)
        }
        let missing = await #expect(throws: DocketClientError.self) { try await admin.query(.history(report: "U-9")) }
        guard case .server(let body)? = missing else { Issue.record("\(String(describing: missing))"); return }
        #expect(body.code == "unknown-report" && body.message.contains("1 event of report or project streams in this log does not decode"), "\(body)")
        let maintainer = node.client(try await node.token(.maintainer, project: "alpha", name: "maria"))
        let reporter = node.client(try await node.token(.reporter, name: "rey"))
        for client in [maintainer, reporter] {
            let rows = try await client.query(state)
            #expect(rows["undecodable"] == nil && rows["rows"]?.arrayValue?.count == 3, "\(rows)")
        }
        // A maintainer asking for another project's reports or clocks is told they may not, not
        // shown an empty list (whether that project exists or not).
        for project in ["beta", "no-such-project"] {
            for query in [
                ViewQuery.state(project: project, state: nil, severity: nil, assignee: nil, report: nil),
                .timers(project: project, report: nil, dueWithin: nil, late: false, all: false),
            ] {
                let refused = await #expect(throws: DocketClientError.self) { try await maintainer.query(query) }
                #expect(refused?.code == "forbidden", "\(String(describing: refused))")
            }
        }
        for c in [admin, auditor, maintainer, reporter] { await c.close() }
        await node.stop()
    }

    @Test("a view read in pages while it keeps changing is read again, then given up on; once it holds still it is read whole")
    func pagesOfAChangingView() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let admin = node.client()
        for i in 0..<20 {
            _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t\(i)", reporter: Reporter(handle: "ada"))), report: "C-\(i)")
        }
        let state = ViewQuery.state(project: "alpha", state: nil, severity: nil, assignee: nil, report: nil)
        // A note on one of its reports every few milliseconds: in pages of one report, the view
        // changes between pages every time it is read.
        let writer = node.client()
        // Connected and writing before the read begins: on a loaded machine a new connection's
        // handshake could otherwise outlast a whole read of twenty pages. Four notes in flight at
        // a time, so that the view changes between pages even when each commit is slow.
        _ = try await writer.command(.note("first"), report: "C-0")
        final class Count: Sendable { let value = Atomic<Int>(0) }
        let noted = Count()
        let noting = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<4 {
                    group.addTask {
                        var n = 0
                        while !Task.isCancelled {
                            _ = try await writer.command(.note("w\(w) n\(n)"), report: "C-0")
                            n += 1
                            noted.value.add(1, ordering: .relaxed)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        while noted.value.load(ordering: .relaxed) < 8 { try await Task.sleep(for: .milliseconds(5)) }
        // A read that happened to fall between commits all through is tried again: what is
        // asserted is that a read that keeps seeing changes gives up, and says why.
        var failure: DocketClientError?
        for _ in 0..<5 where failure == nil {
            do throws(DocketClientError) { _ = try await admin.query(state, pageSize: 1) } catch { failure = error }
        }
        if case .viewKeptChanging(let why)? = failure {
            #expect(why.contains("the state view changed while it was read in pages, three times over"))
        } else {
            Issue.record("\(String(describing: failure))")
        }
        noting.cancel()
        _ = await noting.result
        let rows = try await admin.query(state, pageSize: 1)["rows"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(rows == (0..<20).map { "C-\($0)" })
        for c in [admin, writer] { await c.close() }
        await node.stop()
    }

    @Test("subscriptions wait too while their client does not read: the node holds a bounded amount for it")
    func subscriberThatDoesNotRead() async throws {
        // 60 subscriptions to the whole log (about 130 KB each, 8 MB in all), none of it read: they
        // wait their turn to write, and for the client to read.
        let (node, socket, held) = try await Self.unreadClient((1...60).map { Frame(.subscribe, requestID: UInt32($0), body: ["from": 1, "credit": 10_000]) })
        // The limit and about one frame (155 KB measured); writing at once, the subscriptions had
        // the node hold 1.5–15 MB.
        #expect(held < 512 << 10, "the node holds \(held) bytes for a subscriber that does not read")
        // Once it reads, every subscription delivers the whole log.
        let head = Int(node.store.head.sequence)
        let delivered = await offPool { () -> [UInt32: Int] in
            var counts: [UInt32: Int] = [:]
            socket.receiveFrames { f in
                if f.type == .events { counts[f.requestID, default: 0] += f.body["events"]?.arrayValue?.count ?? 0 }
                return counts.count < 60 || counts.values.contains { $0 < head }
            }
            return counts
        }
        #expect(delivered.count == 60 && delivered.values.allSatisfy { $0 == head }, "\(delivered.sorted { $0.key < $1.key })")
        await node.stop()
    }

    @Test("replication streams wait too while their follower does not read, whatever window it asked for")
    func followerThatDoesNotRead() async throws {
        // 64 streams of the whole log from the start (about 30 KB of records each), each with the
        // largest window, none read.
        let (node, _, held) = try await Self.unreadClient((1...64).map { id in
            Frame(.replicate, requestID: UInt32(id), body: ReplicateRequest(
                ledger: "", head: 0, hash: ChainHash.genesis.description, epoch: 0, epochLeader: nil, dictionaries: 0,
                window: 1 << 24, maxFrame: 256 << 10, node: nil, address: nil).wireValue)
        }, ledger: true)
        // The limit and about one frame; writing as fast as the window allowed, the node held
        // every stream's copy of the log for the follower (1.87 MB measured).
        #expect(held < 512 << 10, "the node holds \(held) bytes for a follower that does not read")
        await node.stop()
    }

    @Test("a request on a connection whose token was revoked since the last periodic check is not run; the connection closes")
    func revokedBeforeTheCheck() async throws {
        let node = try await TestNode { $0.tokenCheckInterval = .seconds(3600) }
        let token = try await node.token(.admin, name: "short")
        let s = try #require(try await RawSocket.authenticated(port: node.port, token: token))
        try await Tokens(ledger: node.ledger).revoke(id: String(token.split(separator: "_")[1]), by: .local(actor: "t"))
        let before = node.store.head.sequence
        s.send(Frame(.append, requestID: 5, body: ["stream": "s", "events": [["type": "A"]]]))
        let r = await offPool { s.readUntilClosed() }
        #expect(r.closed && r.frames.last?.body["code"] == "token-revoked", "\(r.frames)")
        #expect(!r.frames.contains { $0.type == .appended } && node.store.head.sequence == before)
        await node.stop()
    }

    /// A connection that has sent HELLO and AUTH with `token`, its AUTH stopped between reading
    /// the token records and answering until `gate` is signalled (the node's next AUTH only).
    static func authenticatingUntil(_ gate: DispatchSemaphore, node: TestNode, token: String) async throws -> RawSocket {
        let reached = DispatchSemaphore(value: 0)
        node.server.afterTokenRecordsRead.withLock {
            $0 = {
                reached.signal()
                // (Off the cooperative pool, which the rest of the test may need.)
                await offPool { gate.wait() }
            }
        }
        let s = try await offPool { try RawSocket(port: node.port) }
        s.send(Frame(.hello, requestID: 1, body: ["versions": [1]]))
        #expect(try await s.nextFrame()?.type == .welcome)
        s.send(Frame(.auth, requestID: 2, body: ["token": .string(token)]))
        await offPool { reached.wait() }
        node.server.afterTokenRecordsRead.withLock { $0 = nil }
        return s
    }

    @Test("an AUTH that read the token records just before a revocation committed reads them again: it is refused, and runs nothing")
    func revokedDuringAuth() async throws {
        let node = try await TestNode { $0.tokenCheckInterval = .seconds(3600) }
        let token = try await node.token(.admin, name: "short")
        // The AUTH below stops between reading the token records (the token still good) and
        // answering, until the revocation has committed and swept the connections.
        let gate = DispatchSemaphore(value: 0)
        defer { gate.signal() }
        let s = try await Self.authenticatingUntil(gate, node: node, token: token)
        let sweeps = node.server.sweepsBegun
        let admin = node.client()
        _ = try await admin.admin("token-revoke", [("id", .string(String(token.split(separator: "_")[1])))])
        #expect(node.server.sweepsBegun > sweeps)
        gate.signal()
        // Let in, it would stay open until the next periodic check (an hour here), its small
        // appends answered on the event loop with no token check of their own.
        let r = await offPool { s.readUntilClosed() }
        #expect(r.closed && r.frames.last?.body["code"] == "token-revoked", "\(r.frames.map(\.type))")
        #expect(!r.frames.contains { $0.type == .authenticated })
        // Others are served throughout.
        #expect(try await admin.status()["role"] == "leader")
        await admin.close()
        await node.stop()
    }

    @Test("requests still queued when the node closes a revoked token's connection are dropped, not run")
    func revokedTokenDropsQueuedRequests() async throws {
        let node = try await Self.nodeWithBigLog {
            $0.outboundBufferLimit = 128 << 10
            $0.tokenCheckInterval = .milliseconds(100)
        }
        let token = try await node.token(.admin, name: "leaver")
        let socket = try #require(try await RawSocket.authenticated(port: node.port, token: token, receiveBuffer: 32 << 10))
        // READs whose answers it does not read hold its queue; an APPEND waits behind them.
        for i in 0..<100 { socket.send(Frame(.read, requestID: UInt32(100 + i), body: ["from": 1, "limit": 300])) }
        socket.send(Frame(.append, requestID: 999, body: ["stream": "late", "events": [["type": "Note", "data": ["n": 1]]]]))
        try await Task.sleep(for: .milliseconds(500))
        let before = node.store.head.sequence
        let admin = node.client()
        _ = try await admin.admin("token-revoke", [("id", .string(String(token.split(separator: "_")[1])))])
        await admin.close()
        try await eventually("the node closes the connection", timeout: .seconds(10)) { node.server.connectionCount == 0 }
        // The revocation is the only write: the queued APPEND never ran.
        try await Task.sleep(for: .milliseconds(300))
        #expect(node.store.head.sequence == before + 1)
        #expect(try node.store.read(stream: try StreamName("late")).isEmpty)
        await node.stop()
    }

    @Test("requests still queued when their client disconnects are dropped, not run")
    func disconnectDropsQueuedRequests() async throws {
        let node = try await Self.nodeWithBigLog { $0.outboundBufferLimit = 128 << 10 }
        let socket = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken, receiveBuffer: 32 << 10))
        // READs whose answers it does not read hold its queue; an APPEND waits behind them.
        for i in 0..<100 { socket.send(Frame(.read, requestID: UInt32(100 + i), body: ["from": 1, "limit": 300])) }
        socket.send(Frame(.append, requestID: 999, body: ["stream": "late", "events": [["type": "Note", "data": ["n": 1]]]]))
        try await Task.sleep(for: .milliseconds(500))
        let before = node.store.head.sequence
        _ = shutdown(socket.fd, Int32(SHUT_RDWR))
        try await eventually("the node sees the connection close", timeout: .seconds(10)) { node.server.connectionCount == 0 }
        // Nobody is there for their answers: the READs and the APPEND never run (it was never
        // answered, so its client does not count on it, and may resend it by its event ids).
        try await Task.sleep(for: .milliseconds(500))
        #expect(node.store.head.sequence == before)
        #expect(try node.store.read(stream: try StreamName("late")).isEmpty)
        await node.stop()
    }

    @Test("an APPEND is refused for its sender or its size before any of its events is built")
    func appendCheckedFirst() async throws {
        let node = try await TestNode()
        let events: Value = .array((0..<20_000).map { _ in ["type": "A"] })
        let reporter = try #require(try await RawSocket.authenticated(port: node.port, token: try await node.token(.reporter, name: "rey")))
        reporter.send(Frame(.append, requestID: 5, body: ["stream": "s", "events": events]))
        let refused = try #require(try await reporter.nextFrame())
        #expect(refused.body["code"] == "forbidden" && refused.body["message"]?.stringValue?.contains("only an admin can append raw events") == true, "\(refused.body)")
        let admin = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        admin.send(Frame(.append, requestID: 6, body: ["stream": "s", "events": events]))
        let tooMany = try #require(try await admin.nextFrame())
        #expect(tooMany.body["code"] == "batch-too-large" && tooMany.body["message"]?.stringValue?.contains("got 20000") == true, "\(tooMany.body)")
        #expect(node.store.head.sequence == 2)  // the two tokens
        await node.stop()
    }

    @Test("a command with lists as long as a frame carries is refused in time proportional to it, as too large, and others are served meanwhile", .timeLimit(.minutes(1)))
    func longListsRefusedPromptly() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let ann = node.client(try await node.token(.reporter, name: "ann"))
        let admin = node.client()
        // 150,000 affected versions: about 1.3 MB, under the frame limit and far over the event's;
        // then the same with one repeated at the very end. (Checked pair by pair, that took minutes.)
        let affected = (0..<150_000).map { "v\($0)" }
        let clock = ContinuousClock()
        let started = clock.now
        func refusal(_ client: DocketClient, _ command: ReportCommand, _ report: String) async -> ErrorBody? {
            let error = await #expect(throws: DocketClientError.self) { try await client.command(command, report: report) }
            guard case .server(let body)? = error else { Issue.record("\(String(describing: error))"); return nil }
            return body
        }
        async let tooLarge = refusal(ann, .submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"), affected: affected)), "ANN-1")
        async let twice = refusal(ann, .submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"), affected: affected + ["v0"])), "ANN-1")
        _ = try await admin.status()
        let (large, repeated) = await (tooLarge, twice)
        #expect(large?.code == "event-too-large" && large?.message.contains("over the \(EnvelopeCodec.maximumEncodedSize)-byte limit of an event") == true, "\(String(describing: large))")
        #expect(repeated?.code == "invalid-command" && repeated?.message == "affected version v0 is given twice", "\(String(describing: repeated))")
        // A triage with that many CWEs, and a release of that many versions: too large alike,
        // before the report's state is looked at.
        _ = try await admin.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ann"))), report: "ANN-2")
        for command: ReportCommand in [
            .triage(severity: .high, cvss31: nil, cvss40: nil, cwes: (0..<150_000).map { "CWE-\($0 + 1)" }, component: nil, affected: [], reason: nil),
            .release(versions: affected),
        ] {
            let body = await refusal(admin, command, "ANN-2")
            #expect(body?.code == "event-too-large", "\(String(describing: body))")
        }
        #expect(clock.now - started < .seconds(30), "\(clock.now - started)")
        #expect(try node.store.read(stream: try DomainStreams.report("ANN-1")).isEmpty)
        for c in [ann, admin] { await c.close() }
        await node.stop()
    }

    @Test("a client that reads none of its answers for the idle timeout is disconnected")
    func clientThatNeverReads() async throws {
        let node = try await Self.nodeWithBigLog {
            $0.outboundBufferLimit = 128 << 10
            $0.idleTimeout = .seconds(2)
        }
        let socket = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken, receiveBuffer: 32 << 10))
        for i in 0..<100 { socket.send(Frame(.read, requestID: UInt32(100 + i), body: ["from": 1, "limit": 300])) }
        try await eventually("the node closes the connection", timeout: .seconds(20)) { node.server.connectionCount == 0 }
        await node.stop()
    }

    @Test("bad frames get an error frame and a closed connection; the server keeps serving and the log is unchanged",
          arguments: [
            ("oversized length", [0x7F, 0xFF, 0xFF, 0xFF] as [UInt8], "frame-too-large"),
            ("unknown type", [0x00, 0x00, 0x00, 0x06, 0x42, 0, 0, 0, 3, 0x07, 0x00], "unknown-frame-type"),
            ("garbage", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), "frame-too-large"),
            ("malformed body", [0x00, 0x00, 0x00, 0x06, 0x17, 0, 0, 0, 3, 0x0A], "malformed-body"),
            ("a server frame type", [0x00, 0x00, 0x00, 0x07, 0x90, 0, 0, 0, 3, 0x07, 0x00], "protocol-violation"),
          ])
    func badFrames(_ name: String, _ bytes: [UInt8], _ code: String) async throws {
        let node = try await TestNode()
        let before = node.store.head.sequence
        let s = try RawSocket(port: node.port)
        #expect(try await offPool { s.handshake(token: node.adminToken) })
        s.send(bytes)
        let r = await offPool { s.readUntilClosed() }
        #expect(r.closed, "\(name)")
        #expect(r.frames.last?.type == .error && r.frames.last?.body["code"]?.stringValue == code, "\(name): \(r.frames)")
        // Everyone else is unaffected.
        let client = node.client()
        #expect(try await client.status()["lastSequence"]?.intValue == Int64(before))
        #expect(node.store.head.sequence == before)
        await client.close()
        await node.stop()
    }

    @Test("a connection closed for a bad frame drops the requests it still had queued")
    func badFrameDropsQueuedRequests() async throws {
        let node = try await TestNode()
        let s = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        // Thirty appends (each waits for its commit, one after another) and, in the same write, bytes
        // that are no frame: the node closes the connection at once, before most appends have run.
        var bytes: [UInt8] = []
        for i in 0..<30 {
            bytes += FrameEncoder.bytes(Frame(.append, requestID: UInt32(10 + i), body: ["stream": "queued", "events": [["type": "A"]]]))
        }
        bytes += Array("GET / HTTP/1.1\r\n\r\n".utf8)
        s.send(bytes)
        let r = await offPool { s.readUntilClosed() }
        #expect(r.closed && r.frames.last?.body["code"] == "frame-too-large", "\(r.frames)")
        try await Task.sleep(for: .milliseconds(300))
        let landed = try node.store.read(stream: try StreamName("queued")).count
        #expect(landed <= 5, "\(landed) of 30 queued appends ran after the connection was closed")
        // Every append answered before the close landed (one that landed as the connection closed
        // may have gone unanswered).
        #expect(r.frames.filter { $0.type == .appended }.count <= landed)
        await node.stop()
    }

    @Test("before it authenticates a client may send only small frames; after, frames up to the node's maximum")
    func smallFramesBeforeAuthentication() async throws {
        let node = try await TestNode()
        let big = String(repeating: "x", count: 100_000)
        // Before HELLO, and between WELCOME and AUTH: refused on the length alone, nothing buffered.
        for helloFirst in [false, true] {
            let s = try RawSocket(port: node.port)
            if helloFirst {
                s.send(Frame(.hello, requestID: 1, body: ["versions": [1]]))
                #expect(try await s.nextFrame()?.type == .welcome)
            }
            s.send(Frame(.auth, requestID: 2, body: ["token": .string(node.adminToken), "pad": .string(big)]))
            let r = await offPool { s.readUntilClosed() }
            #expect(r.closed)
            let refused = try #require(r.frames.last)
            #expect(refused.body["code"] == "frame-too-large", "\(refused.body)")
            #expect(refused.body["message"]?.stringValue?.contains("exceeds the maximum of \(Frame.handshakeMaximumLength) bytes before authentication") == true, "\(refused.body)")
        }
        // Once authenticated, the same size is an ordinary request.
        let s = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        s.send(Frame(.status, requestID: 3, body: ["pad": .string(big)]))
        let answer = try #require(try await s.nextFrame())
        #expect(answer.type == .statusResult && answer.requestID == 3, "\(answer.body)")
        await node.stop()
    }

    @Test("a truncated frame and a one-byte-at-a-time sender do not disturb the server")
    func slowAndTruncated() async throws {
        // Long enough for the status client below to log in on a loaded machine; the trickle
        // below takes over five seconds.
        let node = try await TestNode { $0.handshakeTimeout = .seconds(2) }
        // A frame cut short, then the peer goes away.
        let cut = try RawSocket(port: node.port)
        cut.send(Array(FrameEncoder.bytes(Frame(.hello, requestID: 1, body: ["versions": [1]])).prefix(7)))
        // A sender trickling bytes never completes the handshake in time.
        let slow = try RawSocket(port: node.port)
        let trickle = Task {
            for b in FrameEncoder.bytes(Frame(.hello, requestID: 1, body: ["versions": [1], "client": .string(String(repeating: "x", count: 40))])) {
                slow.send([b])
                try await Task.sleep(for: .milliseconds(80))
            }
        }
        let r = await offPool { slow.readUntilClosed() }
        trickle.cancel()
        #expect(r.closed && r.frames.last?.body["code"] == "handshake-timeout")
        let client = node.client()
        #expect(try await client.status()["lastSequence"] == 1)
        await client.close()
        _ = cut
        await node.stop()
    }

    @Test("a frame must arrive whole within the frame timeout: one trickled a byte at a time (which keeps the connection from going idle) and one that stops halfway are closed with frame-timeout; one sent in parts within it is served")
    func frameTimeout() async throws {
        // The idle timeout passes before the frame timeout: the trickle's bytes hold it off.
        let node = try await TestNode {
            $0.idleTimeout = .seconds(2)
            $0.frameTimeout = .seconds(3)
        }
        let big = FrameEncoder.bytes(Frame(.status, requestID: 4, body: ["pad": .string(String(repeating: "y", count: 64 << 10))]))
        // 60 KiB of a 64 KiB frame at once, then a byte every 200 ms.
        let slow = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        let started = ContinuousClock.now
        slow.send(Array(big.prefix(60 << 10)))
        let trickle = Task {
            for b in big.dropFirst(60 << 10).prefix(100) {
                slow.send([b])
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let r = await offPool { slow.readUntilClosed() }
        trickle.cancel()
        let refused = try #require(r.frames.last)
        #expect(r.closed && refused.body["code"] == "frame-timeout", "\(refused.body)")
        #expect(refused.body["message"] == "a frame did not arrive whole within 3 s of its first bytes: send each frame at once", "\(refused.body)")
        #expect(ContinuousClock.now - started >= .seconds(3))
        await node.stop()

        let quick = try await TestNode { $0.frameTimeout = .seconds(1) }
        // In two parts half a second apart: within the timeout, an ordinary request.
        let split = try #require(try await RawSocket.authenticated(port: quick.port, token: quick.adminToken))
        let status = FrameEncoder.bytes(Frame(.status, requestID: 3, body: ["pad": .string(String(repeating: "x", count: 2000))]))
        split.send(Array(status.prefix(1000)))
        try await Task.sleep(for: .milliseconds(500))
        split.send(Array(status.dropFirst(1000)))
        #expect(try await split.nextFrame()?.type == .statusResult)
        // Stopped halfway, with nothing more to read: closed once the timeout has passed (checked a
        // quarter of it apart, so within 1.25 s, and a few seconds' slack for a loaded machine).
        let stalled = try #require(try await RawSocket.authenticated(port: quick.port, token: quick.adminToken))
        let stalledAt = ContinuousClock.now
        stalled.send(Array(big.prefix(60 << 10)))
        let stop = await offPool { stalled.readUntilClosed() }
        let after = ContinuousClock.now - stalledAt
        #expect(stop.closed && stop.frames.last?.body["code"] == "frame-timeout", "\(stop.frames)")
        #expect(after >= .seconds(1) && after < .seconds(5), "closed after \(after)")
        // Everyone else is served.
        split.send(FrameEncoder.bytes(Frame(.status, requestID: 5)))
        #expect(try await split.nextFrame()?.type == .statusResult)
        await quick.stop()
    }

    @Test("one address gets at most its share of connections, handshaking ones included: a newcomer from it takes the place of its longest handshake, and only an address whose connections all authenticated is refused")
    func connectionsPerAddress() async throws {
        let node = try await TestNode { $0.maximumConnectionsPerAddress = 2 }
        // Two strangers that never authenticate hold the address's two slots; a third takes the
        // place of the first, which is told so and closed.
        // (One at a time: the node orders handshakes as it takes the connections in.)
        let a = try RawSocket(port: node.port)
        try await eventually("the first is registered") { node.server.handshakingCount == 1 }
        let b = try RawSocket(port: node.port)
        try await eventually("both are registered") { node.server.handshakingCount == 2 }
        let c = try RawSocket(port: node.port)
        let evicted = await offPool { a.readUntilClosed() }
        #expect(evicted.closed && evicted.frames.first?.body["code"] == "too-many-connections", "\(evicted.frames)")
        #expect(evicted.frames.first?.body["message"]?.stringValue?.contains("a newer one took its place (at most 2 connections from one address)") == true, "\(evicted.frames)")
        try await eventually("the first is gone") { node.server.connectionCount == 2 && node.server.handshakingCount == 2 }
        // A client with a token from the same address gets in while strangers hold its slots,
        // in the place of the oldest (b), and is served.
        var d: RawSocket? = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        #expect(await offPool { b.readUntilClosed() }.frames.first?.body["code"] == "too-many-connections")
        d?.send(Frame(.status, requestID: 3))
        #expect(try await d?.nextFrame()?.type == .statusResult)
        try await eventually("b is gone") { node.server.connectionCount == 2 && node.server.handshakingCount == 1 }
        // Another client takes c's place; with both slots authenticated, a newcomer is refused.
        let e = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        #expect(await offPool { c.readUntilClosed() }.frames.first?.body["code"] == "too-many-connections")
        try await eventually("c is gone") { node.server.connectionCount == 2 && node.server.handshakingCount == 0 }
        let f = try RawSocket(port: node.port)
        let refused = await offPool { f.readUntilClosed() }
        #expect(refused.closed && refused.frames.first?.body["code"] == "too-many-connections", "\(refused.frames)")
        #expect(refused.frames.first?.body["message"]?.stringValue?.contains("at most 2 connections from one address; close some") == true)
        // One goes; the address may connect again.
        #expect(d != nil)
        d = nil
        try await eventually("the slot is freed") { node.server.connectionCount == 1 }
        let g = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        g.send(Frame(.status, requestID: 4))
        #expect(try await g.nextFrame()?.type == .statusResult)
        withExtendedLifetime(e) {}
        await node.stop()
    }

    @Test("a connection whose place a newer one took while its token was being checked is closed, not let in beyond the limit")
    func evictedWhileAuthenticating() async throws {
        let node = try await TestNode { $0.maximumConnectionsPerAddress = 1 }
        // Its AUTH stops between reading the token records and answering.
        let gate = DispatchSemaphore(value: 0)
        defer { gate.signal() }
        let first = try await Self.authenticatingUntil(gate, node: node, token: node.adminToken)
        // A newer connection from the address takes its place; then its AUTH goes on.
        let second = try RawSocket(port: node.port)
        // The eviction closes it at once, its AUTH still held; the AUTH then finds it closed.
        // (In the other order, which a test cannot force, `authenticated` refuses it and the
        // eviction on its way closes it.)
        let r = await offPool { first.readUntilClosed() }
        gate.signal()
        #expect(r.closed && r.frames.last?.body["code"] == "too-many-connections", "\(r.frames.map(\.type))")
        #expect(!r.frames.contains { $0.type == .authenticated })
        // The newer one gets in, and the address holds just it.
        #expect(try await offPool { second.handshake(token: node.adminToken) })
        try await eventually("only the newer one is left") { node.server.connectionCount == 1 && node.server.handshakingCount == 0 }
        second.send(Frame(.status, requestID: 3))
        #expect(try await second.nextFrame()?.type == .statusResult)
        await node.stop()
    }

    @Test("strangers who never authenticate cannot keep a client with a token out: a new connection takes the place of the longest handshake, and only a node full of authenticated clients refuses")
    func handshakeSlots() async throws {
        let node = try await TestNode {
            $0.maximumConnections = 5
            $0.maximumHandshakingConnections = 2
        }
        // Two connections that never say HELLO take both handshake slots; a third takes the
        // place of the first, which is told so and closed.
        // (One at a time: the node orders handshakes as it takes the connections in.)
        let s1 = try RawSocket(port: node.port)
        try await eventually("the first is registered") { node.server.handshakingCount == 1 }
        let s2 = try RawSocket(port: node.port)
        try await eventually("both are registered") { node.server.handshakingCount == 2 }
        let s3 = try RawSocket(port: node.port)
        let evicted = await offPool { s1.readUntilClosed() }
        #expect(evicted.closed && evicted.frames.first?.body["code"] == "too-many-connections", "\(evicted.frames)")
        #expect(evicted.frames.first?.body["message"]?.stringValue?.contains("a newer one took its place (at most 2 may be in their handshake at once)") == true)
        try await eventually("the first is gone") { node.server.connectionCount == 2 && node.server.handshakingCount == 2 }
        // Clients with a token get in while strangers hold every slot, and authenticating gives
        // the slot back.
        var clients: [RawSocket] = []
        for _ in 0..<3 {
            clients.append(try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken)))
            try await eventually("the client gives its slot back") { node.server.handshakingCount == 1 }
        }
        // s2 made room for the first client; s3 still handshakes. With one more stranger the node
        // is full, and a client still gets in, in the oldest stranger's place.
        let s4 = try RawSocket(port: node.port)
        try await eventually("the node is full") { node.server.connectionCount == 5 }
        clients.append(try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken)))
        #expect(await offPool { s3.readUntilClosed() }.frames.first?.body["code"] == "too-many-connections")
        clients[3].send(Frame(.status, requestID: 3))
        #expect(try await clients[3].nextFrame()?.type == .statusResult)
        // Full of authenticated clients only, the node refuses a newcomer: nobody to make room.
        try await eventually("s3 is gone") { node.server.connectionCount == 5 && node.server.handshakingCount == 1 }
        #expect(try await offPool { s4.handshake(token: node.adminToken) })
        let s5 = try RawSocket(port: node.port)
        let refused = await offPool { s5.readUntilClosed() }
        #expect(refused.frames.first?.body["code"] == "too-many-connections" && refused.frames.first?.body["message"]?.stringValue?.contains("at most 5 connections") == true, "\(refused.frames)")
        withExtendedLifetime((s2, clients)) {}
        await node.stop()
    }

    @Test("connections count against their IPv4 address, IPv4-mapped ones too, or their IPv6 /64")
    func connectionAddressKeys() throws {
        #expect(DocketServer.addressKey(try SocketAddress(ipAddress: "192.0.2.7", port: 1)) == "192.0.2.7")
        #expect(DocketServer.addressKey(try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 1)) == "192.0.2.7")
        let a = DocketServer.addressKey(try SocketAddress(ipAddress: "2001:db8:1:2::1", port: 1))
        #expect(a == "2001:db8:1:2::/64")
        #expect(DocketServer.addressKey(try SocketAddress(ipAddress: "2001:db8:1:2:ffff::9", port: 2)) == a)
        #expect(DocketServer.addressKey(try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 1)) != a)
        #expect(DocketServer.addressKey(nil) == "unknown")
    }

    @Test("limits: connections and requests in flight are refused with an error; others keep being served")
    func limits() async throws {
        let node = try await TestNode {
            $0.maximumConnections = 3
            $0.maximumInFlightPerConnection = 2
        }
        let a = try RawSocket(port: node.port)
        #expect(try await offPool { a.handshake(token: node.adminToken) })
        let b = try RawSocket(port: node.port)
        #expect(try await offPool { b.handshake(token: node.adminToken) })
        let third = try RawSocket(port: node.port)
        #expect(try await offPool { third.handshake(token: node.adminToken) })
        let c = try RawSocket(port: node.port)
        let r = await offPool { c.readUntilClosed() }
        #expect(r.closed && r.frames.first?.body["code"] == "too-many-connections")
        third.send(Frame(.status, requestID: 3))
        _ = third.readFrame()
        withExtendedLifetime(third) {}
        // Many pipelined requests at once on one connection: the excess is refused, not queued.
        var burst: [UInt8] = []
        for i in 0..<50 { burst += FrameEncoder.bytes(Frame(.query, requestID: UInt32(100 + i), body: ViewQuery.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil).wireValue)) }
        a.send(burst)
        var answers: [Frame] = []
        while answers.count < 50, let f = a.readFrame() { answers.append(f) }
        #expect(answers.count == 50)
        #expect(answers.contains { $0.body["code"] == "too-many-requests" })
        #expect(answers.contains { $0.type == .queryResult })
        // The other connection is served.
        b.send(Frame(.status, requestID: 7))
        #expect(b.readFrame()?.type == .statusResult)
        // Hostile numbers are refused or capped, never trusted: huge credit, a span of 10^15 s,
        // a subscription id reused while live.
        b.send(Frame(.subscribe, requestID: 8, body: ["from": 1, "credit": .int(.max)]))
        #expect(b.readFrame()?.type == .subscribed)
        // (Two requests at a time at most, the limit here: the third waits for the second's answer.)
        b.send(Frame(.credit, requestID: 9, body: ["subscription": 8, "credit": .int(.max)]))
        b.send(Frame(.subscribe, requestID: 8, body: ["from": 1]))
        func nextError() -> String? {
            while let f = b.readFrame() { if f.type == .error { return f.body["code"]?.stringValue } }
            return nil
        }
        let reused = nextError()
        b.send(Frame(.query, requestID: 10, body: ["view": "timers", "dueWithinSeconds": .int(1_000_000_000_000_000)]))
        #expect([reused, nextError()] == ["bad-request", "bad-request"])
        b.send(Frame(.status, requestID: 11))
        var alive = false
        while let f = b.readFrame() { if f.type == .statusResult { alive = true; break } }
        #expect(alive)
        await node.stop()
    }

    @Test("a connection holds at most 64 subscriptions; one more is refused with too-many-subscriptions, and the connection carries on")
    func subscriptionLimit() async throws {
        let node = try await TestNode()
        let a = try #require(try await RawSocket.authenticated(port: node.port, token: node.adminToken))
        for id in 1...65 { a.send(Frame(.subscribe, requestID: UInt32(id), body: ["from": 1, "credit": 0])) }
        var answers: [Frame] = []
        while answers.count < 65, let f = try await a.nextFrame() { answers.append(f) }
        #expect(answers.prefix(64).allSatisfy { $0.type == .subscribed }, "\(answers.map(\.type))")
        let refused = try #require(answers.last)
        #expect(refused.type == .error && refused.requestID == 65 && refused.body["code"] == "too-many-subscriptions")
        #expect(refused.body["message"]?.stringValue?.hasPrefix("a connection may hold at most 64 subscriptions") == true)
        // Unsubscribing makes room; the connection was never closed.
        a.send(Frame(.unsubscribe, requestID: 66, body: ["subscription": 1]))
        a.send(Frame(.subscribe, requestID: 67, body: ["from": 1, "credit": 0]))
        let again = try await a.nextFrame()
        #expect(again?.type == .subscribed && again?.requestID == 67)
        // Unsubscribing from one already ended (the refused 65) is answered with its request id,
        // and with id 0 not at all: an ERROR with id 0 would read as connection-level.
        a.send(Frame(.unsubscribe, requestID: 0, body: ["subscription": 65]))
        a.send(Frame(.unsubscribe, requestID: 68, body: ["subscription": 65]))
        let unknown = try await a.nextFrame()
        #expect(unknown?.type == .error && unknown?.requestID == 68 && unknown?.body["code"] == "unknown-subscription")
        a.send(Frame(.status, requestID: 69))
        #expect(try await a.nextFrame()?.requestID == 69)
        await node.stop()
    }

    @Test("graceful shutdown under load: every acknowledged append is in the log afterwards")
    func gracefulShutdown() async throws {
        let node = try await TestNode()
        let acknowledged = Locked<[String]>([])
        let writers = (0..<8).map { w in
            Task {
                let client = node.client()
                var n = 0
                while true {
                    let id = "w\(w)-\(n)"
                    do {
                        _ = try await client.append(to: try StreamName("load-\(w)"), events: [try ProposedEvent(id: try EventID(id), type: try EventType("Tick"), actor: "a", data: ["n": .int(Int64(n))])])
                        acknowledged.mutate { $0.append(id) }
                    } catch {
                        break
                    }
                    n += 1
                }
                await client.close()
            }
        }
        // Shut down once the load is well under way (however slow this machine is today).
        for _ in 0..<400 where acknowledged.get().count < 40 { try await Task.sleep(for: .milliseconds(25)) }
        node.server.shutdown()
        _ = try? await node.runner.value
        for w in writers { await w.value }
        let ids = Set(try node.store.read(from: 1, limit: 1_000_000).map(\.id.rawValue))
        let acked = acknowledged.get()
        #expect(acked.count > 10)
        #expect(acked.allSatisfy { ids.contains($0) })
        #expect(try node.store.verify().isIntact)
        node.store.close()
        try? FileManager.default.removeItem(atPath: node.dir)
    }
}

extension ServerTests {
    @Test("the client reconnects after the node restarts and retries an append by its event id")
    func reconnect() async throws {
        let node = try await TestNode()
        let client = node.client()
        #expect(try await client.status()["lastSequence"] == 1)
        // Restart the listener on the same port over the same ledger.
        node.server.shutdown()
        _ = try? await node.runner.value
        var configuration = ServerConfiguration()
        configuration.port = node.port
        let again = DocketServer(ledger: node.ledger, configuration: configuration, logger: Logger(label: "test"))
        let runner = Task { try await again.run() }
        _ = await again.localAddress()
        let event = try ProposedEvent(id: try EventID("after-restart"), type: try EventType("T"), actor: "a", data: [:])
        let first = try await client.append(to: try StreamName("s"), events: [event])
        let retried = try await client.append(to: try StreamName("s"), events: [event])
        #expect(!first.duplicate && retried.duplicate && retried.lastSequence == first.lastSequence)
        await client.close()
        again.shutdown()
        _ = try? await runner.value
        node.store.close()
        try? FileManager.default.removeItem(atPath: node.dir)
    }

    @Test("an append or a command whose answer is lost on the way back is asked again by the client, on a new connection, and recorded once")
    func retriedAfterLostAnswer() async throws {
        let node = try await TestNode()
        try await node.adopt("alpha")
        let proxy = try AnswerDroppingProxy(upstream: node.port)
        defer { proxy.stop() }
        var configuration = DocketClient.Configuration(host: "127.0.0.1", port: proxy.port, token: node.adminToken)
        configuration.handshakeTimeout = .seconds(60)
        let client = DocketClient(configuration)
        let before = try #require(try await client.status()["lastSequence"]?.intValue)
        // The node records the append; its answer never arrives, the connection closes; the
        // client asks again with the same event id and is told it was recorded already.
        proxy.dropNextAnswer.store(true, ordering: .relaxed)
        let event = try ProposedEvent(type: try EventType("T"), actor: "a", data: ["n": 1])
        let appended = try await client.append(to: try StreamName("s"), events: [event])
        #expect(proxy.dropped.load(ordering: .relaxed) == 1)
        #expect(appended.duplicate && appended.streamVersion == 1 && appended.lastSequence == UInt64(before + 1), "\(appended)")
        #expect(try node.store.read(stream: try StreamName("s")).map(\.id) == [event.id])
        // A report command likewise: it carries an event id of the client's making.
        proxy.dropNextAnswer.store(true, ordering: .relaxed)
        let submitted = try await client.command(.submit(ReportSubmitted(project: "alpha", title: "t", reporter: Reporter(handle: "ada"))), report: "R-1")
        #expect(proxy.dropped.load(ordering: .relaxed) == 2)
        #expect(submitted["duplicate"] == true && submitted["seq"]?.intValue == before + 2, "\(submitted)")
        #expect(try node.store.read(stream: try DomainStreams.report("R-1")).count == 1)
        // Nothing else was recorded by the retries.
        #expect(node.store.head.sequence == UInt64(before + 2))
        await client.close()
        await node.stop()
    }

    @Test("a connection idle past the timeout gets an error frame and is closed; a subscriber is not idle")
    func idleTimeout() async throws {
        let node = try await TestNode { $0.idleTimeout = .seconds(1) }
        let idle = try RawSocket(port: node.port)
        #expect(try await offPool { idle.handshake(token: node.adminToken) })
        let subscriber = try RawSocket(port: node.port)
        #expect(try await offPool { subscriber.handshake(token: node.adminToken) })
        subscriber.send(Frame(.subscribe, requestID: 5, body: ["from": 1, "credit": 10]))
        let r = await offPool { idle.readUntilClosed() }
        #expect(r.closed && r.frames.last?.body["code"] == "idle-timeout")
        // The subscriber outlived the timeout and still gets new events.
        _ = try await node.ledger.append(to: try StreamName("s"), expecting: .any, events: [try ProposedEvent(type: try EventType("T"), actor: "a", data: [:])], as: .local(actor: "t"))
        var sequences: [Int64] = []
        while sequences.count < 2, let f = subscriber.readFrame() {
            sequences += (f.body["events"]?.arrayValue ?? []).compactMap { $0["seq"]?.intValue }
        }
        #expect(sequences == [1, 2])
        await node.stop()
    }

    @Test("TLS: a client that trusts the node's certificate talks to it; a plain-text client is refused",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl to make a certificate"))
    func tls() async throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func certificate(_ name: String, names: String) throws {
            let openssl = try SpawnedChild(
                path: "/usr/bin/openssl",
                arguments: ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/\(name)-key.pem", "-out", dir + "/\(name).pem",
                            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=\(names)"],
                stdout: .discard, stderr: .discard)
            #expect(openssl.finish().status == 0)
        }
        try certificate("both", names: "DNS:localhost,IP:127.0.0.1")
        try certificate("dns", names: "DNS:localhost")
        func client(_ host: String, _ node: TestNode, trusting cert: String) -> DocketClient {
            var configuration = DocketClient.Configuration(host: host, port: node.port, token: node.adminToken)
            configuration.useTLS = true
            configuration.trustRootsPath = dir + "/\(cert).pem"
            return DocketClient(configuration)
        }
        let node = try await TestNode {
            $0.tlsCertificatePath = dir + "/both.pem"
            $0.tlsKeyPath = dir + "/both-key.pem"
        }
        // By name, and by address (no server name is sent for an address; the certificate's IP entry is checked).
        for host in ["localhost", "127.0.0.1"] {
            let secure = client(host, node, trusting: "both")
            #expect(try await secure.status()["lastSequence"] == 1, "\(host)")
            await secure.close()
        }
        // A plain-text client is refused, and told why.
        let plain = node.client()
        let refused = await #expect(throws: DocketClientError.self) { try await plain.status() }
        #expect(refused?.description.contains("TLS") == true, "\(String(describing: refused))")
        await plain.close()
        await node.stop()
        // A certificate that names the host but not the address is refused by address.
        let named = try await TestNode {
            $0.tlsCertificatePath = dir + "/dns.pem"
            $0.tlsKeyPath = dir + "/dns-key.pem"
        }
        let byAddress = client("127.0.0.1", named, trusting: "dns")
        await #expect(throws: DocketClientError.self) { try await byAddress.status() }
        await byAddress.close()
        await named.stop()
    }

    @Test("connections set TCP_NODELAY (at the TCP level, not SO_DEBUG) and probe with TCP keepalive, so a peer whose machine vanished is noticed")
    func keepAlive() async throws {
        let node = try await TestNode()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.configureSocket() } }
            .connect(host: "127.0.0.1", port: node.port).get()
        func option(_ level: NIOBSDSocket.OptionLevel, _ name: CInt) async throws -> Int {
            try await channel.getOption(ChannelOptions.Types.SocketOption(level: level, name: NIOBSDSocket.Option(rawValue: name))).get()
        }
        #expect(try await option(.socket, SO_KEEPALIVE) != 0)
        // TCP_NODELAY at the TCP level; nothing at the socket level's number for it (SO_DEBUG,
        // which only a privileged user may set).
        #expect(try await option(.tcp, TCP_NODELAY) != 0)
        #expect(try await option(.socket, SO_DEBUG) == 0)
        let (idle, interval, count) = (try await option(.tcp, TCP_KEEPIDLE), try await option(.tcp, TCP_KEEPINTVL), try await option(.tcp, TCP_KEEPCNT))
        #expect(idle == 10 && interval == 5 && count == 3)
        try await channel.close()
        await node.stop()
    }

    @Test("a client gives up on something that accepts connections but never answers the handshake")
    func handshakeTimeout() async throws {
        let silent = try #require(SilentListener())
        var configuration = DocketClient.Configuration(host: "127.0.0.1", port: silent.port, token: "t")
        configuration.handshakeTimeout = .milliseconds(300)
        configuration.reconnectAttempts = 0
        let c = DocketClient(configuration)
        let started = ContinuousClock.now
        let error = await #expect(throws: DocketClientError.self) { try await c.status() }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error?.description.contains("did not answer the handshake within") == true, "\(String(describing: error))")
        await c.close()
    }

    @Test("a node told to listen where another already does is refused with the address, the reason and what to do")
    func portInUse() async throws {
        let node = try await TestNode()
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            var configuration = ServerConfiguration()
            configuration.host = "127.0.0.1"
            configuration.port = node.port
            var logger = Logger(label: "second-node")
            logger.logLevel = .critical
            let second = DocketServer(ledger: Ledger(store: store, dataDir: dir), configuration: configuration, logger: logger)
            let refused = await #expect(throws: ServerError.self) { try await second.run() }
            #expect(refused?.message == "cannot listen on 127.0.0.1:\(node.port): Address already in use: another process listens there (another node?); stop it, or give this one another --listen")
            // Whoever waits for its address, then or later, is told it has none.
            #expect(await second.localAddress() == nil)
            #expect(await second.localAddress() == nil)
        }
        // The first node serves on.
        let client = node.client()
        #expect(try await client.status()["role"] != nil)
        await client.close()
        await node.stop()
    }
}

