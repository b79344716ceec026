/// The clocks a disclosure policy can define.
public enum ClockKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case acknowledge
    case triage
    case statusUpdate = "status-update"
    case fix
    case disclosure
    case needsInfo = "needs-info"

    public var description: String { rawValue }
}

/// Where one clock stands.
public enum ClockState: String, Hashable, Sendable, CustomStringConvertible {
    /// Counting: not yet due (or due with no instant yet, like a next-release fix target), or
    /// past due but within its grace period (`Clock.isLate` then).
    case running
    /// Ended on or before its due instant (within any grace period).
    case met
    /// Past its due instant: ended late, or still not done.
    case breached
    /// Stopped while the report waits on the reporter.
    case paused
    /// The policy has no such clock, or it cannot apply to this report (closed, no severity yet).
    case notApplicable = "not-applicable"

    public var description: String { rawValue }
}

/// One clock of one report.
public struct Clock: Hashable, Sendable {
    public var report: String
    public var project: String
    public var kind: ClockKind
    public var state: ClockState
    /// The policy target it measures, as the policy says it ("48h", "5bd", "next-release").
    public var target: String?
    public var startedAt: Timestamp?
    /// When it is (or was) due; nil when the target has no instant (next release, disclosure
    /// relative to a fix not yet released), when it ended while paused (met, with time left), or
    /// when it was made not applicable (a fix clock ended by the advisory's withdrawal).
    public var dueAt: Timestamp?
    /// When the milestone it measures happened.
    public var endedAt: Timestamp?
    /// `dueAt − endedAt` when it ended (negative: late), or `dueAt − now` while open (negative: overdue).
    public var margin: Duration?
    public var note: String?
    /// The event that ended it, when that was recorded more than `Report.lateEntryTolerance` after
    /// the time it gives: a milestone written in late (or backdated), or an imported history.
    public var endEntry: LateEntry?
    /// Events recorded more than `Report.lateEntryTolerance` after the time they give that moved
    /// its deadline, or made it not applicable: a closing and reopening or an information request
    /// that paused it, a re-rating that set its target, a counted embargo extension, a fix release
    /// a disclosure deadline counts from (policy.md "Late entries"). Backdating one of those could
    /// otherwise turn a breach into a pause, a later deadline or no deadline at all, unseen.
    public var lateChanges: [LateEntry] = []

    /// `note`, and what `endEntry` and `lateChanges` say: the text views show.
    public var displayNote: String? {
        guard endEntry != nil || !lateChanges.isEmpty else { return note }
        let changes = lateChanges.map { "deadline moved by \(Self.lateNote($0))" }
        return ([note, endEntry.map(Self.lateNote)].compactMap { $0 } + changes).joined(separator: "; ")
    }

    /// "ReportAcknowledged recorded 2026-03-20T12:00:00Z, 46d 12h after the time it gives".
    public static func lateNote(_ late: LateEntry) -> String {
        "\(late.type) recorded \(late.recordedAt), \(format(late.recordedAt - late.occurredAt)) after the time it gives"
    }

    /// Past its due instant and still not done (breached, or in a grace period): what
    /// `docket timers --late` lists.
    public var isLate: Bool {
        guard endedAt == nil, let margin else { return false }
        return state == .breached || (state == .running && margin < .zero)
    }
}

/// The texts the clocks of a policy repeat for every report it holds (targets, the severity a fix
/// is judged by), made once per adopted policy rather than for each clock of each report.
/// (A class: every clock of a report is worked out with its policy's texts at hand, and a copy of
/// a struct of them would retain each of its strings and tables.)
final class ClockTexts: Sendable {
    let acknowledge: String?
    let triage: String?
    let statusEvery: String?
    let needsInfo: String?
    /// "severity critical", …, and each severity's fix target, by `CVSSSeverity.rank`.
    private let severities: [String]
    private let fixTargets: [String?]
    func severity(_ s: CVSSSeverity) -> String { severities[s.rank] }
    func fixTarget(_ s: CVSSSeverity) -> String? { fixTargets[s.rank] }
    /// The disclosure rule's texts (nil: the policy sets no disclosure deadline).
    let disclosure: Disclosure?

    /// The disclosure target, and while a fix-anchored deadline waits for the fix, its target and note.
    struct Disclosure {
        let target: String
        let beforeFixTarget: String
        let beforeFixNote: String

        init(_ rule: DisclosurePolicy) {
            target = (rule.anchor == .report ? "\(rule.within) from the report" : "\(rule.within) after the fix release")
                + (rule.workdayDeadlines ? " (or the next work day)" : "")
            beforeFixTarget = "\(rule.within) after the fix release"
            beforeFixNote = "due \(rule.within) after the fix is released"
        }
    }

    init(_ p: Policy) {
        acknowledge = p.acknowledge?.within.description
        triage = p.triage?.within.description
        statusEvery = p.statusUpdateEvery?.description
        needsInfo = p.needsInfoAutoClose?.description
        let ranked = CVSSSeverity.allCases.sorted { $0.rank < $1.rank }
        precondition(ranked.map(\.rank) == Array(ranked.indices), "severity ranks are the indices 0..<count")
        severities = ranked.map { "severity \($0.rawValue)" }
        fixTargets = ranked.map { p.fix?.targets[$0]?.description }
        disclosure = p.disclosure.map(Disclosure.init)
    }
}

