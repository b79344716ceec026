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
final class PipelinedScan: @unchecked Sendable {
    // @unchecked: the queues and flags are guarded by `condition`; a chunk belongs to one
    // thread at a time (the reader fills it, then the scanner drains it).

    /// Decompressed envelopes of consecutive records, back to back.
    final class Chunk {
        struct Entry {
            let sequence: UInt64
            let ledger: EnvelopeCodec.LedgerFields?
            let offset: Int
            let count: Int
        }
        private(set) var buffer: UnsafeMutableRawPointer
        private(set) var capacity: Int
        var used = 0
        var entries: [Entry] = []
        /// Reading stopped at a record that does not decode (the entries before it are good).
        var failure: StoreError?
        /// No records after this chunk (the end of the range or of the log, or a failure).
        var isLast = false

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
    private let condition = NSCondition()
    private var filled: [Chunk] = []
    private var free: [Chunk] = []
    private var cancelled = false
    private var readerDone = false

    /// Chunks in flight: one being decoded, one being read, one waiting.
    private static let depth = 3

    init(store: EventStore, chunk: Int, last: UInt64) {
        self.store = store
        self.chunkSize = chunk
        self.last = last
        for _ in 0..<Self.depth { free.append(Chunk(capacity: chunk * 512)) }
    }

    /// Scans `from...last`, calling `body` on this thread in sequence order.
    func run(from start: UInt64, _ body: (RecordedEvent) throws(StoreError) -> Bool) throws(StoreError) {
        let reader = Thread { [self] in read(from: start) }
        reader.name = "docket-scan"
        reader.start()
        defer {
            condition.lock()
            cancelled = true
            condition.broadcast()
            while !readerDone { condition.wait() }
            condition.unlock()
        }
        let interner = StringInterner()
        while true {
            condition.lock()
            while filled.isEmpty { condition.wait() }
            let chunk = filled.removeFirst()
            condition.unlock()
            for e in chunk.entries {
                let event: RecordedEvent
                do throws(CoreError) {
                    event = try EnvelopeCodec.decode(chunk.bytes(of: e), sequence: e.sequence, ledger: e.ledger, interner: interner)
                } catch {
                    throw StoreError(.corruptRecord, "record \(e.sequence): \(error.message)", sequence: e.sequence)
                }
                guard try body(event) else { return }
            }
            if let failure = chunk.failure { throw failure }
            if chunk.isLast { return }
            condition.lock()
            chunk.reset()
            free.append(chunk)
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The reader thread: fills free chunks in order until the range ends, a record fails or
    /// the scan is cancelled.
    private func read(from start: UInt64) {
        // Its decompression context and dictionary lookup; the envelopes are decoded elsewhere.
        let decoder = RecordDecoder(dictionaries: store.dictionaries)
        var next = start
        while true {
            condition.lock()
            while free.isEmpty && !cancelled { condition.wait() }
            if cancelled {
                readerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let chunk = free.removeFirst()
            condition.unlock()
            var count = 0
            do {
                try store.read { (txn) throws(StoreError) in
                    try LogIndex.forEachRecord(in: txn, store.databases, from: next, limit: chunkSize) { (seq, value) throws(StoreError) in
                        guard seq <= last else { return false }
                        let (header, frame, dictionary) = try decoder.frame(of: value, sequence: seq, txn: txn)
                        let n: Int
                        do throws(StoreError) {
                            n = try decoder.decompressor.decompress(frame, dictionary: dictionary, limit: EnvelopeCodec.maximumEncodedSize) { size in
                                chunk.reserve(size)
                                return chunk.buffer + chunk.used
                            }
                        } catch {
                            throw RecordDecoder.naming(seq, error)
                        }
                        chunk.entries.append(.init(sequence: seq, ledger: header.ledger, offset: chunk.used, count: n))
                        chunk.used += n
                        count += 1
                        next = seq + 1
                        return true
                    }
                }
                if count < chunkSize || next > last { chunk.isLast = true }
            } catch {
                chunk.failure = error
                chunk.isLast = true
            }
            condition.lock()
            filled.append(chunk)
            condition.broadcast()
            let finished = chunk.isLast
            if finished { readerDone = true }
            condition.unlock()
            if finished { return }
        }
    }
}
