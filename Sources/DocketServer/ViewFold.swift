public import DocketCore
public import DocketStore
import Foundation
import Synchronization

extension Projection {
    /// Scanning threads a view rebuild uses: one per core, up to four (beyond that the reader
    /// thread, which decompresses every record, is the limit).
    public static var foldPartitions: Int { min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4) }

    /// `base` with the events after it, through `last`, folded in (those `asOf` includes), on
    /// `partitions` threads: reports and projects divide by stream, so each thread folds its own
    /// share of them and the shares are merged. The result equals folding on one thread. `base`
    /// is consumed: a caller that hands over its only copy has it folded on in place.
    public static func fold(
        _ store: EventStore, onto base: consuming Projection = Projection(), through last: UInt64 = .max, asOf: AsOf,
        partitions: Int = foldPartitions, chunk: Int = 4096
    ) throws(StoreError) -> Projection {
        let n = max(partitions, 1)
        let from = base.lastSequence + 1
        let parts = base.split(into: n) { EventStore.partition(ofStream: $0, among: n) }
        return Projection(
            merging: try store.fold(from: from, through: last, chunk: chunk, into: consume parts) { projection, event in
                if Projection.includes(event, asOf: asOf) { projection.apply(event) }
            })
    }
}

extension Timers {
    /// Every clock of each of `reports` at `now` (in the order of `reports`), held to the policies
    /// of `projection`, computed on `partitions` threads, each a contiguous share of the reports.
    public static func clocks(
        for reports: [Report], in projection: Projection, now: Timestamp, partitions: Int = Projection.foldPartitions
    ) -> [[Clock]] {
        let n = min(max(partitions, 1), max(reports.count / 256, 1))
        @Sendable func share(_ i: Int) -> [[Clock]] {
            reports[reports.count * i / n..<reports.count * (i + 1) / n].map { clocks(for: $0, policy: projection.policy(for: $0), now: now) }
        }
        if n == 1 { return share(0) }
        let shares = Mutex([[[Clock]]](repeating: [], count: n))
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let computed = share(i)
            shares.withLock { $0[i] = computed }
        }
        return shares.withLock { $0.flatMap { $0 } }
    }
}

/// A project's hall of fame and programme metrics, as one rebuild of the views makes them.
public struct ProjectViews: Sendable {
    public let hallOfFame: HallOfFame
    public let metrics: ProgrammeMetrics

    /// The hall of fame (every year) and the metrics over `window` of each project, given with
    /// its reports and their clocks at `now` (in the same order, as `Timers.clocks` gives them),
    /// in the order given. The halls and the metrics are separate pieces of work, dealt out
    /// among `partitions` threads.
    public static func compute(
        _ projects: [(name: String, reports: [Report], clocks: [[Clock]])], projection: Projection, window: Duration, now: Timestamp,
        partitions: Int = Projection.foldPartitions
    ) -> [ProjectViews] {
        @Sendable func hall(_ i: Int) -> HallOfFame {
            HallOfFame(reports: projects[i].reports, project: projects[i].name, year: nil, now: now)
        }
        @Sendable func metrics(_ i: Int) -> ProgrammeMetrics {
            ProgrammeMetrics(
                projection: projection, project: projects[i].name, reports: projects[i].reports, window: window, now: now, clocks: projects[i].clocks)
        }
        // Piece k is project k / 2's hall (k even) or metrics (k odd); thread t makes pieces t, t + n, …
        let pieces = projects.count * 2
        let n = min(max(partitions, 1), pieces)
        if n <= 1 {
            return projects.indices.map { ProjectViews(hallOfFame: hall($0), metrics: metrics($0)) }
        }
        let halls = Mutex([HallOfFame?](repeating: nil, count: projects.count))
        let tallies = Mutex([ProgrammeMetrics?](repeating: nil, count: projects.count))
        DispatchQueue.concurrentPerform(iterations: n) { t in
            for k in stride(from: t, to: pieces, by: n) {
                let i = k / 2
                if k % 2 == 0 {
                    let made = hall(i)
                    halls.withLock { $0[i] = made }
                } else {
                    let made = metrics(i)
                    tallies.withLock { $0[i] = made }
                }
            }
        }
        let (h, m) = (halls.withLock { $0 }, tallies.withLock { $0 })
        return projects.indices.map { ProjectViews(hallOfFame: h[$0]!, metrics: m[$0]!) }
    }
}
