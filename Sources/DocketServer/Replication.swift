public import DocketCore
public import DocketStore
import DocketWire
import Logging
import NIOCore
import Synchronization

/// How a node takes part in replication (DESIGN §6, Schemas/protocol.md §17).
public struct ReplicationConfiguration: Sendable {
    /// Follow this leader (`HOST:PORT`), authenticating with `token` (a replica or admin token).
    public var leader: String?
    public var token: String?
    /// The ledger's other nodes (`HOST:PORT`), which a follower goes to when its leader answers
    /// that the leader moved there (`not-leader`, `fenced`). It goes nowhere else: the address in
    /// such an answer can come from a FENCE, which any replica token can send, and following it
    /// would hand this node's token to that address and take records from it.
    public var nodes: [String] = []
    /// Reach the leader over TLS, trusting this CA file (the system store when nil).
    public var useTLS = false
    public var trustRootsPath: String?
    /// How clients and peers reach this node (`HOST:PORT`): named in epochs and in `not-leader`
    /// answers. The listening address when nil.
    public var advertisedAddress: String?
    /// A leader acknowledges an append only once this many followers hold it durably.
    public var syncReplicas = 0
    /// How long an append waits for them before it is answered `replication-timeout`.
    public var syncTimeout: Duration = .seconds(5)
    /// Records a follower lets its leader send beyond what it has acknowledged.
    public var window: Int64 = 65536
    /// The most records and bytes a leader puts in one RECORDS frame.
    public var recordsPerFrame = 16384
    public var bytesPerFrame = 1 << 20
    /// The largest frame a follower accepts from its leader.
    public var followerMaximumFrame = 8 << 20
    /// The bytes of records a follower holds in memory, received and not yet durable, before it
    /// stops reading from its leader until its writer catches up. The window counts records, so
    /// without it a log of large events could queue gigabytes (65,536 records of up to a MiB).
    public var followerInFlightBytes = 64 << 20

    public init() {}
}

/// A replication failure to report to a client: a stable code, a message, details.
public struct ReplicationError: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var details: Value?

    public init(_ code: String, _ message: String, details: Value? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }
}

/// Epochs: each promotion appends an `EpochStarted` event to `system/epochs`, so every copy of
/// the log agrees on who led when. Epoch 0 is the ledger's first leader and has no event.
public enum Epochs {
    public static let stream = try! StreamName("system/epochs")
    public static let eventType = try! EventType("EpochStarted")

    public struct Epoch: Sendable, Hashable {
        /// 0 before any promotion.
        public var number: UInt64
        /// The node that started it, and where it served.
        public var node: String?
        public var address: String?
        /// The sequence of its `EpochStarted` event (0 for epoch 0).
        public var sequence: UInt64
        /// The leader the node that started it had followed, when it knew.
        public var previousLeader: String?
    }

    /// The latest epoch the log records.
    public static func current(in store: EventStore) throws -> Epoch {
        let version = try store.version(of: stream)
        guard version > 0, let e = try store.read(stream: stream, fromVersion: version, limit: 1).first else {
            return Epoch(number: 0, node: nil, address: nil, sequence: 0)
        }
        return Epoch(
            number: UInt64(max(e.data["epoch"]?.intValue ?? 0, 0)), node: e.data["node"]?.stringValue,
            address: e.data["address"]?.stringValue, sequence: e.sequence, previousLeader: e.data["previousLeader"]?.stringValue)
    }
}

/// What a promotion did.
public struct Promotion: Sendable {
    public var epoch: UInt64
    /// The sequence of the `EpochStarted` event, and the last sequence of the epoch before.
    public var sequence: UInt64
    public var after: UInt64
    public var previousLeader: String?
    /// Whether the previous leader was reached and told to stop taking writes.
    public var previousLeaderTold: Bool
    /// Why it could not be, when this node's own token may not depose a leader (a replica token
    /// made without `--standby`).
    public var warning: String?

    public var wireValue: Value {
        .object([
            ("epoch", .int(Int64(epoch))), ("seq", .int(Int64(sequence))), ("after", .int(Int64(after))),
            ("previousLeader", previousLeader.map { .string($0) } ?? .null), ("previousLeaderTold", .bool(previousLeaderTold)),
        ] + (warning.map { [("warning", .string($0))] } ?? []))
    }

    /// Whether `state` is a leader's recorded by a promotion cut short: after the role was
    /// recorded, before its epoch was (the latest epoch is not the node's own). Promoting it
    /// again finishes the promotion.
    static func isCutShort(_ state: NodeState, current: Epochs.Epoch) -> Bool {
        guard state.role == .leader, let node = state.node else { return false }
        return current.node != node
    }