/// Computes every clock of a report under a policy at an instant. Pure.
public enum Timers {
    /// Open clocks are judged at `now`. An event of the report dated after `now` has not happened
    /// yet (the report's history looked at part-way through) unless `allHappened`, as in a view:
    /// a view folds only the events that belong in it, and shows each at once in the report's
    /// state, among them an event dated a little ahead of the node's clock (`Ledger.futureSkew`);
    /// its clocks must agree, so an acknowledgement dated two minutes ahead has ended the
    /// acknowledge clock, met, not two minutes from now. (As of an instant, no event folded is
    /// later than it.)
    public static func clocks(for report: Report, policy adopted: AdoptedPolicy?, now: Timestamp, allHappened: Bool = false) -> [Clock] {
        let engine = Engine(report: report, now: now, known: allHappened ? max(now, report.lastEventAt) : now)
        guard let adopted else {
            let note = "project \(report.project) has no policy"
            return ClockKind.allCases.map { engine.clock($0, .notApplicable, note: note) }
        }
        // (The policy's parts are read through `adopted`: a copy of the whole policy would retain
        // each of its strings and tables, for every report.)
        let cal = adopted.calendar
        let texts = adopted.texts
        var clocks = [
            engine.response(.acknowledge, adopted.policy.acknowledge, texts.acknowledge, cal, end: report.acknowledgedAt ?? report.closedAt),
            engine.response(.triage, adopted.policy.triage, texts.triage, cal, end: report.acceptedAt ?? report.closedAt),
            engine.statusUpdates(adopted.policy.statusUpdateEvery, texts.statusEvery, cal),
            engine.fix(adopted.policy.fix, texts, cal),
            engine.disclosure(adopted.policy.disclosure, texts, cal),
            engine.needsInfo(adopted.policy.needsInfoAutoClose, texts.needsInfo, cal),
        ]
        if !report.lateEntries.isEmpty {
            for i in clocks.indices { clocks[i].lateChanges += engine.lateChanges(of: clocks[i], adopted) }
        }
        return clocks
    }

    private struct Engine {
        let report: Report
        /// The instant open clocks are judged at.
        let now: Timestamp
        /// The instant by which the report's events have happened (`now`, or later: `allHappened`).
        let known: Timestamp

        init(report: Report, now: Timestamp, known: Timestamp) {
            self.report = report
            self.now = now
            self.known = known
        }

        func clock(_ kind: ClockKind, _ state: ClockState, target: String? = nil, start: Timestamp? = nil, due: Timestamp? = nil, end: Timestamp? = nil, note: String? = nil) -> Clock {
            var margin: Duration?
            if let due {
                margin = due - (end ?? now)
            }
            // A clock ended by an event entered well after the time it gives says so: whoever reads
            // it can tell a milestone recorded as it happened from one written in later. (Kept as
            // the entry, made text only when shown: an imported history has one on every clock.)
            var late: LateEntry?
            if let end, !report.lateEntries.isEmpty {
                late = report.lateEntries.first { $0.occurredAt == end && Self.ends(kind, $0.type) }
            }
            return Clock(
                report: report.id, project: report.project, kind: kind, state: state, target: target, startedAt: start, dueAt: due, endedAt: end, margin: margin,
                note: note, endEntry: late)
        }

        /// "closed as duplicate without a fix", "closed as spam; nothing to disclose", …:
        /// `closedWithout`'s notes for the fix and disclosure clocks, by resolution (or "resolved").
        private static let closedNotes: (fix: [String: String], disclosure: [String: String]) = {
            func notes(_ what: String) -> [String: String] {
                Dictionary(uniqueKeysWithValues: (Resolution.allCases.map(\.rawValue) + ["resolved"]).map { ($0, "closed as \($0)\(what)") })
            }
            return (notes(" without a fix"), notes("; nothing to disclose"))
        }()

        /// Whether an event of `type` can end a clock of `kind`: a late entry of another type at
        /// the same instant did not end it.
        static func ends(_ kind: ClockKind, _ type: String) -> Bool {
            if type == ReportClosed.eventType { return true }
            switch kind {
            case .acknowledge: return type == ReportAcknowledged.eventType
            case .triage: return type == ReportTriaged.eventType
            case .statusUpdate: return type == FixReleased.eventType || type == AdvisoryPublished.eventType
            case .fix: return type == FixReleased.eventType || type == AdvisoryPublished.eventType || type == AdvisoryWithdrawn.eventType
            case .disclosure: return type == AdvisoryPublished.eventType
            case .needsInfo: return type == ReporterResponded.eventType || type == ReportTriaged.eventType
            }
        }

        /// The late entries of `type` that give `t` as their time.
        func lateEntries(_ type: String, at t: Timestamp) -> [LateEntry] {
            report.lateEntries.filter { $0.type == type && $0.occurredAt == t }
        }

        /// The late entries that moved `c`'s deadline (`Clock.lateChanges`; the disclosure clock
        /// names those that moved its deadline itself, its fix release and counted extensions):
        /// - a closing and the reopening after it, on every clock the closing paused (no clock but
        ///   disclosure runs while a report is closed; a status-update cadence restarts at the
        ///   reopening);
        /// - a closing that made the fix or disclosure clock not applicable;
        /// - information requests made while it ran, if the policy pauses it for them (the
        ///   needs-info clock: the one that started it);
        /// - for the fix clock, re-ratings (severity changes, a triage after a reopening) before it ended.
        func lateChanges(of c: Clock, _ adopted: AdoptedPolicy) -> [LateEntry] {
            let until = c.endedAt ?? known
            let entries = report.lateEntries
            var found: [LateEntry] = []
            // A fix or disclosure clock a closing made not applicable, where it could otherwise have
            // run on to a breach. (The other clocks a closing ends name it as their end; a clock
            // the policy does not have had no deadline to move.)
            // (Nor one whose policy sets no fix target for the severity the report was rated: an
            // unrated report could still have got one.)
            func defined() -> Bool {
                switch c.kind {
                case .fix: adopted.policy.fix.map { fix in report.severity.map { fix.targets[$0] != nil } ?? true } ?? false
                case .disclosure: adopted.policy.disclosure != nil
                default: false
                }
            }
            if c.state == .notApplicable, c.kind == .fix || c.kind == .disclosure, defined(), let closed = happened(report.closedAt) {
                found += lateEntries(ReportClosed.eventType, at: closed)
            }
            switch c.kind {
            case .disclosure:
                return found
            case .needsInfo:
                // (Also when a closing ended the wait: a request written in late and backdated must
                // not pass for one the policy allowed closing on.)
                guard let start = c.startedAt else { return found }
                return lateEntries(InfoRequested.eventType, at: start)
            case .acknowledge, .triage, .statusUpdate, .fix:
                break
            }
            // Re-ratings set the fix clock's target, even one that leaves it not applicable; one
            // that kept the severity (new vectors, the same rating) moved nothing.
            if c.kind == .fix, report.severityHistory.count > 1, let accepted = report.acceptedAt {
                let history = report.severityHistory
                func changedSeverity(at t: Timestamp) -> Bool {
                    history.indices.contains { i in history[i].at == t && (i == 0 || history[i - 1].severity != history[i].severity) }
                }
                found += entries.filter { e in
                    e.occurredAt <= until && (e.type == SeverityChanged.eventType || (e.type == ReportTriaged.eventType && e.occurredAt > accepted))
                        && changedSeverity(at: e.occurredAt)
                }
            }
            // The status-update cadence restarts at each reopening: it ran from the acknowledgement.
            guard c.state != .notApplicable, let start = c.kind == .statusUpdate ? report.acknowledgedAt : c.startedAt else { return found }
            let pausing: Bool
            switch c.kind {
            case .acknowledge: pausing = adopted.policy.acknowledge?.pausedWhileWaiting == true
            case .triage: pausing = adopted.policy.triage?.pausedWhileWaiting == true
            case .fix: pausing = adopted.policy.fix?.pausedWhileWaiting == true
            default: pausing = false
            }
            // The closings the report was reopened from while the clock ran. Most clocks have none
            // and pause for nothing else: no look at the entries then (an imported history has a
            // late entry for nearly every event of every report).
            let reopened = report.closures.filter { k in k.end.map { $0 <= until && $0 > start } ?? false }
            guard pausing || !reopened.isEmpty else { return found }
            // A pause that began once the deadline had passed did not move it (see `due`).
            let due = c.dueAt ?? .maximum
            return found + entries.filter { e in
                guard e.occurredAt <= until else { return false }
                switch e.type {
                case InfoRequested.eventType: return pausing && e.occurredAt >= start && e.occurredAt < due
                case ReportClosed.eventType: return e.occurredAt < due && reopened.contains { $0.start == e.occurredAt }
                case ReportReopened.eventType: return reopened.contains { $0.end == e.occurredAt && $0.start < due }
                default: return false
                }
            }
        }

