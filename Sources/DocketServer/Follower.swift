import DocketCore
import DocketStore
import DocketWire
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A follower: connects to its leader, catches up from its own head and then tails the
/// leader's commits, checking every record's chain, storing the records byte for byte and
/// acknowledging what is durable (REPLICATE, RECORDS, REPLICATE_ACK; Schemas/protocol.md §17).
///
/// Connection failures are retried with backoff. It stops for good, and says why in its status
/// and the log, when the two copies are of different ledgers, when they diverge (naming the
/// first sequence that differs) or when a record does not chain; it never overwrites or
/// truncates its own log.
final class Follower: Sendable {
    let hub: ReplicationHub
    private let leader: Mutex<String>
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Batches handed to the writer and not yet durable (promotion waits for them).
    private let inFlight = Atomic<Int>(0)
    /// Their bytes: above `followerInFlightBytes` the next frame waits (`untilWriterCatchesUp`).
    private let inFlightBytes = Atomic<Int>(0)
    private let inFlightBytesHighWater = Atomic<Int>(0)
    /// The most bytes ever in flight at once (for tests; one batch beyond the budget at most).
    var inFlightHighWater: Int { inFlightBytesHighWater.load(ordering: .relaxed) }
    private let status = Mutex(Status())

    struct Status {
        var state = "starting"
        /// The leader's head as it last said it; nil until it has (the lag is not known then).
        var leaderHead: UInt64?
        var leaderEpoch: UInt64 = 0
        var error: String?
    }

    init(hub: ReplicationHub) {
        self.hub = hub
        leader = Mutex(hub.configuration.leader ?? "")
    }

    var store: EventStore { hub.store }
    var logger: Logger { hub.logger }

    func start() {
        task.withLock { $0 = Task { await run() } }
    }

    /// Stops replicating; returns once every batch handed to the writer is durable (or failed).
    func stop() async {
        let t = task.withLock { $0 }
        t?.cancel()
        await t?.value
        await untilDrained()
        setState("stopped (promoted or shut down)")
    }

    /// Returns once every batch handed to the writer is durable (or failed).
    private func untilDrained() async {
        while inFlight.load(ordering: .acquiring) > 0 { try? await Task.sleep(for: .milliseconds(1)) }
    }

