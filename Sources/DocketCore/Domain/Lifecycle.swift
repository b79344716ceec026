/// What a maintainer (or reporter) asks to happen to a report.
public enum ReportCommand: Hashable, Sendable {
    case submit(ReportSubmitted)
    case acknowledge(assignee: String)
    case startTriage
    case requestInfo(question: String?)
    case respond(summary: String?)
    /// Accepts the report with an assessment; on an accepted report, re-assesses it (a severity change).
    /// Without `severity`, it is the CVSS base severity (v4.0 preferred).
    case triage(severity: CVSSSeverity?, cvss31: String?, cvss40: String?, cwes: [String], component: String?, affected: [String], reason: String?)
    case assign(assignee: String)
    case statusUpdate(summary: String?)
    case startFix(branch: String?)
    case mergeFix(commit: String)
    case release(versions: [String])
    case requestCVE(cna: String?)
    case assignCVE(String)
    case publish(ghsa: String?, cve: String?, url: String?)
    case scheduleDisclosure(Timestamp)
    case extendEmbargo(until: Timestamp, reason: String, reporterAgreed: Bool)
    case exploited(source: String?)
    case offerCredit(person: String, type: CreditType)
    /// Without a preference: the reporter's own submitted preference for the reporter, named for others.
    case acceptCredit(person: String, displayName: String?, preference: CreditPreference?)
    case declineCredit(person: String)
    case close(Resolution, duplicateOf: String?, reason: String?)
    case reopen(reason: String?)
    case withdraw(reason: String)
    case note(String)

    /// Whether it submits a report (every other command acts on one already there).
    public var isSubmission: Bool {
        if case .submit = self { return true }
        return false
    }
}

/// The report state machine: which events each state allows, where they lead, and `decide`,
/// which turns a command into events or a typed rejection. Pure: no IO, no clock.
public enum Lifecycle {
    private static let open: [ReportState] = [.submitted, .acknowledged, .triaging, .needsInfo, .accepted, .fixing, .fixReleased]
    private static let assessed: [ReportState] = [.accepted, .fixing, .fixReleased]
    /// Where a triage is a re-assessment (a severity change): assessed, or disclosed still owing its fix.
    private static let reassessable: [ReportState] = assessed + [.disclosed]

    /// For each report event type: the states it is legal in and the state it leads to (nil: unchanged).
    static let transitions: [String: (from: [ReportState], to: ReportState?)] = [
        ReportAcknowledged.eventType: ([.submitted], .acknowledged),
        TriageStarted.eventType: ([.acknowledged], .triaging),
        InfoRequested.eventType: ([.acknowledged, .triaging], .needsInfo),
        ReporterResponded.eventType: ([.needsInfo], .triaging),
        // From needs-info too (DESIGN §2: triaging ⇄ needs-info → accepted): the maintainers
        // settled it without the answer they asked for, which ends the wait.
        ReportTriaged.eventType: ([.acknowledged, .triaging, .needsInfo], .accepted),
        // A disclosed report may still owe its fix: it can be re-rated and reassigned.
        SeverityChanged.eventType: (reassessable, nil),
        AssigneeChanged.eventType: (open + [.disclosed], nil),
        StatusUpdateSent.eventType: ([.acknowledged, .triaging, .needsInfo, .accepted, .fixing, .fixReleased], nil),
        // A fix can follow the advisory (a deadline reached with no fix, as Project Zero's): the
        // report stays disclosed, and the release ends the fix clock the advisory left running
        // (unless the policy counts the advisory as meeting the fix target).
        FixStarted.eventType: ([.accepted, .disclosed], .fixing),
        FixMerged.eventType: ([.accepted, .fixing, .fixReleased, .disclosed], .fixing),
        FixReleased.eventType: ([.accepted, .fixing, .fixReleased, .disclosed], .fixReleased),
        CVERequested.eventType: (assessed, nil),
        CVEAssigned.eventType: (assessed + [.disclosed], nil),
        AdvisoryPublished.eventType: (assessed, .disclosed),
        DisclosureScheduled.eventType: (assessed, nil),
        EmbargoExtended.eventType: ([.acknowledged, .triaging, .needsInfo] + assessed, nil),
        // Recorded after the advisory too (a deadline disclosure of an unfixed flaw that attackers
        // then take up): it moves no clock the advisory ended, and says how urgent the owed fix is.
        ExploitationObserved.eventType: (open + [.disclosed], nil),
        CreditOffered.eventType: ([.acknowledged, .triaging, .needsInfo] + assessed + [.disclosed], nil),
        CreditAccepted.eventType: ([.submitted, .acknowledged, .triaging, .needsInfo] + assessed + [.disclosed], nil),
        CreditDeclined.eventType: ([.submitted, .acknowledged, .triaging, .needsInfo] + assessed + [.disclosed], nil),
        // After the advisory only as wont-fix (the fix it owed will not come), and reopened from
        // that; either way the report stays disclosed.
        ReportClosed.eventType: ([.submitted, .acknowledged, .triaging, .needsInfo, .accepted, .fixing, .disclosed], .closed),
        ReportReopened.eventType: ([.closed, .disclosed], .triaging),
        AdvisoryWithdrawn.eventType: ([.disclosed], .withdrawn),
        NoteAdded.eventType: (ReportState.allCases, nil),
    ]

    /// The event types legal in `state`, in catalogue order.
    public static func allowedEvents(in state: ReportState) -> [String] {
        DomainEvent.catalogue.map { $0.eventType }.filter { transitions[$0]?.from.contains(state) == true }
    }

