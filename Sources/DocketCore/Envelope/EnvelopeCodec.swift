/// The binary form of a recorded event, as stored inside each record's zstd frame
/// (`Schemas/envelope.md`; all varints LEB128).
///
/// Format 2, written since `docket-store 2`, holds what the submitter knows; the two fields the
/// ledger assigns when it commits (the stream version and recorded-at) live in the record header
/// (`Schemas/storage.md`), so an event can be encoded and compressed before the writer takes it:
/// ```
/// u8      envelope format (2)
/// u8      id form: 0 = text (varint length + bytes), 1 = lowercase UUID, 2 = uppercase UUID (16 bytes)
/// string  stream
/// string  type            varint  schema version
/// string  actor
/// zigzag  occurred-at (µs since the Unix epoch)
/// value   payload (the `Value` binary encoding), to the end
/// ```
/// Format 1 (records of `docket-store 1`) also held the stream version after the stream and
/// recorded-at minus occurred-at after occurred-at; it stays readable.
/// The global sequence is in neither: it is the record's key.
public enum EnvelopeCodec {
    /// The format this build writes.
    public static let formatVersion: UInt8 = 2
    /// The self-contained format of `docket-store 1` records, still read.
    public static let legacyFormatVersion: UInt8 = 1

    /// What the record header says of an event in envelope format 2: the fields the ledger
    /// assigns at commit.
    public struct LedgerFields: Hashable, Sendable {
        public var streamVersion: UInt64
        /// recorded-at minus occurred-at, in µs (wrapping).
        public var recordedDelta: Int64

        public init(streamVersion: UInt64, recordedDelta: Int64) {
            self.streamVersion = streamVersion
            self.recordedDelta = recordedDelta
        }
    }

    /// The largest encoded event the ledger accepts (64 KiB): security reports are text, and
    /// attachments belong in a blob store referenced by the event.
    public static let maximumEncodedSize = 64 * 1024

    /// Envelope format 2 of an event about to be appended to `stream`: everything but the
    /// fields the ledger assigns at commit (`LedgerFields`).
    public static func encode(_ e: ProposedEvent, stream: StreamName, occurredAt: Timestamp, into w: inout BinaryWriter) {
        write(
            id: e.id, stream: stream, type: e.type, schemaVersion: e.schemaVersion, actor: e.actor, occurredAt: occurredAt,
            payload: e.payload, into: &w)
    }

    /// Envelope format 2 of a recorded event, and the ledger fields its record header carries.
    public static func encode(_ e: RecordedEvent) -> (envelope: [UInt8], ledger: LedgerFields) {
        var w = BinaryWriter(capacity: 256)
        write(
            id: e.id, stream: e.stream, type: e.type, schemaVersion: e.schemaVersion, actor: e.actor, occurredAt: e.occurredAt,
            payload: e.payload, into: &w)
        return (w.bytes, LedgerFields(streamVersion: e.streamVersion, recordedDelta: e.recordedAt.microseconds &- e.occurredAt.microseconds))
    }

    private static func write(
        id: EventID, stream: StreamName, type: EventType, schemaVersion: UInt16, actor: String, occurredAt: Timestamp,
        payload: Payload, into w: inout BinaryWriter
    ) {
        w.writeByte(formatVersion)
        writeID(id, into: &w)
        w.writeString(stream.rawValue)
        w.writeString(type.rawValue)
        w.writeVarint(UInt64(schemaVersion))
        w.writeString(actor)
        w.writeZigzag(occurredAt.microseconds)
        w.writeBytes(payload.bytes)
    }

    /// An id's stored form: the form byte, then the UUID's 16 bytes or the text (also the wire's).
    static func writeID(_ id: EventID, into w: inout BinaryWriter) {
        switch id.storage {
        case .uuid(let high, let low, let uppercase):
            w.writeByte(uppercase ? 2 : 1)
            // RFC 9562 byte order: the UUID's bytes as written, most significant first.
            w.writeBigEndian64(high)
            w.writeBigEndian64(low)
        case .text(let text):
            w.writeByte(0)
            w.writeString(text)
        }
    }

    /// Envelope format 1 (self-contained: stream version and recorded-at inside), as
    /// `docket-store 1` wrote it. Kept to test the reader of old records.
    public static func encodeFormat1(_ e: RecordedEvent, into w: inout BinaryWriter) {
        w.writeByte(legacyFormatVersion)
        writeID(e.id, into: &w)
        w.writeString(e.stream.rawValue)
        w.writeVarint(e.streamVersion)
        w.writeString(e.type.rawValue)
        w.writeVarint(UInt64(e.schemaVersion))
        w.writeString(e.actor)
        w.writeZigzag(e.occurredAt.microseconds)
        w.writeZigzag(e.recordedAt.microseconds &- e.occurredAt.microseconds)
        w.writeBytes(e.payload.bytes)
    }