        /// `t` if it has happened (`known`): a milestone with a later event time (a view as of an
        /// instant before it) ends no clock.
        func happened(_ t: Timestamp?) -> Timestamp? {
            guard let t, t <= known else { return nil }
            return t
        }

        /// The state of a clock with a due instant: met/breached once ended, else running/breached.
        func judge(_ kind: ClockKind, target: String, start: Timestamp, due: Timestamp, end: Timestamp?, breachAfter: Timestamp? = nil, note: String? = nil) -> Clock {
            let limit = breachAfter ?? due
            if let end {
                var note = note
                if end > due && end <= limit { note = Clock.joinNotes(note, "within the grace period") }
                return clock(kind, end <= limit ? .met : .breached, target: target, start: start, due: due, end: end, note: note)
            }
            if now > limit { return clock(kind, .breached, target: target, start: start, due: due, note: note) }
            var note = note
            if now > due { note = Clock.joinNotes(note, "in the grace period until \(limit)") }
            return clock(kind, .running, target: target, start: start, due: due, note: note)
        }

        /// The intervals a clock does not run in: the time the report spent closed before it was
        /// reopened, always; the waits on the reporter, if the policy pauses this clock.
        func pauses(_ paused: Bool) -> [WaitInterval] {
            let reopened = report.closures.filter { $0.end != nil }
            guard paused else { return reopened }
            // Most reports were never closed and reopened: their waits, already in time order, are
            // the pauses as they stand, with nothing made.
            let waits = report.waits
            if reopened.isEmpty, zip(waits, waits.dropFirst()).allSatisfy({ $0.start <= $1.start }) { return waits }
            return (waits + reopened).sorted { $0.start < $1.start }
        }

        /// Acknowledge and triage: from submission until the milestone.
        func response(_ kind: ClockKind, _ rule: ResponseClock?, _ target: String?, _ cal: BusinessCalendar, end: Timestamp?) -> Clock {
            guard let rule, let target else { return clock(kind, .notApplicable, note: "the policy sets no \(kind) target") }
            let start = report.submittedAt
            // A report reopened after being closed does not restart its response clocks.
            let end = happened(end)
            switch due(from: start, rule.within, pauses: pauses(rule.pausedWhileWaiting), ending: end, cal) {
            case .at(let d):
                return judge(kind, target: target, start: start, due: d, end: end)
            case .pausedAt(let remaining, let resuming):
                if let end { return clock(kind, .met, target: target, start: start, end: end) }
                return clock(kind, .paused, target: target, start: start, due: cal.advance(resuming, by: remaining, unit: rule.within.unit), note: "paused while waiting on the reporter; due shown as if it resumed now")
            }
        }

