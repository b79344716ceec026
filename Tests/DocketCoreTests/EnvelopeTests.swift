@testable import DocketCore
import DocketTestSupport
import Testing

// Event identifiers (EventID, StreamName, EventType), ProposedEvent/RecordedEvent, and the
// binary envelope codec plus the JSON line `docket read` prints.

// MARK: - EventID

@Suite("EventID")
struct EventIDTests {
    static let lowerUUID = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"
    static let upperUUID = "0190A5B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B"
    static let uuidBytes: [UInt8] = [
        0x01, 0x90, 0xA5, 0xB2, 0x7C, 0x3D, 0x7E, 0x4F, 0x8A, 0x1B, 0x2C, 0x3D, 0x4E, 0x5F, 0x6A, 0x7B,
    ]

    @Test("10,000 random ids are unique, UUIDv7, lowercase and in time order")
    func randomIDs() throws {
        let before = Timestamp.now()
        let ids = (0..<10_000).map { _ in EventID.random() }
        let after = Timestamp.now()

        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map(\.rawValue)).count == ids.count)
        var previousTime = ""
        for id in ids {
            let text = Array(id.rawValue.utf8)
            #expect(text.count == 36)
            #expect(text[14] == UInt8(ascii: "7"), "version nibble of \(id)")
            #expect(Array("89ab".utf8).contains(text[19]), "variant bits of \(id)")
            #expect(id.rawValue == id.rawValue.lowercased())
            #expect(id.indexKey.first == 1)
            // The 60 time bits (48 of milliseconds, 12 below) are the first 18 characters.
            let time = String(id.rawValue.prefix(18))
            #expect(time >= previousTime, "\(id) sorts before an earlier id")
            previousTime = time
        }
        // The embedded milliseconds are the generation time.
        let firstMillis = UInt64(ids[0].rawValue.prefix(8) + ids[0].rawValue.dropFirst(9).prefix(4), radix: 16)!
        #expect(firstMillis >= UInt64(before.microseconds / 1000))
        let lastMillis = UInt64(ids.last!.rawValue.prefix(8) + ids.last!.rawValue.dropFirst(9).prefix(4), radix: 16)!
        #expect(lastMillis <= UInt64(after.microseconds / 1000))
    }

    @Test("a UUIDv7 for a given time and generator has the documented layout")
    func uuidV7Layout() throws {
        var rng = SplitMix64(seed: 1)
        let time = try Timestamp(rfc3339: "2026-11-21T09:30:00.123456Z")
        let id = EventID.random(at: time, using: &rng)
        // 0x01a1fd70f23b = 1_795_253_400_123 ms; 456 µs → 456 × 4096 / 1000 = 1867 = 0x74b;
        // then the variant and 62 bits of the generator's first output.
        #expect(id.rawValue == "01a1fd70-f23b-774b-815c-0289ec2d0a91")
        #expect(try EventID(id.rawValue) == id)
    }

    @Test("ids made a microsecond apart sort strictly by time, whatever the random bits")
    func subMillisecondOrder() throws {
        var rng = SplitMix64(seed: 99)
        let base = try Timestamp(rfc3339: "2026-11-21T09:30:00.998Z")
        var previous = EventID.random(at: base, using: &rng)
        for micros in 1..<5_000 {
            let id = EventID.random(at: Timestamp(microseconds: base.microseconds + Int64(micros)), using: &rng)
            #expect(previous < id, "\(previous) then \(id) at +\(micros) µs")
            previous = id
        }
    }

    @Test("times before the epoch clamp to the epoch; the maximum time still fits 48 bits")
    func uuidV7TimeBounds() {
        var rng = SplitMix64(seed: 3)
        let early = EventID.random(at: Timestamp(microseconds: -1), using: &rng)
        #expect(early.rawValue.hasPrefix("00000000-0000-7000-"))
        let late = EventID.random(at: .maximum, using: &rng)
        // 253_402_300_799_999 ms = 0xe677d21fdbff; 999 µs → 4091 = 0xffb.
        #expect(late.rawValue.hasPrefix("e677d21f-dbff-7ffb-"))
    }

    static let validText = [
        "a", "Z", "0", "ticket-1234", "A.b_c:d-e", "urn:docket:evt:42", "..", "--", String(repeating: "x", count: 128),
        "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7g",  // UUID-shaped but not hex: plain text
        "0190a5b27c3d7e4f8a1b2c3d4e5f6a7b",  // no hyphens: plain text
        "0190a5b-27c3d-7e4f-8a1b-2c3d4e5f6a7b",  // hyphens misplaced: plain text
        "0190A5B2-7c3d-7e4f-8a1b-2c3d4e5f6a7b",  // mixed case: plain text
    ]

    @Test("text ids round trip and are stored as text", arguments: validText)
    func textID(_ text: String) throws {
        let id = try EventID(text)
        #expect(id.rawValue == text)
        #expect(id.description == text)
        #expect(id.indexKey == [0] + Array(text.utf8))
        #expect(try EventID(text) == id)
    }

    static let uuidCases: [(text: String, form: UInt8)] = [
        (lowerUUID, 1),
        (upperUUID, 2),
        ("00000000-0000-0000-0000-000000000000", 1),  // no letters: lowercase form
        ("ffffffff-ffff-ffff-ffff-ffffffffffff", 1),
        ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", 2),
        ("6ba7b810-9dad-11d1-80b4-00c04fd430c8", 1),  // a v1 UUID: any version is accepted
    ]

    @Test("UUID ids keep their case and use the 17-byte index key", arguments: uuidCases)
    func uuidID(_ text: String, _ form: UInt8) throws {
        let id = try EventID(text)
        #expect(id.rawValue == text)
        let key = id.indexKey
        #expect(key.count == 17)
        #expect(key.first == form)
        #expect(Array(key.dropFirst()) == uuidBytesOf(text))
    }

    @Test("the same UUID in lowercase and uppercase is two different ids")
    func uuidCase() throws {
        let lower = try EventID(Self.lowerUUID)
        let upper = try EventID(Self.upperUUID)
        #expect(lower != upper)
        #expect(lower.rawValue == Self.lowerUUID)
        #expect(upper.rawValue == Self.upperUUID)
        #expect(lower.indexKey == [1] + Self.uuidBytes)
        #expect(upper.indexKey == [2] + Self.uuidBytes)
    }

    @Test("index keys of every form are distinct, also where the texts collide case-insensitively")
    func indexKeysDistinct() throws {
        let texts = [
            Self.lowerUUID, Self.upperUUID, "0190A5B2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", "0190a5b27c3d7e4f8a1b2c3d4e5f6a7b",
            "a", "A", "evt-1", "evt-1.", "00000000-0000-0000-0000-000000000000",
        ]
        let keys = try texts.map { (t: String) throws(CoreError) in try EventID(t).indexKey }
        #expect(Set(keys).count == texts.count)
        // A one-byte text id can never look like a UUID key: the form byte differs.
        #expect(try EventID("a").indexKey == [0, 0x61])
    }

    @Test("ids compare by their text")
    func ordering() throws {
        let ids = try ["b", "a", Self.upperUUID, Self.lowerUUID, "A"].map { (t: String) throws(CoreError) in try EventID(t) }
        #expect(ids.sorted().map(\.rawValue) == ["0190A5B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B", "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", "A", "a", "b"])
    }

    static let invalid: [(String, String)] = [
        ("", "event id must be 1–128 bytes, got 0"),
        (String(repeating: "x", count: 129), "event id must be 1–128 bytes, got 129"),
        (String(repeating: "é", count: 65), "event id must be 1–128 bytes, got 130"),  // bytes, not characters
        ("a b", "event id \"a b\" contains ' '; allowed are A–Z a–z 0–9 . _ : -"),
        ("a/b", "contains '/'"),
        ("a+b", "contains '+'"),
        ("a@b", "contains '@'"),
        ("a,b", "contains ','"),
        ("{\(lowerUUID)}", "contains '{'"),
        ("a\nb", "allowed are A–Z a–z 0–9 . _ : -"),
        ("a\u{0}b", "allowed are A–Z a–z 0–9 . _ : -"),
        (String(repeating: "é", count: 64), "allowed are A–Z a–z 0–9 . _ : -"),  // 128 bytes: length ok, charset not
    ]

    @Test("invalid text ids are refused with the rule", arguments: invalid)
    func invalidID(_ text: String, _ message: String) {
        expectCoreError(.invalidValue, message) { _ = try EventID(text) }
    }

    @Test("the error names a non-ASCII character as written")
    func nonASCIICharacterInMessage() {
        // EventID.init reports the offending UTF-8 *byte* as a Latin-1 character: for "café" the
        // message says `contains 'Ã'` (0xC3, the first byte of "é") instead of `contains 'é'`.
        expectCoreError(.invalidValue, "contains 'é'") { _ = try EventID("café") }
    }

    private func uuidBytesOf(_ text: String) -> [UInt8] {
        let hex = Array(text.utf8).filter { $0 != UInt8(ascii: "-") }
        return stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}

