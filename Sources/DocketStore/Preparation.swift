import DocketCore
import Foundation
import Synchronization

/// An event's record body, encoded and compressed before the writer takes it: everything of
/// its record but the header fields the writer assigns (stream version, recorded-at, chain tag).
struct PreparedFrame: Sendable {
    /// The event's time: the client's, or when the store accepted it.
    var occurredAt: Timestamp
    /// One standard zstd frame holding envelope format 2.
    var frame: [UInt8]
    /// Bytes of the envelope before compression.
    var envelopeSize: Int
}

/// One append on its way to the writer: its events, and their frames, compressed chunk by chunk,
/// in order of claim, by whichever threads take part: the appending caller, and — for a large
/// append — the writer itself when it reaches the append before the caller is done, so that the
/// writer chains and puts the first chunks while the caller still compresses the last. (Compressing everything first and then writing
/// everything, one waiting for the other, left one of two cores idle during each half.)
///
/// A chunk's frames are written once, by the thread that claimed it, and read by the writer only
/// after it has seen the chunk's bit in `done` (release/acquire).
final class PreparedAppend: @unchecked Sendable {
    let stream: StreamName
    let events: [ProposedEvent]
    /// When the store took the append: the events' occurred-at unless the client gave one, and
    /// their recorded-at (unless that would fall before the previous record's).
    let acceptedAt: Timestamp
    /// The dictionary every frame is compressed with (nil: none). Always one the environment
    /// already holds durably, so a record never names a dictionary that could be lost.
    let dictionary: ZstdDictionary?
    let chunkSize: Int
    let chunkCount: Int
    private let slots: UnsafeMutableBufferPointer<PreparedFrame>
    private let claimed = Atomic<Int>(0)
    /// Set when the writer refused the append: its caller stops compressing (the writer could
    /// still need the frames, if a retried transaction accepts the append after all).
    private let refused = Atomic<Bool>(false)
    private let done = Atomic<UInt64>(0)
    /// The first failure (an event too large to store, a compression error) of any chunk.
    private let failure = Mutex<StoreError?>(nil)
    /// Where the writer waits for a chunk another thread is still compressing (chunked only:
    /// a single chunk is compressed before the writer sees the append).
    private let ready: NSCondition?

    /// How long the writer spins for a chunk another thread is compressing before it sleeps.
    static let spin = Duration.microseconds(100)

    /// At most this many chunks (one bit of `done` each).
    static let maximumChunks = 64
    /// Events per chunk at least: smaller chunks cost more in hand-offs than they gain in overlap.
    static let minimumChunkSize = 32

