import ArgumentParser
import DocketCore
import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Whole-system benchmarks; each prints one JSON line.",
        subcommands: [
            AppendBench.self, ReplayBench.self, ViewsBench.self, NetBench.self, ReplicationBench.self, CrashWriter.self, HoldReader.self, RemoteWriter.self,
        ])
}

/// Options every benchmark shares.
struct BenchOptions: ParsableArguments {
    @Option(help: "Data directory to use; a fresh temporary one (deleted afterwards) by default.")
    var dataDir: String?

    @Option(
        help: ArgumentHelp(
            "Events appended before the clock starts, waiting for dictionary training to finish (0: none).",
            discussion: "Measures the steady state, as the raw C baseline does: it trains its dictionary before timing."))
    var warmup = 20_000

    /// Appends `warmup` synthetic events (numbered from `offset`) in batches, then waits until no
    /// dictionary is being trained.
    func warmUp(_ store: EventStore, offset: Int = 5_000_000) async throws {
        var i = 0
        while i < warmup {
            let n = min(1000, warmup - i)
            // Events like the measured ones (a dictionary trained on them fits those), on their own streams.
            let generated = (offset + i..<offset + i + n).map { SyntheticEvents.event($0) }
            _ = try await store.append(to: generated[0].stream, events: generated.map(\.event))
            i += n
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while store.isTrainingDictionary && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }

    func withDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        if let dataDir { return try await body(dataDir) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("docket-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try await body(dir)
    }
}

struct AppendBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Durable appends: --concurrency tasks each appending --batch events per append.")

    @OptionGroup var bench: BenchOptions

    @Option(help: "Events to append in total.")
    var events = 200_000

    @Option(help: "Events per append (one append is one atomic unit to one stream).")
    var batch = 1

    @Option(help: "Concurrent appenders.")
    var concurrency = 1

    func validate() throws {
        guard events > 0, batch > 0, concurrency > 0 else { throw ValidationError("--events, --batch and --concurrency must be positive") }
        guard batch <= EventStore.maximumEventsPerAppend else { throw ValidationError("--batch must be at most \(EventStore.maximumEventsPerAppend)") }
    }

    func run() async throws {
        let (events, batch, concurrency) = (self.events, self.batch, self.concurrency)
        try await bench.withDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            try await bench.warmUp(store)
            let appendsPerTask = (events / batch + concurrency - 1) / concurrency
            // Prepare events up front so the clock measures the ledger, not the generator.
            var work: [[(StreamName, [ProposedEvent])]] = []
            for t in 0..<concurrency {
                var mine: [(StreamName, [ProposedEvent])] = []
                for a in 0..<appendsPerTask {
                    let base = (t * appendsPerTask + a) * batch
                    if base >= events { break }
                    let generated = (base..<min(base + batch, events)).map { SyntheticEvents.event($0) }
                    mine.append((generated[0].stream, generated.map(\.event)))
                }
                work.append(mine)
            }
            let before = store.head.sequence
            let commitsBefore = store.commitCount
            let clock = ContinuousClock()
            let start = clock.now
            let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                for mine in work {
                    group.addTask {
                        var lat: [Double] = []
                        lat.reserveCapacity(mine.count)
                        for (stream, evs) in mine {
                            let t0 = clock.now
                            _ = try await store.append(to: stream, events: evs)
                            lat.append(Double((clock.now - t0).microseconds) / 1000)
                        }
                        return lat
                    }
                }
                var all: [Double] = []
                for try await l in group { all += l }
                return all.sorted()
            }
            let seconds = Double((clock.now - start).microseconds) / 1e6
            let commits = store.commitCount - commitsBefore
            let stats = try store.statistics()
            let appended = stats.events - before
            func pct(_ p: Double) -> Double { percentile(latencies, p) }
            printJSON([
                ("bench", "append"), ("events", .int(Int64(appended))), ("batch", .int(Int64(batch))),
                ("concurrency", .int(Int64(concurrency))), ("seconds", .double(round3(seconds))),
                ("events_per_s", .int(Int64(Double(appended) / seconds))),
                ("appends_per_s", .int(Int64(Double(latencies.count) / seconds))),
                ("commits", .int(Int64(commits))), ("events_per_commit", .double(round2(Double(appended) / Double(max(commits, 1))))),
                ("p50_ms", .double(pct(0.5))), ("p99_ms", .double(pct(0.99))),
                ("record_bytes_per_event", .double(round2(stats.recordBytesPerEvent))),
                ("used_bytes_per_event", .double(round2(stats.usedBytesPerEvent))),
                ("raw_bytes_per_event", .double(round2(Double(stats.rawBytes) / Double(max(stats.events, 1))))),
                ("dictionaries", .int(Int64(stats.dictionaries.count))),
            ])
        }
    }
}

