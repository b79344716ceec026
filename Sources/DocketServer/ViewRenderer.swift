import DocketCore
import DocketStore
import DocketWire
import Synchronization

/// Renders a view query over a projection as the value a QUERY_RESULT carries (and the CLI
/// prints): `{"rows": [...]}` for lists, one object for metrics and the hall of fame.
struct ViewRenderer {
    let projection: Projection
    let now: Timestamp
    let principal: Principal
    let asOf: AsOf
    let store: EventStore
    /// Where the pages of a view as it is now keep its order between pages (nil: work it out for
    /// every page, as for a view of the past).
    var pageOrders: PageOrders? = nil

    /// The view `query` asks for; with `page`, one page of it (`ViewPage`: state and timers only).
    func render(_ query: ViewQuery, page: ViewPage? = nil) throws -> Value {
        if page != nil, !ViewPage.pages(query) { throw MessageError("query: only the state and timers views are read in pages, not \(query.name)") }
        switch query {
        case .state(let project, let state, let severity, let assignee, let report):
            // A malformed id is told as such, as `history` tells it, not as a report not found.
            if let report { try DomainStreams.validateIdentifier(report, what: "report id") }
            if let project { try requireProject(project, toList: "reports") }
            if assignee != nil, principal.role == .reporter {
                // Who works on a report is the project's business (its history hides reassignments).
                throw Forbidden("a reporter's view does not show who a report is assigned to; leave out the assignee filter")
            }
            func select() throws -> [Report] {
                let rows = visible.filter { r in
                    (project == nil || r.project == project) && (state == nil || r.state == state)
                        && (severity == nil || r.severity == severity)
                        && (assignee == nil || r.assignee.map(Report.personKey) == Report.personKey(assignee!))
                        && (report == nil || r.id == report)
                }
                if let report, rows.isEmpty {
                    // Said of the filters, whether or not the report exists: a report the filters
                    // leave out is not said to be missing, and one the principal may not see is not
                    // told apart from one that is not there.
                    let filters = [
                        project.map { "project \($0)" }, state.map { "state \($0.rawValue)" }, severity.map { "severity \($0.rawValue)" }, assignee.map { "assignee \($0)" },
                    ].compactMap { $0 }
                    let with = filters.isEmpty ? "" : " with \(filters.joined(separator: ", "))"
                    throw DomainError(.unknownReport, "no report \(report)\(with) as of \(asOf): \(DomainError.checkTheID)")
                }
                return rows
            }
            guard let page else { return .object([("rows", .array(try select().map(row)))]) }
            let (shown, next, digest) = try self.page(page, of: query) {
                let rows = try select()
                return (rows, version(of: rows, policies: false) { rows.map(row) })
            }
            return pageValue(shown.map(row), next: next, version: digest)
        case .timers(let project, let report, let dueWithin, let late, let all):
            if let report { try DomainStreams.validateIdentifier(report, what: "report id") }
            if let project { try requireProject(project, toList: "clocks") }
            func select() throws -> [Report] {
                let matching = visible.filter { (project == nil || $0.project == project) && (report == nil || $0.id == report) }
                if let report, matching.isEmpty {
                    // As the state view says it (whether or not the report exists).
                    throw DomainError(.unknownReport, "no report \(report)\(project.map { " in project \($0)" } ?? "") as of \(asOf): \(DomainError.checkTheID)")
                }
                return matching
            }
            // A page is of reports, each with all its clocks the selection keeps.
            var (reports, next, digest): ([Report], String?, String) = ([], nil, "")
            if let page {
                (reports, next, digest) = try self.page(page, of: query) {
                    let matching = try select()
                    return (matching, try version(of: matching, policies: true) { try render(query)["rows"]?.arrayValue ?? [] })
                }
            } else {
                reports = try select()
            }
            var clocks: [Clock] = []
            for reportClocks in Timers.clocks(for: reports, in: projection, now: now) {
                for c in reportClocks {
                    if late {
                        if c.isLate { clocks.append(c) }
                    } else if let dueWithin {
                        // What needs doing by then: due by then and not done, those already
                        // overdue included.
                        if let due = c.dueAt, c.endedAt == nil, c.state == .running || c.state == .paused || c.isLate, due <= now + dueWithin {
                            clocks.append(c)
                        }
                    } else if all || report != nil || (c.state != .notApplicable && c.endedAt == nil) {
                        clocks.append(c)
                    }
                }
            }
            guard page != nil else { return .object([("rows", .array(clocks.map(Self.clockValue)))]) }
            return pageValue(clocks.map(Self.clockValue), next: next, version: digest)
        case .hallOfFame(let project, let year):
            try requireProject(project)
            // Public information: any authenticated principal may see it.
            return Self.hallOfFameValue(HallOfFame(projection: projection, project: project, year: year, now: now))
        case .metrics(let project, let window):
            guard principal.role == .admin || principal.role == .auditor || principal.maintains(project) else {
                throw Forbidden("programme metrics are for the project's maintainers")
            }
            try requireProject(project)
            return Self.metricsValue(ProgrammeMetrics(projection: projection, project: project, window: window, now: now))
        case .history(let report):
            try DomainStreams.validateIdentifier(report, what: "report id")
            guard let r = projection.reports[report], principal.canSee(r) else { throw DomainError(.unknownReport, "no report \(report)\(asOfClause): \(DomainError.checkTheID)") }
            let events = try store.read(stream: try DomainStreams.report(report)).filter { Projection.includes($0, asOf: asOf) }
            return .object([("rows", .array(events.compactMap(redacted)))])
        case .policy(let project):
            // Public, as a project's SECURITY.md is: any principal may read what it promises.
            try requireProject(project)
            let adopted = projection.projects[project]?.policies ?? []
            // The one a report submitted now is held to.
            let inForce = projection.projects[project]?.policy(at: now)
            return .object([
                ("project", .string(project)),
                ("policies", .array(adopted.map { Self.policyValue($0, inForce: $0 === inForce) })),
            ])
        case .replay(let window):
            return try renderReplay(window: window)
        }
    }

