/// Any event of the catalogue, typed.
public enum DomainEvent: Hashable, Sendable {
    case reportSubmitted(ReportSubmitted)
    case reportAcknowledged(ReportAcknowledged)
    case triageStarted(TriageStarted)
    case infoRequested(InfoRequested)
    case reporterResponded(ReporterResponded)
    case reportTriaged(ReportTriaged)
    case severityChanged(SeverityChanged)
    case assigneeChanged(AssigneeChanged)
    case statusUpdateSent(StatusUpdateSent)
    case fixStarted(FixStarted)
    case fixMerged(FixMerged)
    case fixReleased(FixReleased)
    case cveRequested(CVERequested)
    case cveAssigned(CVEAssigned)
    case advisoryPublished(AdvisoryPublished)
    case disclosureScheduled(DisclosureScheduled)
    case embargoExtended(EmbargoExtended)
    case exploitationObserved(ExploitationObserved)
    case creditOffered(CreditOffered)
    case creditAccepted(CreditAccepted)
    case creditDeclined(CreditDeclined)
    case reportClosed(ReportClosed)
    case reportReopened(ReportReopened)
    case advisoryWithdrawn(AdvisoryWithdrawn)
    case noteAdded(NoteAdded)
    case policyAdopted(PolicyAdopted)
    case maintainerAdded(MaintainerAdded)
    case maintainerRemoved(MaintainerRemoved)

    /// Every payload type with its current schema (one entry per `Schemas/events/*.v<current>.json`).
    public static let catalogue: [any DomainEventPayload.Type] = [
        ReportSubmitted.self, ReportAcknowledged.self, TriageStarted.self, InfoRequested.self, ReporterResponded.self,
        ReportTriaged.self, SeverityChanged.self, AssigneeChanged.self, StatusUpdateSent.self, FixStarted.self,
        FixMerged.self, FixReleased.self, CVERequested.self, CVEAssigned.self, AdvisoryPublished.self,
        DisclosureScheduled.self, EmbargoExtended.self, ExploitationObserved.self, CreditOffered.self,
        CreditAccepted.self, CreditDeclined.self, ReportClosed.self, ReportReopened.self, AdvisoryWithdrawn.self,
        NoteAdded.self, PolicyAdopted.self, MaintainerAdded.self, MaintainerRemoved.self,
    ]

    /// Field tables of schema versions that are still read but no longer written.
    public static let retiredSchemas: [String: [UInt16: [FieldSpec]]] = [
        ReportTriaged.eventType: [1: ReportTriaged.fieldsV1]
    ]

    /// The field table of `type` at `version`, current or retired; nil if unknown.
    public static func fields(of type: String, version: UInt16) -> [FieldSpec]? {
        if let entry = table[type], entry.version == version { return entry.fields.spec }
        return retiredSchemas[type]?[version]
    }

    /// Whether `type` names an event type of the catalogue (current or retired).
    public static func isCatalogueType(_ type: String) -> Bool {
        table[type] != nil || retiredSchemas[type] != nil
    }

    /// The catalogue by type name: position, current schema version and its compiled fields (one
    /// hash lookup per decoded event instead of a walk over the catalogue).
    static let table: [String: (position: Int, version: UInt16, fields: FieldTable)] = Dictionary(
        uniqueKeysWithValues: catalogue.enumerated().map { ($1.eventType, ($0, $1.schemaVersion, FieldTable($1.fields))) })

    /// The retired schemas, compiled.
    private static let retiredTables: [String: [UInt16: FieldTable]] = retiredSchemas.mapValues { $0.mapValues(FieldTable.init) }


