import DocketClient
import DocketCore
@testable import DocketServer
@testable import DocketStore
import DocketTestSupport
import DocketWire
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// A node of a test cluster on a real loopback socket, over its own data directory; it can be
/// stopped and started again on the same directory.
final class ClusterNode: @unchecked Sendable {
    let dir: String
    private(set) var store: EventStore!
    private(set) var server: DocketServer!
    private var runner: Task<Void, any Error>?
    private(set) var port = 0
    var replication: ReplicationConfiguration

    var address: String { "127.0.0.1:\(port)" }
    var ledger: Ledger { server.ledger }

    init(dir: String? = nil, replication: ReplicationConfiguration = ReplicationConfiguration()) {
        self.dir = dir ?? makeTemporaryDirectory("docket-repl")
        self.replication = replication
    }

    /// A leader with an admin token and a replica token for standby nodes (which may take over).
    static func leader(_ configure: (inout ReplicationConfiguration) -> Void = { _ in }) async throws -> (ClusterNode, admin: String, replica: String) {
        var r = ReplicationConfiguration()
        configure(&r)
        let node = ClusterNode(replication: r)
        try await node.start()
        return (node, try await node.token(.admin, name: "root"), try await node.token(.replica, name: "replica", standby: true))
    }

    /// A token of `role` made on this node (the leader's, which followers replicate).
    func token(_ role: Role, project: String? = nil, name: String, standby: Bool = false) async throws -> String {
        try await Tokens(ledger: ledger).create(role: role, project: project, subject: name, expiresAt: nil, standby: standby, by: .local(actor: "test")).1
    }

    /// A follower of `leader` on a fresh directory (created as a copy of the leader's ledger).
    static func follower(of leader: ClusterNode, token: String, _ configure: (inout ReplicationConfiguration) -> Void = { _ in }) async throws -> ClusterNode {
        var r = ReplicationConfiguration()
        r.leader = leader.address
        r.token = token
        configure(&r)
        let node = ClusterNode(replication: r)
        try await node.start(ledgerID: leader.store.ledgerID)
        return node
    }

