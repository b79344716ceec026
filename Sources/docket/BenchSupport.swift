import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Logging
import NIOCore

// What the benchmarks share: an in-process node, a synthetic fill, a network load, percentiles.

/// A node of a network benchmark, in this process, on loopback.
struct BenchNode {
    let store: EventStore
    let server: DocketServer
    let runner: Task<Void, any Error>
    let port: Int

    var address: String { "127.0.0.1:\(port)" }
    var ledger: Ledger { server.ledger }

    static func start(_ dir: String, replication: ReplicationConfiguration = ReplicationConfiguration(), ledgerID: String? = nil) async throws -> BenchNode {
        var sc = EventStore.Configuration()
        sc.ledgerID = ledgerID
        let store = try EventStore.open(directory: dir, configuration: sc)
        var c = ServerConfiguration()
        c.port = 0
        c.maximumConnections = 4096
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
                        var events = Array(pool[(i % pool.count)...].prefix(batch))
                        if events.count < batch { events += pool.prefix(batch - events.count) }
                        for j in events.indices { events[j].id = .random() }
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

/// The `p` quantile of `sorted` (0 when empty), to the microsecond.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : round3(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
}
