import ArgumentParser
import DocketStore
import Foundation
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node on a data directory until SIGINT or SIGTERM.",
        discussion: """
            This build runs the node locally: it opens (or creates) the ledger, keeps its writer \
            ready and reports its state. The network listener arrives with the protocol (DESIGN §5); \
            until then, use the local commands against the same --data-dir, which LMDB lets \
            several processes share safely.
            """)

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reporting {
            var options = store
            if options.logLevel > .info { options.logLevel = .info }
            let logger = Logger(label: "docket.node")
            let store = try options.openStore(logger: logger)
            let head = store.head
            logger.info(
                "node ready (local mode)",
                metadata: [
                    "data-dir": "\(options.dataDir)", "ledger": "\(store.ledgerID)", "events": "\(head.sequence)",
                    "head": "\(head.hash)",
                ])
            let signal = await waitForTermination()
            logger.info("stopping", metadata: ["signal": "\(signal)"])
            store.close()
            logger.info("stopped; every acknowledged append is on disk")
        }
    }
}

/// Suspends until SIGINT or SIGTERM arrives, and returns its name.
func waitForTermination() async -> String {
    await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
        let queue = DispatchQueue(label: "docket.signals")
        let resumed = SignalLatch()
        var sources: [any DispatchSourceSignal] = []
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if resumed.fire() {
                    for s in sources { s.cancel() }
                    continuation.resume(returning: name)
                }
            }
            source.resume()
            sources.append(source)
        }
        _ = sources  // kept alive by their handlers until cancelled
    }
}

private final class SignalLatch: @unchecked Sendable {
    // @unchecked: only touched on the signal queue, which is serial.
    private var fired = false
    func fire() -> Bool {
        defer { fired = true }
        return !fired
    }
}