    /// An adopted policy as the `policy` view gives it: what names it, when it was adopted, and
    /// its text (canonical TOML, encoded from the policy its adoption recorded).
    static func policyValue(_ adopted: AdoptedPolicy, inForce: Bool) -> Value {
        var members: [(key: String, value: Value)] = [
            ("name", .string(adopted.policy.name)), ("version", .int(Int64(adopted.policy.version))),
        ]
        if let models = adopted.policy.models { members.append(("models", .string(models))) }
        members += [
            ("adoptedAt", .string(adopted.adoptedAt.rfc3339)), ("seq", .int(Int64(adopted.sequence))), ("inForce", .bool(inForce)),
            ("text", .string(adopted.policy.encodeCanonical())),
        ]
        return .object(members)
    }

    /// The reports of `page` of the view `query`, the cursor of the next page (nil on the last)
    /// and the view's version (`version(of:)`). The view's order and version are worked out by
    /// `make` (every report of the view, in its order) for a read's first page and kept in
    /// `pageOrders` for its next ones, which ask for the same view of the same projection at the
    /// same instant: filtering, sorting and digesting every report the principal may see cost far
    /// more than rendering a page of them.
    private func page(
        _ page: ViewPage, of query: ViewQuery, _ make: () throws -> ([Report], String)
    ) throws -> ([Report], next: String?, version: String) {
        func work() throws -> PageOrders.Order {
            let (reports, version) = try make()
            return PageOrders.Order(places: reports.map(PageOrders.Place.init), version: version)
        }
        let order: PageOrders.Order
        if let pageOrders, case .latest = asOf {
            let key = PageOrders.Key(sequence: projection.lastSequence, at: now, principal: principal, query: query)
            if let kept = pageOrders[key] {
                order = kept
            } else {
                order = try work()
                pageOrders[key] = order
            }
        } else {
            order = try work()
        }
        let (places, next) = try paged(order.places, page)
        var reports: [Report] = []
        reports.reserveCapacity(places.count)
        for place in places {
            // The same log sequence holds the same reports; should one be missing, the read starts over.
            guard let r = projection.reports[place.id] else {
                throw ErrorBody(code: ViewPage.expired, message: "query: the view changed while it was read (read it again from its first page)")
            }
            reports.append(r)
        }
        return (reports, next, order.version)
    }

