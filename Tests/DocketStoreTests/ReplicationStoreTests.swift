import DocketCore
@testable import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// The store's half of replication: a follower stores a leader's records and dictionaries byte
/// for byte, checks every record's chain, and writes nothing of a batch that does not hold.
@Suite("Replication in the store")
struct ReplicationStoreTests {
    /// A leader of `count` synthetic events whose later records use a trained dictionary.
    func leaderWithDictionary(_ dir: String, count: Int = 300) async throws -> EventStore {
        let store = try openStore(dir) {
            $0.dictionaryTrainingThreshold = 100
            $0.dictionarySampleCount = 100
        }
        try await appendBatches(store, count: 150, batch: 50)
        for _ in 0..<300 where try store.statistics().dictionaries.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        try await appendBatches(store, count: count - 150, batch: 50, offset: 150)
        return store
    }

    /// A fresh follower of `leader`'s ledger.
    func follower(_ dir: String, of leader: EventStore) throws -> EventStore {
        let store = try openStore(dir) {
            $0.ledgerID = leader.ledgerID
            $0.dictionaryTrainingThreshold = 10
        }
        try store.saveNodeState(NodeState(role: .follower, leader: "127.0.0.1:1"))
        return store
    }

    /// Copies everything the follower lacks, `maxRecords` at a time.
    func replicateAll(from leader: EventStore, to follower: EventStore, maxRecords: Int = 64) async throws {
        var known = try follower.highestDictionaryVersion()
        while true {
            let head = follower.committedHead
            let batch = try leader.readReplication(
                from: head.sequence + 1, previous: head.hash, knownDictionaries: known, maxRecords: maxRecords, maxBytes: 1 << 20)
            if batch.count == 0 && batch.dictionaries.isEmpty { return }
            try await follower.appendReplicated(batch)
            known = max(known, batch.dictionaries.last?.version ?? 0)
        }
    }

    func expectIdentical(_ a: EventStore, _ b: EventStore) throws {
        #expect(a.head.sequence == b.head.sequence && a.head.hash == b.head.hash)
        for seq in 1...max(a.head.sequence, 1) {
            #expect(try a.rawRecord(at: seq) == b.rawRecord(at: seq), "record \(seq)")
        }
        let versions = try a.highestDictionaryVersion()
        #expect(try b.highestDictionaryVersion() == versions)
        for v in UInt16(1)...max(versions, 1) where versions > 0 {
            #expect(try a.dictionary(version: v) == b.dictionary(version: v), "dictionary \(v)")
        }
    }