    /// The event types legal on `report` as it stands, in catalogue order: those of its state that
    /// `refusal` does not rule out.
    public static func allowedEvents(for report: Report) -> [String] {
        allowedEvents(in: report.state).filter { refusal(of: $0, on: report) == nil }
    }

    /// Why an event of type `type`, which the report's state allows, cannot be recorded on `report`
    /// as it stands, or nil. Only a disclosed report has such rules: its state no longer says how
    /// far its fix got, or whether it was closed as wont-fix after the advisory.
    static func refusal(of type: String, on report: Report) -> String? {
        guard report.state == .disclosed else { return nil }
        if report.closedAt != nil {
            switch type {
            case FixStarted.eventType, FixMerged.eventType, FixReleased.eventType, SeverityChanged.eventType, AssigneeChanged.eventType:
                return "it was closed as wont-fix after its advisory; reopen it first"
            case ReportClosed.eventType:
                return "it is already closed as wont-fix"
            default:
                return nil
            }
        }
        switch type {
        case FixStarted.eventType where report.fixStartedAt != nil || report.fixReleasedAt != nil:
            return "a fix was already started, merged or released"
        case ReportClosed.eventType where report.fixReleasedAt != nil:
            return "it already has a fix release: there is no fix left to forgo"
        case ReportReopened.eventType:
            return "it is disclosed and was not closed as wont-fix: there is nothing to reopen"
        default:
            return nil
        }
    }

    /// The state `event` leads to from `state`, or nil if it leaves the state unchanged (the `to`
    /// column of `transitions`, as a switch: replay calls this for every event). Three refinements:
    /// only a withdrawal moves a disclosed report (fix work, a wont-fix closing and its reopening
    /// after the advisory leave it disclosed), a merge or another release after the first release
    /// does not move the report back, and a report reopened before anyone acknowledged it returns
    /// to `submitted`.
    static func target(of event: DomainEvent, from state: ReportState, acknowledged: Bool) -> ReportState? {
        if state == .disclosed {
            if case .advisoryWithdrawn = event { return .withdrawn }
            return nil
        }
        return switch event {
        case .reportAcknowledged: .acknowledged
        case .triageStarted, .reporterResponded: .triaging
        case .reportReopened: acknowledged ? .triaging : .submitted
        case .infoRequested: .needsInfo
        case .reportTriaged: .accepted
        case .fixStarted: .fixing
        case .fixMerged: state == .fixReleased ? nil : .fixing
        case .fixReleased: .fixReleased
        case .advisoryPublished: .disclosed
        case .reportClosed: .closed
        case .advisoryWithdrawn: .withdrawn
        default: nil
        }
    }

    /// The events a reporter records on their own report: all an `illegal-transition` lists for
    /// them (the rest of the list would say how far the fix got, which their history hides).
    public static let reporterEvents: Set<String> = [ReporterResponded.eventType, CreditAccepted.eventType, CreditDeclined.eventType]

    /// What the reporter of `report` may still record on it: `reporterEvents` its state allows,
    /// less a decline once they declined credit or asked for none (accepting stays open: they may
    /// change their mind).
    static func reporterAllowedEvents(on report: Report) -> [String] {
        let handle = report.reporter.handle
        let declined = report.credit(of: handle)?.status == .declined
        return allowedEvents(in: report.state).filter { type in
            guard reporterEvents.contains(type) else { return false }
            switch type {
            case CreditDeclined.eventType: return !declined && !report.askedForNoCredit(handle)
            default: return true
            }
        }
    }

    /// Checks that `event` is legal for `report` (nil: the report does not exist yet). For the
    /// report's own `reporter`, a refusal lists only the events they may record in its state.
    public static func check(_ event: DomainEvent, against report: Report?, reportID: String, reporter: Bool = false) throws(DomainError) {
        if case .reportSubmitted = event {
            guard report == nil else {
                throw DomainError(.reportExists, "report \(reportID) already exists (state \(report!.state)); choose another id")
            }
            return
        }
        guard let report else {
            throw DomainError.noReport(reportID)
        }
        guard let rule = transitions[event.typeName] else {
            throw DomainError(.invalidCommand, "\(event.typeName) is a project event, not a report event")
        }
        // Not allowed in the report's state at all, or allowed there but not on this report.
        let because: String
        if !rule.from.contains(report.state) {
            because = ""
        } else if let why = refusal(of: event.typeName, on: report) {
            because = ": " + why
        } else {
            return
        }
        throw illegalTransition(event.typeName, on: report, reportID: reportID, reporter: reporter, because: because)
    }

    /// The refusal of an event of `type` on `report`, naming its state and the events allowed
    /// there (`because`: why, when the state allows the type but not on this report).
    private static func illegalTransition(_ type: String, on report: Report, reportID: String, reporter: Bool, because: String) -> DomainError {
        let allowed = reporter ? reporterAllowedEvents(on: report) : allowedEvents(for: report)
        return DomainError(
            .illegalTransition,
            "\(type) is not allowed on report \(reportID) in state \(report.state)\(because); allowed: \(allowed.isEmpty ? "none" : allowed.joined(separator: ", "))",
            state: report.state, allowed: allowed)
    }

