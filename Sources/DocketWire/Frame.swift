public import DocketCore
public import NIOCore

/// What a frame carries. Requests go client → server; their answers reuse the request's id.
/// Numbers are part of the protocol (`Schemas/protocol.md`): never renumber.
public enum FrameType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    // Client → server.
    case hello = 0x01
    case auth = 0x02
    case append = 0x10
    case read = 0x11
    case command = 0x12
    case query = 0x13
    case subscribe = 0x14
    case credit = 0x15
    case unsubscribe = 0x16
    case status = 0x17
    case admin = 0x18
    case replicate = 0x19
    case replicateAck = 0x1A
    case chain = 0x1B
    case fence = 0x1C
    case appendEvents = 0x1D
    // Server → client.
    case welcome = 0x81
    case authenticated = 0x82
    case appended = 0x90
    case events = 0x91
    case commandResult = 0x92
    case queryResult = 0x93
    case subscribed = 0x94
    case replicating = 0x95
    case records = 0x96
    case statusResult = 0x97
    case adminResult = 0x98
    case chainResult = 0x99
    case fenceResult = 0x9A
    case error = 0xFF

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .auth: "AUTH"
        case .append: "APPEND"
        case .read: "READ"
        case .command: "COMMAND"
        case .query: "QUERY"
        case .subscribe: "SUBSCRIBE"
        case .credit: "CREDIT"
        case .unsubscribe: "UNSUBSCRIBE"
        case .status: "STATUS"
        case .admin: "ADMIN"
        case .replicate: "REPLICATE"
        case .replicateAck: "REPLICATE_ACK"
        case .chain: "CHAIN"
        case .fence: "FENCE"
        case .appendEvents: "APPEND_EVENTS"
        case .replicating: "REPLICATING"
        case .records: "RECORDS"
        case .chainResult: "CHAIN_RESULT"
        case .fenceResult: "FENCE_RESULT"
        case .welcome: "WELCOME"
        case .authenticated: "AUTHENTICATED"
        case .appended: "APPENDED"
        case .events: "EVENTS"
        case .commandResult: "COMMAND_RESULT"
        case .queryResult: "QUERY_RESULT"
        case .subscribed: "SUBSCRIBED"
        case .statusResult: "STATUS_RESULT"
        case .adminResult: "ADMIN_RESULT"
        case .error: "ERROR"
        }
    }

    /// Whether a client may send it.
    public var isRequest: Bool { rawValue < 0x80 }

    /// Whether its body is bytes of its own layout rather than one value (RECORDS:
    /// Replication.swift; APPEND_EVENTS: `ProposedEventCodec`).
    public var hasBinaryBody: Bool { self == .records || self == .appendEvents }
}

/// One protocol frame: `u32 length | u8 type | u32 request id | body`, big-endian, where the
/// length counts the bytes after itself and the body is one value in Docket's binary value
/// encoding (`Schemas/envelope.md` §4).
public struct Frame: Sendable, Hashable {
    public var type: FrameType
    public var requestID: UInt32
    public var body: Value
    /// The body of a frame type with a binary body (`FrameType.hasBinaryBody`); `body` is then null.
    public var binary: ByteBuffer?

    public init(_ type: FrameType, requestID: UInt32, body: Value = .object([])) {
        self.type = type
        self.requestID = requestID
        self.body = body
    }

    /// A frame with a binary body.
    public init(_ type: FrameType, requestID: UInt32, binary: ByteBuffer) {
        self.init(type, requestID: requestID, body: .null)
        self.binary = binary
    }

    /// Bytes of the length prefix.
    public static let lengthSize = 4
    /// Bytes after the length prefix that precede the body.
    public static let headerSize = 5
    /// The default largest frame (length field value) either side accepts: 4 MiB.
    public static let defaultMaximumLength = 4 << 20
    /// The largest frame a node accepts before the client has authenticated: HELLO and AUTH are a
    /// few dozen bytes, and a stranger must not make the node buffer megabytes per connection.
    public static let handshakeMaximumLength = 16 << 10
    /// The protocol version this build speaks.
    public static let protocolVersion: Int64 = 1
}

/// A frame-level protocol violation: the connection cannot continue.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case frameTooLarge = "frame-too-large"
        case frameTooShort = "frame-too-short"
        case unknownFrameType = "unknown-frame-type"
        case malformedBody = "malformed-body"
        /// A frame begun did not arrive whole in time (`FrameLimit.frameTimeout`).
        case frameTimeout = "frame-timeout"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The largest frame a connection accepts, which may change while it is open: a node takes only
