/// Where a report is in its lifecycle (DESIGN §2):
/// `submitted → acknowledged → triaging ⇄ needs-info → accepted → fixing → fix-released → disclosed`,
/// closed with a resolution from any state before the fix ships, reopened back into triage,
/// and withdrawn after disclosure. A report disclosed before its fix stays disclosed while the
/// fix is recorded, or closed as wont-fix and reopened.
public enum ReportState: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case submitted
    case acknowledged
    case triaging
    case needsInfo = "needs-info"
    case accepted
    case fixing
    case fixReleased = "fix-released"
    case disclosed
    case closed
    case withdrawn

    public var description: String { rawValue }

    /// Not yet disclosed, closed or withdrawn (a disclosed report may still owe its fix).
    public var isOpen: Bool { self != .disclosed && self != .closed && self != .withdrawn }
}

/// A credit offered on a report, and what the person said.
public struct CreditRecord: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable { case offered, accepted, declined }
    public var person: String
    /// Every type offered, in order of offer.
    public var types: [CreditType]
    public var status: Status
    public var displayName: String?
    public var preference: CreditPreference
    /// Types offered since the person last accepted (or ever, if they have not), which they have
    /// not accepted yet: an acceptance covers what was offered until then, not credit for work
    /// they never agreed to be named for. Their next acceptance takes these too. (The reporter
    /// is the finder by their submission: `Report.reporterCredit`.)
    public var awaiting: [CreditType] = []

    /// The types the person is credited for: those offered, less any awaiting their acceptance.
    public var acceptedTypes: [CreditType] { awaiting.isEmpty ? types : types.filter { !awaiting.contains($0) } }
}

/// An interval during which the report waited on the reporter (needs-info).
public struct WaitInterval: Hashable, Sendable {
    public var start: Timestamp
    /// nil while still waiting.
    public var end: Timestamp?
    /// The report was closed while still waiting (no answer, no triage): what ended the wait.
    public var endedByClosing = false
}

/// An embargo extension and the time it gives (its event time): one dated after the disclosure
/// deadline had already passed does not undo the breach.
public struct EmbargoExtension: Hashable, Sendable {
    public var extended: EmbargoExtended
    public var at: Timestamp
    /// When it was recorded, if known: the disclosure clock says so when that was well after `at`.
    public var recordedAt: Timestamp?

    public init(_ extended: EmbargoExtended, at: Timestamp, recordedAt: Timestamp? = nil) {
        self.extended = extended
        self.at = at
        self.recordedAt = recordedAt
    }

    /// The late entry it is, if it was recorded more than `Report.lateEntryTolerance` after `at`.
    public var lateEntry: LateEntry? {
        guard let recordedAt, LateEntry.isLate(at, recordedAt: recordedAt) else { return nil }
        return LateEntry(type: EmbargoExtended.eventType, occurredAt: at, recordedAt: recordedAt)
    }

    public var until: Timestamp { extended.until }
    public var reporterAgreed: Bool { extended.reporterAgreed }
}

/// An event of a report recorded well after the time it gives (`--at`): an imported history, a
/// milestone entered late — or one backdated to meet a deadline. The log keeps both times; the
/// clocks it ends say so.
public struct LateEntry: Hashable, Sendable {
    public var type: String
    public var occurredAt: Timestamp
    public var recordedAt: Timestamp

    public init(type: String, occurredAt: Timestamp, recordedAt: Timestamp) {
        self.type = type
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
    }

    /// Whether an event giving `occurredAt` and recorded at `recordedAt` was recorded late: more
    /// than `Report.lateEntryTolerance` after.
    public static func isLate(_ occurredAt: Timestamp, recordedAt: Timestamp) -> Bool {
        recordedAt - occurredAt > Report.lateEntryTolerance
    }
}

/// A severity assessed at an instant (triage or a later change).
public struct SeverityAssessment: Hashable, Sendable {
    public var at: Timestamp
    public var severity: CVSSSeverity
}