    /// An embargo extension, or a disclosure date scheduled, that ends by its own event time `t`
    /// (a command's `--at`, or now): the date had passed when it was agreed. Most likely an
    /// agreement made earlier is being written in now without its time, which would date it today
    /// and move nothing, as the clock would then say; so it is refused, saying how to record it
    /// (`latest`: the report's latest event, before which nothing can be dated).
    public static func refuseDatePassed(_ event: DomainEvent?, at t: Timestamp, latest: Timestamp?) throws(DomainError) {
        let (what, date): (String, Timestamp)
        switch event {
        case .embargoExtended(let e)?: (what, date) = ("an embargo extension to", e.until)
        case .disclosureScheduled(let e)?: (what, date) = ("a disclosure scheduled for", e.date)
        default: return
        }
        guard date <= t else { return }
        // A date alone is that day's midnight (UTC), already past on the day itself: said when
        // the date is the first instant of the event's own day.
        let day: Int64 = 86_400_000_000
        let (today, timeOfDay) = (t.microseconds.floorDivided(by: day).quotient, date.microseconds.floorDivided(by: day))
        let dateAlone = timeOfDay.remainder == 0 && timeOfDay.quotient == today
        let howToDate = latest.map { "give the time it was agreed with --at (a report's events are recorded in order: no earlier than its latest event, \($0))" }
            ?? "give the time it was agreed with --at"
        throw DomainError(
            .invalidCommand,
            "\(what) \(date) is not after the time it is recorded as (\(t))"
                + (dateAlone ? ": a date alone is 00:00 UTC that day; give the time of day too (like \(t.rfc3339.prefix(10))T18:00:00Z)" : "")
                + "; to record one agreed earlier, \(howToDate); otherwise give a later date")
    }

    /// The report events `command` can make (nil for a submission): the first is the one a
    /// refusal names.
    private static func eventTypes(of command: ReportCommand) -> [String]? {
        switch command {
        case .submit: nil
        case .acknowledge: [ReportAcknowledged.eventType]
        case .startTriage: [TriageStarted.eventType]
        case .requestInfo: [InfoRequested.eventType]
        case .respond: [ReporterResponded.eventType]
        case .triage: [ReportTriaged.eventType, SeverityChanged.eventType]
        case .assign: [AssigneeChanged.eventType]
        case .statusUpdate: [StatusUpdateSent.eventType]
        case .startFix: [FixStarted.eventType]
        case .mergeFix: [FixMerged.eventType]
        case .release: [FixReleased.eventType]
        case .requestCVE: [CVERequested.eventType]
        case .assignCVE: [CVEAssigned.eventType]
        case .publish: [AdvisoryPublished.eventType]
        case .scheduleDisclosure: [DisclosureScheduled.eventType]
        case .extendEmbargo: [EmbargoExtended.eventType]
        case .exploited: [ExploitationObserved.eventType]
        case .offerCredit: [CreditOffered.eventType]
        case .acceptCredit: [CreditAccepted.eventType]
        case .declineCredit: [CreditDeclined.eventType]
        case .close: [ReportClosed.eventType]
        case .reopen: [ReportReopened.eventType]
        case .withdraw: [AdvisoryWithdrawn.eventType]
        case .note: [NoteAdded.eventType]
        }
    }

    /// Checks what `command` says on its own, as `decide` does, without the report it is for:
    /// formats (CVE, GHSA, CWE ids, CVSS vectors, addresses, report ids), text (empty, too long,
    /// control characters) and arguments that contradict each other. What this refuses is wrong
    /// whatever the report's state (bad usage); the rest is `decide`'s to judge.
    public static func checkArguments(_ command: ReportCommand, reportID: String) throws(DomainError) {
        // Every check of `events(for:)` that needs the report is skipped without one, and `check`
        // then finds no report: the arguments passed. (An event too large for the log is the
        // log's refusal, not bad usage: the command is refused when it is decided for the report.)
        // (Nor are names judged here: who may be named as they were recorded, or as the token
        // acting was named, is known only with the report and the actor.)
        do { _ = try decide(command, report: nil, reportID: reportID, identities: false) } catch where error.code == .unknownReport || error.code == .eventTooLarge {}
    }

    /// Turns `command` into the events to append to report `reportID`, or rejects it (as its
    /// `reporter` is told, when they ask: `check`).
    ///
    /// `actor`, the handle of the token acting, was accepted when the token was made: naming it is
    /// not held to the rules of names made since either. `identities: false` leaves the names of
    /// people unjudged (`checkArguments`).
    public static func decide(
        _ command: ReportCommand, report: Report?, reportID: String, reporter: Bool = false, actor: String? = nil, identities: Bool = true
    ) throws(DomainError) -> [DomainEvent] {
        let events: [DomainEvent]
        do {
            events = try self.events(for: command, report: report, reportID: reportID)
        } catch {
            // Arguments refused on a report whose state allows none of the command's events: the
            // state is what to say (advice on the arguments would lead to that refusal next). A
            // refusal that holds in any state (credit the person declined) is said as it is.
            if error.code == .invalidCommand, let report, let types = eventTypes(of: command),
                !types.contains(where: { transitions[$0]?.from.contains(report.state) == true })
            {
                throw illegalTransition(types[0], on: report, reportID: reportID, reporter: reporter, because: "")
            }
            throw error
        }
        // People the report already names, as the log recorded them, and the names they are shown
        // by: naming them again (a display name an acceptance carries forward) is not held to
        // rules made since (a handle recorded with an invisible character in it).
        var recordedPeople: Set<String>? = report.map { r in
            Set([r.reporter.handle] + r.credits.map(\.person) + [r.reporter.name].compactMap { $0 } + r.credits.compactMap(\.displayName))
        } ?? []
        if let actor { recordedPeople?.insert(actor) }
        if !identities { recordedPeople = nil }
        var state = report
        for e in events {
            let payload = e.value
            // Its texts first: a one-line field over its limit is told so (the title may hold at
            // most 1,000 characters), even when it also makes the event too large to record.
            try checkText(payload, field: "", recorded: recordedPeople)
            // What no event can hold is refused before the transition is checked.
            let size = Payload(payload).bytes.count
            guard size <= EnvelopeCodec.maximumEncodedSize else {
                throw DomainError(
                    .eventTooLarge,
                    "the \(e.typeName) this command makes encodes to \(size) bytes, over the \(EnvelopeCodec.maximumEncodedSize)-byte limit of an event; "
                        + "store large attachments elsewhere and reference them")
            }
            try check(e, against: state, reportID: reportID, reporter: reporter)
            if state != nil { state!.apply(e, at: state!.lastEventAt) }
        }
        return events
    }

