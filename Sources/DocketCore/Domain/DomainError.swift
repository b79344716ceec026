/// Why the domain refused a command or could not read an event.
///
/// Every rejection says what to do about it: an illegal transition names the report's state and
/// the events that state allows; a declined credit names the person and when they declined.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public var description: String { rawValue }

        /// The event is not legal in the report's current state.
        public static let illegalTransition = Code(rawValue: "illegal-transition")
        /// No report (or project) with that id exists.
        public static let unknownReport = Code(rawValue: "unknown-report")
        public static let unknownProject = Code(rawValue: "unknown-project")
        /// A report with that id already exists.
        public static let reportExists = Code(rawValue: "report-exists")
        /// A command whose arguments are wrong by themselves (a malformed CVSS vector, say).
        public static let invalidCommand = Code(rawValue: "invalid-command")
        /// A payload that does not match its event schema.
        public static let invalidEvent = Code(rawValue: "invalid-event")
        /// An event type or schema version this build does not know.
        public static let unknownEventType = Code(rawValue: "unknown-event-type")
        /// Credit offered to, or accepted for, someone who declined it.
        public static let creditDeclined = Code(rawValue: "credit-declined")
        /// A retried command's event id already names a different event.
        public static let eventIDReused = Code(rawValue: "event-id-reused")
        /// A command whose event would be larger than an event may be (the store's code for the same).
        public static let eventTooLarge = Code(rawValue: "event-too-large")
        /// A policy that is missing, invalid or does not allow the command.
        public static let policy = Code(rawValue: "policy")
    }

    public var code: Code
    public var message: String
    /// For an illegal transition: the report's state and the event types it allows.
    public var state: ReportState?
    public var allowed: [String]

    public init(_ code: Code, _ message: String, state: ReportState? = nil, allowed: [String] = []) {
        self.code = code
        self.message = message
        self.state = state
        self.allowed = allowed
    }

    public var description: String { message }

    /// A report that does not exist, in the same words as one the caller may not see: which of
    /// the two it is must not leak.
    public static func noReport(_ id: String) -> DomainError {
        DomainError(.unknownReport, "no report \(id), or none you may see: \(checkTheID); a new report is recorded with `docket report submit`")
    }

    /// What to do about a report id that names no report (said by commands and views alike).
    public static let checkTheID = "check the id against the reports `docket state` lists (ids are case-sensitive)"
}
