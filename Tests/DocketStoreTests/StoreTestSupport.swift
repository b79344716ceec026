import DocketCore
@testable import DocketStore
import DocketTestSupport
import Testing

/// Opens a store on `directory` with small dictionary thresholds unless told otherwise.
func openStore(_ directory: String, _ tweak: (inout EventStore.Configuration) -> Void = { _ in }) throws -> EventStore {
    var configuration = EventStore.Configuration()
    tweak(&configuration)
    return try EventStore.open(directory: directory, configuration: configuration)
}

func event(_ type: String = "NoteAdded", id: EventID = .random(), data: Value = ["n": 1]) throws -> ProposedEvent {
    try ProposedEvent(id: id, type: EventType(type), actor: "tester@example.org", data: data)
}

func stream(_ name: String) throws -> StreamName { try StreamName(name) }

/// Appends synthetic events `range` one append per event (or per `batch` events of one stream).
@discardableResult
func appendSynthetic(_ store: EventStore, _ range: Range<Int>) async throws -> [ProposedEvent] {
    var appended: [ProposedEvent] = []
    for i in range {
        let (s, e) = SyntheticEvents.event(i)
        _ = try await store.append(to: s, events: [e])
        appended.append(e)
    }
    return appended
}

/// Appends synthetic events in batches of `batch` to one stream per batch (fast path for volume).
@discardableResult
func appendBatches(_ store: EventStore, count: Int, batch: Int, offset: Int = 0) async throws -> [ProposedEvent] {
    var appended: [ProposedEvent] = []
    var i = offset
    while i < offset + count {
        let n = min(batch, offset + count - i)
        let events = (i..<i + n).map { SyntheticEvents.event($0).event }
        _ = try await store.append(to: try StreamName("bulk-\(i / batch)"), events: events)
        appended += events
        i += n
    }
    return appended
}

/// Cuts the last bytes off the stored record at `sequence` (its zstd frame then ends early),
/// written behind the store's back as damage on disk would be.
func truncateRecord(_ store: EventStore, at sequence: UInt64) throws {
    var record = try #require(try store.rawRecord(at: sequence))
    record.removeLast(3)
    let txn = try store.environment.beginWrite()
    try txn.put(store.databases.log, Key.sequence(sequence), record)
    try txn.commit()
}
