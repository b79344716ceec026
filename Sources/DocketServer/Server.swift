import DocketCore
import DocketStore
import DocketWire
import Foundation
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// How a node listens and what it allows each connection.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 7411
    /// PEM files; both or neither.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var maximumConnections = 1024
    /// Connections from one IP address, those still in their handshake included: one host, even
    /// one that never authenticates, cannot take every slot.
    public var maximumConnectionsPerAddress = 128
    /// Connections in their handshake (not yet authenticated) at once. A new connection beyond
    /// them, or beyond `maximumConnections` while some are handshaking, closes the one that has
    /// been handshaking longest instead of being refused: strangers who never say HELLO cannot
    /// keep out a client that authenticates in milliseconds, and hold at most these slots, the
    /// rest of `maximumConnections` being for clients that authenticated. Clamped to
    /// `maximumConnections`.
    public var maximumHandshakingConnections = 256
    /// Requests a connection may have queued or running before the next is refused.
    public var maximumInFlightPerConnection = 256
    /// A connection that sends nothing (and has no subscription) for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(300)
    /// A connection must complete HELLO and AUTH within this.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// A frame must arrive whole within this of its first bytes (a 4 MiB frame: at 70 KB/s):
    /// each byte keeps a connection from going idle, so without it a client trickling a large
    /// frame would hold the memory buffered for it as long as it liked (`frame-timeout`).
    public var frameTimeout: TimeAmount = .seconds(60)
    public var maximumFrameLength = Frame.defaultMaximumLength
    /// Events per EVENTS frame (READ and subscriptions).
    public var eventsPerFrame = 1024
    /// Answers a connection may have written but its client not yet read before the node stops
    /// reading that connection's requests (until they drain to half of it): a client that does not
    /// read costs the node this much memory, not all it asks for.
    public var outboundBufferLimit = 4 << 20
    /// How often open connections are checked against their tokens: a connection whose token was
    /// revoked (replicated, on the leader) or has expired is closed within this, or within two of
    /// it if it was authenticating then; one revoked on this node is closed at once. (Every queued
    /// request checks its token first in any case.)
    public var tokenCheckInterval: Duration = .seconds(1)
    /// How long shutdown waits for requests in progress.
    public var drainTimeout: Duration = .seconds(10)
    public var eventLoopThreads = 2
    /// Threads that answer view queries. Each folds the log (from the start, for a view as of a
    /// past instant): queries beyond these wait their turn, and none holds the Swift threads every
    /// other request of every connection runs on.
    public var viewThreads = 2
    /// Following a leader, synchronous followers, the advertised address (Replication.swift).
    public var replication = ReplicationConfiguration()

    public init() {}
}

/// The node on the network: SwiftNIO, the length-prefixed protocol of `Schemas/protocol.md`,
/// authentication and roles, and graceful shutdown as a swift-service-lifecycle service.
///
/// Storage work never runs on an event loop: each connection's requests run in order on a task
/// of their own, and their answers are written back through the channel.
public final class DocketServer: Service, Sendable {
    public let ledger: Ledger
    public let configuration: ServerConfiguration
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    /// Where view queries run (`offload`).
    private let viewPool: NIOThreadPool
    let metrics = ServerMetrics()
    let replication: ReplicationHub
    private let bound: Mutex<(any Channel)?> = Mutex(nil)
    /// Open connections, how many each address holds (`addressKey`), and which have not yet
    /// authenticated.
    private let children = Mutex<Children>(Children())
    private struct Children {
        var channels: [ObjectIdentifier: (channel: any Channel, address: String)] = [:]
        var perAddress: [String: Int] = [:]
        /// Connections not yet authenticated, each with its place in the order they came in.
        var handshaking: [ObjectIdentifier: UInt64] = [:]
        var arrivals: UInt64 = 0
        /// Connections closed to make room that have not closed yet: they still hold sockets.
        var evicting: Set<ObjectIdentifier> = []

