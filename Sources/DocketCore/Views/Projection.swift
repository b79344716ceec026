/// A policy a project adopted, ready to evaluate clocks with. Immutable and shared: every clock
/// of every report of the project reads it, and handing it over is one retain, not a copy of
/// each of the policy's fields.
public final class AdoptedPolicy: Sendable {
    public let policy: Policy
    public let calendar: BusinessCalendar
    public let adoptedAt: Timestamp
    public let sequence: UInt64
    /// What its clocks say the same way for every report.
    let texts: ClockTexts

    public init(policy: Policy, calendar: BusinessCalendar, adoptedAt: Timestamp, sequence: UInt64) {
        self.policy = policy
        self.calendar = calendar
        self.adoptedAt = adoptedAt
        self.sequence = sequence
        texts = ClockTexts(policy)
    }
}

/// A project as its events have made it.
public struct ProjectState: Sendable {
    public let name: String
    /// Every policy adopted, in order of adoption time (ties in log order).
    public var policies: [AdoptedPolicy] = []
    public var maintainers: [String] = []

    public var currentPolicy: AdoptedPolicy? { policies.last }

    /// The policy a report submitted at `t` is held to: the last one adopted at or before `t` (by
    /// event time, so the answer does not depend on the order a history was imported in), or the
    /// earliest for a report submitted before any.
    public func policy(at t: Timestamp) -> AdoptedPolicy? {
        policies.last { $0.adoptedAt <= t } ?? policies.first
    }
}

/// How far into the log a view looks.
public enum AsOf: Hashable, Sendable, CustomStringConvertible {
    /// The whole log, clocks evaluated at `now`.
    case latest(now: Timestamp)
    /// Events that happened at or before the instant (their `occurredAt`), clocks evaluated then.
    case instant(Timestamp)
    /// Events up to and including this global sequence, clocks evaluated at the last one's `recordedAt`.
    case sequence(UInt64, now: Timestamp)
    /// Events the node had recorded at or before the instant (their `recordedAt`), clocks
    /// evaluated then: what the ledger knew at that moment, backdated entries made later left out.
    /// (Nor one recorded then but dated after it, a few minutes ahead: it had not happened yet,
    /// and the clocks evaluated then would not count it.)
    case recorded(Timestamp)

    public var description: String {
        switch self {
        case .latest(let now): return "now (\(now))"
        case .instant(let t): return t.rfc3339
        case .sequence(let n, _): return "sequence \(n)"
        case .recorded(let t): return "what was recorded by \(t.rfc3339)"
        }
    }
}

/// Every view's state, folded from the log: reports and projects. Pure; `apply` takes events in
/// log order. A view "as of" a past instant or sequence is this fold stopped early (`includes`).
public struct Projection: Sendable {
    /// Every report by id (a table that a partitioned fold's merge joins rather than rebuilds).
    public var reports = ReportTable()
    public var projects: [String: ProjectState] = [:]
    /// The last global sequence folded in.
    public var lastSequence: UInt64 = 0
    /// The latest event time folded in.
    public var lastOccurredAt: Timestamp?
    public var lastRecordedAt: Timestamp?
    /// Events of report and project streams that did not decode against their schemas (or whose
    /// stream name is not UTF-8, or for a project not ASCII; or a submission to a project whose
    /// name is not ASCII), and so are in no view: 0 unless an admin's raw append, a damaged
    /// record or a hostile leader put one there (replay reports it).
    public var undecodable = 0
    /// The schemas its events are decoded with: a partition's own copy (`split`), so that the
    /// threads folding partitions never share a field table's reference count.
    var schemas = DomainEvent.Schemas.shared

    public init() {}

    /// Divides the projection among `n` partitions by stream (`partition` maps a stream name to
    /// 0..<n), so that each can be folded on by its own thread and `merging` puts them back. Each
    /// of the n partitions is new, with its own copy of the schemas (`DomainEvent.Schemas`), and
    /// the projection's reports and projects are divided among them. With n ≤ 1 the projection
    /// itself is returned, moved rather than copied: folding on into it changes its tables in
    /// place.
    public consuming func split(into n: Int, by partition: (String) -> Int) -> [Projection] {
        if n <= 1 { return [self] }
        var parts = [Projection](repeating: Projection(), count: n)
        for i in parts.indices {
            parts[i].lastSequence = lastSequence
            parts[i].lastRecordedAt = lastRecordedAt
            parts[i].lastOccurredAt = lastOccurredAt
            parts[i].schemas = DomainEvent.Schemas.shared.privateCopy()
        }
        parts[0].undecodable = undecodable
        for shard in reports.shards {
            for (id, report) in zip(shard.ids, shard.reports) { parts[partition(DomainStreams.reportPrefix + id)].reports[id] = report }
        }
        for (name, project) in projects { parts[partition(DomainStreams.projectPrefix + name)].projects[name] = project }
        return parts
    }

