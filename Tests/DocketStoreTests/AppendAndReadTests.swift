import DocketCore
@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

@Suite("Appending and reading")
struct AppendAndReadTests {
    @Test("appended events read back identically by sequence, by stream and lazily, also after reopening")
    func roundTrip() async throws {
        try await withTemporaryDirectory { dir in
            var appended: [(StreamName, ProposedEvent)] = []
            do {
                let store = try openStore(dir)
                for i in 0..<200 {
                    let (s, e) = SyntheticEvents.event(i)
                    let r = try await store.append(to: s, events: [e])
                    #expect(r.firstSequence == UInt64(i + 1))
                    #expect(r.lastSequence == UInt64(i + 1))
                    #expect(r.streamVersion == UInt64(i % 7 + 1))
                    #expect(!r.duplicate)
                    appended.append((s, e))
                }
                #expect(store.head.sequence == 200)
                store.close()
            }
            let store = try openStore(dir)
            #expect(store.head.sequence == 200)
            let all = try store.read(from: 1, limit: 1000)
            #expect(all.count == 200)
            for (k, recorded) in all.enumerated() {
                let (s, e) = appended[k]
                #expect(recorded.sequence == UInt64(k + 1))
                #expect(recorded.matches(e, in: s))
                #expect(recorded.data == e.data)
                // A live event happens when the node accepts it, and is recorded when its commit is durable.
                #expect(recorded.occurredAt <= recorded.recordedAt)
                #expect(recorded.recordedAt.microseconds - recorded.occurredAt.microseconds < 5_000_000)
            }
            // By stream: the third report's seven events, in order.
            let third = try stream("report-000002")
            let byStream = try store.read(stream: third)
            #expect(byStream.map(\.streamVersion) == Array(1...7))
            #expect(byStream.map(\.sequence) == Array(15...21))
            #expect(try store.read(stream: third, fromVersion: 6).map(\.sequence) == [20, 21])
            #expect(try store.version(of: third) == 7)
            #expect(try store.version(of: stream("no-such-stream")) == 0)
            #expect(try store.read(stream: stream("no-such-stream")).isEmpty)
            #expect(try store.event(at: 57)?.sequence == 57)
            #expect(try store.event(at: 201) == nil)
            #expect(try store.read(from: 198, limit: 10).map(\.sequence) == [198, 199, 200])

            // Lazy iteration in small chunks sees every event exactly once, in order.
            var seen: [UInt64] = []
            for try await e in store.events(from: 3, chunk: 16) { seen.append(e.sequence) }
            #expect(seen == Array(3...200))
            var scanned = 0
            try store.scan(from: 10, through: 19, chunk: 3) { _ in
                scanned += 1
                return true
            }
            #expect(scanned == 10)

            var stopped: [UInt64] = []
            try store.scan(from: 1, through: 150, chunk: 4) { e in
                stopped.append(e.sequence)
                return e.sequence < 77
            }
            #expect(stopped == Array(1...77))
        }
    }

