import DocketClient
import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import DocketWire
import Foundation
import NIOCore
import Testing

/// APPEND_EVENTS over a real socket: answered from the event loop when small, through the
/// connection's queue otherwise, and in order either way.
@Suite("APPEND_EVENTS", .serialized)
struct AppendEventsTests {
    static func body(_ stream: String, _ expected: ExpectedVersion, _ events: [ProposedEvent]) throws -> ByteBuffer {
        var w = BinaryWriter()
        ProposedEventCodec.encode(stream: try StreamName(stream), expected: expected, events: events, into: &w)
        return ByteBuffer(bytes: w.bytes)
    }

    static func note(_ n: Int, id: EventID = .random()) throws -> ProposedEvent {
        try ProposedEvent(id: id, type: EventType("NoteAdded"), actor: "client-says", data: ["n": .int(Int64(n))])
    }

    @Test("a token revoked through the node ends its connections at once: small appends answered on the event loop stop with it")
    func revokedTokenStopsInPlaceAppends() async throws {
        // No periodic check to rely on: the revocation itself must end the connection.
        let node = try await TestNode { $0.tokenCheckInterval = .seconds(3600) }
        let token = try await node.token(.admin, name: "short")
        let s = try #require(try await RawSocket.authenticated(port: node.port, token: token))
        s.send(Frame(.appendEvents, requestID: 1, binary: try Self.body("s", .noStream, [try Self.note(1)])))
        #expect(try await s.nextFrame()?.type == .appended)
        let admin = node.client()
        _ = try await admin.admin("token-revoke", [("id", .string(String(token.split(separator: "_")[1])))])
        await admin.close()
        let before = node.store.head.sequence
        s.send(Frame(.appendEvents, requestID: 2, binary: try Self.body("s", .exact(1), [try Self.note(2)])))
        let r = await offPool { s.readUntilClosed() }
        #expect(r.closed && r.frames.last?.body["code"] == "token-revoked", "\(r.frames)")
        #expect(!r.frames.contains { $0.type == .appended } && node.store.head.sequence == before)
        #expect(try node.store.read(stream: try StreamName("s")).count == 1)
        await node.stop()
    }

    @Test("a token that expires stops the small appends answered on the event loop at once, not at the next periodic check")
    func expiredTokenStopsInPlaceAppends() async throws {
        let node = try await TestNode { $0.tokenCheckInterval = .seconds(3600) }
        // (Soon, but not so soon that making it and appending once on a loaded machine takes longer.)
        let expiry = Timestamp.now() + .seconds(2)
        let token = try await node.token(.admin, name: "short", expiresAt: expiry)
        let s = try #require(try await RawSocket.authenticated(port: node.port, token: token))
        s.send(Frame(.appendEvents, requestID: 1, binary: try Self.body("s", .noStream, [try Self.note(1)])))
        #expect(try await s.nextFrame()?.type == .appended)
        while Timestamp.now() <= expiry { try await Task.sleep(for: .milliseconds(20)) }
        let before = node.store.head.sequence
        s.send(Frame(.appendEvents, requestID: 2, binary: try Self.body("s", .exact(1), [try Self.note(2)])))
        let r = await offPool { s.readUntilClosed() }
        #expect(r.closed && r.frames.last?.body["code"] == "token-expired", "\(r.frames)")
        #expect(!r.frames.contains { $0.type == .appended } && node.store.head.sequence == before)
        await node.stop()
    }

    @Test("a token that revokes itself (rotating it) is answered, and its connection closed after")
    func revokingItself() async throws {
        // Checks every 5 ms, to meet the revocation between its write and its answer; the
        // connection closes after the answer, on its own account (not at a check).
        let node = try await TestNode { $0.tokenCheckInterval = .milliseconds(5) }
        let token = try await node.token(.admin, name: "old")
        let c = node.client(token)
        let answer = try await c.admin("token-revoke", [("id", .string(String(token.split(separator: "_")[1])))])
        #expect(answer["revoked"] == true)
        try await eventually("the node closes the revoked token's connection") { node.server.connectionCount == 0 }
        await #expect(throws: DocketClientError.self) { try await c.status() }
        await c.close()
        await node.stop()
    }