    /// Makes the node of `ledger` the leader: records it, then appends epoch n + 1. Refuses on a
    /// leader and, unless `force`, on a deposed leader (promoting it would fork the ledger).
    /// The caller has stopped any replication into the store.
    public static func promote(ledger: Ledger, address: String?, actor: String, force: Bool = false) async throws -> Promotion {
        let store = ledger.store
        // Checked and done under one claim of the lead: until the epoch's record is appended no
        // other write is taken (it is the new epoch's first), and a second promotion is refused.
        let promotion = try await store.claimingLeadership(writingOnly: Epochs.stream) { () async throws -> Promotion in
            let state = store.nodeState
            let current = try Epochs.current(in: store)
            switch state.role {
            case .leader:
                // A promotion interrupted after recording the role but before its epoch: finish it.
                guard isCutShort(state, current: current) else {
                    throw ReplicationError(
                        "already-leader", "this node is already the leader (epoch \(current.number)); promote a follower",
                        details: .object([("epoch", .int(Int64(current.number)))]))
                }
            case .fenced where !force:
                throw ReplicationError(
                    "fenced",
                    "this node was deposed by epoch \(state.epoch ?? 0)\(state.leader.map { " (leader \($0))" } ?? ""); promoting it would fork the ledger — make it follow the current leader, let it catch up, then promote it (or promote offline with --force)",
                    details: .object([("epoch", .int(Int64(state.epoch ?? 0))), ("leader", state.leader.map { .string($0) } ?? .null)]))
            case .fenced, .follower:
                break
            }
            // The role first (durably): a crash before the epoch is appended leaves a leader whose
            // last epoch is not its own, and promoting it again finishes the job.
            let previous = state.role == .leader ? current.address : state.leader
            try store.saveNodeState(NodeState(role: .leader, node: state.node))
            let node = store.nodeState.node ?? "?"
            let head = store.head.sequence
            var data: [(key: String, value: Value)] = [("epoch", .int(Int64(current.number + 1))), ("node", .string(node))]
            if let address { data.append(("address", .string(address))) }
            data.append(("after", .int(Int64(head))))
            if let previous { data.append(("previousLeader", .string(previous))) }
            let event = try ProposedEvent(type: Epochs.eventType, actor: actor, data: .object(data))
            let result = try await store.append(to: Epochs.stream, expecting: .exact(try store.version(of: Epochs.stream)), events: [event])
            ledger.heads.advance(to: result.lastSequence)
            return Promotion(epoch: current.number + 1, sequence: result.lastSequence, after: head, previousLeader: previous, previousLeaderTold: false)
        }
        guard let promotion else {
            throw ReplicationError(
                "already-leader", "this node is being promoted right now (another promotion is running); wait for its answer",
                details: .object([("epoch", .int(Int64((try? Epochs.current(in: store).number) ?? 0)))]))
        }
        return promotion
    }
}

/// A node's replication: as a leader, the streams it serves followers (REPLICATE), their
/// acknowledgements and the synchronous-replication gate; as a follower, the `Follower`; and
/// for both, epochs, fencing and promotion.
final class ReplicationHub: Sendable {
    let ledger: Ledger
    let configuration: ReplicationConfiguration
    let logger: Logger
    private let links = Mutex<[LinkKey: Link]>([:])
    private let gate = SyncGate()
    private let follower = Mutex<Follower?>(nil)
    /// After a promotion whose previous leader could not be told: the task that keeps telling it.
    private let fencing = Mutex<Task<Void, Never>?>(nil)
    /// This node's follower while it follows (for tests).
    var currentFollower: Follower? { follower.withLock { $0 } }
    /// The address this node is reached at, once it listens.
    private let address = Mutex<String?>(nil)

    init(ledger: Ledger, configuration: ReplicationConfiguration, logger: Logger) {
        self.ledger = ledger
        self.configuration = configuration
        self.logger = logger
        address.withLock { $0 = configuration.advertisedAddress }
        // Streams wake on the commit itself, one hop earlier than when the appending tasks run.
        ledger.store.observeCommits { [weak heads = ledger.heads] head in heads?.advance(to: head.sequence) }
    }

    var store: EventStore { ledger.store }
    var advertisedAddress: String? { address.withLock { $0 } }

    /// Before the node listens: a node told to follow refuses writes from the first request on.
    func prepare() throws {
        guard let leader = configuration.leader else {
            if store.nodeState.role == .follower {
                logger.warning(
                    "this node is a follower but was started without --replica-of: it serves reads and does not replicate",
                    metadata: ["leader": "\(store.nodeState.leader ?? "?")"])
            }
            return
        }
        var state = store.nodeState
        if state.role != .follower || state.leader != leader {
            state.role = .follower
            state.leader = leader
            state.epoch = nil
            try store.saveNodeState(state)
        }
    }

    /// Once listening on `listening`: start following, if told to; or, on a node that started
    /// the epoch it leads, go on telling its previous leader of it.
    func start(listening: String?) {
        address.withLock { if $0 == nil { $0 = listening } }
        resumeFencing()
        guard configuration.leader != nil, store.nodeState.role == .follower else { return }
        let f = Follower(hub: self)
        follower.withLock { $0 = f }
        f.start()
    }

