import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Logging

/// A store in a fresh temporary data directory, for one benchmark: made in its setup, removed in
/// its teardown. `TMPDIR` chooses the disk (durable appends measure that disk's fsync).
public final class TemporaryStore: @unchecked Sendable {
    public let directory: String
    public let store: EventStore
    /// The index of the next synthetic event to generate (`SyntheticEvents.event(_:)`).
    /// Only the benchmark's own (sequential) iterations touch it.
    public var nextEvent = 0

    public init(label: String, configuration: EventStore.Configuration = EventStore.Configuration()) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("docket-benchmark-\(label)-\(UUID().uuidString)").path
        // The store logs each dictionary it trains at `info`; keep the benchmark output to the tables.
        var logger = Logger(label: "docket.store")
        logger.logLevel = .warning
        store = try EventStore.open(directory: directory, configuration: configuration, logger: logger)
    }

    /// Closes the store and deletes its directory.
    public func remove() {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The next `count` synthetic events, all on the stream of the first (as `docket bench append`
    /// sends them: one report's stream per append).
    public func nextBatch(_ count: Int) -> (stream: StreamName, events: [ProposedEvent]) {
        let generated = (nextEvent..<nextEvent + count).map { SyntheticEvents.event($0) }
        nextEvent += count
        return (generated[0].stream, generated.map(\.event))
    }

    /// Appends synthetic events, 1000 per append, until the log holds `events`, letting each
    /// compression dictionary the store trains on the way be installed before going on, the way
    /// a log that grew over time has them. A store with its default configuration trains its
    /// first dictionary at 1,024 records and a better one at 16,384; from then on the writer does
    /// no more training for this workload, so none runs while a benchmark measures.
    public func fill(to events: Int) async throws {
        // Stops at each training point and waits, so that each dictionary is trained on as many
        // records as on a log that grew slowly (not on whatever arrived while it trained).
        var installed = try store.statistics().dictionaries.count
        for point in [1024, 16384] where point <= events && Int(store.head.sequence) < point {
            try await append(upTo: point)
            installed += 1
            try await waitForDictionaries(installed)
        }
        try await append(upTo: events)
    }

    private func append(upTo events: Int) async throws {
        while Int(store.head.sequence) < events {
            let (stream, batch) = nextBatch(min(1000, events - Int(store.head.sequence)))
            _ = try await store.append(to: stream, events: batch)
        }
    }

    /// Waits (at most two minutes) until `count` dictionaries have been installed.
    public func waitForDictionaries(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while try store.statistics().dictionaries.count < count {
            guard ContinuousClock.now < deadline else {
                throw FixtureError("the store did not install dictionary \(count) within two minutes")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