    @Test("the last admin token that lets anyone in is revoked only when lastAdmin says it is meant; another admin's, freely")
    func lastAdminToken() async throws {
        let node = try await TestNode()
        let admin = node.client()
        let onlyID = String(node.adminToken.split(separator: "_")[1])
        let before = node.store.head.sequence
        let refused = await #expect(throws: DocketClientError.self) { try await admin.admin("token-revoke", [("id", .string(onlyID))]) }
        #expect(refused?.code == "invalid-command" && refused?.description.contains("last admin token") == true, "\(String(describing: refused))")
        #expect(node.store.head.sequence == before)
        // With a second admin token it is no longer the last: rotation is making the new one first.
        let second = try await node.token(.admin, name: "next")
        #expect(try await admin.admin("token-revoke", [("id", .string(String(second.split(separator: "_")[1])))])["revoked"] == true)
        // Said to be meant, it goes.
        #expect(try await admin.admin("token-revoke", [("id", .string(onlyID)), ("lastAdmin", .bool(true))])["revoked"] == true)
        await admin.close()
        await node.stop()
    }

    @Test("pipelined appends, small and large, mixed with other requests, take effect and are answered in order")
    func pipelinedInOrder() async throws {
        let node = try await TestNode()
        let socket = try RawSocket(port: node.port)
        #expect(try await offPool { socket.handshake(token: node.adminToken) })
        // 40 requests without waiting: single events (in place), a 100-event batch (queued),
        // a STATUS and READs in between, all on one stream with exact expected versions.
        var expected: UInt64 = 0
        var ids: [UInt32: String] = [:]
        for i in 0..<40 {
            let id = UInt32(100 + i)
            switch i % 10 {
            case 3:
                socket.send(Frame(.status, requestID: id))
                ids[id] = "status"
            case 7:
                socket.send(Frame(.read, requestID: id, body: ["stream": "s", "from": 1, "limit": 1000]))
                ids[id] = "read \(expected)"
            case 5:
                let batch = try (0..<100).map { try Self.note(1000 * i + $0) }
                socket.send(Frame(.appendEvents, requestID: id, binary: try Self.body("s", .exact(expected), batch)))
                expected += 100
                ids[id] = "append \(expected)"
            default:
                socket.send(Frame(.appendEvents, requestID: id, binary: try Self.body("s", .exact(expected), [try Self.note(i)])))
                expected += 1
                ids[id] = "append \(expected)"
            }
        }
        let answers = await offPool { (0..<40).compactMap { _ in socket.readFrame() } }
        #expect(answers.count == 40)
        #expect(answers.map(\.requestID) == (0..<40).map { UInt32(100 + $0) }, "answers come in request order")
        for a in answers {
            let what = try #require(ids[a.requestID])
            if what.hasPrefix("append ") {
                #expect(a.type == .appended, "\(what): \(a.body)")
                #expect(a.body["version"]?.intValue == Int64(what.dropFirst(7)), "\(what): \(a.body)")
            } else if what.hasPrefix("read ") {
                // A read sees every append sent before it, never one sent after it.
                #expect(a.body["events"]?.arrayValue?.count == Int(what.dropFirst(5)), "\(what)")
            } else {
                #expect(a.type == .statusResult)
            }
        }
        let stored = try node.store.read(stream: try StreamName("s"))
        #expect(stored.count == Int(expected))
        #expect(stored.allSatisfy { $0.actor == "root" }, "the actor is the token's holder, not what the client says")
        await node.stop()
    }