    public static func encodeFormat1(_ e: RecordedEvent) -> [UInt8] {
        var w = BinaryWriter(capacity: 256)
        encodeFormat1(e, into: &w)
        return w.bytes
    }

    /// The fields of an encoded envelope that views fold on, read in place: nothing is copied
    /// or allocated. The buffers point into the envelope's bytes (`fields(in:sequence:ledger:)`)
    /// and are valid only while those are; `EventStore.fold` lends them for one call.
    public struct Fields {
        public let sequence: UInt64
        public let streamVersion: UInt64
        /// The stream name's UTF-8 bytes.
        public let stream: UnsafeRawBufferPointer
        /// The event type's UTF-8 bytes.
        public let type: UnsafeRawBufferPointer
        public let schemaVersion: UInt16
        public let occurredAt: Timestamp
        public let recordedAt: Timestamp
        /// The encoded payload (a `Value`), not checked yet: a reader checks what it reads
        /// (`PayloadFields`, `DomainEvent(type:version:encoded:)`), or all of it with `Payload.validate`.
        public let payload: UnsafeRawBufferPointer

        public init(
            sequence: UInt64, streamVersion: UInt64, stream: UnsafeRawBufferPointer, type: UnsafeRawBufferPointer, schemaVersion: UInt16,
            occurredAt: Timestamp, recordedAt: Timestamp, payload: UnsafeRawBufferPointer
        ) {
            self.sequence = sequence
            self.streamVersion = streamVersion
            self.stream = stream
            self.type = type
            self.schemaVersion = schemaVersion
            self.occurredAt = occurredAt
            self.recordedAt = recordedAt
            self.payload = payload
        }
    }

    /// An envelope split into its parts, every check of `decode` made but that its texts are UTF-8
    /// (and that its payload is well formed, unless `checkingPayload`).
    private struct Parts {
        var fields: Fields
        /// 0 for a text id (`id` holds it), 1 or 2 for a UUID (`id` holds its 16 bytes).
        var idForm: UInt8
        var id: UnsafeRawBufferPointer
        var actor: UnsafeRawBufferPointer
    }

    private static func parts(
        _ bytes: UnsafeRawBufferPointer, sequence: UInt64, ledger: LedgerFields?, checkingPayload: Bool
    ) throws(CoreError) -> Parts {
        var r = BinaryReader(bytes)
        let format = try r.readByte()
        guard format == formatVersion || format == legacyFormatVersion else {
            throw CoreError(
                .unsupportedVersion,
                "event at sequence \(sequence) has envelope format \(format); this build reads formats \(legacyFormatVersion) and \(formatVersion)")
        }
        guard (format == formatVersion) == (ledger != nil) else {
            throw CoreError(
                .invalidEnvelope,
                format == formatVersion
                    ? "event at sequence \(sequence) has envelope format 2, whose stream version and recorded time are in the record header"
                    : "event at sequence \(sequence) has envelope format 1 inside a record that carries its own ledger fields")
        }
        let idForm = try r.readByte()
        let id: UnsafeRawBufferPointer
        switch idForm {
        case 0: id = try r.readLengthPrefixed()
        case 1, 2: id = try r.readBytes(16)
        default: throw CoreError(.invalidEnvelope, "event at sequence \(sequence) has unknown id form \(idForm)")
        }
        let stream = try r.readLengthPrefixed()
        let streamVersion: UInt64
        if let ledger { streamVersion = ledger.streamVersion } else { streamVersion = try r.readVarint() }
        let type = try r.readLengthPrefixed()
        let schema = try r.readVarint()
        guard schema >= 1, schema <= UInt64(UInt16.max) else {
            throw CoreError(.invalidEnvelope, "event at sequence \(sequence) has schema version \(schema)")
        }
        let actor = try r.readLengthPrefixed()
        let occurred = try r.readZigzag()
        let recordedDelta: Int64
        if let ledger { recordedDelta = ledger.recordedDelta } else { recordedDelta = try r.readZigzag() }
        // The lengths an append allows: a record that breaks them (a damaged or forged copy, a
        // hostile leader's) is refused here, before its stream name keys an index (whose key
        // prefix holds the length in a byte) or its id passes LMDB's key limit.
        guard (1...StreamName.maximumLength).contains(stream.count), (1...EventType.maximumLength).contains(type.count),
            idForm != 0 || (1...EventID.maximumLength).contains(id.count)
        else {
            throw CoreError(
                .invalidEnvelope,
                "event at sequence \(sequence) has a stream name of \(stream.count) bytes, a type of \(type.count)\(idForm == 0 ? " and an id of \(id.count)" : ""): "
                    + "past the limits of an append (stream 1–\(StreamName.maximumLength), type 1–\(EventType.maximumLength), id 1–\(EventID.maximumLength))")
        }
        guard r.remaining > 0 else { throw CoreError(.truncated, "event at sequence \(sequence) has no payload") }
        let payload = try r.readBytes(r.remaining)
        if checkingPayload {
            do throws(CoreError) { try Payload.validate(payload) } catch {
                throw CoreError(.invalidEnvelope, "event at sequence \(sequence) has a malformed payload: \(error.message)")
            }
        }
        return Parts(
            fields: Fields(
                sequence: sequence, streamVersion: streamVersion, stream: stream, type: type, schemaVersion: UInt16(schema),
                occurredAt: Timestamp(microseconds: occurred), recordedAt: Timestamp(microseconds: occurred &+ recordedDelta), payload: payload),
            idForm: idForm, id: id, actor: actor)
    }