// MARK: - StreamName, EventType, ProposedEvent

@Suite("Stream names, event types and proposed events")
struct IdentifierTests {
    static let validStreams = [
        "s", "report-42", "project/report 7", "Zoë's report", "日本語", "\"quoted\" \\ name",
        String(repeating: "x", count: 200), String(repeating: "é", count: 100), String(repeating: "🙂", count: 50),
    ]

    @Test("stream names of 1–200 bytes without control characters", arguments: validStreams)
    func validStream(_ name: String) throws {
        let stream = try StreamName(name)
        #expect(stream.rawValue == name)
        #expect(stream.description == name)
    }

    static let invalidStreams: [(String, String)] = [
        ("", "stream name must be 1–200 bytes, got 0"),
        (String(repeating: "x", count: 201), "stream name must be 1–200 bytes, got 201"),
        (String(repeating: "é", count: 101), "got 202"),
        (String(repeating: "🙂", count: 51), "got 204"),
        ("a\nb", "stream name must not contain control characters"),
        ("\t", "must not contain control characters"),
        ("a\u{0}", "must not contain control characters"),
        ("a\u{1F}", "must not contain control characters"),
        ("a\u{7F}", "must not contain control characters"),
    ]

    @Test("stream names outside the rules are refused", arguments: invalidStreams)
    func invalidStream(_ name: String, _ message: String) {
        expectCoreError(.invalidValue, message) { _ = try StreamName(name) }
    }

    @Test("C1 control characters (U+0080–U+009F) are not refused")
    func c1Controls() throws {
        // The rule checks C0 and DEL only; U+0085 (NEL) and friends pass. Recorded here so a
        // change to the rule is a visible decision.
        for scalar in ["\u{80}", "\u{85}", "\u{9F}"] {
            #expect(try StreamName("a\(scalar)b").rawValue == "a\(scalar)b")
        }
    }

