public import DocketCore
public import DocketWire
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// What can go wrong talking to a node.
public enum DocketClientError: Error, Sendable, CustomStringConvertible {
    /// The node answered with an ERROR frame: its code and message are the node's.
    case server(ErrorBody)
    /// The connection dropped (or could not be made) and the request could not be retried.
    case connectionLost(String)
    /// The node sent something this client does not understand.
    case protocolViolation(String)
    /// A view read in pages kept changing between its pages.
    case viewKeptChanging(String)

    /// `code: message`, as a node's own errors read: the codes of the client's own failures are
    /// `connection-lost` (which includes a node that could not be reached), `protocol-violation`
    /// and `view-kept-changing`.
    public var description: String {
        switch self {
        case .server(let e): "\(e.code): \(e.message)"
        case .connectionLost(let why): "connection-lost: \(why)"
        case .protocolViolation(let why): "protocol-violation: \(why)"
        case .viewKeptChanging(let why): "view-kept-changing: \(why)"
        }
    }

    /// The server's error code, if it was one.
    public var code: String? {
        if case .server(let e) = self { return e.code }
        return nil
    }
}

/// An async client for a Docket node: one connection, reused; requests pipelined on it (each
/// with its own id, answered in order); reconnects when the connection drops and retries what
/// is safe to retry: reads, queries and appends (appends carry event ids, so a retry after a
/// lost answer is answered with the original result instead of appending twice).
public final class DocketClient: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var token: String
        public var useTLS = false
        /// PEM file of the CA that signed the node's certificate; the system trust store otherwise.
        public var trustRootsPath: String?
        public var maximumFrameLength = Frame.defaultMaximumLength
        public var reconnectAttempts = 3
        /// How long a node has to answer HELLO and AUTH once connected: something that accepts
        /// connections and never answers (a stopped node, another service) is given up on.
        public var handshakeTimeout: Duration = .seconds(10)
        /// A follower (`not-leader`) or deposed leader (`fenced`) names the node that takes
        /// writes; go there and ask again (nothing was done by the refusing node), at most this
        /// many times per request, and only to one of `nodes`. 0 turns it off.
        public var leaderRedirects = 3
        /// The ledger's other nodes (`HOST:PORT`, spelled as the nodes name each other) that a
        /// redirect may lead to. The address a redirect names is whatever the refusing node was
        /// told by a FENCE or a promotion, which any holder of a replica token can send; following
        /// it anywhere would hand this client's token, and its request, to that address. So a
        /// redirect to an address not listed here is not followed: the refusal is returned,
        /// naming it.
        public var nodes: [String] = []

        public init(host: String, port: Int, token: String) {
            self.host = host
            self.port = port
            self.token = token
        }

        /// Parses `HOST:PORT[,HOST:PORT…]`: the node to talk to, then the other nodes of its
        /// ledger that a redirect may lead to (`nodes`).
        public init(address: String, token: String) throws(DocketClientError) {
            let addresses: (first: String, others: [String])
            switch HostPort.list(address) {
            case .success(let parsed): addresses = parsed
            case .failure(let error): throw .connectionLost(error.message)
            }
            let parsed = HostPort(addresses.first)!  // checked by list
            self.init(host: parsed.host, port: parsed.port, token: token)
            nodes = addresses.others
        }

        /// Whether a redirect may go to `host:port`: the configured node, or one of `nodes`.
        public func mayRedirect(to host: String, _ port: Int) -> Bool {
            (host == self.host && port == self.port) || nodes.contains { HostPort($0).map { $0.host == host && $0.port == port } ?? false }
        }
    }

    public let configuration: Configuration
    let group: any EventLoopGroup
    private let connection = Mutex<Connection?>(nil)
    private let connecting = Mutex<Task<Connection, any Error>?>(nil)
    private let nextID = Atomic<UInt32>(1)
    private let welcome = Mutex<Value?>(nil)
    private let authenticated = Mutex<Value?>(nil)
    /// Where requests go: the configured node, or the leader it named.
    private let target: Mutex<(host: String, port: Int)>

    /// The node requests go to now (`HOST:PORT`): the configured one, or the leader it named.
    public var address: String { target.withLock { "\($0.host):\($0.port)" } }

    /// What the node said when the connection was made (WELCOME: version, ledger id, limits).
    public var serverInfo: Value? { welcome.withLock { $0 } }

    /// Who the token made this client, as the node said when it was accepted (AUTHENTICATED:
    /// `role`, `subject`, `project`, `token`); nil before the first connection.
    public var principal: Value? { authenticated.withLock { $0 } }

    /// Clients share NIO's process-wide event loop group: many clients cost no extra threads.
    public init(_ configuration: Configuration) {
        self.configuration = configuration
        self.group = MultiThreadedEventLoopGroup.singleton
        self.target = Mutex((configuration.host, configuration.port))
    }

    /// Connects now (otherwise the first request does), so errors in the address or token show early.
    public func connect() async throws {
        _ = try await current()
    }

    public func close() async {
        let c = connection.withLock { c in defer { c = nil }; return c }
        if let c { try? await c.channel.close() }
    }

    // MARK: Requests

    /// Sends one request and waits for its answer; an ERROR answer throws `.server`.
    public func request(_ type: FrameType, _ body: Value, retry: Bool) async throws(DocketClientError) -> Frame {
        try await request(retry: retry) { Frame(type, requestID: $0, body: body) }
    }

    /// Sends the frame `make` builds for a request id and waits for its answer.
    func request(retry: Bool, _ make: (UInt32) -> Frame) async throws(DocketClientError) -> Frame {
        var attempt = 0
        var redirects = 0
        while true {
            attempt += 1
            do {
                let conn = try await current()
                let id = nextID.add(1, ordering: .relaxed).oldValue
                let answer = try await conn.send(make(id))
                if answer.type == .error { throw DocketClientError.server(ErrorBody(answer.body)) }
                return answer
            } catch DocketClientError.server(let e) where ["not-leader", "fenced"].contains(e.code) && redirects < configuration.leaderRedirects {
                // The node did nothing and named the leader: ask there (any request, even ADMIN).
                guard let leader = e.details?["leader"]?.stringValue, let (host, port) = HostPort(leader).map({ ($0.host, $0.port) }), (host, port) != target.withLock({ $0 })
                else { throw DocketClientError.server(e) }
                guard configuration.mayRedirect(to: host, port) else {
                    var refused = e
                    refused.message += "; not followed: \(leader) is not one of this client's nodes (if it is one of your ledger's nodes, list them all: --server \(configuration.host):\(configuration.port),HOST:PORT…)"
                    throw DocketClientError.server(refused)
                }
                redirects += 1
                attempt -= 1
                target.withLock { $0 = (host, port) }
                let old = connection.withLock { c in defer { c = nil }; return c }
                if let old { try? await old.channel.close() }
            } catch let error as DocketClientError {
                guard case .connectionLost = error, retry, attempt <= configuration.reconnectAttempts else { throw error }
                connection.withLock { $0 = nil }
                try? await Task.sleep(for: .milliseconds(50 * attempt))
            } catch {
                throw .connectionLost("\(error)")
            }
        }
    }

    public struct Appended: Sendable, Hashable {
        public var firstSequence: UInt64
        public var lastSequence: UInt64
        public var streamVersion: UInt64
        public var recordedAt: Timestamp
        public var duplicate: Bool
    }

    /// Appends events (administrators); durable when it returns.
    /// Sent as APPEND_EVENTS: the payloads travel as they are already encoded.
    public func append(to stream: StreamName, expecting expected: ExpectedVersion = .any, events: [ProposedEvent]) async throws(DocketClientError) -> Appended {
        var w = BinaryWriter(capacity: 64 + events.count * 256)
        ProposedEventCodec.encode(stream: stream, expected: expected, events: events, into: &w)
        let body = ByteBuffer(bytes: w.bytes)
        let f = try await request(retry: true) { Frame(.appendEvents, requestID: $0, binary: body) }
        // (A negative number from a faulty node reads as 0, not a trap in the client.)
        func count(_ key: String) -> UInt64 { UInt64(max(f.body[key]?.intValue ?? 0, 0)) }
        return Appended(
            firstSequence: count("first"), lastSequence: count("last"), streamVersion: count("version"),
            recordedAt: (try? Timestamp(rfc3339: f.body["recordedAt"]?.stringValue ?? "")) ?? Timestamp(microseconds: 0),
            duplicate: f.body["duplicate"]?.boolValue ?? false)
    }

    /// Up to one frame's worth of events from `sequence` (or a stream's version) on.
    public func read(from sequence: UInt64 = 1, limit: Int = 1024, stream: StreamName? = nil) async throws(DocketClientError) -> [RecordedEvent] {
        var body: [(key: String, value: Value)] = [("from", .int(Int64(sequence))), ("limit", .int(Int64(limit)))]
        if let stream { body.append(("stream", .string(stream.rawValue))) }
        let f = try await request(.read, .object(body), retry: true)
        var out: [RecordedEvent] = []
        for e in f.body["events"]?.arrayValue ?? [] {
            do { out.append(try RecordedEvent(wire: e)) } catch { throw .protocolViolation(error.message) }
        }
        return out
    }

    /// Runs a lifecycle command; returns the COMMAND_RESULT body. Retried safely: the command
    /// carries an event id (a random one unless given).
    /// With `creditFromPolicy`, a submission's reporter gets the project policy's credit default.
    public func command(
        _ command: ReportCommand, report: String, at: Timestamp? = nil, eventID: EventID? = nil, creditFromPolicy: Bool = false
    ) async throws(DocketClientError) -> Value {
        var body: [(key: String, value: Value)] = [("report", .string(report)), ("command", command.wireValue)]
        if creditFromPolicy { body.append(("creditFromPolicy", .bool(true))) }
        body.append(("id", .string((eventID ?? .random()).rawValue)))
        if let at { body.append(("at", .string(at.rfc3339))) }
        return try await request(.command, .object(body), retry: true).body
    }

    /// The answer to a view query. The state and timers views, which grow with the ledger, are
    /// read in pages of at most `pageSize` reports (fewer, down to one, while a page would be over
    /// the node's frame limit) and returned whole, as one answer: `{"rows": [...]}`. Every page
    /// after the first evaluates the clocks at the first page's instant (`at`), and if the view
    /// changed between two pages (its `version`) it is read again from the first page, up to three
    /// times, then given up on (`viewKeptChanging`) rather than returned as a mixture of moments.
    /// A view of the past (`asOf`) is asked for whole first, as its pages would each fold the log.
    public func query(_ query: ViewQuery, asOf: AsOfSpec = .now, pageSize: Int = 2000) async throws(DocketClientError) -> Value {
        guard ViewPage.pages(query) else { return try await queryPage(query, asOf: asOf, nil) }
        if asOf != .now {
            do { return try await queryPage(query, asOf: asOf, nil) } catch where error.code == "answer-too-large" {}
        }
        var limit = min(max(pageSize, 1), ViewPage.maximumLimit)
        for _ in 0..<3 {
            var rows: [Value] = []
            var after: String?
            var first: (version: String, at: Timestamp?)?
            var cursors: Set<String> = []
            var lagging: Value?
            reading: while true {
                let answer: Value
                do {
                    answer = try await queryPage(query, asOf: asOf, ViewPage(limit: limit, after: after, at: asOf == .now ? first?.at : nil))
                } catch where error.code == "answer-too-large" && limit > 1 {
                    limit = max(limit / 2, 1)
                    continue
                } catch where error.code == ViewPage.expired && after != nil {
                    // The node no longer shows the report the last page ended with, or no longer
                    // takes the first page's instant (another node after a reconnection, one that
                    // lags, a clock stepped): read the view again from its first page.
                    break reading
                }
                guard let got = answer["rows"]?.arrayValue else { throw .protocolViolation("a page of the \(query.name) view without \"rows\"") }
                // A node that predates pages answers the whole view.
                guard let version = answer["version"]?.stringValue else {
                    if after == nil && answer["next"] == nil { return .object([("rows", .array(got))]) }
                    throw .protocolViolation("a page of the \(query.name) view without \"version\"")
                }
                if let first, first.version != version { break reading }
                // A follower that lagged for any page says so for the whole view.
                if lagging == nil { lagging = answer["replication"] }
                if first == nil { first = (version, answer["at"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) }) }
                rows += got
                guard let next = answer["next"]?.stringValue else {
                    // What the node says of events in no view (`undecodable`) and of a follower's
                    // replication (`replication`, when it may lag), with the rows.
                    let notes = [("undecodable", answer["undecodable"]), ("replication", lagging)].compactMap { key, value in value.map { (key: key, value: $0) } }
                    return .object([("rows", .array(rows))] + notes)
                }
                // Each page must move on, or a faulty node would be asked for ever.
                guard cursors.insert(next).inserted else {
                    throw .protocolViolation("the \(query.name) view's pages named \(next) as the next page twice")
                }
                after = next
            }
        }
        throw .viewKeptChanging(
            "the \(query.name) view changed while it was read in pages, three times over: try again, or narrow the view so that it fits fewer pages")
    }

    /// One QUERY: the whole view, or the page asked for (its answer has `next`, `version` and `at` too).
    public func queryPage(_ query: ViewQuery, asOf: AsOfSpec = .now, _ page: ViewPage?) async throws(DocketClientError) -> Value {
        var body = query.wireValue
        if case .object(var m) = body, asOf != .now {
            m.append(("asOf", asOf.wireValue))
            body = .object(m)
        }
        if let page { body = page.adding(to: body) }
        return try await request(.query, body, retry: true).body
    }

    public func status() async throws(DocketClientError) -> Value {
        try await request(.status, .object([]), retry: true).body
    }

    /// Administrative actions (`token-create`, `token-revoke`, `policy-adopt`); not retried.
    public func admin(_ action: String, _ arguments: [(key: String, value: Value)]) async throws(DocketClientError) -> Value {
        try await request(.admin, .object([("action", .string(action))] + arguments), retry: false).body
    }

    /// Events from `sequence` on, then new ones as they are appended. Asks for `window` events
    /// at a time, and grants more as its consumer takes them (flow control): a consumer slower
    /// than the log holds at most `window` events, received and not yet taken.
    public func subscribe(from sequence: UInt64, window: Int = 4096) -> EventSubscription {
        let window = max(window, 1)
        // The subscription once SUBSCRIBE is sent (until it ends), whether SUBSCRIBED came and
        // whether its consumer is gone, and the events taken since the last CREDIT.
        let state = Box(Mutex<(link: (connection: Connection, id: UInt32)?, subscribed: Bool, terminated: Bool, taken: Int)>((nil, false, false, 0)))
        let events = AsyncThrowingStream<RecordedEvent, any Error> { continuation in
            let task = Task {
                do {
                    let conn = try await current()
                    let id = nextID.add(1, ordering: .relaxed).oldValue
                    // Its consumer gone while connecting: no SUBSCRIBE at all.
                    guard state.value.withLock({ s in
                        if s.terminated { return false }
                        s.link = (conn, id)
                        return true
                    }) else {
                        continuation.finish()
                        return
                    }
                    let frames = conn.openStream(id)
                    conn.write(Frame(.subscribe, requestID: id, body: .object([("from", .int(Int64(sequence))), ("credit", .int(Int64(window)))])))
                    for try await frame in frames {
                        switch frame.type {
                        case .subscribed:
                            // A consumer gone before the node took the subscription: it is
                            // unsubscribed now (an UNSUBSCRIBE sent earlier could overtake the SUBSCRIBE).
                            if state.value.withLock({ s in s.subscribed = true; return s.terminated }) {
                                Self.unsubscribe(conn, id)
                                return
                            }
                        case .error: throw DocketClientError.server(ErrorBody(frame.body))
                        case .events:
                            for e in frame.body["events"]?.arrayValue ?? [] { continuation.yield(try RecordedEvent(wire: e)) }
                        default: throw DocketClientError.protocolViolation("unexpected \(frame.type) on a subscription")
                        }
                    }
                    state.value.withLock { $0.link = nil }
                    continuation.finish()
                } catch {
                    // (An ERROR ended it on the node's side: no CREDIT or UNSUBSCRIBE follows.)
                    state.value.withLock { $0.link = nil }
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in
                // Tell the node, so the subscription does not outlive its consumer; if SUBSCRIBE
                // is not yet answered, the task does when SUBSCRIBED comes.
                enum Then { case unsubscribe(Connection, UInt32), cancel, awaitSubscribed }
                let then = state.value.withLock { s -> Then in
                    s.terminated = true
                    guard let link = s.link else { return .cancel }  // not yet asked, or already ended
                    s.link = nil
                    return s.subscribed ? .unsubscribe(link.connection, link.id) : .awaitSubscribed
                }
                switch then {
                case .unsubscribe(let conn, let id):
                    Self.unsubscribe(conn, id)
                    task.cancel()
                case .cancel:
                    task.cancel()
                case .awaitSubscribed:
                    break
                }
            }
        }
        return EventSubscription(events: events) { [self] in
            let grant = state.value.withLock { s -> (connection: Connection, id: UInt32, credit: Int)? in
                s.taken += 1
                guard s.taken >= max(window / 2, 1), let link = s.link else { return nil }
                defer { s.taken = 0 }
                return (link.connection, link.id, s.taken)
            }
            guard let grant else { return }
            // Its own request id: an error about it must not read as connection-level (id 0).
            let creditID = nextID.add(1, ordering: .relaxed).oldValue
            grant.connection.write(
                Frame(.credit, requestID: creditID, body: .object([("subscription", .int(Int64(grant.id))), ("credit", .int(Int64(grant.credit)))])))
        }
    }

    /// Ends subscription `id` on the node and here (request id 0: UNSUBSCRIBE has no answer,
    /// nor one for a subscription the node already ended).
    private static func unsubscribe(_ conn: Connection, _ id: UInt32) {
        conn.write(Frame(.unsubscribe, requestID: 0, body: .object([("subscription", .int(Int64(id)))])))
        conn.closeStream(id)
    }

    // MARK: Connection

    /// The live connection, or a new one. Concurrent callers share one connection attempt.
    private func current() async throws(DocketClientError) -> Connection {
        if let c = connection.withLock({ $0 }), c.channel.isActive { return c }
        let attempt = connecting.withLock { pending -> Task<Connection, any Error> in
            if let pending { return pending }
            let t = Task { () async throws -> Connection in try await self.handshake() }
            pending = t
            return t
        }
        do {
            let c = try await attempt.value
            connecting.withLock { if $0 == attempt { $0 = nil } }
            return c
        } catch {
            connecting.withLock { if $0 == attempt { $0 = nil } }
            if let e = error as? DocketClientError { throw e }
            throw .connectionLost("\(error)")
        }
    }

    private func handshake() async throws(DocketClientError) -> Connection {
        var configuration = self.configuration
        (configuration.host, configuration.port) = target.withLock { $0 }
        let c = try await Connection.open(configuration, group: group)
        let deadline = c.failAll(
            after: configuration.handshakeTimeout,
            .connectionLost(
                "\(HostPort(host: configuration.host, port: configuration.port)) accepted the connection but did not answer the handshake within \(configuration.handshakeTimeout): is a Docket node serving there, and not stopped?"
            ))
        defer { deadline.cancel() }
        // HELLO, then AUTH.
        let hello = try await c.send(Frame(.hello, requestID: 0, body: .object([("versions", .array([.int(Frame.protocolVersion)])), ("client", .string("docket-client/\(DocketVersion.current)"))])))
        guard hello.type == .welcome else {
            try? await c.channel.close()
            if hello.type == .error { throw .server(ErrorBody(hello.body)) }
            throw .protocolViolation("expected WELCOME, got \(hello.type)")
        }
        welcome.withLock { $0 = hello.body }
        let auth = try await c.send(Frame(.auth, requestID: 0, body: .object([("token", .string(configuration.token))])))
        guard auth.type == .authenticated else {
            try? await c.channel.close()
            if auth.type == .error { throw .server(ErrorBody(auth.body)) }
            throw .protocolViolation("expected AUTHENTICATED, got \(auth.type)")
        }
        authenticated.withLock { $0 = auth.body }
        connection.withLock { $0 = c }
        return c
    }
}