/// One report as its events have made it: the aggregate that commands are decided against and
/// the row of the advisory-state view. `apply` is the pure evolve function.
///
/// A report is a value, but a large one (some forty fields, many of them strings and arrays), and
/// views pass reports around by the hundred thousand: copying one field by field costs a retain of
/// every reference it holds. So its fields live in one copy-on-write box: a copy is one retain,
/// and a report is copied for real only when a shared one is changed. Fields read and write as if
/// they were stored here (`report.state`, `report.credits.append(…)`), through `Report.Fields`.
@dynamicMemberLookup
public struct Report: Hashable, @unchecked Sendable {
    // @unchecked: `box` is all a report stores. Its fields are Sendable, and a box is written only
    // through `unique()`, when no other report (on any thread) shares it; `ManagedBuffer` itself
    // is not declared Sendable.

    /// Everything a report holds.
    public struct Fields: Hashable, Sendable {
        public let id: String
        public var project: String
        public var title: String
        public var component: String?
        public var reporter: Reporter
        public var state: ReportState
        /// The number of events in the report's stream (the expected version of the next append).
        public var version: UInt64 = 0

        public var severity: CVSSSeverity?
        public var claimedSeverity: CVSSSeverity?
        public var cvss31: String?
        public var cvss40: String?
        public var cwes: [String] = []
        public var affected: [String] = []
        public var fixedVersions: [String] = []
        public var commits: [String] = []
        public var assignee: String?
        public var cveRequested = false
        public var cve: String?
        public var ghsa: String?
        public var advisoryURL: String?
        public var scheduledDisclosure: Timestamp?
        /// Embargo extensions, in log order.
        public var embargoExtensions: [EmbargoExtension] = []
        public var exploitedAt: Timestamp?
        public var credits: [CreditRecord] = []
        public var resolution: Resolution?
        public var duplicateOf: String?
        public var withdrawalReason: String?
        public var notes = 0

        // Milestones (event times as the client gave them).
        public var submittedAt: Timestamp
        public var acknowledgedAt: Timestamp?
        public var acceptedAt: Timestamp?
        public var fixStartedAt: Timestamp?
        public var fixReleasedAt: Timestamp?
        public var disclosedAt: Timestamp?
        public var closedAt: Timestamp?
        public var withdrawnAt: Timestamp?
        public var waits: [WaitInterval] = []
        /// Intervals the report spent closed before being reopened (and the current one, open-ended,
        /// while it is closed). No clock runs while a report is closed.
        public var closures: [WaitInterval] = []
        /// Every assessment, oldest first: a fix clock is judged by the severity in force when it ended.
        public var severityHistory: [SeverityAssessment] = []
        public var statusUpdates: [Timestamp] = []
        public var lastEventAt: Timestamp
        /// Events that end a clock or move a deadline (`DomainEvent.bearsOnClocks`) recorded more
        /// than `Report.lateEntryTolerance` after their event time, in log order.
        public var lateEntries: [LateEntry] = []

        /// The report a `ReportSubmitted` creates.
        init(id: String, submitted e: ReportSubmitted, at t: Timestamp) {
            self.id = id
            project = e.project
            title = e.title
            component = e.component
            reporter = e.reporter
            state = .submitted
            claimedSeverity = e.claimedSeverity
            affected = e.affected ?? []
            submittedAt = t
            lastEventAt = t
            version = 1
        }

