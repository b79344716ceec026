// Full scans of a log, as `docket bench replay` measures them: read every record, decompress
// it and decode its envelope (`EventStore.scan`).
//
// The setup fills a fresh data directory with 100,000 synthetic events, letting the store train
// and install its compression dictionaries on the way (records 1-1024 have none, the next ones
// the first dictionary, the rest the second, as on a log that grew over time); the teardown
// removes it. One iteration is one pass over all 100,000 events.
//
// Metrics: wall clock = one full pass; events/s = events decoded per second.

import Benchmark
import DocketBenchmarkSupport
import DocketCore
import DocketStore
import Foundation

let logEvents = 100_000
let eventsPerSecond = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)

final class Fixture: @unchecked Sendable {
    var temporary: TemporaryStore?
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

let benchmarks: @Sendable () -> Void = {
    // package-benchmark runs each benchmark in a process of its own, so each fills its own log.
    let fixture = Fixture()
    let setup: Benchmark.BenchmarkSetupHook = {
        let temporary = try TemporaryStore(label: "replay")
        fixture.temporary = temporary
        try await temporary.fill(to: logEvents)
    }
    let teardown: Benchmark.BenchmarkTeardownHook = {
        fixture.temporary?.remove()
        fixture.temporary = nil
    }
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, eventsPerSecond, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 1,
        maxDuration: .seconds(10),
        maxIterations: 20
    )

    /// One timed pass: scans the whole log, folding each event into a checksum with `fold`.
    func replay(_ name: String, fold: @escaping @Sendable (RecordedEvent) -> Int) {
        Benchmark(
            name,
            configuration: configuration,
            closure: { benchmark in
                guard let store = fixture.temporary?.store else { return benchmark.error("setup made no store") }
                let clock = ContinuousClock()
                let start = clock.now
                var count = 0
                var checksum = 0
                try store.scan { event in
                    count += 1
                    checksum &+= fold(event)
                    return true
                }
                let elapsed = clock.now - start
                benchmark.stopMeasurement()
                blackHole(checksum)
                guard count == logEvents else { return benchmark.error("scanned \(count) events, expected \(logEvents)") }
                benchmark.measurement(eventsPerSecond, Int(Double(count) / seconds(elapsed)))
            },
            setup: setup,
            teardown: teardown
        )
    }

    // Envelopes only: the payload stays encoded, as projections that skip most events see it.
    replay("Replay 100k (scan + envelope decode)") { Int($0.streamVersion) }

    // Every payload decoded to a `Value` too, as a projection that reads every event does.
    replay("Replay 100k (scan + envelope + payload decode)") { event in
        if case .object(let members) = event.data { return members.count }
        return 0
    }
}
