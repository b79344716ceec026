@testable import DocketCore
@testable import DocketServer
import DocketStore
import DocketWire
import DocketTestSupport
import Synchronization
import Testing

/// Views rebuilt on several threads (each folding the reports and projects of its streams) are
/// the views folded on one.
@Suite("Partitioned view folds")
struct ViewFoldTests {
    /// Records the synthetic reports' policy for `project`, adopted at `at`.
    static func adopt(_ project: String, in store: EventStore, at: Timestamp) async throws {
        _ = try await store.append(to: try DomainStreams.project(project), events: [
            try DomainEvent.policyAdopted(PolicyAdopted(policyText: SyntheticReports.policyText, zone: .utc)).proposed(actor: "admin", occurredAt: at)
        ])
    }

    @Test("a retried command whose first attempt was recorded under older rules is still a retry (an assignee with an invisible character, a severity its vector does not score)")
    func retriesSpanAnUpgrade() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let admin = Principal(role: .admin, project: nil, subject: "root")
            let t0 = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            try await Self.adopt("p", in: store, at: t0)
            _ = try await ledger.execute(
                .submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))), report: "R-1", as: admin, at: t0 + .seconds(60), eventID: nil)
            // As an older node recorded them, straight into the report's stream.
            let (ack, triage) = (EventID.random(), EventID.random())
            let critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            let older: [ProposedEvent] = [
                try DomainEvent.reportAcknowledged(ReportAcknowledged(assignee: "ma\u{200B}ria")).proposed(id: ack, actor: "root", occurredAt: t0 + .seconds(120)),
                try DomainEvent.reportTriaged(ReportTriaged(severity: .low, cvss31: critical)).proposed(id: triage, actor: "root", occurredAt: t0 + .seconds(180)),
            ]
            _ = try await store.append(to: try DomainStreams.report("R-1"), expecting: .exact(1), events: older)
            let retriedAck = try await ledger.execute(.acknowledge(assignee: "ma\u{200B}ria"), report: "R-1", as: admin, at: t0 + .seconds(120), eventID: ack)
            #expect(retriedAck.result.duplicate)
            let retriedTriage = try await ledger.execute(
                .triage(severity: .low, cvss31: critical, cvss40: nil, cwes: [], component: nil, affected: [], reason: nil), report: "R-1", as: admin,
                at: t0 + .seconds(180), eventID: triage)
            #expect(retriedTriage.result.duplicate)
            // Anything else under those ids is still another event.
            await #expect(throws: DomainError.self) {
                _ = try await ledger.execute(.acknowledge(assignee: "maria"), report: "R-1", as: admin, at: t0 + .seconds(120), eventID: ack)
            }
            // A new command is held to today's rules.
            await #expect(throws: DomainError.self) {
                _ = try await ledger.execute(.assign(assignee: "bo\u{200B}b"), report: "R-1", as: admin, at: t0 + .seconds(240), eventID: nil)
            }
            // A command recorded under today's rules is a retry too, where the rules before would
            // have made another event: a severity derived from a v3.1 vector's temporal metrics
            // (high, 7.8), where they took its base score (critical).
            _ = try await ledger.execute(
                .submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))), report: "R-2", as: admin, at: t0 + .seconds(60), eventID: nil)
            _ = try await ledger.execute(.acknowledge(assignee: "maria"), report: "R-2", as: admin, at: t0 + .seconds(120), eventID: nil)
            let adjusted = ReportCommand.triage(
                severity: nil, cvss31: critical + "/E:U/RL:O/RC:U", cvss40: nil, cwes: [], component: nil, affected: [], reason: nil)
            let today = EventID.random()
            let first = try await ledger.execute(adjusted, report: "R-2", as: admin, at: t0 + .seconds(180), eventID: today)
            #expect(first.report.severity == .high && first.wireValue["severity"] == "high")
            let retried = try await ledger.execute(adjusted, report: "R-2", as: admin, at: t0 + .seconds(180), eventID: today)
            #expect(retried.result.duplicate && retried.result.lastSequence == first.result.lastSequence)
        }
    }

    @Test("an event dated a little ahead of the node's clock is in the live views at once: the state and the clocks agree on it; as of now, neither has it")
    func eventDatedAhead() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let admin = Principal(role: .admin, project: nil, subject: "root")
            let now = Timestamp.now()
            try await Self.adopt("p", in: store, at: now + .seconds(-2 * 86_400))
            let submitted = now + .seconds(-3600)
            _ = try await ledger.execute(
                .submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))), report: "R-1", as: admin, at: submitted, eventID: nil)
            // Within the skew a client's clock may have (Ledger.futureSkew).
            let ack = now + .seconds(120)
            _ = try await ledger.execute(.acknowledge(assignee: "maria"), report: "R-1", as: admin, at: ack, eventID: nil)
            func view(_ asOf: AsOfSpec) throws -> (state: String?, clocks: [String: Value]) {
                let state = try ledger.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: "R-1"), asOf: asOf, as: admin)["rows"]?.arrayValue?.first?["state"]?.stringValue
                let rows = try ledger.query(.timers(project: nil, report: "R-1", dueWithin: nil, late: false, all: true), asOf: asOf, as: admin)["rows"]?.arrayValue ?? []
                return (state, Dictionary(uniqueKeysWithValues: rows.compactMap { r in r["clock"]?.stringValue.map { ($0, r) } }))
            }
            // Live: acknowledged, so the acknowledge clock has ended, met, at the time given, 47
            // hours early; the status-update cadence runs from it.
            let live = try view(.now)
            #expect(live.state == "acknowledged")
            let acknowledge = live.clocks["acknowledge"]
            #expect(acknowledge?["state"] == "met" && acknowledge?["endedAt"] == .string(ack.rfc3339) && acknowledge?["marginSeconds"] == .int(47 * 3600 - 120), "\(String(describing: acknowledge))")
            #expect(live.clocks["status-update"]?["state"] == "running" && live.clocks["status-update"]?["startedAt"] == .string(ack.rfc3339), "\(live.clocks)")
            // As of this instant, the acknowledgement has not happened, in the state or the clocks.
            let before = try view(.time(now))
            #expect(before.state == "submitted" && before.clocks["acknowledge"]?["state"] == "running" && before.clocks["acknowledge"]?["endedAt"] == nil)
            #expect(before.clocks["status-update"]?["state"] == "not-applicable")
            // A wait on the reporter dated ahead pauses the triage clock (5 business days, paused
            // while waiting) from then: the time to it counted once, the due shown as if it
            // resumed at the pause's start, not now.
            _ = try await ledger.execute(
                .submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))), report: "R-2", as: admin, at: submitted, eventID: nil)
            _ = try await ledger.execute(.acknowledge(assignee: "maria"), report: "R-2", as: admin, at: now + .seconds(-1800), eventID: nil)
            let asked = now + .seconds(120)
            _ = try await ledger.execute(.requestInfo(question: "which version?"), report: "R-2", as: admin, at: asked, eventID: nil)
            let rows = try ledger.query(.timers(project: nil, report: "R-2", dueWithin: nil, late: false, all: true), asOf: .now, as: admin)["rows"]?.arrayValue ?? []
            let triage = rows.first { $0["clock"] == "triage" }
            let calendar = BusinessCalendar(policy: try Policy.parse(SyntheticReports.policyText, file: "synthetic"), zone: .utc)
            let span = PolicyDuration.businessDays(5).countedMicroseconds
            let remaining = span - calendar.measure(from: submitted, to: asked, unit: .businessDays)
            #expect(triage?["state"] == "paused" && triage?["dueAt"] == .string(calendar.advance(asked, by: remaining, unit: .businessDays).rfc3339), "\(String(describing: triage))")
        }
    }

    @Test("a view of the past asked for again is the one kept, caught up: an event backdated into it since is in it, as in a fold from the start")
    func pastViewsKept() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            try await Self.adopt("aumos", in: store, at: start)
            for n in 0..<300 {
                let step = SyntheticReports.report(n, start: start + .seconds(Int64(n) * 3600))
                _ = try await store.append(to: step.stream, expecting: .noStream, events: step.events)
            }
            let instant = start + .seconds(150 * 3600)
            let cut = store.head.sequence / 2
            func expectFresh(_ asOf: AsOf, folds: Int, _ comment: Comment) throws {
                let kept = try ledger.projection(asOf: asOf)
                let fresh = try Projection.fold(store, through: { if case .sequence(let n, _) = asOf { n } else { .max } }(), asOf: asOf)
                #expect(kept.reports == fresh.reports && kept.lastSequence == fresh.lastSequence, comment)
                #expect(ledger.pastViewsFolded.load(ordering: .relaxed) == folds, comment)
            }
            try expectFresh(.instant(instant), folds: 1, "first read")
            try expectFresh(.instant(instant), folds: 1, "a second page")
            // A report imported with times before the instant: the kept view takes it in.
            let late = SyntheticReports.report(1000, start: start + .seconds(3600))
            _ = try await store.append(to: late.stream, expecting: .noStream, events: late.events)
            let withLate = try ledger.projection(asOf: .instant(instant))
            #expect(withLate.reports[String(late.stream.rawValue.dropFirst(DomainStreams.reportPrefix.count))] != nil)
            try expectFresh(.instant(instant), folds: 1, "after a backdated report")
            // Another view replaces it; as of a sequence, the clocks' instant does not matter.
            try expectFresh(.sequence(cut, now: .now()), folds: 2, "as of a sequence")
            try expectFresh(.sequence(cut, now: start), folds: 2, "the same sequence, another instant")
            try expectFresh(.recorded(.now()), folds: 3, "what was recorded")
            try expectFresh(.instant(instant), folds: 4, "the first instant again")
            // Unused for its idle time, it is dropped (as a node's periodic check does).
            #expect(ledger.keepsPastView)
            ledger.dropIdlePastView()
            #expect(ledger.keepsPastView, "still in use")
            let brief = Ledger(store: store, dataDir: nil, pastViewIdle: .milliseconds(50))
            _ = try brief.projection(asOf: .instant(instant))
            #expect(brief.keepsPastView)
            try await Task.sleep(for: .milliseconds(120))
            brief.dropIdlePastView()
            #expect(!brief.keepsPastView)
        }
    }

    @Test("reports whose ids are two spellings of one name are two reports, on any number of threads and through a checkpoint")
    func idsByBytes() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            try await Self.adopt("aumos", in: store, at: start)
            // Raw appends (the ledger's commands take ASCII ids only): "é" as one code point, and
            // as "e" with a combining accent, which compare equal as Swift strings; and others
            // beside them, so that the partitions all hold some.
            let ids = ["caf\u{E9}", "cafe\u{301}", "r\u{C5}", "rA\u{30A}"] + (0..<40).map { "r-\($0)" }
            for (n, id) in ids.enumerated() {
                let events = SyntheticReports.report(n, start: start + .seconds(Int64(n) * 3600)).events
                _ = try await store.append(to: try DomainStreams.report(id), expecting: .noStream, events: events)
            }
            let now = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
            var sequential = Projection()
            try store.scan { e in
                sequential.apply(e)
                return true
            }
            #expect(sequential.reports.count == ids.count && sequential.undecodable == 0)
            #expect(sequential.reports["caf\u{E9}"]?.id.utf8.count == 5 && sequential.reports["cafe\u{301}"]?.id.utf8.count == 6)
            let checkpoint = sequential.checkpoint()
            #expect(Projection(checkpoint: checkpoint)?.reports == sequential.reports)
            for partitions in 1...3 {
                let folded = try Projection.fold(store, asOf: .latest(now: now), partitions: partitions, chunk: 16)
                #expect(folded.reports == sequential.reports, "\(partitions) threads")
                #expect(folded.checkpoint() == checkpoint, "\(partitions) threads: the same bytes, in the order of the ids' bytes")
            }
        }
    }

    @Test("folding on 1–3 threads, from scratch, onto a checkpoint or as of a past sequence, equals folding in order")
    func sameAsSequential() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            for project in ["aumos", "aisoc", "aixcl"] { try await Self.adopt(project, in: store, at: start) }
            var n = 0
            while store.head.sequence < 9_000 {
                let steps = (n..<n + 50).map { SyntheticReports.report($0, start: start + .seconds(Int64($0) * 3600)) }
                for step in steps { _ = try await store.append(to: step.stream, expecting: .noStream, events: step.events) }
                n += 50
            }
            let now = try Timestamp(rfc3339: "2027-01-01T00:00:00Z")
            func sequential(through last: UInt64 = .max) throws -> Projection {
                var p = Projection()
                try store.scan(through: last) { e in
                    p.apply(e)
                    return true
                }
                return p
            }
            let whole = try sequential()
            #expect(whole.reports.count == n)
            let half = try sequential(through: store.head.sequence / 2)
            let cut = store.head.sequence * 3 / 4
            let upToCut = try sequential(through: cut)
            for partitions in 1...3 {
                for (folded, expected) in [
                    (try Projection.fold(store, asOf: .latest(now: now), partitions: partitions, chunk: 256), whole),
                    (try Projection.fold(store, onto: half, asOf: .latest(now: now), partitions: partitions, chunk: 256), whole),
                    (try Projection.fold(store, through: cut, asOf: .sequence(cut, now: now), partitions: partitions, chunk: 256), upToCut),
                    // The default chunk of 4096 records: the ~9,000 events are still folded threaded.
                    (try Projection.fold(store, asOf: .latest(now: now), partitions: partitions), whole),
                ] {
                    #expect(folded.reports == expected.reports)
                    #expect(folded.projects.keys.sorted() == expected.projects.keys.sorted())
                    #expect(folded.lastSequence == expected.lastSequence && folded.lastRecordedAt == expected.lastRecordedAt)
                    #expect(folded.lastOccurredAt == expected.lastOccurredAt && folded.undecodable == 0)
                    for r in expected.reports.values.prefix(50) {
                        #expect(Timers.clocks(for: folded.reports[r.id]!, policy: folded.policy(for: r), now: now)
                            == Timers.clocks(for: r, policy: expected.policy(for: r), now: now))
                    }
                }
            }
            // A projection folded on several threads keeps each thread's reports as a shard of its
            // table. It checkpoints to the same bytes as the one-thread fold, and folding on from it,
            // on several threads again (which deals its reports out anew) or one event at a time
            // (as the ledger does), gives the one-thread fold of the whole log.
            for partitions in 2...3 {
                let threaded = try Projection.fold(store, through: half.lastSequence, asOf: .latest(now: now), partitions: partitions, chunk: 256)
                #expect(threaded.reports.shards.count == partitions)
                #expect(threaded.checkpoint() == half.checkpoint())
                let onward = try Projection.fold(store, onto: threaded, asOf: .latest(now: now), partitions: partitions, chunk: 256)
                #expect(onward.reports == whole.reports && onward.checkpoint() == whole.checkpoint())
                var oneByOne = threaded
                try store.scan(from: half.lastSequence + 1) { e in
                    oneByOne.apply(e)
                    return true
                }
                #expect(oneByOne.reports.shards.count == partitions)
                #expect(oneByOne.reports == whole.reports && oneByOne.checkpoint() == whole.checkpoint())
            }
            // Clocks computed on several threads are the clocks computed one report at a time, in order.
            let reports = Array(whole.reports.values)
            let oneByOne = reports.map { Timers.clocks(for: $0, policy: whole.policy(for: $0), now: now) }
            for partitions in 1...3 {
                #expect(Timers.clocks(for: reports, in: whole, now: now, partitions: partitions) == oneByOne)
            }
            // Views of every project from its own reports, with clocks computed once, are the views
            // computed from the whole projection.
            let byProject = whole.reportsByProject()
            #expect(Set(byProject.keys) == Set(whole.reports.values.map(\.project)) && byProject.count > 1)
            #expect(byProject.values.reduce(0) { $0 + $1.count } == whole.reports.count)
            #expect(byProject.allSatisfy { project, reports in reports.allSatisfy { $0.project == project } })
            let window = Duration.seconds(400 * 86_400)
            for (project, own) in byProject {
                let clocks = Timers.clocks(for: own, in: whole, now: now, partitions: 2)
                let metrics = ProgrammeMetrics(projection: whole, project: project, reports: own, window: window, now: now, clocks: clocks)
                #expect(metrics == ProgrammeMetrics(projection: whole, project: project, window: window, now: now))
                #expect(metrics.reports > 0)
                // Clocks end only for the projects that adopted a policy.
                #expect(metrics.targets.contains { $0.met + $0.breached > 0 } == (whole.projects[project]?.currentPolicy != nil))
                let hall = HallOfFame(reports: own, project: project, year: nil, now: now, zone: .utc)
                #expect(hall == HallOfFame(projection: whole, project: project, year: nil, now: now))
                #expect(hall.disclosedReports > 0)
            }
            // Every project's hall and metrics made on one thread or shared among threads, in the
            // order the projects are given, are those made one by one.
            let names = byProject.keys.sorted()
            let given = names.map { (name: $0, reports: byProject[$0]!, clocks: Timers.clocks(for: byProject[$0]!, in: whole, now: now)) }
            for partitions in 1...3 {
                let views = ProjectViews.compute(given, projection: whole, window: window, now: now, partitions: partitions)
                #expect(views.count == names.count)
                for (name, view) in zip(names, views) {
                    #expect(view.hallOfFame == HallOfFame(projection: whole, project: name, year: nil, now: now))
                    #expect(view.metrics == ProgrammeMetrics(projection: whole, project: name, window: window, now: now))
                }
            }
        }
    }
}

