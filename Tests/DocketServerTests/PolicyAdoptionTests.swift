import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// Which policy a report is held to cannot be changed after the fact, and a version names one text.
@Suite("policy adoption")
struct PolicyAdoptionTests {
    static func adoption(version: Int, credit: String = "named") throws -> DomainEvent {
        let text = SyntheticReports.policyText.replacingOccurrences(of: "version = 1\n", with: "version = \(version)\ncredit-default = \"\(credit)\"\n")
        return .policyAdopted(PolicyAdopted(policyText: try Policy.parse(text, file: "synthetic").encodeCanonical(), zone: .utc))
    }

    static func t(_ s: String) throws -> Timestamp { try Timestamp(rfc3339: s) }

    static func withLedger(_ body: (EventStore, Ledger) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            try await body(store, Ledger(store: store, dataDir: dir))
        }
    }

    @Test("an embargo extension the policy caps is recorded and its answer says the deadline it leaves; one within the cap says nothing; one past a reached cap is refused")
    func cappedExtensionNotice() async throws {
        try await Self.withLedger { _, ledger in
            let admin = Principal.local(actor: "admin")
            // 90 days from the report, extensions at most 14 days beyond it.
            let text = SyntheticReports.policyText.replacingOccurrences(of: "within = \"90d\"", with: "within = \"90d\"\nmax-extension = \"14d\"")
            let policy = DomainEvent.policyAdopted(PolicyAdopted(policyText: try Policy.parse(text, file: "capped").encodeCanonical(), zone: .utc))
            _ = try await ledger.appendProjectEvent(policy, project: "p", as: admin, at: try Self.t("2026-01-01T00:00:00Z"))
            _ = try await ledger.execute(.submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "r"))), report: "R", as: admin, at: try Self.t("2026-01-05T00:00:00Z"), eventID: nil)
            _ = try await ledger.execute(.acknowledge(assignee: "m"), report: "R", as: admin, at: try Self.t("2026-01-06T00:00:00Z"), eventID: nil)
            // Due 04-05; 04-12 is within the 14 days: no notice.
            let within = try await ledger.execute(
                .extendEmbargo(until: try Self.t("2026-04-12T00:00:00Z"), reason: "distributions", reporterAgreed: true), report: "R", as: admin,
                at: try Self.t("2026-03-01T00:00:00Z"), eventID: nil)
            #expect(within.notices.isEmpty && within.wireValue["notices"] == nil)
            // 05-01 is past 04-19 (04-05 + 14 days): recorded, and said to leave 04-19.
            let capped = try await ledger.execute(
                .extendEmbargo(until: try Self.t("2026-05-01T00:00:00Z"), reason: "vendor", reporterAgreed: true), report: "R", as: admin,
                at: try Self.t("2026-03-02T00:00:00Z"), eventID: nil)
            #expect(capped.events.count == 1)
            #expect(capped.notices.count == 1 && capped.notices.first?.hasPrefix("report R's disclosure is due 2026-04-19T00:00:00Z, not 2026-05-01T00:00:00Z: ") == true, "\(capped.notices)")
            #expect(capped.notices.first?.contains("capped at the policy's maximum extension of 14d") == true)
            #expect(capped.wireValue["notices"]?.arrayValue?.count == 1)
            // Once the cap is reached, a further extension would move nothing: refused.
            await #expect(throws: DomainError.self) {
                try await ledger.execute(
                    .extendEmbargo(until: try Self.t("2026-05-02T00:00:00Z"), reason: "again", reporterAgreed: true), report: "R", as: admin,
                    at: try Self.t("2026-03-03T00:00:00Z"), eventID: nil)
            }
            // A retry (the first answer lost) says the same, on another report.
            _ = try await ledger.execute(.submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "r"))), report: "R2", as: admin, at: try Self.t("2026-01-05T00:00:00Z"), eventID: nil)
            _ = try await ledger.execute(.acknowledge(assignee: "m"), report: "R2", as: admin, at: try Self.t("2026-01-06T00:00:00Z"), eventID: nil)
            let id = try EventID("x-capped")
            let first = try await ledger.execute(
                .extendEmbargo(until: try Self.t("2026-05-02T00:00:00Z"), reason: "again", reporterAgreed: true), report: "R2", as: admin,
                at: try Self.t("2026-03-03T00:00:00Z"), eventID: id)
            let again = try await ledger.execute(
                .extendEmbargo(until: try Self.t("2026-05-02T00:00:00Z"), reason: "again", reporterAgreed: true), report: "R2", as: admin,
                at: try Self.t("2026-03-03T00:00:00Z"), eventID: id)
            #expect(again.result.duplicate && !first.notices.isEmpty && again.notices == first.notices, "\(again.notices)")
        }
    }

    @Test("a disclosure scheduled past the deadline is recorded and its answer says so; an embargo extension to that date moves the deadline to it; one before it is refused")
    func scheduleNotice() async throws {
        try await Self.withLedger { _, ledger in
            let admin = Principal.local(actor: "admin")
            /// Submitted 01-05, acknowledged 01-06, triaged high 01-07.
            func accepted(_ id: String, in project: String) async throws {
                _ = try await ledger.execute(.submit(ReportSubmitted(project: project, title: "t", reporter: Reporter(handle: "r"))), report: id, as: admin, at: try Self.t("2026-01-05T00:00:00Z"), eventID: nil)
                _ = try await ledger.execute(.acknowledge(assignee: "m"), report: id, as: admin, at: try Self.t("2026-01-06T00:00:00Z"), eventID: nil)
                _ = try await ledger.execute(
                    .triage(severity: .high, cvss31: nil, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: id, as: admin,
                    at: try Self.t("2026-01-07T00:00:00Z"), eventID: nil)
            }
            // The synthetic policy: disclosure 90 days from the report.
            _ = try await ledger.appendProjectEvent(try Self.adoption(version: 1), project: "p", as: admin, at: try Self.t("2026-01-01T00:00:00Z"))
            try await accepted("R", in: "p")
            // Due 2026-04-05: a date before it says nothing.
            let within = try await ledger.execute(.scheduleDisclosure(try Self.t("2026-04-01T00:00:00Z")), report: "R", as: admin, at: try Self.t("2026-02-01T00:00:00Z"), eventID: nil)
            #expect(within.notices.isEmpty)
            // One after it is recorded, and said to be past the deadline, with the way to move it.
            let late = try await ledger.execute(.scheduleDisclosure(try Self.t("2026-04-20T00:00:00Z")), report: "R", as: admin, at: try Self.t("2026-02-02T00:00:00Z"), eventID: nil)
            let agreedDate = try Self.t("2026-04-20T00:00:00Z")
            #expect(late.events.count == 1 && late.report.scheduledDisclosure == agreedDate)
            #expect(
                late.notices == [
                    "report R's disclosure is due 2026-04-05T00:00:00Z, before the date scheduled (2026-04-20T00:00:00Z): the disclosure clock will call it late unless the deadline moves; "
                        + "if the reporter agreed to the later date, record it (docket report extend-embargo R --until 2026-04-20T00:00:00Z --reason … --reporter-agreed)"
                ], "\(late.notices)")
            // An extension ending before the date scheduled is refused; one to it is what the notice
            // says to record, and it moves the deadline there.
            let early = await #expect(throws: DomainError.self) {
                try await ledger.execute(
                    .extendEmbargo(until: try Self.t("2026-04-15T00:00:00Z"), reason: "vendor", reporterAgreed: true), report: "R", as: admin,
                    at: try Self.t("2026-02-03T00:00:00Z"), eventID: nil)
            }
            #expect(early?.message.contains("must not end before the disclosure date scheduled, 2026-04-20T00:00:00Z") == true, "\(String(describing: early))")
            let agreed = try await ledger.execute(
                .extendEmbargo(until: try Self.t("2026-04-20T00:00:00Z"), reason: "vendor", reporterAgreed: true), report: "R", as: admin,
                at: try Self.t("2026-02-03T00:00:00Z"), eventID: nil)
            #expect(agreed.notices.isEmpty, "\(agreed.notices)")
            let adopted = try #require(try ledger.projectState("p").0?.policy(at: agreed.report.submittedAt))
            let disclosure = Timers.clocks(for: agreed.report, policy: adopted, now: try Self.t("2026-02-04T00:00:00Z")).first { $0.kind == .disclosure }
            #expect(disclosure?.dueAt == agreedDate)
            // A further one must move it later than the extension.
            let same = await #expect(throws: DomainError.self) {
                try await ledger.execute(
                    .extendEmbargo(until: try Self.t("2026-04-20T00:00:00Z"), reason: "again", reporterAgreed: true), report: "R", as: admin,
                    at: try Self.t("2026-02-05T00:00:00Z"), eventID: nil)
            }
            #expect(same?.message.contains("later than 2026-04-20T00:00:00Z") == true)
            // Where no extension could move the deadline (exploitation observed sets one 7 days
            // on), the notice says so, and why, rather than suggest one.
            try await accepted("X", in: "p")
            _ = try await ledger.execute(.exploited(source: "a blog"), report: "X", as: admin, at: try Self.t("2026-02-01T00:00:00Z"), eventID: nil)
            let pinned = try await ledger.execute(.scheduleDisclosure(try Self.t("2026-03-01T00:00:00Z")), report: "X", as: admin, at: try Self.t("2026-02-02T00:00:00Z"), eventID: nil)
            #expect(pinned.notices.count == 1, "\(pinned.notices)")
            #expect(
                pinned.notices.first?.hasPrefix(
                    "report X's disclosure is due 2026-02-08T00:00:00Z, before the date scheduled (2026-03-01T00:00:00Z): the disclosure clock will call it late, and no embargo extension can move the deadline there: ")
                    == true, "\(pinned.notices)")
            #expect(pinned.notices.first?.contains("extend-embargo") == false && pinned.notices.first?.contains("embargo extension to") == false, "\(pinned.notices)")
            // Where the policy caps extensions short of the date, the notice names the furthest one.
            let text = SyntheticReports.policyText.replacingOccurrences(of: "within = \"90d\"", with: "within = \"90d\"\nmax-extension = \"14d\"")
            let capped = DomainEvent.policyAdopted(PolicyAdopted(policyText: try Policy.parse(text, file: "capped").encodeCanonical(), zone: .utc))
            _ = try await ledger.appendProjectEvent(capped, project: "c", as: admin, at: try Self.t("2026-01-01T00:00:00Z"))
            try await accepted("C", in: "c")
            let far = try await ledger.execute(.scheduleDisclosure(try Self.t("2026-05-01T00:00:00Z")), report: "C", as: admin, at: try Self.t("2026-02-02T00:00:00Z"), eventID: nil)
            #expect(
                far.notices == [
                    "report C's disclosure is due 2026-04-05T00:00:00Z, before the date scheduled (2026-05-01T00:00:00Z): the disclosure clock will call it late, and an embargo extension can move the deadline to 2026-04-19T00:00:00Z at most "
                        + "(docket report extend-embargo C --until 2026-04-19T00:00:00Z --reason … --reporter-agreed)"
                ], "\(far.notices)")
        }
    }

    @Test("a history imported in order is accepted; a dated adoption that would re-bind a report already there is refused")
    func datedAdoptions() async throws {
        try await Self.withLedger { store, ledger in
            let admin = Principal.local(actor: "admin")
            func submit(_ id: String, _ at: String) async throws {
                _ = try await ledger.execute(.submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "r"))), report: id, as: admin, at: try Self.t(at), eventID: nil)
            }
            // Version 2 first; a report dated before it is held to it, as the project's earliest.
            _ = try await ledger.appendProjectEvent(try Self.adoption(version: 2), project: "p", as: admin, at: try Self.t("2025-06-01T00:00:00Z"))
            try await submit("EARLY", "2025-03-01T00:00:00Z")
            try await submit("LATER", "2025-07-01T00:00:00Z")
            // Version 1 dated before it would become the earliest, and take EARLY over.
            let earliest = await #expect(throws: DomainError.self) {
                try await ledger.appendProjectEvent(try Self.adoption(version: 1), project: "p", as: admin, at: try Self.t("2025-01-01T00:00:00Z"))
            }
            #expect(earliest?.message.contains("would hold 1 report(s) of project p already in the ledger (submitted 2025-03-01T00:00:00Z, EARLY first)") == true, "\(String(describing: earliest))")
            // Version 3 dated between the reports would take LATER over.
            let between = await #expect(throws: DomainError.self) {
                try await ledger.appendProjectEvent(try Self.adoption(version: 3), project: "p", as: admin, at: try Self.t("2025-06-15T00:00:00Z"))
            }
            #expect(between?.message.contains("LATER first") == true, "\(String(describing: between))")
            // Dated after every report, it holds none of them: accepted, and the reports keep theirs.
            _ = try await ledger.appendProjectEvent(try Self.adoption(version: 3), project: "p", as: admin, at: try Self.t("2025-08-01T00:00:00Z"))
            let projection = try ledger.projection(asOf: .latest(now: .now()))
            #expect(["EARLY", "LATER"].map { projection.policy(for: projection.reports[$0]!)?.policy.version } == [2, 2])
            #expect(store.head.sequence == 4)
            // The project is folded once per version of its stream, not its policies parsed again
            // for every command; an adoption is seen at once.
            let (first, _) = try ledger.projectState("p")
            let (again, version) = try ledger.projectState("p")
            #expect(first?.policies.count == 2 && first?.policies.last === again?.policies.last && version == 2)
            _ = try await ledger.appendProjectEvent(try Self.adoption(version: 4), project: "p", as: admin, at: nil)
            #expect(try ledger.projectState("p").0?.policies.last?.policy.version == 4)
        }
    }

    @Test("two adoptions of one version at once: one is recorded, the other refused")
    func concurrentAdoptions() async throws {
        try await Self.withLedger { store, ledger in
            let admin = Principal.local(actor: "admin")
            _ = try await ledger.appendProjectEvent(try Self.adoption(version: 1), project: "p", as: admin, at: nil)
            for round in 0..<5 {
                let version = round + 2
                async let a = Result { try await ledger.appendProjectEvent(try Self.adoption(version: version, credit: "named"), project: "p", as: admin, at: nil) }
                async let b = Result { try await ledger.appendProjectEvent(try Self.adoption(version: version, credit: "handle"), project: "p", as: admin, at: nil) }
                let results = await [a, b]
                #expect(results.filter { if case .success = $0 { true } else { false } }.count == 1, "round \(round)")
            }
            let versions = try ledger.projectState("p").0?.policies.map(\.policy.version)
            #expect(versions == [1, 2, 3, 4, 5, 6])
        }
    }
}

extension Result where Failure == any Error {
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