    /// The events `command` makes on `report` as the rules of when they were recorded would have
    /// made them: without the checks of their texts and size and of the transition, and without
    /// the rules added since events were first recorded (a severity no vector scores, a reason
    /// on a first triage). What a retried command is compared by: a retry that spans an upgrade
    /// still finds the event its first attempt appended, rather than being told its id names
    /// another one.
    public static func eventsAsRecorded(for command: ReportCommand, report: Report?, reportID: String) throws(DomainError) -> [DomainEvent] {
        try events(for: command, report: report, reportID: reportID, newRules: false)
    }

    private static func events(for command: ReportCommand, report: Report?, reportID: String, newRules: Bool = true) throws(DomainError) -> [DomainEvent] {
        switch command {
        case .submit(let e):
            try DomainStreams.validateIdentifier(reportID, what: "report id")
            try DomainStreams.validateIdentifier(e.project, what: "project")
            try nonEmpty(e.title, "title")
            try nonEmpty(e.reporter.handle, "reporter handle")
            try noRepeats(e.affected ?? [], "affected version")
            return [.reportSubmitted(e)]
        case .acknowledge(let assignee):
            try nonEmpty(assignee, "assignee")
            return [.reportAcknowledged(ReportAcknowledged(assignee: assignee))]
        case .startTriage:
            return [.triageStarted(TriageStarted())]
        case .requestInfo(let q):
            return [.infoRequested(InfoRequested(question: q))]
        case .respond(let s):
            return [.reporterResponded(ReporterResponded(summary: s))]
        case .triage(let given, let v31, let v40, let cwes, let component, let affected, let reason):
            let s31 = try score(v31, expected: .v3_1)
            let s40 = try score(v40, expected: .v4_0)
            // A reason is recorded by a re-assessment only; its text is checked whether or not
            // the report is known (`checkArguments`), as every other text is.
            if newRules, let reason { try checkText(.string(reason), field: "reason") }
            if let report, reassessable.contains(report.state) {
                // A re-assessment records severity and vectors; it must not silently drop the rest.
                guard cwes.isEmpty, component == nil, affected.isEmpty else {
                    throw DomainError(.invalidCommand, "report \(reportID) is already triaged: a re-assessment changes the severity and CVSS vectors only (give --reason), not CWE ids, component or affected versions")
                }
                let severity = try assessedSeverity(report, given: given, v31: v31, v40: v40, s31: s31, s40: s40, newRules: newRules, reportID: reportID)
                // A re-assessment that changes nothing would be a clock-bearing event for nothing.
                if report.severity == severity, v31 == nil || sameVector(v31, report.cvss31), v40 == nil || sameVector(v40, report.cvss40) {
                    throw DomainError(
                        .invalidCommand,
                        "report \(reportID) is already assessed \(severity.rawValue)\(v31 != nil || v40 != nil ? " with these vectors" : ""): nothing to record")
                }
                return [.severityChanged(SeverityChanged(severity: severity, cvss31: v31, cvss40: v40, reason: reason))]
            }
            // A first triage, or one of a report reopened after an assessment (held to the
            // vectors on record as a re-assessment is).
            let severity = try assessedSeverity(report, given: given, v31: v31, v40: v40, s31: s31, s40: s40, newRules: newRules, reportID: reportID)
            try noRepeats(cwes, "CWE")
            try noRepeats(affected, "affected version")
            for cwe in cwes {
                guard cwe.hasPrefix("CWE-"), cwe.dropFirst(4).allSatisfy(\.isASCIIDigit), let n = Int(cwe.dropFirst(4)), n > 0 else {
                    throw DomainError(.invalidCommand, "\"\(cwe)\" is not a CWE id (like CWE-79)")
                }
            }
            // A triage that accepts the report records no reason (ReportTriaged has none): one given
            // would be dropped without a word. (Without the report, as `checkArguments` decides,
            // it is not known which kind this is.)
            if newRules, reason != nil, let report {
                throw DomainError(
                    .invalidCommand,
                    report.severity == nil
                        ? "a reason is for a re-assessment, and report \(reportID) has not been assessed yet: record the assessment without it, and say why in a note (docket report note)"
                        : "a reason is recorded with a re-assessment of an accepted report, and report \(reportID) is \(report.state.rawValue) (reopened): record the triage without it, and say why in a note (docket report note)")
            }
            return [.reportTriaged(ReportTriaged(severity: severity, cvss31: v31, cvss40: v40, cwes: cwes, component: component, affected: affected))]
        case .assign(let a):
            try nonEmpty(a, "assignee")
            // Handles compare as credits do: without case or surrounding white space.
            if let current = report?.assignee, Report.personKey(current) == Report.personKey(a) {
                throw DomainError(.invalidCommand, "report \(reportID) is already assigned to \(current): nothing to record")
            }
            return [.assigneeChanged(AssigneeChanged(assignee: a))]
        case .statusUpdate(let s):
            return [.statusUpdateSent(StatusUpdateSent(summary: s))]
        case .startFix(let b):
            return [.fixStarted(FixStarted(branch: b))]
        case .mergeFix(let c):
            try nonEmpty(c, "commit")
            let merged = DomainEvent.fixMerged(FixMerged(commit: c))
            // (A commit recorded before the report was closed and reopened still starts the fix
            // work again: that is something to record.)
            if let report, report.commits.contains(c), (target(of: merged, from: report.state, acknowledged: report.acknowledgedAt != nil) ?? report.state) == report.state {
                throw DomainError(.invalidCommand, "report \(reportID) already records commit \(c): nothing to record")
            }
            return [merged]
        case .release(let versions):
            guard !versions.isEmpty else {
                throw DomainError(.invalidCommand, "name at least one released version (--version 1.4.2)")
            }
            guard versions.allSatisfy({ !$0.isEmpty }) else {
                throw DomainError(.invalidCommand, "a released version must not be empty")
            }
            try noRepeats(versions, "version")
            if let recorded = report?.fixedVersions, versions.allSatisfy(recorded.contains) {
                let named = versions.count == 1 ? "version \(versions[0])" : "versions \(versions.joined(separator: ", "))"
                throw DomainError(.invalidCommand, "report \(reportID) already records the release of \(named): nothing to record")
            }
            return [.fixReleased(FixReleased(versions: versions))]
        case .requestCVE(let cna):
            return [.cveRequested(CVERequested(cna: cna))]
        case .assignCVE(let cve):
            try validateCVE(cve)
            if report?.cve == cve { throw DomainError(.invalidCommand, "report \(reportID) is already assigned \(cve): nothing to record") }
            return [.cveAssigned(CVEAssigned(cve: cve))]
        case .publish(let ghsa, let cve, let url):
            if let cve { try validateCVE(cve) }
            if let ghsa, !isGHSA(ghsa) {
                throw DomainError(.invalidCommand, "\"\(ghsa)\" is not a GHSA id: GHSA- then three groups of four from 2–9 and c f g h j m p q r v w x (like GHSA-5f7q-jh4x-2vvm)")
            }
            // The advisory names the CVE the report was assigned: another is a slip, most likely.
            if let cve, let assigned = report?.cve, cve != assigned {
                throw DomainError(
                    .invalidCommand,
                    "report \(reportID) was assigned \(assigned); publish it under that id, or record the new assignment first (docket report cve \(reportID) --assign \(cve))")
            }
            if let url { try validateAdvisoryURL(url) }
            return [.advisoryPublished(AdvisoryPublished(ghsa: ghsa, cve: cve, url: url))]
        case .scheduleDisclosure(let date):
            if let report, date < report.lastEventAt {
                throw DomainError(.invalidCommand, "disclosure date \(date) is before the report's latest event (\(report.lastEventAt))")
            }
            if let report, report.scheduledDisclosure == date {
                throw DomainError(.invalidCommand, "report \(reportID)'s disclosure is already scheduled for \(date): nothing to record")
            }
            return [.disclosureScheduled(DisclosureScheduled(date: date))]
        case .extendEmbargo(let until, let reason, let agreed):
            try nonEmpty(reason, "reason")
            if let report, until <= report.lastEventAt {
                throw DomainError(.invalidCommand, "an embargo extension must end after the report's latest event (\(report.lastEventAt)), not at \(until)")
            }
            // Later than the last extension; no earlier than a scheduled date, which sets no
            // deadline itself: an extension to the date scheduled past the deadline is how the
            // deadline moves to it.
            if let report, let previous = report.embargoExtensions.last?.until, until <= previous {
                throw DomainError(.invalidCommand, "an extension must move the embargo later than \(previous), not to \(until)")
            }
            if let report, report.embargoExtensions.isEmpty, let scheduled = report.scheduledDisclosure, until < scheduled {
                throw DomainError(.invalidCommand, "an extension must not end before the disclosure date scheduled, \(scheduled), not at \(until); schedule an earlier date first (publish --schedule)")
            }
            return [.embargoExtended(EmbargoExtended(until: until, reason: reason, reporterAgreed: agreed))]
        case .exploited(let source):
            return [.exploitationObserved(ExploitationObserved(source: source))]
        case .offerCredit(let person, let type):
            try nonEmpty(person, "person")
            try refuseDeclined(person, report: report)
            if let offered = report?.credit(of: person), offered.types.contains(type) {
                throw DomainError(.invalidCommand, "\(person) was already offered credit as \(type.rawValue) on report \(reportID) (\(offered.status.rawValue)): nothing to record")
            }
            return [.creditOffered(CreditOffered(person: person, type: type))]
        case .acceptCredit(let person, let name, let given):
            try nonEmpty(person, "person")
            let isReporter = report?.isReporter(person) ?? false
            let preference = report?.acceptedPreference(of: person, given: given) ?? given ?? .named
            let declined = report?.credit(of: person)?.status == .declined
            guard preference != .none, !declined || given != nil else {
                if given == CreditPreference.none {
                    throw DomainError(.invalidCommand, "accepting credit needs a preference of named, handle or anonymous; none is no credit (credit offered and not wanted is declined: credit --decline)")
                }
                let how = "if they now accept it, give --preference named, handle or anonymous (recorded by them, or by an admin)"
                if declined { throw DomainError(.creditDeclined, "\(person) declined credit on report \(reportID); \(how)") }
                throw DomainError(.invalidCommand, "\(person) asked for no credit; \(how)")
            }
            // Someone who declined credit, or a reporter who asked for none (or whose project's
            // default gave them none), may change their mind later, saying how they want it; no
            // one else's offer reaches them (and only they or an admin may record it: Ledger).
            try refuseDeclined(person, report: report, optingIn: given != nil)
            if let report, report.credit(of: person) == nil, !isReporter {
                throw DomainError(.invalidCommand, "no credit was offered to \(person) on report \(reportID); offer it first (credit --offer)")
            }
            // A display name already accepted stays unless another is given.
            let displayName = name ?? report?.credit(of: person).flatMap { $0.status == .accepted ? $0.displayName : nil }
            // Accepted already, as this would record it, with no offer since: the same again.
            if let own = report?.credit(of: person), own.status == .accepted, own.awaiting.isEmpty, own.preference == preference, own.displayName == displayName {
                throw DomainError(.invalidCommand, "\(person) already accepted credit on report \(reportID) as this records it: nothing to record")
            }
            return [.creditAccepted(CreditAccepted(person: person, displayName: displayName, preference: preference))]
        case .declineCredit(let person):
            try nonEmpty(person, "person")
            if let report, report.credit(of: person) == nil, !report.isReporter(person) {
                throw DomainError(.invalidCommand, "no credit was offered to \(person) on report \(reportID)")
            }
            if let record = report?.credit(of: person), record.status == .declined {
                throw DomainError(.creditDeclined, "\(person) has already declined credit on report \(reportID)")
            }
            if let report, report.askedForNoCredit(person) {
                throw DomainError(.creditDeclined, "\(person) asked for no credit when reporting \(reportID): there is nothing to decline")
            }
            return [.creditDeclined(CreditDeclined(person: person))]
        case .close(let resolution, let duplicateOf, let reason):
            if resolution == .duplicate {
                guard let duplicateOf else {
                    throw DomainError(.invalidCommand, "a duplicate must name the report it duplicates (--duplicate-of ID)")
                }
                try DomainStreams.validateIdentifier(duplicateOf, what: "duplicate-of")
                guard duplicateOf != reportID else { throw DomainError(.invalidCommand, "a report cannot duplicate itself") }
            } else if duplicateOf != nil {
                throw DomainError(.invalidCommand, "--duplicate-of only goes with the duplicate resolution")
            }
            // After the advisory: only to say the fix it owed will not come (`refusal` has the
            // rest, and refuses any closing once the fix is out, with the events allowed).
            if let report, report.state == .disclosed, report.fixReleasedAt == nil, resolution != .wontFix {
                throw DomainError(.invalidCommand, "report \(reportID) is disclosed: it can only be closed as wont-fix (no fix will follow its advisory)")
            }
            return [.reportClosed(ReportClosed(resolution: resolution, duplicateOf: duplicateOf, reason: reason))]
        case .reopen(let reason):
            return [.reportReopened(ReportReopened(reason: reason))]
        case .withdraw(let reason):
            try nonEmpty(reason, "reason")
            return [.advisoryWithdrawn(AdvisoryWithdrawn(reason: reason))]
        case .note(let text):
            try nonEmpty(text, "note")
            return [.noteAdded(NoteAdded(text: text))]
        }
    }