    /// Starts the node on `port` (0: any free one; a restarted node gets a new one unless given
    /// its old port).
    func start(ledgerID: String? = nil, port wanted: Int = 0) async throws {
        var configuration = EventStore.Configuration()
        configuration.ledgerID = ledgerID
        store = try EventStore.open(directory: dir, configuration: configuration)
        var c = ServerConfiguration()
        c.port = wanted
        c.replication = replication
        var logger = Logger(label: "test-cluster \(dir.suffix(6))")
        logger.logLevel = ProcessInfo.processInfo.environment["DOCKET_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        server = DocketServer(ledger: Ledger(store: store, dataDir: dir), configuration: c, logger: logger)
        let server = self.server!
        runner = Task { try await server.run() }
        guard let p = await server.localAddress()?.port else { throw TestFailure("the node did not bind") }
        port = p
    }

    /// Graceful shutdown; the data directory stays.
    func stop() async {
        server.shutdown()
        _ = try? await runner?.value
        store.close()
    }

    func remove() async {
        await stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A client of this node, which redirects may take to `nodes`.
    func client(_ token: String, redirects: Int = 3, nodes: [ClusterNode] = []) -> DocketClient {
        var c = DocketClient.Configuration(host: "127.0.0.1", port: port, token: token)
        c.leaderRedirects = redirects
        c.nodes = nodes.map(\.address)
        return DocketClient(c)
    }

    /// A follower's replication status, straight from the node.
    var replicationStatus: Value? { server.replication.statusFields.first { $0.key == "replication" }?.value }

    /// STATUS as `token` sees it.
    func status(_ token: String) async throws -> Value {
        let c = client(token)
        defer { Task { await c.close() } }
        return try await c.status()
    }
}

/// Waits until `condition` holds (polling), failing after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(60), onTimeout: () async -> String = { "" }, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("timed out waiting until \(what) \(await onTimeout())")
}

/// Every `log` and `dicts` value equal.
func expectByteIdentical(_ a: EventStore, _ b: EventStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(a.head == b.head, sourceLocation: sourceLocation)
    var differing: [UInt64] = []
    for seq in stride(from: UInt64(1), through: a.head.sequence, by: 1) where try a.rawRecord(at: seq) != b.rawRecord(at: seq) {
        differing.append(seq)
    }
    #expect(differing.isEmpty, "records differ at \(differing.prefix(5))", sourceLocation: sourceLocation)
    let versions = try a.highestDictionaryVersion()
    #expect(try b.highestDictionaryVersion() == versions, sourceLocation: sourceLocation)
    if versions > 0 {
        for v in 1...versions { #expect(try a.dictionary(version: v) == b.dictionary(version: v), "dictionary \(v)", sourceLocation: sourceLocation) }
    }
    #expect(try b.verify().isIntact, sourceLocation: sourceLocation)
}

func note(_ i: Int, id: String? = nil) throws -> ProposedEvent {
    SyntheticEvents.event(i, id: try id.map { try EventID($0) }).event
}

@Suite("Replication: three nodes on loopback", .serialized)
struct ReplicationTests {
    @Test("followers converge byte-identical under concurrent load, dictionaries included; they serve reads and views and refuse writes naming the leader")
    func converge() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let auditor = try await leader.token(.auditor, name: "aud")
        let maintainer = try await leader.token(.maintainer, project: "aumos", name: "mia")
        let reporter = try await leader.token(.reporter, name: "ada")
        let f1 = try await ClusterNode.follower(of: leader, token: replica)
        let joining = Task {
            try await Task.sleep(for: .milliseconds(200))
            return try await ClusterNode.follower(of: leader, token: replica)
        }
        var f2: ClusterNode?
        do {
            // 16 writers, 2,400 events in all (past the 1,024 that train the first dictionary);
            // the second follower joins in the middle of it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<16 {
                    group.addTask {
                        let c = leader.client(admin)
                        for i in 0..<30 {
                            let events = try (0..<5).map { try note(w * 1000 + i * 5 + $0) }
                            _ = try await c.append(to: try StreamName("load-\(w)"), events: events)
                        }
                        await c.close()
                    }
                }
                try await group.waitForAll()
            }
            f2 = try await joining.value
            try await appendBatchesRemotely(leader.client(admin), count: 1600)
            for _ in 0..<200 where try leader.store.highestDictionaryVersion() == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let f2 = f2!
            try await eventually("both followers hold the leader's head", onTimeout: {
                "leader \(leader.store.head) dicts \((try? leader.store.highestDictionaryVersion()) ?? 0); f1 \(f1.store.head) \(f1.replicationStatus.map(JSON.serialize) ?? "?"); f2 \(f2.store.head) \(f2.replicationStatus.map(JSON.serialize) ?? "?")"
            }) {
                let dictionaries = try leader.store.highestDictionaryVersion()
                let (d1, d2) = (try f1.store.highestDictionaryVersion(), try f2.store.highestDictionaryVersion())
                return f1.store.head == leader.store.head && f2.store.head == leader.store.head && d1 == dictionaries && d2 == dictionaries
            }
            #expect(try leader.store.highestDictionaryVersion() >= 1, "the load trained a dictionary")
            // Told the leader's head, a follower that holds it says so: no lag.
            try await eventually("f1 says it is caught up") {
                f1.replicationStatus?["lag"] == 0 && f1.replicationStatus?["leaderHead"]?.intValue == Int64(leader.store.head.sequence)
            }
            try expectByteIdentical(leader.store, f1.store)
            try expectByteIdentical(leader.store, f2.store)

            // Reads, subscriptions and views on a follower.
            let onFollower = f1.client(admin, redirects: 0)
            #expect(try await onFollower.read(from: 1, limit: 10).count == 10)
            #expect(try await onFollower.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["rows"] != nil)
            let status = try await onFollower.status()
            #expect(status["role"] == "follower" && status["leader"]?.stringValue == leader.address)
            #expect(status["replication"]?["state"] == "following", "\(status)")
            // Writes are refused with the leader's address …
            let refused = await #expect(throws: DocketClientError.self) {
                try await onFollower.append(to: try StreamName("misc"), events: [try note(1)])
            }
            guard case .server(let body)? = refused else { throw TestFailure("expected an ERROR") }
            #expect(body.code == "not-leader" && body.details?["leader"]?.stringValue == leader.address && body.message.contains(leader.address))
            for verb in [ReportCommand.submit(ReportSubmitted(project: "aumos", title: "t", reporter: Reporter(handle: "ada")))] {
                let e = await #expect(throws: DocketClientError.self) { try await onFollower.command(verb, report: "R9") }
                #expect(e?.code == "not-leader")
                // A token that may change no report is told so by the follower, not sent to the
                // leader to hear it there.
                let readOnly = f1.client(auditor, redirects: 0)
                let forbidden = await #expect(throws: DocketClientError.self) { try await readOnly.command(verb, report: "R9") }
                #expect(forbidden?.code == "forbidden", "\(String(describing: forbidden))")
                // Nor is one that may not make or revoke tokens or adopt policies.
                for (action, args) in [
                    ("token-create", [("role", Value.string("auditor")), ("name", "x")]), ("token-revoke", [("id", Value.string("t-1"))]),
                    ("policy-adopt", [("project", Value.string("p")), ("policy", "x"), ("zone", "UTC")]),
                ] {
                    let refused = await #expect(throws: DocketClientError.self) { try await readOnly.admin(action, args) }
                    #expect(refused?.code == "forbidden", "\(action): \(String(describing: refused))")
                }
                await readOnly.close()
            }
            // Nor is a command a maintainer or reporter may make on no report, nor a maintainer's
            // dated adoption; what they may make is sent to the leader.
            let asMaintainer = f1.client(maintainer, redirects: 0)
            let asReporter = f1.client(reporter, redirects: 0)
            let at = Timestamp.now()
            let (own, elsewhere) = (ReportSubmitted(project: "aumos", title: "t", reporter: Reporter(handle: "ada")), ReportSubmitted(project: "other", title: "t", reporter: Reporter(handle: "ada")))
            var other = own
            other.reporter.handle = "bob"
            for (who, client, verb, dated, code) in [
                ("maintainer, other project", asMaintainer, ReportCommand.submit(elsewhere), false, "forbidden"),
                ("reporter as someone else", asReporter, .submit(other), false, "forbidden"),
                ("reporter, dated", asReporter, .respond(summary: "x"), true, "forbidden"),
                ("maintainer", asMaintainer, .submit(own), true, "not-leader"), ("reporter", asReporter, .submit(own), false, "not-leader"),
            ] {
                let refused = await #expect(throws: DocketClientError.self) { try await client.command(verb, report: "R9", at: dated ? at : nil) }
                #expect(refused?.code == code, "\(who): \(String(describing: refused))")
            }
            let policyText = try Policy.parse(SyntheticReports.policyText, file: "synthetic").encodeCanonical()
            for (dated, code) in [(true, "forbidden"), (false, "not-leader")] {
                let args: [(key: String, value: Value)] = [("project", "aumos"), ("policy", .string(policyText)), ("zone", "UTC"), ("zoneTransitions", [":0"])]
                let refused = await #expect(throws: DocketClientError.self) {
                    try await asMaintainer.admin("policy-adopt", args + (dated ? [("at", .string(at.rfc3339))] : []))
                }
                #expect(refused?.code == code, "adoption, dated \(dated): \(String(describing: refused))")
            }
            await asMaintainer.close()
            await asReporter.close()
            let tokenRefused = await #expect(throws: DocketClientError.self) { try await onFollower.admin("token-create", [("role", "auditor"), ("name", "x")]) }
            #expect(tokenRefused?.code == "not-leader")
            // A follower signs no checkpoint of its own: not-leader, not a request for a key.
            let checkpointRefused = await #expect(throws: DocketClientError.self) { try await onFollower.admin("checkpoint", []) }
            #expect(checkpointRefused?.code == "not-leader")
            // Nor is an adoption judged against its (possibly lagging) copy: not-leader first.
            let policy = try Policy.parse(SyntheticReports.policyText, file: "synthetic")
            let adoptRefused = await #expect(throws: DocketClientError.self) {
                try await onFollower.admin("policy-adopt", [
                    ("project", "p"), ("policy", .string(policy.encodeCanonical())), ("zone", "UTC"), ("zoneTransitions", [":0"]),
                    ("at", "2099-01-01T00:00:00Z"),  // judged, it would be refused as in the future
                ])
            }
            #expect(adoptRefused?.code == "not-leader", "\(String(describing: adoptRefused))")
            await onFollower.close()
            // … and the client library follows it there; the append then replicates back.
            let following = f1.client(admin, nodes: [leader])
            let e = try note(7, id: "followed-1")
            let r = try await following.append(to: try StreamName("misc"), events: [e])
            #expect(following.address == leader.address && !r.duplicate)
            try await eventually("the redirected append reaches the follower") { f1.store.head.sequence >= r.lastSequence }
            #expect(try f1.store.event(at: r.lastSequence)?.id == e.id)
            await following.close()
        }
        await f2?.remove()
        await f1.remove()
        await leader.remove()
    }

    @Test("a follower stopped and started again catches up from its own head")
    func restartCatchesUp() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let follower = try await ClusterNode.follower(of: leader, token: replica)
        let c = leader.client(admin)
        try await appendBatchesRemotely(c, count: 500)
        try await eventually("caught up") { follower.store.head == leader.store.head }
        await follower.stop()
        try await appendBatchesRemotely(c, count: 2000, offset: 500)
        #expect(follower.store.head.sequence < leader.store.head.sequence)
        try await follower.start()
        // The leader may install a dictionary after its last record: it reaches the follower in a
        // batch of its own, after the head does.
        try await eventually("caught up after the restart") {
            try !leader.store.isTrainingDictionary && follower.store.head == leader.store.head
                && follower.store.highestDictionaryVersion() == leader.store.highestDictionaryVersion()
        }
        try expectByteIdentical(leader.store, follower.store)
        await c.close()
        await follower.remove()
        await leader.remove()
    }

    @Test("a follower whose writer is behind holds at most its in-flight budget and a frame of records in memory, reads no further meanwhile, and converges")
    func inFlightBudget() async throws {
        // Small frames, so that a catch-up is many of them; a budget of two frames' bytes.
        let (leader, admin, replica) = try await ClusterNode.leader { $0.bytesPerFrame = 16 << 10 }
        let c = leader.client(admin)
        try await appendBatchesRemotely(c, count: 3000)
        let follower = try await ClusterNode.follower(of: leader, token: replica) {
            $0.followerInFlightBytes = 32 << 10
            $0.followerMaximumFrame = 64 << 10
        }
        try await eventually("caught up") { follower.store.head == leader.store.head }
        let highWater = try #require(follower.server.replication.currentFollower).inFlightHighWater
        #expect(highWater > 0 && highWater <= (32 << 10) + (64 << 10), "at most \(highWater) bytes were in flight")
        try await eventually("the dictionary too") {
            try !leader.store.isTrainingDictionary && follower.store.highestDictionaryVersion() == leader.store.highestDictionaryVersion()
        }
        try expectByteIdentical(leader.store, follower.store)
        await c.close()
        await follower.remove()
        await leader.remove()
    }

    @Test("a peer that accepts connections and never answers (a stopped node): learning its ledger id, following it and fencing it each give up in time")
    func silentPeer() async throws {
        let silent = try #require(SilentListener())
        let address = "127.0.0.1:\(silent.port)"
        let started = ContinuousClock.now
        async let ledgerID: Void = {
            await #expect(throws: (any Error).self) { try await DocketServer.ledgerID(of: address, replication: ReplicationConfiguration()) }
            #expect(ContinuousClock.now - started < .seconds(20))
        }()
        let (leader, _, _) = try await ClusterNode.leader()
        async let fenced = leader.server.replication.tellDeposed(address, epoch: 1, token: "dkt_000000000000_" + String(repeating: "0", count: 64))
        var r = ReplicationConfiguration()
        r.leader = address
        r.token = "dkt_000000000000_" + String(repeating: "0", count: 64)
        let follower = ClusterNode(replication: r)
        try await follower.start(ledgerID: leader.store.ledgerID)
        try await eventually("the follower gives up on the handshake and tries again", timeout: .seconds(30)) {
            follower.replicationStatus?["state"] == "reconnecting"
        }
        #expect(follower.replicationStatus?["error"]?.stringValue?.isEmpty == false)
        // Never told the leader's head, it does not know how far behind it is: not a lag of 0.
        #expect(follower.replicationStatus?["leaderHead"] == .null && follower.replicationStatus?["lag"] == .null, "\(String(describing: follower.replicationStatus))")
        #expect(await fenced == false)
        await ledgerID
        #expect(ContinuousClock.now - started < .seconds(30))
        await follower.remove()
        await leader.remove()
    }

    @Test("a leader that answers AUTH with a transient error (its handshake timer, a newer connection in this one's place) is tried again; a refused token, or any other error, stops the follower", arguments: [
        ("handshake-timeout", false), ("too-many-connections", false), ("shutting-down", false), ("not-authenticated", false), ("internal", false),
        ("token-revoked", true), ("unknown-token", true), ("bad-token", true), ("token-expired", true),
        ("frame-too-large", true), ("protocol-violation", true), ("a-code-not-yet-invented", true),
    ])
    func authRefusals(code: String, stops: Bool) async throws {
        let ledgerID = Mutex("")
        let peer = try await ScriptedPeer { frame in
            switch frame.type {
            case .hello: Frame(.welcome, requestID: frame.requestID, body: .object([("ledger", .string(ledgerID.withLock { $0 }))]))
            case .auth: Frame(.error, requestID: frame.requestID, body: ErrorBody(code: code, message: "scripted").value)
            default: nil
            }
        }
        let (origin, _, _) = try await ClusterNode.leader()  // only for a ledger id of the right form
        ledgerID.withLock { $0 = origin.store.ledgerID }
        var r = ReplicationConfiguration()
        r.leader = "127.0.0.1:\(peer.port)"
        r.token = "dkt_000000000000_" + String(repeating: "0", count: 64)
        let follower = ClusterNode(replication: r)
        let started = ContinuousClock.now
        try await follower.start(ledgerID: origin.store.ledgerID)
        if stops {
            try await eventually("the follower stops") { follower.replicationStatus?["state"] == "stopped" }
            let error = follower.replicationStatus?["error"]?.stringValue ?? ""
            #expect(error.hasPrefix(code + ": ") && error.contains(code.hasPrefix("token") || code.hasSuffix("token") ? "refused this follower's token" : "refused this follower's AUTH"), "\(error)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(peer.received(.auth) == 1, "a refused token is not offered again")
        } else {
            // Again and again, backing off: 50 ms, 100 ms, 200 ms, … between tries.
            try await eventually("the follower authenticates again") { peer.received(.auth) >= 4 }
            #expect(ContinuousClock.now - started >= .milliseconds(350), "three waits of 50, 100 and 200 ms at least")
            #expect(follower.replicationStatus?["state"] != "stopped", "\(String(describing: follower.replicationStatus))")
            #expect(follower.replicationStatus?["error"]?.stringValue?.contains(code) == true)
        }
        #expect(peer.received(.replicate) == 0)
        await follower.remove()
        await origin.remove()
        await peer.close()
    }

    @Test("synchronous replication: an append is acknowledged once a follower holds it; without one it times out, and the retry is idempotent")
    func synchronous() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader {
            $0.syncReplicas = 1
            // Long enough that a follower on a loaded machine keeps up; the two timeouts wait it out.
            $0.syncTimeout = .seconds(3)
        }
        // The tokens were made locally; no follower yet, so a remote append times out.
        let c = leader.client(admin)
        let e = try note(1, id: "sync-1")
        let timedOut = await #expect(throws: DocketClientError.self) { try await c.append(to: try StreamName("s"), events: [e]) }
        guard case .server(let body)? = timedOut else { throw TestFailure("expected an ERROR") }
        #expect(body.code == "replication-timeout" && body.message.contains("retry with the same event ids"), "\(body)")
        #expect(leader.store.head.sequence == 3, "durable on the leader")
        // The same through the queued path: appends of more than 16 events are not answered in place.
        let many = try (0..<20).map { try note(200 + $0) }
        let queuedTimeout = await #expect(throws: DocketClientError.self) { try await c.append(to: try StreamName("q"), events: many) }
        guard case .server(let queuedBody)? = queuedTimeout else { throw TestFailure("expected an ERROR") }
        #expect(queuedBody.code == "replication-timeout", "\(queuedBody)")
        #expect(leader.store.head.sequence == 23)
        // ADMIN writes wait as well (a token made is not answered before a follower holds it);
        // what only reads, such as the node's public key, waits for nothing.
        let tokenTimeout = await #expect(throws: DocketClientError.self) {
            try await c.admin("token-create", [("role", .string("auditor")), ("name", .string("late"))])
        }
        guard case .server(let tokenBody)? = tokenTimeout else { throw TestFailure("expected an ERROR") }
        #expect(tokenBody.code == "replication-timeout" && leader.store.head.sequence == 24, "\(tokenBody)")
        // It has no event ids to retry with: the token made is named, secret and all, not lost.
        #expect(tokenBody.details?["token"]?.stringValue?.hasPrefix("dkt_") == true && tokenBody.details?["id"] != nil, "\(tokenBody)")
        #expect(!tokenBody.message.contains("same event ids"), "\(tokenBody.message)")
        _ = try NodeKey.create(at: leader.dir + "/node.key")
        let asked = ContinuousClock.now
        #expect(try await c.admin("node-key", [])["publicKey"]?.stringValue?.count == 64)
        #expect(ContinuousClock.now - asked < .seconds(2))
        let follower = try await ClusterNode.follower(of: leader, token: replica)
        try await eventually("the follower caught up") { follower.store.head.sequence >= 24 }
        let retried = try await c.append(to: try StreamName("s"), events: [e])
        #expect(retried.duplicate && retried.lastSequence == 3)
        #expect(follower.store.head.sequence >= 3)
        // Every acknowledged append is on the follower when it is acknowledged.
        for i in 0..<50 {
            let r = try await c.append(to: try StreamName("s"), events: [try note(100 + i)])
            #expect(follower.store.head.sequence >= r.lastSequence)
        }
        let status = try await c.status()
        #expect(status["syncReplicas"] == 1 && status["followers"]?.arrayValue?.count == 1)
        await c.close()
        await follower.remove()
        await leader.remove()
    }

    /// A REPLICATE from the start of `leader`'s ledger, claiming `epoch` (and its leader).
    static func replicate(_ leader: ClusterNode, epoch: UInt64 = 0, epochLeader: String? = nil, node: String) -> Frame {
        Frame(.replicate, requestID: 5, body: ReplicateRequest(
            ledger: leader.store.ledgerID, head: 0, hash: ChainHash.genesis.description, epoch: epoch, epochLeader: epochLeader, dictionaries: 0,
            window: 10, maxFrame: 1 << 20, node: node, address: nil).wireValue)
    }

    @Test("a replica token that only reads cannot depose the leader: its FENCE is forbidden, a later epoch it presents is answered not-leader, and the leader goes on taking writes")
    func readOnlyReplicaCannotDepose() async throws {
        let (leader, admin, _) = try await ClusterNode.leader()
        let tokens = Tokens(ledger: leader.ledger)
        let (record, readOnly) = try await tokens.create(role: .replica, project: nil, subject: "auditor-copy", expiresAt: nil, by: .local(actor: "test"))
        let recorded = try tokens.records()
        #expect(!record.standby && recorded[record.id]?.standby == false)
        // A replica token recorded before tokens said so (0.3.0) stands by, as all of them could depose then.
        let legacy = try await leader.store.append(to: Tokens.stream, events: [try ProposedEvent(type: try EventType("TokenCreated"), actor: "test", data: .object([
            ("id", "0123456789ab"), ("role", "replica"), ("subject", "old"), ("sha256", .string(String(repeating: "0", count: 64))),
        ]))])
        let withLegacy = try tokens.records()
        #expect(legacy.lastSequence > 0 && withLegacy["0123456789ab"]?.standby == true)
        await #expect(throws: DomainError.self) {
            try await tokens.create(role: .auditor, project: nil, subject: "a", expiresAt: nil, standby: true, by: .local(actor: "test"))
        }

        let holder = leader.client(readOnly, redirects: 0)
        let fence = await #expect(throws: DocketClientError.self) {
            try await holder.request(.fence, .object([("ledger", .string(leader.store.ledgerID)), ("epoch", .int(7)), ("leader", "evil:1")]), retry: false)
        }
        guard case .server(let fenceBody)? = fence else { throw TestFailure("expected an ERROR") }
        #expect(fenceBody.code == "forbidden" && fenceBody.message.contains("only reads"), "\(fenceBody)")
        #expect(leader.store.nodeState.role == .leader)

        let socket = try #require(try await RawSocket.authenticated(port: leader.port, token: readOnly))
        socket.send(Self.replicate(leader, epoch: 7, epochLeader: "evil:1", node: "copy"))
        let answer = try #require(try await socket.nextFrame())
        #expect(answer.type == .error && ErrorBody(answer.body).code == "not-leader", "\(answer.body)")
        #expect(leader.store.nodeState.role == .leader)
        let c = leader.client(admin)
        _ = try await c.append(to: try StreamName("s"), events: [try note(1, id: "after-the-claims")])
        // At its own epoch it replicates as any follower does.
        let reader = try #require(try await RawSocket.authenticated(port: leader.port, token: readOnly))
        reader.send(Self.replicate(leader, node: "copy"))
        #expect(try #require(try await reader.nextFrame()).type == .replicating)
        await holder.close()
        await c.close()
        await leader.remove()
    }

    @Test("a node that follows with a replica token that only reads, promoted, says it cannot depose the old leader, which goes on leading")
    func promotedWithReadOnlyToken() async throws {
        let (leader, admin, _) = try await ClusterNode.leader()
        let readOnly = try await leader.token(.replica, name: "copy")
        let f = try await ClusterNode.follower(of: leader, token: readOnly)
        let c = leader.client(admin, redirects: 0)
        try await appendBatchesRemotely(c, count: 5)
        try await eventually("caught up") { f.store.head == leader.store.head }
        let promoted = try await f.client(admin).admin("promote", [])
        #expect(promoted["epoch"] == 1 && promoted["previousLeaderTold"] == false)
        #expect(promoted["warning"]?.stringValue?.contains("only reads") == true && promoted["warning"]?.stringValue?.contains("--standby") == true, "\(promoted)")
        #expect(leader.store.nodeState.role == .leader)
        // The same token, presenting the new epoch to the old leader, is sent to the leader it
        // names (its own word), and deposes nothing.
        let socket = try #require(try await RawSocket.authenticated(port: leader.port, token: readOnly))
        socket.send(Self.replicate(leader, epoch: 1, epochLeader: f.address, node: "copy"))
        let answer = try #require(try await socket.nextFrame())
        let refused = ErrorBody(answer.body)
        #expect(answer.type == .error && refused.code == "not-leader" && refused.details?["leader"]?.stringValue == f.address, "\(answer.body)")
        #expect(leader.store.nodeState.role == .leader)
        await c.close()
        await f.remove()
        await leader.remove()
    }

    @Test("synchronous replication counts a follower's acknowledgement only up to the records it was sent")
    func acknowledgementCapped() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader {
            $0.syncReplicas = 1
            $0.syncTimeout = .milliseconds(500)
        }
        let socket = try #require(try await RawSocket.authenticated(port: leader.port, token: replica))
        socket.send(Self.replicate(leader, node: "liar"))
        #expect(try #require(try await socket.nextFrame()).type == .replicating)
        // A follower that claims to hold records it was never sent.
        socket.send(Frame(.replicateAck, requestID: 6, body: .object([("subscription", .int(5)), ("durable", .int(1_000_000_000))])))
        try await Task.sleep(for: .milliseconds(200))
        let c = leader.client(admin)
        let timedOut = await #expect(throws: DocketClientError.self) { try await c.append(to: try StreamName("s"), events: [try note(1, id: "claimed-1")]) }
        guard case .server(let body)? = timedOut else { throw TestFailure("expected an ERROR") }
        #expect(body.code == "replication-timeout", "\(body)")
        await c.close()
        await leader.remove()
    }

    @Test("synchronous replication counts followers, not streams: two streams naming one node are one holder", arguments: [false, true])
    func distinctFollowers(sameNode: Bool) async throws {
        let (leader, admin, replica) = try await ClusterNode.leader {
            $0.syncReplicas = 2
            $0.syncTimeout = .seconds(4)
        }
        // Two replication streams, as two followers or as one follower with two.
        let (port, ledgerID) = (leader.port, leader.store.ledgerID)
        // Blocking socket work off the cooperative pool, which the node in this process answers on.
        let streams = try await offPool {
            try (0..<2).map { i in
                let socket = try RawSocket(port: port)
                guard socket.handshake(token: replica) else { throw TestFailure("handshake refused") }
                socket.send(Frame(.replicate, requestID: 5, body: ReplicateRequest(
                    ledger: ledgerID, head: 0, hash: ChainHash.genesis.description, epoch: 0, epochLeader: nil, dictionaries: 0,
                    window: 100, maxFrame: 1 << 20, node: sameNode ? "twin" : "node-\(i)", address: nil).wireValue))
                guard socket.readFrame()?.type == .replicating else { throw TestFailure("REPLICATE refused") }
                return socket
            }
        }
        let c = leader.client(admin)
        let answered = Mutex(false)
        let appending = Task {
            defer { answered.withLock { $0 = true } }
            return try await c.append(to: try StreamName("s"), events: [try note(1, id: "twice-1")])
        }
        // Each stream acknowledges everything it was sent, again and again (a claim is capped at
        // what was sent, so an acknowledgement that overtakes the record counts only once resent),
        // until the append is answered: on a loaded machine the record may reach them late.
        for _ in 0..<100 where !answered.withLock({ $0 }) {
            try await Task.sleep(for: .milliseconds(100))
            for socket in streams { socket.send(Frame(.replicateAck, requestID: 6, body: .object([("subscription", .int(5)), ("durable", .int(1_000_000_000))]))) }
        }
        let result = await appending.result
        if sameNode {
            guard case .failure(DocketClientError.server(let body)) = result else { throw TestFailure("expected replication-timeout, got \(result)") }
            #expect(body.code == "replication-timeout" && body.details?["confirmed"] == 1 && body.details?["required"] == 2, "\(body)")
        } else {
            let appended = try result.get()
            #expect(!appended.duplicate && appended.lastSequence == leader.store.head.sequence)
        }
        await c.close()
        await leader.remove()
    }

    @Test("two promotions of one follower at once: one starts epoch 1, the other is refused, and one epoch is recorded")
    func concurrentPromotions() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let f = try await ClusterNode.follower(of: leader, token: replica)
        try await eventually("caught up") { f.store.head == leader.store.head }
        let (a, b) = (f.client(admin), f.client(admin))
        async let first = Result { try await a.admin("promote", []) }
        async let second = Result { try await b.admin("promote", []) }
        let results = await [first, second]
        let promoted = results.compactMap { try? $0.get() }
        #expect(promoted.count == 1 && promoted.first?["epoch"] == 1, "\(results)")
        for case .failure(let error) in results { #expect((error as? DocketClientError)?.code == "already-leader", "\(error)") }
        #expect(try f.store.read(stream: Epochs.stream).count == 1)
        #expect(try Epochs.current(in: f.store).number == 1)
        for c in [a, b] { await c.close() }
        await f.remove()
        await leader.remove()
    }

    @Test("promotion: the follower starts epoch 1, the old leader is fenced and names it, the other follower moves over, clients follow")
    func promotion() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let f = try await ClusterNode.follower(of: leader, token: replica)
        // g is told f is one of the ledger's nodes, so it follows the redirect there.
        let g = try await ClusterNode.follower(of: leader, token: replica) { $0.nodes = [f.address] }
        let c = leader.client(admin, redirects: 0)
        try await appendBatchesRemotely(c, count: 300)
        try await eventually("caught up") { f.store.head == leader.store.head && g.store.head == leader.store.head }

        let promoted = try await f.client(admin).admin("promote", [])
        #expect(promoted["epoch"] == 1 && promoted["previousLeader"]?.stringValue == leader.address)
        #expect(promoted["previousLeaderTold"] == true)
        let epoch = try Epochs.current(in: f.store)
        #expect(epoch.number == 1 && epoch.address == f.address && epoch.sequence == promoted["seq"]?.intValue.map(UInt64.init))
        // The deposed leader refuses writes, naming the new epoch and leader …
        let fenced = await #expect(throws: DocketClientError.self) { try await c.append(to: try StreamName("x"), events: [try note(1)]) }
        guard case .server(let body)? = fenced else { throw TestFailure("expected an ERROR") }
        #expect(body.code == "fenced" && body.details?["epoch"] == 1 && body.details?["leader"]?.stringValue == f.address, "\(body)")
        #expect(leader.store.nodeState.role == .fenced)
        // … also after a restart.
        await leader.stop()
        try await leader.start()
        #expect(leader.store.nodeState.role == .fenced)
        // The other follower learned where the leader went and follows it, epoch record included.
        // A client that was not told f is one of the ledger's nodes does not go there: the address
        // came from a FENCE, which any standby replica token can send, and going would hand over its token.
        let unlisted = leader.client(admin)
        let notFollowed = await #expect(throws: DocketClientError.self) { try await unlisted.append(to: try StreamName("after"), events: [try note(2)]) }
        guard case .server(let refusal)? = notFollowed else { throw TestFailure("expected an ERROR") }
        #expect(refusal.code == "fenced" && refusal.message.contains("not followed: \(f.address) is not one of this client's nodes"), "\(refusal)")
        #expect(unlisted.address == leader.address)
        await unlisted.close()
        let redirected = leader.client(admin, nodes: [f, g])
        let r = try await redirected.append(to: try StreamName("after"), events: [try note(2)])
        #expect(redirected.address == f.address)
        try await eventually("the other follower follows the new leader") {
            try !f.store.isTrainingDictionary && g.store.head == f.store.head && g.store.head.sequence >= r.lastSequence
                && g.store.highestDictionaryVersion() == f.store.highestDictionaryVersion()
        }
        try expectByteIdentical(f.store, g.store)
        #expect(try Epochs.current(in: g.store).number == 1)
        let again = await #expect(throws: DocketClientError.self) { try await f.client(admin).admin("promote", []) }
        #expect(again?.code == "already-leader")
        await redirected.close()
        await c.close()
        await g.remove()
        await f.remove()
        await leader.remove()
    }

    @Test("a follower goes only to the ledger's nodes it was given: a FENCE naming another address, which any standby replica token can send, is not followed")
    func redirectOnlyToListedNodes() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        // Another ledger's node stands in for one an attacker runs.
        let (stranger, _, _) = try await ClusterNode.leader()
        let f = try await ClusterNode.follower(of: leader, token: replica)
        let g = try await ClusterNode.follower(of: leader, token: replica) { $0.nodes = [stranger.address] }
        let c = leader.client(admin, redirects: 0)
        try await appendBatchesRemotely(c, count: 5)
        try await eventually("caught up") { f.store.head == leader.store.head && g.store.head == leader.store.head }
        // Someone holding only a standby's replica token deposes the leader, naming their own node as the
        // new one: the leader then ends every replication stream with `fenced` naming it.
        let holder = leader.client(replica, redirects: 0)
        let answer = try await holder.request(.fence, .object([
            ("ledger", .string(leader.store.ledgerID)), ("epoch", .int(1)), ("leader", .string(stranger.address)),
        ]), retry: false)
        #expect(answer.type == .fenceResult && leader.store.nodeState.role == .fenced)
        // g was told that address is one of the ledger's nodes and goes there (where it meets
        // another ledger, and stops); f was not, and stays with the node it was given.
        try await eventually("g follows the listed node") { g.store.nodeState.leader == stranger.address }
        try await Task.sleep(for: .milliseconds(500))
        #expect(f.store.nodeState.leader == leader.address && f.store.nodeState.role == .follower)
        #expect(stranger.store.head.sequence < f.store.head.sequence)
        let status = try await f.status(admin)
        #expect(status["role"] == "follower" && status["leader"]?.stringValue == leader.address, "\(status)")
        await holder.close()
        await c.close()
        await g.remove()
        await f.remove()
        await stranger.remove()
        await leader.remove()
    }

    @Test("a deposed leader that wrote on is refused when it comes back as a follower: divergence named at its first extra record, nothing overwritten")
    func divergence() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let reporter = try await leader.token(.reporter, name: "rey")
        let f = try await ClusterNode.follower(of: leader, token: replica)
        let c = leader.client(admin)
        try await appendBatchesRemotely(c, count: 200)
        try await eventually("caught up") { f.store.head == leader.store.head }
        // The follower is cut off and promoted; the old leader, not told, writes on.
        await f.stop()
        let forkAt = leader.store.head.sequence + 1
        try await appendBatchesRemotely(c, count: 30, offset: 200)
        await c.close()
        f.replication.leader = nil  // it does not follow any more, but still knows whom it followed
        try await f.start()
        _ = try await f.client(admin).admin("promote", [])
        _ = try await f.client(admin).append(to: try StreamName("new-epoch"), events: [try note(9)])
        // Now the old leader is pointed at the new one.
        await leader.stop()
        let before = (leader: leader.store.head, promoted: f.store.head)
        leader.replication.leader = f.address
        leader.replication.token = replica
        try await leader.start()
        try await eventually("the old leader stops replication") {
            (try await leader.status(admin))["replication"]?["state"] == "stopped"
        }
        let status = try await leader.status(admin)
        let error = status["replication"]?["error"]?.stringValue ?? ""
        #expect(error.contains("diverged") && error.contains("part at sequence \(forkAt)"), "\(error)")
        // What it answers says its views may lag; the new leader's answers do not.
        let stale = leader.client(admin)
        let answer = try await stale.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))
        // (Refused as diverged, it was never told the new leader's head: how far behind is not known.)
        #expect(answer["replication"]?["state"] == "stopped" && answer["replication"]?["lag"] == .null && answer["rows"] != nil, "\(answer)")
        await stale.close()
        // A reporter is told the state alone, as STATUS tells them no replication at all.
        let rey = leader.client(reporter)
        let theirs = try await rey.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))
        #expect(theirs["replication"] == ["state": "stopped"], "\(theirs)")
        await rey.close()
        let fresh = f.client(admin)
        #expect(try await fresh.query(.state(project: nil, state: nil, severity: nil, assignee: nil, report: nil))["replication"] == nil)
        await fresh.close()
        #expect(leader.store.head == before.leader && f.store.head == before.promoted, "neither log changed")
        #expect(try leader.store.verify().isIntact)
        await f.remove()
        await leader.remove()
    }

    @Test("a tampered record in a follower's own log is found before it replicates, naming the sequence")
    func tamperedFollower() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let f = try await ClusterNode.follower(of: leader, token: replica)
        let c = leader.client(admin)
        try await appendBatchesRemotely(c, count: 100)
        try await eventually("caught up") { f.store.head == leader.store.head }
        await f.stop()
        let record = try #require(try EventStore.open(directory: f.dir, configuration: { var x = EventStore.Configuration(); x.readOnly = true; return x }()).rawRecord(at: 42))
        let file = f.dir + "/ledger/data.mdb"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        var hits = 0
        var i = 0
        while i + record.count <= bytes.count {
            if bytes[i] == record[0] && Array(bytes[i..<i + record.count]) == record {
                bytes[i + record.count - 1] ^= 0x01
                hits += 1
            }
            i += 1
        }
        try #require(hits > 0)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        try await appendBatchesRemotely(c, count: 10, offset: 100)
        let head = f.store.head
        try await f.start()
        try await eventually("the follower refuses to replicate") { (try await f.status(admin))["replication"]?["state"] == "stopped" }
        let error = (try await f.status(admin))["replication"]?["error"]?.stringValue ?? ""
        #expect(error.contains("sequence 42"), "\(error)")
        #expect(f.store.head == head)
        await c.close()
        await f.remove()
        await leader.remove()
    }

    @Test("bad inputs: a replica token cannot append; a follower of another ledger is refused; neither log changes")
    func badInputs() async throws {
        let (leader, _, replica) = try await ClusterNode.leader()
        let head = leader.store.head
        let asReplica = leader.client(replica)
        let refused = await #expect(throws: DocketClientError.self) { try await asReplica.append(to: try StreamName("x"), events: [try note(1)]) }
        #expect(refused?.code == "forbidden")
        let command = await #expect(throws: DocketClientError.self) {
            try await asReplica.command(.submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "a"))), report: "R1")
        }
        #expect(command?.code == "forbidden")
        await asReplica.close()
        #expect(leader.store.head == head)

        // A node of another ledger, with a log of its own, pointed at this leader.
        let (other, otherAdmin, _) = try await ClusterNode.leader()
        try await appendBatchesRemotely(other.client(otherAdmin), count: 5)
        let otherHead = other.store.head
        await other.stop()
        other.replication.leader = leader.address
        other.replication.token = replica
        try await other.start()
        try await eventually("the follower stops") { (try await other.status(otherAdmin))["replication"]?["state"] == "stopped" }
        let error = (try await other.status(otherAdmin))["replication"]?["error"]?.stringValue ?? ""
        #expect(error.hasPrefix("wrong-ledger") && error.contains(leader.store.ledgerID) && error.contains(other.store.ledgerID), "\(error)")
        #expect(other.store.head == otherHead && leader.store.head == head)
        // A REPLICATE for another ledger is refused by the leader too (a raw request).
        let socket = try #require(try await RawSocket.authenticated(port: leader.port, token: replica))
        socket.send(Frame(.replicate, requestID: 5, body: ReplicateRequest(
            ledger: other.store.ledgerID, head: 0, hash: ChainHash.genesis.description, epoch: 0, epochLeader: nil, dictionaries: 0,
            window: 10, maxFrame: 1 << 20, node: nil, address: nil).wireValue))
        let answer = try #require(try await socket.nextFrame())
        #expect(answer.type == .error && answer.body["code"] == "wrong-ledger")
        #expect(leader.store.head == head)
        await other.remove()
        await leader.remove()
    }
}

