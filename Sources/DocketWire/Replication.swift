public import DocketCore
public import NIOCore

// The replication messages (Schemas/protocol.md §17). A follower sends REPLICATE and then
// REPLICATE_ACK as it makes records durable; the leader answers REPLICATING and then pushes
// RECORDS frames, whose body is binary (raw records, not values). CHAIN answers chain tags so a
// follower can find where two copies part; FENCE tells a node that a higher epoch began.

/// The body of a RECORDS frame: consecutive records as the leader stores them.
///
/// ```
/// u64   first      sequence of the first record (for no records: the next sequence)
/// u32   n          number of records
/// u16   d          number of dictionaries
/// 32    last hash  the chain hash h(first + n − 1)
/// d ×   u16 version, u32 info length, info (UTF-8 JSON), u32 length, dictionary bytes
/// n ×   u32 length, record bytes
/// ```
/// All integers big-endian; nothing may follow the last record.
public struct RecordsBody: Sendable, Hashable {
    public struct Dictionary: Sendable, Hashable {
        public var version: UInt16
        public var info: String?
        public var bytes: [UInt8]

        public init(version: UInt16, info: String?, bytes: [UInt8]) {
            self.version = version
            self.info = info
            self.bytes = bytes
        }
    }

    public var first: UInt64
    public var lastHash: [UInt8]
    public var dictionaries: [Dictionary]
    /// The records back to back, and where each ends.
    public var bytes: [UInt8]
    public var ends: [Int]

    public init(first: UInt64, lastHash: [UInt8], dictionaries: [Dictionary], bytes: [UInt8], ends: [Int]) {
        self.first = first
        self.lastHash = lastHash
        self.dictionaries = dictionaries
        self.bytes = bytes
        self.ends = ends
    }

    public static let headerSize = 8 + 4 + 2 + 32
    /// The largest record a RECORDS frame carries: a 64 KiB envelope compresses to at most a
    /// little more, plus its header.
    public static let maximumRecordSize = 64 * 1024 + 1024
    /// The largest dictionary it carries.
    public static let maximumDictionarySize = 1 << 20

    /// Bytes the body takes on the wire.
    public var encodedSize: Int {
        Self.headerSize + dictionaries.reduce(0) { $0 + 10 + ($1.info?.utf8.count ?? 0) + $1.bytes.count } + 4 * ends.count + bytes.count
    }

    public func encode(into out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: encodedSize)
        out.writeInteger(first)
        out.writeInteger(UInt32(ends.count))
        out.writeInteger(UInt16(dictionaries.count))
        out.writeBytes(lastHash)
        for d in dictionaries {
            out.writeInteger(d.version)
            let info = Array((d.info ?? "").utf8)
            out.writeInteger(UInt32(info.count))
            out.writeBytes(info)
            out.writeInteger(UInt32(d.bytes.count))
            out.writeBytes(d.bytes)
        }
        var start = 0
        for end in ends {
            out.writeInteger(UInt32(end - start))
            out.writeBytes(bytes[start..<end])
            start = end
        }
    }

    public var frameBuffer: ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: encodedSize)
        encode(into: &b)
        return b
    }

    /// Reads a RECORDS body. Every count and length is checked against the bytes that remain
    /// before anything is allocated for it.
    public init(decoding buffer: ByteBuffer) throws(MessageError) {
        var b = buffer
        guard b.readableBytes >= Self.headerSize, let first = b.readInteger(as: UInt64.self), let n = b.readInteger(as: UInt32.self),
            let d = b.readInteger(as: UInt16.self), let hash = b.readBytes(length: 32)
        else { throw MessageError("RECORDS: the body is \(buffer.readableBytes) bytes, shorter than its \(Self.headerSize)-byte header") }
        guard Int(n) <= b.readableBytes / 5, Int(d) <= b.readableBytes / 10 else {
            throw MessageError("RECORDS: \(n) records and \(d) dictionaries cannot fit in \(b.readableBytes) bytes")
        }
        // (Numbering them must not overflow: a trap would end the follower's process.)
        guard n == 0 || UInt64(n) - 1 <= UInt64.max - first else {
            throw MessageError("RECORDS: \(n) records from sequence \(first) run past the largest sequence")
        }
        var dictionaries: [Dictionary] = []
        for _ in 0..<d {
            guard let version = b.readInteger(as: UInt16.self), version != 0, let infoLength = b.readInteger(as: UInt32.self),
                Int(infoLength) <= min(b.readableBytes, 4096), let info = b.readString(length: Int(infoLength)),
                let length = b.readInteger(as: UInt32.self), Int(length) <= min(b.readableBytes, Self.maximumDictionarySize),
                let bytes = b.readBytes(length: Int(length))
            else { throw MessageError("RECORDS: dictionary \(dictionaries.count + 1) of \(d) is malformed or truncated") }
            dictionaries.append(Dictionary(version: version, info: info.isEmpty ? nil : info, bytes: bytes))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(b.readableBytes - 4 * Int(n), 0))
        var ends: [Int] = []
        ends.reserveCapacity(Int(n))
        for i in 0..<n {
            guard let length = b.readInteger(as: UInt32.self), length > 0, Int(length) <= min(b.readableBytes, Self.maximumRecordSize) else {
                throw MessageError("RECORDS: record \(first + UInt64(i)) is empty, too large or truncated")
            }
            b.withUnsafeReadableBytes { bytes.append(contentsOf: $0.prefix(Int(length))) }
            b.moveReaderIndex(forwardBy: Int(length))
            ends.append(bytes.count)
        }
        guard b.readableBytes == 0 else { throw MessageError("RECORDS: \(b.readableBytes) bytes after the last record") }
        self.init(first: first, lastHash: hash, dictionaries: dictionaries, bytes: bytes, ends: ends)
    }
}

