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

/// A field table compiled for checking and reading payloads: every name and allowed value as
/// UTF-8 bytes in one buffer, every kind as a code. Walking a `[FieldSpec]` costs a retain and a
/// release of its strings and arrays per field looked at; the decoder looks at several fields of
/// every event a replay or a view rebuild reads, so it walks this instead. Immutable, and made
/// once per schema (`DomainEvent` keeps one for each).
public final class FieldTable: @unchecked Sendable {
    // @unchecked: the buffers are written in `init` only and freed in `deinit`.

    enum Code: UInt8 { case string, int, bool, timestamp, enumeration, stringArray, object }

    struct Entry {
        /// The name's UTF-8 bytes, in `text`.
        let name: UnsafeRawBufferPointer
        let code: Code
        let required: Bool
        /// For an enumeration: its allowed values, in `allowed`.
        let allowed: Range<Int>
        /// For an object: its table's index in `nested`.
        let nested: Int
    }

    /// The table it was compiled from.
    public let spec: [FieldSpec]
    /// Its field names.
    private let names: [String]
    let nested: [FieldTable]
    private let entries: UnsafeMutableBufferPointer<Entry>
    /// Every enumeration's allowed values, as UTF-8 bytes in `text`.
    private let allowed: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    private let text: UnsafeMutableRawBufferPointer

    public init(_ spec: [FieldSpec]) {
        precondition(spec.count <= PayloadFields.maximumFields, "a field table of \(spec.count) fields (at most \(PayloadFields.maximumFields))")
        self.spec = spec
        names = spec.map(\.name)
        // Every name and allowed value, back to back, and where each one is.
        let strings = spec.flatMap { field -> [String] in
            if case .enumeration(let values) = field.kind { return [field.name] + values }
            return [field.name]
        }
        let text = UnsafeMutableRawBufferPointer.allocate(byteCount: max(strings.reduce(0) { $0 + $1.utf8.count }, 1), alignment: 8)
        self.text = text
        var used = 0
        var next = 0
        func place() -> UnsafeRawBufferPointer {
            let bytes = strings[next].utf8
            next += 1
            let start = text.baseAddress! + used
            UnsafeMutableRawBufferPointer(start: start, count: bytes.count).copyBytes(from: bytes)
            used += bytes.count
            return UnsafeRawBufferPointer(start: start, count: bytes.count)
        }
        var entries: [Entry] = []
        var values: [UnsafeRawBufferPointer] = []
        var nested: [FieldTable] = []
        for field in spec {
            let name = place()
            var code = Code.string
            var allowed = 0..<0
            var table = -1
            switch field.kind {
            case .string: code = .string
            case .int: code = .int
            case .bool: code = .bool
            case .timestamp: code = .timestamp
            case .stringArray: code = .stringArray
            case .enumeration(let names):
                code = .enumeration
                allowed = values.count..<values.count + names.count
                for _ in names { values.append(place()) }
            case .object(let fields):
                code = .object
                table = nested.count
                nested.append(FieldTable(fields))
            }
            entries.append(Entry(name: name, code: code, required: field.required, allowed: allowed, nested: table))
        }
        self.nested = nested
        self.entries = .allocate(capacity: entries.count)
        _ = self.entries.initialize(from: entries)
        self.allowed = .allocate(capacity: values.count)
        _ = self.allowed.initialize(from: values)
    }

    deinit {
        entries.deallocate()
        allowed.deallocate()
        text.deallocate()
    }

    var count: Int { entries.count }

    @inline(__always)
    func entry(_ i: Int) -> Entry { entries[i] }

    /// The field named `key` (nil if the table has none), looked for from `hint` onwards first:
    /// payloads are written, and typed events read, in table order.
    func index(of key: UnsafeRawBufferPointer, from hint: Int = 0) -> Int? {
        let n = entries.count
        var i = hint
        while i < n {
            if bytesEqual(entries[i].name, key) { return i }
            i += 1
        }
        i = 0
        while i < hint && i < n {
            if bytesEqual(entries[i].name, key) { return i }
            i += 1
        }
        return nil
    }

    /// The field named `key`. (A typed event names its fields with the same literals as its
    /// table, and equal literals compare without reading their bytes.)
    func index(of key: String) -> Int? {
        names.firstIndex(of: key)
    }