    /// Returns once the records handed to the writer and not yet durable are within the budget:
    /// meanwhile nothing more is read from the leader, whose sending TCP then holds back.
    private func untilWriterCatchesUp() async throws {
        let budget = max(hub.configuration.followerInFlightBytes, 0)
        while inFlightBytes.load(ordering: .acquiring) > budget {
            try Task.checkCancellation()
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    var statusValue: Value {
        let s = status.withLock { $0 }
        let head = store.head.sequence
        var m: [(key: String, value: Value)] = [
            // Both null until the leader has said where its head is: a lag of 0 would read as caught up.
            ("state", .string(s.state)), ("leader", .string(leader.withLock { $0 })), ("leaderHead", s.leaderHead.map { .int(Int64($0)) } ?? .null),
            ("lag", s.leaderHead.map { .int(Int64($0 > head ? $0 - head : 0)) } ?? .null),
        ]
        if let e = s.error { m.append(("error", .string(e))) }
        return .object(m)
    }

    private func setState(_ state: String, error: String? = nil) {
        status.withLock {
            $0.state = state
            if let error { $0.error = error }
        }
    }

    /// Why following stops for good.
    struct Stop: Error {
        var error: any Error
    }

    private func run() async {
        // Replicating onto a damaged log would extend it: check the copy this node holds first.
        setState("verifying its own log")
        do {
            let report = try store.verify()
            if let failure = report.failure {
                fail(StoreError(
                    .corruptRecord,
                    "this node's own log fails verification at sequence \(failure.sequence): \(failure.reason); it will not replicate onto it (docket verify shows the same)",
                    sequence: failure.sequence))
                return
            }
        } catch {
            fail(error)
            return
        }
        var backoff: Duration = .milliseconds(50)
        while !Task.isCancelled {
            do {
                try await follow()
                backoff = .milliseconds(50)
            } catch let stop as Stop {
                fail(stop.error)
                return
            } catch is Redirected {
                backoff = .milliseconds(50)
                continue
            } catch let malformed as WireError {
                if Task.isCancelled { return }
                // A frame the leader sent that does not decode (an unknown type, a bad length or
                // body): another protocol, or a fault that asking again meets again (§17.9).
                fail(malformed)
                return
            } catch {
                if Task.isCancelled { return }
                setState("reconnecting", error: "\(error)")
                logger.info("replication connection lost; retrying", metadata: ["leader": "\(leader.withLock { $0 })", "error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    private func fail(_ error: any Error) {
        let text = (error as? StoreError).map { "\($0.code): \($0.message)" } ?? "\(error)"
        setState("stopped", error: text)
        logger.error("replication stopped", metadata: ["leader": "\(leader.withLock { $0 })", "error": "\(text)"])
    }

    struct Redirected: Error {}

    /// AUTH's refusals of the token itself (Schemas/protocol.md §6).
    static let tokenRefusals: Set<String> = ["bad-token", "unknown-token", "token-revoked", "token-expired"]

    /// The ERRORs answering the handshake that say the leader is busy, slow or going away, so that
    /// trying again later can succeed (§12, §14; `not-authenticated` is AUTH's answer when the
    /// token records could not be read).
    static let transientRefusals: Set<String> = ["handshake-timeout", "too-many-connections", "shutting-down", "not-authenticated", "too-many-requests", "internal"]

    /// One connection to the leader, until it drops or something stops replication.
    private func follow() async throws {
        let address = leader.withLock { $0 }
        setState("connecting")
        let conn = try await PeerConnection.open(address, configuration: hub.configuration, timeout: .seconds(5))
        defer { conn.close() }
        // The handshake and REPLICATE's answer within 10 s; the stream after it has no deadline.
        let deadline = conn.closing(after: .seconds(10))
        let ledgerID = try await conn.hello()
        guard ledgerID == store.ledgerID else {
            throw Stop(error: StoreError(
                .wrongLedger,
                "\(address) serves ledger \(ledgerID) but this node holds ledger \(store.ledgerID): a follower can only follow a node of its own ledger; nothing was written"))
        }
        do { try await conn.authenticate(token: hub.configuration.token ?? "") } catch let e as ErrorBody {
            // A busy or slow leader (its handshake timer, a newer connection taking this one's
            // place, a shutdown, its token records unreadable for a moment) is tried again like a
            // lost connection; anything else (a refused token, a token too large to send, a code
            // this build does not know) would be answered the same again: it stops, saying why.
            guard !Self.transientRefusals.contains(e.code) else { throw PeerConnection.Failure("\(address) answered AUTH with \(e.code): \(e.message)") }
            let why = Self.tokenRefusals.contains(e.code) ? "refused this follower's token" : "refused this follower's AUTH"
            throw Stop(error: ReplicationError(e.code, "\(address) \(why): \(e.message)"))
        }
        // Batches an earlier connection handed to the writer commit first: asked for from the head
        // before them, the leader would resend what they hold, and its records would no longer
        // follow the head when they reach the writer (a false "corrupt" that stops replication).
        await untilDrained()
        var expected = store.committedHead
        let epoch = try Epochs.current(in: store)
        let request = ReplicateRequest(
            ledger: store.ledgerID, head: expected.sequence, hash: expected.hash.description, epoch: epoch.number, epochLeader: epoch.address,
            dictionaries: try store.highestDictionaryVersion(), window: hub.configuration.window,
            maxFrame: Int64(hub.configuration.followerMaximumFrame), node: store.nodeState.node, address: hub.advertisedAddress)
        let streamID: UInt32 = 7
        let answer = try await conn.request(.replicate, request.wireValue, id: streamID)
        deadline.cancel()
        if answer.type == .error { try await refused(ErrorBody(answer.body), conn: conn, address: address) }
        guard answer.type == .replicating else { throw PeerConnection.Failure("\(address) answered REPLICATE with \(answer.type)") }
        status.withLock {
            let leaderHead = UInt64(max(answer.body["head"]?.intValue ?? 0, 0))
            $0.leaderHead = leaderHead
            $0.leaderEpoch = UInt64(max(answer.body["epoch"]?.intValue ?? 0, 0))
            $0.state = leaderHead > expected.sequence ? "catching up" : "following"
            $0.error = nil
        }
        logger.notice("following", metadata: ["leader": "\(address)", "from": "\(expected.sequence + 1)"])
        // A writer failure ends the connection; the next one starts again from the durable head.
        let shared = StreamShared()
        var pending = PendingDictionaries()
        let channel = conn.channel
        receiving: while let frame = try await conn.next() {
            switch frame.type {
            case .records:
                // After a writer failure nothing more can chain on: stop reading at once.
                if shared.failure.withLock({ $0 != nil }) { break receiving }
                guard let binary = frame.binary else { throw PeerConnection.Failure("RECORDS without a body") }
                let body: RecordsBody
                do { body = try RecordsBody(decoding: binary) } catch {
                    throw Stop(error: ReplicationError("protocol-violation", "\(address) sent a malformed RECORDS frame: \(error.message)"))
                }
                guard body.lastHash.count == 32 else { throw PeerConnection.Failure("RECORDS with a bad hash") }
                let batch = ReplicationBatch(
                    first: body.first, bytes: body.bytes, ends: body.ends,
                    dictionaries: body.dictionaries.map { ReplicatedDictionary(version: $0.version, bytes: $0.bytes, info: $0.info) },
                    lastHash: ChainHash(bytes: body.lastHash))
                let prepared: PreparedReplication
                do { prepared = try store.prepareReplicated(batch, after: expected, pending: &pending) } catch {
                    if let failed = shared.failure.withLock({ $0 }) { throw failed }
                    throw Stop(error: error)
                }
                expected = prepared.head
                let size = binary.readableBytes
                inFlight.add(1, ordering: .relaxed)
                let held = inFlightBytes.add(size, ordering: .relaxed).newValue
                inFlightBytesHighWater.max(held, ordering: .relaxed)
                let ledger = hub.ledger
                store.submitReplicated(prepared) { [self] result in
                    defer {
                        inFlightBytes.subtract(size, ordering: .relaxed)
                        inFlight.subtract(1, ordering: .releasing)
                    }
                    switch result {
                    case .success(let head):
                        // Ids from 100 up, wrapping past UInt32.max back to 100 (never the stream's 7).
                        let n = shared.ackIDs.wrappingAdd(1, ordering: .relaxed).newValue
                        let id = n < 100 ? n + 100 : n
                        channel.writeAndFlush(Frame(.replicateAck, requestID: id, body: .object([
                            ("subscription", .int(Int64(streamID))), ("durable", .int(Int64(head.sequence))),
                        ])), promise: nil)
                        ledger.heads.advance(to: head.sequence)
                        status.withLock { if let told = $0.leaderHead, told <= head.sequence, $0.state == "catching up" { $0.state = "following" } }
                    case .failure(let error):
                        shared.failure.withLock { if $0 == nil { $0 = error } }
                        channel.close(promise: nil)
                    }
                }
                status.withLock { $0.leaderHead = max($0.leaderHead ?? 0, prepared.head.sequence) }
                try await untilWriterCatchesUp()
            case .error:
                try await refused(ErrorBody(frame.body), conn: conn, address: address)
            default:
                throw PeerConnection.Failure("\(address) sent \(frame.type) on the replication stream")
            }
        }
        if let failed = shared.failure.withLock({ $0 }) {
            // Integrity failures stop replication; the rest (a full disk, say) are retried.
            if [.corruptRecord, .diverged].contains(failed.code) { throw Stop(error: failed) }
            throw failed
        }
        throw PeerConnection.Failure("\(address) closed the connection")
    }

    /// Whether a redirect may take this follower to `address`: the leader it was configured with,
    /// or one of the ledger's other nodes (`ReplicationConfiguration.nodes`), compared as parsed
    /// `HOST:PORT`s.
    func mayFollow(_ address: String) -> Bool {
        HostPort.address(address, isAmong: [hub.configuration.leader].compactMap { $0 } + hub.configuration.nodes)
    }

    /// What to do about an ERROR from the leader; never returns normally.
    private func refused(_ e: ErrorBody, conn: PeerConnection, address: String) async throws -> Never {
        switch e.code {
        case "diverged":
            let leaderHead = UInt64(max(e.details?["head"]?.intValue ?? 0, 0))
            let first = try await firstDivergence(conn: conn, leaderHead: leaderHead)
            throw Stop(error: StoreError(
                .diverged,
                "this node's log and \(address)'s part at sequence \(first) (this node holds \(store.head.sequence) records, the leader \(leaderHead)): the record there differs or exists on one side only. Replication stopped; nothing was overwritten or truncated — decide which copy is right before following again",
                sequence: first))
        case "not-leader", "fenced":
            if let next = e.details?["leader"]?.stringValue, !next.isEmpty, next != address {
                guard mayFollow(next) else {
                    logger.warning("the leader named a node that is not one of this ledger's nodes; not following it", metadata: ["from": "\(address)", "to": "\(next)", "code": "\(e.code)"])
                    throw PeerConnection.Failure(
                        "\(e.code): \(address) says the leader is \(next), which is not one of this ledger's nodes (--replica-of LEADER,NODE,…): not followed. If it is, restart this node with it listed")
                }
                logger.notice("the leader moved; following the node it names", metadata: ["from": "\(address)", "to": "\(next)", "code": "\(e.code)"])
                leader.withLock { $0 = next }
                var state = store.nodeState
                state.leader = next
                try? store.saveNodeState(state)
                throw Redirected()
            }
            throw PeerConnection.Failure("\(e.code): \(e.message)")
        case "wrong-ledger", "forbidden", "bad-request", "protocol-violation", "corrupt-record":
            throw Stop(error: ReplicationError(e.code, "\(address): \(e.message)"))
        default:
            throw PeerConnection.Failure("\(e.code): \(e.message)")
        }
    }

    /// The first sequence at which this node's chain tags and the leader's differ (or one side
    /// ends): a search over the tags, which commit to every record before them, 64 probes a round.
    private func firstDivergence(conn: PeerConnection, leaderHead: UInt64) async throws -> UInt64 {
        let mine = store.head.sequence
        var lo: UInt64 = 0  // tags agree here (h(0) is the same everywhere)
        var hi = min(mine, leaderHead) + 1  // the first difference is at or before this
        while hi - lo > 1 {
            let span = hi - lo - 1
            let count = min(span, 64)
            let probes = (1...count).map { lo + UInt64((Double(span) * Double($0) / Double(count)).rounded(.down)) }
            let answer = try await conn.request(.chain, .object([("sequences", .array(probes.map { .int(Int64($0)) }))]))
            guard answer.type == .chainResult, let theirs = answer.body["tags"]?.arrayValue, theirs.count == probes.count else {
                throw PeerConnection.Failure("CHAIN answered with \(answer.type)")
            }
            let ours = try store.chainTags(at: probes)
            var moved = false
            for (i, p) in probes.enumerated() {
                let t = theirs[i].stringValue.flatMap { UInt64($0, radix: 16) }
                if t == nil || t != ours[i] {
                    hi = p
                    moved = true
                    break
                }
                lo = p
            }
            if !moved { lo = max(lo, probes.last!) }
        }
        return hi
    }
}

/// What a replication connection's writer callbacks share with its reader.
final class StreamShared: Sendable {
    let failure = Mutex<StoreError?>(nil)
    let ackIDs = Atomic<UInt32>(100)
}

/// A plain client connection to another node, for replication and fencing (DocketServer does
/// not depend on DocketClient): one request at a time, plus the frames the peer pushes. Used by
/// one task at a time (not Sendable); its channel may be written from anywhere.
final class PeerConnection {
    let channel: any Channel
    private var iterator: AsyncThrowingStream<Frame, any Error>.AsyncIterator
    private let buffered: ReceiveBuffer
    private var ids: UInt32 = 1

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    private init(channel: any Channel, frames: AsyncThrowingStream<Frame, any Error>, buffered: ReceiveBuffer) {
        self.channel = channel
        self.iterator = frames.makeAsyncIterator()
        self.buffered = buffered
    }

    static func open(_ address: String, configuration: ReplicationConfiguration, timeout: TimeAmount) async throws -> PeerConnection {
        guard let (host, port) = HostPort(address).map({ ($0.host, $0.port) }) else { throw Failure("\"\(address)\" is not HOST:PORT") }
        var sslContext: NIOSSLContext?
        if configuration.useTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let roots = configuration.trustRootsPath { tls.trustRoots = .file(roots) }
            sslContext = try NIOSSLContext(configuration: tls)
        }
        let (stream, continuation) = AsyncThrowingStream<Frame, any Error>.makeStream()
        let maximum = configuration.followerMaximumFrame
        let buffered = ReceiveBuffer(limit: 2 * maximum)
        let tlsContext = sslContext
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.configureSocket()
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext { try sync.addHandler(try NIOSSLClientHandler(context: tlsContext, serverHostname: HostPort.tlsServerName(host))) }
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: maximum)))
                    try sync.addHandler(MessageToByteHandler(FrameEncoder()))
                    try sync.addHandler(PeerHandler(continuation: continuation, buffered: buffered))
                }
            }
            .connect(host: host, port: port).get()
        return PeerConnection(channel: channel, frames: stream, buffered: buffered)
    }