    /// Stops following (waiting for replicated writes in flight) and ends every stream served.
    func stop() async {
        if let t = fencing.withLock({ t in defer { t = nil }; return t }) {
            t.cancel()
            await t.value
        }
        if let f = follower.withLock({ f in defer { f = nil }; return f }) { await f.stop() }
        for link in links.withLock({ Array($0.values) }) { link.subscription.cancel() }
        gate.failAll(ReplicationError("shutting-down", "the node is shutting down"))
    }

    var roleName: String { store.nodeState.role.rawValue }

    // MARK: Requests

    func handle(_ frame: Frame, session: Session) async throws {
        switch frame.type {
        case .replicate: try serve(frame, session: session)
        case .chain: try chain(frame, session: session)
        case .fence: try fence(frame, session: session)
        default: throw MessageError("\(frame.type) is not a replication request")
        }
    }

    /// REPLICATE: check the follower's ledger, epoch and head, then stream records to it.
    private func serve(_ frame: Frame, session: Session) throws {
        guard [.replica, .admin].contains(session.principal.role) else {
            throw Forbidden("replication needs a replica or admin token")
        }
        let request = try ReplicateRequest(wire: frame.body)
        try checkLedger(request.ledger, peer: "the follower")
        let epoch = try Epochs.current(in: store)
        if request.epoch > epoch.number {
            // Believed only of a token that may depose a leader; a replica token that only reads
            // is told this node is not the leader of its epoch, and this node goes on leading.
            guard session.principal.mayDeposeLeader else {
                // Evidence that another node leads a later epoch while this one still takes writes.
                logger.warning(
                    "a follower holds a later epoch, and its token cannot depose this node: this node still leads; if a follower was promoted, stop this node and bring it back as a follower",
                    metadata: ["epoch": "\(request.epoch)", "leader": "\(request.epochLeader ?? "?")", "principal": "\(session.principal)"])
                throw ReplicationError(
                    "not-leader",
                    "this node leads epoch \(epoch.number) and the follower holds epoch \(request.epoch); its token only reads, and cannot depose a leader: follow the leader of epoch \(request.epoch)",
                    // (The follower's own word for where that leader is, handed back: it goes there
                    // only if it is one of the ledger's nodes it was given.)
                    details: .object([("leader", request.epochLeader.map { .string($0) } ?? .null)]))
            }
            depose(epoch: request.epoch, leader: request.epochLeader, reason: "a follower (\(request.node ?? "?")) holds that epoch")
        }
        let state = store.nodeState
        switch state.role {
        case .fenced:
            throw state.refusal ?? StoreError(.fenced, "this node was deposed")
        case .follower:
            throw ReplicationError(
                "not-leader", "this node is itself a follower of \(state.leader ?? "another node"); point followers at the leader",
                details: .object([("leader", state.leader.map { .string($0) } ?? .null)]))
        case .leader:
            break
        }
        let head = store.committedHead
        let mine = request.head == 0 ? ChainHash.genesis : request.head <= head.sequence ? try store.chainHash(at: request.head) : nil
        guard let mine, mine.description == request.hash else {
            throw ReplicationError(
                "diverged",
                request.head > head.sequence
                    ? "the follower holds \(request.head) records and this node \(head.sequence): it has records this node never had; it must not follow this node"
                    : "the follower's record \(request.head) is not this node's: the two copies diverged at or before it; it must not follow this node",
                details: .object([("head", .int(Int64(head.sequence)))]))
        }
        let id = frame.requestID
        let subscription = Subscription(credit: Int(min(request.window, Subscription.maximumCredit)))
        let link = Link(
            key: LinkKey(session: ObjectIdentifier(session), id: id), node: request.node, address: request.address, acked: request.head,
            subscription: subscription, channel: session.channel)
        // Requests of a connection run one at a time, so nothing else takes the id meanwhile.
        let (taken, held) = session.subscriptions.withLock { ($0.live[id] != nil, $0.live.count) }
        guard !taken else {
            throw MessageError("REPLICATE: request id \(id) already names a live subscription on this connection")
        }
        guard held < Session.maximumSubscriptions else { throw Session.tooManySubscriptions }
        links.withLock { $0[link.key] = link }
        gate.add(link, acked: request.head)
        logger.notice(
            "follower connected", metadata: ["node": "\(request.node ?? "?")", "address": "\(request.address ?? "?")", "from": "\(request.head + 1)"])
        let answer: Value = .object([
            ("ledger", .string(store.ledgerID)), ("head", .int(Int64(head.sequence))), ("epoch", .int(Int64(max(epoch.number, request.epoch)))),
            ("node", state.node.map { .string($0) } ?? .null), ("address", advertisedAddress.map { .string($0) } ?? .null),
        ])
        let budget = min(configuration.bytesPerFrame, Int(request.maxFrame) / 2)
        // The task is in place before the stream is registered anywhere that cancels it.
        subscription.start(Task { [self] in
            session.reply(.replicating, id, answer)
            await stream(link, session: session, from: EventStore.Head(sequence: request.head, hash: mine), dictionaries: request.dictionaries, budget: budget)
            links.withLock { _ = $0.removeValue(forKey: link.key) }
            gate.remove(link.key)
            // Ended here (deposed, or the log could not be read), not by the follower: the
            // connection no longer counts it as live, and so can go idle.
            session.subscriptions.withLock { $0.remove(subscription, id: id) }
            logger.notice("follower disconnected", metadata: ["node": "\(request.node ?? "?")", "acked": "\(link.acked.load(ordering: .relaxed))"])
        })
        _ = session.subscriptions.withLock { $0.add(subscription, id: id) }
        // Ended already (deposed at once), before it was registered: its cleanup found nothing to remove.
        if links.withLock({ $0[link.key] == nil }) { session.subscriptions.withLock { $0.remove(subscription, id: id) } }
    }