    /// The projection folded from disjoint partitions of one log (each stream in one of them, as
    /// `split` leaves them): the same as folding the log in order on one thread. Parts must not
    /// share a report or project.
    public init(merging parts: consuming [Projection]) {
        self.init()
        guard let latest = parts.max(by: { $0.lastSequence < $1.lastSequence }) else { return }
        let (lastSequence, lastRecordedAt) = (latest.lastSequence, latest.lastRecordedAt)
        let lastOccurredAt = parts.compactMap(\.lastOccurredAt).max()
        let undecodable = parts.reduce(0) { $0 + $1.undecodable }
        // The largest part's projects are kept and the others' moved into them; the reports'
        // tables are kept as they are, each a shard of the whole's (`ReportTable(joining:)`).
        let largest = parts.indices.max { parts[$0].projects.count < parts[$1].projects.count }!
        // (Taken out of the parts, so that each shard's arrays have one owner, and a fold on into
        // the whole changes them in place.)
        let tables = parts.map(\.reports)
        for i in parts.indices { parts[i].reports = ReportTable() }
        self = parts.remove(at: largest)
        for part in parts { projects.merge(part.projects) { kept, _ in kept } }
        reports = ReportTable(joining: tables)
        self.lastSequence = lastSequence
        self.lastRecordedAt = lastRecordedAt
        self.lastOccurredAt = lastOccurredAt
        self.undecodable = undecodable
    }

    /// Whether `event` belongs in a view as of `asOf`.
    public static func includes(_ event: RecordedEvent, asOf: AsOf) -> Bool {
        includes(sequence: event.sequence, occurredAt: event.occurredAt, recordedAt: event.recordedAt, asOf: asOf)
    }

    /// Whether the event read from an envelope belongs in a view as of `asOf`.
    public static func includes(_ event: EnvelopeCodec.Fields, asOf: AsOf) -> Bool {
        includes(sequence: event.sequence, occurredAt: event.occurredAt, recordedAt: event.recordedAt, asOf: asOf)
    }

    private static func includes(sequence: UInt64, occurredAt: Timestamp, recordedAt: Timestamp, asOf: AsOf) -> Bool {
        switch asOf {
        case .latest: return true
        case .instant(let t): return occurredAt <= t
        case .sequence(let n, _): return sequence <= n
        case .recorded(let t): return recordedAt <= t && occurredAt <= t
        }
    }

    /// The instant clocks are evaluated at for `asOf`.
    public func evaluationTime(_ asOf: AsOf) -> Timestamp {
        switch asOf {
        case .latest(let now): return now
        case .instant(let t): return t
        case .sequence(_, let now): return lastRecordedAt ?? now
        case .recorded(let t): return t
        }
    }

    /// Folds one recorded event in. Events outside the domain streams are ignored.
    public mutating func apply(_ recorded: RecordedEvent) {
        recorded.withFields { apply($0) }
    }

    /// Folds one event in, read in place from its envelope (a view rebuild, `EnvelopeCodec.Fields`):
    /// only the typed event is made, and only for the domain streams.
    public mutating func apply(_ event: EnvelopeCodec.Fields) {
        lastSequence = event.sequence
        lastRecordedAt = event.recordedAt
        guard let (isReport, key) = Self.domainKey(of: event.stream) else { return }
        // A report or project is named by its stream's bytes, which the ledger appends as UTF-8.
        // A name that is not (a damaged record's, or a hostile leader's) names none: repaired into
        // a `String`, it could name one that another stream names. Nor does a project name that
        // is not ASCII, as every project name the ledger takes is: projects are kept by `String`,
        // which would read two such names as one ("K" and the Kelvin sign, U+212A) where the
        // partitions of a rebuild, dividing by bytes, hold two.
        guard isASCII(key) || (isReport && String(validating: key, as: UTF8.self) != nil) else {
            undecodable += 1
            return
        }
        guard let domainEvent = try? DomainEvent(folding: event.type, version: event.schemaVersion, encoded: event.payload, schemas: schemas) else {
            undecodable += 1
            return
        }
        if lastOccurredAt == nil || event.occurredAt > lastOccurredAt! { lastOccurredAt = event.occurredAt }
        if isReport {
            apply(domainEvent, toReportID: key, at: event.occurredAt, recordedAt: event.recordedAt)
        } else {
            apply(domainEvent, toProject: String(decoding: key, as: UTF8.self), at: event.occurredAt, sequence: event.sequence)
        }
    }

