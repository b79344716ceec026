import CLMDB
import DocketCore
import Foundation
import Logging
import Synchronization

/// One pending append, waiting for the writer: its events encoded and compressed (a large
/// append's may still be being compressed, chunk by chunk: `PreparedAppend`).
struct AppendRequest: Sendable {
    let stream: StreamName
    let expected: ExpectedVersion
    let prepared: PreparedAppend
    /// Called once, on the writer thread, when the append is durable or has failed.
    let complete: @Sendable (Result<AppendResult, StoreError>) -> Void
}

/// The single writer: a dedicated OS thread (LMDB write transactions belong to one thread) that
/// drains the queue of pending appends into one transaction and one durable commit.
///
/// Batching adapts to load with no timer: while one commit syncs, new appends queue up, and the
/// next transaction takes all of them. An idle node commits a lone append at once. The writer
/// does only what must be serial — idempotency and version checks, the chain hash, the puts and
/// the commit; callers encode and compress their events (`FramePreparer`): before they queue
/// them, or for a large append while the writer writes its first chunks (`PreparedAppend`).
final class LogWriter: @unchecked Sendable {
    // @unchecked: `queue`/`stopping`/`finished` are guarded by `condition`; everything else is
    // touched only on the writer thread after `init`.

    private enum Job {
        case append(AppendRequest)
        case installDictionary(bytes: [UInt8], info: DictionaryInfo)
        /// A leader's records, stored as they are (Replication.swift).
        case replicate(ReplicationJob)
    }

    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopping = false
    private var finished = false

    private let environment: LMDBEnvironment
    private let databases: Databases
    private let configuration: EventStore.Configuration
    private let dictionaries: DictionaryCache
    private let logger: Logger
    let preparer: FramePreparer
    let memtable: StreamMemtable
    /// Called on the writer thread after each durable commit, before callers resume.
    var onCommit: (@Sendable (EventStore.Head) -> Void)?
    /// Why the node takes no writes now (`EventStore.writeRefusal`), set with `onCommit`.
    var writeRefusal: @Sendable () -> StoreError? = { nil }
    /// Durable commits since the store was opened (for benchmarks and status).
    let commits = Atomic<Int>(0)
    /// While following a leader the node stores the leader's dictionaries and never trains its own.
    let replicaMode = Atomic<Bool>(false)

    /// Whether a dictionary is being trained in the background right now.
    var isTraining: Bool { training.load(ordering: .acquiring) }

    // Writer-thread state.
    private var head: EventStore.Head
    /// The head record's recorded-at: recorded times never go backwards along the log.
    private var lastRecordedAt: Timestamp
    /// When `warnClockBehind` last spoke.
    private var lastClockWarning: ContinuousClock.Instant?
    private var streamCount: UInt64 = 0
    private var rawBytes: UInt64 = 0
    private var recordBytes: UInt64 = 0
    private var dictionary: ZstdDictionary?
    private var dictionaryRatio: Double = 0
    private var dictionarySamples = 0
    private var windowRaw: UInt64 = 0
    private var windowStored: UInt64 = 0
    private var windowRecords = 0
    private let training = Atomic<Bool>(false)
    private var nextTrainingAt: UInt64
    private var record: [UInt8] = []
    private var thread: Thread?
    /// The directory's writer lock, when the store was stopped from this thread (`stopAndWait`).
    private var heldLock: WriterLock?
    /// When the writer last freed dead readers' slots (`clearDeadReadersNowAndThen`).
    private var lastReaderCheck = ContinuousClock.now
    /// Stream-index entries not yet in `streams` (committed, or in the transaction being built),
    /// in sequence order, and the latest version of each stream they hold.
    private var unindexed: [(stream: StreamName, entry: StreamMemtable.Entry)] = []
    private var unindexedHeads: [StreamName: UInt64] = [:]
    /// Where `unindexed` stood when the current transaction began (entries after it are its own).
    private var unindexedCommitted = 0

