// The lifecycle event catalogue (DESIGN §2). Each payload type states its schema once as a
// field table that must equal `Schemas/events/<Type>.v<N>.json`; older schema versions are
// upcast on read and never rewritten.

/// One typed event payload.
public protocol DomainEventPayload: Hashable, Sendable {
    /// The event type name stored in the envelope, e.g. `ReportSubmitted`.
    static var eventType: String { get }
    /// The schema version this build writes.
    static var schemaVersion: UInt16 { get }
    /// The fields of `schemaVersion`, in the order they are written.
    static var fields: [FieldSpec] { get }
    init(_ fields: PayloadFields) throws(DomainError)
    func build(into payload: inout PayloadBuilder)
}

extension DomainEventPayload {
    /// The current schema's field table, compiled once (`PayloadFields` checks payloads against it).
    public static var fieldTable: FieldTable { DomainEvent.table[eventType]!.fields }
}

/// What kind of principal a reporter wants to be credited as.
public enum CreditPreference: String, Hashable, Sendable, CaseIterable {
    /// Credited by display name (and handle).
    case named
    /// Credited by handle only.
    case handle
    /// Counted in the hall of fame, never named.
    case anonymous
    /// Not credited at all.
    case none
}

/// Credit types as OSV and GitHub advisories name them.
public enum CreditType: String, Hashable, Sendable, CaseIterable {
    case finder = "FINDER", reporter = "REPORTER", analyst = "ANALYST", coordinator = "COORDINATOR"
    case remediationDeveloper = "REMEDIATION_DEVELOPER", remediationReviewer = "REMEDIATION_REVIEWER"
    case remediationVerifier = "REMEDIATION_VERIFIER", tool = "TOOL", sponsor = "SPONSOR", other = "OTHER"

    /// `[.finder]`, made once: the credit of nearly every reporter, which views make for every
    /// report (an array literal would be allocated each time).
    static let finderOnly: [CreditType] = [.finder]
}

/// How a report was closed without a fix.
public enum Resolution: String, Hashable, Sendable, CaseIterable {
    case duplicate, informative, notApplicable = "not-applicable", outOfScope = "out-of-scope", spam
    case wontFix = "wont-fix"
}

/// The person who reported a vulnerability. `contact` is personal data: views show it to
/// maintainers only, and it never appears in the hall of fame.
public struct Reporter: Hashable, Sendable {
    public var handle: String
    public var name: String?
    public var contact: String?
    public var credit: CreditPreference

    public init(handle: String, name: String? = nil, contact: String? = nil, credit: CreditPreference = .named) {
        self.handle = handle
        self.name = name
        self.contact = contact
        self.credit = credit
    }

    static let fields: [FieldSpec] = [
        FieldSpec("handle", .string), .optional("name", .string), .optional("contact", .string),
        FieldSpec("credit", .enumeration(CreditPreference.allCases.map(\.rawValue))),
    ]
}

private let severityNames = CVSSSeverity.allCases.map(\.rawValue)

// MARK: - Report events

public struct ReportSubmitted: DomainEventPayload {
    public static let eventType = "ReportSubmitted"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [
        FieldSpec("project", .string), FieldSpec("title", .string), FieldSpec("reporter", .object(Reporter.fields)),
        .optional("component", .string), .optional("affected", .stringArray),
        .optional("claimedSeverity", .enumeration(severityNames)),
    ]
    public var project: String
    public var title: String
    public var reporter: Reporter
    public var component: String?
    public var affected: [String]?
    public var claimedSeverity: CVSSSeverity?

    public init(project: String, title: String, reporter: Reporter, component: String? = nil, affected: [String]? = nil, claimedSeverity: CVSSSeverity? = nil) {
        self.project = project
        self.title = title
        self.reporter = reporter
        self.component = component
        self.affected = affected
        self.claimedSeverity = claimedSeverity
    }