/// How a clock's margin reads on the wire and in tables.
@Suite("Clock margins")
struct ClockMarginTests {
    static func clock(margin microseconds: Int64) -> Clock {
        Clock(
            report: "R", project: "p", kind: .triage, state: microseconds < 0 ? .breached : .running, target: "1bd", startedAt: nil,
            dueAt: nil, endedAt: nil, margin: .microseconds(microseconds), note: nil, endEntry: nil)
    }

    @Test("marginSeconds rounds down, so a clock any part of a second late is a second late, never 0", arguments: [
        (Int64(-500_000), Int64(-1)), (-1, -1), (-1_000_000, -1), (-1_000_001, -2), (0, 0), (500_000, 0), (1_999_999, 1),
    ])
    func roundsDown(microseconds: Int64, seconds: Int64) {
        #expect(ViewRenderer.clockValue(Self.clock(margin: microseconds))["marginSeconds"] == .int(seconds))
    }

    @Test("a duration under a minute reads <1m, not 0m")
    func format() {
        #expect(Clock.format(.seconds(0)) == "0m")
        #expect(Clock.format(.seconds(1)) == "<1m" && Clock.format(.seconds(-59)) == "-<1m")
        #expect(Clock.format(.seconds(90_061)) == "1d 1h 1m")
    }

    @Test("a span in seconds formats as its duration does, for any Int64 a node may send, the least included")
    func formatSeconds() {
        for s: Int64 in [0, 1, 59, 60, -60, 3_599, 86_400, -90_061, 1_000_000_007] {
            #expect(Clock.format(seconds: s) == Clock.format(.seconds(s)), "\(s)")
        }
        // A fraction is dropped toward zero, as the views' whole seconds are.
        #expect(Clock.format(.milliseconds(-1_500)) == "-<1m" && Clock.format(.milliseconds(119_999)) == "1m")
        // Where a Duration's microseconds would overflow.
        #expect(Clock.format(seconds: .max) == "106751991167300d 15h 30m")
        #expect(Clock.format(seconds: .min) == "-106751991167300d 15h 30m")
    }
}