    init(
        environment: LMDBEnvironment, databases: Databases, configuration: EventStore.Configuration,
        dictionaries: DictionaryCache, logger: Logger, head: EventStore.Head, lastRecordedAt: Timestamp, memtable: StreamMemtable,
        unindexed: [(stream: StreamName, entry: StreamMemtable.Entry)]
    ) throws(StoreError) {
        self.lastRecordedAt = lastRecordedAt
        self.environment = environment
        self.databases = databases
        self.configuration = configuration
        self.dictionaries = dictionaries
        self.logger = logger
        self.head = head
        self.memtable = memtable
        self.unindexed = unindexed
        self.unindexedCommitted = unindexed.count
        for (stream, entry) in unindexed { unindexedHeads[stream] = entry.version }
        self.nextTrainingAt = UInt64(configuration.dictionaryTrainingThreshold)
        record.reserveCapacity(EnvelopeCodec.maximumEncodedSize + 1024)
        var current: ZstdDictionary?
        var info: DictionaryInfo?
        var counters: (UInt64, UInt64, UInt64) = (0, 0, 0)
        try environment.read { (txn) throws(StoreError) in
            counters = (
                try Meta.getUInt64(Meta.streamCount, in: txn, databases), try Meta.getUInt64(Meta.rawBytes, in: txn, databases),
                try Meta.getUInt64(Meta.recordBytes, in: txn, databases)
            )
            if let v = try Meta.get(Meta.currentDictionary, in: txn, databases), v.count == 2 {
                let version = v.withUnsafeBytes { $0.loadBigEndianUInt16() }
                current = try dictionaries.dictionary(version, txn: txn)
                info = try Meta.get(Meta.dictionaryInfo(version), in: txn, databases).flatMap { DictionaryInfo(json: String(decoding: $0, as: UTF8.self)) }
            }
        }.get()
        (streamCount, rawBytes, recordBytes) = counters
        if let info {
            dictionaryRatio = info.ratio
            dictionarySamples = info.samples
            nextTrainingAt = Self.nextTraining(after: info.trainedAtSequence, configuration)
        }
        dictionary = current
        preparer = FramePreparer(level: configuration.compressionLevel, dictionary: current)
        let t = Thread { [unowned self] in self.run() }
        t.name = "docket-writer"
        t.stackSize = 4 << 20
        thread = t
        t.start()
    }

    /// Queues an append; if the writer has stopped, fails it at once and returns false (the caller
    /// then has nothing left to compress).
    @discardableResult
    func submit(_ request: AppendRequest) -> Bool {
        condition.lock()
        if stopping {
            condition.unlock()
            request.complete(.failure(StoreError(.closed, "the store is closed")))
            return false
        }
        queue.append(.append(request))
        condition.signal()
        condition.unlock()
        return true
    }

    /// Queues a leader's records; if the writer has stopped, fails them at once.
    func submit(_ job: ReplicationJob) {
        condition.lock()
        if stopping {
            condition.unlock()
            job.complete(.failure(StoreError(.closed, "the store is closed")))
            return
        }
        queue.append(.replicate(job))
        condition.signal()
        condition.unlock()
    }

    /// Queues a job of the writer's own (a trained dictionary). Accepted while stopping: the
    /// writer waits for training in flight, so a dictionary is never trained and then lost.
    private func submitInternal(_ job: Job) {
        condition.lock()
        queue.append(job)
        // broadcast, not signal: a closing thread may be waiting on the same condition, and a
        // signal that wakes it instead of the writer would leave the job unprocessed.
        condition.broadcast()
        condition.unlock()
    }

