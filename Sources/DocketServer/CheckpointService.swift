import DocketCore
import DocketStore
public import Logging
public import ServiceLifecycle
import Synchronization

/// Signs checkpoints while the node runs (`docket serve --checkpoint-every N
/// --checkpoint-interval S`): once `N` records have been appended since the last checkpoint,
/// and/or once `S` has passed since it with at least one new record; and a last one on graceful
/// shutdown when records arrived since. Run it *before* the server in a service group: groups
/// shut services down in reverse order, so the server has drained (every acknowledged append is
/// in) when this one signs its last checkpoint.
///
/// A failed checkpoint (an inconsistent log, a full disk) is logged and retried a few seconds
/// later; it never stops the node.
public final class CheckpointService: Service, Sendable {
    public struct Schedule: Sendable, Hashable {
        /// Sign once this many records follow the last checkpoint.
        public var everyEvents: UInt64?
        /// Sign once this long has passed since the last checkpoint, if any record followed it.
        public var interval: Duration?
        /// Sign a last checkpoint on graceful shutdown if any record followed the last one.
        public var onShutdown = true

        public init(everyEvents: UInt64? = nil, interval: Duration? = nil) {
            self.everyEvents = everyEvents
            self.interval = interval
        }

        public var isEmpty: Bool { everyEvents == nil && interval == nil }
    }

    let ledger: Ledger
    let schedule: Schedule
    let logger: Logger
    /// How often the head is looked at.
    let poll: Duration
    private let stopping = Atomic<Bool>(false)

    public init(ledger: Ledger, schedule: Schedule, logger: Logger, poll: Duration = .milliseconds(200)) {
        self.ledger = ledger
        self.schedule = schedule
        self.logger = logger
        self.poll = poll
    }

    public func run() async throws {
        // Fail fast: a node told to sign checkpoints without a key is misconfigured.
        _ = try ledger.notary.nodeKey()
        await withGracefulShutdownHandler {
            await loop()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
        }
    }

    private func loop() async {
        let clock = ContinuousClock()
        var last = (try? ledger.notary.latestCheckpoint()).map { (size: $0.size, sequence: $0.sequence) }
        var lastAt = clock.now
        var retryAfter = clock.now
        func pending() -> UInt64 { Self.uncovered(head: ledger.store.head.sequence, last: last) }
        func sign(_ why: String) async {
            do {
                let c = try await ledger.notary.checkpoint(actor: "node")
                last = (c.size, c.sequence)
                lastAt = clock.now
                logger.notice(
                    "signed a checkpoint",
                    metadata: ["size": "\(c.size)", "seq": "\(c.sequence)", "root": "\(Hex.encode(c.root).prefix(16))", "why": "\(why)"])
            } catch {
                retryAfter = clock.now + .seconds(5)
                logger.error("could not sign a checkpoint; retrying in 5 s", metadata: ["error": "\(error)"])
            }
        }
        while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
            _ = await ledger.waitForHead(after: ledger.store.head.sequence, timeout: poll)
            // Only a leader writes checkpoints; a follower gets its leader's by replication.
            guard clock.now >= retryAfter, ledger.store.nodeState.role == .leader else { continue }
            let n = pending()
            if let every = schedule.everyEvents, n >= every {
                await sign("\(n) new records")
            } else if let interval = schedule.interval, n > 0, clock.now - lastAt >= interval {
                await sign("interval")
            }
        }
        if schedule.onShutdown && pending() > 0 && !Task.isCancelled {
            await sign("shutdown")
        }
    }

    /// How many records of a log whose head is `head` the `last` checkpoint leaves uncovered: all
    /// those after the records it covers except its own. Records appended while it was being
    /// signed sit between the two and count (`Checkpoints.write`).
    static func uncovered(head: UInt64, last: (size: UInt64, sequence: UInt64)?) -> UInt64 {
        guard let last else { return head }
        let after = head > last.size ? head - last.size : 0
        let own: UInt64 = last.sequence > last.size && last.sequence <= head ? 1 : 0
        return after - own
    }
}