    public init(_ f: PayloadFields) throws(DomainError) {
        // The reporter object was checked against `Reporter.fields` with the rest of the payload.
        guard let r = f.object("reporter") else { throw DomainError(.invalidEvent, "ReportSubmitted: missing required field \"reporter\"") }
        self.init(
            project: f.string("project"), title: f.string("title"),
            reporter: Reporter(handle: r.string("handle"), name: r.optionalString("name"), contact: r.optionalString("contact"), credit: r.enumeration("credit", as: CreditPreference.self)),
            component: f.optionalString("component"), affected: f.has("affected") ? f.strings("affected") : nil,
            claimedSeverity: f.optionalEnumeration("claimedSeverity", as: CVSSSeverity.self))
    }

    public func build(into p: inout PayloadBuilder) {
        p.set("project", project)
        p.set("title", title)
        var r = PayloadBuilder()
        r.set("handle", reporter.handle)
        r.set("name", reporter.name)
        r.set("contact", reporter.contact)
        r.set("credit", reporter.credit)
        p.set("reporter", value: r.value)
        p.set("component", component)
        p.set("affected", affected)
        p.set("claimedSeverity", claimedSeverity)
    }
}

public struct ReportAcknowledged: DomainEventPayload {
    public static let eventType = "ReportAcknowledged"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("assignee", .string)]
    /// The maintainer who becomes the reporter's primary contact.
    public var assignee: String
    public init(assignee: String) { self.assignee = assignee }
    public init(_ f: PayloadFields) throws(DomainError) { assignee = f.string("assignee") }
    public func build(into p: inout PayloadBuilder) { p.set("assignee", assignee) }
}

public struct TriageStarted: DomainEventPayload {
    public static let eventType = "TriageStarted"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = []
    public init() {}
    public init(_ f: PayloadFields) throws(DomainError) {}
    public func build(into p: inout PayloadBuilder) {}
}

public struct InfoRequested: DomainEventPayload {
    public static let eventType = "InfoRequested"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("question", .string)]
    public var question: String?
    public init(question: String? = nil) { self.question = question }
    public init(_ f: PayloadFields) throws(DomainError) { question = f.optionalString("question") }
    public func build(into p: inout PayloadBuilder) { p.set("question", question) }
}

public struct ReporterResponded: DomainEventPayload {
    public static let eventType = "ReporterResponded"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("summary", .string)]
    public var summary: String?
    public init(summary: String? = nil) { self.summary = summary }
    public init(_ f: PayloadFields) throws(DomainError) { summary = f.optionalString("summary") }
    public func build(into p: inout PayloadBuilder) { p.set("summary", summary) }
}

/// Validity was confirmed: the report is accepted with a severity and optional CVSS vectors.
///
/// Version 1 carried one `cvss` vector of any version; version 2 splits it into `cvss31` and
/// `cvss40` and adds CWE ids, component and affected ranges. Version 1 events are upcast.
public struct ReportTriaged: DomainEventPayload {
    public static let eventType = "ReportTriaged"
    public static let schemaVersion: UInt16 = 2
    public static let fields: [FieldSpec] = [
        FieldSpec("severity", .enumeration(severityNames)), .optional("cvss31", .string), .optional("cvss40", .string),
        .optional("cwes", .stringArray), .optional("component", .string), .optional("affected", .stringArray),
    ]
    public static let fieldsV1: [FieldSpec] = [FieldSpec("severity", .enumeration(severityNames)), .optional("cvss", .string)]

    public var severity: CVSSSeverity
    public var cvss31: String?
    public var cvss40: String?
    public var cwes: [String]
    public var component: String?
    public var affected: [String]

    public init(severity: CVSSSeverity, cvss31: String? = nil, cvss40: String? = nil, cwes: [String] = [], component: String? = nil, affected: [String] = []) {
        self.severity = severity
        self.cvss31 = cvss31
        self.cvss40 = cvss40
        self.cwes = cwes
        self.component = component
        self.affected = affected
    }

    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(
            severity: f.enumeration("severity", as: CVSSSeverity.self), cvss31: f.optionalString("cvss31"),
            cvss40: f.optionalString("cvss40"), cwes: f.strings("cwes"), component: f.optionalString("component"),
            affected: f.strings("affected"))
    }

    /// Upcasts a version 1 payload: its single vector goes to the field of its version.
    init(v1 f: PayloadFields) {
        let vector = f.optionalString("cvss")
        self.init(
            severity: f.enumeration("severity", as: CVSSSeverity.self),
            cvss31: vector.flatMap { $0.hasPrefix("CVSS:3.1/") ? $0 : nil },
            cvss40: vector.flatMap { $0.hasPrefix("CVSS:4.0/") ? $0 : nil })
    }

    public func build(into p: inout PayloadBuilder) {
        p.set("severity", severity)
        p.set("cvss31", cvss31)
        p.set("cvss40", cvss40)
        p.set("cwes", cwes.isEmpty ? nil : cwes)
        p.set("component", component)
        p.set("affected", affected.isEmpty ? nil : affected)
    }
}

