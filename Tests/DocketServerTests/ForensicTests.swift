import DocketClient
import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import DocketWire
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// Checkpoints linked by consistency proofs, receipts and their inclusion proofs (in-process and
/// over a real socket, with every bad input), periodic checkpoints of a running node, and replay.
@Suite("Forensics: checkpoints, receipts, replay", .serialized)
struct ForensicTests {
    static func note(_ i: Int) throws -> ProposedEvent {
        try ProposedEvent(type: try EventType("Note"), actor: "a", data: ["i": .int(Int64(i))])
    }

    /// `n` notes on `stream`, `batch` to an append.
    static func fill(_ store: EventStore, _ n: Int, stream: String = "s", batch: Int = 1) async throws {
        for first in stride(from: 0, to: n, by: batch) {
            _ = try await store.append(to: try StreamName(stream), events: try (first..<min(first + batch, n)).map(note))
        }
    }

    // MARK: Checkpoints

    @Test("each checkpoint records the consistency proof from the one before; verify checks it, and a forged link is named")
    func linkedCheckpoints() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let key = try NodeKey.create(at: dir + "/node.key")
            let publicKey = try #require(Hex.decode(key.publicKeyHex))
            try await Self.fill(store, 20)
            let first = try await ledger.notary.checkpoint(actor: "node")
            #expect(first.size == 20 && first.sequence == 21 && first.previous == nil && first.consistency == nil)
            try await Self.fill(store, 13)
            let second = try await ledger.notary.checkpoint(actor: "node")
            #expect(second.size == 34 && second.previous == 21)
            let proof = try #require(second.consistency)
            #expect(throws: Never.self) {
                try MerkleProof.verifyConsistency(size1: 20, size2: 34, root1: first.root, root2: second.root, proof: proof, hasher: SHA256MerkleHasher())
            }
            // What is recorded is what was returned, and it is the log's own root.
            let recorded = try Checkpoints.all(in: store)
            #expect(recorded == [first, second])
            #expect(try store.merkleRoot(size: 34) == second.root)
            let report = try Checkpoints.verify(store: store, publicKey: publicKey)
            #expect(report.failure == nil && report.checked == 2 && report.latest?.sequence == 35)

            // A correctly signed checkpoint whose recorded consistency proof is wrong.
            let size = store.head.sequence
            let root = try ledger.notary.merkleIndex().root(size: size)
            let signedAt = Timestamp.now()
            let signature = try key.sign(Checkpoints.message(ledger: store.ledgerID, size: size, root: root, signedAt: signedAt))
            _ = try await store.append(to: Checkpoints.stream, events: [try ProposedEvent(type: Checkpoints.eventType, actor: "x", occurredAt: signedAt, data: .object([
                ("size", .int(Int64(size))), ("root", .string(Hex.encode(root))), ("signedAt", .string(signedAt.rfc3339)),
                ("publicKey", .string(key.publicKeyHex)), ("signature", .string(Hex.encode(signature))),
                ("previous", 35), ("consistency", .array([.string(String(repeating: "ab", count: 32))])),
            ]))])
            let forged = try Checkpoints.verify(store: store, publicKey: publicKey)
            #expect(forged.failure?.sequence == 36)
            #expect(forged.failure?.reason.contains("consistency proof from checkpoint 35 does not verify") == true)
        }
    }

    @Test("the node refuses to sign a log that does not extend its last checkpoint, and appends nothing")
    func refusesInconsistent() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let key = try NodeKey.create(at: dir + "/node.key")
            try await Self.fill(store, 8)
            // A checkpoint the node's key signed over a root that is not the log's (as if records
            // 1–8 had been altered since).
            let wrong = [UInt8](repeating: 9, count: 32)
            let signedAt = Timestamp.now()
            let signature = try key.sign(Checkpoints.message(ledger: store.ledgerID, size: 8, root: wrong, signedAt: signedAt))
            _ = try await store.append(to: Checkpoints.stream, events: [try ProposedEvent(type: Checkpoints.eventType, actor: "x", occurredAt: signedAt, data: .object([
                ("size", 8), ("root", .string(Hex.encode(wrong))), ("signedAt", .string(signedAt.rfc3339)),
                ("publicKey", .string(key.publicKeyHex)), ("signature", .string(Hex.encode(signature))),
            ]))])
            let head = store.head.sequence
            let refused = await #expect(throws: ForensicError.self) { try await ledger.notary.checkpoint(actor: "node") }
            #expect(refused?.code == .inconsistentLog && refused?.message.contains("the log is not an extension of checkpoint 9") == true, "\(refused?.message ?? "")")
            #expect(store.head.sequence == head)
        }
    }

    @Test("a damaged Merkle index is told apart from a changed log, within the last checkpoint or after it: signing is refused naming the index, and signs again once it is deleted")
    func damagedIndex() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            _ = try NodeKey.create(at: dir + "/node.key")
            try await Self.fill(store, 40)
            let first = try await Ledger(store: store, dataDir: dir).notary.checkpoint(actor: "node")
            #expect(first.size == 40)
            try await Self.fill(store, 40)
            // The index catches up past the checkpoint (as a proof asked for in between makes it).
            _ = try MerkleIndex.open(dataDirectory: dir, store: store).root(size: 81)
            let hasher = SHA256MerkleHasher()
            /// The stored hash of the subtree of `count` records from `from` (a level-4 or -5 node).
            func node(_ from: UInt64, _ count: UInt64) throws -> [UInt8] {
                let leaves = try (from..<from + count).map { hasher.hashLeaf(try #require(try store.rawRecord(at: $0))) }
                return try InMemoryMerkleSource(hasher: hasher, leafHashes: leaves).completeSubtree(level: count == 16 ? 4 : 5, index: 0)
            }
            /// Flips a bit of `hash` wherever the index's file holds it (pages LMDB copied on write
            /// keep old copies), as a bad disk or a careless hand would.
            let file = dir + "/merkle/data.mdb"
            func flip(_ hash: [UInt8]) throws {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
                let found = bytes.indices.dropLast(31).filter { bytes[$0] == hash[0] && Array(bytes[$0..<$0 + 32]) == hash }
                try #require(!found.isEmpty)
                let handle = try #require(FileHandle(forUpdatingAtPath: file))
                for at in found {
                    try handle.seek(toOffset: UInt64(at + 5))
                    try handle.write(contentsOf: [bytes[at + 5] ^ 0x40])
                }
                try handle.close()
            }
            func refused() async -> ForensicError? {
                let head = store.head.sequence
                let error = await #expect(throws: ForensicError.self) { try await Ledger(store: store, dataDir: dir).notary.checkpoint(actor: "node") }
                #expect(store.head.sequence == head)
                return error
            }
            // Records 65–80, after the checkpoint: the root and the consistency proof from the
            // checkpoint are both made from that node, so they agree with each other; only hashing
            // the records since the checkpoint finds it.
            let after = try node(65, 16)
            try flip(after)
            let a = await refused()
            #expect(a?.code == .inconsistentLog && a?.message.contains("the Merkle index at \(dir)/merkle is damaged") == true, "\(a?.message ?? "")")
            #expect(a?.message.contains("delete that directory") == true)
            try flip(after.enumerated().map { $0.offset == 5 ? $0.element ^ 0x40 : $0.element })
            // Records 1–32, within the checkpoint: the log is not to blame either.
            try flip(try node(1, 32))
            let b = await refused()
            #expect(b?.code == .inconsistentLog && b?.message.contains("the Merkle index at \(dir)/merkle is damaged") == true, "\(b?.message ?? "")")
            // Nor does it hand out a proof that fails as if the log were forged (record 35's path
            // holds that node's hash): an admin is told the index is damaged, anyone else that the
            // index or the log is, and who can tell.
            let ledger = Ledger(store: store, dataDir: dir)
            let proof = await #expect(throws: ForensicError.self) {
                try await ledger.inclusion(sequence: 35, leafHash: nil, ledger: nil, newCheckpoint: false, as: .local(actor: "me"))
            }
            #expect(proof?.code == .inconsistentLog && proof?.message.hasPrefix("this node's Merkle index is damaged") == true, "\(proof?.message ?? "")")
            let auditor = Principal(role: .auditor, subject: "audit", tokenID: "t")
            let told = await #expect(throws: ForensicError.self) {
                try await ledger.inclusion(sequence: 35, leafHash: nil, ledger: nil, newCheckpoint: false, as: auditor)
            }
            #expect(told?.message.contains("its Merkle index is damaged, or its log no longer holds what the checkpoint signed") == true, "\(told?.message ?? "")")
            // Record 20, whose path holds hashes within records 1–32, not theirs: still proven.
            _ = try await ledger.inclusion(sequence: 20, leafHash: nil, ledger: nil, newCheckpoint: false, as: .local(actor: "me"))
            // Deleted, it is rebuilt from the records, and the next checkpoint extends the first.
            try FileManager.default.removeItem(atPath: dir + "/merkle")
            let next = try await Ledger(store: store, dataDir: dir).notary.checkpoint(actor: "node")
            #expect(next.size == 81 && next.previous == first.sequence)
            let publicKey = try #require(Hex.decode(try NodeKey.load(from: dir + "/node.key").publicKeyHex))
            #expect(try Checkpoints.verify(store: store, publicKey: publicKey).failure == nil)
        }
    }

    @Test("without a key there are no checkpoints or receipts, and nothing is appended")
    func noKey() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            try await Self.fill(store, 3)
            let e = await #expect(throws: ForensicError.self) { try await ledger.notary.checkpoint(actor: "node") }
            #expect(e?.code == .noNodeKey && e?.message.contains("docket key create") == true)
            // Remote clients, reporters asking for receipts included, see this message: no paths.
            #expect(e?.message.contains(dir) == false)
            #expect(throws: ForensicError.self) { try ledger.receipt(sequence: 1, as: .local(actor: "me")) }
            // A key file that is not a key: the error names the file, so over the wire it is only
            // "internal" (the node logs the rest).
            try Data("not a key".utf8).write(to: URL(fileURLWithPath: dir + "/node.key"))
            let unreadable = await #expect(throws: (any Error).self) { try await ledger.notary.checkpoint(actor: "node") }
            #expect("\(unreadable!)".contains(dir))
            let body = Session.errorBody(unreadable!)
            #expect(body.code == "internal" && !body.message.contains(dir) && !body.message.contains("node.key"), "\(body)")
            #expect(store.head.sequence == 3)
        }
    }

    // MARK: Receipts

    @Test("a receipt verifies offline with the node's key, with its inclusion proof; every alteration and the wrong key fail")
    func receiptChecks() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let key = try NodeKey.create(at: dir + "/node.key")
            let publicKey = try #require(Hex.decode(key.publicKeyHex))
            for b in 0..<30 {  // past the first chain anchor (1024)
                _ = try await store.append(to: try StreamName("s"), events: try (0..<50).map { try Self.note(b * 50 + $0) })
            }
            let receipt = try ledger.receipt(sequence: 1100, as: .local(actor: "me"))
            #expect(receipt.chainHash == (try store.chainHash(at: 1100)).bytes)
            #expect(receipt.leafHash == SHA256MerkleHasher().hashLeaf(try #require(try store.rawRecord(at: 1100))))
            let event = try #require(try store.event(at: 1100))
            #expect(receipt.eventID == event.id.rawValue && receipt.recordedAt == event.recordedAt && receipt.stream == "s" && receipt.streamVersion == 1100)
            // The file form parses back to the same receipt.
            #expect(try Receipt(fileText: receipt.fileText) == receipt)
            #expect(receipt.verify(publicKey: publicKey).allSatisfy { $0.passed })

            // No checkpoint yet: no proof.
            let none = await #expect(throws: ForensicError.self) {
                try await ledger.inclusion(sequence: 1100, leafHash: receipt.leafHash, ledger: receipt.ledger, newCheckpoint: false, as: .local(actor: "me"))
            }
            #expect(none?.code == .noCheckpoint)
            _ = try await ledger.notary.checkpoint(actor: "node")
            let (checkpoint, path) = try await ledger.inclusion(
                sequence: 1100, leafHash: receipt.leafHash, ledger: receipt.ledger, newCheckpoint: false, as: .local(actor: "me"))
            #expect(checkpoint.size == 1500)
            var proven = receipt
            proven.inclusion = Receipt.Inclusion(checkpoint: checkpoint, auditPath: path)
            let checks = proven.verify(publicKey: publicKey)
            #expect(checks.map(\.name) == ["receipt signature", "checkpoint signature", "inclusion proof"])
            #expect(checks.allSatisfy { $0.passed })
            #expect(try Receipt(fileText: proven.fileText) == proven)

            func failing(_ r: Receipt, key: [UInt8] = publicKey) -> [String] { r.verify(publicKey: key).filter { !$0.passed }.map(\.name) }
            var r = proven
            r.recordedAt = r.recordedAt + .seconds(1)
            #expect(failing(r) == ["receipt signature"])
            r = proven
            r.sequence = 1101
            #expect(failing(r) == ["receipt signature", "inclusion proof"])
            r = proven
            r.leafHash[0] ^= 1
            #expect(failing(r) == ["receipt signature", "inclusion proof"])
            r = proven
            r.inclusion!.auditPath[3][7] ^= 1
            #expect(failing(r) == ["inclusion proof"])
            r = proven
            r.inclusion!.checkpoint.root[0] ^= 1
            #expect(failing(r) == ["checkpoint signature", "inclusion proof"])
            r = proven
            r.inclusion!.checkpoint.size = 1000
            #expect(failing(r).contains("inclusion proof"))
            let other = Curve25519Key.random()
            #expect(failing(proven, key: other) == ["receipt signature", "checkpoint signature"])

            // A receipt for another ledger's record, or one this node holds with other bytes.
            let mismatch = await #expect(throws: ForensicError.self) {
                try await ledger.inclusion(sequence: 1100, leafHash: [UInt8](repeating: 1, count: 32), ledger: receipt.ledger, newCheckpoint: false, as: .local(actor: "me"))
            }
            #expect(mismatch?.code == .receiptMismatch)
            let otherLedger = await #expect(throws: ForensicError.self) {
                try await ledger.inclusion(sequence: 1100, leafHash: nil, ledger: "00000000000000000000000000000000", newCheckpoint: false, as: .local(actor: "me"))
            }
            #expect(otherLedger?.code == .receiptMismatch)
            // A sequence the node does not hold.
            let head = store.head.sequence
            let notHeld = #expect(throws: ForensicError.self) { try ledger.receipt(sequence: head + 1, as: .local(actor: "me")) }
            #expect(notHeld?.code == .notHeld && notHeld?.message.contains("ends at \(head)") == true)
            #expect(store.head.sequence == head)
        }
    }

    @Test("receipt files that are not receipts are refused naming the field")
    func malformedFiles() throws {
        for (text, field) in [
            ("not json", "not JSON"), ("{}", "format"),
            ("{\"format\":\"docket-receipt/1\",\"ledger\":\"l\",\"seq\":-1}", "seq"),
            ("{\"format\":\"docket-receipt/2\"}", "format"),
        ] {
            let e = #expect(throws: ForensicError.self) { try Receipt(fileText: text) }
            #expect(e?.code == .invalidReceipt && e?.message.contains(field) == true, "\(text): \(e?.message ?? "")")
        }
    }

    // MARK: Over the network

    @Test("receipts, proofs and checkpoints over a socket, with roles: for reporters, their own events and what their history shows; their project's for maintainers; bad input changes nothing")
    func remote() async throws {
        let node = try await TestNode()
        try await node.adopt("aumos")
        let admin = node.client()
        let reporterToken = try await node.token(.reporter, name: "ada")
        let ada = node.client(reporterToken)
        let eve = node.client(try await node.token(.reporter, name: "eve"))
        let maria = node.client(try await node.token(.maintainer, project: "aumos", name: "maria"))
        let olga = node.client(try await node.token(.maintainer, project: "other", name: "olga"))
        do {
            // No key yet: refused before anything else.
            let noKey = await #expect(throws: DocketClientError.self) { try await admin.admin("node-key", []) }
            #expect(noKey?.code == "no-node-key")
            let key = try NodeKey.create(at: node.dir + "/node.key")
            let publicKey = try #require(Hex.decode(key.publicKeyHex))
            #expect(try await ada.admin("node-key", [])["publicKey"]?.stringValue == key.publicKeyHex)

            let submitted = try await ada.command(.submit(ReportSubmitted(project: "aumos", title: "t", reporter: Reporter(handle: "ada"))), report: "R1")
            let seq = try #require(submitted["seq"]?.intValue)
            let receipt = try Receipt(wire: try await ada.admin("receipt", [("seq", .int(seq))]))
            #expect(receipt.stream == "report/R1" && receipt.type == "ReportSubmitted" && receipt.verify(publicKey: publicKey).allSatisfy { $0.passed })
            // Someone else's event, the token file's events, a sequence past the head: all "not held" for reporters.
            let head = node.store.head.sequence
            for (client, s) in [(eve, seq), (ada, 1), (ada, Int64(head) + 5)] {
                let e = await #expect(throws: DocketClientError.self) { try await client.admin("receipt", [("seq", .int(s))]) }
                #expect(e?.code == "not-held" && e.map { "\($0)" }?.contains("may see") == true)
            }
            // A maintainer: their project's events, not another project's, nor the token records.
            #expect(try Receipt(wire: try await maria.admin("receipt", [("seq", .int(seq))])).stream == "report/R1")
            for (client, s) in [(olga, seq), (maria, 1)] {
                let e = await #expect(throws: DocketClientError.self) { try await client.admin("receipt", [("seq", .int(s))]) }
                #expect(e?.code == "not-held" && e.map { "\($0)" }?.contains("may see") == true, "\(String(describing: e))")
            }
            let past = await #expect(throws: DocketClientError.self) { try await admin.admin("receipt", [("seq", .int(Int64(head) + 5))]) }
            #expect(past?.code == "not-held" && past.map { "\($0)" }?.contains("ends at \(head)") == true)
            let zero = await #expect(throws: DocketClientError.self) { try await admin.admin("receipt", [("seq", 0)]) }
            #expect(zero?.code == "bad-request")
            // Proofs need a checkpoint, which only an admin can ask for.
            let proofArgs: [(key: String, value: Value)] = [("seq", .int(seq)), ("leafHash", .string(Hex.encode(receipt.leafHash))), ("ledger", .string(receipt.ledger))]
            let early = await #expect(throws: DocketClientError.self) { try await ada.admin("proof", proofArgs) }
            #expect(early?.code == "no-checkpoint")
            let forbidden = await #expect(throws: DocketClientError.self) { try await ada.admin("checkpoint", []) }
            #expect(forbidden?.code == "forbidden")
            let signed = try await admin.admin("checkpoint", [])
            let c = try Checkpoints.Checkpoint(wire: signed)
            #expect(c.size == UInt64(head) && c.publicKey == publicKey)
            // A node that sends a negative previous checkpoint gets a malformed-checkpoint error,
            // not a crash of whoever is checking a receipt against it.
            if case .object(let members) = signed {
                let forged = Value.object(members.filter { $0.key != "previous" } + [("previous", .int(-1))])
                #expect(throws: ForensicError.self) { try Checkpoints.Checkpoint(wire: forged) }
            }
            let answer = try await ada.admin("proof", proofArgs)
            var proven = receipt
            proven.inclusion = Receipt.Inclusion(
                checkpoint: try Checkpoints.Checkpoint(wire: answer["checkpoint"] ?? .null),
                auditPath: (answer["auditPath"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(Hex.decode) })
            #expect(proven.verify(publicKey: publicKey).count == 3 && proven.verify(publicKey: publicKey).allSatisfy { $0.passed })
            // A receipt whose leaf hash is not the node's record.
            let bad = await #expect(throws: DocketClientError.self) {
                try await ada.admin("proof", [("seq", .int(seq)), ("leafHash", .string(String(repeating: "00", count: 32)))])
            }
            #expect(bad?.code == "receipt-mismatch")
            let badHex = await #expect(throws: DocketClientError.self) { try await ada.admin("proof", [("seq", .int(seq)), ("leafHash", "xyz")]) }
            #expect(badHex?.code == "bad-request")
            // A reporter cannot learn the head by asking for a proof extending a larger tree: beyond
            // the latest checkpoint, the answer is the same however far (an admin is told the head).
            _ = try await admin.command(.note("after the checkpoint"), report: "R1")
            func extending(_ size: Int64) -> [(key: String, value: Value)] { proofArgs + [(key: "consistencyFrom", value: .int(size))] }
            var beyond: [String] = []
            for size in [Int64(c.size) + 1, Int64(c.size) + 1_000_000] {
                let e = await #expect(throws: DocketClientError.self) { try await ada.admin("proof", extending(size)) }
                guard case .server(let body)? = e else { Issue.record("\(String(describing: e))"); continue }
                #expect(body.code == "no-checkpoint" && body.message.contains("covers only 1–\(c.size)"), "\(body.message)")
                beyond.append(body.message.replacingOccurrences(of: "1–\(size),", with: "1–N,"))
            }
            #expect(beyond.count == 2 && beyond[0] == beyond[1], "\(beyond)")
            let toldHead = await #expect(throws: DocketClientError.self) { try await admin.admin("proof", extending(Int64(c.size) + 1_000_000)) }
            #expect(toldHead.map { "\($0)" }?.contains("holds only 1–\(node.store.head.sequence)") == true, "\(String(describing: toldHead))")
            // Within it, the proof is given.
            let within = try await ada.admin("proof", extending(Int64(c.size)))
            #expect(within["checkpoint"] != nil)
            // What the project did on her report, as her history shows it: hers to prove (the
            // acknowledgement, say, to show it came late); not a note her history leaves out.
            let acknowledged = try #require(try await maria.command(.acknowledge(assignee: "maria"), report: "R1")["seq"]?.intValue)
            let noted = try #require(try await maria.command(.note("internal"), report: "R1")["seq"]?.intValue)
            let ack = try Receipt(wire: try await ada.admin("receipt", [("seq", .int(acknowledged))]))
            #expect(ack.type == "ReportAcknowledged" && ack.verify(publicKey: publicKey).allSatisfy { $0.passed })
            for (client, s) in [(ada, noted), (eve, acknowledged)] {
                let e = await #expect(throws: DocketClientError.self) { try await client.admin("receipt", [("seq", .int(s))]) }
                #expect(e?.code == "not-held" && e.map { "\($0)" }?.contains("may see") == true, "\(String(describing: e))")
            }
        } catch {
            Issue.record("\(error)")
        }
        for c in [admin, ada, eve, maria, olga] { await c.close() }
        await node.stop()
    }

    // MARK: Periodic checkpoints

    @Test("a running node signs a checkpoint every N records, each extending the last, and a last one on graceful shutdown")
    func periodic() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            let key = try NodeKey.create(at: dir + "/node.key")
            var logger = Logger(label: "checkpoints")
            logger.logLevel = .critical
            let service = CheckpointService(
                ledger: ledger, schedule: .init(everyEvents: 10), logger: logger, poll: .milliseconds(20))
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
            let running = Task { try await group.run() }
            for i in 0..<25 {
                _ = try await ledger.append(to: try StreamName("s"), expecting: .any, events: [try Self.note(i)], as: .local(actor: "a"))
                if i % 10 == 9 {
                    // Let it see the tenth record before the next append.
                    var waited = 0
                    while try Checkpoints.all(in: store).count < (i + 1) / 10, waited < 250 {
                        try await Task.sleep(for: .milliseconds(20))
                        waited += 1
                    }
                }
            }
            let during = try Checkpoints.all(in: store)
            #expect(during.count == 2)
            #expect(during.map(\.size) == [10, 21])  // the second covers the first checkpoint's record too
            await group.triggerGracefulShutdown()
            try await running.value
            let all = try Checkpoints.all(in: store)
            #expect(all.count == 3 && all.last?.size == store.head.sequence - 1)
            #expect(all.dropFirst().allSatisfy { $0.previous != nil && $0.consistency != nil })
            #expect(try Checkpoints.verify(store: store, publicKey: try #require(Hex.decode(key.publicKeyHex))).failure == nil)
        }
    }

    @Test("a record appended while a checkpoint is signed is left for the next one, and shutdown signs it")
    func appendedWhileSigning() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let key = try NodeKey.create(at: dir + "/node.key")
            try await Self.fill(store, 3)
            // The interleaving a busy node sees: the checkpoint over records 1–3 is signed, another
            // client's record lands (4), then the checkpoint's own record (5).
            let (event, _) = try Checkpoints.signed(store: store, key: key, actor: "node")
            _ = try await store.append(to: try StreamName("s"), events: [try Self.note(3)])
            _ = try await store.append(to: Checkpoints.stream, events: [event])
            let signed = try #require(try Checkpoints.latest(in: store))
            #expect(signed.sequence == 5 && signed.size == 3)
            #expect(CheckpointService.uncovered(head: 5, last: (signed.size, signed.sequence)) == 1)

            var logger = Logger(label: "checkpoints")
            logger.logLevel = .critical
            let service = CheckpointService(
                ledger: Ledger(store: store, dataDir: dir), schedule: .init(everyEvents: 100), logger: logger, poll: .milliseconds(20))
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
            let running = Task { try await group.run() }
            try await Task.sleep(for: .milliseconds(60))
            await group.triggerGracefulShutdown()
            try await running.value
            let last = try #require(try Checkpoints.latest(in: store))
            #expect(last.sequence == 6 && last.size == 5 && last.previous == 5)
            #expect(try Checkpoints.verify(store: store, publicKey: try #require(Hex.decode(key.publicKeyHex))).failure == nil)
        }
    }

    @Test(
        "records a checkpoint leaves uncovered: those after its size but its own",
        arguments: [
            (head: UInt64(0), last: nil as (UInt64, UInt64)?, uncovered: UInt64(0)),
            (7, nil, 7),
            (4, (3, 4), 0),  // the checkpoint right after what it covers
            (9, (3, 4), 5),
            (5, (3, 5), 1),  // record 4 landed while it was signed
            (3, (3, 9), 0),  // a head behind the checkpoint (a rolled-back copy) counts nothing
        ])
    func uncovered(head: UInt64, last: (UInt64, UInt64)?, uncovered: UInt64) {
        #expect(CheckpointService.uncovered(head: head, last: last.map { (size: $0.0, sequence: $0.1) }) == uncovered)
    }

    @Test("a node told to checkpoint without a key does not start")
    func periodicWithoutKey() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let service = CheckpointService(ledger: Ledger(store: store, dataDir: dir), schedule: .init(interval: .seconds(1)), logger: Logger(label: "x"))
            await #expect(throws: ForensicError.self) { try await service.run() }
        }
    }

    // MARK: Replay

    @Test("a node shutting down stops the views' folds: a view replaying a long log fails closed instead of running on")
    func stoppedFolds() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: nil)
            try await Self.fill(store, 9_000, batch: 500)
            let query = ViewQuery.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil)
            #expect(try ledger.query(query, asOf: .sequence(9_000), as: .local(actor: "a"))["rows"] == .array([]))
            ledger.stopFolds()
            let stopped = #expect(throws: StoreError.self) { try ledger.query(query, asOf: .sequence(9_000), as: .local(actor: "a")) }
            #expect(stopped?.code == .closed && ledger.foldsWereStopped)
        }
    }

    /// A ledger in its own temporary directory whose `projects` adopted the synthetic policy at
    /// `start` (2026-01-05T09:00:00Z).
    func withSyntheticLedger(_ projects: [String], _ body: (EventStore, Ledger, _ start: Timestamp) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            let policy = try Policy.parse(SyntheticReports.policyText, file: "synthetic")
            for project in projects {
                _ = try await store.append(to: try DomainStreams.project(project), events: [
                    try DomainEvent.policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: .utc)).proposed(actor: "admin", occurredAt: start)
                ])
            }
            try await body(store, Ledger(store: store, dataDir: dir), start)
        }
    }

    @Test("replay holds every view as it stood at a time or a sequence, as each view query gives it then")
    func replayEqualsViews() async throws {
        try await withSyntheticLedger(["aisoc", "aumos", "aixcl", "socai", "aios"]) { store, ledger, start in
            for n in 0..<60 {
                let step = SyntheticReports.report(n, start: start + .seconds(Int64(n) * 86_400))
                _ = try await store.append(to: step.stream, expecting: .noStream, events: step.events)
            }
            let window = Duration.seconds(90 * 86_400)
            let admin = Principal.local(actor: "auditor")
            for asOf: AsOfSpec in [.time(start + .seconds(20 * 86_400)), .time(start + .seconds(75 * 86_400)), .sequence(200), .sequence(store.head.sequence)] {
                let replay = try ledger.query(.replay(window: window), asOf: asOf, as: admin)
                #expect(replay["reports"] == (try ledger.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: asOf, as: admin))["rows"])
                #expect(replay["timers"] == (try ledger.query(.timers(project: nil, report: nil, dueWithin: nil, late: false, all: true), asOf: asOf, as: admin))["rows"])
                let projects = replay["projects"]?.arrayValue ?? []
                #expect(projects.compactMap { $0["project"]?.stringValue } == ["aios", "aisoc", "aixcl", "aumos", "socai"])
                for p in projects {
                    let name = try #require(p["project"]?.stringValue)
                    #expect(p["hallOfFame"] == (try ledger.query(.hallOfFame(project: name, year: nil), asOf: asOf, as: admin)))
                    #expect(p["metrics"] == (try ledger.query(.metrics(project: name, window: window), asOf: asOf, as: admin)))
                    #expect(p["policy"]?["name"] == "Synthetic policy")
                }
                // Independently: the reports of a fold stopped at that point.
                var projection = Projection()
                let resolved = asOf.resolve(now: .now())
                try store.scan { e in
                    if Projection.includes(e, asOf: resolved) { projection.apply(e) }
                    return true
                }
                #expect(replay["reports"]?.arrayValue?.count == projection.reports.count)
                #expect(replay["lastSequence"]?.intValue == Int64(projection.lastSequence))
                #expect(replay["undecodable"] == 0)
            }
            let replayAtHeadBefore = try ledger.query(.replay(window: window), asOf: .sequence(store.head.sequence), as: admin)["reports"]
            let early = try ledger.query(.replay(window: window), asOf: .time(start + .seconds(20 * 86_400)), as: admin)
            let late = try ledger.query(.replay(window: window), asOf: .time(start + .seconds(75 * 86_400)), as: admin)
            #expect((early["reports"]?.arrayValue?.count ?? 0) < (late["reports"]?.arrayValue?.count ?? 0))
            // A maintainer replays their project only; reporters and replicas not at all.
            let maintainer = Principal(role: .maintainer, project: "aumos", subject: "maria")
            // As of one of their project's events: when another project's was recorded is not theirs to learn.
            func last(of project: String) throws -> UInt64? {
                try store.read(from: 1, limit: 200).last { $0.stream.rawValue.hasPrefix("report/\(project)-") }?.sequence
            }
            let theirs = try ledger.query(.replay(window: window), asOf: .sequence(try #require(try last(of: "aumos"))), as: maintainer)
            #expect(theirs["projects"]?.arrayValue?.count == 1 && theirs["reports"]?.arrayValue?.allSatisfy { $0["project"] == "aumos" } == true)
            #expect(throws: Forbidden.self) { try ledger.query(.replay(window: window), asOf: .sequence(try #require(try last(of: "aisoc"))), as: maintainer) }
            #expect(throws: Forbidden.self) { try ledger.query(.replay(window: window), asOf: .sequence(200), as: Principal(role: .reporter, subject: "ada")) }
            #expect(throws: Forbidden.self) { try ledger.query(.replay(window: window), asOf: .now, as: Principal(role: .reporter, subject: "ada")) }
            #expect(throws: Forbidden.self) { try ledger.query(.replay(window: window), asOf: .sequence(200), as: Principal(role: .replica, subject: "r")) }
            #expect(theirs["undecodable"] == nil, "a maintainer's count would cover other projects")
            // Nor the last sequence folded, as of an instant: asked of one instant after another, it
            // would tell when each of the other projects' records was made (or, as of a time, dated).
            for asOf: AsOfSpec in [.recorded(.now()), .time(start + .seconds(30 * 86_400))] {
                let replay = try ledger.query(.replay(window: window), asOf: asOf, as: maintainer)
                #expect(replay["lastSequence"] == nil && replay["evaluatedAt"] != nil)
                #expect(try ledger.query(.replay(window: window), asOf: asOf, as: admin)["lastSequence"] != nil)
            }

            // An event of a report stream that does not decode against its schema (the store takes
            // any payload) is in no view, and replay counts it for those who read the whole log.
            let report = try #require(try store.read(from: 1, limit: 100).first { $0.stream.rawValue.hasPrefix(DomainStreams.reportPrefix) }?.stream)
            _ = try await store.append(to: report, events: [try ProposedEvent(type: EventType("ReportAcknowledged"), actor: "x", data: ["nope": 1])])
            let damaged = try ledger.query(.replay(window: window), asOf: .sequence(store.head.sequence), as: admin)
            #expect(damaged["undecodable"] == 1 && damaged["lastSequence"]?.intValue == Int64(store.head.sequence))
            #expect(damaged["reports"] == replayAtHeadBefore)
        }
    }

    @Test("a view as the ledger knew it at an instant leaves out what was recorded after, backdated or not; by event time it is in")
    func knownAt() async throws {
        try await withSyntheticLedger(["p"]) { store, ledger, start in
            func record(_ id: String, _ event: DomainEvent, at hours: Int64) async throws {
                _ = try await store.append(to: try DomainStreams.report(id), events: [try event.proposed(actor: "m", occurredAt: start + .seconds(hours * 3600))])
            }
            func submitted() -> DomainEvent { .reportSubmitted(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "ada"))) }
            try await record("R-1", submitted(), at: 1)
            try await Task.sleep(for: .milliseconds(20))
            let known = Timestamp.now()
            try await Task.sleep(for: .milliseconds(20))
            // Recorded after `known`, each giving a time long before it.
            try await record("R-2", submitted(), at: 2)
            try await record("R-1", .reportAcknowledged(ReportAcknowledged(assignee: "m")), at: 3)
            let admin = Principal.local(actor: "auditor")
            func rows(_ spec: AsOfSpec) throws -> [String: String] {
                let rows = try ledger.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: spec, as: admin)["rows"]?.arrayValue ?? []
                return Dictionary(uniqueKeysWithValues: rows.compactMap { r in r["id"]?.stringValue.map { ($0, r["state"]?.stringValue ?? "") } })
            }
            #expect(try rows(.recorded(known)) == ["R-1": "submitted"])
            #expect(try rows(.time(known)) == ["R-1": "acknowledged", "R-2": "submitted"])
            #expect(try rows(.recorded(start)).isEmpty)
            #expect(try rows(.recorded(Timestamp.now())) == rows(.now))
            let history = try ledger.query(.history(report: "R-1"), asOf: .recorded(known), as: admin)["rows"]?.arrayValue ?? []
            #expect(history.map { $0["type"] } == ["ReportSubmitted"])
            let replay = try ledger.query(.replay(window: .seconds(90 * 86_400)), asOf: .recorded(known), as: admin)
            #expect(replay["asOf"]?["recorded"] == .string(known.rfc3339) && replay["evaluatedAt"] == .string(known.rfc3339) && replay["lastSequence"] == 2)
            // Clocks are evaluated at that instant.
            let clocks = try ledger.query(.timers(project: nil, report: "R-1", dueWithin: nil, late: false, all: true), asOf: .recorded(known), as: admin)["rows"]?.arrayValue ?? []
            #expect(clocks.first { $0["clock"] == "acknowledge" }?["state"] == "breached", "\(clocks)")
            // An event recorded by then but dated a little ahead had not happened yet.
            _ = try await store.append(to: try DomainStreams.report("R-3"), events: [try submitted().proposed(actor: "m", occurredAt: Timestamp.now() + .seconds(120))])
            let after = Timestamp.now()
            #expect(try rows(.recorded(after))["R-3"] == nil && rows(.recorded(after + .seconds(180)))["R-3"] == "submitted")
            // On the wire (one way to say it at a time), and refused to reporters as every past view is.
            #expect(try AsOfSpec(wire: AsOfSpec.recorded(known).wireValue) == .recorded(known))
            #expect(throws: MessageError("asOf: give one of \"time\", \"recorded\" and \"seq\", not time and seq")) {
                try AsOfSpec(wire: .object([("time", .string(known.rfc3339)), ("seq", .int(3))]))
            }
            #expect(throws: Forbidden.self) { try ledger.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil), asOf: .recorded(known), as: Principal(role: .reporter, subject: "ada")) }
        }
    }
}

/// A random Ed25519 public key that is not the node's.
enum Curve25519Key {
    static func random() -> [UInt8] {
        let dir = makeTemporaryDirectory("docket-key")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return Hex.decode((try? NodeKey.create(at: dir + "/k").publicKeyHex) ?? "") ?? []
    }
}
