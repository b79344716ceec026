import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketTestSupport
import DocketWire
import Foundation
import Logging
import NIOCore
import Testing


/// A node on a real loopback socket over a fresh data directory, with an admin token.
final class TestNode: @unchecked Sendable {
    let dir: String
    let store: EventStore
    let server: DocketServer
    let runner: Task<Void, any Error>
    let port: Int
    let adminToken: String

    init(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        dir = makeTemporaryDirectory()
        store = try EventStore.open(directory: dir)
        let ledger = Ledger(store: store, dataDir: dir)
        (_, adminToken) = try await Tokens(ledger: ledger).create(role: .admin, project: nil, subject: "root", expiresAt: nil, by: .local(actor: "test"))
        var configuration = ServerConfiguration()
        configuration.port = 0
        // Every suite runs in one process on two cores, sharing Swift's two cooperative threads: a
        // HELLO and AUTH that take a moment on a node took over the 10 s default twice under the
        // whole suite's load. The tests of the timeout set their own.
        configuration.handshakeTimeout = .seconds(60)
        configure(&configuration)
        var logger = Logger(label: "test-node")
        logger.logLevel = .critical
        server = DocketServer(ledger: ledger, configuration: configuration, logger: logger)
        let server = self.server
        runner = Task { try await server.run() }
        guard let address = await server.localAddress(), let port = address.port else { throw TestFailure("the server did not bind") }
        self.port = port
    }

    var ledger: Ledger { server.ledger }

    /// A client of the node, which waits for its handshake as long as the node does (above).
    func client(_ token: String? = nil) -> DocketClient {
        var configuration = DocketClient.Configuration(host: "127.0.0.1", port: port, token: token ?? adminToken)
        configuration.handshakeTimeout = .seconds(60)
        return DocketClient(configuration)
    }

    func token(_ role: Role, project: String? = nil, name: String, expiresAt: Timestamp? = nil) async throws -> String {
        try await Tokens(ledger: ledger).create(role: role, project: project, subject: name, expiresAt: expiresAt, by: .local(actor: "test")).1
    }

    /// Adopts the synthetic reports' policy for each of `projects` (now; reports dated before it
    /// are held to it as the project's earliest): a project takes reports once it has a policy.
    func adopt(_ projects: String...) async throws {
        let policy = try Policy.parse(SyntheticReports.policyText, file: "synthetic")
        for project in projects {
            _ = try await ledger.appendProjectEvent(
                .policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: .utc)), project: project, as: .local(actor: "test"), at: nil)
        }
    }

    /// Graceful shutdown (what SIGTERM does), then the store is closed and the directory removed.
    func stop() async {
        server.shutdown()
        _ = try? await runner.value
        store.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension RawSocket {
    func send(_ frame: Frame) { send(FrameEncoder.bytes(frame)) }

    /// Reads frames until the peer closes (or 10 s of silence); returns them and whether it closed.
    func readUntilClosed() -> (frames: [Frame], closed: Bool) {
        let (bytes, closed) = readAll()
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        while let f = try? decoder.decodeFrame(&buffer) { frames.append(f) }
        return (frames, closed)
    }

    /// Reads exactly one frame (giving up after 10 s of silence).
    func readFrame() -> Frame? {
        var buffer = ByteBuffer()
        var decoder = FrameDecoder()
        while true {
            if let f = try? decoder.decodeFrame(&buffer) { return f }
            guard let b = readByte() else { return nil }
            buffer.writeInteger(b)
        }
    }

    /// Reads frames in 64 KiB gulps (not byte by byte: fast enough for megabytes of answers),
    /// handing each to `more` until it returns false or the connection ends (or 60 s of silence).
    func receiveFrames(_ more: (Frame) -> Bool) {
        var buffer = ByteBuffer()
        var decoder = FrameDecoder()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            while let f = try? decoder.decodeFrame(&buffer) {
                guard more(f) else { return }
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return }
            buffer.writeBytes(chunk[0..<n])
        }
    }

    /// HELLO and AUTH.
    func handshake(token: String) -> Bool {
        send(Frame(.hello, requestID: 1, body: ["versions": [1]]))
        guard readFrame()?.type == .welcome else { return false }
        send(Frame(.auth, requestID: 2, body: ["token": .string(token)]))
        return readFrame()?.type == .authenticated
    }
}

extension RawSocket {
    /// A socket to the node on `port` that has done HELLO and AUTH with `token` (nil if refused),
    /// waiting off the cooperative pool.
    static func authenticated(port: Int, token: String, receiveBuffer: Int32? = nil) async throws -> RawSocket? {
        try await offPool {
            let socket = try RawSocket(port: port, receiveBuffer: receiveBuffer)
            return socket.handshake(token: token) ? socket : nil
        }
    }

    /// `readFrame`, waiting off the cooperative pool.
    func nextFrame() async throws -> Frame? {
        await offPool { self.readFrame() }
    }
}