struct ReplayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Full scan: read, decompress and decode every event (filling the log first if it is short).")

    @OptionGroup var bench: BenchOptions

    @Option(help: "Events in the log to replay.")
    var events = 1_000_000

    @Option(help: "Timed passes over the log; the median is reported.")
    var passes = 3

    func run() async throws {
        let (events, passes) = (self.events, max(self.passes, 1))
        try await bench.withDirectory { dir in
            let store = try EventStore.open(directory: dir)
            defer { store.close() }
            try await fillSynthetic(store, to: events)
            let clock = ContinuousClock()
            var rates: [Double] = []
            var checksum = 0
            for _ in 0..<passes {
                var count = 0
                let start = clock.now
                try store.scan { event in
                    count += 1
                    checksum &+= Int(event.streamVersion)
                    return true
                }
                let seconds = Double((clock.now - start).microseconds) / 1e6
                rates.append(Double(count) / seconds)
            }
            rates.sort()
            let stats = try store.statistics()
            printJSON([
                ("bench", "replay"), ("events", .int(Int64(stats.events))), ("passes", .int(Int64(passes))),
                ("events_per_s", .int(Int64(rates[rates.count / 2]))), ("best_events_per_s", .int(Int64(rates.last!))),
                ("record_bytes_per_event", .double(round2(stats.recordBytesPerEvent))),
                ("used_bytes_per_event", .double(round2(stats.usedBytesPerEvent))),
                ("compression_ratio", .double(round2(stats.compressionRatio))), ("checksum", .int(Int64(checksum))),
            ])
        }
    }
}