    @Test("while a promotion claims the lead only its epoch's stream is written (every other append is refused, not-leader), and a second claim is not run")
    func claimingLeadership() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            let epochs = try StreamName("system/epochs")
            let first = try await store.claimingLeadership(writingOnly: epochs) { () async throws -> UInt64 in
                let refused = await #expect(throws: StoreError.self) { try await store.append(to: try StreamName("s"), events: [SyntheticEvents.event(0).1]) }
                #expect(refused?.code == .notLeader && refused?.message.contains("becoming the leader") == true, "\(String(describing: refused))")
                #expect(store.writeRefusal?.code == .notLeader)
                // One claim at a time: a second is not run.
                let nested = await store.claimingLeadership(writingOnly: epochs) { true }
                #expect(nested == nil)
                return try await store.append(to: epochs, events: [SyntheticEvents.event(1).1]).lastSequence
            }
            #expect(first == 1)
            // Claimed and released: writes are taken again.
            #expect(store.writeRefusal == nil)
            #expect(try await store.append(to: try StreamName("s"), events: [SyntheticEvents.event(2).1]).lastSequence == 2)
        }
    }

    @Test("a follower stores the leader's records and dictionaries byte for byte and rebuilds its indexes")
    func byteForByte() async throws {
        try await withTemporaryDirectory { dir in
            let leader = try await leaderWithDictionary(dir + "/leader")
            defer { leader.close() }
            let follower = try follower(dir + "/follower", of: leader)
            defer { follower.close() }
            #expect(follower.ledgerID == leader.ledgerID)
            try await replicateAll(from: leader, to: follower)
            try expectIdentical(leader, follower)
            #expect(try leader.statistics().dictionaries.count >= 1)
            // The indexes and counters were rebuilt from the records, so everything verifies and reads.
            #expect(try follower.verify().isIntact)
            #expect(try follower.read(stream: try StreamName("bulk-3")).map(\.id) == (try leader.read(stream: try StreamName("bulk-3")).map(\.id)))
            let (l, f) = (try leader.statistics(), try follower.statistics())
            #expect(l.streams == f.streams && l.rawBytes == f.rawBytes && l.recordBytes == f.recordBytes)
            #expect(l.dictionaries == f.dictionaries && l.currentDictionary == f.currentDictionary)
            // A follower never trains a dictionary of its own (its threshold of 10 passed long ago).
            try await Task.sleep(for: .milliseconds(100))
            #expect(try follower.highestDictionaryVersion() == (try leader.highestDictionaryVersion()))
        }
    }

    @Test("batches prepared before the one carrying their dictionary is durable decode with it")
    func pipelined() async throws {
        try await withTemporaryDirectory { dir in
            let leader = try await leaderWithDictionary(dir + "/leader")
            defer { leader.close() }
            let follower = try follower(dir + "/follower", of: leader)
            defer { follower.close() }
            var pending = PendingDictionaries()
            var head = follower.committedHead
            var known: UInt16 = 0
            var prepared: [PreparedReplication] = []
            while true {
                let batch = try leader.readReplication(
                    from: head.sequence + 1, previous: head.hash, knownDictionaries: known, maxRecords: 40, maxBytes: 1 << 20)
                if batch.count == 0 && batch.dictionaries.isEmpty { break }
                let p = try follower.prepareReplicated(batch, after: head, pending: &pending)
                prepared.append(p)
                head = p.head
                known = max(known, batch.dictionaries.last?.version ?? 0)
            }
            #expect(prepared.count > 2 && follower.head.sequence == 0, "all prepared, nothing written yet")
            let results = Locked<[Result<EventStore.Head, StoreError>]>([])
            for p in prepared { follower.submitReplicated(p) { r in results.mutate { $0.append(r) } } }
            for _ in 0..<500 where results.get().count < prepared.count { try await Task.sleep(for: .milliseconds(10)) }
            #expect(results.get().count == prepared.count)
            for r in results.get() { _ = try r.get() }
            try expectIdentical(leader, follower)
        }
    }

    @Test("a follower refuses writes of its own, also when reopened, and a promoted one writes on with the leader's dictionary")
    func fence() async throws {
        try await withTemporaryDirectory { dir in
            let leader = try await leaderWithDictionary(dir + "/leader")
            defer { leader.close() }
            do {
                let follower = try follower(dir + "/follower", of: leader)
                try await replicateAll(from: leader, to: follower)
                let refused = await #expect(throws: StoreError.self) { try await follower.append(to: try stream("x"), events: [try event()]) }
                #expect(refused?.code == .notLeader && refused?.leader == "127.0.0.1:1")
                follower.close()
            }
            let reopened = try openStore(dir + "/follower")
            let refused = await #expect(throws: StoreError.self) { try await reopened.append(to: try stream("x"), events: [try event()]) }
            #expect(refused?.code == .notLeader)
            try reopened.saveNodeState(NodeState(role: .leader, node: reopened.nodeState.node))
            let r = try await reopened.append(to: try stream("x"), events: [try event()])
            #expect(r.lastSequence == 301)
            #expect(try reopened.rawRecord(at: 301)?[2] == (try leader.highestDictionaryVersion()).bigEndianBytes.last)
            #expect(try reopened.verify().isIntact)
            reopened.close()
        }
    }

    @Test("a record altered on the way fails its chain check: the batch writes nothing and names the sequence", arguments: [1, 37, 63])
    func tamperedBatch(index: Int) async throws {
        try await withTemporaryDirectory { dir in
            let leader = try await leaderWithDictionary(dir + "/leader", count: 200)
            defer { leader.close() }
            let follower = try follower(dir + "/follower", of: leader)
            defer { follower.close() }
            try await replicateAll(from: leader, to: follower, maxRecords: 100)
            // Now a batch past the follower's head, one byte of one record flipped.
            try await appendBatches(leader, count: 64, batch: 64, offset: 1000)
            let head = follower.committedHead
            var batch = try leader.readReplication(from: head.sequence + 1, previous: head.hash, knownDictionaries: 99, maxRecords: 64, maxBytes: 1 << 20)
            let start = index == 0 ? 0 : batch.ends[index - 1]
            batch.bytes[start + (batch.ends[index] - start) / 2] ^= 0x01
            let error = await #expect(throws: StoreError.self) { try await follower.appendReplicated(batch) }
            #expect(error?.code == .corruptRecord && error?.sequence == head.sequence + 1 + UInt64(index), "\(String(describing: error))")
            #expect(follower.head.sequence == head.sequence)
            #expect(try follower.rawRecord(at: head.sequence + 1) == nil)
            // The leader's own hash of the last record is checked too.
            var forged = try leader.readReplication(from: head.sequence + 1, previous: head.hash, knownDictionaries: 99, maxRecords: 64, maxBytes: 1 << 20)
            forged.lastHash = .genesis
            let mismatch = await #expect(throws: StoreError.self) { try await follower.appendReplicated(forged) }
            #expect(mismatch?.sequence == head.sequence + 64)
            #expect(follower.head.sequence == head.sequence)
            #expect(try follower.verify().isIntact)
            // The intact batch goes through.
            try await replicateAll(from: leader, to: follower)
            try expectIdentical(leader, follower)
        }
    }

    @Test("a record that repeats a stream version is refused before anything is written, and the follower goes on")
    func repeatedStreamVersion() async throws {
        try await withTemporaryDirectory { dir in
            let leader = try openStore(dir + "/leader")
            defer { leader.close() }
            _ = try await leader.append(to: try stream("s"), events: [try event()])
            let follower = try follower(dir + "/follower", of: leader)
            defer { follower.close() }
            try await replicateAll(from: leader, to: follower)
            // Another log whose second record is version 1 of "s" again, re-tagged to chain onto the
            // follower's head: what a damaged or forged leader log would send. The chain holds.
            let other = try openStore(dir + "/other")
            defer { other.close() }
            _ = try await other.append(to: try stream("t"), events: [try event()])
            _ = try await other.append(to: try stream("s"), events: [try event()])
            var record = try #require(try other.rawRecord(at: 2))
            let head = follower.committedHead
            let hash = record.withUnsafeBytes { RecordFormat.chain(previous: head.hash, sequence: 2, record: $0, dictionaryDigest: nil) }
            record.withUnsafeMutableBytes { $0.storeBytes(of: hash.tag.bigEndian, toByteOffset: RecordFormat.tagOffset, as: UInt64.self) }
            let forged = ReplicationBatch(first: 2, bytes: record, ends: [record.count], dictionaries: [], lastHash: hash)
            let refused = await #expect(throws: StoreError.self) { try await follower.appendReplicated(forged) }
            #expect(refused?.code == .corruptRecord && refused?.sequence == 2, "\(String(describing: refused))")
            #expect(refused?.message.contains("is version 1 of stream s, whose next version is 2") == true, "\(String(describing: refused))")
            #expect(follower.head.sequence == 1)
            #expect(try follower.rawRecord(at: 2) == nil)
            // Within one batch: version 1 of a new stream, then version 1 of it again.
            let first = try #require(try other.rawRecord(at: 1))
            var twice: [UInt8] = []
            var previous = head.hash
            for seq in UInt64(2)...3 {
                var r = first
                let h = r.withUnsafeBytes { RecordFormat.chain(previous: previous, sequence: seq, record: $0, dictionaryDigest: nil) }
                r.withUnsafeMutableBytes { $0.storeBytes(of: h.tag.bigEndian, toByteOffset: RecordFormat.tagOffset, as: UInt64.self) }
                twice += r
                previous = h
            }
            let repeated = await #expect(throws: StoreError.self) {
                try await follower.appendReplicated(ReplicationBatch(first: 2, bytes: twice, ends: [first.count, 2 * first.count], dictionaries: [], lastHash: previous))
            }
            #expect(repeated?.code == .corruptRecord && repeated?.sequence == 3 && repeated?.message.contains("is version 1 of stream t, whose next version is 2") == true, "\(String(describing: repeated))")
            #expect(follower.head.sequence == 1)
            // The writer is not jammed: the leader's own next records go through, and the indexes hold.
            _ = try await leader.append(to: try stream("s"), events: [try event()])
            _ = try await leader.append(to: try stream("u"), events: [try event()])
            try await replicateAll(from: leader, to: follower)
            try expectIdentical(leader, follower)
            #expect(try follower.read(stream: try stream("s")).map(\.streamVersion) == [1, 2])
            #expect(try follower.verify().isIntact)
        }
    }

    @Test("a dictionary that differs from the leader's is divergence, and a batch that does not start at the head is refused")
    func divergentDictionaryAndGap() async throws {
        try await withTemporaryDirectory { dir in
            let leader = try await leaderWithDictionary(dir + "/leader", count: 200)
            defer { leader.close() }
            let follower = try follower(dir + "/follower", of: leader)
            defer { follower.close() }
            var batch = try leader.readReplication(from: 1, previous: .genesis, knownDictionaries: 0, maxRecords: 10, maxBytes: 1 << 20)
            try #require(!batch.dictionaries.isEmpty)
            try await follower.appendReplicated(batch)
            batch = try leader.readReplication(from: 11, previous: follower.head.hash, knownDictionaries: 0, maxRecords: 10, maxBytes: 1 << 20)
            batch.dictionaries[0].bytes[100] ^= 0xFF
            let diverged = await #expect(throws: StoreError.self) { try await follower.appendReplicated(batch) }
            #expect(diverged?.code == .diverged)
            var gap = try leader.readReplication(from: 11, previous: follower.head.hash, knownDictionaries: 99, maxRecords: 10, maxBytes: 1 << 20)
            gap.first = 15
            let refused = await #expect(throws: StoreError.self) { try await follower.appendReplicated(gap) }
            #expect(refused?.code == .corruptRecord && refused?.sequence == 11)
            #expect(follower.head.sequence == 10)
        }
    }

    @Test("chain hashes at any sequence and chain tags agree with the log")
    func chainHashes() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            defer { store.close() }
            var heads: [UInt64: ChainHash] = [0: .genesis]
            for i in 0..<25 {
                try await appendBatches(store, count: 100, batch: 100, offset: i * 100)
                heads[store.head.sequence] = store.head.hash
            }
            for (seq, hash) in heads where seq > 0 { #expect(try store.chainHash(at: seq) == hash, "h(\(seq))") }
            #expect(throws: StoreError.self) { try store.chainHash(at: 2501) }
            let tags = try store.chainTags(at: [0, 1024, 2500, 2501])
            #expect(tags[0] == 0 && tags[3] == nil)
            #expect(tags[1] == (try store.chainHash(at: 1024)).bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
            #expect(tags[2] == store.head.hash.bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
        }
    }

    @Test("a new data directory can be given its ledger id; a bad one is refused")
    func adoptedLedgerID() async throws {
        try await withTemporaryDirectory { dir in
            let id = "0123456789abcdef0123456789abcdef"
            let store = try openStore(dir + "/a") { $0.ledgerID = id }
            #expect(store.ledgerID == id)
            store.close()
            // An existing directory keeps its own.
            #expect(try openStore(dir + "/a") { $0.ledgerID = "ffffffffffffffffffffffffffffffff" }.ledgerID == id)
            #expect(throws: StoreError.self) { try openStore(dir + "/b") { $0.ledgerID = "not-an-id" } }
        }
    }

    @Test(
        "a replication state with a member of the wrong type is refused, naming it, rather than read as absent",
        arguments: [
            (#"{"role":"fenced","epoch":"x"}"#, "\"epoch\""), (#"{"role":"fenced","epoch":-1}"#, "\"epoch\""),
            (#"{"role":"follower","leader":7}"#, "\"leader\""), (#"{"role":"follower","leader":""}"#, "\"leader\""),
            (#"{"role":"leader","node":null}"#, "\"node\""), (#"{"role":"boss"}"#, "\"role\""), (#"["leader"]"#, "object"),
            (#"{"role":"leader","told":"1"}"#, "\"told\""),
        ])
    func badNodeState(text: String, named: String) async throws {
        await withTemporaryDirectory { dir in
            _ = FileManager.default.createFile(atPath: dir + "/replication.json", contents: Data(text.utf8))
            let error = #expect(throws: StoreError.self) { try NodeState.load(directory: dir) }
            #expect(error?.code == .notADataDirectory)
            #expect(error?.message.contains(named) == true, "\(error?.message ?? "")")
        }
        // What Docket writes reads back as written.
        try await withTemporaryDirectory { dir in
            for state in [NodeState(role: .fenced, node: "0011223344556677", leader: "127.0.0.1:7001", epoch: 3), NodeState(role: .leader, node: "0011223344556677", told: 2)] {
                _ = FileManager.default.createFile(atPath: dir + "/replication.json", contents: Data(state.json.utf8))
                let loaded = try NodeState.load(directory: dir)
                #expect(loaded == state)
            }
        }
    }

    @Test("that the previous leader knows of the epoch is recorded on a leader, durably, and never turns another role back into a leader")
    func previousLeaderTold() async throws {
        try await withTemporaryDirectory { dir in
            let store = try openStore(dir)
            try store.saveNodeState(NodeState(role: .follower, leader: "127.0.0.1:1"))
            try store.recordPreviousLeaderTold(epoch: 1)
            #expect(store.nodeState.role == .follower && store.nodeState.told == nil)
            #expect(try NodeState.load(directory: dir) == store.nodeState, "the file untouched")
            try store.saveNodeState(NodeState(role: .leader, node: store.nodeState.node))
            try store.recordPreviousLeaderTold(epoch: 1)
            #expect(store.nodeState.role == .leader && store.nodeState.told == 1)
            // Deposed, it stays deposed.
            try store.saveNodeState(NodeState(role: .fenced, node: store.nodeState.node, leader: "127.0.0.1:2", epoch: 2))
            try store.recordPreviousLeaderTold(epoch: 2)
            #expect(store.nodeState.role == .fenced && store.nodeState.told == nil, "deposed, its record of the last epoch dropped")
            #expect(try NodeState.load(directory: dir) == store.nodeState, "the file untouched")
            // Told, recorded, and deposed at once from many tasks: whatever the order, the node ends deposed.
            try store.saveNodeState(NodeState(role: .leader, node: store.nodeState.node))
            let node = store.nodeState.node
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        if i == 8 {
                            try? store.saveNodeState(NodeState(role: .fenced, node: node, leader: "127.0.0.1:2", epoch: 3))
                        } else {
                            try? store.recordPreviousLeaderTold(epoch: 2)
                        }
                    }
                }
            }
            #expect(try store.nodeState.role == .fenced && NodeState.load(directory: dir).role == .fenced)
            try store.saveNodeState(NodeState(role: .leader, node: store.nodeState.node))
            #expect(store.nodeState.told == nil, "promoted anew: not told of the new epoch")
            try store.recordPreviousLeaderTold(epoch: 3)
            store.close()
            let reopened = try openStore(dir)
            defer { reopened.close() }
            #expect(reopened.nodeState.role == .leader && reopened.nodeState.told == 3)
        }
    }
}

extension UInt16 {
    fileprivate var bigEndianBytes: [UInt8] { [UInt8(self >> 8), UInt8(self & 0xFF)] }
}