    @Test("stream names order by text")
    func streamOrder() throws {
        let names = try ["b", "a", "B", "aa"].map { (s: String) throws(CoreError) in try StreamName(s) }
        #expect(names.sorted().map(\.rawValue) == ["B", "a", "aa", "b"])
    }

    static let validTypes = [
        "ReportSubmitted", "a", "Z", "x.y_z-1", "CVEAssigned", "v2.Report_Triaged-x", "A" + String(repeating: "b", count: 63),
    ]

    @Test("event types: a letter, then up to 63 of A–Z a–z 0–9 . _ -", arguments: validTypes)
    func validType(_ name: String) throws {
        let type = try EventType(name)
        #expect(type.rawValue == name)
        #expect(type.description == name)
    }

    @Test(
        "event types outside the rules are refused",
        arguments: ["", "1Report", "_Report", ".Report", "-Report", "Report:Submitted", "Report Submitted", "Réport",
            "Report/1", "A" + String(repeating: "b", count: 64)])
    func invalidType(_ name: String) {
        expectCoreError(
            .invalidValue,
            "event type \"\(name)\" must start with a letter and have at most 64 of A–Z a–z 0–9 . _ -"
        ) { _ = try EventType(name) }
    }

    @Test("proposed events: defaults and field rules")
    func proposed() throws {
        let p = try ProposedEvent(type: EventType("NoteAdded"), actor: "alice", data: ["text": "hi"])
        #expect(p.schemaVersion == 1)
        #expect(p.occurredAt == nil)
        #expect(p.data == ["text": "hi"])
        #expect(p.payload == Payload(["text": "hi"]))
        #expect(p.id.rawValue.count == 36)
        #expect(Array(p.id.rawValue.utf8)[14] == UInt8(ascii: "7"))

        expectCoreError(.invalidValue, "actor must not be empty") { _ = try ProposedEvent(type: EventType("T"), actor: "", data: nil) }
        expectCoreError(.invalidValue, "actor holds a control character (U+001B, character 2): a name takes printable characters only") {
            _ = try ProposedEvent(type: EventType("T"), actor: "a\u{1B}b", data: nil)
        }
        _ = try ProposedEvent(type: EventType("T"), schemaVersion: .max, actor: String(repeating: "é", count: 100), data: nil)
        expectCoreError(.invalidValue, "actor must be at most 200 bytes") {
            _ = try ProposedEvent(type: EventType("T"), actor: String(repeating: "a", count: 201), data: nil)
        }
        expectCoreError(.invalidValue, "actor must be at most 200 bytes") {
            _ = try ProposedEvent(type: EventType("T"), actor: String(repeating: "é", count: 101), data: nil)
        }
        expectCoreError(.invalidValue, "schema version starts at 1") {
            _ = try ProposedEvent(type: EventType("T"), schemaVersion: 0, actor: "a", data: nil)
        }
    }

    @Test("a proposed event refuses data nested deeper than the payload decoder reads")
    func proposedDepth() throws {
        // JSON.parse caps nesting at 64, but a programmatic Value is encoded without a check:
        // ProposedEvent accepts it, the store would persist it, and reading it back fails, so
        // `data` (and `docket read`) silently show `null`.
        let deep = nested(65, around: .null) { .array([$0]) }
        expectCoreError(.invalidValue, "nests deeper than 64 levels") {
            _ = try ProposedEvent(type: EventType("T"), actor: "a", data: deep)
        }
    }

    @Test("expected versions")
    func expectedVersion() {
        #expect(ExpectedVersion.noStream == .exact(0))
        #expect(ExpectedVersion.any != .exact(0))
        #expect(ExpectedVersion.exact(1) != .exact(2))
        #expect(ExpectedVersion.any.description == "any")
        #expect(ExpectedVersion.noStream.description == "0 (no stream)")
        #expect(ExpectedVersion.exact(7).description == "7")
        #expect(ExpectedVersion.exact(.max).description == "18446744073709551615")
        #expect(Set<ExpectedVersion>([.any, .noStream, .exact(0), .exact(3)]).count == 3)
    }
}

// MARK: - Envelope codec

@Suite("Envelope codec")
struct EnvelopeCodecTests {

    /// The ledger's side of an append: what `LogWriter` does with a proposed event.
    static func record(
        _ p: ProposedEvent, sequence: UInt64 = 1, stream: StreamName, version: UInt64 = 1, now: Timestamp
    ) -> RecordedEvent {
        RecordedEvent(
            sequence: sequence, stream: stream, streamVersion: version, id: p.id, type: p.type,
            schemaVersion: p.schemaVersion, actor: p.actor, occurredAt: p.occurredAt ?? now, recordedAt: now,
            payload: p.payload)
    }

    static let richData: Value = [
        "title": "XSS in the \"search\" box", "severity": "high", "cvss": 8.1, "cwe": [79, 89],
        "affected": [["package": "pkg", "versions": ["<1.2.3", ">=2.0.0 <2.0.4"]]],
        "reporter": nil, "anonymous": false, "count": .int(.min), "notes": "line 1\nline 2\t🙂",
    ]

    struct IDForm: Sendable, CustomTestStringConvertible {
        let text: String
        let form: UInt8
        var testDescription: String { "\(text) (form \(form))" }
    }

