/// An event a client asks the ledger to append. The ledger adds the stream, its version, the
/// global sequence and the time it was recorded.
public struct ProposedEvent: Hashable, Sendable {
    /// Client-chosen; a retried append with the same id returns the original result.
    public var id: EventID
    public var type: EventType
    /// Version of the event type's schema the payload follows (see `Schemas/events/`).
    public var schemaVersion: UInt16
    /// Who did it: a maintainer handle, a reporter handle, a bot.
    public var actor: String
    /// When it happened, as the client says; `nil` means "when the ledger records it".
    public var occurredAt: Timestamp?
    /// The payload, encoded once when the event is made.
    public var payload: Payload

    public var data: Value { payload.value }

    public static let maximumActorLength = 200

    /// Refuses an actor no history or log line could show: empty or invisible, longer than
    /// `maximumActorLength` bytes, or holding control characters.
    public static func validate(actor: String) throws(CoreError) {
        guard actor.utf8.count <= Self.maximumActorLength else {
            throw CoreError(.invalidValue, "actor must be at most \(Self.maximumActorLength) bytes")
        }
        // Who did it is shown in every history and log line: a name, not an escape sequence.
        guard !UntrustedText.isBlank(actor) else {
            throw CoreError(.invalidValue, "actor must not be empty\(actor.isEmpty ? "" : " (it holds only invisible characters)")")
        }
        if let refusal = UntrustedText.refusal(actor, field: "actor", multiLine: false) {
            throw CoreError(.invalidValue, refusal + ": a name takes printable characters only")
        }
    }

    public init(
        id: EventID = .random(), type: EventType, schemaVersion: UInt16 = 1, actor: String,
        occurredAt: Timestamp? = nil, data: Value
    ) throws(CoreError) {
        let payload = Payload(data)
        // The encoder accepts any tree; the log only takes what it can read back.
        try payload.bytes.withUnsafeBytes { raw in Result { () throws(CoreError) in try Payload.validate(raw) } }.get()
        try self.init(id: id, type: type, schemaVersion: schemaVersion, actor: actor, occurredAt: occurredAt, payload: payload)
    }

    /// An event whose payload is already encoded (and validated: `Payload(validating:)`).
    public init(
        id: EventID = .random(), type: EventType, schemaVersion: UInt16 = 1, actor: String, occurredAt: Timestamp? = nil,
        payload: Payload
    ) throws(CoreError) {
        try Self.validate(actor: actor)
        guard schemaVersion >= 1 else { throw CoreError(.invalidValue, "schema version starts at 1") }
        self.id = id
        self.type = type
        self.schemaVersion = schemaVersion
        self.actor = actor
        self.occurredAt = occurredAt
        self.payload = payload
    }
}

/// An event as the log holds it.
public struct RecordedEvent: Hashable, Sendable {
    /// Position in the node's global log, from 1, without gaps.
    public var sequence: UInt64
    public var stream: StreamName
    /// Position in its stream, from 1, without gaps.
    public var streamVersion: UInt64
    public var id: EventID
    public var type: EventType
    public var schemaVersion: UInt16
    public var actor: String
    public var occurredAt: Timestamp
    public var recordedAt: Timestamp
    /// The payload, still encoded; `data` decodes it.
    public var payload: Payload

    /// The payload as a `Value` (decoded on each access).
    public var data: Value { payload.value }

    /// The event's fields as a view reads them from an envelope (`EnvelopeCodec.Fields`), lent to `body`.
    public func withFields<T>(_ body: (EnvelopeCodec.Fields) -> T) -> T {
        var stream = stream.rawValue
        var type = type.rawValue
        return stream.withUTF8 { streamBytes in
            type.withUTF8 { typeBytes in
                payload.bytes.withUnsafeBytes { payloadBytes in
                    body(EnvelopeCodec.Fields(
                        sequence: sequence, streamVersion: streamVersion, stream: UnsafeRawBufferPointer(streamBytes),
                        type: UnsafeRawBufferPointer(typeBytes), schemaVersion: schemaVersion, occurredAt: occurredAt, recordedAt: recordedAt,
                        payload: payloadBytes))
                }
            }
        }
    }

    public init(
        sequence: UInt64, stream: StreamName, streamVersion: UInt64, id: EventID, type: EventType,
        schemaVersion: UInt16, actor: String, occurredAt: Timestamp, recordedAt: Timestamp, payload: Payload
    ) {
        self.sequence = sequence
        self.stream = stream
        self.streamVersion = streamVersion
        self.id = id
        self.type = type
        self.schemaVersion = schemaVersion
        self.actor = actor
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
        self.payload = payload
    }

    /// True when `proposed` says the same thing as this event, so that a retry carrying the
    /// same id is a harmless duplicate rather than a different event reusing an id.
    public func matches(_ proposed: ProposedEvent, in stream: StreamName) -> Bool {
        proposed.id == id && proposed.type == type && proposed.schemaVersion == schemaVersion
            && proposed.actor == actor && stream == self.stream && proposed.payload == payload
            && (proposed.occurredAt == nil || proposed.occurredAt == occurredAt)
    }
}

/// The stream version an append expects to find.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must have exactly this many events; `0` means it must not exist yet.
    case exact(UInt64)

    public static let noStream = ExpectedVersion.exact(0)

    public var description: String {
        switch self {
        case .any: return "any"
        case .exact(0): return "0 (no stream)"
        case .exact(let n): return String(n)
        }
    }
}