    /// The typed payload.
    public var payload: any DomainEventPayload {
        switch self {
        case .reportSubmitted(let e): e
        case .reportAcknowledged(let e): e
        case .triageStarted(let e): e
        case .infoRequested(let e): e
        case .reporterResponded(let e): e
        case .reportTriaged(let e): e
        case .severityChanged(let e): e
        case .assigneeChanged(let e): e
        case .statusUpdateSent(let e): e
        case .fixStarted(let e): e
        case .fixMerged(let e): e
        case .fixReleased(let e): e
        case .cveRequested(let e): e
        case .cveAssigned(let e): e
        case .advisoryPublished(let e): e
        case .disclosureScheduled(let e): e
        case .embargoExtended(let e): e
        case .exploitationObserved(let e): e
        case .creditOffered(let e): e
        case .creditAccepted(let e): e
        case .creditDeclined(let e): e
        case .reportClosed(let e): e
        case .reportReopened(let e): e
        case .advisoryWithdrawn(let e): e
        case .noteAdded(let e): e
        case .policyAdopted(let e): e
        case .maintainerAdded(let e): e
        case .maintainerRemoved(let e): e
        }
    }

    public var typeName: String { type(of: payload).eventType }

    /// Whether its event time can end a clock, pause one (an information request, a closing and
    /// the reopening after it), set the severity a fix is judged by, extend an embargo or keep a
    /// status-update cadence: what the clocks flag when it is recorded late (`Report.lateEntries`).
    public var bearsOnClocks: Bool {
        switch self {
        case .reportAcknowledged, .infoRequested, .reporterResponded, .reportTriaged, .severityChanged, .statusUpdateSent,
            .fixReleased, .advisoryPublished, .embargoExtended, .reportClosed, .reportReopened, .advisoryWithdrawn:
            return true
        default:
            return false
        }
    }
    public var schemaVersion: UInt16 { type(of: payload).schemaVersion }

    /// The payload as a `Value`, in field-table order.
    public var value: Value {
        var b = PayloadBuilder()
        payload.build(into: &b)
        return b.value
    }

    /// Decodes a payload of `type` written with schema `version`, upcasting retired versions.
    public init(type: String, version: UInt16, payload: Value) throws(DomainError) {
        let (position, table) = try Self.schema(type, version)
        try self.init(position: position, version: version, PayloadFields(payload, table: table, context: "\(type) v\(version)"))
    }

    /// Decodes an encoded payload (as the ledger stores it) of `type` at schema `version`.
    public init(type: String, version: UInt16, encoded: [UInt8]) throws(DomainError) {
        let (position, table) = try Self.schema(type, version)
        try self.init(position: position, version: version, PayloadFields(encoded: encoded, table: table, context: "\(type) v\(version)"))
    }

    /// Decodes an encoded payload read in place (a view rebuild's: `EnvelopeCodec.Fields`), its
    /// type given as UTF-8 bytes. Nothing is kept of `type` or `encoded` but the values the typed
    /// event holds.
    public init(type: UnsafeRawBufferPointer, version: UInt16, encoded: UnsafeRawBufferPointer) throws(DomainError) {
        let (position, table) = try Schemas.shared.schema(type, version)
        try self.init(
            position: position, version: version,
            PayloadFields(borrowing: encoded, table: table, context: "\(String(decoding: type, as: UTF8.self)) v\(version)"))
    }

    /// `init(type:version:encoded:)` for a fold into the views (`Projection`): the payload is
    /// checked against its schema all the same (one that does not check is undecodable, as
    /// ever), but of the event types whose payload no view keeps (`unreadByFold`), the typed
    /// event is made without reading it (a status update's summary, a note's text: strings
    /// made for every such event only to be dropped).
    ///
    /// `schemas` finds the type's schema: a thread folding many events at once as others do
    /// (a partitioned rebuild) passes its own copy (`Schemas.privateCopy`).
    public init(folding type: UnsafeRawBufferPointer, version: UInt16, encoded: UnsafeRawBufferPointer, schemas: Schemas = .shared)
        throws(DomainError)
    {
        let (position, table) = try schemas.schema(type, version)
        let fields = try PayloadFields(borrowing: encoded, table: table, context: "\(String(decoding: type, as: UTF8.self)) v\(version)")
        if let unread = schemas.unreadByFold[position] {
            self = unread
        } else {
            try self.init(position: position, version: version, fields)
        }
    }

