/// A self-describing payload value: what JSON can say, with integers kept apart from doubles and
/// object keys kept in the order they were written.
///
/// Event payloads are stored in a compact binary form of this type (see `Schemas/envelope.md`),
/// never as JSON text; JSON is only an input and output format for people and scripts.
public enum Value: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([Value])
    /// Key order is preserved; keys are unique (the JSON parser rejects duplicates).
    case object([(key: String, value: Value)])

    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .int(let i): hasher.combine(2); hasher.combine(i)
        case .double(let d): hasher.combine(3); hasher.combine(d)
        case .string(let s): hasher.combine(4); hasher.combine(s)
        case .array(let a): hasher.combine(5); hasher.combine(a)
        case .object(let o):
            hasher.combine(6)
            hasher.combine(o.count)
            for (k, v) in o { hasher.combine(k); hasher.combine(v) }
        }
    }

    /// The member named `key` of an object, or nil.
    public subscript(key: String) -> Value? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [Value]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .object(elements.map { (key: $0.0, value: $0.1) })
    }
}

// MARK: - Binary encoding

extension Value {
    /// Tags of the binary encoding; documented in `Schemas/envelope.md`. Never renumber.
    @usableFromInline enum Tag: UInt8 {
        case null = 0, `false` = 1, `true` = 2, int = 3, double = 4, string = 5, array = 6, object = 7
    }

    /// Deepest nesting accepted when decoding, so hostile input cannot exhaust the stack.
    public static let maximumDepth = 64

    /// Appends the binary encoding of this value.
    public func encode(into writer: inout BinaryWriter) {
        switch self {
        case .null: writer.writeByte(Tag.null.rawValue)
        case .bool(let b): writer.writeByte(b ? Tag.true.rawValue : Tag.false.rawValue)
        case .int(let i):
            writer.writeByte(Tag.int.rawValue)
            writer.writeVarint(zigzag(i))
        case .double(let d):
            writer.writeByte(Tag.double.rawValue)
            writer.writeFixed64(d.bitPattern)
        case .string(let s):
            writer.writeByte(Tag.string.rawValue)
            writer.writeString(s)
        case .array(let a):
            writer.writeByte(Tag.array.rawValue)
            writer.writeVarint(UInt64(a.count))
            for v in a { v.encode(into: &writer) }
        case .object(let o):
            writer.writeByte(Tag.object.rawValue)
            writer.writeVarint(UInt64(o.count))
            for (k, v) in o {
                writer.writeString(k)
                v.encode(into: &writer)
            }
        }
    }

    /// Decodes one value from `reader`.
    public static func decode(from reader: inout BinaryReader, depth: Int = 0) throws(CoreError) -> Value {
        guard depth < maximumDepth else {
            throw CoreError(.invalidValue, "payload nests deeper than \(maximumDepth) levels")
        }
        let tagByte = try reader.readByte()
        guard let tag = Tag(rawValue: tagByte) else {
            throw CoreError(.invalidValue, "unknown value tag \(tagByte) at byte \(reader.offset - 1)")
        }
        switch tag {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .int: return .int(unzigzag(try reader.readVarint()))
        case .double: return .double(Double(bitPattern: try reader.readFixed64()))
        case .string: return .string(try reader.readString())
        case .array:
            let count = try reader.readCount()
            var items: [Value] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try decode(from: &reader, depth: depth + 1)) }
            return .array(items)
        case .object:
            let count = try reader.readCount()
            var members: [(key: String, value: Value)] = []
            members.reserveCapacity(count)
            for _ in 0..<count {
                let key = try reader.readString()
                members.append((key: key, value: try decode(from: &reader, depth: depth + 1)))
            }
            return .object(members)
        }
    }
}

extension Value {
    /// Checks that `reader` holds one well-formed value (tags, lengths, UTF-8, depth) and moves
    /// past it, without building it: what replay does for every stored payload.
    /// `limit` is the depth every value must stay under (`maximumDepth`, or less where the value
    /// is to be carried inside another).
    public static func skip(from reader: inout BinaryReader, depth: Int = 0, limit: Int = maximumDepth) throws(CoreError) {
        guard depth < limit else {
            // (Past a limit of its own, counted as containers around a value: a payload for the
            // network may have 60, `Payload.maximumNetworkDepth`.)
            throw CoreError(.invalidValue, limit == maximumDepth ? "payload nests deeper than \(maximumDepth) levels" : "payload nests more than \(limit - 1) levels")
        }
        let tagByte = try reader.readByte()
        guard let tag = Tag(rawValue: tagByte) else {
            throw CoreError(.invalidValue, "unknown value tag \(tagByte) at byte \(reader.offset - 1)")
        }
        switch tag {
        case .null, .false, .true: return
        case .int: _ = try reader.readVarint()
        case .double: _ = try reader.readFixed64()
        case .string: try skipString(&reader)
        case .array:
            let count = try reader.readCount()
            for _ in 0..<count { try skip(from: &reader, depth: depth + 1, limit: limit) }
        case .object:
            let count = try reader.readCount()
            for _ in 0..<count {
                try skipString(&reader)
                try skip(from: &reader, depth: depth + 1, limit: limit)
            }
        }
    }

    private static func skipString(_ reader: inout BinaryReader) throws(CoreError) {
        let raw = try reader.readLengthPrefixed()
        guard isASCII(raw) || String(validating: raw, as: UTF8.self) != nil else {
            throw CoreError(.invalidValue, "string ending at byte \(reader.offset) is not valid UTF-8")
        }
    }
}

@inlinable func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
@inlinable func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }
