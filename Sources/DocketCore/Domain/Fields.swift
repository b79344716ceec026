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
/// Replaying the log builds one of these per event, so it works on the encoded payload itself:
/// checking walks the bytes once (types, required fields, no unknown or repeated fields, UTF-8,
/// timestamps, enumerations) and notes where each field's value starts, and the accessors read
/// the few values a decoder asks for from there. No tree of `Value`s is built, and nothing is
/// allocated but the strings the typed event keeps; error text is built only on an error.
public struct PayloadFields {
    /// The most fields one table may declare (a payload's offsets are kept inline).
    public static let maximumFields = 16

    /// The encoded payload: an array shared with the event it came from (not copied), or bytes
    /// borrowed for the duration of one decode (`init(borrowing:spec:context:)`).
    private let bytes: [UInt8]
    private let borrowed: UnsafeRawBufferPointer?
    private let spec: [FieldSpec]
    /// Where each field of `spec` starts in the bytes (its tag byte); -1 when absent or null.
    private let offsets: InlineArray<16, Int32>

    /// Checks an encoded payload (the `Value` encoding of `Schemas/envelope.md`) against `spec`.
    public init(encoded bytes: [UInt8], spec: [FieldSpec], context: @autoclosure () -> String) throws(DomainError) {
        try self.init(bytes, nil, at: 0, spec: spec, wholePayload: true, context: context)
    }

    /// Checks a payload given as a `Value` against `spec`.
    public init(_ value: Value, spec: [FieldSpec], context: @autoclosure () -> String) throws(DomainError) {
        try self.init(Payload(value).bytes, nil, at: 0, spec: spec, wholePayload: true, context: context)
    }

    /// Checks an encoded payload read in place. The fields read `raw` and must not outlive it:
    /// a typed event built from them copies what it keeps.
    init(borrowing raw: UnsafeRawBufferPointer, spec: [FieldSpec], context: @autoclosure () -> String) throws(DomainError) {
        try self.init([], raw, at: 0, spec: spec, wholePayload: true, context: context)
    }

    private init(
        _ bytes: [UInt8], _ borrowed: UnsafeRawBufferPointer?, at start: Int, spec: [FieldSpec], wholePayload: Bool, context: () -> String
    ) throws(DomainError) {
        precondition(spec.count <= Self.maximumFields, "a field table of \(spec.count) fields (at most \(Self.maximumFields))")
        self.bytes = bytes
        self.borrowed = borrowed
        self.spec = spec
        func check(_ raw: UnsafeRawBufferPointer) throws(DomainError) -> InlineArray<16, Int32> {
            try Self.check(UnsafeRawBufferPointer(rebasing: raw[start...]), base: start, spec: spec, wholePayload: wholePayload, context: context).offsets
        }
        if let borrowed {
            offsets = try check(borrowed)
        } else {
            offsets = try bytes.withUnsafeBytes { raw in Result { () throws(DomainError) in try check(raw) } }.get()
        }
    }

