import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A wall clock a test sets.
private final class SetClock: Sendable {
    private let micros: Atomic<Int64>
    init(_ t: Timestamp) { micros = Atomic(t.microseconds) }
    var now: Timestamp { Timestamp(microseconds: micros.load(ordering: .relaxed)) }
    func set(_ t: Timestamp) { micros.store(t.microseconds, ordering: .relaxed) }
}

/// The warnings a logger was given.
private final class Warnings: @unchecked Sendable {  // `said` is guarded by `lock`
    private let lock = NSLock()
    private var said: [String] = []
    var messages: [String] { lock.withLock { said } }
    var logger: Logger { Logger(label: "test") { _ in Handler(warnings: self) } }

    struct Handler: LogHandler {
        let warnings: Warnings
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            guard event.level >= .warning else { return }
            warnings.lock.withLock { warnings.said.append(event.message.description) }
        }
    }
}

@Suite("The node's clock")
struct ClockTests {
    @Test("a clock that steps back more than an hour keeps the records in order and warns the operator, once in ten minutes")
    func clockBehindTheLog() async throws {
        try await withTemporaryDirectory { dir in
            let noon = try Timestamp(rfc3339: "2026-03-01T12:00:00Z")
            let clock = SetClock(noon)
            let warnings = Warnings()
            var configuration = EventStore.Configuration()
            configuration.clock = { clock.now }
            let store = try EventStore.open(directory: dir, configuration: configuration, logger: warnings.logger)
            defer { store.close() }
            let s = try StreamName("s")
            func note() throws -> ProposedEvent { try ProposedEvent(type: EventType("Note"), actor: "a", data: [:]) }
            _ = try await store.append(to: s, events: [try note()])
            // Within the hour: nothing to say.
            clock.set(noon + .seconds(-1800))
            _ = try await store.append(to: s, events: [try note()])
            #expect(warnings.messages.isEmpty)
            // Two hours back: recorded at noon still (the log's order), stamped by the clock, and said.
            clock.set(noon + .seconds(-7200))
            let late = try await store.append(to: s, events: [try note()])
            #expect(late.recordedAt == noon)
            let events = try store.read(stream: s)
            #expect(events[2].occurredAt == noon + .seconds(-7200) && events[2].recordedAt == noon)
            #expect(warnings.messages.count == 1 && warnings.messages.first?.hasPrefix("this node's clock is behind its log") == true)
            _ = try await store.append(to: s, events: [try note()])
            #expect(warnings.messages.count == 1)
        }
    }
}