public struct SeverityChanged: DomainEventPayload {
    public static let eventType = "SeverityChanged"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [
        FieldSpec("severity", .enumeration(severityNames)), .optional("cvss31", .string), .optional("cvss40", .string),
        .optional("reason", .string),
    ]
    public var severity: CVSSSeverity
    public var cvss31: String?
    public var cvss40: String?
    public var reason: String?
    public init(severity: CVSSSeverity, cvss31: String? = nil, cvss40: String? = nil, reason: String? = nil) {
        self.severity = severity
        self.cvss31 = cvss31
        self.cvss40 = cvss40
        self.reason = reason
    }
    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(severity: f.enumeration("severity", as: CVSSSeverity.self), cvss31: f.optionalString("cvss31"), cvss40: f.optionalString("cvss40"), reason: f.optionalString("reason"))
    }
    public func build(into p: inout PayloadBuilder) {
        p.set("severity", severity)
        p.set("cvss31", cvss31)
        p.set("cvss40", cvss40)
        p.set("reason", reason)
    }
}

public struct AssigneeChanged: DomainEventPayload {
    public static let eventType = "AssigneeChanged"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("assignee", .string)]
    public var assignee: String
    public init(assignee: String) { self.assignee = assignee }
    public init(_ f: PayloadFields) throws(DomainError) { assignee = f.string("assignee") }
    public func build(into p: inout PayloadBuilder) { p.set("assignee", assignee) }
}

public struct StatusUpdateSent: DomainEventPayload {
    public static let eventType = "StatusUpdateSent"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("summary", .string)]
    public var summary: String?
    public init(summary: String? = nil) { self.summary = summary }
    public init(_ f: PayloadFields) throws(DomainError) { summary = f.optionalString("summary") }
    public func build(into p: inout PayloadBuilder) { p.set("summary", summary) }
}

public struct FixStarted: DomainEventPayload {
    public static let eventType = "FixStarted"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("branch", .string)]
    public var branch: String?
    public init(branch: String? = nil) { self.branch = branch }
    public init(_ f: PayloadFields) throws(DomainError) { branch = f.optionalString("branch") }
    public func build(into p: inout PayloadBuilder) { p.set("branch", branch) }
}

public struct FixMerged: DomainEventPayload {
    public static let eventType = "FixMerged"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("commit", .string)]
    public var commit: String
    public init(commit: String) { self.commit = commit }
    public init(_ f: PayloadFields) throws(DomainError) { commit = f.string("commit") }
    public func build(into p: inout PayloadBuilder) { p.set("commit", commit) }
}

public struct FixReleased: DomainEventPayload {
    public static let eventType = "FixReleased"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("versions", .stringArray)]
    public var versions: [String]
    public init(versions: [String]) { self.versions = versions }
    public init(_ f: PayloadFields) throws(DomainError) { versions = f.strings("versions") }
    public func build(into p: inout PayloadBuilder) { p.set("versions", versions) }
}

public struct CVERequested: DomainEventPayload {
    public static let eventType = "CVERequested"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("cna", .string)]
    public var cna: String?
    public init(cna: String? = nil) { self.cna = cna }
    public init(_ f: PayloadFields) throws(DomainError) { cna = f.optionalString("cna") }
    public func build(into p: inout PayloadBuilder) { p.set("cna", cna) }
}

public struct CVEAssigned: DomainEventPayload {
    public static let eventType = "CVEAssigned"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("cve", .string)]
    public var cve: String
    public init(cve: String) { self.cve = cve }
    public init(_ f: PayloadFields) throws(DomainError) { cve = f.string("cve") }
    public func build(into p: inout PayloadBuilder) { p.set("cve", cve) }
}