    func close() { channel.close(promise: nil) }

    func write(_ frame: Frame) { channel.writeAndFlush(frame, promise: nil) }

    /// The next frame from the peer; nil when the connection closed.
    func next() async throws -> Frame? {
        let frame = try await iterator.next()
        if let frame { buffered.taken(frame, channel: channel) }
        return frame
    }

    /// Sends a request and returns the next frame (the peer answers in order).
    func request(_ type: FrameType, _ body: Value, id: UInt32? = nil) async throws -> Frame {
        ids += 1
        write(Frame(type, requestID: id ?? ids, body: body))
        guard let answer = try await next() else { throw Failure("the connection closed before \(type) was answered") }
        return answer
    }

    /// HELLO; returns the peer's ledger id.
    func hello() async throws -> String {
        let w = try await request(.hello, .object([("versions", .array([.int(Frame.protocolVersion)])), ("client", .string("docket-follower/\(DocketVersion.current)"))]))
        if w.type == .error { throw ErrorBody(w.body) }
        guard w.type == .welcome, let ledger = w.body["ledger"]?.stringValue else { throw Failure("expected WELCOME, got \(w.type)") }
        return ledger
    }

    /// AUTH; throws the peer's ERROR body when it refuses the token.
    func authenticate(token: String) async throws {
        let a = try await request(.auth, .object([("token", .string(token))]))
        if a.type == .error { throw ErrorBody(a.body) }
        guard a.type == .authenticated else { throw Failure("expected AUTHENTICATED, got \(a.type)") }
    }