struct ViewsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "views",
        abstract: "Rebuild every view (advisory state, every clock of every report, hall of fame, metrics) from a log of realistic report histories.")

    @OptionGroup var bench: BenchOptions

    @Option(help: "Events in the log built in an empty data directory (one already holding a log is used as it is).")
    var events = 1_000_000

    /// When the events of the log built are recorded. Every clock looks at its report's late
    /// entries (events that bear on clocks recorded more than `Report.lateEntryTolerance` after
    /// the time they give), so this sets part of the work; either way the log holds the same
    /// histories at the same event and record times whatever day it is built.
    enum Recording: String, ExpressibleByArgument, CaseIterable {
        /// As they happen: in time order, each within half an hour of the time it gives, as a
        /// ledger in use records them. None is a late entry.
        case live
        /// All at once, a day after the last of them, each report's history as one append: a
        /// project's past imported in one go. Every event is recorded late, and every one that
        /// bears on a clock is a late entry of its report.
        case imported
    }

    @Option(help: "When the log built records its events: \(Recording.allCases.map(\.rawValue).joined(separator: ", ")) (as they happen, or all imported a day after the last).")
    var recorded = Recording.live

    @Option(help: "Timed passes; the median is reported.")
    var passes = 3

    @Option(help: "Threads folding the log (one per core, up to four, by default).")
    var partitions = Projection.foldPartitions

    /// How much of a rebuild a pass does: the floors of `all`.
    enum Stage: String, ExpressibleByArgument, CaseIterable {
        /// Read every record, decompress it and parse its envelope, on the rebuild's threads.
        case scan
        /// That, and decode every event's payload against its schema into a typed event.
        case decode
        /// That, and fold every event into the views' state (reports and projects), without
        /// evaluating clocks, halls of fame or metrics.
        case fold
        /// Every view.
        case all
    }

    @Option(help: "How much of the rebuild to time: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")) (each includes the one before it).")
    var stage = Stage.all

    /// The instant the log's appends are stamped with: the wall clock's until the log is built,
    /// then the last batch's (nothing else is appended).
    private final class RecordingClock: Sendable {
        let microseconds = Atomic<Int64>(Timestamp.now().microseconds)
        var now: Timestamp { Timestamp(microseconds: microseconds.load(ordering: .relaxed)) }
        func set(_ t: Timestamp) { microseconds.store(t.microseconds, ordering: .relaxed) }
    }

    /// Fills an empty store with the policy adoptions and report histories of `events` events,
    /// recorded as `recorded` says (`recording` stamps the appends).
    private static func build(_ store: EventStore, events: Int, recorded: Recording, recording: RecordingClock, start: Timestamp) async throws {
        let policy = try Policy.parse(SyntheticReports.policyText, file: "bench")
        var steps: [SyntheticReports.Step] = []
        var total = SyntheticReports.projects.count
        while total < events {
            steps.append(SyntheticReports.report(steps.count, start: start + .seconds(Int64(steps.count * 600))))
            total += steps.last!.events.count
        }
        let last = steps.lazy.flatMap(\.events).compactMap(\.occurredAt).max() ?? start
        recording.set(recorded == .live ? start : last + .seconds(86_400))
        for project in SyntheticReports.projects {
            _ = try await store.append(to: try DomainStreams.project(project), events: [
                try DomainEvent.policyAdopted(PolicyAdopted(policyText: policy.encodeCanonical(), zone: .utc)).proposed(actor: "admin", occurredAt: start)
            ])
        }
        switch recorded {
        case .imported:
            for first in stride(from: 0, to: steps.count, by: 64) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for step in steps[first..<min(first + 64, steps.count)] {
                        group.addTask { _ = try await store.append(to: step.stream, expecting: .noStream, events: step.events) }
                    }
                    try await group.waitForAll()
                }
            }
        case .live:
            // Every event's time, and where it is: (report, index in its history), in time order.
            var order: [(at: Timestamp, report: Int, index: Int)] = []
            order.reserveCapacity(total)
            for (r, step) in steps.enumerated() {
                for (i, e) in step.events.enumerated() { order.append((e.occurredAt!, r, i)) }
            }
            order.sort { ($0.at, $0.report, $0.index) < ($1.at, $1.report, $1.index) }
            // A batch at a time: events of different reports within half an hour of the first,
            // appended at once (the writer commits them together as far as it groups them) and
            // stamped with the last one's time. A report's events are in order: one per batch.
            var i = 0
            while i < order.count {
                var batch: [(stream: StreamName, event: ProposedEvent)] = []
                var reports = Set<Int>()
                let first = order[i].at
                while i < order.count, batch.count < 256, order[i].at - first <= .seconds(1800), reports.insert(order[i].report).inserted {
                    batch.append((steps[order[i].report].stream, steps[order[i].report].events[order[i].index]))
                    i += 1
                }
                recording.set(max(recording.now, order[i - 1].at))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (stream, event) in batch { group.addTask { _ = try await store.append(to: stream, events: [event]) } }
                    try await group.waitForAll()
                }
            }
        }
    }

    func run() async throws {
        let (events, passes, partitions, stage) = (self.events, max(self.passes, 1), max(self.partitions, 1), self.stage)
        try await bench.withDirectory { dir in
            let recording = RecordingClock()
            var configuration = EventStore.Configuration()
            configuration.clock = { recording.now }
            let store = try EventStore.open(directory: dir, configuration: configuration)
            defer { store.close() }
            let start = try Timestamp(rfc3339: "2026-01-05T09:00:00Z")
            if store.head.sequence == 0 { try await Self.build(store, events: events, recorded: recorded, recording: recording, start: start) }
            let now = try Timestamp(rfc3339: "2027-06-01T00:00:00Z")
            let clock = ContinuousClock()
            var rates: [Double] = []
            var foldRates: [Double] = []
            // CPU seconds per pass, all threads: steadier than the wall clock on a shared machine,
            // and what a faster rebuild must bring down.
            var cpu: [Double] = []
            var phases: [[Duration]] = []
            var clocks = 0
            var reports = 0
            var logEvents: UInt64 = 0
            // The reports' late entries (nil: not folded), which every clock of their report looks at.
            var lateEntries: Int?
            for _ in 0..<passes where stage == .scan || stage == .decode {
                // The same scan as a rebuild's, the fold's work left out: each thread counts its
                // events (and for `decode`, those that decode; the node's own, such as a token made
                // in the benchmark's directory, are no domain events and are counted as read).
                let (t0, cpu0) = (clock.now, cpuSeconds())
                let counts = try store.fold(into: [Int](repeating: 0, count: partitions)) { count, event in
                    if stage == .decode, (try? DomainEvent(type: event.type, version: event.schemaVersion, encoded: event.payload)) == nil,
                        !event.stream.starts(with: "system/".utf8)
                    {
                        return
                    }
                    count += 1
                }
                let seconds = Double((clock.now - t0).microseconds) / 1e6
                cpu.append(cpuSeconds() - cpu0)
                logEvents = store.head.sequence
                precondition(counts.reduce(0, +) == Int(logEvents), "events that did not decode in the benchmark log")
                rates.append(Double(logEvents) / seconds)
                foldRates.append(rates.last!)
                phases.append([clock.now - t0, .zero, .zero])
            }
            for _ in 0..<passes where stage == .fold || stage == .all {
                let (t0, cpu0) = (clock.now, cpuSeconds())
                let projection = try Projection.fold(store, asOf: .latest(now: now), partitions: partitions)
                let folded = clock.now
                precondition(projection.undecodable == 0, "undecodable domain events in the benchmark log")
                if stage == .fold {
                    let seconds = Double((folded - t0).microseconds) / 1e6
                    cpu.append(cpuSeconds() - cpu0)
                    phases.append([folded - t0, .zero, .zero])
                    rates.append(Double(projection.lastSequence) / seconds)
                    foldRates.append(rates.last!)
                    (reports, logEvents) = (projection.reports.count, projection.lastSequence)
                    lateEntries = projection.reports.values.reduce(0) { $0 + $1.lateEntries.count }
                    continue
                }
                // The timers view: every clock of every report, project by project, which the
                // metrics then tally.
                let byProject = projection.reportsByProject()
                let projects = Set(projection.projects.keys).union(byProject.keys)
                var timers: [String: [[Clock]]] = [:]
                for (project, reports) in byProject {
                    timers[project] = Timers.clocks(for: reports, in: projection, now: now, partitions: partitions)
                }
                clocks = timers.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
                let clocked = clock.now
                // Each project's hall of fame and metrics (which tally the clocks above).
                var perProject: [(name: String, reports: [Report], clocks: [[Clock]])] = []
                for name in projects.sorted() { perProject.append((name, byProject[name] ?? [], timers[name] ?? [])) }
                _ = ProjectViews.compute(perProject, projection: projection, window: .seconds(365 * 86_400), now: now, partitions: partitions)
                let seconds = Double((clock.now - t0).microseconds) / 1e6
                cpu.append(cpuSeconds() - cpu0)
                phases.append([folded - t0, clocked - folded, clock.now - clocked])
                rates.append(Double(projection.lastSequence) / seconds)
                foldRates.append(Double(projection.lastSequence) / (Double((folded - t0).microseconds) / 1e6))
                reports = projection.reports.count
                logEvents = projection.lastSequence
                precondition(projection.undecodable == 0, "undecodable domain events in the benchmark log")
                lateEntries = projection.reports.values.reduce(0) { $0 + $1.lateEntries.count }
            }
            let median = rates.indices.sorted { rates[$0] < rates[$1] }[rates.count / 2]
            func ms(_ phase: Int) -> Int64 { phases[median][phase].microseconds / 1000 }
            rates.sort()
            foldRates.sort()
            cpu.sort()
            let cpuMedian = cpu[cpu.count / 2]
            let stats = try store.statistics()
            printJSON([
                ("bench", "views"), ("events", .int(Int64(stats.events))), ("reports", .int(Int64(reports))),
                ("clocks", .int(Int64(clocks))), ("passes", .int(Int64(passes))), ("partitions", .int(Int64(partitions))), ("stage", .string(stage.rawValue)),
                ("events_per_s", .int(Int64(rates[rates.count / 2]))),
                ("fold_only_events_per_s", .int(Int64(foldRates[foldRates.count / 2]))),
                ("cpu_ms", .int(Int64(cpuMedian * 1000))), ("events_per_cpu_s", .int(Int64(Double(logEvents) / cpuMedian))),
                // The pass with the median rate, phase by phase (projects: halls of fame and metrics).
                ("fold_ms", .int(ms(0))), ("clocks_ms", .int(ms(1))), ("projects_ms", .int(ms(2))),
                ("record_bytes_per_event", .double(round2(stats.recordBytesPerEvent))),
                ("late_entries", lateEntries.map { .int(Int64($0)) } ?? .null),
            ])
        }
    }
}