    @Test("LMDB's lock files are made with their pages allocated: on a full disk a sparse one is a SIGBUS when LMDB writes through its map")
    func lockFilesAllocated() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            _ = try await store.append(to: try StreamName("s"), events: [SyntheticEvents.event(0).1])
            let index = try MerkleIndex.open(dataDirectory: dir, store: store)
            _ = index
            store.close()
            for lock in ["ledger/lock.mdb", "merkle/lock.mdb"] {
                var st = stat()
                #expect(stat(dir + "/" + lock, &st) == 0, "\(lock)")
                // Every byte backed by a block (st_blocks counts 512-byte units).
                #expect(Int(st.st_blocks) * 512 >= Int(st.st_size) && st.st_size >= 32 << 10, "\(lock): \(st.st_size) bytes, \(st.st_blocks) blocks")
                #expect(st.st_mode & 0o777 == 0o600)
            }
            // Nothing made aside is left; and it opens again, with the lock file as it was made.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/ledger").filter { $0.hasPrefix("lock.mdb.") }.isEmpty)
            let again = try openStore(dir)
            #expect(again.head.sequence == 1)
            again.close()
        }
    }

    @Test("a batch is one atomic append with consecutive sequences and stream versions")
    func batch() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let s = try stream("report-1")
            let events = try (0..<50).map { try event(data: ["i": .int(Int64($0))]) }
            let r = try await store.append(to: s, expecting: .noStream, events: events)
            #expect(r.firstSequence == 1 && r.lastSequence == 50 && r.streamVersion == 50)
            let back = try store.read(stream: s)
            #expect(back.map(\.id) == events.map(\.id))
            #expect(back.allSatisfy { $0.recordedAt == r.recordedAt })
        }
    }

    @Test("explicit occurred-at times, text ids and schema versions survive the round trip")
    func envelopeFields() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let at = try Timestamp(rfc3339: "2025-02-28T23:59:59.123456Z")
            let e = try ProposedEvent(
                id: EventID("intake-bot:42"), type: EventType("ReportSubmitted"), schemaVersion: 3, actor: "bot",
                occurredAt: at, data: ["title": "ünïcödé ✓", "nested": ["a": [1, 2.5, nil, true]]])
            _ = try await store.append(to: stream("r"), events: [e])
            let back = try #require(try store.event(at: 1))
            #expect(back.id.rawValue == "intake-bot:42")
            #expect(back.schemaVersion == 3)
            #expect(back.occurredAt == at)
            #expect(back.recordedAt > at)
            #expect(back.data == e.data)
        }
    }
}

@Suite("Stopping")
struct StoppingTests {
    @Test("a store whose last reference a completion lets go on its writer thread stops without waiting on itself, then lets the directory be opened again")
    func releasedOnItsWriterThread() async throws {
        try await withTemporaryDirectory { dir in
            let go = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
            do {
                let store = try openStore(dir)
                try store.append(to: try stream("s"), events: [try event()]) { [store] _ in
                    go.wait()  // until the test has let go of its own reference: this one is the last
                    _ = store
                    done.signal()
                }
            }
            go.signal()
            #expect(done.wait(timeout: .now() + 10) == .success)
            // The writer, stopped from its own thread, finishes and unlocks the directory (before,
            // it waited on itself for good, and the directory stayed locked).
            var reopened: EventStore?
            for _ in 0..<400 where reopened == nil {
                reopened = try? openStore(dir)
                if reopened == nil { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(reopened?.head.sequence == 1)
        }
    }
}

@Suite("Optimistic concurrency")
struct OptimisticConcurrencyTests {
    @Test("a wrong expected version is a typed error naming both versions, and nothing is written")
    func conflict() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let s = try stream("report-7")
            _ = try await store.append(to: s, expecting: .noStream, events: [try event()])
            _ = try await store.append(to: s, expecting: .exact(1), events: [try event()])
            let before = store.head
            let error = await #expect(throws: StoreError.self) {
                try await store.append(to: s, expecting: .exact(1), events: [try event(), try event()])
            }
            #expect(error?.code == .wrongExpectedVersion)
            #expect(error?.expectedVersion == .exact(1))
            #expect(error?.actualVersion == 2)
            #expect(error?.message.contains("nothing was written") == true)
            #expect(store.head.sequence == before.sequence && store.head.hash == before.hash)
            #expect(try store.version(of: s) == 2)

            let fresh = await #expect(throws: StoreError.self) {
                try await store.append(to: s, expecting: .noStream, events: [try event()])
            }
            #expect(fresh?.actualVersion == 2)
            let ahead = await #expect(throws: StoreError.self) {
                try await store.append(to: try stream("other"), expecting: .exact(3), events: [try event()])
            }
            #expect(ahead?.actualVersion == 0)
            #expect(store.head.sequence == 2)
        }
    }

    @Test("of many appenders racing on the same expected version exactly one wins")
    func race() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let s = try stream("contended")
            _ = try await store.append(to: s, events: [try event()])
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<32 {
                    group.addTask {
                        do {
                            _ = try await store.append(to: s, expecting: .exact(1), events: [try event()])
                            return true
                        } catch { return false }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try store.version(of: s) == 2)
            #expect(store.head.sequence == 2)
        }
    }

    @Test("appends without an expected version from many tasks interleave without losing any")
    func concurrentAny() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<16 {
                    group.addTask {
                        for _ in 0..<25 { _ = try await store.append(to: try stream("s-\(w % 4)"), events: [try event()]) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(store.head.sequence == 400)
            for w in 0..<4 {
                #expect(try store.version(of: stream("s-\(w)")) == 100)
                #expect(try store.read(stream: stream("s-\(w)")).map(\.streamVersion) == Array(1...100))
            }
            #expect(try store.verify().isIntact)
        }
    }
}