    /// Payload fields that hold prose, where line breaks and tabs belong.
    static let multiLineFields: Set<String> = ["question", "summary", "reason", "text", "source"]

    /// The most characters (Unicode code points) a single-line text may hold: a handle (of a reporter, an assignee, a
    /// person credited: an account name or an e-mail address), an advisory's address (checked as
    /// one too), or any other (a title, a name, a version, a component…). Prose is bounded only by
    /// the event size limit. These bound what every table and hall of fame prints; events already
    /// in a log are not checked again.
    static let lineLimits: [String: Int] = ["handle": 254, "assignee": 254, "person": 254, "url": 2048]

    /// Fields that say who someone is, where an invisible character (a zero-width space, a
    /// direction mark, a soft hyphen) would make two people look alike: handles refuse every one;
    /// names allow the joiners some scripts and emoji are written with.
    static let identityFields: [String: UntrustedText.IdentityKind] = [
        "handle": .handle, "person": .handle, "assignee": .handle, "contact": .contact, "name": .name, "displayName": .name,
    ]
    static let lineLimit = 1000

    /// Refuses text that would change how views, terminals and logs show what surrounds it
    /// (`UntrustedText`): every string of a new event's payload, `field` naming where it is.
    /// `recorded`: the people who may be named as they are (nil: no name is judged).
    private static func checkText(_ value: Value, field: String, recorded: Set<String>? = []) throws(DomainError) {
        switch value {
        case .string(let s):
            // An optional text given empty says nothing: leaving it out says so. (Text of nothing
            // but invisible characters is empty too: a name shown as a blank line.)
            guard !UntrustedText.isBlank(s) else {
                throw DomainError(.invalidCommand, "\(field) must not be empty (leave it out instead)\(s.allSatisfy(\.isWhitespace) ? "" : "; it holds only invisible characters")")
            }
            let name = field.split(separator: ".").last.map(String.init) ?? field
            let multiLine = multiLineFields.contains(name)
            // Counted in code points, not in what shows as characters: one of those can carry
            // any number of combining marks.
            if !multiLine, case let limit = lineLimits[name] ?? lineLimit, s.unicodeScalars.count > limit {
                throw DomainError(
                    .invalidCommand,
                    "\(field) is \(s.unicodeScalars.count) characters long; it may hold at most \(limit)"
                        + (lineLimits[name] == nil ? " (longer text belongs in a note)" : ""))
            }
            if let refusal = UntrustedText.refusal(s, field: field, multiLine: multiLine) {
                throw DomainError(
                    .invalidCommand,
                    refusal + ": text takes printable characters only"
                        + (multiLine ? ", line breaks and tabs" : " (line breaks and tabs only in a question, summary, reason, note or source)"))
            }
            // (Who someone is is judged as by `identityRefusal`: a person on record may be named as
            // they are.)
            if identityFields[name] == nil || (recorded.map { !$0.contains(s) } ?? false), let refusal = UntrustedText.stackRefusal(s, field: field) {
                throw DomainError(.invalidCommand, refusal)
            }
            if let kind = identityFields[name], let recorded, !recorded.contains(s), let refusal = UntrustedText.identityRefusal(s, field: field, kind: kind) {
                throw DomainError(.invalidCommand, refusal)
            }
        case .array(let items):
            for item in items { try checkText(item, field: field, recorded: recorded) }
        case .object(let members):
            for m in members { try checkText(m.value, field: field.isEmpty ? m.key : field + "." + m.key, recorded: recorded) }
        default:
            return
        }
    }