/// One TCP (or TLS) connection and the answers it is waiting for.
final class Connection: Sendable {
    let channel: any Channel
    private let router: Router

    private init(channel: any Channel, router: Router) {
        self.channel = channel
        self.router = router
    }

    static func open(_ configuration: DocketClient.Configuration, group: any EventLoopGroup) async throws(DocketClientError) -> Connection {
        let router = Router()
        var sslContext: NIOSSLContext?
        if configuration.useTLS {
            do {
                var tls = TLSConfiguration.makeClientConfiguration()
                if let roots = configuration.trustRootsPath { tls.trustRoots = .file(roots) }
                sslContext = try NIOSSLContext(configuration: tls)
            } catch { throw .connectionLost("TLS: \(error)") }
        }
        let host = configuration.host
        let tlsContext = sslContext
        let maximumFrameLength = configuration.maximumFrameLength
        let bootstrap = ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.configureSocket()
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext { try sync.addHandler(try NIOSSLClientHandler(context: tlsContext, serverHostname: HostPort.tlsServerName(host))) }
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: maximumFrameLength)))
                    try sync.addHandler(MessageToByteHandler(FrameEncoder()))
                    try sync.addHandler(router)
                }
            }
        let channel: any Channel
        do { channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get() } catch {
            throw .connectionLost("cannot connect to \(configuration.host):\(configuration.port): \(Self.connectFailure(error))")
        }
        let c = Connection(channel: channel, router: router)
        return c
    }

    /// Why a connection could not be made, in a person's words rather than NIO's.
    static func connectFailure(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return connectFailure(first.error) }
            if let dns = e.dnsAAAAError ?? e.dnsAError { return "cannot resolve the host name (\(dns))" }
            return "no address to connect to"
        }
        guard let io = error as? IOError else { return "\(error)" }
        let reason = String(cString: strerror(io.errnoCode))
        return io.errnoCode == ECONNREFUSED ? "\(reason) (is a node listening there?)" : reason
    }

    func send(_ frame: Frame) async throws(DocketClientError) -> Frame {
        do {
            return try await withCheckedThrowingContinuation { (k: CheckedContinuation<Frame, any Error>) in
                let added = router.pending.withLock { p -> Bool in
                    guard channel.isActive else { return false }
                    p[frame.requestID] = k
                    return true
                }
                guard added else {
                    k.resume(throwing: DocketClientError.connectionLost("the connection is closed"))
                    return
                }
                channel.writeAndFlush(frame).whenFailure { error in
                    if let k = self.router.pending.withLock({ $0.removeValue(forKey: frame.requestID) }) {
                        k.resume(throwing: DocketClientError.connectionLost("\(error)"))
                    }
                }
            }
        } catch let e as DocketClientError {
            throw e
        } catch {
            throw .connectionLost("\(error)")
        }
    }

    func write(_ frame: Frame) { channel.writeAndFlush(frame, promise: nil) }

    /// Fails whatever waits on the connection with `error`, and closes it, unless cancelled
    /// within `delay`.
    func failAll(after delay: Duration, _ error: DocketClientError) -> Scheduled<Void> {
        channel.eventLoop.scheduleTask(in: TimeAmount(delay)) { [router, channel] in
            router.failAll(error)
            channel.close(promise: nil)
        }
    }

    func openStream(_ id: UInt32) -> AsyncThrowingStream<Frame, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Frame, any Error>.makeStream()
        router.streams.withLock { $0[id] = continuation }
        return stream
    }

    /// Forgets the stream of `id` (its consumer is gone): frames still on their way for it are dropped.
    func closeStream(_ id: UInt32) {
        router.streams.withLock { $0.removeValue(forKey: id) }?.finish()
    }
}

