import DocketCore
@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

@Suite("Tamper detection")
struct TamperTests {
    enum Spot: String, CaseIterable, CustomTestStringConvertible {
        case dictionaryField, chainTag, frameHeader, lastPayloadByte, middle
        var testDescription: String { rawValue }
        func offset(in record: [UInt8]) -> Int {
            switch self {
            case .dictionaryField: 2
            case .chainTag: 5
            case .frameHeader: 11 + 5
            case .lastPayloadByte: record.count - 1
            case .middle: record.count / 2 + 3
            }
        }
    }

    /// A store in `dir` holding 300 events, those from about record 150 on compressed with
    /// dictionary v1 (trained from the first 100).
    static func storeWithDictionary(_ dir: String) async throws -> EventStore {
        let store = try openStore(dir) {
            $0.dictionaryTrainingThreshold = 100
            $0.dictionarySampleCount = 100
        }
        try await appendBatches(store, count: 150, batch: 50)
        // Let the background training finish so later records use a dictionary.
        for _ in 0..<200 where try store.statistics().dictionaries.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        try await appendBatches(store, count: 150, batch: 50, offset: 150)
        return store
    }

    /// Writes 300 events (with a dictionary from record 100 on), flips one byte of the record at
    /// `target` in the data file, and expects verify to name `target` as the first bad sequence.
    @Test("changing one byte of a stored record makes verify name its sequence", arguments: Spot.allCases, [42, 250])
    func flipByte(spot: Spot, target: UInt64) async throws {
        try await withTemporaryDirectory { dir in
            let record: [UInt8]
            do {
                let store = try await Self.storeWithDictionary(dir)
                #expect(try store.verify().isIntact)
                record = try #require(try store.rawRecord(at: target))
                store.close()
            }
            if target == 250 { #expect(record[2] != 0, "late records are compressed with a dictionary") }
            let file = dir + "/ledger/data.mdb"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            let offset = spot.offset(in: record)
            // Copy-on-write can leave stale copies of a page in free pages; change every copy.
            let hits = occurrences(of: record, in: bytes)
            try #require(!hits.isEmpty, "the record's bytes are in the data file")
            for hit in hits { bytes[hit + offset] ^= 0x20 }
            try Data(bytes).write(to: URL(fileURLWithPath: file))

            let store = try openStore(dir) { $0.readOnly = true }
            let report = try store.verify()
            let failure = try #require(report.failure)
            #expect(failure.sequence == target, "\(failure)")
        }
    }

    @Test(
        "a record is exactly one zstd frame: bytes after it, a skippable frame or a second frame, are damage and not read past",
        arguments: [
            ("skippable frame", [0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0] + Array("EVIL".utf8)), ("junk", [0xDE, 0xAD]), ("second frame", []),
        ] as [(String, [UInt8])])
    func oneFrame(what: String, trailing: [UInt8]) throws {
        let envelope = [UInt8]("an envelope, as far as zstd knows".utf8)
        var frame: [UInt8] = []
        try envelope.withUnsafeBytes { try ZstdCompressor(level: 3).compress($0, dictionary: nil, appendingTo: &frame) }
        let decompressor = ZstdDecompressor()
        let whole = try frame.withUnsafeBytes { raw in try decompressor.decompress(raw, dictionary: nil, limit: 1 << 16) { Array($0) } }
        #expect(whole == envelope)
        let tampered = frame + (trailing.isEmpty ? frame : trailing)
        let error = #expect(throws: StoreError.self) {
            try tampered.withUnsafeBytes { raw in try decompressor.decompress(raw, dictionary: nil, limit: 1 << 16) { Array($0) } }
        }
        #expect(error?.code == .corruptRecord && error?.message.contains("after its zstd frame") == true, "\(String(describing: error))")
    }

    @Test("a stored dictionary altered so that zstd no longer loads it is named as damaged, at the first record that needs it")
    func unloadableDictionary() async throws {
        try await withTemporaryDirectory { dir in
            let dictionary: [UInt8]
            var firstUse: UInt64 = 0
            do {
                let store = try await Self.storeWithDictionary(dir)
                dictionary = try store.dictionary(version: 1)
                for s in 1...store.head.sequence where firstUse == 0 {
                    if let record = try store.rawRecord(at: s), record[1] == 0, record[2] == 1 { firstUse = s }
                }
                store.close()
            }
            try #require(firstUse > 0, "a record compressed with dictionary v1")
            // Its entropy tables' first byte, past the magic number and the dictionary id.
            let file = dir + "/ledger/data.mdb"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            let hits = occurrences(of: dictionary, in: bytes)
            try #require(!hits.isEmpty, "the dictionary's bytes are in the data file")
            for hit in hits { bytes[hit + 8] ^= 0xFF }
            try Data(bytes).write(to: URL(fileURLWithPath: file))

            let store = try openStore(dir) { $0.readOnly = true }
            defer { store.close() }
            let failure = try #require(try store.verify().failure)
            #expect(failure.sequence == firstUse, "\(failure)")
            #expect(failure.reason.contains("dictionary version 1 no longer loads") && failure.reason.contains("damaged or altered"), "\(failure)")
        }
    }

