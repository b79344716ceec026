import DocketCore
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

/// Views rebuilt on several threads (each folding the reports and projects of its streams) are
/// the views folded on one.
@Suite("Partitioned view folds")
struct ViewFoldTests {
    @Test("folding on 1–3 threads, from scratch, onto a checkpoint or as of a past sequence, equals folding in order")
    func sameAsSequential() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            for project in ["aumos", "aisoc", "aixcl"] {
                _ = try await store.append(to: try DomainStreams.project(project), events: [
                    try DomainEvent.policyAdopted(PolicyAdopted(policyText: SyntheticReports.policyText, zone: .utc)).proposed(actor: "admin", occurredAt: start)
                ])
            }
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
            // Clocks computed on several threads are the clocks computed one report at a time, in order.
            let reports = Array(whole.reports.values)
            let oneByOne = reports.map { Timers.clocks(for: $0, policy: whole.policy(for: $0), now: now) }
            for partitions in 1...3 {
                #expect(Timers.clocks(for: reports, in: whole, now: now, partitions: partitions) == oneByOne)
            }
        }
    }
}