        /// Moves the connection that has been handshaking longest out of the handshake slots and
        /// into `evicting`.
        /// (Of those from `address`, if given.)
        mutating func oldestHandshake(from address: String? = nil) -> (any Channel)? {
            let candidates = address.map { a in handshaking.filter { channels[$0.key]?.address == a } } ?? handshaking
            guard let (id, _) = candidates.min(by: { $0.value < $1.value }) else { return nil }
            handshaking[id] = nil
            evicting.insert(id)
            return channels[id]?.channel
        }
    }
    /// Authenticated connections, so that a revoked or expired token ends those it opened, and
    /// how many sweeps of them after a revocation (`endRefusedSessions`) have begun: an AUTH whose token records were
    /// read before a sweep began may have read them before the revocation that sweep is for, and
    /// must not join the connections after the sweep has looked at them (`track`).
    private let sessions = Mutex<(open: [ObjectIdentifier: Session], sweeps: UInt64)>(([:], 0))
    /// Called by an AUTH between reading the token records and answering (tests hold it there).
    let afterTokenRecordsRead = Mutex<(@Sendable () async -> Void)?>(nil)
    /// The token records and the version of `system/tokens` they were read at: read again only
    /// when the stream has grown, not for every AUTH and every check.
    private let tokenCache = Mutex<(version: UInt64, records: [String: Tokens.Record])?>(nil)
    private let addressReady = AsyncStream<SocketAddress?>.makeStream()

