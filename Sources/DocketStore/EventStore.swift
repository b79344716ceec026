import CLMDB
public import DocketCore
import Foundation
public import Logging
import Synchronization

/// The durable event log of one node: an LMDB environment of zstd-compressed, hash-chained
/// records, appended to through a group-committing writer thread.
///
/// Appends are acknowledged only after the transaction holding them is durable on disk. Reads
/// never block appends (LMDB's MVCC) and long scans use a fresh read transaction per chunk, so
/// they do not pin old pages.
public final class EventStore: Sendable {
    /// Tunables. The defaults suit a production node; tests shrink them.
    public struct Configuration: Sendable {
        /// Bytes of address space mapped at first; the map doubles whenever LMDB reports it full.
        /// Address space only: the data file grows with what is written, not with the map. Large
        /// from the start because growing it waits for every read transaction in the process to
        /// end (LMDB requires none open), so a log that grew now and then stalled appends behind
        /// busy readers; 64 GiB holds hundreds of millions of events. Where the process may not
        /// map that much (a `ulimit -v`), the environment opens with 256 MiB and grows from there.
        public var initialMapSize = 64 << 30
        /// The map never grows past this (LMDB needs it to be addressable, not present on disk).
        public var maximumMapSize = 1 << 40
        public var compressionLevel: Int32 = 3
        /// Records needed before the first dictionary is trained from the node's own events. Until
        /// then records are zstd frames without a dictionary (barely smaller than the envelope).
        /// A first dictionary trained on fewer than `dictionarySampleCount` records is replaced
        /// once four times as many exist.
        public var dictionaryTrainingThreshold = 1024
        /// How many of the latest records a dictionary is trained on.
        public var dictionarySampleCount = 16384
        /// Dictionary size in bytes.
        public var dictionaryCapacity = 16 * 1024
        /// Records compressed with a dictionary between two checks of its compression ratio.
        public var retrainWindow = 65536
        /// Retrain when the ratio over the last window falls below this share of the ratio the
        /// dictionary had when it was trained.
        public var retrainThreshold = 0.8
        /// Most events in one group-commit transaction.
        public var maximumEventsPerCommit = 65536
        /// Stream-index entries kept in memory (`StreamMemtable`) before they are written to
        /// `streams` in one commit; also the most records an open may have to re-index.
        public var streamIndexFlushThreshold = 16384
        /// Open without writing anything (no writer thread; appends fail). Works on read-only copies.
        public var readOnly = false
        /// The ledger id a new data directory gets (a follower adopts its leader's); random when
        /// nil. Ignored for a directory that already holds a ledger.
        public var ledgerID: String?
        /// The wall clock appends are stamped by (tests set one that steps back).
        public var clock: @Sendable () -> Timestamp = { .now() }

        public init() {}
    }

    /// Most events a single append may carry.
    public static let maximumEventsPerAppend = 10_000

    let environment: LMDBEnvironment
    let databases: Databases
    let configuration: Configuration
    let logger: Logger
    let directory: String
    /// The ledger's identity, fixed at creation; replicas share it.
    public let ledgerID: String
    let dictionaries: DictionaryCache
    let committed: CommittedHead
    let memtable: StreamMemtable
    let writer: LogWriter?
    /// Held while the store may write (`WriterLock`); dropped by `close`.
    private let lock: Mutex<WriterLock?>
    /// Set while this node must not write on its own (a follower, a deposed leader).
    let writeFence = WriteFence()
    /// Told of every durable commit, on the writer thread (Replication.swift).
    let commitObservers = CommitObservers()

    /// A log's last sequence and its chain hash.
    public struct Head: Sendable, Hashable {
        public var sequence: UInt64
        public var hash: ChainHash

        public init(sequence: UInt64, hash: ChainHash) {
            self.sequence = sequence
            self.hash = hash
        }
    }

    /// The layout of the databases this build writes. Format 1 directories (whose `streams`
    /// index was always complete and whose records were all format 1) are read, and upgraded in
    /// place when opened for writing: their records stay as they are.
    public static let storageFormat = 2

