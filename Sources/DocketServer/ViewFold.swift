public import DocketCore
public import DocketStore
import Foundation

extension Projection {
    /// Scanning threads a view rebuild uses: one per core, up to four (beyond that the reader
    /// thread, which decompresses every record, is the limit).
    public static var foldPartitions: Int { min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4) }

    /// `base` with the events after it, through `last`, folded in (those `asOf` includes), on
    /// `partitions` threads: reports and projects divide by stream, so each thread folds its own
    /// share of them and the shares are merged. The result equals folding on one thread.
    public static func fold(
        _ store: EventStore, onto base: Projection = Projection(), through last: UInt64 = .max, asOf: AsOf,
        partitions: Int = foldPartitions
    ) throws(StoreError) -> Projection {
        let n = max(partitions, 1)
        let parts = base.split(into: n) { EventStore.partition(ofStream: $0, among: n) }
        return Projection(
            merging: try store.fold(from: base.lastSequence + 1, through: last, into: parts) { projection, event in
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
        if n == 1 { return reports.map { clocks(for: $0, policy: projection.policy(for: $0), now: now) } }
        // Each iteration writes only its own slot; the slots are read after concurrentPerform returns.
        struct Slots: @unchecked Sendable { let buffer: UnsafeMutableBufferPointer<[[Clock]]> }
        let slots = Slots(buffer: .allocate(capacity: n))
        _ = slots.buffer.initialize(repeating: [])
        defer {
            slots.buffer.deinitialize()
            slots.buffer.deallocate()
        }
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let share = reports[reports.count * i / n..<reports.count * (i + 1) / n]
            slots.buffer[i] = share.map { clocks(for: $0, policy: projection.policy(for: $0), now: now) }
        }
        return slots.buffer.flatMap { $0 }
    }
}