/// small frames (`Frame.handshakeMaximumLength`) until the client has authenticated, then its
/// configured maximum. Shared by the connection's decoder and its protocol handler; read and
/// written on the connection's event loop only.
public final class FrameLimit: @unchecked Sendable {
    // @unchecked: confined to one event loop, as the pipeline's handlers are.
    public private(set) var bytes: Int
    /// Why it is what it is, for the error a longer frame gets ("before authentication").
    public private(set) var reason: String?
    /// How long a frame may take to arrive whole once its first bytes have (nil: as long as it
    /// likes): a peer that trickles a large frame a byte at a time, which keeps the connection
    /// from going idle, or stops halfway, holds the bytes buffered for it no longer than this
    /// (`frame-timeout`). The decoder checks it as bytes arrive, its receiver on a timer.
    public let frameTimeout: TimeAmount?
    /// Bytes on the wire (length prefix included) of the frame the decoder passed on last: what
    /// its receiver charges a request it holds (read on the event loop as the frame arrives).
    public internal(set) var lastFrameLength = 0
    /// When the frame being received began to arrive (as far as the decoder saw), if one is;
    /// moved later by the time its receiver was not reading.
    var frameStartedAt: NIODeadline?
    /// Since when its receiver has not been reading (`pauseFrameClock`), if it is not.
    private var pausedAt: NIODeadline?

    public init(_ bytes: Int, reason: String? = nil, frameTimeout: TimeAmount? = nil) {
        self.bytes = bytes
        self.reason = reason
        // (Zero or less: none, rather than a deadline every frame has missed.)
        self.frameTimeout = frameTimeout.flatMap { $0 > .zero ? $0 : nil }
    }

    /// The receiver stopped reading (its peer was not taking its answers): until it resumes, the
    /// frame's bytes wait in the kernel, and that time is not the peer's.
    public func pauseFrameClock() {
        if pausedAt == nil { pausedAt = .now() }
    }

    /// The receiver reads again: the frame being received is given the time it waited.
    public func resumeFrameClock() {
        guard let paused = pausedAt else { return }
        pausedAt = nil
        if let started = frameStartedAt { frameStartedAt = started + (.now() - paused) }
    }

    /// Whether a frame begun has taken longer than `frameTimeout` to arrive, its receiver reading.
    public var frameOverdue: Bool {
        guard let timeout = frameTimeout, let started = frameStartedAt, pausedAt == nil else { return false }
        return NIODeadline.now() - started > timeout
    }

    /// No frame is being received any more (the connection is closing): nothing is overdue.
    public func endFrameClock() {
        frameStartedAt = nil
    }

    /// What a peer whose frame is overdue is told.
    public var frameTimeoutMessage: String {
        let ns = (frameTimeout ?? .zero).nanoseconds
        let within = ns % 1_000_000_000 == 0 ? "\(ns / 1_000_000_000) s" : "\(ns / 1_000_000) ms"
        return "a frame did not arrive whole within \(within) of its first bytes: send each frame at once"
    }

    /// Lifts the limit to `bytes` (the connection has authenticated).
    public func raise(to bytes: Int) {
        self.bytes = max(self.bytes, bytes)
        reason = nil
    }
}

