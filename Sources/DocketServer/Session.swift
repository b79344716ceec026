import DocketCore
import DocketStore
import DocketWire
import Logging
import NIOCore
import Synchronization

/// An authenticated connection's requests: queued in arrival order and executed one at a time on
/// a task of their own (storage work never runs on the event loop), each answered with a frame
/// carrying its request id. Subscriptions run beside the queue, paced by the client's credit.
final class Session: Sendable {
    let server: DocketServer
    let channel: any Channel
    let principal: Principal
    private let queue: AsyncStream<(frame: Frame, bytes: Int)>.Continuation
    let queued = Atomic<Int>(0)
    /// Wire bytes of the requests queued and running. A request is held decoded, which takes
    /// several times its bytes: past `queuedBytesLimit`, the connection is not read (its further
    /// requests wait in the kernel's socket buffers, as when it does not take its answers) until
    /// they drain to half of it. Else a client could pipeline hundreds of 4 MiB frames behind one
    /// slow request (a view folded on a busy view thread, a write waiting on a synchronous replica).
    let queuedBytes = Atomic<Int>(0)
    /// Whether reading stopped for `queuedBytes` (set on the event loop; `Connection.updateReading`).
    let readingHeld = Atomic<Bool>(false)
    /// One largest frame: small requests pipeline freely, a large one waits for the one before.
    var queuedBytesLimit: Int { server.configuration.maximumFrameLength }
    /// Appends answered from the event loop (FastAppend.swift) not yet durable; queued requests
    /// wait for them, so a connection's requests still take effect in the order they came.
    let inPlace = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))
    /// Subscriptions and replication streams (Replication.swift), by request id.
    let subscriptions = Mutex(Subscriptions())
    private let worker: Mutex<Task<Void, Never>?> = Mutex(nil)
    /// Whether the client takes its answers: while it does not (more than `outboundBufferLimit`
    /// written and unread), the next request waits, so it costs the node one answer more at most.
    private let writable = Mutex<(yes: Bool, waiters: [CheckedContinuation<Void, Never>])>((true, []))
    /// Subscriptions write their frames one at a time, each waiting until its frame is in the
    /// channel's buffer: however many a connection holds, the node holds at most one of their
    /// frames beyond `outboundBufferLimit` for a client that does not read (and the answer to one
    /// request). Writing at once, each would add a frame before any saw the buffer full.
    private let writingTurn = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// Set while this connection's request revokes its own token (as when rotating): the checks
    /// that close revoked tokens' connections leave it until that request is answered, and it
    /// closes straight after the answer.
    let revokingItself = Atomic<Bool>(false)
    /// Set when the node closed the connection on its own account (a revoked token, answers left
    /// unread): requests still queued are dropped, not run under a principal that has lost its access.
    let abandoned = Atomic<Bool>(false)

    /// When the token the connection authenticated with expires, if it does: the appends answered
    /// on the event loop, which do not look the token up, stop there (a revocation on this node
    /// closes the connection at once; one replicated from the leader, within a periodic check).
    let expiresAt: Timestamp?

    init(server: DocketServer, channel: any Channel, principal: Principal, expiresAt: Timestamp? = nil) {
        self.server = server
        self.channel = channel
        self.principal = principal
        self.expiresAt = expiresAt
        let (stream, continuation) = AsyncStream<(frame: Frame, bytes: Int)>.makeStream()
        self.queue = continuation
        let task = Task { [self] in
            for await (frame, bytes) in stream {
                await inPlaceAppendsDone()
                await untilWritable()
                if !abandoned.load(ordering: .relaxed) {
                    await handle(frame)
                    // Its answer is written on the event loop: wait until the loop has put it in the
                    // channel's buffer (and, if that filled it, called `setWritable(false)`), so that
                    // the next request waits when it should; else several answers would be built
                    // before the loop said so.
                    await writesDone()
                }
                // Releasing: an in-place append that sees the queue empty sees `abandoned` too.
                queued.subtract(1, ordering: .releasing)
                server.metrics.inFlight.subtract(1, ordering: .relaxed)
                // (Sequentially consistent, with `readingHeld`: of this and a read that holds
                // reading, one sees the other's change, so reading is never left held.)
                let left = queuedBytes.subtract(bytes, ordering: .sequentiallyConsistent).newValue
                if left <= queuedBytesLimit / 2, readingHeld.load(ordering: .sequentiallyConsistent) {
                    channel.pipeline.fireUserInboundEventTriggered(QueueDrained())
                }
            }
        }
        worker.withLock { $0 = task }
    }

    /// The requests queued drained to half `queuedBytesLimit`: reading may resume.
    struct QueueDrained {}

    /// A request's client went away before it ran (a view fold waiting for a view thread).
    struct ClientGone: Error {}

    /// Whether the requests queued and running hold more than `queuedBytesLimit` (`below`: more
    /// than half of it).
    func holdsTooMuch(below: Bool = false) -> Bool {
        queuedBytes.load(ordering: .sequentiallyConsistent) > (below ? queuedBytesLimit / 2 : queuedBytesLimit)
    }

    /// Queues a request of `bytes` on the wire; false when the connection already has its
    /// maximum in flight.
    func enqueue(_ frame: Frame, bytes: Int) -> Bool {
        if server.metrics.draining.load(ordering: .relaxed) {
            replyError(frame.requestID, DocketServer.shuttingDown)
            return true
        }
        guard queued.add(1, ordering: .relaxed).newValue <= server.configuration.maximumInFlightPerConnection else {
            queued.subtract(1, ordering: .relaxed)
            return false
        }
        server.metrics.inFlight.add(1, ordering: .relaxed)
        queuedBytes.add(bytes, ordering: .sequentiallyConsistent)
        queue.yield((frame, bytes))
        return true
    }

    /// Whether it has work or a live subscription (an idle-looking subscriber is not idle).
    var isBusy: Bool {
        queued.load(ordering: .relaxed) > 0 || inPlace.withLock { $0.count > 0 } || subscriptions.withLock { !$0.live.isEmpty }
    }

    /// The connection closed: stop taking requests and end the subscriptions. The request in
    /// progress completes (its answer goes nowhere); with `abandoningQueued` (what a closed
    /// connection does) the ones queued behind it are dropped, else they still run.
    func finish(abandoningQueued: Bool = false) {
        if abandoningQueued { abandoned.store(true, ordering: .relaxed) }
        server.untrack(self)
        queue.finish()
        setWritable(true)
        for s in subscriptions.withLock({ $0.close() }) { s.cancel() }
    }

    /// The channel's writability changed (on its event loop).
    func setWritable(_ yes: Bool) {
        let resumed = writable.withLock { w -> [CheckedContinuation<Void, Never>] in
            w.yes = yes
            guard yes else { return [] }
            defer { w.waiters.removeAll() }
            return w.waiters
        }
        for c in resumed { c.resume() }
    }

    /// Returns once the event loop has run the writes issued so far (they run in order); their
    /// writability changes reach `setWritable` on the loop, as they happen.
    private func writesDone() async {
        try? await channel.eventLoop.submit {}.get()
    }

    private func untilWritable() async {
        if writable.withLock({ $0.yes }) { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = writable.withLock { w -> Bool in
                if w.yes { return true }
                w.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func reply(_ type: FrameType, _ requestID: UInt32, _ body: Value) {
        channel.writeAndFlush(Frame(type, requestID: requestID, body: body), promise: nil)
    }

    func replyError(_ requestID: UInt32, _ error: ErrorBody) {
        channel.writeAndFlush(Frame(.error, requestID: requestID, body: error.value), promise: nil)
    }

    // MARK: Requests

    func handle(_ frame: Frame) async {
        do {
            // A token revoked (or expired) since the last periodic check runs no more requests:
            // the connection is closed as the check would close it.
            // (If the token records cannot be read, the request fails, as an AUTH would.)
            if let refused = try server.tokenRefusal(of: principal) {
                abandoned.store(true, ordering: .relaxed)  // nor any request queued behind it
                channel.pipeline.fireUserInboundEventTriggered(TokenRefused(refusal: refused))
                return
            }
            try await dispatch(frame)
        } catch is ClientGone {
            return  // nobody to answer, nothing to log
        } catch {
            let body = Self.errorBody(error)
            // Expected refusals are info; anything else is worth a warning, with what went wrong
            // for the operator (the client is told only that it did). Never the payload.
            if body.code == Self.internalError {
                server.logger.warning("request failed", metadata: ["type": "\(frame.type)", "error": "\(error)", "principal": "\(principal)"])
            } else {
                server.logger.info("request refused", metadata: ["type": "\(frame.type)", "code": "\(body.code)", "principal": "\(principal)"])
            }
            replyError(frame.requestID, body)
        }
        if revokingItself.load(ordering: .relaxed) {
            // Answered (the answer is queued ahead of this). Its token is looked up again whether
            // the revocation succeeded or not (another connection may have revoked it meanwhile,
            // and this one failed as "already revoked"): refused, or unreadable, it closes now as
            // a check would; still good, the checks apply to it again.
            let refusal: Tokens.Refused?
            do { refusal = try server.tokenRefusal(of: principal) } catch {
                refusal = Tokens.Refused(code: "token-revoked", message: "token \(principal.tokenID ?? "?") may have been revoked (the token records cannot be read)")
            }
            if let refusal {
                abandoned.store(true, ordering: .releasing)
                channel.pipeline.fireUserInboundEventTriggered(TokenRefused(refusal: refusal))
            } else {
                revokingItself.store(false, ordering: .relaxed)
            }
        }
    }

    private func dispatch(_ frame: Frame) async throws {
        let id = frame.requestID
        let ledger = server.ledger
        switch frame.type {
        case .status:
            var status: [(key: String, value: Value)] = [
                ("version", .string(DocketVersion.current)), ("protocol", .int(Frame.protocolVersion)), ("role", .string(server.replication.roleName)),
                ("principal", .string(principal.role.rawValue)), ("ledger", .string(ledger.store.ledgerID)),
            ]
            // Reporters learn nothing about the volume of other people's reports, nor maintainers
            // about other projects': the head, polled, would tell when each of their records is made.
            if principal.role != .reporter && principal.role != .maintainer {
                status += [
                    ("lastSequence", .int(Int64(ledger.store.head.sequence))), ("connections", .int(Int64(server.connectionCount))),
                    ("appendRate", .double(server.metrics.appendRate)),
                ] + server.replication.statusFields
            }
            reply(.statusResult, id, .object(status))
        case .appendEvents:
            try Ledger.mayAppendRaw(principal)  // before decoding up to 10,000 events for nothing
            let (stream, expected, events) = try Self.decodeAppendEvents(frame, actor: principal.subject)
            let r = try await ledger.append(to: stream, expecting: expected, events: events, as: principal)
            try await server.replication.replicated(through: r.lastSequence, on: channel.eventLoop)
            if !r.duplicate { server.metrics.recordAppend(events.count) }
            reply(.appended, id, Self.appendedBody(r))
        case .append:
            let b = try Body(frame.body, "APPEND")
            let stream = try StreamName(try b.string("stream"))
            let expected: ExpectedVersion = try b.optionalInt("expected").map { .exact(UInt64(max($0, 0))) } ?? .any
            guard let list = frame.body["events"]?.arrayValue, !list.isEmpty else { throw MessageError("APPEND: \"events\" must be a non-empty array") }
            // Who may, and how many, before any event is built: each costs an id and an encoding.
            try Ledger.mayAppendRaw(principal)
            guard list.count <= EventStore.maximumEventsPerAppend else {
                throw StoreError(.batchTooLarge, "an append may carry at most \(EventStore.maximumEventsPerAppend) events, got \(list.count)")
            }
            var events: [ProposedEvent] = []
            events.reserveCapacity(list.count)
            for e in list { events.append(try ProposedEvent(wire: e, actor: principal.subject)) }
            let r = try await ledger.append(to: stream, expecting: expected, events: events, as: principal)
            try await server.replication.replicated(through: r.lastSequence, on: channel.eventLoop)
            if !r.duplicate { server.metrics.recordAppend(events.count) }
            reply(.appended, id, Self.appendedBody(r))
        case .read:
            try requireLogReader()
            let b = try Body(frame.body, "READ")
            let from = UInt64(max(try b.optionalInt("from") ?? 1, 1))
            let limit = Int(min(max(try b.optionalInt("limit") ?? Int64(server.configuration.eventsPerFrame), 0), Int64(server.configuration.eventsPerFrame)))
            let events: [RecordedEvent]
            // Read no more than one frame can carry (`fitting` then trims to exactly that).
            if let stream = try b.optionalString("stream") {
                events = try ledger.store.read(stream: try StreamName(stream), fromVersion: from, limit: limit, maxBytes: frameBudget)
            } else {
                events = try ledger.store.read(from: from, limit: limit, maxBytes: frameBudget)
            }
            reply(.events, id, .object([("events", .array(fitting(events).map(wireForm))), ("head", .int(Int64(ledger.store.head.sequence)))]))
        case .command:
            let b = try Body(frame.body, "COMMAND")
            let report = try b.string("report")
            let command = try ReportCommand(wire: frame.body["command"] ?? .null)
            let eventID = try b.optionalString("id").map { try EventID($0) }
            let outcome = try await ledger.execute(
                command, report: report, as: principal, at: try b.optionalTime("at"), eventID: eventID,
                creditFromPolicy: try b.optionalBool("creditFromPolicy") ?? false)
            try await server.replication.replicated(through: outcome.result.lastSequence, on: channel.eventLoop)
            if !outcome.result.duplicate { server.metrics.recordAppend(outcome.events.count) }
            reply(.commandResult, id, outcome.wireValue)
        case .query:
            let query = try ViewQuery(wire: frame.body)
            let asOf = try AsOfSpec(wire: frame.body["asOf"])
            let page = try ViewPage(wire: frame.body)
            try ledger.checkQuery(query, asOf: asOf, as: principal)
            let principal = self.principal
            var answer: Value
            if case .now = asOf, !query.isReplay, ledger.liveViewsAreWarm {
                // The live views, caught up by the few events since the last query: answered here.
                answer = try ledger.query(query, asOf: asOf, page: page, as: principal)
            } else {
                // A view as of a past instant folds the log again (a replay renders every view),
                // and so does the first query of the live views: on the node's view threads, in
                // turn, not on the threads every request needs.
                answer = try await server.offload { [self] in
                    // Its client went away while it waited for a view thread: not folded for nobody
                    // (a client that asks and hangs up, again and again, must not queue folds without end).
                    if abandoned.load(ordering: .relaxed) { throw ClientGone() }
                    return try ledger.query(query, asOf: asOf, page: page, as: principal)
                }
            }
            // A follower that is not following its leader says so with what it answers: its
            // clocks may show running or breached what the leader has recorded as done.
            // (For a reporter, the state alone: STATUS shows them no replication, and the lag
            // would tell how much the leader holds that they cannot see.)
            if let lag = server.replication.viewsMayLag, case .object(var members) = answer {
                members.append(("replication", principal.role == .reporter ? .object([("state", lag["state"] ?? .null)]) : lag))
                answer = .object(members)
            }
            // A view is as large as what it shows, which a client may make as large as it likes
            // (a reporter's own reports, each near the event limit): one frame at most, as the
            // client reads no larger, and as a node holds for a client that does not read.
            // Encoded once, here: the frame carries these bytes as they are.
            let body = Payload(answer).bytes
            let size = body.count + Frame.headerSize
            guard size <= server.configuration.maximumFrameLength else {
                let narrower: String
                switch query {
                case .state: narrower = "read it in smaller pages (\"limit\"), or narrow it (a project, a state, a severity, an assignee or one report)"
                case .timers: narrower = "read it in smaller pages (\"limit\"), or narrow it (a project, one report, or only the late or soon due)"
                case .hallOfFame: narrower = "narrow it to a year"
                case .history: narrower = "read the report's stream in pages instead (docket read --stream report/ID, for those who may read the log)"
                default: narrower = "it has nothing to narrow it by: run it on a copy of the data directory (--data-dir) instead"
                }
                throw ErrorBody(
                    code: "answer-too-large",
                    message: "the \(query.name) view is \(size) bytes here, over the \(server.configuration.maximumFrameLength)-byte frame limit: \(narrower)")
            }
            channel.writeAndFlush(Frame(.queryResult, requestID: id, binary: ByteBuffer(bytes: body)), promise: nil)
        case .subscribe:
            try requireLogReader()
            let b = try Body(frame.body, "SUBSCRIBE")
            let from = UInt64(max(try b.optionalInt("from") ?? 1, 1))
            let credit = Int(min(max(try b.optionalInt("credit") ?? 1024, 0), Subscription.maximumCredit))
            let subscription = Subscription(credit: credit)
            // Registered before SUBSCRIBED goes out, so a CREDIT right after it finds it.
            let registered = subscriptions.withLock { d -> Bool? in
                guard d.live[id] == nil else { return false }
                guard d.live.count < Self.maximumSubscriptions else { return nil }
                d.add(subscription, id: id)
                return true
            }
            guard let registered else { throw Self.tooManySubscriptions }
            guard registered else { throw MessageError("SUBSCRIBE: request id \(id) already names a live subscription on this connection") }
            // (A connection that closed meanwhile registered it cancelled: its stream ends at once.)
            // SUBSCRIBED is written before the stream starts, so it precedes every EVENTS frame.
            reply(.subscribed, id, .object([("subscription", .int(Int64(id))), ("head", .int(Int64(ledger.store.head.sequence)))]))
            subscription.start(Task { [self] in await stream(subscription, id: id, from: from) })
        case .admin:
            let (answer, wrote) = try await admin(frame)
            // What it wrote is acknowledged only once synchronous followers hold it, like any
            // other write (a promotion has none yet); what only reads waits for nothing.
            if let wrote {
                do { try await server.replication.replicated(through: wrote, on: channel.eventLoop) } catch let e as ReplicationError where e.code == "replication-timeout" {
                    throw Self.adminTimeout(e, action: frame.body["action"]?.stringValue ?? "?", answer: answer)
                }
            }
            reply(.adminResult, id, answer)
        case .replicate, .chain, .fence:
            try await server.replication.handle(frame, session: self)
        default:
            throw MessageError("\(frame.type) is not a request")
        }
    }

    private func requireLogReader() throws {
        guard [.admin, .auditor, .replica].contains(principal.role) else {
            throw Forbidden("reading the raw log needs an admin, auditor or replica token; use the views")
        }
    }

    /// An ADMIN write's replication timeout, said for ADMIN: it has no event ids to retry with.
    /// The write is recorded on this node; a token made is named, with its secret (the answer
    /// that would have carried it is replaced by this error, and a retry would make another).
    static func adminTimeout(_ e: ReplicationError, action: String, answer: Value) -> ReplicationError {
        var details: [(key: String, value: Value)] = []
        if case .object(let fields)? = e.details { details = fields }
        var message = "ADMIN \(action) is recorded on this node, but fewer synchronous followers than required confirmed it in time, so it was NOT acknowledged: if this node fails before they catch up it may be lost. "
        switch action {
        case "token-create":
            details += [("id", answer["id"] ?? .null), ("token", answer["token"] ?? .null)]
            message += "The token (\(answer["id"]?.stringValue ?? "?"), its secret in details.token) works on this node; check with `docket token list` once the followers have caught up, or revoke it, rather than create another"
        case "token-revoke":
            message += "Revoke it again once the followers have caught up: 'already revoked' then means it holds"
        default:
            message += "Check the node's state once the followers have caught up before repeating it"
        }
        return ReplicationError(e.code, message, details: .object(details))
    }

    /// Runs an ADMIN action: its answer, and the sequence through which it wrote (nil if it
    /// wrote nothing that followers must hold before it is answered).
    private func admin(_ frame: Frame) async throws -> (answer: Value, wrote: UInt64?) {
        let b = try Body(frame.body, "ADMIN")
        let tokens = Tokens(ledger: server.ledger)
        switch try b.string("action") {
        case "token-create":
            let (record, secret) = try await tokens.create(
                role: try b.enumeration("role", Role.self), project: try b.optionalString("project"), subject: try b.string("name"),
                expiresAt: try b.optionalTime("expiresAt"), standby: try b.optionalBool("standby") ?? false, by: principal)
            server.logger.notice("token created", metadata: ["token": "\(record.id)", "role": "\(record.role)", "by": "\(principal)"])
            var answer: [(key: String, value: Value)] = [("id", .string(record.id)), ("role", .string(record.role.rawValue)), ("token", .string(secret))]
            if record.role == .replica { answer.append(("standby", .bool(record.standby))) }
            // Made and recorded already: a failure to say who shares its handle must not lose its secret.
            let holders = (try? tokens.holders(ofHandleOf: record)) ?? Tokens.HandleHolders()
            if !holders.inUse.isEmpty { answer.append(("sameHandle", .array(holders.inUse.map { .string($0.id) }))) }
            if !holders.former.isEmpty { answer.append(("formerHandle", .array(holders.former.map { .string($0.id) }))) }
            return (.object(answer), server.ledger.store.head.sequence)
        case "token-revoke":
            let tokenID = try b.string("id")
            // Its own token: answered first, then closed (`handle`); spared until then by every
            // check, from before the revocation is written.
            if tokenID == principal.tokenID { revokingItself.store(true, ordering: .relaxed) }
            try await tokens.revoke(id: tokenID, by: principal, lastAdmin: try b.optionalBool("lastAdmin") ?? false)
            server.logger.notice("token revoked", metadata: ["token": "\(tokenID)", "by": "\(principal)"])
            // Its connections close now, not at the next periodic check: small appends answered
            // on the event loop (FastAppend.swift) do not look the token up each time.
            server.endRefusedSessions(afterRevocation: true)
            return (.object([("id", .string(tokenID)), ("revoked", .bool(true))]), server.ledger.store.head.sequence)
        case "policy-adopt":
            let project = try b.string("project")
            // Who may, before the policy is read: parsing is work, and its errors can be long.
            try server.ledger.checkProjectEvent(project: project, as: principal, at: try b.optionalTime("at"))
            let policy: Policy
            do { policy = try Policy.parse(try b.string("policy"), file: try b.optionalString("file") ?? "policy", adopting: true) } catch let e as PolicyError {
                throw DomainError(.policy, e.description(limit: 100))
            }
            let zone = try ZoneRules(identifier: try b.string("zone"), encodedTransitions: try b.strings("zoneTransitions"))
            guard zone.identifier == policy.timeZone || (policy.timeZone == "UTC" && zone.identifier == "Etc/UTC") else {
                throw MessageError("ADMIN policy-adopt: the zone rules are for \(zone.identifier) but the policy's time zone is \(policy.timeZone)")
            }
            let at = try b.optionalTime("at")
            try TimeZoneDatabase.check(zone, from: at ?? .now())
            // A dated adoption is checked against every report (Ledger.refuseRetroactiveAdoption):
            // views still cold are folded first on a view thread, not on the shared ones.
            if at != nil, !server.ledger.liveViewsAreWarm {
                let ledger = server.ledger
                _ = try await server.offload { try ledger.projection(asOf: .latest(now: .now())).lastSequence }
            }
            let r = try await server.ledger.appendProjectEvent(.policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: zone)), project: project, as: principal, at: at)
            return (.object([("project", .string(project)), ("policy", .string(policy.name)), ("version", .int(Int64(policy.version))), ("seq", .int(Int64(r.lastSequence)))]), r.lastSequence)
        case "promote":
            let promotion = try await server.replication.promote(by: principal)
            return (promotion.wireValue, nil)
        case let action where Ledger.forensicActions.contains(action):
            // Checkpoints, receipts and proofs (Notary.swift, protocol.md §8.8): a checkpoint (and a
            // proof that asks for a new one) writes; the others only read.
            let writes = action == "checkpoint" || (action == "proof" && frame.body["newCheckpoint"]?.boolValue == true)
            let answer = try await server.ledger.forensic(action, frame.body, as: principal)
            return (answer, writes ? server.ledger.store.head.sequence : nil)
        case let other:
            throw MessageError("ADMIN: unknown action \"\(other)\"")
        }
    }

    // MARK: Subscriptions

    /// CREDIT and UNSUBSCRIBE, handled as they arrive.
    func control(_ frame: Frame) {
        if frame.type == .replicateAck {
            server.replication.acknowledge(frame, session: self)
            return
        }
        let subscriptionID = UInt32(truncatingIfNeeded: frame.body["subscription"]?.intValue ?? -1)
        guard let s = subscriptions.withLock({ $0.live[subscriptionID] }) else {
            // Not with request id 0, which would read as a connection-level error (protocol.md §9):
            // a client unsubscribing from a subscription the node already ended, say.
            if frame.requestID != 0 {
                replyError(frame.requestID, ErrorBody(code: "unknown-subscription", message: "no subscription \(subscriptionID) on this connection"))
            }
            return
        }
        if frame.type == .unsubscribe {
            s.cancel()
            _ = subscriptions.withLock { $0.live.removeValue(forKey: subscriptionID) }
        } else {
            s.grant(Int(min(max(frame.body["credit"]?.intValue ?? 0, 0), Subscription.maximumCredit)))
        }
    }

    /// Catches up from `from`, then tails the head, sending at most the credit granted.
    private func stream(_ s: Subscription, id: UInt32, from: UInt64) async {
        var next = from
        let ledger = server.ledger
        while !Task.isCancelled && channel.isActive {
            let allowed = await s.take(upTo: server.configuration.eventsPerFrame)
            guard allowed > 0, !Task.isCancelled else { return }
            // Credit paces a subscription, but a client may grant far more than it reads: the frame
            // is read and written in the connection's writing turn, once the client takes its answers.
            await takeWritingTurn()
            let step = await sendFrame(s, id: id, from: next, allowed: allowed)
            endWritingTurn()
            switch step {
            case .sent(let last): next = last + 1
            case .caughtUp: _ = await ledger.waitForHead(after: next - 1, timeout: .seconds(1))
            case .ended: return
            }
        }
    }

    private enum StreamStep {
        case sent(through: UInt64)
        case caughtUp
        case ended
    }

    /// One EVENTS frame of subscription `id` from `next` (at most `allowed` events), in the writing
    /// turn: it waits until the client takes its answers, and sends nothing if the subscription
    /// ended meanwhile (unsubscribed, or its connection closed), so no frame of it follows.
    private func sendFrame(_ s: Subscription, id: UInt32, from next: UInt64, allowed: Int) async -> StreamStep {
        await untilWritable()
        guard !Task.isCancelled else { return .ended }
        let events: [RecordedEvent]
        do { events = try server.ledger.store.read(from: next, limit: allowed, maxBytes: frameBudget) } catch {
            replyError(id, Self.errorBody(error))
            _ = subscriptions.withLock { $0.live.removeValue(forKey: id) }
            return .ended
        }
        guard !events.isEmpty else {
            s.giveBack(allowed)
            return .caughtUp
        }
        let sent = fitting(events)
        s.giveBack(allowed - sent.count)
        await replyBuffered(.events, id, .object([("events", .array(sent.map(wireForm))), ("subscription", .int(Int64(id)))]))
        return .sent(through: sent.last!.sequence)
    }

    /// An event of the raw log as this connection's principal reads it: auditors without
    /// reporters' contacts.
    private func wireForm(_ e: RecordedEvent) -> Value {
        principal.role == .auditor ? ViewRenderer.withoutContact(e) : e.wireValue
    }

    /// Waits for the connection's writing turn: its subscriptions write one at a time.
    private func takeWritingTurn() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = writingTurn.withLock { t -> Bool in
                guard t.busy else {
                    t.busy = true
                    return true
                }
                t.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    /// Hands the writing turn to the next subscription waiting for it, if any.
    private func endWritingTurn() {
        let next = writingTurn.withLock { t -> CheckedContinuation<Void, Never>? in
            guard !t.waiters.isEmpty else {
                t.busy = false
                return nil
            }
            return t.waiters.removeFirst()
        }
        next?.resume()
    }

    /// Writes a frame of a stream other than a subscription (a replication stream's RECORDS) as
    /// subscriptions write theirs: in the writing turn, once the client takes its answers, and
    /// returning once the frame is in the channel's buffer. Whatever window a follower asked
    /// for, one that stops reading holds the node to a frame beyond `outboundBufferLimit`.
    func writeStreamed(_ frame: Frame) async {
        await takeWritingTurn()
        await untilWritable()
        let channel = self.channel
        try? await channel.eventLoop.submit { channel.writeAndFlush(frame, promise: nil) }.get()
        endWritingTurn()
    }

    /// `reply`, returning once the frame is in the channel's buffer, so that the writability the
    /// next writer sees counts it.
    private func replyBuffered(_ type: FrameType, _ requestID: UInt32, _ body: Value) async {
        let (channel, frame) = (self.channel, Frame(type, requestID: requestID, body: body))
        try? await channel.eventLoop.submit { channel.writeAndFlush(frame, promise: nil) }.get()
    }

    /// The bytes of events an EVENTS frame carries at most: half the maximum frame length, so
    /// every answer fits what a client accepts.
    private var frameBudget: Int { server.configuration.maximumFrameLength / 2 }

    /// The longest prefix of `events` (at least one) whose EVENTS frame stays within `frameBudget`.
    /// (Each event is counted at more than its envelope's size, which is what the store's reads
    /// stop at: a read for this frame holds at least what it takes.)
    private func fitting(_ events: [RecordedEvent]) -> [RecordedEvent] {
        let budget = frameBudget
        var size = 0
        for (i, e) in events.enumerated() {
            size += e.payload.bytes.count + e.stream.rawValue.utf8.count + e.actor.utf8.count + e.type.rawValue.utf8.count + 256
            if size > budget { return Array(events.prefix(max(i, 1))) }
        }
        return events
    }

    static func errorBody(_ error: any Error) -> ErrorBody {
        // An error that is no refusal can name files and internals of the node; the node logs it
        // (`handle`), the client is told only that the request failed.
        ErrorBody(refusal: error) ?? ErrorBody(code: internalError, message: "the node could not answer this request; its log says why")
    }

    static let internalError = "internal"

    /// Subscriptions (replication streams included) one connection may hold at once: each is a
    /// task reading the log, which a client must not be able to start without end.
    static let maximumSubscriptions = 64

    static let tooManySubscriptions = ErrorBody(
        code: "too-many-subscriptions",
        message: "a connection may hold at most \(maximumSubscriptions) subscriptions; unsubscribe from one, or use another connection")
}

/// A connection's live subscriptions, and whether it has closed: once it has, none is registered.
struct Subscriptions {
    private(set) var closed = false
    var live: [UInt32: Subscription] = [:]

    /// Registers `s` under `id`; on a closed connection, cancels it instead (a request that was
    /// running as the connection closed must not leave a stream nobody ends). Whether it is live.
    @discardableResult
    mutating func add(_ s: Subscription, id: UInt32) -> Bool {
        guard !closed else {
            s.cancel()
            return false
        }
        live[id] = s
        return true
    }

    /// Unregisters `s`, if it is still the one under `id` (one that ended on the node's side).
    mutating func remove(_ s: Subscription, id: UInt32) {
        if live[id] === s { live.removeValue(forKey: id) }
    }

    /// Closes the connection's set: the subscriptions it held, to cancel.
    mutating func close() -> [Subscription] {
        closed = true
        defer { live.removeAll() }
        return Array(live.values)
    }
}

/// One subscription's credit: how many more events the client will take.
final class Subscription: Sendable {
    private struct State {
        var credit: Int
        var waiter: CheckedContinuation<Void, Never>?
        /// The task in `take` was cancelled (perhaps before its waiter was stored); reset by each
        /// `take`, so it never outlives the call it was meant for.
        var cancelled = false
    }
    private let state: Mutex<State>
    /// The streaming task, and whether it was cancelled before it was set (a connection can
    /// close between registering the subscription and starting its task).
    private let taskBox = Mutex<(task: Task<Void, Never>?, cancelled: Bool)>((nil, false))

    /// Credit is capped so a hostile grant cannot overflow it.
    static let maximumCredit: Int64 = 1 << 24

    init(credit: Int) { state = Mutex(State(credit: credit)) }

    /// Sets the streaming task; cancels it at once if the subscription was cancelled already.
    func start(_ task: Task<Void, Never>) {
        let cancelled = taskBox.withLock { b -> Bool in
            b.task = task
            return b.cancelled
        }
        if cancelled { task.cancel() }
    }

    /// Stops the streaming task, now or as soon as it is set.
    func cancel() {
        let task = taskBox.withLock { b -> Task<Void, Never>? in
            b.cancelled = true
            return b.task
        }
        task?.cancel()
    }

    func grant(_ n: Int) {
        guard n > 0 else { return }
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.credit = min(s.credit + n, Int(Self.maximumCredit))
            // A waiter is woken (and forgotten) only when there is credit for it to take.
            guard s.credit > 0 else { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    func giveBack(_ n: Int) { if n > 0 { state.withLock { $0.credit += n } } }

    /// Waits for credit, then takes up to `limit` of it (0 if cancelled).
    func take(upTo limit: Int) async -> Int {
        // A cancellation before this is seen by `Task.isCancelled` below.
        state.withLock { $0.cancelled = false }
        while !Task.isCancelled {
            let got = state.withLock { s -> Int in
                let n = min(s.credit, limit)
                s.credit -= n
                return n
            }
            if got > 0 { return got }
            await withTaskCancellationHandler {
                await withCheckedContinuation { c in
                    let ready = state.withLock { s -> Bool in
                        if s.credit > 0 || s.cancelled { return true }
                        s.waiter = c
                        return false
                    }
                    if ready { c.resume() }
                }
            } onCancel: {
                // Marked under the lock, so a waiter stored after this runs is not left waiting.
                let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
                    s.cancelled = true
                    defer { s.waiter = nil }
                    return s.waiter
                }
                w?.resume()
            }
        }
        return 0
    }
}