    /// Pushes records as they commit, within the follower's window.
    private func stream(_ link: Link, session: Session, from: EventStore.Head, dictionaries: UInt16, budget: Int) async {
        var next = from.sequence + 1
        var previous = from.hash
        var known = dictionaries
        let subscription = link.subscription
        // A connection that closed before the stream was registered with it ends it here.
        while !Task.isCancelled && session.channel.isActive {
            let allowed = await subscription.take(upTo: configuration.recordsPerFrame)
            guard allowed > 0, !Task.isCancelled else { return }
            let batch: ReplicationBatch
            do {
                batch = try store.readReplication(from: next, previous: previous, knownDictionaries: known, maxRecords: allowed, maxBytes: budget)
            } catch {
                logger.error("cannot read the log for a follower", metadata: ["error": "\(error)"])
                session.replyError(link.key.id, Session.errorBody(error))
                return  // (unregistered as it ends)
            }
            subscription.giveBack(allowed - batch.count)
            if batch.count == 0 && batch.dictionaries.isEmpty {
                // Wakes on the next commit; once a second also looks for a dictionary trained meanwhile.
                _ = await ledger.waitForHead(after: next - 1, timeout: .seconds(1))
                continue
            }
            let body = RecordsBody(
                first: batch.first, lastHash: batch.lastHash.bytes,
                dictionaries: batch.dictionaries.map { RecordsBody.Dictionary(version: $0.version, info: $0.info, bytes: $0.bytes) },
                bytes: batch.bytes, ends: batch.ends)
            // Counted as sent before it is written: the follower's acknowledgement of it may come
            // back before the write returns, and an acknowledgement beyond what was sent is capped.
            link.sent.store(batch.last, ordering: .relaxed)
            // Paced by the follower's reading as well as by its window: it may ask for far more
            // than it takes (`Session.writeStreamed`).
            await session.writeStreamed(Frame(.records, requestID: link.key.id, binary: body.frameBuffer))
            next = batch.last + 1
            previous = batch.lastHash
            known = max(known, batch.dictionaries.last?.version ?? 0)
        }
    }

    /// REPLICATE_ACK: a follower holds everything through `durable`; that frees window for more.
    func acknowledge(_ frame: Frame, session: Session) {
        let id = UInt32(truncatingIfNeeded: frame.body["subscription"]?.intValue ?? -1)
        let claimed = UInt64(max(frame.body["durable"]?.intValue ?? 0, 0))
        guard let link = links.withLock({ $0[LinkKey(session: ObjectIdentifier(session), id: id)] }) else {
            session.replyError(frame.requestID, ErrorBody(code: "unknown-subscription", message: "no replication stream \(id) on this connection"))
            return
        }
        // A follower holds at most what it was sent: a larger claim must not let a write be
        // acknowledged as replicated when no follower has it.
        let durable = min(claimed, link.sent.load(ordering: .relaxed))
        let before = link.acked.max(durable, ordering: .relaxed).oldValue
        guard durable > before else { return }
        link.subscription.grant(Int(min(durable - before, UInt64(Subscription.maximumCredit))))
        gate.update(link, acked: durable)
    }

    /// CHAIN: chain tags at given sequences, so a follower can find where two copies part.
    private func chain(_ frame: Frame, session: Session) throws {
        guard [.replica, .admin, .auditor].contains(session.principal.role) else {
            throw Forbidden("chain tags need a replica, admin or auditor token")
        }
        guard let list = frame.body["sequences"]?.arrayValue, list.count <= 1024, list.allSatisfy({ ($0.intValue ?? -1) >= 0 }) else {
            throw MessageError("CHAIN: \"sequences\" must be an array of at most 1024 non-negative integers")
        }
        let tags = try store.chainTags(at: list.map { UInt64($0.intValue!) })
        session.reply(.chainResult, frame.requestID, .object([("tags", .array(tags.map { $0.map { .string(Self.tagText($0)) } ?? .null }))]))
    }

