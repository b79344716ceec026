import DocketCore
import DocketStore
import DocketWire
import Logging
import NIOCore
import Synchronization

/// Sent down a connection's pipeline when its token was revoked or expired after it authenticated.
struct TokenRefused: Sendable {
    var refusal: Tokens.Refused
}

/// Sent down a connection's pipeline when a newer connection takes its handshake slot, or its
/// place among its address's connections.
struct HandshakeEvicted: Sendable {
    /// Which limit the newer connection met: the address's, or the node's handshake slots.
    var perAddress = false
}

/// One connection's protocol state machine, on its event loop:
/// `awaitingHello → awaitingAuth → ready`, closed on any violation. Requests in `ready` go, in
/// order, to the connection's `Session`, which runs them off the event loop.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    enum State {
        case awaitingHello
        case awaitingAuth
        case authenticating
        case ready(Session)
        case closed
    }

    let server: DocketServer
    private var state = State.awaitingHello
    private var handshakeTimer: Scheduled<Void>?
    /// Closes a connection whose client has read none of its answers for the idle timeout.
    private var stallTimer: Scheduled<Void>?
    /// Closes a connection whose frame begun has stopped arriving (`FrameLimit.frameTimeout`).
    private var frameTimer: RepeatedTask?
    /// How long a closing connection waits for its client to take the ERROR frame.
    static let closeGrace = TimeAmount.seconds(5)

    /// The largest frame the connection's decoder takes: raised to the configured maximum once
    /// the client has authenticated.
    private let frameLimit: FrameLimit

    init(server: DocketServer, frameLimit: FrameLimit) {
        self.server = server
        self.frameLimit = frameLimit
    }

    var logger: Logger { server.logger }

    private var principalDescription: String {
        if case .ready(let session) = state { return "\(session.principal)" }
        return "?"
    }

    func channelActive(context: ChannelHandlerContext) {
        switch server.register(context.channel) {
        case .admitted:
            break
        case .nodeFull:
            server.logger.warning("connection refused: too many connections", metadata: ["limit": "\(server.configuration.maximumConnections)"])
            fail(context, requestID: 0, ErrorBody(code: "too-many-connections", message: "the node serves at most \(server.configuration.maximumConnections) connections; try again later"))
            return
        case .addressFull(let ip):
            let limit = server.configuration.maximumConnectionsPerAddress
            server.logger.warning("connection refused: too many connections from one address", metadata: ["address": "\(ip)", "limit": "\(limit)"])
            fail(context, requestID: 0, ErrorBody(code: "too-many-connections", message: "the node serves at most \(limit) connections from one address; close some, or try again later"))
            return
        }
        if server.metrics.draining.load(ordering: .relaxed) {
            fail(context, requestID: 0, ErrorBody(code: "shutting-down", message: "the node is shutting down"))
            return
        }
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // A frame that stops arriving halfway is found by this (one still trickling in, by the
        // decoder as its bytes come): a quarter of the timeout late at most, and every 5 s.
        if let timeout = frameLimit.frameTimeout {
            let every = TimeAmount.nanoseconds(max(min(timeout.nanoseconds / 4, TimeAmount.seconds(5).nanoseconds), TimeAmount.milliseconds(100).nanoseconds))
            frameTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in
                let (handler, context) = loop.value
                if case .closed = handler.state { return }
                guard handler.frameLimit.frameOverdue else { return }
                handler.frameTimer?.cancel()
                // Told once: the bytes left in the decoder as the connection closes are not raised again.
                handler.frameLimit.endFrameClock()
                handler.logger.warning("bad frame; closing the connection", metadata: ["error": "frame-timeout", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
                handler.fail(context, requestID: 0, ErrorBody(code: WireError.Code.frameTimeout.rawValue, message: handler.frameLimit.frameTimeoutMessage))
            }
        }
        handshakeTimer = context.eventLoop.scheduleTask(in: server.configuration.handshakeTimeout) {
            let (handler, context) = loop.value
            switch handler.state {
            case .awaitingHello, .awaitingAuth, .authenticating:
                handler.fail(context, requestID: 0, ErrorBody(code: "handshake-timeout", message: "HELLO and AUTH must complete within \(handler.server.configuration.handshakeTimeout.nanoseconds / 1_000_000_000) s"))
            default: break
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.unregister(context.channel)
        handshakeTimer?.cancel()
        stallTimer?.cancel()
        frameTimer?.cancel()
        // Requests still queued are dropped: nobody is there for their answers, and a client that
        // pipelines its limit and disconnects, again and again, must not leave the node a backlog
        // of work without end. The one running completes; a write is safe to retry (§11).
        if case .ready(let session) = state { session.finish(abandoningQueued: true) }
        state = .closed
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .awaitingHello:
            guard frame.type == .hello else {
                fail(context, requestID: frame.requestID, ErrorBody(code: "handshake-required", message: "the first frame must be HELLO, not \(frame.type)"))
                return
            }
            let versions = frame.body["versions"]?.arrayValue?.compactMap(\.intValue) ?? []
            guard versions.contains(Frame.protocolVersion) else {
                fail(context, requestID: frame.requestID, ErrorBody(
                    code: "unsupported-version", message: "this node speaks protocol version \(Frame.protocolVersion); the client offered \(versions)",
                    details: .object([("supported", .array([.int(Frame.protocolVersion)]))])))
                return
            }
            state = .awaitingAuth
            context.writeAndFlush(wrapOutboundOut(Frame(.welcome, requestID: frame.requestID, body: .object([
                ("version", .int(Frame.protocolVersion)), ("server", .string("docket/\(DocketVersion.current)")), ("ledger", .string(server.ledger.store.ledgerID)),
                ("maxFrame", .int(Int64(server.configuration.maximumFrameLength))),
                ("maxInFlight", .int(Int64(server.configuration.maximumInFlightPerConnection))),
            ]))), promise: nil)
        case .awaitingAuth:
            guard frame.type == .auth else {
                fail(context, requestID: frame.requestID, ErrorBody(code: "not-authenticated", message: "authenticate with AUTH before \(frame.type)"))
                return
            }
            state = .authenticating
            authenticate(context, token: frame.body["token"]?.stringValue ?? "", requestID: frame.requestID)
        case .authenticating:
            fail(context, requestID: frame.requestID, ErrorBody(code: "not-authenticated", message: "wait for AUTHENTICATED before sending \(frame.type)"))
        case .ready(let session):
            guard frame.type.isRequest, frame.type != .hello, frame.type != .auth else {
                fail(context, requestID: frame.requestID, ErrorBody(code: "protocol-violation", message: "\(frame.type) is not a request a client sends after authenticating"))
                return
            }
            if frame.type == .credit || frame.type == .unsubscribe || frame.type == .replicateAck {
                // Flow control bypasses the request queue so a busy connection can still steer its subscriptions.
                session.control(frame)
                return
            }
            if session.appendInPlace(frame) { return }
            guard session.enqueue(frame, bytes: frameLimit.lastFrameLength) else {
                logger.warning("request refused: too many in flight", metadata: ["principal": "\(session.principal)", "limit": "\(server.configuration.maximumInFlightPerConnection)"])
                context.writeAndFlush(wrapOutboundOut(Frame(.error, requestID: frame.requestID, body: ErrorBody(
                    code: "too-many-requests",
                    message: "at most \(server.configuration.maximumInFlightPerConnection) requests may be in flight on one connection").value)), promise: nil)
                return
            }
            if session.holdsTooMuch() {
                session.readingHeld.store(true, ordering: .sequentiallyConsistent)
                // The worker may have drained it meanwhile, seeing reading not yet held.
                if !session.holdsTooMuch(below: true) { session.readingHeld.store(false, ordering: .sequentiallyConsistent) }
                updateReading(context)
            }
        case .closed:
            return
        }
    }

    /// Reads while the client takes its answers and its requests held are within their limit
    /// (`Session.queuedBytes`); else leaves what it sends in the kernel's socket buffers. The
    /// frame being received is not timed while it is not read.
    private func updateReading(_ context: ChannelHandlerContext) {
        let held = if case .ready(let session) = state { session.readingHeld.load(ordering: .sequentiallyConsistent) } else { false }
        let read = context.channel.isWritable && !held
        // Turning it back on reads at once.
        try? context.channel.syncOptions?.setOption(.autoRead, value: read)
        if read { frameLimit.resumeFrameClock() } else { frameLimit.pauseFrameClock() }
    }

    /// Checks `token` against the token records, off the event loop (reading them is storage
    /// work), and answers the AUTH of `requestID` back on it.
    private func authenticate(_ context: ChannelHandlerContext, token: String, requestID: UInt32) {
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let (tokens, server) = (Tokens(ledger: server.ledger), server)
        Task {
            let sweeps = server.sweepsBegun
            let outcome = Result {
                let records = try server.tokenRecords()
                let principal = try tokens.authenticate(token, records: records)
                return (principal, expiresAt: principal.tokenID.flatMap { records[$0]?.expiresAt })
            }
            await server.afterTokenRecordsRead.withLock { $0 }?()
            loop.eventLoop.execute {
                let (handler, context) = loop.value
                handler.authenticated(context, token: token, requestID: requestID, outcome, sweeps: sweeps)
            }
        }
    }

    /// `outcome` of checking `token` against records read after `sweeps` sweeps had begun.
    private func authenticated(
        _ context: ChannelHandlerContext, token: String, requestID: UInt32, _ outcome: Result<(Principal, expiresAt: Timestamp?), any Error>,
        sweeps: UInt64
    ) {
        guard case .authenticating = state else { return }
        switch outcome {
        case .success(let (principal, expiresAt)):
            let session = Session(server: server, channel: context.channel, principal: principal, expiresAt: expiresAt)
            guard server.track(session, ifNoSweepSince: sweeps) else {
                // A sweep began after the records were read, perhaps for a revocation they did not
                // hold, and did not see this connection: read them again.
                session.finish()
                authenticate(context, token: token, requestID: requestID)
                return
            }
            guard server.authenticated(context.channel) else {
                // A newer connection took its place while its token was being checked: the
                // `HandshakeEvicted` on its way closes it, as it would have a moment earlier
                // (authenticated, it would stay beyond the limit that closed it).
                session.finish()
                return
            }
            handshakeTimer?.cancel()
            frameLimit.raise(to: server.configuration.maximumFrameLength)
            state = .ready(session)
            logger.info("authenticated", metadata: ["principal": "\(principal)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            context.writeAndFlush(wrapOutboundOut(Frame(.authenticated, requestID: requestID, body: .object([
                ("role", .string(principal.role.rawValue)), ("subject", .string(principal.subject)),
                ("project", principal.project.map { .string($0) } ?? .null), ("token", principal.tokenID.map { .string($0) } ?? .null),
            ]))), promise: nil)
        case .failure(let error):
            let refused = error as? Tokens.Refused
            logger.warning("authentication refused", metadata: ["reason": "\(refused?.code ?? "error")", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            fail(context, requestID: requestID, ErrorBody(code: refused?.code ?? "not-authenticated", message: refused?.message ?? "\(error)"))
        }
    }

    /// A client that does not read its answers is not read either: once what it has not read
    /// passes `outboundBufferLimit`, its queued requests wait (`Session.setWritable`) and its
    /// further requests stay in the kernel's socket buffers, not as answers in this node's memory;
    /// both resume when it drains to half the limit, as do its subscriptions (whatever credit it
    /// granted). A client that stays that way for the idle timeout is disconnected.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        // The frame it is sending waits unread meanwhile: that time is not counted against it.
        updateReading(context)
        if case .ready(let session) = state { session.setWritable(writable) }
        stallTimer?.cancel()
        stallTimer = nil
        if !writable {
            let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            stallTimer = context.eventLoop.scheduleTask(in: server.configuration.idleTimeout) {
                let (handler, context) = loop.value
                guard !context.channel.isWritable else { return }
                handler.logger.info("closing a connection that reads none of its answers", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
                // No ERROR frame: it would not be read. (Also when already closing on one it did not read.)
                handler.close(context, abandoningQueued: true)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is Session.QueueDrained {
            if case .ready(let session) = state, session.readingHeld.load(ordering: .sequentiallyConsistent), !session.holdsTooMuch(below: true) {
                session.readingHeld.store(false, ordering: .sequentiallyConsistent)
                updateReading(context)
            }
            return
        }
        if let evicted = event as? HandshakeEvicted {
            switch state {
            case .awaitingHello, .awaitingAuth, .authenticating:
                // No grace to take the frame: while it stays open it holds a connection.
                handshakeTimer?.cancel()
                state = .closed
                let limit =
                    evicted.perAddress
                    ? "at most \(server.configuration.maximumConnectionsPerAddress) connections from one address"
                    : "at most \(server.handshakeSlots) may be in their handshake at once"
                context.writeAndFlush(wrapOutboundOut(Frame(.error, requestID: 0, body: ErrorBody(
                    code: "too-many-connections",
                    message: "this connection had not authenticated, and a newer one took its place (\(limit)); connect again and send HELLO and AUTH at once").value)), promise: nil)
                context.close(promise: nil)
            case .ready, .closed:
                break  // closing anyway (it cannot have authenticated since: `authenticated` refuses)
            }
            return
        }
        if let ended = event as? TokenRefused {
            logger.notice("closing a connection whose token no longer lets it in", metadata: ["reason": "\(ended.refusal.code)", "principal": "\(principalDescription)"])
            fail(context, requestID: 0, ErrorBody(code: ended.refusal.code, message: "\(ended.refusal.message); this connection is closed"), abandoningQueued: true)
            return
        }
        if event is IdleStateHandler.IdleStateEvent {
            // Before authentication the handshake timeout governs; a busy session is not idle.
            guard case .ready(let session) = state else { return }
            if session.isBusy { return }
            logger.info("closing idle connection", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            fail(context, requestID: 0, ErrorBody(code: "idle-timeout", message: "no request for \(server.configuration.idleTimeout.nanoseconds / 1_000_000_000) s"))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wire = error as? WireError {
            logger.warning("bad frame; closing the connection", metadata: ["error": "\(wire.code.rawValue)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            fail(context, requestID: 0, ErrorBody(code: wire.code.rawValue, message: wire.message))
        } else if case .closed = state {
            return
        } else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// Writes an ERROR frame and closes the connection after it is sent (at once if the client is
    /// not taking what it is sent; within `closeGrace` if it stops). The connection's queued
    /// requests are dropped (`Session.finish`), as when it closes by itself.
    func fail(_ context: ChannelHandlerContext, requestID: UInt32, _ error: ErrorBody, abandoningQueued: Bool = true) {
        if case .closed = state { return }
        let channel = context.channel
        // A client that has stopped reading would never take the frame, and the close would wait on it.
        guard channel.isWritable else {
            close(context, abandoningQueued: abandoningQueued)
            return
        }
        if case .ready(let session) = state { session.finish(abandoningQueued: abandoningQueued) }
        state = .closed
        let fallback = context.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        context.writeAndFlush(wrapOutboundOut(Frame(.error, requestID: requestID, body: error.value))).whenComplete { _ in
            fallback.cancel()
            channel.close(promise: nil)
        }
    }

    /// Closes the connection now, with no ERROR frame.
    func close(_ context: ChannelHandlerContext, abandoningQueued: Bool) {
        if case .ready(let session) = state { session.finish(abandoningQueued: abandoningQueued) }
        state = .closed
        context.close(promise: nil)
    }
}