@Suite("Idempotent appends")
struct IdempotencyTests {
    @Test("a retried append with the same ids and content returns the original result and writes nothing")
    func retry() async throws {
        try await withTemporaryDirectory { dir in
            let s = try stream("report-1")
            let events = try (0..<3).map { try event(data: ["k": .int(Int64($0))]) }
            let original: AppendResult
            do {
                let store = try openStore(dir)
                _ = try await store.append(to: s, events: [try event()])
                original = try await store.append(to: s, expecting: .exact(1), events: events)
                // A retry after the stream moved on still answers with the original result,
                // even though its expected version is now stale.
                _ = try await store.append(to: s, events: [try event()])
                let again = try await store.append(to: s, expecting: .exact(1), events: events)
                #expect(again.duplicate)
                #expect(again.firstSequence == original.firstSequence && again.lastSequence == original.lastSequence)
                #expect(again.streamVersion == original.streamVersion && again.recordedAt == original.recordedAt)
                #expect(store.head.sequence == 5)
                // The same events in another order, or with a gap, are not that append retried:
                // its answer would be a range that is not theirs.
                for ids in [[events[1], events[0], events[2]], [events[0], events[2]]] {
                    let moved = await #expect(throws: StoreError.self) { try await store.append(to: s, events: ids) }
                    #expect(moved?.code == .eventIDReused && moved?.message.contains("not together in this order") == true, "\(String(describing: moved))")
                }
                #expect(store.head.sequence == 5)
                store.close()
            }
            // And after a restart.
            let store = try openStore(dir)
            let again = try await store.append(to: s, expecting: .exact(1), events: events)
            #expect(again.duplicate && again.firstSequence == original.firstSequence)
            #expect(store.head.sequence == 5)
        }
    }

    @Test("a reused id with different content, another stream or a partial batch is an error and nothing is written")
    func reuse() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let s = try stream("report-1")
            let id = EventID.random()
            _ = try await store.append(to: s, events: [try event(id: id, data: ["v": 1])])
            let changed = await #expect(throws: StoreError.self) {
                try await store.append(to: s, events: [try event(id: id, data: ["v": 2])])
            }
            #expect(changed?.code == .eventIDReused)
            #expect(changed?.sequence == 1)
            let elsewhere = await #expect(throws: StoreError.self) {
                try await store.append(to: try stream("report-2"), events: [try event(id: id, data: ["v": 1])])
            }
            #expect(elsewhere?.code == .eventIDReused)
            // A batch mixing a recorded id with new events is not a retry.
            let mixed = await #expect(throws: StoreError.self) {
                try await store.append(to: s, events: [try event(id: id, data: ["v": 1]), try event()])
            }
            #expect(mixed?.code == .eventIDReused)
            // The same with the new event first: its id must not stay claimed by the refused append.
            let fresh = EventID.random()
            let mixedLate = await #expect(throws: StoreError.self) {
                try await store.append(to: s, events: [try event(id: fresh), try event(id: id, data: ["v": 1])])
            }
            #expect(mixedLate?.code == .eventIDReused)
            let twice = EventID.random()
            let inBatch = await #expect(throws: StoreError.self) {
                try await store.append(to: s, events: [try event(id: twice), try event(id: twice)])
            }
            #expect(inBatch?.code == .invalidEvent)
            #expect(inBatch?.message.contains("appears twice") == true)
            #expect(store.head.sequence == 1)
            #expect(try store.version(of: stream("report-2")) == 0)
            // Neither refused append left an id behind: both are new events now.
            let later = try await store.append(to: s, events: [try event(id: fresh), try event(id: twice)])
            #expect(!later.duplicate && later.firstSequence == 2 && later.lastSequence == 3)
        }
    }

    @Test("ids differing only in letter case are distinct events, as their text is")
    func uuidCase() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let lower = try EventID("0190f1a2-7b3c-7def-8123-456789abcdef")
            let upper = try EventID("0190F1A2-7B3C-7DEF-8123-456789ABCDEF")
            _ = try await store.append(to: stream("a"), events: [try event(id: lower)])
            let r = try await store.append(to: stream("a"), events: [try event(id: upper)])
            #expect(!r.duplicate && r.firstSequence == 2)
            #expect(try store.event(at: 2)?.id.rawValue == "0190F1A2-7B3C-7DEF-8123-456789ABCDEF")
        }
    }
}

