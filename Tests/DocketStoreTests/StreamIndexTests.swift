import DocketCore
@testable import DocketStore
import DocketTestSupport
import Foundation
import Synchronization
import Testing

/// The stream index written later than the records (`StreamMemtable`) and the records of
/// `docket-store 1`, which a format 2 build still reads and appends after.
@Suite("Stream index and older formats")
struct StreamIndexTests {
    /// Appends `perStream` events to each of `streams` streams, all streams concurrently, so each
    /// commit covers many streams (what defers their index entries).
    func appendConcurrently(_ store: EventStore, streams: Int, perStream: Int, prefix: String = "r") async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<streams {
                group.addTask {
                    for v in 0..<perStream {
                        _ = try await store.append(
                            to: try StreamName("\(prefix)-\(s)"), expecting: .exact(UInt64(v)), events: [try event(data: ["s": .int(Int64(s)), "v": .int(Int64(v))])])
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Every stream reads back complete and in order, by version and from a middle version.
    func expectStreamsComplete(_ store: EventStore, streams: Int, perStream: Int, prefix: String = "r", _ context: String) throws {
        for s in 0..<streams {
            let name = try StreamName("\(prefix)-\(s)")
            let events = try store.read(stream: name)
            #expect(events.map(\.streamVersion) == Array(1...UInt64(perStream)), "\(context): stream \(s)")
            #expect(events.map { $0.data["v"]?.intValue } == (0..<perStream).map { Int64($0) }, "\(context): stream \(s)")
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            #expect(try store.version(of: name) == UInt64(perStream))
            #expect(try store.read(stream: name, fromVersion: 3, limit: 2).map(\.streamVersion) == [3, 4], "\(context)")
        }
    }

    func indexedThrough(_ store: EventStore) throws -> UInt64 {
        try store.read { (txn) throws(StoreError) in try Meta.indexedThrough(in: txn, store.databases, head: .max) }
    }

    @Test("under concurrent load stream entries wait in memory; reads and version checks see them; close writes them")
    func deferredEntries() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.streamIndexFlushThreshold = 1_000_000 }
            try await appendConcurrently(store, streams: 24, perStream: 8)
            #expect(store.head.sequence == 192)
            // Commits covering more than a few streams left their entries in memory.
            #expect(try indexedThrough(store) < store.head.sequence)
            #expect(store.memtable.count > 0)
            try expectStreamsComplete(store, streams: 24, perStream: 8, "before the flush")
            // Optimistic concurrency sees versions that are only in memory.
            let conflict = await #expect(throws: StoreError.self) {
                try await store.append(to: try StreamName("r-3"), expecting: .exact(7), events: [try event()])
            }
            #expect(conflict?.code == .wrongExpectedVersion && conflict?.actualVersion == 8)
            #expect(try store.verify().isIntact)
            store.close()
            let reopened = try openStore(dir)
            defer { reopened.close() }
            #expect(try indexedThrough(reopened) == reopened.head.sequence, "close leaves the index complete")
            #expect(reopened.memtable.count == 0)
            try expectStreamsComplete(reopened, streams: 24, perStream: 8, "after reopening")
            #expect(try reopened.verify().isIntact)
        }
    }

    @Test("two spellings of one name (\"é\" as one code point, or \"e\" and an accent) are two streams, in memory as on disk")
    func streamNamesByBytes() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.streamIndexFlushThreshold = 1_000_000 }
            let (composed, decomposed) = (try StreamName("caf\u{E9}"), try StreamName("cafe\u{301}"))
            #expect(composed.rawValue == decomposed.rawValue, "equal as Swift strings")
            #expect(composed != decomposed && Set([composed, decomposed]).count == 2)
            #expect((composed < decomposed) != (decomposed < composed))
            // Many streams at once, so that the two names' entries wait in memory (`StreamMemtable`).
            async let others: Void = appendConcurrently(store, streams: 12, perStream: 4)
            _ = try await store.append(to: composed, expecting: .noStream, events: [try event(data: ["n": 1])])
            _ = try await store.append(to: decomposed, expecting: .noStream, events: [try event(data: ["n": 2])])
            _ = try await store.append(to: decomposed, expecting: .exact(1), events: [try event(data: ["n": 3])])
            try await others
            func check(_ store: EventStore, _ when: String) throws {
                #expect(try store.read(stream: composed).map { $0.data["n"] } == [1], "\(when)")
                #expect(try store.read(stream: decomposed).map { $0.data["n"] } == [2, 3], "\(when)")
            }
            try check(store, "entries in memory")
            #expect(try store.verify().isIntact)
            store.close()
            let reopened = try openStore(dir)
            defer { reopened.close() }
            try check(reopened, "reopened")
            #expect(try reopened.verify().isIntact)
        }
    }

    @Test("the flush threshold moves entries to the index mid-load; a lone appender's entries wait like the others")
    func flushThreshold() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.streamIndexFlushThreshold = 50 }
            defer { store.close() }
            try await appendConcurrently(store, streams: 16, perStream: 10)
            #expect(try indexedThrough(store) > store.head.sequence - 50)
            #expect(store.memtable.count < 50)
            try expectStreamsComplete(store, streams: 16, perStream: 10, "with flushes")
            // One appender on its own: its entries wait in memory too, and read back the same.
            let before = try indexedThrough(store)
            let alone = try StreamName("alone")
            for _ in 0..<3 { _ = try await store.append(to: alone, events: [try event(), try event()]) }
            #expect(try indexedThrough(store) == before || store.memtable.count < 6)
            #expect(try store.read(stream: alone).map(\.streamVersion) == Array(1...6))
            #expect(try store.version(of: alone) == 6)
            #expect(try store.verify().isIntact)
        }
    }

    @Test("a copy taken while entries were only in memory (as after a crash) re-indexes them on open")
    func crashCopy() async throws {
        try await withTemporaryDirectory { dir in
            let copy = dir + "/copy"
            let store = try openStore(dir + "/live") { $0.streamIndexFlushThreshold = 1_000_000 }
            try await appendConcurrently(store, streams: 20, perStream: 6)
            let behind = try indexedThrough(store)
            #expect(behind < store.head.sequence)
            // Every commit is durable in data.mdb: a copy now is what a crash would leave.
            try FileManager.default.createDirectory(atPath: copy + "/ledger", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: dir + "/live/ledger/data.mdb", toPath: copy + "/ledger/data.mdb")
            store.close()

            var readOnly = EventStore.Configuration()
            readOnly.readOnly = true
            let inspected = try EventStore.open(directory: copy, configuration: readOnly)
            #expect(try indexedThrough(inspected) == behind)
            try expectStreamsComplete(inspected, streams: 20, perStream: 6, "read-only copy")
            #expect(try inspected.verify().isIntact)
            inspected.close()

            let resumed = try openStore(copy) { $0.streamIndexFlushThreshold = 1_000_000 }
            defer { resumed.close() }
            try expectStreamsComplete(resumed, streams: 20, perStream: 6, "reopened copy")
            // Appends continue from the re-indexed versions.
            let r = try await resumed.append(to: try StreamName("r-0"), expecting: .exact(6), events: [try event()])
            #expect(r.streamVersion == 7)
        }
    }

    @Test("verify reports a stream entry written past streams.indexed-through, and a missing one before it")
    func indexTamper() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.streamIndexFlushThreshold = 1_000_000 }
            try await appendConcurrently(store, streams: 12, perStream: 3)
            let through = try indexedThrough(store)
            let head = store.head.sequence
            #expect(through < head)
            let last = try #require(try store.event(at: head))
            // An entry for an unindexed record that points at another record, as if someone wrote the index by hand.
            let txn = try store.environment.beginWrite()
            try txn.put(store.databases.streams, Key.stream(last.stream, version: last.streamVersion), Key.sequence(1))
            try txn.commit()
            let report = try store.verify()
            #expect(report.failure?.sequence == head)
            #expect(report.failure?.reason.contains("past streams.indexed-through") == true)
            store.close()
        }
    }

    @Test("verify on a node that keeps appending (and moving entries into streams) finds it intact")
    func verifyWhileAppending() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.streamIndexFlushThreshold = 64 }
            defer { store.close() }
            try await appendConcurrently(store, streams: 8, perStream: 4)
            let writers = Task {
                for round in 0..<40 { try await appendConcurrently(store, streams: 8, perStream: 3, prefix: "w\(round)") }
            }
            var verified = 0
            while !writers.isCancelled {
                let report = try store.verify()
                #expect(report.isIntact, "\(report.failure.map { "\($0)" } ?? "")")
                verified += 1
                if verified >= 15 { break }
            }
            try await writers.value
            #expect(try store.verify().isIntact)
        }
    }

    @Test("a damaged record the stream index has not reached: read-only opens still verify and name it; a writable open refuses")
    func damagedUnindexedRecord() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.streamIndexFlushThreshold = 1_000_000 }
            try await appendConcurrently(store, streams: 10, perStream: 4)
            let through = try indexedThrough(store)
            let target = store.head.sequence - 2
            #expect(target > through)
            // The copy below keeps the damage unflushed.
            try truncateRecord(store, at: target)
            try FileManager.default.createDirectory(atPath: dir + "/copy/ledger", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: dir + "/ledger/data.mdb", toPath: dir + "/copy/ledger/data.mdb")
            store.close()

            let inspected = try openStore(dir + "/copy") { $0.readOnly = true }
            let report = try inspected.verify()
            #expect(report.failure?.sequence == target, "\(String(describing: report.failure))")
            #expect(try inspected.read(from: 1, limit: Int(target) - 1).count == Int(target) - 1)
            inspected.close()
            let refused = #expect(throws: StoreError.self) { _ = try openStore(dir + "/copy") }
            #expect(refused?.code == .corruptRecord && refused?.message.contains("run docket verify") == true, "\(String(describing: refused))")
        }
    }

    // MARK: docket-store 1

    /// Writes a `docket-store 1` directory by hand, as the previous release did: format 1
    /// records (envelope format 1 inside, no varints in the header), a complete `streams` index
    /// and no `streams.indexed-through`.
    func writeFormat1Directory(_ dir: String, events: [(StreamName, RecordedEvent)]) throws {
        try FileManager.default.createDirectory(atPath: dir + "/ledger", withIntermediateDirectories: true)
        let env = try LMDBEnvironment(path: dir + "/ledger", mapSize: 64 << 20, maxDatabases: 8, readOnly: false)
        let dbs = try Databases.open(env, readOnly: false, path: dir)
        let txn = try env.beginWrite()
        try Meta.put(Meta.format, Array("docket-store 1".utf8), in: txn, dbs)
        try Meta.put(Meta.ledgerID, Array("00112233445566778899aabbccddeeff".utf8), in: txn, dbs)
        let compressor = ZstdCompressor(level: 3)
        var previous = ChainHash.genesis
        var streams: Set<StreamName> = []
        for (stream, e) in events {
            var record: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            try EnvelopeCodec.encodeFormat1(e).withUnsafeBytes { raw in
                Result { () throws(StoreError) in try compressor.compress(raw, dictionary: nil, appendingTo: &record) }
            }.get()
            let hash = record.withUnsafeBytes { RecordFormat.chain(previous: previous, sequence: e.sequence, record: $0, dictionaryDigest: nil) }
            record.withUnsafeMutableBytes { $0.storeBytes(of: hash.tag.bigEndian, toByteOffset: RecordFormat.tagOffset, as: UInt64.self) }
            try txn.put(dbs.log, Key.sequence(e.sequence), record)
            try txn.put(dbs.streams, Key.stream(stream, version: e.streamVersion), Key.sequence(e.sequence))
            try txn.put(dbs.ids, Key.id(e.id), Key.sequence(e.sequence))
            streams.insert(stream)
            previous = hash
        }
        try Meta.put(Meta.head, bigEndianBytes(UInt64(events.count)) + previous.bytes, in: txn, dbs)
        try Meta.put(Meta.streamCount, bigEndianBytes(UInt64(streams.count)), in: txn, dbs)
        try txn.commit()
    }

    @Test("a docket-store 1 directory is read as it is, upgraded in place when opened for writing, and chains on")
    func format1Directory() async throws {
        try await withTemporaryDirectory { dir in
            let s = try StreamName("report-1")
            let old = try (1...5).map { i in
                (
                    s,
                    RecordedEvent(
                        sequence: UInt64(i), stream: s, streamVersion: UInt64(i), id: try EventID("old-\(i)"), type: try EventType("NoteAdded"),
                        schemaVersion: 1, actor: "ada", occurredAt: Timestamp(seconds: 1_700_000_000 + Int64(i)),
                        recordedAt: Timestamp(seconds: 1_700_000_100 + Int64(i)), payload: Payload(["i": .int(Int64(i))]))
                )
            }
            try writeFormat1Directory(dir, events: old)
            var readOnly = EventStore.Configuration()
            readOnly.readOnly = true
            let inspected = try EventStore.open(directory: dir, configuration: readOnly)
            #expect(try inspected.read(from: 1, limit: 10) == old.map(\.1))
            #expect(try inspected.verify().isIntact)
            inspected.close()

            let store = try openStore(dir)
            let r = try await store.append(to: s, expecting: .exact(5), events: [try event(id: EventID("new-6"))])
            #expect(r.firstSequence == 6 && r.streamVersion == 6)
            // Idempotency reaches back into format 1 records.
            let again = try await store.append(to: s, events: [try ProposedEvent(
                id: EventID("old-2"), type: EventType("NoteAdded"), actor: "ada", occurredAt: Timestamp(seconds: 1_700_000_002), data: ["i": 2])])
            #expect(again.duplicate && again.firstSequence == 2)
            #expect(try store.read(stream: s).map(\.id.rawValue) == ["old-1", "old-2", "old-3", "old-4", "old-5", "new-6"])
            #expect(try store.rawRecord(at: 5)?.first == 1 && store.rawRecord(at: 6)?.first == 2)
            #expect(try store.verify().isIntact)
            let format = try store.read { (txn) throws(StoreError) in try Meta.get(Meta.format, in: txn, store.databases) }
            #expect(format == Array("docket-store 2".utf8))
            store.close()
        }
    }
}

