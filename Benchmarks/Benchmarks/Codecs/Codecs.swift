// Micro-benchmarks of the codecs every append and every replay goes through: the event envelope
// (`EnvelopeCodec`), the JSON a client sends (`JSON`), and the binary payload encoding (`Value`).
//
// The input is one synthetic event (`SyntheticEvents.event(42)`), made once when the benchmarks
// are registered. Each iteration runs the operation 1,000 times (`scalingFactor: .kilo`,
// `benchmark.scaledIterations`), so wall clock reads per 1,000 operations and throughput in
// thousands of operations per second; `--scale` shows both per operation.

import Benchmark
import DocketCore
import DocketTestSupport

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1000
    )

    let (stream, proposed) = SyntheticEvents.event(42)
    let at = Timestamp(microseconds: 1_750_000_000_000_000)
    let recorded = RecordedEvent(
        sequence: 42, stream: stream, streamVersion: 1, id: proposed.id, type: proposed.type,
        schemaVersion: proposed.schemaVersion, actor: proposed.actor, occurredAt: at, recordedAt: at,
        payload: proposed.payload)
    let envelope = EnvelopeCodec.encode(recorded)
    let value = proposed.data
    let payloadBytes = proposed.payload.bytes
    let json = JSON.serialize(value)

    // MARK: Envelope

    Benchmark("Envelope encode (\(envelope.count) B)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(EnvelopeCodec.encode(recorded))
        }
    }

    Benchmark("Envelope decode (\(envelope.count) B)", configuration: configuration) { benchmark in
        try envelope.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations {
                blackHole(try EnvelopeCodec.decode(raw, sequence: 42))
            }
        }
    }

    // As the store decodes during a replay: repeated strings shared through an interner.
    Benchmark("Envelope decode, interned (\(envelope.count) B)", configuration: configuration) { benchmark in
        let interner = StringInterner()
        try envelope.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations {
                blackHole(try EnvelopeCodec.decode(raw, sequence: 42, interner: interner))
            }
        }
    }

    // MARK: JSON

    Benchmark("JSON parse (\(json.utf8.count) B payload)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSON.parse(json))
        }
    }

    Benchmark("JSON serialize (\(json.utf8.count) B payload)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(JSON.serialize(value))
        }
    }

    // MARK: Value binary encoding

    Benchmark("Value binary encode (\(payloadBytes.count) B)", configuration: configuration) { benchmark in
        var writer = BinaryWriter(capacity: 512)
        for _ in benchmark.scaledIterations {
            writer.removeAll(keepingCapacity: true)
            value.encode(into: &writer)
            blackHole(writer.bytes.count)
        }
    }

    Benchmark("Value binary decode (\(payloadBytes.count) B)", configuration: configuration) { benchmark in
        try payloadBytes.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations {
                var reader = BinaryReader(raw)
                blackHole(try Value.decode(from: &reader))
            }
        }
    }
}
