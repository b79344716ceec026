import DocketCore
import DocketStore
import DocketWire
import Logging
import NIOCore
import Synchronization

// Small appends answered from the event loop.
//
// An append's work before the writer is CPU work measured in microseconds (decoding, encoding,
// compressing a few events), and the writer takes it without blocking; the answer is written
// from the writer thread the moment the commit is durable. Going through the connection's task
// instead costs two thread hand-offs each way, which on a small machine is most of an append's
// time. Everything that reads or waits (commands, queries, large appends, synchronous
// replication) still runs off the event loop.
extension Session {
    /// Most events an APPEND_EVENTS may carry to be handled in place.
    static let inPlaceLimit = 16

    /// Handles `frame` on the event loop if it is a small APPEND_EVENTS that can be: from an
    /// admin, on a connection with nothing queued. With synchronous replicas, the answer waits
    /// (off any thread) until enough followers hold the append.
    /// False: queue it as usual.
    func appendInPlace(_ frame: Frame) -> Bool {
        // Not on a connection the node is closing (a revoked token), nor once its token has
        // expired: queued, it is refused.
        guard frame.type == .appendEvents, principal.role == .admin, queued.load(ordering: .acquiring) == 0,
            !abandoned.load(ordering: .acquiring), !server.metrics.draining.load(ordering: .relaxed), expiresAt.map({ Timestamp.now() < $0 }) ?? true,
            let count = frame.binary.flatMap({ b in b.withUnsafeReadableBytes { ProposedEventCodec.eventCount($0) } }),
            count <= Self.inPlaceLimit
        else { return false }
        let id = frame.requestID
        guard inPlace.withLock({ $0.count }) < server.configuration.maximumInFlightPerConnection else {
            server.logger.warning("request refused: too many in flight", metadata: ["principal": "\(principal)", "limit": "\(server.configuration.maximumInFlightPerConnection)"])
            replyError(id, ErrorBody(
                code: "too-many-requests", message: "at most \(server.configuration.maximumInFlightPerConnection) requests may be in flight on one connection"))
            return true
        }
        let stream: StreamName
        let expected: ExpectedVersion
        let events: [ProposedEvent]
        do {
            (stream, expected, events) = try Self.decodeAppendEvents(frame, actor: principal.subject)
        } catch {
            replyError(id, Self.errorBody(error))
            return true
        }
        inPlace.withLock { $0.count += 1 }
        server.metrics.inFlight.add(1, ordering: .relaxed)
        let ledger = server.ledger
        do {
            try ledger.append(to: stream, expecting: expected, events: events, as: principal) { [self] result in
                switch result {
                case .success(let r):
                    // With --sync-replicas, acknowledged only once enough followers hold it.
                    server.replication.whenReplicated(through: r.lastSequence, on: channel.eventLoop) { [self] replicated in
                        switch replicated {
                        case .success:
                            if !r.duplicate { server.metrics.recordAppend(events.count) }
                            reply(.appended, id, Self.appendedBody(r))
                        case .failure(let error):
                            server.logger.info("request refused", metadata: ["type": "\(frame.type)", "code": "\(Self.errorBody(error).code)", "principal": "\(principal)"])
                            replyError(id, Self.errorBody(error))
                        }
                        inPlaceAppendDone()
                    }
                    return
                case .failure(let error):
                    server.logger.info("request refused", metadata: ["type": "\(frame.type)", "code": "\(error.code)", "principal": "\(principal)"])
                    replyError(id, Self.errorBody(error))
                }
                inPlaceAppendDone()
            }
        } catch {
            replyError(id, Self.errorBody(error))
            inPlaceAppendDone()
        }
        return true
    }

    private func inPlaceAppendDone() {
        server.metrics.inFlight.subtract(1, ordering: .relaxed)
        let waiters = inPlace.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.count -= 1
            guard s.count == 0 else { return [] }
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Returns once no append of this connection is being answered in place.
    func inPlaceAppendsDone() async {
        guard inPlace.withLock({ $0.count > 0 }) else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = inPlace.withLock { s -> Bool in
                if s.count == 0 { return true }
                s.waiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }

    static func decodeAppendEvents(_ frame: Frame, actor: String) throws -> (StreamName, ExpectedVersion, [ProposedEvent]) {
        guard let body = frame.binary else { throw MessageError("APPEND_EVENTS: no body") }
        return try body.withUnsafeReadableBytes { raw in
            Result { () throws(CoreError) in try ProposedEventCodec.decode(raw, actor: actor) }
        }.mapError { MessageError("APPEND_EVENTS: \($0.message)") }.get()
    }

    static func appendedBody(_ r: AppendResult) -> Value {
        .object([
            ("first", .int(Int64(r.firstSequence))), ("last", .int(Int64(r.lastSequence))), ("version", .int(Int64(r.streamVersion))),
            ("recordedAt", .string(r.recordedAt.rfc3339)), ("duplicate", .bool(r.duplicate)),
        ])
    }
}
