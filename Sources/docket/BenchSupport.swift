import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import DocketWire
import Logging
import NIOCore
import NIOPosix

// What the benchmarks share: an in-process node, a synthetic fill, a network load, percentiles.

/// A node of a network benchmark, in this process, on loopback.
struct BenchNode {
    let store: EventStore
    let server: DocketServer
    let runner: Task<Void, any Error>
    let port: Int

    var address: String { "127.0.0.1:\(port)" }
    var ledger: Ledger { server.ledger }

    static func start(
        _ dir: String, replication: ReplicationConfiguration = ReplicationConfiguration(), ledgerID: String? = nil, maximumConnections: Int = 4096
    ) async throws -> BenchNode {
        var sc = EventStore.Configuration()
        sc.ledgerID = ledgerID
        let store = try EventStore.open(directory: dir, configuration: sc)
        var c = ServerConfiguration()
        c.port = 0
        c.maximumConnections = maximumConnections
        // Every benchmark client is on loopback.
        c.maximumConnectionsPerAddress = maximumConnections
        c.replication = replication
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let server = DocketServer(ledger: Ledger(store: store, dataDir: dir), configuration: c, logger: logger)
        let runner = Task { try await server.run() }
        guard let port = await server.localAddress()?.port else { throw CLIError("a benchmark node did not start") }
        return BenchNode(store: store, server: server, runner: runner, port: port)
    }

    func follower(_ dir: String, token: String) async throws -> BenchNode {
        var r = ReplicationConfiguration()
        r.leader = address
        r.token = token
        return try await BenchNode.start(dir, replication: r, ledgerID: store.ledgerID)
    }

    func token(_ role: Role) async throws -> String {
        try await Tokens(ledger: ledger).create(role: role, project: nil, subject: "bench-\(role)", expiresAt: nil, by: .local(actor: "bench")).1
    }

    func stop() async {
        server.shutdown()
        _ = try? await runner.value
        store.close()
    }
}

/// Fills `store` with synthetic events up to `count` events, 1000 per append, one report stream
/// per append (replay and replication costs do not depend on the streams).
func fillSynthetic(_ store: EventStore, to count: Int) async throws {
    var i = Int(store.head.sequence)
    while i < count {
        let n = min(1000, count - i)
        let generated = (i..<i + n).map { SyntheticEvents.event($0) }
        _ = try await store.append(to: generated[0].stream, events: generated.map(\.event))
        i += n
    }
}

/// `connections` clients, each appending `batch` events per append to a stream of its own, one
/// append at a time, for `seconds`.
struct NetworkLoad {
    let events: Int
    let elapsed: Double
    /// Each append's round trip, in milliseconds, sorted.
    let latencies: [Double]

    var eventsPerSecond: Double { Double(events) / elapsed }
    var appendsPerSecond: Double { Double(latencies.count) / elapsed }
    func percentile(_ p: Double) -> Double { docket.percentile(latencies, p) }

    /// `count` events from `pool`, starting at `i` (wrapping around), with fresh ids.
    static func batch(from pool: [ProposedEvent], at i: Int, count: Int) -> [ProposedEvent] {
        var events = Array(pool[(i % pool.count)...].prefix(count))
        if events.count < count { events += pool.prefix(count - events.count) }
        for j in events.indices { events[j].id = .random() }
        return events
    }

    static func run(address: String, token: String, connections: Int, batch: Int, seconds: Double) async throws -> NetworkLoad {
        let clients = try (0..<connections).map { _ in DocketClient(try DocketClient.Configuration(address: address, token: token)) }
        for c in clients { try await c.connect() }
        // The load generator should not be what is measured (redis-benchmark sends one fixed
        // payload): events are made up front, and each append only gives them fresh ids.
        let pool = (0..<max(batch, 4096)).map { SyntheticEvents.event($0).event }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(seconds * 1000))
        let (events, latencies) = try await withThrowingTaskGroup(of: (Int, [Double]).self) { group in
            for (k, client) in clients.enumerated() {
                group.addTask {
                    var latencies: [Double] = []
                    var appended = 0
                    var i = k * 10_000_000
                    let stream = try StreamName("net-\(k)")
                    while clock.now < deadline {
                        let events = NetworkLoad.batch(from: pool, at: i, count: batch)
                        i += batch
                        let t0 = clock.now
                        _ = try await client.append(to: stream, events: events)
                        latencies.append(Double((clock.now - t0).microseconds) / 1000)
                        appended += batch
                    }
                    return (appended, latencies)
                }
            }
            var total = 0
            var all: [Double] = []
            for try await (n, l) in group {
                total += n
                all += l
            }
            return (total, all.sorted())
        }
        let elapsed = Double((clock.now - start).microseconds) / 1e6
        for c in clients { await c.close() }
        return NetworkLoad(events: events, elapsed: elapsed, latencies: latencies)
    }
}