    static func tagText(_ tag: UInt64) -> String {
        let s = String(tag, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// FENCE: a node that began a higher epoch says so; a leader below it stops taking writes.
    private func fence(_ frame: Frame, session: Session) throws {
        guard session.principal.mayDeposeLeader else {
            throw Forbidden(
                "deposing the leader needs an admin token or a standby's replica token (docket token create --role replica --standby); this token \(session.principal.role == .replica ? "only reads" : "may not")")
        }
        let b = try Body(frame.body, "FENCE")
        try checkLedger(try b.string("ledger"), peer: "the fencing node")
        let epoch = try b.int("epoch")
        let leader = try b.optionalString("leader")
        if let leader { try ReplicateRequest.checkName(leader, field: "leader", in: "FENCE") }
        let mine = try Epochs.current(in: store).number
        guard epoch > Int64(mine) else {
            throw ReplicationError(
                "stale-epoch", "this node's log is at epoch \(mine); a fence must name a higher one",
                details: .object([("epoch", .int(Int64(mine))), ("role", .string(roleName))]))
        }
        depose(epoch: UInt64(epoch), leader: leader, reason: "told by \(session.principal)")
        session.reply(.fenceResult, frame.requestID, .object([("role", .string(roleName)), ("epoch", .int(epoch))]))
    }

    private func checkLedger(_ ledgerID: String, peer: String) throws {
        guard ledgerID == store.ledgerID else {
            throw StoreError(
                .wrongLedger,
                "this node serves ledger \(store.ledgerID) and \(peer) holds ledger \(ledgerID): they are different ledgers; nothing was written")
        }
    }

    /// A higher epoch began elsewhere: if this node leads, it stops taking writes for good
    /// (recorded in its data directory), fails appends waiting on followers and ends its streams.
    func depose(epoch: UInt64, leader: String?, reason: String) {
        var state = store.nodeState
        guard state.role == .leader else {
            if state.role == .fenced, epoch > state.epoch ?? 0 {
                state.epoch = epoch
                state.leader = leader ?? state.leader
                try? store.saveNodeState(state)
            }
            return
        }
        state.role = .fenced
        state.epoch = epoch
        state.leader = leader
        do { try store.saveNodeState(state) } catch {
            // (The deposition holds in memory: no more writes until a restart, which reads the
            // role recorded before — fence it again then.)
            logger.critical("could not record that this node was deposed; refusing writes until restart", metadata: ["error": "\(error)"])
        }
        logger.warning(
            "deposed: a higher epoch began elsewhere; this node takes no more writes",
            metadata: ["epoch": "\(epoch)", "leader": "\(leader ?? "?")", "reason": "\(reason)"])
        let refusal = state.refusal ?? StoreError(.fenced, "this node was deposed")
        gate.failAll(refusal)
        // Followers hear it too: the error names the new leader, so they can follow it there.
        let body = Session.errorBody(refusal)
        for link in links.withLock({ Array($0.values) }) {
            link.subscription.cancel()
            link.channel.writeAndFlush(Frame(.error, requestID: link.key.id, body: body.value), promise: nil)
        }
    }

    // MARK: Synchronous replication

    /// Returns once `syncReplicas` followers hold `sequence` durably; throws
    /// `replication-timeout` if they do not within the timeout (timed on `loop`). No-op without
    /// synchronous replicas.
    func replicated(through sequence: UInt64, on loop: any EventLoop) async throws {
        guard configuration.syncReplicas > 0 else { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            whenReplicated(through: sequence, on: loop) { c.resume(with: $0) }
        }
    }

    /// `replicated(through:on:)` for the event loop: `complete` runs once `--sync-replicas`
    /// followers hold `sequence` (at once when there are none to wait for).
    func whenReplicated(through sequence: UInt64, on loop: any EventLoop, _ complete: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let k = configuration.syncReplicas
        guard k > 0 else {
            complete(.success(()))
            return
        }
        gate.notify(through: sequence, replicas: k, timeout: configuration.syncTimeout, on: loop, complete)
    }

    // MARK: Promotion

    /// Stops following and makes this node the leader of a new epoch; then tells the old leader.
    func promote(by principal: Principal) async throws -> Promotion {
        guard principal.role == .admin else { throw Forbidden("only an admin can promote a node") }
        if let f = follower.withLock({ f in defer { f = nil }; return f }) { await f.stop() }
        var promotion = try await Promotion.promote(ledger: ledger, address: advertisedAddress, actor: principal.subject)
        logger.notice(
            "promoted: this node leads epoch \(promotion.epoch)",
            metadata: ["seq": "\(promotion.sequence)", "previous-leader": "\(promotion.previousLeader ?? "?")"])
        if let old = promotion.previousLeader, let token = configuration.token {
            // A token that only reads cannot depose it: said now, rather than refused every 2 s.
            if let own = ownPrincipal(token), !own.mayDeposeLeader {
                promotion.warning =
                    "this node followed with a replica token that only reads (made without --standby), which cannot depose the previous leader \(old), so it will not keep trying: if \(old) runs, or comes back as it was, it takes writes on a branch of its own. Stop it, keep it from restarting as it was, and bring it back as a follower of this node (README, \"When the leader is down\"); give standby nodes standby tokens (docket token create --role replica --standby)"
                logger.warning("promoted with a token that cannot depose the previous leader", metadata: ["previous-leader": "\(old)", "token": "\(own.tokenID ?? "?")"])
            } else {
                promotion.previousLeaderTold = await tellDeposed(old, epoch: promotion.epoch, token: token)
                if promotion.previousLeaderTold { recordTold(promotion.epoch) } else { keepFencing(old, epoch: promotion.epoch, token: token) }
            }
        }
        return promotion
    }

    /// A node restarted after it started the epoch it leads tells the previous leader of it again
    /// every `fenceRetryInterval`, as it did before the restart: one that was down at the
    /// promotion and comes back as it was would otherwise take writes on a branch of its own. (One
    /// told already answers at once, and that ends it.) Not with a token that cannot depose it.
    private func resumeFencing() {
        guard let (previous, epoch) = Self.previousLeader(toTell: store) else { return }
        // Said only until the previous leader has answered that it knows of the epoch.
        let heard = store.nodeState.told == epoch
        let risk = """
            This node has no record that the previous leader knows of the epoch: if it runs, or comes back as it was, it takes writes \
            on a branch of its own. Serve this node with a standby's token (docket token create --role replica --standby) or an admin's
            """
        guard let token = configuration.token else {
            if !heard {
                logger.warning(
                    "this node leads epoch \(epoch), to which it was promoted, and was served without a token (--token, --token-file or DOCKET_TOKEN), so it does not tell the previous leader of it. \(risk)",
                    metadata: ["previous-leader": "\(previous)"])
            }
            return
        }
        // As `promote` judges it: a token this copy of the ledger does not know may still be one
        // the previous leader does (made there after this node last caught up), and is tried.
        if let own = ownPrincipal(token), !own.mayDeposeLeader {
            if !heard {
                let what = own.role == .replica ? "a replica token that only reads" : own.role == .admin || own.role == .auditor ? "an \(own.role) token" : "a \(own.role) token"
                logger.warning(
                    "this node's token (--token, --token-file or DOCKET_TOKEN) cannot depose the previous leader: it is \(what), so the node does not tell it of epoch \(epoch). \(risk)",
                    metadata: ["previous-leader": "\(previous)", "token": "\(own.tokenID ?? "?")"])
            }
            return
        }
        keepFencing(previous, epoch: epoch, token: token)
    }

    /// The previous leader a node that started the epoch it leads (a promoted follower) tells of
    /// that epoch, and the epoch: nil for any other node.
    static func previousLeader(toTell store: EventStore) -> (address: String, epoch: UInt64)? {
        guard store.nodeState.role == .leader, let node = store.nodeState.node, let epoch = try? Epochs.current(in: store), epoch.number > 0,
            epoch.node == node, let previous = epoch.previousLeader
        else { return nil }
        return (previous, epoch.number)
    }

    /// Who this node's own `--token` stands for, by the token records its log holds (nil: none
    /// that is valid).
    private func ownPrincipal(_ token: String) -> Principal? { try? Tokens(ledger: ledger).authenticate(token) }

    /// How often a new leader tries again to tell a previous leader it could not reach.
    static let fenceRetryInterval: Duration = .seconds(2)

    /// Tells the previous leader of `epoch` again every `fenceRetryInterval` until it is told,
    /// while this node still leads that epoch. A leader that was down at the promotion, restarted
    /// as it was, would otherwise lead the old epoch and take writes on a branch of its own until
    /// something told it; this bounds that to a retry interval (the README's runbook, restarting
    /// it as a follower of the new leader, closes it).
    func keepFencing(_ address: String, epoch: UInt64, token: String) {
        let task = Task { [self] in
            var attempts = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.fenceRetryInterval)
                guard !Task.isCancelled, store.nodeState.role == .leader, (try? Epochs.current(in: store).number) == epoch else { return }
                attempts += 1
                if await tellDeposed(address, epoch: epoch, token: token, quietly: true) {
                    logger.notice("the previous leader is told of the new epoch", metadata: ["address": "\(address)", "attempts": "\(attempts)"])
                    recordTold(epoch)
                    return
                }
            }
        }
        fencing.withLock { previous in
            previous?.cancel()
            previous = task
        }
    }