    /// Opens (creating if needed) the data directory `directory`.
    public static func open(
        directory: String, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "docket.store")
    ) throws(StoreError) -> EventStore {
        let ledgerPath = try prepareDirectory(directory, readOnly: configuration.readOnly)
        // Before anything is opened for writing: a second writer is refused, not let in.
        let lock = configuration.readOnly ? nil : try WriterLock(directory: directory, ledger: ledgerPath)
        if configuration.readOnly, access(ledgerPath + "/lock.mdb", F_OK) != 0, WriterLock.isHeld(ledger: ledgerPath) {
            // Without its lock file a read opens without LMDB's reader table (as a copy taken for
            // examination is read): beside a writer, which could not see the reader, it could be
            // handed pages the writer has since reused.
            throw StoreError(
                .io,
                "\(ledgerPath)/lock.mdb is missing while a process has the ledger open for writing: it was deleted under it. "
                    + "Stop that process (a node: restart it) so that a new one is made, then read; reading now could see pages it reuses")
        }
        let env: LMDBEnvironment
        do {
            env = try LMDBEnvironment(
                path: ledgerPath, mapSize: configuration.initialMapSize, maxDatabases: 8, readOnly: configuration.readOnly)
        } catch {
            if error.code == MDB_INVALID || error.code == MDB_VERSION_MISMATCH {
                throw StoreError(.notADataDirectory, "\(ledgerPath) is not an LMDB environment Docket can read (\(error))")
            }
            if error.isNoSpace { throw StoreError(.diskFull, "cannot open \(ledgerPath): the disk is full (\(error)); free space and retry") }
            throw StoreError(.io, "cannot open \(ledgerPath): \(error)")
        }
        // A data file shorter than the pages its meta page says are in use (a copy cut short)
        // would make the first read past its end fault (SIGBUS): refused before any.
        var st = stat()
        if stat(ledgerPath + "/data.mdb", &st) == 0, Int(st.st_size) < env.usedBytes() {
            throw StoreError(
                .corruptRecord,
                "\(directory): the data file is cut short: ledger/data.mdb holds \(st.st_size) bytes but its pages run to \(env.usedBytes()) (a copy that did not finish?); restore it from a replica or a complete copy")
        }
        // The entries of a new ledger's files, and of its directory, are on disk before the first
        // append is acknowledged (LMDB syncs the data file, not the directory it created it in).
        if !configuration.readOnly {
            try syncDirectory(of: ledgerPath + "/data.mdb")
            try syncDirectory(of: ledgerPath)
        }
        let dbs = try Databases.open(env, readOnly: configuration.readOnly, path: directory)
        let ledgerID = try Self.loadOrInitialiseMetadata(
            env, dbs, readOnly: configuration.readOnly, path: directory, newLedgerID: configuration.ledgerID)
        let head = try Self.loadHead(env, dbs)
        if !configuration.readOnly { try Self.checkHead(head, env, dbs, path: directory) }
        let store = try EventStore(
            environment: env, databases: dbs, configuration: configuration, logger: logger, directory: directory,
            ledgerID: ledgerID, head: head, lock: lock)
        // A follower's or deposed leader's directory refuses writes however it is opened. Read
        // only, its role is still known (a view read from a follower's copy says so), where the
        // file reads; a damaged one is for whoever opens it to write to refuse.
        if !configuration.readOnly {
            try store.applyNodeState(try NodeState.load(directory: directory))
        } else if let state = try? NodeState.load(directory: directory) {
            try store.applyNodeState(state)
        }
        return store
    }

    private init(
        environment: LMDBEnvironment, databases: Databases, configuration: Configuration, logger: Logger,
        directory: String, ledgerID: String, head: Head, lock: WriterLock?
    ) throws(StoreError) {
        self.lock = Mutex(lock)
        self.environment = environment
        self.databases = databases
        self.configuration = configuration
        self.logger = logger
        self.directory = directory
        self.ledgerID = ledgerID
        self.dictionaries = DictionaryCache(environment: environment, databases: databases, level: configuration.compressionLevel)
        self.committed = CommittedHead(head)
        self.memtable = StreamMemtable()
        // Records after `streams.indexed-through` (a crash before the writer wrote their stream
        // index) are indexed in memory again, from the log itself.
        let unindexed = try Self.unindexedEntries(
            environment, databases, dictionaries: dictionaries, head: head.sequence, tolerateDamage: configuration.readOnly, logger: logger)
        memtable.add(unindexed)
        if !unindexed.isEmpty {
            logger.info("re-indexed the latest records' streams", metadata: ["records": "\(unindexed.count)"])
        }
        if configuration.readOnly {
            self.writer = nil
        } else {
            let last = try Self.lastRecordedAt(environment, databases, dictionaries: dictionaries, head: head.sequence)
            self.writer = try LogWriter(
                environment: environment, databases: databases, configuration: configuration,
                dictionaries: dictionaries, logger: logger, head: head, lastRecordedAt: last, memtable: memtable, unindexed: unindexed)
            self.writer?.onCommit = { [committed, commitObservers] head in
                committed.value.withLock { $0 = head }
                commitObservers.notify(head)
            }
            self.writer?.writeRefusal = { [writeFence] in writeFence.refusal }
        }
    }

    /// The recorded-at of the head record (the earliest the next record may carry).
    private static func lastRecordedAt(
        _ env: LMDBEnvironment, _ dbs: Databases, dictionaries: DictionaryCache, head: UInt64
    ) throws(StoreError) -> Timestamp {
        guard head > 0 else { return Timestamp(microseconds: .min) }
        return try env.read { (txn) throws(StoreError) -> Timestamp in
            // A log shorter than its recorded head is verify's to report; start from the clock then.
            guard let value = try LogIndex.record(at: head, in: txn, dbs) else { return Timestamp(microseconds: .min) }
            return try RecordDecoder(dictionaries: dictionaries).decode(value, sequence: head, txn: txn).recordedAt
        }.get()
    }

    /// The stream-index entries of the records after `streams.indexed-through`.
    ///
    /// A record there that does not decode stops a writable open (appending without knowing every
    /// stream's version could break a stream's sequence); a read-only open indexes what comes
    /// before it, so that `verify` can report the damage and `read` print what is readable.
    private static func unindexedEntries(
        _ env: LMDBEnvironment, _ dbs: Databases, dictionaries: DictionaryCache, head: UInt64, tolerateDamage: Bool, logger: Logger
    ) throws(StoreError) -> [(stream: StreamName, entry: StreamMemtable.Entry)] {
        let through = min(try env.read { (txn) throws(StoreError) in try Meta.indexedThrough(in: txn, dbs, head: head) }.get(), head)
        guard through < head else { return [] }
        var out: [(stream: StreamName, entry: StreamMemtable.Entry)] = []
        let decoder = RecordDecoder(dictionaries: dictionaries)
        var next = through + 1
        while next <= head {
            let before = next
            do throws(StoreError) {
                try env.read { (txn) throws(StoreError) in
                    try LogIndex.forEachRecord(in: txn, dbs, from: next, limit: 4096) { (seq, value) throws(StoreError) in
                        guard seq <= head else { return false }
                        let e = try decoder.decode(value, sequence: seq, txn: txn)
                        out.append((e.stream, StreamMemtable.Entry(version: e.streamVersion, sequence: seq)))
                        next = seq + 1
                        return true
                    }
                }.get()
            } catch {
                guard tolerateDamage else {
                    var e = error
                    e.message = "cannot re-index the latest records: \(e.message); run docket verify, and restore the data directory from a replica or a copy"
                    throw e
                }
                logger.warning("a record after streams.indexed-through does not decode; its stream and later ones are not indexed", metadata: ["error": "\(error)"])
                break
            }
            // A log shorter than its recorded head is damage for `verify` to report, not a reason
            // to refuse to open it.
            if next == before { break }
        }
        return out
    }

    deinit {
        writer?.stopAndWait(holding: lock.withLock { $0.take() })
    }

    /// Stops the writer after it has committed everything already submitted, and lets another
    /// process open the directory for writing. Appends submitted afterwards fail with `.closed`.
    public func close() {
        writer?.stopAndWait(holding: lock.withLock { $0.take() })
    }

    /// Whether a compression dictionary is being trained in the background (benchmarks wait for
    /// it, so they measure the steady state as the raw C baseline does).
    public var isTrainingDictionary: Bool { writer?.isTraining ?? false }

    /// Durable write transactions since the store was opened.
    public var commitCount: Int { writer?.commits.load(ordering: .relaxed) ?? 0 }

    /// The last committed sequence (0 for an empty log) and its chain hash.
    public var head: (sequence: UInt64, hash: ChainHash) {
        let h = committed.value.withLock { $0 }
        return (h.sequence, h.hash)
    }

    // MARK: Appending

    /// Appends `events` to `stream` as one atomic unit, after checking the stream's version.
    ///
    /// Resumes only once the events are durable. A retry with the same event ids and content
    /// returns the original result (with `duplicate` set) and writes nothing.
    public func append(
        to stream: StreamName, expecting expected: ExpectedVersion = .any, events: [ProposedEvent]
    ) async throws(StoreError) -> AppendResult {
        let (writer, prepared) = try prepareAppend(to: stream, expecting: expected, events: events)
        if prepared.chunkCount == 1 { try prepared.compressAll(writer.preparer) }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AppendResult, StoreError>, Never>) in
            let queued = writer.submit(AppendRequest(stream: stream, expected: expected, prepared: prepared) { continuation.resume(returning: $0) })
            // A large append is compressed from here on while the writer, having taken it,
            // writes its first chunks (`PreparedAppend`).
            if queued { prepared.compressRemaining(writer.preparer) }
        }
        return try result.get()
    }

    /// `append` for callers that are not async (a network event loop answering small appends in
    /// place): `completion` runs on the writer thread once the events are durable or the append
    /// failed. Checks, encoding and compression happen on the calling thread, before this
    /// returns; a check that fails throws here and `completion` is never called.
    public func append(
        to stream: StreamName, expecting expected: ExpectedVersion = .any, events: [ProposedEvent],
        completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void
    ) throws(StoreError) {
        let (writer, prepared) = try prepareAppend(to: stream, expecting: expected, events: events)
        try prepared.compressAll(writer.preparer)
        writer.submit(AppendRequest(stream: stream, expected: expected, prepared: prepared, complete: completion))
    }

    /// Why this store takes no appends now (open read-only, a follower, a deposed leader); nil
    /// if it takes them. Every append is refused with it before anything else is checked.
    public var writeRefusal: StoreError? {
        if writer == nil { return StoreError(.readOnly, "the store at \(directory) is open read-only") }
        return writeFence.refusal
    }

    private func prepareAppend(
        to stream: StreamName, expecting expected: ExpectedVersion, events: [ProposedEvent]
    ) throws(StoreError) -> (writer: LogWriter, prepared: PreparedAppend) {
        guard let writer else { throw StoreError(.readOnly, "the store at \(directory) is open read-only") }
        if let refusal = writeFence.refusal(for: stream) { throw refusal }
        guard !events.isEmpty else { throw StoreError(.invalidEvent, "an append needs at least one event") }
        guard events.count <= Self.maximumEventsPerAppend else {
            throw StoreError(
                .batchTooLarge, "an append may carry at most \(Self.maximumEventsPerAppend) events, got \(events.count)")
        }
        // Encoding and compression happen on the caller's thread (and, for large appends, a
        // second one or the writer's), so the writer mostly chains and puts.
        return (writer, writer.preparer.plan(stream: stream, events: events, acceptedAt: configuration.clock()))
    }

    // MARK: Reading

    /// The number of events in `stream` (0 when it does not exist).
    public func version(of stream: StreamName) throws(StoreError) -> UInt64 {
        // The memtable first, then the index (see `StreamMemtable`).
        let pending = memtable.entries(of: stream).last?.version ?? 0
        return max(pending, try read { (txn) throws(StoreError) in try StreamIndex.head(of: stream, in: txn, databases) })
    }

    /// The event at `sequence`, or nil past the head.
    public func event(at sequence: UInt64) throws(StoreError) -> RecordedEvent? {
        try read(from: sequence, limit: 1).first
    }

    /// Up to `limit` events from `sequence` on, in one read transaction; and no more once their
    /// envelopes exceed `maxBytes` (the first is always read): a reader that sends only so many
    /// bytes at a time does not decompress and decode a thousand large events to send a few.
    public func read(from sequence: UInt64, limit: Int, maxBytes: Int = .max) throws(StoreError) -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        let decoder = RecordDecoder(dictionaries: dictionaries)
        var bytes = 0
        try read { (txn) throws(StoreError) in
            try LogIndex.forEachRecord(in: txn, databases, from: max(sequence, 1), limit: limit) { (seq, value) throws(StoreError) in
                out.append(try decoder.decode(value, sequence: seq, txn: txn))
                bytes += decoder.lastEnvelopeSize
                return bytes <= maxBytes
            }
        }
        return out
    }

    /// Up to `limit` events of `stream`, from stream version `version` (1-based) on; and no more
    /// once their envelopes exceed `maxBytes` (the first is always read).
    public func read(stream: StreamName, fromVersion version: UInt64 = 1, limit: Int = .max, maxBytes: Int = .max) throws(StoreError) -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        let decoder = RecordDecoder(dictionaries: dictionaries)
        var bytes = 0
        // The memtable first, then the index (see `StreamMemtable`).
        let pending = memtable.entries(of: stream)
        try read { (txn) throws(StoreError) in
            var sequences = try StreamIndex.sequences(of: stream, fromVersion: max(version, 1), limit: limit, in: txn, databases)
            let indexed = max(version, 1) - 1 + UInt64(sequences.count)
            for e in pending where e.version > indexed && e.version >= version && sequences.count < limit {
                sequences.append(e.sequence)
            }
            for seq in sequences {
                guard let value = try LogIndex.record(at: seq, in: txn, databases) else {
                    throw StoreError(.corruptRecord, "stream index names sequence \(seq), which the log does not hold", sequence: seq)
                }
                out.append(try decoder.decode(value, sequence: seq, txn: txn))
                bytes += decoder.lastEnvelopeSize
                if bytes > maxBytes { break }
            }
        }
        return out
    }

    /// The stored bytes of the record at `sequence` (header and zstd frame), as replicas copy them.
    public func rawRecord(at sequence: UInt64) throws(StoreError) -> [UInt8]? {
        try read { (txn) throws(StoreError) in try LogIndex.record(at: sequence, in: txn, databases).map { Array($0) } }
    }

    /// Calls `body` with every event from `sequence` through `last`, in order, decoding as it
    /// goes, in chunks of `chunk` records per read transaction (so a long scan never pins old
    /// pages). `body` returns false to stop early. A long scan reads and decompresses on a
    /// second thread while this one decodes (`PipelinedScan`).
    public func scan(
        from sequence: UInt64 = 1, through last: UInt64 = .max, chunk: Int = 4096,
        _ body: (RecordedEvent) throws(StoreError) -> Bool
    ) throws(StoreError) {
        let chunk = max(chunk, 1)
        let start = max(sequence, 1)
        let end = min(last, head.sequence)
        if end >= start && end - start >= UInt64(chunk) * 2 {
            // Records committed after `end` are read too, up to `last`: a scan sees the log as
            // each chunk finds it, like the single-threaded one below.
            try PipelinedScan(store: self, chunk: chunk, last: last).run(from: start, body)
            return
        }
        let interner = StringInterner()
        try scanEnvelopes(from: start, through: last, chunk: chunk) { (seq, envelope, header) throws(StoreError) in
            try body(try RecordDecoder.decoding(seq) { () throws(CoreError) in
                try EnvelopeCodec.decode(envelope, sequence: seq, ledger: header.ledger, interner: interner)
            })
        }
    }

    /// Decompresses each record's envelope from `start` through `last` on this thread, in chunks
    /// of short read transactions, and lends it and the record's header to `body` until it
    /// returns false. A record that does not decode is named in a `corruptRecord` error.
    private func scanEnvelopes(
        from start: UInt64, through last: UInt64, chunk: Int,
        _ body: (UInt64, UnsafeRawBufferPointer, RecordFormat.Header) throws(StoreError) -> Bool
    ) throws(StoreError) {
        let decoder = RecordDecoder(dictionaries: dictionaries)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: EnvelopeCodec.maximumEncodedSize, alignment: 16)
        defer { buffer.deallocate() }
        let head = self.head.sequence
        var next = start
        var more = true
        while more && next <= last {
            var count = 0
            try read { (txn) throws(StoreError) in
                try LogIndex.forEachRecord(in: txn, databases, from: next, limit: chunk) { (seq, value) throws(StoreError) in
                    guard seq <= last else {
                        more = false
                        return false
                    }
                    count += 1
                    next = seq + 1
                    let (header, n) = try decoder.decompress(value, sequence: seq, txn: txn) { _ in buffer }
                    more = try body(seq, UnsafeRawBufferPointer(start: buffer, count: n), header)
                    return more
                }
            }
            if count < chunk {
                if more, let error = Self.endsEarly(next: next, last: last, head: head) { throw error }
                break
            }
        }
    }

    /// Refuses a ledger whose head in metadata is not its log's last record (see `checkHead`): a
    /// reader that hands on the whole log (an export) is not to stop at a head edited back, or
    /// pass a log whose later records the head does not account for.
    public func checkRecordedHead() throws(StoreError) {
        try Self.checkHead(nil, environment, databases, path: directory, consequence: "what a reader takes for the whole log is not")
    }

    /// The error of a scan through `last` whose records ran out at `next` although the head (as
    /// the scan started) is past it: the records at the end of a damaged or edited copy are gone,
    /// and a reader is not to take what it read for the whole log.
    static func endsEarly(next: UInt64, last: UInt64, head: UInt64) -> StoreError? {
        guard next <= min(last, head) else { return nil }
        return StoreError(
            .corruptRecord,
            "the log holds no record \(next), but its head is \(head): this copy of the ledger is damaged or was edited; run docket verify, and restore it from a replica or a copy",
            sequence: next)
    }

    /// Folds every event from `sequence` through `last` into one state per partition, with as
    /// many threads as `states` has states: each stream belongs to one partition
    /// (`partition(ofStream:among:)`), and `body(&states[p], event)` sees partition p's events in
    /// sequence order, on one thread. For views whose state divides by stream, rebuilt on every
    /// core; the caller merges the states. A short range folds on this thread, the same way.
    ///
    /// Events are read in place from their envelopes (`EnvelopeCodec.Fields`, valid during the
    /// call), so a view takes what it needs and copies nothing else. Every check of a full decode
    /// is made but the payload's, which `body` checks as it reads it (`EnvelopeCodec.fields`).
    /// `stop`, asked as a fold starts and, in a long one, as each chunk is read and taken up, ends
    /// it early (`StoreError.closed`).
    public func fold<State: Sendable>(
        from sequence: UInt64 = 1, through last: UInt64 = .max, chunk: Int = 4096, into states: consuming [State],
        stop: (@Sendable () -> Bool)? = nil, _ body: @escaping @Sendable (inout State, EnvelopeCodec.Fields) -> Void
    ) throws(StoreError) -> [State] {
        let n = states.count
        precondition(n >= 1, "fold needs at least one state")
        let chunk = max(chunk, 1)
        let start = max(sequence, 1)
        if let stop, stop() { throw PipelinedScan.stopped(before: start) }
        let end = min(last, head.sequence)
        guard end >= start, end - start >= UInt64(chunk) * 2 else {
            try scanEnvelopes(from: start, through: last, chunk: chunk) { (seq, envelope, header) throws(StoreError) in
                let event = try RecordDecoder.decoding(seq) { () throws(CoreError) in
                    try EnvelopeCodec.fields(in: envelope, sequence: seq, ledger: header.ledger)
                }
                body(&states[PipelinedScan.partition(of: event.stream, among: n)], event)
                return true
            }
            return states
        }
        let slots = FoldSlots(moving: &states)
        do {
            try PipelinedScan(store: self, chunk: chunk, last: last, partitions: n, stop: stop).runPartitioned(from: start) { p, event in
                body(&slots[p].pointee, event)
            }
        } catch {
            slots.destroy()
            throw error
        }
        return slots.moveOut()
    }

    /// The states of a partitioned fold, each on its own cache lines: every scanning thread writes
    /// its state for every event, and neighbours sharing a line would make the cores fight over it.
    /// Each thread mutates only its own slot, and the slots are read only after every thread has
    /// been joined (`runPartitioned` returns or throws after that).
    private struct FoldSlots<State>: @unchecked Sendable {
        private let base: UnsafeMutableRawPointer
        private let stride: Int
        private let count: Int
        private static var line: Int { 128 }

        /// Takes the states out of `states` (emptied), so the slots own them alone and folding
        /// into one does not copy it first.
        init(moving states: inout [State]) {
            count = states.count
            stride = (MemoryLayout<State>.stride + Self.line - 1) / Self.line * Self.line
            base = .allocate(byteCount: stride * count, alignment: max(Self.line, MemoryLayout<State>.alignment))
            for (p, state) in states.enumerated() { (base + p * stride).initializeMemory(as: State.self, to: state) }
            states = []
        }

        subscript(p: Int) -> UnsafeMutablePointer<State> { (base + p * stride).assumingMemoryBound(to: State.self) }

        /// The states, in partition order; the slots are freed.
        func moveOut() -> [State] {
            defer { base.deallocate() }
            return (0..<count).map { self[$0].move() }
        }

        /// Destroys the states and frees the slots (after a failure).
        func destroy() {
            for p in 0..<count { self[p].deinitialize(count: 1) }
            base.deallocate()
        }
    }

    /// The partition of `stream` among `n` (what `fold` hands its events to): a hash of its name.
    public static func partition(ofStream stream: String, among n: Int) -> Int {
        var name = stream
        return name.withUTF8 { PipelinedScan.partition(of: UnsafeRawBufferPointer($0), among: n) }
    }

    /// Calls `body` with the stored bytes of every record from `sequence` through `last`, in order,
    /// in chunks of short read transactions (Merkle checkpoints hash these bytes, byte for byte what
    /// replicas copy). `body` returns false to stop early.
    public func scanRaw(
        from sequence: UInt64 = 1, through last: UInt64 = .max, _ body: (UInt64, UnsafeRawBufferPointer) throws(StoreError) -> Bool
    ) throws(StoreError) {
        var next = max(sequence, 1)
        var more = true
        while more && next <= last {
            var count = 0
            try read { (txn) throws(StoreError) in
                try LogIndex.forEachRecord(in: txn, databases, from: next, limit: 8192) { (seq, value) throws(StoreError) in
                    guard seq <= last else {
                        more = false
                        return false
                    }
                    count += 1
                    next = seq + 1
                    more = try body(seq, value)
                    return more
                }
            }
            if count < 8192 { break }
        }
    }

    /// The RFC 6962 tree hash (SHA-256) over the stored records 1 through `size`, or nil if the
    /// log holds fewer (or `size` is 0).
    public func merkleRoot(size: UInt64) throws(StoreError) -> [UInt8]? {
        guard size > 0 else { return nil }
        let hasher = SHA256MerkleHasher()
        var tree = MerkleTreeBuilder(hasher: hasher)
        try scanRaw(from: 1, through: size) { (_, value) throws(StoreError) in
            tree.append(leafHash: hasher.hashLeaf(Array(value)))
            return true
        }
        return tree.count == size ? tree.root : nil
    }

    /// Every event from `sequence` on, read lazily in chunks, each chunk in its own short read
    /// transaction. Ends at the head as it was when each chunk was read.
    public func events(from sequence: UInt64 = 1, chunk: Int = 1024) -> EventSequence {
        EventSequence(store: self, start: max(sequence, 1), chunk: max(chunk, 1))
    }

    /// Runs `body` in a read transaction.
    func read<T>(_ body: (borrowing Transaction) throws(StoreError) -> T) throws(StoreError) -> T {
        try environment.read(body).get()
    }
}

