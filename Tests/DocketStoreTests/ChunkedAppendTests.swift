import DocketCore
import DocketTestSupport
import Testing

@testable import DocketStore

/// Large appends are compressed in chunks while the writer already writes the first ones
/// (`PreparedAppend`); these check that nothing of that shows: order, atomicity, retries.
@Suite("Large appends written while they are compressed")
struct ChunkedAppendTests {
    /// Distinct events, so that a frame written at the wrong place would read back wrong.
    func numbered(_ range: Range<Int>) throws -> [ProposedEvent] {
        try range.map { i in try event(data: ["i": .int(Int64(i)), "text": .string("event \(i) " + String(repeating: "abc", count: i % 40))]) }
    }

    @Test("the writer compresses a large append's chunks itself when its caller compresses none", .timeLimit(.minutes(1)))
    func writerCompressesAlone() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            let events = try numbered(0..<1_000)
            let writer = try #require(store.writer)
            let prepared = writer.preparer.plan(stream: try stream("alone"), events: events, acceptedAt: .now())
            #expect(prepared.chunkCount > 1)
            // Queued without `compressRemaining`: a writer that only waited for the caller would hang.
            let result = await withCheckedContinuation { (c: CheckedContinuation<Result<AppendResult, StoreError>, Never>) in
                writer.submit(AppendRequest(stream: try! stream("alone"), expected: .noStream, prepared: prepared) { c.resume(returning: $0) })
            }
            #expect(try result.get().streamVersion == 1_000)
            #expect(try store.read(stream: try stream("alone")).map(\.id) == events.map(\.id))
            #expect(try store.verify().isIntact)
        }
    }

    @Test("a 10,000-event append and small appends beside it read back in order, chained, after reopening", arguments: [128, 1000, 10_000])
    func order(count: Int) async throws {
        try await withTemporaryDirectory { dir in
            let events = try numbered(0..<count)
            #expect(FramePreparer.chunkedThreshold <= 128)
            do {
                let store = try openStore(dir)
                let result = try await withThrowingTaskGroup(of: AppendResult?.self) { group in
                    group.addTask { try await store.append(to: try stream("big"), events: events) }
                    for k in 0..<16 {
                        group.addTask {
                            _ = try await store.append(to: try stream("small-\(k)"), events: [try event(), try event()])
                            return nil
                        }
                    }
                    var big: AppendResult?
                    for try await r in group where r != nil { big = r }
                    return big!
                }
                #expect(result.lastSequence - result.firstSequence + 1 == UInt64(count))
                #expect(result.streamVersion == UInt64(count))
                #expect(store.head.sequence == UInt64(count + 32))
                store.close()
            }
            let store = try openStore(dir)
            let read = try store.read(stream: try stream("big"))
            #expect(read.map(\.id) == events.map(\.id))
            #expect(read.map(\.data) == events.map(\.data))
            #expect(read.map(\.streamVersion) == (1...UInt64(count)).map { $0 })
            // One append: consecutive sequences.
            #expect(zip(read, read.dropFirst()).allSatisfy { $1.sequence == $0.sequence + 1 })
            #expect(try store.verify().isIntact)
        }
    }

    @Test("an event too large near the end of a large append fails it whole; appends sharing its commit still commit")
    func lateFailure() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            var events = try numbered(0..<500)
            let big = Value.string(String(repeating: "x", count: EnvelopeCodec.maximumEncodedSize))
            events[490] = try event(data: ["blob": big])
            let bigStream = try stream("big")
            let small = try (0..<16).map { try stream("small-\($0)") }
            let smallEvents = try (0..<16).map { _ in try event() }
            let busy = try numbered(0..<1000)
            let frozen = events
            // While the writer works through `busy`, the failing append and the small ones queue
            // up behind it and are taken into one transaction.
            let outcomes = await withTaskGroup(of: Result<AppendResult, StoreError>.self) { group in
                group.addTask { await appendOutcome(store, try! stream("busy"), busy) }
                try? await Task.sleep(for: .milliseconds(1))
                for k in 0..<16 {
                    group.addTask { await appendOutcome(store, small[k], [smallEvents[k]]) }
                }
                group.addTask { await appendOutcome(store, bigStream, frozen) }
                var all: [Result<AppendResult, StoreError>] = []
                for await r in group { all.append(r) }
                return all
            }
            let failures = outcomes.compactMap { if case .failure(let e) = $0 { e } else { nil } }
            #expect(failures.count == 1)
            #expect(failures.first?.code == .eventTooLarge)
            #expect(store.head.sequence == 1016)
            #expect(try store.version(of: bigStream) == 0)
            #expect(try small.allSatisfy { try store.version(of: $0) == 1 })
            #expect(try store.verify().isIntact)
            // None of its ids stayed claimed: without the oversized event the same events are new.
            events[490] = try event()
            let retried = try await store.append(to: bigStream, events: events)
            #expect(!retried.duplicate && retried.streamVersion == 500 && retried.firstSequence == 1017)
            #expect(try store.read(stream: bigStream).map(\.id) == events.map(\.id))
        }
    }

    @Test("a large append's version conflict writes nothing; its retry is recognised as one")
    func conflictAndRetry() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let s = try stream("big")
            _ = try await store.append(to: s, events: [try event()])
            let events = try numbered(0..<600)
            let conflict = await #expect(throws: StoreError.self) { try await store.append(to: s, expecting: .exact(7), events: events) }
            #expect(conflict?.code == .wrongExpectedVersion)
            #expect(store.head.sequence == 1)
            let first = try await store.append(to: s, expecting: .exact(1), events: events)
            let again = try await store.append(to: s, expecting: .exact(1), events: events)
            #expect(again.duplicate && again.firstSequence == first.firstSequence && again.lastSequence == first.lastSequence)
            #expect(store.head.sequence == 601)
            // A large append repeating one of its own ids is refused, and claims nothing.
            var twice = try numbered(0..<300)
            twice[250] = twice[3]
            let repeated = await #expect(throws: StoreError.self) { try await store.append(to: s, events: twice) }
            #expect(repeated?.message.contains("appears twice") == true)
            twice[250] = try event()
            let fine = try await store.append(to: s, events: twice)
            #expect(!fine.duplicate && fine.firstSequence == 602)
        }
    }
}

private func appendOutcome(_ store: EventStore, _ stream: StreamName, _ events: [ProposedEvent]) async -> Result<AppendResult, StoreError> {
    do { return .success(try await store.append(to: stream, events: events)) } catch { return .failure(error) }
}
