import DocketCore
import Foundation

/// A long scan on two cores: a reader thread walks the log in short read transactions and
/// decompresses each chunk of records into one buffer, while the scanning thread decodes the
/// envelopes of the chunk before and hands them to its caller.
///
/// The split is where the work divides evenly (LMDB and zstd on one side, envelope decoding and
/// the caller's own work on the other) and where nothing crosses threads per event: every
/// `RecordedEvent` is made, used and freed on the scanning thread, and chunk buffers are
/// recycled rather than freed on the other thread. (Decoding whole events on the reader thread
/// was slower than not pipelining at all: the allocator's cross-thread frees cost more than the
/// decoding saved.)
///
/// A partitioned scan (`runPartitioned`) has several scanning threads instead of one, each
/// decoding and folding only the events of its own streams (the thread that reads a chunk notes
/// each record's partition, a hash of its stream name): views whose state divides by stream are rebuilt on
/// every core, and still nothing made on one thread is freed on another. It has no reader
/// thread: the scanning threads read the chunks themselves, each taking up the next chunk no one
/// has when the one it needs is not ready, so that as many threads run as there are partitions
/// (one per core). With a reader thread beside them, there was a thread more than cores, and
/// two scanning threads on two cores took about 15% more CPU time than one.
final class PipelinedScan: @unchecked Sendable {
    // @unchecked: the queues and flags are guarded by `condition`; a chunk belongs to the thread
    // reading it until it is filled, then to the scanning threads, which only read it, until the last of
    // them is done with it.

    /// Decompressed envelopes of consecutive records, back to back.
    final class Chunk {
        struct Entry {
            let sequence: UInt64
            let ledger: EnvelopeCodec.LedgerFields?
            let offset: Int
            let count: Int
            /// The scanning thread whose events these are (always 0 with one).
            let partition: Int
        }
        private(set) var buffer: UnsafeMutableRawPointer
        private(set) var capacity: Int
        var used = 0
        var entries: [Entry] = []
        /// Reading stopped at a record that does not decode (the entries before it are good).
        var failure: StoreError?
        /// No records after this chunk (the end of the range or of the log, or a failure).
        var isLast = false
        /// Its place in the scan (0, 1, 2, …), so each scanning thread takes the chunks in order.
        var ordinal = 0
        /// Scanning threads yet to finish with it.
        var pending = 0

        init(capacity: Int) {
            self.capacity = capacity
            buffer = .allocate(byteCount: capacity, alignment: 16)
            entries.reserveCapacity(4096)
        }

        deinit { buffer.deallocate() }

        func reset() {
            used = 0
            entries.removeAll(keepingCapacity: true)
            failure = nil
            isLast = false
        }

        /// Room for `n` more bytes at `buffer + used`.
        func reserve(_ n: Int) {
            guard used + n > capacity else { return }
            let grown = max(capacity * 2, used + n)
            let b = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            b.copyMemory(from: buffer, byteCount: used)
            buffer.deallocate()
            buffer = b
            capacity = grown
        }