    private func trainingFailed() {
        condition.lock()
        training.store(false, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    /// Lets the writer commit what is queued, then stops it and waits for it; `lock` (the
    /// directory's writer lock) is released once it has stopped. On the writer thread itself
    /// (the store's last reference released by a completion it ran) there is no one to wait
    /// for: it stops once it is back from that batch, and only then lets go of the lock, so that
    /// no other writer opens the directory while it still commits.
    func stopAndWait(holding lock: WriterLock?) {
        condition.lock()
        stopping = true
        condition.broadcast()
        if Thread.current === thread {
            // (A second stop has no lock left to pass: the first one's is kept.)
            heldLock = heldLock ?? lock
        } else {
            while !finished { condition.wait() }
        }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            // Stopping waits for a dictionary being trained, then installs it.
            while queue.isEmpty && (!stopping || training.load(ordering: .acquiring)) { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                // Leave `streams` complete, so the next open has nothing to re-index. (No training
                // after it: nothing would wait for it, and its reads would outlive the environment.)
                if !unindexed.isEmpty { commit([], flushIndex: true, considerTraining: false) }
                condition.lock()
                finished = true
                heldLock = nil
                condition.broadcast()
                condition.unlock()
                return
            }
            // Take as many queued appends as fit in one commit.
            var taken = 0
            var events = 0
            for job in queue {
                if case .append(let r) = job {
                    if taken > 0 && events + r.prepared.events.count > configuration.maximumEventsPerCommit { break }
                    events += r.prepared.events.count
                }
                taken += 1
            }
            let batch = Array(queue.prefix(taken))
            queue.removeFirst(taken)
            condition.unlock()
            commit(batch, flushIndex: false, considerTraining: true)
        }
    }

    // MARK: Committing a batch

    private struct Snapshot {
        let head: EventStore.Head
        let lastRecordedAt: Timestamp
        let streamCount, rawBytes, recordBytes: UInt64
        let dictionary: ZstdDictionary?
        let dictionaryRatio: Double
        let dictionarySamples: Int
        let nextTrainingAt: UInt64
        let windowRaw, windowStored: UInt64
        let windowRecords: Int
    }

    private func snapshot() -> Snapshot {
        Snapshot(
            head: head, lastRecordedAt: lastRecordedAt, streamCount: streamCount, rawBytes: rawBytes, recordBytes: recordBytes, dictionary: dictionary,
            dictionaryRatio: dictionaryRatio, dictionarySamples: dictionarySamples, nextTrainingAt: nextTrainingAt,
            windowRaw: windowRaw, windowStored: windowStored, windowRecords: windowRecords)
    }

    private func restore(_ s: Snapshot) {
        head = s.head
        lastRecordedAt = s.lastRecordedAt
        streamCount = s.streamCount
        rawBytes = s.rawBytes
        recordBytes = s.recordBytes
        dictionary = s.dictionary
        dictionaryRatio = s.dictionaryRatio
        dictionarySamples = s.dictionarySamples
        nextTrainingAt = s.nextTrainingAt
        windowRaw = s.windowRaw
        windowStored = s.windowStored
        windowRecords = s.windowRecords
        // Forget this transaction's index entries (rare: a failed or retried commit).
        if unindexed.count > unindexedCommitted {
            unindexed.removeSubrange(unindexedCommitted...)
            unindexedHeads.removeAll(keepingCapacity: true)
            for (stream, entry) in unindexed { unindexedHeads[stream] = entry.version }
        }
    }

    /// Whether this commit should move the unindexed entries into `streams`: once there are
    /// many (and when the store closes). Until then every commit saves the stream-index pages it
    /// would dirty — one random leaf per stream under concurrent load, and a leaf plus the
    /// pages above it even for a lone append, which is a fifth of a single append's commit.
    private func shouldFlushIndex() -> Bool {
        unindexed.count >= configuration.streamIndexFlushThreshold
    }

    /// An append that failed after some of its records were put (a chunk of its frames that
    /// could not be compressed): the transaction is retried without it.
    private struct Abandoned: Error {
        let error: StoreError
        /// The append's place in the batch.
        var index = 0
    }

    private func commit(_ batch: [Job], flushIndex force: Bool, considerTraining train: Bool) {
        var batch = batch
        let before = snapshot()
        var installed: [ZstdDictionary] = []
        while true {
            var results: [Result<AppendResult, StoreError>] = []
            results.reserveCapacity(batch.count)
            var replicated: [Result<EventStore.Head, StoreError>] = []
            installed.removeAll()
            var flushed = false
            do {
                let txn = try environment.beginWrite()
                do {
                    for (index, job) in batch.enumerated() {
                        switch job {
                        case .append(let request):
                            do {
                                results.append(try apply(request, txn: txn))
                            } catch var abandoned as Abandoned {
                                abandoned.index = index
                                throw abandoned
                            }
                        case .installDictionary(let bytes, let info):
                            if let d = try install(bytes, info: info, txn: txn) { installed.append(d) }
                        case .replicate(let job):
                            replicated.append(try applyReplicated(job, txn: txn, installed: &installed))
                        }
                    }
                    if force || shouldFlushIndex() {
                        try flushStreamIndex(txn: txn)
                        flushed = true
                    }
                    if head.sequence != before.head.sequence {
                        try persistCounters(txn: txn)
                    }
                } catch {
                    txn.abort()
                    throw error
                }
                // mdb_txn_commit frees the transaction whether or not it succeeds (it can fail
                // with MDB_MAP_FULL while saving the free list): never abort it afterwards.
                try txn.commit()
            } catch let abandoned as Abandoned {
                restore(before)
                if case .append(let request) = batch[abandoned.index] { request.complete(.failure(abandoned.error)) }
                batch.remove(at: abandoned.index)
                // It was alone (and no index flush was asked for): nothing is left to commit.
                if batch.isEmpty && !force { return }
                continue
            } catch let error as LMDBError where error.isMapFull {
                restore(before)
                if growMap() { continue }
                fail(batch, StoreError(.diskFull, "the log reached its maximum map size of \(configuration.maximumMapSize) bytes; raise it"))
                return
            } catch let error as StoreError {
                // A replicated record the indexes refuse (Replication.swift): the whole batch fails.
                restore(before)
                fail(batch, error)
                return
            } catch let error as LMDBError {
                restore(before)
                let failure = error.writeError(dataFile: environment.path + "/data.mdb")
                // The appenders are told (`failure`); a node's operator is told here (a full disk).
                logger.warning("write transaction failed", metadata: ["error": "\(error)", "code": "\(failure.code)"])
                fail(batch, failure)
                return
            } catch {
                restore(before)
                fail(batch, StoreError(.io, "unexpected error committing: \(error)"))
                return
            }
            commits.add(1, ordering: .relaxed)
            // Readers see the new entries before any caller learns of its append.
            if flushed {
                memtable.removeAll()
                unindexed.removeAll(keepingCapacity: true)
                unindexedHeads.removeAll(keepingCapacity: true)
            } else if unindexed.count > unindexedCommitted {
                memtable.add(unindexed[unindexedCommitted...])
            }
            unindexedCommitted = unindexed.count
            for d in installed { dictionaries.insert(d) }
            // Only now, with the dictionary durable, may new records be compressed with it.
            if let d = installed.last { preparer.dictionary = d }
            if batch.contains(where: { if case .installDictionary = $0 { true } else { false } }) {
                training.store(false, ordering: .releasing)
            }
            onCommit?(head)
            var i = 0
            var r = 0
            for job in batch {
                if case .append(let request) = job {
                    request.complete(results[i])
                    i += 1
                } else if case .replicate(let job) = job {
                    job.complete(replicated[r])
                    r += 1
                }
            }
            if train { considerTraining() }
            clearDeadReadersNowAndThen()
            return
        }
    }

    /// Every minute of commits, frees the reader slots dead processes left (`clearDeadReaders`).
    private func clearDeadReadersNowAndThen() {
        let now = ContinuousClock.now
        guard now - lastReaderCheck >= .seconds(60) else { return }
        lastReaderCheck = now
        clearDeadReaders()
    }

    private func clearDeadReaders() {
        let dead = environment.clearDeadReaders()
        if dead > 0 { logger.warning("freed the reader slots of processes that died reading the log", metadata: ["slots": "\(dead)"]) }
    }

    private func fail(_ batch: [Job], _ error: StoreError) {
        for job in batch {
            switch job {
            case .append(let r): r.complete(.failure(error))
            case .installDictionary: training.store(false, ordering: .releasing)
            case .replicate(let job): job.complete(.failure(error))
            }
        }
    }

    /// When a dictionary trained at `sequence` on fewer than the configured samples is replaced.
    static func nextTraining(after sequence: UInt64, _ configuration: EventStore.Configuration) -> UInt64 {
        max(sequence.multipliedReportingOverflow(by: 4).overflow ? .max : sequence * 4, UInt64(configuration.dictionarySampleCount))
    }

    /// Doubles the map; false when it is already at its maximum.
    private func growMap() -> Bool {
        // Dead readers' slots freed first: the pages they pinned are room the commits after this can reuse.
        clearDeadReaders()
        let current = environment.mapSize
        guard current < configuration.maximumMapSize else { return false }
        let next = min(current * 2, configuration.maximumMapSize)
        do {
            try environment.growMap(to: next)
            logger.info("grew the log map", metadata: ["from": "\(current)", "to": "\(environment.mapSize)"])
            return true
        } catch {
            logger.error("could not grow the log map", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func persistCounters(txn: borrowing Transaction) throws(LMDBError) {
        var h = bigEndianBytes(head.sequence)
        h.append(contentsOf: head.hash.bytes)
        try Meta.put(Meta.head, h, in: txn, databases)
        try Meta.put(Meta.streamCount, bigEndianBytes(streamCount), in: txn, databases)
        try Meta.put(Meta.rawBytes, bigEndianBytes(rawBytes), in: txn, databases)
        try Meta.put(Meta.recordBytes, bigEndianBytes(recordBytes), in: txn, databases)
    }

    /// Writes every unindexed entry to `streams`, one stream after another (each stream's
    /// entries are adjacent keys), and records that `streams` is complete through the head.
    private func flushStreamIndex(txn: borrowing Transaction) throws(LMDBError) {
        var byStream: [StreamName: [StreamMemtable.Entry]] = [:]
        for (stream, entry) in unindexed { byStream[stream, default: []].append(entry) }
        for (stream, entries) in byStream {
            var key = Key.streamPrefix(stream)
            let prefix = key.count
            key.append(contentsOf: repeatElement(0, count: 8))
            for e in entries {
                key.withUnsafeMutableBytes { $0.storeBytes(of: e.version.bigEndian, toByteOffset: prefix, as: UInt64.self) }
                try withBigEndian(e.sequence) { (value) throws(LMDBError) in
                    try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try txn.put(databases.streams, k, value, flags: MDB_NOOVERWRITE) } }.get()
                }
            }
        }
        try Meta.put(Meta.streamsIndexedThrough, bigEndianBytes(head.sequence), in: txn, databases)
    }

    // MARK: One append

    /// Checks the whole request, then writes it. A request that fails a check writes nothing and
    /// does not disturb the others in the batch; an LMDB error aborts the whole transaction, and
    /// `Abandoned` (a chunk that could not be compressed) retries it without this request.
    private func apply(_ request: AppendRequest, txn: borrowing Transaction) throws -> Result<AppendResult, StoreError> {
        let prepared = request.prepared
        // A node deposed (or made a follower) while this append waited for the writer takes it
        // no more: checked when it was prepared, and again here, where it would be committed.
        if replicaMode.load(ordering: .acquiring) {
            prepared.abandon()
            return .failure(writeRefusal() ?? StoreError(.fenced, "this node no longer takes writes; send them to the leader"))
        }
        let events = prepared.events
        let current: UInt64
        if let pending = unindexedHeads[request.stream] {
            current = pending
        } else {
            do { current = try StreamIndex.head(of: request.stream, in: txn, databases) } catch {
                prepared.abandon()
                return .failure(error)
            }
        }
        // No stream reaches such a version by appending: only a damaged index says so.
        guard current <= UInt64.max - UInt64(events.count) else {
            prepared.abandon()
            return .failure(Self.impossibleVersion(current, of: request.stream))
        }
        if case .exact(let expected) = request.expected, expected != current {
            prepared.abandon()
            // Idempotency first: a retry of a committed append must not trip the version check.
            if let outcome = try checkAgainstRecorded(request, txn: txn) { return outcome }
            return .failure(
                StoreError(
                    .wrongExpectedVersion,
                    "stream \(request.stream) is at version \(current), but the append expected \(request.expected); nothing was written — re-read the stream and retry",
                    expectedVersion: request.expected, actualVersion: current))
        }
        let first = head.sequence + 1
        // Claim every id for the sequence it will get, in one search each. An id already there
        // was recorded before (a retry) or claimed by an earlier event of this append (an
        // entry at `first` or later): take the claims back and find out which, the slow way.
        for i in events.indices {
            let taken = try events[i].id.withIndexKey { (id) throws(LMDBError) in
                try withBigEndian(first + UInt64(i)) { (seq) throws(LMDBError) in try txn.putIfAbsent(databases.ids, id, seq) != nil }
            }
            if taken {
                prepared.abandon()
                for e in events[..<i] {
                    try e.id.withIndexKey { (id) throws(LMDBError) in try txn.delete(databases.ids, id) }
                }
                return try checkAgainstRecorded(request, txn: txn)
                    ?? .failure(StoreError(.io, "event id \(events[i].id) was in the id index, then was not"))
            }
        }
        // Recorded when the store took the append, and never before the record before it (so
        // recorded-at follows the log's order); for a live event that is its occurred-at, and
        // the record header's delta is a single zero byte.
        let recordedAt = max(request.prepared.acceptedAt, lastRecordedAt)
        if request.prepared.acceptedAt + Report.lateEntryTolerance < lastRecordedAt { warnClockBehind(request.prepared.acceptedAt) }
        let digest = request.prepared.dictionary?.digest
        let windowed = request.prepared.dictionary != nil && request.prepared.dictionary === dictionary
        let dictionaryVersion = request.prepared.dictionary?.version ?? 0
        for k in 0..<prepared.chunkCount {
            let ready: UnsafeBufferPointer<PreparedFrame>
            do { ready = try prepared.frames(ofChunk: k, preparer) } catch { throw Abandoned(error: error) }
            let offset = prepared.range(ofChunk: k).lowerBound
            for j in ready.indices {
                let version = current + UInt64(offset + j) + 1
                try writeRecord(
                    ready[j], stream: request.stream,
                    ledger: EnvelopeCodec.LedgerFields(streamVersion: version, recordedDelta: recordedAt.microseconds &- ready[j].occurredAt.microseconds),
                    dictionary: dictionaryVersion, digest: digest, windowed: windowed, txn: txn)
            }
        }
        // Once per append, not per event: hashing the stream name is not free.
        unindexedHeads[request.stream] = current + UInt64(events.count)
        if current == 0 { streamCount += 1 }
        lastRecordedAt = recordedAt
        return .success(
            AppendResult(
                firstSequence: first, lastSequence: head.sequence, streamVersion: current + UInt64(events.count),
                recordedAt: recordedAt, duplicate: false))
    }

    /// The node's clock is more than the late-entry tolerance behind the log's last record (it
    /// stepped back, or this node took over from one whose clock was ahead). Records stay in order
    /// (recorded at the last record's time), but events given no time of their own carry the
    /// clock's, so the clocks they end flag them as recorded late until it catches up: the
    /// operator must hear of it. Said at most every ten minutes.
    private func warnClockBehind(_ clock: Timestamp) {
        let now = ContinuousClock.now
        if let last = lastClockWarning, now - last < .seconds(600) { return }
        lastClockWarning = now
        logger.warning(
            "this node's clock is behind its log: events without a time of their own are stamped by the clock but recorded at the last record's time, so views flag them as entered late until the clock catches up; check the node's time synchronisation",
            metadata: ["clock": "\(clock)", "last-recorded-at": "\(lastRecordedAt)"])
    }

    /// What an append is when some of its ids are already taken: an id repeated within it, or a
    /// retry (whole, or a mix of recorded and new events, which is refused). Nil when every id is new.
    private func checkAgainstRecorded(_ request: AppendRequest, txn: borrowing Transaction) throws(LMDBError) -> Result<AppendResult, StoreError>? {
        let events = request.prepared.events
        if events.count > 1 {
            var seen = Set<EventID>(minimumCapacity: events.count)
            for e in events where !seen.insert(e.id).inserted {
                return .failure(StoreError(.invalidEvent, "event id \(e.id) appears twice in one append"))
            }
        }
        var existing: [UInt64?]?
        for (i, e) in events.enumerated() {
            let found = try e.id.withIndexKey { (k) throws(LMDBError) in try txn.get(databases.ids, k)?.indexedSequence() }
            if let found {
                if existing == nil { existing = Array(repeating: nil, count: events.count) }
                existing![i] = found
            }
        }
        guard let existing else { return nil }
        return retryResult(request, existing: existing, txn: txn)
    }

    private func writeRecord(
        _ event: PreparedFrame, stream: StreamName, ledger: EnvelopeCodec.LedgerFields, dictionary version: UInt16, digest: ChainHash?,
        windowed: Bool, txn: borrowing Transaction
    ) throws(LMDBError) {
        let sequence = head.sequence + 1
        record.removeAll(keepingCapacity: true)
        RecordFormat.writeHeader(dictionary: version, ledger: ledger, to: &record)
        record.append(contentsOf: event.frame)
        let hash = record.withUnsafeBytes {
            RecordFormat.chain(previous: head.hash, sequence: sequence, record: $0, dictionaryDigest: digest)
        }
        record.withUnsafeMutableBytes { $0.storeBytes(of: hash.tag.bigEndian, toByteOffset: RecordFormat.tagOffset, as: UInt64.self) }
        try withBigEndian(sequence) { (key) throws(LMDBError) in
            try record.withUnsafeBytes { value in Result { () throws(LMDBError) in try txn.put(databases.log, key, value, flags: MDB_APPEND) } }.get()
            if sequence % Databases.anchorInterval == 0 {
                try hash.withUnsafeBytes { h in Result { () throws(LMDBError) in try txn.put(databases.chain, key, h) } }.get()
            }
        }
        unindexed.append((stream, StreamMemtable.Entry(version: ledger.streamVersion, sequence: sequence)))
        head = EventStore.Head(sequence: sequence, hash: hash)
        rawBytes += UInt64(event.envelopeSize)
        recordBytes += UInt64(record.count)
        if windowed {
            windowRaw += UInt64(event.envelopeSize)
            windowStored += UInt64(event.frame.count)
            windowRecords += 1
        }
    }

    /// The outcome of an append whose ids are (some or all) already recorded.
    private func retryResult(_ request: AppendRequest, existing: [UInt64?], txn: borrowing Transaction) -> Result<AppendResult, StoreError> {
        let decoder = RecordDecoder(dictionaries: dictionaries)
        var recorded: [RecordedEvent] = []
        for (i, seq) in existing.enumerated() {
            let e = request.prepared.events[i]
            guard let seq else {
                return .failure(
                    StoreError(
                        .eventIDReused,
                        "event \(e.id) is new but other events of this append are already recorded; an idempotent retry must resend exactly the original events"
                    ))
            }
            do {
                guard let value = try LogIndex.record(at: seq, in: txn, databases) else {
                    return .failure(StoreError(.corruptRecord, "event id \(e.id) points at missing sequence \(seq)", sequence: seq))
                }
                let original = try decoder.decode(value, sequence: seq, txn: txn)
                guard original.matches(e, in: request.stream) else {
                    return .failure(
                        StoreError(
                            .eventIDReused,
                            "event id \(e.id) was already used at sequence \(seq) for a different event (stream \(original.stream), type \(original.type)); choose a new id",
                            sequence: seq))
                }
                recorded.append(original)
            } catch { return .failure(error) }
        }
        // Recorded, but together and in this order? Otherwise the answer would be a range that is
        // not theirs (a reordered retry answered first > last, and synchronous replication would
        // wait for the wrong sequence).
        for (i, e) in recorded.enumerated() where e.sequence != recorded[0].sequence + UInt64(i) {
            return .failure(
                StoreError(
                    .eventIDReused,
                    "the events of this append are recorded, but not together in this order (sequences \(recorded.map(\.sequence).map(String.init).joined(separator: ", "))); an idempotent retry must resend exactly the original events, in their order",
                    sequence: e.sequence))
        }
        let first = recorded[0]
        let last = recorded[recorded.count - 1]
        return .success(
            AppendResult(
                firstSequence: first.sequence, lastSequence: last.sequence, streamVersion: last.streamVersion,
                recordedAt: first.recordedAt, duplicate: true))
    }

    /// Applies a leader's records (Replication.swift) to this writer's state.
    private func applyReplicated(_ job: ReplicationJob, txn: borrowing Transaction, installed: inout [ZstdDictionary]) throws -> Result<EventStore.Head, StoreError> {
        // (A batch prepared against another head is refused by `apply`, naming the heads.)
        let p = job.prepared
        if p.previous == head, let refused = try checkStreamVersions(p, txn: txn) { return .failure(refused) }
        var state = ReplicaWriterState(
            head: head, streamCount: streamCount, rawBytes: rawBytes, recordBytes: recordBytes, dictionary: dictionary)
        let result = try job.apply(txn: txn, databases: databases, state: &state)
        (head, streamCount, rawBytes, recordBytes) = (state.head, state.streamCount, state.rawBytes, state.recordBytes)
        for (stream, entry) in state.streamEntries {
            unindexed.append((stream, entry))
            unindexedHeads[stream] = entry.version
        }
        if let t = job.prepared.lastRecordedAt { lastRecordedAt = max(lastRecordedAt, t) }
        if !state.installed.isEmpty {
            installed += state.installed
            dictionary = state.dictionary
            // So that a promoted follower trains (and retrains) when its leader would have.
            dictionaryRatio = state.installedInfo?.ratio ?? 0
            dictionarySamples = state.installedInfo?.samples ?? 0
            nextTrainingAt = Self.nextTraining(after: state.installedInfo?.trainedAtSequence ?? head.sequence, configuration)
            (windowRaw, windowStored, windowRecords) = (0, 0, 0)
        }
        return result
    }

    /// A stream version no append could have reached, read from the `streams` index.
    private static func impossibleVersion(_ version: UInt64, of stream: StreamName) -> StoreError {
        StoreError(
            .corruptRecord,
            "the stream index gives stream \(stream) version \(version), which no append reaches: the data file is damaged or was edited; nothing was written; run docket verify, and restore the data directory from a replica or a copy")
    }

    /// Whether every record of `p` is its stream's next version. The chain proves the records are
    /// the leader's, not that the leader's log is consistent: a stream version repeated in it (a
    /// damaged or forged log) would be refused by the `streams` index only at its next flush,
    /// after the records were committed, and would fail every commit after that.
    private func checkStreamVersions(_ p: PreparedReplication, txn: borrowing Transaction) throws(StoreError) -> StoreError? {
        var heads: [StreamName: UInt64] = [:]
        for (i, record) in p.streams.enumerated() {
            let current: UInt64
            if let h = heads[record.stream] ?? unindexedHeads[record.stream] { current = h } else { current = try StreamIndex.head(of: record.stream, in: txn, databases) }
            guard current < .max else { return Self.impossibleVersion(current, of: record.stream) }
            guard record.version == current + 1 else {
                let seq = p.first + UInt64(i)
                return StoreError(
                    .corruptRecord,
                    "record \(seq) from the leader is version \(record.version) of stream \(record.stream), whose next version is \(current + 1): the leader's log is inconsistent (run docket verify there); nothing of this batch was written",
                    sequence: seq)
            }
            heads[record.stream] = record.version
        }
        return nil
    }

    // MARK: Dictionaries

    private func install(_ bytes: [UInt8], info: DictionaryInfo, txn: borrowing Transaction) throws(LMDBError) -> ZstdDictionary? {
        // A follower's dictionaries are its leader's, byte for byte: drop one trained before it followed.
        guard !replicaMode.load(ordering: .acquiring) else { return nil }
        // A record header names its dictionary in 16 bits: the 65,535th is the last.
        let (version, overflow) = (dictionary?.version ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            logger.warning("the log holds the most dictionaries a record can name (65535); keeping the current one")
            return nil
        }
        var info = info
        info.version = version
        let d: ZstdDictionary
        do { d = try ZstdDictionary(version: version, bytes: bytes, level: configuration.compressionLevel) } catch {
            logger.error("trained dictionary does not load; keeping the current one", metadata: ["error": "\(error)"])
            return nil
        }
        try txn.put(databases.dicts, bigEndianBytes(version), bytes, flags: MDB_NOOVERWRITE)
        try Meta.put(Meta.currentDictionary, bigEndianBytes(version), in: txn, databases)
        try Meta.put(Meta.dictionaryInfo(version), Array(info.json.utf8), in: txn, databases)
        dictionary = d
        dictionaryRatio = info.ratio
        dictionarySamples = info.samples
        nextTrainingAt = Self.nextTraining(after: info.trainedAtSequence, configuration)
        windowRaw = 0
        windowStored = 0
        windowRecords = 0
        logger.info(
            "installed compression dictionary",
            metadata: ["version": "\(version)", "samples": "\(info.samples)", "ratio": "\(info.ratio)"])
        return d
    }

    /// Starts training in the background when there is no dictionary yet and enough records,
    /// or when the current dictionary's ratio has degraded over the last window.
    private func considerTraining() {
        guard !replicaMode.load(ordering: .acquiring), dictionary?.version != .max else { return }
        var reason: String?
        if dictionary == nil {
            if head.sequence >= nextTrainingAt { reason = "first dictionary" }
        } else if dictionarySamples < configuration.dictionarySampleCount && head.sequence >= nextTrainingAt {
            // The first dictionary is trained early, on few events, so a young log compresses
            // at all; train a better one once there are enough.
            reason = "more samples available (\(dictionarySamples) used before)"
        } else if windowRecords >= configuration.retrainWindow {
            let ratio = windowStored == 0 ? 0 : Double(windowRaw) / Double(windowStored)
            if ratio < dictionaryRatio * configuration.retrainThreshold {
                reason = "ratio fell from \(dictionaryRatio) to \(ratio)"
            }
            windowRaw = 0
            windowStored = 0
            windowRecords = 0
        }
        guard let reason, training.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        let upTo = head.sequence
        // Back off if training fails for lack of data, instead of retrying on every commit.
        nextTrainingAt = upTo * 2
        let trainer = DictionaryTrainer(
            environment: environment, databases: databases, dictionaries: dictionaries, configuration: configuration)
        logger.info("training a compression dictionary", metadata: ["reason": "\(reason)", "head": "\(upTo)"])
        let logger = self.logger
        let done: @Sendable (Result<([UInt8], DictionaryInfo), StoreError>) -> Void = { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let (bytes, info)): self.submitInternal(.installDictionary(bytes: bytes, info: info))
            case .failure(let error):
                logger.warning("dictionary training failed; will retry later", metadata: ["error": "\(error)"])
                self.trainingFailed()
            }
        }
        Thread.detachNewThread { done(Result { () throws(StoreError) in try trainer.train(upTo: upTo) }) }
    }
}

