import DocketCore
import DocketTestSupport
import Testing

// The binary `Value` encoding (payloads) and the `BinaryWriter`/`BinaryReader` it is built on.
// The helpers at the bottom of this file (`expectCoreError`, `identical`,
// `ValueGenerator`, byte-level encode/decode) are shared by the other DocketCore test files.

@Suite("Value binary coding")
struct ValueCodingTests {

    // MARK: Golden encodings — one per tag, plus varint/zigzag boundaries

    struct Golden: Sendable, CustomTestStringConvertible {
        let name: String
        let value: Value
        let bytes: [UInt8]
        var testDescription: String { name }
    }

    static let golden: [Golden] = [
        Golden(name: "null", value: .null, bytes: [0]),
        Golden(name: "false", value: .bool(false), bytes: [1]),
        Golden(name: "true", value: .bool(true), bytes: [2]),
        Golden(name: "int 0", value: .int(0), bytes: [3, 0x00]),
        Golden(name: "int -1", value: .int(-1), bytes: [3, 0x01]),
        Golden(name: "int 1", value: .int(1), bytes: [3, 0x02]),
        Golden(name: "int 63 (largest one-byte)", value: .int(63), bytes: [3, 0x7E]),
        Golden(name: "int -64 (smallest one-byte)", value: .int(-64), bytes: [3, 0x7F]),
        Golden(name: "int 64", value: .int(64), bytes: [3, 0x80, 0x01]),
        Golden(name: "int -65", value: .int(-65), bytes: [3, 0x81, 0x01]),
        Golden(name: "int 8191 (largest two-byte)", value: .int(8191), bytes: [3, 0xFE, 0x7F]),
        Golden(name: "int 8192", value: .int(8192), bytes: [3, 0x80, 0x80, 0x01]),
        Golden(
            name: "int Int64.max", value: .int(.max),
            bytes: [3, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        Golden(
            name: "int Int64.min", value: .int(.min),
            bytes: [3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        Golden(name: "double 1.5", value: .double(1.5), bytes: [4, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]),
        Golden(name: "double -0.0", value: .double(-0.0), bytes: [4, 0, 0, 0, 0, 0, 0, 0, 0x80]),
        Golden(name: "empty string", value: "", bytes: [5, 0]),
        Golden(name: "ascii string", value: "ab", bytes: [5, 2, 0x61, 0x62]),
        Golden(name: "two-byte UTF-8", value: "é", bytes: [5, 2, 0xC3, 0xA9]),
        Golden(name: "embedded NUL", value: "a\u{0}b", bytes: [5, 3, 0x61, 0x00, 0x62]),
        Golden(name: "empty array", value: [], bytes: [6, 0]),
        Golden(name: "array", value: [1, nil, "x"], bytes: [6, 3, 3, 2, 0, 5, 1, 0x78]),
        Golden(name: "empty object", value: .object([]), bytes: [7, 0]),
        Golden(name: "object keeps key order", value: ["b": 1, "a": true], bytes: [7, 2, 1, 0x62, 3, 2, 1, 0x61, 2]),
        Golden(name: "object with empty key", value: ["": nil], bytes: [7, 1, 0, 0]),
    ]

    @Test("encodes to the documented bytes and decodes back", arguments: golden)
    func goldenEncoding(_ g: Golden) throws {
        #expect(encodeValue(g.value) == g.bytes)
        #expect(Payload(g.value).bytes == g.bytes)
        let decoded = try decodeWhole(g.bytes)
        #expect(identical(decoded, g.value), "decoded \(decoded)")
    }

    // MARK: Integers

    static let integers: [Int64] = {
        var values: [Int64] = [0, 1, -1, 2, -2, 63, -64, 64, -65, 127, -128, 128, 255, 256, 8191, -8192, 8192, -8193]
        values += [Int64(Int32.max), Int64(Int32.min), Int64(UInt32.max), 1 << 62, -(1 << 62), (1 << 62) - 1]
        values += [.max, .min, .max - 1, .min + 1]
        // Every power-of-two boundary where the zigzag varint grows by a byte.
        for bits in stride(from: 6, to: 63, by: 7) {
            let edge = Int64(1) << bits
            values += [edge - 1, edge, -edge, -edge - 1]
        }
        return values
    }()

    @Test("integers round trip", arguments: integers)
    func integerRoundTrip(_ i: Int64) throws {
        let bytes = encodeValue(.int(i))
        #expect(bytes.first == 3)
        #expect(try decodeWhole(bytes) == .int(i))
        // A varint never exceeds ten bytes (plus the tag).
        #expect(bytes.count <= 11)
    }

    static let zigzagCases: [(Int64, UInt64)] = [
        (0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4),
        (.max, .max - 1), (.min, .max), (Int64(Int32.max), UInt64(UInt32.max) - 1),
    ]

    @Test(
        "zigzag maps small magnitudes to small codes",
        arguments: zigzagCases)
    func zigzagMapping(_ signed: Int64, _ code: UInt64) throws {
        var w = BinaryWriter()
        w.writeZigzag(signed)
        var plain = BinaryWriter()
        plain.writeVarint(code)
        #expect(w.bytes == plain.bytes)
        let back = try withReader(w.bytes) { (r: inout BinaryReader) throws(CoreError) in try r.readZigzag() }
        #expect(back == signed)
    }

    @Test("an int and a double of the same magnitude are different values")
    func intIsNotDouble() {
        #expect(Value.int(1) != Value.double(1))
        #expect(encodeValue(.int(1)) != encodeValue(.double(1)))
    }

    // MARK: Doubles — compared by bit pattern, since NaN != NaN and -0.0 == 0.0

    static let doubles: [Double] = [
        0, -0.0, 1, -1, 0.1, .pi, -.pi, 1e300, -1e-300,
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude,  // smallest subnormal
        .leastNormalMagnitude, .leastNormalMagnitude.nextDown,  // largest subnormal
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .infinity, -.infinity,
        .nan, -.nan, .signalingNaN,
        Double(bitPattern: 0x7FF8_0000_DEAD_BEEF),  // NaN with a payload
        Double(bitPattern: 0x4340_0000_0000_0001),  // 2^53 + 2, first double past exact integers
    ]

    @Test("doubles round trip bit for bit, including NaN payloads, infinities and subnormals", arguments: doubles)
    func doubleRoundTrip(_ d: Double) throws {
        let bytes = encodeValue(.double(d))
        #expect(bytes.count == 9)
        #expect(bytes.first == 4)
        // Little-endian IEEE 754 bits after the tag.
        var bits: UInt64 = 0
        for (i, b) in bytes.dropFirst().enumerated() { bits |= UInt64(b) << (8 * UInt64(i)) }
        #expect(bits == d.bitPattern)
        let decoded = try decodeWhole(bytes)
        guard case .double(let back) = decoded else {
            Issue.record("decoded \(decoded), not a double")
            return
        }
        #expect(back.bitPattern == d.bitPattern)
    }

    @Test("Value equality follows Double: NaN is unequal to itself, -0.0 equals 0.0")
    func doubleEqualitySemantics() {
        #expect(Value.double(.nan) != Value.double(.nan))
        #expect(Value.double(-0.0) == Value.double(0.0))
        #expect(Value.double(-0.0).hashValue == Value.double(0.0).hashValue)
        // Payloads compare bytes, so they disagree with Value equality on exactly these cases.
        #expect(Payload(.double(-0.0)) != Payload(.double(0.0)))
        #expect(Payload(.double(.nan)) == Payload(.double(.nan)))
    }

    // MARK: Strings

    static let strings: [String] = [
        "", "a", "hello, world", "héllo", "日本語", "🙂", "👩‍👩‍👧‍👦", "a\u{0}b", "\u{0}", "\u{0}\u{0}\u{0}",
        "\u{7F}\u{80}\u{FFFF}\u{10FFFF}", "line\nbreak\ttab\r", "\"quoted\" \\ back",
        "e\u{301}",  // decomposed é: must keep its bytes, not be normalised
        String(repeating: "x", count: 127), String(repeating: "x", count: 128),  // varint length boundary
        String(repeating: "é", count: 10_000),
    ]

    @Test("strings round trip with their exact UTF-8 bytes", arguments: strings)
    func stringRoundTrip(_ s: String) throws {
        let bytes = encodeValue(.string(s))
        let decoded = try decodeWhole(bytes)
        #expect(identical(decoded, .string(s)))
        #expect(decoded.stringValue.map { Array($0.utf8) } == Array(s.utf8))
    }

    @Test("canonically equivalent strings are equal Values but keep different bytes")
    func canonicalEquivalence() throws {
        let composed = Value.string("\u{E9}")
        let decomposed = Value.string("e\u{301}")
        #expect(composed == decomposed)  // Swift String equality
        #expect(Payload(composed) != Payload(decomposed))
        #expect(try decodeWhole(encodeValue(decomposed)).stringValue.map { Array($0.utf8) } == [0x65, 0xCC, 0x81])
    }

    // MARK: Arrays and objects

    @Test("arrays and nested objects round trip with key order preserved")
    func containers() throws {
        let value: Value = [
            "zeta": [1, 2.5, "three", nil, true, [], .object([])],
            "alpha": ["nested": ["deeper": ["k": "v"]], "list": [["a": 1], ["b": 2]]],
            "": "empty key",
            "ключ": "unicode key",
            "mid": .object([(key: "3", value: 3), (key: "1", value: 1), (key: "2", value: 2)]),
        ]
        let decoded = try decodeWhole(encodeValue(value))
        #expect(identical(decoded, value))
        guard case .object(let members) = decoded else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["zeta", "alpha", "", "ключ", "mid"])
        guard case .object(let mid) = decoded["mid"] else {
            Issue.record("mid is not an object")
            return
        }
        #expect(mid.map(\.key) == ["3", "1", "2"])
    }

    @Test("objects with the same members in a different order are different values")
    func objectOrderMatters() {
        let ab: Value = ["a": 1, "b": 2]
        let ba: Value = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(Payload(ab) != Payload(ba))
    }

    @Test("a large array round trips")
    func largeArray() throws {
        let value = Value.array((0..<5_000).map { .int(Int64($0) * 7919 - 1_000_000) })
        #expect(try decodeWhole(encodeValue(value)) == value)
    }

    @Test("the binary decoder does not check key uniqueness (only the JSON parser does)")
    func duplicateKeysDecode() throws {
        let value = Value.object([(key: "a", value: 1), (key: "a", value: 2)])
        let decoded = try decodeWhole(encodeValue(value))
        #expect(identical(decoded, value))
        #expect(decoded["a"] == 1)  // subscript finds the first
    }

    // MARK: Accessors and literals

    @Test("accessors and literals")
    func accessors() {
        let v: Value = ["s": "x", "i": 7, "b": false, "a": [nil], "d": 1.25, "n": nil]
        #expect(v["s"]?.stringValue == "x")
        #expect(v["i"]?.intValue == 7)
        #expect(v["b"]?.boolValue == false)
        #expect(v["a"]?.arrayValue == [.null])
        #expect(v["d"] == .double(1.25))
        #expect(v["n"] == .null)
        #expect(v["missing"] == nil)
        #expect(Value.array([1])["s"] == nil)
        #expect(Value.int(1).stringValue == nil)
        #expect(Value.string("1").intValue == nil)
        #expect(Value.null.boolValue == nil)
        #expect(Value.null.arrayValue == nil)
    }

    // MARK: Depth limit

    @Test("the depth limit is 64 nested containers", arguments: ["array", "object"])
    func depthLimit(_ kind: String) throws {
        #expect(Value.maximumDepth == 64)
        let container: (Value) -> Value = kind == "array" ? { .array([$0]) } : { .object([(key: "k", value: $0)]) }
        let empty: Value = kind == "array" ? .array([]) : .object([])

        // 64 containers, the innermost empty: nothing sits at depth 64.
        let deepest = nested(63, around: empty, container)
        #expect(try decodeWhole(encodeValue(deepest)) == deepest)
        // 63 containers around a scalar: the scalar is at depth 63.
        let scalarAt63 = nested(63, around: .int(1), container)
        #expect(try decodeWhole(encodeValue(scalarAt63)) == scalarAt63)

        for tooDeep in [nested(64, around: empty, container), nested(64, around: .null, container)] {
            expectCoreError(.invalidValue, "payload nests deeper than 64 levels") {
                _ = try decodeWhole(encodeValue(tooDeep))
            }
        }
    }

    @Test("hostile nesting is refused at the limit without exhausting the stack")
    func hostileNesting() {
        // 200,000 levels of "array of one", each two bytes: recursion must stop at 64.
        var bytes: [UInt8] = []
        for _ in 0..<200_000 { bytes += [6, 1] }
        bytes.append(0)
        expectCoreError(.invalidValue, "nests deeper than 64") { _ = try decodeWhole(bytes) }
    }

    // MARK: Malformed input

    /// A value touching every tag and every multi-byte field, used for the prefix tests.
    static let rich: Value = [
        "id": 12_345_678_901, "neg": -300, "min": .int(.min), "pi": 3.141592653589793, "ok": true, "no": false,
        "nothing": nil, "name": "Zoë 🙂", "list": [1, [2, [3, []]], "x", .object([])],
        "nested": ["a": ["b": ["c": "deep"]]], String(repeating: "k", count: 130): "long key",
    ]

    @Test("every proper prefix of an encoding is refused as truncated, never a crash")
    func everyPrefixIsTruncated() throws {
        let bytes = encodeValue(Self.rich)
        #expect(try decodeWhole(bytes) == Self.rich)
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            let error = #expect(throws: CoreError.self, "prefix of \(length) bytes") { _ = try decodeFirst(prefix) }
            #expect(error?.code == .truncated, "prefix of \(length) bytes: \(String(describing: error))")
            #expect(throws: CoreError.self) { _ = try Payload(validating: prefix) }
        }
    }

    @Test("empty input is truncated at byte 0")
    func emptyInput() {
        expectCoreError(.truncated, "input ends early at byte 0") { _ = try decodeFirst([]) }
    }

    @Test("bytes after one value: the reader stops, a payload refuses them")
    func trailingBytes() throws {
        let bytes = encodeValue(["a": 1]) + [0, 0]
        let (value, consumed) = try decodeFirst(bytes)
        #expect(value == ["a": 1])
        #expect(consumed == bytes.count - 2)
        expectCoreError(.invalidValue, "2 bytes after the payload value") { _ = try Payload(validating: bytes) }
        expectCoreError(.invalidValue, "1 byte after the payload value") { _ = try Payload(validating: [0, 0]) }
    }

    @Test(
        "unknown tags are refused with the tag and its offset",
        arguments: [
            ([UInt8(8)], "unknown value tag 8 at byte 0"),
            ([0xFF], "unknown value tag 255 at byte 0"),
            ([0x80], "unknown value tag 128 at byte 0"),
            ([6, 2, 0, 9], "unknown value tag 9 at byte 3"),
            ([7, 1, 1, 0x61, 42], "unknown value tag 42 at byte 4"),
        ])
    func unknownTags(_ bytes: [UInt8], _ message: String) {
        expectCoreError(.invalidValue, message) { _ = try decodeFirst(bytes) }
    }

    @Test(
        "invalid UTF-8 in strings and keys is refused",
        arguments: [
            [UInt8]([5, 1, 0xFF]),  // never valid
            [5, 1, 0x80],  // lone continuation byte
            [5, 2, 0xC3, 0x28],  // bad continuation
            [5, 1, 0xC3],  // sequence cut short inside the string
            [5, 2, 0xC0, 0xAF],  // overlong "/"
            [5, 3, 0xED, 0xA0, 0x80],  // UTF-16 surrogate D800 (CESU-8)
            [5, 4, 0xF4, 0x90, 0x80, 0x80],  // beyond U+10FFFF
            [7, 1, 1, 0xFE, 0],  // in an object key
            [6, 1, 5, 1, 0xFF],  // nested
        ])
    func invalidUTF8(_ bytes: [UInt8]) {
        expectCoreError(.invalidValue, "is not valid UTF-8") { _ = try decodeFirst(bytes) }
    }

    @Test("a bad byte is found at every position and alignment (ASCII fast path)", arguments: [1, 7, 8, 9, 15, 16, 17, 31, 64])
    func invalidUTF8EveryPosition(_ length: Int) throws {
        for position in 0..<length {
            for bad in [UInt8(0x80), 0xC3, 0xFF] {
                var text = [UInt8](repeating: 0x61, count: length)
                text[position] = bad
                var w = BinaryWriter()
                w.writeByte(5)
                w.writeLengthPrefixed(text)
                expectCoreError(.invalidValue, "is not valid UTF-8") { _ = try decodeFirst(w.bytes) }
            }
            // A valid two-byte scalar at the same place decodes to exactly those bytes.
            var text = [UInt8](repeating: 0x61, count: length + 1)
            text[position] = 0xC3
            text[position + 1] = 0xA9
            var w = BinaryWriter()
            w.writeByte(5)
            w.writeLengthPrefixed(text)
            #expect(try decodeWhole(w.bytes).stringValue.map { Array($0.utf8) } == text)
        }
    }

    @Test(
        "varints longer than 64 bits are refused",
        arguments: [
            [UInt8](arrayLiteral: 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02),  // bit 64 set
            [3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            [3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // 11 bytes
            [6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // as an array count
        ])
    func varintOverflow(_ bytes: [UInt8]) {
        expectCoreError(.invalidValue, "varint overflows 64 bits at byte 10") { _ = try decodeFirst(bytes) }
    }

    @Test("the largest varint (ten bytes, last byte 1) is accepted")
    func largestVarint() throws {
        #expect(try decodeWhole([3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) == .int(.min))
    }

    @Test("non-minimal varints are accepted and decode to the same value (so payload bytes are not canonical)")
    func overlongVarint() throws {
        let overlong: [UInt8] = [3, 0x82, 0x80, 0x00]  // 1 in three bytes
        #expect(try decodeWhole(overlong) == .int(1))
        let validated = try Payload(validating: overlong)
        #expect(validated.value == Payload(.int(1)).value)
        #expect(validated != Payload(.int(1)))
    }

    @Test(
        "counts and lengths beyond the remaining bytes are refused before allocating",
        arguments: [
            ([UInt8](arrayLiteral: 6, 5, 0), "count 5 exceeds the 1 bytes that remain at byte 2"),
            ([5, 4, 0x61], "count 4 exceeds the 1 bytes that remain at byte 2"),
            ([6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "count 18446744073709551615 exceeds the 0 bytes"),
            ([5, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "count 4294967295 exceeds the 0 bytes"),
        ])
    func oversizedCounts(_ bytes: [UInt8], _ message: String) {
        let error = #expect(throws: CoreError.self) { _ = try decodeFirst(bytes) }
        #expect(error?.code == .truncated)
        #expect(error?.message.contains(message) == true, "\(String(describing: error?.message))")
    }

    // MARK: Generated values

    @Test("2,000 generated values round trip bit for bit through the binary encoding")
    func generatedRoundTrip() throws {
        var generator = ValueGenerator(seed: 0xD0C_4E7, allowNonFinite: true)
        for n in 0..<2_000 {
            let value = generator.value()
            let bytes = encodeValue(value)
            let decoded = try decodeWhole(bytes)
            #expect(identical(decoded, value), "value #\(n): \(value)")
            // Deterministic: encoding the decoded value gives the same bytes.
            #expect(encodeValue(decoded) == bytes)
        }
    }

    // MARK: BinaryWriter / BinaryReader

    static let varintLengthCases: [(UInt64, Int)] = [
        (0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (UInt64(UInt32.max), 5),
        ((1 << 56) - 1, 8), (1 << 56, 9), ((1 << 63) - 1, 9), (1 << 63, 10), (.max, 10),
    ]

    @Test(
        "varints use the fewest bytes",
        arguments: varintLengthCases)
    func varintLengths(_ v: UInt64, _ length: Int) throws {
        var w = BinaryWriter()
        w.writeVarint(v)
        #expect(w.bytes.count == length)
        #expect(w.bytes.last! < 0x80)
        #expect(w.bytes.dropLast().allSatisfy { $0 >= 0x80 })
        let back = try withReader(w.bytes) { (r: inout BinaryReader) throws(CoreError) in
            let v = try r.readVarint()
            #expect(r.isAtEnd)
            return v
        }
        #expect(back == v)
    }

    @Test("fixed-width integers: little-endian and big-endian")
    func fixedWidth() throws {
        var w = BinaryWriter()
        w.writeFixed64(0x0102_0304_0506_0708)
        w.writeBigEndian64(0x0102_0304_0506_0708)
        #expect(w.bytes == [8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8])
        let first = try withReader(w.bytes) { (r: inout BinaryReader) throws(CoreError) in
            let v = try r.readFixed64()
            #expect(r.offset == 8)
            #expect(r.remaining == 8)
            return v
        }
        #expect(first == 0x0102_0304_0506_0708)
        expectCoreError(.truncated, "input ends early at byte 0") {
            _ = try withReader([1, 2, 3, 4, 5, 6, 7]) { (r: inout BinaryReader) throws(CoreError) in try r.readFixed64() }
        }
    }

    @Test("length-prefixed bytes and strings; reads past the end are refused")
    func lengthPrefixed() throws {
        var w = BinaryWriter()
        w.writeLengthPrefixed([9, 8, 7])
        w.writeString("hé")
        w.writeBytes([0xAA])
        #expect(w.bytes == [3, 9, 8, 7, 3, 0x68, 0xC3, 0xA9, 0xAA])
        let read = try withReader(w.bytes) { (r: inout BinaryReader) throws(CoreError) in
            let bytes = Array(try r.readLengthPrefixed())
            let string = try r.readString()
            let last = Array(try r.readBytes(1))
            let atEnd = r.isAtEnd
            let none = Array(try r.readBytes(0))
            return (bytes, string, last, atEnd, none)
        }
        #expect(read.0 == [9, 8, 7])
        #expect(read.1 == "hé")
        #expect(read.2 == [0xAA])
        #expect(read.3)
        #expect(read.4 == [])
        for count in [-1, 2] {
            expectCoreError(.truncated) {
                try withReader([1]) { (r: inout BinaryReader) throws(CoreError) in _ = try r.readBytes(count) }
            }
        }
        w.removeAll()
        #expect(w.bytes.isEmpty)
    }
}

// MARK: - Shared test helpers

/// Checks that `body` throws a `CoreError` with `code` whose message contains `fragment`.
@discardableResult
func expectCoreError(
    _ code: CoreError.Code, _ fragment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> CoreError? {
    let error = #expect(throws: CoreError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return nil }
    #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
    if let fragment {
        #expect(error.message.contains(fragment), "message: \(error.message)", sourceLocation: sourceLocation)
    }
    #expect(error.description == error.message, sourceLocation: sourceLocation)
    return error
}

func encodeValue(_ value: Value) -> [UInt8] {
    var w = BinaryWriter()
    value.encode(into: &w)
    return w.bytes
}

/// Runs `body` with a reader over `bytes`.
func withReader<R>(_ bytes: [UInt8], _ body: (inout BinaryReader) throws(CoreError) -> R) throws(CoreError) -> R {
    try bytes.withUnsafeBytes { raw in
        Result { () throws(CoreError) -> R in
            var r = BinaryReader(raw)
            return try body(&r)
        }
    }.get()
}

/// Decodes the first value in `bytes` and says how many bytes it took.
func decodeFirst(_ bytes: [UInt8]) throws(CoreError) -> (value: Value, consumed: Int) {
    try withReader(bytes) { (r: inout BinaryReader) throws(CoreError) in
        let v = try Value.decode(from: &r)
        return (v, r.offset)
    }
}

/// Decodes `bytes`, which must hold exactly one value.
func decodeWhole(_ bytes: [UInt8]) throws(CoreError) -> Value {
    try Payload(validating: bytes).value
}

/// `inner` wrapped in `levels` containers built by `wrap`.
func nested(_ levels: Int, around inner: Value, _ wrap: (Value) -> Value) -> Value {
    var v = inner
    for _ in 0..<levels { v = wrap(v) }
    return v
}

/// Strict structural identity: doubles by bit pattern, strings and keys by UTF-8 bytes (Value's
/// `==` follows Double and String semantics, which hide exactly the cases codecs get wrong).
func identical(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case let (.bool(x), .bool(y)): return x == y
    case let (.int(x), .int(y)): return x == y
    case let (.double(x), .double(y)): return x.bitPattern == y.bitPattern
    case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
    case let (.object(x), .object(y)):
        return x.count == y.count
            && zip(x, y).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && identical($0.value, $1.value) }
    default: return false
    }
}

/// Random `Value` trees biased toward edge cases: boundary integers, odd doubles, strings with
/// escapes and multi-byte scalars, empty and nested containers, unique keys in shuffled order.
struct ValueGenerator {
    var rng: SplitMix64
    /// Whether doubles may be NaN or infinite (the binary encoding keeps them; JSON cannot).
    var allowNonFinite: Bool
    var maximumDepth = 6

    init(seed: UInt64, allowNonFinite: Bool) {
        rng = SplitMix64(seed: seed)
        self.allowNonFinite = allowNonFinite
    }

    static let edgeInts: [Int64] = [0, 1, -1, 63, -64, 64, -65, 127, 128, .max, .min, .max - 1, .min + 1, 1 << 53, -(1 << 53)]
    static let edgeDoubles: [Double] = [
        0, -0.0, 0.5, -1.5, 1, 100, 1e16, 1e-7, 0.1, 1.0 / 3, .pi, 123_456.789, 1e300, -1e-300, .leastNonzeroMagnitude,
        .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 9_007_199_254_740_992,
    ]
    static let scalars: [Unicode.Scalar] = [
        "a", "z", "A", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{8}", "\u{C}", "\u{1F}",
        "\u{7F}", "\u{80}", "é", "ß", "€", "日", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{FFFD}", "🙂", "\u{10FFFF}", "\u{301}",
    ]

    mutating func int(_ upper: Int) -> Int { Int(rng.next() % UInt64(upper)) }

    mutating func string() -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<int(12) {
            if int(3) == 0 {
                s.append(Self.scalars[int(Self.scalars.count)])
            } else {
                s.append(Unicode.Scalar(UInt8(0x20 + int(0x5F))))
            }
        }
        return String(s)
    }

    mutating func double() -> Double {
        switch int(4) {
        case 0: return Self.edgeDoubles[int(Self.edgeDoubles.count)]
        case 1:
            let d = Double(bitPattern: rng.next())
            if d.isFinite || allowNonFinite { return d }
            return 0.25
        case 2: return Double(Int64(bitPattern: rng.next()) % 1_000_000) / 1000
        default:
            if allowNonFinite { return [Double.nan, .infinity, -.infinity][int(3)] }
            return -Double(int(1 << 20)) * 0x1p-10
        }
    }

    mutating func value(depth: Int = 0) -> Value {
        let choice = depth >= maximumDepth ? int(6) : int(9)
        switch choice {
        case 0: return .null
        case 1: return .bool(int(2) == 0)
        case 2: return .int(int(2) == 0 ? Self.edgeInts[int(Self.edgeInts.count)] : Int64(bitPattern: rng.next()))
        case 3: return .int(Int64(int(2001)) - 1000)
        case 4: return .double(double())
        case 5: return .string(string())
        case 6, 7:
            return .array((0..<int(5)).map { _ in value(depth: depth + 1) })
        default:
            var members: [(key: String, value: Value)] = []
            var seen = Set<[UInt8]>()
            for _ in 0..<int(5) {
                let key = string()
                // Unique by bytes *and* by String equality (the JSON parser dedupes with Set<String>).
                guard seen.insert(Array(key.utf8)).inserted, !members.contains(where: { $0.key == key }) else { continue }
                members.append((key: key, value: value(depth: depth + 1)))
            }
            return .object(members)
        }
    }
}