@Suite("Long scans")
struct PipelinedScanTests {
    @Test("a long scan (read and decompressed on a second thread) gives exactly what reads by sequence give; it stops when asked")
    func sameEvents() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) {
                $0.dictionaryTrainingThreshold = 500
                $0.dictionarySampleCount = 500
            }
            defer { store.close() }
            try await appendBatches(store, count: 6_000, batch: 250)
            let expected = try store.read(from: 1, limit: 10_000)
            #expect(expected.count == 6_000)
            var scanned: [RecordedEvent] = []
            try store.scan(chunk: 500) { scanned.append($0); return true }
            #expect(scanned == expected)
            // From the middle, through a bound, and stopped early.
            scanned.removeAll()
            try store.scan(from: 1_234, through: 4_321, chunk: 300) { scanned.append($0); return true }
            #expect(scanned.map(\.sequence) == Array(1_234...4_321))
            var seen = 0
            try store.scan(chunk: 200) { e in
                seen += 1
                return e.sequence < 2_500
            }
            #expect(seen == 2_500)
        }
    }

    @Test("a long scan delivers every event before a damaged record, then names it")
    func damagedRecord() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            try await appendBatches(store, count: 5_000, batch: 500)
            try truncateRecord(store, at: 3_210)
            var last: UInt64 = 0
            let error = #expect(throws: StoreError.self) {
                try store.scan(chunk: 256) { e in
                    last = e.sequence
                    return true
                }
            }
            #expect(last == 3_209)
            #expect(error?.code == .corruptRecord && error?.sequence == 3_210, "\(String(describing: error))")
            #expect(error?.message.hasPrefix("record 3210: ") == true, "\(String(describing: error))")
        }
    }

    @Test("a long fold asked to stop ends at its next chunk with closed, naming where it stopped")
    func stoppedFold() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            try await appendBatches(store, count: 2_000, batch: 40)
            // Stopped from the start, and after its first few chunks of 100.
            let chunks = Atomic<Int>(0)
            for stop: @Sendable () -> Bool in [{ true }, { chunks.add(1, ordering: .relaxed).newValue > 3 }] {
                let stopped = #expect(throws: StoreError.self) {
                    _ = try store.fold(from: 1, chunk: 100, into: [0, 0], stop: stop) { n, _ in n += 1 }
                }
                #expect(stopped?.code == .closed && stopped?.message.contains("shutting down") == true, "\(String(describing: stopped))")
            }
            // Not asked to: every event.
            #expect(try store.fold(from: 1, chunk: 100, into: [0, 0], stop: { false }) { n, _ in n += 1 }.reduce(0, +) == 2_000)
        }
    }

    @Test("a partitioned fold hands every event to exactly one partition, each stream to one, in order", arguments: [1, 2, 3])
    func partitionedFold(partitions: Int) async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            try await appendBatches(store, count: 6_000, batch: 40)
            let expected = try store.read(from: 1, limit: 10_000)
            for chunk in [256, 4096] {  // threaded, and (a short range for the chunk) on this thread
                // What each partition saw of each event, read in place: all a view reads.
                struct Seen: Equatable, Sendable {
                    var sequence: UInt64, streamVersion: UInt64, stream: String, type: String, schemaVersion: UInt16
                    var occurredAt: Timestamp, recordedAt: Timestamp, payload: [UInt8]
                }
                let parts = try store.fold(from: 1, chunk: chunk, into: [[Seen]](repeating: [], count: partitions)) { seen, e in
                    seen.append(Seen(
                        sequence: e.sequence, streamVersion: e.streamVersion, stream: String(decoding: e.stream, as: UTF8.self),
                        type: String(decoding: e.type, as: UTF8.self), schemaVersion: e.schemaVersion, occurredAt: e.occurredAt,
                        recordedAt: e.recordedAt, payload: Array(e.payload)))
                }
                #expect(parts.count == partitions)
                #expect(parts.flatMap { $0 }.sorted { $0.sequence < $1.sequence } == expected.map { e in
                    Seen(
                        sequence: e.sequence, streamVersion: e.streamVersion, stream: e.stream.rawValue, type: e.type.rawValue,
                        schemaVersion: e.schemaVersion, occurredAt: e.occurredAt, recordedAt: e.recordedAt, payload: e.payload.bytes)
                })
                for (p, events) in parts.enumerated() {
                    #expect(events.map(\.sequence) == events.map(\.sequence).sorted())
                    #expect(events.allSatisfy { EventStore.partition(ofStream: $0.stream, among: partitions) == p })
                }
                if partitions > 1 { #expect(parts.allSatisfy { !$0.isEmpty }, "150 streams spread over every partition") }
            }
            // A range from the middle.
            let middle = try store.fold(from: 1_001, through: 5_000, chunk: 256, into: [0, 0]) { n, _ in n += 1 }
            #expect(middle.reduce(0, +) == 4_000)
            // Ranges that end on a chunk's boundary, within a chunk before the log's end and at
            // it, and a log that ends on one (6,000 events in chunks of 250 or 100): the threads
            // that read chunks ahead find nothing past the end, and every event of the range is
            // folded once, in order within its partition.
            let ranges: [(chunk: Int, from: UInt64, through: UInt64)] = [
                (256, 1, 5_120), (256, 1, 5_000), (256, 257, 6_000), (250, 1, .max), (250, 1_001, 6_000), (100, 5, 5_904), (100, 1, .max),
            ]
            for r in ranges {
                let parts = try store.fold(from: r.from, through: r.through, chunk: r.chunk, into: [[UInt64]](repeating: [], count: partitions)) {
                    seen, e in seen.append(e.sequence)
                }
                let what = "chunks of \(r.chunk), \(r.from) through \(r.through)"
                #expect(parts.flatMap { $0 }.sorted() == Array(r.from...min(r.through, 6_000)), "\(what)")
                #expect(parts.allSatisfy { $0 == $0.sorted() }, "\(what)")
            }
        }
    }

    @Test("a partitioned fold stops at a damaged record and names it")
    func partitionedFoldDamaged() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            try await appendBatches(store, count: 5_000, batch: 50)
            try truncateRecord(store, at: 3_210)
            let error = #expect(throws: StoreError.self) {
                _ = try store.fold(chunk: 256, into: [0, 0, 0]) { n, _ in n += 1 }
            }
            #expect(error?.code == .corruptRecord && error?.sequence == 3_210, "\(String(describing: error))")
        }
    }
}