    /// Records that the previous leader knows of `epoch` (`NodeState.told`); a failure to write it
    /// only means the warnings of a node that cannot tell it are said again.
    private func recordTold(_ epoch: UInt64) {
        do { try store.recordPreviousLeaderTold(epoch: epoch) } catch {
            logger.warning("could not record that the previous leader knows of the epoch", metadata: ["error": "\(error)"])
        }
    }

    /// Sends FENCE to `address` (best effort, a few seconds at most). `quietly`: a failure is
    /// logged at debug level (a retry loop would fill the log while the node is down).
    func tellDeposed(_ address: String, epoch: UInt64, token: String, quietly: Bool = false) async -> Bool {
        do {
            let conn = try await PeerConnection.open(address, configuration: configuration, timeout: .seconds(3))
            defer { conn.close() }
            // A stopped process accepts connections and never answers: give up on it in time.
            let deadline = conn.closing(after: .seconds(5))
            defer { deadline.cancel() }
            try await conn.handshake(token: token)
            let answer = try await conn.request(.fence, .object([
                ("ledger", .string(store.ledgerID)), ("epoch", .int(Int64(epoch))), ("leader", advertisedAddress.map { .string($0) } ?? .null),
                ("node", store.nodeState.node.map { .string($0) } ?? .null),
            ]))
            // Told only if it no longer leads (a node that could not apply the fence says so).
            if answer.type == .fenceResult, answer.body["role"]?.stringValue != "leader" { return true }
            // Or if its log holds this epoch (or a later one) already and it does not lead: it
            // rejoined as a follower and copied the epoch's record. (Asked again, it would refuse
            // every two seconds for as long as this node leads.) A node that leads at this epoch
            // or after, its state lost, is not told: it takes writes, and the retries warn of it.
            // (One of a release before 0.2.0 does not say its role: taken as told, as then.)
            if answer.type == .error, case let refused = ErrorBody(answer.body), refused.code == "stale-epoch",
                refused.details?["role"]?.stringValue != "leader"
            {
                return true
            }
            let why = answer.type == .fenceResult ? "it still leads" : ErrorBody(answer.body).code
            // Refused for the token's role (a refused token fails the handshake, below): that does
            // not pass with retrying, and is worth a warning each time.
            let forTheToken = answer.type == .error && why == "forbidden"
            logger.log(level: quietly && !forTheToken ? .debug : .warning, "the previous leader refused the fence", metadata: ["address": "\(address)", "error": "\(why)"])
        } catch {
            logger.log(level: quietly ? .debug : .warning, "could not reach the previous leader to fence it", metadata: ["address": "\(address)", "error": "\(error)"])
        }
        return false
    }

