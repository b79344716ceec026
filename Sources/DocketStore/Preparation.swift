import DocketCore
import Foundation
import Synchronization

/// An event encoded and compressed before the writer takes it: everything of its record but the
/// header fields the writer assigns (stream version, recorded-at, chain tag).
struct PreparedEvent: Sendable {
    let proposed: ProposedEvent
    /// The event's time: the client's, or when the store accepted it.
    let occurredAt: Timestamp
    /// One standard zstd frame holding envelope format 2.
    let frame: [UInt8]
    /// Bytes of the envelope before compression.
    let envelopeSize: Int
}

/// The events of one append, ready for the writer.
struct PreparedAppend: Sendable {
    var events: [PreparedEvent]
    /// When the store took the append: the events' occurred-at unless the client gave one, and
    /// their recorded-at (unless that would fall before the previous record's).
    let acceptedAt: Timestamp
    /// The dictionary every frame was compressed with (nil: none). Always one the environment
    /// already holds durably, so a record never names a dictionary that could be lost.
    let dictionary: ZstdDictionary?
}

/// Encodes and compresses appends on the caller's thread — or, for large appends, on both
/// cores — so the single writer thread only checks, chains and puts.
///
/// Compression is the largest share of an append's CPU time; done here, it runs in parallel with
/// the writer committing earlier appends instead of in series on its thread.
final class FramePreparer: Sendable {
    private let level: Int32
    private let current: Mutex<ZstdDictionary?>
    /// Compression contexts are not thread-safe but are costly to create: keep them for reuse.
    private let pool = Mutex<[ZstdCompressor]>([])

    /// A compressor moving in or out of the pool: one thread uses it at a time.
    private struct Pooled: @unchecked Sendable {
        let compressor: ZstdCompressor
        init(_ compressor: ZstdCompressor) { self.compressor = compressor }
    }

    /// Appends with at least this many events are compressed on two threads.
    static let parallelThreshold = 128

    init(level: Int32, dictionary: ZstdDictionary?) {
        self.level = level
        self.current = Mutex(dictionary)
    }

    /// The dictionary new frames use; the writer switches it after the dictionary is committed.
    var dictionary: ZstdDictionary? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    func prepare(stream: StreamName, events: [ProposedEvent], acceptedAt: Timestamp) throws(StoreError) -> PreparedAppend {
        let dictionary = self.dictionary
        if events.count < Self.parallelThreshold {
            return PreparedAppend(
                events: try prepare(stream: stream, events[...], acceptedAt: acceptedAt, dictionary: dictionary), acceptedAt: acceptedAt,
                dictionary: dictionary)
        }
        // Two halves on two threads; concurrentPerform runs one of them on this thread.
        let halves = [events[..<(events.count / 2)], events[(events.count / 2)...]]
        let results = Mutex<[Result<[PreparedEvent], StoreError>?]>([nil, nil])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = Result { () throws(StoreError) in try self.prepare(stream: stream, halves[i], acceptedAt: acceptedAt, dictionary: dictionary) }
            results.withLock { $0[i] = r }
        }
        let (first, second) = results.withLock { ($0[0]!, $0[1]!) }
        return PreparedAppend(events: try first.get() + second.get(), acceptedAt: acceptedAt, dictionary: dictionary)
    }

    private func takeCompressor() -> ZstdCompressor {
        let pooled = pool.withLock { p -> Pooled? in p.popLast().map { Pooled($0) } }
        return pooled?.compressor ?? ZstdCompressor(level: level)
    }

    private func give(_ compressor: ZstdCompressor) {
        let pooled = Pooled(compressor)
        pool.withLock { $0.append(pooled.compressor) }
    }

    private func prepare(
        stream: StreamName, _ events: ArraySlice<ProposedEvent>, acceptedAt: Timestamp, dictionary: ZstdDictionary?
    ) throws(StoreError) -> [PreparedEvent] {
        let compressor = takeCompressor()
        defer { give(compressor) }
        var envelope = BinaryWriter(capacity: 1024)
        var out: [PreparedEvent] = []
        out.reserveCapacity(events.count)
        for e in events {
            let occurredAt = e.occurredAt ?? acceptedAt
            envelope.removeAll()
            EnvelopeCodec.encode(e, stream: stream, occurredAt: occurredAt, into: &envelope)
            let size = envelope.bytes.count
            guard size <= EnvelopeCodec.maximumEncodedSize else {
                throw StoreError(
                    .eventTooLarge,
                    "event \(e.id) encodes to \(size) bytes, over the \(EnvelopeCodec.maximumEncodedSize)-byte limit; store large attachments elsewhere and reference them"
                )
            }
            var frame: [UInt8] = []
            try envelope.bytes.withUnsafeBytes { raw in
                Result { () throws(StoreError) in try compressor.compress(raw, dictionary: dictionary, appendingTo: &frame) }
            }.get()
            out.append(PreparedEvent(proposed: e, occurredAt: occurredAt, frame: frame, envelopeSize: size))
        }
        return out
    }
}
