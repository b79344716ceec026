import DocketCore
@testable import DocketWire
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite("Frame codec")
struct FrameCodecTests {
    static let samples: [Frame] = [
        Frame(.hello, requestID: 0, body: ["versions": [1], "client": "test"]),
        Frame(.append, requestID: 7, body: ["stream": "report/A", "events": [["type": "NoteAdded", "data": ["text": "héllo"]]]]),
        Frame(.status, requestID: UInt32.max),
        Frame(.error, requestID: 3, body: ErrorBody(code: "forbidden", message: "no").value),
    ]

    @Test("ByteToMessageDecoderVerifier: every split of the input decodes to the same frames")
    func verifier() throws {
        let pairs = Self.samples.map { frame -> (ByteBuffer, [Frame]) in
            (ByteBuffer(bytes: FrameEncoder.bytes(frame)), [frame])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs, decoderFactory: { FrameDecoder() })
    }

    @Test("frames split one byte at a time, and several merged in one read, decode in order")
    func splitAndMerged() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        var all: [UInt8] = []
        for f in Self.samples { all += FrameEncoder.bytes(f) }
        for b in all { try channel.writeInbound(ByteBuffer(bytes: [b])) }
        for f in Self.samples { #expect(try channel.readInbound(as: Frame.self) == f) }
        try channel.writeInbound(ByteBuffer(bytes: all))
        for f in Self.samples { #expect(try channel.readInbound(as: Frame.self) == f) }
        #expect(try channel.readInbound(as: Frame.self) == nil)
        _ = try channel.finish()
    }

    @Test("a frame timeout of zero or less is none; one under a second is said in milliseconds; a frame begun in a decoder with one is overdue only while its receiver reads")
    func frameTimeoutSettings() throws {
        #expect(FrameLimit(100, frameTimeout: .zero).frameTimeout == nil)
        #expect(FrameLimit(100, frameTimeout: .seconds(-1)).frameTimeout == nil)
        #expect(FrameLimit(100, frameTimeout: .milliseconds(250)).frameTimeoutMessage == "a frame did not arrive whole within 250 ms of its first bytes: send each frame at once")
        #expect(FrameLimit(100, frameTimeout: .seconds(60)).frameTimeoutMessage.contains("within 60 s of its first bytes"))
        // Half a frame decoded: its clock starts; paused, it is never overdue.
        let limit = FrameLimit(1 << 20, frameTimeout: .nanoseconds(1))
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(limit: limit)))
        let bytes = FrameEncoder.bytes(Frame(.status, requestID: 1))
        try channel.writeInbound(ByteBuffer(bytes: bytes.prefix(6)))
        #expect(limit.frameStartedAt != nil)
        limit.pauseFrameClock()
        #expect(!limit.frameOverdue)
        limit.resumeFrameClock()
        // The rest arrives: whole, and nothing is pending.
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropFirst(6)))
        #expect(try channel.readInbound(as: Frame.self)?.type == .status)
        #expect(limit.frameStartedAt == nil && !limit.frameOverdue)
        // Half a frame left as the channel closes is dropped, not raised as late.
        try channel.writeInbound(ByteBuffer(bytes: bytes.prefix(6)))
        #expect(throws: Never.self) { _ = try channel.finish() }
        #expect(limit.frameStartedAt == nil)
    }

    @Test("a length over the maximum is refused before the body arrives")
    func oversized() throws {
        var decoder = FrameDecoder(maximumLength: 1024)
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x04, 0x01])  // 1025, and nothing else
        let error = #expect(throws: WireError.self) { try decoder.decodeFrame(&buffer) }
        #expect(error?.code == .frameTooLarge)
        var huge = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        var d2 = FrameDecoder()
        #expect(throws: WireError.self) { try d2.decodeFrame(&huge) }
    }

    @Test("short frames, unknown types and malformed bodies are protocol errors", arguments: [
        ([0x00, 0x00, 0x00, 0x02, 0x01, 0x00] as [UInt8], WireError.Code.frameTooShort),
        ([0x00, 0x00, 0x00, 0x06, 0x42, 0, 0, 0, 1, 0x00], .unknownFrameType),
        ([0x00, 0x00, 0x00, 0x06, 0x01, 0, 0, 0, 1, 0x09], .malformedBody),  // tag 9 does not exist
        ([0x00, 0x00, 0x00, 0x07, 0x01, 0, 0, 0, 1, 0x00, 0x00], .malformedBody),  // a byte after the body
        ([0x00, 0x00, 0x00, 0x08, 0x01, 0, 0, 0, 1, 0x05, 0x05, 0x61], .malformedBody),  // string shorter than its length
    ])
    func malformed(_ bytes: [UInt8], _ code: WireError.Code) throws {
        var decoder = FrameDecoder()
        var buffer = ByteBuffer(bytes: bytes)
        let error = #expect(throws: WireError.self) { try decoder.decodeFrame(&buffer) }
        #expect(error?.code == code)
    }

    @Test("a truncated frame waits for more bytes and decodes nothing")
    func truncated() throws {
        var decoder = FrameDecoder()
        let bytes = FrameEncoder.bytes(Self.samples[1])
        var buffer = ByteBuffer(bytes: bytes.dropLast())
        #expect(try decoder.decodeFrame(&buffer) == nil)
        buffer.writeBytes(bytes.suffix(1))
        #expect(try decoder.decodeFrame(&buffer) == Self.samples[1])
    }

    @Test("the bytes of a frame are as Schemas/protocol.md shows them")
    func goldenBytes() {
        let status = FrameEncoder.bytes(Frame(.status, requestID: 5))
        #expect(status == [0x00, 0x00, 0x00, 0x07, 0x17, 0x00, 0x00, 0x00, 0x05, 0x07, 0x00])
        let hello = FrameEncoder.bytes(Frame(.hello, requestID: 1, body: ["versions": [1]]))
        #expect(hello == [0x00, 0x00, 0x00, 0x14, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x08] + Array("versions".utf8) + [0x06, 0x01, 0x03, 0x02])
    }
}