    @Test("bad bodies, wrong versions, duplicates and other roles get error frames; the connection and the log carry on")
    func errors() async throws {
        let node = try await TestNode()
        let auditor = try await node.token(.auditor, name: "aud")
        let socket = try RawSocket(port: node.port)
        #expect(try await offPool { socket.handshake(token: node.adminToken) })
        func exchange(_ frame: Frame) async throws -> Frame? {
            await offPool {
                socket.send(frame)
                return socket.readFrame()
            }
        }
        let first = try Self.note(1)
        #expect(try await exchange(Frame(.appendEvents, requestID: 1, binary: try Self.body("s", .noStream, [first])))?.type == .appended)
        // A retry of the same event: the original result, nothing written.
        let retry = try #require(try await exchange(Frame(.appendEvents, requestID: 2, binary: try Self.body("s", .noStream, [first]))))
        #expect(retry.type == .appended && retry.body["duplicate"] == true && retry.body["last"] == 3, "two token events, then the note")
        // Wrong expected version.
        let conflict = try #require(try await exchange(Frame(.appendEvents, requestID: 3, binary: try Self.body("s", .exact(5), [try Self.note(2)]))))
        #expect(conflict.type == .error && conflict.body["code"] == "wrong-expected-version" && conflict.requestID == 3)
        // A malformed body: an error naming the problem, and the connection stays open.
        let bad = try #require(try await exchange(Frame(.appendEvents, requestID: 4, binary: ByteBuffer(bytes: [1, 0x73, 0, 1, 9]))))
        #expect(bad.type == .error && bad.body["code"] == "bad-request" && bad.body["message"]?.stringValue?.contains("unknown id form 9") == true)
        #expect(try await exchange(Frame(.status, requestID: 5))?.type == .statusResult)
        #expect(node.store.head.sequence == 3, "two tokens, then one event")
        // A payload nested deeper than an EVENTS frame could carry back is refused (it would stop
        // every remote reader at it); one exactly as deep as it can carry is taken, and read back.
        func nested(_ levels: Int) -> Value { (0..<levels).reduce(Value.null) { inner, _ in .array([inner]) } }
        let deep = try ProposedEvent(type: EventType("NoteAdded"), actor: "a", data: nested(Payload.maximumNetworkDepth))
        let tooDeep = try #require(try await exchange(Frame(.appendEvents, requestID: 6, binary: try Self.body("deep", .any, [deep]))))
        #expect(tooDeep.type == .error && tooDeep.body["code"] == "bad-request" && tooDeep.body["message"]?.stringValue?.contains("payload nests more than 60 levels") == true, "\(tooDeep.body)")
        #expect(node.store.head.sequence == 3)
        let deepest = try ProposedEvent(type: EventType("NoteAdded"), actor: "a", data: nested(Payload.maximumNetworkDepth - 1))
        #expect(try await exchange(Frame(.appendEvents, requestID: 7, binary: try Self.body("deep", .any, [deepest])))?.type == .appended)
        let client = node.client()
        let readBack = try await client.read(from: 4, limit: 10, stream: nil)
        #expect(readBack.map(\.payload) == [deepest.payload])
        await client.close()

        // An auditor may not append, in place or not.
        let other = try RawSocket(port: node.port)
        let appendAsAuditor = Frame(.appendEvents, requestID: 9, binary: try Self.body("s", .any, [try Self.note(3)]))
        let refused = try #require(try await offPool { () -> Frame? in
            guard other.handshake(token: auditor) else { return nil }
            other.send(appendAsAuditor)
            return other.readFrame()
        })
        #expect(refused.type == .error && refused.body["code"] == "forbidden")
        #expect(node.store.head.sequence == 4)
        await node.stop()
    }

    @Test("the client library appends with it, concurrently from many tasks, and every event lands once")
    func clientAppends() async throws {
        let node = try await TestNode()
        let client = node.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<16 {
                group.addTask {
                    for i in 0..<20 {
                        let r = try await client.append(to: try StreamName("c-\(t)"), expecting: .exact(UInt64(i)), events: [try Self.note(i)])
                        #expect(r.streamVersion == UInt64(i + 1) && !r.duplicate)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(node.store.head.sequence == 321, "the admin token's event and 320")
        #expect(try node.store.verify().isIntact)
        await client.close()
        await node.stop()
    }
}
