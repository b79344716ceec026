public import DocketCore

// Message bodies: how requests and answers map to the `Value` a frame carries. Field names and
// meanings are specified in `Schemas/protocol.md`; this file is the one place that builds and
// reads them, for the server and the client alike.

/// A request or answer that does not have the fields it must have.
public struct MessageError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Typed reads of a body object, with errors that name the field.
public struct Body: Sendable {
    public let value: Value
    let context: String

    public init(_ value: Value, _ context: String) throws(MessageError) {
        guard case .object = value else { throw MessageError("\(context): the body must be an object") }
        self.value = value
        self.context = context
    }

    public func string(_ key: String) throws(MessageError) -> String {
        guard let s = value[key]?.stringValue else { throw MessageError("\(context): \"\(key)\" must be a string") }
        return s
    }

    public func optionalString(_ key: String) throws(MessageError) -> String? {
        guard let v = value[key], v != .null else { return nil }
        guard let s = v.stringValue else { throw MessageError("\(context): \"\(key)\" must be a string") }
        return s
    }

    public func int(_ key: String) throws(MessageError) -> Int64 {
        guard let i = value[key]?.intValue else { throw MessageError("\(context): \"\(key)\" must be an integer") }
        return i
    }

    public func optionalInt(_ key: String) throws(MessageError) -> Int64? {
        guard let v = value[key], v != .null else { return nil }
        guard let i = v.intValue else { throw MessageError("\(context): \"\(key)\" must be an integer") }
        return i
    }

    public func optionalBool(_ key: String) throws(MessageError) -> Bool? {
        guard let v = value[key], v != .null else { return nil }
        guard let b = v.boolValue else { throw MessageError("\(context): \"\(key)\" must be true or false") }
        return b
    }

    public func strings(_ key: String) throws(MessageError) -> [String] {
        guard let v = value[key], v != .null else { return [] }
        guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
            throw MessageError("\(context): \"\(key)\" must be an array of strings")
        }
        return a.compactMap(\.stringValue)
    }

    public func optionalTime(_ key: String) throws(MessageError) -> Timestamp? {
        guard let s = try optionalString(key) else { return nil }
        do { return try Timestamp(rfc3339: s) } catch { throw MessageError("\(context): \"\(key)\": \(error.message)") }
    }

    public func enumeration<E: RawRepresentable>(_ key: String, _: E.Type) throws(MessageError) -> E where E.RawValue == String {
        let s = try string(key)
        guard let e = E(rawValue: s) else { throw MessageError("\(context): \"\(key)\" has no value \"\(s)\"") }
        return e
    }

    public func optionalEnumeration<E: RawRepresentable>(_ key: String, _: E.Type) throws(MessageError) -> E? where E.RawValue == String {
        guard let s = try optionalString(key) else { return nil }
        guard let e = E(rawValue: s) else { throw MessageError("\(context): \"\(key)\" has no value \"\(s)\"") }
        return e
    }
}

/// An ERROR frame's body: a stable code, a message to act on, and for some codes details.
public struct ErrorBody: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// Present for illegal transitions: `state` and `allowed` (the event types that state allows);
    /// for a leader to go to (`leader`).
    public var details: Value?

    public init(code: String, message: String, details: Value? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var value: Value {
        var m: [(key: String, value: Value)] = [("code", .string(code)), ("message", .string(message))]
        if let details { m.append(("details", details)) }
        return .object(m)
    }

    public init(_ value: Value) {
        code = value["code"]?.stringValue ?? "unknown"
        message = value["message"]?.stringValue ?? "(no message)"
        details = value["details"]
    }

    public var description: String { "\(code): \(message)" }
}

// MARK: - Events

extension RecordedEvent {
    /// The wire form of a recorded event (the fields of `docket read`, in camelCase).
    public var wireValue: Value {
        .object([
            ("seq", .int(Int64(bitPattern: sequence))), ("stream", .string(stream.rawValue)),
            ("version", .int(Int64(bitPattern: streamVersion))), ("id", .string(id.rawValue)), ("type", .string(type.rawValue)),
            ("schemaVersion", .int(Int64(schemaVersion))), ("actor", .string(actor)),
            ("occurredAt", .string(occurredAt.rfc3339)), ("recordedAt", .string(recordedAt.rfc3339)), ("data", data),
        ])
    }

    public init(wire value: Value) throws(MessageError) {
        let b = try Body(value, "event")
        do {
            self.init(
                sequence: UInt64(bitPattern: try b.int("seq")), stream: try StreamName(try b.string("stream")),
                streamVersion: UInt64(bitPattern: try b.int("version")), id: try EventID(try b.string("id")),
                type: try EventType(try b.string("type")), schemaVersion: UInt16(clamping: try b.int("schemaVersion")),
                actor: try b.string("actor"), occurredAt: try Timestamp(rfc3339: try b.string("occurredAt")),
                recordedAt: try Timestamp(rfc3339: try b.string("recordedAt")), payload: Payload(value["data"] ?? .null))
        } catch let e as CoreError {
            throw MessageError("event: \(e.message)")
        } catch let e as MessageError {
            throw e
        } catch {
            throw MessageError("event: \(error)")
        }
    }
}

extension ProposedEvent {
    /// The wire form of an event to append. The server sets the actor from the credentials.
    public var wireValue: Value {
        var m: [(key: String, value: Value)] = [
            ("id", .string(id.rawValue)), ("type", .string(type.rawValue)), ("schemaVersion", .int(Int64(schemaVersion))),
        ]
        if let occurredAt { m.append(("occurredAt", .string(occurredAt.rfc3339))) }
        m.append(("data", data))
        return .object(m)
    }

    public init(wire value: Value, actor: String) throws(MessageError) {
        let b = try Body(value, "event")
        do {
            self = try ProposedEvent(
                id: try b.optionalString("id").map { try EventID($0) } ?? .random(), type: try EventType(try b.string("type")),
                schemaVersion: UInt16(clamping: try b.optionalInt("schemaVersion") ?? 1), actor: actor,
                occurredAt: try b.optionalTime("occurredAt"), data: value["data"] ?? .object([]))
        } catch let e as CoreError {
            throw MessageError("event: \(e.message)")
        } catch let e as MessageError {
            throw e
        } catch {
            throw MessageError("event: \(error)")
        }
    }
}