    /// Refuses a list that names the same thing twice (a slip, and a row printed twice).
    private static func noRepeats(_ values: [String], _ what: String) throws(DomainError) {
        // In one pass: a list as long as a frame can carry is checked in time proportional to it.
        var seen = Set<String>(minimumCapacity: values.count)
        for value in values where !seen.insert(value).inserted {
            throw DomainError(.invalidCommand, "\(what) \(value) is given twice")
        }
    }

    private static func nonEmpty(_ s: String, _ what: String) throws(DomainError) {
        guard !UntrustedText.isBlank(s) else {
            throw DomainError(.invalidCommand, "\(what) must not be empty\(s.allSatisfy(\.isWhitespace) ? "" : " (it holds only invisible characters)")")
        }
    }

    /// Whether two CVSS vectors say the same: the same metrics, in any order, a metric given as
    /// X ("not defined") being the same as one left out.
    static func sameVector(_ a: String?, _ b: String?) -> Bool {
        func metrics(_ v: String?) -> Set<Substring>? { v.map { Set($0.split(separator: "/").filter { !$0.hasSuffix(":X") }) } }
        return metrics(a) == metrics(b)
    }

    /// The severity a triage of `report` records (`report` nil: not known, as `checkArguments` decides).
    /// One of a report assessed before (a re-assessment, or a triage after a reopening) keeps
    /// the vector on record of a version it gives none of, so it is held to the vectors that
    /// stand after it, as a first assessment is to those it gives (else "none" alone would
    /// switch off the fix clock of a report whose vector on record scores 9.8, and the view show
    /// both). Without a severity: a v4.0 vector given sets it; a v3.1 vector alone sets it if
    /// there is no v4.0 vector on record, and beside one leaves the severity in force where a
    /// vector that stands scores it (a 3.1 vector added for a database that asks for one), else
    /// asks for the severity. Events recorded before these rules (`newRules` false) took the
    /// v4.0, else the v3.1 vector's base severity, and were held to nothing.
    private static func assessedSeverity(
        _ report: Report?, given: CVSSSeverity?, v31: String?, v40: String?, s31: CVSSScore?, s40: CVSSScore?, newRules: Bool, reportID: String
    ) throws(DomainError) -> CVSSSeverity {
        guard newRules else {
            guard let severity = given ?? (s40 ?? s31)?.severity else { throw noSeverity }
            return severity
        }
        let assessedBefore = report?.severity != nil
        let kept31 = assessedBefore && v31 == nil ? report?.cvss31.flatMap { try? CVSS.score($0) } : nil
        let kept40 = assessedBefore && v40 == nil ? report?.cvss40.flatMap { try? CVSS.score($0) } : nil
        var severity = given
        if severity == nil {
            if let s40 {
                severity = s40.ratedSeverity
            } else if let s31, let kept40 {
                guard let current = report?.severity, scoredSeverities(s31, kept40).contains(current) else {
                    throw DomainError(
                        .invalidCommand,
                        "report \(reportID)'s CVSS:4.0 vector on record rates it \(kept40.ratedSeverity.rawValue) (\(kept40.ratedScore)), the CVSS:3.1 vector given \(s31.ratedSeverity.rawValue) (\(s31.ratedScore)), and neither scores the severity in force (\(report?.severity?.rawValue ?? "none")): say which it is now (--severity)")
                }
                severity = current
            } else {
                severity = s31?.ratedSeverity
            }
        }
        guard let severity else { throw noSeverity }
        // Without the report (`checkArguments`), the vectors on record are not known: only where
        // both versions are given is nothing on record kept, and the check the same either way.
        if report != nil || (s31 != nil && s40 != nil) {
            try refuseDisagreement(severity, s31 ?? kept31, s40 ?? kept40, onRecord: (kept31 != nil, kept40 != nil), reportID: reportID)
        }
        return severity
    }

