/// The binary form of events to append, as the network protocol carries them (`Schemas/protocol.md`,
/// APPEND_EVENTS): a stream, an expected version and the events, each with its payload already in
/// the `Value` encoding, so that neither side builds a tree of values per event.
///
/// ```
/// string  stream
/// varint  expected version: 0 = any, n + 1 = exactly n
/// varint  event count (1…10,000)
/// per event:
///   u8      id form: 0 = text (a string follows), 1 = lowercase UUID, 2 = uppercase UUID (16 bytes)
///   string  type
///   varint  schema version (1…65,535)
///   u8      0 = no occurred-at, 1 = a zigzag µs since the Unix epoch follows
///   varint  payload length, then the payload: exactly one value (envelope.md §4)
/// ```
/// The actor is not carried: the node takes it from the credentials.
public enum ProposedEventCodec {
    /// Most events one append carries (the store's limit).
    public static let maximumEvents = 10_000

    public static func encode(stream: StreamName, expected: ExpectedVersion, events: [ProposedEvent], into w: inout BinaryWriter) {
        w.writeString(stream.rawValue)
        switch expected {
        case .any: w.writeVarint(0)
        case .exact(let n): w.writeVarint(n &+ 1)
        }
        w.writeVarint(UInt64(events.count))
        for e in events {
            EnvelopeCodec.writeID(e.id, into: &w)
            w.writeString(e.type.rawValue)
            w.writeVarint(UInt64(e.schemaVersion))
            if let t = e.occurredAt {
                w.writeByte(1)
                w.writeZigzag(t.microseconds)
            } else {
                w.writeByte(0)
            }
            w.writeLengthPrefixed(e.payload.bytes)
        }
    }

    /// The event count a body declares, read without decoding the events (nil if it does not
    /// get that far).
    public static func eventCount(_ raw: UnsafeRawBufferPointer) -> Int? {
        var r = BinaryReader(raw)
        guard (try? r.readLengthPrefixed()) != nil, (try? r.readVarint()) != nil, let n = try? r.readVarint(), n <= UInt64(Int.max) else { return nil }
        return Int(n)
    }

    /// Decodes and validates what `encode` writes, for `actor`. Every identifier, time and
    /// payload is checked as `ProposedEvent` and `StreamName` check them; errors name the event.
    public static func decode(
        _ raw: UnsafeRawBufferPointer, actor: String
    ) throws(CoreError) -> (stream: StreamName, expected: ExpectedVersion, events: [ProposedEvent]) {
        var r = BinaryReader(raw)
        let stream = try StreamName(try r.readString())
        let expectedRaw = try r.readVarint()
        let expected: ExpectedVersion = expectedRaw == 0 ? .any : .exact(expectedRaw - 1)
        let count = try r.readCount()
        guard count >= 1, count <= maximumEvents else {
            throw CoreError(.invalidValue, "an append carries 1 to \(maximumEvents) events, not \(count)")
        }
        var events: [ProposedEvent] = []
        events.reserveCapacity(count)
        for i in 0..<count {
            do throws(CoreError) {
                let id: EventID
                switch try r.readByte() {
                case 0: id = try EventID(try r.readString())
                case let form where form == 1 || form == 2: id = EventID(uuidBytes: try r.readBytes(16), uppercase: form == 2)
                case let form: throw CoreError(.invalidValue, "unknown id form \(form)")
                }
                let type = try EventType(try r.readString())
                let schema = try r.readVarint()
                guard schema >= 1, schema <= UInt64(UInt16.max) else { throw CoreError(.invalidValue, "schema version \(schema) is not 1…65535") }
                let occurredAt: Timestamp?
                switch try r.readByte() {
                case 0: occurredAt = nil
                case 1:
                    let t = Timestamp(microseconds: try r.readZigzag())
                    guard t >= .minimum, t <= .maximum else { throw CoreError(.invalidTimestamp, "occurred-at is outside years 0001–9999") }
                    occurredAt = t
                case let flag: throw CoreError(.invalidValue, "occurred-at flag \(flag) is not 0 or 1")
                }
                let payload = try r.readLengthPrefixed()
                // No deeper than an APPEND's payload can be, so that every event appended over
                // the network can be read back over it.
                try Payload.validate(payload, depthLimit: Payload.maximumNetworkDepth)
                events.append(
                    try ProposedEvent(
                        id: id, type: type, schemaVersion: UInt16(schema), actor: actor, occurredAt: occurredAt,
                        payload: Payload(uncheckedBytes: Array(payload))))
            } catch {
                throw CoreError(error.code, "event \(i + 1) of \(count): \(error.message)")
            }
        }
        guard r.isAtEnd else {
            throw CoreError(.invalidValue, "\(r.remaining) byte\(r.remaining == 1 ? "" : "s") after the last event")
        }
        return (stream, expected, events)
    }
}