        func statusUpdates(_ every: PolicyDuration?, _ target: String?, _ cal: BusinessCalendar) -> Clock {
            let kind = ClockKind.statusUpdate
            guard let every, let target else { return clock(kind, .notApplicable, note: "the policy sets no status-update cadence") }
            guard let ack = happened(report.acknowledgedAt) else {
                return clock(kind, .notApplicable, target: target, note: "starts when the report is acknowledged")
            }
            // (The earliest of the three that has happened, compared in place: no array made for every report.)
            var end = happened(report.fixReleasedAt)
            if let t = happened(report.disclosedAt), end.map({ t < $0 }) ?? true { end = t }
            if let t = happened(report.closedAt), end.map({ t < $0 }) ?? true { end = t }
            // Updates and closings up to `seen` count; the silence after the last one runs to `horizon`.
            let seen = end ?? known
            let horizon = end ?? now
            var last = ack
            var missed = 0
            var worst: Duration = .zero
            // The first update deadline that passed without one: what a clock ended breached is judged by.
            var firstMissed: Timestamp?
            // An update (or a closing) at `t`: late if the one before it was more than the cadence
            // ago, and every update the cadence asked for in between was missed (a month's silence
            // under a weekly cadence is four missed updates, not one late one).
            func checkCadence(at t: Timestamp) {
                let span = cal.span(of: every)
                var due = cal.advance(last, by: span, unit: every.unit)
                guard t > due else { return }
                worst = max(worst, t - due)
                firstMissed = firstMissed ?? due
                switch every.unit {
                case .hours, .days:
                    // Deadlines every `span` from `due`: those before `t`.
                    missed += Int((t.microseconds - due.microseconds - 1) / max(span, 1) + 1)
                case .businessDays:
                    // Counted time in the silence, in whole cadences (one step corrects the rounding).
                    var periods = Int(cal.measure(from: due, to: t, unit: .businessDays) / max(span, 1))
                    due = cal.advance(due, by: span * Int64(periods), unit: .businessDays)
                    while t > due {
                        periods += 1
                        due = cal.advance(due, by: span, unit: .businessDays)
                    }
                    missed += periods
                }
            }
            // A reopened report's cadence restarts at the reopening; one already missed when the
            // report was closed stays missed (closing and reopening must not wipe it out).
            // (In time order: events of a report are recorded in the order they happened.)
            let closed = report.closures
            let reopened = closed.isEmpty ? [] : closed.filter { c in c.end.map { $0 <= seen } ?? false }
            var k = 0
            func passReopenings(before t: Timestamp) {
                while k < reopened.count, reopened[k].start < t {
                    if reopened[k].start > last { checkCadence(at: reopened[k].start) }
                    last = max(last, reopened[k].end!)
                    k += 1
                }
            }
            for u in report.statusUpdates where u <= seen {
                passReopenings(before: u)
                guard u > last else { continue }
                checkCadence(at: u)
                last = u
            }
            passReopenings(before: seen)
            let next = cal.advance(last, by: cal.span(of: every), unit: every.unit)
            // And the silence since the last update, to the end of the investigation (or now).
            checkCadence(at: horizon)
            var missedNote = missed > 0 ? "\(missed) update\(missed == 1 ? "" : "s") late or missed (worst \(Clock.format(worst)) late)" : nil
            // Updates written in well after the time they give could have been backdated to keep the cadence.
            let lateUpdates = report.lateEntries.count { $0.type == StatusUpdateSent.eventType && $0.occurredAt <= seen }
            if lateUpdates > 0 {
                let text = "\(lateUpdates) update\(lateUpdates == 1 ? "" : "s") recorded more than \(Clock.format(Report.lateEntryTolerance)) after the time \(lateUpdates == 1 ? "it gives" : "they give")"
                missedNote = Clock.joinNotes(missedNote, text)
            }
            if let end {
                // Breached: judged by the first deadline it missed (a negative margin), not by the
                // last period, which may have been kept.
                if let firstMissed {
                    let silence = end > next ? "no update before the investigation ended" : nil
                    return clock(kind, .breached, target: target, start: ack, due: firstMissed, end: end, note: Clock.joinNotes(missedNote, silence))
                }
                return clock(kind, .met, target: target, start: ack, due: next, end: end, note: missedNote)
            }
            if now > next { return clock(kind, .breached, target: target, start: ack, due: next, note: missedNote) }
            return clock(kind, .running, target: target, start: last, due: next, note: missedNote)
        }

        /// A report closed without the milestone a clock waits for: the clock is not applicable,
        /// unless the report had been accepted as a vulnerability and the clock was already past
        /// its deadline when the report was closed. Closing does not undo that breach, any more
        /// than a later event undoes one in an as-of view. A report never accepted (closed as spam,
        /// out of scope, …) had nothing to fix or disclose, and a duplicate's original carries
        /// the clocks.
        func closedWithout(_ kind: ClockKind, _ judged: Clock, _ what: String) -> Clock {
            let resolution = report.resolution?.rawValue ?? "resolved"
            let accepted = happened(report.acceptedAt) != nil && report.resolution != .duplicate
            guard judged.state == .breached, accepted else {
                // (Made once for each resolution: every report closed without a fix has two.)
                let note = (kind == .fix ? Self.closedNotes.fix : Self.closedNotes.disclosure)[resolution] ?? "closed as \(resolution)\(what)"
                return clock(kind, .notApplicable, note: note)
            }
            var c = judged
            c.note = Clock.joinNotes(judged.note, "closed as \(resolution) after the deadline had passed")
            return c
        }

        func fix(_ rule: FixPolicy?, _ texts: ClockTexts, _ cal: BusinessCalendar) -> Clock {
            let kind = ClockKind.fix
            guard let rule else { return clock(kind, .notApplicable, note: "the policy sets no fix targets") }
            // A release ends it, even one recorded after the advisory.
            let releasedAt = happened(report.fixReleasedAt)
            let published = happened(report.disclosedAt)
            // (A report closed as wont-fix after an advisory the policy counts as a fix was judged
            // by that advisory, below.)
            if report.fixReleasedAt == nil, let closed = happened(report.closedAt), !(rule.metByAdvisory && published != nil) {
                return closedWithout(kind, fixClock(rule, texts, cal, endedAt: closed, endNote: nil), " without a fix")
            }
            // A withdrawn advisory retracts the report: with no fix release recorded by then there is
            // nothing to judge, so not applicable (not met: metrics must not count it as a fix
            // delivered on time), unless its target had already passed, which stays breached, as
            // for a closing — by the withdrawal, or, where the policy counts an advisory as a fix,
            // by the advisory itself.
            if releasedAt == nil, let withdrawn = happened(report.withdrawnAt) {
                let advisory = rule.metByAdvisory ? published : nil
                let judged = fixClock(
                    rule, texts, cal, endedAt: advisory ?? withdrawn,
                    endNote: advisory == nil
                        ? "ended by the advisory's withdrawal, without a recorded fix release"
                        : "ended by the advisory, which the policy counts as a fix release, and which was withdrawn")
                guard judged.state == .breached else {
                    return clock(kind, .notApplicable, end: withdrawn, note: "ended by the advisory's withdrawal, without a recorded fix release: no fix to judge")
                }
                return judged
            }
            // Under a policy that counts an advisory as keeping the promise, the first of the two
            // ends it and is judged.
            if rule.metByAdvisory, let published, releasedAt.map({ published < $0 }) ?? true {
                return fixClock(rule, texts, cal, endedAt: published, endNote: "ended by the advisory, which the policy counts as a fix release")
            }
            // Otherwise an advisory does not keep the promise of a fix: the clock runs on until
            // a release is recorded (after the advisory, the report stays disclosed).
            let endNote: String? =
                switch (published, releasedAt) {
                case (let published?, let released?) where published < released: "released after the advisory of \(published)"
                case (let published?, nil): "advisory published \(published) before any fix release: the fix is still due"
                default: nil
                }
            return fixClock(rule, texts, cal, endedAt: releasedAt, endNote: endNote)
        }

