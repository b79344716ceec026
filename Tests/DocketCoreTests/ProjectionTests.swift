@testable import DocketCore
import DocketTestSupport
import Testing

/// The fold behind every view: checkpoints restore exactly what was folded, and a view as of a
/// sequence or an instant is the fold stopped there.
@Suite("Projection")
struct ProjectionTests {
    /// A log of synthetic report histories under one policy, as recorded events.
    static func log(reports: Int) throws -> [RecordedEvent] {
        let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
        var steps = [SyntheticReports.Step(
            stream: try DomainStreams.project("aumos"),
            events: [try DomainEvent.policyAdopted(PolicyAdopted(policyText: SyntheticReports.policyText, zone: .utc)).proposed(actor: "admin", occurredAt: start)])]
        for n in 0..<reports { steps.append(SyntheticReports.report(n, start: start + .seconds(Int64(n) * 7200))) }
        var sequence: UInt64 = 0
        var out: [RecordedEvent] = []
        for step in steps {
            for (i, e) in step.events.enumerated() {
                sequence += 1
                out.append(RecordedEvent(
                    sequence: sequence, stream: step.stream, streamVersion: UInt64(i + 1), id: e.id, type: e.type,
                    schemaVersion: e.schemaVersion, actor: e.actor, occurredAt: e.occurredAt!, recordedAt: e.occurredAt!, payload: e.payload))
            }
        }
        return out
    }

    static func clocks(_ p: Projection, at now: Timestamp) -> [Clock] {
        p.reports.keys.sorted().flatMap { id in Timers.clocks(for: p.reports[id]!, policy: p.policy(for: p.reports[id]!), now: now) }
    }

    @Test("a checkpoint restores every report, project and clock exactly; folding on from it equals folding from scratch")
    func checkpointRoundTrip() throws {
        let events = try Self.log(reports: 200)
        let half = events.count / 2
        var first = Projection()
        for e in events.prefix(half) { first.apply(e) }
        let restored = try #require(Projection(checkpoint: first.checkpoint()))
        #expect(restored.reports == first.reports)
        #expect(restored.lastSequence == first.lastSequence && restored.lastOccurredAt == first.lastOccurredAt)
        #expect(restored.projects["aumos"]?.currentPolicy?.policy == first.projects["aumos"]?.currentPolicy?.policy)
        var resumed = restored
        var full = Projection()
        for e in events.dropFirst(half) { resumed.apply(e) }
        for e in events { full.apply(e) }
        #expect(resumed.reports == full.reports)
        let now = try Timestamp(rfc3339: "2026-04-01T00:00:00Z")
        #expect(Self.clocks(resumed, at: now) == Self.clocks(full, at: now))
        #expect(full.undecodable == 0)
    }

    @Test("an event of a report's stream whose payload does not decode is counted, not folded; other streams' events are skipped")
    func undecodablePayloads() throws {
        var p = Projection()
        func apply(stream: String, type: String, payload: [UInt8], sequence: UInt64) {
            var stream = stream
            var type = type
            stream.withUTF8 { s in
                type.withUTF8 { t in
                    payload.withUnsafeBytes { raw in
                        p.apply(EnvelopeCodec.Fields(
                            sequence: sequence, streamVersion: 1, stream: UnsafeRawBufferPointer(s), type: UnsafeRawBufferPointer(t),
                            schemaVersion: 1, occurredAt: Timestamp(microseconds: 1), recordedAt: Timestamp(microseconds: 2), payload: raw))
                    }
                }
            }
        }
        let submitted = SyntheticReports.report(1, start: Timestamp(microseconds: 1_700_000_000_000_000))
        let first = submitted.events[0]
        apply(stream: submitted.stream.rawValue, type: first.type.rawValue, payload: first.payload.bytes, sequence: 1)
        let id = String(submitted.stream.rawValue.dropFirst(DomainStreams.reportPrefix.count))
        let before = try #require(p.reports[id])
        let acknowledged = DomainEvent.reportAcknowledged(ReportAcknowledged(assignee: "x")).value
        #expect(try DomainEvent(type: "ReportAcknowledged", version: 1, payload: acknowledged) == .reportAcknowledged(ReportAcknowledged(assignee: "x")))
        var unknownTag = Payload(acknowledged).bytes
        #expect(unknownTag.suffix(3) == [5, 1, 0x78])  // "assignee": "x" (5: a string), last
        unknownTag[unknownTag.count - 3] = 9
        apply(stream: submitted.stream.rawValue, type: "ReportAcknowledged", payload: unknownTag, sequence: 2)  // an unknown value tag
        apply(stream: submitted.stream.rawValue, type: "ReportAcknowledged", payload: Payload(acknowledged).bytes + [0], sequence: 3)  // trailing bytes
        apply(stream: "misc", type: "Note", payload: [9], sequence: 4)  // not a domain stream: not read
        #expect(p.undecodable == 2 && p.lastSequence == 4)
        #expect(p.reports[id] == before, "the report is as its submission left it")
    }