        /// Evolves the report by one of its events (already decided legal, or read from the log),
        /// recorded at `recordedAt` when known.
        mutating func apply(_ event: DomainEvent, at t: Timestamp, recordedAt: Timestamp? = nil) {
            version += 1
            if let recordedAt, LateEntry.isLate(t, recordedAt: recordedAt), event.bearsOnClocks {
                // An imported history has one for nearly every milestone: one allocation, not one per doubling.
                if lateEntries.isEmpty { lateEntries.reserveCapacity(8) }
                lateEntries.append(LateEntry(type: event.typeName, occurredAt: t, recordedAt: recordedAt))
            }
            if t > lastEventAt { lastEventAt = t }
            if let next = Lifecycle.target(of: event, from: state, acknowledged: acknowledgedAt != nil) { state = next }
            switch event {
            case .reportSubmitted, .policyAdopted, .maintainerAdded, .maintainerRemoved:
                break
            case .reportAcknowledged(let e):
                acknowledgedAt = acknowledgedAt ?? t
                assignee = e.assignee
            case .triageStarted:
                break
            case .infoRequested:
                waits.append(WaitInterval(start: t, end: nil))
            case .reporterResponded:
                closeWaits(at: t)
            case .reportTriaged(let e):
                acceptedAt = acceptedAt ?? t
                assess(e.severity, cvss31: e.cvss31, cvss40: e.cvss40, at: t)
                if !e.cwes.isEmpty { cwes = e.cwes }
                if let c = e.component { component = c }
                if !e.affected.isEmpty { affected = e.affected }
            case .severityChanged(let e):
                assess(e.severity, cvss31: e.cvss31, cvss40: e.cvss40, at: t)
            case .assigneeChanged(let e):
                assignee = e.assignee
            case .statusUpdateSent:
                // Room for a few at once: a report sends several, and an array grown from empty
                // would allocate again at the second.
                if statusUpdates.isEmpty { statusUpdates.reserveCapacity(4) }
                statusUpdates.append(t)
            case .fixStarted:
                fixStartedAt = fixStartedAt ?? t
            case .fixMerged(let e):
                fixStartedAt = fixStartedAt ?? t
                commits.append(e.commit)
            case .fixReleased(let e):
                fixReleasedAt = fixReleasedAt ?? t
                // While none are recorded, the release's versions are taken as they are (shared
                // with the event, not filtered into a copy).
                if fixedVersions.isEmpty {
                    fixedVersions = e.versions
                } else {
                    fixedVersions.append(contentsOf: e.versions.filter { !fixedVersions.contains($0) })
                }
            case .cveRequested:
                cveRequested = true
            case .cveAssigned(let e):
                cve = e.cve
            case .advisoryPublished(let e):
                disclosedAt = disclosedAt ?? t
                ghsa = e.ghsa ?? ghsa
                cve = e.cve ?? cve
                advisoryURL = e.url ?? advisoryURL
            case .disclosureScheduled(let e):
                scheduledDisclosure = e.date
            case .embargoExtended(let e):
                embargoExtensions.append(EmbargoExtension(e, at: t, recordedAt: recordedAt))
            case .exploitationObserved:
                exploitedAt = exploitedAt ?? t
            case .creditOffered(let e):
                if let i = creditIndex(of: e.person) {
                    if !credits[i].types.contains(e.type) {
                        credits[i].types.append(e.type)
                        credits[i].awaiting.append(e.type)
                    }
                } else {
                    credits.append(CreditRecord(person: e.person, types: [e.type], status: .offered, displayName: nil, preference: .named, awaiting: [e.type]))
                }
            case .creditAccepted(let e):
                if let i = creditIndex(of: e.person) {
                    credits[i].status = .accepted
                    credits[i].awaiting = []
                    credits[i].displayName = e.displayName
                    credits[i].preference = e.preference
                } else {
                    // The reporter accepting the credit their submission implied.
                    credits.append(CreditRecord(person: e.person, types: CreditType.finderOnly, status: .accepted, displayName: e.displayName, preference: e.preference))
                }
            case .creditDeclined(let e):
                if let i = creditIndex(of: e.person) {
                    credits[i].status = .declined
                    // Someone who had accepted credit declines what they were offered since with
                    // the rest, and it stays declined if they opt in again later: that acceptance
                    // covers what they had accepted. (Someone who never accepted declines the
                    // offer itself; opting in later takes it.)
                    if !credits[i].acceptedTypes.isEmpty {
                        credits[i].types = credits[i].acceptedTypes
                        credits[i].awaiting = []
                    }
                } else {
                    credits.append(CreditRecord(person: e.person, types: CreditType.finderOnly, status: .declined, displayName: nil, preference: .none))
                }
            case .reportClosed(let e):
                closedAt = t
                resolution = e.resolution
                duplicateOf = e.duplicateOf
                closeWaits(at: t, byClosing: true)
                // Time closed pauses the clocks of a report that is reopened, but not a fix clock
                // after the advisory: a wont-fix closing and a reopening must not buy a late fix time.
                if disclosedAt == nil { closures.append(WaitInterval(start: t, end: nil)) }
            case .reportReopened:
                closedAt = nil
                resolution = nil
                duplicateOf = nil
                if let i = closures.indices.last, closures[i].end == nil { closures[i].end = t }
            case .advisoryWithdrawn(let e):
                withdrawnAt = t
                withdrawalReason = e.reason
            case .noteAdded:
                notes += 1
            }
            if case .reportTriaged = event { closeWaits(at: t) }
        }