        /// The fix clock ended at `endedAt` (nil: still open). A target missed while an earlier
        /// rating was in force stays missed, and is what the clock is judged by: re-rating a report
        /// after its deadline had passed (to a laxer target, or none) does not clear the breach, nor
        /// does the laxer target's own deadline passing in turn make the report look less late.
        func fixClock(_ rule: FixPolicy, _ texts: ClockTexts, _ cal: BusinessCalendar, endedAt: Timestamp?, endNote: String?) -> Clock {
            breachBeforeRerating(rule, texts, cal, endedAt: endedAt, endNote: endNote) ?? fixUnderRating(rule, texts, cal, endedAt: endedAt, endNote: endNote)
        }

        /// The earliest rating (in log order) whose target passed while it was in force, before the
        /// report was re-rated: a rating given after its target had already passed (a correction of
        /// a first triage that came late) is not held against the programme.
        func breachBeforeRerating(_ rule: FixPolicy, _ texts: ClockTexts, _ cal: BusinessCalendar, endedAt: Timestamp?, endNote: String?) -> Clock? {
            let history = report.severityHistory
            guard history.count > 1, let start = fixStart(rule) else { return nil }
            let until = endedAt ?? known
            let paused = pauses(rule.pausedWhileWaiting)
            for i in 0..<history.count - 1 {
                let (rating, rerating) = (history[i], history[i + 1])
                guard rerating.at <= until, case .within(let d) = rule.targets[rating.severity] ?? FixTarget.none,
                    case .at(let due) = due(from: start, d, pauses: paused, ending: endedAt, cal), rating.at <= due, due < rerating.at
                else { continue }
                let note = "severity \(rating.severity.rawValue) until re-rated \(rerating.severity.rawValue) on \(rerating.at), after its target had passed"
                return clock(
                    .fix, .breached, target: texts.fixTarget(rating.severity) ?? d.description, start: start, due: due, end: endedAt,
                    note: endNote.map { "\(note); \($0)" } ?? note)
            }
            return nil
        }

        /// When the fix clock starts: at submission, or at acceptance (nil before it).
        func fixStart(_ rule: FixPolicy) -> Timestamp? {
            switch rule.from {
            case .report: report.submittedAt
            case .acceptance: report.acceptedAt
            }
        }

        /// The fix clock under the rating in force when it ended (or now).
        func fixUnderRating(_ rule: FixPolicy, _ texts: ClockTexts, _ cal: BusinessCalendar, endedAt: Timestamp?, endNote: String?) -> Clock {
            let kind = ClockKind.fix
            // Judged by the severity in force when it ended (a later re-rating does not rewrite it).
            // Before triage there is none, but a policy with one target for every severity (AiSOC's
            // "within 30 days") already has a deadline.
            let severity: CVSSSeverity
            if let assessed = endedAt.flatMap({ report.severityInForce(at: $0) }) ?? report.severity {
                severity = assessed
            } else if let uniform = rule.uniformTargetSeverity {
                severity = uniform
            } else {
                return clock(kind, .notApplicable, note: "no severity yet; the fix target is set at triage")
            }
            let assessed = report.severity != nil
            guard let start = fixStart(rule) else { return clock(kind, .notApplicable, note: "starts when the report is accepted") }
            let end = endedAt
            let severityText = assessed ? texts.severity(severity) : "not yet triaged; the same target for every severity"
            let severityNote = endNote.map { "\(severityText); \($0)" } ?? severityText
            switch rule.targets[severity] ?? FixTarget.none {
            case .none:
                return clock(kind, .notApplicable, start: start, note: "the policy sets no fix target for \(severity.rawValue) severity")
            case .nextRelease:
                if let end { return clock(kind, .met, target: "next-release", start: start, end: end, note: severityNote) }
                return clock(kind, .running, target: "next-release", start: start, note: "\(severityNote); due with the next release")
            case .within(let d):
                switch due(from: start, d, pauses: pauses(rule.pausedWhileWaiting), ending: end, cal) {
                case .at(let dueAt):
                    return judge(kind, target: texts.fixTarget(severity) ?? d.description, start: start, due: dueAt, end: end, note: severityNote)
                case .pausedAt(let remaining, let resuming):
                    return clock(kind, .paused, target: texts.fixTarget(severity) ?? d.description, start: start, due: cal.advance(resuming, by: remaining, unit: d.unit), note: "\(severityNote); paused while waiting on the reporter; due shown as if it resumed now")
                }
            }
        }

        func disclosure(_ rule: DisclosurePolicy?, _ texts: ClockTexts, _ cal: BusinessCalendar) -> Clock {
            let kind = ClockKind.disclosure
            guard let rule, let text = texts.disclosure else { return clock(kind, .notApplicable, note: "the policy sets no disclosure deadline") }
            if report.disclosedAt == nil, let closed = happened(report.closedAt) {
                return closedWithout(kind, disclosureClock(rule, text, cal, end: closed, disclosed: false), "; nothing to disclose")
            }
            return disclosureClock(rule, text, cal, end: happened(report.disclosedAt), disclosed: true)
        }