    /// Whether `value` is one of enumeration field `i`'s allowed values.
    func allows(_ i: Int, _ value: UnsafeRawBufferPointer) -> Bool {
        for j in entries[i].allowed where bytesEqual(allowed[j], value) { return true }
        return false
    }
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
    /// borrowed for the duration of one decode (`init(borrowing:table:context:)`).
    private let bytes: [UInt8]
    private let borrowed: UnsafeRawBufferPointer?
    private let table: FieldTable
    /// Where each field of the table starts in the bytes (its tag byte); -1 when absent or null.
    private let offsets: InlineArray<16, Int32>
    /// The first nested object's field (-1 if none) and where each of its own fields starts, as
    /// checking found them: reading it then walks nothing again. (The catalogue's one nested
    /// object is a submission's reporter.)
    private let nestedField: Int
    private let nestedOffsets: InlineArray<16, Int32>

    /// Checks an encoded payload (the `Value` encoding of `Schemas/envelope.md`) against `table`.
    public init(encoded bytes: [UInt8], table: FieldTable, context: @autoclosure () -> String) throws(DomainError) {
        try self.init(bytes, nil, at: 0, table: table, wholePayload: true, context: context)
    }

    /// Checks a payload given as a `Value` against `table`.
    public init(_ value: Value, table: FieldTable, context: @autoclosure () -> String) throws(DomainError) {
        try self.init(Payload(value).bytes, nil, at: 0, table: table, wholePayload: true, context: context)
    }

    /// Checks an encoded payload read in place. The fields read `raw` and must not outlive it:
    /// a typed event built from them copies what it keeps.
    init(borrowing raw: UnsafeRawBufferPointer, table: FieldTable, context: @autoclosure () -> String) throws(DomainError) {
        try self.init([], raw, at: 0, table: table, wholePayload: true, context: context)
    }

    private init(
        _ bytes: [UInt8], _ borrowed: UnsafeRawBufferPointer?, at start: Int, table: FieldTable, wholePayload: Bool, context: () -> String
    ) throws(DomainError) {
        self.bytes = bytes
        self.borrowed = borrowed
        self.table = table
        func check(_ raw: UnsafeRawBufferPointer) throws(DomainError) -> Checked {
            try Self.check(UnsafeRawBufferPointer(rebasing: raw[start...]), base: start, table: table, wholePayload: wholePayload, context: context)
        }
        let checked: Checked
        if let borrowed {
            checked = try check(borrowed)
        } else {
            checked = try bytes.withUnsafeBytes { raw in Result { () throws(DomainError) in try check(raw) } }.get()
        }
        offsets = checked.offsets
        nestedField = checked.nestedField
        nestedOffsets = checked.nestedOffsets
    }

    /// A nested object of a payload already checked, from the offsets its check found.
    private init(nestedIn parent: PayloadFields, table: FieldTable, offsets: InlineArray<16, Int32>) {
        bytes = parent.bytes
        borrowed = parent.borrowed
        self.table = table
        self.offsets = offsets
        nestedField = -1
        nestedOffsets = InlineArray(repeating: -1)
    }

    /// What checking an object finds: where each field starts, the object's length, and the
    /// fields of its first nested object.
    private struct Checked {
        var offsets: InlineArray<16, Int32>
        var length: Int
        var nestedField: Int
        var nestedOffsets: InlineArray<16, Int32>
    }

