public import DocketCore

/// The one error type of `DocketStore`: a stable code, a message a user can act on, and the
/// underlying cause when there is one.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case wrongExpectedVersion = "wrong-expected-version"
            case eventIDReused = "event-id-reused"
            case invalidEvent = "invalid-event"
            case eventTooLarge = "event-too-large"
            case batchTooLarge = "batch-too-large"
            case notADataDirectory = "not-a-data-directory"
            case inUse = "in-use"
            case unsupportedFormat = "unsupported-format"
            case diskFull = "disk-full"
            case corruptRecord = "corrupt-record"
            case notFound = "not-found"
            case closed = "closed"
            case readOnly = "read-only"
            case io = "io"
            case lmdb = "lmdb"
            case compression = "compression"
            case notLeader = "not-leader"
            case fenced = "fenced"
            case diverged = "diverged"
            case wrongLedger = "wrong-ledger"
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }

        /// The stream's version is not the one the append expected; nothing was written.
        public static let wrongExpectedVersion = Code(base: .wrongExpectedVersion)
        /// An event id already names a different event; nothing was written.
        public static let eventIDReused = Code(base: .eventIDReused)
        /// The event itself is not acceptable (empty batch, duplicate id within one append…).
        public static let invalidEvent = Code(base: .invalidEvent)
        /// One event encodes to more than `EnvelopeCodec.maximumEncodedSize` bytes.
        public static let eventTooLarge = Code(base: .eventTooLarge)
        /// One append carries more events than `EventStore.maximumEventsPerAppend`.
        public static let batchTooLarge = Code(base: .batchTooLarge)
        /// The directory holds something that is not a Docket data directory.
        public static let notADataDirectory = Code(base: .notADataDirectory)
        /// Another process has the data directory open for writing (`WriterLock`); nothing was opened.
        public static let inUse = Code(base: .inUse)
        /// The data directory was written in a format this build does not read.
        public static let unsupportedFormat = Code(base: .unsupportedFormat)
        /// The file system refused to grow the log; nothing of the failed batch was written.
        public static let diskFull = Code(base: .diskFull)
        /// A stored record does not decode or does not match its chain, or LMDB found the data
        /// file's structure damaged (a page missing or corrupt).
        public static let corruptRecord = Code(base: .corruptRecord)
        /// A sequence, stream or dictionary that does not exist.
        public static let notFound = Code(base: .notFound)
        /// The store was closed.
        public static let closed = Code(base: .closed)
        /// A write was attempted on a store opened read-only.
        public static let readOnly = Code(base: .readOnly)
        /// A file-system call failed.
        public static let io = Code(base: .io)
        /// LMDB reported an error not covered by a more specific code.
        public static let lmdb = Code(base: .lmdb)
        /// zstd failed to compress, decompress or train.
        public static let compression = Code(base: .compression)
        /// This node follows a leader and accepts no writes of its own; `leader` names it.
        public static let notLeader = Code(base: .notLeader)
        /// This node was the leader until a higher epoch began elsewhere; `epoch` and `leader` say
        /// which and where. It accepts no writes.
        public static let fenced = Code(base: .fenced)
        /// Two copies of the ledger hold different records (or dictionaries) at the same place;
        /// `sequence` is the first that differs. Nothing was written.
        public static let diverged = Code(base: .diverged)
        /// A replication peer holds another ledger. Nothing was written.
        public static let wrongLedger = Code(base: .wrongLedger)
    }

    public var code: Code
    public var message: String
    /// For `wrongExpectedVersion`: what the append expected and what the stream holds.
    public var expectedVersion: ExpectedVersion?
    public var actualVersion: UInt64?
    /// For `corruptRecord`: the first sequence that failed; for `diverged`: the first that differs.
    public var sequence: UInt64?
    /// For `notLeader` and `fenced`: the address of the node that takes writes, when known.
    public var leader: String?
    /// For `fenced`: the epoch that deposed this node.
    public var epoch: UInt64?

    public init(
        _ code: Code, _ message: String, expectedVersion: ExpectedVersion? = nil, actualVersion: UInt64? = nil,
        sequence: UInt64? = nil, leader: String? = nil, epoch: UInt64? = nil
    ) {
        self.code = code
        self.message = message
        self.expectedVersion = expectedVersion
        self.actualVersion = actualVersion
        self.sequence = sequence
        self.leader = leader
        self.epoch = epoch
    }

    public var description: String { message }

    static func wrap(_ e: CoreError) -> StoreError {
        StoreError(.invalidEvent, e.message)
    }
}