        /// The disclosure clock ended at `end` (nil: still open), by the advisory if `disclosed`:
        /// the rule's deadline from its anchor, then moved in turn by an early fix (`after-fix`),
        /// by embargo extensions and by exploitation in the wild (`DisclosureDeadline`), and
        /// judged with the grace period left in force.
        func disclosureClock(_ rule: DisclosurePolicy, _ text: ClockTexts.Disclosure, _ cal: BusinessCalendar, end: Timestamp?, disclosed: Bool) -> Clock {
            let dates = DisclosureDates(rule: rule, cal: cal, extensions: report.embargoExtensions, known: known)
            // A release or exploitation recorded after the clock ended (on a disclosed report) has
            // no say in a deadline already met or missed.
            func byEnd(_ t: Timestamp?) -> Timestamp? {
                guard let t = happened(t) else { return nil }
                if let end, end < t { return nil }
                return t
            }
            let fixedAt = byEnd(report.fixReleasedAt)
            let exploitedAt = byEnd(report.exploitedAt)
            let anchor: Timestamp
            switch rule.anchor {
            case .report: anchor = report.submittedAt
            case .fixRelease:
                guard let fixedAt else { return disclosureBeforeFix(dates, text, exploitedAt: exploitedAt, end: end, disclosed: disclosed) }
                anchor = fixedAt
            }
            let lateRelease = fixedAt.map { lateEntries(FixReleased.eventType, at: $0) } ?? []
            var deadline = DisclosureDeadline(dates, anchor: anchor, exploitedAt: exploitedAt, lateAnchor: rule.anchor == .fixRelease ? lateRelease : [])
            if let fixedAt { deadline.releaseFix(at: fixedAt, late: lateRelease) }
            deadline.extend(by: report.embargoExtensions.filter { $0.at <= known })
            deadline.shortenForExploitation()
            if disclosed, let end { deadline.noteEarlyDisclosure(at: end) }
            let graceEnd = deadline.applyGrace()
            // (A date the policy moves off days off says so, as the policy's own target does.)
            let target = deadline.movedTarget.map { $0 + (rule.workdayDeadlines ? " (or the next work day)" : "") } ?? text.target
            let notes = deadline.notes
            var c = judge(
                .disclosure, target: target, start: anchor, due: deadline.due, end: end, breachAfter: graceEnd,
                note: notes.isEmpty ? nil : notes.joined(separator: "; "))
            c.lateChanges = deadline.moved
            return c
        }

        /// The disclosure clock of a deadline that counts from the fix release, before any fix
        /// was released: no deadline yet, unless exploitation in the wild sets one; ended by an
        /// advisory published all the same.
        func disclosureBeforeFix(_ dates: DisclosureDates, _ text: ClockTexts.Disclosure, exploitedAt: Timestamp?, end: Timestamp?, disclosed: Bool) -> Clock {
            let kind = ClockKind.disclosure
            let rule = dates.rule
            if let shortened = rule.exploited, let observed = exploitedAt {
                let due = dates.add(shortened, observed)
                // The exploited deadline's grace period applies as it does once the fix is out: a
                // release must not turn a breached clock back into a running one.
                let graceEnd = dates.granted(rule.exploitedDeadlineGrace, after: due, since: observed)
                let target = "\(shortened) after exploitation" + (rule.workdayDeadlines ? " (or the next work day)" : "")
                var c = judge(
                    kind, target: target, start: observed, due: due, end: end, breachAfter: graceEnd,
                    note: "exploitation observed \(observed) before any fix: due \(shortened) after it")
                if rule.graceOnRequest, graceEnd != nil { DisclosureDates.noteLate(dates.requests(for: due, since: observed), in: &c.lateChanges) }
                return c
            }
            if disclosed, let end {
                // Published before any fix was released: the advisory ends the clock, ahead of a
                // deadline that would have counted from the release.
                let early = rule.earliest.map { "; before the earliest date the policy allows (\($0) after the fix release)" } ?? ""
                return clock(kind, .met, target: text.beforeFixTarget, end: end, note: "disclosed before any fix was released\(early)")
            }
            return clock(kind, .running, target: text.beforeFixTarget, note: text.beforeFixNote)
        }

        func needsInfo(_ autoClose: PolicyDuration?, _ target: String?, _ cal: BusinessCalendar) -> Clock {
            let kind = ClockKind.needsInfo
            guard let autoClose, let target else { return clock(kind, .notApplicable, note: "the policy sets no needs-info auto-close") }
            guard let wait = report.waits.last(where: { $0.start <= known }) else {
                return clock(kind, .notApplicable, target: target, note: "no information was requested")
            }
            let due = cal.advance(wait.start, by: cal.span(of: autoClose), unit: autoClose.unit)
            let end = happened(wait.end)
            // A closing ends the wait without an answer: what the clock was there to allow (or the
            // programme giving up sooner), not a deadline anyone missed.
            if let end, wait.endedByClosing {
                let how = end >= due ? "after the reporter had not answered for \(autoClose), as the policy allows" : "while still waiting on the reporter, sooner than the \(autoClose) without an answer the policy allows closing on"
                return clock(kind, .notApplicable, target: target, start: wait.start, end: end, note: "closed \(how)")
            }
            var c = judge(kind, target: target, start: wait.start, due: due, end: end)
            if c.isLate { c.note = "the reporter has not answered; the policy says close the report" }
            return c
        }

        enum Due {
            case at(Timestamp)
            /// Currently paused with this much counted time still to run, as if it resumed at
            /// `resuming`: now, or the pause's start if it is dated a little ahead (the time to it
            /// was counted, and is not counted again).
            case pausedAt(remaining: Int64, resuming: Timestamp)
        }

        /// When a budget of `d` counted from `start` runs out, skipping `pauses` (in time order)
        /// that began before the clock ended at `ending` (nil: it has not): a wait or a closing
        /// after the milestone did not stop a clock that had already stopped, and must not move
        /// the deadline it was judged by.
        func due(from start: Timestamp, _ d: PolicyDuration, pauses: [WaitInterval], ending: Timestamp?, _ cal: BusinessCalendar) -> Due {
            var remaining = cal.span(of: d)
            var t = start
            for p in pauses {
                if let end = p.end, end <= t { continue }
                let pauseStart = max(p.start, t)
                if pauseStart > known { break }
                if let ending, pauseStart >= ending { break }
                let available = cal.measure(from: t, to: pauseStart, unit: d.unit)
                if available >= remaining { return .at(cal.advance(t, by: remaining, unit: d.unit)) }
                remaining -= available
                guard let end = p.end, end <= known else { return .pausedAt(remaining: remaining, resuming: max(now, pauseStart)) }
                t = end
            }
            return .at(cal.advance(t, by: remaining, unit: d.unit))
        }
    }
}

/// The dates a disclosure rule sets for one report: deadlines moved off days off where the rule
/// says so, and the grace periods embargo extensions ask for (`grace-on-request`).
private struct DisclosureDates {
    let rule: DisclosurePolicy
    let cal: BusinessCalendar
    /// The report's embargo extensions, in log order.
    let extensions: [EmbargoExtension]
    /// The instant by which the report's events have happened (`Engine.known`).
    let known: Timestamp