/// The last committed head, shared between the writer (which sets it after each commit) and
/// readers.
final class CommittedHead: Sendable {
    let value: Mutex<EventStore.Head>
    init(_ head: EventStore.Head) { value = Mutex(head) }
}

/// What an append did.
public struct AppendResult: Hashable, Sendable {
    /// Sequences of the first and last appended event.
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    /// The stream's version after the append.
    public var streamVersion: UInt64
    /// When the ledger recorded the events.
    public var recordedAt: Timestamp
    /// True when this was a retry of an append already recorded: nothing new was written.
    public var duplicate: Bool

    public init(firstSequence: UInt64, lastSequence: UInt64, streamVersion: UInt64, recordedAt: Timestamp, duplicate: Bool) {
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.streamVersion = streamVersion
        self.recordedAt = recordedAt
        self.duplicate = duplicate
    }
}

/// An `AsyncSequence` over the log that never holds a read transaction between two chunks.
public struct EventSequence: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let store: EventStore
    let start: UInt64
    let chunk: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let store: EventStore
        var next: UInt64
        let chunk: Int
        var buffer: [RecordedEvent] = []
        var index = 0
        var finished = false

        public mutating func next() async throws(StoreError) -> RecordedEvent? {
            if index == buffer.count {
                guard !finished else { return nil }
                buffer = try store.read(from: next, limit: chunk)
                index = 0
                if buffer.count < chunk { finished = true }
                guard let last = buffer.last else { return nil }
                next = last.sequence + 1
                await Task.yield()
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(store: store, next: start, chunk: chunk)
    }
}