    /// By catalogue position, the event with an empty payload for the types whose payload is in
    /// no view (`Report.Fields.apply` reads nothing of it, nor does the lifecycle; test
    /// `foldingDecode` folds each with and without its payload); nil for the others. (Each
    /// `Schemas` holds its own copy, as it does the field tables.)
    private static let unreadByFold: [DomainEvent?] = {
        let unread: [DomainEvent] = [
            .triageStarted(TriageStarted()), .infoRequested(InfoRequested()), .reporterResponded(ReporterResponded()),
            .statusUpdateSent(StatusUpdateSent()), .fixStarted(FixStarted()), .cveRequested(CVERequested()),
            .exploitationObserved(ExploitationObserved()), .reportReopened(ReportReopened()), .noteAdded(NoteAdded(text: "")),
        ]
        return catalogue.map { type in unread.first { $0.typeName == type.eventType } }
    }()

    /// The catalogue position of `type` and its field table at `version`.
    private static func schema(_ type: String, _ version: UInt16) throws(DomainError) -> (position: Int, fields: FieldTable) {
        guard let entry = table[type] else {
            throw DomainError(.unknownEventType, "\(type) is not an event type of the catalogue")
        }
        guard let spec = entry.version == version ? entry.fields : retiredTables[type]?[version] else {
            throw DomainError(.unknownEventType, "\(type) has no schema version \(version) in this build")
        }
        return (entry.position, spec)
    }

    /// The catalogue's current schemas, for finding one from a type name's UTF-8 bytes (every
    /// event a view fold reads): by a key made of the name's length and three of its bytes, then
    /// compared in full. (Nothing hashed, and nothing retained but the table found.)
    ///
    /// Each event decoded retains the field table found for as long as its fields are read, and
    /// an event whose payload no view reads is copied from `unreadByFold`. Two threads decoding
    /// with the same tables and array write the same reference counts from two cores, and that
    /// cache line then moves between them for every event: a partitioned view rebuild gives each
    /// thread a `privateCopy`. (The 1M-event rebuild of every view took 6% less CPU time with
    /// the tables copied, in eight interleaved runs of each, and the fold alone about 3% less
    /// again with the array copied too.)
    public final class Schemas: Sendable {
        /// The tables every decoding uses unless given others.
        public static let shared = Schemas(copying: false)

        /// By catalogue position.
        private let keys: [UInt64]
        private let names: [String]
        private let versions: [UInt16]
        private let tables: [FieldTable]
        /// `DomainEvent.unreadByFold`.
        let unreadByFold: [DomainEvent?]

        private init(copying: Bool) {
            // A copy's tables and array are made anew. (The names are literals, counted by no one.)
            names = DomainEvent.catalogue.map { $0.eventType }
            keys = names.map { name in Array(name.utf8).withUnsafeBytes { Self.key($0) } }
            versions = DomainEvent.catalogue.map { $0.schemaVersion }
            tables = DomainEvent.catalogue.map { copying ? FieldTable($0.fields) : DomainEvent.table[$0.eventType]!.fields }
            // (`map` makes a new array; the events' empty payloads hold nothing shared.)
            unreadByFold = copying ? DomainEvent.unreadByFold.map { $0 } : DomainEvent.unreadByFold
        }

        /// The same schemas in tables of their own, for one thread's use.
        public func privateCopy() -> Schemas { Schemas(copying: true) }

        private static func key(_ name: UnsafeRawBufferPointer) -> UInt64 {
            let n = name.count
            guard n > 0 else { return 0 }
            return UInt64(n) | UInt64(name[0]) << 16 | UInt64(name[n / 2]) << 24 | UInt64(name[n - 1]) << 32
        }

        /// The catalogue position of the type these UTF-8 bytes name, and its field table at
        /// `version` (a retired version's from the shared `retiredTables`).
        func schema(_ type: UnsafeRawBufferPointer, _ version: UInt16) throws(DomainError) -> (position: Int, fields: FieldTable) {
            let key = Self.key(type)
            for i in keys.indices where keys[i] == key && utf8Equal(names[i], type) {
                if versions[i] == version { return (i, tables[i]) }
                break
            }
            // Unknown, or a retired version: the `String` lookup says which.
            return try DomainEvent.schema(String(decoding: type, as: UTF8.self), version)
        }
    }

