public import DocketCore
public import DocketStore
import Foundation
import Synchronization

extension Projection {
    /// Scanning threads a view rebuild uses: one per core, up to four. (Each reads and
    /// decompresses its share of the log's chunks as well as folding its own streams' events.)
    public static var foldPartitions: Int { min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4) }

    /// `base` with the events after it, through `last`, folded in (those `asOf` includes), on
    /// `partitions` threads: reports and projects divide by stream, so each thread folds its own
    /// share of them and the shares are merged. The result equals folding on one thread. `base`
    /// is consumed: a caller that hands over its only copy has it folded on in place. `stop` ends a
    /// long fold early (`StoreError.closed`; see `EventStore.fold`).
    ///
    /// The events read start after `base.lastSequence`, or after `scanned` when given: a view of
    /// the past folded through the head leaves out the events after its instant, so its last
    /// sequence folded can be far behind the last one it read (`scanned`, which must be at least
    /// `base.lastSequence`, and which the same `asOf` must have read).
    public static func fold(
        _ store: EventStore, onto base: consuming Projection = Projection(), after scanned: UInt64? = nil, through last: UInt64 = .max,
        asOf: AsOf, partitions: Int = foldPartitions, chunk: Int = 4096, stop: (@Sendable () -> Bool)? = nil
    ) throws(StoreError) -> Projection {
        precondition(scanned.map { $0 >= base.lastSequence } ?? true, "a fold cannot resume before the events it folded")
        let n = max(partitions, 1)
        let from = (scanned ?? base.lastSequence) + 1
        let parts = base.split(into: n) { EventStore.partition(ofStream: $0, among: n) }
        return Projection(
            merging: try store.fold(from: from, through: last, chunk: chunk, into: consume parts, stop: stop) { projection, event in
                if Projection.includes(event, asOf: asOf) { projection.apply(event) }
            })
    }
}

extension Timers {
    /// Every clock of each of `reports` at `now` (in the order of `reports`), held to the policies
    /// of `projection`, computed on `partitions` threads, each a contiguous share of the reports.
    /// Every event folded has happened (`allHappened`): the reports are a view's.
    public static func clocks(
        for reports: [Report], in projection: Projection, now: Timestamp, partitions: Int = Projection.foldPartitions
    ) -> [[Clock]] {
        let n = min(max(partitions, 1), max(reports.count / 256, 1))
        return concurrentMap(n, threads: n) { i in
            // `Projection.policy(for:)`, with the project looked up once for a run of reports of
            // the same project (one project's reports, as a rebuild passes them), not for each.
            var last: (name: String, state: ProjectState?)?
            return reports[reports.count * i / n..<reports.count * (i + 1) / n].map { report in
                if last?.name != report.project { last = (report.project, projection.projects[report.project]) }
                return clocks(for: report, policy: last?.state?.policy(at: report.submittedAt), now: now, allHappened: true)
            }
        }.flatMap { $0 }
    }
}

/// `body` of each of `0..<count`, in order, computed on up to `threads` threads, each taking the
/// next one not yet taken (pieces of work that differ in size, such as one project's metrics and
/// another's hall of fame, keep every thread busy to the end).
func concurrentMap<T: Sendable>(_ count: Int, threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let n = min(max(threads, 1), count)
    if n <= 1 { return (0..<count).map(body) }
    let results = Mutex([T?](repeating: nil, count: count))
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: n) { _ in
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard i < count else { return }
            let made = body(i)
            results.withLock { $0[i] = made }
        }
    }
    return results.withLock { $0.map { $0! } }
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
            HallOfFame(reports: projects[i].reports, project: projects[i].name, year: nil, now: now, zone: HallOfFame.yearZone(of: projects[i].name, in: projection))
        }
        @Sendable func metrics(_ i: Int) -> ProgrammeMetrics {
            ProgrammeMetrics(
                projection: projection, project: projects[i].name, reports: projects[i].reports, window: window, now: now, clocks: projects[i].clocks)
        }
        // Piece k is project k / 2's hall (k even) or metrics (k odd).
        let pieces = concurrentMap(projects.count * 2, threads: partitions) { k -> (HallOfFame?, ProgrammeMetrics?) in
            k % 2 == 0 ? (hall(k / 2), nil) : (nil, metrics(k / 2))
        }
        return projects.indices.map { ProjectViews(hallOfFame: pieces[2 * $0].0!, metrics: pieces[2 * $0 + 1].1!) }
    }
}