    /// The places of `page` among `places` (the view's order), and the last of them when more
    /// follow. `after` must name a report the principal may see (else it is refused as if there
    /// were none, so a cursor tells nothing of other people's reports); it need not match the
    /// view's filters.
    private func paged(_ places: [PageOrders.Place], _ page: ViewPage) throws -> (ArraySlice<PageOrders.Place>, next: String?) {
        var start = places.startIndex
        if let after = page.after {
            guard let cursor = projection.reports[after], principal.canSee(cursor) else {
                throw ErrorBody(
                    code: ViewPage.expired,
                    message: "query: \"after\" names no report of this view\(asOfClause) (give the \"next\" of the page before, or read the view again from its first page)")
            }
            let key = PageOrders.Place(cursor)
            // The first report after the cursor: the places are in that order, so by bisection.
            var (low, high) = (places.startIndex, places.endIndex)
            while low < high {
                let mid = (low + high) / 2
                if key < places[mid] { high = mid } else { low = mid + 1 }
            }
            start = low
        }
        let end = places.index(start, offsetBy: page.limit, limitedBy: places.endIndex) ?? places.endIndex
        return (places[start..<end], end < places.endIndex ? places[end - 1].id : nil)
    }

    /// A page's answer: its rows, the cursor of the next page (absent on the last), the version
    /// of the whole view and the instant its clocks were evaluated at.
    private func pageValue(_ rows: [Value], next: String?, version: String) -> Value {
        var m: [(key: String, value: Value)] = [("rows", .array(rows))]
        if let next { m.append(("next", .string(next))) }
        m.append(("version", .string(version)))
        m.append(("at", .string(now.rfc3339)))
        return .object(m)
    }

