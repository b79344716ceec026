/// The shape of one payload field, as `Schemas/events/*.json` declares it.
///
/// Each event codec states its fields once, as a table of `FieldSpec`s; decoding checks a payload
/// against that table (types, required fields, no unknown fields) before any typed access, and
/// the schema tests check that every table equals its schema file. The schema files are the
/// source of truth: a codec that drifts from them fails the build's tests, not a user's replay.
public struct FieldSpec: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case string
        case int
        case bool
        /// An RFC 3339 instant, as a string.
        case timestamp
        /// One of a fixed set of strings.
        case enumeration([String])
        case stringArray
        /// A nested object with its own fields.
        case object([FieldSpec])
    }

    public var name: String
    public var kind: Kind
    public var required: Bool

    public init(_ name: String, _ kind: Kind, required: Bool = true) {
        self.name = name
        self.kind = kind
        self.required = required
    }

    public static func optional(_ name: String, _ kind: Kind) -> FieldSpec { FieldSpec(name, kind, required: false) }
}

/// A payload object checked against a field table; typed accessors cannot fail afterwards.
///
/// Replaying the log builds one of these per event, so it keeps the members in a small array
/// (payloads have a handful of fields) and only builds error text when there is an error.
public struct PayloadFields {
    private var members: [(key: String, value: Value)] = []

    public init(_ value: Value, spec: [FieldSpec], context: @autoclosure () -> String) throws(DomainError) {
        guard case .object(let list) = value else {
            throw DomainError(.invalidEvent, "\(context()): the payload must be an object")
        }
        members.reserveCapacity(list.count)
        for (key, member) in list {
            guard let field = spec.first(where: { $0.name == key }) else {
                let known = spec.map(\.name).joined(separator: ", ")
                throw DomainError(.invalidEvent, "\(context()): unknown field \"\(key)\" (fields: \(known))")
            }
            guard !members.contains(where: { $0.key == key }) else {
                throw DomainError(.invalidEvent, "\(context()): field \"\(key)\" appears twice")
            }
            if case .null = member, !field.required { continue }
            try Self.check(member, against: field, context: context)
            members.append((key, member))
        }
        for field in spec where field.required && !members.contains(where: { $0.key == field.name }) {
            throw DomainError(.invalidEvent, "\(context()): missing required field \"\(field.name)\"")
        }
    }

    private static func check(_ v: Value, against field: FieldSpec, context: () -> String) throws(DomainError) {
        func fail(_ what: String) -> DomainError { DomainError(.invalidEvent, "\(context()): field \"\(field.name)\"\(what)") }
        switch field.kind {
        case .string:
            guard case .string = v else { throw fail(" must be a string") }
        case .int:
            guard case .int = v else { throw fail(" must be an integer") }
        case .bool:
            guard case .bool = v else { throw fail(" must be true or false") }
        case .timestamp:
            guard case .string(let s) = v else { throw fail(" must be an RFC 3339 time string") }
            do { _ = try Timestamp(rfc3339: s) } catch { throw fail(": \(error.message)") }
        case .enumeration(let allowed):
            guard case .string(let s) = v, allowed.contains(s) else {
                throw fail(" must be one of \(allowed.joined(separator: ", "))")
            }
        case .stringArray:
            guard case .array(let items) = v, items.allSatisfy({ $0.stringValue != nil }) else {
                throw fail(" must be an array of strings")
            }
        case .object(let nested):
            _ = try PayloadFields(v, spec: nested, context: "\(context()): field \"\(field.name)\"")
        }
    }

    private func member(_ key: String) -> Value? {
        for m in members where m.key == key { return m.value }
        return nil
    }

    public func string(_ key: String) -> String { member(key)?.stringValue ?? "" }
    public func optionalString(_ key: String) -> String? { member(key)?.stringValue }
    public func bool(_ key: String) -> Bool { member(key)?.boolValue ?? false }
    public func optionalBool(_ key: String) -> Bool? { member(key)?.boolValue }
    public func int(_ key: String) -> Int64 { member(key)?.intValue ?? 0 }
    public func strings(_ key: String) -> [String] { member(key)?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public func timestamp(_ key: String) -> Timestamp { optionalTimestamp(key) ?? Timestamp(microseconds: 0) }
    public func optionalTimestamp(_ key: String) -> Timestamp? {
        guard let s = member(key)?.stringValue else { return nil }
        return try? Timestamp(rfc3339: s)
    }
    func enumeration<E: RawRepresentable>(_ key: String, as: E.Type) -> E where E.RawValue == String {
        E(rawValue: string(key))!
    }
    func optionalEnumeration<E: RawRepresentable>(_ key: String, as: E.Type) -> E? where E.RawValue == String {
        optionalString(key).flatMap(E.init(rawValue:))
    }
    public func value(_ key: String) -> Value? { member(key) }
}

/// Builds a payload object in field-table order, leaving out absent optionals.
public struct PayloadBuilder {
    public private(set) var members: [(key: String, value: Value)] = []

    public mutating func set(_ key: String, _ value: String?) { if let value { members.append((key, .string(value))) } }
    public mutating func set(_ key: String, _ value: Bool?) { if let value { members.append((key, .bool(value))) } }
    public mutating func set(_ key: String, _ value: Int64?) { if let value { members.append((key, .int(value))) } }
    public mutating func set(_ key: String, _ value: Timestamp?) { if let value { members.append((key, .string(value.rfc3339))) } }
    public mutating func set(_ key: String, _ values: [String]?) {
        if let values { members.append((key, .array(values.map { .string($0) }))) }
    }
    public mutating func set(_ key: String, value: Value?) { if let value { members.append((key, value)) } }
    public mutating func set<E: RawRepresentable>(_ key: String, _ value: E?) where E.RawValue == String {
        if let value { members.append((key, .string(value.rawValue))) }
    }

    public init() {}

    public var value: Value { .object(members) }
}