    /// `d` after `from`, moved off days off where the policy says so.
    func add(_ d: PolicyDuration, _ from: Timestamp) -> Timestamp {
        let end = cal.advance(from, by: cal.span(of: d), unit: d.unit)
        return rule.workdayDeadlines ? cal.onWorkday(end) : end
    }

    /// With `grace-on-request`, the embargo extensions that asked for `deadline`'s grace period:
    /// those recorded by it that move past it (and for a deadline exploitation set, recorded
    /// `since` it was observed).
    func requests(for deadline: Timestamp, since: Timestamp? = nil) -> [EmbargoExtension] {
        guard rule.graceOnRequest else { return [] }
        return extensions.filter { x in
            x.at <= known && x.at <= deadline && x.until > deadline && since.map { x.at >= $0 } ?? true
        }
    }

    /// Until when a missed `deadline` with `grace` is not yet breached, as granted: the whole
    /// grace, unless it must be asked for; then no further than the latest date asked for (nil:
    /// no grace).
    func granted(_ grace: PolicyDuration?, after deadline: Timestamp, since: Timestamp? = nil) -> Timestamp? {
        guard let full = grace.map({ add($0, deadline) }) else { return nil }
        guard rule.graceOnRequest else { return full }
        return requests(for: deadline, since: since).map(\.until).max().map { min(full, $0) }
    }

    /// The late entries among `extensions` (those that asked for a grace used, or moved a
    /// deadline), added to `moved` once each: named on the clock.
    static func noteLate(_ extensions: [EmbargoExtension], in moved: inout [LateEntry]) {
        for late in extensions.compactMap(\.lateEntry) where !moved.contains(late) { moved.append(late) }
    }
}

/// A disclosure deadline as it is worked out, step by step: the rule's, from its anchor; an
/// after-fix date for a fix released in time (`releaseFix`); embargo extensions (`extend`); an
/// earlier deadline for exploitation in the wild (`shortenForExploitation`); and the grace
/// period left in force (`applyGrace`). Each step notes what it did, and the late entries that
/// moved the deadline.
private struct DisclosureDeadline {
    let dates: DisclosureDates
    var rule: DisclosurePolicy { dates.rule }
    /// What the rule counts from: the report, or the fix release.
    let anchor: Timestamp
    /// The rule's deadline, from the anchor.
    let baseDue: Timestamp
    let exploitedAt: Timestamp?
    /// The deadline exploitation in the wild sets, if observed and the policy has one.
    let exploitedDue: Timestamp?
    /// Until when the exploited deadline is not yet breached: a grace period granted after it
    /// ends there too (with exploitation seen on day 85 of 90, a disclosure or a patch is in time
    /// until day 95 — 7 days and their 3 of grace — not day 104).
    let exploitedLimit: Timestamp?

    /// The deadline in force so far.
    var due: Timestamp
    /// The deadline the policy sets before any extension: the rule's, or an after-fix date.
    var policyDue: Timestamp
    var notes: [String] = []
    /// Late entries that moved the deadline (`Clock.lateChanges`).
    var moved: [LateEntry] = []
    /// The after-fix date's target ("30d after the fix release") once it is the deadline: no
    /// grace period of its own then.
    var afterFixTarget: String?
    /// With `grace-on-request`: the extensions that asked for the grace a fix was released in.
    var askedBy: [EmbargoExtension] = []
    /// Set when exploitation's deadline is the one in force: it names the target, and
    /// `exploited-grace` is its grace.
    var exploitedTarget: String?

    /// `lateAnchor`: the late entries of the event the deadline counts from (a fix release), which
    /// moved it.
    init(_ dates: DisclosureDates, anchor: Timestamp, exploitedAt: Timestamp?, lateAnchor: [LateEntry]) {
        self.dates = dates
        self.anchor = anchor
        self.exploitedAt = exploitedAt
        moved = lateAnchor
        baseDue = dates.add(dates.rule.within, anchor)
        due = baseDue
        policyDue = baseDue
        exploitedDue = dates.rule.exploited.flatMap { shortened in exploitedAt.map { dates.add(shortened, $0) } }
        exploitedLimit = exploitedDue.map { d in dates.granted(dates.rule.exploitedDeadlineGrace, after: d, since: exploitedAt) ?? d }
    }

    /// The target a step set in place of the rule's: exploitation's, or an after-fix date.
    var movedTarget: String? { exploitedTarget ?? afterFixTarget }

    /// The rule's grace period, unless an after-fix date replaced its deadline.
    var grace: PolicyDuration? { afterFixTarget == nil ? rule.grace : nil }

    /// Until when a deadline of `due` with `grace` is not yet breached (nil: no grace): as
    /// granted, and no later than the exploited deadline's own limit.
    func graceLimit(_ grace: PolicyDuration?, after due: Timestamp, since: Timestamp? = nil) -> Timestamp? {
        guard let limit = dates.granted(grace, after: due, since: since) else { return nil }
        return exploitedLimit.map { max(due, min(limit, $0)) } ?? limit
    }

    /// `after-fix`: a fix released (at `fixedAt`; `late`, its late entries) by the deadline in
    /// force (exploitation's, if earlier) leaves users this long to install it before disclosure;
    /// one released in the grace period after that deadline, this long after the deadline
    /// (Project Zero's day 120). The after-fix date is then the deadline, with no grace of its
    /// own. (Embargo extensions do not count here: they move the date of disclosure, not the one
    /// the fix had to beat.)
    mutating func releaseFix(at fixedAt: Timestamp, late: [LateEntry]) {
        guard let afterFix = rule.afterFix else { return }
        let inForce = min(due, exploitedDue ?? due)
        // The exploited deadline, when it is the one in force, has its own grace period.
        let inForceGrace = inForce < due ? rule.exploitedDeadlineGrace : rule.grace
        let since = inForce < due ? exploitedAt : nil
        if fixedAt <= inForce {
            due = dates.add(afterFix, fixedAt)
            afterFixTarget = "\(afterFix) after the fix release"
            notes.append("fixed before the deadline: due \(afterFix) after the fix release")
        } else if let limit = graceLimit(inForceGrace, after: inForce, since: since), fixedAt <= limit {
            due = dates.add(afterFix, inForce)
            afterFixTarget = "\(afterFix) after the deadline"
            let asked = dates.requests(for: inForce, since: since)
            // (Named by the one that asked the latest date, which the grace runs to.)
            if let x = asked.max(by: { $0.until < $1.until }) {
                askedBy = asked
                DisclosureDates.noteLate(asked, in: &moved)
                notes.append("fixed in the grace period asked for by the embargo extension dated \(x.at): due \(afterFix) after the deadline of \(inForce)")
            } else {
                notes.append("fixed in the grace period: due \(afterFix) after the deadline of \(inForce)")
            }
        } else {
            return
        }
        policyDue = due
        moved += late
    }

