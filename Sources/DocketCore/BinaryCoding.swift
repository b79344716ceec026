/// Appends little-endian fixed-width integers, LEB128 varints and length-prefixed strings to a
/// growing byte array. The building block of every binary encoding in Docket.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func writeByte(_ b: UInt8) { bytes.append(b) }

    public mutating func writeBytes(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }

    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func writeZigzag(_ value: Int64) { writeVarint(zigzag(value)) }

    public mutating func writeFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Eight bytes, most significant first (UUID byte order).
    public mutating func writeBigEndian64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// A varint byte count followed by the UTF-8 bytes.
    public mutating func writeString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A varint byte count followed by the bytes.
    public mutating func writeLengthPrefixed(_ b: some Collection<UInt8>) {
        writeVarint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }
}

/// Reads what `BinaryWriter` writes from borrowed memory, checking every length against the bytes
/// that remain before it reads or allocates anything.
///
/// The reader does not own its memory: use it only inside the `withUnsafeBytes` (or LMDB
/// transaction) that lends the buffer.
public struct BinaryReader {
    public let buffer: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        self.offset = 0
    }

    public var remaining: Int { buffer.count - offset }
    public var isAtEnd: Bool { offset >= buffer.count }

    @inline(__always)
    public mutating func readByte() throws(CoreError) -> UInt8 {
        guard offset < buffer.count else { throw Self.truncated(offset) }
        defer { offset += 1 }
        return buffer[offset]
    }

    /// A varint; one-byte values (lengths, small counts, tags) take the inlined fast path.
    @inline(__always)
    public mutating func readVarint() throws(CoreError) -> UInt64 {
        if offset < buffer.count {
            let b = buffer.load(fromByteOffset: offset, as: UInt8.self)
            if b < 0x80 {
                offset += 1
                return UInt64(b)
            }
        }
        return try readLongVarint()
    }

    @inline(never)
    mutating func readLongVarint() throws(CoreError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try readByte()
            if shift == 63 && b > 1 {
                throw CoreError(.invalidValue, "varint overflows 64 bits at byte \(offset - 1)")
            }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    public mutating func readZigzag() throws(CoreError) -> Int64 { unzigzag(try readVarint()) }

    public mutating func readFixed64() throws(CoreError) -> UInt64 {
        guard remaining >= 8 else { throw Self.truncated(offset) }
        var v: UInt64 = 0
        withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + 8])) }
        offset += 8
        return UInt64(littleEndian: v)
    }

    /// A count of items that follow, each at least one byte long: anything larger than what
    /// remains is corrupt, and is refused before an array is reserved for it.
    @inline(__always)
    public mutating func readCount() throws(CoreError) -> Int {
        let n = try readVarint()
        guard n <= UInt64(remaining) else {
            throw CoreError(.truncated, "count \(n) exceeds the \(remaining) bytes that remain at byte \(offset)")
        }
        return Int(n)
    }

    @inline(__always)
    public mutating func readBytes(_ count: Int) throws(CoreError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw Self.truncated(offset) }
        let start = buffer.baseAddress.map { $0 + offset }
        offset += count
        return UnsafeRawBufferPointer(start: start, count: count)
    }

    @inline(__always)
    public mutating func readLengthPrefixed() throws(CoreError) -> UnsafeRawBufferPointer {
        try readBytes(try readCount())
    }

    public mutating func readString() throws(CoreError) -> String {
        let raw = try readLengthPrefixed()
        guard let s = utf8String(raw) else {
            throw CoreError(.invalidValue, "string ending at byte \(offset) is not valid UTF-8")
        }
        return s
    }

    @inline(never)
    private static func truncated(_ at: Int) -> CoreError {
        CoreError(.truncated, "input ends early at byte \(at)")
    }
}

/// The string these bytes encode, or nil when they are not valid UTF-8. ASCII (the common case
/// for names, ids and types) skips the generic validator, which dominated decoding profiles.
@inlinable
public func utf8String(_ raw: UnsafeRawBufferPointer) -> String? {
    if isASCII(raw) { return String(decoding: raw, as: UTF8.self) }
    return String(validating: raw, as: UTF8.self)
}

@inlinable
func isASCII(_ raw: UnsafeRawBufferPointer) -> Bool {
    let n = raw.count
    var i = 0
    while i + 8 <= n {
        if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
        i += 8
    }
    while i < n {
        if raw[i] >= 0x80 { return false }
        i += 1
    }
    return true
}

/// Whether `s` is all ASCII (`isASCII` of its bytes).
@inline(__always)
func isASCII(_ s: String) -> Bool {
    var s = s
    return s.withUTF8 { isASCII(UnsafeRawBufferPointer($0)) }
}

/// Whether `s` is exactly these UTF-8 bytes, compared eight bytes at a time without making a
/// `String` of them (what decoders do to match field names and interned text).
@inline(__always)
func utf8Equal(_ s: String, _ raw: UnsafeRawBufferPointer) -> Bool {
    // Lengths first: the count is stored, and most mismatches differ in length.
    guard s.utf8.count == raw.count else { return false }
    var s = s
    return s.withUTF8 { bytesEqual(UnsafeRawBufferPointer($0), raw) }
}

/// Whether two byte strings are equal, compared eight bytes at a time.
@inline(__always)
func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var i = 0
    while i + 8 <= a.count {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < a.count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