    /// The payload's bytes, lent to `body`.
    private func withBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        if let borrowed { return body(borrowed) }
        return bytes.withUnsafeBytes(body)
    }

    /// Walks one encoded object in `raw` (which starts at byte `base` of the payload) against
    /// `table`: the offset of each field's value, and the length of the object.
    private static func check(
        _ raw: UnsafeRawBufferPointer, base: Int, table: FieldTable, wholePayload: Bool, context: () -> String
    ) throws(DomainError) -> Checked {
        var offsets = InlineArray<16, Int32>(repeating: -1)
        var nestedField = -1
        var nestedOffsets = InlineArray<16, Int32>(repeating: -1)
        var seen: UInt32 = 0
        var r = BinaryReader(raw)
        do {
            guard try r.readByte() == Value.Tag.object.rawValue else {
                throw DomainError(.invalidEvent, "\(context()): the payload must be an object")
            }
            let count = try r.readCount()
            // Payloads are written in field-table order, so the field after the last one found is
            // tried first.
            var expected = 0
            for _ in 0..<count {
                let key = try r.readLengthPrefixed()
                guard let i = table.index(of: key, from: expected) else {
                    let known = table.spec.map(\.name).joined(separator: ", ")
                    throw DomainError(.invalidEvent, "\(context()): unknown field \"\(String(decoding: key, as: UTF8.self))\" (fields: \(known))")
                }
                expected = i + 1
                guard seen & (1 << i) == 0 else {
                    throw DomainError(.invalidEvent, "\(context()): field \"\(table.spec[i].name)\" appears twice")
                }
                seen |= 1 << i
                let at = r.offset
                let entry = table.entry(i)
                if !entry.required, at < raw.count, raw[at] == Value.Tag.null.rawValue {
                    _ = try r.readByte()
                    continue
                }
                if let nested = try checkValue(&r, raw, base: base, table: table, field: i, context: context), nestedField < 0 {
                    (nestedField, nestedOffsets) = (i, nested)
                }
                offsets[i] = Int32(base + at)
            }
        } catch let error as DomainError {
            throw error
        } catch let error as CoreError {
            throw DomainError(.invalidEvent, "\(context()): \(error.message)")
        } catch {
            throw DomainError(.invalidEvent, "\(context()): \(error)")
        }
        for i in 0..<table.count where table.entry(i).required && offsets[i] < 0 {
            throw DomainError(.invalidEvent, "\(context()): missing required field \"\(table.spec[i].name)\"")
        }
        if wholePayload && !r.isAtEnd {
            throw DomainError(.invalidEvent, "\(context()): \(r.remaining) byte\(r.remaining == 1 ? "" : "s") after the payload value")
        }
        return Checked(offsets: offsets, length: r.offset, nestedField: nestedField, nestedOffsets: nestedOffsets)
    }

    /// Checks the value at the reader against field `i` of `table` and moves past it; for an
    /// object, where its fields start.
    private static func checkValue(
        _ r: inout BinaryReader, _ raw: UnsafeRawBufferPointer, base: Int, table: FieldTable, field i: Int, context: () -> String
    ) throws(any Error) -> InlineArray<16, Int32>? {
        func fail(_ what: String) -> DomainError { DomainError(.invalidEvent, "\(context()): field \"\(table.spec[i].name)\"\(what)") }
        let tag = try r.readByte()
        let entry = table.entry(i)
        switch entry.code {
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
        case .enumeration:
            let text = tag == Value.Tag.string.rawValue ? try readText(&r) : nil
            guard let text, table.allows(i, text) else {
                guard case .enumeration(let allowed) = table.spec[i].kind else { preconditionFailure("field \(i) is an enumeration") }
                throw fail(" must be one of \(allowed.joined(separator: ", "))")
            }
        case .stringArray:
            guard tag == Value.Tag.array.rawValue else { throw fail(" must be an array of strings") }
            for _ in 0..<(try r.readCount()) {
                guard try r.readByte() == Value.Tag.string.rawValue else { throw fail(" must be an array of strings") }
                try readText(&r)
            }
        case .object:
            // The nested object starts at its tag, one byte back.
            let at = r.offset - 1
            let nested = try check(
                UnsafeRawBufferPointer(rebasing: raw[at...]), base: base + at, table: table.nested[Int(entry.nested)], wholePayload: false,
                context: { "\(context()): field \"\(table.spec[i].name)\"" })
            _ = try r.readBytes(nested.length - 1)
            return nested.offsets
        }
        return nil
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
        guard let i = table.index(of: key), offsets[i] >= 0 else { return nil }
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
        guard let i = table.index(of: key) else { return false }
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
        guard let i = table.index(of: key), offsets[i] >= 0, table.entry(i).code == .object else { return nil }
        let nested = table.nested[Int(table.entry(i).nested)]
        if i == nestedField { return PayloadFields(nestedIn: self, table: nested, offsets: nestedOffsets) }
        // Already checked as part of this payload: this cannot throw.
        return try? PayloadFields(bytes, borrowed, at: Int(offsets[i]), table: nested, wholePayload: false, context: { key })
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