    public init(ledger: Ledger, configuration: ServerConfiguration, logger: Logger) {
        self.ledger = ledger
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(configuration.eventLoopThreads, 1))
        self.viewPool = NIOThreadPool(numberOfThreads: max(configuration.viewThreads, 1))
        self.replication = ReplicationHub(ledger: ledger, configuration: configuration.replication, logger: logger)
    }

    /// The address it listens on, once bound (waits for it).
    public func localAddress() async -> SocketAddress? {
        if let a = bound.withLock({ $0?.localAddress }) { return a }
        for await a in addressReady.stream { return a }
        return bound.withLock { $0?.localAddress }
    }

    /// It will not listen (`run` failed before binding): whoever waits for its address is told,
    /// and its event loops stop.
    private func notListening() async {
        addressReady.continuation.yield(nil)
        addressReady.continuation.finish()
        try? await group.shutdownGracefully()
    }

    public func run() async throws {
        let sslContext: NIOSSLContext?
        do {
            try replication.prepare()
            do { sslContext = try makeTLSContext() } catch let error as ServerError { throw error } catch {
                throw ServerError("cannot load the TLS certificate or key: \(error)")
            }
        } catch {
            await notListening()
            throw error
        }
        let configuration = self.configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: configuration.outboundBufferLimit / 2, high: configuration.outboundBufferLimit))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.configureSocket()
                    let sync = channel.pipeline.syncOperations
                    if let sslContext { try sync.addHandler(NIOSSLServerHandler(context: sslContext)) }
                    try sync.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
                    // Small frames only until the client authenticates (ConnectionHandler raises it).
                    let limit = FrameLimit(
                        min(Frame.handshakeMaximumLength, configuration.maximumFrameLength), reason: "before authentication", frameTimeout: configuration.frameTimeout)
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
                    try sync.addHandler(MessageToByteHandler(FrameEncoder()))
                    try sync.addHandler(ConnectionHandler(server: self, frameLimit: limit))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            await notListening()
            let at = "\(configuration.host):\(configuration.port)"
            guard let io = error as? IOError else { throw ServerError("cannot listen on \(at): \(error)") }
            throw ServerError("cannot listen on \(at): \(String(cString: strerror(io.errnoCode)))\(Self.listenAdvice(errno: io.errnoCode))")
        }
        bound.withLock { $0 = channel }
        viewPool.start()  // shut down by drain()
        replication.start(listening: channel.localAddress.flatMap { a in a.port.map { "\(configuration.host):\($0)" } })
        addressReady.continuation.yield(channel.localAddress)
        addressReady.continuation.finish()  // later callers read `bound`
        logger.notice("listening", metadata: [
            "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "tls": "\(sslContext != nil)", "ledger": "\(ledger.store.ledgerID)",
            "events": "\(ledger.store.head.sequence)",
        ])
        let interval = configuration.tokenCheckInterval
        let tokenChecks = Task { [self] in
            while (try? await Task.sleep(for: interval)) != nil {
                endRefusedSessions()
                ledger.dropIdlePastView()
            }
        }
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        tokenChecks.cancel()
        await drain()
        try? await group.shutdownGracefully()
    }

    /// What to say of a token given on the command line (`option`) to a node of `ledger` served
    /// with no leader to follow, if it has no use for it; nil if it may. A node promoted over a
    /// previous leader tells it of its epoch with it (`ReplicationHub.resumeFencing`), as does one
    /// whose promotion was cut short once it is promoted again, and a follower may be promoted
    /// while it runs. A leader never promoted has no use for it, nor a deposed one but to follow
    /// the new leader.
    public static func unusedTokenWarning(_ ledger: Ledger, option: String) -> String? {
        let store = ledger.store
        let state = store.nodeState
        switch state.role {
        case .follower:
            return nil
        case .fenced:
            return "\(option) is not used: this node was deposed, and follows no leader without --replica-of. To follow the new leader\(state.leader.map { " (\($0))" } ?? ""), serve it with --replica-of and this token"
        case .leader:
            if ReplicationHub.previousLeader(toTell: store) != nil { return nil }
            if let current = try? Epochs.current(in: store), Promotion.isCutShort(state, current: current) { return nil }
            return "\(option) is not used: this node follows no leader (no --replica-of) and was not promoted over one it must tell of its epoch. Leave it out"
        }
    }

    /// What to do about a failure to listen, by its errno (": …"), or nothing.
    public static func listenAdvice(errno: Int32) -> String {
        switch errno {
        case EADDRINUSE: ": another process listens there (another node?); stop it, or give this one another --listen"
        case EADDRNOTAVAIL: ": this machine has no such address; give one of its own to --listen (127.0.0.1, 0.0.0.0)"
        case EACCES: ": ports below 1024 need privileges; give --listen a higher port"
        default: ""
        }
    }

    /// Starts a graceful shutdown (what SIGTERM does under a service group): stop accepting,
    /// finish the requests in progress, close the connections; `run()` then returns.
    public func shutdown() {
        bound.withLock { $0 }?.close(promise: nil)
    }

    /// Stop accepting (already done), let requests in progress finish and answer, then close
    /// every connection. An append that was acknowledged is durable; one in progress finishes.
    func drain() async {
        logger.notice("shutting down: finishing requests in progress", metadata: ["in-flight": "\(metrics.inFlight.load(ordering: .relaxed))"])
        metrics.draining.store(true, ordering: .relaxed)
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.drainTimeout
        while metrics.inFlight.load(ordering: .relaxed) > 0 && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        await replication.stop()
        let open = children.withLock { $0.channels.values.map(\.channel) }
        for c in open { c.close(promise: nil) }
        for c in open { try? await c.closeFuture.get() }
        // A view still replaying the log stops within a chunk or so: shutdown does not wait it out.
        ledger.stopFolds()
        try? await viewPool.shutdownGracefully()
        logger.notice("stopped serving", metadata: ["events": "\(ledger.store.head.sequence)"])
    }

    /// Runs `body`, long blocking work (a view query's fold), on the node's view threads rather
    /// than on Swift's shared pool, whose few threads every connection's requests need.
    func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await viewPool.runIfActive(body)
        } catch is CancellationError {
            // The pool is shut down, or shut down while this was still queued.
            throw Self.shuttingDown
        } catch let error as StoreError where error.code == .closed && ledger.foldsWereStopped {
            throw Self.shuttingDown  // stopped by `drain`
        }
    }

    /// What a request the node will not run because it is shutting down is answered.
    static let shuttingDown = ErrorBody(code: "shutting-down", message: "the node is shutting down; retry on another node or later")

    /// Why a new connection is refused, if it is.
    enum Admission {
        case admitted
        case nodeFull
        case addressFull(String)
    }

    /// The most connections that may be in their handshake at once.
    var handshakeSlots: Int { max(min(configuration.maximumHandshakingConnections, configuration.maximumConnections), 1) }

    /// Counts a new connection in, or says why not. When the node is full but some connections
    /// are still in their handshake, or every handshake slot is taken, the one that has been
    /// handshaking longest is closed to make room (`HandshakeEvicted`); when its address has as
    /// many as it may, that address's longest handshake is: strangers who never authenticate
    /// cannot keep out a client with a token from the same address (a host, a proxy, a NAT),
    /// and only an address whose connections all authenticated is refused.
    func register(_ channel: any Channel) -> Admission {
        let address = Self.addressKey(channel.remoteAddress)
        let (admission, evicted, byAddress) = children.withLock { c -> (Admission, (any Channel)?, Bool) in
            var evicted: (any Channel)?
            let byAddress = c.perAddress[address, default: 0] >= configuration.maximumConnectionsPerAddress
            if byAddress {
                // In that one's place, in the node's count too. (Those already closing count, as below.)
                guard c.evicting.count < handshakeSlots, let oldest = c.oldestHandshake(from: address) else { return (.addressFull(address), nil, true) }
                evicted = oldest
            } else if c.channels.count >= configuration.maximumConnections || c.handshaking.count >= handshakeSlots {
                // Those already closing count as well, so that the node never holds more than
                // `maximumConnections` and `handshakeSlots` more sockets, however fast they come.
                guard c.evicting.count < handshakeSlots else { return (.nodeFull, nil, false) }
                evicted = c.oldestHandshake()
                // A full node with every connection authenticated: nothing to make room with.
                guard evicted != nil else { return (.nodeFull, nil, false) }
            }
            c.channels[ObjectIdentifier(channel)] = (channel, address)
            c.perAddress[address, default: 0] += 1
            c.arrivals += 1
            c.handshaking[ObjectIdentifier(channel)] = c.arrivals
            return (.admitted, evicted, byAddress)
        }
        // Closed on its own event loop, at once; it counts against the node until it has closed.
        if let evicted {
            if byAddress {
                logger.warning(
                    "closing the longest handshake from an address to make room for a new connection from it",
                    metadata: ["address": "\(address)", "limit": "\(configuration.maximumConnectionsPerAddress)"])
            } else {
                logger.warning("closing the longest handshake to make room for a new connection", metadata: ["limit": "\(handshakeSlots)"])
            }
            evicted.pipeline.fireUserInboundEventTriggered(HandshakeEvicted(perAddress: byAddress))
        }
        return admission
    }

    /// Who a connection counts against: its IPv4 address (an IPv4-mapped IPv6 one too), its IPv6
    /// /64 (one host is handed a whole /64), or "unknown" when the peer's address could not be read.
    static func addressKey(_ address: SocketAddress?) -> String {
        switch address {
        case .v4?:
            return address?.ipAddress ?? "unknown"
        case .v6(let a)?:
            // sockaddr_in6: family (2 bytes), port (2), flow info (4), then the 16-byte address.
            let bytes = withUnsafeBytes(of: a.address) { Array($0[8..<24]) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return bytes[12...].map(String.init).joined(separator: ".")
            }
            return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
        default:
            return "unknown"
        }
    }

    /// `channel` has authenticated: its handshake slot is free for another. False when a newer
    /// connection has taken its place meanwhile (it is being closed to make room, and must not
    /// stay as an authenticated connection beyond the limit that closed it).
    func authenticated(_ channel: any Channel) -> Bool {
        children.withLock { $0.handshaking.removeValue(forKey: ObjectIdentifier(channel)) != nil }
    }

    func unregister(_ channel: any Channel) {
        children.withLock { c in
            c.handshaking[ObjectIdentifier(channel)] = nil
            c.evicting.remove(ObjectIdentifier(channel))
            guard let (_, address) = c.channels.removeValue(forKey: ObjectIdentifier(channel)) else { return }
            let left = c.perAddress[address, default: 1] - 1
            c.perAddress[address] = left > 0 ? left : nil
        }
    }

    var connectionCount: Int { children.withLock { $0.channels.count } }

    /// Connections registered and not yet authenticated.
    var handshakingCount: Int { children.withLock { $0.handshaking.count } }

    /// Sweeps of the open connections begun after revocations so far: read before an AUTH reads
    /// the token records.
    var sweepsBegun: UInt64 { sessions.withLock { $0.sweeps } }

    /// Adds `session` to the connections the sweeps look at, unless a sweep has begun since
    /// `sweeps` (`sweepsBegun` before its token records were read): then false, and its AUTH must
    /// read them again. Either the sweep of any revocation its AUTH did not read sees it, or its
    /// AUTH reads that revocation.
    func track(_ session: Session, ifNoSweepSince sweeps: UInt64) -> Bool {
        sessions.withLock {
            guard $0.sweeps == sweeps else { return false }
            $0.open[ObjectIdentifier(session)] = session
            return true
        }
    }

    func untrack(_ session: Session) { _ = sessions.withLock { $0.open.removeValue(forKey: ObjectIdentifier(session)) } }

    /// Every token record, as of the log's latest `system/tokens` event.
    func tokenRecords() throws -> [String: Tokens.Record] {
        let version = try ledger.store.version(of: Tokens.stream)
        if let cached = tokenCache.withLock({ $0 }), cached.version == version { return cached.records }
        let records = try Tokens(ledger: ledger).records()
        tokenCache.withLock { $0 = (version, records) }
        return records
    }

    /// The refusal AUTH would now give `principal`'s token, if any (nil for a local principal).
    func tokenRefusal(of principal: Principal, now: Timestamp = .now()) throws -> Tokens.Refused? {
        guard let id = principal.tokenID else { return nil }
        return Self.refusal(ofToken: id, in: try tokenRecords(), now: now)
    }

    /// The refusal AUTH would give token `id` at `now`, given every token record.
    static func refusal(ofToken id: String, in records: [String: Tokens.Record], now: Timestamp) -> Tokens.Refused? {
        records[id].map { Tokens.refusal($0, now: now) } ?? .unknown(id)
    }

    /// Closes, with the refusal AUTH would now give, every connection whose token has been
    /// revoked or has expired since it authenticated (but one answering the revocation of its own
    /// token, which closes once it has answered).
    ///
    /// `afterRevocation`: the sweep a revocation on this node makes once it is committed, which
    /// AUTHs under way must not slip past (`track`). The periodic sweeps need no such care: a
    /// connection one misses, the next one sees; counted, they would have every AUTH that spans
    /// one read the token records again.
    func endRefusedSessions(now: Timestamp = .now(), afterRevocation: Bool = false) {
        // Begun, and the connections taken, at once: an AUTH that read the records earlier either
        // tracked its connection before (and is among these) or fails to track it (`track`).
        let open = sessions.withLock { s in
            if afterRevocation { s.sweeps += 1 }
            return Array(s.open.values)
        }.filter { $0.principal.tokenID != nil }
        guard !open.isEmpty else { return }
        let records: [String: Tokens.Record]
        do { records = try tokenRecords() } catch {
            // Each request checks its token too, and fails while they cannot be read; but small
            // appends answered on the event loop do not, so the operator must hear of it.
            logger.error("cannot read the token records to end revoked or expired tokens' connections", metadata: ["error": "\(error)"])
            return
        }
        for session in open {
            // Looked at after the records are read: a connection revoking its own token sets
            // this before it writes, so a check that reads the revocation also sees it.
            guard let id = session.principal.tokenID, !session.revokingItself.load(ordering: .relaxed) else { continue }
            if let refused = Self.refusal(ofToken: id, in: records, now: now) { session.channel.pipeline.fireUserInboundEventTriggered(TokenRefused(refusal: refused)) }
        }
    }

    /// Live subscriptions of each authenticated connection (for tests).
    func liveSubscriptions() -> [Int] {
        sessions.withLock { $0.open.values.map { $0.subscriptions.withLock { $0.live.count } } }
    }

    /// Wire bytes of the requests each authenticated connection has queued and running (for tests).
    func requestBytesHeld() -> [Int] {
        sessions.withLock { $0.open.values.map { $0.queuedBytes.load(ordering: .relaxed) } }
    }

    /// Bytes written to each connection that its client has not read yet (for tests).
    func outboundBuffered() async -> [Int] {
        var sizes: [Int] = []
        for c in children.withLock({ $0.channels.values.map(\.channel) }) {
            if let n = try? await c.getOption(.bufferedWritableBytes).get() { sizes.append(n) }
        }
        return sizes
    }

    private func makeTLSContext() throws -> NIOSSLContext? {
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (nil, nil):
            return nil
        case (let cert?, let key?):
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            // A peer that never answers close_notify holds its socket this long (5 s by default):
            // a connection closed to make room (`HandshakeEvicted`) should go at once.
            tls.shutdownTimeout = .milliseconds(500)
            return try NIOSSLContext(configuration: tls)
        default:
            throw ServerError("--tls-cert and --tls-key go together")
        }
    }
}

/// The node could not start (or serve) at all.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Counters shared by every connection.
final class ServerMetrics: Sendable {
    let inFlight = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    private let appended = Mutex<[(second: Int64, events: Int)]>([])

    func recordAppend(_ events: Int) {
        let now = Timestamp.now().microseconds / 1_000_000
        appended.withLock { a in
            if let last = a.last, last.second == now { a[a.count - 1].events += events } else { a.append((now, events)) }
            a.removeAll { $0.second < now - 10 }
        }
    }

    /// Events appended per second over the last ten seconds.
    var appendRate: Double {
        let now = Timestamp.now().microseconds / 1_000_000
        let total = appended.withLock { a in a.filter { $0.second >= now - 10 && $0.second < now }.reduce(0) { $0 + $1.events } }
        return Double(total) / 10
    }
}