public struct AdvisoryPublished: DomainEventPayload {
    public static let eventType = "AdvisoryPublished"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("ghsa", .string), .optional("cve", .string), .optional("url", .string)]
    public var ghsa: String?
    public var cve: String?
    public var url: String?
    public init(ghsa: String? = nil, cve: String? = nil, url: String? = nil) {
        self.ghsa = ghsa
        self.cve = cve
        self.url = url
    }
    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(ghsa: f.optionalString("ghsa"), cve: f.optionalString("cve"), url: f.optionalString("url"))
    }
    public func build(into p: inout PayloadBuilder) {
        p.set("ghsa", ghsa)
        p.set("cve", cve)
        p.set("url", url)
    }
}

public struct DisclosureScheduled: DomainEventPayload {
    public static let eventType = "DisclosureScheduled"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("date", .timestamp)]
    public var date: Timestamp
    public init(date: Timestamp) { self.date = date }
    public init(_ f: PayloadFields) throws(DomainError) { date = f.timestamp("date") }
    public func build(into p: inout PayloadBuilder) { p.set("date", date) }
}

public struct EmbargoExtended: DomainEventPayload {
    public static let eventType = "EmbargoExtended"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("until", .timestamp), FieldSpec("reason", .string), FieldSpec("reporterAgreed", .bool)]
    public var until: Timestamp
    public var reason: String
    public var reporterAgreed: Bool
    public init(until: Timestamp, reason: String, reporterAgreed: Bool) {
        self.until = until
        self.reason = reason
        self.reporterAgreed = reporterAgreed
    }
    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(until: f.timestamp("until"), reason: f.string("reason"), reporterAgreed: f.bool("reporterAgreed"))
    }
    public func build(into p: inout PayloadBuilder) {
        p.set("until", until)
        p.set("reason", reason)
        p.set("reporterAgreed", reporterAgreed)
    }
}

public struct ExploitationObserved: DomainEventPayload {
    public static let eventType = "ExploitationObserved"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("source", .string)]
    public var source: String?
    public init(source: String? = nil) { self.source = source }
    public init(_ f: PayloadFields) throws(DomainError) { source = f.optionalString("source") }
    public func build(into p: inout PayloadBuilder) { p.set("source", source) }
}

public struct CreditOffered: DomainEventPayload {
    public static let eventType = "CreditOffered"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("person", .string), FieldSpec("type", .enumeration(CreditType.allCases.map(\.rawValue)))]
    public var person: String
    public var type: CreditType
    public init(person: String, type: CreditType) {
        self.person = person
        self.type = type
    }
    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(person: f.string("person"), type: f.enumeration("type", as: CreditType.self))
    }
    public func build(into p: inout PayloadBuilder) {
        p.set("person", person)
        p.set("type", type)
    }
}

public struct CreditAccepted: DomainEventPayload {
    public static let eventType = "CreditAccepted"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [
        FieldSpec("person", .string), .optional("displayName", .string),
        FieldSpec("preference", .enumeration([CreditPreference.named, .handle, .anonymous].map(\.rawValue))),
    ]
    public var person: String
    public var displayName: String?
    /// How to credit them; `none` is a decline, not an acceptance.
    public var preference: CreditPreference
    public init(person: String, displayName: String? = nil, preference: CreditPreference = .named) {
        self.person = person
        self.displayName = displayName
        self.preference = preference
    }
    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(person: f.string("person"), displayName: f.optionalString("displayName"), preference: f.enumeration("preference", as: CreditPreference.self))
    }
    public func build(into p: inout PayloadBuilder) {
        p.set("person", person)
        p.set("displayName", displayName)
        p.set("preference", preference)
    }
}

public struct CreditDeclined: DomainEventPayload {
    public static let eventType = "CreditDeclined"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("person", .string)]
    public var person: String
    public init(person: String) { self.person = person }
    public init(_ f: PayloadFields) throws(DomainError) { person = f.string("person") }
    public func build(into p: inout PayloadBuilder) { p.set("person", person) }
}