struct NetBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "Load over the network: --connections clients appending --batch events per append for --seconds; one JSON line.",
        discussion: "Without --server it runs a node in this process on a temporary data directory, on loopback.")

    @OptionGroup var bench: BenchOptions

    @Option(help: "Concurrent connections, one appender each.")
    var connections = 64

    @Option(help: "Events per append.")
    var batch = 1

    @Option(help: "How long to run.")
    var seconds = 10.0

    @Option(help: ArgumentHelp("Load an existing node instead (needs an admin --token).", valueName: "host:port"))
    var server: String?

    @Option(help: "An admin token for --server.")
    var token: String?

    enum Engine: String, ExpressibleByArgument, CaseIterable {
        case client, raw
    }

    @Option(
        help: ArgumentHelp(
            "How the load is driven: client (DocketClient, one task per connection) or raw (frames on one event-loop thread, as redis-benchmark does).",
            valueName: "engine"))
    var engine: Engine = .client

    func validate() throws {
        guard connections > 0, batch > 0, batch <= EventStore.maximumEventsPerAppend, seconds > 0 else {
            throw ValidationError("--connections, --batch and --seconds must be positive (and --batch at most \(EventStore.maximumEventsPerAppend))")
        }
        guard (server == nil) == (token == nil) else { throw ValidationError("--server and --token go together") }
    }

    func run() async throws {
        let (connections, batch, seconds) = (self.connections, self.batch, self.seconds)
        try await bench.withDirectory { dir in
            var node: BenchNode?
            var address = server ?? ""
            var token = self.token ?? ""
            if server == nil {
                let n = try await BenchNode.start(dir, maximumConnections: max(4096, connections + 8))
                try await bench.warmUp(n.store)
                token = try await n.token(.admin)
                address = n.address
                node = n
            }
            let load =
                switch engine {
                case .client: try await NetworkLoad.run(address: address, token: token, connections: connections, batch: batch, seconds: seconds)
                case .raw: try await NetworkLoad.runRaw(address: address, token: token, connections: connections, batch: batch, seconds: seconds)
                }
            await node?.stop()
            printJSON([
                ("bench", "net"), ("connections", .int(Int64(connections))), ("batch", .int(Int64(batch))), ("seconds", .double(round3(load.elapsed))),
                ("events", .int(Int64(load.events))), ("events_per_s", .int(Int64(load.eventsPerSecond))),
                ("appends_per_s", .int(Int64(load.appendsPerSecond))),
                ("p50_ms", .double(load.percentile(0.5))), ("p99_ms", .double(load.percentile(0.99))), ("p999_ms", .double(load.percentile(0.999))),
                ("in_process_node", .bool(server == nil)), ("engine", .string(engine.rawValue)),
            ])
        }
    }
}