        /// Ends the wait still open, if any, at `t`: by an answer or a triage, or `byClosing` the report.
        private mutating func closeWaits(at t: Timestamp, byClosing: Bool = false) {
            guard let i = waits.indices.last, waits[i].end == nil else { return }
            waits[i].end = t
            waits[i].endedByClosing = byClosing
        }

        /// A severity assessed at `t` (at triage or later), with the vectors given for it.
        private mutating func assess(_ assessed: CVSSSeverity, cvss31: String?, cvss40: String?, at t: Timestamp) {
            severity = assessed
            severityHistory.append(SeverityAssessment(at: t, severity: assessed))
            self.cvss31 = cvss31 ?? self.cvss31
            self.cvss40 = cvss40 ?? self.cvss40
        }

        /// Where `person`'s credit record is, compared as `Report.personKey` does.
        func creditIndex(of person: String) -> Int? {
            let key = Report.personKey(person)
            return credits.firstIndex { Report.personKey($0.person) == key }
        }
    }

    /// The box the fields live in; shared between copies until one of them changes. The fields
    /// are its header, reached through a pointer: reading one field projects it in place, without
    /// copying the rest (as reading through a class's stored property would).
    @usableFromInline
    final class Box: ManagedBuffer<Fields, Void> {
        @usableFromInline
        static func make(_ fields: consuming Fields) -> Box {
            // Moved in, not copied: a copy would retain each of the fields' references once more.
            var moving: Fields? = consume fields
            return unsafeDowncast(Box.create(minimumCapacity: 0) { _ in moving.take()! }, to: Box.self)
        }

        @inlinable @inline(__always)
        func withFields<T>(_ body: (UnsafeMutablePointer<Fields>) -> T) -> T { withUnsafeMutablePointerToHeader(body) }
    }

    @usableFromInline
    var box: Box

    // A stored field is read through a pointer to it alone: a key path applied to the whole
    // `Fields` value would copy every field first. (Inlined, literal key paths fold away; and
    // inlinable, so that they do in other modules too: called generically, each read looked up
    // the key path's type metadata, which made the node's views slow to render.)
    @inlinable @inline(__always)
    public subscript<T>(dynamicMember key: KeyPath<Fields, T>) -> T {
        box.withFields { UnsafePointer($0).pointer(to: key)?.pointee ?? $0.pointee[keyPath: key] }
    }

    @inlinable @inline(__always)
    public subscript<T>(dynamicMember key: WritableKeyPath<Fields, T>) -> T {
        get { box.withFields { UnsafePointer($0).pointer(to: key)?.pointee ?? $0.pointee[keyPath: key] } }
        set { unique().withFields { $0.pointee[keyPath: key] = newValue } }
    }

    /// The whole of the report's fields (a copy).
    public var fields: Fields { box.withFields { $0.pointee } }

    /// This report's own box, copied first if another report shares it.
    @usableFromInline
    mutating func unique() -> Box {
        if !isKnownUniquelyReferenced(&box) { box = Box.make(fields) }
        return box
    }

    /// The report a `ReportSubmitted` creates.
    public init(id: String, submitted e: ReportSubmitted, at t: Timestamp) {
        self.init(Fields(id: id, submitted: e, at: t))
    }

    init(_ fields: consuming Fields) {
        box = Box.make(fields)
    }

    public static func == (a: Report, b: Report) -> Bool {
        a.box === b.box || a.box.withFields { x in b.box.withFields { y in x.pointee == y.pointee } }
    }

    public func hash(into hasher: inout Hasher) { box.withFields { $0.pointee.hash(into: &hasher) } }

    /// Evolves the report by one of its events (already decided legal, or read from the log),
    /// recorded at `recordedAt` when known.
    public mutating func apply(_ event: DomainEvent, at t: Timestamp, recordedAt: Timestamp? = nil) {
        unique().withFields { $0.pointee.apply(event, at: t, recordedAt: recordedAt) }
    }