        func bytes(of e: Entry) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer + e.offset, count: e.count) }
    }

    private let store: EventStore
    private let chunkSize: Int
    private let last: UInt64
    /// The log's head as the scan started: its records run at least that far.
    private let head: UInt64
    private let partitions: Int
    private let condition = NSCondition()
    private var filled: [Chunk] = []
    private var free: [Chunk] = []
    private var cancelled = false
    /// The reader thread has stopped (or there is none: `selfReading`).
    private var readerDone = false
    /// Whether the scanning threads read the chunks themselves (a partitioned scan), rather than
    /// a reader thread.
    private let selfReading: Bool
    /// When the scanning threads read: the ordinal of the next chunk to read, and of the last
    /// chunk once one has been read (the end of the range or of the log, a failure or a stop).
    private var nextOrdinal = 0
    private var lastOrdinal: Int?
    /// What stopped the threads of a partitioned scan.
    private var failures: [StoreError] = []

    /// Asked before each chunk is read and as each scanning thread takes one up: true stops the
    /// scan there, with `StoreError.closed`.
    private let shouldStop: (@Sendable () -> Bool)?

    /// The error of a scan stopped (`shouldStop`) before `sequence`.
    static func stopped(before sequence: UInt64) -> StoreError {
        StoreError(.closed, "the scan was stopped before sequence \(sequence) (the node is shutting down)", sequence: sequence)
    }

    /// `partitions` scanning threads (the caller's and `partitions − 1` more); `stop`, `shouldStop`.
    init(store: EventStore, chunk: Int, last: UInt64, partitions: Int = 1, stop: (@Sendable () -> Bool)? = nil) {
        self.store = store
        self.chunkSize = chunk
        self.last = last
        self.partitions = max(partitions, 1)
        selfReading = self.partitions > 1
        readerDone = selfReading
        self.shouldStop = stop
        head = store.head.sequence
        // Chunks in flight: with a reader thread, one being read, one waiting, and one being
        // decoded per scanning thread (which may be a chunk apart); without, as many read or
        // waiting as the scanning threads, which may be that far apart.
        for _ in 0..<(2 * self.partitions + 2) { free.append(Chunk(capacity: chunk * 512)) }
    }

    /// Scans `from...last`, calling `body` on this thread in sequence order.
    func run(from start: UInt64, _ body: (RecordedEvent) throws(StoreError) -> Bool) throws(StoreError) {
        precondition(partitions == 1, "a partitioned scan runs with runPartitioned")
        startReader(from: start)
        defer { stop() }
        let interner = StringInterner()
        try consume(partition: 0, from: start) { (e, envelope) throws(StoreError) in
            try body(try RecordDecoder.decoding(e.sequence) { () throws(CoreError) in
                try EnvelopeCodec.decode(envelope, sequence: e.sequence, ledger: e.ledger, interner: interner)
            })
        }
    }

    /// Scans `from...last` on `partitions` threads: `body(p, event)` runs on thread p for every
    /// event whose stream belongs to partition p, in sequence order within the partition, read in
    /// place from its envelope (valid during the call). A failing thread stops the others; once
    /// every thread has stopped, the error with the lowest sequence among those they met is
    /// thrown (a record that fails to read is met by all).
    func runPartitioned(from start: UInt64, _ body: @escaping @Sendable (Int, EnvelopeCodec.Fields) -> Void) throws(StoreError) {
        if !selfReading { startReader(from: start) }
        defer { stop() }
        @Sendable func scan(_ p: Int) {
            do throws(StoreError) {
                try consume(partition: p, from: start) { (e, envelope) throws(StoreError) in
                    body(p, try RecordDecoder.decoding(e.sequence) { () throws(CoreError) in
                        try EnvelopeCodec.fields(in: envelope, sequence: e.sequence, ledger: e.ledger)
                    })
                    return true
                }
            } catch {
                cancel(failing: error)
            }
        }
        let group = DispatchGroup()
        for p in 1..<partitions {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                scan(p)
            }
            thread.name = "docket-scan-\(p)"
            thread.start()
        }
        scan(0)
        group.wait()
        condition.lock()
        let first = failures.min { ($0.sequence ?? .max) < ($1.sequence ?? .max) }
        condition.unlock()
        if let first { throw first }
    }

    private func startReader(from start: UInt64) {
        let reader = Thread { [self] in read(from: start) }
        reader.name = "docket-scan"
        reader.start()
    }

    /// Stops every thread of a partitioned scan after one failed.
    private func cancel(failing error: StoreError) {
        condition.lock()
        failures.append(error)
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the reader (if any) and waits for it.
    private func stop() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while !readerDone { condition.wait() }
        condition.unlock()
    }

    /// One scanning thread: takes every chunk in order and hands the envelopes of its partition to
    /// `body` until the range ends, `body` returns false or the scan is cancelled.
    ///
    /// Without a reader thread, a thread whose next chunk is not ready reads the next one no one
    /// has taken up (its own, or one ahead, while a chunk is free), rather than wait; the scan
    /// starts at `start`.
    ///
    /// Once the scan is cancelled (another thread failed or was stopped), a thread still scans the
    /// chunks already read, in order, and stops at the first that is not: the event of its own
    /// partition that fails first may come before the one another thread met.
    private func consume(
        partition: Int, from start: UInt64, _ body: (Chunk.Entry, UnsafeRawBufferPointer) throws(StoreError) -> Bool
    ) throws(StoreError) {
        let decoder = selfReading ? RecordDecoder(dictionaries: store.dictionaries) : nil
        var ordinal = 0
        while true {
            condition.lock()
            var next: Chunk?
            var toRead: (chunk: Chunk, ordinal: Int)?
            while true {
                next = filled.first { $0.ordinal == ordinal }
                if next != nil || cancelled { break }
                if decoder != nil, lastOrdinal == nil, !free.isEmpty {
                    toRead = (free.removeFirst(), nextOrdinal)
                    nextOrdinal += 1
                    break
                }
                condition.wait()
            }
            condition.unlock()
            if let toRead, let decoder {
                fill(toRead.chunk, ordinal: toRead.ordinal, from: start + UInt64(toRead.ordinal) * UInt64(chunkSize), decoder: decoder)
                continue
            }
            guard let chunk = next else { return }
            ordinal += 1
            defer { release(chunk) }
            // Asked here too, so a stop does not wait for the chunks already read ahead.
            if let shouldStop, shouldStop(), let first = chunk.entries.first {
                throw Self.stopped(before: first.sequence)
            }
            for e in chunk.entries where e.partition == partition {
                guard try body(e, chunk.bytes(of: e)) else { return }
            }
            if let failure = chunk.failure { throw failure }
            if chunk.isLast { return }
        }
    }

    /// A scanning thread is done with `chunk`; the last one hands it back to the reader.
    private func release(_ chunk: Chunk) {
        condition.lock()
        chunk.pending -= 1
        if chunk.pending == 0 {
            filled.removeAll { $0 === chunk }
            chunk.reset()
            free.append(chunk)
            condition.broadcast()
        }
        condition.unlock()
    }

    /// The partition of the event in `envelope`, so a stream's events always go to the same
    /// scanning thread.
    private static func partition(ofEnvelope envelope: UnsafeRawBufferPointer, among n: Int) -> Int {
        guard n > 1 else { return 0 }
        // A malformed envelope goes to partition 0, which decodes it and reports the error.
        guard let name = EnvelopeCodec.streamName(in: envelope) else { return 0 }
        return partition(of: name, among: n)
    }

    /// The partition of the stream named by these UTF-8 bytes: a hash of the name taken eight
    /// bytes at a time (every record of a rebuild is hashed), mixed to the last bit. Not stored
    /// anywhere: only a fold and the split of the projection it folds onto must agree.
    static func partition(of name: UnsafeRawBufferPointer, among n: Int) -> Int {
        guard n > 1 else { return 0 }
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(name.count)
        var i = 0
        while i + 8 <= name.count {
            h = (h ^ name.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h = (h << 29) | (h >> 35)
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < name.count {
            tail |= UInt64(name[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return Int(h % UInt64(n))
    }

    /// The reader thread: fills free chunks in order until the range ends, a record fails or
    /// the scan is cancelled.
    private func read(from start: UInt64) {
        // Its decompression context and dictionary lookup; the envelopes are decoded elsewhere.
        let decoder = RecordDecoder(dictionaries: store.dictionaries)
        var ordinal = 0
        while true {
            condition.lock()
            while free.isEmpty && !cancelled && lastOrdinal == nil { condition.wait() }
            if cancelled || lastOrdinal != nil {
                readerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let chunk = free.removeFirst()
            condition.unlock()
            fill(chunk, ordinal: ordinal, from: start + UInt64(ordinal) * UInt64(chunkSize), decoder: decoder)
            ordinal += 1
        }
    }

    /// Reads chunk number `ordinal`, the records from `first` (the log's records are numbered
    /// without gaps, so chunk k starts `k × chunk` records into the scan), and hands it to the
    /// scanning threads; or, when a chunk before it turned out to be the last, back to the free
    /// ones (another thread had read to the end as this one took it up).
    private func fill(_ chunk: Chunk, ordinal: Int, from first: UInt64, decoder: RecordDecoder) {
        var next = first
        do throws(StoreError) {
            if let shouldStop, shouldStop() { throw Self.stopped(before: first) }
            if first <= last {
                try store.read { (txn) throws(StoreError) in
                    try LogIndex.forEachRecord(in: txn, store.databases, from: first, limit: chunkSize) { (seq, value) throws(StoreError) in
                        guard seq <= last else { return false }
                        let (header, n) = try decoder.decompress(value, sequence: seq, txn: txn) { size in
                            chunk.reserve(size)
                            return chunk.buffer + chunk.used
                        }
                        let envelope = UnsafeRawBufferPointer(start: chunk.buffer + chunk.used, count: n)
                        chunk.entries.append(
                            .init(
                                sequence: seq, ledger: header.ledger, offset: chunk.used, count: n,
                                partition: Self.partition(ofEnvelope: envelope, among: partitions)))
                        chunk.used += n
                        next = seq + 1
                        return true
                    }
                }
            }
            let short = next - first < UInt64(chunkSize)
            if short || next > last {
                chunk.isLast = true
                if short, let error = EventStore.endsEarly(next: next, last: last, head: head) { throw error }
            }
        } catch {
            chunk.failure = error
            chunk.isLast = true
        }
        chunk.ordinal = ordinal
        chunk.pending = partitions
        condition.lock()
        if chunk.isLast { lastOrdinal = min(lastOrdinal ?? ordinal, ordinal) }
        if let lastOrdinal, ordinal > lastOrdinal {
            chunk.reset()
            free.append(chunk)
        } else {
            filled.append(chunk)
        }
        condition.broadcast()
        condition.unlock()
    }
}