public struct ReportClosed: DomainEventPayload {
    public static let eventType = "ReportClosed"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [
        FieldSpec("resolution", .enumeration(Resolution.allCases.map(\.rawValue))), .optional("duplicateOf", .string),
        .optional("reason", .string),
    ]
    public var resolution: Resolution
    public var duplicateOf: String?
    public var reason: String?
    public init(resolution: Resolution, duplicateOf: String? = nil, reason: String? = nil) {
        self.resolution = resolution
        self.duplicateOf = duplicateOf
        self.reason = reason
    }
    public init(_ f: PayloadFields) throws(DomainError) {
        self.init(resolution: f.enumeration("resolution", as: Resolution.self), duplicateOf: f.optionalString("duplicateOf"), reason: f.optionalString("reason"))
    }
    public func build(into p: inout PayloadBuilder) {
        p.set("resolution", resolution)
        p.set("duplicateOf", duplicateOf)
        p.set("reason", reason)
    }
}

public struct ReportReopened: DomainEventPayload {
    public static let eventType = "ReportReopened"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [.optional("reason", .string)]
    public var reason: String?
    public init(reason: String? = nil) { self.reason = reason }
    public init(_ f: PayloadFields) throws(DomainError) { reason = f.optionalString("reason") }
    public func build(into p: inout PayloadBuilder) { p.set("reason", reason) }
}

public struct AdvisoryWithdrawn: DomainEventPayload {
    public static let eventType = "AdvisoryWithdrawn"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("reason", .string)]
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public init(_ f: PayloadFields) throws(DomainError) { reason = f.string("reason") }
    public func build(into p: inout PayloadBuilder) { p.set("reason", reason) }
}

public struct NoteAdded: DomainEventPayload {
    public static let eventType = "NoteAdded"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("text", .string)]
    /// Internal: never shown to reporters.
    public var text: String
    public init(text: String) { self.text = text }
    public init(_ f: PayloadFields) throws(DomainError) { text = f.string("text") }
    public func build(into p: inout PayloadBuilder) { p.set("text", text) }
}

// MARK: - Project events

/// A project adopts a disclosure policy. The payload carries the policy in canonical text and
/// the time-zone rules it was evaluated with, so that replaying the log anywhere gives the same
/// deadlines as the node that recorded it.
public struct PolicyAdopted: DomainEventPayload {
    public static let eventType = "PolicyAdopted"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [
        FieldSpec("policy", .string), FieldSpec("zone", .string), FieldSpec("zoneTransitions", .stringArray),
    ]
    /// The policy document in canonical form.
    public var policyText: String
    public var zone: ZoneRules

    public init(policyText: String, zone: ZoneRules) {
        self.policyText = policyText
        self.zone = zone
    }

    public init(_ f: PayloadFields) throws(DomainError) {
        policyText = f.string("policy")
        do {
            zone = try ZoneRules(identifier: f.string("zone"), encodedTransitions: f.strings("zoneTransitions"))
        } catch {
            throw DomainError(.invalidEvent, "PolicyAdopted: \(error.message)")
        }
    }

    public func build(into p: inout PayloadBuilder) {
        p.set("policy", policyText)
        p.set("zone", zone.identifier)
        p.set("zoneTransitions", zone.encodedTransitions)
    }
}

public struct MaintainerAdded: DomainEventPayload {
    public static let eventType = "MaintainerAdded"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("handle", .string)]
    public var handle: String
    public init(handle: String) { self.handle = handle }
    public init(_ f: PayloadFields) throws(DomainError) { handle = f.string("handle") }
    public func build(into p: inout PayloadBuilder) { p.set("handle", handle) }
}

public struct MaintainerRemoved: DomainEventPayload {
    public static let eventType = "MaintainerRemoved"
    public static let schemaVersion: UInt16 = 1
    public static let fields: [FieldSpec] = [FieldSpec("handle", .string)]
    public var handle: String
    public init(handle: String) { self.handle = handle }
    public init(_ f: PayloadFields) throws(DomainError) { handle = f.string("handle") }
    public func build(into p: inout PayloadBuilder) { p.set("handle", handle) }
}