    @Test("a checkpoint keeps each embargo extension's event and recorded times and the events recorded late")
    func checkpointKeepsExtensionTimes() throws {
        var p = Projection()
        let at = try Timestamp(rfc3339: "2026-03-10T00:00:00Z")
        p.apply(.reportSubmitted(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada", name: nil, credit: .named))), toReport: "R", at: try Timestamp(rfc3339: "2026-02-01T00:00:00Z"))
        let extended = EmbargoExtended(until: try Timestamp(rfc3339: "2026-04-15T00:00:00Z"), reason: "distros", reporterAgreed: true)
        let recorded = try Timestamp(rfc3339: "2026-03-20T00:00:00Z")
        p.apply(.embargoExtended(extended), toReport: "R", at: at, recordedAt: recorded)
        #expect(p.reports["R"]?.embargoExtensions == [EmbargoExtension(extended, at: at, recordedAt: recorded)])
        #expect(p.reports["R"]?.lateEntries == [LateEntry(type: "EmbargoExtended", occurredAt: at, recordedAt: recorded)])
        let restored = try #require(Projection(checkpoint: p.checkpoint()))
        #expect(restored.reports == p.reports)
        #expect(restored.reports["R"]?.embargoExtensions.first?.at == at)
        #expect(restored.reports["R"]?.embargoExtensions.first?.recordedAt == recorded)
        #expect(restored.reports["R"]?.lateEntries.first?.recordedAt == recorded)
    }

    /// One report's history with every kind of report event, each with its payload's fields
    /// set, one a day from `start` (the flag: recorded three days late).
    static func everyKindOfEvent(at start: Timestamp) throws -> [(DomainEvent, Bool)] {
        var t = start
        var history: [(DomainEvent, Bool)] = []
        func add(_ event: DomainEvent, recordedLate: Bool = false) {
            t = t + .seconds(86_400)
            history.append((event, recordedLate))
        }
        add(.reportSubmitted(ReportSubmitted(
            project: "p", title: "Heap overflow in the parser: ünïcode", reporter: Reporter(handle: "ada", name: "Ada L.", contact: "ada@example.org", credit: .handle),
            component: "parser", affected: ["<2.1"], claimedSeverity: .critical)))
        add(.reportAcknowledged(ReportAcknowledged(assignee: "bob")))
        add(.triageStarted(TriageStarted()))
        add(.infoRequested(InfoRequested(question: "version?")))
        add(.reporterResponded(ReporterResponded(summary: "2.0")))
        add(.reportTriaged(ReportTriaged(
            severity: .high, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", cvss40: nil, cwes: ["CWE-122"], component: "parser/core", affected: ["<2.1.1"])))
        add(.severityChanged(SeverityChanged(severity: .critical, cvss40: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")))
        add(.statusUpdateSent(StatusUpdateSent(summary: "working on it")))
        add(.reportClosed(ReportClosed(resolution: .informative)))
        add(.reportReopened(ReportReopened(reason: "reproduced")))
        add(.fixStarted(FixStarted(branch: "fix")))
        add(.fixMerged(FixMerged(commit: "abc123")), recordedLate: true)
        add(.fixReleased(FixReleased(versions: ["2.1.1", "2.0.9"])))
        add(.cveRequested(CVERequested(cna: "GitHub")))
        add(.cveAssigned(CVEAssigned(cve: "CVE-2026-0001")))
        add(.disclosureScheduled(DisclosureScheduled(date: t + .seconds(30 * 86_400))))
        add(.embargoExtended(EmbargoExtended(until: t + .seconds(40 * 86_400), reason: "distros", reporterAgreed: true)), recordedLate: true)
        add(.exploitationObserved(ExploitationObserved(source: "KEV")))
        add(.creditOffered(CreditOffered(person: "ada", type: .finder)))
        add(.creditOffered(CreditOffered(person: "eve", type: .remediationReviewer)))
        add(.creditAccepted(CreditAccepted(person: "ada", displayName: "Ada", preference: .handle)))
        add(.creditDeclined(CreditDeclined(person: "eve")))
        add(.advisoryPublished(AdvisoryPublished(ghsa: "GHSA-xxxx-yyyy-zzzz", url: "https://example.org/a")))
        add(.noteAdded(NoteAdded(text: "note")))
        add(.advisoryWithdrawn(AdvisoryWithdrawn(reason: "not a vulnerability")))
        add(.reportClosed(ReportClosed(resolution: .duplicate, duplicateOf: "R-0")))
        return history
    }

    @Test("a checkpoint keeps every field of a report: one with every kind of event restores equal, field for field")
    func checkpointKeepsEveryField() throws {
        var p = Projection()
        var t = try Timestamp(rfc3339: "2026-02-02T10:00:00Z")
        func step(_ event: DomainEvent, recordedLate: Bool = false) {
            t = t + .seconds(86_400)
            p.apply(event, toReport: "R-1", at: t, recordedAt: recordedLate ? t + .seconds(3 * 86_400) : t)
        }
        for (event, late) in try Self.everyKindOfEvent(at: t) { step(event, recordedLate: late) }
        let report = try #require(p.reports["R-1"])
        // Every optional set and every list non-empty, so a field the checkpoint forgot would show.
        let f = report.fields
        let optionals: [Any?] = [
            f.component, f.severity, f.claimedSeverity, f.cvss31, f.cvss40, f.assignee, f.cve, f.ghsa, f.advisoryURL, f.scheduledDisclosure,
            f.exploitedAt, f.resolution, f.duplicateOf, f.withdrawalReason, f.acknowledgedAt, f.acceptedAt, f.fixStartedAt, f.fixReleasedAt,
            f.disclosedAt, f.closedAt, f.withdrawnAt, f.reporter.name, f.reporter.contact,
        ]
        #expect(optionals.allSatisfy { $0 != nil })
        let counts = [
            f.cwes.count, f.affected.count, f.fixedVersions.count, f.commits.count, f.embargoExtensions.count, f.credits.count, f.waits.count,
            f.closures.count, f.severityHistory.count, f.statusUpdates.count, f.lateEntries.count, f.notes,
        ]
        #expect(counts.allSatisfy { $0 > 0 } && f.cveRequested)
        let restored = try #require(Projection(checkpoint: p.checkpoint()))
        #expect(restored.reports["R-1"]?.fields == f)
        #expect(restored.checkpoint() == p.checkpoint())
    }

    @Test("a fold reads no payload that no view keeps, and folds every kind of event as the full decoding does")
    func foldingDecode() throws {
        var typed = Projection()
        var enveloped = Projection()
        var unread: Set<String> = []
        var t = try Timestamp(rfc3339: "2026-02-02T10:00:00Z")
        for (i, (event, late)) in try Self.everyKindOfEvent(at: t).enumerated() {
            t = t + .seconds(86_400)
            let recorded = late ? t + .seconds(3 * 86_400) : t
            typed.apply(event, toReport: "R-1", at: t, recordedAt: recorded)
            var stream = "report/R-1"
            var type = event.typeName
            let payload = Payload(event.value).bytes
            try stream.withUTF8 { s in
                try type.withUTF8 { name in
                    try payload.withUnsafeBytes { raw in
                        let fields = EnvelopeCodec.Fields(
                            sequence: UInt64(i + 1), streamVersion: UInt64(i + 1), stream: UnsafeRawBufferPointer(s), type: UnsafeRawBufferPointer(name),
                            schemaVersion: event.schemaVersion, occurredAt: t, recordedAt: recorded, payload: raw)
                        enveloped.apply(fields)
                        // The folding decode names the same event; one that differs left its payload unread.
                        let folded = try DomainEvent(folding: fields.type, version: fields.schemaVersion, encoded: fields.payload)
                        #expect(folded.typeName == event.typeName)
                        if folded != event { unread.insert(event.typeName) }
                    }
                }
            }
        }
        #expect(enveloped.undecodable == 0)
        #expect(enveloped.reports == typed.reports, "the report is the same whether the payloads no view keeps are read or not")
        #expect(unread == ["InfoRequested", "ReporterResponded", "StatusUpdateSent", "FixStarted", "CVERequested", "ExploitationObserved", "ReportReopened", "NoteAdded"])
        // A payload it does not read is still checked: one that does not match its schema is undecodable.
        let bad: [UInt8] = Payload(DomainEvent.statusUpdateSent(StatusUpdateSent(summary: "x")).value).bytes + [0]
        #expect(throws: DomainError.self) {
            try bad.withUnsafeBytes { raw in
                _ = try Array("StatusUpdateSent".utf8).withUnsafeBytes { name in try DomainEvent(folding: name, version: 1, encoded: raw) }
            }
        }
        // So it is with a thread's own copy of the schemas (a partitioned rebuild's), which also
        // names an unknown type or version as the shared ones do.
        let copy = DomainEvent.Schemas.shared.privateCopy()
        for (type, version, bytes) in [("StatusUpdateSent", UInt16(1), bad), ("StatusUpdateSent", 9, bad), ("NoSuchEvent", 1, bad)] {
            let errors = [DomainEvent.Schemas.shared, copy].map { schemas in
                #expect(throws: DomainError.self) {
                    try bytes.withUnsafeBytes { raw in
                        _ = try Array(type.utf8).withUnsafeBytes { name in try DomainEvent(folding: name, version: version, encoded: raw, schemas: schemas) }
                    }
                }
            }
            #expect(errors[0]?.code == errors[1]?.code && errors[0]?.message == errors[1]?.message, "\(type) v\(version)")
        }
    }

    @Test("a project stream whose name is not ASCII (which no project name the ledger takes is) is in no view: its events are counted as undecodable")
    func projectNameNotASCII() throws {
        let adopted = try DomainEvent.policyAdopted(PolicyAdopted(policyText: SyntheticReports.policyText, zone: .utc))
            .proposed(actor: "admin", occurredAt: try Timestamp(rfc3339: "2026-01-05T09:00:00Z"))
        var p = Projection()
        // The Kelvin sign (U+212A) is "K" to a Swift string: "\u{212A}ey" == "Key".
        for (i, name) in ["\u{212A}ey", "Key", "caf\u{E9}"].enumerated() {
            p.apply(RecordedEvent(
                sequence: UInt64(i + 1), stream: try DomainStreams.project(name), streamVersion: 1, id: .random(), type: adopted.type,
                schemaVersion: adopted.schemaVersion, actor: "admin", occurredAt: adopted.occurredAt!, recordedAt: adopted.occurredAt!, payload: adopted.payload))
        }
        #expect(p.undecodable == 2)
        #expect(Array(p.projects.keys) == ["Key"] && p.projects["Key"]?.policies.count == 1)
        // Nor a report submitted to such a project, which views grouping by project name would
        // count as project "Key"'s.
        let step = SyntheticReports.report(1, start: adopted.occurredAt!)
        let first = try #require(step.events.first)
        guard case .reportSubmitted(var e) = try DomainEvent(type: first.type.rawValue, version: first.schemaVersion, encoded: first.payload.bytes) else {
            Issue.record("not a submission")
            return
        }
        let original = e.project
        e.project = "\u{212A}ey"
        let submission = try DomainEvent.reportSubmitted(e).proposed(actor: first.actor, occurredAt: first.occurredAt!)
        for (i, e) in [submission, step.events[1]].enumerated() {
            p.apply(RecordedEvent(
                sequence: UInt64(10 + i), stream: step.stream, streamVersion: UInt64(i + 1), id: e.id, type: e.type,
                schemaVersion: e.schemaVersion, actor: e.actor, occurredAt: e.occurredAt!, recordedAt: e.occurredAt!, payload: e.payload))
        }
        #expect(!original.isEmpty && p.undecodable == 3 && p.reports.isEmpty, "the submission counted, the report's next event folded into nothing")
    }

    @Test("a split gives each partition a copy of the schemas of its own, none of them the shared one")
    func splitSchemas() {
        // Folding threads that shared one would write the same reference counts for every event.
        let parts = Projection().split(into: 3) { _ in 0 }
        #expect(parts.allSatisfy { $0.schemas !== DomainEvent.Schemas.shared })
        #expect(Set(parts.map { ObjectIdentifier($0.schemas) }).count == 3)
    }

    @Test("a checkpoint of another format, or damaged, is refused rather than misread")
    func foreignCheckpoint() throws {
        // The `Value` trees of formats up to 8.
        #expect(Projection(checkpoint: Payload(["format": 8, "lastSequence": 1]).bytes) == nil)
        #expect(Projection(checkpoint: Payload(["format": 1, "lastSequence": 1, "reports": [["id": "x"]]]).bytes) == nil)
        #expect(Projection(checkpoint: Payload("not a checkpoint").bytes) == nil)
        #expect(Projection(checkpoint: [UInt8]()) == nil)
        var p = Projection()
        for e in try Self.log(reports: 20) { p.apply(e) }
        let good = p.checkpoint()
        #expect(good.first.map(UInt64.init) == Projection.checkpointFormat)
        #expect(Projection(checkpoint: good)?.reports == p.reports)
        // Another format number; a byte more; any byte fewer.
        #expect(Projection(checkpoint: [99] + good.dropFirst()) == nil)
        #expect(Projection(checkpoint: good + [0]) == nil)
        for n in stride(from: 0, to: good.count, by: 7) { #expect(Projection(checkpoint: good.prefix(n)) == nil, "cut to \(n) bytes") }
        // A state that is no state (the same length, so every length still reads).
        let accepted = Array("accepted".utf8)
        let at = try #require(good.indices.first { good[$0...].starts(with: accepted) })
        var edited = good
        edited.replaceSubrange(at..<(at + accepted.count), with: Array("acceptex".utf8))
        #expect(Projection(checkpoint: edited) == nil)
        // Any byte changed: refused or read as something, never a crash or a read past the end.
        var rng = SplitMix64(seed: 9)
        for _ in 0..<2000 {
            var damaged = good
            damaged[Int(rng.next() % UInt64(good.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            _ = Projection(checkpoint: damaged)
        }
        // Two reports under one id.
        var twice = Projection()
        twice.apply(.reportSubmitted(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))), toReport: "R", at: Timestamp(microseconds: 1))
        var none = twice
        none.reports = [:]
        let (one, header) = (twice.checkpoint(), none.checkpoint())  // the latter ends in its count of reports, 0
        #expect(Projection(checkpoint: one)?.reports == twice.reports)
        let report = one.dropFirst(header.count)
        #expect(Projection(checkpoint: header.dropLast() + [2] + report + report) == nil)
        // A count of reports the bytes left could not hold: refused before room is made for them.
        #expect(Projection(checkpoint: header.dropLast() + [0xFF, 0xFF, 0xFF, 0x0F] + report) == nil)
        // A time no event can have (the views would overflow subtracting it), and a count that
        // folding a log cannot reach.
        var outOfRange = Projection()
        outOfRange.apply(.reportSubmitted(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))), toReport: "R", at: Timestamp(microseconds: .min))
        #expect(Projection(checkpoint: outOfRange.checkpoint()) == nil)
        var tallied = twice
        tallied.undecodable = 1 << 50
        #expect(Projection(checkpoint: tallied.checkpoint()) == nil)
        tallied.undecodable = 3
        #expect(Projection(checkpoint: tallied.checkpoint())?.undecodable == 3)
    }

    @Test("as of a sequence is the fold of the events up to it; as of an instant, of the events that happened by then")
    func asOf() throws {
        let events = try Self.log(reports: 30)
        let cut = events[events.count / 3]
        var bySequence = Projection()
        var prefix = Projection()
        for e in events where Projection.includes(e, asOf: .sequence(cut.sequence, now: .now())) { bySequence.apply(e) }
        for e in events.prefix(Int(cut.sequence)) { prefix.apply(e) }
        #expect(bySequence.reports == prefix.reports)
        var byTime = Projection()
        for e in events where Projection.includes(e, asOf: .instant(cut.occurredAt)) { byTime.apply(e) }
        #expect(byTime.reports.values.allSatisfy { $0.lastEventAt <= cut.occurredAt })
        #expect(byTime.evaluationTime(.instant(cut.occurredAt)) == cut.occurredAt)
    }

    @Test("a report is held to the policy in force when it was submitted, by event time, whatever the log order")
    func policyAtSubmission() throws {
        var p = Projection()
        let t0 = try Timestamp(rfc3339: "2026-01-01T00:00:00Z")
        let day = Duration.seconds(86_400)
        func adopt(_ ack: String, _ seq: UInt64, at t: Timestamp) {
            p.apply(.policyAdopted(PolicyAdopted(policyText: "name = \"P\"\nversion = \(seq)\n[acknowledge]\nwithin = \"\(ack)\"\n", zone: .utc)), toProject: "x", at: t, sequence: seq)
        }
        func submit(_ id: String, at t: Timestamp) {
            p.apply(.reportSubmitted(ReportSubmitted(project: "x", title: "t", reporter: Reporter(handle: "a"))), toReport: id, at: t)
        }
        adopt("48h", 1, at: t0 + day)
        submit("old", at: t0 + day * 2)
        adopt("24h", 2, at: t0 + day * 3)
        submit("new", at: t0 + day * 4)
        // Imported after the second adoption, but it happened before it.
        submit("imported", at: t0 + day * 2)
        // Before any policy: held to the earliest.
        submit("early", at: t0)
        #expect(p.policy(for: p.reports["old"]!)?.policy.acknowledge?.within == .hours(48))
        #expect(p.policy(for: p.reports["new"]!)?.policy.acknowledge?.within == .hours(24))
        #expect(p.policy(for: p.reports["imported"]!)?.policy.acknowledge?.within == .hours(48))
        #expect(p.policy(for: p.reports["early"]!)?.policy.acknowledge?.within == .hours(48))
        // A policy imported later in the log but adopted earlier in time slots in by its time.
        adopt("72h", 3, at: t0 + day * 2 + .seconds(60))
        submit("between", at: t0 + day * 2 + .seconds(120))
        #expect(p.projects["x"]?.policies.map(\.sequence) == [1, 3, 2])
        #expect(p.policy(for: p.reports["between"]!)?.policy.acknowledge?.within == .hours(72))
        #expect(p.policy(for: p.reports["new"]!)?.policy.acknowledge?.within == .hours(24))
    }
}
