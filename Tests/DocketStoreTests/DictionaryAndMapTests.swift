import DocketCore
@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

@Suite("Dictionaries and map growth")
struct DictionaryAndMapTests {
    /// The dictionary version a stored record names (header bytes 1–2, big-endian).
    func dictionaryVersion(_ store: EventStore, _ seq: UInt64) throws -> UInt16 {
        let raw = try #require(try store.rawRecord(at: seq))
        return UInt16(raw[1]) << 8 | UInt16(raw[2])
    }

    /// Appends synthetic batches until `condition` holds (training runs in the background and a
    /// new dictionary is installed by a later commit), or fails after `limit` events.
    func appendUntil(
        _ store: EventStore, from start: Int, limit: Int, make: (Int) -> ProposedEvent = { SyntheticEvents.event($0).event },
        _ condition: () throws -> Bool
    ) async throws -> Int {
        var i = start
        while try !condition() {
            try #require(i < start + limit, "condition not reached after \(limit) events")
            let events = (i..<i + 20).map(make)
            _ = try await store.append(to: try StreamName("bulk-\(i / 20)"), events: events)
            i += 20
        }
        return i
    }

    @Test("dictionaries are trained, replaced and retrained when the ratio degrades; every record stays readable")
    func rollover() async throws {
        try await withTemporaryDirectory { dir in
            let tweak: (inout EventStore.Configuration) -> Void = {
                $0.dictionaryTrainingThreshold = 200
                $0.dictionarySampleCount = 400
                $0.retrainWindow = 300
                $0.dictionaryCapacity = 4096
            }
            let store = try openStore(dir, tweak)
            var expected: [Value] = []
            // Records before any dictionary are plain zstd frames naming dictionary 0.
            expected += try await appendBatches(store, count: 100, batch: 20).map(\.data)
            #expect(try store.statistics().dictionaries.isEmpty)
            #expect(try dictionaryVersion(store, 1) == 0)

            var next = try await appendUntil(store, from: 100, limit: 5000) { try store.statistics().dictionaries.count >= 1 }
            let first = try #require(try store.statistics().dictionaries.first)
            #expect(first.version == 1 && first.samples >= 200 && first.samples < 400)
            #expect(first.ratio > 1.5, "a dictionary trained on these events compresses them well")
            // The first dictionary used few samples; once there are enough, a better one replaces it.
            next = try await appendUntil(store, from: next, limit: 5000) { try store.statistics().dictionaries.count >= 2 }
            #expect(try store.statistics().dictionaries[1].samples == 400)

            // A different workload degrades the ratio; the writer retrains on it.
            let shifted: (Int) -> ProposedEvent = { i in
                var rng = SplitMix64(seed: UInt64(i))
                let words = (0..<12).map { _ in String(rng.next() % 1_000_000_007, radix: 36) }
                return try! ProposedEvent(
                    type: EventType("AdvisoryPublished"), actor: "publisher-\(i % 3)",
                    data: ["ghsa": .string("GHSA-\(words[0])-\(words[1])"), "words": .array(words.map { .string($0) })])
            }
            let before = try store.statistics().dictionaries.count
            let end = try await appendUntil(store, from: next, limit: 20_000, make: shifted) {
                try store.statistics().dictionaries.count > before
            }
            let stats = try store.statistics()
            #expect(stats.currentDictionary == UInt16(stats.dictionaries.count))
            #expect(stats.dictionaries.map(\.version) == Array(1...UInt16(stats.dictionaries.count)))

            // Every record names an existing dictionary (or none) and decodes, also after reopening.
            let total = store.head.sequence
            #expect(total == UInt64(end))
            var versions = Set<UInt16>()
            for seq in stride(from: UInt64(1), through: total, by: 7) { versions.insert(try dictionaryVersion(store, seq)) }
            #expect(versions.contains(0) && versions.contains(1) && versions.contains(2))
            store.close()
            let reopened = try openStore(dir, tweak)
            let all = try reopened.read(from: 1, limit: Int(total))
            #expect(all.count == Int(total))
            #expect(Array(all.prefix(expected.count).map(\.data)) == expected)
            for e in all.suffix(50) { #expect(e.type.rawValue == "AdvisoryPublished") }
            #expect(try reopened.verify().isIntact)
        }
    }

    @Test("a dictionary's description with numbers out of range is malformed, not a trap (a follower reads what a leader sends)")
    func dictionaryInfoOutOfRange() throws {
        let good = #"{"version":3,"bytes":112640,"trained_at_seq":4096,"samples":1000,"ratio":3.5}"#
        let info = try #require(DictionaryInfo(json: good))
        #expect(info.version == 3 && info.trainedAtSequence == 4096)
        for bad in [
            #"{"version":70000,"bytes":1,"trained_at_seq":1,"samples":1,"ratio":1}"#,
            #"{"version":-1,"bytes":1,"trained_at_seq":1,"samples":1,"ratio":1}"#,
            #"{"version":1,"bytes":1,"trained_at_seq":-5,"samples":1,"ratio":1}"#,
            #"{"version":1,"bytes":-1,"trained_at_seq":1,"samples":1,"ratio":1}"#,
        ] {
            #expect(DictionaryInfo(json: bad) == nil, "\(bad)")
        }
        // A dictionary trained at a sequence near the top is replaced at the top, not at an overflow.
        #expect(LogWriter.nextTraining(after: 1 << 62, EventStore.Configuration()) == .max)
    }

    @Test("the map grows on MDB_MAP_FULL without losing the batch that hit it")
    func mapGrowth() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) { $0.initialMapSize = 128 << 10 }
            let initial = try store.statistics().mapSize
            let appended = try await appendBatches(store, count: 6000, batch: 500)
            let stats = try store.statistics()
            #expect(stats.mapSize > initial)
            #expect(stats.events == 6000)
            let back = try store.read(from: 1, limit: 10_000)
            #expect(back.map(\.id) == appended.map(\.id))
            #expect(try store.verify().isIntact)
        }
    }

    @Test("a failed write's error names neither the data file nor its directory: remote clients, reporters included, read it")
    func writeErrorsNameNoPath() {
        let dir = "/srv/secret-project/docket-data"
        // The last two are LMDB's MDB_CORRUPTED and MDB_PANIC.
        for code: Int32 in [EIO, EACCES, EROFS, ENOSPC, EFBIG, -30796, -30795] {
            let error = LMDBError(code: code).writeError(dataFile: dir + "/data.mdb")
            #expect(!error.message.contains("secret-project"), "\(code): \(error.message)")
            #expect(error.message.contains("nothing of the failed append was written") || error.code == .lmdb, "\(code): \(error.message)")
        }
        // Damage met while writing is the file's: corrupt-record, as on a read.
        #expect(LMDBError(code: -30796).writeError(dataFile: dir + "/data.mdb").code == .corruptRecord)
    }

    @Test("at its maximum map size the log refuses the append with a clear error and nothing half-written")
    func mapAtMaximum() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir) {
                $0.initialMapSize = 256 << 10
                $0.maximumMapSize = 512 << 10
            }
            var failure: StoreError?
            var written = 0
            for i in 0..<10_000 {
                do {
                    _ = try await appendBatches(store, count: 50, batch: 50, offset: i * 50)
                    written += 50
                } catch let error as StoreError {
                    failure = error
                    break
                }
            }
            let error = try #require(failure)
            #expect(error.code == .diskFull)
            #expect(error.message.contains("maximum map size") && !error.message.contains(dir))
            #expect(store.head.sequence == UInt64(written))
            #expect(try store.read(from: 1, limit: 100_000).count == written)
            #expect(try store.verify().isIntact)
            // A smaller append may still fit; either way the store keeps working for reads.
            _ = try? await store.append(to: try stream("small"), events: [try event()])
            #expect(try store.verify().isIntact)
        }
    }
}