    static let idForms: [IDForm] = [
        IDForm(text: EventIDTests.lowerUUID, form: 1),
        IDForm(text: EventIDTests.upperUUID, form: 2),
        IDForm(text: "0190A5B2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", form: 0),
        IDForm(text: "ticket-1234", form: 0),
        IDForm(text: String(repeating: "k", count: 128), form: 0),
        IDForm(text: "00000000-0000-0000-0000-000000000000", form: 1),
    ]

    @Test("proposed → recorded → bytes → recorded, for every id form", arguments: idForms)
    func roundTrip(_ f: IDForm) throws {
        let occurred = try Timestamp(rfc3339: "2026-11-21T09:30:00.25+01:00")
        let p = try ProposedEvent(
            id: EventID(f.text), type: EventType("ReportTriaged"), schemaVersion: 3, actor: "maintainer:alice",
            occurredAt: occurred, data: Self.richData)
        let stream = try StreamName("report-42")
        let now = try Timestamp(rfc3339: "2026-11-21T09:30:02.5Z")
        let recorded = Self.record(p, sequence: 1_000, stream: stream, version: 17, now: now)
        #expect(recorded.matches(p, in: stream))

        let bytes = EnvelopeCodec.encodeFormat1(recorded)
        #expect(bytes[0] == EnvelopeCodec.legacyFormatVersion)
        #expect(bytes[1] == f.form)
        if f.form != 0 {
            #expect(Array(bytes[2..<18]) == Array(try EventID(f.text).indexKey.dropFirst()))
        }
        #expect(bytes.suffix(p.payload.bytes.count) == p.payload.bytes[...])

        let decoded = try EnvelopeCodec.decode(bytes, sequence: 1_000)
        #expect(decoded == recorded)
        #expect(decoded.id.rawValue == f.text)
        #expect(decoded.id.indexKey == recorded.id.indexKey)
        #expect(identical(decoded.data, Self.richData))
        #expect(decoded.matches(p, in: stream))

        // The writer variant appends to what is already there.
        var w = BinaryWriter()
        w.writeBytes([0xAA, 0xBB])
        EnvelopeCodec.encodeFormat1(recorded, into: &w)
        #expect(w.bytes == [0xAA, 0xBB] + bytes)
    }

    @Test("an event with no occurred-at is recorded at the ledger's time")
    func occurredDefaultsToRecorded() throws {
        let p = try ProposedEvent(type: EventType("NoteAdded"), actor: "bot", data: "x")
        let now = Timestamp(microseconds: 1_234_567)
        let recorded = Self.record(p, stream: try StreamName("s"), now: now)
        let decoded = try EnvelopeCodec.decode(EnvelopeCodec.encodeFormat1(recorded), sequence: 1)
        #expect(decoded.occurredAt == now)
        #expect(decoded.recordedAt == now)
        #expect(decoded.matches(p, in: try StreamName("s")))
    }

    static let extremes: [RecordedEvent] = {
        func event(
            seq: UInt64 = 1, stream: String = "s", version: UInt64 = 1, schema: UInt16 = 1, actor: String = "a",
            occurred: Int64 = 0, recorded: Int64 = 0, data: Value = nil
        ) -> RecordedEvent {
            RecordedEvent(
                sequence: seq, stream: try! StreamName(stream), streamVersion: version, id: try! EventID("evt-1"),
                type: try! EventType("T"), schemaVersion: schema, actor: actor, occurredAt: Timestamp(microseconds: occurred),
                recordedAt: Timestamp(microseconds: recorded), payload: Payload(data))
        }
        return [
            event(),
            event(seq: 0),
            event(seq: .max),
            event(version: .max),
            event(schema: .max),
            event(stream: String(repeating: "🙂", count: 50)),
            event(actor: ""),
            event(actor: String(repeating: "é", count: 100)),
            event(occurred: Timestamp.minimum.microseconds, recorded: Timestamp.maximum.microseconds),
            event(occurred: Timestamp.maximum.microseconds, recorded: Timestamp.minimum.microseconds),
            event(occurred: -1, recorded: -2),  // the ledger clock behind the client's
            event(occurred: .max, recorded: .min),  // deltas wrap, and unwrap
            event(data: nested(63, around: [], { .array([$0]) })),
            event(data: .string(String(repeating: "x", count: 20_000))),
        ]
    }()

    @Test("extreme field values round trip", arguments: extremes.indices)
    func extremeRoundTrip(_ index: Int) throws {
        let e = Self.extremes[index]
        // The sequence is not in the bytes: it is the record's key, and decode takes it.
        let decoded = try EnvelopeCodec.decode(EnvelopeCodec.encodeFormat1(e), sequence: e.sequence)
        #expect(decoded == e)
        #expect(try EnvelopeCodec.decode(EnvelopeCodec.encodeFormat1(e), sequence: 5).sequence == 5)
    }