@Suite("Limits")
struct LimitTests {
    @Test("an event over the size limit is rejected with its size and the limit, and nothing is written")
    func tooLarge() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let big = Value.string(String(repeating: "x", count: EnvelopeCodec.maximumEncodedSize))
            let error = await #expect(throws: StoreError.self) {
                try await store.append(to: try stream("s"), events: [try event(), try event(data: ["blob": big])])
            }
            #expect(error?.code == .eventTooLarge)
            #expect(error?.message.contains("\(EnvelopeCodec.maximumEncodedSize)") == true)
            #expect(store.head.sequence == 0)
            // Just under the limit is fine.
            let fits = Value.string(String(repeating: "y", count: EnvelopeCodec.maximumEncodedSize - 200))
            _ = try await store.append(to: try stream("s"), events: [try event(data: ["blob": fits])])
            #expect(try store.event(at: 1)?.data == ["blob": fits])
        }
    }

    @Test("a new data directory and its log are readable by their owner only")
    func ownerOnly() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/new/data"
            let store = try openStore(data)
            _ = try await store.append(to: try stream("s"), events: [try event()])
            store.close()
            func mode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }
            #expect(try mode(data) == 0o700 && mode(data + "/ledger") == 0o700)
            #expect(try mode(data + "/ledger/data.mdb") == 0o600 && mode(data + "/ledger/lock.mdb") == 0o600 && mode(data + "/ledger/writer.lock") == 0o600)
            // A ledger whose files are group-readable (made before they were owner-only) is made so
            // when it is next opened for writing.
            chmod(data + "/ledger", 0o755)
            chmod(data + "/ledger/data.mdb", 0o640)
            try openStore(data).close()
            #expect(try mode(data + "/ledger") == 0o700 && mode(data + "/ledger/data.mdb") == 0o600)
            // Access is only taken away, never given: a file made read-only stays so.
            chmod(data + "/ledger/writer.lock", 0o444)
            try? openStore(data).close()
            #expect(try mode(data + "/ledger/writer.lock") == 0o400)
        }
    }

    @Test("a read with a byte budget stops once its events' envelopes pass it, always returning the first")
    func readWithinBytes() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            let text = Value.string(String(repeating: "z", count: 1000))
            for _ in 0..<4 { _ = try await store.append(to: try stream("s"), events: (0..<10).map { _ in try event(data: ["text": text]) }) }
            // Each envelope is a little over 1000 bytes: 10,000 bytes end the read at the tenth.
            for read in [{ try store.read(from: 1, limit: 40, maxBytes: 10_000) }, { try store.read(stream: try stream("s"), limit: 40, maxBytes: 10_000) }] {
                let events = try read()
                #expect(events.count == 10, "\(events.count)")
                #expect(events.map(\.streamVersion) == Array(1...10))
            }
            #expect(try store.read(from: 5, limit: 40, maxBytes: 1).map(\.sequence) == [5])
            #expect(try store.read(stream: try stream("s"), fromVersion: 7, limit: 40, maxBytes: 0).map(\.streamVersion) == [7])
            #expect(try store.read(from: 1, limit: 40).count == 40)
        }
    }

    @Test("empty and oversized batches are rejected before reaching the writer")
    func batches() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            let empty = await #expect(throws: StoreError.self) { try await store.append(to: try stream("s"), events: []) }
            #expect(empty?.code == .invalidEvent)
            let many = try (0...EventStore.maximumEventsPerAppend).map { _ in try event() }
            let tooMany = await #expect(throws: StoreError.self) { try await store.append(to: try stream("s"), events: many) }
            #expect(tooMany?.code == .batchTooLarge)
            #expect(store.head.sequence == 0)
        }
    }

    @Test("a closed store refuses appends; a read-only one refuses them with its own error")
    func closedAndReadOnly() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            _ = try await store.append(to: try stream("s"), events: [try event()])
            store.close()
            let closed = await #expect(throws: StoreError.self) { try await store.append(to: try stream("s"), events: [try event()]) }
            #expect(closed?.code == .closed)
            let reader = try openStore(dir) { $0.readOnly = true }
            #expect(reader.head.sequence == 1)
            let readOnly = await #expect(throws: StoreError.self) { try await reader.append(to: try stream("s"), events: [try event()]) }
            #expect(readOnly?.code == .readOnly)
        }
    }

    /// The crash tests kill a writer, which leaves the page cache, and an unsynced commit in it,
    /// intact: they cannot tell a synced append from one that is not. This can.
    @Test("the ledger is opened to sync every commit: no flag trades durability for speed")
    func syncedCommits() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            _ = try await store.append(to: try stream("s"), events: [try event()])
            #expect(store.environment.unsyncedCommitFlags == [])
            store.close()
        }
    }

    @Test("one writer at a time: a second writable open is refused with in-use and disturbs nothing; readers open beside it; close lets the next writer in")
    func oneWriter() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            _ = try await store.append(to: try stream("s"), events: [try event()])
            let second = #expect(throws: StoreError.self) { try openStore(dir) }
            #expect(second?.code == .inUse)
            #expect(second?.message.contains("\(dir) is open for writing by another Docket process (pid \(ProcessInfo.processInfo.processIdentifier))") == true)
            #expect(second?.message.contains("--server") == true)
            // An operator clearing what looks like a stale lock file lets no second writer in: the
            // ledger directory itself is locked, and cannot be deleted from under the writer.
            try FileManager.default.removeItem(atPath: dir + "/ledger/writer.lock")
            let afterDeletion = #expect(throws: StoreError.self) { try openStore(dir) }
            #expect(afterDeletion?.code == .inUse, "\(String(describing: afterDeletion))")
            #expect(afterDeletion?.message.contains("its writer.lock, which names it, was removed") == true, "\(String(describing: afterDeletion))")
            // Refused without making the lock file again, empty.
            #expect(!FileManager.default.fileExists(atPath: dir + "/ledger/writer.lock"))
            // The refused open touched nothing: the writer carries on, and a reader sees all of it.
            _ = try await store.append(to: try stream("s"), events: [try event()])
            let reader = try openStore(dir) { $0.readOnly = true }
            let versions = try reader.read(stream: try stream("s")).map(\.streamVersion)
            #expect(reader.head.sequence == 2 && versions == [1, 2])
            store.close()
            let next = try openStore(dir)
            _ = try await next.append(to: try stream("s"), events: [try event()])
            #expect(next.head.sequence == 3)
            // With LMDB's lock file deleted under the writer, a reader is refused rather than read
            // without a reader table the writer could see.
            try FileManager.default.removeItem(atPath: dir + "/ledger/lock.mdb")
            let unlocked = #expect(throws: StoreError.self) { try openStore(dir) { $0.readOnly = true } }
            #expect(unlocked?.message.contains("lock.mdb is missing while a process has the ledger open for writing") == true, "\(String(describing: unlocked))")
            next.close()
            // With no writer, it is read as a copy is, without one.
            #expect(try openStore(dir) { $0.readOnly = true }.head.sequence == 3)
        }
    }
}
