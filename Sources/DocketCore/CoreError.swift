/// The one error type of `DocketCore`: a stable code, a message a user can act on, and where
/// in the input it happened when that is known.
public struct CoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be switched over and extended without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case invalidJSON = "invalid-json"
            case invalidValue = "invalid-value"
            case invalidEnvelope = "invalid-envelope"
            case truncated = "truncated"
            case unsupportedVersion = "unsupported-version"
            case tooLarge = "too-large"
            case invalidTimestamp = "invalid-timestamp"
            case invalidPolicy = "invalid-policy"
        }
        fileprivate let base: Base
        public var description: String { base.rawValue }

        /// Input that is not valid JSON (RFC 8259).
        public static let invalidJSON = Code(base: .invalidJSON)
        /// A value that is well-formed but not allowed where it appears (a bad stream name, say).
        public static let invalidValue = Code(base: .invalidValue)
        /// Bytes that do not decode as an event envelope.
        public static let invalidEnvelope = Code(base: .invalidEnvelope)
        /// Bytes that end before the structure they encode.
        public static let truncated = Code(base: .truncated)
        /// An encoding version this build does not know.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        /// A value over a documented size limit.
        public static let tooLarge = Code(base: .tooLarge)
        /// A time that is not RFC 3339 or is out of range.
        public static let invalidTimestamp = Code(base: .invalidTimestamp)
        /// A disclosure policy document that does not parse or contradicts itself.
        public static let invalidPolicy = Code(base: .invalidPolicy)
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