/// What a follower says when it asks to replicate (the REPLICATE body).
public struct ReplicateRequest: Sendable, Hashable {
    /// The follower's ledger id (it must be the leader's).
    public var ledger: String
    /// The follower's head: its last sequence and that record's chain hash (64 hex digits).
    public var head: UInt64
    public var hash: String
    /// The highest epoch the follower's log holds, and where that epoch's leader listens.
    public var epoch: UInt64
    public var epochLeader: String?
    /// The highest dictionary version the follower holds.
    public var dictionaries: UInt16
    /// Records the leader may send beyond the last one acknowledged.
    public var window: Int64
    /// The largest frame the follower accepts.
    public var maxFrame: Int64
    /// The follower's node id and the address it serves on, for the leader's status and logs.
    public var node: String?
    public var address: String?

    public init(
        ledger: String, head: UInt64, hash: String, epoch: UInt64, epochLeader: String?, dictionaries: UInt16, window: Int64, maxFrame: Int64,
        node: String?, address: String?
    ) {
        self.ledger = ledger
        self.head = head
        self.hash = hash
        self.epoch = epoch
        self.epochLeader = epochLeader
        self.dictionaries = dictionaries
        self.window = window
        self.maxFrame = maxFrame
        self.node = node
        self.address = address
    }

    public var wireValue: Value {
        var m: [(key: String, value: Value)] = [
            ("ledger", .string(ledger)), ("head", .int(Int64(bitPattern: head))), ("hash", .string(hash)),
            ("epoch", .int(Int64(bitPattern: epoch))),
        ]
        if let epochLeader { m.append(("epochLeader", .string(epochLeader))) }
        m += [("dictionaries", .int(Int64(dictionaries))), ("window", .int(window)), ("maxFrame", .int(maxFrame))]
        if let node { m.append(("node", .string(node))) }
        if let address { m.append(("address", .string(address))) }
        return .object(m)
    }

    public init(wire value: Value) throws(MessageError) {
        let b = try Body(value, "REPLICATE")
        let head = try b.int("head")
        let epoch = try b.optionalInt("epoch") ?? 0
        let dictionaries = try b.optionalInt("dictionaries") ?? 0
        guard head >= 0, epoch >= 0, (0...Int64(UInt16.max)).contains(dictionaries) else {
            throw MessageError("REPLICATE: \"head\", \"epoch\" and \"dictionaries\" must not be negative (and dictionaries at most 65535)")
        }
        let hash = try b.string("hash")
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw MessageError("REPLICATE: \"hash\" must be 64 lowercase hex digits")
        }
        let (epochLeader, node, address) = (try b.optionalString("epochLeader"), try b.optionalString("node"), try b.optionalString("address"))
        for (field, text) in [("epochLeader", epochLeader), ("node", node), ("address", address)] {
            if let text { try Self.checkName(text, field: field, in: "REPLICATE") }
        }
        self.init(
            ledger: try b.string("ledger"), head: UInt64(head), hash: hash, epoch: UInt64(epoch), epochLeader: epochLeader,
            dictionaries: UInt16(dictionaries), window: max(try b.optionalInt("window") ?? 65536, 1),
            maxFrame: max(try b.optionalInt("maxFrame") ?? Int64(Frame.defaultMaximumLength), 64 * 1024),
            node: node, address: address)
    }

    /// A node id or an address a peer gives, which the node logs, shows in its status and may
    /// record: at most 255 bytes, and nothing that could forge a log line or restyle a terminal.
    public static func checkName(_ text: String, field: String, in message: String) throws(MessageError) {
        guard text.utf8.count <= 255 else { throw MessageError("\(message): \"\(field)\" is longer than 255 bytes") }
        if let why = UntrustedText.refusal(text, field: "\"\(field)\"", multiLine: false) { throw MessageError("\(message): \(why)") }
    }
}

