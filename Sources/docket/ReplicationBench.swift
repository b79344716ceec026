import ArgumentParser
import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Synchronization

struct ReplicationBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replication",
        abstract: "Replication over loopback, nodes in this process: follower catch-up, lag at a steady rate, throughput with a synchronous follower; one JSON line.",
        discussion: """
            catchup: a leader is filled with --events events, then a follower on an empty directory catches up; events/s. \
            lag: with the follower caught up, --rate events/s are appended (in appends of --lag-batch events) for \
            --lag-seconds; lag = from the leader's acknowledgement of an append to the follower's durable commit of it. \
            sync: --connections TCP clients append --batch events each for --seconds, to a leader alone, with one \
            asynchronous follower, and with --sync-replicas 1; sync_share = sync ÷ alone.
            """)

    @Option(help: "Events in the leader before a follower catches up.")
    var events = 1_000_000

    @Option(help: "Events per second for the lag measurement.")
    var rate = 20_000

    @Option(help: "Events per append for the lag measurement.")
    var lagBatch = 10

    @Option(help: "How long the lag measurement runs.")
    var lagSeconds = 10.0

    @Option(help: "Concurrent TCP clients for the throughput measurement.")
    var connections = 64

    @Option(help: "Events per append for the throughput measurement.")
    var batch = 1

    @Option(help: "How long each throughput run lasts.")
    var seconds = 5.0

    @Flag(inversion: .prefixedNo, help: "For the throughput runs, run the follower as a `docket serve` child process (its own task pool, as on another machine) rather than in this process.")
    var followerProcess = true

    @Option(help: "Which measurements: any of catchup, lag, sync, comma-separated.")
    var phases = "catchup,lag,sync"

    func validate() throws {
        guard events > 0, rate > 0, lagBatch > 0, lagSeconds > 0, connections > 0, batch > 0, seconds > 0 else {
            throw ValidationError("every count and duration must be positive")
        }
    }

    func run() async throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("docket-bench-repl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let wanted = Set(phases.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        var out: [(String, Value)] = [("bench", "replication")]
        if !wanted.isDisjoint(with: ["catchup", "lag"]) {
            let leader = try await BenchNode.start(parent + "/leader")
            try await fillSynthetic(leader.store, to: events)
            let replica = try await leader.token(.replica)
            let admin = try await leader.token(.admin)
            let clock = ContinuousClock()
            let cpuBefore = cpuSeconds()
            let start = clock.now
            let follower = try await leader.follower(parent + "/follower", token: replica)
            let target = leader.store.head.sequence
            while follower.store.head.sequence < target {
                _ = await follower.ledger.waitForHead(after: follower.store.head.sequence, timeout: .milliseconds(100))
            }
            let took = Double((clock.now - start).microseconds) / 1e6
            let cpu = cpuSeconds() - cpuBefore
            let stats = try leader.store.statistics()
            out += [
                ("catchup_events", .int(Int64(target))), ("catchup_seconds", .double(round3(took))),
                ("catchup_events_per_s", .int(Int64(Double(target) / took))),
                ("catchup_mb_per_s", .double(round2(Double(stats.recordBytes) / took / 1e6))),
                // Leader and follower together (one process): what the machine's cores spent per event.
                ("catchup_cpu_us_per_event", .double(round3(cpu * 1e6 / Double(target)))),
                ("dictionaries", .int(Int64(stats.dictionaries.count))),
            ]
            if wanted.contains("lag") {
                out += try await lag(leader: leader, follower: follower, admin: admin)
            }
            await follower.stop()
            await leader.stop()
        }
        if wanted.contains("sync") {
            out += try await throughput(parent)
        }
        printJSON(out)
    }

    /// Appends at a steady rate and measures, per append, leader commit → follower durable commit.
    ///
    /// A thread of its own (not the task pool, which the load keeps busy) samples both nodes'
    /// committed heads every 100 µs; an append's lag is the time from the first sample in which
    /// the leader's head covers it to the first in which the follower's does.
    private func lag(leader: BenchNode, follower: BenchNode, admin: String) async throws -> [(String, Value)] {
        let clock = ContinuousClock()
        let origin = clock.now
        let samples = Mutex<(leader: [(UInt64, Double)], follower: [(UInt64, Double)])>(([], []))
        let watching = Atomic<Bool>(true)
        let watcherDone = Atomic<Bool>(false)
        let (leaderStore, followerStore) = (leader.store, follower.store)
        Thread.detachNewThread {
            var (l, f) = (leaderStore.head.sequence, followerStore.head.sequence)
            while watching.load(ordering: .relaxed) {
                let (lh, fh) = (leaderStore.head.sequence, followerStore.head.sequence)
                let t = Double((clock.now - origin).microseconds) / 1e3
                if lh > l || fh > f {
                    samples.withLock {
                        if lh > l { $0.leader.append((lh, t)) }
                        if fh > f { $0.follower.append((fh, t)) }
                    }
                    (l, f) = (lh, fh)
                }
                usleep(100)
            }
            watcherDone.store(true, ordering: .releasing)
        }
        let appends = Int(Double(rate) * lagSeconds) / lagBatch
        let interval = Double(lagBatch) / Double(rate)  // seconds between appends
        let tasks = 16
        let principal = Principal(role: .admin, subject: "bench")
        let start = clock.now
        let appended = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for k in 0..<tasks {
                group.addTask {
                    var mine: [UInt64] = []
                    var i = k
                    while i < appends {
                        let due = start + .microseconds(Int64(Double(i) * interval * 1e6))
                        if clock.now < due { try await Task.sleep(until: due, clock: clock) }
                        let events = (0..<lagBatch).map { SyntheticEvents.event(i * lagBatch + $0).event }
                        let r = try await leader.ledger.append(to: try StreamName("lag-\(k)"), expecting: .any, events: events, as: principal)
                        mine.append(r.lastSequence)
                        i += tasks
                    }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await m in group { all += m }
            return all
        }
        let elapsed = Double((clock.now - start).microseconds) / 1e6
        let target = leader.store.head.sequence
        while follower.store.head.sequence < target { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(5))
        watching.store(false, ordering: .relaxed)
        while !watcherDone.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(1)) }
        let (leaderSeen, followerSeen) = samples.withLock { $0 }
        /// When `seen` first covered `seq`.
        func firstCovering(_ seen: [(UInt64, Double)], _ seq: UInt64) -> Double? {
            var lo = 0
            var hi = seen.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if seen[mid].0 >= seq { hi = mid } else { lo = mid + 1 }
            }
            return lo < seen.count ? seen[lo].1 : nil
        }
        var lags: [Double] = []
        for seq in appended {
            if let l = firstCovering(leaderSeen, seq), let f = firstCovering(followerSeen, seq) { lags.append(f - l) }
        }
        lags.sort()
        func pct(_ p: Double) -> Double { percentile(lags, p) }
        return [
            ("lag_target_events_per_s", .int(Int64(rate))), ("lag_batch", .int(Int64(lagBatch))),
            ("lag_events_per_s", .int(Int64(Double(appends * lagBatch) / elapsed))), ("lag_samples", .int(Int64(lags.count))),
            ("lag_p50_ms", .double(pct(0.5))), ("lag_p99_ms", .double(pct(0.99))), ("lag_max_ms", .double(lags.last.map(round3) ?? 0)),
        ]
    }

    /// The same TCP load against a leader alone, with an asynchronous follower, and with a synchronous one.
    private func throughput(_ parent: String) async throws -> [(String, Value)] {
        var out: [(String, Value)] = [("sync_connections", .int(Int64(connections))), ("sync_batch", .int(Int64(batch)))]
        var alone = 0.0
        for (name, k, followers) in [("alone", 0, 0), ("async", 0, 1), ("sync", 1, 1)] {
            var r = ReplicationConfiguration()
            r.syncReplicas = k
            let leader = try await BenchNode.start(parent + "/\(name)-leader", replication: r)
            // A steady state: dictionaries trained (first at 1,024 records, again at 16,384)
            // before the clock starts, not during one run and not another.
            try await fillSynthetic(leader.store, to: 20_000)
            while try leader.store.isTrainingDictionary || leader.store.highestDictionaryVersion() < 2 { try await Task.sleep(for: .milliseconds(10)) }
            let admin = try await leader.token(.admin)
            let replica = try await leader.token(.replica)
            var nodes: [BenchNode] = []
            var processes: [Process] = []
            for f in 0..<followers {
                let dir = parent + "/\(name)-follower-\(f)"
                if followerProcess {
                    processes.append(try await startFollowerProcess(dir, leader: leader, token: replica, admin: admin))
                } else {
                    let n = try await leader.follower(dir, token: replica)
                    while n.store.head.sequence < leader.store.head.sequence { try await Task.sleep(for: .milliseconds(5)) }
                    nodes.append(n)
                }
            }
            let (rate, p50, p99) = try await load(leader.address, token: admin)
            for n in nodes { await n.stop() }
            for p in processes {
                p.terminate()
                p.waitUntilExit()
            }
            await leader.stop()
            if name == "alone" { alone = rate }
            out += [("\(name)_events_per_s", .int(Int64(rate))), ("\(name)_p50_ms", .double(p50)), ("\(name)_p99_ms", .double(p99))]
        }
        let sync = out.first { $0.0 == "sync_events_per_s" }?.1.intValue ?? 0
        out.append(("sync_share", .double(round3(Double(sync) / max(alone, 1)))))
        return out
    }

    /// `docket serve --replica-of` as a child process (its own task pool, as on another machine),
    /// once it has caught up with `leader`.
    private func startFollowerProcess(_ dir: String, leader: BenchNode, token: String, admin: String) async throws -> Process {
        guard let executable = Bundle.main.executablePath else { throw CLIError("cannot find the docket executable") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["serve", "--data-dir", dir, "--listen", "127.0.0.1:\(Int.random(in: 20000...40000))", "--replica-of", leader.address, "--token", token, "--log-level", "error"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let status = DocketClient(try DocketClient.Configuration(address: leader.address, token: admin))
        defer { Task { await status.close() } }
        while true {
            let s = try await status.status()
            if let f = s["followers"]?.arrayValue?.first, f["lag"] == 0 { break }
            guard p.isRunning else { throw CLIError("the follower process exited with status \(p.terminationStatus)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return p
    }

    private func load(_ address: String, token: String) async throws -> (Double, Double, Double) {
        let load = try await NetworkLoad.run(address: address, token: token, connections: connections, batch: batch, seconds: seconds)
        return (load.eventsPerSecond, load.percentile(0.5), load.percentile(0.99))
    }
}

/// For the replication process tests: appends to a node over the network forever and prints
/// each acknowledged event as `<id> <sequence>` the moment its append returns. An append that
/// fails is retried with the same ids (idempotent), so a line means the node acknowledged it.
struct RemoteWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remote-writer", shouldDisplay: false)

    @Option var server: String
    @Option var token: String
    @Option var concurrency = 8
    @Option var batch = 1
    @Option var prefix = "r"

    func run() async throws {
        let (prefix, concurrency, batch, server, token) = (self.prefix, self.concurrency, self.batch, self.server, self.token)
        let lock = NSLock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    let client = DocketClient(try DocketClient.Configuration(address: server, token: token))
                    var n = 0
                    while true {
                        let ids = (0..<batch).map { try! EventID("\(prefix)\(worker)-\(n + $0)") }
                        let events = ids.enumerated().map { SyntheticEvents.event(n * concurrency + worker + $0.offset, id: $0.element).event }
                        while true {
                            do {
                                let r = try await client.append(to: try StreamName("remote-\(worker)"), events: events)
                                var line = ""
                                for (k, id) in ids.enumerated() { line += "\(id) \(r.firstSequence + UInt64(k))\n" }
                                lock.withLock { FileHandle.standardOutput.write(Data(line.utf8)) }
                                break
                            } catch {
                                lock.withLock { writeStandardError("append failed, retrying: \(error)\n") }
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        }
                        n += batch
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