    /// Whether the stream named by these UTF-8 bytes is a report's or a project's, and the bytes
    /// of its id or name.
    static func domainKey(of stream: UnsafeRawBufferPointer) -> (isReport: Bool, key: UnsafeRawBufferPointer)? {
        func key(after prefix: String) -> UnsafeRawBufferPointer? {
            let n = prefix.utf8.count
            guard stream.count >= n, utf8Equal(prefix, UnsafeRawBufferPointer(rebasing: stream[..<n])) else { return nil }
            return UnsafeRawBufferPointer(rebasing: stream[n...])
        }
        if let id = key(after: DomainStreams.reportPrefix) { return (true, id) }
        if let name = key(after: DomainStreams.projectPrefix) { return (false, name) }
        return nil
    }

    /// Folds a report event in, its report's id given as the UTF-8 bytes of its stream name (no
    /// `String` is made but for a submission). The bytes are the id's: they are valid UTF-8.
    mutating func apply(_ event: DomainEvent, toReportID raw: UnsafeRawBufferPointer, at t: Timestamp, recordedAt: Timestamp) {
        if case .reportSubmitted(let e) = event {
            submit(e, id: String(decoding: raw, as: UTF8.self), at: t)
        } else if let p = reports.position(ofID: raw) {
            reports.update(at: p) { $0.apply(event, at: t, recordedAt: recordedAt) }
        }
    }

    /// Folds a report event in (the typed path, which tests use), recorded at `recordedAt` when
    /// known.
    public mutating func apply(_ event: DomainEvent, toReport id: String, at t: Timestamp, recordedAt: Timestamp? = nil) {
        if case .reportSubmitted(let e) = event {
            submit(e, id: id, at: t)
        } else if let p = reports.position(ofID: id) {
            reports.update(at: p) { $0.apply(event, at: t, recordedAt: recordedAt) }
        }
    }

    /// The report a submission makes, under `id`; none, and the submission counted as
    /// undecodable, for a project whose name is not ASCII, as every project name the ledger takes
    /// is (`DomainStreams.validateIdentifier`): views group reports by project name as `String`s,
    /// which would read another ("\u{212A}ey", with the Kelvin sign) as "Key".
    private mutating func submit(_ e: ReportSubmitted, id: String, at t: Timestamp) {
        guard isASCII(e.project) else {
            undecodable += 1
            return
        }
        reports[id] = Report(id: id, submitted: e, at: t)
    }

    /// Folds a project event in.
    public mutating func apply(_ event: DomainEvent, toProject name: String, at t: Timestamp, sequence: UInt64) {
        var project = projects[name] ?? ProjectState(name: name)
        switch event {
        case .policyAdopted(let e):
            if let policy = try? Policy.parse(e.policyText, file: "PolicyAdopted@\(sequence)") {
                let adopted = AdoptedPolicy(policy: policy, calendar: BusinessCalendar(policy: policy, zone: e.zone), adoptedAt: t, sequence: sequence)
                // Kept in time order: a history imported with backdated adoptions stays sorted.
                let i = project.policies.lastIndex { $0.adoptedAt <= t }.map { $0 + 1 } ?? 0
                project.policies.insert(adopted, at: i)
            } else {
                undecodable += 1
            }
        case .maintainerAdded(let e):
            if !project.maintainers.contains(e.handle) { project.maintainers.append(e.handle) }
        case .maintainerRemoved(let e):
            project.maintainers.removeAll { $0 == e.handle }
        default:
            break
        }
        projects[name] = project
    }

    /// Each project's reports, in one pass over them all: for views over every project.
    public func reportsByProject() -> [String: [Report]] {
        // A ledger has few projects and many reports: each report's project is looked for among
        // those already met, the last one first, and only past a few does it take a hash lookup.
        var names: [String] = []
        var groups: [[Report]] = []
        var index: [String: Int] = [:]
        var last = -1
        for r in reports.values {
            let project = r.project
            var i = last
            if i < 0 || names[i] != project {
                i = names.count <= 8 ? (names.firstIndex(of: project) ?? -1) : (index[project] ?? -1)
                if i < 0 {
                    i = names.count
                    names.append(project)
                    groups.append([])
                    index[project] = i
                }
                last = i
            }
            groups[i].append(r)
        }
        return Dictionary(uniqueKeysWithValues: zip(names, groups))
    }

    /// The policy `report` is held to (`ProjectState.policy(at:)` its submission: the same in
    /// every as-of view).
    public func policy(for report: Report) -> AdoptedPolicy? {
        projects[report.project]?.policy(at: report.submittedAt)
    }
}