    static let noSeverity = DomainError(.invalidCommand, "give a severity (--severity critical|high|medium|low|none) or a CVSS vector to derive it from")

    /// The severities the scores of the vectors rate: a v3.1 vector's base score and that of the
    /// metrics it gives; a v4.0 vector's score and its base metrics' alone.
    private static func scoredSeverities(_ s31: CVSSScore?, _ s40: CVSSScore?) -> Set<CVSSSeverity> {
        Set(scoredBy(s31, s40).map { CVSSSeverity(scoreTenths: $0.tenths) })
    }

    /// The scores of the vectors, named for a message.
    private static func scoredBy(_ s31: CVSSScore?, _ s40: CVSSScore?, onRecord: (v31: Bool, v40: Bool) = (false, false)) -> [(name: String, tenths: Int)] {
        var scored: [(name: String, tenths: Int)] = []
        if let s31 {
            let name = "CVSS:3.1" + (onRecord.v31 ? " on record" : "")
            scored.append((name, s31.baseScoreTenths))
            // And the score of the temporal or environmental metrics it gives (3.1 computes both
            // of every vector, but of one without those metrics they are not its scores: a
            // changed scope's environmental formula differs from the base one).
            if s31.ratedScoreTenths != s31.baseScoreTenths { scored.append(("\(name) (\(s31.ratedScoreName) metrics)", s31.ratedScoreTenths)) }
        }
        if let s40 {
            let name = "CVSS:4.0" + (onRecord.v40 ? " on record" : "")
            scored.append((name, s40.baseScoreTenths))
            // And its base metrics alone (CVSS-B), as v3.1's base score counts: threat or
            // environmental metrics may lower the score a programme still rates by its base.
            if let b = s40.baseMetricsScoreTenths, b != s40.baseScoreTenths { scored.append(("\(name) (base metrics)", b)) }
        }
        return scored
    }