    func handshake(token: String) async throws {
        _ = try await hello()
        try await authenticate(token: token)
    }

    /// Closes the connection after `delay` unless cancelled first: a peer that accepts
    /// connections and never answers (a stopped process) then fails what waits on it instead
    /// of holding it for ever.
    func closing(after delay: Duration) -> Scheduled<Void> {
        channel.eventLoop.scheduleTask(in: TimeAmount(delay)) { [channel] in
            channel.close(promise: nil)
        }
    }
}

/// The bytes of the frames a peer connection has received and its reader has not taken yet.
/// Past `limit` the connection stops reading from the socket (autoRead off), so a peer sending
/// faster than its frames are used (a leader to a follower whose writer is behind) is held back
/// by TCP rather than queued in memory; below half of it, reading resumes.
final class ReceiveBuffer: Sendable {
    private let state = Mutex<(bytes: Int, paused: Bool)>((0, false))
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// A frame's bytes as counted here: its header and binary body, and a flat allowance for the
    /// `Frame` itself and a small JSON body (which is not measured: peers send those rarely).
    static func size(of frame: Frame) -> Int { Frame.headerSize + (frame.binary?.readableBytes ?? 0) + 64 }

    /// A frame arrived (on the event loop): pauses reading once over the limit.
    func received(_ frame: Frame, context: ChannelHandlerContext) {
        let pause = state.withLock { s in
            s.bytes += Self.size(of: frame)
            guard s.bytes > limit else { return false }
            s.paused = true
            return true
        }
        if pause { try? context.channel.syncOptions?.setOption(.autoRead, value: false) }
    }

