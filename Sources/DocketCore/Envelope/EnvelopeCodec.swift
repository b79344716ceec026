/// The binary form of a recorded event, as stored inside each record's zstd frame.
///
/// Layout (all varints LEB128, specified in `Schemas/envelope.md`):
/// ```
/// u8      envelope format (1)
/// u8      id form: 0 = text (varint length + bytes), 1 = lowercase UUID, 2 = uppercase UUID (16 bytes)
/// string  stream          varint  stream version
/// string  type            varint  schema version
/// string  actor
/// zigzag  occurred-at (µs since the Unix epoch)
/// zigzag  recorded-at minus occurred-at (µs)
/// value   payload (the `Value` binary encoding), to the end
/// ```
/// The global sequence is not inside: it is the record's key.
public enum EnvelopeCodec {
    public static let formatVersion: UInt8 = 1

    /// The largest encoded event the ledger accepts (64 KiB): security reports are text, and
    /// attachments belong in a blob store referenced by the event.
    public static let maximumEncodedSize = 64 * 1024

    public static func encode(_ e: RecordedEvent, into w: inout BinaryWriter) {
        w.writeByte(formatVersion)
        switch e.id.storage {
        case .uuid(let high, let low, let uppercase):
            w.writeByte(uppercase ? 2 : 1)
            // RFC 9562 byte order: the UUID's bytes as written, most significant first.
            w.writeBigEndian64(high)
            w.writeBigEndian64(low)
        case .text(let text):
            w.writeByte(0)
            w.writeString(text)
        }
        w.writeString(e.stream.rawValue)
        w.writeVarint(e.streamVersion)
        w.writeString(e.type.rawValue)
        w.writeVarint(UInt64(e.schemaVersion))
        w.writeString(e.actor)
        w.writeZigzag(e.occurredAt.microseconds)
        w.writeZigzag(e.recordedAt.microseconds &- e.occurredAt.microseconds)
        w.writeBytes(e.payload.bytes)
    }

    public static func encode(_ e: RecordedEvent) -> [UInt8] {
        var w = BinaryWriter(capacity: 256)
        encode(e, into: &w)
        return w.bytes
    }

    /// Decodes the envelope in `bytes`, which belongs to the record at `sequence`.
    ///
    /// Identifiers are not re-validated (they were when the event was appended, and the chain
    /// vouches for the bytes since); UTF-8 is. `interner` shares repeated strings across calls.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, sequence: UInt64, interner: StringInterner? = nil
    ) throws(CoreError) -> RecordedEvent {
        var r = BinaryReader(bytes)
        func text() throws(CoreError) -> String {
            let raw = try r.readLengthPrefixed()
            guard let s = interner?.string(raw) ?? utf8String(raw) else {
                throw CoreError(.invalidEnvelope, "event at sequence \(sequence) holds text that is not UTF-8")
            }
            return s
        }
        let format = try r.readByte()
        guard format == formatVersion else {
            throw CoreError(.unsupportedVersion, "event at sequence \(sequence) has envelope format \(format); this build reads format \(formatVersion)")
        }
        let id: EventID
        switch try r.readByte() {
        case 0:
            id = EventID(uncheckedText: try text())
        case let form where form == 1 || form == 2:
            id = EventID(uuidBytes: try r.readBytes(16), uppercase: form == 2)
        case let form:
            throw CoreError(.invalidEnvelope, "event at sequence \(sequence) has unknown id form \(form)")
        }
        let stream = StreamName(unchecked: try text())
        let streamVersion = try r.readVarint()
        let type = EventType(unchecked: try text())
        let schema = try r.readVarint()
        guard schema >= 1, schema <= UInt64(UInt16.max) else {
            throw CoreError(.invalidEnvelope, "event at sequence \(sequence) has schema version \(schema)")
        }
        let actor = try text()
        let occurred = try r.readZigzag()
        let recordedDelta = try r.readZigzag()
        guard r.remaining > 0 else { throw CoreError(.truncated, "event at sequence \(sequence) has no payload") }
        let payloadBytes = try r.readBytes(r.remaining)
        do throws(CoreError) { try Payload.validate(payloadBytes) } catch {
            throw CoreError(.invalidEnvelope, "event at sequence \(sequence) has a malformed payload: \(error.message)")
        }
        let payload = Payload(uncheckedBytes: Array(payloadBytes))
        return RecordedEvent(
            sequence: sequence, stream: stream, streamVersion: streamVersion, id: id, type: type,
            schemaVersion: UInt16(schema), actor: actor, occurredAt: Timestamp(microseconds: occurred),
            recordedAt: Timestamp(microseconds: occurred &+ recordedDelta), payload: payload)
    }

    public static func decode(_ bytes: [UInt8], sequence: UInt64) throws(CoreError) -> RecordedEvent {
        try bytes.withUnsafeBytes { raw in Result { () throws(CoreError) in try decode(raw, sequence: sequence) } }.get()
    }
}

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