/// A lock shared by closures (a `Mutex` cannot be copied into them).
final class Box<Value: ~Copyable & Sendable>: Sendable {
    let value: Value
    init(_ value: consuming Value) { self.value = value }
}

/// A subscription's events, as its consumer takes them (`DocketClient.subscribe`).
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let events: AsyncThrowingStream<RecordedEvent, any Error>
    /// Called for each event taken: grants the node credit for it, in batches.
    let taken: @Sendable () -> Void

    public struct AsyncIterator: AsyncIteratorProtocol {
        var events: AsyncThrowingStream<RecordedEvent, any Error>.AsyncIterator
        let taken: @Sendable () -> Void

        public mutating func next() async throws -> RecordedEvent? {
            guard let event = try await events.next() else { return nil }
            taken()
            return event
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(events: events.makeAsyncIterator(), taken: taken) }
}

/// Hands each answer to whoever waits for its request id.
final class Router: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame

    let pending = Mutex<[UInt32: CheckedContinuation<Frame, any Error>]>([:])
    let streams = Mutex<[UInt32: AsyncThrowingStream<Frame, any Error>.Continuation]>([:])

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let s = streams.withLock({ $0[frame.requestID] }) {
            s.yield(frame)
            if frame.type == .error {
                // An ERROR ends a subscription on the node's side: nothing more comes for it.
                s.finish()
                streams.withLock { _ = $0.removeValue(forKey: frame.requestID) }
            }
            return
        }
        if let k = pending.withLock({ $0.removeValue(forKey: frame.requestID) }) {
            k.resume(returning: frame)
            return
        }
        // A connection-level ERROR (request 0) closes the connection: fail everything waiting.
        // (One with another id answers a request nobody waits for any more: a CREDIT or an
        // UNSUBSCRIBE of a subscription that ended meanwhile.)
        if frame.type == .error && frame.requestID == 0 { failAll(DocketClientError.server(ErrorBody(frame.body))) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(DocketClientError.connectionLost("the node closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(DocketClientError.connectionLost("\(error)"))
        context.close(promise: nil)
    }

    func failAll(_ error: DocketClientError) {
        let waiting = pending.withLock { p in defer { p.removeAll() }; return Array(p.values) }
        for k in waiting { k.resume(throwing: error) }
        let open = streams.withLock { s in defer { s.removeAll() }; return Array(s.values) }
        for s in open { s.finish(throwing: error) }
    }
}