    /// The reader took a frame: once under half the limit, reading resumes. (On the event loop,
    /// and only if no frame paused it again meanwhile: a pause and a resume are applied there in
    /// the order they were decided.)
    func taken(_ frame: Frame, channel: any Channel) {
        let resume = state.withLock { s in
            s.bytes -= Self.size(of: frame)
            guard s.paused, s.bytes <= limit / 2 else { return false }
            s.paused = false
            return true
        }
        guard resume else { return }
        channel.eventLoop.execute { [self] in
            if !state.withLock({ $0.paused }) { try? channel.syncOptions?.setOption(.autoRead, value: true) }
        }
    }
}

/// Hands a peer connection's frames to its reader.
final class PeerHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame
    let continuation: AsyncThrowingStream<Frame, any Error>.Continuation
    let buffered: ReceiveBuffer

    init(continuation: AsyncThrowingStream<Frame, any Error>.Continuation, buffered: ReceiveBuffer) {
        self.continuation = continuation
        self.buffered = buffered
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        buffered.received(frame, context: context)
        continuation.yield(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}

extension DocketServer {
    /// The ledger id the node at `address` serves (HELLO only), so a new follower's data
    /// directory can be created as a copy of that ledger.
    public static func ledgerID(of address: String, replication configuration: ReplicationConfiguration) async throws -> String {
        let conn = try await PeerConnection.open(address, configuration: configuration, timeout: .seconds(5))
        defer { conn.close() }
        // A stopped process accepts connections and never answers: starting fails, it does not hang.
        let deadline = conn.closing(after: .seconds(10))
        defer { deadline.cancel() }
        return try await conn.hello()
    }
}
