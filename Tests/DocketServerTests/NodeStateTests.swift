import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// What a node makes of its own state as it starts: whether a token given to it is of any use,
/// and which zone ids its tz database may be asked for.
@Suite("node state")
struct NodeStateTests {
    @Test("a token given to a node with no leader to follow is said to be unused, unless a promotion uses it or the node may be promoted")
    func unusedToken() async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            let ledger = Ledger(store: store, dataDir: dir)
            // A ledger's first leader, never promoted: nothing uses it.
            #expect(DocketServer.unusedTokenWarning(ledger, option: "--token")?.contains("--token is not used") == true)
            #expect(DocketServer.unusedTokenWarning(ledger, option: "--token-file")?.hasPrefix("--token-file is not used") == true)
            // A follower may be promoted while it runs, and tell its old leader with it.
            try store.saveNodeState(NodeState(role: .follower, leader: "127.0.0.1:7001"))
            #expect(DocketServer.unusedTokenWarning(ledger, option: "--token") == nil)
            // Promoted over that leader: it tells it of its epoch with the token.
            let promotion = try await Promotion.promote(ledger: ledger, address: "127.0.0.1:7002", actor: "root")
            #expect(promotion.previousLeader == "127.0.0.1:7001")
            #expect(DocketServer.unusedTokenWarning(ledger, option: "--token") == nil)
            // A promotion cut short (the role recorded, the epoch not: the latest epoch is another
            // node's) is finished by promoting again, which tells the previous leader.
            try store.saveNodeState(NodeState(role: .leader, node: "00112233445566ff"))
            #expect(DocketServer.unusedTokenWarning(ledger, option: "--token") == nil)
            // Deposed: the token serves only to follow the new leader.
            try store.saveNodeState(NodeState(role: .fenced, node: store.nodeState.node, leader: "127.0.0.1:7003", epoch: 2))
            let fenced = try #require(DocketServer.unusedTokenWarning(ledger, option: "--token"))
            #expect(fenced.contains("deposed") && fenced.contains("--replica-of") && fenced.contains("127.0.0.1:7003"), "\(fenced)")
        }
    }

    @Test("a zone id with a .. component is refused, one hidden behind a combining mark after the slash included")
    func zoneIDsStayInTheDatabase() {
        for id in ["..", "../x", "Europe/../../etc/passwd", "../\u{301}x", "a/..", "a//../b"] {
            #expect(TimeZoneDatabase.climbsOut(id), "\(id)")
        }
        for id in ["Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "..x", "x..", "a/.../b"] {
            #expect(!TimeZoneDatabase.climbsOut(id), "\(id)")
        }
        #expect(throws: TimeZoneDatabase.Failure.self) { try TimeZoneDatabase.rules("../\u{301}x") }
    }
}