    // MARK: Status

    /// On a follower not following its leader now (connecting, catching up, reconnecting,
    /// stopped), its replication's state and how many events it was behind when last told (null
    /// if it never was): what a view it answers may be missing. Nil on a leader, and on a follower
    /// that is following.
    var viewsMayLag: Value? {
        guard store.nodeState.role == .follower else { return nil }
        guard let status = follower.withLock({ $0 })?.statusValue else {
            return .object([("state", .string("not following (started without --replica-of)")), ("lag", .null)])
        }
        guard let state = status["state"]?.stringValue, state != "following" else { return nil }
        return .object([("state", .string(state)), ("lag", status["lag"] ?? .null)])
    }

    var statusFields: [(key: String, value: Value)] {
        var out: [(key: String, value: Value)] = []
        let state = store.nodeState
        if let epoch = try? Epochs.current(in: store) { out.append(("epoch", .int(Int64(epoch.number)))) }
        switch state.role {
        case .leader:
            let head = store.head.sequence
            let followers = links.withLock { Array($0.values) }.map { l -> Value in
                let acked = l.acked.load(ordering: .relaxed)
                return .object([
                    ("node", l.node.map { .string($0) } ?? .null), ("address", l.address.map { .string($0) } ?? .null),
                    ("acked", .int(Int64(acked))), ("lag", .int(Int64(head > acked ? head - acked : 0))),
                ])
            }
            out += [("syncReplicas", .int(Int64(configuration.syncReplicas))), ("followers", .array(followers))]
        case .follower:
            out.append(("leader", state.leader.map { .string($0) } ?? .null))
            if let f = follower.withLock({ $0 }) {
                out.append(("replication", f.statusValue))
            } else {
                out.append(("replication", .object([("state", .string("not following (started without --replica-of)"))])))
            }
        case .fenced:
            out += [("leader", state.leader.map { .string($0) } ?? .null), ("fencedBy", .int(Int64(state.epoch ?? 0)))]
        }
        return out
    }
}

/// One follower's stream on this (leading) node.
struct LinkKey: Hashable, Sendable {
    var session: ObjectIdentifier
    var id: UInt32
}

final class Link: Sendable {
    let key: LinkKey
    let node: String?
    let address: String?
    /// The highest sequence the follower said it holds durably; the last one sent.
    let acked: Atomic<UInt64>
    let sent = Atomic<UInt64>(0)
    let subscription: Subscription
    let channel: any Channel