    private static func notUTF8(_ sequence: UInt64) -> CoreError {
        CoreError(.invalidEnvelope, "event at sequence \(sequence) holds text that is not UTF-8")
    }

    /// Decodes the envelope in `bytes`, which belongs to the record at `sequence`. Format 2 needs
    /// the `ledger` fields of its record header; format 1 holds them itself (pass nil).
    ///
    /// Identifiers are not re-validated (they were when the event was appended, and the chain
    /// vouches for the bytes since); UTF-8 is. `interner` shares repeated strings across calls.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, sequence: UInt64, ledger: LedgerFields? = nil, interner: StringInterner? = nil
    ) throws(CoreError) -> RecordedEvent {
        let p = try parts(bytes, sequence: sequence, ledger: ledger, checkingPayload: true)
        func text(_ raw: UnsafeRawBufferPointer) throws(CoreError) -> String {
            guard let s = interner?.string(raw) ?? utf8String(raw) else { throw notUTF8(sequence) }
            return s
        }
        let f = p.fields
        return RecordedEvent(
            sequence: sequence, stream: StreamName(unchecked: try text(f.stream)), streamVersion: f.streamVersion,
            id: p.idForm == 0 ? EventID(uncheckedText: try text(p.id)) : EventID(uuidBytes: p.id, uppercase: p.idForm == 2),
            type: EventType(unchecked: try text(f.type)), schemaVersion: f.schemaVersion, actor: try text(p.actor),
            occurredAt: f.occurredAt, recordedAt: f.recordedAt, payload: Payload(uncheckedBytes: Array(f.payload)))
    }

    /// The envelope in `bytes` read in place, for a reader that needs only some of its fields (a
    /// view rebuild) and no copy of them. Every check `decode` makes is made but the payload's:
    /// the reader checks the payloads it reads as it reads them (a view decodes the events of
    /// its streams against their schemas, which checks them; it has no use for the others), so
    /// that no payload is walked twice.
    public static func fields(in bytes: UnsafeRawBufferPointer, sequence: UInt64, ledger: LedgerFields? = nil) throws(CoreError) -> Fields {
        let p = try parts(bytes, sequence: sequence, ledger: ledger, checkingPayload: false)
        func utf8(_ text: UnsafeRawBufferPointer) -> Bool { isASCII(text) || String(validating: text, as: UTF8.self) != nil }
        guard utf8(p.fields.stream), utf8(p.fields.type), utf8(p.actor), p.idForm != 0 || utf8(p.id) else { throw notUTF8(sequence) }
        return p.fields
    }

    /// The UTF-8 bytes of the stream name in an encoded envelope (either format), found without
    /// decoding the rest; nil if the envelope is malformed (`decode` then says how).
    public static func streamName(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var r = BinaryReader(bytes)
        do throws(CoreError) {
            let format = try r.readByte()
            guard format == formatVersion || format == legacyFormatVersion else { return nil }
            switch try r.readByte() {
            case 0: _ = try r.readLengthPrefixed()
            case 1, 2: _ = try r.readBytes(16)
            default: return nil
            }
            return try r.readLengthPrefixed()
        } catch {
            return nil
        }
    }

    public static func decode(_ bytes: [UInt8], sequence: UInt64, ledger: LedgerFields? = nil) throws(CoreError) -> RecordedEvent {
        try bytes.withUnsafeBytes { raw in Result { () throws(CoreError) in try decode(raw, sequence: sequence, ledger: ledger) } }.get()
    }
}

/// Views into bytes owned elsewhere: not to be sent to another thread.
@available(*, unavailable)
extension EnvelopeCodec.Fields: Sendable {}

extension RecordedEvent {
    /// The event as one JSON object, as `docket read` prints it.
    public var json: String {
        var out = "{\"seq\":\(sequence),\"stream\":"
        JSON.writeString(stream.rawValue, to: &out)
        out += ",\"version\":\(streamVersion),\"id\":"
        JSON.writeString(id.rawValue, to: &out)
        out += ",\"type\":"
        JSON.writeString(type.rawValue, to: &out)
        out += ",\"schema\":\(schemaVersion),\"actor\":"
        JSON.writeString(actor, to: &out)
        out += ",\"occurred_at\":\"\(occurredAt.rfc3339)\",\"recorded_at\":\"\(recordedAt.rfc3339)\",\"data\":"
        JSON.write(payload.value, to: &out)
        out += "}"
        return out
    }
}