    /// A digest of what the rows of a view over `reports` are made from: each report's id and
    /// stream version, and (for clocks) the policies of their projects. It changes when a report
    /// of the view does, or one comes into it or leaves it, and not for the rest of the ledger.
    /// A reporter's is of the rows themselves (`allRows`, their own reports': few): a stream's
    /// version counts events hidden from them, and the version of their view must say no more
    /// than the view. (FNV-1a: it detects change, it is not a commitment.)
    private func version(of reports: [Report], policies: Bool, allRows: () throws -> [Value]) rethrows -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        if principal.role == .reporter {
            for row in try allRows() { Self.mix(&h, Payload(row).bytes) }
            return String(h, radix: 16)
        }
        func mix<Bytes: Sequence<UInt8>>(_ bytes: Bytes) { Self.mix(&h, bytes) }
        func mix(_ n: UInt64) { withUnsafeBytes(of: n.bigEndian) { mix($0) } }
        var projects: Set<String> = []
        for r in reports {
            mix(r.id.utf8)
            mix(r.version)
            if policies { projects.insert(r.project) }
        }
        for name in projects.sorted() {
            let adopted = projection.projects[name]?.policies ?? []
            mix(name.utf8)
            mix(UInt64(adopted.count))
            for p in adopted { mix(UInt64(bitPattern: p.adoptedAt.microseconds)) }
        }
        return String(h, radix: 16)
    }

    private static func mix<Bytes: Sequence<UInt8>>(_ h: inout UInt64, _ bytes: Bytes) {
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        h = (h ^ 0xFF) &* 0x0000_0100_0000_01B3  // a separator, so that fields cannot run together
    }

    /// Refuses a project the log (as of the view) knows nothing of: a mistyped `--project` would
    /// otherwise show an empty list, or no clock late, as if that were the answer.
    /// `requireProject`, for a view listing a project's `items`: a maintainer asking for another
    /// project's (whether it exists or not) is told they may not, rather than shown none.
    private func requireProject(_ project: String, toList items: String) throws {
        if principal.role == .maintainer, !principal.maintains(project) {
            throw Forbidden("a maintainer of \(principal.project ?? "a project") sees that project's \(items) only, not \(project)'s")
        }
        try requireProject(project)
    }

    private func requireProject(_ project: String) throws(DomainError) {
        guard projection.projects[project] != nil || projection.reports.values.contains(where: { $0.project == project }) else {
            // The ledger's other projects are named to those who may see every project.
            let known = principal.role == .admin || principal.role == .auditor ? " (projects: \(knownProjects))" : ""
            throw DomainError(.unknownProject, "no project \(project) in this ledger\(asOfClause)\(known)")
        }
    }

    private var asOfClause: String {
        if case .latest = asOf { return "" }
        return " as of \(asOf)"
    }

    private var knownProjects: String {
        let names = Set(projection.projects.keys).union(projection.reports.values.map(\.project)).sorted()
        return names.isEmpty ? "none yet" : names.joined(separator: ", ")
    }

    /// The events a reporter sees in their report's history, by type: what happened to it. Not
    /// internal notes, private branches, commits or reassignments, and nothing this build does not
    /// know (a raw event an admin appended to the report's stream): a list of what may be shown,
    /// so that an event type added later is hidden until someone decides otherwise.
    static let reporterVisibleTypes: Set<String> = Set([
        ReportSubmitted.self, ReportAcknowledged.self, TriageStarted.self, InfoRequested.self, ReporterResponded.self,
        ReportTriaged.self, SeverityChanged.self, StatusUpdateSent.self, FixReleased.self, CVERequested.self, CVEAssigned.self,
        AdvisoryPublished.self, DisclosureScheduled.self, EmbargoExtended.self, ExploitationObserved.self, CreditOffered.self,
        CreditAccepted.self, CreditDeclined.self, ReportClosed.self, ReportReopened.self, AdvisoryWithdrawn.self,
    ].map { ($0 as any DomainEventPayload.Type).eventType })

    /// An event as the principal may see it in `history`. Reporters see what happened to their
    /// report (`reporterVisibleTypes`), not other people's credit, where word of exploitation
    /// came from nor who was assigned; auditors do not see the reporter's contact; nobody sees which report a
    /// duplicate duplicates unless they may see that one.
    func redacted(_ e: RecordedEvent) -> Value? {
        guard let v = redactedForRole(e) else { return nil }
        if e.type.rawValue == ReportClosed.eventType, let original = e.data["duplicateOf"]?.stringValue, !canSee(report: original) {
            return Self.without(dataField: "duplicateOf", v)
        }
        return v
    }

    /// Whether the reporter `subject`'s history of their own report shows `e`, an event of it.
    static func reporterSees(_ e: RecordedEvent, subject: String) -> Bool {
        let type = e.type.rawValue
        guard reporterVisibleTypes.contains(type) else { return false }
        // Other people's credit is theirs.
        if [CreditOffered.eventType, CreditAccepted.eventType, CreditDeclined.eventType].contains(type) {
            return Report.personKey(e.data["person"]?.stringValue ?? "") == Report.personKey(subject)
        }
        return true
    }

    private func redactedForRole(_ e: RecordedEvent) -> Value? {
        switch principal.role {
        case .reporter:
            let type = e.type.rawValue
            guard Self.reporterSees(e, subject: principal.subject) else { return nil }
            if type == ExploitationObserved.eventType { return Self.without(dataField: "source", e.wireValue) }
            // Who is assigned is the project's business (the state row leaves it out too).
            if type == ReportAcknowledged.eventType { return Self.without(dataField: "assignee", e.wireValue) }
            return e.wireValue
        case .auditor:
            return Self.withoutContact(e)
        default:
            return e.wireValue
        }
    }

    /// `event` (a wire form) without the payload field `name`.
    static func without(dataField name: String, _ event: Value) -> Value {
        guard case .object(var top) = event, let i = top.firstIndex(where: { $0.key == "data" }), case .object(var data) = top[i].value else {
            return event
        }
        data.removeAll { $0.key == name }
        top[i].value = .object(data)
        return .object(top)
    }

    /// `e`'s wire form without the reporter's contact, which is personal data auditors do not see
    /// (in views, history, READ or subscriptions).
    static func withoutContact(_ e: RecordedEvent) -> Value {
        var v = e.wireValue
        if e.type.rawValue == ReportSubmitted.eventType, case .object(var top) = v,
            let i = top.firstIndex(where: { $0.key == "data" }), case .object(var data) = top[i].value,
            let j = data.firstIndex(where: { $0.key == "reporter" }), case .object(var reporter) = data[j].value
        {
            reporter.removeAll { $0.key == "contact" }
            data[j].value = .object(reporter)
            top[i].value = .object(data)
            v = .object(top)
        }
        return v
    }

    /// The reports the principal may see, oldest first.
    var visible: [Report] {
        let reports = projection.reports.values.filter { principal.canSee($0) }
        // Sorted by their places (`PageOrders.Place`: plain numbers, each report's fields read
        // once): comparing the reports themselves cost more than a page of a large ledger.
        let keys = reports.indices.map { (place: PageOrders.Place(reports[$0]), index: $0) }
        return keys.sorted { $0.place < $1.place }.map { reports[$0.index] }
    }

    /// `r` as a row of the state view for this principal: contacts are personal data, for
    /// maintainers, admins and the reporter themself, not auditors; the assignee is the project's
    /// business, not the reporter's (as the reassignments in its history are); the report it
    /// duplicates is named only to those who may see that one.
    func row(_ r: Report) -> Value {
        Self.reportValue(
            r, includeContact: principal.role != .auditor, includeAssignee: principal.role != .reporter,
            showDuplicateOf: r.duplicateOf.map(canSee(report:)) ?? false)
    }

    /// Whether the principal may see report `id` in this projection. A link to one they may not
    /// (a duplicate of another reporter's report, most often) must not tell them it exists.
    func canSee(report id: String) -> Bool {
        projection.reports[id].map(principal.canSee) ?? false
    }

    /// The scores of the vectors rows show (`CVSSScore.ratedScore`: the score a severity is
    /// derived from), each worked out once: a ledger holds far fewer
    /// distinct vectors than reports, and scoring a vector cost more than the rest of its row.
    /// (Bounded: emptied when it holds `scoresKept`.)
    private static let scores = Mutex<[String: Double]>([:])
    static let scoresKept = 4096

    static func ratedScore(_ vector: String) -> Double? {
        if let known = scores.withLock({ $0[vector] }) { return known }
        guard let score = try? CVSS.score(vector).ratedScore else { return nil }
        scores.withLock {
            if $0.count >= scoresKept { $0.removeAll(keepingCapacity: true) }
            $0[vector] = score
        }
        return score
    }

    static func reportValue(_ r: Report, includeContact: Bool, includeAssignee: Bool = true, showDuplicateOf: Bool) -> Value {
        var b: [(key: String, value: Value)] = [
            ("id", .string(r.id)), ("project", .string(r.project)), ("title", .string(r.title)), ("state", .string(r.state.rawValue)),
        ]
        func add(_ k: String, _ v: Value?) { if let v { b.append((k, v)) } }
        func score(_ v: String) -> Value { .object([("vector", .string(v)), ("score", ratedScore(v).map { .double($0) } ?? .null)]) }
        add("severity", r.severity.map { .string($0.rawValue) })
        // What the reporter said it was, beside what triage found (the two often differ).
        add("claimedSeverity", r.claimedSeverity.map { .string($0.rawValue) })
        add("cvss31", r.cvss31.map(score))
        add("cvss40", r.cvss40.map(score))
        add("cwes", r.cwes.isEmpty ? nil : .array(r.cwes.map { .string($0) }))
        add("component", r.component.map { .string($0) })
        if includeAssignee { add("assignee", r.assignee.map { .string($0) }) }
        add("affected", r.affected.isEmpty ? nil : .array(r.affected.map { .string($0) }))
        add("fixedVersions", r.fixedVersions.isEmpty ? nil : .array(r.fixedVersions.map { .string($0) }))
        add("cve", r.cve.map { .string($0) })
        add("ghsa", r.ghsa.map { .string($0) })
        add("url", r.advisoryURL.map { .string($0) })
        add("resolution", r.resolution.map { .string($0.rawValue) })
        if showDuplicateOf { add("duplicateOf", r.duplicateOf.map { .string($0) }) }
        add("submittedAt", .string(r.submittedAt.rfc3339))
        add("acknowledgedAt", r.acknowledgedAt.map { .string($0.rfc3339) })
        add("acceptedAt", r.acceptedAt.map { .string($0.rfc3339) })
        add("fixReleasedAt", r.fixReleasedAt.map { .string($0.rfc3339) })
        add("scheduledDisclosure", r.scheduledDisclosure.map { .string($0.rfc3339) })
        add("embargoUntil", r.embargoExtensions.last.map { .string($0.until.rfc3339) })
        add("disclosedAt", r.disclosedAt.map { .string($0.rfc3339) })
        // While closed (also a disclosed report closed as wont-fix), when it was.
        add("closedAt", r.closedAt.map { .string($0.rfc3339) })
        add("exploitedAt", r.exploitedAt.map { .string($0.rfc3339) })
        // How the reporter has asked to be credited: their answer to a credit, once they gave one
        // (what the hall of fame goes by), else what their submission asked.
        let credit = r.askedPreference(of: r.reporter.handle) ?? r.reporter.credit
        var reporter: [(key: String, value: Value)] = [("handle", .string(r.reporter.handle)), ("credit", .string(credit.rawValue))]
        if let n = r.reporter.name { reporter.append(("name", .string(n))) }
        if includeContact, let c = r.reporter.contact { reporter.append(("contact", .string(c))) }
        b.append(("reporter", .object(reporter)))
        return .object(b)
    }

    static func metricsValue(_ m: ProgrammeMetrics) -> Value {
        .object([
            ("project", .string(m.project)), ("from", .string(m.from.rfc3339)), ("to", .string(m.to.rfc3339)), ("reports", .int(Int64(m.reports))),
            ("milestones", .array(m.milestones.map { s in
                .object([("name", .string(s.name)), ("count", .int(Int64(s.count))), ("medianSeconds", s.median.map { .int($0.microseconds / 1_000_000) } ?? .null)])
            })),
            ("targets", .array(m.targets.map { t in
                .object([("clock", .string(t.clock.rawValue)), ("met", .int(Int64(t.met))), ("breached", .int(Int64(t.breached))),
                         ("open", .int(Int64(t.open))), ("share", t.share.map { .double(($0 * 100).rounded() / 100) } ?? .null)])
            })),
        ])
    }

    static func hallOfFameValue(_ hall: HallOfFame) -> Value {
        .object([("markdown", .string(hall.markdown)), ("json", hall.json)])
    }

    static func clockValue(_ c: Clock) -> Value {
        var b: [(key: String, value: Value)] = [
            ("report", .string(c.report)), ("project", .string(c.project)), ("clock", .string(c.kind.rawValue)), ("state", .string(c.state.rawValue)),
        ]
        if let t = c.target { b.append(("target", .string(t))) }
        if let t = c.startedAt { b.append(("startedAt", .string(t.rfc3339))) }
        if let t = c.dueAt { b.append(("dueAt", .string(t.rfc3339))) }
        if let t = c.endedAt { b.append(("endedAt", .string(t.rfc3339))) }
        if let m = c.margin {
            // Whole seconds, rounded down: a clock half a second late is a second late, never 0.
            let us = m.microseconds
            b.append(("marginSeconds", .int(us >= 0 ? us / 1_000_000 : -((-us + 999_999) / 1_000_000))))
        }
        if let late = c.endEntry { b.append(("endRecordedAt", .string(late.recordedAt.rfc3339))) }
        if !c.lateChanges.isEmpty {
            b.append(("lateChanges", .array(c.lateChanges.map { e in
                .object([("type", .string(e.type)), ("occurredAt", .string(e.occurredAt.rfc3339)), ("recordedAt", .string(e.recordedAt.rfc3339))])
            })))
        }
        if let n = c.displayNote { b.append(("note", .string(n))) }
        return .object(b)
    }
}

