import DocketCore
import DocketTestSupport
import Foundation
import Testing

// `Schemas/events/*.json` are the source of truth for event payloads. These tests hold the Swift
// codecs to them: the same fields, the golden payloads decode and re-encode to the exact bytes
// the schema gives (computed independently of this code), retired versions upcast as stated,
// and every required field and unknown field is enforced.

enum SchemaFiles {
    static let root = packageRoot

    static var eventSchemaNames: [String] {
        let dir = root.appendingPathComponent("Schemas/events")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    static func load(_ name: String) throws -> Value {
        try JSON.parse(String(contentsOf: root.appendingPathComponent("Schemas/events/\(name)"), encoding: .utf8))
    }

    /// An event schema file with the event type and schema version it describes.
    struct Event {
        let schema: Value
        let type: String
        let version: UInt16

        /// The golden vectors (`payload`, `binary`, `upcastTo`).
        var golden: [Value] { schema["x-docket-golden"]?.arrayValue ?? [] }

        /// The members of the first golden payload, which every schema gives as an object.
        func firstMembers() throws -> [(key: String, value: Value)] {
            let members: [(key: String, value: Value)]? = if case .object(let m)? = golden.first?["payload"] { m } else { nil }
            return try #require(members, "\(type) v\(version): the first golden payload is not an object")
        }
    }

    static func event(_ name: String) throws -> Event {
        let schema = try load(name)
        return Event(
            schema: schema, type: try #require(schema["x-docket-event"]?.stringValue),
            version: UInt16(try #require(schema["x-docket-version"]?.intValue)))
    }

    /// The field table a JSON Schema object describes.
    static func fields(of schema: Value) -> [FieldSpec] {
        guard case .object(let properties)? = schema["properties"] else { return [] }
        let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        return properties.map { name, p in
            FieldSpec(name, kind(of: p), required: required.contains(name))
        }
    }

    static func kind(of p: Value) -> FieldSpec.Kind {
        if let values = p["enum"]?.arrayValue { return .enumeration(values.compactMap(\.stringValue)) }
        switch p["type"]?.stringValue {
        case "string": return p["format"]?.stringValue == "date-time" ? .timestamp : .string
        case "integer": return .int
        case "boolean": return .bool
        // Arrays of strings are the only arrays the codecs know; anything else is no kind of theirs.
        case "array" where p["items"]?["type"] == "string": return .stringArray
        case "object": return .object(fields(of: p))
        default: return .enumeration(["not a kind the codecs know: \(JSON.serialize(p))"])
        }
    }

    /// Every constraint a property gives (`pattern`, `minItems`, `maxLength`), of its own and its
    /// items', by property path; and what each golden payload must meet.
    static func constraints(of schema: Value, path: String = "") -> [(path: String, property: Value)] {
        guard case .object(let properties)? = schema["properties"] else { return [] }
        return properties.flatMap { name, p -> [(path: String, property: Value)] in
            let here = path.isEmpty ? name : path + "." + name
            return [(here, p)] + constraints(of: p, path: here)
        }
    }
}

extension Payload {
    var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }
}

@Suite("Event schemas")
struct EventSchemaTests {
    @Test("every catalogue event has a schema file for its current version, and every file names a known codec")
    func catalogueAndFilesAgree() throws {
        let names = Set(SchemaFiles.eventSchemaNames)
        #expect(names.count >= DomainEvent.catalogue.count)
        for type in DomainEvent.catalogue {
            #expect(names.contains("\(type.eventType).v\(type.schemaVersion).json"), "no schema for \(type.eventType) v\(type.schemaVersion)")
        }
        for name in names {
            let e = try SchemaFiles.event(name)
            #expect(name == "\(e.type).v\(e.version).json")
            #expect(DomainEvent.fields(of: e.type, version: e.version) != nil, "\(name) has no codec")
        }
    }

    @Test("the codec's field table equals the schema", arguments: SchemaFiles.eventSchemaNames)
    func fieldsMatch(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        let codec = try #require(DomainEvent.fields(of: e.type, version: e.version))
        #expect(codec == SchemaFiles.fields(of: e.schema))
        #expect(e.schema["additionalProperties"] == .bool(false))
    }

    @Test("each file says which stream it is for and whether this build writes it: current for the catalogue's version, retired for an older one", arguments: SchemaFiles.eventSchemaNames)
    func statusAndStream(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        let current = try #require(DomainEvent.catalogue.first { $0.eventType == e.type })
        #expect(e.schema["x-docket-status"] == (e.version == current.schemaVersion ? "current" : "retired"), "\(name)")
        #expect(e.version <= current.schemaVersion)
        #expect(["report", "project"].contains(e.schema["x-docket-stream"]?.stringValue ?? ""), "\(name)")
    }

    @Test("golden payloads meet the patterns, least counts and longest lengths their schema gives, and the codec refuses a payload that does not", arguments: SchemaFiles.eventSchemaNames)
    func goldenMeetConstraints(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        // The codec holds a payload to its schema's constraints too: a top-level field made to
        // break one (an empty array, an item matching no pattern) is refused.
        let members = try e.firstMembers()
        for (path, p) in SchemaFiles.constraints(of: e.schema) where !path.contains(".") {
            var broken: [Value] = []
            if p["minItems"] != nil { broken.append(.array([])) }
            if p["items"]?["pattern"] != nil, let kept = members.first(where: { $0.key == path })?.value.arrayValue {
                broken.append(.array(kept + [.string("no match")]))
            }
            if p["pattern"] != nil { broken.append(.string("no match")) }
            for value in broken {
                let payload = Value.object(members.map { $0.key == path ? ($0.key, value) : $0 })
                #expect(throws: DomainError.self, "\(name): \(path) = \(JSON.serialize(value))") { try DomainEvent(type: e.type, version: e.version, payload: payload) }
            }
        }
        func values(at path: String, in v: Value) -> [Value] {
            path.split(separator: ".").reduce([v]) { found, key in found.compactMap { $0[String(key)] } }
        }
        for (path, p) in SchemaFiles.constraints(of: e.schema) {
            for g in e.golden {
                for v in values(at: path, in: try #require(g["payload"])) {
                    let items = v.arrayValue ?? [v]
                    if let least = p["minItems"]?.intValue { #expect((v.arrayValue?.count ?? 0) >= least, "\(name): \(path)") }
                    if let longest = p["maxLength"]?.intValue, let text = v.stringValue { #expect(text.count <= longest, "\(name): \(path)") }
                    let pattern = p["pattern"]?.stringValue ?? p["items"]?["pattern"]?.stringValue
                    if let pattern {
                        let regex = try NSRegularExpression(pattern: pattern)
                        for item in items {
                            let text = try #require(item.stringValue)
                            #expect(regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil, "\(name): \(path) \(text) against \(pattern)")
                        }
                    }
                }
            }
        }
    }

    /// A copy of the schemas in tables of its own, as each thread of a partitioned rebuild has.
    let copiedSchemas = DomainEvent.Schemas.shared.privateCopy()

    @Test("golden payloads decode, re-encode to the schema's exact bytes, and upcast as stated", arguments: SchemaFiles.eventSchemaNames)
    func goldenVectors(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        let (type, version, golden) = (e.type, e.version, e.golden)
        #expect(!golden.isEmpty)
        for g in golden {
            let payload = try #require(g["payload"])
            // The schema's bytes are the payload encoding, computed outside this code base.
            #expect(Payload(payload).hex == g["binary"]?.stringValue, "\(name): binary form of \(JSON.serialize(payload))")
            let event = try DomainEvent(type: type, version: version, payload: payload)
            // A view rebuild's decoding of the stored bytes names the same event, with the shared
            // schemas or with a thread's own copy of them (which reads them the same).
            try Array(type.utf8).withUnsafeBytes { name in
                try Payload(payload).bytes.withUnsafeBytes { raw in
                    let folded = try DomainEvent(folding: name, version: version, encoded: raw)
                    #expect(folded.typeName == event.typeName && folded.schemaVersion == event.schemaVersion)
                    #expect(try DomainEvent(folding: name, version: version, encoded: raw, schemas: copiedSchemas) == folded)
                }
            }
            if let upcast = g["upcastTo"] {
                #expect(event.schemaVersion > version)
                #expect(event.value == upcast)
            } else {
                #expect(event.typeName == type && event.schemaVersion == version)
                #expect(event.value == payload, "\(name): re-encoding changes \(JSON.serialize(payload))")
                #expect(Payload(event.value).hex == g["binary"]?.stringValue)
                // Through the envelope and back.
                let proposed = try event.proposed(actor: "test", occurredAt: nil)
                #expect(try DomainEvent(type: proposed.type.rawValue, version: proposed.schemaVersion, payload: proposed.data) == event)
            }
        }
    }

    @Test("a payload missing a required field, with an unknown field or a wrong type is refused, naming the field", arguments: SchemaFiles.eventSchemaNames)
    func requiredAndUnknownFields(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        let (type, version, members) = (e.type, e.version, try e.firstMembers())
        for field in SchemaFiles.fields(of: e.schema) where field.required {
            let without = Value.object(members.filter { $0.key != field.name })
            let error = #expect(throws: DomainError.self) { try DomainEvent(type: type, version: version, payload: without) }
            #expect(error?.code == .invalidEvent)
            #expect(error?.message.contains("\"\(field.name)\"") == true, "\(error?.message ?? "")")
        }
        let extra = Value.object(members + [(key: "surprise", value: .int(1))])
        let error = #expect(throws: DomainError.self) { try DomainEvent(type: type, version: version, payload: extra) }
        #expect(error?.message.contains("unknown field \"surprise\"") == true)
        if let first = members.first {
            let wrong = Value.object([(key: first.key, value: .array([.null]))] + members.dropFirst())
            #expect(throws: DomainError.self) { try DomainEvent(type: type, version: version, payload: wrong) }
        }
        // Fields in any order (JSON from a client) decode as in field-table order; a field given
        // twice, even apart, is refused.
        let inOrder = try DomainEvent(type: type, version: version, payload: .object(members))
        #expect(try DomainEvent(type: type, version: version, payload: .object(members.reversed())) == inOrder)
        if let first = members.first, members.count > 1 {
            let twice = Value.object(members + [first])
            let error = #expect(throws: DomainError.self) { try DomainEvent(type: type, version: version, payload: twice) }
            #expect(error?.message.contains("\"\(first.key)\" appears twice") == true, "\(error?.message ?? "")")
        }
    }

    @Test(
        "decoding in place (type and payload as borrowed bytes, as a view rebuild does) gives the event, or the error, of decoding a copy",
        arguments: SchemaFiles.eventSchemaNames)
    func inPlace(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        let (type, version, members) = (e.type, e.version, try e.firstMembers())
        var payloads = e.golden.compactMap { $0["payload"] }
        payloads.append(.object(Array(members.dropFirst())))  // a field missing (refused if required)
        payloads.append(.object(members + [(key: "surprise", value: .int(1))]))
        if let first = members.first { payloads.append(.object([(key: first.key, value: .array([.null]))] + members.dropFirst())) }
        payloads.append(.object(members.reversed()))
        var checked = 0
        for (t, v) in [(type, version), (type, UInt16(99)), ("ReportEaten", UInt16(1))] {
            for payload in payloads {
                let bytes = Payload(payload).bytes
                let copied = Result { () throws(DomainError) in try DomainEvent(type: t, version: v, encoded: bytes) }
                var typeText = t
                let borrowed = typeText.withUTF8 { typeBytes in
                    bytes.withUnsafeBytes { raw in
                        Result { () throws(DomainError) in try DomainEvent(type: UnsafeRawBufferPointer(typeBytes), version: v, encoded: raw) }
                    }
                }
                switch (copied, borrowed) {
                case (.success(let a), .success(let b)): #expect(a == b, "\(name) \(t) v\(v): \(JSON.serialize(payload))")
                case (.failure(let a), .failure(let b)): #expect(a.code == b.code && a.message == b.message, "\(name) \(t) v\(v)")
                default: Issue.record("\(name) \(t) v\(v): \(copied) decoding a copy, \(borrowed) in place, for \(JSON.serialize(payload))")
                }
                checked += 1
            }
        }
        #expect(checked >= 12)  // at least four payloads under three type and version pairs
    }

    @Test(
        "every value an enumeration allows decodes, and any other is refused naming the field and the values it may take, in nested objects too",
        arguments: SchemaFiles.eventSchemaNames)
    func enumerations(_ name: String) throws {
        let e = try SchemaFiles.event(name)
        let (type, version, members) = (e.type, e.version, try e.firstMembers())
        let fields = SchemaFiles.fields(of: e.schema)
        // Each enumeration field of the payload or of an object in it: a way to set it, the
        // values it allows, and how an error names it.
        var cases: [(set: (String) -> Value, allowed: [String], named: String)] = []
        func replacing(_ key: String, in members: [(key: String, value: Value)], with value: Value) -> Value {
            .object(members.filter { $0.key != key } + [(key: key, value: value)])
        }
        for field in fields {
            switch field.kind {
            case .enumeration(let allowed):
                cases.append(({ replacing(field.name, in: members, with: .string($0)) }, allowed, "field \"\(field.name)\""))
            case .object(let nested):
                guard case .object(let inner)? = members.first(where: { $0.key == field.name })?.value else { continue }
                for n in nested {
                    guard case .enumeration(let allowed) = n.kind else { continue }
                    cases.append((
                        { replacing(field.name, in: members, with: replacing(n.name, in: inner, with: .string($0))) }, allowed,
                        "field \"\(field.name)\": field \"\(n.name)\""
                    ))
                }
            default:
                continue
            }
        }
        for c in cases {
            for value in c.allowed {
                let event = try DomainEvent(type: type, version: version, payload: c.set(value))
                #expect(JSON.serialize(event.value).contains("\"\(value)\""), "\(name): \(value)")
            }
            for wrong in ["bogus", c.allowed[0].uppercased() == c.allowed[0] ? c.allowed[0].lowercased() : c.allowed[0].uppercased(), ""] {
                let error = #expect(throws: DomainError.self) { try DomainEvent(type: type, version: version, payload: c.set(wrong)) }
                #expect(error?.message.contains("\(c.named) must be one of \(c.allowed.joined(separator: ", "))") == true, "\(error?.message ?? "")")
            }
        }
    }

    @Test("an unknown event type or schema version is a clear error")
    func unknownTypes() {
        let a = #expect(throws: DomainError.self) { try DomainEvent(type: "ReportEaten", version: 1, payload: [:]) }
        #expect(a?.code == .unknownEventType)
        let b = #expect(throws: DomainError.self) { try DomainEvent(type: "ReportSubmitted", version: 9, payload: [:]) }
        #expect(b?.message.contains("no schema version 9") == true)
    }

    /// DESIGN §2: credit types as OSV names them. Hall-of-fame JSON and an advisory's credits
    /// carry these names, so they must be the published schema's, neither more nor fewer.
    @Test("credit types are exactly the OSV schema's, in the codec and in the event schema")
    func osvCreditTypes() throws {
        let osv = try JSON.parse(String(contentsOf: sharedFile("external/osv-schema-1.x.json"), encoding: .utf8))
        let published = try #require(osv["properties"]?["credits"]?["items"]?["properties"]?["type"]?["enum"]?.arrayValue).compactMap(\.stringValue)
        #expect(published.count == 10)
        #expect(CreditType.allCases.map(\.rawValue) == published)
        let schema = try SchemaFiles.load("CreditOffered.v1.json")
        #expect(schema["properties"]?["type"]?["enum"]?.arrayValue?.compactMap(\.stringValue) == published)
    }
}