    @Test("a record whose stream name, type or id is past what an append allows (a forged or damaged copy) is refused, not indexed", arguments: [
        ("stream", String(repeating: "s", count: 201)), ("type", String(repeating: "T", count: 65)), ("id", String(repeating: "i", count: 129)),
    ])
    func identifiersPastTheLimits(_ field: String, _ text: String) throws {
        let e = RecordedEvent(
            sequence: 9, stream: field == "stream" ? StreamName(unchecked: text) : try StreamName("s"), streamVersion: 1,
            id: field == "id" ? EventID(uncheckedText: text) : try EventID("evt-1"), type: field == "type" ? EventType(unchecked: text) : try EventType("T"),
            schemaVersion: 1, actor: "a", occurredAt: Timestamp(microseconds: 0), recordedAt: Timestamp(microseconds: 0), payload: Payload(nil))
        let error = #expect(throws: CoreError.self) { try EnvelopeCodec.decode(EnvelopeCodec.encodeFormat1(e), sequence: 9) }
        #expect(error?.code == .invalidEnvelope && error?.message.hasPrefix("event at sequence 9 has a stream name of") == true && error?.message.contains("past the limits of an append") == true, "\(String(describing: error))")
        // Read in place too (a view rebuild).
        let (envelope, ledger) = EnvelopeCodec.encode(e)
        #expect(throws: CoreError.self) { try envelope.withUnsafeBytes { b in try EnvelopeCodec.fields(in: b, sequence: 9, ledger: ledger) } }
    }

    /// id "evt-1", stream "s" v1, type "T" schema 1, actor "a", occurred at the epoch, recorded
    /// one second later, payload null.
    static let smallEvent = RecordedEvent(
        sequence: 7, stream: try! StreamName("s"), streamVersion: 1, id: try! EventID("evt-1"), type: try! EventType("T"),
        schemaVersion: 1, actor: "a", occurredAt: Timestamp(microseconds: 0), recordedAt: Timestamp(seconds: 1),
        payload: Payload(nil))
    static let smallBytes: [UInt8] = [
        1,  // format
        0, 5, 0x65, 0x76, 0x74, 0x2D, 0x31,  // id: text "evt-1"
        1, 0x73,  // stream "s"
        1,  // stream version
        1, 0x54,  // type "T"
        1,  // schema version
        1, 0x61,  // actor "a"
        0,  // occurred-at, zigzag 0
        0x80, 0x89, 0x7A,  // recorded − occurred = 1,000,000 µs, zigzag 2,000,000
        0,  // payload: null
    ]

    @Test("golden bytes for a small event")
    func goldenBytes() throws {
        #expect(EnvelopeCodec.encodeFormat1(Self.smallEvent) == Self.smallBytes)
        #expect(try EnvelopeCodec.decode(Self.smallBytes, sequence: 7) == Self.smallEvent)
    }

    // MARK: Malformed envelopes

    static func richEnvelope() throws -> (bytes: [UInt8], payloadCount: Int) {
        let p = try ProposedEvent(
            id: EventID(EventIDTests.upperUUID), type: EventType("ReportTriaged"), actor: "maintainer:alice-the-long-handle",
            occurredAt: Timestamp(rfc3339: "2026-11-21T09:30:00Z"), data: richData)
        let recorded = record(
            p, stream: try StreamName("report-with-a-long-stream-name"), version: 300,
            now: try Timestamp(rfc3339: "2026-11-21T09:31:00Z"))
        return (EnvelopeCodec.encodeFormat1(recorded), p.payload.bytes.count)
    }

