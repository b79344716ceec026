// Durable appends through `EventStore.append`, one appender, as `docket bench append --batch N`
// measures them: each append resumes only once its commit is on disk, so with one appender every
// append is one LMDB write transaction, synced to disk before it returns.
//
// Each benchmark gets a fresh data directory in its setup, filled with 16,384 synthetic events
// so that both compression dictionaries a young log trains are in place (the steady state), and
// removed in its teardown. One iteration is one `append` call of `batch` events; the events are
// generated before `startMeasurement()`, so only the append is timed.
//
// Metrics: wall clock = latency of one append; throughput = appends per second;
// events/s = events per second (batch / append latency), the figure to compare across batches;
// malloc (total) = allocations per append, counted by the malloc interposer.

import Benchmark
import DocketBenchmarkSupport
import DocketCore
import DocketStore
import Foundation

let eventsPerSecond = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)

/// Holds the store a benchmark's setup made, for its iterations and its teardown.
final class Fixture: @unchecked Sendable {
    var temporary: TemporaryStore?
}

func appendBenchmark(batch: Int, maxIterations: Int, maxDuration: Duration) {
    let fixture = Fixture()
    Benchmark(
        "Append durable \(batch) per call",
        configuration: .init(
            metrics: [.wallClock, .throughput, eventsPerSecond, .mallocCountTotal],
            warmupIterations: 5,
            maxDuration: maxDuration,
            maxIterations: maxIterations
        ),
        closure: { benchmark in
            guard let temporary = fixture.temporary else { return benchmark.error("setup made no store") }
            let (stream, events) = temporary.nextBatch(batch)
            let clock = ContinuousClock()
            benchmark.startMeasurement()
            let start = clock.now
            let result = try await temporary.store.append(to: stream, events: events)
            let elapsed = clock.now - start
            benchmark.stopMeasurement()
            blackHole(result)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if seconds > 0 { benchmark.measurement(eventsPerSecond, Int(Double(batch) / seconds)) }
        },
        setup: {
            let temporary = try TemporaryStore(label: "append-\(batch)")
            fixture.temporary = temporary
            try await temporary.fill(to: 16384)
        },
        teardown: {
            fixture.temporary?.remove()
            fixture.temporary = nil
        }
    )
}

let benchmarks: @Sendable () -> Void = {
    appendBenchmark(batch: 1, maxIterations: 1000, maxDuration: .seconds(5))
    appendBenchmark(batch: 64, maxIterations: 500, maxDuration: .seconds(5))
    appendBenchmark(batch: 1000, maxIterations: 100, maxDuration: .seconds(8))
}