extension NetworkLoad {
    /// The same load without the client library: every connection's frames are encoded, written
    /// and read on one event-loop thread, as `redis-benchmark` drives Redis, so that the latency
    /// is the node's and not also the client's thread hops (task → event loop → task).
    static func runRaw(address: String, token: String, connections: Int, batch: Int, seconds: Double) async throws -> NetworkLoad {
        guard let target = HostPort(address) else { throw CLIError("\"\(address)\" is not HOST:PORT") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let pool = (0..<max(batch, 4096)).map { SyntheticEvents.event($0).event }
            let start = NIODeadline.now()
            let deadline = start + .milliseconds(Int64(seconds * 1000))
            var runs: [EventLoopFuture<RawAppender.Outcome>] = []
            for k in 0..<connections {
                let done = group.next().makePromise(of: RawAppender.Outcome.self)
                let stream = try StreamName("net-\(k)")
                let bootstrap = ClientBootstrap(group: group)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.configureSocket()
                            let sync = channel.pipeline.syncOperations
                            try sync.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: Frame.defaultMaximumLength)))
                            try sync.addHandler(MessageToByteHandler(FrameEncoder()))
                            try sync.addHandler(
                                RawAppender(token: token, stream: stream, pool: pool, batch: batch, first: k * 10_000_000, deadline: deadline, done: done))
                        }
                    }
                do { _ = try await bootstrap.connect(host: target.host, port: target.port).get() } catch {
                    done.fail(error)
                    throw error
                }
                runs.append(done.futureResult)
            }
            var events = 0
            var latencies: [Double] = []
            for run in runs {
                let outcome = try await run.get()
                events += outcome.events
                latencies += outcome.latencies
            }
            let elapsed = Double((NIODeadline.now() - start).nanoseconds) / 1e9
            try await group.shutdownGracefully()
            return NetworkLoad(events: events, elapsed: elapsed, latencies: latencies.sorted())
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }
}

/// One connection of `NetworkLoad.runRaw`: HELLO, AUTH, then APPEND_EVENTS after APPEND_EVENTS,
/// each sent the moment the previous one is answered, until the deadline.
private final class RawAppender: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    struct Outcome: Sendable {
        var events = 0
        var latencies: [Double] = []
    }

    private let token: String
    private let stream: StreamName
    private let pool: [ProposedEvent]
    private let batch: Int
    private let deadline: NIODeadline
    private let done: EventLoopPromise<Outcome>
    private var next: Int
    private var outcome = Outcome()
    private var sentAt = NIODeadline.now()
    private var requestID: UInt32 = 0
    private var finished = false

    init(token: String, stream: StreamName, pool: [ProposedEvent], batch: Int, first: Int, deadline: NIODeadline, done: EventLoopPromise<Outcome>) {
        self.token = token
        self.stream = stream
        self.pool = pool
        self.batch = batch
        self.next = first
        self.deadline = deadline
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        let hello = Frame(.hello, requestID: 0, body: .object([("versions", .array([.int(Frame.protocolVersion)])), ("client", .string("docket-bench"))]))
        context.writeAndFlush(wrapOutboundOut(hello), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.type {
        case .welcome:
            context.writeAndFlush(wrapOutboundOut(Frame(.auth, requestID: 0, body: .object([("token", .string(token))]))), promise: nil)
        case .authenticated:
            sendAppend(context)
        case .appended:
            outcome.latencies.append(Double((NIODeadline.now() - sentAt).nanoseconds) / 1e6)
            outcome.events += batch
            if NIODeadline.now() < deadline {
                sendAppend(context)
            } else {
                finish(context, .success(outcome))
            }
        default:
            finish(context, .failure(CLIError("the node answered \(frame.type): \(frame.body)")))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished { finish(context, .failure(CLIError("the node closed the connection"))) }
    }

    private func sendAppend(_ context: ChannelHandlerContext) {
        let events = NetworkLoad.batch(from: pool, at: next, count: batch)
        next += batch
        var w = BinaryWriter(capacity: 64 + batch * 320)
        ProposedEventCodec.encode(stream: stream, expected: .any, events: events, into: &w)
        requestID &+= 1
        sentAt = .now()
        context.writeAndFlush(wrapOutboundOut(Frame(.appendEvents, requestID: requestID, binary: ByteBuffer(bytes: w.bytes))), promise: nil)
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<Outcome, any Error>) {
        guard !finished else { return }
        finished = true
        done.completeWith(result)
        context.close(promise: nil)
    }
}

/// The `p` quantile of `sorted` (0 when empty), to the microsecond.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : round3(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
}

/// CPU time (user + system) this process has used, on all its threads, in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
