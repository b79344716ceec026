import DocketCore
import Testing

@Suite("Proposed events in binary (APPEND_EVENTS)")
struct ProposedEventCodecTests {
    static func events() throws -> [ProposedEvent] {
        [
            try ProposedEvent(id: EventID("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"), type: EventType("ReportSubmitted"), actor: "x", data: ["title": "XSS", "n": 3]),
            try ProposedEvent(id: EventID("0190A5B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B"), type: EventType("NoteAdded"), schemaVersion: 7, actor: "x", occurredAt: Timestamp(rfc3339: "2026-11-21T09:30:00.25Z"), data: [1, 2.5, nil, true]),
            try ProposedEvent(id: EventID("ticket:1234"), type: EventType("T"), actor: "x", occurredAt: Timestamp(microseconds: -5), data: .string("é")),
        ]
    }

    func encoded(_ stream: String = "report-1", _ expected: ExpectedVersion = .exact(4), _ events: [ProposedEvent]) throws -> [UInt8] {
        var w = BinaryWriter()
        ProposedEventCodec.encode(stream: try StreamName(stream), expected: expected, events: events, into: &w)
        return w.bytes
    }

    func decode(_ bytes: [UInt8], actor: String = "maria") throws(CoreError) -> (stream: StreamName, expected: ExpectedVersion, events: [ProposedEvent]) {
        try bytes.withUnsafeBytes { raw in Result { () throws(CoreError) in try ProposedEventCodec.decode(raw, actor: actor) } }.get()
    }

    @Test("events round trip with every id form, with and without a time; the actor is the decoder's", arguments: [ExpectedVersion.any, .exact(0), .exact(41)])
    func roundTrip(_ expected: ExpectedVersion) throws {
        let events = try Self.events()
        let (stream, back, decoded) = try decode(try encoded("report-1", expected, events))
        #expect(stream == (try StreamName("report-1")) && back == expected)
        #expect(decoded.count == 3)
        for (a, b) in zip(events, decoded) {
            #expect(a.id == b.id && a.type == b.type && a.schemaVersion == b.schemaVersion && a.occurredAt == b.occurredAt && a.payload == b.payload)
            #expect(b.actor == "maria")
        }
    }

    @Test("golden bytes")
    func golden() throws {
        let e = try ProposedEvent(id: EventID("a"), type: EventType("T"), actor: "ignored", data: nil)
        #expect(try encoded("s", .any, [e]) == [1, 0x73, 0, 1, 0, 1, 0x61, 1, 0x54, 1, 0, 1, 0])
    }

    @Test("bad input is refused naming the event", arguments: [
        ([UInt8]([1, 0x73, 0, 0]), "an append carries 1 to 10000 events, not 0"),
        ([1, 0x73, 0, 1, 9], "event 1 of 1: unknown id form 9"),
        ([1, 0x73, 0, 1, 0, 1, 0x61, 1, 0x54, 0, 0, 1, 0], "event 1 of 1: schema version 0 is not 1…65535"),
        ([1, 0x73, 0, 1, 0, 1, 0x61, 1, 0x54, 1, 2, 1, 0], "event 1 of 1: occurred-at flag 2 is not 0 or 1"),
        ([1, 0x73, 0, 1, 0, 1, 0x61, 1, 0x54, 1, 0, 2, 0, 0], "event 1 of 1: 1 byte after the payload value"),
        ([1, 0x73, 0, 1, 0, 1, 0x61, 1, 0x54, 1, 0, 1, 9], "event 1 of 1: unknown value tag 9 at byte 0"),
        ([1, 0x73, 0, 1, 0, 1, 0x21, 1, 0x54, 1, 0, 1, 0], "event 1 of 1: event id \"!\" contains '!'; allowed are A–Z a–z 0–9 . _ : -"),
        ([1, 0x73, 0, 1, 0, 1, 0x61, 1, 0x54, 1, 0, 1, 0, 7], "1 byte after the last event"),
    ])
    func badInput(_ bytes: [UInt8], _ message: String) {
        let error = #expect(throws: CoreError.self) { _ = try decode(bytes) }
        #expect(error?.message == message, "\(String(describing: error))")
    }

    @Test("every truncation is refused")
    func truncations() throws {
        let bytes = try encoded("report-1", .exact(4), try Self.events())
        for n in 0..<bytes.count {
            #expect(throws: CoreError.self, "prefix \(n)") { _ = try decode(Array(bytes[0..<n])) }
        }
    }
}