/// For the crash-safety test: appends forever and prints each acknowledged event as
/// `<id> <sequence>` the moment its append returns, until it is killed.
struct CrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-writer", shouldDisplay: false)

    @Option var dataDir: String
    @Option var concurrency = 8
    @Option var batch = 1
    @Option var prefix = "w"
    @Option var mapSize: Int?

    func run() async throws {
        signal(SIGXFSZ, SIG_IGN)  // a file-size limit should fail a write, not kill the process
        var configuration = EventStore.Configuration()
        if let mapSize { configuration.initialMapSize = mapSize }
        configuration.dictionaryTrainingThreshold = 500
        configuration.dictionarySampleCount = 2000
        configuration.retrainWindow = 3000
        let store = try EventStore.open(directory: dataDir, configuration: configuration)
        let (prefix, concurrency, batch) = (self.prefix, self.concurrency, self.batch)
        let lock = NSLock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var n = 0
                    while true {
                        let ids = (0..<batch).map { try! EventID("\(prefix)\(worker)-\(n + $0)") }
                        let events = ids.enumerated().map { SyntheticEvents.event(n * concurrency + worker + $0.offset, id: $0.element).event }
                        do {
                            let r = try await store.append(to: try StreamName("crash-\(worker)"), events: events)
                            var line = ""
                            for (k, id) in ids.enumerated() { line += "\(id) \(r.firstSequence + UInt64(k))\n" }
                            lock.withLock { FileHandle.standardOutput.write(Data(line.utf8)) }
                        } catch {
                            writeStandardError("append failed: \(error)\n")
                            throw ExitCode(1)
                        }
                        n += batch
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// For the crash tests: opens a data directory read-only, takes a read transaction, says
/// "holding" on stdout and keeps it until killed (a reader that dies holding its slot).
struct HoldReader: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hold-reader", shouldDisplay: false)

    @Option var dataDir: String

    func run() async throws {
        var configuration = EventStore.Configuration()
        configuration.readOnly = true
        let store = try EventStore.open(directory: dataDir, configuration: configuration)
        try store.scanRaw { _, _ in
            FileHandle.standardOutput.write(Data("holding\n".utf8))
            while true { pause() }
        }
        throw CLIError("the log is empty: no record to hold a read transaction on")
    }
}

func round3(_ d: Double) -> Double { (d * 1000).rounded() / 1000 }