    /// How long after its event time an event may be recorded before the clocks it ends say so:
    /// time to write down what was done by mail or on a call.
    public static let lateEntryTolerance = Duration.seconds(3600)

    // These read the stored fields they need one by one: calling a `Fields` method or computed
    // property on the box's fields would copy all of them first.

    /// The credit record of `person`, if any.
    public func credit(of person: String) -> CreditRecord? {
        let key = Report.personKey(person)
        return self.credits.first { Report.personKey($0.person) == key }
    }

    /// How `person` has asked to be credited on this report, as far as the log says: their answer
    /// to a credit (none if they declined it), or for the reporter what their submission asked
    /// until they answer; nil if they have not said (a credit offered and not yet answered).
    public func askedPreference(of person: String) -> CreditPreference? {
        if let own = credit(of: person), own.status != .offered { return own.status == .declined ? CreditPreference.none : own.preference }
        return isReporter(person) ? self.reporter.credit : nil
    }

    /// Whether `person` is the reporter and asked for no credit when reporting (or got none by the
    /// project's credit default), and has given no answer since: they are offered none and have
    /// nothing to decline; only their own opt-in (a `preference` given) can credit them.
    public func askedForNoCredit(_ person: String) -> Bool {
        isReporter(person) && self.reporter.credit == .none && (credit(of: person).map { $0.status == .offered } ?? true)
    }

    /// Whether `person` is the reporter (told apart as credits are: `personKey`).
    public func isReporter(_ person: String) -> Bool {
        Report.personKey(person) == Report.personKey(self.reporter.handle)
    }

    /// The preference an acceptance of `person`'s credit records: the one `given`; else the one
    /// they last accepted with (an acceptance that only corrects a display name must not undo
    /// their choice); else, for the reporter, the one their submission asked for, and for anyone
    /// else `named`.
    public func acceptedPreference(of person: String, given: CreditPreference?) -> CreditPreference {
        if let given { return given }
        if let own = credit(of: person), own.status == .accepted { return own.preference }
        return isReporter(person) ? self.reporter.credit : .named
    }

    /// How the reporter is credited: their own credit record unless declined, else as their
    /// submission asked (nil when they asked for none).
    public var reporterCredit: CreditRecord? {
        let reporter = self.reporter
        if var own = credit(of: reporter.handle) {
            guard own.status != .declined else { return nil }
            // Shown by the handle they reported under, not as a maintainer typed it in an offer.
            own.person = reporter.handle
            // The reporter found it, whatever else they are offered credit for: a maintainer's
            // offer of another type, made before they answered, does not take that away (nor is
            // that type shown before they accept it).
            if !own.types.contains(.finder) { own.types.insert(.finder, at: 0) }
            own.awaiting.removeAll { $0 == .finder }
            return own
        }
        guard reporter.credit != .none else { return nil }
        return CreditRecord(person: reporter.handle, types: CreditType.finderOnly, status: .accepted, displayName: reporter.name, preference: reporter.credit)
    }

    /// The severity in force at `t` (the latest assessment at or before it).
    public func severityInForce(at t: Timestamp) -> CVSSSeverity? {
        let history = self.severityHistory
        return history.last { $0.at <= t }?.severity ?? (history.isEmpty ? self.severity : nil)
    }

    /// Handles compare without case, surrounding space or an `@` in front, and with fullwidth
    /// forms read as the ASCII they look like, so neither "Ann ", "@ann" nor "ＡＮＮ" can dodge a
    /// decline by "ann". (New events refuse the space and the `@`:
    /// `UntrustedText.identityRefusal`; a log may hold them from before.)
    public static func personKey(_ handle: String) -> String {
        // Nearly every handle is already its own key (ASCII, lower case, trimmed, no @ in front):
        // return it as it is, without the allocations below — views compare handles for every
        // credit of every report.
        let utf8 = handle.utf8
        if let first = utf8.first, let last = utf8.last, !isASCIISpace(first), !isASCIISpace(last), first != UInt8(ascii: "@"),
            utf8.allSatisfy({ $0 < 0x80 && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) })
        {
            return handle
        }
        return String(UntrustedText.bareHandle(UntrustedText.asciiForms(handle).lowercased()))
    }

    private static func isASCIISpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