    @Test("every prefix that cuts the header is refused as truncated")
    func headerPrefixes() throws {
        let rich = try Self.richEnvelope()
        let cases: [([UInt8], Int)] = [(rich.bytes, rich.payloadCount), (Self.smallBytes, 1)]
        for (bytes, payloadCount) in cases {
            let headerCount = bytes.count - payloadCount
            for length in 0...headerCount {
                let prefix = Array(bytes[0..<length])
                let error = #expect(throws: CoreError.self, "prefix of \(length) bytes") {
                    _ = try EnvelopeCodec.decode(prefix, sequence: 9)
                }
                #expect(error?.code == .truncated, "prefix of \(length): \(String(describing: error))")
            }
            let error = try #require(throws: CoreError.self) { _ = try EnvelopeCodec.decode(Array(bytes[0..<headerCount]), sequence: 9) }
            #expect(error.message == "event at sequence 9 has no payload")
        }
    }

    @Test("every prefix that cuts the payload is refused")
    func payloadPrefixes() throws {
        // The payload runs "to the end" and `decode` copies it without checking it, so a record
        // cut inside its payload decodes; `data` then silently yields `null` (Payload.value
        // swallows the error) and `json` prints `"data":null`.
        let (bytes, payloadCount) = try Self.richEnvelope()
        let headerCount = bytes.count - payloadCount
        let accepted = ((headerCount + 1)..<bytes.count).filter { length in
            (try? EnvelopeCodec.decode(Array(bytes[0..<length]), sequence: 9)) != nil
        }
        #expect(accepted.count == 0, "\(accepted.count) of \(payloadCount - 1) payload-cutting prefixes decoded")
    }

    @Test("a corrupt payload (unknown tag, trailing bytes) is refused")
    func corruptPayload() throws {
        var unknownTag = Self.smallBytes
        unknownTag[unknownTag.count - 1] = 9
        let trailing = Self.smallBytes + [0]
        for bytes in [unknownTag, trailing] {
            expectCoreError(.invalidEnvelope, "event at sequence 7 has a malformed payload") { _ = try EnvelopeCodec.decode(bytes, sequence: 7) }
            // Read in place, the payload is left for its reader to check, which refuses it.
            try bytes.withUnsafeBytes { raw in
                let fields = try EnvelopeCodec.fields(in: raw, sequence: 7)
                #expect(String(decoding: fields.stream, as: UTF8.self) == "s" && !fields.payload.isEmpty)
                #expect(throws: CoreError.self) { try Payload.validate(fields.payload) }
            }
        }
    }

    @Test("an envelope read in place has the fields decode gives, in either format")
    func fieldsInPlace() throws {
        let rich = try EnvelopeCodec.decode(try Self.richEnvelope().0, sequence: 42)
        let (format2, ledger) = EnvelopeCodec.encode(rich)
        let cases: [([UInt8], EnvelopeCodec.LedgerFields?)] = [(Self.smallBytes, nil), (try Self.richEnvelope().0, nil), (format2, ledger)]
        for (bytes, ledger) in cases {
            let decoded = try EnvelopeCodec.decode(bytes, sequence: 42, ledger: ledger)
            try bytes.withUnsafeBytes { raw in
                let f = try EnvelopeCodec.fields(in: raw, sequence: 42, ledger: ledger)
                #expect(f.sequence == 42 && f.streamVersion == decoded.streamVersion && f.schemaVersion == decoded.schemaVersion)
                #expect(String(decoding: f.stream, as: UTF8.self) == decoded.stream.rawValue)
                #expect(String(decoding: f.type, as: UTF8.self) == decoded.type.rawValue)
                #expect(f.occurredAt == decoded.occurredAt && f.recordedAt == decoded.recordedAt)
                #expect(Array(f.payload) == decoded.payload.bytes)
            }
        }
    }

    @Test("unknown envelope formats are refused as unsupported", arguments: [UInt8(0), 3, 0xFF])
    func unknownFormat(_ format: UInt8) {
        var bytes = Self.smallBytes
        bytes[0] = format
        expectCoreError(
            .unsupportedVersion, "event at sequence 7 has envelope format \(format); this build reads formats 1 and 2"
        ) { _ = try EnvelopeCodec.decode(bytes, sequence: 7) }
    }

    // MARK: Format 2

    /// `smallEvent` in envelope format 2: no stream version, no recorded-at (the record header has them).
    static let smallBytes2: [UInt8] = [
        2,  // format
        0, 5, 0x65, 0x76, 0x74, 0x2D, 0x31,  // id: text "evt-1"
        1, 0x73,  // stream "s"
        1, 0x54,  // type "T"
        1,  // schema version
        1, 0x61,  // actor "a"
        0,  // occurred-at, zigzag 0
        0,  // payload: null
    ]

    @Test("format 2: golden bytes, and the ledger fields come from the record header")
    func format2Golden() throws {
        let (bytes, ledger) = EnvelopeCodec.encode(Self.smallEvent)
        #expect(bytes == Self.smallBytes2)
        #expect(ledger == EnvelopeCodec.LedgerFields(streamVersion: 1, recordedDelta: 1_000_000))
        #expect(try EnvelopeCodec.decode(bytes, sequence: 7, ledger: ledger) == Self.smallEvent)
        // The proposed-event encoder (what the store's writer path uses) writes the same bytes.
        let proposed = try ProposedEvent(id: EventID("evt-1"), type: EventType("T"), actor: "a", occurredAt: Timestamp(microseconds: 0), data: nil)
        var w = BinaryWriter()
        EnvelopeCodec.encode(proposed, stream: try StreamName("s"), occurredAt: Timestamp(microseconds: 0), into: &w)
        #expect(w.bytes == Self.smallBytes2)
    }

    @Test("format 2 round trips every extreme event with its ledger fields", arguments: extremes.indices)
    func format2RoundTrip(_ index: Int) throws {
        let e = Self.extremes[index]
        let (bytes, ledger) = EnvelopeCodec.encode(e)
        #expect(try EnvelopeCodec.decode(bytes, sequence: e.sequence, ledger: ledger) == e)
    }

    @Test("a format 2 envelope needs the record header's fields; a format 1 envelope refuses them")
    func ledgerFieldsMismatch() {
        expectCoreError(.invalidEnvelope, "event at sequence 7 has envelope format 2, whose stream version and recorded time are in the record header") {
            _ = try EnvelopeCodec.decode(Self.smallBytes2, sequence: 7)
        }
        expectCoreError(.invalidEnvelope, "event at sequence 7 has envelope format 1 inside a record that carries its own ledger fields") {
            _ = try EnvelopeCodec.decode(Self.smallBytes, sequence: 7, ledger: .init(streamVersion: 1, recordedDelta: 0))
        }
    }

    @Test("every prefix of a format 2 envelope that cuts it is refused")
    func format2Prefixes() throws {
        let (bytes, ledger) = EnvelopeCodec.encode(Self.extremes[12])
        for length in 0..<bytes.count {
            #expect(throws: CoreError.self, "prefix of \(length)") { _ = try EnvelopeCodec.decode(Array(bytes[0..<length]), sequence: 1, ledger: ledger) }
        }
    }

    @Test("unknown id forms are refused", arguments: [UInt8(3), 4, 0x80, 0xFF])
    func unknownIDForm(_ form: UInt8) {
        var bytes = Self.smallBytes
        bytes[1] = form
        expectCoreError(.invalidEnvelope, "event at sequence 7 has unknown id form \(form)") {
            _ = try EnvelopeCodec.decode(bytes, sequence: 7)
        }
    }

    @Test(
        "schema versions outside 1…65535 are refused",
        arguments: [([UInt8(0)], "0"), ([0x80, 0x80, 0x04], "65536"), ([0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "4294967295")])
    func badSchemaVersion(_ varint: [UInt8], _ shown: String) {
        let bytes = Array(Self.smallBytes[0..<13]) + varint + Array(Self.smallBytes[14...])
        expectCoreError(.invalidEnvelope, "event at sequence 7 has schema version \(shown)") {
            _ = try EnvelopeCodec.decode(bytes, sequence: 7)
        }
    }

    @Test(
        "text that is not UTF-8 is refused in every field",
        arguments: [(3, "id"), (9, "stream"), (12, "type"), (15, "actor")])
    func invalidUTF8(_ offset: Int, _ field: String) {
        var bytes = Self.smallBytes
        bytes[offset] = 0xFF
        expectCoreError(.invalidEnvelope, "event at sequence 7 holds text that is not UTF-8") {
            _ = try EnvelopeCodec.decode(bytes, sequence: 7)
        }
        // Read in place too.
        expectCoreError(.invalidEnvelope, "event at sequence 7 holds text that is not UTF-8") {
            _ = try bytes.withUnsafeBytes { raw in try EnvelopeCodec.fields(in: raw, sequence: 7).sequence }
        }
    }

    @Test("interned decoding gives the same events and refuses bad UTF-8 too")
    func interner() throws {
        let interner = StringInterner(capacity: 4)
        let streams = ["report-0000000000000001", "report-0000000000000002", "short"]
        var events: [RecordedEvent] = []
        for (i, stream) in (streams + streams + streams).enumerated() {
            let p = try ProposedEvent(
                id: EventID("evt-\(i)"), type: EventType("ReportAcknowledgedByMaintainer"), actor: "maintainer:long-handle-\(i % 2)",
                occurredAt: Timestamp(seconds: Int64(i)), data: ["i": .int(Int64(i))])
            events.append(Self.record(p, sequence: UInt64(i + 1), stream: try StreamName(stream), version: UInt64(i / 3 + 1), now: Timestamp(seconds: 100)))
        }
        for e in events {
            let bytes = EnvelopeCodec.encodeFormat1(e)
            let decoded = try bytes.withUnsafeBytes { raw in
                Result { () throws(CoreError) in try EnvelopeCodec.decode(raw, sequence: e.sequence, interner: interner) }
            }.get()
            #expect(decoded == e)
        }
        // A long actor (interned path) with a bad byte.
        var bad = EnvelopeCodec.encodeFormat1(events[0])
        let actor = Array("maintainer:long-handle-0".utf8)
        let at = try #require(firstRange(of: actor, in: bad))
        bad[at + 5] = 0xC0
        let error = bad.withUnsafeBytes { raw in
            Result { () throws(CoreError) in try EnvelopeCodec.decode(raw, sequence: 1, interner: interner) }
        }
        #expect(throws: CoreError.self) { try error.get() }
        if case .failure(let e) = error {
            #expect(e.code == .invalidEnvelope)
            #expect(e.message == "event at sequence 1 holds text that is not UTF-8")
        }
    }

    @Test("the string interner returns the right string even when slots collide")
    func internerCollisions() {
        let interner = StringInterner(capacity: 1)
        let strings = ["a-string-longer-than-15-bytes-1", "a-string-longer-than-15-bytes-2", "short", "é-long-enough-to-intern-é"]
        for _ in 0..<3 {
            for s in strings {
                let got = Array(s.utf8).withUnsafeBytes { interner.string($0) }
                #expect(got == s)
            }
        }
        let invalid: [UInt8] = Array("a-string-longer-than-15-bytes".utf8) + [0xFF]
        #expect(invalid.withUnsafeBytes { interner.string($0) } == nil)
        #expect([UInt8]([0xFF]).withUnsafeBytes { interner.string($0) } == nil)
        #expect([UInt8]().withUnsafeBytes { interner.string($0) } == "")
    }

    @Test("the string interner tells apart same-length strings and refuses a bad byte anywhere")
    func internerBytes() {
        let interner = StringInterner(capacity: 8)
        for length in [1, 7, 8, 9, 16, 17, 33] {
            let base = [UInt8](repeating: 0x62, count: length)
            #expect(base.withUnsafeBytes { interner.string($0) } == String(repeating: "b", count: length))
            for position in 0..<length {
                var other = base
                other[position] = 0x63
                #expect(other.withUnsafeBytes { interner.string($0) } == String(decoding: other, as: UTF8.self))
                other[position] = 0xFF
                #expect(other.withUnsafeBytes { interner.string($0) } == nil, "bad byte at \(position) of \(length)")
                // Asking again for the first string still gives it back, not a neighbour.
                #expect(base.withUnsafeBytes { interner.string($0) } == String(repeating: "b", count: length))
            }
        }
    }

    // MARK: Size limit

    @Test("the size limit is 64 KiB of encoded envelope; the codec reports sizes exactly")
    func sizeLimit() throws {
        #expect(EnvelopeCodec.maximumEncodedSize == 65_536)
        // The limit is enforced by DocketStore's writer (StoreError.eventTooLarge) against
        // `encode(_:).count`; the codec itself encodes and decodes any size.
        func event(textBytes: Int) -> RecordedEvent {
            var e = Self.smallEvent
            e.payload = Payload(.string(String(repeating: "x", count: textBytes)))
            return e
        }
        let overhead = EnvelopeCodec.encodeFormat1(event(textBytes: 0)).count
        // A string payload of n bytes (16 KiB ≤ n < 2 MiB) takes 1 + 3 + n bytes: 2 more than "" plus n.
        let fitting = event(textBytes: EnvelopeCodec.maximumEncodedSize - overhead - 2)
        let fittingBytes = EnvelopeCodec.encodeFormat1(fitting)
        #expect(fittingBytes.count == EnvelopeCodec.maximumEncodedSize)
        #expect(try EnvelopeCodec.decode(fittingBytes, sequence: 7) == fitting)
        let over = EnvelopeCodec.encodeFormat1(event(textBytes: EnvelopeCodec.maximumEncodedSize - overhead - 1))
        #expect(over.count == EnvelopeCodec.maximumEncodedSize + 1)
    }

    // MARK: RecordedEvent.matches

    struct Mutation: Sendable, CustomTestStringConvertible {
        let name: String
        let change: @Sendable (inout ProposedEvent) throws -> Void
        var testDescription: String { name }
    }

    static let mutations: [Mutation] = [
        Mutation(name: "id") { $0.id = try EventID("other") },
        Mutation(name: "id case") { $0.id = try EventID(EventIDTests.upperUUID) },
        Mutation(name: "type") { $0.type = try EventType("Other") },
        Mutation(name: "schema version") { $0.schemaVersion = 2 },
        Mutation(name: "actor") { $0.actor = "mallory" },
        Mutation(name: "occurred-at") { $0.occurredAt = Timestamp(seconds: 2) },
        Mutation(name: "payload") { $0.payload = Payload(["k": 2]) },
        Mutation(name: "payload key order") { $0.payload = Payload(["b": true, "k": 1]) },
        Mutation(name: "payload int vs double") { $0.payload = Payload(["k": 1.0, "b": true]) },
    ]

    @Test("a retry matches only when it says the same thing", arguments: mutations)
    func matches(_ m: Mutation) throws {
        let stream = try StreamName("report-1")
        let original = try ProposedEvent(
            id: EventID(EventIDTests.lowerUUID), type: EventType("NoteAdded"), actor: "alice",
            occurredAt: Timestamp(seconds: 1), data: ["k": 1, "b": true])
        let recorded = Self.record(original, stream: stream, now: Timestamp(seconds: 10))
        #expect(recorded.matches(original, in: stream))
        #expect(!recorded.matches(original, in: try StreamName("report-2")))
        var retry = original
        retry.occurredAt = nil  // "when the ledger records it" matches whatever was recorded
        #expect(recorded.matches(retry, in: stream))
        var changed = original
        try m.change(&changed)
        #expect(!recorded.matches(changed, in: stream))
    }

    // MARK: JSON output (`docket read`)

    @Test("golden JSON line for one fixed event")
    func goldenJSON() throws {
        let event = RecordedEvent(
            sequence: 42, stream: try StreamName("report-7"), streamVersion: 3, id: try EventID(EventIDTests.lowerUUID),
            type: try EventType("ReportTriaged"), schemaVersion: 2, actor: "alice",
            occurredAt: try Timestamp(rfc3339: "2026-11-21T10:30:00.25+01:00"),
            recordedAt: try Timestamp(rfc3339: "2026-11-21T09:30:01Z"),
            payload: Payload([
                "severity": "high", "cvss": 8.1, "cwe": [79, 89], "note": "line\n\"quoted\" \u{1}", "reporter": nil,
                "accepted": true, "nan": .double(.nan),
            ]))
        let expected =
            #"{"seq":42,"stream":"report-7","version":3,"id":"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b","type":"ReportTriaged","schema":2,"actor":"alice","occurred_at":"2026-11-21T09:30:00.25Z","recorded_at":"2026-11-21T09:30:01Z","data":{"severity":"high","cvss":8.1,"cwe":[79,89],"note":"line\n\"quoted\" \u0001","reporter":null,"accepted":true,"nan":null}}"#
        #expect(event.json == expected)
        // The same after a trip through the envelope bytes.
        let decoded = try EnvelopeCodec.decode(EnvelopeCodec.encodeFormat1(event), sequence: 42)
        #expect(decoded.json == expected)
    }

    @Test("the JSON line is valid JSON for awkward streams, ids, actors and times")
    func jsonIsParseable() throws {
        let event = RecordedEvent(
            sequence: .max, stream: try StreamName("report \"7\" \\ é"), streamVersion: .max, id: try EventID(EventIDTests.upperUUID),
            type: try EventType("T"), schemaVersion: .max, actor: "quote\" back\\slash\u{2028}",
            occurredAt: Timestamp(microseconds: -1), recordedAt: .minimum, payload: Payload(Self.richData))
        let parsed = try JSON.parse(event.json)
        guard case .object(let members) = parsed else {
            Issue.record("not an object: \(event.json)")
            return
        }
        #expect(members.map(\.key) == ["seq", "stream", "version", "id", "type", "schema", "actor", "occurred_at", "recorded_at", "data"])
        // UInt64.max does not fit Int64: it comes back as a (rounded) double.
        #expect(parsed["seq"] == .double(Double(UInt64.max)))
        #expect(parsed["version"] == .double(Double(UInt64.max)))
        #expect(parsed["stream"] == "report \"7\" \\ é")
        #expect(parsed["id"] == .string(EventIDTests.upperUUID))
        #expect(parsed["schema"] == 65_535)
        #expect(parsed["actor"] == "quote\" back\\slash\u{2028}")
        #expect(parsed["occurred_at"] == "1969-12-31T23:59:59.999999Z")
        #expect(parsed["recorded_at"] == "0001-01-01T00:00:00Z")
        #expect(identical(parsed["data"]!, Self.richData))
    }
}

/// Where `needle` first occurs in `haystack`.
private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<$0 + needle.count]) == needle }
}