@Suite("Wire messages")
struct WireMessageTests {
    static let commands: [ReportCommand] = [
        .submit(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "a", name: "A", contact: "a@x", credit: .handle))),
        .acknowledge(assignee: "m"), .startTriage, .requestInfo(question: "q"), .respond(summary: nil),
        .triage(severity: .high, cvss31: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", cvss40: nil, cwes: ["CWE-79"], component: "c", affected: ["<1"], reason: nil),
        .assign(assignee: "n"), .statusUpdate(summary: "s"), .startFix(branch: nil), .mergeFix(commit: "abc"), .release(versions: ["1.0"]),
        .requestCVE(cna: "GitHub"), .assignCVE("CVE-2026-1234"), .publish(ghsa: nil, cve: "CVE-2026-1234", url: "https://x"),
        .scheduleDisclosure(try! Timestamp(rfc3339: "2027-01-01T00:00:00Z")),
        .extendEmbargo(until: try! Timestamp(rfc3339: "2027-02-01T00:00:00Z"), reason: "r", reporterAgreed: true),
        .exploited(source: nil), .offerCredit(person: "b", type: .remediationDeveloper),
        .acceptCredit(person: "b", displayName: "B", preference: .anonymous), .declineCredit(person: "c"),
        .close(.duplicate, duplicateOf: "x", reason: nil), .reopen(reason: "r"), .withdraw(reason: "w"), .note("n"),
    ]

    @Test("every lifecycle command survives the wire", arguments: commands)
    func commandRoundTrip(_ command: ReportCommand) throws {
        #expect(try ReportCommand(wire: command.wireValue) == command)
    }

    @Test("view queries and as-of survive the wire")
    func queries() throws {
        let queries: [ViewQuery] = [
            .state(project: "p", state: .accepted, severity: .high, assignee: "m", report: nil),
            .timers(project: nil, report: "r", dueWithin: .seconds(3600), late: true, all: false),
            .hallOfFame(project: "p", year: 2026), .metrics(project: "p", window: .seconds(86_400)), .history(report: "r"),
        ]
        for q in queries { #expect(try ViewQuery(wire: q.wireValue) == q) }
        for a in [AsOfSpec.now, .sequence(42), .time(try Timestamp(rfc3339: "2026-01-01T00:00:00Z"))] {
            #expect(try AsOfSpec(wire: a.wireValue) == a)
        }
    }

    @Test("a bad command names what is wrong")
    func badCommand() {
        let e = #expect(throws: MessageError.self) { try ReportCommand(wire: ["verb": "ack"]) }
        #expect(e?.message.contains("\"assignee\"") == true)
        let v = #expect(throws: MessageError.self) { try ReportCommand(wire: ["verb": "explode"]) }
        #expect(v?.message.contains("unknown verb") == true)
    }
}

@Suite("APPEND_EVENTS frames")
struct AppendEventsFrameTests {
    @Test("the hex dump of protocol.md §8.3.1 is what the encoder writes, and decodes back")
    func protocolDump() throws {
        let event = try ProposedEvent(id: EventID("a"), type: EventType("T"), actor: "ignored", data: nil)
        var w = BinaryWriter()
        ProposedEventCodec.encode(stream: try StreamName("s"), expected: .any, events: [event], into: &w)
        let frame = Frame(.appendEvents, requestID: 7, binary: ByteBuffer(bytes: w.bytes))
        let dump: [UInt8] = [0x00, 0x00, 0x00, 0x12, 0x1d, 0x00, 0x00, 0x00, 0x07, 0x01, 0x73, 0x00, 0x01, 0x00, 0x01, 0x61, 0x01, 0x54, 0x01, 0x00, 0x01, 0x00]
        #expect(FrameEncoder.bytes(frame) == dump)
        var buffer = ByteBuffer(bytes: dump)
        var decoder = FrameDecoder()
        let back = try #require(try decoder.decodeFrame(&buffer))
        #expect(back.type == .appendEvents && back.requestID == 7 && back.binary.map { Array($0.readableBytesView) } == w.bytes)
        #expect(FrameType.appendEvents.hasBinaryBody && FrameType.appendEvents.isRequest)
    }

    @Test("another protocol's first bytes read as a huge frame length are named: a TLS record, or HTTP")
    func foreignProtocols() throws {
        for (bytes, named) in [([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32], "TLS record"), ([0x16, 0x03, 0x01, 0x02, 0x00], "TLS record"), (Array("HTTP/1.1 400 Bad Request\r\n".utf8), "HTTP")] {
            var decoder = FrameDecoder()
            var buffer = ByteBuffer(bytes: bytes)
            let error = #expect(throws: WireError.self) { try decoder.decodeFrame(&buffer) }
            #expect(error?.message.contains(named) == true, "\(String(describing: error))")
        }
        // An oversized length of a Docket frame says nothing of other protocols.
        var decoder = FrameDecoder(maximumLength: 1024)
        var buffer = ByteBuffer(bytes: [0x00, 0x01, 0x00, 0x00, 0x10])
        let error = #expect(throws: WireError.self) { try decoder.decodeFrame(&buffer) }
        #expect(error?.message.contains("TLS") == false && error?.message.contains("HTTP") == false)
    }
}