    /// The payload's bytes, lent to `body`.
    private func withBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        if let borrowed { return body(borrowed) }
        return bytes.withUnsafeBytes(body)
    }

    /// Walks one encoded object in `raw` (which starts at byte `base` of the payload) against
    /// `spec`: the offset of each field's value, and the length of the object.
    private static func check(
        _ raw: UnsafeRawBufferPointer, base: Int, spec: [FieldSpec], wholePayload: Bool, context: () -> String
    ) throws(DomainError) -> (offsets: InlineArray<16, Int32>, length: Int) {
        var offsets = InlineArray<16, Int32>(repeating: -1)
        var seen: UInt32 = 0
        var r = BinaryReader(raw)
        do {
            guard try r.readByte() == Value.Tag.object.rawValue else {
                throw DomainError(.invalidEvent, "\(context()): the payload must be an object")
            }
            let count = try r.readCount()
            // Payloads are written in field-table order, so the field after the last one found is
            // tried first; the table is searched only when it is not that one.
            var expected = 0
            for _ in 0..<count {
                let key = try r.readLengthPrefixed()
                guard let i = (expected..<spec.count).first(where: { utf8Equal(spec[$0].name, key) })
                    ?? (0..<expected).first(where: { utf8Equal(spec[$0].name, key) })
                else {
                    let known = spec.map(\.name).joined(separator: ", ")
                    throw DomainError(.invalidEvent, "\(context()): unknown field \"\(String(decoding: key, as: UTF8.self))\" (fields: \(known))")
                }
                expected = i + 1
                guard seen & (1 << i) == 0 else {
                    throw DomainError(.invalidEvent, "\(context()): field \"\(spec[i].name)\" appears twice")
                }
                seen |= 1 << i
                let at = r.offset
                if !spec[i].required, at < raw.count, raw[at] == Value.Tag.null.rawValue {
                    _ = try r.readByte()
                    continue
                }
                try checkValue(&r, raw, base: base, field: spec[i], context: context)
                offsets[i] = Int32(base + at)
            }
        } catch let error as DomainError {
            throw error
        } catch let error as CoreError {
            throw DomainError(.invalidEvent, "\(context()): \(error.message)")
        } catch {
            throw DomainError(.invalidEvent, "\(context()): \(error)")
        }
        for (i, field) in spec.enumerated() where field.required && offsets[i] < 0 {
            throw DomainError(.invalidEvent, "\(context()): missing required field \"\(field.name)\"")
        }
        if wholePayload && !r.isAtEnd {
            throw DomainError(.invalidEvent, "\(context()): \(r.remaining) byte\(r.remaining == 1 ? "" : "s") after the payload value")
        }
        return (offsets, r.offset)
    }

    /// Checks the value at the reader against `field` and moves past it.
    private static func checkValue(
        _ r: inout BinaryReader, _ raw: UnsafeRawBufferPointer, base: Int, field: FieldSpec, context: () -> String
    ) throws(any Error) {
        func fail(_ what: String) -> DomainError { DomainError(.invalidEvent, "\(context()): field \"\(field.name)\"\(what)") }
        let tag = try r.readByte()
        switch field.kind {
        case .string:
            guard tag == Value.Tag.string.rawValue else { throw fail(" must be a string") }
            try readText(&r)
        case .int:
            guard tag == Value.Tag.int.rawValue else { throw fail(" must be an integer") }
            _ = try r.readVarint()
        case .bool:
            guard tag == Value.Tag.true.rawValue || tag == Value.Tag.false.rawValue else { throw fail(" must be true or false") }
        case .timestamp:
            guard tag == Value.Tag.string.rawValue else { throw fail(" must be an RFC 3339 time string") }
            do throws(CoreError) { _ = try Timestamp(rfc3339UTF8: try readText(&r)) } catch { throw fail(": \(error.message)") }
        case .enumeration(let allowed):
            let text = tag == Value.Tag.string.rawValue ? try readText(&r) : nil
            guard let text, allowed.contains(where: { utf8Equal($0, text) }) else {
                throw fail(" must be one of \(allowed.joined(separator: ", "))")
            }
        case .stringArray:
            guard tag == Value.Tag.array.rawValue else { throw fail(" must be an array of strings") }
            for _ in 0..<(try r.readCount()) {
                guard try r.readByte() == Value.Tag.string.rawValue else { throw fail(" must be an array of strings") }
                try readText(&r)
            }
        case .object(let nested):
            // The nested object starts at its tag, one byte back.
            let at = r.offset - 1
            let (_, length) = try check(
                UnsafeRawBufferPointer(rebasing: raw[at...]), base: base + at, spec: nested, wholePayload: false,
                context: { "\(context()): field \"\(field.name)\"" })
            _ = try r.readBytes(length - 1)
        }
    }

    /// Reads a length-prefixed string's bytes, checking they are UTF-8.
    @discardableResult
    private static func readText(_ r: inout BinaryReader) throws(CoreError) -> UnsafeRawBufferPointer {
        let text = try r.readLengthPrefixed()
        guard isASCII(text) || String(validating: text, as: UTF8.self) != nil else {
            throw CoreError(.invalidValue, "string ending at byte \(r.offset) is not valid UTF-8")
        }
        return text
    }

    /// Reads the value of `key` with `body` (given its tag and a reader just past it); nil when absent.
    private func read<T>(_ key: String, _ body: (UInt8, inout BinaryReader) throws(CoreError) -> T?) -> T? {
        guard let i = spec.firstIndex(where: { $0.name == key }), offsets[i] >= 0 else { return nil }
        let at = Int(offsets[i])
        return withBytes { raw in
            var r = BinaryReader(UnsafeRawBufferPointer(rebasing: raw[at...]))
            // Checked when the fields were made: reading cannot fail, but a mismatched accessor reads nil.
            return try? body(try r.readByte(), &r)
        }
    }

    private func text(_ key: String) -> String? {
        read(key) { (tag, r) throws(CoreError) in
            tag == Value.Tag.string.rawValue ? String(decoding: try r.readLengthPrefixed(), as: UTF8.self) : nil
        }
    }

    /// Whether the payload has `key` (and it is not null).
    public func has(_ key: String) -> Bool {
        guard let i = spec.firstIndex(where: { $0.name == key }) else { return false }
        return offsets[i] >= 0
    }

    public func string(_ key: String) -> String { text(key) ?? "" }
    public func optionalString(_ key: String) -> String? { text(key) }
    public func bool(_ key: String) -> Bool { optionalBool(key) ?? false }
    public func optionalBool(_ key: String) -> Bool? {
        read(key) { (tag, _) throws(CoreError) in
            tag == Value.Tag.true.rawValue ? true : tag == Value.Tag.false.rawValue ? false : nil
        }
    }
    public func int(_ key: String) -> Int64 {
        read(key) { (tag, r) throws(CoreError) in tag == Value.Tag.int.rawValue ? unzigzag(try r.readVarint()) : nil } ?? 0
    }
    public func strings(_ key: String) -> [String] {
        read(key) { (tag, r) throws(CoreError) -> [String]? in
            guard tag == Value.Tag.array.rawValue else { return nil }
            let n = try r.readCount()
            var items: [String] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                _ = try r.readByte()
                items.append(String(decoding: try r.readLengthPrefixed(), as: UTF8.self))
            }
            return items
        } ?? []
    }
    public func timestamp(_ key: String) -> Timestamp { optionalTimestamp(key) ?? Timestamp(microseconds: 0) }
    public func optionalTimestamp(_ key: String) -> Timestamp? {
        read(key) { (tag, r) throws(CoreError) in
            tag == Value.Tag.string.rawValue ? try Timestamp(rfc3339UTF8: try r.readLengthPrefixed()) : nil
        }
    }
    func enumeration<E: RawRepresentable>(_ key: String, as: E.Type) -> E where E.RawValue == String {
        E(rawValue: string(key))!
    }
    func optionalEnumeration<E: RawRepresentable>(_ key: String, as: E.Type) -> E? where E.RawValue == String {
        optionalString(key).flatMap(E.init(rawValue:))
    }

    /// The nested object `key`, checked against its own table when these fields were made.
    public func object(_ key: String) -> PayloadFields? {
        guard let i = spec.firstIndex(where: { $0.name == key }), offsets[i] >= 0, case .object(let nested) = spec[i].kind else { return nil }
        // Already checked as part of this payload: this cannot throw.
        return try? PayloadFields(bytes, borrowed, at: Int(offsets[i]), spec: nested, wholePayload: false, context: { key })
    }
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