/// The order and version of the few views being read in pages just now (`ViewRenderer.page`),
/// each for one principal, one projection (its last sequence: the live views' change with every
/// commit) and one evaluation instant (all pages of a read share the first page's `at`). An order
/// is each report's place (submission time and id), not the reports: it keeps no copy of the views
/// alive. At most `capacity` are kept, the least recently used going first, and none for longer
/// than `maximumAge` (a page's `at` is accepted no longer).
final class PageOrders: Sendable {
    struct Key: Hashable {
        var sequence: UInt64
        var at: Timestamp
        var principal: Principal
        var query: ViewQuery
    }

    /// A report's place in the state and timers views: oldest submission first, ties by id.
    struct Place: Comparable {
        var at: Int64
        var id: String

        init(at: Int64, id: String) {
            (self.at, self.id) = (at, id)
        }

        init(_ report: Report) {
            self.init(at: report.submittedAt.microseconds, id: report.id)
        }

        // Ids by their bytes, as the projection tells reports apart: two equal as `String`s may be two reports.
        static func < (a: Place, b: Place) -> Bool { a.at != b.at ? a.at < b.at : a.id.utf8.lexicographicallyPrecedes(b.id.utf8) }
        static func == (a: Place, b: Place) -> Bool { a.at == b.at && a.id.utf8.elementsEqual(b.id.utf8) }
    }