    /// Embargo extensions, in the order they were recorded. One only ever moves the deadline
    /// later, no further than the policy allows, and only if recorded before the deadline it
    /// extends had passed (grace included): agreeing to a later date afterwards does not undo a
    /// breach.
    mutating func extend(by extensions: [EmbargoExtension]) {
        var extended: (to: EmbargoExtension, until: Timestamp)?
        for x in extensions {
            guard x.until > due else {
                // (One that asked for a grace period did what it was for.)
                if askedBy.contains(x) || exploitedDue.map({ dates.requests(for: $0, since: exploitedAt).contains(x) }) == true { continue }
                notes.append("embargo extension to \(x.until) dated \(x.at) ends before the deadline it would extend (\(due)): it does not move it")
                continue
            }
            let limit = graceLimit(grace, after: due) ?? due
            guard x.at <= limit else {
                var passed = "the deadline of \(due)"
                if let grace, limit > due {
                    passed += limit == dates.add(grace, due) ? " and its grace of \(grace) (to \(limit))" : " and its grace of \(grace), cut short to \(limit)"
                }
                notes.append("embargo extension to \(x.until) dated \(x.at), after \(passed) had passed: not counted")
                continue
            }
            // Measured from the policy's deadline, or the report's if later: an early fix (an
            // after-fix date) does not shrink an extension agreed within the cap.
            let cap = rule.maxExtension.map { dates.add($0, max(policyDue, baseDue)) }
            extended = (x, cap.map { min(x.until, $0) } ?? x.until)
            due = extended!.until
            // Each one moved the deadline the next one extends.
            DisclosureDates.noteLate([x], in: &moved)
        }
        if let (x, until) = extended {
            // What the reporter agreed to is the extension asked for, not a date the policy cut it to.
            let agreement = x.reporterAgreed ? "with the reporter's agreement" : "without the reporter's agreement"
            if until < x.until, let maxExt = rule.maxExtension {
                notes.append("embargo extension to \(x.until), \(agreement), capped at the policy's maximum extension of \(maxExt): extended to \(until)")
            } else {
                notes.append("embargo extended to \(until) \(agreement)")
            }
        }
    }

    /// Exploitation in the wild sets an earlier deadline, after extensions (an extension beyond it
    /// is cut back, as any is), but not before an after-fix date, which leaves users the time to
    /// install the fix.
    mutating func shortenForExploitation() {
        guard let exploitedDue, let shortened = rule.exploited, let observed = exploitedAt else { return }
        let afterFixSet = afterFixTarget != nil
        let shortenedDue = afterFixSet ? max(exploitedDue, policyDue) : exploitedDue
        guard shortenedDue < due else { return }
        due = shortenedDue
        if !afterFixSet { exploitedTarget = "\(shortened) after exploitation" }
        notes.append(
            afterFixSet
                ? "exploitation observed \(observed): due at the after-fix date, not later"
                : "exploitation observed \(observed): due \(shortened) after it")
    }

    /// An advisory published at `end` before the earliest date the policy allows, noted.
    mutating func noteEarlyDisclosure(at end: Timestamp) {
        guard let earliest = rule.earliest, end < dates.add(earliest, anchor) else { return }
        notes.append("disclosed before the earliest date the policy allows (\(earliest) after the anchor)")
    }

    /// The last step: until when the deadline in force is not yet breached (nil: no grace
    /// period), noting the extensions that asked for it and an end the exploited deadline's cut
    /// short.
    mutating func applyGrace() -> Timestamp? {
        let since = exploitedTarget != nil ? exploitedAt : nil
        let graceEnd = exploitedTarget != nil ? dates.granted(rule.exploitedDeadlineGrace, after: due, since: since) : graceLimit(grace, after: due)
        if let graceEnd, graceEnd > due, case let asked = dates.requests(for: due, since: since), let x = asked.max(by: { $0.until < $1.until }) {
            notes.append("the grace period to \(graceEnd) was asked for by the embargo extension dated \(x.at)")
            DisclosureDates.noteLate(asked, in: &moved)
        }
        if exploitedTarget == nil, let observed = exploitedAt, let graceEnd, graceEnd == exploitedLimit, let full = grace.map({ dates.add($0, due) }), graceEnd < full {
            notes.append("exploitation observed \(observed): the grace period ends with the exploited deadline's, at \(graceEnd)")
        }
        return graceEnd
    }
}

extension Clock {
    /// Two notes as one ("a; b"), either of them, or none: without an array made for each clock.
    static func joinNotes(_ a: String?, _ b: String?) -> String? {
        guard let a else { return b }
        guard let b else { return a }
        return a + "; " + b
    }

    /// A duration as people read it: `2d 3h`, `45m`, `-1d 2h` for late.
    public static func format(_ d: Duration) -> String { format(seconds: d.components.seconds) }

    /// `format` of a span given in whole seconds (as views carry them): any Int64, the least
    /// included, as a node's answer may hold one.
    public static func format(seconds: Int64) -> String {
        let negative = seconds < 0
        let s = seconds.magnitude
        let days = s / 86_400, hours = s % 86_400 / 3600, minutes = s % 3600 / 60
        // (Built in place: most fit in a small string, and no array of parts is made.)
        var text = negative ? "-" : ""
        var parts = 0
        func add(_ part: String) {
            if parts > 0 { text += " " }
            text += part
            parts += 1
        }
        if days > 0 { add("\(days)d") }
        if hours > 0 { add("\(hours)h") }
        if minutes > 0 || parts == 0 { add(s > 0 && s < 60 ? "<1m" : "\(minutes)m") }
        return text
    }
}