/// Trains a dictionary from the latest records, off the writer thread.
struct DictionaryTrainer: Sendable {
    let environment: LMDBEnvironment
    let databases: Databases
    let dictionaries: DictionaryCache
    let configuration: EventStore.Configuration

    /// The bytes all samples together hold, at most: 32 MiB (each sample is a whole event, so
    /// that the ratio measured on them is the one later records are compared with).
    static let maximumSampleBytes = 32 << 20

    func train(upTo head: UInt64) throws(StoreError) -> ([UInt8], DictionaryInfo) {
        let count = UInt64(configuration.dictionarySampleCount)
        let start = head > count ? head - count + 1 : 1
        var samples: [[UInt8]] = []
        // What the samples may hold, at most: the recent events of a ledger (a few hundred bytes
        // each) fit many times over, while a client appending events of 64 KiB cannot make
        // training hold a gigabyte (16,384 of them), and then again as one buffer for zstd.
        // (Fewer samples than asked for then: the next training comes when the log has grown
        // fourfold, as after any training on fewer.)
        var budget = Self.maximumSampleBytes
        let decoder = RecordDecoder(dictionaries: dictionaries)
        var next = start
        while next <= head && budget > 0 {
            try environment.read { (txn) throws(StoreError) in
                try LogIndex.forEachRecord(in: txn, databases, from: next, limit: 4096) { (seq, value) throws(StoreError) in
                    guard seq <= head, budget > 0 else { return false }
                    let sample = try decoder.withEnvelope(value, sequence: seq, txn: txn) { (bytes, _) in Array(bytes) }
                    budget -= sample.count
                    samples.append(sample)
                    next = seq + 1
                    return true
                }
            }.get()
            if samples.isEmpty { break }
        }
        let bytes = try ZstdTrainer.train(samples: samples, capacity: configuration.dictionaryCapacity)
        let dictionary = try ZstdDictionary(version: 0, bytes: bytes, level: configuration.compressionLevel)
        let compressor = ZstdCompressor(level: configuration.compressionLevel)
        var raw = 0
        var compressed: [UInt8] = []
        for s in samples {
            raw += s.count
            try s.withUnsafeBytes { b in
                Result { () throws(StoreError) in try compressor.compress(b, dictionary: dictionary, appendingTo: &compressed) }
            }.get()
        }
        let info = DictionaryInfo(
            version: 0, bytes: bytes.count, trainedAtSequence: head, samples: samples.count,
            ratio: compressed.isEmpty ? 0 : (Double(raw) / Double(compressed.count) * 1000).rounded() / 1000)
        return (bytes, info)
    }
}