/// Appends `count` synthetic events through `client`, 100 per append.
func appendBatchesRemotely(_ client: DocketClient, count: Int, offset: Int = 0) async throws {
    var i = offset
    while i < offset + count {
        let n = min(100, offset + count - i)
        let events = try (i..<i + n).map { try note($0) }
        _ = try await client.append(to: try StreamName("bulk-\(i / 100)"), events: events)
        i += n
    }
}

/// A TCP proxy on loopback that flips one byte of the first record of the first RECORDS frame it
/// passes from the leader to the follower: tampering on the way.
final class TamperingProxy: @unchecked Sendable {  // file descriptors and threads; state owned by its threads
    let port: Int
    private let listener: Int32
    private let tampered = Locked(false)

    var didTamper: Bool { tampered.get() }

    init(upstream: Int) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        guard bound == 0, listen(listener, 8) == 0 else { throw SocketError(errno: errno) }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let tampered = self.tampered
        Thread.detachNewThread {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                guard let server = try? RawSocket(port: upstream) else { close(client); continue }
                Thread.detachNewThread { Self.pump(from: client, to: server.fd, tamper: nil, keep: server) }
                Thread.detachNewThread { Self.pump(from: server.fd, to: client, tamper: tampered, keep: server) }
            }
        }
    }

    deinit { close(listener) }

    private static func pump(from: Int32, to: Int32, tamper: Locked<Bool>?, keep: RawSocket) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(from, &chunk, chunk.count, 0)
            if n <= 0 {
                shutdown(to, Int32(SHUT_RDWR))
                return
            }
            guard let tamper else {
                _ = chunk.withUnsafeBytes { send(to, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
                continue
            }
            buffer += chunk[0..<n]
            // Forward whole frames only, so one can be changed before it goes on.
            while buffer.count >= 4 {
                let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
                guard buffer.count >= 4 + length else { break }
                var frame = Array(buffer[0..<4 + length])
                buffer.removeFirst(4 + length)
                if frame[4] == 0x96, !tamper.get(), let at = firstRecordLastByte(frame) {
                    frame[at] ^= 0x01
                    tamper.mutate { $0 = true }
                }
                _ = frame.withUnsafeBytes { send(to, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    /// The offset of the last byte of the first record in a RECORDS frame (protocol.md §17.3).
    private static func firstRecordLastByte(_ f: [UInt8]) -> Int? {
        func u16(_ i: Int) -> Int { Int(f[i]) << 8 | Int(f[i + 1]) }
        func u32(_ i: Int) -> Int { Int(f[i]) << 24 | Int(f[i + 1]) << 16 | Int(f[i + 2]) << 8 | Int(f[i + 3]) }
        let body = 9
        guard u32(body + 8) > 0 else { return nil }
        var at = body + 46
        for _ in 0..<u16(body + 12) {
            at += 2
            at += 4 + u32(at)
            at += 4 + u32(at)
        }
        return at + 4 + u32(at) - 1
    }
}

extension ReplicationTests {
    @Test("a record altered on the way from the leader is refused: the follower stops naming it and writes nothing of its batch")
    func tamperedInTransit() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let c = leader.client(admin)
        try await appendBatchesRemotely(c, count: 50)
        await c.close()
        let proxy = try TamperingProxy(upstream: leader.port)
        var r = ReplicationConfiguration()
        r.leader = "127.0.0.1:\(proxy.port)"
        r.token = replica
        let f = ClusterNode(replication: r)
        try await f.start(ledgerID: leader.store.ledgerID)
        // Nothing replicated, not even the tokens: ask the node in-process.
        try await eventually("the follower stops") { f.replicationStatus?["state"] == "stopped" }
        let error = f.replicationStatus?["error"]?.stringValue ?? ""
        #expect(proxy.didTamper)
        #expect(error.hasPrefix("corrupt-record") && error.contains("record 1 from the leader does not chain"), "\(error)")
        #expect(f.store.head.sequence == 0)
        #expect(try f.store.rawRecord(at: 1) == nil)
        #expect(leader.store.head.sequence == 52)
        #expect(try leader.store.verify().isIntact)
        await f.remove()
        await leader.remove()
    }
}


extension ReplicationTests {
    @Test("a new leader restarted goes on telling the previous leader of its epoch: one that was down at the promotion and comes back as it was is deposed")
    func fencingResumesAfterRestart() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let f = try await ClusterNode.follower(of: leader, token: replica)
        try await appendBatchesRemotely(leader.client(admin), count: 5)
        try await eventually("caught up") { f.store.head == leader.store.head }
        await leader.stop()
        let promoted = try await f.client(admin).admin("promote", [])
        #expect(promoted["previousLeaderTold"] == false)
        // Restarted as a leader (without --replica-of, keeping its --token).
        await f.stop()
        f.replication.leader = nil
        try await f.start()
        #expect(f.store.nodeState.role == .leader)
        // The old leader comes back as it was, where it served.
        try await leader.start(port: leader.port)
        try await eventually("the old leader is deposed") { leader.store.nodeState.role == .fenced }
        #expect(leader.store.nodeState.epoch == 1)
        await f.remove()
        await leader.remove()
    }

    @Test("a deposed leader that was unreachable at the promotion learns the higher epoch from a follower that holds it, and stops taking writes")
    func learnsFromFollower() async throws {
        let (leader, admin, replica) = try await ClusterNode.leader()
        let f = try await ClusterNode.follower(of: leader, token: replica)
        let g = try await ClusterNode.follower(of: leader, token: replica)
        try await appendBatchesRemotely(leader.client(admin), count: 100)
        try await eventually("caught up") { f.store.head == leader.store.head && g.store.head == leader.store.head }
        // The leader is away while f is promoted, so nobody tells it.
        await leader.stop()
        let promoted = try await f.client(admin).admin("promote", [])
        #expect(promoted["previousLeaderTold"] == false)
        try await leader.start()
        #expect(leader.store.nodeState.role == .leader)
        // g follows the new leader and so holds epoch 1 …
        await g.stop()
        g.replication.leader = f.address
        try await g.start()
        try await eventually("g holds epoch 1") { g.store.head == f.store.head }
        // A node whose log holds the epoch already needs no telling: a previous leader rejoined as
        // a follower refuses the fence as stale, and that ends the new leader's retries.
        #expect(await f.server.replication.tellDeposed(g.address, epoch: 1, token: replica))
        // … and, pointed back at the old leader by mistake (with f among the ledger's nodes it
        // was given), presents it there.
        await g.stop()
        g.replication.leader = leader.address
        g.replication.nodes = [f.address]
        try await g.start()
        try await eventually("the old leader is deposed") { leader.store.nodeState.role == .fenced }
        #expect(leader.store.nodeState.epoch == 1 && leader.store.nodeState.leader == f.address)
        let refused = await #expect(throws: DocketClientError.self) {
            try await leader.client(admin, redirects: 0).append(to: try StreamName("x"), events: [try note(1)])
        }
        #expect(refused?.code == "fenced")
        // g was sent on to the new leader.
        _ = try await f.client(admin).append(to: try StreamName("y"), events: [try note(2)])
        try await eventually("g follows the new leader again") { g.store.head == f.store.head }
        await g.remove()
        await f.remove()
        await leader.remove()
    }

    @Test("only replica and admin tokens may replicate")
    func replicateRoles() async throws {
        let (leader, _, _) = try await ClusterNode.leader()
        for role in [Role.maintainer, .reporter, .auditor] {
            let token = try await leader.token(role, project: role == .maintainer ? "p" : nil, name: "x")
            let socket = try #require(try await RawSocket.authenticated(port: leader.port, token: token))
            socket.send(Frame(.replicate, requestID: 5, body: ReplicateRequest(
                ledger: leader.store.ledgerID, head: 0, hash: ChainHash.genesis.description, epoch: 0, epochLeader: nil, dictionaries: 0,
                window: 10, maxFrame: 1 << 20, node: nil, address: nil).wireValue))
            #expect(try await socket.nextFrame()?.body["code"] == "forbidden", "\(role)")
        }
        await leader.remove()
    }
}