    @Test("a missing record breaks contiguity and is named")
    func gap() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let store = try openStore(dir)
                try await appendBatches(store, count: 20, batch: 20)
                store.close()
            }
            // Rewrite the key of record 7 to 0x7F… so sequence 7 is missing from the log.
            let file = dir + "/ledger/data.mdb"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            let key: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 7]
            let store0 = try openStore(dir) { $0.readOnly = true }
            let record = try #require(try store0.rawRecord(at: 7))
            // A leaf node is: u16 lo, u16 hi (data size), u16 flags, u16 key size, key, data.
            let hits = occurrences(of: key + record.prefix(16), in: bytes)
            try #require(!hits.isEmpty)
            for hit in hits { bytes[hit + 7] = 0x7F }
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let store = try openStore(dir) { $0.readOnly = true }
            let failure = try #require(try store.verify().failure)
            #expect(failure.sequence == 7, "\(failure)")
        }
    }

    /// Writes straight into the environment, as someone editing the files outside Docket would.
    func tamper(_ dir: String, _ edit: (borrowing Transaction, Databases) throws -> Void) throws {
        let env = try LMDBEnvironment(path: dir + "/ledger", mapSize: 1 << 28, maxDatabases: 8, readOnly: false)
        let dbs = try Databases.open(env, readOnly: false, path: dir)
        let txn = try env.beginWrite()
        try edit(txn, dbs)
        try txn.commit()
    }

    @Test("scans and folds, pipelined or not, stop at a hole in the log or at records that end before the head", arguments: [20, 40])
    func scansStopAtMissingRecords(gone: Int) async throws {
        try await withTemporaryDirectory { dir in
            do {
                let store = try openStore(dir)
                _ = try await appendBatches(store, count: 40, batch: 10)
                store.close()
            }
            try tamper(dir) { txn, dbs in try txn.delete(dbs.log, Key.sequence(UInt64(gone))) }
            let store = try openStore(dir) { $0.readOnly = true }
            // chunk 4: long enough to read on the pipelined threads; 4096: on this one.
            for chunk in [4, 4096] {
                for partitions in [1, 2] {
                    let folded = #expect(throws: StoreError.self) {
                        _ = try store.fold(chunk: chunk, into: [Int](repeating: 0, count: partitions)) { n, _ in n += 1 }
                    }
                    #expect(folded?.code == .corruptRecord && folded?.sequence == UInt64(gone), "\(String(describing: folded))")
                }
                var seen = 0
                let scanned = #expect(throws: StoreError.self) { try store.scan(chunk: chunk) { _ in seen += 1; return true } }
                #expect(scanned?.message.contains("no record \(gone)") == true && seen == gone - 1, "\(String(describing: scanned)) after \(seen)")
            }
        }
    }

    @Test("a chain anchor that does not match the chain is not handed on as the chain hash there", arguments: [false, true])
    func alteredAnchor(keepingTag: Bool) async throws {
        try await withTemporaryDirectory { dir in
            let anchored: ChainHash
            do {
                let store = try openStore(dir)
                _ = try await appendBatches(store, count: 2000, batch: 1000)
                anchored = try store.chainHash(at: 1024)
                store.close()
            }
            // Another hash altogether, or the same one with its last byte changed (its tag, the
            // part each record carries, unchanged).
            var altered = keepingTag ? anchored.bytes : ChainHash.genesis.bytes
            if keepingTag { altered[31] ^= 0xFF }
            try tamper(dir) { txn, dbs in
                try txn.put(dbs.chain, Key.sequence(1024), altered)
            }
            let store = try openStore(dir) { $0.readOnly = true }
            let refused = #expect(throws: StoreError.self) { try store.chainHash(at: 1024) }
            #expect(refused?.code == .corruptRecord && refused?.sequence == 1024, "\(String(describing: refused))")
            #expect(anchored != ChainHash.genesis)
            #expect(try store.verify().failure != nil)
        }
    }

    @Test("an index value of the wrong length, or a stream version no append reaches, is damage: refused with corrupt-record, never read past or overflowed")
    func damagedIndexValues() async throws {
        try await withTemporaryDirectory { dir in
            let appended: [ProposedEvent]
            do {
                let store = try openStore(dir)
                appended = try await appendBatches(store, count: 20, batch: 10)
                store.close()
            }
            try tamper(dir) { txn, dbs in
                // The first event's id entry cut to 3 bytes; bulk-1's first stream entry to 2;
                // and a stream whose index claims the last version there is.
                try txn.put(dbs.ids, Key.id(appended[0].id), [0, 0, 1])
                try txn.put(dbs.streams, Key.stream(try StreamName("bulk-1"), version: 1), [0, 11])
                try txn.put(dbs.streams, Key.stream(try StreamName("full"), version: .max), Key.sequence(3))
            }
            let store = try openStore(dir)
            // A retry of the first event reads its id entry.
            let retry = await #expect(throws: StoreError.self) { try await store.append(to: try StreamName("bulk-0"), events: [appended[0]]) }
            #expect(retry?.code == .corruptRecord, "\(String(describing: retry?.code)) \(String(describing: retry?.message))")
            let read = #expect(throws: StoreError.self) { try store.read(stream: try StreamName("bulk-1")) }
            #expect(read?.code == .corruptRecord, "\(String(describing: read))")
            let full = await #expect(throws: StoreError.self) { try await store.append(to: try StreamName("full"), events: [try event()]) }
            #expect(full?.code == .corruptRecord && full?.message.contains("which no append reaches") == true, "\(String(describing: full))")
            // Nothing was written, and the intact streams still take appends.
            #expect(store.head.sequence == 20)
            _ = try await store.append(to: try StreamName("bulk-0"), events: [try event()])
        }
    }

    @Test("an index entry no record accounts for is reported, as sequence 0")
    func extraIndexEntry() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let store = try openStore(dir)
                try await appendBatches(store, count: 20, batch: 10)
                store.close()
            }
            try tamper(dir) { txn, dbs in
                try txn.put(dbs.streams, Key.stream(try StreamName("bulk-0"), version: 9999), Key.sequence(5))
            }
            let failure = try #require(try openStore(dir) { $0.readOnly = true }.verify().failure)
            #expect(failure.sequence == 0)
            #expect(failure.reason.contains("the stream index holds 21 entries for 20 records"), "\(failure)")
        }
    }

    @Test(
        "a recorded head that disagrees with an intact chain names the sequence where they part",
        arguments: [(UInt64(15), false, UInt64(16)), (25, false, 21), (20, true, 20)])
    func headMismatch(recorded: UInt64, wrongHash: Bool, named: UInt64) async throws {
        try await withTemporaryDirectory { dir in
            let hash: ChainHash
            do {
                let store = try openStore(dir)
                try await appendBatches(store, count: 20, batch: 10)
                hash = wrongHash ? .genesis : store.head.hash
                store.close()
            }
            try tamper(dir) { txn, dbs in
                try Meta.put(Meta.head, bigEndianBytes(recorded) + hash.bytes, in: txn, dbs)
            }
            let failure = try #require(try openStore(dir) { $0.readOnly = true }.verify().failure)
            #expect(failure.sequence == named, "\(failure)")
            #expect(failure.reason.contains("does not match the log"))
        }
    }

    /// The main database's root: pointing past the last page, in both meta pages (LMDB reads
    /// the one with the higher transaction id), gives MDB_PAGE_NOTFOUND; marked as an overflow
    /// page, which is neither a branch nor a leaf, MDB_CORRUPTED.
    enum RootDamage: String, CaseIterable, CustomTestStringConvertible {
        case pastTheEnd, notALeaf
        var testDescription: String { rawValue }
    }

    @Test("a data file whose pages LMDB cannot follow is damage (corrupt-record), not a bare LMDB error", arguments: RootDamage.allCases)
    func damagedStructure(damage: RootDamage) async throws {
        try await withTemporaryDirectory { dir in
            do {
                let store = try openStore(dir)
                try await appendBatches(store, count: 20, batch: 10)
                store.close()
            }
            let file = dir + "/ledger/data.mdb"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            // MDB_meta follows the 16-byte page header: magic, version, address, map size, then
            // the free and main databases (48 bytes each, md_root last), then mm_last_pg. The
            // page size is the free database's md_pad.
            func word(_ at: Int) -> UInt64 { bytes[at..<at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
            let pageSize = Int(UInt32(bytes[40]) | UInt32(bytes[41]) << 8 | UInt32(bytes[42]) << 16 | UInt32(bytes[43]) << 24)
            try #require(pageSize >= 512 && bytes.count > 2 * pageSize)
            let current = word(16 + 128) > word(pageSize + 16 + 128) ? 0 : pageSize  // mm_txnid
            switch damage {
            case .pastTheEnd:
                let root = word(current + 16 + 120) + 3
                for meta in [0, pageSize] {
                    for i in 0..<8 { bytes[meta + 16 + 112 + i] = UInt8(truncatingIfNeeded: root >> (8 * UInt64(i))) }
                }
            case .notALeaf:
                let root = Int(word(current + 16 + 112))
                try #require(root > 1 && (root + 1) * pageSize <= bytes.count)
                bytes[root * pageSize + 10] = 0x04  // mp_flags: P_OVERFLOW
                bytes[root * pageSize + 11] = 0
            }
            try Data(bytes).write(to: URL(fileURLWithPath: file))

            #expect {
                let store = try openStore(dir) { $0.readOnly = true }
                defer { store.close() }
                _ = try store.verify()
            } throws: { error in
                guard let error = error as? StoreError else { return false }
                return error.code == .corruptRecord && error.message.contains("damaged")
                    && error.message.contains(damage == .pastTheEnd ? "MDB_PAGE_NOTFOUND" : "MDB_CORRUPTED")
            }
        }
    }
}

func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
    guard let first = needle.first, needle.count <= haystack.count else { return [] }
    var result: [Int] = []
    var i = 0
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == first && haystack[i..<i + needle.count].elementsEqual(needle) { result.append(i) }
        i += 1
    }
    return result
}
