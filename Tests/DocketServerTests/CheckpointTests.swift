import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Testing

@Suite("Signed checkpoints")
struct CheckpointTests {
    @Test("a checkpoint signed by the right key over the wrong root is caught, naming its sequence")
    func forgedRoot() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            for i in 0..<10 {
                _ = try await store.append(to: try StreamName("s"), events: [try ProposedEvent(type: try EventType("T"), actor: "a", data: ["i": .int(Int64(i))])])
            }
            let key = try NodeKey.create(at: dir + "/node.key")
            let good = try await Checkpoints.write(store: store, key: key, actor: "node")
            #expect(good.size == 10 && good.sequence == 11)
            let publicKey = try #require(Hex.decode(key.publicKeyHex))
            #expect(try Checkpoints.verify(store: store, publicKey: publicKey).failure == nil)

            // Properly signed, but over a root that is not the log's.
            let wrongRoot = [UInt8](repeating: 7, count: 32)
            let signedAt = Timestamp.now()
            let signature = try key.sign(Checkpoints.message(ledger: store.ledgerID, size: 5, root: wrongRoot, signedAt: signedAt))
            _ = try await store.append(to: Checkpoints.stream, events: [try ProposedEvent(type: try EventType("CheckpointSigned"), actor: "x", occurredAt: signedAt, data: .object([
                ("size", 5), ("root", .string(Hex.encode(wrongRoot))), ("signedAt", .string(signedAt.rfc3339)),
                ("publicKey", .string(key.publicKeyHex)), ("signature", .string(Hex.encode(signature))),
            ]))])
            let report = try Checkpoints.verify(store: store, publicKey: publicKey)
            #expect(report.checked == 2)
            #expect(report.failure?.sequence == 12 && report.failure?.reason.contains("no longer hash to the signed root") == true)
        }
    }
}