    /// Refuses a severity that none of the vectors scores: the fix clock is keyed to the
    /// severity, and "none" typed beside a 9.8 would switch it off without a word. A programme
    /// that rates a flaw otherwise than its base score says why in the vector (v3.1 temporal or
    /// environmental metrics, v4.0 threat or environmental ones), or, with no vector on record,
    /// gives the severity alone. `onRecord`: which of them are the report's, kept by a triage of
    /// a report assessed before that gives no vector of their version.
    private static func refuseDisagreement(
        _ severity: CVSSSeverity, _ s31: CVSSScore?, _ s40: CVSSScore?, onRecord: (v31: Bool, v40: Bool) = (false, false), reportID: String
    ) throws(DomainError) {
        let scored = scoredBy(s31, s40, onRecord: onRecord)
        guard !scored.isEmpty, !scored.contains(where: { CVSSSeverity(scoreTenths: $0.tenths) == severity }) else { return }
        let says = scored.map { "\($0.name) scores \($0.tenths / 10).\($0.tenths % 10), \(CVSSSeverity(scoreTenths: $0.tenths).rawValue)" }.joined(separator: "; ")
        if onRecord.v31 || onRecord.v40 {
            throw DomainError(
                .invalidCommand,
                "severity \(severity.rawValue) is not what report \(reportID)'s CVSS vectors say (\(says)): give with it the vector that rates it so (--cvss; it replaces the one on record of its version), rated otherwise in its own metrics (temporal, threat or environmental) if that is the reason")
        }
        throw DomainError(
            .invalidCommand,
            "severity \(severity.rawValue) is not what the CVSS vector given says (\(says)): leave --severity out to take the vector's, or rate it otherwise in the vector itself (temporal, threat or environmental metrics), or give the severity without the vector")
    }

    private static func score(_ vector: String?, expected: CVSSVersion) throws(DomainError) -> CVSSScore? {
        guard let vector else { return nil }
        guard vector.hasPrefix(expected.prefix) else {
            throw DomainError(.invalidCommand, "\"\(vector)\" is not a CVSS \(expected.rawValue) vector (it must start with \(expected.prefix))")
        }
        do { return try CVSS.score(vector) } catch { throw DomainError(.invalidCommand, "malformed CVSS vector: \(error.message)") }
    }

    /// Refuses credit to someone who declined it or asked for none, unless it is their own change
    /// of mind (`optingIn`: an acceptance that says how they want to be credited).
    private static func refuseDeclined(_ person: String, report: Report?, optingIn: Bool = false) throws(DomainError) {
        guard let report, !optingIn else { return }
        if let record = report.credit(of: person), record.status == .declined {
            throw DomainError(.creditDeclined, "\(person) declined credit on report \(report.id); it cannot be offered again (if they change their mind, they or an admin record it: credit --accept --preference named, handle or anonymous)")
        }
        if report.askedForNoCredit(person) {
            // Their submission says no credit: their own choice, or the project policy's
            // credit-default of none (credit only with consent). Either way it takes their word.
            throw DomainError(
                .creditDeclined,
                "\(person) reported \(report.id) to be credited with nothing (their choice, or the project policy's credit-default of none): credit is not offered to them. If they consent to credit, they (or an admin, on their word) record it: credit --accept --person \(person) --preference named, handle or anonymous")
        }
    }

    static func validateCVE(_ s: String) throws(DomainError) {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "CVE", parts[1].count == 4, parts[1].allSatisfy(\.isASCIIDigit),
            parts[2].count >= 4, parts[2].allSatisfy(\.isASCIIDigit)
        else { throw DomainError(.invalidCommand, "\"\(s)\" is not a CVE id (like CVE-2026-12345)") }
    }

    /// An advisory's address: an absolute http(s) URL with a host, nothing a view could render as
    /// something else (no spaces, quotes, angle brackets or control characters).
    static func validateAdvisoryURL(_ s: String) throws(DomainError) {
        let lower = s.lowercased()
        let scheme = lower.hasPrefix("https://") ? 8 : lower.hasPrefix("http://") ? 7 : 0
        let host = s.utf8.dropFirst(scheme).prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
        guard scheme > 0, !host.isEmpty, s.utf8.count <= 2048,
            s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !"\"'<>`\\{}|^".utf8.contains($0) })
        else {
            throw DomainError(.invalidCommand, "\"\(s.prefix(200))\" is not an advisory URL: give an absolute https:// (or http://) address, with any special characters percent-encoded")
        }
    }

    /// GHSA ids: "GHSA-" and three groups of four from GitHub's alphabet (2–9 and c f g h j m p q r v w x).
    static func isGHSA(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        let alphabet = Set("23456789cfghjmpqrvwx")
        return parts.count == 4 && parts[0] == "GHSA" && parts.dropFirst().allSatisfy { $0.count == 4 && $0.allSatisfy(alphabet.contains) }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