    struct Order {
        var places: [Place]
        var version: String
    }

    private struct Kept {
        var key: Key
        var order: Order
        var madeAt: ContinuousClock.Instant
    }

    private let kept = Mutex<[Kept]>([])
    let capacity: Int
    let maximumAge: Duration

    init(capacity: Int = 16, maximumAge: Duration = ViewPage.maximumAtAge) {
        self.capacity = capacity
        self.maximumAge = maximumAge
    }

    subscript(key: Key) -> Order? {
        get {
            kept.withLock { kept in
                dropExpired(&kept)
                guard let i = kept.firstIndex(where: { $0.key == key }) else { return nil }
                let hit = kept.remove(at: i)
                kept.append(hit)  // the most recently used last
                return hit.order
            }
        }
        set {
            guard let newValue else { return }
            kept.withLock { kept in
                dropExpired(&kept)
                kept.removeAll { $0.key == key }
                kept.append(Kept(key: key, order: newValue, madeAt: .now))
                if kept.count > capacity { kept.removeFirst(kept.count - capacity) }
            }
        }
    }

    private func dropExpired(_ kept: inout [Kept]) {
        let now = ContinuousClock.now
        kept.removeAll { now - $0.madeAt > maximumAge }
    }

    /// How many views are kept (for tests).
    var count: Int { kept.withLock { $0.count } }
}