/// Splits a byte stream into frames. An explicit two-state machine: waiting for a length, then
/// for that many bytes. The length is checked against the maximum before anything is buffered
/// for the body, so a hostile length cannot make the peer allocate.
public struct FrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = Frame

    enum State: Sendable, Hashable {
        case length
        case body(length: Int)
    }

    private(set) var state = State.length
    private let limit: FrameLimit
    public var maximumLength: Int { limit.bytes }

    public init(maximumLength: Int = Frame.defaultMaximumLength) {
        limit = FrameLimit(maximumLength)
    }

    /// A decoder whose maximum is `limit`'s at each frame.
    public init(limit: FrameLimit) {
        self.limit = limit
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try decodeFrame(&buffer) else {
            try checkProgress(buffered: buffer.readableBytes)
            return .needMoreData
        }
        limit.frameStartedAt = nil
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at EOF is dropped: the peer went away mid-frame (or the connection is
        // being closed), and is not told it was slow.
        guard let frame = try decodeFrame(&buffer) else {
            limit.endFrameClock()
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// With a frame timeout, a frame begun (`buffered` bytes of it past its length, or the first
    /// bytes of its length) must have arrived whole within it.
    private func checkProgress(buffered: Int) throws(WireError) {
        guard limit.frameTimeout != nil else { return }
        let begun = if case .body = state { true } else { buffered > 0 }
        guard begun else {
            limit.frameStartedAt = nil
            return
        }
        guard limit.frameStartedAt != nil else {
            limit.frameStartedAt = .now()
            return
        }
        if limit.frameOverdue { throw WireError(.frameTimeout, limit.frameTimeoutMessage) }
    }

    /// What a huge "length" most likely is when it is another protocol's first bytes: a TLS record
    /// (one side speaks TLS and the other does not) or HTTP (not a Docket node at all).
    static func foreignProtocolHint(_ length: UInt32) -> String {
        let b = withUnsafeBytes(of: length.bigEndian) { Array($0) }
        if (0x14...0x17).contains(b[0]), b[1] == 0x03 {
            return " (these bytes are a TLS record: one side speaks TLS and the other does not — a node started with --tls-cert needs clients with --tls)"
        }
        if ["HTTP", "GET ", "POST", "HEAD", "PUT "].contains(String(decoding: b, as: UTF8.self)) {
            return " (these bytes are HTTP: the peer is not a Docket node)"
        }
        return ""
    }

    /// One step of the state machine on `buffer`; nil when more bytes are needed.
    public mutating func decodeFrame(_ buffer: inout ByteBuffer) throws(WireError) -> Frame? {
        while true {
            switch state {
            case .length:
                guard let length = buffer.readInteger(as: UInt32.self) else { return nil }
                guard Int(length) <= limit.bytes else {
                    throw WireError(
                        .frameTooLarge,
                        "frame length \(length) exceeds the maximum of \(limit.bytes) bytes\(limit.reason.map { " \($0)" } ?? "")\(Self.foreignProtocolHint(length))")
                }
                guard Int(length) >= Frame.headerSize + 1 else {
                    throw WireError(.frameTooShort, "frame length \(length) is shorter than a header and an empty body (\(Frame.headerSize + 1) bytes)")
                }
                state = .body(length: Int(length))
            case .body(let length):
                guard var slice = buffer.readSlice(length: length) else { return nil }
                state = .length
                limit.lastFrameLength = Frame.lengthSize + length
                let typeByte = slice.readInteger(as: UInt8.self)!
                let requestID = slice.readInteger(as: UInt32.self)!
                guard let type = FrameType(rawValue: typeByte) else {
                    throw WireError(.unknownFrameType, "unknown frame type 0x\(String(typeByte, radix: 16)) (request \(requestID))")
                }
                // Its layout is checked by whoever reads it (RecordsBody), within these bytes.
                if type.hasBinaryBody { return Frame(type, requestID: requestID, binary: slice) }
                let body = try slice.withUnsafeReadableBytes { raw in
                    Result { () throws(CoreError) -> Value in
                        var r = BinaryReader(raw)
                        let v = try Value.decode(from: &r)
                        guard r.isAtEnd else { throw CoreError(.invalidValue, "\(r.remaining) bytes after the body value") }
                        return v
                    }
                }.mapError { WireError(.malformedBody, "\(type) frame (request \(requestID)): \($0.message)") }.get()
                return Frame(type, requestID: requestID, body: body)
            }
        }
    }
}

/// Writes frames.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        Self.write(frame, to: &out)
    }

    /// Appends `frame`'s bytes to `out`.
    public static func write(_ frame: Frame, to out: inout ByteBuffer) {
        if var binary = frame.binary {
            out.reserveCapacity(minimumWritableBytes: Frame.lengthSize + Frame.headerSize + binary.readableBytes)
            out.writeInteger(UInt32(Frame.headerSize + binary.readableBytes))
            out.writeInteger(frame.type.rawValue)
            out.writeInteger(frame.requestID)
            out.writeBuffer(&binary)
            return
        }
        var w = BinaryWriter(capacity: 64)
        frame.body.encode(into: &w)
        out.reserveCapacity(minimumWritableBytes: Frame.lengthSize + Frame.headerSize + w.bytes.count)
        out.writeInteger(UInt32(Frame.headerSize + w.bytes.count))
        out.writeInteger(frame.type.rawValue)
        out.writeInteger(frame.requestID)
        out.writeBytes(w.bytes)
    }

    /// `frame` as bytes.
    public static func bytes(_ frame: Frame) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        write(frame, to: &buffer)
        return Array(buffer.readableBytesView)
    }
}