    init(stream: StreamName, events: [ProposedEvent], acceptedAt: Timestamp, dictionary: ZstdDictionary?, chunked: Bool) {
        self.stream = stream
        self.events = events
        self.acceptedAt = acceptedAt
        self.dictionary = dictionary
        let n = events.count
        chunkSize = chunked ? max(Self.minimumChunkSize, (n + Self.maximumChunks - 1) / Self.maximumChunks) : max(n, 1)
        chunkCount = (n + chunkSize - 1) / chunkSize
        ready = chunkCount > 1 ? NSCondition() : nil
        slots = .allocate(capacity: n)
        _ = slots.initialize(from: repeatElement(PreparedFrame(occurredAt: acceptedAt, frame: [], envelopeSize: 0), count: n))
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func range(ofChunk k: Int) -> Range<Int> { k * chunkSize..<min((k + 1) * chunkSize, events.count) }

    /// Compresses unclaimed chunks until every chunk is claimed (or the append is refused).
    func compressRemaining(_ preparer: FramePreparer) {
        while !refused.load(ordering: .relaxed) {
            let k = claimed.add(1, ordering: .relaxed).oldValue
            guard k < chunkCount else { return }
            compress(chunk: k, preparer)
        }
    }

    /// Tells the caller to stop compressing: the append was refused before its frames were needed.
    func abandon() {
        refused.store(true, ordering: .relaxed)
    }

    /// The frames of chunk `k`, once compressed. While it is not, the writer compresses the
    /// lowest unclaimed chunk itself — `k` if nobody has claimed it (claims go in order), else one
    /// ahead of the caller — and only when every chunk is claimed does it wait for `k`.
    func frames(ofChunk k: Int, _ preparer: FramePreparer) throws(StoreError) -> UnsafeBufferPointer<PreparedFrame> {
        let bit = UInt64(1) << UInt64(k)
        var next = claimed.load(ordering: .relaxed)
        while done.load(ordering: .acquiring) & bit == 0 && next < chunkCount {
            let (exchanged, original) = claimed.compareExchange(expected: next, desired: next + 1, ordering: .relaxed)
            if exchanged {
                compress(chunk: next, preparer)
                next += 1
            } else {
                next = original
            }
        }
        if done.load(ordering: .acquiring) & bit == 0 {
            // The rest of a chunk takes microseconds to tens of microseconds, about what waking
            // a sleeping thread costs on a small virtual machine: spin that long before sleeping.
            let deadline = ContinuousClock.now + Self.spin
            var spins = 0
            while done.load(ordering: .acquiring) & bit == 0 {
                spins += 1
                if spins & 255 == 0 && ContinuousClock.now > deadline { break }
            }
            if let ready, done.load(ordering: .acquiring) & bit == 0 {
                ready.lock()
                while done.load(ordering: .acquiring) & bit == 0 { ready.wait() }
                ready.unlock()
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return UnsafeBufferPointer(rebasing: slots[range(ofChunk: k)])
    }

    /// Every chunk, compressed on this thread and (for a large append) a second one; throws the
    /// first failure. For callers that hand over only finished appends.
    func compressAll(_ preparer: FramePreparer) throws(StoreError) {
        if chunkCount > 1 {
            DispatchQueue.concurrentPerform(iterations: 2) { _ in self.compressRemaining(preparer) }
        } else {
            compressRemaining(preparer)
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    private func compress(chunk k: Int, _ preparer: FramePreparer) {
        do {
            try preparer.compress(self, range(ofChunk: k), into: slots)
        } catch {
            failure.withLock { if $0 == nil { $0 = error } }
        }
        done.bitwiseOr(UInt64(1) << UInt64(k), ordering: .releasing)
        if let ready {
            ready.lock()
            ready.broadcast()
            ready.unlock()
        }
    }
}

/// Encodes and compresses appends: small ones on the caller's thread before they are queued,
/// large ones in chunks (`PreparedAppend`) that the caller compresses while the writer already
/// writes the first ones. The writer itself mostly checks, chains and puts.
///
/// Compression is the largest share of an append's CPU time; done here, it runs in parallel with
/// the writer committing earlier appends (or earlier chunks) instead of in series on its thread.
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

    /// Appends with at least this many events are compressed in chunks (`PreparedAppend`).
    static let chunkedThreshold = 128

    init(level: Int32, dictionary: ZstdDictionary?) {
        self.level = level
        self.current = Mutex(dictionary)
    }

    /// The dictionary new frames use; the writer switches it after the dictionary is committed.
    var dictionary: ZstdDictionary? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    /// An append whose frames are yet to be compressed: a large one in chunks, the writer
    /// taking part, a small one in one piece.
    func plan(stream: StreamName, events: [ProposedEvent], acceptedAt: Timestamp) -> PreparedAppend {
        let dictionary = self.dictionary
        return PreparedAppend(
            stream: stream, events: events, acceptedAt: acceptedAt, dictionary: dictionary, chunked: events.count >= Self.chunkedThreshold)
    }

    private func takeCompressor() -> ZstdCompressor {
        let pooled = pool.withLock { p -> Pooled? in p.popLast().map { Pooled($0) } }
        return pooled?.compressor ?? ZstdCompressor(level: level)
    }

    private func give(_ compressor: ZstdCompressor) {
        let pooled = Pooled(compressor)
        pool.withLock { $0.append(pooled.compressor) }
    }

    /// Encodes and compresses `frames.events[range]` into `slots[range]`.
    fileprivate func compress(
        _ frames: PreparedAppend, _ range: Range<Int>, into slots: UnsafeMutableBufferPointer<PreparedFrame>
    ) throws(StoreError) {
        let compressor = takeCompressor()
        defer { give(compressor) }
        var envelope = BinaryWriter(capacity: 1024)
        for i in range {
            let e = frames.events[i]
            let occurredAt = e.occurredAt ?? frames.acceptedAt
            envelope.removeAll()
            EnvelopeCodec.encode(e, stream: frames.stream, occurredAt: occurredAt, into: &envelope)
            let size = envelope.bytes.count
            guard size <= EnvelopeCodec.maximumEncodedSize else {
                throw StoreError(
                    .eventTooLarge,
                    "event \(e.id) encodes to \(size) bytes, over the \(EnvelopeCodec.maximumEncodedSize)-byte limit; store large attachments elsewhere and reference them"
                )
            }
            var frame: [UInt8] = []
            try envelope.bytes.withUnsafeBytes { raw in
                Result { () throws(StoreError) in try compressor.compress(raw, dictionary: frames.dictionary, appendingTo: &frame) }
            }.get()
            slots[i] = PreparedFrame(occurredAt: occurredAt, frame: frame, envelopeSize: size)
        }
    }
}
