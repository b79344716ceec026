/// What can go wrong issuing or checking checkpoints, receipts and proofs. The codes are stable
/// (they travel in ERROR frames, Schemas/protocol.md §8.8); the messages say what to do.
public struct ForensicError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ s: String) { description = s }

        /// The node has no signing key (`docket key create` makes one).
        public static let noNodeKey = Code("no-node-key")
        /// No signed checkpoint covers the record yet (or the log is empty).
        public static let noCheckpoint = Code("no-checkpoint")
        /// The node does not hold that sequence (or not one the principal may see).
        public static let notHeld = Code("not-held")
        /// The receipt is for another ledger, or names a record the node holds with other bytes.
        public static let receiptMismatch = Code("receipt-mismatch")
        /// A receipt file (or a node's answer) that is not a well-formed receipt.
        public static let invalidReceipt = Code("invalid-receipt")
        /// The log does not extend the latest checkpoint: the node refuses to sign.
        public static let inconsistentLog = Code("inconsistent-log")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