    init(key: LinkKey, node: String?, address: String?, acked: UInt64, subscription: Subscription, channel: any Channel) {
        self.key = key
        self.node = node
        self.address = address
        self.acked = Atomic(acked)
        self.subscription = subscription
        self.channel = channel
    }
}

/// Appends waiting for followers: each waits until enough followers have acknowledged its sequence.
final class SyncGate: Sendable {
    private struct Waiter {
        var sequence: UInt64
        var replicas: Int
        var complete: @Sendable (Result<Void, any Error>) -> Void
        /// The timeout of a waiter registered with `notify` (cancelled when it completes).
        var timer: Scheduled<Void>?
    }
    /// Who a stream replicates to: the node it says it is, or the stream itself when it names
    /// none. One follower with two streams (a reconnect racing the old one) is one holder.
    enum Follower: Hashable {
        case node(String)
        case stream(LinkKey)
    }
    private struct State {
        var acked: [LinkKey: (follower: Follower, durable: UInt64)] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    /// How many distinct followers hold `sequence`.
    private static func holders(_ acked: [LinkKey: (follower: Follower, durable: UInt64)], _ sequence: UInt64) -> Int {
        Set(acked.values.lazy.filter { $0.durable >= sequence }.map(\.follower)).count
    }

    /// A stream that starts replicating, holding everything through `acked`.
    func add(_ link: Link, acked: UInt64) {
        state.withLock { $0.acked[link.key] = (link.node.map(Follower.node) ?? .stream(link.key), acked) }
        update(link, acked: acked)
    }

    /// A stream's follower holds everything through `acked`. Only a stream still registered
    /// (`add`, and not `remove`d since) counts: an acknowledgement that arrives as its stream
    /// ends must not bring it back, to be counted later for another follower under a reused key.
    func update(_ link: Link, acked: UInt64) {
        let key = link.key
        let ready = state.withLock { s -> [Waiter] in
            guard let current = s.acked[key] else { return [] }
            s.acked[key] = (current.follower, max(current.durable, acked))
            let done = s.waiters.filter { Self.holders(s.acked, $0.value.sequence) >= $0.value.replicas }
            for id in done.keys { s.waiters.removeValue(forKey: id) }
            return Array(done.values)
        }
        for w in ready {
            w.timer?.cancel()
            w.complete(.success(()))
        }
    }

    func remove(_ link: LinkKey) { state.withLock { _ = $0.acked.removeValue(forKey: link) } }

    func failAll(_ error: any Error) {
        let all = state.withLock { s in defer { s.waiters.removeAll() }; return Array(s.waiters.values) }
        for w in all {
            w.timer?.cancel()
            w.complete(.failure(error))
        }
    }

    private static func timeoutError(_ sequence: UInt64, _ holders: Int, _ replicas: Int, _ timeout: Duration) -> ReplicationError {
        ReplicationError(
            "replication-timeout",
            "sequence \(sequence) is durable on this node but only \(holders) of the \(replicas) synchronous followers confirmed it within \(timeout); it was NOT acknowledged — retry with the same event ids: a retry is idempotent and succeeds once the followers hold it",
            details: .object([("seq", .int(Int64(sequence))), ("confirmed", .int(Int64(holders))), ("required", .int(Int64(replicas)))]))
    }

    /// Registers `complete` (or calls it now) for when `replicas` followers hold `sequence`;
    /// true if it is already so.
    private func register(_ id: UInt64, _ sequence: UInt64, _ replicas: Int, _ complete: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool {
        state.withLock { s -> Bool in
            if Self.holders(s.acked, sequence) >= replicas { return true }
            s.waiters[id] = Waiter(sequence: sequence, replicas: replicas, complete: complete)
            return false
        }
    }

    private func nextID() -> UInt64 {
        state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
    }

    /// Times out waiter `id`, if it still waits.
    private func expire(_ id: UInt64, _ sequence: UInt64, _ replicas: Int, _ timeout: Duration) {
        let (w, holders) = state.withLock { s in (s.waiters.removeValue(forKey: id), Self.holders(s.acked, sequence)) }
        w?.complete(.failure(Self.timeoutError(sequence, holders, replicas, timeout)))
    }

    /// Calls `complete` when `replicas` followers hold `sequence`, or with `replication-timeout`
    /// after `timeout` (timed on `loop`).
    func notify(
        through sequence: UInt64, replicas: Int, timeout: Duration, on loop: any EventLoop,
        _ complete: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        let id = nextID()
        if register(id, sequence, replicas, complete) {
            complete(.success(()))
            return
        }
        let timer = loop.scheduleTask(in: TimeAmount(timeout)) {
            self.expire(id, sequence, replicas, timeout)
        }
        // Keep the timer with its waiter, unless it completed in between (then cancel it now).
        let waiting = state.withLock { s -> Bool in
            guard s.waiters[id] != nil else { return false }
            s.waiters[id]?.timer = timer
            return true
        }
        if !waiting { timer.cancel() }
    }
}