    private init(position: Int, version: UInt16, _ f: PayloadFields) throws(DomainError) {
        switch position {
        case 0: self = .reportSubmitted(try ReportSubmitted(f))
        case 1: self = .reportAcknowledged(try ReportAcknowledged(f))
        case 2: self = .triageStarted(try TriageStarted(f))
        case 3: self = .infoRequested(try InfoRequested(f))
        case 4: self = .reporterResponded(try ReporterResponded(f))
        case 5: self = .reportTriaged(version == 1 ? ReportTriaged(v1: f) : try ReportTriaged(f))
        case 6: self = .severityChanged(try SeverityChanged(f))
        case 7: self = .assigneeChanged(try AssigneeChanged(f))
        case 8: self = .statusUpdateSent(try StatusUpdateSent(f))
        case 9: self = .fixStarted(try FixStarted(f))
        case 10: self = .fixMerged(try FixMerged(f))
        case 11: self = .fixReleased(try FixReleased(f))
        case 12: self = .cveRequested(try CVERequested(f))
        case 13: self = .cveAssigned(try CVEAssigned(f))
        case 14: self = .advisoryPublished(try AdvisoryPublished(f))
        case 15: self = .disclosureScheduled(try DisclosureScheduled(f))
        case 16: self = .embargoExtended(try EmbargoExtended(f))
        case 17: self = .exploitationObserved(try ExploitationObserved(f))
        case 18: self = .creditOffered(try CreditOffered(f))
        case 19: self = .creditAccepted(try CreditAccepted(f))
        case 20: self = .creditDeclined(try CreditDeclined(f))
        case 21: self = .reportClosed(try ReportClosed(f))
        case 22: self = .reportReopened(try ReportReopened(f))
        case 23: self = .advisoryWithdrawn(try AdvisoryWithdrawn(f))
        case 24: self = .noteAdded(try NoteAdded(f))
        case 25: self = .policyAdopted(try PolicyAdopted(f))
        case 26: self = .maintainerAdded(try MaintainerAdded(f))
        case 27: self = .maintainerRemoved(try MaintainerRemoved(f))
        default: preconditionFailure("catalogue position \(position) has no decoder")
        }
    }

    /// Decodes a recorded event of the catalogue.
    public init(_ event: RecordedEvent) throws(DomainError) {
        try self.init(type: event.type.rawValue, version: event.schemaVersion, encoded: event.payload.bytes)
    }

    /// The envelope to append for this event.
    public func proposed(id: EventID = .random(), actor: String, occurredAt: Timestamp?) throws(CoreError) -> ProposedEvent {
        try ProposedEvent(
            id: id, type: EventType(typeName), schemaVersion: schemaVersion, actor: actor, occurredAt: occurredAt, data: value)
    }
}

/// Stream names of the domain: one stream per report, one per project.
public enum DomainStreams {
    public static let reportPrefix = "report/"
    public static let projectPrefix = "project/"

    /// What follows `prefix` in the stream `name` (a report's id, a project's name), or nil if it
    /// does not start with it. By bytes, as the log and the views tell streams apart: `hasPrefix`
    /// compares characters, and a combining mark after the slash joins it into one, so
    /// "report/\u{301}x" would not start with "report/" there but would be a report's stream in
    /// every view.
    public static func key(of name: String, after prefix: String) -> String? {
        guard name.utf8.starts(with: prefix.utf8) else { return nil }
        return String(decoding: name.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }

    public static func report(_ id: String) throws(CoreError) -> StreamName { try StreamName(reportPrefix + id) }
    public static func project(_ name: String) throws(CoreError) -> StreamName { try StreamName(projectPrefix + name) }

    /// Checks a report id or project name: 1–64 of `A–Z a–z 0–9 . _ -`, starting with a letter or digit.
    public static func validateIdentifier(_ s: String, what: String) throws(DomainError) {
        let u = Array(s.utf8)
        let ok = !u.isEmpty && u.count <= 64
            && u.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
            && u[0] != 0x2E && u[0] != 0x5F && u[0] != 0x2D
        guard ok else {
            throw DomainError(.invalidCommand, "\(what) \"\(s)\" must be 1–64 of A–Z a–z 0–9 . _ -, starting with a letter or digit")
        }
    }
}
