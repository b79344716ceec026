import ArgumentParser
import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Logging

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Whole-system benchmarks; each prints one JSON line.",
        subcommands: [AppendBench.self, ReplayBench.self, CrashWriter.self])
}

/// Options every benchmark shares.
struct BenchOptions: ParsableArguments {
    @Option(help: "Data directory to use; a fresh temporary one (deleted afterwards) by default.")
    var dataDir: String?

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
            let commits = store.commitCount
            let stats = try store.statistics()
            let appended = stats.events - before
            func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : round3(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) }
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
            var i = Int(store.head.sequence)
            while i < events {
                let n = min(1000, events - i)
                let generated = (i..<i + n).map { SyntheticEvents.event($0) }
                // One report stream per append keeps the fill fast; replay cost does not depend on it.
                _ = try await store.append(to: generated[0].stream, events: generated.map(\.event))
                i += n
            }
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
                            FileHandle.standardError.write(Data("append failed: \(error)\n".utf8))
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

func round3(_ d: Double) -> Double { (d * 1000).rounded() / 1000 }
